//! An adversarial review of guv::wsgi's request/response path: smuggling
//! vectors in the head and in chunked framing, limits at their edges, and
//! responses an app gets wrong (statuses, framing fields, bodies that fail
//! or lie about their length). Each test names the RFC 9110/9112 section
//! that decides the expected behaviour.

use std::cell::Cell;
use std::io::{Cursor, Read};
use std::rc::Rc;
use std::time::Duration;

use guv::wsgi::http::{Method, Request, Response, StatusCode, header};
use guv::wsgi::{Body, Server};
use guv_tests::http::{Client, RawResponse, TestServer};

/// A reader that yields `parts` pieces of `piece` bytes, then fails.
struct FailsAfter {
    parts: usize,
    piece: usize,
}

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.parts == 0 {
            return Err(std::io::Error::other("the body's source failed"));
        }
        self.parts -= 1;
        let n = self.piece.min(buf.len());
        buf[..n].fill(b'x');
        Ok(n)
    }
}

/// A reader that panics when read.
struct PanicsWhenRead;

impl Read for PanicsWhenRead {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        panic!("the response body's reader panicked");
    }
}

/// A reader that records whether it was ever read.
struct Watched(Rc<Cell<bool>>);

impl Read for Watched {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        self.0.set(true);
        Ok(0)
    }
}

thread_local! {
    /// Whether the `/head-stream` body was read on this (the server's) thread.
    static HEAD_BODY_READ: Rc<Cell<bool>> = Rc::new(Cell::new(false));
}

fn with_header(mut r: Response<Body>, name: header::HeaderName, value: &'static str) -> Response<Body> {
    r.headers_mut().insert(name, header::HeaderValue::from_static(value));
    r
}

fn app(mut req: Request<Body>) -> Response<Body> {
    if req.method() == Method::CONNECT && req.uri().host() == Some("deny.example") {
        let mut r = Response::new(Body::from("denied"));
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/echo" => {
            let mut body = Vec::new();
            match req.body_mut().read_to_end(&mut body) {
                Ok(_) => Response::new(Body::from(body)),
                Err(e) => Response::new(Body::from(format!("read error: {e}"))),
            }
        }
        "/stream-echo" => Response::new(req.into_body()),
        "/fail-late" => Response::new(Body::from_reader(FailsAfter { parts: 20, piece: 8192 })),
        "/panic-body" => Response::new(Body::from_reader(PanicsWhenRead)),
        "/fail-early" => Response::new(Body::from_reader(FailsAfter { parts: 1, piece: 5 })),
        "/head-stream" => Response::new(Body::from_reader(Watched(HEAD_BODY_READ.with(Rc::clone)))),
        "/head-stream-read" => Response::new(Body::from(HEAD_BODY_READ.with(|r| r.get().to_string()))),
        "/cl-short" => {
            with_header(Response::new(Body::from_reader(Cursor::new(b"abc".to_vec()))), header::CONTENT_LENGTH, "10")
        }
        "/cl-long" => with_header(
            Response::new(Body::from_reader(Cursor::new(b"abcdefghij".to_vec()))),
            header::CONTENT_LENGTH,
            "3",
        ),
        "/cl-bytes" => with_header(Response::new(Body::from("abcdef")), header::CONTENT_LENGTH, "3"),
        "/te" => with_header(Response::new(Body::from("abc")), header::TRANSFER_ENCODING, "chunked"),
        p if p.starts_with("/status/") => {
            let mut r = Response::new(Body::from("a body"));
            *r.status_mut() = StatusCode::from_u16(p[8..].parse().unwrap()).unwrap();
            r
        }
        _ => Response::new(Body::from(format!("{} {}", req.method(), req.uri()))),
    }
}

fn server() -> TestServer {
    TestServer::start(Server::new(app).max_body_size(16).access_log(false))
}

