//! What one `write` (or `write_vectored`) of a green stream socket returns,
//! against std's blocking socket, as twins (see review22_net_twin.rs): a
//! blocking socket's write returns once all of the buffer is in the
//! socket, however slowly the peer reads; with a write timeout and a peer
//! that stops reading, it returns what went in before the timeout, or
//! `WouldBlock` when nothing did; in non-blocking mode, what went in at
//! once. For `TcpStream` and `UnixStream`, through `T` and `&T`.

use std::io::{IoSlice, Read, Write};
use std::time::{Duration, Instant};

/// More than a loopback TCP or Unix socket pair holds before its reader
/// reads (Linux lets TCP buffers grow to a few MiB while data flows).
const BIG: usize = 16 << 20;

/// The write timeout of the tests where the peer stops reading.
const TIMEOUT: Duration = Duration::from_millis(200);

/// An I/O result as these twins compare it: the value, or the error's
/// kind and raw OS error.
fn res<T: std::fmt::Debug>(r: &std::io::Result<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("{:?} {:?}", e.kind(), e.raw_os_error()),
    }
}

/// A write's result where the count varies with the kernel's buffers:
/// whether it wrote some but not all of `len` bytes.
fn part(r: &std::io::Result<usize>, len: usize) -> String {
    match r {
        Ok(n) if *n > 0 && *n < len => "ok part".to_owned(),
        r => res(r),
    }
}

/// The bytes the writers send: position modulo a prime, so that a byte
/// lost, repeated or out of order shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The reader that reads slowly: 4 KiB at a time, yielding between
/// reads, until the end of the stream; reports how much it read and
/// whether it was the pattern in order.
fn drain(mut r: impl Read, yield_now: fn()) -> String {
    let mut buf = [0; 4096];
    let (mut n, mut in_order) = (0, true);
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                in_order &= buf[..k].iter().enumerate().all(|(i, b)| *b == ((n + i) % 251) as u8);
                n += k;
                yield_now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("the reader failed: {e}"),
        }
    }
    format!("read {n} in order {in_order}")
}

/// Four writes of `BIG` bytes each to a slowly reading peer: `write` and
/// `write_vectored` through `T` and through `&T`. Each must return `BIG`.
fn four_big_writes<S>(c: &mut S) -> Vec<String>
where
    S: Write,
    for<'a> &'a S: Write,
{
    let data = pattern(4 * BIG);
    let mut out = Vec::new();
    out.push(res(&c.write(&data[..BIG])));
    out.push(res(&(&*c).write(&data[BIG..2 * BIG])));
    let third = &data[2 * BIG..3 * BIG];
    let slices = [
        IoSlice::new(&third[..1000]),
        IoSlice::new(&[]),
        IoSlice::new(&third[1000..BIG / 2]),
        IoSlice::new(&third[BIG / 2..]),
    ];
    out.push(res(&c.write_vectored(&slices)));
    let fourth = &data[3 * BIG..];
    let slices = [IoSlice::new(&fourth[..BIG / 3]), IoSlice::new(&fourth[BIG / 3..])];
    out.push(res(&(&*c).write_vectored(&slices)));
    out.push(res(&c.write(&[])));
    out.push(res(&c.flush()));
    out
}

/// Writes to a peer that never reads, with the write timeout `TIMEOUT`
/// set: the first fills the socket and returns that part when the timeout
/// ends; the next ones have nothing to send and fail with the error std
/// gives; each waits for the timeout. Then one in non-blocking mode, which
/// fails at once.
fn writes_to_a_stalled_peer<S>(c: &mut S, set_nonblocking: impl Fn(&S, bool)) -> Vec<String>
where
    S: Write,
    for<'a> &'a S: Write,
{
    let data = pattern(BIG);
    let mut out = Vec::new();
    let timed = |out: &mut Vec<String>, start: Instant| {
        let took = start.elapsed();
        out.push(format!(
            "waited for the timeout {}",
            took >= TIMEOUT - Duration::from_millis(20) && took < 20 * TIMEOUT
        ));
    };
    let start = Instant::now();
    out.push(part(&c.write(&data), BIG));
    timed(&mut out, start);
    let start = Instant::now();
    out.push(part(&c.write(&data), BIG));
    timed(&mut out, start);
    let start = Instant::now();
    out.push(part(&(&*c).write(&data), BIG));
    timed(&mut out, start);
    let start = Instant::now();
    out.push(part(&c.write_vectored(&[IoSlice::new(&data[..10]), IoSlice::new(&data[10..])]), BIG));
    timed(&mut out, start);
    let start = Instant::now();
    out.push(part(&(&*c).write_vectored(&[IoSlice::new(&data)]), BIG));
    timed(&mut out, start);
    set_nonblocking(c, true);
    let start = Instant::now();
    out.push(part(&c.write(&data), BIG));
    out.push(format!("at once {}", start.elapsed() < TIMEOUT / 2));
    out
}

