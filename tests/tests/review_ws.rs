//! Adversarial probes of guv::websocket and the server's worker and
//! shutdown machinery, through the public API and real loopback sockets.
//! Each test names the behaviour it pins down; events are ordered with
//! channels and observed closes, timeouts are only hang guards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use guv::websocket::{Message, WebSocket, WebSocketWSGI};
use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{CLIENT_TIMEOUT, Client, TestServer, roundtrip};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

type Ws = tungstenite::WebSocket<TcpStream>;

/// The app type the probes' servers run.
type App = Box<dyn Fn(Request<Body>) -> Response<Body> + Send + Sync>;

/// A WebSocket server whose every connection runs `handler`.
fn ws_server<H>(handler: H) -> TestServer
where
    H: Fn(WebSocket) + Send + Sync + 'static,
{
    ws_server_with(handler, |s| s)
}

/// As [`ws_server`], with the server configured by `configure`.
fn ws_server_with<H>(handler: H, configure: impl FnOnce(Server<App>) -> Server<App>) -> TestServer
where
    H: Fn(WebSocket) + Send + Sync + 'static,
{
    let ws = WebSocketWSGI::new(handler);
    let app: App = Box::new(move |req| ws.call(req));
    TestServer::start(configure(Server::new(app)))
}

/// A tungstenite client connected to `addr` at `path`.
fn ws_client(addr: std::net::SocketAddr, path: &str) -> Ws {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    tungstenite::client::client(format!("ws://{addr}{path}"), stream).unwrap().0
}

/// Reads until the server's closing frame; returns it (or the error that
/// came instead), then checks the stream ends.
fn read_close(ws: &mut Ws) -> Result<Option<CloseFrame>, String> {
    let frame = match ws.read() {
        Ok(Message::Close(frame)) => frame,
        Ok(other) => return Err(format!("a message instead of a close: {other:?}")),
        Err(e) => return Err(format!("no closing frame: {e}")),
    };
    // The server then ends the connection.
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => Ok(frame),
        other => Err(format!("after the close: {other:?}")),
    }
}

use guv_tests::http::websocket_handshake as raw_ws;

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    guv_tests::http::ws_frame(if fin { 0x80 } else { 0 } | opcode, payload)
}

/// Reads one server frame: (fin, opcode, payload).
fn read_frame(s: &mut TcpStream) -> std::io::Result<(bool, u8, Vec<u8>)> {
    let (b0, payload) = guv_tests::http::read_ws_frame(s)?;
    Ok((b0 & 0x80 != 0, b0 & 0x0f, payload))
}

/// The status code of a close frame's payload.
fn close_code(payload: &[u8]) -> u16 {
    assert!(payload.len() >= 2, "a close frame without a status code");
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Whether the raw socket reads end of input (or a reset) next.
fn raw_closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

// ---- WebSocket ------------------------------------------------------------

#[test]
fn a_handler_that_returns_ends_with_a_normal_closing_frame() {
    let s = ws_server(|ws: WebSocket| {
        ws.send("bye").unwrap();
    });
    let mut c = ws_client(s.addr, "/");
    assert_eq!(c.read().unwrap(), Message::text("bye"));
    let close = read_close(&mut c).expect("a closing handshake, not a dropped connection");
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Normal));
}

#[test]
fn a_panicking_handler_closes_with_1011_and_the_server_goes_on() {
    let s = ws_server(|ws: WebSocket| {
        if ws.path() == "/panic" {
            panic!("the handler failed on purpose");
        }
        while let Some(msg) = ws.wait() {
            ws.send(msg).unwrap();
        }
    });
    let mut bad = ws_client(s.addr, "/panic");
    let close = read_close(&mut bad).expect("a closing frame after the panic");
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Error));
    // The hub survived: WebSocket and plain HTTP are both still served.
    let mut good = ws_client(s.addr, "/echo");
    good.send(Message::text("still here")).unwrap();
    assert_eq!(good.read().unwrap(), Message::text("still here"));
    assert_eq!(roundtrip(s.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 400);
}

