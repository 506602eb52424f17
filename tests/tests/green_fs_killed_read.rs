//! A greenlet killed while its green `File` read waits on the pool loses no
//! bytes: the pool's job puts the file position back, and the next read
//! gets what the killed one would have. One test in its own binary, as it
//! shrinks the pool to one thread (jobs then run in the order they came).

use std::io::{IoSliceMut, Read};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use guv::green::fs::File;

/// How the killed greenlet reads.
#[derive(Clone, Copy, Debug)]
enum How {
    Read,
    ReadExact,
    ReadVectored,
    ReadToEnd,
}

fn read_with(how: How, mut f: &File) {
    let mut buf = [0u8; 4];
    let _ = match how {
        How::Read => f.read(&mut buf),
        How::ReadExact => f.read_exact(&mut buf).map(|()| 4),
        How::ReadVectored => f.read_vectored(&mut [IoSliceMut::new(&mut buf)]),
        How::ReadToEnd => f.read_to_end(&mut Vec::new()),
    };
}

/// Kills a greenlet whose `how` read is queued behind a job holding the
/// only pool thread, lets the pool go on, and returns what a read of the
/// same file then gets.
fn after_a_killed_read(how: How, file: &Rc<File>) -> String {
    // Hold the pool's only thread until released.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let blocker = guv::spawn(move || {
        guv::tpool::execute(move || {
            started_tx.send(()).unwrap();
            release_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        })
    });
    while started_rx.try_recv().is_err() {
        guv::gyield();
    }
    // The reader's job is queued (its call enqueues it, then parks: the
    // pool cannot run it yet) when it gives the hub back.
    let log = guv_tests::Log::new();
    let (l2, f2) = (log.clone(), file.clone());
    let reader = guv::spawn(move || {
        l2.push("reading");
        read_with(how, &f2);
        "unreachable"
    });
    while log.take().is_empty() {
        guv::gyield();
    }
    reader.kill();
    assert!(reader.wait().unwrap_err().is_killed());
    release_tx.send(()).unwrap();
    blocker.wait().unwrap();
    // Runs after the killed read's job on the one pool thread.
    let mut rest = String::new();
    guv::with_timeout(Duration::from_secs(30), || (&**file).read_to_string(&mut rest).unwrap())
        .expect("the pool never ran the read");
    rest
}

#[test]
fn a_killed_read_puts_the_file_position_back() {
    guv::tpool::set_size(1).unwrap();
    let dir = std::env::temp_dir().join(format!("guv-killed-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data");
    std::fs::write(&path, "0123456789").unwrap();
    for how in [How::Read, How::ReadExact, How::ReadVectored, How::ReadToEnd] {
        let file = Rc::new(File::open(&path).unwrap());
        assert_eq!(after_a_killed_read(how, &file), "0123456789", "{how:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
