//! The classic programs gevent and eventlet users write, ported to guv
//! through its public API only, run against real parts on 127.0.0.1: real
//! sockets, real child processes (`python3`, `curl`, `cat`, `sort`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use guv::green::process::{Command, Stdio};
use guv::net::{TcpListener, TcpStream};
use guv::queue::LightQueue;

// ---------------------------------------------------------------------------
// 1. A TCP chat server: every line a client sends goes to all the others.

/// The room: one outgoing queue per connected client.
#[derive(Default)]
struct Room {
    clients: RefCell<BTreeMap<u64, LightQueue<String>>>,
    next_id: Cell<u64>,
}

impl Room {
    fn broadcast(&self, from: u64, line: String) {
        for (id, q) in self.clients.borrow().iter() {
            if *id != from {
                q.put(line.clone());
            }
        }
    }
}

/// One greenlet per client reads its lines; a second one writes what the
/// client's queue receives, so a client that does not read stalls only its
/// own writer.
fn chat_client(room: Rc<Room>, conn: TcpStream) {
    let id = room.next_id.get() + 1;
    room.next_id.set(id);
    let outgoing = LightQueue::new(None);
    let out = conn.try_clone().unwrap();
    let q = outgoing.clone();
    // Killed with the handler, however the handler ends.
    let writer = KillOnDrop(guv::spawn(move || {
        loop {
            let line: String = q.get();
            if (&out).write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    }));
    outgoing.put(format!("welcome {id}\n"));
    room.broadcast(id, format!("{id} joined\n"));
    room.clients.borrow_mut().insert(id, outgoing);
    for line in BufReader::new(&conn).lines() {
        match line {
            Ok(line) => room.broadcast(id, format!("{id}: {line}\n")),
            Err(_) => break,
        }
    }
    room.clients.borrow_mut().remove(&id);
    drop(writer);
    room.broadcast(id, format!("{id} left\n"));
}

/// Kills a greenlet when dropped: a server killed (or unwinding for any
/// reason) takes its helpers with it, as gevent's `StreamServer.stop()`
/// kills its handlers.
struct KillOnDrop<T: 'static>(guv::GreenThread<T>);

impl<T: 'static> Drop for KillOnDrop<T> {
    fn drop(&mut self) {
        self.0.kill();
    }
}

fn chat_server(listener: TcpListener) {
    let room = Rc::new(Room::default());
    let mut handlers = Vec::new();
    loop {
        let (conn, _) = listener.accept().unwrap();
        let room = room.clone();
        handlers.retain(|h: &KillOnDrop<()>| !h.0.is_finished());
        handlers.push(KillOnDrop(guv::spawn(move || chat_client(room, conn))));
    }
}

/// A line-oriented green client.
struct LineClient(BufReader<TcpStream>);

impl LineClient {
    fn connect(addr: SocketAddr) -> LineClient {
        LineClient(BufReader::new(guv::connect(addr).unwrap()))
    }

    fn send(&mut self, line: &str) {
        self.0.get_mut().write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        let n = self.0.read_line(&mut s).unwrap();
        assert!(n > 0, "the server closed the connection");
        s.trim_end_matches('\n').to_owned()
    }
}

const PY_LINE_CLIENT: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for line in s.makefile("r"):
    sys.stdout.write(line)
    sys.stdout.flush()
"#;