#[test]
fn a_client_that_vanishes_mid_frame_ends_wait_with_none() {
    let (tx, rx) = mpsc::channel();
    let s = ws_server(move |ws: WebSocket| {
        let mut got = Vec::new();
        while let Some(msg) = ws.wait() {
            got.push(msg);
        }
        tx.send(got).unwrap();
        // Sending now fails with an error, neither a panic nor a hang.
        tx.send(vec![Message::text(format!("{:?}", ws.send("late").map_err(|e| e.kind())))]).unwrap();
    });
    let mut c = raw_ws(s.addr);
    c.write_all(&frame(true, 0x1, b"whole")).unwrap();
    // Half a frame: the header promises 100 bytes, 3 arrive.
    let partial = frame(true, 0x1, &[b'x'; 100]);
    c.write_all(&partial[..2 + 4 + 3]).unwrap();
    drop(c);
    let got = rx.recv_timeout(CLIENT_TIMEOUT).expect("wait() never returned");
    assert_eq!(got, vec![Message::text("whole")]);
    let late = rx.recv_timeout(CLIENT_TIMEOUT).unwrap();
    assert!(late[0].to_text().unwrap().starts_with("Err("), "{late:?}");
}

#[test]
fn a_frame_over_the_size_limit_fails_the_connection_with_1009() {
    let (tx, rx) = mpsc::channel();
    let s = ws_server(move |ws: WebSocket| {
        let first = ws.wait();
        // wait() keeps saying None once the connection has failed; what
        // follows the refused frame's header is never read as frames.
        let second = ws.wait();
        tx.send((first, second)).unwrap();
    });
    let mut c = raw_ws(s.addr);
    // A header announcing 1 GiB (tungstenite's limit is 16 MiB), then bytes
    // that, read as frames, would be a valid text message.
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 30).to_be_bytes());
    huge.extend_from_slice(&[0, 0, 0, 0]);
    huge.extend_from_slice(&frame(true, 0x1, b"smuggled"));
    c.write_all(&huge).unwrap();
    let (first, second) = rx.recv_timeout(CLIENT_TIMEOUT).expect("wait() never returned");
    assert_eq!((first, second), (None, None));
    let (fin, opcode, payload) = read_frame(&mut c).expect("a closing frame");
    assert_eq!((fin, opcode, close_code(&payload)), (true, 0x8, 1009));
    assert!(raw_closed(&mut c));
}

#[test]
fn a_protocol_error_or_bad_utf8_fails_the_connection_with_1002_or_1007() {
    let s = ws_server(|ws: WebSocket| while ws.wait().is_some() {});
    let mut c = raw_ws(s.addr);
    // An unmasked client frame is a protocol error (RFC 6455 5.1).
    c.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    let (_, opcode, payload) = read_frame(&mut c).expect("a closing frame");
    assert_eq!((opcode, close_code(&payload)), (0x8, 1002));
    assert!(raw_closed(&mut c));
    // Text that is not UTF-8: 1007.
    let mut c = raw_ws(s.addr);
    c.write_all(&frame(true, 0x1, &[b'o', b'k', 0xff])).unwrap();
    let (_, opcode, payload) = read_frame(&mut c).expect("a closing frame");
    assert_eq!((opcode, close_code(&payload)), (0x8, 1007));
    assert!(raw_closed(&mut c));
}

#[test]
fn a_ping_inside_a_fragmented_message_is_answered_and_the_message_kept_whole() {
    let s = ws_server(|ws: WebSocket| {
        while let Some(msg) = ws.wait() {
            ws.send(msg).unwrap();
        }
    });
    let mut c = raw_ws(s.addr);
    c.write_all(&frame(false, 0x1, b"frag")).unwrap();
    c.write_all(&frame(true, 0x9, b"ping!")).unwrap();
    // The pong comes before the message is complete.
    assert_eq!(read_frame(&mut c).unwrap(), (true, 0xA, b"ping!".to_vec()));
    c.write_all(&frame(false, 0x0, b"men")).unwrap();
    c.write_all(&frame(true, 0x0, b"ted")).unwrap();
    assert_eq!(read_frame(&mut c).unwrap(), (true, 0x1, b"fragmented".to_vec()));
}

#[test]
fn the_closing_handshake_works_both_ways_with_its_status_codes() {
    let (tx, rx) = mpsc::channel();
    let s = ws_server(move |ws: WebSocket| {
        if ws.path() == "/server-closes" {
            ws.close().unwrap();
            // Sending after closing is an error, not a panic.
            tx.send(ws.send("after close").is_err()).unwrap();
            assert!(ws.wait().is_none());
        } else {
            assert!(ws.wait().is_none());
            tx.send(ws.send("after the peer's close").is_err()).unwrap();
        }
    });
    // The client closes with a code: the server echoes it.
    let mut c = ws_client(s.addr, "/client-closes");
    c.close(Some(CloseFrame { code: CloseCode::Away, reason: "leaving".into() })).unwrap();
    let echoed = read_close(&mut c).unwrap();
    assert_eq!(echoed.map(|f| f.code), Some(CloseCode::Away));
    assert!(rx.recv_timeout(CLIENT_TIMEOUT).unwrap());
    // The server closes: the client answers, and the server ends the stream.
    let mut c = ws_client(s.addr, "/server-closes");
    assert!(matches!(c.read().unwrap(), Message::Close(_)));
    assert!(rx.recv_timeout(CLIENT_TIMEOUT).unwrap());
    assert!(matches!(c.read(), Err(tungstenite::Error::ConnectionClosed)));
}

