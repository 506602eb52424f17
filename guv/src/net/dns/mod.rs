//! Name resolution that never blocks the hub.
//!
//! [`lookup_host`] is what the green [`ToSocketAddrs`](super::ToSocketAddrs)
//! calls for host names. By default it uses the green [`Resolver`]:
//!
//! 1. the hosts file (`/etc/hosts`), re-read whenever its size, inode or
//!    modification time changes, for the name as given;
//! 2. otherwise the name servers of `/etc/resolv.conf` (`nameserver`,
//!    `options timeout:N attempts:N rotate edns0`), asked for A and AAAA records over
//!    green UDP, retried over green TCP when an answer comes back truncated.
//!
//! Short names go through resolv.conf's search list (`search` or `domain`)
//! and `options ndots:N` as with glibc's resolver: with `search corp.example`,
//! `db` is asked as `db.corp.example` first, then as `db`; a name with at
//! least `ndots` dots is asked as given first; a name ending in `.` is
//! never extended. [`Config::query_names`] gives the order, and
//! [`Resolver::lookup_ip`] says which failures move on to the next name.
//!
//! Only the calling greenlet waits for the answer. With the environment
//! variable `GUV_NO_GREENDNS` set (to anything), the system resolver
//! (`getaddrinfo`, through std) runs on [`crate::tpool`] instead, for
//! setups the green resolver does not cover (NSS modules, mDNS).
//!
//! A thread can install its own resolver with [`set_thread_resolver`], for
//! example to ask a particular server with a search list:
//!
//! ```
//! use guv::net::dns::{Config, Resolver};
//! use std::time::Duration;
//!
//! let dir = std::env::temp_dir().join(format!("guv-dns-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let hosts = dir.join("hosts");
//! std::fs::write(&hosts, "10.1.2.3 db.internal db\n").unwrap();
//!
//! let mut config = Config::from_resolv_conf("search internal example.com\noptions ndots:2 timeout:1\n");
//! config.nameservers = vec!["127.0.0.1:1".parse().unwrap()];
//! config.hosts_file = Some(hosts);
//! // One dot is fewer than ndots:2, so the suffixes come first.
//! assert_eq!(config.query_names("db.eu").unwrap(), ["db.eu.internal", "db.eu.example.com", "db.eu"]);
//!
//! guv::net::dns::set_thread_resolver(Some(Resolver::new(config)));
//! // The hosts file answers for the name as given; no server is asked.
//! let ips = guv::net::dns::lookup_host("DB").unwrap();
//! assert_eq!(ips, ["10.1.2.3".parse::<std::net::IpAddr>().unwrap()]);
//! guv::net::dns::set_thread_resolver(None);
//! # let _ = std::fs::remove_dir_all(&dir);
//! ```
//!
//! Results list IPv4 addresses before IPv6 ones, each in the server's
//! order. [`Config::system`] also reads glibc's `LOCALDOMAIN` and
//! `RES_OPTIONS` environment overrides, and, as glibc, searches the host
//! name's own domain when resolv.conf has neither `search` nor `domain`.

mod hosts;
mod query;

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hosts::HostsCache;
use query::MissKind;

/// Where the green resolver looks, and how patiently.
///
/// The fields are public; [`Config::default`] fills in resolv.conf's
/// defaults, so a literal only needs the fields it changes:
///
/// ```
/// use guv::net::dns::Config;
/// let c = Config {
///     nameservers: vec!["127.0.0.1:5353".parse().unwrap()],
///     timeout: std::time::Duration::from_secs(1),
///     search: vec!["corp.example".into()],
///     ..Config::default()
/// };
/// assert_eq!((c.attempts, c.ndots), (2, 1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Servers to ask, in order (port 53 unless given otherwise).
    pub nameservers: Vec<SocketAddr>,
    /// How long to wait for one server's answer (one too large to add to
    /// the current time, such as `Duration::MAX`, waits without limit).
    pub timeout: Duration,
    /// How many rounds through the server list before giving up.
    pub attempts: u32,
    /// The hosts file consulted first (`None`: none).
    pub hosts_file: Option<PathBuf>,
    /// The search list (resolv.conf's `search`, or `domain`): suffixes
    /// tried after a name that does not end in a dot, in order. Entries
    /// are domain names without a trailing dot; one that makes a name
    /// invalid (too long, a bad label) is skipped for that name.
    pub search: Vec<String>,
    /// resolv.conf's `options ndots:N`: a name with at least this many
    /// dots is tried as given before the search list, one with fewer
    /// after it. glibc's default is 1 and its range `0..=15`.
    pub ndots: u32,
    /// resolv.conf's `options rotate`: each query a [`Resolver`] sends
    /// starts at the next server in the list (round robin), spreading the
    /// load; otherwise every query asks the first server first.
    pub rotate: bool,
    /// resolv.conf's `options edns0`: UDP queries carry an EDNS0 record
    /// offering room for answers of up to 1 200 bytes, so that a server
    /// need not truncate one over 512 (which is then asked for again over
    /// TCP).
    pub edns0: bool,
}

