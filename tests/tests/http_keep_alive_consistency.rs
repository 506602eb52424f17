//! guv::wsgi's per-request fast paths against the plain path: a keep-alive
//! connection reuses the previous request's parsed fields, response header
//! maps and defaults (`GET`, `/`), detects upgrades while parsing, caches
//! the `Date` line and flushes without taking the write turn. Whatever a
//! connection has seen before, each request must be accepted, refused and
//! seen by the app exactly as [`parse_request`] sees it on its own, and
//! answers must arrive whole and in order.

use std::io::Read;

use guv::wsgi::http::{Request, Response, header};
use guv::wsgi::proto::{BodyLength, Limits, Parse, parse_request};
use guv::wsgi::{Body, Server, Upgrade};
use guv_tests::http::{Client, TestServer};

/// Lists what the app was given: method, target, version, fields, body,
/// whether an upgrade was offered. `X-Resp: n` makes the answer carry n
/// extra fields (so recycled maps of several sizes come back).
fn app(mut req: Request<Body>) -> Response<Body> {
    let mut listing = format!("{} {} {:?}\n", req.method(), req.uri(), req.version());
    for (name, value) in req.headers() {
        listing.push_str(&format!("{name}: {:?}\n", value.as_bytes()));
    }
    listing.push_str(&format!("offered={}\n", req.extensions().get::<Upgrade>().is_some()));
    let mut body = Vec::new();
    let read = req.body_mut().read_to_end(&mut body);
    listing.push_str(&format!("body={:?} {:?}\n", read.map_err(|e| e.kind()), String::from_utf8_lossy(&body)));
    let extra: usize = req.headers().get("x-resp").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
    let mut response = Response::new(Body::from(listing));
    for i in 0..extra {
        response
            .headers_mut()
            .append(format!("x-r{i}").parse::<header::HeaderName>().unwrap(), header::HeaderValue::from_static("v"));
    }
    response
}