#[test]
fn a_client_that_never_answers_the_servers_close_ends_wait_after_the_close_timeout() {
    let (tx, rx) = mpsc::channel();
    let ws = WebSocketWSGI::new(move |ws: WebSocket| {
        ws.close().unwrap();
        tx.send("closed").unwrap();
        // None, and from then on.
        let ended = ws.wait().is_none() && ws.wait().is_none();
        tx.send(if ended { "wait ended" } else { "a message" }).unwrap();
    })
    .close_timeout(Duration::from_millis(50));
    let app: App = Box::new(move |req| ws.call(req));
    // A shutdown deadline far beyond the test's bounds: only the close
    // timeout can end the wait.
    let s = TestServer::start(Server::new(app).shutdown_timeout(Duration::from_secs(600)));
    let mut c = raw_ws(s.addr);
    // The client receives the server's close and never answers.
    let (fin, opcode, payload) = read_frame(&mut c).unwrap();
    assert!(fin);
    assert_eq!((opcode, payload.len()), (0x8, 0), "an empty closing frame");
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("closed"));
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("wait ended"), "wait() after close() hung");
    // The handler returned: the connection ends, with no second close.
    assert!(raw_closed(&mut c));
}

#[test]
fn two_greenlets_sending_big_messages_on_one_socket_never_interleave_frames() {
    const BIG: usize = 4 << 20;
    let s = ws_server(|ws: WebSocket| {
        let ws = Rc::new(ws);
        let senders: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|b| {
                let ws = ws.clone();
                guv::spawn(move || ws.send(vec![b; BIG]))
            })
            .collect();
        for s in senders {
            s.wait().unwrap().unwrap();
        }
        while ws.wait().is_some() {}
    });
    let mut c = ws_client(s.addr, "/");
    let mut seen = Vec::new();
    for _ in 0..2 {
        match c.read().unwrap() {
            Message::Binary(b) => {
                assert_eq!(b.len(), BIG);
                assert!(b.iter().all(|&x| x == b[0]), "frames of two messages interleaved");
                seen.push(b[0]);
            }
            other => panic!("{other:?}"),
        }
    }
    seen.sort();
    assert_eq!(seen, [1, 2]);
}

#[test]
fn refused_handshakes_get_their_status_and_no_upgrade() {
    let s = TestServer::start(Server::new(|req| {
        WebSocketWSGI::new(|ws: WebSocket| ws.send(ws.protocol().unwrap_or("none").to_string()).unwrap())
            .protocols(["chat"])
            .allowed_origins(["http://good.example"])
            .call(req)
    }));
    let ask = |extra: &str| {
        let mut c = Client::connect(s.addr);
        c.send(
            format!(
                "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            )
            .as_bytes(),
        );
        let r = c.read_response().unwrap();
        (r.status, r.header("upgrade").map(str::to_owned), r.header("sec-websocket-protocol").map(str::to_owned))
    };
    // No Origin at all is refused when origins are restricted.
    assert_eq!(ask(""), (403, None, None));
    assert_eq!(ask("Origin: http://evil.example\r\n"), (403, None, None));
    // A subprotocol in common is named; none in common, none is.
    let ok = ask("Origin: http://good.example\r\nSec-WebSocket-Protocol: x, chat\r\n");
    assert_eq!(ok, (101, Some("websocket".into()), Some("chat".into())));
    assert_eq!(
        ask("Origin: http://good.example\r\nSec-WebSocket-Protocol: x\r\n"),
        (101, Some("websocket".into()), None)
    );
    // Not an upgrade (no Connection: Upgrade): 400 before the Origin or
    // the version is looked at, and the connection stays HTTP.
    let mut c = Client::connect(s.addr);
    c.send(
        b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 8\r\n\r\n",
    );
    assert_eq!(c.read_response().unwrap().status, 400);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 400);
}

// ---- Shutdown and workers -------------------------------------------------

