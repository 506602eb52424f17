//! `guv::catch_unwind` catches panics and lets kills and timeouts through
//! (Python's `except Exception:` around code that blocks), `guv::is_interrupt`
//! tells the two apart in a caught payload, and a greenlet's error converts
//! to an `io::Error` for `?` in `io::Result` code.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, panic_any};
use std::rc::Rc;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

#[guv::test]
fn a_worker_that_survives_its_jobs_panics_is_still_killed_inside_a_job() {
    guv::debug::hub_exceptions(false);
    let jobs = guv::queue::Queue::<Box<dyn FnOnce() -> u32>>::new(None);
    let done = Rc::new(RefCell::new(Vec::new()));
    let (q, d) = (jobs.clone(), done.clone());
    let worker = guv::spawn(move || {
        loop {
            let job = q.get();
            let outcome = guv::catch_unwind(AssertUnwindSafe(job));
            d.borrow_mut().push(outcome.map_err(|p| guv::is_interrupt(&*p)));
        }
    });
    let started = guv::Event::new();
    let s = started.clone();
    jobs.put(Box::new(|| 1));
    jobs.put(Box::new(|| panic!("a bad job")));
    jobs.put(Box::new(|| panic_any(7u8)));
    jobs.put(Box::new(|| 4));
    jobs.put(Box::new(move || {
        s.set();
        guv::sleep(HOUR);
        5
    }));
    started.wait();
    // Every job before the sleeping one ran; the panics were caught and
    // none was taken for an interrupt.
    assert_eq!(*done.borrow(), vec![Ok(1), Err(false), Err(false), Ok(4)]);
    worker.kill();
    assert!(worker.wait().unwrap_err().is_killed(), "the kill went through the job's catch_unwind");
    assert_eq!(done.borrow().len(), 4, "the killed job was not recorded as caught");
}

#[guv::test]
fn std_catch_unwind_swallows_the_kill_that_guv_catch_unwind_lets_through() {
    // The contrast that makes guv::catch_unwind worth having: with std's,
    // the greenlet goes on after its kill, and is_interrupt says why.
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let started = guv::Event::new();
    let st = started.clone();
    let g = guv::spawn(move || {
        st.set();
        let caught = std::panic::catch_unwind(|| guv::sleep(HOUR)).unwrap_err();
        *s.borrow_mut() = Some(guv::is_interrupt(&*caught));
        "went on"
    });
    started.wait();
    g.kill();
    assert_eq!(g.wait().unwrap(), "went on");
    assert_eq!(*seen.borrow(), Some(true));
}

#[guv::test]
fn a_timeout_expiring_inside_catch_unwind_reaches_its_with_timeout() {
    let r = guv::with_timeout(Duration::from_millis(5), || {
        let _ = guv::catch_unwind(|| guv::sleep(HOUR));
        unreachable!("the timeout unwinds past catch_unwind");
    });
    assert!(r.unwrap_err().is_timed_out());
    // Nested: the inner timeout is caught by its own with_timeout inside
    // the catch_unwind, which sees an ordinary return.
    let inner = guv::catch_unwind(|| guv::with_timeout(Duration::from_millis(5), || guv::sleep(HOUR)));
    assert!(inner.unwrap().unwrap_err().is_timed_out());
}

#[guv::test]
fn a_greenlet_error_becomes_an_io_error_for_question_mark() {
    guv::debug::hub_exceptions(false);
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // A handler that waits on a helper greenlet with `?` in io::Result code.
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e = errors.clone();
    let server = guv::StreamServer::new(listener, move |mut conn, _| {
        let mut which = [0u8; 1];
        conn.read_exact(&mut which)?;
        let outcome = (|| -> io::Result<u8> {
            let n = match which[0] {
                b'p' => guv::spawn(|| -> u8 { panic!("helper failed") }).wait()?,
                b't' => guv::with_timeout(Duration::from_millis(1), || {
                    guv::sleep(HOUR);
                    0
                })?,
                b'k' => {
                    let g = guv::spawn(|| 0u8);
                    g.kill();
                    g.wait()?
                }
                _ => guv::spawn(|| 42u8).wait()?,
            };
            Ok(n)
        })();
        match outcome {
            Ok(n) => conn.write_all(&[n])?,
            Err(err) => {
                e.borrow_mut().push((err.kind(), err.to_string()));
                conn.write_all(b"!")?;
            }
        }
        Ok(())
    })
    .start()
    .unwrap();
    let mut answers = Vec::new();
    for which in [b"o", b"p", b"t", b"k"] {
        let mut c = guv::connect(addr).unwrap();
        c.write_all(which).unwrap();
        let mut a = [0u8; 1];
        c.read_exact(&mut a).unwrap();
        answers.push(a[0]);
    }
    server.stop();
    assert_eq!(answers, vec![42, b'!', b'!', b'!']);
    assert_eq!(
        *errors.borrow(),
        vec![
            (io::ErrorKind::Other, "greenlet panicked: helper failed".to_string()),
            (io::ErrorKind::TimedOut, "greenlet timed out".to_string()),
            (io::ErrorKind::Other, "greenlet was killed".to_string()),
        ]
    );
}
