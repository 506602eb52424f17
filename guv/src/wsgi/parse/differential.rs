//! The three ways the server parses a request head must agree: the typed
//! parser without a cache, the typed parser with the connection's field
//! cache primed by an earlier head (which skips checks on fields it
//! reuses), and the raw parser (which skips building `http` types and
//! re-checking a repeated `Host`). The raw parser differs in one
//! documented way (see [`RawRequest`](crate::wsgi::RawRequest)): it does
//! not parse an origin-form target into a `Uri`, so it takes the few
//! characters the HTTP/1 parser lets through and `Uri` refuses
//! ([`uri_refuses`]); the tests pin that set exactly. Heads are generated
//! from a small grammar with mutations, by a fixed-seed generator, so a
//! failure reproduces.

use http::header::HeaderMap;
use http::{Request, Version};

use super::{FieldCache, HeadInfo, Limits, Parse, parse_raw_into, parse_request_into};
use crate::wsgi::Error;
use crate::wsgi::raw::RawHead;

/// xorshift64*: deterministic and good enough to pick grammar branches.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }

    /// Mostly one of the first `good` items (well-formed ones), so that
    /// many heads get through and the checks past the first are reached.
    fn pick_mostly<'a>(&mut self, items: &[&'a [u8]], good: usize) -> &'a [u8] {
        if self.below(8) == 0 { self.pick(items) } else { self.pick(&items[..good]) }
    }
}

const METHODS: &[&[u8]] = &[b"GET", b"POST", b"HEAD", b"PUT", b"OPTIONS", b"CONNECT", b"PATCH", b"get", b"X-Y", b"G@T"];
const TARGETS: &[&[u8]] = &[
    b"/",
    b"/a/b?c=d",
    b"*",
    b"example.com:80",
    b"http://example.com/x",
    b"//double",
    b"/%zz",
    b"/a#frag",
    b"/q?x=1&y=\"2\"",
    b"/{}|^`",
    b"/caf\xc3\xa9",
    b"/\x7f",
    b"relative",
    b"/a?",
    b"?q",
];
const NAMES: &[&[u8]] = &[
    b"Host",
    b"host",
    b"HOST",
    b"Content-Length",
    b"content-length",
    b"Transfer-Encoding",
    b"Connection",
    b"Expect",
    b"Upgrade",
    b"User-Agent",
    b"Accept",
    b"X-Custom",
    b"Te",
    b"Bad Name",
    b"Na\x80me",
];
const VALUES: &[&[u8]] = &[
    b"a",
    b"127.0.0.1:8080",
    b"a/b",
    b"a b",
    b"",
    b"0",
    b"5",
    b"+5",
    b"5, 5",
    b"5,6",
    b"18446744073709551616",
    b"chunked",
    b"gzip, chunked",
    b"chunked, gzip",
    b"identity",
    b"close",
    b"keep-alive",
    b"Upgrade",
    b"websocket",
    b"100-continue",
    b"v\x80w",
    b"tab\there",
    b"ctl\x01",
    b"[::1]:80",
    b"a@b",
];
const VERSIONS: &[&[u8]] = &[b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.1", b"HTTP/2.0", b"HTTP/1.2"];

/// A head as its request line and field lines.
#[derive(Clone)]
struct Head {
    line: Vec<u8>,
    fields: Vec<Vec<u8>>,
}

impl Head {
    fn new(rng: &mut Rng) -> Head {
        let mut line = Vec::new();
        line.extend_from_slice(rng.pick_mostly(METHODS, 4));
        line.push(b' ');
        line.extend_from_slice(rng.pick_mostly(TARGETS, 2));
        line.push(b' ');
        line.extend_from_slice(rng.pick_mostly(VERSIONS, 2));
        line.extend_from_slice(b"\r\n");
        let mut fields: Vec<Vec<u8>> = (0..rng.below(5)).map(|_| field(rng)).collect();
        if rng.below(4) != 0 {
            // HTTP/1.1 needs exactly one Host.
            fields.insert(rng.below(fields.len() + 1), b"Host: a\r\n".to_vec());
        }
        Head { line, fields }
    }

    /// This head with one field line changed, added or removed.
    fn twin(&self, rng: &mut Rng) -> Head {
        let mut twin = self.clone();
        match (rng.below(3), twin.fields.len()) {
            (0, n) | (_, n @ 0) => twin.fields.insert(rng.below(n + 1), field(rng)),
            (1, n) => twin.fields[rng.below(n)] = field(rng),
            (_, n) => drop(twin.fields.remove(rng.below(n))),
        }
        twin
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = self.line.clone();
        for f in &self.fields {
            b.extend_from_slice(f);
        }
        b.extend_from_slice(b"\r\n");
        b
    }
}

fn field(rng: &mut Rng) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(rng.pick_mostly(NAMES, 13));
    f.extend_from_slice(rng.pick_mostly(&[b": ", b":", b":  ", b" : "], 3));
    f.extend_from_slice(rng.pick_mostly(VALUES, 20));
    f.extend_from_slice(rng.pick_mostly(&[b"\r\n", b" \r\n", b"\n"], 2));
    f
}

