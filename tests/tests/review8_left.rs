#![allow(unsafe_code)] // libc calls

//! Defects earlier sessions noticed and left alone (session 8), each
//! pinned down through the public API: the memory a client that pipelines
//! without reading can make the server hold, the thread pool handing back
//! another submitter's job, failures reported on stderr instead of through
//! `log`, WebSockets told nothing when a graceful shutdown starts, and a
//! child process lost when `Child::from_std` fails. Events are ordered
//! with channels, protocol replies and flags; timeouts are only hang
//! guards.

use std::alloc::Layout;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Mutex, mpsc};

use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, RawRequest, RawResponse, Server};
use guv_tests::alloc::{Counting, counted_server, peak, reset_peak, set_alloc_hook};
use guv_tests::http::{CLIENT_TIMEOUT, Client};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ----- a hook in the allocator: a point inside guv's code to stop at -------

thread_local! {
    /// Armed on a thread by [`arm_hook`]: its next allocation of the size
    /// [`HOOK_SIZE`] runs the hook (once).
    static HOOK: Cell<bool> = const { Cell::new(false) };
}

/// The allocation the hook waits for: the 9 bytes of the `"guv-tpool"`
/// name a pool worker thread gets, allocated by `tpool` just before it
/// starts one, after the job is queued and the pool's lock released.
const HOOK_SIZE: usize = "guv-tpool".len();

/// Raised by the hook: what it waits for may start.
static HOOK_REACHED: AtomicBool = AtomicBool::new(false);
/// Awaited by the hook (at most [`CLIENT_TIMEOUT`]) before it returns.
static HOOK_RELEASED: AtomicBool = AtomicBool::new(false);

/// Arms the hook on this thread (installing it in the allocator: once
/// per process, a child's).
fn arm_hook() {
    set_alloc_hook(hold_at_hook);
    HOOK.with(|h| h.set(true));
}

/// The hook: says it was reached, then holds this thread (without
/// allocating) until released.
fn hold_at_hook(layout: Layout) {
    if layout.size() != HOOK_SIZE || layout.align() != 1 || !HOOK.try_with(|h| h.replace(false)).unwrap_or(false) {
        return;
    }
    HOOK_REACHED.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + CLIENT_TIMEOUT;
    while !HOOK_RELEASED.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
}

// ---- 1. pipelined answers a client does not read --------------------------

/// An in-memory answer as large as the server still copies next to its
/// head into the connection's output buffer.
const ANSWER: usize = 32 * 1024;

/// How many requests the client pipelines: 30 KB of requests, 32 MiB of
/// answers.
const PIPELINED: usize = 1000;

/// The most the server's thread may hold at once beyond what it held
/// idle, while a client pipelines [`PIPELINED`] requests and reads
/// nothing: the 64 KiB of answers owed, one more answer, the buffers'
/// slack. It used to hold every answer to what it had read (9 MiB for one
/// 8 KiB read of requests).
const HELD_AT_MOST: isize = 1 << 20;