#[test]
fn shutdown_with_an_open_websocket_kills_it_at_the_deadline_with_a_closing_frame() {
    let (tx, rx) = mpsc::channel();
    let s = ws_server_with(
        move |ws: WebSocket| {
            tx.send("open").unwrap();
            while ws.wait().is_some() {}
            tx.send("closed by the client").unwrap();
        },
        |s| s.shutdown_timeout(Duration::from_millis(50)),
    );
    let mut c = ws_client(s.addr, "/");
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("open"));
    s.shutdown().unwrap();
    // The handler was killed (it never saw the client close), and the
    // client was told.
    assert!(rx.try_recv().is_err());
    let close = read_close(&mut c).expect("a closing frame at shutdown");
    assert!(close.is_some());
}

/// A raw client reading until `needle` is among the bytes received.
fn read_until(c: &mut TcpStream, got: &mut Vec<u8>, needle: &[u8]) {
    while !got.windows(needle.len()).any(|w| w == needle) {
        let mut chunk = [0u8; 4096];
        let n = c.read(&mut chunk).expect("read from the server");
        assert!(n > 0, "closed before {:?}: {}", String::from_utf8_lossy(needle), String::from_utf8_lossy(got));
        got.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn a_keep_alive_response_streaming_when_shutdown_begins_closes_once_done() {
    // The shutdown timeout is far beyond the client's read timeout: the
    // connection must close because the server stops, not at the deadline.
    let app: App = Box::new(|req: Request<Body>| Response::new(Body::from_reader(req.into_body())));
    let s = TestServer::start(Server::new(app).shutdown_timeout(Duration::from_secs(600)));
    let mut idle = Client::connect(s.addr);
    idle.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(idle.read_response().unwrap().text(), "hi");
    let mut c = guv_tests::http::connect(s.addr);
    c.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello").unwrap();
    let mut got = Vec::new();
    // The response is streaming: its head and first chunk are out.
    read_until(&mut c, &mut got, b"hello");
    s.stop.shutdown();
    // The worker is stopping once it has closed the idle connection.
    assert!(idle.is_closed());
    c.write_all(b"world").unwrap();
    read_until(&mut c, &mut got, b"world\r\n0\r\n\r\n");
    assert!(raw_closed(&mut c), "the connection stayed open after its response during shutdown");
    drop(c);
    s.shutdown().unwrap();
}

#[test]
fn answers_to_pipelined_requests_still_being_written_when_shutdown_begins_all_arrive() {
    // The client pipelines 9 MiB worth of answers and reads nothing yet.
    // The server takes requests up until the answers it owes pass 64 KiB
    // (its backpressure bound), then writes them out before it reads the
    // next request, and parks once the socket is full. The shutdown comes
    // while it waits there: every request taken up before it is answered,
    // in order, then the connection closes; the ones behind it are not
    // taken up. (Each body is small enough to be copied in with its head.)
    const REQUESTS: usize = 280;
    const BODY: usize = 32 * 1024;
    let (tx, rx) = mpsc::channel();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = seen.clone();
    let app: App = Box::new(move |_req| {
        if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            tx.send(()).unwrap();
        }
        Response::new(Body::from(vec![b'x'; BODY]))
    });
    // Small socket buffers: how much the kernel holds for a client that
    // reads nothing does not depend on the machine's autotuning.
    let listener = guv_tests::net::listener_with_sndbuf(16 * 1024);
    let s = TestServer::serve(Server::new(app).shutdown_timeout(Duration::from_secs(600)), listener);
    let mut c = guv_tests::net::connect_with_rcvbuf(s.addr, 16 * 1024);
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".repeat(REQUESTS).as_slice()).unwrap();
    rx.recv_timeout(CLIENT_TIMEOUT).expect("the app answers the first request");
    // The worker sees the stop only once the connection's greenlet parks,
    // which it does in the middle of writing the answers out.
    s.stop.shutdown();
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("the answers, then the end of the connection");
    let heads = got.windows(17).filter(|w| *w == b"HTTP/1.1 200 OK\r\n").count();
    let taken = seen.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(heads, taken, "answers lost: {} bytes arrived for {taken} requests taken up", got.len());
    assert!(taken < REQUESTS, "all {REQUESTS} requests were taken up while the client read nothing");
    assert!(got.ends_with(&[b'x'; 64]), "the last answer was cut");
    drop(c);
    s.shutdown().unwrap();
}

#[test]
fn shutdown_closes_idle_keep_alive_connections_at_once() {
    let app: App = Box::new(|_req| Response::new(Body::from("hi")));
    let s = TestServer::start(Server::new(app).workers(2).shutdown_timeout(Duration::from_secs(600)));
    let mut idle: Vec<Client> = (0..8).map(|_| Client::connect(s.addr)).collect();
    for c in &mut idle {
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.read_response().unwrap().text(), "hi");
    }
    let mut half = Client::connect(s.addr);
    half.send(b"GET / HTTP/1.1\r\nHo");
    s.shutdown().unwrap();
    for c in &mut idle {
        assert!(c.is_closed());
    }
    assert!(half.is_closed());
}

