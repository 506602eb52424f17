//! The headline benchmark's guv server: plaintext `Hello, World!` with
//! keep-alive, `guv::wsgi` on one worker (or `GUV_WORKERS`), access log off.
//! The app answers with `guv::wsgi::response_for`, which hands the
//! request's header map on to the response (no map allocated per request;
//! `Response::new` in its place costs ~260 more instructions per request,
//! see docs/BENCHMARKS.md, session 10). Usage: `http_guv PORT`.

use guv::wsgi::http::{Request, Response, header};
use guv::wsgi::{Body, Server, response_for};

fn hello(req: Request<Body>) -> Response<Body> {
    let mut response = response_for(req, Body::from_static(b"Hello, World!"));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    response
}

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8081".into());
    let workers = std::env::var("GUV_WORKERS").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    Server::new(hello).access_log(false).workers(workers).run(("127.0.0.1", port.parse::<u16>().expect("port")))
}