/// resolv.conf's defaults (as glibc): 5 s per try, 2 rounds, ndots 1.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_ATTEMPTS: u32 = 2;
const DEFAULT_NDOTS: u32 = 1;
/// glibc's `RES_MAXNDOTS`: a larger `ndots:N` means this.
const MAX_NDOTS: u32 = 15;
/// glibc's `MAXNS`: resolv.conf's `nameserver` lines after the third are ignored.
const MAX_NAMESERVERS: usize = 3;

impl Default for Config {
    /// What an empty resolv.conf means, as glibc: a server on
    /// `127.0.0.1:53`, 5 s per try, 2 rounds, no search list, ndots 1; and
    /// no hosts file.
    ///
    /// ```
    /// use guv::net::dns::Config;
    /// assert_eq!(Config::default(), Config::from_resolv_conf(""));
    /// assert_eq!(Config::default().ndots, 1);
    /// ```
    fn default() -> Config {
        Config {
            nameservers: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            hosts_file: None,
            search: Vec::new(),
            ndots: DEFAULT_NDOTS,
            rotate: false,
            edns0: false,
        }
    }
}

impl Config {
    /// The system's configuration: `/etc/resolv.conf` and `/etc/hosts`. A
    /// missing resolv.conf means a server on `127.0.0.1:53`, as glibc.
    ///
    /// As in glibc, a file with neither a `search` nor a `domain` line
    /// searches the domain of the machine's host name (what follows its
    /// first dot; nothing for a host name without one), and two
    /// environment variables take precedence over the file: `LOCALDOMAIN`
    /// (whitespace-separated domains) replaces the search list, even when
    /// empty, and `RES_OPTIONS` holds options read after the file's
    /// (`timeout:N attempts:N ndots:N`).
    ///
    /// ```
    /// let c = guv::net::dns::Config::system();
    /// assert!(!c.nameservers.is_empty());
    /// assert!(c.ndots <= 15);
    /// # #[cfg(target_os = "linux")]
    /// # {
    /// // Without a search list in the file (nor LOCALDOMAIN), the host
    /// // name's domain is searched.
    /// let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    /// let listed = conf.lines().any(|l| matches!(l.split_whitespace().next(), Some("search" | "domain")));
    /// if !listed && std::env::var_os("LOCALDOMAIN").is_none() {
    ///     let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    ///     let domain = host.trim().split_once('.').map(|(_, d)| d.to_ascii_lowercase());
    ///     assert_eq!(c.search, domain.into_iter().collect::<Vec<_>>());
    /// }
    /// # }
    /// ```
    pub fn system() -> Config {
        // Bytes, as glibc: a stray non-UTF-8 byte must not drop the file.
        let text =
            std::fs::read("/etc/resolv.conf").map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let (mut config, listed) = Config::parse_resolv_conf(&text);
        if !listed {
            config.search = host_domain(&local_host_name()).into_iter().collect();
        }
        config.hosts_file = Some(PathBuf::from("/etc/hosts"));
        if let Some(domains) = std::env::var_os("LOCALDOMAIN") {
            config.search = domains.to_string_lossy().split_whitespace().filter_map(search_domain).collect();
        }
        if let Some(options) = std::env::var_os("RES_OPTIONS") {
            config.set_options(options.to_string_lossy().split_whitespace());
        }
        config
    }

