//! The benchmark's guv server on the raw service API
//! (`guv::wsgi::Server::raw`, the may_minihttp style): the same plaintext
//! `Hello, World!` with keep-alive, one worker (or `GUV_WORKERS`), access
//! log off. Usage: `http_guv_raw PORT`.

use guv::wsgi::http::header::{CONTENT_TYPE, HeaderValue};
use guv::wsgi::{RawRequest, RawResponse, Server};

fn hello(_req: &mut RawRequest<'_>, res: &mut RawResponse<'_>) {
    res.header(&CONTENT_TYPE, &HeaderValue::from_static("text/plain")).set_body(b"Hello, World!");
}

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8085".into());
    let workers = std::env::var("GUV_WORKERS").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    Server::raw(hello).access_log(false).workers(workers).run(("127.0.0.1", port.parse::<u16>().expect("port")))
}
