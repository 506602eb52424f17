//! Loopback addresses with a known fate, for tests that must see a
//! connection refused whatever else runs on the machine.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A loopback TCP address that refuses connections for as long as the
/// returned socket is open.
///
/// The socket is bound to the port (without `SO_REUSEADDR`) and never
/// listens: no other socket can listen on that port meanwhile, and no
/// connecting socket is given it as its own port. A port freed by closing
/// a listener, by contrast, may be taken by another test (or process) before
/// the connection that expects a refusal is made.
pub fn refusing_addr() -> (OwnedFd, SocketAddr) {
    // SAFETY: socket(2) takes no pointers; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a new socket that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero bytes are a valid `sockaddr_in`.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sin` is a live `sockaddr_in` and `len` its size; bind(2)
    // only reads it.
    let bound = unsafe { libc::bind(socket.as_raw_fd(), (&raw const sin).cast(), len) };
    assert_eq!(bound, 0, "bind: {}", io::Error::last_os_error());
    // SAFETY: `sin` is a live, writable `sockaddr_in` and `len` its size;
    // getsockname(2) writes at most `len` bytes and updates `len`.
    let named = unsafe { libc::getsockname(socket.as_raw_fd(), (&raw mut sin).cast(), &mut len) };
    assert_eq!(named, 0, "getsockname: {}", io::Error::last_os_error());
    (socket, SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, u16::from_be(sin.sin_port))))
}

/// The listening TCP sockets (IPv4 or IPv6) this process holds on `port`,
/// by inode, read from `/proc`: the sockets behind this process's fds,
/// matched against the kernel's tables of listening sockets. Comparing
/// the sets before and after tells whether those very sockets were closed,
/// which connecting to the port cannot (another test may bind the port
/// once it is free).
pub fn listeners_on(port: u16) -> std::collections::HashSet<String> {
    // st 0A: TCP_LISTEN.
    sockets_held(&["/proc/self/net/tcp", "/proc/self/net/tcp6"], |local, state| {
        state == "0A" && local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port)
    })
}

/// The sockets this process holds bound to `addr` (IPv4), by inode: each
/// of its fds asked for its own address (`getsockname`) and its inode
/// (`fstat`). Binding the address again cannot tell whether a server's own
/// socket is closed: a child process another test forks holds a copy of
/// every fd of this process until it `exec`s, so the port may stay taken
/// for a moment after this process closed its socket (and another test may
/// take the port once it is free). `/proc/self/net/udp` cannot either:
/// read while other tests open and close sockets, it skips lines.
pub fn sockets_at(addr: SocketAddr) -> std::collections::HashSet<String> {
    let SocketAddr::V4(want) = addr else { panic!("sockets_at: IPv4 only, not {addr}") };
    own_sockets(|fd| inet_name(fd) == Some(want))
}

/// Whether connecting to `addr` is refused, as it is once the server that
/// listened there closed its listener. A connection that succeeds while no
/// listener bound to `addr` is left among this process's fds came through
/// a copy of a closed one that a child process, forked by another test,
/// holds until it `exec`s: that is retried (for up to 2 s), not taken as
/// the answer.
pub fn refused(addr: SocketAddr) -> bool {
    let SocketAddr::V4(want) = addr else { panic!("refused: IPv4 only, not {addr}") };
    refused_unless_here(
        || guv::connect(addr).map(drop),
        || !own_sockets(|fd| accepting(fd) && inet_name(fd) == Some(want)).is_empty(),
    )
}

/// [`refused`] for a Unix-domain listener at `path`.
pub fn refused_unix(path: &std::path::Path) -> bool {
    refused_unless_here(
        || guv::net::unix::UnixStream::connect(path).map(drop),
        || !own_sockets(|fd| accepting(fd) && unix_name(fd).as_deref() == Some(path)).is_empty(),
    )
}

