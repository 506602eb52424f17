//! DNS queries over green sockets: A and AAAA over UDP, TCP when the UDP
//! answer is truncated. Messages are built and parsed with `simple-dns`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use simple_dns::rdata::{OPT, RData};
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};

use super::Config;
use crate::net::{TcpStream, UdpSocket};

/// The largest UDP answer accepted (EDNS is not used, so 512 is the most a
/// compliant server sends; leave room for ones that send more).
const UDP_BUF: usize = 4096;

/// Lower-cases `host`, drops one trailing dot and checks it is a valid
/// DNS name (labels of 1-63 bytes, 253 in all). All-digit labels are
/// fine, the last one too: a dotted string that is no IPv4 address
/// (`1.2.3.4.5`, `256.1.1.1`) is a name, as for glibc's getaddrinfo.
pub(super) fn normalize(host: &str) -> io::Result<String> {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let invalid =
        |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("guv::dns: invalid host name '{host}': {why}"));
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > 253 {
        return Err(invalid("longer than 253 bytes"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(invalid("each dot-separated label must be 1 to 63 bytes"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(invalid("only letters, digits, '-' and '_' are allowed"));
        }
    }
    Ok(name)
}

/// A fresh, unpredictable query id (std's per-process random hash keys
/// mixed with a counter).
fn query_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() as u16
}

/// One server's verdict on one name.
enum Answer {
    /// The addresses (possibly none) of one record type.
    Addrs(Vec<IpAddr>),
    /// NXDOMAIN.
    NoSuchName,
}

/// Why asking one server failed.
enum Failure {
    Timeout,
    /// The server answered SERVFAIL.
    ServFail,
    /// The server answered with another error code, or garbage.
    Server(String),
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut {
            Failure::Timeout
        } else {
            Failure::Io(e)
        }
    }
}

/// The UDP payload an EDNS0 query offers to take (glibc's
/// `RESOLV_EDNS_BUFFER_SIZE`); [`UDP_BUF`] holds it.
const EDNS_PAYLOAD: u16 = 1200;

/// A query for `name`'s `qtype` records; with `edns0`, carrying an OPT
/// record that offers [`EDNS_PAYLOAD`] bytes of UDP answer.
fn build(id: u16, name: &str, qtype: TYPE, edns0: bool) -> io::Result<Vec<u8>> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    if edns0 {
        *packet.opt_mut() = Some(OPT { opt_codes: Vec::new(), udp_packet_size: EDNS_PAYLOAD, version: 0 });
    }
    let qname = Name::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("guv::dns: {e}")))?;
    packet.questions.push(Question::new(qname, QTYPE::TYPE(qtype), QCLASS::CLASS(CLASS::IN), false));
    packet.build_bytes_vec().map_err(|e| io::Error::other(format!("guv::dns: cannot build a query: {e}")))
}

/// What a reply says, if it answers query `id` for `name`; `Ok(None)` if
/// it is not a reply to that query (ignored, as a stray datagram).
fn read_reply(bytes: &[u8], id: u16, name: &str, qtype: TYPE) -> Result<Option<(Answer, bool)>, Failure> {
    let Ok(packet) = Packet::parse(bytes) else {
        return Ok(None);
    };
    if packet.id() != id || !packet.has_flags(PacketFlag::RESPONSE) {
        return Ok(None);
    }
    let asked = packet.questions.first().map(|q| q.qname.to_string().to_ascii_lowercase());
    if asked.as_deref().map(|q| q.trim_end_matches('.')) != Some(name) {
        return Ok(None);
    }
    let truncated = packet.has_flags(PacketFlag::TRUNCATION);
    match packet.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Ok(Some((Answer::NoSuchName, truncated))),
        RCODE::ServerFailure => return Err(Failure::ServFail),
        other => return Err(Failure::Server(format!("the server answered {other:?}"))),
    }
    // Only records of the name asked, or of a name its CNAME chain in the
    // answer leads to, are its addresses (glibc skips the others: "asked
    // for X, got Y"). The chain is at most as long as the answer, so a
    // CNAME loop ends.
    let owner = |rr: &simple_dns::ResourceRecord<'_>| rr.name.to_string().trim_end_matches('.').to_ascii_lowercase();
    let mut chain = vec![name.to_owned()];
    for _ in 0..packet.answers.len() {
        let last = chain.last().expect("the chain starts with the name asked");
        let next = packet.answers.iter().find_map(|rr| match &rr.rdata {
            RData::CNAME(target) if owner(rr) == *last => {
                Some(target.0.to_string().trim_end_matches('.').to_ascii_lowercase())
            }
            _ => None,
        });
        match next {
            Some(target) if !chain.contains(&target) => chain.push(target),
            _ => break,
        }
    }
    let mut ips = Vec::new();
    for rr in packet.answers.iter().filter(|rr| chain.contains(&owner(rr))) {
        match (&rr.rdata, qtype) {
            (RData::A(a), TYPE::A) => ips.push(IpAddr::V4(Ipv4Addr::from(a.address))),
            (RData::AAAA(a), TYPE::AAAA) => ips.push(IpAddr::V6(Ipv6Addr::from(a.address))),
            _ => {}
        }
    }
    Ok(Some((Answer::Addrs(ips), truncated)))
}