#[test]
fn shutdown_while_the_app_reads_a_slow_request_body_kills_it_at_the_deadline() {
    let (tx, rx) = mpsc::channel();
    let app: App = Box::new(move |mut req: Request<Body>| {
        tx.send("reading").unwrap();
        let mut body = Vec::new();
        let _ = req.body_mut().read_to_end(&mut body);
        tx.send("read").unwrap();
        Response::new(Body::from(body))
    });
    let s = TestServer::start(Server::new(app).shutdown_timeout(Duration::from_millis(50)));
    let mut c = Client::connect(s.addr);
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npart");
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("reading"));
    s.shutdown().unwrap();
    assert!(rx.try_recv().is_err(), "the app finished reading a body that never came");
    assert!(c.is_closed());
}

#[test]
fn shutdown_before_start_and_twice_returns_at_once() {
    let app: App = Box::new(|_req| Response::new(Body::empty()));
    let server = Server::new(app).workers(0);
    let stop = server.shutdown_handle();
    stop.shutdown();
    stop.shutdown();
    server.run("127.0.0.1:0").unwrap();
    stop.shutdown();
    assert!(stop.is_shutdown());
}

#[test]
fn workers_zero_serves_with_one_hub_per_core_and_a_panic_is_a_500_on_every_worker() {
    let (tx, rx) = mpsc::channel();
    let app: App = Box::new(move |req: Request<Body>| {
        tx.send(std::thread::current().id()).unwrap();
        if req.uri().path() == "/panic" {
            panic!("a worker's app failed on purpose");
        }
        Response::new(Body::from("ok"))
    });
    let s = TestServer::start(Server::new(app).workers(0));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = std::collections::HashSet::new();
    // SO_REUSEPORT spreads connections by hash; enough of them reach every
    // worker (bounded: 200 connections).
    for i in 0..200 {
        if threads.len() == cores && i % 2 == 0 && i >= 40 {
            break;
        }
        let path = if i % 2 == 0 { "/panic" } else { "/" };
        let r = roundtrip(s.addr, format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(r.status, if i % 2 == 0 { 500 } else { 200 });
        threads.insert(rx.recv_timeout(CLIENT_TIMEOUT).unwrap());
    }
    assert_eq!(threads.len(), cores, "connections reached {} of {cores} workers", threads.len());
    s.shutdown().unwrap();
}

#[test]
fn the_header_timeout_does_not_cut_a_request_whose_body_the_app_is_reading() {
    let app: App = Box::new(|mut req: Request<Body>| {
        let mut body = Vec::new();
        req.body_mut().read_to_end(&mut body).unwrap();
        Response::new(Body::from(body))
    });
    let s = TestServer::start(Server::new(app).header_timeout(Some(Duration::from_millis(100))));
    let mut c = Client::connect(s.addr);
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
    // A connection opened after the body began is closed by the sweeper:
    // the header timeout has passed for the first one too.
    let mut idle = Client::connect(s.addr);
    assert!(idle.is_closed());
    c.send(b"world");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "helloworld"));
    // The next head is timed again.
    assert!(c.is_closed());
}

