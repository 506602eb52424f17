//! [`GreenPile`]: results of spawned work, in spawn order.

use std::collections::VecDeque;
use std::fmt;

use super::GreenPool;
use crate::{Error, GreenThread};

/// Greenlets spawned into a pool whose results come back in spawn order
/// (eventlet's `GreenPile`): [`spawn`](GreenPile::spawn) work, then iterate
/// to get each result — `Err` at the place of one that panicked or was
/// killed.
///
/// ```
/// let mut pile = guv::GreenPile::new(3);
/// for i in 0..5u64 {
///     pile.spawn(move || {
///         guv::sleep(std::time::Duration::from_millis(5 - i)); // finish in reverse
///         i * 10
///     });
/// }
/// let results: Vec<u64> = pile.map(Result::unwrap).collect();
/// assert_eq!(results, [0, 10, 20, 30, 40]);
/// ```
pub struct GreenPile<T> {
    pool: GreenPool,
    pending: VecDeque<GreenThread<T>>,
}

impl<T> fmt::Debug for GreenPile<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenPile").field("pending", &self.pending.len()).field("pool", &self.pool).finish()
    }
}

impl<T: 'static> GreenPile<T> {
    /// A pile with its own pool of `size`.
    ///
    /// ```
    /// let pile = guv::GreenPile::<u8>::new(2);
    /// assert_eq!(pile.pool().size(), 2);
    /// ```
    pub fn new(size: usize) -> GreenPile<T> {
        GreenPile::with_pool(&GreenPool::new(size))
    }

    /// A pile spawning into `pool` (shared with its other users).
    ///
    /// ```
    /// let pool = guv::GreenPool::new(2);
    /// let mut pile = guv::GreenPile::with_pool(&pool);
    /// pile.spawn(|| 1);
    /// assert_eq!(pool.running(), 1);
    /// assert_eq!(pile.next().unwrap().unwrap(), 1);
    /// ```
    pub fn with_pool(pool: &GreenPool) -> GreenPile<T> {
        GreenPile { pool: pool.clone(), pending: VecDeque::new() }
    }

    /// Spawns `f` in the pile's pool (blocking while the pool is full).
    ///
    /// ```
    /// let mut pile = guv::GreenPile::new(1);
    /// pile.spawn(|| "a");
    /// pile.spawn(|| "b"); // waits for a slot
    /// assert_eq!(pile.collect::<Result<Vec<_>, _>>().unwrap(), ["a", "b"]);
    /// ```
    pub fn spawn<F>(&mut self, f: F)
    where
        F: FnOnce() -> T + 'static,
    {
        let gt = self.pool.spawn(f);
        self.pending.push_back(gt);
    }

    /// The pool the pile spawns into.
    ///
    /// ```
    /// let pile = guv::GreenPile::<()>::new(4);
    /// assert_eq!(pile.pool().free(), 4);
    /// ```
    pub fn pool(&self) -> &GreenPool {
        &self.pool
    }

    /// The number of results not yet taken.
    ///
    /// ```
    /// let mut pile = guv::GreenPile::new(2);
    /// pile.spawn(|| ());
    /// assert_eq!(pile.pending(), 1);
    /// ```
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

impl<T: 'static> Iterator for GreenPile<T> {
    type Item = Result<T, Error>;

    /// Waits for the next result in spawn order; `None` once all are taken.
    /// A caller killed or timed out while it waits leaves the result in the
    /// pile, for the next call.
    fn next(&mut self) -> Option<Self::Item> {
        self.pending.front()?.wait_ended(None);
        self.pending.pop_front().map(GreenThread::wait)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending.len(), Some(self.pending.len()))
    }
}