fn expected_listing(head: &[u8], body: &str) -> Result<(String, bool), u16> {
    match parse_request(head, &Limits::default()) {
        Err(e) => Err(e.status().as_u16()),
        Ok(Parse::Partial) => panic!("a whole head was sent: {:?}", String::from_utf8_lossy(head)),
        Ok(Parse::Complete(h, _)) => {
            let keep = h.keep_alive();
            let r = h.into_request();
            let mut listing = format!("{} {} {:?}\n", r.method(), r.uri(), r.version());
            for (name, value) in r.headers() {
                listing.push_str(&format!("{name}: {:?}\n", value.as_bytes()));
            }
            let upgrade = r.headers().contains_key(header::UPGRADE)
                && r.headers().get_all(header::CONNECTION).iter().any(|v| {
                    v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
                });
            listing.push_str(&format!("offered={upgrade}\n"));
            listing.push_str(&format!("body={:?} {:?}\n", Ok::<usize, std::io::ErrorKind>(body.len()), body));
            Ok((listing, keep))
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

const FIELDS: &[(&str, &[&str])] = &[
    ("Host", &["a", "A", "a/b", "[::1]:80", "a b", "", "a@b", "a\"b"]),
    ("host", &["a", "a/b", "b"]),
    ("HOST", &["a", "a/b", "a ", "a\r\n a"]),
    ("X-A", &["1", "ABC", "abc", "a/b", "x\ty", "1 ", "1\t", " 1", "1\r\n 2", "1\r\n\t1"]),
    ("x-a", &["1", "abc"]),
    ("Content-Length", &["0", "3", "4", "3,3", "x", "+3"]),
    ("content-length", &["3"]),
    ("Transfer-Encoding", &["chunked", "gzip, chunked", "Chunked", "chunked, gzip"]),
    ("Connection", &["keep-alive", "upgrade", "Upgrade, keep-alive", "upgrades"]),
    ("Upgrade", &["x", ""]),
    ("User-Agent", &["probe/1", "probe/2"]),
    ("X-Resp", &["0", "3", "40", "60"]),
];

fn random_request(rng: &mut Rng, last_fields: &[(String, String)]) -> (Vec<u8>, Vec<(String, String)>) {
    let method = *rng.pick(&["GET", "GET", "POST", "HEAD", "get", "PUT"]);
    let target = *rng.pick(&["/", "/", "/x", "/x?y=1", "/%41"]);
    let version = *rng.pick(&["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0"]);
    // Mostly repeat the last request's fields, with small mutations, so
    // that the cache is hit at the same positions.
    let mut fields: Vec<(String, String)> = if !last_fields.is_empty() && !rng.next().is_multiple_of(3) {
        last_fields.to_vec()
    } else {
        let n = (rng.next() % 6) as usize;
        (0..n)
            .map(|_| {
                let (name, values) = rng.pick(FIELDS);
                (name.to_string(), rng.pick(values).to_string())
            })
            .collect::<Vec<_>>()
    };
    if !rng.next().is_multiple_of(3) && !fields.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        let i = (rng.next() % (fields.len() as u64 + 1)) as usize;
        fields.insert(i, ("Host".to_string(), "a".to_string()));
    }
    match rng.next() % 6 {
        0 if !fields.is_empty() => {
            let i = (rng.next() % fields.len() as u64) as usize;
            let (name, values) = rng.pick(FIELDS);
            fields[i] = (name.to_string(), rng.pick(values).to_string());
        }
        1 if !fields.is_empty() => {
            let i = (rng.next() % fields.len() as u64) as usize;
            fields.remove(i);
        }
        2 => {
            let (name, values) = rng.pick(FIELDS);
            let i = (rng.next() % (fields.len() as u64 + 1)) as usize;
            fields.insert(i, (name.to_string(), rng.pick(values).to_string()));
        }
        3 if fields.len() > 1 => fields.swap(0, 1),
        4 if !fields.is_empty() => {
            let i = (rng.next() % fields.len() as u64) as usize;
            fields[i].0 = fields[i].0.to_ascii_uppercase();
        }
        _ => {}
    }
    let mut head = format!("{method} {target} {version}\r\n").into_bytes();
    for (n, v) in &fields {
        head.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    (head, fields)
}

/// A request's bytes (head and the body it announces) and the expected
/// answer: the listing and keep-alive, or the refusal's status.
fn with_body(head: &[u8]) -> (Vec<u8>, Result<(String, bool), u16>) {
    let mut bytes = head.to_vec();
    let body = match parse_request(head, &Limits::default()) {
        Ok(Parse::Complete(h, _)) => match h.body_length() {
            BodyLength::Known(n) => {
                let body = "abcdefgh"[..n as usize].to_string();
                bytes.extend_from_slice(body.as_bytes());
                body
            }
            BodyLength::Chunked => {
                bytes.extend_from_slice(b"3\r\nxyz\r\n0\r\n\r\n");
                "xyz".to_string()
            }
        },
        _ => String::new(),
    };
    (bytes, expected_listing(head, &body))
}

#[test]
fn a_keep_alive_connection_sees_each_request_as_a_fresh_parse_does() {
    let s = TestServer::start(Server::new(app).access_log(false));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut c = Client::connect(s.addr);
    let mut last = Vec::new();
    let mut history: Vec<String> = Vec::new();
    let (mut refused, mut answered) = (0, 0);
    for round in 0..3000 {
        // One to four requests in one write (pipelined), up to the first
        // that ends the connection.
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..1 + rng.next() % 4 {
            let (head, fields) = random_request(&mut rng, &last);
            last = fields;
            let (bytes, exp) = with_body(&head);
            history.push(String::from_utf8_lossy(&head).into_owned());
            batch.extend_from_slice(&bytes);
            let ends = !matches!(exp, Ok((_, true)));
            expected.push((head.starts_with(b"HEAD "), exp));
            if ends {
                break;
            }
        }
        c.send(&batch);
        for (is_head, exp) in expected {
            let r = c.read_response_to(is_head).unwrap_or_else(|e| panic!("round {round}: {e}; history {history:#?}"));
            match exp {
                Ok((listing, keep)) => {
                    answered += 1;
                    assert_eq!(r.status, 200, "round {round}: {history:#?}");
                    if !is_head {
                        assert_eq!(r.text(), listing, "round {round}: history {history:#?}");
                    }
                    if !keep {
                        c = Client::connect(s.addr);
                        history.clear();
                    }
                }
                Err(status) => {
                    refused += 1;
                    assert_eq!(r.status, status, "round {round}: {history:#?}");
                    c = Client::connect(s.addr);
                    history.clear();
                }
            }
        }
    }
    assert!(refused > 100 && answered > 1000, "{refused} refused, {answered} answered");
}

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn imf_secs(d: &str) -> i64 {
    let p: Vec<&str> = d.split(' ').collect();
    assert_eq!((p.len(), p[5]), (6, "GMT"), "{d:?}");
    let day: i64 = p[1].parse().unwrap();
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == p[2])
        .unwrap() as i64
        + 1;
    let year: i64 = p[3].parse().unwrap();
    let t: Vec<i64> = p[4].split(':').map(|x| x.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

#[test]
fn the_date_field_follows_the_clock_across_seconds() {
    let s = TestServer::start(Server::new(|_req: Request<Body>| Response::new(Body::from("x"))).access_log(false));
    let mut c = Client::connect(s.addr);
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let start = now();
    let mut seen = std::collections::BTreeSet::new();
    // Until three different seconds were seen (generous: ten seconds).
    while seen.len() < 3 && now() < start + 10 {
        let before = now();
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read_response().unwrap();
        let after = now();
        let date = imf_secs(r.header("date").unwrap());
        assert!(date >= before - 1 && date <= after, "{before} <= {date} <= {after}");
        seen.insert(date);
    }
    assert!(seen.len() >= 3, "{seen:?}");
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

#[test]
fn pipelined_answers_of_every_size_arrive_whole_and_in_order() {
    let s = TestServer::start(
        Server::new(|req: Request<Body>| {
            let n: usize = req.uri().path()[1..].parse().unwrap();
            let seed = n % 13;
            if req.uri().query() == Some("stream") {
                Response::new(Body::from_reader(std::io::Cursor::new(pattern(n, seed))))
            } else {
                Response::new(Body::from(pattern(n, seed)))
            }
        })
        .access_log(false),
    );
    let sizes = [5usize, 40_000, 3, 200_000, 70_000, 1, 33_000, 1_000_000, 8];
    let mut c = Client::connect(s.addr);
    for round in 0..4 {
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let stream = (i + round) % 3 == 0;
            let q = if stream { "?stream" } else { "" };
            batch.extend_from_slice(format!("GET /{n}{q} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
            expected.push(pattern(*n, n % 13));
        }
        c.send(&batch);
        for (i, want) in expected.iter().enumerate() {
            let r = c.read_response().unwrap();
            assert!(r.status == 200 && &r.body == want, "round {round} answer {i}: {} bytes", r.body.len());
        }
    }
}
