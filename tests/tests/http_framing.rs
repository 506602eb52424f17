//! guv::wsgi request framing against smuggling: every line of a chunked
//! body ends in CRLF, `Host` appears once, and `Content-Length` /
//! `Transfer-Encoding` are read the one way RFC 9112 allows. Each rule is
//! checked in the sans-I/O layer and on a running server, where a refused
//! request must get its status, `Connection: close`, and no answer to
//! whatever followed it on the connection.

use std::io::Read;

use guv::wsgi::http::{Request, Response, StatusCode};
use guv::wsgi::proto::{BodyLength, ChunkedDecoder, Limits, Parse, parse_request};
use guv::wsgi::{Body, Server};
use guv_tests::http::{Client, TestServer};

/// Answers `path:body length`, reading the body unless the path is
/// `/ignore`.
fn app(req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/ignore" {
        return Response::new(Body::from("ignored"));
    }
    let mut body = Vec::new();
    match req.into_body().read_to_end(&mut body) {
        Ok(_) => Response::new(Body::from(format!("{path}:{}", body.len()))),
        Err(e) => {
            let mut r = Response::new(Body::from(e.to_string()));
            *r.status_mut() = StatusCode::IM_A_TEAPOT; // replaced by the server's 400
            r
        }
    }
}

fn server() -> TestServer {
    TestServer::start(Server::new(app).access_log(false))
}

/// A request followed by two pipelined GETs, the second one closing.
fn with_followers(request: &[u8]) -> Vec<u8> {
    let mut bytes = request.to_vec();
    bytes.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
    bytes.extend_from_slice(b"GET /third HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    bytes
}

/// Sends `request` and the followers; expects one answer with `status`
/// and `Connection: close`, then the connection closed.
fn refused(s: &TestServer, request: &[u8], status: u16) {
    guv_tests::http::refused(s, &with_followers(request), status);
}

/// Sends `request` and the followers; expects three answers in order.
fn accepted(s: &TestServer, request: &[u8], first: &str) {
    let mut c = Client::connect(s.addr);
    c.send(&with_followers(request));
    let bodies: Vec<String> = (0..3).map(|_| c.read_response().unwrap().text()).collect();
    assert_eq!(bodies, [first, "/smuggled:0", "/third:0"], "{:?}", String::from_utf8_lossy(request));
}

fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), guv::wsgi::Error> {
    let mut dec = ChunkedDecoder::new();
    let mut out = [0u8; 64];
    let mut body = Vec::new();
    let mut used = 0;
    while !dec.is_done() && used < input.len() {
        let (u, w) = dec.decode(&input[used..], &mut out)?;
        used += u;
        body.extend_from_slice(&out[..w]);
    }
    Ok((body, used))
}

// ----- chunked framing (sans-I/O) -------------------------------------------

