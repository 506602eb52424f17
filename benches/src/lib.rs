//! Shared helpers for the benchmarks in `benches/`: a tiny harness that
//! times a closure several times and reports the median, side by side with
//! a peer measured in the same run; echo servers on each runtime (run in a
//! child process, pinned to one core, so that their CPU time and memory can
//! be read from `/proc`); and measuring tools.
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

use std::io::{Read, Write};

/// The runtimes compared: guv as shipped (its own epoll backend,
/// `guv::hub::EpollBackend`), guv on the portable `polling` backend
/// (`guv::hub::PollingBackend`), and the peers.
pub const RUNTIMES: [&str; 5] = ["guv", "guv+polling", "tokio", "may", "std"];

/// Pins the calling thread (and the threads it starts later) to `core`,
/// if the machine has it.
pub fn pin_to_core(core: usize) {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) <= core {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes within it;
    // sched_setaffinity(0, ..) applies to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPU time a process has used in user space and in the kernel, in
/// seconds (clock-tick resolution, 10 ms here).
pub fn cpu_times(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    (ticks(11) / tck, ticks(12) / tck)
}

/// A process's resident memory, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Raises the soft limit on open files as far as the hard limit allows.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The median of some numbers.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The two-sided sign test: the probability, if two servers were equally
/// fast (each run a fair coin), of a split at least as uneven as `wins` of
/// `n` paired runs. Small (say under 0.05) means the difference is not the
/// machine's noise.
pub fn sign_test(wins: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // P(X <= k) for X ~ Binomial(n, 1/2), summed in logs to stay finite.
    let ln_choose = |k: usize| -> f64 { (1..=k).map(|i| ((n - k + i) as f64).ln() - (i as f64).ln()).sum() };
    let tail = |k: usize| -> f64 { (0..=k).map(|i| (ln_choose(i) - n as f64 * 2f64.ln()).exp()).sum() };
    let k = wins.min(n - wins);
    (2.0 * tail(k)).min(1.0)
}

/// Drives `conns` connections to 127.0.0.1:`port` for `dur`, each sending
/// `size`-byte messages and waiting for the echo (guv greenlets on the
/// calling thread). Returns the round trips completed.
pub fn echo_load(port: u16, conns: usize, size: usize, dur: Duration) -> u64 {
    let deadline = std::time::Instant::now() + dur;
    let gts: Vec<_> = (0..conns)
        .map(|_| {
            guv::spawn(move || {
                let mut s = guv::connect(("127.0.0.1", port)).unwrap();
                s.set_nodelay(true).unwrap();
                let msg = vec![7u8; size];
                let mut back = vec![0u8; size];
                let mut n = 0u64;
                while std::time::Instant::now() < deadline {
                    s.write_all(&msg).unwrap();
                    s.read_exact(&mut back).unwrap();
                    assert!(back == msg, "the echo differs from the message");
                    back.fill(0);
                    n += 1;
                }
                n
            })
        })
        .collect();
    gts.into_iter().map(|g| g.wait().unwrap()).sum()
}

#[cfg(test)]
mod tests {
    use super::sign_test;

    #[test]
    fn sign_test_matches_the_binomial_tails() {
        // An even split is no evidence at all.
        assert_eq!(sign_test(5, 10), 1.0);
        // 9 of 10: 2 * (1 + 10) / 1024.
        assert!((sign_test(9, 10) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(sign_test(9, 10), sign_test(1, 10));
        // 20 of 20: 2 / 2^20.
        assert!((sign_test(20, 20) - 2.0 / 1048576.0).abs() < 1e-15);
        // 15 of 20 is just significant at 5%, 14 of 20 is not.
        assert!(sign_test(15, 20) < 0.05 && sign_test(14, 20) > 0.05);
        assert_eq!(sign_test(0, 0), 1.0);
    }
}
