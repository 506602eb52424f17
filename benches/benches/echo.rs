//! Echo round trip over loopback: guv vs tokio (current_thread) vs may (one
//! worker) vs std (a thread per connection), each server in its own process
//! pinned to core 0, driven by the same guv client on core 1.
//!
//! `cargo bench -p guv-benches --bench echo` (env: GUV_BENCH_RUNS, default
//! 5; GUV_BENCH_SECS, default 3; GUV_BENCH_CONNS, default 50). Reports, per
//! runtime, the median round trips per second and the server's CPU
//! microseconds per round trip (and the user-space part of it), each ratio
//! to guv, and the median of the per-run ratios (each run alternates the
//! runtimes, so a ratio within a run is the least disturbed by a noisy
//! machine), with how many runs guv won and the sign test's p-value for
//! that split. Under `cargo test` it runs a short smoke pass instead.

use std::time::Duration;

use guv_benches::{RUNTIMES, cpu_times, echo_load, median, pin_to_core, sign_test};

#[path = "support/echo_servers.rs"]
mod echo_servers;
use echo_servers::{Server, serve_if_asked};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    serve_if_asked();
    let bench = std::env::args().any(|a| a == "--bench");
    let runs = if bench { env_or("GUV_BENCH_RUNS", 5) } else { 1 };
    let secs = if bench { Duration::from_secs(env_or("GUV_BENCH_SECS", 3)) } else { Duration::from_millis(200) };
    let conns = env_or("GUV_BENCH_CONNS", 50) as usize;
    pin_to_core(1);
    let mut rps: Vec<Vec<f64>> = vec![Vec::new(); RUNTIMES.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); RUNTIMES.len()];
    let mut user: Vec<Vec<f64>> = vec![Vec::new(); RUNTIMES.len()];
    for run in 1..=runs {
        for (i, rt) in RUNTIMES.iter().enumerate() {
            let server = Server::start(rt).expect("server start");
            echo_load(server.port, conns, 64, Duration::from_millis(100)); // warm-up
            let (u0, s0) = cpu_times(server.pid());
            let n = echo_load(server.port, conns, 64, secs);
            let (u1, s1) = cpu_times(server.pid());
            let r = n as f64 / secs.as_secs_f64();
            let per = |seconds: f64| seconds * 1e6 / n.max(1) as f64;
            let (us, us_user) = (per(u1 - u0 + s1 - s0), per(u1 - u0));
            println!(
                "run {run} {rt:>5}: {r:>9.0} round trips/s, {us:6.2} us server CPU per round trip ({us_user:.2} in user space)"
            );
            rps[i].push(r);
            cpu[i].push(us);
            user[i].push(us_user);
        }
    }
    let min_cpu: Vec<f64> = cpu.iter().map(|v| v.iter().cloned().fold(f64::INFINITY, f64::min)).collect();
    // Per run, each runtime's CPU against guv's in the same run.
    let mut paired: Vec<Vec<f64>> = cpu.iter().map(|v| v.iter().zip(&cpu[0]).map(|(c, g)| c / g).collect()).collect();
    // Runs in which guv spent less CPU per round trip than the runtime.
    let guv_ahead: Vec<usize> = paired.iter().map(|v| v.iter().filter(|&&r| r > 1.0).count()).collect();
    let user_med: Vec<f64> = user.iter_mut().map(|v| median(v)).collect();
    let med: Vec<(f64, f64)> = (0..RUNTIMES.len()).map(|i| (median(&mut rps[i]), median(&mut cpu[i]))).collect();
    println!("\nmedian of {runs} runs, {conns} connections, 64-byte messages:");
    for (i, rt) in RUNTIMES.iter().enumerate() {
        let (r, c) = med[i];
        let n = paired[i].len();
        let split = if i == 0 {
            String::new()
        } else {
            format!("; guv lower in {} of {n} runs (sign test p = {:.3})", guv_ahead[i], sign_test(guv_ahead[i], n))
        };
        println!(
            "{rt:>5}: {r:>9.0} round trips/s ({:.2}x guv), {c:6.2} us CPU/round trip ({:.2}x guv; per-run ratio {:.3}), \
             {:.2} us of it user space; best run {:.2} us ({:.2}x guv){split}",
            r / med[0].0,
            c / med[0].1,
            median(&mut paired[i]),
            user_med[i],
            min_cpu[i],
            min_cpu[i] / min_cpu[0]
        );
    }
}
