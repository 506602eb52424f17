//! The crawler example: its parts through the examples crate's library,
//! and the program itself.

use std::cell::Cell;
use std::io::{Read, Write};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use guv::GreenPool;
use guv::wsgi::Body;
use guv::wsgi::http::{Request, Response};
use guv_examples::crawl::{Site, agent, crawl, fetch, page_app};

#[test]
fn crawl_fetches_every_url_in_order_with_the_pools_concurrency() {
    const CONCURRENCY: usize = 8;
    // Each request waits in the app until CONCURRENCY of them are there at
    // once (for at most 10 s in all), so the peak shows how many fetches
    // really ran together.
    let in_app = Rc::new(Cell::new(0usize));
    let peak = Rc::new(Cell::new(0usize));
    let full = guv::Event::new();
    let sites: Vec<Site> = (0..3)
        .map(|site| {
            let (in_app, peak, full) = (in_app.clone(), peak.clone(), full.clone());
            let page = page_app(site, Duration::ZERO);
            Site::start(move |req: Request<Body>| -> Response<Body> {
                in_app.set(in_app.get() + 1);
                peak.set(peak.get().max(in_app.get()));
                if in_app.get() == CONCURRENCY {
                    full.set();
                }
                if !full.wait_timeout(Duration::from_secs(10)) {
                    full.set(); // not concurrent: fail once, not 60 times
                }
                in_app.set(in_app.get() - 1);
                page(req)
            })
            .unwrap()
        })
        .collect();
    let urls: Vec<String> = (0..20).flat_map(|p| sites.iter().map(move |s| s.url(&format!("/page/{p}")))).collect();
    let pool = GreenPool::new(CONCURRENCY);
    let pages: Vec<_> = crawl(&pool, &agent(), urls.clone()).map(Result::unwrap).collect();
    assert_eq!(pages.len(), 60);
    for (i, (page, url)) in pages.iter().zip(&urls).enumerate() {
        assert_eq!((&page.url, page.status), (url, 200));
        assert_eq!(page.body, format!("site {}, page {}", i % 3, i / 3));
    }
    assert_eq!(peak.get(), CONCURRENCY, "requests in the apps at once");
    for site in sites {
        site.stop().unwrap();
    }
}

#[test]
fn a_failed_fetch_is_an_error_in_its_place_and_the_others_go_on() {
    let site = Site::start(page_app(0, Duration::ZERO)).unwrap();
    // A port nothing listens on: the local end of a live connection (a
    // port bound and then closed could be taken by a test running in
    // parallel; this one stays taken until the test ends).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let closed = held.local_addr().unwrap();
    let urls = vec![
        site.url("/page/1"),
        format!("http://{closed}/page/2"),
        site.url("/missing"),
        "https://127.0.0.1:1/".to_owned(),
        site.url("/page/3"),
    ];
    let pool = GreenPool::new(3);
    let results: Vec<_> = crawl(&pool, &agent(), urls).collect();
    assert_eq!(results[0].as_ref().unwrap().body, "site 0, page 1");
    match &results[1] {
        Err(ureq::Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
            assert!(e.to_string().contains(&closed.to_string()), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(results[2], Err(ureq::Error::StatusCode(404))), "{:?}", results[2]);
    assert!(matches!(results[3], Err(ureq::Error::Tls(_))), "{:?}", results[3]);
    assert_eq!(results[4].as_ref().unwrap().body, "site 0, page 3");
    site.stop().unwrap();
}

#[test]
fn connections_are_reused_between_fetches() {
    // A bare keep-alive server that counts the connections it accepts.
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Rc::new(Cell::new(0usize));
    let counter = accepted.clone();
    let server = guv::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            counter.set(counter.get() + 1);
            guv::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    head.extend_from_slice(&buf[..n]);
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        head.drain(..end + 4);
                        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
                    }
                }
            });
        }
    });
    // One greenlet fetching in turn: the agent hands the idle connection
    // back (it checks that the server has not closed it), so the server
    // sees a single connection.
    let agent = agent();
    for _ in 0..5 {
        assert_eq!(fetch(&agent, &format!("http://{addr}/")).unwrap().body, "ok");
    }
    assert_eq!(accepted.get(), 1);
    server.kill();
}

#[test]
fn the_crawler_program_runs() {
    let out = Command::new(env!("CARGO_BIN_EXE_crawler")).args(["2", "5", "4", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.contains(": 200 \"site ")).count(), 10, "{stdout}");
    assert!(stdout.contains("fetched 10 pages from 2 sites"), "{stdout}");
    let bad = Command::new(env!("CARGO_BIN_EXE_crawler")).arg("many").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SITES must be a whole number"));
}
