//! API completeness of the green `std::net` and `std::os::unix::net`
//! (issue 4): patched code that uses every stable item of std's sockets —
//! inherent methods, `Read`/`Write` for the socket and for `&socket`, the
//! `std::os::fd` conversions, `Debug`, `Send`/`Sync`, the iterators —
//! compiles against the green twins and behaves as std's. Only 127.0.0.1
//! and socket files in a private temporary directory are used.

use std::any::type_name;

/// True when `T` is one of guv's types (the patch swapped it in).
fn green<T: ?Sized>(_: &T) -> bool {
    type_name::<T>().starts_with("guv::")
}

fn send_sync<T: Send + Sync + std::fmt::Debug>() {}
fn fd_traits<T>()
where
    T: std::os::fd::AsFd
        + std::os::fd::AsRawFd
        + std::os::fd::FromRawFd
        + std::os::fd::IntoRawFd
        + From<std::os::fd::OwnedFd>,
    std::os::fd::OwnedFd: From<T>,
{
}
fn read_write<T>()
where
    T: std::io::Read + std::io::Write,
    for<'a> &'a T: std::io::Read + std::io::Write,
{
}

#[guv::test]
fn tcp_every_stable_item() {
    use std::io::{Read, Write};
    use std::net::{Incoming, Shutdown, SocketAddr, TcpListener, TcpStream};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
    use std::time::Duration;
    send_sync::<TcpStream>();
    send_sync::<TcpListener>();
    fd_traits::<TcpStream>();
    fd_traits::<TcpListener>();
    read_write::<TcpStream>();

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(green(&l));
    let addr: SocketAddr = l.local_addr().unwrap();
    assert!(format!("{l:?}").contains("TcpListener"));
    l.set_ttl(60).unwrap();
    assert_eq!(l.ttl().unwrap(), 60);
    assert!(l.take_error().unwrap().is_none());
    let l2 = l.try_clone().unwrap();
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    assert!(green(&c));
    let (s, peer) = l2.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.peer_addr().unwrap(), peer);
    assert_eq!(c.peer_addr().unwrap(), addr);
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_ttl(61).unwrap();
    assert_eq!(c.ttl().unwrap(), 61);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.set_write_timeout(None).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_secs(5)));
    assert_eq!(c.write_timeout().unwrap(), None);
    assert!(c.take_error().unwrap().is_none());
    assert!(format!("{c:?}").contains("TcpStream"));
    (&c).write_all(b"ping").unwrap();
    c.flush().unwrap();
    let mut buf = [0; 4];
    assert_eq!(s.peek(&mut buf).unwrap(), 4);
    (&s).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let mut clone = s.try_clone().unwrap();
    clone.write_all(b"pong").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = String::new();
    c.read_to_string(&mut back).unwrap();
    assert_eq!(back, "pong");
    c.set_nonblocking(true).unwrap();

    // fd round trips keep a working (green) socket.
    let c2 = TcpStream::connect(addr).unwrap();
    let fd: OwnedFd = c2.into();
    let c3 = TcpStream::from(fd);
    let raw = c3.into_raw_fd();
    // SAFETY: `raw` came from `into_raw_fd` just above and is owned here.
    let mut c4 = unsafe { TcpStream::from_raw_fd(raw) };
    assert!(c4.as_fd().as_raw_fd() == c4.as_raw_fd());
    let (mut s4, _) = l.accept().unwrap();
    c4.write_all(b"x").unwrap();
    s4.read_exact(&mut buf[..1]).unwrap();
    assert_eq!(buf[0], b'x');

    let mut incoming: Incoming<'_> = l.incoming();
    let _c5 = TcpStream::connect(("127.0.0.1", addr.port())).unwrap();
    assert!(incoming.next().unwrap().is_ok());
    assert!(format!("{incoming:?}").contains("Incoming"));
    // `ToSocketAddrs`: std's impls, and one of the program's own.
    struct Loopback(u16);
    impl std::net::ToSocketAddrs for Loopback {
        type Iter = std::vec::IntoIter<SocketAddr>;
        fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> {
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], self.0))].into_iter())
        }
    }
    let _c6 = TcpStream::connect(Loopback(addr.port())).unwrap();
    assert!(l.accept().is_ok());
    use std::net::ToSocketAddrs;
    let named: Vec<SocketAddr> = ("localhost", addr.port()).to_socket_addrs().unwrap().collect();
    assert!(named.iter().all(|a| a.port() == addr.port() && a.ip().is_loopback()));
    assert_eq!(format!("127.0.0.1:{}", addr.port()).to_socket_addrs().unwrap().next(), Some(addr));
    assert_eq!((&[addr][..]).to_socket_addrs().unwrap().count(), 1);
    #[allow(deprecated)]
    let v6 = l.only_v6();
    assert!(v6.is_err() || matches!(v6, Ok(false)));
}

