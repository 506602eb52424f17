//! The green resolver against a scripted server on 127.0.0.1.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use guv::net::ToSocketAddrs;
use guv::net::dns::{self, Config, Resolver};
use guv_tests::Log;
use guv_tests::dns::DnsServer;

fn resolver(server: &DnsServer, hosts: Option<std::path::PathBuf>) -> Resolver {
    Resolver::new(Config {
        nameservers: vec![server.addr()],
        timeout: Duration::from_secs(5),
        attempts: 1,
        hosts_file: hosts,
        ..Config::default()
    })
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn other_greenlets_run_during_a_slow_lookup() {
    let server = std::sync::Arc::new(DnsServer::start());
    let r = resolver(&server, None);
    let log = Log::new();
    let (l2, s2) = (log.clone(), server.clone());
    guv::spawn_n(move || {
        // Wait (green) until the query is in, then release the answer.
        while s2.udp_queries.load(Ordering::Relaxed) == 0 {
            guv::sleep(Duration::from_millis(1));
        }
        l2.push("released");
        s2.release_slow();
    });
    let got = r.lookup_ip("slow.test").unwrap();
    log.push("answered");
    assert_eq!(got, ips(&["10.0.0.1"]));
    assert_eq!(log.take(), ["released", "answered"]);
}

#[test]
fn nxdomain_timeout_servfail_and_empty_are_clear_errors() {
    let server = DnsServer::start();
    let r = resolver(&server, None);
    let e = r.lookup_ip("missing.test").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(e.to_string().contains("NXDOMAIN") && e.to_string().contains("missing.test"), "{e}");
    let e = r.lookup_ip("empty.test").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let e = r.lookup_ip("broken.test").unwrap_err();
    assert!(e.to_string().contains("ServerFailure"), "{e}");
    let quick = Resolver::new(Config {
        nameservers: vec![server.addr()],
        timeout: Duration::from_millis(100),
        attempts: 2,
        ..Config::default()
    });
    let e = quick.lookup_ip("silent.test").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(e.to_string().contains("silent.test") && e.to_string().contains(&server.addr().to_string()), "{e}");
    for bad in ["", "a..b", "under score.test", &"x".repeat(64)] {
        assert_eq!(r.lookup_ip(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad:?}");
    }
}

#[test]
fn truncated_udp_answers_are_retried_over_tcp() {
    let server = DnsServer::start();
    let r = resolver(&server, None);
    assert_eq!(r.lookup_ip("big.test").unwrap(), ips(&["10.0.0.2", "::2"]));
    assert_eq!(server.tcp_queries.load(Ordering::Relaxed), 2);
    assert_eq!(r.lookup_ip("v6.test").unwrap(), ips(&["::6"]));
}

#[test]
fn hosts_file_first_and_reread_when_it_changes() {
    let server = DnsServer::start();
    let dir = std::env::temp_dir().join(format!("guv-hosts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "# test hosts\n10.9.9.9 pinned.test alias.test\n::9 pinned.test\n").unwrap();
    let r = resolver(&server, Some(hosts.clone()));
    assert_eq!(r.lookup_ip("Pinned.Test.").unwrap(), ips(&["10.9.9.9", "::9"]));
    assert_eq!(r.lookup_ip("alias.test").unwrap(), ips(&["10.9.9.9"]));
    assert_eq!(server.udp_queries.load(Ordering::Relaxed), 0);
    // A longer file is a different file: re-read.
    std::fs::write(&hosts, "10.8.8.8 pinned.test\n10.7.7.7 added.test\n").unwrap();
    assert_eq!(r.lookup_ip("pinned.test").unwrap(), ips(&["10.8.8.8"]));
    assert_eq!(r.lookup_ip("added.test").unwrap(), ips(&["10.7.7.7"]));
    // Not in the file: asks the server.
    assert_eq!(r.lookup_ip("other.test").unwrap(), ips(&["127.0.0.1"]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn to_socket_addrs_and_connect_by_name_use_the_thread_resolver() {
    let server = DnsServer::start();
    dns::set_thread_resolver(Some(resolver(&server, None)));
    let addrs: Vec<_> = ("app.test", 8080).to_socket_addrs().unwrap().collect();
    assert_eq!(addrs, ["127.0.0.1:8080".parse().unwrap()]);
    let l = guv::listen("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let peer = guv::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.write_all(b"by name").unwrap();
    });
    let mut s = guv::connect(format!("app.test:{port}")).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "by name");
    peer.wait().unwrap();
    let e = guv::connect(("missing.test", 80)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    dns::set_thread_resolver(None);
}

#[test]
fn resolv_conf_parsing() {
    let c = Config::from_resolv_conf(
        "search example.com\nnameserver 10.0.0.53 # main\nnameserver bogus\noptions ndots:2 timeout:3\n",
    );
    assert_eq!(c.nameservers, ["10.0.0.53:53".parse().unwrap()]);
    assert_eq!(c.timeout, Duration::from_secs(3));
    assert_eq!(c.attempts, 2);
    let empty = Config::from_resolv_conf("");
    assert_eq!(empty.nameservers, ["127.0.0.1:53".parse().unwrap()]);
}

/// Runs the system-resolver path in a child process with GUV_NO_GREENDNS
/// set (the variable is read per lookup, and setting it here would race
/// with the other tests).
#[test]
fn no_greendns_uses_the_system_resolver_on_the_pool() {
    if std::env::var_os("GUV_NO_GREENDNS").is_some() {
        // The child: "localhost" comes from the system's hosts file.
        let before = guv::tpool::threads();
        let got = dns::lookup_host("localhost").unwrap();
        assert!(got.contains(&"127.0.0.1".parse().unwrap()) || got.contains(&"::1".parse().unwrap()), "{got:?}");
        assert!(guv::tpool::threads() >= before.max(1));
        let e = dns::lookup_host("bad..name").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no_greendns_uses_the_system_resolver_on_the_pool", "--test-threads=1"])
        .env("GUV_NO_GREENDNS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn a_scoped_ipv6_literal_converts_as_std_does() {
    // `fe80::1%lo` is an address with an interface (std hands it to
    // getaddrinfo, which reads it without asking any server). The thread's
    // resolver is the scripted one, so nothing leaves 127.0.0.1 either way.
    let server = DnsServer::start();
    dns::set_thread_resolver(Some(resolver(&server, None)));
    for host in ["fe80::1%lo", "fe80::1%1"] {
        let green: Vec<_> = (host, 8080).to_socket_addrs().unwrap().collect();
        let std: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(&(host, 8080)).unwrap().collect();
        assert_eq!(green, std, "{host}");
        let std::net::SocketAddr::V6(v6) = green[0] else { panic!("{host}: not IPv6") };
        assert_ne!(v6.scope_id(), 0, "{host}: the interface was lost");
    }
    // An interface that does not exist is a clear error, not a DNS query.
    let e = ("fe80::1%no-such-if0", 80).to_socket_addrs().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("no-such-if0"), "{e}");
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 0, "a scoped literal was sent to the DNS server");
    dns::set_thread_resolver(None);
}

#[test]
fn options_rotate_spreads_queries_over_the_servers() {
    // glibc's `options rotate`: each query starts at the next server in
    // the list; without it every query asks the first one first.
    assert!(Config::from_resolv_conf("options rotate\n").rotate);
    assert!(!Config::from_resolv_conf("options ndots:2\n").rotate);
    let (a, b) = (DnsServer::start(), DnsServer::start());
    for rotate in [false, true] {
        let (before_a, before_b) = (a.udp_queries.load(Ordering::SeqCst), b.udp_queries.load(Ordering::SeqCst));
        let r = Resolver::new(Config {
            nameservers: vec![a.addr(), b.addr()],
            timeout: Duration::from_secs(5),
            attempts: 1,
            rotate,
            ..Config::default()
        });
        for _ in 0..4 {
            assert_eq!(r.lookup_ip("app.test").unwrap(), ips(&["127.0.0.1"]));
        }
        let asked_a = a.udp_queries.load(Ordering::SeqCst) - before_a;
        let asked_b = b.udp_queries.load(Ordering::SeqCst) - before_b;
        if rotate {
            assert_eq!(asked_a, asked_b, "rotate: the servers were not asked in turn");
            assert!(asked_a > 0);
        } else {
            assert_eq!(asked_b, 0, "without rotate the second server was asked");
            assert!(asked_a > 0);
        }
    }
}

#[test]
fn options_edns0_takes_a_large_answer_over_udp() {
    // An answer over 512 bytes comes back truncated over plain UDP and is
    // asked again over TCP; with `options edns0` the query offers room for
    // it, and it comes over UDP.
    assert!(Config::from_resolv_conf("options edns0\n").edns0);
    assert!(!Config::from_resolv_conf("").edns0);
    let server = DnsServer::start();
    let many: Vec<IpAddr> = (1..=40).map(|i| IpAddr::from([10, 1, 0, i])).collect();
    for edns0 in [false, true] {
        let tcp_before = server.tcp_queries.load(Ordering::SeqCst);
        let r = Resolver::new(Config {
            nameservers: vec![server.addr()],
            timeout: Duration::from_secs(5),
            attempts: 1,
            edns0,
            ..Config::default()
        });
        assert_eq!(r.lookup_ip("many.test").unwrap(), many, "edns0: {edns0}");
        let over_tcp = server.tcp_queries.load(Ordering::SeqCst) - tcp_before;
        if edns0 {
            assert_eq!(over_tcp, 0, "with edns0 the answer was still asked for over TCP");
        } else {
            assert!(over_tcp > 0, "a truncated answer was not asked for over TCP");
        }
    }
}