    /// Applies resolv.conf options (`timeout:N`, `attempts:N`, `ndots:N`,
    /// `rotate`, `edns0`),
    /// clamped to glibc's ranges; others, and non-numeric values, are
    /// ignored.
    fn set_options<'a>(&mut self, options: impl Iterator<Item = &'a str>) {
        for opt in options {
            if let Some(n) = opt.strip_prefix("timeout:").and_then(|n| n.parse::<u64>().ok()) {
                self.timeout = Duration::from_secs(n.clamp(1, 30));
            } else if let Some(n) = opt.strip_prefix("attempts:").and_then(|n| n.parse::<u32>().ok()) {
                self.attempts = n.clamp(1, 5);
            } else if let Some(n) = opt.strip_prefix("ndots:").and_then(|n| n.parse::<i64>().ok()) {
                self.ndots = n.clamp(0, i64::from(MAX_NDOTS)) as u32;
            } else if opt == "rotate" {
                self.rotate = true;
            } else if opt == "edns0" {
                self.edns0 = true;
            }
        }
    }

    /// Reads the text of a resolv.conf: `nameserver ADDR` lines (the first
    /// three, as glibc), the
    /// search list (`search DOMAIN...` or `domain DOMAIN`; as in glibc the
    /// last of these lines wins, and `domain x` means the list `[x]`), and
    /// the `timeout:N`, `attempts:N`, `ndots:N`, `rotate` and `edns0` options (ndots clamped
    /// to glibc's `0..=15`). Search domains are lower-cased without their
    /// trailing dot, invalid ones dropped; a value that is not a number is
    /// ignored; everything else is ignored too. No hosts file is set.
    ///
    /// ```
    /// let c = guv::net::dns::Config::from_resolv_conf(
    ///     "# comment\nnameserver 127.0.0.53\nnameserver ::1\noptions timeout:1 attempts:3\n\
    ///      search Corp.Example. example.com\noptions ndots:2\n",
    /// );
    /// assert_eq!(c.nameservers, ["127.0.0.53:53".parse().unwrap(), "[::1]:53".parse().unwrap()]);
    /// assert_eq!(c.timeout, std::time::Duration::from_secs(1));
    /// assert_eq!(c.attempts, 3);
    /// assert_eq!(c.search, ["corp.example", "example.com"]);
    /// assert_eq!(c.ndots, 2);
    /// ```
    pub fn from_resolv_conf(text: &str) -> Config {
        Config::parse_resolv_conf(text).0
    }

    /// [`Config::from_resolv_conf`], and whether the text had a `search`
    /// or `domain` line.
    fn parse_resolv_conf(text: &str) -> (Config, bool) {
        let mut config = Config { nameservers: Vec::new(), ..Config::default() };
        let mut listed = false;
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace().peekable();
            let keyword = words.next();
            // glibc ignores a `search` or `domain` line with nothing after it.
            let has_value = words.peek().is_some();
            match keyword {
                Some("nameserver") => {
                    // An IPv6 zone ("fe80::1%eth0") is not supported: skip it.
                    // Only the first three count (glibc's MAXNS).
                    if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok())
                        && config.nameservers.len() < MAX_NAMESERVERS
                    {
                        config.nameservers.push(SocketAddr::new(ip, 53));
                    }
                }
                Some("search") if has_value => {
                    listed = true;
                    config.search = words.filter_map(search_domain).collect();
                }
                Some("domain") if has_value => {
                    listed = true;
                    config.search = words.next().and_then(search_domain).into_iter().collect();
                }
                Some("options") => config.set_options(words),
                _ => {}
            }
        }
        if config.nameservers.is_empty() {
            config.nameservers = Config::default().nameservers;
        }
        (config, listed)
    }

    /// The names the resolver asks the servers for `host`, in order, as
    /// glibc's `res_search` does:
    ///
    /// - a name ending in `.` is absolute: only the name itself (without
    ///   the dot), never a search suffix;
    /// - a name with at least [`ndots`](Config::ndots) dots is tried as
    ///   given first, then with each [`search`](Config::search) suffix;
    /// - a name with fewer dots tries the suffixes first, then as given.
    ///
    /// Names are lower-cased; a suffix that would make the name invalid
    /// (longer than 253 bytes, say) is left out. The hosts file is not
    /// involved: [`Resolver::lookup_ip`] looks `host` up there, as given,
    /// before asking for any of these.
    ///
    /// Errors: `InvalidInput` when `host` itself is not a valid name.
    ///
    /// ```
    /// use guv::net::dns::Config;
    /// let c = Config { search: vec!["corp.example".into(), "example.com".into()], ..Config::default() };
    /// assert_eq!(c.query_names("db").unwrap(), ["db.corp.example", "db.example.com", "db"]);
    /// assert_eq!(c.query_names("db.eu").unwrap(), ["db.eu", "db.eu.corp.example", "db.eu.example.com"]);
    /// assert_eq!(c.query_names("DB.").unwrap(), ["db"]);
    /// assert!(c.query_names("a..b").is_err());
    /// ```
    pub fn query_names(&self, host: &str) -> io::Result<Vec<String>> {
        let name = query::normalize(host)?;
        if host.ends_with('.') {
            return Ok(vec![name]);
        }
        let suffixed: Vec<String> = self
            .search
            .iter()
            .filter_map(|domain| {
                let domain = domain.strip_suffix('.').unwrap_or(domain);
                if domain.is_empty() {
                    return None;
                }
                query::normalize(&format!("{name}.{domain}")).ok()
            })
            .collect();
        let dots = name.bytes().filter(|&b| b == b'.').count();
        let mut names = Vec::with_capacity(suffixed.len() + 1);
        if dots >= self.ndots as usize {
            names.push(name);
            names.extend(suffixed);
        } else {
            names.extend(suffixed);
            names.push(name);
        }
        Ok(names)
    }
}