/// What a parse says, in a form the three parsers can be compared by.
#[derive(Debug, PartialEq)]
enum Outcome {
    Partial,
    Refused(http::StatusCode),
    Accepted { info: HeadInfo, used: usize, line: (String, String, Version), fields: Vec<(String, Vec<u8>)> },
}

fn refused(e: Error) -> Outcome {
    Outcome::Refused(e.status())
}

fn typed(buf: &[u8], limits: &Limits, cache: Option<&mut FieldCache>) -> Outcome {
    let mut request = Request::new(());
    match parse_request_into(buf, limits, &mut HeaderMap::new(), cache, &mut request) {
        Ok(Parse::Partial) => Outcome::Partial,
        Err(e) => refused(e),
        Ok(Parse::Complete(info, used)) => Outcome::Accepted {
            info,
            used,
            line: (request.method().as_str().to_owned(), request.uri().to_string(), request.version()),
            fields: request.headers().iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect(),
        },
    }
}

fn raw(buf: &[u8], limits: &Limits, head: &mut RawHead) -> Outcome {
    match parse_raw_into(buf, limits, head) {
        Ok(Parse::Partial) => Outcome::Partial,
        Err(e) => refused(e),
        Ok(Parse::Complete(info, used)) => Outcome::Accepted {
            info,
            used,
            line: (
                String::from_utf8(head.bytes[head.method.clone()].to_vec()).unwrap(),
                String::from_utf8(head.bytes[head.target.clone()].to_vec()).unwrap(),
                head.version,
            ),
            fields: head
                .fields
                .iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8(head.bytes[n.clone()].to_ascii_lowercase()).unwrap(),
                        head.bytes[v.clone()].to_vec(),
                    )
                })
                .collect(),
        },
    }
}

/// The typed and raw outcomes agree on everything the raw parser keeps:
/// whether and how the head was refused, its framing, and its fields.
/// (The typed request line is normalised by the `http` types: the method
/// and target are compared where both keep them verbatim.)
fn same_verdict(typed: &Outcome, raw: &Outcome) -> bool {
    match (typed, raw) {
        // The documented difference: a target `Uri` refuses, taken raw.
        (Outcome::Refused(status), Outcome::Accepted { line, .. })
            if *status == http::StatusCode::BAD_REQUEST && uri_refuses(line.1.as_bytes()) =>
        {
            true
        }
        (
            Outcome::Accepted { info: ti, used: tu, line: tl, fields: tf },
            Outcome::Accepted { info: ri, used: ru, line: rl, fields: rf },
        ) => ti == ri && tu == ru && tl.0 == rl.0 && tl.2 == rl.2 && by_name(tf) == by_name(rf),
        (t, r) => t == r,
    }
}

