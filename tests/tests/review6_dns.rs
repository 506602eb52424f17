//! Review 6 of the green resolver: where it differed from glibc for the
//! same input (numeric hosts, answer records of other names, more than
//! three name servers).

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use guv::net::dns::{self, Config, Resolver};
use guv_tests::dns::{DnsServer, Record};

fn resolver(server: &DnsServer) -> Resolver {
    Resolver::new(Config {
        nameservers: vec![server.addr()],
        timeout: Duration::from_secs(10),
        attempts: 1,
        ..Config::default()
    })
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// getaddrinfo (and so std's `ToSocketAddrs`) reads a numeric host with
/// `inet_aton`: fewer than four parts, hex and octal parts. `127.1` is
/// 127.0.0.1, with no server asked, in both the resolver and the green
/// `ToSocketAddrs`.
#[test]
fn dns_numeric_hosts_are_read_as_inet_aton_does() {
    let server = DnsServer::with_zone(&[]);
    let r = resolver(&server);
    let cases = [
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("1.2.3", "1.2.0.3"),
        ("017.0.0.1", "15.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("4294967295", "255.255.255.255"),
        ("10.65535", "10.0.255.255"),
        ("00", "0.0.0.0"),
    ];
    for (host, want) in cases {
        let std_ips: Vec<IpAddr> =
            std::net::ToSocketAddrs::to_socket_addrs(&(host, 0)).unwrap().map(|a| a.ip()).collect();
        assert_eq!(std_ips, [ip(want)], "std's reading of {host}");
        assert_eq!(r.lookup_ip(host).unwrap(), [ip(want)], "{host}");
    }
    dns::set_thread_resolver(Some(r.clone()));
    let addrs: Vec<_> = guv::net::ToSocketAddrs::to_socket_addrs("127.1:80").unwrap().collect();
    assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
    assert_eq!(dns::lookup_host("0x7f.1").unwrap(), [ip("127.0.0.1")]);
    dns::set_thread_resolver(None);
    // Not numbers inet_aton takes: names, as for getaddrinfo (review 7),
    // asked for (this zone knows none of them), or invalid ones.
    let names = ["256.1.1.1", "1.2.3.4.5", "08.1", "0x.1", "1.2.65536", "1.2.3."];
    for host in names {
        assert_eq!(r.lookup_ip(host).unwrap_err().kind(), io::ErrorKind::NotFound, "{host}");
    }
    assert_eq!(r.lookup_ip("1..2").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    assert_eq!(server.asked(), ["256.1.1.1", "1.2.3.4.5", "08.1", "0x.1", "1.2.65536", "1.2.3"]);
}

/// An address record owned by a name the query did not ask for (nor reach
/// through a CNAME) is not the answer: glibc skips it ("asked for X, got
/// Y"); taking it would let a server (or a spoofer) slip in an address.
#[test]
fn dns_address_records_of_another_name_are_ignored() {
    let server = DnsServer::with_zone(&[
        ("spoof.test", Record::Foreign(ip("10.9.9.9"))),
        ("alias.test", Record::Cname("mid.test")),
        ("mid.test", Record::Cname("real.test")),
        ("real.test", Record::Addr(ip("10.1.1.1"))),
    ]);
    let r = resolver(&server);
    let e = r.lookup_ip("spoof.test").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    // A CNAME chain in the answer is followed.
    assert_eq!(r.lookup_ip("alias.test").unwrap(), [ip("10.1.1.1")]);
}

/// A CNAME loop in an answer ends the lookup as "no addresses", not a hang.
#[test]
fn dns_a_cname_loop_is_no_data() {
    let server = DnsServer::with_zone(&[
        ("loop1.test", Record::Cname("loop2.test")),
        ("loop2.test", Record::Cname("loop1.test")),
    ]);
    let e = resolver(&server).lookup_ip("loop1.test").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
}

/// glibc uses the first three `nameserver` lines (MAXNS) and ignores the
/// rest.
#[test]
fn dns_resolv_conf_keeps_three_nameservers() {
    let c = Config::from_resolv_conf(
        "nameserver 127.0.0.1\nnameserver 127.0.0.2\nnameserver 127.0.0.3\nnameserver 127.0.0.4\n",
    );
    let want: Vec<std::net::SocketAddr> =
        ["127.0.0.1:53", "127.0.0.2:53", "127.0.0.3:53"].iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(c.nameservers, want);
}

/// A hosts file rewritten in place with the same length, within one tick
/// of the file system's coarse clock, keeps its inode, size and mtime;
/// glibc reads the file on every lookup, so the new address must show.
/// The test sets the old mtime back to stand for the coarse clock.
#[test]
fn dns_hosts_rewritten_in_place_with_the_same_size_and_mtime_is_reread() {
    let dir = guv_tests::fs::TempDir::new("dnsrev", "hosts");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "10.0.0.1 same.test\n").unwrap();
    let server = DnsServer::with_zone(&[]);
    let r = Resolver::new(Config { hosts_file: Some(hosts.clone()), ..resolver(&server).config().clone() });
    assert_eq!(r.lookup_ip("same.test").unwrap(), [ip("10.0.0.1")]);
    let mtime = std::fs::metadata(&hosts).unwrap().modified().unwrap();
    let f = std::fs::OpenOptions::new().write(true).truncate(true).open(&hosts).unwrap();
    std::io::Write::write_all(&mut &f, b"10.0.0.2 same.test\n").unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    assert_eq!(r.lookup_ip("same.test").unwrap(), [ip("10.0.0.2")]);
    assert!(server.asked().is_empty());
}

/// This process's UDP sockets connected to `port` on 127.0.0.1, by inode
/// (from `/proc`): the sockets of lookups asking the server there.
fn udp_sockets_to(port: u16) -> usize {
    let ours: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|t| Some(t.to_string_lossy().strip_prefix("socket:[")?.strip_suffix(']')?.to_owned()))
        .collect();
    let text = std::fs::read_to_string("/proc/self/net/udp").unwrap_or_default();
    // The table is read in pieces while other tests add and remove
    // sockets, so one socket may be listed twice: count inodes once.
    let found: std::collections::HashSet<&str> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let remote = f.get(2).and_then(|a| a.rsplit(':').next()).and_then(|p| u16::from_str_radix(p, 16).ok());
            (f.len() > 9 && remote == Some(port) && ours.contains(f[9])).then_some(f[9])
        })
        .collect();
    found.len()
}

