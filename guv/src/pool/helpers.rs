//! Waiting for and killing groups of greenlets: [`wait_all`], [`joinall`],
//! [`killall`], [`iwait`] (gevent's helpers).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::hub::with_hub;
use crate::queue::LightQueue;
use crate::{Error, GreenThread, LinkId};

/// Greenlets of a slice as they finish: the iterator of [`iwait`].
///
/// ```
/// let go = guv::Event::new();
/// let g = go.clone();
/// let slow = guv::spawn(move || { g.wait(); "slow" }); // waits for `fast`
/// let fast = guv::spawn(move || { go.set(); "fast" });
/// let gts = [slow, fast];
/// let first = guv::iwait(&gts).next().unwrap();
/// assert!(std::ptr::eq(first, &gts[1]), "the fast one ends first");
/// ```
pub struct IWait<'a, T: 'static> {
    threads: &'a [GreenThread<T>],
    finished: LightQueue<usize>,
    /// Links not yet run, removed if the iterator is dropped early.
    links: Vec<Option<LinkId>>,
    left: usize,
}

impl<T: 'static> fmt::Debug for IWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IWait").field("left", &self.left).finish()
    }
}

impl<'a, T: 'static> IWait<'a, T> {
    /// The next greenlet to finish, waiting for at most `timeout`: `None`
    /// if none finished in time or all have been yielded.
    ///
    /// ```
    /// use std::time::Duration;
    /// let gts = [guv::spawn(|| guv::sleep(Duration::from_secs(60)))];
    /// let mut it = guv::iwait(&gts);
    /// assert!(it.next_timeout(Duration::from_millis(2)).is_none());
    /// guv::killall(&gts);
    /// assert!(it.next().is_some());
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<&'a GreenThread<T>> {
        if self.left == 0 {
            return None;
        }
        let i = self.finished.get_timeout(timeout).ok()?;
        Some(self.take(i))
    }

    fn take(&mut self, i: usize) -> &'a GreenThread<T> {
        self.left -= 1;
        self.links[i] = None;
        &self.threads[i]
    }
}

impl<'a, T: 'static> Iterator for IWait<'a, T> {
    type Item = &'a GreenThread<T>;

    /// Waits for the next greenlet to finish.
    fn next(&mut self) -> Option<&'a GreenThread<T>> {
        if self.left == 0 {
            return None;
        }
        let i = self.finished.get();
        Some(self.take(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T: 'static> Drop for IWait<'_, T> {
    fn drop(&mut self) {
        for (gt, link) in self.threads.iter().zip(&self.links) {
            if let Some(id) = link {
                gt.unlink(*id);
            }
        }
    }
}

/// Yields the greenlets of `threads` in the order they finish (those
/// already finished first, in slice order), waiting as needed — gevent's
/// `iwait`.
///
/// ```
/// let go = guv::Event::new();
/// let g = go.clone();
/// let gts = [
///     guv::spawn(move || { g.wait(); "slow" }), // ends once `fast` has
///     guv::spawn(move || { go.set(); "fast" }),
/// ];
/// let order: Vec<u64> = guv::iwait(&gts).map(|gt| gt.id()).collect();
/// assert_eq!(order, [gts[1].id(), gts[0].id()]);
/// ```
///
/// # Panics
///
/// If `threads` holds the calling greenlet's own handle (it would wait
/// for itself for ever), with the message of [`GreenThread::wait`] on
/// oneself — at once, before waiting for any other. The same goes for
/// [`wait_all`] and [`wait_all_timeout`], which wait through `iwait`.
pub fn iwait<T: 'static>(threads: &[GreenThread<T>]) -> IWait<'_, T> {
    threads.iter().for_each(GreenThread::refuse_self_wait);
    let finished = LightQueue::new(None);
    let links = threads
        .iter()
        .enumerate()
        .map(|(i, gt)| {
            let q = finished.clone();
            Some(gt.link(move |_| q.put(i)))
        })
        .collect();
    IWait { threads, finished, links, left: threads.len() }
}

/// Blocks until every greenlet of `threads` has finished (their results
/// stay in the handles, for `wait`).
///
/// ```
/// let gts: Vec<_> = (0..3).map(|i| guv::spawn(move || i)).collect();
/// guv::wait_all(&gts);
/// assert!(gts.iter().all(|gt| gt.is_finished()));
/// ```
///
/// # Panics
///
/// If `threads` holds the calling greenlet's own handle, as [`iwait`].
pub fn wait_all<T: 'static>(threads: &[GreenThread<T>]) {
    iwait(threads).for_each(drop);
}

/// Like [`wait_all`] for at most `timeout`; returns whether all finished.
///
/// ```
/// use std::time::Duration;
/// let gts = [guv::spawn(|| guv::sleep(Duration::from_secs(60)))];
/// assert!(!guv::wait_all_timeout(&gts, Duration::from_millis(2)));
/// guv::killall(&gts);
/// assert!(guv::wait_all_timeout(&gts, Duration::from_millis(2)));
/// ```
///
/// # Panics
///
/// If `threads` holds the calling greenlet's own handle, as [`iwait`]
/// (rather than waiting out the whole timeout for nothing).
pub fn wait_all_timeout<T: 'static>(threads: &[GreenThread<T>], timeout: Duration) -> bool {
    let deadline = Instant::now().checked_add(timeout);
    let mut it = iwait(threads);
    while it.left > 0 {
        let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
        if it.next_timeout(left).is_none() {
            return false;
        }
    }
    true
}