/// The machine's host name (Linux: `/proc/sys/kernel/hostname`; empty
/// where it cannot be read).
fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

/// The domain glibc searches for a host name when resolv.conf names none:
/// what follows its first dot, if that is a valid name.
fn host_domain(host: &str) -> Option<String> {
    host.split_once('.').and_then(|(_, domain)| search_domain(domain))
}

/// One search-list entry from resolv.conf: a valid name, lower-cased, no
/// trailing dot (`None` for anything else, including the root `.`).
fn search_domain(word: &str) -> Option<String> {
    query::normalize(word).ok()
}

/// The green resolver: a hosts file, then DNS over green sockets. Cheap to
/// clone (shared); usable from any thread.
///
/// ```
/// use guv::net::dns::{Config, Resolver};
/// let r = Resolver::new(Config::from_resolv_conf("nameserver 127.0.0.1"));
/// // Bad names fail before any query is sent.
/// let e = r.lookup_ip("bad..name").unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
/// ```
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    hosts: Option<HostsCache>,
    /// With `rotate`: the server the next query starts at (modulo the
    /// list's length).
    next_server: AtomicUsize,
}

impl Resolver {
    /// A resolver with `config`.
    ///
    /// ```
    /// use guv::net::dns::{Config, Resolver};
    /// let r = Resolver::new(Config::from_resolv_conf("nameserver 127.0.0.1"));
    /// assert_eq!(r.config().nameservers.len(), 1);
    /// ```
    pub fn new(config: Config) -> Resolver {
        let hosts = config.hosts_file.clone().map(HostsCache::new);
        Resolver { inner: Arc::new(Inner { config, hosts, next_server: AtomicUsize::new(0) }) }
    }