fn refused_unless_here(connect: impl Fn() -> io::Result<()>, listening_here: impl Fn() -> bool) -> bool {
    for _ in 0..400 {
        match connect() {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return true,
            Ok(()) if listening_here() => return false,
            // Not ordering: waiting out another thread's fork, whose child
            // drops its copies of this process's fds when it execs (a
            // handshake that the copy's close cuts short fails otherwise).
            Ok(()) | Err(_) => guv::sleep(std::time::Duration::from_millis(5)),
        }
    }
    false
}

/// The inodes of this process's sockets (by fd) that `keep` accepts. An fd
/// closed meanwhile fails the calls `keep` makes on it and is skipped.
fn own_sockets(keep: impl Fn(libc::c_int) -> bool) -> std::collections::HashSet<String> {
    let mut found = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<libc::c_int>().ok()) else { continue };
        if !keep(fd) {
            continue;
        }
        // SAFETY: all-zero bytes are a valid `stat`, which fstat(2) fills.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a live, writable `stat`.
        if unsafe { libc::fstat(fd, &mut st) } == 0 {
            found.insert(st.st_ino.to_string());
        }
    }
    found
}

/// The IPv4 address socket `fd` is bound to.
fn inet_name(fd: libc::c_int) -> Option<SocketAddrV4> {
    // SAFETY: all-zero bytes are a valid `sockaddr_in`.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sin` is a live, writable `sockaddr_in` and `len` its size;
    // getsockname(2) writes at most `len` bytes.
    let named = unsafe { libc::getsockname(fd, (&raw mut sin).cast(), &mut len) };
    (named == 0 && sin.sin_family == libc::AF_INET as libc::sa_family_t)
        .then(|| SocketAddrV4::new(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), u16::from_be(sin.sin_port)))
}

/// The path Unix-domain socket `fd` is bound to.
fn unix_name(fd: libc::c_int) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: all-zero bytes are a valid `sockaddr_un`.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `sun` is a live, writable `sockaddr_un` and `len` its size;
    // getsockname(2) writes at most `len` bytes.
    let named = unsafe { libc::getsockname(fd, (&raw mut sun).cast(), &mut len) };
    if named != 0 || sun.sun_family != libc::AF_UNIX as libc::sa_family_t {
        return None;
    }
    let bytes: Vec<u8> = sun.sun_path.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&bytes)))
}

/// Whether socket `fd` listens (`SO_ACCEPTCONN`).
fn accepting(fd: libc::c_int) -> bool {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `on` is a live, writable int and `len` its size.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN, (&raw mut on).cast(), &mut len) };
    r == 0 && on != 0
}

/// The inodes of the sockets behind this process's fds that `tables` (of
/// `/proc/self/net`) list with a local address and state `keep` accepts.
fn sockets_held(tables: &[&str], keep: impl Fn(&str, &str) -> bool) -> std::collections::HashSet<String> {
    let ours: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut found = std::collections::HashSet::new();
    for table in tables {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && keep(f[1], f[3]) && ours.contains(f[9]) {
                found.insert(f[9].to_owned());
            }
        }
    }
    found
}

/// Sets `SO_LINGER` to 0 on `s`, so that closing it resets the connection
/// (the peer's next read fails with `ConnectionReset`) instead of ending
/// it with a FIN.
pub fn reset_on_close(s: &impl AsRawFd) {
    set_option(s, libc::SO_LINGER, &libc::linger { l_onoff: 1, l_linger: 0 });
}

/// Sets the `SOL_SOCKET` option `name` of `s` to `value` (whose type must
/// be the one the option takes), as socket2 or C code would; panics if
/// the kernel refuses.
pub fn set_option<T>(s: &impl AsRawFd, name: libc::c_int, value: &T) {
    // SAFETY: `value` is a live `T` of the size passed; the fd is open for
    // as long as `s` is borrowed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt({name}): {}", io::Error::last_os_error());
}

