//! Review 18: green sockets against std's documented behaviour.

use std::time::Duration;

/// CPU time (user + system) this thread has used, from
/// `/proc/thread-self/stat`, in clock ticks (10 ms on Linux).
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // The command name (field 2) may hold spaces: count after its ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after it.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A send to an unconnected Unix datagram socket whose queue is full
/// waits, as std's blocking `send_to` does, until the receiver makes room,
/// without spinning. Linux wakes the sender's writability on every failed
/// attempt (the datagram it allocated is freed) while its socket stays
/// writable — only a connected sender is told about its peer's queue — so
/// before the fix the green `send_to` retried in a busy loop: the hub
/// never slept, and this thread burnt its CPU for as long as the queue
/// stayed full (about 220 ms of the 300 ms here).
#[test]
fn unix_datagram_send_to_a_full_queue_waits_without_spinning() {
    let dir = std::env::temp_dir().join(format!("guv-review18-dgram-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("r.sock");
    let _ = std::fs::remove_file(&path);
    let receiver = guv::net::unix::UnixDatagram::bind(&path).unwrap();
    // Another sender fills the receiver's queue.
    let filler = std::os::unix::net::UnixDatagram::unbound().unwrap();
    filler.set_nonblocking(true).unwrap();
    let mut queued = 0;
    while filler.send_to(b"f", &path).is_ok() {
        queued += 1;
    }
    assert!(queued > 0);
    let sender = guv::net::unix::UnixDatagram::unbound().unwrap();
    let p2 = path.clone();
    let g = guv::spawn(move || sender.send_to(b"late", &p2));
    // `g` runs up to its wait on the full queue before this returns.
    guv::gyield();
    let before = thread_cpu_ticks();
    guv::sleep(Duration::from_millis(300));
    let spent = thread_cpu_ticks() - before;
    assert!(spent <= 6, "the waiting send_to burnt {spent} ticks of CPU in 300 ms");
    // Room made by reading the other sender's datagrams lets it through.
    let mut buf = [0; 8];
    for _ in 0..queued {
        assert_eq!(receiver.recv(&mut buf).unwrap(), 1);
    }
    assert_eq!(g.wait().unwrap().unwrap(), 4);
    assert_eq!(receiver.recv(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"late");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same wait honours the write timeout (`WouldBlock` after it, as
/// std's blocking `send_to` with `SO_SNDTIMEO`) and non-blocking mode.
#[test]
fn unix_datagram_send_to_a_full_queue_honours_timeout_and_nonblocking() {
    let dir = std::env::temp_dir().join(format!("guv-review18-dgram-t-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("r.sock");
    let _ = std::fs::remove_file(&path);
    let _receiver = guv::net::unix::UnixDatagram::bind(&path).unwrap();
    let filler = std::os::unix::net::UnixDatagram::unbound().unwrap();
    filler.set_nonblocking(true).unwrap();
    while filler.send_to(b"f", &path).is_ok() {}
    let sender = guv::net::unix::UnixDatagram::unbound().unwrap();
    sender.set_write_timeout(Some(Duration::from_millis(30))).unwrap();
    let start = std::time::Instant::now();
    let err = sender.send_to(b"x", &path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    assert!(start.elapsed() >= Duration::from_millis(30));
    sender.set_nonblocking(true).unwrap();
    let err = sender.send_to(b"x", &path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    let _ = std::fs::remove_dir_all(&dir);
}
