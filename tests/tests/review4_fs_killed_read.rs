//! Review of the green `File`'s killed-read rewind with the pool at its
//! usual size (several threads): the killed read's job may still be
//! running when its caller, having caught the kill, reads again. That read
//! must neither be cut into by the abandoned job nor be undone by its
//! rewind: it gets the file from where the killed read started, and leaves
//! the position where it ended. One test in its own binary (it uses the
//! pool's default size).

use std::io::Read;
use std::rc::Rc;

use guv::green::fs::File;

#[test]
fn a_read_after_a_killed_one_is_not_disturbed_by_its_rewind() {
    assert!(guv::tpool::size() >= 2, "the race needs two pool threads");
    let dir = std::env::temp_dir().join(format!("guv-review4-killed-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data");
    // Large enough that the abandoned job is still reading when the next
    // read is queued (a few milliseconds of copying).
    let content: Vec<u8> = (0..(8u32 << 20)).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(&path, &content).unwrap();
    for round in 0..5 {
        let file = Rc::new(File::open(&path).unwrap());
        let log = guv_tests::Log::new();
        let (l2, f2) = (log.clone(), file.clone());
        let reader = guv::spawn(move || {
            l2.push("reading");
            let _ = (&*f2).read_to_end(&mut Vec::new());
            "unreachable"
        });
        while log.take().is_empty() {
            guv::gyield();
        }
        // The reader's job is on the pool; the reader is killed and the
        // file read again at once.
        reader.kill();
        if reader.wait().is_ok() {
            // The read was over before the kill (a slow scheduler): the
            // round proves nothing.
            continue;
        }
        let mut got = Vec::new();
        (&*file).read_to_end(&mut got).unwrap();
        assert!(got == content, "round {round}: the read got {} bytes, not the file's {}", got.len(), content.len());
        // Whatever the killed job did, it is over: the position stays at
        // the end.
        let mut more = Vec::new();
        (&*file).read_to_end(&mut more).unwrap();
        assert_eq!(more.len(), 0, "round {round}: the killed read's rewind moved the position after the next read");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The turns are for files with a position: on a FIFO opened read-write, a
/// read waiting on the pool for data does not hold back the write (on the
/// same `File`) that brings it.
#[test]
fn a_fifo_read_waiting_on_the_pool_does_not_hold_back_its_write() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("guv-review4-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fifo");
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "{}", std::io::Error::last_os_error());
    let file = Rc::new(guv::green::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap());
    let log = guv_tests::Log::new();
    let (l2, f2) = (log.clone(), file.clone());
    let reader = guv::spawn(move || {
        l2.push("reading");
        let mut got = [0u8; 3];
        (&*f2).read_exact(&mut got).map(|()| got)
    });
    while log.take().is_empty() {
        guv::gyield();
    }
    guv::with_timeout(std::time::Duration::from_secs(30), || (&*file).write_all(b"abc").unwrap())
        .expect("the write waited behind the read");
    let got = guv::with_timeout(std::time::Duration::from_secs(30), || reader.wait().unwrap().unwrap())
        .expect("the read never got the bytes");
    assert_eq!(&got, b"abc");
    std::fs::remove_dir_all(&dir).unwrap();
}
