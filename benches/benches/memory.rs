//! Memory per sleeping greenlet, against may coroutines, each in its own
//! child process so that one runtime's pages do not count for the other.
//!
//! 1. 100,000 greenlets alive at once, each sleeping: RSS per greenlet
//!    (default stack size), vs 100,000 sleeping may coroutines;
//! 2. one million sleeping greenlets with a 16 KiB stack (full run only).
//!
//! Needs `vm.max_map_count` above twice the number of greenlets (see
//! `.ci/install-deps`). Run: `cargo bench -p guv-benches --bench memory`

use std::process::Command;
use std::time::{Duration, Instant};

use guv_benches::{count, full_run, rss_bytes};

/// In a child: spawns `n` sleepers and prints `RSS <bytes per sleeper>`.
fn child(kind: &str, n: u64) {
    let before = rss_bytes();
    let start = Instant::now();
    match kind {
        "guv" | "guv16k" => {
            if kind == "guv16k" {
                guv::hub::set_stack_size(16 * 1024).unwrap();
            }
            let handles: Vec<_> = (0..n).map(|_| guv::spawn(|| guv::sleep(Duration::from_secs(3600)))).collect();
            guv::gyield(); // every greenlet starts and parks in sleep
            let after = rss_bytes();
            println!("RSS {} {:?}", (after - before) / n, start.elapsed());
            for h in &handles {
                h.kill();
            }
        }
        "may" => {
            may::config().set_workers(1);
            let (tx, rx) = std::sync::mpsc::channel();
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let tx = tx.clone();
                    may::go!(move || {
                        tx.send(()).unwrap();
                        may::coroutine::sleep(Duration::from_secs(3600));
                    })
                })
                .collect();
            for _ in 0..n {
                rx.recv().unwrap();
            }
            let after = rss_bytes();
            println!("RSS {} {:?}", (after - before) / n, start.elapsed());
            for h in handles {
                // SAFETY-free: cancelling wakes the sleeper with a cancel panic.
                // SAFETY: may requires the coroutine to be cancel-safe; these
                // hold nothing but a sleep.
                #[allow(unsafe_code)]
                unsafe {
                    h.coroutine().cancel()
                };
                let _ = h.join();
            }
        }
        _ => unreachable!(),
    }
}

fn run(kind: &str, n: u64) -> Option<u64> {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("GUV_MEM_CHILD", kind)
        .env("GUV_MEM_N", n.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("RSS "));
    match line {
        Some(l) => {
            let mut parts = l.split_whitespace().skip(1);
            let per = parts.next()?.parse().ok()?;
            println!(
                "  {kind:>7}: {n} sleepers, {per} bytes RSS each, spawned and parked in {}",
                parts.next().unwrap_or("?")
            );
            Some(per)
        }
        None => {
            println!("  {kind:>7}: failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
            None
        }
    }
}

fn main() {
    if let Ok(kind) = std::env::var("GUV_MEM_CHILD") {
        let n = std::env::var("GUV_MEM_N").unwrap().parse().unwrap();
        child(&kind, n);
        return;
    }
    let n = count(100_000, 1000);
    println!("sleeping greenlets vs may coroutines, RSS per sleeper:");
    let g = run("guv", n);
    let m = run("may", n);
    if let (Some(g), Some(m)) = (g, m) {
        println!("  guv/may = {:.2}", g as f64 / m as f64);
    }
    if full_run() {
        println!("one million sleeping greenlets with 16 KiB stacks:");
        run("guv16k", 1_000_000);
    }
}