/// Sends `request`, then a GET that would be answered if the connection
/// stayed open; expects one answer with `status` and `Connection: close`,
/// then the connection closed.
fn refused(s: &TestServer, request: &[u8], status: u16) -> RawResponse {
    guv_tests::http::refused(s, &[request, b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"].concat(), status)
}

fn post_chunked(path: &str, body: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}").into_bytes()
}

// ----- the head: smuggling vectors ------------------------------------------

/// RFC 9112 §5.2: obs-fold in a request is either rejected with 400 or
/// replaced by spaces; a folded `Transfer-Encoding` must never be read one
/// way by a proxy and another by the server. §5.1: no whitespace between a
/// field name and its colon (400). §5.5: field values hold no CR, LF or
/// NUL; §5.1: field names are tokens.
#[test]
fn malformed_field_lines_are_refused() {
    let s = server();
    refused(&s, b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n chunked\r\n\r\n0\r\n\r\n", 400);
    refused(&s, b"POST /echo HTTP/1.1\r\nHost: a\r\nX: 1\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    refused(&s, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost: a\r\nX\x01Y: ab\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost: a\r\n\"X\": ab\r\n\r\n", 400);
    refused(&s, b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400);
    refused(&s, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400);
}

/// RFC 9112 §5.1 and §5.5: whitespace around a field value is not part of
/// it, so `Content-Length:  5 ` is 5. §2.2: a bare LF may end a head line,
/// and at least one empty line before a request line is ignored.
#[test]
fn lenient_where_the_rfc_allows_it_frames_the_same() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length:  5 \r\n\r\nhello\r\n");
    c.send(b"GET /lf HTTP/1.1\nHost: a\n\n");
    assert_eq!(c.read_response().unwrap().text(), "hello");
    assert_eq!(c.read_response().unwrap().text(), "GET /lf");
}

/// RFC 9112 §9.3.2: answers to pipelined requests go in order; a malformed
/// request in the middle is answered 400 after the answers before it, and
/// nothing after it is read (§9.6 close).
#[test]
fn a_malformed_request_in_a_pipeline_is_answered_in_its_turn_and_closes() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
    c.send(b"GET /3 HTTP/1.1\r\nHost : a\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "GET /1");
    assert_eq!(c.read_response().unwrap().text(), "hi");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (400, Some("close")));
    assert!(c.is_closed());
}

// ----- chunked framing -------------------------------------------------------

/// RFC 9112 §7.1: the chunk size is hex of any length, but a value past
/// 64 bits cannot be honoured (400, not a wrapped size); one that fits but
/// exceeds the body limit is 413 before any data is taken.
#[test]
fn chunk_sizes_past_64_bits_or_the_limit_are_refused() {
    let s = server();
    refused(&s, &post_chunked("/echo", "1ffffffffffffffff\r\nx\r\n0\r\n\r\n"), 400);
    refused(&s, &post_chunked("/echo", "ffffffffffffffff\r\nxxxxxxxxxxxxxxxxxxxxxxxx\r\n"), 413);
}

/// RFC 9112 §7.1.1 and §7.1.2: chunk extensions and trailer fields are
/// read and discarded (the app sees only the data), within the server's
/// limit of 16 KiB; past it the request is refused (431) and closed.
#[test]
fn extensions_and_trailers_are_discarded_within_their_limit() {
    let s = server();
    let ext = "e".repeat(8 * 1024);
    let trailer = "t".repeat(7 * 1024);
    let mut c = Client::connect(s.addr);
    c.send(&post_chunked("/echo", &format!("5;{ext}=1\r\nhello\r\n0\r\nX-T: {trailer}\r\n\r\n")));
    c.send(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "hello");
    assert_eq!(c.read_response().unwrap().text(), "GET /after");

    let long = "e".repeat(17 * 1024);
    refused(&s, &post_chunked("/echo", &format!("5;{long}\r\nhello\r\n0\r\n\r\n")), 431);
    refused(&s, &post_chunked("/echo", &format!("5\r\nhello\r\n0\r\nX-T: {long}\r\n\r\n")), 431);
    // Many small trailer lines count together.
    let many: String = (0..3000).map(|i| format!("T{i}: v\r\n")).collect();
    refused(&s, &post_chunked("/echo", &format!("5\r\nhello\r\n0\r\n{many}\r\n")), 431);
}

// ----- body limits -----------------------------------------------------------

