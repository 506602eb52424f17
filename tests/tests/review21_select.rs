//! Review 21: adversarial probes of `guv::select` through the public API:
//! an fd closed (through `notify_close`) while selected, sets larger than
//! half the open-file limit, non-socket fds, the same fd twice.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use guv::{Interest, Readiness};
use guv_tests::{child_role, run_child};

/// A selected fd that another greenlet closes — telling the hub first with
/// `notify_close`, as `trampoline`'s contract asks of raw fds — ends the
/// select with `NotConnected`, as it ends a `trampoline` on that fd; it
/// used to keep waiting on a duplicate of the fd, which also kept the
/// closed socket open (the peer never saw the close).
#[test]
fn a_selected_fd_closed_by_another_greenlet_ends_the_select_with_not_connected() {
    let (a, mut a_peer) = UnixStream::pair().unwrap();
    let (b, _b_peer) = UnixStream::pair().unwrap();
    let raw = a.as_raw_fd();
    let selecting = guv::spawn(move || {
        // SAFETY: the fd is open until the closer below closes it, after
        // notify_close, which is when select must stop using it.
        let a = unsafe { BorrowedFd::borrow_raw(raw) };
        guv::select(&[(a, Interest::READABLE), (b.as_fd(), Interest::READABLE)], Some(Duration::from_secs(20)))
    });
    guv::gyield(); // it waits
    guv::notify_close(&a);
    drop(a);
    let e = selecting.wait().unwrap().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotConnected, "{e}");
    assert!(e.to_string().contains(&format!("fd {raw}")), "{e}");
    // The close reached the peer: nothing of guv's holds the socket open.
    a_peer.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(a_peer.read(&mut [0u8; 1]).unwrap(), 0, "the peer sees end of input");
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 0);
    assert_eq!(guv::hub::stats().live_greenlets, 0);
}

/// A select over more fds than are left under the open-file limit works:
/// it used to duplicate every fd it waited on, so selecting on half the
/// limit's worth of sockets failed with `EMFILE`.
#[test]
fn a_select_over_more_fds_than_are_left_under_the_open_file_limit() {
    if child_role().as_deref() != Some("select-many") {
        let out = run_child("a_select_over_more_fds_than_are_left_under_the_open_file_limit", "select-many");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    const PAIRS: usize = 600;
    // Room for the pairs and a few more descriptors (the hub's poller and
    // notifier, a helper's), but not for a second copy of the selected set.
    guv_tests::net::limit_open_files(2 * PAIRS as u64 + 64);
    let pairs: Vec<(UnixStream, UnixStream)> = (0..PAIRS).map(|_| UnixStream::pair().unwrap()).collect();
    let fds: Vec<(&UnixStream, Interest)> = pairs.iter().map(|(a, _)| (a, Interest::READABLE)).collect();
    assert!(guv::select(&fds, Some(Duration::from_millis(5))).unwrap().is_empty());
    let mut late = pairs[PAIRS - 7].1.try_clone().unwrap();
    guv::spawn_n(move || late.write_all(b"x").unwrap());
    let ready = guv::select(&fds, Some(Duration::from_secs(20))).unwrap();
    assert_eq!(ready, [Readiness { index: PAIRS - 7, readable: true, writable: false }]);
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 0);
}

/// Non-socket fds: a pipe's read end is readable once its writer is gone
/// (POLLHUP alone, no POLLIN) and its write end writable-as-broken once its
/// reader is gone (POLLERR alone), so a select waiting on either wakes; a
/// regular file is always ready, as poll(2) says, rather than an error.
#[test]
fn a_pipe_whose_other_end_closes_wakes_the_select_and_a_file_is_always_ready() {
    let (r, w) = std::io::pipe().unwrap();
    let closer = guv::spawn(move || drop(w));
    let ready = guv::select(&[(&r, Interest::READABLE)], Some(Duration::from_secs(20))).unwrap();
    assert_eq!(ready, [Readiness { index: 0, readable: true, writable: false }]);
    closer.wait().unwrap();

    let (r, mut w) = std::io::pipe().unwrap();
    // Fill the pipe so that the write end is not writable.
    set_nonblocking(&w);
    let chunk = [0u8; 4096];
    while w.write(&chunk).is_ok() {}
    let closer = guv::spawn(move || drop(r));
    let ready = guv::select(&[(&w, Interest::WRITABLE)], Some(Duration::from_secs(20))).unwrap();
    assert_eq!(ready, [Readiness { index: 0, readable: false, writable: true }]);
    closer.wait().unwrap();

    let file = std::fs::File::open(env!("CARGO_MANIFEST_PATH")).unwrap();
    let ready = guv::select(&[(&file, Interest::READABLE | Interest::WRITABLE)], None).unwrap();
    assert_eq!(ready, [Readiness { index: 0, readable: true, writable: true }]);
}

fn set_nonblocking(fd: &impl AsRawFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl(2) on an fd the caller keeps open; no pointers.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    assert!(flags >= 0);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) }, 0);
}

/// The same fd listed twice for the same interest, not ready when the
/// select starts: both entries are reported once it is.
#[test]
fn the_same_fd_listed_twice_is_reported_twice_after_a_wait() {
    let (a, mut peer) = UnixStream::pair().unwrap();
    let writer = guv::spawn(move || peer.write_all(b"x").map(|()| peer));
    let fds = [(&a, Interest::READABLE), (&a, Interest::READABLE)];
    assert!(guv::select(&fds, Some(Duration::ZERO)).unwrap().is_empty());
    // (`Duration::MAX` overflows any deadline: it waits without one.)
    let ready = guv::select(&fds, Some(Duration::MAX)).unwrap();
    assert_eq!(ready.iter().map(|r| (r.index, r.readable)).collect::<Vec<_>>(), [(0, true), (1, true)]);
    let _peer = writer.wait().unwrap().unwrap();
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 0);
}
