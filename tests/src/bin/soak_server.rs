//! The soak server: a `guv::wsgi` server with every feature a long run
//! under mixed traffic should exercise at once, for `benches/soak/soak.py`
//! (docs/BENCHMARKS.md, "Soak"). Not a test by itself: the soak script
//! starts it, loads it for minutes and watches its RSS, fds and the
//! counters `/stats` reports.
//!
//! Usage: `soak_server tcp|tls|unix ADDR_OR_PATH`, e.g.
//! `soak_server tls 127.0.0.1:0` or `soak_server unix /tmp/soak.sock`.
//! It prints `soak_server listening on ADDR` once the listener is bound,
//! and stops gracefully on `SIGTERM` or `SIGINT` (`soak_server stopped`).
//!
//! What it turns on: two worker hubs (`workers(2)`; for a Unix socket
//! both accept on the one listener), TLS through `wrap_stream` with a
//! `close_notify` on a graceful close (rustls, a fresh self-signed
//! certificate for 127.0.0.1; clients of the soak do not verify it), the
//! access log into a logger that formats each line and throws it away
//! (counting them), a 1 s header timeout and a 2 s body timeout.
//!
//! Routes: `/` a short answer; `/echo` the request body back; `/partial`
//! reads at most 4 KiB of the body and answers (the server drains or
//! closes the rest); `/panic` panics (500); `/big` 1 MiB with a length;
//! `/stream` 256 KiB chunked; `/slow` answers after 200 ms; `/ws` a
//! WebSocket chat room per hub (`guv_tests::chat`) that broadcasts every data message; and
//! `/stats`, one JSON line about the hub that answers it (its thread name,
//! `guv::hub::stats()`, its room's size, the access-log lines so far).

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use guv::signal::{Signal, Signals};
use guv::websocket::{WebSocket, WebSocketWSGI};
use guv::wsgi::http::{Request, Response, StatusCode};
use guv::wsgi::{Body, Server, Service, ShutdownHandle, StreamWrap};

/// The access-log sink: formats each record as a real logger would, keeps
/// nothing.
struct Sink {
    access: AtomicU64,
    other: AtomicU64,
}

impl log::Log for Sink {
    fn enabled(&self, _meta: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}", record.target(), record.args());
        let counter = if record.target() == "guv::wsgi::access" { &self.access } else { &self.other };
        counter.fetch_add(1, Ordering::Relaxed);
        std::hint::black_box(line);
    }

    fn flush(&self) {}
}

static SINK: Sink = Sink { access: AtomicU64::new(0), other: AtomicU64::new(0) };

fn text(status: StatusCode, body: impl Into<Body>) -> Response<Body> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r
}

fn stats() -> String {
    let s = guv::hub::stats();
    let thread = std::thread::current();
    format!(
        "{{\"thread\":\"{}\",\"live_greenlets\":{},\"io_waiters\":{},\"pooled_stacks\":{},\"registered_fds\":{},\"timers\":{},\"room\":{},\"access_lines\":{},\"other_lines\":{}}}\n",
        thread.name().unwrap_or("?"),
        s.live_greenlets,
        s.io_waiters,
        s.pooled_stacks,
        s.registered_fds,
        s.timers,
        guv_tests::chat::members(),
        SINK.access.load(Ordering::Relaxed),
        SINK.other.load(Ordering::Relaxed),
    )
}

fn app<H: Fn(WebSocket)>(sockets: &WebSocketWSGI<H>, mut req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/" => text(StatusCode::OK, "soak\n"),
        "/echo" => {
            let mut body = Vec::new();
            match req.body_mut().read_to_end(&mut body) {
                Ok(_) => text(StatusCode::OK, body),
                Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
            }
        }
        "/partial" => {
            let mut head = vec![0u8; 4096];
            let mut got = 0;
            while got < head.len() {
                match req.body_mut().read(&mut head[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
                }
            }
            text(StatusCode::OK, format!("read {got}\n"))
        }
        "/panic" => panic!("soak: the /panic route"),
        "/big" => text(StatusCode::OK, vec![b'b'; 1 << 20]),
        "/stream" => text(StatusCode::OK, Body::from_reader(io::repeat(b's').take(256 * 1024))),
        "/slow" => {
            guv::sleep(Duration::from_millis(200));
            text(StatusCode::OK, "slow\n")
        }
        "/ws" => sockets.call(req),
        "/stats" => text(StatusCode::OK, stats()),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn configure<A: Service + Send + Sync, W: StreamWrap>(server: Server<A, W>) -> Server<A, W> {
    server
        .workers(2)
        .access_log(true)
        .header_timeout(Some(Duration::from_secs(1)))
        .body_timeout(Some(Duration::from_secs(2)))
        .send_timeout(Some(Duration::from_secs(5)))
        .shutdown_timeout(Duration::from_secs(5))
}

/// Stops the server on SIGTERM or SIGINT, from a greenlet of this hub.
fn stop_on_signal(stop: ShutdownHandle) -> io::Result<()> {
    let signals = Signals::new([Signal::INT, Signal::TERM])?;
    guv::spawn_n(move || {
        let signal = signals.recv();
        eprintln!("soak_server: {signal}, stopping");
        stop.shutdown();
    });
    Ok(())
}

fn main() -> io::Result<()> {
    let usage = || io::Error::new(io::ErrorKind::InvalidInput, "usage: soak_server tcp|tls|unix ADDR_OR_PATH");
    let mut args = std::env::args().skip(1);
    let (mode, addr) = (args.next().ok_or_else(usage)?, args.next().ok_or_else(usage)?);
    log::set_logger(&SINK).map_err(|e| io::Error::other(e.to_string()))?;
    log::set_max_level(log::LevelFilter::Info);
    let sockets = WebSocketWSGI::new(guv_tests::chat::chat);
    let server = configure(Server::new(move |req| app(&sockets, req)));
    match mode.as_str() {
        "unix" => {
            let _ = std::fs::remove_file(&addr);
            let listener = guv::net::unix::UnixListener::bind(&addr)?;
            stop_on_signal(server.shutdown_handle())?;
            println!("soak_server listening on {addr}");
            server.run_unix(listener)?;
        }
        "tcp" => {
            let bound = server.bind(&addr)?;
            stop_on_signal(bound.shutdown_handle())?;
            println!("soak_server listening on {}", bound.local_addr());
            bound.run()?;
        }
        "tls" => {
            let tls = guv_tests::tls::self_signed("127.0.0.1");
            let config = tls.server;
            let bound = server
                .wrap_stream_with_close(
                    move |tcp| guv_tests::tls::accept(&config, tcp),
                    |tls: &mut guv_tests::tls::ServerTls| {
                        tls.conn.send_close_notify();
                        Ok(())
                    },
                )
                .bind(&addr)?;
            stop_on_signal(bound.shutdown_handle())?;
            println!("soak_server listening on {}", bound.local_addr());
            bound.run()?;
        }
        _ => return Err(usage()),
    }
    println!("soak_server stopped");
    Ok(())
}