/// Whether an origin-form target the HTTP/1 parser accepted has one of
/// the characters `Uri` refuses there: `<`, `>` or `` ` `` in the path,
/// `"`, `<` or `>` in the query (after a `#`, anything goes: the fragment
/// is dropped). The raw API takes these targets as sent; the `http`-typed
/// one answers 400.
fn uri_refuses(target: &[u8]) -> bool {
    if !target.starts_with(b"/") {
        return false;
    }
    let mut in_query = false;
    for &b in target {
        match b {
            b'#' => return false,
            b'?' => in_query = true,
            b'<' | b'>' => return true,
            b'`' if !in_query => return true,
            b'"' if in_query => return true,
            _ => {}
        }
    }
    false
}

/// Fields grouped by name, each name's values in their order: a
/// `HeaderMap` iterates a name's values together.
fn by_name(fields: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut sorted = fields.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
}

#[test]
fn cached_uncached_and_raw_parsers_agree() {
    let limits = Limits::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut refused_n) = (0, 0);
    let mut cache = FieldCache::default();
    let mut raw_head = RawHead::default();
    let mut last = Head::new(&mut rng);
    for round in 0..20_000 {
        // Half the time the connection's last head was this one's twin
        // with one field line changed, added or removed, so that fields
        // at their positions are reused and others are not.
        let next = if rng.below(2) == 0 { last.twin(&mut rng) } else { Head::new(&mut rng) };
        let buf = next.bytes();
        last = next;
        let uncached = typed(&buf, &limits, None);
        let cached = typed(&buf, &limits, Some(&mut cache));
        assert_eq!(uncached, cached, "round {round}: cached parse differs for {:?}", String::from_utf8_lossy(&buf));
        let raw = raw(&buf, &limits, &mut raw_head);
        assert!(
            same_verdict(&uncached, &raw),
            "round {round}: raw parse differs for {:?}:\n typed {uncached:?}\n raw   {raw:?}",
            String::from_utf8_lossy(&buf)
        );
        // The same head again: now every field can be reused.
        let again = typed(&buf, &limits, Some(&mut cache));
        assert_eq!(uncached, again, "round {round}: reused parse differs for {:?}", String::from_utf8_lossy(&buf));
        let raw_again = self::raw(&buf, &limits, &mut raw_head);
        assert_eq!(raw, raw_again, "round {round}: raw reparse differs for {:?}", String::from_utf8_lossy(&buf));
        match uncached {
            Outcome::Accepted { .. } => accepted += 1,
            _ => refused_n += 1,
        }
    }
    // The grammar reaches both sides.
    assert!(accepted > 1_000 && refused_n > 1_000, "accepted {accepted}, refused {refused_n}");
}

#[test]
fn every_target_byte_is_judged_alike_but_the_documented_few() {
    // Each byte at the end of a path, a query and a fragment, and with
    // more after it: the raw parser refuses what `Uri` refuses, but for
    // exactly the characters `uri_refuses` names.
    let limits = Limits::default();
    for prefix in [&b"/"[..], b"/a", b"/a?", b"/a?b?", b"/a#", b"/a?b#"] {
        for b in 0..=255u8 {
            for suffix in [&b""[..], b"z", b"?z"] {
                let buf = [b"GET ", prefix, &[b], suffix, b" HTTP/1.1\r\nHost: a\r\n\r\n"].concat();
                let t = typed(&buf, &limits, None);
                let r = raw(&buf, &limits, &mut RawHead::default());
                assert!(same_verdict(&t, &r), "{:?}:\n typed {t:?}\n raw   {r:?}", String::from_utf8_lossy(&buf));
                // And the documented difference is a real one: no byte in
                // it is refused by the raw parser too.
                let target = &buf[4..buf.len() - b" HTTP/1.1\r\nHost: a\r\n\r\n".len()];
                if uri_refuses(target) {
                    assert!(matches!(t, Outcome::Refused(_)) && matches!(r, Outcome::Accepted { .. }), "{target:?}");
                }
            }
        }
    }
}