/// Sends [`PIPELINED`] GETs on one connection to the server at `addr`
/// (serving on a thread counted in `slot`) and reads nothing until another
/// client has been answered: on one hub, that happens only once the
/// connection's greenlet waits, which it does when the socket is full
/// (with backpressure) or when it has answered every request it read (as
/// before). Then reads every answer. The server's thread must never have
/// held more than [`HELD_AT_MOST`] beyond its idle memory meanwhile.
fn pipelined_answers_stay_bounded(addr: std::net::SocketAddr, slot: usize, first: &mpsc::Receiver<()>) {
    let mut warm = Client::connect(addr);
    warm.send(b"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(warm.read_response().unwrap().body.len(), ANSWER);
    first.recv_timeout(CLIENT_TIMEOUT).expect("the warm-up request");
    let idle = reset_peak(slot);

    let mut c = Client::connect(addr);
    c.send(&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(PIPELINED));
    first.recv_timeout(CLIENT_TIMEOUT).expect("the app never saw the pipelined requests");
    // Served once the pipelining connection's greenlet has parked.
    warm.send(b"GET /witness HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(warm.read_response().unwrap().status, 200);
    let held = peak(slot) - idle;
    assert!(held < HELD_AT_MOST, "the server held {held} bytes for a client that reads nothing");
    for i in 0..PIPELINED {
        let r = c.read_response().unwrap_or_else(|e| panic!("answer {i}: {e}"));
        assert_eq!((r.status, r.body.len()), (200, ANSWER), "answer {i}");
    }
    let held = peak(slot) - idle;
    assert!(held < HELD_AT_MOST, "the server held {held} bytes while the client read its answers");
}

/// Reports the first request on `tx` (and the first after each report was
/// taken, as the channel allows): the warm-up, then the pipelined batch.
fn first_of_each(tx: mpsc::Sender<()>) -> impl Fn() + Send + Sync + 'static {
    let tx = Mutex::new(Some(tx));
    let sent = std::sync::atomic::AtomicUsize::new(0);
    move || {
        // The warm-up request (0) and the first pipelined one (1).
        let n = sent.fetch_add(1, Ordering::SeqCst);
        if n <= 1
            && let Some(tx) = tx.lock().unwrap().as_ref()
        {
            let _ = tx.send(());
        }
    }
}

#[test]
fn an_http_app_holds_a_bounded_amount_of_answers_for_a_client_that_pipelines_without_reading() {
    let (tx, rx) = mpsc::channel();
    let note = first_of_each(tx);
    let app = move |_req: Request<Body>| {
        note();
        Response::new(Body::from(vec![b'x'; ANSWER]))
    };
    let (addr, stop) = counted_server(Server::new(app).access_log(false), 0);
    pipelined_answers_stay_bounded(addr, 0, &rx);
    stop();
}

#[test]
fn a_raw_app_holds_a_bounded_amount_of_answers_for_a_client_that_pipelines_without_reading() {
    let (tx, rx) = mpsc::channel();
    let note = first_of_each(tx);
    let app = move |_req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        note();
        res.body_mut().resize(ANSWER, b'x');
    };
    let (addr, stop) = counted_server(Server::raw(app).access_log(false), 1);
    pipelined_answers_stay_bounded(addr, 1, &rx);
    stop();
}

// ---- 4. WebSockets at the start of a graceful shutdown --------------------

/// As Python's `websockets`: when a graceful shutdown begins, each open
/// WebSocket gets a closing frame with 1001 (going away) at once, not only
/// when the shutdown deadline kills it; a handler parked in `wait` sees the
/// connection end once the client answers and returns, and the server
/// stops without waiting for its deadline.
#[test]
fn a_graceful_shutdown_sends_open_websockets_1001_at_once_and_ends_when_their_handlers_return() {
    use guv::websocket::{Message, WebSocket, WebSocketWSGI};
    use tungstenite::protocol::frame::coding::CloseCode;

    // Far beyond the client's read timeout: anything seen within that
    // came at the start of the shutdown, not at its deadline.
    const DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);
    let (events, seen) = mpsc::channel();
    let events = Mutex::new(events);
    let ws = WebSocketWSGI::new(move |ws: WebSocket| {
        let say = |what: &'static str| events.lock().unwrap().send(what).unwrap();
        say("open");
        while ws.wait().is_some() {}
        say(if ws.send("after the close").is_err() { "returned, send refused" } else { "returned, sent" });
    });
    let bound = Server::new(move |req| ws.call(req)).shutdown_timeout(DEADLINE).bind("127.0.0.1:0").unwrap();
    let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    let (ran, stopped) = mpsc::channel();
    let server = std::thread::spawn(move || ran.send(bound.run()).unwrap());

    let stream = guv_tests::http::connect(addr);
    let mut c = tungstenite::client::client(format!("ws://{addr}/"), stream).unwrap().0;
    assert_eq!(seen.recv_timeout(CLIENT_TIMEOUT), Ok("open"));
    stop.shutdown();
    match c.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away, "{frame:?}"),
        other => panic!("no closing frame with 1001 at the start of the shutdown: {other:?}"),
    }
    // The client's read queued its answer to the close; it goes out with
    // the next read, which then sees the server end the connection.
    match c.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("after the closing handshake: {other:?}"),
    }
    assert_eq!(seen.recv_timeout(CLIENT_TIMEOUT), Ok("returned, send refused"));
    // The server is done long before its deadline.
    stopped.recv_timeout(CLIENT_TIMEOUT).expect("the shutdown waited for its deadline").unwrap();
    server.join().unwrap();
}

// ---- 5. a child that `Child::from_std` cannot take over -------------------

