//! Word-at-a-time comparisons of field names and values: the parser's
//! inner loops, each checked against the byte-by-byte comparison.

/// Whether the field name `name` (a token: the parser allows nothing
/// else) is `lower` (lower-case letters and `-`, as long as `name`) in any
/// case. Setting bit 5 of a byte lowers an upper-case letter; the only
/// other byte it turns into a letter or `-` is not a token character (CR
/// into `-`), so comparing eight bytes at a time is exact.
#[inline(always)]
pub(super) fn is_name(name: &[u8], lower: &[u8]) -> bool {
    debug_assert_eq!(name.len(), lower.len());
    debug_assert!(name.len() >= 4 && lower.iter().all(|&b| b.is_ascii_lowercase() || b == b'-'));
    let n = name.len();
    let fold = |bytes: &[u8], at: usize| u64::from_le_bytes(word(bytes, at)) | 0x2020_2020_2020_2020;
    let fold4 = |bytes: &[u8], at: usize| u32::from_le_bytes(word(bytes, at)) | 0x2020_2020;
    if n < 8 {
        // Two overlapping 4-byte words cover 4..=7 bytes.
        return fold4(name, 0) == fold4(lower, 0) && fold4(name, n - 4) == fold4(lower, n - 4);
    }
    let mut at = 0;
    while at + 8 < n {
        if fold(name, at) != fold(lower, at) {
            return false;
        }
        at += 8;
    }
    fold(name, n - 8) == fold(lower, n - 8)
}

/// Whether the field name `raw` as sent, lowered, is `lower` (a parsed
/// `HeaderName`: lower case). Eight bytes at a time: in each word the
/// bytes from `A` to `Z` are found with two additions (a byte's top bit
/// says whether it reached `A`, and whether it passed `Z`) and get bit 5
/// set, which lowers exactly those. Exact for ASCII; the parser lets no
/// other byte into a name, and a byte from 128 up would stay unequal to
/// every byte of `lower` anyway (the carries it may cause stay in its own
/// word). A byte-by-byte `eq_ignore_ascii_case` cost ~16 instructions a
/// byte.
#[inline(always)]
pub(super) fn lowers_to(raw: &[u8], lower: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let n = raw.len();
    if n != lower.len() {
        return false;
    }
    let fold = |w: u64| {
        let from_a = w.wrapping_add(ONES * (0x80 - u64::from(b'A')));
        let past_z = w.wrapping_add(ONES * (0x80 - u64::from(b'Z') - 1));
        w | ((from_a & !past_z & (ONES * 0x80)) >> 2)
    };
    if n < 8 {
        // Both words of 4..=7 bytes, zero-extended: the fold is per byte.
        let four = |bytes: &[u8], at: usize| u64::from(u32::from_le_bytes(word(bytes, at)));
        return if n >= 4 {
            fold(four(raw, 0)) == four(lower, 0) && fold(four(raw, n - 4)) == four(lower, n - 4)
        } else {
            raw.iter().zip(lower).all(|(&r, &l)| r.to_ascii_lowercase() == l)
        };
    }
    let eight = |bytes: &[u8], at: usize| u64::from_le_bytes(word(bytes, at));
    let mut at = 0;
    while at + 8 < n {
        if fold(eight(raw, at)) != eight(lower, at) {
            return false;
        }
        at += 8;
    }
    fold(eight(raw, n - 8)) == eight(lower, n - 8)
}

/// `N` bytes of `bytes` from `at` (in bounds: the callers check).
#[inline(always)]
fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N].try_into().unwrap_or([0; N])
}

/// `a == b`, without a call for the lengths of most `Host` values.
#[inline(always)]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        // Two overlapping 8-byte words.
        return word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8);
    }
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_byte_comparisons_agree_with_the_slow_ones() {
        // Every token byte in every position of every special name, in both
        // cases: `is_name` says what `eq_ignore_ascii_case` says.
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        for lower in [&b"host"[..], b"expect", b"upgrade", b"connection", b"content-length", b"transfer-encoding"] {
            let upper = lower.to_ascii_uppercase();
            assert!(is_name(lower, lower) && is_name(&upper, lower));
            for at in 0..lower.len() {
                for b in (0..=255u8).filter(|&b| token(b)) {
                    let mut name = lower.to_vec();
                    name[at] = b;
                    assert_eq!(
                        is_name(&name, lower),
                        name.eq_ignore_ascii_case(lower),
                        "{:?}",
                        String::from_utf8_lossy(&name)
                    );
                }
            }
        }
        // `lowers_to` against a parsed (lower-case) name: every token byte,
        // in either case, at every position of names of every length
        // (the word-sized paths and their overlapping tails), including
        // `^` and `~`, which differ in bit 5 only.
        let tokens: Vec<u8> = (0..=255u8).filter(|&b| token(b)).collect();
        for len in 1..=20 {
            let lower: Vec<u8> = (0..len).map(|i| b"abcdefghijklmnopqrstuvwxyz-0^_~"[i % 31]).collect();
            assert!(lowers_to(&lower, &lower) && lowers_to(&lower.to_ascii_uppercase(), &lower));
            assert!(!lowers_to(&lower[1..], &lower) && !lowers_to(&lower, &lower[1..]));
            for at in 0..len {
                for &b in &tokens {
                    let mut raw = lower.clone();
                    raw[at] = b;
                    assert_eq!(lowers_to(&raw, &lower), raw.eq_ignore_ascii_case(&lower), "{raw:?} {lower:?}");
                }
                for b in 0x80..=0xffu8 {
                    let mut raw = lower.clone();
                    raw[at] = b;
                    assert!(!lowers_to(&raw, &lower));
                }
            }
        }
        let host = b"127.0.0.1:18191";
        for n in 0..=host.len() {
            let (a, mut b) = (&host[..n], host[..n].to_vec());
            assert!(same_bytes(a, &b));
            for at in 0..n {
                b[at] ^= 1;
                assert!(!same_bytes(a, &b), "{n} {at}");
                b[at] ^= 1;
            }
            assert!(!same_bytes(a, &host[..n.saturating_sub(1)]) || n == 0);
        }
        let long = [b'a'; 40];
        let mut other = long;
        other[20] = b'b';
        assert!(same_bytes(&long, &long.clone()) && !same_bytes(&long, &other));
    }
}
