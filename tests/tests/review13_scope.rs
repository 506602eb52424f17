//! Review 13: a green `thread::scope` whose owner is interrupted must still
//! not return or unwind before every scoped thread has ended, whatever else
//! arrives while it kills them and waits, and must not lose an interrupt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use guv::green::thread;

const HOUR: Duration = Duration::from_secs(3600);
const PROMPTLY: Duration = Duration::from_secs(20);

type Log = Arc<Mutex<Vec<&'static str>>>;

/// Records its name when dropped.
struct Note(Log, &'static str);

impl Drop for Note {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(self.1);
    }
}

#[guv::test]
fn a_second_kill_while_the_scope_kills_its_threads_does_not_let_the_owner_leave_first() {
    let log: Log = Arc::default();
    let started = guv::Event::new();
    let (l, st) = (log.clone(), started.clone());
    let owner = guv::spawn(move || {
        let _left = Note(l.clone(), "owner left the scope");
        thread::scope(|s| {
            for name in ["first", "second", "third"] {
                let l = l.clone();
                s.spawn(move || {
                    let _n = Note(l, name);
                    guv::sleep(HOUR); // ends only when killed
                });
            }
            st.set();
            guv::sleep(HOUR);
        })
    });
    started.wait();
    // The first kill makes the scope kill its threads, which yields to
    // them; this second kill reaches the owner in between.
    owner.kill();
    owner.kill();
    let r = owner.wait_timeout(PROMPTLY);
    let seen = log.lock().unwrap().clone();
    assert!(r.unwrap_or_else(|_| panic!("the owner did not end")).unwrap_err().is_killed());
    assert_eq!(
        seen.last(),
        Some(&"owner left the scope"),
        "the owner left its scope before its threads ended: {seen:?}"
    );
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[guv::test]
fn a_kill_that_arrives_while_the_scope_holds_a_timeout_is_not_lost() {
    use guv::green::sync::Barrier;
    let log: Log = Arc::default();
    let (swallowed, finish) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let (l, sw, fin) = (log.clone(), swallowed.clone(), finish.clone());
    let owner = guv::spawn(move || {
        let r = guv::with_timeout(Duration::from_millis(10), || {
            thread::scope(|s| {
                s.spawn(move || {
                    // Swallows the kill the timeout cascades into, then
                    // finishes only when the test says so.
                    let _ = std::panic::catch_unwind(|| guv::sleep(HOUR));
                    sw.wait();
                    fin.wait();
                });
                // The closure returns: the timeout hits the scope's wait.
            })
        });
        // Reached only if the kill below was lost.
        assert!(r.unwrap_err().is_timed_out());
        l.lock().unwrap().push("the owner went on after its kill");
        guv::sleep(HOUR);
    });
    swallowed.wait(); // the timeout fired and the scope killed its thread
    guv::gyield(); // the owner parks in the scope's wait, holding the timeout
    owner.kill();
    finish.wait();
    let r = owner.wait_timeout(PROMPTLY);
    let seen = log.lock().unwrap().clone();
    assert!(seen.is_empty(), "{seen:?}");
    assert!(r.unwrap_or_else(|_| panic!("the owner's kill was lost")).unwrap_err().is_killed());
}

/// Spawns another thread in the scope as it is dropped.
struct SpawnOnDrop<'scope, 'env>(&'scope thread::Scope<'scope, 'env>, Log);

impl Drop for SpawnOnDrop<'_, '_> {
    fn drop(&mut self) {
        let l = self.1.clone();
        self.0.spawn(move || {
            let _n = Note(l, "spawned by a dying thread");
            guv::sleep(HOUR);
        });
    }
}

#[guv::test]
fn a_thread_spawned_by_a_killed_scoped_thread_is_killed_too() {
    let log: Log = Arc::default();
    let started = guv::Event::new();
    let (l, st) = (log.clone(), started.clone());
    let owner = guv::spawn(move || {
        thread::scope(|s| {
            let l = l.clone();
            s.spawn(move || {
                let _g = SpawnOnDrop(s, l);
                guv::sleep(HOUR);
            });
            st.set();
            guv::sleep(HOUR);
        })
    });
    started.wait();
    owner.kill();
    let r = owner.wait_timeout(PROMPTLY).unwrap_or_else(|_| panic!("the scope held the kill"));
    assert!(r.unwrap_err().is_killed());
}