/// Passes everything to an `EpollBackend`, except that it refuses
/// registrations once `allowed` (counted down by each) is used up: the
/// next one only, or (`refuse_rest`) all that follow.
struct RefusingBackend {
    inner: guv::hub::EpollBackend,
    allowed: std::sync::Arc<AtomicIsize>,
    refuse_rest: bool,
}

impl guv::hub::Backend for RefusingBackend {
    fn add(&self, fd: std::os::fd::BorrowedFd<'_>, key: usize) -> std::io::Result<()> {
        let left = self.allowed.fetch_sub(1, Ordering::SeqCst);
        if left == 0 || (left < 0 && self.refuse_rest) {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.inner.add(fd, key)
    }

    fn delete(&self, fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
        self.inner.delete(fd)
    }

    fn wait(
        &mut self,
        events: &mut Vec<guv::hub::IoEvent>,
        timeout: Option<std::time::Duration>,
    ) -> std::io::Result<()> {
        self.inner.wait(events, timeout)
    }

    fn notifier(&self) -> std::sync::Arc<dyn guv::hub::Notifier> {
        self.inner.notifier()
    }
}

/// `Child::from_std` (and so `Command::spawn`) takes the std child's pipes
/// over after the process has started; when that failed, the error was
/// returned and the running child dropped: never waited for (a zombie once
/// it exits) and never stopped. It is now killed and reaped first.
#[test]
fn a_child_whose_pipes_cannot_be_taken_over_is_killed_and_reaped() {
    // Reaped by a green wait on its pidfd.
    child_refused_by_the_poller_is_reaped(false);
}

#[test]
fn a_child_whose_pipes_cannot_be_taken_over_nor_watched_is_killed_and_reaped() {
    // The pidfd is refused too: std's wait reaps it.
    child_refused_by_the_poller_is_reaped(true);
}

/// Starts `sleep 600` with piped stdin and stdout on a hub whose poller
/// takes stdin's pipe and refuses stdout's (and, with `refuse_rest`, every
/// registration after it); `from_std` must fail and leave no child behind.
fn child_refused_by_the_poller_is_reaped(refuse_rest: bool) {
    use std::process::Stdio;
    std::thread::spawn(move || {
        let allowed = std::sync::Arc::new(AtomicIsize::new(isize::MAX));
        let inner = guv::hub::EpollBackend::new().unwrap();
        let backend = RefusingBackend { inner, allowed: allowed.clone(), refuse_rest };
        guv::hub::set_backend(Box::new(backend)).unwrap();
        let std_child = std::process::Command::new("sleep")
            .arg("600")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = std_child.id() as libc::pid_t;
        allowed.store(1, Ordering::SeqCst);
        let err = guv::green::process::Child::from_std(std_child).expect_err("the stdout pipe was refused");
        allowed.store(isize::MAX, Ordering::SeqCst);
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        let mut status = 0;
        // SAFETY: `status` is a live `c_int` that waitpid(2) writes.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        let why = std::io::Error::last_os_error();
        if waited == 0 {
            // Still running: stop it before failing.
            // SAFETY: plain system calls on this process's own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
        }
        assert_eq!(waited, -1, "the child was left {}", if waited == 0 { "running" } else { "a zombie" });
        assert_eq!(why.raw_os_error(), Some(libc::ECHILD), "{why}");
    })
    .join()
    .unwrap();
}

// ---- 3. failures the program goes on after go to `log` --------------------

use guv_tests::{child_role, run_child};

/// Caps this process's address space (through the `prlimit` tool).
fn cap_address_space(bytes: u64) {
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("prlimit").args(["--pid", &pid, &format!("--as={bytes}:{bytes}")]).status();
    assert!(status.is_ok_and(|s| s.success()), "prlimit failed");
}

/// Makes every greenlet this hub starts from now on fail to start: each
/// new stack is 1 GiB, which a 1 GiB address space cannot hold (plain
/// threads' stacks still fit).
fn no_more_greenlets() {
    guv::hub::set_stack_size(1 << 30).unwrap();
    cap_address_space(1 << 30);
}

/// Runs this test again in a child whose role is `role`, and returns the
/// error records it printed (one `LOG target message` line each on stdout)
/// and its stderr.
fn logged_by_child(name: &str, role: &str) -> (Vec<String>, String) {
    let out = run_child(name, role);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    // The test harness's `test name ... ` may start the first line.
    let logged = stdout.lines().filter_map(|l| l.split_once("LOG ")).map(|(_, record)| record.to_owned()).collect();
    (logged, stderr)
}

/// Prints the records the child's logger took (`LOG target message`).
fn print_logged(logged: &Mutex<Vec<String>>) {
    for line in logged.lock().unwrap().iter() {
        println!("LOG {line}");
    }
}

/// A remote spawn whose stack cannot be mapped is reported through `log`
/// (error, target `guv::hub`), not written to stderr: the program goes on,
/// and where its reports go is its logger's business.
#[test]
fn a_remote_spawn_that_cannot_start_is_logged_as_an_error() {
    const NAME: &str = "a_remote_spawn_that_cannot_start_is_logged_as_an_error";
    if child_role().as_deref() == Some("remote-spawn") {
        let logged = guv_tests::http::access_log();
        no_more_greenlets();
        let (tx, rx) = guv::green::sync::mpsc::channel::<()>();
        let handle = guv::hub::Handle::current();
        std::thread::spawn(move || handle.spawn(move || drop(tx)).unwrap());
        // Parks this greenlet, so the loop takes the remote spawn; the
        // closure is dropped unrun, which ends the channel.
        assert!(rx.recv().is_err(), "the closure ran");
        print_logged(logged);
        std::process::exit(0);
    }
    let (logged, stderr) = logged_by_child(NAME, "remote-spawn");
    assert!(
        logged.iter().any(|l| l.starts_with("guv::hub a greenlet sent from another thread could not start: ")),
        "logged: {logged:?}"
    );
    assert!(!stderr.contains("could not start"), "still on stderr:\n{stderr}");
}

/// An `Event` setter whose `Timeout` fires inside a callback hands the
/// callbacks after it to a fresh greenlet; when none can start, that is
/// reported through `log` (error, target `guv::links`), not on stderr, and
/// (since left 14) the setter runs them itself.
#[test]
fn callbacks_no_greenlet_can_take_over_are_logged_as_an_error() {
    const NAME: &str = "callbacks_no_greenlet_can_take_over_are_logged_as_an_error";
    if child_role().as_deref() == Some("hand-off") {
        let logged = guv_tests::http::access_log();
        let ev = guv::Event::new();
        ev.rawlink(|_| guv::sleep(std::time::Duration::from_secs(600)));
        ev.rawlink(|_| println!("LOG the second callback ran"));
        // Started while stacks can still be mapped.
        let setter = {
            let ev = ev.clone();
            guv::spawn(move || guv::with_timeout(std::time::Duration::from_millis(10), || ev.set()).is_err())
        };
        no_more_greenlets();
        assert!(setter.wait().unwrap(), "the setter's timeout did not fire in the first callback");
        print_logged(logged);
        std::process::exit(0);
    }
    let (logged, stderr) = logged_by_child(NAME, "hand-off");
    assert!(
        logged.iter().any(|l| l.starts_with(
            "guv::links no greenlet for the remaining Event callbacks of a set(), which run on the setter: "
        )),
        "logged: {logged:?}"
    );
    assert!(logged.iter().any(|l| l == "the second callback ran"), "logged: {logged:?}");
    assert!(!stderr.contains("cannot run"), "still on stderr:\n{stderr}");
}

// ---- 2. the thread pool hands back the job it was given --------------------

/// Jobs dropped unrun, and jobs run, by their tag, in order.
static DROPPED: Mutex<Vec<&str>> = Mutex::new(Vec::new());
static RAN: Mutex<Vec<&str>> = Mutex::new(Vec::new());

/// A job's tag: logged in [`DROPPED`] when the job is dropped unrun.
struct Tag(&'static str, bool);

impl Drop for Tag {
    fn drop(&mut self) {
        if !self.1 {
            DROPPED.lock().unwrap().push(self.0);
        }
    }
}

/// A pool job that logs its tag in [`RAN`] and returns `value`.
fn tagged_job(tag: &'static str, value: u32) -> impl FnOnce() -> u32 + Send + 'static {
    let tag = Tag(tag, false);
    move || {
        // The whole tag moves in (not its fields alone), and out here.
        let mut tag = tag;
        tag.1 = true;
        RAN.lock().unwrap().push(tag.0);
        value
    }
}

/// Caps this process's address space (the soft limit) at what it maps now
/// plus 1 MiB: no thread stack (2 MiB) can be mapped; returns the limit it
/// had, for [`restore_address_space`].
fn no_more_threads() -> libc::rlimit {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `old` is a live `rlimit` that getrlimit(2) writes.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut old) }, 0);
    let capped = libc::rlimit { rlim_cur: (kib + 1024) * 1024, rlim_max: old.rlim_max };
    // SAFETY: `capped` is a live `rlimit` that setrlimit(2) reads.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &capped) }, 0);
    old
}

