//! The green [`Resolver`]: an IP address stands for itself, then the hosts
//! file, then each name of the search list asked of the servers in turn;
//! and the error that reports every name asked when none had addresses.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Config;
use super::hosts::HostsCache;
use super::literal;
use super::query::{self, MissKind};

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
