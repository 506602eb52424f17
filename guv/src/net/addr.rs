//! The green [`ToSocketAddrs`]: std's trait, with host names resolved
//! without blocking the hub.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::{iter, option, slice, vec};

/// Converts a value into socket addresses: the twin of
/// `std::net::ToSocketAddrs`, implemented for the same types.
///
/// Literal addresses convert at once, an IPv6 one with its interface
/// too (`("fe80::1%eth0", 80)`, as getaddrinfo reads it). A host name (`"example.com:80"`,
/// `("example.com", 80)`) is looked up by [`crate::net::dns`]: the green
/// resolver, which parks only the calling greenlet, or — with the
/// environment variable `GUV_NO_GREENDNS` set — the system resolver run on
/// [`crate::tpool`].
///
/// ```
/// use guv::net::ToSocketAddrs;
/// let addrs: Vec<_> = "127.0.0.1:80".to_socket_addrs().unwrap().collect();
/// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
/// assert!("no port here".to_socket_addrs().is_err());
/// ```
pub trait ToSocketAddrs {
    /// The iterator over the addresses.
    type Iter: Iterator<Item = SocketAddr>;

    /// The addresses `self` stands for; a name that does not resolve is an
    /// error.
    fn to_socket_addrs(&self) -> io::Result<Self::Iter>;
}

macro_rules! literal {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {
            type Iter = option::IntoIter<SocketAddr>;
            fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
                std::net::ToSocketAddrs::to_socket_addrs(self)
            }
        }
    )*};
}

literal!(SocketAddr, SocketAddrV4, SocketAddrV6, (IpAddr, u16), (Ipv4Addr, u16), (Ipv6Addr, u16));

/// Resolves `host` (a name or a literal IP) and pairs it with `port`.
fn resolve(host: &str, port: u16) -> io::Result<vec::IntoIter<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)].into_iter());
    }
    // An IPv6 address with its interface (`fe80::1%eth0`, `fe80::1%2`), as
    // getaddrinfo reads it; no server is asked.
    if let Some((ip, zone)) = host.split_once('%')
        && let Ok(ip) = ip.parse::<Ipv6Addr>()
    {
        let scope = scope_id(&ip, zone)?;
        return Ok(vec![SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope))].into_iter());
    }
    let ips = super::dns::lookup_host(host)?;
    Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect::<Vec<_>>().into_iter())
}

/// The scope `zone` gives `ip`, read as glibc's getaddrinfo reads it: an
/// interface name only for a link-local address (unicast `fe80::/10`, or
/// multicast of node or link scope), else (or when no interface has that
/// name) a decimal number that starts with a digit.
fn scope_id(ip: &Ipv6Addr, zone: &str) -> io::Result<u32> {
    let first = ip.segments()[0];
    let link_local = first & 0xffc0 == 0xfe80 || (first & 0xff00 == 0xff00 && matches!(first & 0xf, 1 | 2));
    if link_local && let Ok(index) = super::sys::interface_index(zone) {
        return Ok(index);
    }
    if zone.starts_with(|c: char| c.is_ascii_digit())
        && let Ok(number) = zone.parse::<u32>()
    {
        return Ok(number);
    }
    let why = if link_local {
        format!("no network interface named {zone:?}")
    } else {
        format!("{zone:?} is no scope for {ip}: only a link-local address takes an interface name")
    };
    Err(io::Error::new(io::ErrorKind::NotFound, why))
}

impl ToSocketAddrs for (&str, u16) {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        resolve(self.0, self.1)
    }
}

impl ToSocketAddrs for (String, u16) {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        resolve(&self.0, self.1)
    }
}

impl ToSocketAddrs for str {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr].into_iter());
        }
        // The same errors (kind and text) as std.
        let Some((host, port)) = self.rsplit_once(':') else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address"));
        };
        let Ok(port) = port.parse::<u16>() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid port value"));
        };
        resolve(host, port)
    }
}

impl ToSocketAddrs for String {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        self.as_str().to_socket_addrs()
    }
}

impl<'a> ToSocketAddrs for &'a [SocketAddr] {
    type Iter = iter::Cloned<slice::Iter<'a, SocketAddr>>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(self.iter().cloned())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    type Iter = T::Iter;
    fn to_socket_addrs(&self) -> io::Result<T::Iter> {
        (**self).to_socket_addrs()
    }
}
