//! Writing responses: the status line and header block straight into the
//! connection's output buffer, chunk framing, and the cached `Date`.

use std::cell::RefCell;

use http::StatusCode;
use http::header::{self, HeaderMap};

/// How a response body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body may follow (HEAD, 1xx, 204, 304); `Some(n)`: the length to
    /// announce anyway (a HEAD answer's `Content-Length`).
    NoBody(Option<u64>),
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the connection closes (HTTP/1.0, and
    /// a 2xx answer to CONNECT).
    UntilClose,
}

/// The `Server` line guv adds when the app sets none.
const SERVER_LINE: &[u8] = concat!("Server: guv/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes();

/// The `Server` line and a `Date` line (`Date: ` and 29 bytes of date).
const SERVER_AND_DATE: usize = SERVER_LINE.len() + 6 + 29 + 2;

/// Appends a response head to `out`. The app's headers are copied except
/// the framing ones (`Content-Length`, `Transfer-Encoding`) and
/// `Connection`, which follow `framing` and `close`; `Date` and `Server` are
/// added unless the app set them. A `Connection: close` among the app's
/// headers also closes; returns whether the head says `Connection: close`.
/// An open connection to an HTTP/1.0 client (`http10`) is announced with
/// `Connection: keep-alive`.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: Framing,
    mut close: bool,
    http10: bool,
) -> bool {
    write_status_line(out, status);
    let mut has_date = false;
    let mut has_server = false;
    for (name, value) in headers {
        let (name, value) = (name.as_str().as_bytes(), value.as_bytes());
        match field_kind(name) {
            FieldKind::Framing => continue,
            FieldKind::Connection => {
                close |= has_token(value, b"close");
                continue;
            }
            FieldKind::Date => has_date = true,
            FieldKind::Server => has_server = true,
            FieldKind::Other => {}
        }
        write_field(out, name, value);
    }
    write_head_end(out, has_server, has_date, framing, close, http10)
}

/// Appends the status line. One reservation covers it and everything guv
/// adds after the app's fields ([`write_head_end`]); the app's fields
/// reserve their own room.
#[inline(always)]
pub(crate) fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.reserve(HEAD_ROOM);
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends one header field line.
#[inline(always)]
pub(crate) fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends what follows the app's fields: `Server` and `Date` unless the
/// app set them, the framing line, `Connection` and the blank line.
/// Returns `close`.
#[inline(always)]
pub(crate) fn write_head_end(
    out: &mut Vec<u8>,
    has_server: bool,
    has_date: bool,
    framing: Framing,
    close: bool,
    http10: bool,
) -> bool {
    out.reserve(HEAD_ROOM);
    let ending = match framing {
        Framing::Length(n) | Framing::NoBody(Some(n)) if !close && !http10 => Some(n),
        _ => None,
    };
    with_clock(|c| match (has_server, has_date) {
        (false, false) => out.extend_from_slice(&c.server_and_date),
        (false, true) => out.extend_from_slice(&c.server_and_date[..SERVER_LINE.len()]),
        (true, false) => out.extend_from_slice(&c.server_and_date[SERVER_LINE.len()..]),
        (true, true) => {}
    });
    if let Some(n) = ending {
        // The commonest ending, in one copy, formatted again only when the
        // length differs from the last one this thread wrote.
        LENGTH_LINE.with(|l| {
            let mut l = l.borrow_mut();
            if l.length != n {
                l.set(n);
            }
            // The whole array, then cut to the line: a copy of constant
            // length is a few stores, one of the line's length a `memcpy`
            // call (the room was reserved above).
            let end = out.len() + usize::from(l.len);
            out.extend_from_slice(&l.line);
            out.truncate(end);
        });
    }
    match framing {
        _ if ending.is_some() => return false,
        Framing::Length(n) | Framing::NoBody(Some(n)) => {
            out.extend_from_slice(b"Content-Length: ");
            write_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::NoBody(None) | Framing::UntilClose => {}
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n\r\n");
    } else if http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n\r\n");
    } else {
        out.extend_from_slice(b"\r\n");
    }
    close
}