/// In non-blocking mode a write takes what the socket takes at once (the
/// peer does not read), then says `WouldBlock`.
fn non_blocking_writes<S>(c: &mut S) -> Vec<String>
where
    S: Write,
    for<'a> &'a S: Write,
{
    let data = pattern(BIG);
    let start = Instant::now();
    let out = vec![
        part(&c.write(&data), BIG),
        part(&(&*c).write(&data), BIG),
        part(&c.write_vectored(&[IoSlice::new(&data[..10]), IoSlice::new(&data[10..])]), BIG),
        part(&(&*c).write_vectored(&[IoSlice::new(&data)]), BIG),
    ];
    let mut out = out;
    out.push(format!("at once {}", start.elapsed() < TIMEOUT));
    out
}

guv_tests::twins! {
    std: {
        use std::{net, thread};
        use std::io::Write;
        use std::os::unix::net as unix;
        use super::{drain, four_big_writes, non_blocking_writes, writes_to_a_stalled_peer, TIMEOUT};
    }
    green: {
        use guv::green::{net, thread};
        use std::io::Write;
        use guv::green::os::unix::net as unix;
        use super::{drain, four_big_writes, non_blocking_writes, writes_to_a_stalled_peer, TIMEOUT};
    }
    /// Each write returns all of its several MiB, as std's blocking send
    /// waits while the peer reads; the peer gets all of it, in order.
    fn tcp_big_writes_to_a_slow_reader_return_the_whole_length() -> Vec<String> {
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let reader = thread::spawn(move || drain(s, thread::yield_now));
        let mut out = four_big_writes(&mut c);
        c.shutdown(net::Shutdown::Write).unwrap();
        out.push(reader.join().unwrap());
        out
    }

    fn unix_big_writes_to_a_slow_reader_return_the_whole_length() -> Vec<String> {
        let (mut c, s) = unix::UnixStream::pair().unwrap();
        let reader = thread::spawn(move || drain(s, thread::yield_now));
        let mut out = four_big_writes(&mut c);
        c.shutdown(net::Shutdown::Write).unwrap();
        out.push(reader.join().unwrap());
        out
    }

    fn tcp_writes_with_a_timeout_to_a_peer_that_stopped_reading() -> Vec<String> {
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, _) = l.accept().unwrap();
        c.set_write_timeout(Some(TIMEOUT)).unwrap();
        writes_to_a_stalled_peer(&mut c, |c, on| c.set_nonblocking(on).unwrap())
    }

    fn unix_writes_with_a_timeout_to_a_peer_that_stopped_reading() -> Vec<String> {
        let (mut c, _s) = unix::UnixStream::pair().unwrap();
        c.set_write_timeout(Some(TIMEOUT)).unwrap();
        writes_to_a_stalled_peer(&mut c, |c, on| c.set_nonblocking(on).unwrap())
    }

    fn tcp_non_blocking_writes_return_what_went_at_once() -> Vec<String> {
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, _) = l.accept().unwrap();
        c.set_nonblocking(true).unwrap();
        non_blocking_writes(&mut c)
    }

    /// The peer reads a little, then closes with data unread (a reset):
    /// the write that was under way returns the part that went, the next
    /// ones fail.
    fn tcp_write_cut_short_by_a_reset() -> Vec<String> {
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let reader = thread::spawn(move || {
            let mut buf = vec![0; 1 << 20];
            std::io::Read::read_exact(&mut s, &mut buf).unwrap();
        });
        let data = super::pattern(super::BIG);
        let mut out = vec![super::part(&c.write(&data), super::BIG)];
        reader.join().unwrap();
        out.push(super::res(&c.write(&data)));
        out.push(super::res(&c.write(&data)));
        out
    }

    fn unix_write_cut_short_by_a_close() -> Vec<String> {
        let (mut c, mut s) = unix::UnixStream::pair().unwrap();
        let reader = thread::spawn(move || {
            let mut buf = vec![0; 1 << 20];
            std::io::Read::read_exact(&mut s, &mut buf).unwrap();
        });
        let data = super::pattern(super::BIG);
        let mut out = vec![super::part(&c.write(&data), super::BIG)];
        reader.join().unwrap();
        out.push(super::res(&c.write(&data)));
        out
    }

    fn unix_non_blocking_writes_return_what_went_at_once() -> Vec<String> {
        let (mut c, _s) = unix::UnixStream::pair().unwrap();
        c.set_nonblocking(true).unwrap();
        non_blocking_writes(&mut c)
    }
}
