//! A stable-toolchain stand-in for the cargo-fuzz target (fuzz/): valid
//! requests mutated by a seeded generator go through the parser and the
//! chunked decoder, which must answer (complete, partial or a typed error)
//! without panicking, and never claim more bytes than they were given.

use guv::wsgi::proto::{BodyLength, ChunkedDecoder, Limits, Parse, parse_request};
use guv_tests::{XorShift, mutate};

const SEEDS: [&[u8]; 4] = [
    b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;e=1\r\nwiki\r\n0\r\nT: 1\r\n\r\n",
    b"PUT / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
];

fn exercise(data: &[u8]) {
    let limits = Limits { max_request_line: 64, max_head: 256, max_headers: 8 };
    let Ok(Parse::Complete(head, used)) = parse_request(data, &limits) else {
        return;
    };
    assert!(used <= data.len());
    if head.body_length() != BodyLength::Chunked {
        return;
    }
    let mut dec = ChunkedDecoder::new();
    let mut rest = &data[used..];
    let mut out = [0u8; 3];
    while !dec.is_done() && !rest.is_empty() {
        let piece = &rest[..rest.len().min(2)];
        let Ok((taken, written)) = dec.decode(piece, &mut out) else {
            return;
        };
        assert!(taken <= piece.len() && written <= out.len());
        if taken == 0 && written == 0 {
            return;
        }
        rest = &rest[taken..];
    }
}

#[test]
fn mutated_requests_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let alphabet = b"\r\n :;,0123456789abcdefABCDEF/?HTTP\x00\xff\t";
    for round in 0..40_000 {
        let mut data = SEEDS[round % SEEDS.len()].to_vec();
        mutate(&mut data, &mut rng, alphabet, 4);
        exercise(&data);
    }
}