/// RFC 9110 §15.5.14: a body over the server's limit is 413; the
/// connection closes (the rest of the body is not read). At the limit
/// exactly, it is served and the connection kept.
#[test]
fn a_body_at_the_limit_is_served_and_one_byte_over_is_413() {
    let s = server();
    let sixteen = "0123456789abcdef";
    let mut c = Client::connect(s.addr);
    c.send(format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\n{sixteen}").as_bytes());
    c.send(&post_chunked("/echo", &format!("8\r\n{}\r\n8\r\n{}\r\n0\r\n\r\n", &sixteen[..8], &sixteen[8..])));
    assert_eq!(c.read_response().unwrap().text(), sixteen);
    assert_eq!(c.read_response().unwrap().text(), sixteen);

    refused(&s, format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n{sixteen}!").as_bytes(), 413);
    // Discovered on the last byte, while the app reads: the app's read
    // fails, and its answer is replaced by the 413.
    let r = refused(&s, &post_chunked("/echo", &format!("10\r\n{sixteen}\r\n1\r\n!\r\n0\r\n\r\n")), 413);
    assert_eq!(r.text(), "Payload Too Large");
}

// ----- the response: what the app gets wrong -----------------------------------

/// RFC 9110 §6.4.1 and §8.6: the server, not the app, frames the body. A
/// `Content-Length` the app sets on bytes in memory is replaced by their
/// real length; a `Transfer-Encoding` it sets is dropped; a length it sets
/// on a stream is sent and the stream cut there.
#[test]
fn the_server_frames_bodies_whatever_framing_fields_the_app_sets() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"GET /cl-bytes HTTP/1.1\r\nHost: a\r\n\r\nGET /te HTTP/1.1\r\nHost: a\r\n\r\n");
    c.send(b"GET /cl-long HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.header("content-length"), r.text().as_str()), (Some("6"), "abcdef"));
    let r = c.read_response().unwrap();
    assert_eq!((r.header("content-length"), r.header("transfer-encoding")), (Some("3"), None));
    let r = c.read_response().unwrap();
    assert_eq!((r.header("content-length"), r.text().as_str()), (Some("3"), "abc"));
    assert_eq!(c.read_response().unwrap().text(), "GET /after");

    // A stream that ends short: see the next test.
}

/// RFC 9112 §7.1: a chunked body is complete only with its last chunk;
/// a stream that fails after part of it went out must not end in one
/// (the client would take the truncated body for the whole).
#[test]
fn a_stream_that_fails_midway_withholds_the_last_chunk() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"GET /fail-late HTTP/1.1\r\nHost: a\r\n\r\n");
    // More than the server buffers before it writes: part of it is out.
    assert_eq!(c.peek(17).unwrap(), b"HTTP/1.1 200 OK\r\n");
    let err = c.read_response().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
}

/// RFC 9110 §9.3.2: a HEAD answer has no body; a streamed one is dropped
/// unread, and the next request on the connection is answered.
#[test]
fn a_head_answer_drops_its_stream_unread() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"HEAD /head-stream HTTP/1.1\r\nHost: a\r\n\r\nGET /head-stream-read HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response_to(true).unwrap();
    assert_eq!((r.status, r.header("content-length"), r.header("transfer-encoding")), (200, None, None));
    assert_eq!(c.read_response().unwrap().text(), "false");
}