#[test]
fn the_access_log_has_the_lines_of_every_worker() {
    let log = guv_tests::http::access_log();
    let app: App = Box::new(|_req| Response::new(Body::from("logged")));
    let s = TestServer::start(Server::new(app).workers(2));
    for i in 0..20 {
        let r = roundtrip(s.addr, format!("GET /review-ws-log/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200);
    }
    s.shutdown().unwrap();
    let lines = log.lock().unwrap().clone();
    for i in 0..20 {
        let want = format!("\"GET /review-ws-log/{i} HTTP/1.1\" 200 6");
        assert_eq!(lines.iter().filter(|l| l.ends_with(&want)).count(), 1, "{want} in {lines:?}");
    }
}

#[test]
fn a_message_wait_received_is_not_lost_when_a_timeout_ends_the_wait() {
    // More than the socket buffers hold while the client reads nothing.
    const BIG: usize = 16 << 20;
    let (tx, rx) = mpsc::channel();
    let s = ws_server(move |ws: WebSocket| {
        let ws = Rc::new(ws);
        let sender = {
            let ws = ws.clone();
            guv::spawn(move || ws.send(vec![7u8; BIG]))
        };
        guv::gyield(); // the sender fills the send buffer and parks
        tx.send("sending").unwrap();
        // A reader that gives up now and then, as with a heartbeat.
        loop {
            match guv::with_timeout(Duration::from_millis(100), || ws.wait()) {
                Err(_) => tx.send("timed out").unwrap(),
                Ok(Some(Message::Text(t))) if t.as_str() == "hello" => {
                    tx.send("got hello").unwrap();
                    break;
                }
                Ok(other) => panic!("{other:?}"),
            }
        }
        let _ = sender.wait();
        while ws.wait().is_some() {}
    });
    let mut c = ws_client(s.addr, "/");
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("sending"));
    c.send(Message::text("hello")).unwrap();
    // Were the message taken and then dropped by a timed-out wait, the
    // timeouts would go on for as long as the big message is unread, and
    // "got hello" would never come. (How many timeouts come first depends
    // on how fast this machine is, so only the hang guard bounds them.)
    let deadline = std::time::Instant::now() + CLIENT_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok("got hello") => break,
            Ok("timed out") => {}
            Err(_) => panic!("the message was lost by a wait that timed out"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(c.read().unwrap(), Message::binary(vec![7u8; BIG]));
}

#[test]
fn the_app_can_shut_its_own_server_down_from_a_request() {
    let handle: std::sync::Arc<std::sync::OnceLock<guv::wsgi::ShutdownHandle>> = Default::default();
    let h = handle.clone();
    let app: App = Box::new(move |req: Request<Body>| {
        if req.uri().path() == "/quit" {
            h.get().unwrap().shutdown();
            h.get().unwrap().shutdown();
        }
        Response::new(Body::from("bye"))
    });
    let server = Server::new(app).workers(2).shutdown_timeout(Duration::from_secs(600));
    handle.set(server.shutdown_handle()).unwrap();
    let bound = server.bind("127.0.0.1:0").unwrap();
    let addr = bound.local_addr();
    let (done_tx, done_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || done_tx.send(bound.run()).unwrap());
    let mut idle = Client::connect(addr);
    idle.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(idle.read_response().unwrap().text(), "bye");
    let mut quit = Client::connect(addr);
    quit.send(b"GET /quit HTTP/1.1\r\nHost: t\r\n\r\n");
    // The request that asked for the shutdown is answered (the stop runs on
    // the hub after it), then its connection is closed like the idle one.
    let r = quit.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "bye"));
    assert!(quit.is_closed());
    assert!(idle.is_closed());
    done_rx.recv_timeout(CLIENT_TIMEOUT).expect("run never returned").unwrap();
    thread.join().unwrap();
}

#[test]
fn websockets_on_every_worker_are_closed_at_the_shutdown_deadline() {
    let (tx, rx) = mpsc::channel();
    let s = ws_server_with(
        move |ws: WebSocket| {
            tx.send(std::thread::current().id()).unwrap();
            while ws.wait().is_some() {}
        },
        |s| s.workers(2).shutdown_timeout(Duration::from_millis(50)),
    );
    let mut clients = Vec::new();
    let mut threads = std::collections::HashSet::new();
    // Connections spread over both workers (bounded: 100).
    while threads.len() < 2 && clients.len() < 100 {
        clients.push(ws_client(s.addr, "/"));
        threads.insert(rx.recv_timeout(CLIENT_TIMEOUT).unwrap());
    }
    assert_eq!(threads.len(), 2);
    s.shutdown().unwrap();
    for c in &mut clients {
        read_close(c).expect("a closing frame at shutdown");
    }
}

#[test]
fn a_second_server_cannot_bind_a_port_a_multi_worker_server_listens_on() {
    let app = |_req: Request<Body>| Response::new(Body::from("first"));
    let first = TestServer::start(Server::new(app).workers(2));
    // With SO_REUSEPORT on both sides the kernel would let a second server
    // (another instance started by mistake) share the port and take some
    // of the first one's connections.
    let second = Server::new(|_req: Request<Body>| Response::new(Body::from("second"))).workers(2).bind(first.addr);
    let err = second.expect_err("a second server bound the port of a running one");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    assert_eq!(roundtrip(first.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").text(), "first");
}
