//! Unit tests of the connection state machine ([`super::Conn`]).

use std::cell::Cell;

use super::*;

thread_local! {
    /// How many times `parse_head` ran the parser on this thread.
    pub(super) static PARSES: Cell<usize> = const { Cell::new(0) };
}

/// Parses the next head into a fresh request.
fn parse_head(conn: &mut Conn) -> Result<Option<Request<()>>, Error> {
    let mut request = Request::new(());
    Ok(conn.parse_head(&mut request)?.map(|_| request))
}

fn feed(conn: &mut Conn, bytes: &[u8]) {
    let space = conn.space();
    space[..bytes.len()].copy_from_slice(bytes);
    conn.filled(bytes.len());
}

#[test]
fn pipelined_with_bodies() {
    let mut conn = Conn::new(Limits::default(), 1 << 20, 1 << 16);
    feed(&mut conn, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    let head = parse_head(&mut conn).unwrap().unwrap();
    assert_eq!(head.method(), "POST");
    let mut out = [0u8; 8];
    assert_eq!(conn.read_body(&mut out).unwrap(), BodyRead::Data(3));
    assert_eq!(conn.read_body(&mut out).unwrap(), BodyRead::End);
    assert_eq!(conn.finish_request(false), Next::ReadHead);
    let head = parse_head(&mut conn).unwrap().unwrap();
    assert_eq!(head.uri(), "/2");
    assert_eq!(conn.finish_request(false), Next::ReadHead);
    assert!(parse_head(&mut conn).unwrap().is_none());
}

#[test]
fn unread_body_is_drained() {
    let mut conn = Conn::new(Limits::default(), 1 << 20, 1 << 16);
    feed(&mut conn, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    parse_head(&mut conn).unwrap().unwrap();
    assert_eq!(conn.finish_request(false), Next::Drain);
    assert!(!conn.drain().unwrap());
    feed(&mut conn, b"0\r\n\r\n");
    assert!(conn.drain().unwrap());
    assert!(conn.is_idle());
}

#[test]
fn an_unread_body_is_drained_only_if_its_100_went_out() {
    let expect = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    // A streamed answer: the 100 goes before it, the body is drained.
    let mut conn = Conn::new(Limits::default(), 1 << 20, 1 << 16);
    feed(&mut conn, expect);
    parse_head(&mut conn).unwrap().unwrap();
    assert!(conn.final_head(true));
    assert!(conn.can_keep_alive());
    assert_eq!(conn.finish_request(false), Next::Drain);
    feed(&mut conn, b"abcGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(conn.drain().unwrap());
    assert_eq!(parse_head(&mut conn).unwrap().unwrap().method(), "GET");
    // An answer from memory: no 100, the body may never come.
    let mut conn = Conn::new(Limits::default(), 1 << 20, 1 << 16);
    feed(&mut conn, expect);
    parse_head(&mut conn).unwrap().unwrap();
    assert!(!conn.final_head(false));
    assert!(!conn.can_keep_alive());
    assert!(!conn.take_continue());
    assert_eq!(conn.finish_request(false), Next::Close);
    // Over the drain limit, even after a 100.
    let mut conn = Conn::new(Limits::default(), 1 << 20, 2);
    feed(&mut conn, expect);
    parse_head(&mut conn).unwrap().unwrap();
    assert!(conn.final_head(true));
    assert!(!conn.can_keep_alive());
}

#[test]
fn a_response_map_is_recycled_only_if_its_values_are_few() {
    use http::header::{CONTENT_TYPE, HeaderValue, SET_COOKIE};

    // Five names, ten thousand values: little capacity, much memory.
    let mut many = HeaderMap::new();
    for i in 0..4 {
        many.insert(format!("x-{i}").parse::<http::HeaderName>().unwrap(), HeaderValue::from_static("v"));
    }
    for i in 0..10_000 {
        many.append(SET_COOKIE, HeaderValue::from_str(&format!("c{i}=v")).unwrap());
    }
    assert!(many.capacity() <= MAX_RECYCLED_HEADERS, "{}", many.capacity());
    let mut conn = Conn::new(Limits::default(), 1 << 20, 1 << 16);
    conn.recycle_headers(&mut many);
    assert_eq!(many.len(), 10_004, "the map was kept for the connection");
    assert_eq!(conn.spare_headers.capacity(), 0);

    // A usual response's map is kept.
    let mut usual = HeaderMap::new();
    usual.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    usual.append(SET_COOKIE, HeaderValue::from_static("a=1"));
    usual.append(SET_COOKIE, HeaderValue::from_static("b=2"));
    let room = usual.capacity();
    conn.recycle_headers(&mut usual);
    assert_eq!((usual.capacity(), conn.spare_headers.capacity()), (0, room));
    // Emptied at once: the response's values are not kept.
    assert!(conn.spare_headers.is_empty());
    // The next head is parsed into it, and nothing of the response's
    // fields is left.
    feed(&mut conn, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let request = parse_head(&mut conn).unwrap().unwrap();
    assert_eq!(request.headers().len(), 1);
    assert_eq!(request.headers().capacity(), room);
}

#[test]
fn a_head_in_pieces_is_found_wherever_it_is_cut() {
    let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\nHost: a\n\n";
    for cut in 1..head.len() {
        let mut conn = Conn::new(Limits::default(), 1 << 20, 1 << 16);
        feed(&mut conn, &head[..cut]);
        let first = parse_head(&mut conn).unwrap();
        feed(&mut conn, &head[cut..]);
        let first = first.or_else(|| parse_head(&mut conn).unwrap()).expect("the first head");
        assert_eq!(first.uri(), "/");
        assert_eq!(conn.finish_request(false), Next::ReadHead);
        assert_eq!(parse_head(&mut conn).unwrap().expect("the second head").uri(), "/2");
    }
    assert!(has_blank_line(b"a\r\n\r\n", 0) && has_blank_line(b"a\n\n", 0) && has_blank_line(b"a\n\r\n", 1));
    assert!(!has_blank_line(b"a\r\nb\r\n", 0) && !has_blank_line(b"a\n\r", 0) && !has_blank_line(b"a\n\n", 2));
}

#[test]
fn a_head_arriving_byte_by_byte_is_parsed_once() {
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..60 {
        head.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(1000)).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut conn = Conn::new(Limits::default(), 1 << 20, 1 << 16);
    PARSES.with(|n| n.set(0));
    for (i, byte) in head.iter().enumerate() {
        feed(&mut conn, std::slice::from_ref(byte));
        let parsed = parse_head(&mut conn).unwrap();
        assert_eq!(parsed.is_some(), i == head.len() - 1);
    }
    // Not once per byte (60 000 parses of up to 60 KiB each).
    assert_eq!(PARSES.with(Cell::get), 1);
}

#[test]
fn chunked_body_over_the_limit() {
    let mut conn = Conn::new(Limits::default(), 4, 1 << 16);
    feed(&mut conn, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n0\r\n\r\n");
    parse_head(&mut conn).unwrap().unwrap();
    let mut out = [0u8; 16];
    assert!(conn.read_body(&mut out).unwrap_err().is_body_too_large());
    assert_eq!(conn.finish_request(false), Next::Close);
}