/// Writes `n` in decimal at the start of `buf` (20 bytes: room for any
/// `u64`); returns how many digits.
#[inline(always)]
fn decimal_digits(mut n: u64, buf: &mut [u8]) -> usize {
    // Most bodies are shorter than 10 000 bytes: their length needs no loop.
    if n < 10_000 {
        let n = n as usize;
        let (len, value) = match n {
            0..10 => (1, n),
            10..100 => (2, n),
            100..1000 => (3, n),
            _ => (4, n),
        };
        let mut rest = value;
        for slot in buf[..len].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        return len;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    buf[..len].copy_from_slice(&digits[i..]);
    len
}

/// What a response field is to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// `Content-Length` or `Transfer-Encoding`: left out, the server frames
    /// the body.
    Framing,
    /// `Connection`: left out; a `close` token closes.
    Connection,
    /// `Date`: the server adds none.
    Date,
    /// `Server`: the server adds none.
    Server,
    /// Copied as it is.
    Other,
}

/// The kind of the field named `name` (lower case, as `http` keeps names).
/// The length picks the one candidate, so most fields compare nothing.
#[inline(always)]
pub(crate) fn field_kind(name: &[u8]) -> FieldKind {
    match name.len() {
        14 if name == b"content-length" => FieldKind::Framing,
        17 if name == b"transfer-encoding" => FieldKind::Framing,
        10 if name == b"connection" => FieldKind::Connection,
        4 if name == b"date" => FieldKind::Date,
        6 if name == b"server" => FieldKind::Server,
        _ => FieldKind::Other,
    }
}

/// Room for the longest status line, or for the `Server`, `Date`,
/// framing and `Connection` lines and the blank line.
const HEAD_ROOM: usize = 256;

