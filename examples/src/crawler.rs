//! Python guv's crawler: a `GreenPool` fetches many URLs at once with a
//! plain blocking HTTP client (ureq, on green sockets), all on one thread.
//! The sites it crawls are started by the program itself on loopback, each
//! answering after a delay, as a slow backend would.
//!
//! Run: `cargo run -p guv-examples --bin crawler [SITES] [PAGES] [CONCURRENCY] [LATENCY_MS]`
//! (defaults: 3 sites, 20 pages each, 50 greenlets, 100 ms per page).

use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use guv::GreenPool;
use guv_examples::crawl::{Site, agent, crawl, page_app};

fn arg(args: &[String], i: usize, name: &str, default: u64) -> Result<u64, String> {
    match args.get(i) {
        None => Ok(default),
        Some(a) => a.parse().map_err(|_| format!("{name} must be a whole number, not {a:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| {
        Ok::<_, String>((
            arg(&args, 0, "SITES", 3)?,
            arg(&args, 1, "PAGES", 20)?,
            arg(&args, 2, "CONCURRENCY", 50)?,
            arg(&args, 3, "LATENCY_MS", 100)?,
        ))
    })();
    let (sites, pages, concurrency, latency) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("crawler: {e}\nusage: crawler [SITES] [PAGES] [CONCURRENCY] [LATENCY_MS]");
            return ExitCode::from(2);
        }
    };
    match run(sites as usize, pages, concurrency.max(1) as usize, Duration::from_millis(latency)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("crawler: {failed} fetches failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("crawler: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Crawls `pages` pages of each of `sites` sites; returns how many fetches
/// failed.
fn run(sites: usize, pages: u64, concurrency: usize, latency: Duration) -> io::Result<usize> {
    let sites: Vec<Site> = (0..sites).map(|i| Site::start(page_app(i, latency))).collect::<io::Result<_>>()?;
    let urls: Vec<String> =
        (0..pages).flat_map(|p| sites.iter().map(move |site| site.url(&format!("/page/{p}")))).collect();

    let pool = GreenPool::new(concurrency);
    let agent = agent();
    let start = Instant::now();
    let mut failed = 0;
    for (url, result) in urls.iter().zip(crawl(&pool, &agent, urls.clone())) {
        match result {
            Ok(page) => println!("{url}: {} {:?}", page.status, page.body),
            Err(e) => {
                failed += 1;
                eprintln!("{url}: {e}");
            }
        }
    }
    let elapsed = start.elapsed();
    println!(
        "fetched {} pages from {} sites in {elapsed:.2?} with {concurrency} greenlets on one thread \
         (one at a time would take at least {:.2?})",
        urls.len() - failed,
        sites.len(),
        latency * urls.len() as u32,
    );
    for site in sites {
        site.stop()?;
    }
    Ok(failed)
}
