//! resolv.conf's search list and `ndots` in the green resolver, against a
//! zone server on 127.0.0.1 that logs every name it is asked.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use guv::net::dns::{Config, Resolver};
use guv_tests::dns::{DnsServer, Record};

fn addr(s: &str) -> Record {
    Record::Addr(s.parse().unwrap())
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// A resolver for `server` from the text of a resolv.conf (its
/// `nameserver` lines replaced by the server).
fn resolver(server: &DnsServer, resolv_conf: &str) -> Resolver {
    let mut config = Config::from_resolv_conf(resolv_conf);
    config.nameservers = vec![server.addr()];
    config.timeout = Duration::from_secs(5);
    config.attempts = 1;
    Resolver::new(config)
}

#[test]
fn a_short_name_is_found_under_a_search_domain() {
    let server = DnsServer::with_zone(&[("db.corp.example", addr("10.0.0.3"))]);
    let r = resolver(&server, "search corp.example\n");
    assert_eq!(r.lookup_ip("db").unwrap(), ips(&["10.0.0.3"]));
    // Found under the first suffix: the bare name is never asked.
    assert_eq!(server.asked(), ["db.corp.example"]);
}

#[test]
fn search_domains_are_tried_in_order_until_one_has_the_name() {
    let server = DnsServer::with_zone(&[("web.b.example", addr("10.0.0.5")), ("web.c.example", addr("10.0.0.6"))]);
    let r = resolver(&server, "search a.example b.example c.example\n");
    assert_eq!(r.lookup_ip("web").unwrap(), ips(&["10.0.0.5"]));
    assert_eq!(server.asked(), ["web.a.example", "web.b.example"]);
}

#[test]
fn ndots_decides_whether_the_name_as_given_comes_first_or_last() {
    let zone = [("x.y", addr("10.0.1.1")), ("x.y.b.example", addr("10.0.1.2"))];
    let server = DnsServer::with_zone(&zone);

    // ndots 1 (the default): one dot is enough, the name as given first.
    let r = resolver(&server, "search a.example b.example\n");
    assert_eq!(r.lookup_ip("x.y").unwrap(), ips(&["10.0.1.1"]));
    assert_eq!(server.asked(), ["x.y"]);

    // ndots 2: one dot is too few, the suffixes first.
    server.clear_asked();
    let r = resolver(&server, "search a.example b.example\noptions ndots:2\n");
    assert_eq!(r.lookup_ip("x.y").unwrap(), ips(&["10.0.1.2"]));
    assert_eq!(server.asked(), ["x.y.a.example", "x.y.b.example"]);

    // ndots 1 and no such name as given: then the suffixes.
    server.clear_asked();
    let r = resolver(&server, "search a.example b.example\n");
    assert_eq!(r.lookup_ip("q.y").unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(server.asked(), ["q.y", "q.y.a.example", "q.y.b.example"]);

    // ndots 0: even a name without dots is tried as given first.
    server.clear_asked();
    let r = resolver(&server, "search a.example\noptions ndots:0\n");
    assert_eq!(r.lookup_ip("solo").unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(server.asked(), ["solo", "solo.a.example"]);

    // ndots 2 and nothing anywhere: the name as given last.
    server.clear_asked();
    let r = resolver(&server, "search a.example b.example\noptions ndots:2\n");
    assert_eq!(r.lookup_ip("q.y").unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(server.asked(), ["q.y.a.example", "q.y.b.example", "q.y"]);
}

#[test]
fn a_name_ending_in_a_dot_is_never_extended() {
    let server = DnsServer::with_zone(&[("db.corp.example", addr("10.0.0.3")), ("top", addr("10.0.0.4"))]);
    let r = resolver(&server, "search corp.example\n");
    let e = r.lookup_ip("db.").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(e.to_string().contains("'db'") && e.to_string().contains("NXDOMAIN"), "{e}");
    assert_eq!(server.asked(), ["db"]);

    server.clear_asked();
    assert_eq!(r.lookup_ip("Top.").unwrap(), ips(&["10.0.0.4"]));
    assert_eq!(r.lookup_ip("db.corp.example.").unwrap(), ips(&["10.0.0.3"]));
    assert_eq!(server.asked(), ["top", "db.corp.example"]);
}

#[test]
fn the_hosts_file_is_asked_for_the_name_as_given_only() {
    let server = DnsServer::with_zone(&[("db.corp.example", addr("10.0.0.3"))]);
    let dir = std::env::temp_dir().join(format!("guv-search-hosts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "10.9.9.1 db.corp.example\n10.9.9.2 cache\n").unwrap();
    let mut config = Config::from_resolv_conf("search corp.example\n");
    config.nameservers = vec![server.addr()];
    config.hosts_file = Some(hosts);
    let r = Resolver::new(config);
    // "cache" is in the file as given: no query at all.
    assert_eq!(r.lookup_ip("cache").unwrap(), ips(&["10.9.9.2"]));
    assert!(server.asked().is_empty(), "{:?}", server.asked());
    // "db" is not (only db.corp.example is): the suffixed name goes to DNS.
    assert_eq!(r.lookup_ip("db").unwrap(), ips(&["10.0.0.3"]));
    assert_eq!(server.asked(), ["db.corp.example"]);
    // With a trailing dot the file is still consulted, without the dot.
    assert_eq!(r.lookup_ip("db.corp.example.").unwrap(), ips(&["10.9.9.1"]));
    assert_eq!(server.asked(), ["db.corp.example"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_domain_line_is_a_one_entry_search_list() {
    let server = DnsServer::with_zone(&[("db.corp.example", addr("10.0.0.3"))]);
    let r = resolver(&server, "domain corp.example\n");
    assert_eq!(r.config().search, ["corp.example"]);
    assert_eq!(r.lookup_ip("db").unwrap(), ips(&["10.0.0.3"]));
    assert_eq!(server.asked(), ["db.corp.example"]);
}

#[test]
fn the_last_search_or_domain_line_wins() {
    let server = DnsServer::with_zone(&[("db.a.example", addr("10.0.2.1")), ("db.c.example", addr("10.0.2.3"))]);
    // search then domain: only the domain is used.
    let r = resolver(&server, "search a.example b.example\ndomain c.example\n");
    assert_eq!(r.lookup_ip("db").unwrap(), ips(&["10.0.2.3"]));
    assert_eq!(server.asked(), ["db.c.example"]);
    // domain then search: only the search list.
    server.clear_asked();
    let r = resolver(&server, "domain c.example\nsearch b.example a.example\n");
    assert_eq!(r.lookup_ip("db").unwrap(), ips(&["10.0.2.1"]));
    assert_eq!(server.asked(), ["db.b.example", "db.a.example"]);
}

#[test]
fn when_every_name_misses_the_error_names_the_host_and_each_name() {
    let server = DnsServer::with_zone(&[]);
    let r = resolver(&server, "search a.example b.example\n");
    let e = r.lookup_ip("nothere").unwrap_err();
    // The same kind as a single name's NXDOMAIN.
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let msg = e.to_string();
    for part in ["'nothere'", "'nothere.a.example'", "'nothere.b.example'", "NXDOMAIN", &server.addr().to_string()] {
        assert!(msg.contains(part), "{part:?} missing from {msg}");
    }
    assert_eq!(server.asked(), ["nothere.a.example", "nothere.b.example", "nothere"]);
}

#[test]
fn a_name_without_addresses_moves_on_to_the_next_candidate() {
    // The scripted server: empty.test exists with no records; any other
    // name is 127.0.0.1.
    let server = DnsServer::start();
    let r = resolver(&server, "search test\n");
    assert_eq!(r.lookup_ip("empty").unwrap(), ips(&["127.0.0.1"]));
    assert_eq!(server.asked(), ["empty.test", "empty"]);
    // An AAAA record alone is an address: found under the suffix.
    let server = DnsServer::with_zone(&[("mail.a.example", addr("::1"))]);
    let r = resolver(&server, "search a.example\n");
    assert_eq!(r.lookup_ip("mail").unwrap(), ips(&["::1"]));
    assert_eq!(server.asked(), ["mail.a.example"]);
}

#[test]
fn servfail_moves_on_but_a_timeout_or_refusal_ends_the_search() {
    let zone = [
        ("db.sf.example", Record::ServFail),
        ("db.quiet.example", Record::Silent),
        ("db.no.example", Record::Refused),
        ("db.ok.example", addr("10.0.3.1")),
    ];
    let server = DnsServer::with_zone(&zone);
    // SERVFAIL under the first suffix: on to the next one (as glibc).
    let r = resolver(&server, "search sf.example ok.example\n");
    assert_eq!(r.lookup_ip("db").unwrap(), ips(&["10.0.3.1"]));
    assert_eq!(server.asked(), ["db.sf.example", "db.ok.example"]);

    // Silence: the lookup stops with TimedOut, the later names unasked.
    server.clear_asked();
    // Only here must the timeout fire (the name is never answered), so
    // only this resolver has a short one; the lookups whose answers come
    // keep the 5 s of `resolver` (a loaded machine can be slow to answer,
    // and a timeout there would end the search early).
    let mut config = Config::from_resolv_conf("search quiet.example ok.example\n");
    config.nameservers = vec![server.addr()];
    config.timeout = Duration::from_millis(200);
    config.attempts = 1;
    let r = Resolver::new(config);
    let e = r.lookup_ip("db").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    let msg = e.to_string();
    assert!(msg.contains("'db'") && msg.contains("'db.quiet.example'") && msg.contains("not asked"), "{msg}");
    // The server logs a name when it reads the query, which a slow server
    // may do only after the lookup gave up: wait for it (a late entry would
    // otherwise land in the next part's list).
    assert_eq!(server.wait_asked(1), ["db.quiet.example"]);

    // REFUSED: stops too.
    server.clear_asked();
    let r = resolver(&server, "search no.example ok.example\n");
    let e = r.lookup_ip("db").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Other);
    assert!(e.to_string().contains("Refused") && e.to_string().contains("'db'"), "{e}");
    assert_eq!(server.asked(), ["db.no.example"]);

    // SERVFAIL and then nothing anywhere: a server failure, not NotFound.
    server.clear_asked();
    let r = resolver(&server, "search sf.example none.example\n");
    let e = r.lookup_ip("db").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Other);
    assert!(e.to_string().contains("'db'") && e.to_string().contains("ServerFailure"), "{e}");
    assert_eq!(server.asked(), ["db.sf.example", "db.none.example", "db"]);
}

#[test]
fn other_greenlets_run_while_the_search_list_is_walked() {
    // The name that answers is held back until another greenlet lets it
    // go: the lookup can only finish if the hub runs that greenlet while
    // the resolver waits (a blocked hub would time out instead).
    let server = Arc::new(DnsServer::with_zone(&[("db.ok.example", Record::Gated("10.0.3.1".parse().unwrap()))]));
    let r = resolver(&server, "search a.example b.example ok.example\n");
    let log = guv_tests::Log::new();
    let (l2, s2) = (log.clone(), server.clone());
    let ticker = guv::spawn(move || {
        l2.push("ticker ran");
        s2.release_slow();
    });
    let got = r.lookup_ip("db").unwrap();
    log.push("answered");
    ticker.wait().unwrap();
    assert_eq!(got, ips(&["10.0.3.1"]));
    assert_eq!(log.take(), ["ticker ran", "answered"]);
    assert_eq!(server.asked(), ["db.a.example", "db.b.example", "db.ok.example"]);
}

#[test]
fn resolv_conf_search_domain_and_ndots_parsing() {
    let c = Config::from_resolv_conf("nameserver 10.0.0.53\n");
    assert!(c.search.is_empty());
    assert_eq!(c.ndots, 1);
    assert_eq!(Config::default().ndots, 1);
    assert_eq!(Config::from_resolv_conf(""), Config::default());

    // Lower-cased, trailing dot dropped, invalid entries skipped; comments cut.
    let c = Config::from_resolv_conf("search Corp.Example. bad..name . ok.example # lab.example\n");
    assert_eq!(c.search, ["corp.example", "ok.example"]);

    // domain: its first word only.
    assert_eq!(Config::from_resolv_conf("domain Home.Lan extra\n").search, ["home.lan"]);
    // Last line wins, both ways; an empty line of either kind is ignored.
    assert_eq!(Config::from_resolv_conf("search a b\ndomain c\n").search, ["c"]);
    assert_eq!(Config::from_resolv_conf("domain c\nsearch a b\n").search, ["a", "b"]);
    assert_eq!(Config::from_resolv_conf("search a b\nsearch d\n").search, ["d"]);
    assert_eq!(Config::from_resolv_conf("search a b\nsearch\ndomain\n").search, ["a", "b"]);

    // ndots: clamped to 0..=15, the last one counts, junk ignored.
    for (text, want) in [
        ("options ndots:0", 0),
        ("options ndots:3", 3),
        ("options ndots:15", 15),
        ("options ndots:16", 15),
        ("options ndots:400", 15),
        ("options ndots:-2", 0),
        ("options ndots:x", 1),
        ("options ndots:", 1),
        ("options ndots:4\noptions ndots:2", 2),
        ("options timeout:2 ndots:5 attempts:1", 5),
    ] {
        assert_eq!(Config::from_resolv_conf(text).ndots, want, "{text:?}");
    }
}

#[test]
fn query_names_lists_the_order() {
    let c = Config { search: vec!["a.example".into(), "B.Example.".into(), "".into()], ..Config::default() };
    assert_eq!(c.query_names("db").unwrap(), ["db.a.example", "db.b.example", "db"]);
    assert_eq!(c.query_names("db.eu").unwrap(), ["db.eu", "db.eu.a.example", "db.eu.b.example"]);
    assert_eq!(c.query_names("db.eu.").unwrap(), ["db.eu"]);
    let c3 = Config { ndots: 3, ..c.clone() };
    assert_eq!(c3.query_names("a.b.c").unwrap(), ["a.b.c.a.example", "a.b.c.b.example", "a.b.c"]);
    assert_eq!(c3.query_names("a.b.c.d").unwrap()[0], "a.b.c.d");
    // A suffix that would make the name too long is left out.
    let long = ["w", "x", "y", "z"].map(|c| c.repeat(60)).join(".");
    let c = Config { search: vec![long, "ok.example".into()], ..Config::default() };
    let host = "h".repeat(63);
    assert_eq!(c.query_names(&host).unwrap(), [format!("{host}.ok.example"), host.clone()]);
    assert_eq!(c.query_names("bad..name").unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

/// `Config::system` in a child process with glibc's environment overrides
/// set (setting them here would race with the other tests' lookups).
#[test]
fn localdomain_and_res_options_override_the_system_file() {
    if let Some(role) = std::env::var_os("GUV_TEST_DNS_ENV") {
        let c = Config::system();
        if role == "set" {
            assert_eq!(c.search, ["env.example", "two.example"]);
            assert_eq!((c.ndots, c.attempts, c.timeout), (4, 3, Duration::from_secs(2)));
        } else {
            assert!(c.search.is_empty(), "{:?}", c.search);
        }
        return;
    }
    let run = |role: &str, localdomain: &str, res_options: Option<&str>| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "localdomain_and_res_options_override_the_system_file", "--test-threads=1"])
            .env("GUV_TEST_DNS_ENV", role)
            .env("LOCALDOMAIN", localdomain);
        match res_options {
            Some(o) => cmd.env("RES_OPTIONS", o),
            None => cmd.env_remove("RES_OPTIONS"),
        };
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 passed"), "{stdout}");
    };
    run("set", " Env.Example.  two.example ", Some("ndots:4 attempts:3 timeout:2"));
    // Set but empty: no search list, whatever /etc/resolv.conf says.
    run("empty", "", None);
}
