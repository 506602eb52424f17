//! What the header fields of a head say about its body's framing and the
//! connection ([`Framing`]), and the checks of single field values.

use http::Version;

use super::compare::is_name;
use super::{BodyLength, HeadInfo};
use crate::wsgi::Error;

/// What the header fields say about framing and the connection: a
/// `Content-Length`, and the flags below in one word (one register through
/// the field loop, where ten `bool`s spilled to the stack).
#[derive(Default)]
pub(super) struct Framing {
    content_length: Option<u64>,
    flags: u16,
}

/// A `Transfer-Encoding` field was present.
const TRANSFER_ENCODING: u16 = 1;
/// The last transfer-coding seen so far is `chunked`.
const CHUNKED: u16 = 1 << 1;
/// A coding followed `chunked` (or `chunked` came twice).
const CHUNKED_NOT_LAST: u16 = 1 << 2;
/// A coding other than `chunked` was named.
const OTHER_CODING: u16 = 1 << 3;
pub(super) const HOST: u16 = 1 << 4;
const CLOSE: u16 = 1 << 5;
const KEEP_ALIVE: u16 = 1 << 6;
const EXPECT_CONTINUE: u16 = 1 << 7;
/// `Connection` names `upgrade`.
const UPGRADE_TOKEN: u16 = 1 << 8;
/// An `Upgrade` field was present.
const UPGRADE_FIELD: u16 = 1 << 9;

impl Framing {
    #[inline(always)]
    pub(super) fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    #[inline(always)]
    fn set(&mut self, flag: u16, on: bool) {
        self.flags = if on { self.flags | flag } else { self.flags & !flag };
    }

    /// Notes one field (`name` as sent, in any case); `checked`: the same
    /// field was accepted in an earlier request (its value need not be
    /// checked again).
    #[inline(always)]
    pub(super) fn observe(&mut self, name: &[u8], value: &[u8], checked: bool) -> Result<(), Error> {
        // The length picks the one name to compare with, so most fields
        // compare nothing.
        match name.len() {
            14 if is_name(name, b"content-length") => {
                let n = parse_content_length(value)?;
                if self.content_length.is_some_and(|m| m != n) {
                    return Err(Error::syntax("conflicting Content-Length fields"));
                }
                self.content_length = Some(n);
            }
            17 if is_name(name, b"transfer-encoding") => {
                // The whole list is read before deciding, over every field
                // line: `gzip` then `chunked` on two lines is one list.
                self.set(TRANSFER_ENCODING, true);
                for coding in tokens(value) {
                    if self.has(CHUNKED) {
                        self.set(CHUNKED_NOT_LAST, true);
                    }
                    let chunked = coding.eq_ignore_ascii_case(b"chunked");
                    self.set(CHUNKED, chunked);
                    if !chunked {
                        self.set(OTHER_CODING, true);
                    }
                }
            }
            4 if is_name(name, b"host") => {
                if self.has(HOST) {
                    return Err(Error::syntax("more than one Host field"));
                }
                if !checked && !is_host(value) {
                    return Err(Error::syntax("an invalid Host field"));
                }
                self.set(HOST, true);
            }
            10 if is_name(name, b"connection") => {
                for token in tokens(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.set(CLOSE, true);
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.set(KEEP_ALIVE, true);
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        self.set(UPGRADE_TOKEN, true);
                    }
                }
            }
            6 if is_name(name, b"expect") => {
                self.set(EXPECT_CONTINUE, value.eq_ignore_ascii_case(b"100-continue"));
            }
            7 if is_name(name, b"upgrade") => self.set(UPGRADE_FIELD, true),
            _ => {}
        }
        Ok(())
    }

    /// What the fields, all observed, say about the request.
    pub(super) fn conclude(&self, version: Version) -> Result<HeadInfo, Error> {
        let body = self.body_length(version)?;
        if version == Version::HTTP_11 && !self.has(HOST) {
            return Err(Error::syntax("an HTTP/1.1 request must have a Host header"));
        }
        let keep_alive = match version {
            Version::HTTP_11 => !self.has(CLOSE),
            _ => self.has(KEEP_ALIVE) && !self.has(CLOSE),
        };
        let expect_continue = version == Version::HTTP_11 && self.has(EXPECT_CONTINUE);
        let upgrade = self.has(UPGRADE_FIELD) && self.has(UPGRADE_TOKEN);
        Ok(HeadInfo { body, keep_alive, expect_continue, upgrade })
    }

    fn body_length(&self, version: Version) -> Result<BodyLength, Error> {
        if self.has(TRANSFER_ENCODING) {
            if version == Version::HTTP_10 {
                return Err(Error::syntax("Transfer-Encoding in an HTTP/1.0 request"));
            }
            if self.content_length.is_some() {
                return Err(Error::syntax("both Content-Length and Transfer-Encoding"));
            }
            if self.has(CHUNKED_NOT_LAST) || !self.has(CHUNKED) {
                // RFC 9112 §6.3: the body's length cannot be known.
                return Err(Error::syntax("Transfer-Encoding must end in a single chunked"));
            }
            if self.has(OTHER_CODING) {
                return Err(Error::unsupported_coding());
            }
            return Ok(BodyLength::Chunked);
        }
        Ok(BodyLength::Known(self.content_length.unwrap_or(0)))
    }
}

/// Whether a `Host` value has the characters of `uri-host [":" port]`
/// (RFC 3986: a reg-name, an IPv4 address or a bracketed IP literal); an
/// empty value is allowed (RFC 9112 §3.2, a target without an authority).
/// No user info, path, query, fragment or whitespace.
fn is_host(value: &[u8]) -> bool {
    value.iter().all(|&b| HOST_CHARS[usize::from(b)])
}

/// The bytes [`is_host`] accepts, as a table (one load per byte).
static HOST_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&')
            || matches!(c, b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'%' | b'[' | b']');
        b += 1;
    }
    table
};

/// The comma-separated tokens of a list-valued field, trimmed, empty ones
/// skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|t| t.trim_ascii()).filter(|t| !t.is_empty())
}

fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    if value.is_empty() || value.len() > 19 {
        return Err(Error::syntax("invalid Content-Length"));
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(Error::syntax("invalid Content-Length"));
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsgi::parse::Parse;
    use crate::wsgi::parse::tests::parse;

    #[test]
    fn keep_alive_rules() {
        let ka = |b: &[u8]| match parse(b) {
            Ok(Parse::Complete(h, _)) => h.keep_alive(),
            other => panic!("{other:?}"),
        };
        assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }
    #[test]
    fn host_characters() {
        for ok in [&b"127.0.0.1:8080"[..], b"[::1]:80", b"example.com", b"", b"a-b_c~d!$&'()*+,;=%41"] {
            assert!(is_host(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [&b"a b"[..], b"a/b", b"a@b", b"a?b", b"a#b", b"a\x80", b"a\tb", b"\"a\""] {
            assert!(!is_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn framing_errors() {
        assert!(
            parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                .unwrap_err()
                .is_unsupported_coding()
        );
        assert!(parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n").unwrap_err().is_syntax());
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").unwrap_err().is_syntax());
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n").unwrap_err().is_syntax());
        let both = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert!(parse(both).unwrap_err().is_syntax());
        assert!(parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n").unwrap_err().is_syntax());
        let twice = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert!(parse(twice).unwrap_err().is_syntax());
        assert!(parse(b"GET / HTTP/1.1\r\n\r\n").unwrap_err().is_syntax());
        assert!(parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap_err().is_unsupported_version());
    }
}