/// Whether the list-valued field `value` holds `token` (any case).
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Appends a whole error response (used for requests that never reach the
/// app): plain text, `Connection: close`.
pub(crate) fn write_error(out: &mut Vec<u8>, status: StatusCode) {
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    write_head(out, status, &headers, Framing::Length(reason.len() as u64 + 1), true, false);
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
}

/// Appends one chunk's framing and data.
pub(crate) fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    write_hex(out, data.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The terminating chunk (no trailers).
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[inline]
pub(crate) fn write_decimal(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let len = decimal_digits(n, &mut buf);
    out.extend_from_slice(&buf[..len]);
}

fn write_hex(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The current time formatted for `Date` and for the access log, redone at
/// most once a second per thread.
pub(crate) struct Clock {
    secs: u64,
    /// IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub(crate) http_date: [u8; 29],
    /// Common log format: `06/Nov/1994:08:49:37 +0000`.
    pub(crate) log_date: [u8; 26],
    /// The `Server` line, then `Date: <http_date>` and its line end: the
    /// two lines most responses get, copied at once.
    server_and_date: [u8; SERVER_AND_DATE],
}

impl Clock {
    const fn unset() -> Clock {
        Clock { secs: u64::MAX, http_date: [0; 29], log_date: [0; 26], server_and_date: [0; SERVER_AND_DATE] }
    }
}

/// `Content-Length: <length>` and the blank line that ends the head (the
/// commonest ending), as this thread last wrote it: most answers of a
/// server under load have the length of the one before.
struct LengthLine {
    /// The length `line` holds: every `u64` is a length an app can declare
    /// (`u64::MAX` included), so the line starts out valid, for 0.
    length: u64,
    line: [u8; 40],
    len: u8,
}

impl LengthLine {
    /// The line for a length of 0.
    const fn zero() -> LengthLine {
        const ZERO: &[u8] = b"Content-Length: 0\r\n\r\n";
        let mut line = [0; 40];
        let mut i = 0;
        while i < ZERO.len() {
            line[i] = ZERO[i];
            i += 1;
        }
        LengthLine { length: 0, line, len: ZERO.len() as u8 }
    }

    /// Formats the line for `n`. Out of line: the request loop stays small.
    #[cold]
    #[inline(never)]
    fn set(&mut self, n: u64) {
        let mut line = *b"Content-Length: 00000000000000000000\r\n\r\n";
        let digits = decimal_digits(n, &mut line[16..36]);
        line.copy_within(36.., 16 + digits);
        self.line = line;
        self.len = (16 + digits + 4) as u8;
        self.length = n;
    }
}

thread_local! {
    static CLOCK: RefCell<Clock> = const { RefCell::new(Clock::unset()) };
    static LENGTH_LINE: RefCell<LengthLine> = const { RefCell::new(LengthLine::zero()) };
}

/// Runs `f` with this second's formatted dates.
#[inline(always)]
pub(crate) fn with_clock<R>(f: impl FnOnce(&Clock) -> R) -> R {
    CLOCK.with(|c| {
        let now = super::coarse_clock::unix_secs();
        let mut c = c.borrow_mut();
        if c.secs != now {
            c.refresh(now);
        }
        f(&c)
    })
}

const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

impl Clock {
    #[cold]
    #[inline(never)]
    fn refresh(&mut self, secs: u64) {
        self.secs = secs;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
        let (year, month, day) = civil_from_days(days);
        let two = |n: u64| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
        let four = |n: u64| {
            [
                b'0' + (n / 1000 % 10) as u8,
                b'0' + (n / 100 % 10) as u8,
                b'0' + (n / 10 % 10) as u8,
                b'0' + (n % 10) as u8,
            ]
        };
        let mut d = Vec::with_capacity(29);
        d.extend_from_slice(DAYS[(days % 7) as usize]);
        d.extend_from_slice(b", ");
        d.extend_from_slice(&two(day));
        d.push(b' ');
        d.extend_from_slice(MONTHS[(month - 1) as usize]);
        d.push(b' ');
        d.extend_from_slice(&four(year));
        d.push(b' ');
        let (h, m, s) = (two(h), two(m), two(s));
        let time = [h[0], h[1], b':', m[0], m[1], b':', s[0], s[1]];
        d.extend_from_slice(&time);
        d.extend_from_slice(b" GMT");
        self.http_date.copy_from_slice(&d);
        let lines = [SERVER_LINE, b"Date: ", &self.http_date, b"\r\n"].concat();
        self.server_and_date.copy_from_slice(&lines);
        let mut l = Vec::with_capacity(26);
        l.extend_from_slice(&two(day));
        l.push(b'/');
        l.extend_from_slice(MONTHS[(month - 1) as usize]);
        l.push(b'/');
        l.extend_from_slice(&four(year));
        l.push(b':');
        l.extend_from_slice(&time);
        l.extend_from_slice(b" +0000");
        self.log_date.copy_from_slice(&l);
    }
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic
/// Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let mut c = Clock::unset();
        c.refresh(784_111_777);
        assert_eq!(&c.http_date, b"Sun, 06 Nov 1994 08:49:37 GMT");
        let lines = concat!("Server: guv/", env!("CARGO_PKG_VERSION"), "\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
        assert_eq!(&c.server_and_date[..], lines.as_bytes());
        assert_eq!(&c.log_date, b"06/Nov/1994:08:49:37 +0000");
        c.refresh(951_782_400); // leap day
        assert_eq!(&c.http_date, b"Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        write_decimal(&mut out, 0);
        out.push(b' ');
        write_decimal(&mut out, 18_446_744_073_709_551_615);
        out.push(b' ');
        write_hex(&mut out, 0x1f2e);
        assert_eq!(out, b"0 18446744073709551615 1f2e");
    }

    #[test]
    fn decimals_at_every_width_match_std() {
        for n in [0, 7, 9, 10, 13, 99, 100, 999, 1000, 4321, 9999, 10_000, 65_536, 1 << 40, u64::MAX] {
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
            for (close, http10) in [(false, false), (true, false), (false, true)] {
                let mut head = Vec::new();
                write_head_end(&mut head, true, true, Framing::Length(n), close, http10);
                let text = String::from_utf8(head).unwrap();
                assert!(text.starts_with(&format!("Content-Length: {n}\r\n")), "{text:?}");
                assert!(text.ends_with("\r\n\r\n") && text.matches("\r\n").count() == 2 + usize::from(close || http10));
            }
        }
        // The kept `Content-Length` line follows the length, whatever the
        // order of the answers.
        // The first, on this test's own thread: no length is taken for unset.
        for n in [u64::MAX, 0, u64::MAX, 13, 13, 7, 10_000, 13, u64::MAX - 1, 0, 13, u64::MAX] {
            let mut head = Vec::new();
            write_head_end(&mut head, true, true, Framing::Length(n), false, false);
            assert_eq!(head, format!("Content-Length: {n}\r\n\r\n").as_bytes());
        }
    }
}