/// A greenlet killed while its lookup waits for the answer closes its
/// socket, leaves nothing on the hub, and the next lookup works.
#[test]
fn dns_a_killed_lookup_leaks_nothing() {
    let server = DnsServer::with_zone(&[
        ("gated.test", Record::Gated(ip("10.0.0.5"))),
        ("quick.test", Record::Addr(ip("10.0.0.6"))),
    ]);
    let port = server.addr().port();
    let r = resolver(&server);
    let r2 = r.clone();
    let gt = guv::spawn(move || r2.lookup_ip("gated.test"));
    guv::gyield(); // the lookup sends its queries and parks
    assert_eq!(server.wait_asked(1), ["gated.test"]);
    assert_eq!(udp_sockets_to(port), 1);
    gt.kill();
    assert!(gt.wait().is_err_and(|e| e.is_killed()));
    assert_eq!(udp_sockets_to(port), 0, "the killed lookup's socket is closed");
    assert_eq!(guv::hub::stats().io_waiters, 0);
    server.release_slow();
    assert_eq!(r.lookup_ip("quick.test").unwrap(), [ip("10.0.0.6")]);
}

/// Many lookups at once, each on its own socket and ids, each get their
/// own name's answer.
#[test]
fn dns_many_concurrent_lookups_get_their_own_answers() {
    let names: Vec<(String, IpAddr)> =
        (0..64u8).map(|i| (format!("host{i}.test"), IpAddr::from([10, 0, 1, i]))).collect();
    let zone: Vec<(&str, Record)> = names.iter().map(|(n, a)| (n.as_str(), Record::Addr(*a))).collect();
    let server = DnsServer::with_zone(&zone);
    let r = resolver(&server);
    let gts: Vec<_> = names
        .iter()
        .map(|(n, _)| {
            let (r, n) = (r.clone(), n.clone());
            guv::spawn(move || r.lookup_ip(&n))
        })
        .collect();
    for (gt, (n, a)) in gts.into_iter().zip(&names) {
        assert_eq!(gt.wait().unwrap().unwrap(), [*a], "{n}");
    }
}

/// glibc reads the hosts file as bytes: a comment in Latin-1 (not UTF-8)
/// must not hide the file's entries.
#[test]
fn dns_a_hosts_file_that_is_not_utf8_still_answers() {
    let dir = guv_tests::fs::TempDir::new("dnsrev", "latin1");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, b"# caf\xe9 printer\n10.0.0.7 latin.test\n10.0.0.8 gr\xfc\xdfe.test other.test\n").unwrap();
    let server = DnsServer::with_zone(&[]);
    let r = Resolver::new(Config { hosts_file: Some(hosts), ..resolver(&server).config().clone() });
    assert_eq!(r.lookup_ip("latin.test").unwrap(), [ip("10.0.0.7")]);
    assert_eq!(r.lookup_ip("other.test").unwrap(), [ip("10.0.0.8")]);
    assert!(server.asked().is_empty());
}

/// Replies that do not answer the query sent (another id, another
/// question, not a response) are ignored, and the real answer that
/// follows them is taken.
#[test]
fn dns_forged_replies_are_ignored() {
    let server = DnsServer::with_zone(&[("target.test", Record::Spoofed(ip("10.0.0.9")))]);
    assert_eq!(resolver(&server).lookup_ip("target.test").unwrap(), [ip("10.0.0.9")]);
}

/// A truncated UDP answer whose TCP retry is cut short ends in a clear
/// error naming the host and server (no hang, no garbage taken).
#[test]
fn dns_a_tcp_answer_cut_short_is_a_clear_error() {
    let server = DnsServer::with_zone(&[("cut.test", Record::TcpCut)]);
    let e = resolver(&server).lookup_ip("cut.test").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    let text = e.to_string();
    assert!(text.contains("cut.test") && text.contains(&server.addr().to_string()), "{text}");
    assert!(server.tcp_queries.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

/// A hosts file that disappears stops answering (the servers are asked),
/// and answers again once it is back.
#[test]
fn dns_a_hosts_file_that_disappears_and_comes_back() {
    let dir = guv_tests::fs::TempDir::new("dnsrev", "gone");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "10.0.0.3 gone.test\n").unwrap();
    let server = DnsServer::with_zone(&[]);
    let r = Resolver::new(Config { hosts_file: Some(hosts.clone()), ..resolver(&server).config().clone() });
    assert_eq!(r.lookup_ip("gone.test").unwrap(), [ip("10.0.0.3")]);
    std::fs::remove_file(&hosts).unwrap();
    assert_eq!(r.lookup_ip("gone.test").unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(server.asked(), ["gone.test"]);
    std::fs::write(&hosts, "10.0.0.4 gone.test\n").unwrap();
    assert_eq!(r.lookup_ip("gone.test").unwrap(), [ip("10.0.0.4")]);
}