/// RFC 9110 §15: a status code outside 100..=599 is not HTTP, and the
/// reason phrase of an unregistered one is free text (§15, RFC 9112 §4).
#[test]
fn unregistered_statuses_get_a_generic_reason_phrase() {
    let s = server();
    for code in [499, 599] {
        let mut c = Client::connect(s.addr);
        c.send(format!("GET /status/{code} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let line = format!("HTTP/1.1 {code} Unknown\r\n");
        assert_eq!(c.peek(line.len()).unwrap(), line.as_bytes());
        assert_eq!(c.read_response().unwrap().text(), "a body");
    }
}

// ----- the header timeout ---------------------------------------------------------

/// The header timeout bounds the whole head, not the gap between bytes; a
/// head that arrives in pieces well within it is served.
#[test]
fn a_head_trickled_within_the_timeout_is_served() {
    let s = TestServer::start(Server::new(app).header_timeout(Some(Duration::from_secs(10))).access_log(false));
    let mut c = Client::connect(s.addr);
    for b in b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n".chunks(3) {
        c.send(b);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.read_response().unwrap().text(), "GET /slow");
}

/// RFC 9110 §15.2: a 1xx response is interim, so a client that gets one
/// keeps waiting for the final answer; and §15: codes past 599 are not
/// HTTP. An app that answers with either gets a 500 in its place (the
/// connection stays usable), rather than a client left hanging.
#[test]
fn an_app_answer_that_is_not_a_final_status_becomes_500() {
    let s = server();
    for code in [100, 101, 103, 600, 999] {
        let mut c = Client::connect(s.addr);
        c.send(
            format!("GET /status/{code} HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
        assert_eq!(c.peek(12).unwrap(), b"HTTP/1.1 500", "{code}");
        let r = c.read_response().unwrap();
        assert_eq!((r.status, r.text().as_str()), (500, "Internal Server Error"), "{code}");
        assert_eq!(c.read_response().unwrap().text(), "GET /after", "{code}");
    }
}

/// RFC 9112 §3.2: each form of request target goes with its methods: the
/// authority-form (`host:port`) only with CONNECT, which takes no other
/// (§3.2.3, RFC 9110 §9.3.6), and the asterisk-form only with OPTIONS
/// (§3.2.4). Anything else is an invalid request line (400, §3): an app
/// routing on `uri().path()` would otherwise see `""` or `"*"`.
#[test]
fn a_request_target_must_have_the_form_its_method_takes() {
    use guv::wsgi::proto::{Limits, Parse, parse_request};

    let s = server();
    for bad in [
        &b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST * HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        b"GET host:443 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET localhost HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT http://host:443/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET ?x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"OPTIONS ?x HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let parsed = parse_request(bad, &Limits::default());
        assert!(parsed.is_err_and(|e| e.is_syntax()), "{:?}", String::from_utf8_lossy(bad));
        refused(&s, bad, 400);
    }
    let mut c = Client::connect(s.addr);
    c.send(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET http://h.example/p?q HTTP/1.1\r\nHost: a\r\n\r\n");
    c.send(b"OPTIONS / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "OPTIONS *");
    assert_eq!(c.read_response().unwrap().text(), "GET http://h.example/p?q");
    assert_eq!(c.read_response().unwrap().text(), "OPTIONS /");
    let connect = parse_request(b"CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n", &Limits::default());
    let Ok(Parse::Complete(head, _)) = connect else { panic!("{connect:?}") };
    assert_eq!(head.request().uri().authority().map(|a| a.as_str()), Some("h.example:443"));
}

/// RFC 9112 §6.3 (rule 2): after a 2xx answer to CONNECT the connection is
/// a tunnel, so the client reads no framed body and sends no further
/// requests; RFC 9110 §9.3.6: such an answer carries neither
/// `Content-Length` nor `Transfer-Encoding`. The server tunnels nothing:
/// what the app answers is the tunnel's data, and then it closes. A
/// refusal (not 2xx) is an ordinary response.
#[test]
fn a_2xx_answer_to_connect_is_unframed_and_closes() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("content-length"), r.header("transfer-encoding")), (200, None, None));
    assert_eq!(r.header("connection"), Some("close"));
    // Read up to the close: the GET sent after it was not answered.
    assert_eq!(r.text(), "CONNECT h.example:443");

    let mut c = Client::connect(s.addr);
    c.send(b"CONNECT deny.example:443 HTTP/1.1\r\nHost: deny.example:443\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("content-length"), r.text().as_str()), (403, Some("6"), "denied"));
    assert_eq!(c.read_response().unwrap().text(), "GET /next");
}

/// RFC 9110 §15.5.14 and §15.6.1: when a streamed answer fails before any
/// of it has left the server — the request body it echoes turns out over
/// the limit (413) or malformed (400), or the app's stream fails or ends
/// short of its announced length (500) — the client gets that status with
/// `Connection: close` (RFC 9112 §9.6), not a connection closed without a
/// word.
#[test]
fn a_streamed_answer_that_fails_before_it_is_sent_becomes_an_error_status() {
    let s = server();
    let over = format!("10\r\n{}\r\n1\r\n!\r\n0\r\n\r\n", "y".repeat(16));
    let r = refused(&s, &post_chunked("/stream-echo", &over), 413);
    assert_eq!(r.text(), "Payload Too Large\n");
    refused(&s, &post_chunked("/stream-echo", "3\r\nabc\r\nzz\r\n"), 400);
    refused(&s, b"GET /fail-early HTTP/1.1\r\nHost: a\r\n\r\n", 500);
    refused(&s, b"GET /cl-short HTTP/1.1\r\nHost: a\r\n\r\n", 500);
    // A panic in the body's reader is the app's, like one in the app: a
    // 500, and the server goes on.
    refused(&s, b"GET /panic-body HTTP/1.1\r\nHost: a\r\n\r\n", 500);
    // Within the limit, the echo streams as before.
    let mut c = Client::connect(s.addr);
    c.send(&post_chunked("/stream-echo", "3\r\nabc\r\n0\r\n\r\n"));
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("transfer-encoding"), r.text().as_str()), (200, Some("chunked"), "abc"));
}