#[test]
fn the_decoder_refuses_a_bare_lf_after_the_last_chunk() {
    // Read as "end of body", the GET would be a second request; read as
    // the start of a trailer, it would be swallowed. Neither: an error.
    let err = decode_all(b"0\r\n\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err();
    assert!(err.is_syntax(), "{err}");
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn the_decoder_wants_crlf_on_every_trailer_line() {
    assert!(decode_all(b"0\r\nX-T: 1\n\r\n").unwrap_err().is_syntax());
    assert!(decode_all(b"0\r\nX-T: 1\r\nY: 2\n\r\n").unwrap_err().is_syntax());
    assert!(decode_all(b"0\r\nX-T: 1\rY\r\n\r\n").unwrap_err().is_syntax());
    assert!(decode_all(b"0\r\n\rX").unwrap_err().is_syntax());
    let input = b"1\r\nx\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\nNEXT";
    let (body, used) = decode_all(input).unwrap();
    assert_eq!((body.as_slice(), &input[used..]), (b"x".as_slice(), b"NEXT".as_slice()));
}

#[test]
fn the_decoder_refuses_whitespace_after_a_size_without_an_extension() {
    assert!(decode_all(b"5 \r\nhello\r\n0\r\n\r\n").unwrap_err().is_syntax());
    assert!(decode_all(b"5\t\r\nhello\r\n0\r\n\r\n").unwrap_err().is_syntax());
    assert!(decode_all(b"0 \r\n\r\n").unwrap_err().is_syntax());
    // Whitespace before an extension is allowed (RFC 9112 §7.1.1, BWS).
    assert_eq!(decode_all(b"5 ;a=b\r\nhello\r\n0\r\n\r\n").unwrap().0, b"hello");
}

// ----- chunked framing on a server ------------------------------------------

#[test]
fn a_bare_lf_after_the_last_chunk_is_answered_400_and_closes() {
    let s = server();
    let body = b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\n";
    refused(&s, body, 400);
    let trailer = b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\n\r\n";
    refused(&s, trailer, 400);
    let size = b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n";
    refused(&s, size, 400);
    // Well framed, the same requests are served one after the other.
    accepted(
        &s,
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\r\n\r\n",
        "/a:1",
    );
}

#[test]
fn a_bad_chunked_body_the_app_did_not_read_closes_the_connection() {
    // The response is out before the body is drained; the drain finds the
    // bad framing and closes instead of reading the next request.
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(&with_followers(b"POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\n"));
    assert_eq!(c.read_response().unwrap().text(), "ignored");
    assert!(c.is_closed(), "a request after the bad body was answered");
}

// ----- Host -----------------------------------------------------------------

#[test]
fn two_host_fields_are_refused() {
    let parsed = parse_request(b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: evil.example\r\n\r\n", &Limits::default());
    assert!(parsed.unwrap_err().is_syntax());

    let s = server();
    refused(&s, b"GET /a HTTP/1.1\r\nHost: a.example\r\nHost: evil.example\r\n\r\n", 400);
    refused(&s, b"GET /a HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET /a HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    refused(&s, b"GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    refused(&s, b"GET /a HTTP/1.1\r\nHost: user@a\r\n\r\n", 400);
    refused(&s, b"GET /a HTTP/1.1\r\n\r\n", 400);
    accepted(&s, b"GET /a HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "/a:0");
    accepted(&s, b"GET /a HTTP/1.1\r\nHost:\r\n\r\n", "/a:0");
}

// ----- Content-Length and Transfer-Encoding ---------------------------------

fn body_length(head: &[u8]) -> Result<BodyLength, guv::wsgi::Error> {
    match parse_request(head, &Limits::default())? {
        Parse::Complete(head, _) => Ok(head.body_length()),
        Parse::Partial => panic!("partial: {}", String::from_utf8_lossy(head)),
    }
}

#[test]
fn content_length_and_transfer_encoding_together_are_refused() {
    let both = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(body_length(both).unwrap_err().is_syntax());
    let s = server();
    refused(
        &s,
        b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    refused(
        &s,
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn differing_content_lengths_are_refused_and_equal_ones_agree() {
    let s = server();
    refused(&s, b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", 400);
    refused(&s, b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nxy", 400);
    refused(&s, b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    refused(&s, b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0x2\r\n\r\nxy", 400);
    refused(&s, b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
    accepted(&s, b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nxy", "/a:2");
}

#[test]
fn transfer_encoding_must_end_in_one_chunked() {
    let h = |te: &str| format!("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n").into_bytes();
    // Not ending in chunked: the length cannot be known (RFC 9112 §6.3).
    assert!(body_length(&h("gzip")).unwrap_err().is_syntax());
    let s = server();
    refused(&s, &h("gzip"), 400);
    refused(&s, &h("chunked, gzip"), 400);
    refused(&s, &h("chunked, chunked"), 400);
    refused(&s, &h(""), 400);
    refused(
        &s,
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    refused(
        &s,
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
        400,
    );
    // Ending in chunked with a coding the server does not implement: 501.
    assert!(body_length(&h("gzip, chunked")).unwrap_err().is_unsupported_coding());
    refused(&s, &h("gzip, chunked"), 501);
    refused(
        &s,
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        501,
    );
    // HTTP/1.0 has no transfer-codings: the framing is faulty.
    refused(&s, b"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    // Only a single final chunked (any case) is served.
    assert_eq!(body_length(&h("Chunked")).unwrap(), BodyLength::Chunked);
    accepted(&s, &h("chunked"), "/a:0");
}
