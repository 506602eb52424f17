//! Shared helpers for the benchmarks in `benches/`: a tiny harness that
//! times a closure several times and reports the median, side by side with
//! a peer measured in the same run.
//!
//! Under `cargo bench` (which passes `--bench`) the full measurement runs;
//! under `cargo test --all-targets` each benchmark runs once with tiny
//! counts, as a smoke test.

use std::time::{Duration, Instant};

/// Whether we run under `cargo bench` (full counts) or as a smoke test.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `full` under `cargo bench`, `smoke` otherwise.
pub fn count(full: u64, smoke: u64) -> u64 {
    if full_run() { full } else { smoke }
}

/// Runs `f` (which does `n` operations) `runs` times and returns the median
/// time per operation.
pub fn per_op(runs: usize, n: u64, mut f: impl FnMut(u64)) -> Duration {
    let mut samples: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f(n);
            start.elapsed() / n.max(1) as u32
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// Number of timed runs per measurement.
pub fn runs() -> usize {
    if full_run() { 7 } else { 1 }
}

/// Prints one comparison line: `name: guv X, peer Y (ratio guv/peer)`.
pub fn report(name: &str, guv: Duration, peer_name: &str, peer: Duration) {
    let ratio = guv.as_secs_f64() / peer.as_secs_f64().max(1e-12);
    println!("{name:<44} guv {:>10.1?}  {peer_name} {:>10.1?}  guv/{peer_name} = {ratio:.2}", guv, peer);
}

/// The resident set size of this process, in bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}
