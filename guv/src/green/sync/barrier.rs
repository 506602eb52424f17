//! [`Barrier`]: the green twin of `std::sync::Barrier`.

use std::fmt;

use super::cell::Mutex;
use super::condvar::Condvar;

/// Lets `n` greenlets (or threads) wait until all of them reached it: the
/// green twin of [`std::sync::Barrier`]. Reusable: once `n` have arrived
/// they are released together and the next `n` wait again.
///
/// ```
/// use std::sync::Arc;
/// use guv::green::sync::Barrier;
/// let barrier = Arc::new(Barrier::new(3));
/// let gts: Vec<_> = (0..3)
///     .map(|_| {
///         let b = barrier.clone();
///         guv::spawn(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = guv::joinall(gts).into_iter().filter(|r| *r.as_ref().unwrap()).count();
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    state: Mutex<State>,
    cvar: Condvar,
    n: usize,
}

struct State {
    count: usize,
    generation: u64,
}

/// What [`Barrier::wait`] returns: the green twin of
/// `std::sync::BarrierWaitResult`.
///
/// ```
/// let b = guv::green::sync::Barrier::new(1);
/// assert!(b.wait().is_leader());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this waiter was the one to complete the barrier (exactly one
    /// per round).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let barrier = Arc::new(guv::green::sync::Barrier::new(2));
    /// let b = barrier.clone();
    /// let other = guv::spawn(move || b.wait().is_leader());
    /// let me = barrier.wait().is_leader();
    /// assert!(me ^ other.wait().unwrap(), "exactly one leader");
    /// ```
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult").field("is_leader", &self.0).finish()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

impl Barrier {
    /// A barrier for `n` parties (`0` and `1` never block).
    ///
    /// ```
    /// static B: guv::green::sync::Barrier = guv::green::sync::Barrier::new(1);
    /// B.wait();
    /// ```
    pub const fn new(n: usize) -> Barrier {
        Barrier { state: Mutex::new(State { count: 0, generation: 0 }), cvar: Condvar::new(), n }
    }

    /// Parks the caller until `n` parties have called `wait` in this round.
    /// A waiter that is killed (or whose `Timeout` fires) before the round
    /// completes withdraws its arrival: the round still needs `n` live
    /// parties.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let b = Arc::new(guv::green::sync::Barrier::new(2));
    /// let b2 = b.clone();
    /// let other = guv::spawn(move || b2.wait().is_leader());
    /// let me = b.wait().is_leader();
    /// assert!(me ^ other.wait().unwrap());
    /// ```
    pub fn wait(&self) -> BarrierWaitResult {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let generation = state.generation;
        state.count += 1;
        if state.count < self.n {
            let arrival = Arrival { barrier: self, generation };
            let _state = self.cvar.wait_while(state, |s| s.generation == generation).unwrap_or_else(|e| e.into_inner());
            std::mem::forget(arrival);
            BarrierWaitResult(false)
        } else {
            state.count = 0;
            state.generation = state.generation.wrapping_add(1);
            self.cvar.notify_all();
            BarrierWaitResult(true)
        }
    }
}

/// A waiter's arrival, withdrawn if it unwinds (killed, timed out) before
/// its round completed; forgotten once the round is over.
struct Arrival<'a> {
    barrier: &'a Barrier,
    generation: u64,
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        // The condvar wait gave the state lock up before unwinding, and the
        // lock is only held briefly: taking it here does not block for long.
        let mut state = self.barrier.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.generation == self.generation {
            state.count -= 1;
        }
    }
}
