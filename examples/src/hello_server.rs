//! The README's main job: `Hello, World!` on http://127.0.0.1:8001 with
//! keep-alive, served by `guv::wsgi` on one hub (one OS thread), one
//! greenlet per connection. Runs until interrupted: Ctrl-C (`SIGINT`) or
//! `SIGTERM` stops it gracefully, as gunicorn's worker does — it stops
//! accepting, lets the requests in flight finish (within the server's
//! shutdown timeout), prints `hello_server stopped` and exits with 0.
//!
//! Run: `cargo run --release -p guv-examples --bin hello_server`
//! then: `curl http://127.0.0.1:8001/`
//!
//! Environment: `GUV_HELLO_ADDR` (default `127.0.0.1:8001`) and
//! `GUV_HELLO_WORKERS` (default 1; 0 = one worker hub per core).

use guv::signal::{Signal, Signals};
use guv::wsgi::http::{Request, Response, header};
use guv::wsgi::{Body, Server};

fn hello(_req: Request<Body>) -> Response<Body> {
    let mut response = Response::new(Body::from_static(b"Hello, World!"));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    response
}

fn main() -> std::io::Result<()> {
    let addr = std::env::var("GUV_HELLO_ADDR").unwrap_or_else(|_| "127.0.0.1:8001".into());
    let workers = match std::env::var("GUV_HELLO_WORKERS") {
        Ok(n) => n
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("GUV_HELLO_WORKERS: {e}")))?,
        Err(_) => 1,
    };
    let bound = Server::new(hello).workers(workers).bind(&addr)?;
    // Registered before the first line is printed, so a signal sent by
    // whoever reads that line finds guv's handler already installed.
    let signals = Signals::new([Signal::INT, Signal::TERM])?;
    let stop = bound.shutdown_handle();
    // A greenlet on this hub: it parks until a signal comes, while the
    // server's own greenlets run.
    guv::spawn(move || {
        let signal = signals.recv();
        eprintln!("hello_server: {signal}, stopping");
        stop.shutdown();
    });
    println!("hello_server listening on http://{} ({} worker(s))", bound.local_addr(), bound.workers());
    bound.run()?;
    println!("hello_server stopped");
    Ok(())
}
