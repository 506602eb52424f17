//! A scripted DNS server on 127.0.0.1 (UDP and TCP on one port) for the
//! resolver tests: no test ever asks a real name server.
//!
//! Names and what the server does with them:
//! - `slow.test`: waits until [`DnsServer::release_slow`] is called (or 10 s),
//!   then answers `10.0.0.1`;
//! - `missing.test`: NXDOMAIN;
//! - `big.test`: over UDP, an empty truncated reply; over TCP, `10.0.0.2`
//!   and `::2`;
//! - `many.test`: forty addresses, `10.1.0.1` to `10.1.0.40` (about 700
//!   bytes): over UDP only to a query whose EDNS0 record offers room for
//!   them, else an empty truncated reply;
//! - `silent.test`: never answers;
//! - `v6.test`: only `::6`;
//! - `empty.test`: no error, no records;
//! - `broken.test`: SERVFAIL;
//! - anything else: `127.0.0.1`.
//!
//! [`DnsServer::with_zone`] starts one that knows only the names it is
//! given (see [`Record`]) and answers NXDOMAIN for every other name.
//! Either kind logs the name of every A query it receives
//! ([`DnsServer::asked`]).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use simple_dns::rdata::{A, AAAA, CNAME, RData};
use simple_dns::{CLASS, Name, Packet, PacketFlag, RCODE, ResourceRecord};