    /// The configuration.
    ///
    /// ```
    /// let r = guv::net::dns::Resolver::new(guv::net::dns::Config::from_resolv_conf(""));
    /// assert_eq!(r.config().attempts, 2);
    /// ```
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The addresses of `host`: the address itself if `host` is an IPv4 or
    /// IPv6 address (IPv4 as getaddrinfo's `inet_aton` reads it, so `127.1`
    /// is 127.0.0.1; a dotted string `inet_aton` refuses, such as
    /// `1.2.3.4.5` or `256.1.1.1`, is a host name, as for getaddrinfo);
    /// from the hosts file if it lists `host` as
    /// given, else from the name servers (IPv4 first), asking for each of
    /// [`Config::query_names`] in turn until one has addresses. Parks only
    /// the calling greenlet.
    ///
    /// A name that does not exist (NXDOMAIN), has no addresses, or gets
    /// SERVFAIL moves on to the next candidate name, as in glibc's
    /// `res_search`; a timeout, a refusal or a socket error ends the lookup
    /// with that error at once (glibc would still ask for the name as given
    /// if it had not yet: here a silent server costs one name's wait).
    ///
    /// Errors: `InvalidInput` for a malformed name; `NotFound` when no
    /// candidate exists or has addresses; `TimedOut` when no server
    /// answered; `Other` for a server failure or refusal (also when the
    /// candidates all failed and one of them with SERVFAIL). Each message
    /// names the host and the server; when the search list gave more than
    /// one name, it names `host` as given and lists each name asked with
    /// its outcome.
    ///
    /// ```
    /// use guv::net::dns::{Config, Resolver};
    /// let dir = std::env::temp_dir().join(format!("guv-lookup-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("hosts"), "192.0.2.7 printer.lan\n").unwrap();
    /// let mut c = Config::from_resolv_conf("nameserver 127.0.0.1");
    /// c.hosts_file = Some(dir.join("hosts"));
    /// let r = Resolver::new(c);
    /// assert_eq!(r.lookup_ip("printer.lan").unwrap(), ["192.0.2.7".parse::<std::net::IpAddr>().unwrap()]);
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn lookup_ip(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        // An address stands for itself, as with getaddrinfo.
        if let Some(ip) = literal(host) {
            return Ok(vec![ip]);
        }
        let name = query::normalize(host)?;
        if let Some(hosts) = &self.inner.hosts
            && let Some(ips) = hosts.lookup(&name)
        {
            return Ok(ips);
        }
        let names = self.inner.config.query_names(host)?;
        let mut misses = Vec::new();
        for candidate in &names {
            let first =
                if self.inner.config.rotate { self.inner.next_server.fetch_add(1, Ordering::Relaxed) } else { 0 };
            match query::resolve(&self.inner.config, candidate, first) {
                Ok(ips) => return Ok(ips),
                Err(miss) => {
                    let stop = miss.kind == MissKind::Fatal;
                    misses.push(miss);
                    if stop {
                        break;
                    }
                }
            }
        }
        Err(all_missed(host, misses, names.len()))
    }
}

/// The error when no candidate name gave addresses. With one name asked,
/// its own error (what a lookup without a search list gives). With
/// several, one error that names `host` as given and each name asked with
/// its outcome, of the kind of the error that stopped the search if one
/// did, else `Other` if a name got SERVFAIL, else `NotFound`.
fn all_missed(host: &str, mut misses: Vec<query::Miss>, candidates: usize) -> io::Error {
    if candidates == 1 && misses.len() == 1 {
        return misses.remove(0).error;
    }
    let kind = match misses.last() {
        Some(last) if last.kind == MissKind::Fatal => last.error.kind(),
        _ if misses.iter().any(|m| m.kind == MissKind::ServFail) => io::ErrorKind::Other,
        _ => io::ErrorKind::NotFound,
    };
    let details: Vec<&str> = misses.iter().map(|m| m.detail.as_str()).collect();
    let mut message = format!("guv::dns: failed to look up '{host}': {}", details.join("; "));
    let unasked = candidates.saturating_sub(misses.len());
    if unasked > 0 {
        message.push_str(&format!(" (the search stopped there; {unasked} more name(s) not asked)"));
    }
    io::Error::new(kind, message)
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("config", &self.inner.config).finish()
    }
}

thread_local! {
    static THREAD_RESOLVER: RefCell<Option<Resolver>> = const { RefCell::new(None) };
}

