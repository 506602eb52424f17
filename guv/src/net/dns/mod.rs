//! Name resolution that never blocks the hub.
//!
//! [`lookup_host`] is what the green [`ToSocketAddrs`](super::ToSocketAddrs)
//! calls for host names. By default it uses the green [`Resolver`]:
//!
//! 1. the hosts file (`/etc/hosts`), re-read whenever its size, inode or
//!    modification time changes;
//! 2. otherwise the name servers of `/etc/resolv.conf` (`nameserver`,
//!    `options timeout:N attempts:N`), asked for A and AAAA records over
//!    green UDP, retried over green TCP when an answer comes back truncated.
//!
//! Only the calling greenlet waits for the answer. With the environment
//! variable `GUV_NO_GREENDNS` set (to anything), the system resolver
//! (`getaddrinfo`, through std) runs on [`crate::tpool`] instead, for
//! setups the green resolver does not cover (NSS modules, mDNS, search
//! domains).
//!
//! A thread can install its own resolver with [`set_thread_resolver`], for
//! example to ask a particular server:
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
//! let config = Config {
//!     nameservers: vec!["127.0.0.1:1".parse().unwrap()],
//!     timeout: Duration::from_millis(100),
//!     attempts: 1,
//!     hosts_file: Some(hosts),
//! };
//! guv::net::dns::set_thread_resolver(Some(Resolver::new(config)));
//! let ips = guv::net::dns::lookup_host("DB").unwrap();
//! assert_eq!(ips, ["10.1.2.3".parse::<std::net::IpAddr>().unwrap()]);
//! guv::net::dns::set_thread_resolver(None);
//! # let _ = std::fs::remove_dir_all(&dir);
//! ```
//!
//! Results list IPv4 addresses before IPv6 ones, each in the server's
//! order. Search domains and `ndots` are not applied: names are looked up
//! as given.

mod hosts;
mod query;

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hosts::HostsCache;

/// Where the green resolver looks, and how patiently.
///
/// ```
/// let c = guv::net::dns::Config {
///     nameservers: vec!["127.0.0.1:5353".parse().unwrap()],
///     timeout: std::time::Duration::from_secs(1),
///     attempts: 1,
///     hosts_file: None,
/// };
/// assert_eq!(c.attempts, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Servers to ask, in order (port 53 unless given otherwise).
    pub nameservers: Vec<SocketAddr>,
    /// How long to wait for one server's answer.
    pub timeout: Duration,
    /// How many rounds through the server list before giving up.
    pub attempts: u32,
    /// The hosts file consulted first (`None`: none).
    pub hosts_file: Option<PathBuf>,
}

/// resolv.conf's defaults (as glibc): 5 s per try, 2 rounds.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_ATTEMPTS: u32 = 2;

impl Config {
    /// The system's configuration: `/etc/resolv.conf` and `/etc/hosts`. A
    /// missing resolv.conf means a server on `127.0.0.1:53`, as glibc.
    ///
    /// ```
    /// let c = guv::net::dns::Config::system();
    /// assert!(!c.nameservers.is_empty());
    /// ```
    pub fn system() -> Config {
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut config = Config::from_resolv_conf(&text);
        config.hosts_file = Some(PathBuf::from("/etc/hosts"));
        config
    }

    /// Reads the text of a resolv.conf: `nameserver ADDR` lines and the
    /// `timeout:N` / `attempts:N` options; everything else is ignored. No
    /// hosts file is set.
    ///
    /// ```
    /// let c = guv::net::dns::Config::from_resolv_conf(
    ///     "# comment\nnameserver 127.0.0.53\nnameserver ::1\noptions timeout:1 attempts:3\n",
    /// );
    /// assert_eq!(c.nameservers, ["127.0.0.53:53".parse().unwrap(), "[::1]:53".parse().unwrap()]);
    /// assert_eq!(c.timeout, std::time::Duration::from_secs(1));
    /// assert_eq!(c.attempts, 3);
    /// ```
    pub fn from_resolv_conf(text: &str) -> Config {
        let mut config =
            Config { nameservers: Vec::new(), timeout: DEFAULT_TIMEOUT, attempts: DEFAULT_ATTEMPTS, hosts_file: None };
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // An IPv6 zone ("fe80::1%eth0") is not supported: skip it.
                    if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                        config.nameservers.push(SocketAddr::new(ip, 53));
                    }
                }
                Some("options") => {
                    for opt in words {
                        if let Some(n) = opt.strip_prefix("timeout:").and_then(|n| n.parse::<u64>().ok()) {
                            config.timeout = Duration::from_secs(n.clamp(1, 30));
                        } else if let Some(n) = opt.strip_prefix("attempts:").and_then(|n| n.parse::<u32>().ok()) {
                            config.attempts = n.clamp(1, 5);
                        }
                    }
                }
                _ => {}
            }
        }
        if config.nameservers.is_empty() {
            config.nameservers.push(SocketAddr::from(([127, 0, 0, 1], 53)));
        }
        config
    }
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
        Resolver { inner: Arc::new(Inner { config, hosts }) }
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

    /// The addresses of `host`: from the hosts file if it is there, else
    /// from the name servers (IPv4 first). Parks only the calling greenlet.
    ///
    /// Errors: `InvalidInput` for a malformed name; `NotFound` when the
    /// name does not exist (NXDOMAIN) or has no addresses; `TimedOut` when
    /// no server answered; `Other` for a server failure or refusal. Each
    /// message names the host and the server.
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
        let name = query::normalize(host)?;
        if let Some(hosts) = &self.inner.hosts
            && let Some(ips) = hosts.lookup(&name)
        {
            return Ok(ips);
        }
        query::resolve(&self.inner.config, &name)
    }
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
/// default green [`Resolver`].
///
/// ```
/// let e = guv::net::dns::lookup_host("").unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
/// ```
pub fn lookup_host(host: &str) -> io::Result<Vec<IpAddr>> {
    if let Some(r) = THREAD_RESOLVER.with(|r| r.borrow().clone()) {
        return r.lookup_ip(host);
    }
    if std::env::var_os("GUV_NO_GREENDNS").is_some() {
        return system_lookup(host);
    }
    default_resolver().lookup_ip(host)
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
