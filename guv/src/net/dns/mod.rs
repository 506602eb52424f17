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
//!
//! This file holds [`lookup_host`] and the choice of resolver behind it;
//! `config.rs` reads resolv.conf into a [`Config`], `resolver.rs` is the
//! green [`Resolver`], `hosts.rs` its hosts-file cache, and `query.rs` the
//! queries on the wire.

mod config;
mod hosts;
mod query;
mod resolver;

use std::cell::RefCell;
use std::io;
use std::net::IpAddr;
use std::sync::OnceLock;

pub use config::Config;
pub use resolver::Resolver;

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