/// Makes `lookup_host` (and so every green `connect`/`bind` by name) on
/// this thread use `resolver`; `None` goes back to the default. The
/// default is the system configuration's green resolver, or the system
/// resolver on the thread pool when `GUV_NO_GREENDNS` is set.
///
/// ```
/// use guv::net::dns::{Config, Resolver};
/// guv::net::dns::set_thread_resolver(Some(Resolver::new(Config::from_resolv_conf("nameserver 127.0.0.1"))));
/// guv::net::dns::set_thread_resolver(None);
/// ```
pub fn set_thread_resolver(resolver: Option<Resolver>) {
    THREAD_RESOLVER.with(|r| *r.borrow_mut() = resolver);
}

fn default_resolver() -> &'static Resolver {
    static DEFAULT: OnceLock<Resolver> = OnceLock::new();
    DEFAULT.get_or_init(|| Resolver::new(Config::system()))
}

/// Looks up the addresses of `host` without blocking the hub: this
/// thread's resolver ([`set_thread_resolver`]) if set, else the system
/// resolver on the thread pool if `GUV_NO_GREENDNS` is set, else the
/// default green [`Resolver`]. An IP address is its own answer.
///
/// ```
/// let e = guv::net::dns::lookup_host("").unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
/// assert_eq!(guv::net::dns::lookup_host("::1").unwrap(), ["::1".parse::<std::net::IpAddr>().unwrap()]);
/// assert_eq!(guv::net::dns::lookup_host("127.1").unwrap(), ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
/// ```
pub fn lookup_host(host: &str) -> io::Result<Vec<IpAddr>> {
    if let Some(ip) = literal(host) {
        return Ok(vec![ip]);
    }
    if let Some(r) = THREAD_RESOLVER.with(|r| r.borrow().clone()) {
        return r.lookup_ip(host);
    }
    if std::env::var_os("GUV_NO_GREENDNS").is_some() {
        return system_lookup(host);
    }
    default_resolver().lookup_ip(host)
}

/// `host` as an IP address, if it is one: IPv6 in std's syntax, IPv4 as
/// `inet_aton` (which getaddrinfo uses) reads it: one to four parts, each
/// decimal, hex (`0x`) or octal (leading `0`), the last filling the bytes
/// left (`127.1` is 127.0.0.1, `1.2.3` is 1.2.0.3).
fn literal(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (*part, 10)
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        values.push(u32::from_str_radix(digits, radix).ok()?);
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|&v| v > 0xff) || u64::from(*last) >= 1u64 << (8 * (4 - leading.len())) {
        return None;
    }
    let high = leading.iter().enumerate().fold(0u32, |acc, (i, &v)| acc | (v << (24 - 8 * i)));
    Some(IpAddr::V4(std::net::Ipv4Addr::from(high | last)))
}

/// `getaddrinfo` through std, on the thread pool.
fn system_lookup(host: &str) -> io::Result<Vec<IpAddr>> {
    query::normalize(host)?;
    let owned = host.to_owned();
    let addrs = crate::tpool::execute(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(owned.as_str(), 0)).map(|it| it.collect::<Vec<_>>())
    })
    .map_err(|e| io::Error::new(e.kind(), format!("guv::dns: failed to look up '{host}' (system resolver): {e}")))?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    Ok(ips)
}

#[cfg(test)]
mod tests {
    use super::{Config, host_domain};

    #[test]
    fn a_host_name_gives_its_domain_as_the_default_search_list() {
        assert_eq!(host_domain("build7.CI.Example.org").as_deref(), Some("ci.example.org"));
        assert_eq!(host_domain("build7"), None);
        assert_eq!(host_domain("build7."), None, "a trailing dot alone names no domain");
        assert_eq!(host_domain("a..b"), None, "an invalid domain is not searched");
    }

    #[test]
    fn the_parser_tells_whether_the_file_named_a_search_list() {
        assert!(!Config::parse_resolv_conf("nameserver 127.0.0.1\noptions ndots:2\n").1);
        assert!(!Config::parse_resolv_conf("search\n").1, "an empty search line does not count, as in glibc");
        assert!(Config::parse_resolv_conf("domain corp.example\n").1);
        // A listed but unusable domain still counts: the host name is not searched then.
        let (config, listed) = Config::parse_resolv_conf("search a..b\n");
        assert!(listed && config.search.is_empty());
    }
}
