//! guv::wsgi's per-request fast paths, seen from outside: what the server
//! reuses from one request to the next on a connection (header maps, the
//! cached `Server`/`Date` lines) must never carry anything over, and the
//! decisions taken while writing the head (`Connection: close` from the
//! app, upgrade offers) must match the rules.

use guv::wsgi::http::{Request, Response, header};
use guv::wsgi::{Body, Server, Upgrade, response_for};
use guv_tests::http::{Client, RawResponse, TestServer};

/// Answers with the request's header fields (`name: value` lines, in
/// order) and sets response headers chosen by the path, so that a reused
/// map that kept anything would show it in the next answer.
fn app(req: Request<Body>) -> Response<Body> {
    let mut listing = String::new();
    for (name, value) in req.headers() {
        listing.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
    }
    let offered = req.extensions().get::<Upgrade>().is_some();
    let mut response =
        Response::new(Body::from(if req.uri().path() == "/offer" { format!("offered={offered}") } else { listing }));
    let set = response.headers_mut();
    let path = req.uri().path();
    match path {
        "/many" | "/huge" => many_fields(set, path),
        "/server" => drop(set.insert(header::SERVER, "app-server".parse().unwrap())),
        "/date" => drop(set.insert(header::DATE, "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap())),
        "/both" => {
            set.insert(header::SERVER, "app-server".parse().unwrap());
            set.insert(header::DATE, "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        }
        "/close-in-list" => drop(set.insert(header::CONNECTION, "Keep-Alive, CLOSE".parse().unwrap())),
        "/keep" => drop(set.insert(header::CONNECTION, "keep-alive".parse().unwrap())),
        _ => {}
    }
    response
}

fn server() -> TestServer {
    TestServer::start(Server::new(app).access_log(false))
}

fn count(r: &RawResponse, name: &str) -> usize {
    r.headers.iter().filter(|(n, _)| n == name).count()
}

/// The response fields of the `/many` (40 names and a repeated one) and
/// `/huge` (55 names) answers.
fn many_fields(set: &mut header::HeaderMap, path: &str) {
    let (prefix, n) = if path == "/many" { ("x-resp", 40) } else { ("x-big", 55) };
    for i in 0..n {
        set.append(format!("{prefix}-{i}").parse::<header::HeaderName>().unwrap(), "r".parse().unwrap());
    }
    if path == "/many" {
        set.append("x-multi", "one".parse().unwrap());
        set.append("x-multi", "two".parse().unwrap());
    }
}

/// Eight pipelined requests, `/many` and `/` in turn, each with two `X-N`
/// fields (its index, then `again`).
fn many_burst() -> Vec<u8> {
    let mut burst = Vec::new();
    for i in 0..8 {
        let path = if i % 2 == 0 { "/many" } else { "/" };
        burst.extend(format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-N: {i}\r\nX-N: again\r\n\r\n").into_bytes());
    }
    burst
}

#[test]
fn a_request_never_sees_the_previous_responses_headers() {
    let s = server();
    let mut c = Client::connect(s.addr);
    // One at a time, then pipelined: each request lists exactly its own
    // fields, whatever the answers before it carried.
    for path in ["/many", "/", "/huge", "/", "/many", "/both"] {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-Req: {path}\r\n\r\n").as_bytes());
        let r = c.read_response().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("host: t\nx-req: {path}\n"));
    }
    c.send(&many_burst());
    for i in 0..8 {
        let r = c.read_response().unwrap();
        assert_eq!(r.text(), format!("host: t\nx-n: {i}\nx-n: again\n"));
        if i % 2 == 0 {
            assert_eq!((count(&r, "x-resp-39"), count(&r, "x-multi")), (1, 2));
        } else {
            assert_eq!(count(&r, "x-resp-0"), 0);
        }
    }
}

#[test]
fn server_and_date_are_added_once_unless_the_app_sets_them() {
    let s = server();
    let mut c = Client::connect(s.addr);
    let version = concat!("guv/", env!("CARGO_PKG_VERSION"));
    for (path, server, date) in [
        ("/", Some(version), None),
        ("/server", Some("app-server"), None),
        ("/date", Some(version), Some("Sun, 06 Nov 1994 08:49:37 GMT")),
        ("/both", Some("app-server"), Some("Sun, 06 Nov 1994 08:49:37 GMT")),
    ] {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let r = c.read_response().unwrap();
        assert_eq!((count(&r, "server"), count(&r, "date")), (1, 1), "{path}: {:?}", r.headers);
        assert_eq!(r.header("server"), server, "{path}");
        let got = r.header("date").unwrap();
        match date {
            Some(date) => assert_eq!(got, date),
            // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
            None => assert!(got.len() == 29 && got.ends_with(" GMT") && &got[3..5] == ", ", "{got:?}"),
        }
    }
}

#[test]
fn an_apps_connection_field_is_replaced_by_the_servers_decision() {
    let s = server();
    // `close` anywhere in the app's list closes, announced once.
    let mut c = Client::connect(s.addr);
    c.send(b"GET /close-in-list HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((count(&r, "connection"), r.header("connection")), (1, Some("close")));
    assert!(c.is_closed());
    // Anything else is dropped: HTTP/1.1 stays open without the field, and
    // an HTTP/1.0 keep-alive is announced by the server, once.
    let mut c = Client::connect(s.addr);
    c.send(b"GET /keep HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(count(&r, "connection"), 0);
    c.send(b"GET /keep HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((count(&r, "connection"), r.header("connection")), (1, Some("keep-alive")));
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 200);
}

#[test]
fn an_upgrade_is_offered_only_with_both_fields() {
    let s = server();
    let mut c = Client::connect(s.addr);
    for (fields, offered) in [
        ("Connection: keep-alive, Upgrade\r\nUpgrade: echo\r\n", true),
        ("Connection: upgrade\r\nConnection: keep-alive\r\nUpgrade: echo\r\n", true),
        ("Connection: upgrade\r\n", false),
        ("Upgrade: echo\r\n", false),
        ("Connection: upgrades\r\nUpgrade: echo\r\n", false),
        ("", false),
    ] {
        c.send(format!("GET /offer HTTP/1.1\r\nHost: t\r\n{fields}\r\n").as_bytes());
        let r = c.read_response().unwrap();
        assert_eq!(r.text(), format!("offered={offered}"), "{fields:?}");
    }
}

#[test]
fn repeated_fields_are_seen_as_sent_whatever_changes_between_requests() {
    // The server reuses a field's parsed name and value when a request
    // repeats the one at the same position last time: order, case, value
    // and count changes must all show through.
    let s = server();
    let mut c = Client::connect(s.addr);
    let requests: [(&str, &str); 7] = [
        ("Host: t\r\nX-A: 1\r\nX-B: 2\r\n", "host: t\nx-a: 1\nx-b: 2\n"),
        ("Host: t\r\nX-A: 1\r\nX-B: 2\r\n", "host: t\nx-a: 1\nx-b: 2\n"),
        ("HOST: t\r\nx-b: 1\r\nX-A: 2\r\n", "host: t\nx-b: 1\nx-a: 2\n"),
        ("host: t\r\nX-B: 1\r\nX-A: 22\r\nX-C: 3\r\n", "host: t\nx-b: 1\nx-a: 22\nx-c: 3\n"),
        ("Host: u\r\n", "host: u\n"),
        ("Host: u\r\nX-A: 2\r\nX-A: 2\r\n", "host: u\nx-a: 2\nx-a: 2\n"),
        ("X-A: 2\r\nHost: u\r\nX-A: 2\r\n", "x-a: 2\nx-a: 2\nhost: u\n"),
    ];
    for (fields, seen) in requests {
        c.send(format!("GET / HTTP/1.1\r\n{fields}\r\n").as_bytes());
        let r = c.read_response().unwrap();
        assert_eq!(r.text(), seen, "{fields:?}");
    }
    // A repeated field is still checked: a second Host is refused even
    // when the first one is reused.
    c.send(b"GET / HTTP/1.1\r\nX-A: 2\r\nHost: u\r\nHost: u\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 400);
}

#[test]
fn a_field_is_reused_only_for_the_same_name_in_any_case() {
    // Keep-alive requests repeating a field at the same position reuse its
    // parsed name and value: a name that differs (if only by bit 5 of a
    // byte that is not a letter, `^` against `~`, which a compare that
    // just sets that bit would take for equal) must be parsed as sent, and
    // any spelling of the same name must come out lower case.
    let s = server();
    let mut c = Client::connect(s.addr);
    for (sent, seen) in [
        ("X-A^b-Long-Name", "x-a^b-long-name"),
        ("X-A~b-Long-Name", "x-a~b-long-name"),
        ("X-A~B-LONG-NAME", "x-a~b-long-name"),
        ("X-A^b-Long-Name", "x-a^b-long-name"),
        ("X_y", "x_y"),
        ("X~y", "x~y"),
        ("x^Y", "x^y"),
        ("A1^", "a1^"),
        ("A1~", "a1~"),
        ("Host-Like", "host-like"),
        ("HOST-LIKE", "host-like"),
        ("Host-Lika", "host-lika"),
    ] {
        c.send(format!("GET / HTTP/1.1\r\nHost: t\r\n{sent}: v\r\n\r\n").as_bytes());
        let r = c.read_response().unwrap();
        assert_eq!(r.text(), format!("host: t\n{seen}: v\n"), "{sent}");
    }
}

/// [`app`] answering through `response_for`: the response's map is the
/// request's, emptied, and comes back to the server after the answer (and
/// then holds the next request's fields).
fn app_reusing_the_request_map(req: Request<Body>) -> Response<Body> {
    let mut listing = String::new();
    for (name, value) in req.headers() {
        listing.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
    }
    let path = req.uri().path().to_owned();
    let mut response = response_for(req, Body::from(listing));
    let set = response.headers_mut();
    assert!(set.is_empty(), "response_for kept a request field: {set:?}");
    match path.as_str() {
        "/many" | "/huge" => many_fields(set, &path),
        _ => drop(set.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap())),
    }
    response
}

#[test]
fn a_response_made_from_its_request_carries_no_field_of_either_neighbour() {
    let s = TestServer::start(Server::new(app_reusing_the_request_map).access_log(false));
    let mut c = Client::connect(s.addr);
    let only = |r: &RawResponse, names: &[&str]| {
        let mut got: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        got.retain(|n| !["server", "date", "content-length"].contains(n));
        got.dedup();
        assert_eq!(got, names, "{:?}", r.headers);
    };
    // One at a time: each answer has only its own fields, none of its
    // request's; each request lists only its own fields, none of the
    // answer before it (whose map now holds them). A request with 60
    // fields makes a map too large to be kept.
    let wide: String = (0..60).map(|i| format!("X-W{i}: w\r\n")).collect();
    let wide_listing: String = (0..60).map(|i| format!("x-w{i}: w\n")).collect();
    for (path, extra, listing) in [
        ("/many", "", String::new()),
        ("/", "", String::new()),
        ("/huge", "", String::new()),
        ("/", &wide[..], wide_listing.clone()),
        ("/many", &wide[..], wide_listing),
        ("/", "", String::new()),
    ] {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-Req: {path}\r\n{extra}\r\n").as_bytes());
        let r = c.read_response().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("host: t\nx-req: {path}\n{listing}"));
        match path {
            "/many" => assert_eq!((count(&r, "x-resp-39"), count(&r, "x-multi"), count(&r, "x-req")), (1, 2, 0)),
            "/huge" => assert_eq!((count(&r, "x-big-54"), count(&r, "x-req")), (1, 0)),
            _ => only(&r, &["content-type"]),
        }
    }
    // Pipelined, the same.
    c.send(&many_burst());
    for i in 0..8 {
        let r = c.read_response().unwrap();
        assert_eq!(r.text(), format!("host: t\nx-n: {i}\nx-n: again\n"));
        if i % 2 == 0 {
            assert_eq!((count(&r, "x-resp-39"), count(&r, "x-multi"), count(&r, "x-n")), (1, 2, 0));
        } else {
            only(&r, &["content-type"]);
        }
    }
}
