//! `Builder`: a greenlet's name and stack size before it is spawned, and
//! starting greenlets on a hub (also those sent from other threads).

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::handle::GreenThread;
#[cfg(doc)] // only named in doc links
use super::spawn;
use super::task::{Outcome, Task};
use crate::greenlet::{GreenletRef, Header, Kind, Sched};
use crate::hub::{Hub, with_hub};

/// Configures a greenlet before spawning it: name and stack size.
///
/// Unlike [`spawn`], its methods report a stack that cannot be mapped as an
/// `io::Error` (see [`Builder::spawn`]).
///
/// ```
/// let gt = guv::Builder::new().name("worker").stack_size(64 * 1024).spawn(|| 1).unwrap();
/// assert_eq!(gt.name(), Some("worker"));
/// assert_eq!(gt.wait().unwrap(), 1);
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a Builder does nothing until one of its spawn methods is called"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the hub's defaults (no name, the hub's stack size).
    ///
    /// ```
    /// let gt = guv::Builder::new().spawn(|| "defaults").unwrap();
    /// assert_eq!(gt.wait().unwrap(), "defaults");
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the greenlet; the name appears in panic and stack-overflow
    /// messages (`greenlet 'name' (#3) panicked at ...`).
    ///
    /// ```
    /// let gt = guv::Builder::new().name("worker-7").spawn(|| ()).unwrap();
    /// assert_eq!(gt.name(), Some("worker-7"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the greenlet's stack size in bytes: rounded up to whole pages
    /// and to at least 16 KiB; above 1 GiB, spawning fails with
    /// `InvalidInput`. Without it the hub's default is used
    /// ([`crate::hub::set_stack_size`], 256 KiB unless changed).
    ///
    /// ```
    /// // A deep recursion gets a bigger stack than the default.
    /// fn depth(n: u32) -> u32 { if n == 0 { 0 } else { 1 + depth(n - 1) } }
    /// let gt = guv::Builder::new().stack_size(8 << 20).spawn(|| depth(10_000)).unwrap();
    /// assert_eq!(gt.wait().unwrap(), 10_000);
    /// assert!(guv::Builder::new().stack_size(usize::MAX).spawn(|| ()).is_err());
    /// ```
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// The name given with [`Builder::name`], if any.
    pub(crate) fn configured_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Spawns `f` as a new greenlet, started after those already ready.
    ///
    /// Fails if the stack cannot be mapped — typically because the kernel's
    /// `vm.max_map_count` limit is reached (each greenlet uses two
    /// mappings); the error names the limit and how to raise it.
    ///
    /// ```
    /// let gt = guv::Builder::new().spawn(|| 2 + 2)?;
    /// assert_eq!(gt.wait().unwrap(), 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F, T>(self, f: F) -> io::Result<GreenThread<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let (g, task) = with_hub(|hub| self.make(hub, Kind::Spawned, None, f))?;
        Ok(GreenThread { g, task })
    }

    /// Like [`Builder::spawn`], for a greenlet whose result nobody wants.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let done = Rc::new(Cell::new(false));
    /// let d = done.clone();
    /// guv::Builder::new().name("fire-and-forget").spawn_n(move || d.set(true))?;
    /// guv::gyield();
    /// assert!(done.get());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_n<F>(self, f: F) -> io::Result<()>
    where
        F: FnOnce() + 'static,
    {
        with_hub(|hub| self.make(hub, Kind::SpawnedN, None, f)).map(drop)
    }

    /// Like [`Builder::spawn`], started once `delay` has passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let start = Instant::now();
    /// let gt = guv::Builder::new().name("later").spawn_after(Duration::from_millis(5), move || start.elapsed())?;
    /// assert!(gt.wait().unwrap() >= Duration::from_millis(5));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_after<F, T>(self, delay: Duration, f: F) -> io::Result<GreenThread<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let (g, task) = with_hub(|hub| self.make(hub, Kind::Spawned, Some(delay), f))?;
        Ok(GreenThread { g, task })
    }

    /// The greenlet, started, and its body.
    fn make<F, T>(
        self,
        hub: &Hub,
        kind: Kind,
        delay: Option<Duration>,
        f: F,
    ) -> io::Result<(GreenletRef, Rc<Task<F, T>>)>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let fiber = hub.new_fiber(self.name.map(String::into_boxed_str), self.stack_size)?;
        Ok(start_on(hub, fiber, kind, delay, f))
    }
}

/// Starts `f` as a greenlet on `fiber`; returns the greenlet and its body.
fn start_on<F, T>(
    hub: &Hub,
    fiber: crate::greenlet::Fiber,
    kind: Kind,
    delay: Option<Duration>,
    f: F,
) -> (GreenletRef, Rc<Task<F, T>>)
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let task = Rc::new_cyclic(|this| Task {
        func: Cell::new(Some(f)),
        outcome: Outcome::new(kind == Kind::SpawnedN),
        this: this.clone(),
    });
    let g = hub.new_greenlet(Header::new(fiber, kind, Sched::Delayed), task.clone());
    hub.start(g.clone(), delay);
    (g, task)
}

/// A closure sent by another thread through a `Handle`.
pub(crate) type RemoteFn = Box<dyn FnOnce() + Send>;

/// Runs a closure sent by another thread through a `Handle`. Without a
/// stack for it, hands it back with the error: dropping it is the caller's
/// business (the hub loop must not run its destructor, which may park).
pub(crate) fn spawn_remote(hub: &Hub, f: RemoteFn) -> Result<(), (io::Error, RemoteFn)> {
    match hub.new_fiber(None, None) {
        Ok(fiber) => {
            start_on(hub, fiber, Kind::SpawnedN, None, f);
            Ok(())
        }
        Err(e) => Err((e, f)),
    }
}