#[guv::test]
fn udp_every_stable_item() {
    use std::net::{Ipv4Addr, UdpSocket};
    use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
    use std::time::Duration;
    send_sync::<UdpSocket>();
    fd_traits::<UdpSocket>();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    assert!(green(&a));
    assert!(format!("{a:?}").contains("UdpSocket"));
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    assert_eq!(a.send_to(b"one", ba).unwrap(), 3);
    let mut buf = [0; 8];
    assert_eq!(b.peek_from(&mut buf).unwrap(), (3, aa));
    assert_eq!(b.recv_from(&mut buf).unwrap(), (3, aa));
    a.connect(ba).unwrap();
    b.connect(aa).unwrap();
    assert_eq!(a.peer_addr().unwrap(), ba);
    a.send(b"two").unwrap();
    assert_eq!(b.peek(&mut buf).unwrap(), 3);
    assert_eq!(b.recv(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"two");
    a.set_broadcast(true).unwrap();
    assert!(a.broadcast().unwrap());
    a.set_multicast_loop_v4(false).unwrap();
    assert!(!a.multicast_loop_v4().unwrap());
    a.set_multicast_ttl_v4(3).unwrap();
    assert_eq!(a.multicast_ttl_v4().unwrap(), 3);
    assert!(a.multicast_loop_v6().is_err()); // an IPv4 socket, as std
    assert!(a.set_multicast_loop_v6(true).is_err());
    a.set_ttl(9).unwrap();
    assert_eq!(a.ttl().unwrap(), 9);
    a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    a.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(a.read_timeout().unwrap(), Some(Duration::from_millis(20))); // the kernel keeps ticks: 20 ms is whole at HZ 100, 250, 300 and 1000
    assert_eq!(a.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    let e = a.recv(&mut buf).unwrap_err();
    assert!(matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    assert!(a.take_error().unwrap().is_none());
    // Never called (no multicast route is needed): they must only exist.
    let _multicast = |s: &UdpSocket| {
        s.join_multicast_v4(&Ipv4Addr::new(224, 0, 0, 1), &Ipv4Addr::UNSPECIFIED).unwrap();
        s.leave_multicast_v4(&Ipv4Addr::new(224, 0, 0, 1), &Ipv4Addr::UNSPECIFIED).unwrap();
        s.join_multicast_v6(&std::net::Ipv6Addr::LOCALHOST, 0).unwrap();
        s.leave_multicast_v6(&std::net::Ipv6Addr::LOCALHOST, 0).unwrap();
    };
    let c = a.try_clone().unwrap();
    c.set_nonblocking(true).unwrap();
    let fd: OwnedFd = c.into();
    let c = UdpSocket::from(fd);
    // SAFETY: the fd comes from `into_raw_fd` and is owned here.
    let c = unsafe { UdpSocket::from_raw_fd(c.into_raw_fd()) };
    assert_eq!(c.local_addr().unwrap(), aa);
}

#[guv::test]
fn unix_every_stable_item() {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{Incoming, SocketAddr, UnixDatagram, UnixListener, UnixStream};
    use std::time::Duration;
    send_sync::<UnixStream>();
    send_sync::<UnixListener>();
    send_sync::<UnixDatagram>();
    fd_traits::<UnixStream>();
    fd_traits::<UnixListener>();
    fd_traits::<UnixDatagram>();
    read_write::<UnixStream>();

    let dir = std::env::temp_dir().join(format!("guv-apidiff-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");

    let l = UnixListener::bind(&path).unwrap();
    assert!(green(&l));
    assert!(format!("{l:?}").contains("UnixListener"));
    assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    assert!(l.take_error().unwrap().is_none());
    let mut c = UnixStream::connect(&path).unwrap();
    assert!(green(&c));
    let (s, peer): (UnixStream, SocketAddr) = l.accept().unwrap();
    assert!(peer.is_unnamed());
    assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
    assert!(s.local_addr().is_ok());
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_secs(5)));
    assert_eq!(c.write_timeout().unwrap(), Some(Duration::from_secs(5)));
    assert!(c.take_error().unwrap().is_none());
    assert!(format!("{c:?}").contains("UnixStream"));
    (&c).write_all(b"hi").unwrap();
    c.flush().unwrap();
    let mut buf = [0; 2];
    (&s).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    s.try_clone().unwrap().write_all(b"yo").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = String::new();
    c.read_to_string(&mut back).unwrap();
    assert_eq!(back, "yo");

    let mut incoming: Incoming<'_> = l.incoming();
    let _c2 = UnixStream::connect_addr(&SocketAddr::from_pathname(&path).unwrap()).unwrap();
    assert!(incoming.next().unwrap().is_ok());
    let _c3 = UnixStream::connect(&path).unwrap();
    let n = (&l).into_iter().next().unwrap().is_ok();
    assert!(n);
    let l2 = l.try_clone().unwrap();
    l2.set_nonblocking(true).unwrap();
    assert_eq!(l2.accept().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);

    // Abstract addresses (Linux's `SocketAddrExt`).
    let name = format!("guv-apidiff-{}", std::process::id());
    let abs = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let la = UnixListener::bind_addr(&abs).unwrap();
    assert_eq!(la.local_addr().unwrap().as_abstract_name(), Some(name.as_bytes()));
    let ca = UnixStream::connect_addr(&abs).unwrap();
    let (sa, _) = la.accept().unwrap();
    let fd: OwnedFd = ca.into();
    // SAFETY: the fd comes from `into_raw_fd` and is owned here.
    let ca = unsafe { UnixStream::from_raw_fd(UnixStream::from(fd).into_raw_fd()) };
    (&ca).write_all(b"a").unwrap();
    let mut sa = UnixStream::from(OwnedFd::from(sa));
    sa.read_exact(&mut buf[..1]).unwrap();
    assert_eq!(buf[0], b'a');

    let (p, q) = UnixStream::pair().unwrap();
    p.set_nonblocking(false).unwrap();
    (&p).write_all(b"z").unwrap();
    (&q).read_exact(&mut buf[..1]).unwrap();
    assert_eq!(buf[0], b'z');

    // Datagrams.
    let dpath = dir.join("dgram");
    let d = UnixDatagram::bind(&dpath).unwrap();
    assert!(green(&d));
    assert!(format!("{d:?}").contains("UnixDatagram"));
    let u = UnixDatagram::unbound().unwrap();
    assert_eq!(u.send_to(b"to", &dpath).unwrap(), 2);
    let mut dbuf = [0; 4];
    let (n, from) = d.recv_from(&mut dbuf).unwrap();
    assert_eq!((n, from.is_unnamed()), (2, true));
    u.connect(&dpath).unwrap();
    assert_eq!(u.peer_addr().unwrap().as_pathname(), Some(dpath.as_path()));
    u.send(b"tw").unwrap();
    assert_eq!(d.recv(&mut dbuf).unwrap(), 2);
    let dabs = SocketAddr::from_abstract_name(format!("{name}-d").as_bytes()).unwrap();
    let d2 = UnixDatagram::bind_addr(&dabs).unwrap();
    u.send_to_addr(b"ab", &dabs).unwrap();
    assert_eq!(d2.recv(&mut dbuf).unwrap(), 2);
    let u2 = UnixDatagram::unbound().unwrap();
    u2.connect_addr(&dabs).unwrap();
    u2.send(b"c").unwrap();
    assert_eq!(d2.recv(&mut dbuf).unwrap(), 1);
    let (x, y) = UnixDatagram::pair().unwrap();
    x.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    x.set_write_timeout(None).unwrap();
    assert_eq!(x.read_timeout().unwrap(), Some(Duration::from_millis(20)));
    assert_eq!(x.write_timeout().unwrap(), None);
    assert!(x.recv(&mut dbuf).is_err());
    y.send(b"q").unwrap();
    assert_eq!(x.try_clone().unwrap().recv(&mut dbuf).unwrap(), 1);
    x.shutdown(Shutdown::Both).unwrap();
    x.set_nonblocking(true).unwrap();
    assert!(x.take_error().unwrap().is_none());
    assert!(x.local_addr().unwrap().is_unnamed());
    std::fs::remove_dir_all(&dir).unwrap();
}
