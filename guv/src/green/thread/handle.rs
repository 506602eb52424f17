//! A green thread's identity and park token: [`Thread`], [`ThreadId`],
//! the running greenlet's `Thread` ([`current`]), and [`park`] /
//! [`park_timeout`] on its token.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU64;
use std::rc::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;
use crate::greenlet::{Greenlet, Sched};
use crate::hub::{RemoteWaker, take_back, with_hub};

/// A green thread's identifier: unique among all green threads of the
/// process, never reused.
///
/// ```
/// use guv::green::thread;
/// let a = thread::current().id();
/// let b = thread::spawn(|| thread::current().id()).join().unwrap();
/// assert_ne!(a, b);
/// assert_eq!(a, thread::current().id());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    fn new() -> ThreadId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        ThreadId(NonZeroU64::new(n).expect("ThreadId counter overflowed"))
    }
}

/// The park token and the parked greenlet's remote waker.
#[derive(Default)]
struct ParkState {
    token: bool,
    waiter: Option<RemoteWaker>,
}

struct Inner {
    id: ThreadId,
    name: Option<String>,
    park: Mutex<ParkState>,
}

/// A handle to a green thread (a greenlet): its name, id and park token.
/// `Send + Sync + Clone`, like std's.
///
/// ```
/// use guv::green::thread;
/// let h = thread::Builder::new().name("worker".into()).spawn(|| ()).unwrap();
/// assert_eq!(h.thread().name(), Some("worker"));
/// h.join().unwrap();
/// ```
#[derive(Clone)]
pub struct Thread {
    inner: Arc<Inner>,
}

impl Thread {
    pub(super) fn new(name: Option<String>) -> Thread {
        Thread { inner: Arc::new(Inner { id: ThreadId::new(), name, park: Mutex::new(ParkState::default()) }) }
    }

    /// The thread's id.
    ///
    /// ```
    /// let t = guv::green::thread::current();
    /// assert_eq!(t.id(), guv::green::thread::current().id());
    /// ```
    pub fn id(&self) -> ThreadId {
        self.inner.id
    }

    /// The thread's name, if it has one.
    ///
    /// ```
    /// let h = guv::green::thread::Builder::new().name("n".into()).spawn(|| ()).unwrap();
    /// assert_eq!(h.thread().name(), Some("n"));
    /// h.join().unwrap();
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Makes the park token available, waking the thread if it is parked
    /// in [`park`] / [`park_timeout`]. Callable from any OS thread.
    ///
    /// ```
    /// use guv::green::thread;
    /// let h = thread::spawn(|| {
    ///     thread::park();
    ///     "unparked"
    /// });
    /// h.thread().unpark();
    /// assert_eq!(h.join().unwrap(), "unparked");
    /// ```
    pub fn unpark(&self) {
        let waiter = {
            let mut st = lock(&self.inner.park);
            st.token = true;
            st.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }

    /// Parks the running greenlet (which must be this thread) until the
    /// token is available or the deadline passes.
    fn park_until(&self, deadline: Option<Instant>) {
        let mut st = lock(&self.inner.park);
        if std::mem::take(&mut st.token) {
            return;
        }
        with_hub(|hub| {
            let waker = hub.arm();
            let (remote, _registration) = hub.remote_waker(&waker);
            st.waiter = Some(remote);
            drop(st);
            // Taken back however the park ends (see `take_back`): a handle
            // of the thread kept elsewhere would otherwise hold it.
            let _parked = take_back(&self.inner.park, |st| st.waiter.take());
            hub.park_until(&waker, deadline);
        });
        lock(&self.inner.park).token = false;
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread").field("id", &self.id()).field("name", &self.name()).finish_non_exhaustive()
    }
}

/// The `Thread` of each greenlet of this OS thread that asked for one, by
/// greenlet id, with a weak reference to tell when the greenlet is gone.
#[derive(Default)]
struct Threads {
    map: HashMap<u64, (Weak<Greenlet>, Thread)>,
    prune_at: usize,
}

thread_local! {
    static THREADS: RefCell<Threads> = RefCell::default();
}

impl Threads {
    fn insert(&mut self, id: u64, g: Weak<Greenlet>, t: Thread) {
        if self.map.len() >= self.prune_at {
            self.map.retain(|_, (g, _)| g.upgrade().is_some_and(|g| g.header().sched.get() != Sched::Done));
            self.prune_at = (self.map.len() * 2).max(64);
        }
        self.map.insert(id, (g, t));
    }
}

/// Registers `t` as the running greenlet's `Thread` until the guard drops.
pub(super) fn set_current(t: Thread) -> impl Drop {
    struct Unset(u64);
    impl Drop for Unset {
        fn drop(&mut self) {
            let _ = THREADS.try_with(|m| m.borrow_mut().map.remove(&self.0));
        }
    }
    let (id, g) = with_hub(|hub| {
        let g = hub.current();
        (g.header().id(), std::rc::Rc::downgrade(&g))
    });
    THREADS.with(|m| m.borrow_mut().insert(id, g, t));
    Unset(id)
}

/// The [`Thread`] of the running greenlet (see the module docs on
/// identity).
///
/// ```
/// use guv::green::thread;
/// let me = thread::current();
/// assert_eq!(me.id(), thread::current().id());
/// let named = thread::Builder::new().name("n".into()).spawn(|| thread::current().name().map(String::from));
/// assert_eq!(named.unwrap().join().unwrap().as_deref(), Some("n"));
/// ```
pub fn current() -> Thread {
    with_hub(|hub| {
        let g = hub.current();
        let id = g.header().id();
        THREADS.with(|m| {
            let mut m = m.borrow_mut();
            if let Some((_, t)) = m.map.get(&id) {
                return t.clone();
            }
            let name = if id == 0 {
                std::thread::current().name().map(String::from)
            } else {
                g.header().name().map(String::from)
            };
            let t = Thread::new(name);
            m.insert(id, std::rc::Rc::downgrade(&g), t.clone());
            t
        })
    })
}

/// Blocks the running greenlet until its token is made available by
/// [`Thread::unpark`] (consuming it), as std's `park`. May return
/// spuriously, as std's may.
///
/// ```
/// use guv::green::thread;
/// thread::current().unpark();
/// thread::park(); // the token was already there: returns at once
/// ```
pub fn park() {
    current().park_until(None);
}

/// [`park`] for at most `dur`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// guv::green::thread::park_timeout(Duration::from_millis(10));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
pub fn park_timeout(dur: Duration) {
    current().park_until(Instant::now().checked_add(dur));
}