fn restore_address_space(old: libc::rlimit) {
    // SAFETY: `old` is a live `rlimit` that setrlimit(2) reads.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &old) }, 0);
}

/// When `tpool` could not start a worker thread and none was running, the
/// submitter took a job back off the end of the queue to return with its
/// error: another submitter's, if one had queued meanwhile, which was then
/// dropped unrun (its caller waiting for ever), while the failed caller's
/// own job stayed queued and ran later. The child process makes exactly
/// that happen: a pool of one thread; caller A queues its job and, in the
/// window where tpool starts the worker (held there by the allocator hook),
/// caller B on another thread queues its own (the pool counts A's worker,
/// so B starts none); then A's thread start fails (no address space for
/// its stack). A must get its own job back. B's job, with no worker alive
/// to run it, used to wait until a later submit started one (for ever if
/// none came); it is now given up at once with the same error (review 9),
/// and the pool works again for the next submit.
#[test]
fn a_failed_worker_start_hands_back_the_submitters_own_job() {
    const NAME: &str = "a_failed_worker_start_hands_back_the_submitters_own_job";
    if child_role().as_deref() == Some("tpool-race") {
        tpool_race_child();
    }
    let out = run_child(NAME, "tpool-race");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    let report: Vec<&str> = stdout.lines().filter_map(|l| l.split_once("REPORT ")).map(|(_, r)| r).collect();
    assert!(report.iter().any(|r| r.starts_with("A failed: guv::tpool: cannot start a worker thread")), "{report:?}");
    assert!(report.contains(&"dropped after A failed: [\"B\", \"A\"]"), "{report:?}");
    assert!(
        report.iter().any(|r| r.starts_with("B got Err(\"guv::tpool: cannot start a worker thread")),
        "B's caller was not told: {report:?}"
    );
    assert!(report.contains(&"ran: [\"A2\"]"), "{report:?}");
}

