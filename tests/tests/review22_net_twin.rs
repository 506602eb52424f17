//! Review 22: edge semantics of the green sockets against std's (issue 4).
//! Each body is compiled twice — with `std::net`/`std::os::unix::net` on
//! OS threads and with `guv::green::*` on greenlets — and both runs must
//! report the same observations: values, `io::ErrorKind` and the raw OS
//! error where std has one.

/// An I/O result as these twins compare it: the value, or the error's
/// kind and raw OS error.
fn res<T: std::fmt::Debug>(r: &std::io::Result<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("{:?} {:?}", e.kind(), e.raw_os_error()),
    }
}

/// A fresh directory for one side's Unix socket paths (`side` tells the
/// two runs apart).
fn temp_dir(side: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("guv-r22-{}-{}", std::process::id(), side.replace("::", "-")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

guv_tests::twins! {
    std: {
        use std::{io, net, thread, time};
        use std::io::{Read, Write};
        use std::os::unix::net as unix;
        use super::{res, temp_dir};
    }
    green: {
        use guv::green::{io, net, thread, time};
        use std::io::{Read, Write};
        use guv::green::os::unix::net as unix;
        use super::{res, temp_dir};
    }
    /// std reads the timeouts back from the kernel, which keeps them in
    /// scheduler ticks: a duration that is not a whole number of ticks
    /// comes back rounded up, and one too long to count is "no timeout".
    fn timeouts_read_back_as_the_kernel_keeps_them() -> Vec<String> {
        let mut out = Vec::new();
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (x, _y) = unix::UnixStream::pair().unwrap();
        let (d, _e) = unix::UnixDatagram::pair().unwrap();
        let tries = [
            time::Duration::from_nanos(1),
            time::Duration::from_micros(1500),
            time::Duration::new(1, 1),
            time::Duration::from_millis(20),
            time::Duration::MAX,
        ];
        for t in tries {
            out.push(format!("tcp {:?} {:?}", res(&c.set_read_timeout(Some(t))), c.read_timeout().unwrap()));
            out.push(format!("tcp w {:?} {:?}", res(&c.set_write_timeout(Some(t))), c.write_timeout().unwrap()));
            out.push(format!("udp {:?} {:?}", res(&u.set_read_timeout(Some(t))), u.read_timeout().unwrap()));
            out.push(format!("udp w {:?} {:?}", res(&u.set_write_timeout(Some(t))), u.write_timeout().unwrap()));
            out.push(format!("unix {:?} {:?}", res(&x.set_read_timeout(Some(t))), x.read_timeout().unwrap()));
            out.push(format!("unix w {:?} {:?}", res(&x.set_write_timeout(Some(t))), x.write_timeout().unwrap()));
            out.push(format!("dgram {:?} {:?}", res(&d.set_read_timeout(Some(t))), d.read_timeout().unwrap()));
            out.push(format!("dgram w {:?} {:?}", res(&d.set_write_timeout(Some(t))), d.write_timeout().unwrap()));
        }
        let clone = c.try_clone().unwrap();
        c.set_read_timeout(Some(time::Duration::from_micros(1500))).unwrap();
        out.push(format!("clone {:?}", clone.read_timeout().unwrap()));
        out.push(res(&c.set_write_timeout(Some(time::Duration::ZERO))));
        out.push(res(&u.set_write_timeout(Some(time::Duration::ZERO))));
        out.push(res(&x.set_read_timeout(Some(time::Duration::ZERO))));
        out.push(res(&d.set_write_timeout(Some(time::Duration::ZERO))));
        out
    }

    /// A zero-length read (or peek) of a stream socket waits for data
    /// like any other, as the kernel wants one byte to be there; when the
    /// read timeout ends the wait, Linux answers 0 bytes for TCP but
    /// `EAGAIN` for a Unix stream. In non-blocking mode both say `EAGAIN`
    /// at once.
    fn zero_length_stream_reads_wait_then_give_zero() -> Vec<String> {
        let mut out = Vec::new();
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.set_read_timeout(Some(time::Duration::from_millis(30))).unwrap();
        let start = time::Instant::now();
        out.push(res(&c.read(&mut [])));
        out.push(format!("waited {}", start.elapsed() >= time::Duration::from_millis(25)));
        let start = time::Instant::now();
        out.push(res(&c.peek(&mut [])));
        out.push(format!("waited {}", start.elapsed() >= time::Duration::from_millis(25)));
        out.push(res(&c.read_vectored(&mut [io::IoSliceMut::new(&mut [])])));
        c.set_nonblocking(true).unwrap();
        out.push(res(&c.read(&mut [])));
        out.push(res(&c.peek(&mut [])));
        c.set_nonblocking(false).unwrap();
        c.set_read_timeout(Some(time::Duration::from_secs(20))).unwrap();
        s.write_all(b"x").unwrap();
        out.push(res(&c.read(&mut [])));
        out.push(res(&c.peek(&mut [])));
        out.push(res(&c.read(&mut [0; 4])));

        let (mut x, mut y) = unix::UnixStream::pair().unwrap();
        x.set_read_timeout(Some(time::Duration::from_millis(30))).unwrap();
        let start = time::Instant::now();
        out.push(res(&x.read(&mut [])));
        out.push(format!("waited {}", start.elapsed() >= time::Duration::from_millis(25)));
        x.set_nonblocking(true).unwrap();
        out.push(res(&x.read(&mut [])));
        x.set_nonblocking(false).unwrap();
        y.write_all(b"y").unwrap();
        out.push(res(&x.read(&mut [])));
        out.push(res(&x.read(&mut [0; 4])));
        out
    }

    fn tcp_peek_and_shutdown_edges() -> Vec<String> {
        let mut out = Vec::new();
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        out.push(res(&c.write(&[])));
        c.set_read_timeout(Some(time::Duration::from_secs(20))).unwrap();
        s.write_all(b"hello").unwrap();
        let mut two = [0; 2];
        out.push(res(&c.peek(&mut two)));
        out.push(res(&c.peek(&mut [])));
        out.push(res(&c.read(&mut [])));
        let mut buf = [0; 16];
        let n = c.read(&mut buf).unwrap();
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        out.push(res(&c.shutdown(net::Shutdown::Read)));
        out.push(res(&c.read(&mut buf)));
        out.push(res(&c.peek(&mut buf)));
        out.push(res(&c.shutdown(net::Shutdown::Read)));
        out.push(res(&c.shutdown(net::Shutdown::Write)));
        out.push(res(&c.shutdown(net::Shutdown::Write)));
        out.push(res(&c.write(b"late")));
        out.push(res(&c.write(&[])));
        let mut rest = Vec::new();
        out.push(res(&s.read_to_end(&mut rest)));
        out.push(res(&c.shutdown(net::Shutdown::Both)));
        out.push(res(&c.take_error()));
        out
    }

    fn tcp_refusals_and_a_non_blocking_listener() -> Vec<String> {
        let mut out = Vec::new();
        let (_held, closed) = guv_tests::net::refusing_addr();
        out.push(res(&net::TcpStream::connect(closed).map(drop)));
        out.push(res(&net::TcpStream::connect_timeout(&closed, time::Duration::from_secs(10)).map(drop)));
        let none: &[net::SocketAddr] = &[];
        out.push(res(&net::TcpStream::connect(none).map(drop)));
        out.push(res(&net::TcpListener::bind(none).map(drop)));
        out.push(res(&net::UdpSocket::bind(none).map(drop)));

        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let l2 = l.try_clone().unwrap();
        l2.set_nonblocking(true).unwrap();
        out.push(res(&l.accept().map(drop)));
        out.push(res(&l.incoming().next().unwrap().map(drop)));
        let _c = net::TcpStream::connect(addr).unwrap();
        let s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::yield_now(),
                Err(e) => panic!("accept: {e}"),
            }
        };
        // A connection accepted by a non-blocking listener is blocking.
        s.set_read_timeout(Some(time::Duration::from_millis(30))).unwrap();
        let start = time::Instant::now();
        out.push(res(&(&s).read(&mut [0; 4])));
        out.push(format!("waited {}", start.elapsed() >= time::Duration::from_millis(25)));
        out.push(format!("{:?}", s.read_timeout().unwrap()));
        out
    }

    /// `Read` and `Write` for `&TcpStream`, used at once by a writer and
    /// a reader on one socket, through an echoing peer: each side fills
    /// its buffers, so both park (or block) at once.
    fn shared_stream_read_and_written_at_once() -> Vec<String> {
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let echo = thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let n = std::io::copy(&mut &s, &mut &s).unwrap();
            s.shutdown(net::Shutdown::Write).unwrap();
            n
        });
        let c = std::sync::Arc::new(net::TcpStream::connect(addr).unwrap());
        let w = c.clone();
        let writer = thread::spawn(move || {
            let chunk: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
            for _ in 0..16 {
                (&*w).write_all(&chunk).unwrap();
            }
            w.shutdown(net::Shutdown::Write).unwrap();
        });
        let r = c.clone();
        let reader = thread::spawn(move || {
            let mut all = Vec::new();
            (&*r).read_to_end(&mut all).unwrap();
            let in_order = all.iter().enumerate().all(|(i, b)| *b == i as u8);
            (all.len(), in_order)
        });
        writer.join().unwrap();
        let (n, in_order) = reader.join().unwrap();
        vec![format!("{n} {in_order}"), echo.join().unwrap().to_string()]
    }

    fn udp_truncation_unconnected_sends_and_a_port_unreachable() -> Vec<String> {
        let mut out = Vec::new();
        let a = net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = b.local_addr().unwrap();
        out.push(res(&a.send(b"nowhere")));
        let none: &[net::SocketAddr] = &[];
        out.push(res(&a.send_to(b"x", none)));
        a.send_to(b"0123456789", b_addr).unwrap();
        a.send_to(b"next", b_addr).unwrap();
        a.send_to(b"last", b_addr).unwrap();
        let mut small = [0; 4];
        let (n, from) = b.peek_from(&mut small).unwrap();
        out.push(format!("peek {n} {}", from == a.local_addr().unwrap()));
        out.push(res(&b.peek(&mut [])));
        let (n, _) = b.recv_from(&mut small).unwrap();
        out.push(format!("{n} {}", String::from_utf8_lossy(&small[..n])));
        out.push(res(&b.recv(&mut [])));
        out.push(res(&b.recv(&mut small)));
        b.set_read_timeout(Some(time::Duration::from_millis(20))).unwrap();
        out.push(res(&b.recv(&mut small)));
        b.set_nonblocking(true).unwrap();
        out.push(res(&b.recv_from(&mut small).map(|(n, _)| n)));
        out.push(res(&b.peek_from(&mut small).map(|(n, _)| n)));
        // A connected socket sends wherever send_to says.
        a.connect(b_addr).unwrap();
        let c = net::UdpSocket::bind("127.0.0.1:0").unwrap();
        out.push(res(&a.send_to(b"elsewhere", c.local_addr().unwrap())));
        c.set_read_timeout(Some(time::Duration::from_secs(20))).unwrap();
        out.push(res(&c.recv(&mut [0; 16])));

        // Nothing takes datagrams to `holder`'s port from anyone but
        // `c`: the kernel answers them with an ICMP port unreachable,
        // which a connected sender's next receive reports. Holding the
        // port keeps anything else from binding it meanwhile.
        let holder = net::UdpSocket::bind("127.0.0.1:0").unwrap();
        holder.connect(c.local_addr().unwrap()).unwrap();
        let y = net::UdpSocket::bind("127.0.0.1:0").unwrap();
        y.set_read_timeout(Some(time::Duration::from_secs(20))).unwrap();
        y.connect(holder.local_addr().unwrap()).unwrap();
        out.push(res(&y.send(b"anyone?")));
        out.push(res(&y.recv(&mut [0; 8])));
        out.push(res(&y.take_error().map(|e| e.map(|e| e.kind()))));
        out.push(res(&y.send(b"again")));
        out.push(res(&y.recv_from(&mut [0; 8]).map(|(n, _)| n)));
        out.push(res(&y.send(b"once more")));
        y.set_nonblocking(true).unwrap();
        // The error is pending once the ICMP is in: wait for it.
        let r = loop {
            match y.peek(&mut [0; 8]) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::yield_now(),
                other => break other,
            }
        };
        out.push(res(&r));
        out
    }

    fn unix_paths_names_and_errors() -> Vec<String> {
        let mut out = Vec::new();
        let dir = temp_dir(module_path!());
        let p = dir.join("l.sock");
        let l = unix::UnixListener::bind(&p).unwrap();
        out.push(res(&unix::UnixListener::bind(&p).map(drop)));
        out.push(res(&unix::UnixDatagram::bind(&p).map(drop)));
        let (a, b) = unix::UnixStream::pair().unwrap();
        out.push(format!("pair {} {}", a.peer_addr().unwrap().is_unnamed(), a.local_addr().unwrap().is_unnamed()));
        let c = unix::UnixStream::connect(&p).unwrap();
        let (s, from) = l.accept().unwrap();
        out.push(format!("accepted from unnamed {}", from.is_unnamed()));
        out.push(format!("{}", c.peer_addr().unwrap().as_pathname() == Some(p.as_path())));
        out.push(format!("{}", s.local_addr().unwrap().as_pathname() == Some(p.as_path())));
        out.push(format!("{}", s.peer_addr().unwrap().is_unnamed()));
        out.push(res(&unix::UnixStream::connect(dir.join("missing")).map(drop)));
        out.push(res(&unix::UnixStream::connect("").map(drop)));
        out.push(res(&unix::UnixStream::connect("a\0b").map(drop)));
        // A leading NUL is not an abstract name for a path: std refuses it.
        let abstract_name = format!("\0guv-r22-{}-{}", std::process::id(), module_path!());
        out.push(res(&unix::UnixStream::connect(&abstract_name).map(drop)));
        out.push(res(&unix::UnixStream::connect("x".repeat(107)).map(drop)));
        out.push(res(&unix::UnixStream::connect("x".repeat(108)).map(drop)));
        let file = dir.join("file");
        std::fs::write(&file, b"").unwrap();
        out.push(res(&unix::UnixStream::connect(&file).map(drop)));

        let u = unix::UnixDatagram::unbound().unwrap();
        out.push(res(&u.send_to(b"x", dir.join("missing"))));
        out.push(res(&u.send_to(b"x", &p)));
        out.push(res(&u.send(b"x")));
        out.push(res(&u.peer_addr().map(drop)));
        out.push(res(&u.connect(dir.join("missing"))));
        u.set_read_timeout(Some(time::Duration::from_millis(20))).unwrap();
        out.push(res(&u.recv(&mut [0; 4])));
        u.set_nonblocking(true).unwrap();
        out.push(res(&u.recv_from(&mut [0; 4]).map(|(n, _)| n)));

        out.push(res(&(&a).write(&[])));
        b.shutdown(net::Shutdown::Write).unwrap();
        out.push(res(&(&a).read(&mut [])));
        out.push(res(&(&a).read(&mut [0; 4])));
        out.push(res(&(&b).write(b"x")));
        out.push(res(&a.shutdown(net::Shutdown::Read)));
        out.push(res(&a.shutdown(net::Shutdown::Read)));
        drop(b);
        out.push(res(&(&a).write(b"x")));
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    /// A datagram socket whose receiving side is shut down reads 0 bytes
    /// at once (std's blocking receive stops waiting), whether the
    /// shutdown came before the receive or while it waited.
    fn unix_datagram_receive_after_shutdown_reads_zero() -> Vec<String> {
        let mut out = Vec::new();
        let (a, b) = unix::UnixDatagram::pair().unwrap();
        a.set_read_timeout(Some(time::Duration::from_secs(20))).unwrap();
        b.send(b"queued").unwrap();
        out.push(res(&a.shutdown(net::Shutdown::Read)));
        out.push(res(&a.recv(&mut [0; 8])));
        out.push(res(&a.recv(&mut [0; 8])));
        out.push(res(&a.recv_from(&mut [0; 8]).map(|(n, from)| format!("{n} {from:?} {}", from.is_unnamed()))));
        out.push(res(&b.send(b"after")));
        a.set_nonblocking(true).unwrap();
        out.push(res(&a.recv(&mut [0; 8])));
        a.set_nonblocking(false).unwrap();

        let u = unix::UnixDatagram::unbound().unwrap();
        u.set_read_timeout(Some(time::Duration::from_secs(20))).unwrap();
        out.push(res(&u.shutdown(net::Shutdown::Both)));
        out.push(res(&u.recv(&mut [0; 4])));

        // A receiver waiting when another thread shuts its socket down.
        let (c, _d) = unix::UnixDatagram::pair().unwrap();
        c.set_read_timeout(Some(time::Duration::from_secs(20))).unwrap();
        let c = std::sync::Arc::new(c);
        let c2 = c.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = thread::spawn(move || {
            tx.send(()).unwrap();
            c2.recv(&mut [0; 4])
        });
        // A channel receive is not green: wait for it with a yield loop.
        while rx.try_recv().is_err() {
            thread::yield_now();
        }
        out.push(res(&c.shutdown(net::Shutdown::Read)));
        out.push(res(&waiter.join().unwrap()));
        out
    }

    /// A reset ends a read that waits after a draining one, and the
    /// non-blocking flag and the listeners' modes are shared by clones.
    fn resets_and_modes_shared_by_clones() -> Vec<String> {
        let mut out = Vec::new();
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.set_read_timeout(Some(time::Duration::from_secs(20))).unwrap();
        s.write_all(b"abc").unwrap();
        let mut buf = [0; 16];
        out.push(res(&c.read(&mut buf)));
        guv_tests::net::reset_on_close(&s);
        drop(s);
        out.push(res(&c.read(&mut buf)));
        out.push(res(&c.read(&mut buf)));
        out.push(res(&c.take_error().map(|e| e.map(|e| e.kind()))));

        let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let v = u.try_clone().unwrap();
        v.set_nonblocking(true).unwrap();
        out.push(res(&u.recv(&mut buf)));
        out.push(res(&u.peek_from(&mut buf).map(|(n, _)| n)));
        v.set_read_timeout(Some(time::Duration::from_millis(20))).unwrap();
        v.set_nonblocking(false).unwrap();
        out.push(format!("{:?}", u.read_timeout().unwrap()));
        out.push(res(&u.recv(&mut buf)));

        let dir = temp_dir(module_path!());
        let ul = unix::UnixListener::bind(dir.join("l.sock")).unwrap();
        ul.try_clone().unwrap().set_nonblocking(true).unwrap();
        out.push(res(&ul.accept().map(drop)));
        out.push(res(&ul.incoming().next().unwrap().map(drop)));
        let _c = unix::UnixStream::connect(dir.join("l.sock")).unwrap();
        let (a, _) = ul.accept().unwrap();
        // Accepted from a non-blocking listener, it is blocking.
        a.set_read_timeout(Some(time::Duration::from_millis(20))).unwrap();
        out.push(res(&(&a).read(&mut buf)));
        let _ = std::fs::remove_dir_all(&dir);
        out
    }
}