#[guv::test(timeout = "60s")]
fn chat_server_relays_lines_to_the_others_and_survives_abrupt_leavers() {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = guv::spawn(move || chat_server(listener));

    let mut alice = LineClient::connect(addr);
    assert_eq!(alice.line(), "welcome 1");
    let mut bob = LineClient::connect(addr);
    assert_eq!(bob.line(), "welcome 2");
    assert_eq!(alice.line(), "2 joined");

    // A real client in another process: Python's socket module.
    let mut py = Command::new("python3")
        .args(["-c", PY_LINE_CLIENT, &addr.port().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut py_out = BufReader::new(py.stdout.take().unwrap());
    let mut py_line = move || {
        let mut s = String::new();
        py_out.read_line(&mut s).unwrap();
        s
    };
    assert_eq!(py_line(), "welcome 3\n");
    assert_eq!((alice.line(), bob.line()), ("3 joined".into(), "3 joined".into()));

    alice.send("hello all");
    assert_eq!(bob.line(), "1: hello all");
    assert_eq!(py_line(), "1: hello all\n");

    // The Python client dies without a goodbye.
    py.kill().unwrap();
    assert!(!py.wait().unwrap().success());
    assert_eq!((alice.line(), bob.line()), ("3 left".into(), "3 left".into()));

    bob.send("still here");
    // Alice's next line is Bob's: her own line was not echoed back to her.
    assert_eq!(alice.line(), "2: still here");

    // A client that never reads: its writer stalls on a full socket, and
    // nobody else notices.
    let dave = LineClient::connect(addr);
    let mut dave = dave;
    assert_eq!(dave.line(), "welcome 4");
    assert_eq!((alice.line(), bob.line()), ("4 joined".into(), "4 joined".into()));
    let filler = "x".repeat(1000);
    let lines = 5000; // 5 MB: far more than dave's socket buffers hold
    let sender = {
        let mut alice_w = alice.0.get_ref().try_clone().unwrap();
        let filler = filler.clone();
        guv::spawn(move || {
            for i in 0..lines {
                alice_w.write_all(format!("{i} {filler}\n").as_bytes()).unwrap();
            }
        })
    };
    for i in 0..lines {
        assert_eq!(bob.line(), format!("1: {i} {filler}"));
    }
    sender.wait().unwrap();
    // Dave goes away with megabytes unread: his socket is reset.
    drop(dave);
    assert_eq!(alice.line(), "4 left");
    assert_eq!(bob.line(), "4 left");

    // The room still works for the two that are left.
    alice.send("bye bob");
    assert_eq!(bob.line(), "1: bye bob");
    drop(bob);
    assert_eq!(alice.line(), "2 left");

    server.kill();
    assert!(server.wait().unwrap_err().is_killed());
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A greenlet sleeping forever that, when killed, kills `helper` (if any)
/// from a drop guard and then sets `dropped`.
fn owner_of(helper: Option<guv::GreenThread<()>>, dropped: Rc<Cell<bool>>) -> guv::GreenThread<()> {
    guv::spawn(move || {
        let _flag = DropFlag(dropped);
        let _helper = helper.map(KillOnDrop);
        guv::sleep(Duration::MAX);
    })
}

#[guv::test(timeout = "30s")]
fn a_kill_cascades_through_drop_guards_before_the_killed_one_is_seen_ended() {
    // server -> handler -> writer, each killing the next one as it unwinds,
    // as gevent's `StreamServer.stop()` kills handlers that kill helpers.
    let flags: Vec<Rc<Cell<bool>>> = (0..3).map(|_| Rc::new(Cell::new(false))).collect();
    let writer = owner_of(None, flags[2].clone());
    let handler = owner_of(Some(writer), flags[1].clone());
    let server = owner_of(Some(handler), flags[0].clone());
    guv::gyield(); // all three are asleep
    server.kill();
    assert!(server.wait().unwrap_err().is_killed());
    let dropped: Vec<bool> = flags.iter().map(|f| f.get()).collect();
    assert_eq!(dropped, [true, true, true], "the server's helpers outlived its end");
    assert_eq!(guv::hub::stats().live_greenlets, 0);
}

/// Blocks for a moment when dropped: a destructor that does green I/O.
struct SlowDrop;

impl Drop for SlowDrop {
    fn drop(&mut self) {
        guv::sleep(Duration::from_millis(2));
    }
}

#[guv::test(timeout = "30s")]
fn killall_returns_once_every_greenlet_has_unwound_even_through_blocking_destructors() {
    let flags: Vec<Rc<Cell<bool>>> = (0..3).map(|_| Rc::new(Cell::new(false))).collect();
    let gts: Vec<_> = flags
        .iter()
        .map(|f| {
            let f = f.clone();
            guv::spawn(move || {
                let _flag = DropFlag(f); // dropped last
                let _slow = SlowDrop;
                guv::sleep(Duration::MAX);
            })
        })
        .collect();
    guv::gyield();
    guv::killall(&gts);
    assert!(gts.iter().all(|gt| gt.is_finished()));
    assert!(flags.iter().all(|f| f.get()));
}