/// Asks `server` for the A and AAAA records of `name` over UDP (both
/// queries at once, with an EDNS0 record if `edns0`), redoing a truncated
/// one over TCP.
fn ask(server: SocketAddr, name: &str, timeout: Duration, edns0: bool) -> Result<Answer, Failure> {
    // `None`: a timeout too large to represent (`Config::timeout` is
    // public, so `Duration::MAX` can get here) never expires.
    let deadline = Instant::now().checked_add(timeout);
    let local: SocketAddr =
        if server.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let sock = UdpSocket::bind(local)?;
    sock.connect(server)?;
    let mut pending: Vec<(u16, TYPE)> = vec![(query_id(), TYPE::A), (query_id(), TYPE::AAAA)];
    for (id, qtype) in &pending {
        sock.send(&build(*id, name, *qtype, edns0)?)?;
    }
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut buf = vec![0u8; UDP_BUF];
    while !pending.is_empty() {
        let left = time_left(deadline);
        if left.is_zero() {
            return Err(Failure::Timeout);
        }
        sock.set_read_timeout(Some(left))?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            // An ICMP "port unreachable" from a previous send.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(Failure::Server("nothing listens there (connection refused)".into()));
            }
            Err(e) => return Err(e.into()),
        };
        let mut matched = None;
        for (i, (id, qtype)) in pending.iter().enumerate() {
            if let Some(reply) = read_reply(&buf[..n], *id, name, *qtype)? {
                matched = Some((i, reply));
                break;
            }
        }
        let Some((i, (answer, truncated))) = matched else {
            continue;
        };
        let (id, qtype) = pending.remove(i);
        let answer = if truncated { ask_tcp(server, id, name, qtype, deadline)? } else { answer };
        match answer {
            Answer::NoSuchName => return Ok(Answer::NoSuchName),
            Answer::Addrs(ips) if qtype == TYPE::A => v4 = ips,
            Answer::Addrs(ips) => v6 = ips,
        }
    }
    v4.extend(v6);
    Ok(Answer::Addrs(v4))
}

/// The time until `deadline` (`None`: no deadline, all the time there is).
fn time_left(deadline: Option<Instant>) -> Duration {
    deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()))
}

/// One query over TCP (two-byte length prefix each way).
fn ask_tcp(server: SocketAddr, id: u16, name: &str, qtype: TYPE, deadline: Option<Instant>) -> Result<Answer, Failure> {
    let left = time_left(deadline);
    if left.is_zero() {
        return Err(Failure::Timeout);
    }
    let mut stream = TcpStream::connect_timeout(&server, left)?;
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))?;
    let query = build(id, name, qtype, false)?;
    let mut msg = (query.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(&query);
    stream.write_all(&msg)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply)?;
    match read_reply(&reply, id, name, qtype)? {
        Some((answer, _)) => Ok(answer),
        None => Err(Failure::Server("the TCP answer did not match the query".into())),
    }
}

/// How a name that gave no addresses failed, which decides whether the
/// search goes on to the next candidate name (see [`super::Resolver::lookup_ip`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MissKind {
    /// NXDOMAIN: go on.
    NoSuchName,
    /// The name exists but has no A or AAAA records: go on.
    NoData,
    /// Every try ended in SERVFAIL (or the last one did): go on, as glibc.
    ServFail,
    /// A timeout, a refusal, garbage or a socket error: stop the search.
    Fatal,
}

/// One name's failure: its kind, the error as a single lookup reports it,
/// and the part of the message after "failed to look up " (the name, the
/// server and why), for an error that sums up several names.
pub(super) struct Miss {
    pub(super) kind: MissKind,
    pub(super) error: io::Error,
    pub(super) detail: String,
}

/// Asks the configured servers in turn, starting with the one at `first`
/// (modulo their number; `options rotate` moves it on per query),
/// `attempts` rounds, until one gives an answer.
pub(super) fn resolve(config: &Config, name: &str, first: usize) -> Result<Vec<IpAddr>, Miss> {
    let mut last: Option<Miss> = None;
    let servers = &config.nameservers;
    for _ in 0..config.attempts.max(1) {
        for i in 0..servers.len() {
            let server = servers[(first.wrapping_add(i)) % servers.len()];
            let miss = |kind: MissKind, error_kind: io::ErrorKind, why: String| {
                let detail = format!("'{name}' at {server}: {why}");
                let error = io::Error::new(error_kind, format!("guv::dns: failed to look up {detail}"));
                Miss { kind, error, detail }
            };
            match ask(server, name, config.timeout, config.edns0) {
                Ok(Answer::Addrs(ips)) if !ips.is_empty() => return Ok(ips),
                Ok(Answer::Addrs(_)) => {
                    return Err(miss(
                        MissKind::NoData,
                        io::ErrorKind::NotFound,
                        "the name has no A or AAAA records".into(),
                    ));
                }
                Ok(Answer::NoSuchName) => {
                    return Err(miss(MissKind::NoSuchName, io::ErrorKind::NotFound, "no such host (NXDOMAIN)".into()));
                }
                Err(Failure::Timeout) => {
                    last = Some(miss(
                        MissKind::Fatal,
                        io::ErrorKind::TimedOut,
                        format!("no answer within {:?}", config.timeout),
                    ));
                }
                Err(Failure::ServFail) => {
                    last = Some(miss(
                        MissKind::ServFail,
                        io::ErrorKind::Other,
                        format!("the server answered {:?}", RCODE::ServerFailure),
                    ));
                }
                Err(Failure::Server(why)) => last = Some(miss(MissKind::Fatal, io::ErrorKind::Other, why)),
                Err(Failure::Io(e)) => last = Some(miss(MissKind::Fatal, e.kind(), e.to_string())),
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        let detail = format!("'{name}': no name servers configured");
        let error = io::Error::new(io::ErrorKind::NotFound, format!("guv::dns: failed to look up {detail}"));
        Miss { kind: MissKind::Fatal, error, detail }
    }))
}
