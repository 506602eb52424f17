//! The per-connection cache of parsed header fields ([`FieldCache`]).

use http::header::{HeaderName, HeaderValue};

use super::compare::{lowers_to, same_bytes};
use crate::wsgi::Error;

/// The most header fields a [`FieldCache`] remembers.
const CACHED_FIELDS: usize = 32;

/// A field value longer than this is not cached (an idle connection
/// would keep it), so the cache holds at most `CACHED_FIELDS` of these.
const MAX_CACHED_VALUE: usize = 1024;

/// The header fields of the last request on a connection, by position.
///
/// A client on a keep-alive connection tends to send the same fields
/// (`Host`, `User-Agent`, `Accept`, ...) in the same order on every
/// request. A field that repeats the one at its position last time reuses
/// its parsed name and value: a reference-count increment instead of
/// validating, allocating and copying the value. The cache only holds
/// fields of requests that were accepted (a refused head clears it), so
/// a reused field has passed the framing checks on its own value before.
#[derive(Debug, Default)]
pub(crate) struct FieldCache {
    pub(super) fields: Vec<(HeaderName, HeaderValue)>,
}

impl FieldCache {
    /// The parsed field `i` of a request, `raw_name: raw_value`, and
    /// whether it was reused from an accepted request.
    #[inline(always)]
    pub(super) fn field(
        &mut self,
        i: usize,
        raw_name: &[u8],
        raw_value: &[u8],
    ) -> Result<(HeaderName, HeaderValue, bool), Error> {
        if let Some((name, value)) = self.fields.get(i)
            && same_bytes(value.as_bytes(), raw_value)
            // Names are parsed to lower case: any spelling that matches
            // ignoring case parses to this same name.
            && lowers_to(raw_name, name.as_str().as_bytes())
        {
            return Ok((name.clone(), value.clone(), true));
        }
        let (name, value) = parse_field(raw_name, raw_value)?;
        if raw_value.len() > MAX_CACHED_VALUE {
            // Kept out: the cache would hold it while the connection idles.
        } else if i < self.fields.len() {
            self.fields[i] = (name.clone(), value.clone());
        } else if i == self.fields.len() && i < CACHED_FIELDS {
            self.fields.push((name.clone(), value.clone()));
        }
        Ok((name, value, false))
    }
}

pub(super) fn parse_field(name: &[u8], value: &[u8]) -> Result<(HeaderName, HeaderValue), Error> {
    let name = HeaderName::from_bytes(name).map_err(|_| Error::syntax("invalid header name"))?;
    let value = HeaderValue::from_bytes(value).map_err(|_| Error::syntax("invalid header value"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use http::Request;
    use http::header::HeaderMap;

    use super::*;
    use crate::wsgi::parse::{Limits, Parse, parse_request_into};

    #[test]
    fn a_field_cache_reuses_repeated_fields_and_parses_changed_ones() {
        let mut cache = FieldCache::default();
        let (name, value, reused) = cache.field(0, b"User-Agent", b"wrk").unwrap();
        assert_eq!((name.as_str(), value.as_bytes(), reused), ("user-agent", &b"wrk"[..], false));
        // The same field again, any case: the very same value bytes.
        let (again, same, reused) = cache.field(0, b"USER-agent", b"wrk").unwrap();
        assert_eq!((again, reused), (name, true));
        assert_eq!(same.as_bytes().as_ptr(), value.as_bytes().as_ptr());
        // A changed value or name at that position is parsed (and checked).
        assert_eq!(cache.field(0, b"User-Agent", b"curl").unwrap().1, "curl");
        assert_eq!(cache.field(0, b"Accept", b"curl").unwrap().0, http::header::ACCEPT);
        assert!(cache.field(0, b"Accept", b"bad\x7fvalue").unwrap_err().is_syntax());
        assert!(cache.field(0, b"Bad Name", b"curl").unwrap_err().is_syntax());
        // Positions past the cache's size are parsed every time.
        for i in 0..CACHED_FIELDS + 2 {
            cache.field(i, b"X-N", b"1").unwrap();
        }
        assert_eq!(cache.fields.len(), CACHED_FIELDS);
    }

    #[test]
    fn a_refused_head_leaves_nothing_to_reuse() {
        // Reused fields skip the checks on their own value (a Host's
        // characters), so the cache must only hold accepted requests'.
        let mut cache = FieldCache::default();
        let mut map = HeaderMap::new();
        let limits = Limits::default();
        let bad = b"GET / HTTP/1.1\r\nX-A: 1\r\nHost: a/b\r\n\r\n";
        assert!(
            parse_request_into(bad, &limits, &mut map, Some(&mut cache), &mut Request::new(()))
                .unwrap_err()
                .is_syntax()
        );
        assert!(cache.fields.is_empty());
        assert!(
            parse_request_into(bad, &limits, &mut map, Some(&mut cache), &mut Request::new(()))
                .unwrap_err()
                .is_syntax()
        );
        let good = b"GET / HTTP/1.1\r\nX-A: 1\r\nHost: a\r\n\r\n";
        assert!(matches!(
            parse_request_into(good, &limits, &mut map, Some(&mut cache), &mut Request::new(())),
            Ok(Parse::Complete(..))
        ));
        assert_eq!(cache.fields.len(), 2);
        // A repeated Host is still one too many.
        let twice = b"GET / HTTP/1.1\r\nX-A: 1\r\nHost: a\r\nHost: a\r\n\r\n";
        assert!(
            parse_request_into(twice, &limits, &mut map, Some(&mut cache), &mut Request::new(()))
                .unwrap_err()
                .is_syntax()
        );
    }
}