/// A TCP listener on loopback whose send buffer (`SO_SNDBUF`) is set to
/// `bytes` (the kernel doubles it for its bookkeeping): the connections it
/// accepts inherit it, so a server serving it holds few unread bytes in
/// the kernel, and a client that does not read makes it wait soon.
pub fn listener_with_sndbuf(bytes: libc::c_int) -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    set_option(&listener, libc::SO_SNDBUF, &bytes);
    listener
}

/// A client connected to `addr` whose receive buffer (`SO_RCVBUF`) is
/// `bytes` (doubled by the kernel), set before connecting so that the
/// window it offers is small from the first packet; read and write
/// timeouts as [`crate::http::connect`]'s.
pub fn connect_with_rcvbuf(addr: SocketAddr, bytes: libc::c_int) -> std::net::TcpStream {
    let SocketAddr::V4(v4) = addr else { panic!("connect_with_rcvbuf: an IPv4 address, not {addr}") };
    // SAFETY: socket(2) takes no pointers; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a new socket that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    set_option(&socket, libc::SO_RCVBUF, &bytes);
    // SAFETY: all-zero bytes are a valid `sockaddr_in`.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
    sin.sin_port = v4.port().to_be();
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sin` is a live `sockaddr_in` and `len` its size; connect(2)
    // only reads it.
    let connected = unsafe { libc::connect(socket.as_raw_fd(), (&raw const sin).cast(), len) };
    assert_eq!(connected, 0, "connect to {addr}: {}", io::Error::last_os_error());
    let stream = std::net::TcpStream::from(socket);
    stream.set_read_timeout(Some(crate::http::CLIENT_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(crate::http::CLIENT_TIMEOUT)).unwrap();
    stream
}

/// The `SOL_SOCKET` option `name` of `s`, an `int` (a buffer size, as the
/// kernel reports it: doubled).
pub fn int_option(s: &impl AsRawFd, name: libc::c_int) -> libc::c_int {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a live, writable `c_int` and `len` its size;
    // getsockopt(2) writes at most `len` bytes and updates `len`.
    let rc = unsafe { libc::getsockopt(s.as_raw_fd(), libc::SOL_SOCKET, name, (&raw mut value).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockopt({name}): {}", io::Error::last_os_error());
    value
}

/// Waits up to `timeout` for `s` to be hung up or reset by the peer
/// (`POLLHUP`/`POLLERR`), without reading: bytes the peer sent before stay
/// unread. Returns whether it was within `timeout`.
pub fn wait_hung_up(s: &impl AsRawFd, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // No event asked for: poll(2) reports only the hang-up and error
        // conditions it always reports, not the readable data.
        let mut pfd = libc::pollfd { fd: s.as_raw_fd(), events: 0, revents: 0 };
        // SAFETY: `pfd` is one live, writable `pollfd`; the fd is open for
        // as long as `s` is borrowed.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc > 0 {
            return pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0;
        }
        if rc == 0 {
            return false;
        }
        let e = io::Error::last_os_error();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted, "poll: {e}");
    }
}

/// Bytes written on `s` that the peer has not acknowledged yet
/// (`SIOCOUTQ`): 0 once everything sent is in the peer's receive queue.
pub fn unacknowledged(s: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: `n` is a live, writable `c_int`, what `SIOCOUTQ` (`TIOCOUTQ`
    // on Linux) writes; the fd is open for as long as `s` is borrowed.
    let rc = unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    assert_eq!(rc, 0, "ioctl(SIOCOUTQ): {}", io::Error::last_os_error());
    usize::try_from(n).unwrap_or(0)
}

/// Lets this process open only `more` files beyond those open now:
/// descriptors are allocated lowest first, so the next one it opens is the
/// lowest free number, and the limit is set just above it (descriptors
/// already above the limit stay open).
pub fn limit_open_files(more: u64) {
    let lowest = std::fs::File::open("/dev/null").expect("open /dev/null").as_raw_fd() as libc::rlim_t;
    let limit = libc::rlimit { rlim_cur: lowest + more, rlim_max: lowest + more };
    // SAFETY: `limit` is a live `rlimit` that setrlimit(2) only reads.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0, "setrlimit");
}