fn tpool_race_child() -> ! {
    guv::tpool::set_size(1).unwrap();
    // This thread's hub exists before the cap.
    guv::sleep(std::time::Duration::ZERO);
    let (ready_tx, ready) = mpsc::channel();
    let (result_tx, result) = mpsc::channel();
    std::thread::spawn(move || {
        // Runs only when B's greenlet parks: in `execute`, once its job is
        // queued. Started (its stack mapped) before the cap.
        guv::spawn_n(|| HOOK_RELEASED.store(true, Ordering::SeqCst));
        ready_tx.send(()).unwrap();
        while !HOOK_REACHED.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let got = std::panic::catch_unwind(|| guv::tpool::execute(tagged_job("B", 7)));
        let got = got.map_err(|p| p.downcast_ref::<String>().cloned().unwrap_or_default());
        result_tx.send(got).unwrap();
    });
    ready.recv_timeout(CLIENT_TIMEOUT).unwrap();
    let old = no_more_threads();
    arm_hook();
    let failed = std::panic::catch_unwind(|| guv::tpool::execute(tagged_job("A", 1)));
    let dropped = DROPPED.lock().unwrap().clone();
    restore_address_space(old);
    let message = failed.err().and_then(|p| p.downcast_ref::<String>().cloned()).unwrap_or_default();
    println!("\nREPORT A failed: {message}");
    println!("REPORT dropped after A failed: {dropped:?}");
    // B is told before any later submit (it used to wait for A2's worker).
    let b = result.recv_timeout(CLIENT_TIMEOUT).expect("B's caller is still waiting");
    println!("REPORT B got {b:?}");
    // Starts a worker: it runs what is queued (nothing), then this.
    assert_eq!(guv::tpool::execute(tagged_job("A2", 2)), 2);
    println!("REPORT ran: {:?}", RAN.lock().unwrap());
    std::process::exit(0);
}
