//! A JSON echo app on `guv::wsgi`: POST a JSON document to
//! http://127.0.0.1:8002/ and get `{"echo": <it>, "bytes": <its size>}`
//! back; anything that is not JSON gets 400 with the parser's message,
//! another method 405, a body over 1 MiB 413.
//!
//! Run: `cargo run -p guv-examples --bin json_echo`
//! then: `curl -d '{"hello": [1, 2]}' http://127.0.0.1:8002/`

use std::io::Read;

use guv::wsgi::http::{Method, Request, Response, StatusCode, header};
use guv::wsgi::{Body, Server};

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::from(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}

fn echo(mut req: Request<Body>) -> Response<Body> {
    if req.method() != Method::POST {
        let mut r = json(StatusCode::METHOD_NOT_ALLOWED, &serde_json::json!({"error": "POST a JSON document"}));
        // RFC 9110 15.5.6: a 405 names the methods the resource takes.
        r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return r;
    }
    let mut raw = Vec::new();
    if let Err(e) = req.body_mut().read_to_end(&mut raw) {
        return json(StatusCode::BAD_REQUEST, &serde_json::json!({"error": e.to_string()}));
    }
    match serde_json::from_slice::<serde_json::Value>(&raw) {
        Ok(value) => json(StatusCode::OK, &serde_json::json!({"echo": value, "bytes": raw.len()})),
        Err(e) => json(StatusCode::BAD_REQUEST, &serde_json::json!({"error": e.to_string()})),
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::var("GUV_JSON_ADDR").unwrap_or_else(|_| "127.0.0.1:8002".into());
    let listener = guv::listen(&addr)?;
    println!("json_echo listening on http://{}", listener.local_addr()?);
    Server::new(echo).max_body_size(1 << 20).serve(listener)
}