/// Waits for every greenlet and returns their results in the given order
/// (gevent's `joinall`).
///
/// ```
/// let gts: Vec<_> = (1..=3).map(|i| guv::spawn(move || i * 2)).collect();
/// let results: Vec<i32> = guv::joinall(gts).into_iter().map(Result::unwrap).collect();
/// assert_eq!(results, [2, 4, 6]);
/// ```
///
/// # Panics
///
/// If `threads` holds the calling greenlet's own handle, as [`iwait`]:
/// at once, before waiting for any other.
pub fn joinall<T: 'static>(threads: impl IntoIterator<Item = GreenThread<T>>) -> Vec<Result<T, Error>> {
    let threads: Vec<GreenThread<T>> = threads.into_iter().collect();
    threads.iter().for_each(GreenThread::refuse_self_wait);
    threads.into_iter().map(GreenThread::wait).collect()
}

/// Kills every greenlet of `threads` (see [`GreenThread::kill`]) and
/// waits until each has unwound or never started — also those whose
/// destructors block (gevent's `killall(block=True)`).
///
/// ```
/// let gts: Vec<_> = (0..3).map(|_| guv::spawn(|| guv::sleep(std::time::Duration::from_secs(60)))).collect();
/// guv::gyield(); // let them start sleeping
/// guv::killall(&gts);
/// assert!(gts.iter().all(|gt| gt.is_finished()));
/// ```
///
/// The caller may be on the list: it kills the others, waits for them,
/// then kills itself (as [`GreenPool::killall`](crate::GreenPool::killall)
/// called by a member).
///
/// It may be called from a destructor, while the caller unwinds: a server
/// greenlet that owns its handlers kills them all before it is seen ended.
/// Then the caller cannot take a kill (or `Timeout`) of its own, so one
/// that reaches it while it waits ends the wait instead (what gevent's
/// second `GreenletExit` does to a `finally:` block): greenlets of one
/// group that each kill the whole group as they unwind do not wait for
/// each other for ever. (One more exception: with guv's panic hook
/// replaced by one that does not call it, a caller unwinding from a panic
/// only posts the kills, which land once it is done.)
pub fn killall<T: 'static>(threads: &[GreenThread<T>]) {
    let me = with_hub(|hub| hub.current().header().id());
    let mut mine = None;
    for gt in threads {
        if gt.id() == me {
            mine = Some(gt);
        } else {
            gt.kill();
        }
    }
    // `kill` yields once; a destructor that blocks needs more time.
    if crate::hub::kills_land() {
        wait_killed(threads, me);
    }
    // Last: killing itself unwinds a caller that is not unwinding yet (one
    // that is keeps the kill pending and ends after this returns).
    if let Some(gt) = mine {
        gt.kill();
    }
}

/// Waits until every greenlet of `threads` but the caller (`me`) has
/// ended, or the caller holds an interrupt it cannot take
/// ([`crate::hub::interrupt_kept`]). Through links, as [`wait_all`]: other
/// greenlets may wait for the same handles (a second `killall` over a
/// shared list), and a handle's joiner slot holds one waiter.
fn wait_killed<T: 'static>(threads: &[GreenThread<T>], me: u64) {
    with_hub(|hub| {
        let waker = hub.arm();
        let left = Rc::new(Cell::new(0usize));
        let mut links = Unlink(Vec::new());
        for gt in threads.iter().filter(|gt| gt.id() != me) {
            // Counted first: a link to an ended greenlet runs at once.
            left.set(left.get() + 1);
            let (l, w) = (left.clone(), waker.clone());
            let id = gt.link(move |_| {
                l.set(l.get() - 1);
                w.wake();
            });
            links.0.push((gt, id));
        }
        while left.get() > 0 && !crate::hub::interrupt_kept() {
            hub.park_or_give_up();
        }
    });
}

/// Removes links that have not run (the wait ended early, or unwinds).
struct Unlink<'a, T: 'static>(Vec<(&'a GreenThread<T>, LinkId)>);

impl<T: 'static> Drop for Unlink<'_, T> {
    fn drop(&mut self) {
        for (gt, id) in self.0.drain(..) {
            gt.unlink(id);
        }
    }
}