/// What a zone server ([`DnsServer::with_zone`]) does with one name.
#[derive(Clone, Copy, Debug)]
pub enum Record {
    /// Answers with this address (A or AAAA, by its family; the other
    /// query gets an empty answer).
    Addr(IpAddr),
    /// Answers SERVFAIL.
    ServFail,
    /// Answers REFUSED.
    Refused,
    /// Never answers.
    Silent,
    /// Answers like [`Record::Addr`], but only once
    /// [`DnsServer::release_slow`] has been called (or after 10 s).
    Gated(IpAddr),
    /// Answers with a CNAME to this name, followed by what the zone holds
    /// for it (further CNAMEs, at most 8 in all, or its address), as a
    /// recursive server does.
    Cname(&'static str),
    /// Answers with this address, but owned by `elsewhere.test` instead of
    /// the name asked (a record a resolver must not take for the answer).
    Foreign(IpAddr),
    /// Answers like [`Record::Addr`] over UDP, but first sends forged
    /// replies carrying `10.6.6.6` / `::666`: one with another id, one
    /// with the right id but the question `evil.test`, and one that is
    /// not marked as a response.
    Spoofed(IpAddr),
    /// Over UDP, an empty truncated reply; over TCP, a length prefix and
    /// part of the message, then the connection is closed.
    TcpCut,
}

/// The names a server knows and what it does with them; `None`: the
/// scripted names of the module docs.
type Zone = Option<Arc<HashMap<String, Record>>>;

/// The running server; stops when dropped.
pub struct DnsServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    slow_gate: Arc<(Mutex<bool>, Condvar)>,
    /// UDP queries received, by the server thread.
    pub udp_queries: Arc<AtomicUsize>,
    /// TCP queries received.
    pub tcp_queries: Arc<AtomicUsize>,
    /// TCP connections the server has handled and closed (each query is a
    /// connection of its own; see [`DnsServer::wait_tcp_closed`]).
    pub tcp_closed: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl DnsServer {
    /// Starts the server on a free port of 127.0.0.1.
    pub fn start() -> DnsServer {
        DnsServer::start_zone(None)
    }

    /// Starts a server that knows only `zone`'s names (lower-case, no
    /// trailing dot) and answers NXDOMAIN for any other.
    pub fn with_zone(zone: &[(&str, Record)]) -> DnsServer {
        let zone = zone.iter().map(|(name, record)| (name.to_string(), *record)).collect();
        DnsServer::start_zone(Some(Arc::new(zone)))
    }

    fn start_zone(zone: Zone) -> DnsServer {
        // A free UDP port may be taken for TCP: try until both bind.
        let (udp, tcp, addr) = (0..100)
            .find_map(|_| {
                let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
                let addr = udp.local_addr().ok()?;
                let tcp = TcpListener::bind(addr).ok()?;
                Some((udp, tcp, addr))
            })
            .expect("no port free for both UDP and TCP");
        udp.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let slow_gate = Arc::new((Mutex::new(false), Condvar::new()));
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_closed = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        {
            let (stop, gate, count) = (stop.clone(), slow_gate.clone(), udp_queries.clone());
            let (zone, log) = (zone.clone(), log.clone());
            threads.push(thread::spawn(move || {
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = udp.recv_from(&mut buf) else { continue };
                    count.fetch_add(1, Ordering::Relaxed);
                    for forged in forgeries(&buf[..n], &zone) {
                        let _ = udp.send_to(&forged, from);
                    }
                    if let Some(reply) = answer(&buf[..n], false, &gate, &zone, &log) {
                        let _ = udp.send_to(&reply, from);
                    }
                }
            }));
        }
        {
            let (stop, gate, count) = (stop.clone(), slow_gate.clone(), tcp_queries.clone());
            let (zone, log, closed) = (zone.clone(), log.clone(), tcp_closed.clone());
            threads.push(thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((mut s, _)) = tcp.accept() else {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    s.set_nonblocking(false).unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                    let mut serve = || {
                        let mut len = [0u8; 2];
                        s.read_exact(&mut len).ok()?;
                        let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        s.read_exact(&mut q).ok()?;
                        let reply = answer(&q, true, &gate, &zone, &log)?;
                        if reply.is_empty() {
                            // Record::TcpCut: 256 bytes promised, 10 sent.
                            return s.write_all(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).ok();
                        }
                        let mut msg = (reply.len() as u16).to_be_bytes().to_vec();
                        msg.extend_from_slice(&reply);
                        s.write_all(&msg).ok()
                    };
                    serve();
                    drop(s);
                    closed.fetch_add(1, Ordering::Release);
                }
            }));
        }
        DnsServer { addr, log, stop, slow_gate, udp_queries, tcp_queries, tcp_closed, threads }
    }

    /// The names asked so far, in the order the queries arrived, without
    /// a trailing dot, from the A queries only, and a repeat of the
    /// previous name dropped (a retry). The resolver sends a name's A query
    /// before its AAAA one and both to the same thread here, so when a
    /// lookup returns, every name it asked is in the list; the AAAA query
    /// of the last name may still be on its way, which is why it is not
    /// counted.
    pub fn asked(&self) -> Vec<String> {
        let mut names: Vec<String> = self.log.lock().unwrap().clone();
        names.dedup();
        names
    }

    /// Waits until [`DnsServer::asked`] holds at least `n` names (for at
    /// most 10 s), and returns it. A lookup that gave up on a server that
    /// never answers may return before the server has even read its query,
    /// so its name may not be in `asked` yet.
    pub fn wait_asked(&self, n: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let names = self.asked();
            if names.len() >= n || std::time::Instant::now() >= deadline {
                return names;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits until the server has closed every TCP connection it accepted
    /// (for at most 10 s). Its end of a connection may still be open for a
    /// moment after the client read the answer: a test that counts the
    /// process's open files waits for this first.
    pub fn wait_tcp_closed(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.tcp_closed.load(Ordering::Acquire) < self.tcp_queries.load(Ordering::Relaxed)
            && std::time::Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Forgets the names asked so far.
    pub fn clear_asked(&self) {
        self.log.lock().unwrap().clear();
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Lets the answers to `slow.test` go out.
    pub fn release_slow(&self) {
        let (lock, cond) = &*self.slow_gate;
        *lock.lock().unwrap() = true;
        cond.notify_all();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.release_slow();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Waits until [`DnsServer::release_slow`] is called, or 10 s.
fn wait_for_release(gate: &(Mutex<bool>, Condvar)) {
    let (lock, cond) = gate;
    let released = lock.lock().unwrap();
    let _unused = cond.wait_timeout_while(released, Duration::from_secs(10), |r| !*r).unwrap();
}

/// The forged replies sent before the answer to a query for a
/// [`Record::Spoofed`] name.
fn forgeries(query: &[u8], zone: &Zone) -> Vec<Vec<u8>> {
    let Some(q) = Packet::parse(query).ok() else { return Vec::new() };
    let Some(question) = q.questions.first().cloned() else { return Vec::new() };
    let name = question.qname.to_string().trim_end_matches('.').to_ascii_lowercase();
    if !matches!(zone.as_ref().and_then(|z| z.get(&name)), Some(Record::Spoofed(_))) {
        return Vec::new();
    }
    let is_a = format!("{:?}", question.qtype).contains("TYPE(A)");
    let forge = |id: u16, qname: Name<'static>, response: bool| {
        let mut p = if response { Packet::new_reply(id) } else { Packet::new_query(id) };
        p.questions.push(simple_dns::Question::new(qname.clone(), question.qtype, question.qclass, false));
        let rdata = if is_a {
            RData::A(A { address: u32::from(Ipv4Addr::new(10, 6, 6, 6)) })
        } else {
            RData::AAAA(AAAA { address: u128::from(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0x666)) })
        };
        p.answers.push(ResourceRecord::new(qname, CLASS::IN, 60, rdata));
        p.build_bytes_vec().unwrap()
    };
    let own = question.qname.clone().into_owned();
    vec![
        forge(q.id().wrapping_add(1), own.clone(), true),
        forge(q.id(), Name::new_unchecked("evil.test").into_owned(), true),
        forge(q.id(), own, false),
    ]
}

/// The scripted reply to one query, if any.
fn answer(
    query: &[u8],
    tcp: bool,
    gate: &(Mutex<bool>, Condvar),
    zone: &Zone,
    log: &Mutex<Vec<String>>,
) -> Option<Vec<u8>> {
    let q = Packet::parse(query).ok()?;
    let question = q.questions.first()?.clone();
    let name = question.qname.to_string();

    let mut reply = Packet::new_reply(q.id());
    reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
    reply.questions.push(question.clone());
    let qtype = format!("{:?}", question.qtype);
    let is_a = qtype.contains("TYPE(A)");
    if is_a {
        log.lock().unwrap().push(name.trim_end_matches('.').to_ascii_lowercase());
    }
    let rr = |rdata| ResourceRecord::new(question.qname.clone(), CLASS::IN, 60, rdata);
    let rr_of = |owner: &str, rdata| ResourceRecord::new(Name::new_unchecked(owner).into_owned(), CLASS::IN, 60, rdata);
    let a = |ip: Ipv4Addr| rr(RData::A(A { address: u32::from(ip) }));
    let aaaa = |ip: Ipv6Addr| rr(RData::AAAA(AAAA { address: u128::from(ip) }));
    if let Some(zone) = zone {
        let mut record = zone.get(&name.trim_end_matches('.').to_ascii_lowercase()).copied();
        if let Some(Record::Gated(ip)) = record {
            wait_for_release(gate);
            record = Some(Record::Addr(ip));
        }
        match record {
            None => *reply.rcode_mut() = RCODE::NameError,
            Some(Record::ServFail) => *reply.rcode_mut() = RCODE::ServerFailure,
            Some(Record::Refused) => *reply.rcode_mut() = RCODE::Refused,
            Some(Record::Silent) => return None,
            Some(Record::TcpCut) if !tcp => reply.set_flags(PacketFlag::TRUNCATION),
            // Empty: the TCP thread's cue to cut the answer short.
            Some(Record::TcpCut) => return Some(Vec::new()),
            Some(Record::Addr(IpAddr::V4(ip)) | Record::Spoofed(IpAddr::V4(ip))) if is_a => reply.answers.push(a(ip)),
            Some(Record::Addr(IpAddr::V6(ip)) | Record::Spoofed(IpAddr::V6(ip))) if !is_a => {
                reply.answers.push(aaaa(ip))
            }
            Some(Record::Addr(_) | Record::Gated(_) | Record::Spoofed(_)) => {}
            Some(Record::Cname(target)) => {
                let (mut owner, mut target) = (name.trim_end_matches('.').to_string(), target);
                for _ in 0..8 {
                    let cname = RData::CNAME(CNAME(Name::new_unchecked(target)));
                    reply.answers.push(rr_of(&owner, cname));
                    match zone.get(target).copied() {
                        Some(Record::Cname(next)) => (owner, target) = (target.to_string(), next),
                        Some(Record::Addr(IpAddr::V4(ip)) | Record::Spoofed(IpAddr::V4(ip))) if is_a => {
                            reply.answers.push(rr_of(target, RData::A(A { address: u32::from(ip) })));
                            break;
                        }
                        Some(Record::Addr(IpAddr::V6(ip)) | Record::Spoofed(IpAddr::V6(ip))) if !is_a => {
                            reply.answers.push(rr_of(target, RData::AAAA(AAAA { address: u128::from(ip) })));
                            break;
                        }
                        _ => break,
                    }
                }
            }
            Some(Record::Foreign(IpAddr::V4(ip))) if is_a => {
                reply.answers.push(rr_of("elsewhere.test", RData::A(A { address: u32::from(ip) })));
            }
            Some(Record::Foreign(IpAddr::V6(ip))) if !is_a => {
                reply.answers.push(rr_of("elsewhere.test", RData::AAAA(AAAA { address: u128::from(ip) })));
            }
            Some(Record::Foreign(_)) => {}
        }
        return reply.build_bytes_vec().ok();
    }
    match name.trim_end_matches('.') {
        "slow.test" => {
            wait_for_release(gate);
            if is_a {
                reply.answers.push(a(Ipv4Addr::new(10, 0, 0, 1)));
            }
        }
        "missing.test" => *reply.rcode_mut() = RCODE::NameError,
        "broken.test" => *reply.rcode_mut() = RCODE::ServerFailure,
        "silent.test" => return None,
        "empty.test" => {}
        "v6.test" => {
            if !is_a {
                reply.answers.push(aaaa(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 6)));
            }
        }
        "many.test" if is_a => {
            // 40 addresses: ~700 bytes, more than a UDP answer may carry
            // unless the query offers more (EDNS0).
            for i in 1..=40 {
                reply.answers.push(a(Ipv4Addr::new(10, 1, 0, i)));
            }
            let room = q.opt().map_or(512, |opt| usize::from(opt.udp_packet_size));
            if !tcp && reply.build_bytes_vec().ok()?.len() > room {
                reply.answers.clear();
                reply.set_flags(PacketFlag::TRUNCATION);
            }
        }
        "big.test" if !tcp => reply.set_flags(PacketFlag::TRUNCATION),
        "big.test" => {
            if is_a {
                reply.answers.push(a(Ipv4Addr::new(10, 0, 0, 2)));
            } else {
                reply.answers.push(aaaa(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 2)));
            }
        }
        _ => {
            if is_a {
                reply.answers.push(a(Ipv4Addr::LOCALHOST));
            }
        }
    }
    reply.build_bytes_vec().ok()
}
