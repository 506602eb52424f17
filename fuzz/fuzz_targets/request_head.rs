//! Fuzzes the request path of guv::wsgi's sans-I/O layer: the head parser
//! (with small limits, so that every limit is reachable) and the chunked
//! decoder over what follows the head, fed in uneven pieces.
//! Run: `cargo +nightly fuzz run request_head`.

#![no_main]

use guv::wsgi::proto::{BodyLength, ChunkedDecoder, Limits, Parse, parse_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_request_line: 64,
        max_head: 256,
        max_headers: 8,
    };
    let Ok(Parse::Complete(head, used)) = parse_request(data, &limits) else {
        return;
    };
    assert!(used <= data.len() && used <= limits.max_head);
    if head.body_length() != BodyLength::Chunked {
        return;
    }
    let mut dec = ChunkedDecoder::new();
    let mut rest = &data[used..];
    let mut out = [0u8; 7];
    while !dec.is_done() && !rest.is_empty() {
        let piece = &rest[..rest.len().min(5)];
        let Ok((taken, written)) = dec.decode(piece, &mut out) else {
            return;
        };
        assert!(taken <= piece.len() && written <= out.len());
        if taken == 0 && written == 0 {
            return;
        }
        rest = &rest[taken..];
    }
});
