//! How a `File`'s pool jobs run: the turns they take at the file position and
//! among the blocking `flock` calls, and the undoing of what a job did for a
//! caller that left (killed, timed out) before hearing of it.

use std::fs::TryLockError;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileTypeExt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use super::file::File;
use crate::tpool::execute;

/// The turns that the pool jobs using one open file's position (reads,
/// writes, seeks) take, so that a killed read's rewind ([`File::run_read`])
/// runs right after its read, with no other call's use of the position in
/// between.
#[derive(Debug, Default)]
pub(super) struct Position {
    turn: Mutex<()>,
    /// Whether the file has a position worth a turn, known on first use.
    positioned: OnceLock<bool>,
    /// The turn of the blocking `lock`/`lock_shared` calls, which
    /// `try_lock`/`try_lock_shared` do not wait for: `flock` locks belong
    /// to the open file description, so a killed caller's lock, given
    /// back, must not take with it a lock that another call of the same
    /// description took. A lock job takes the turn on the pool; if it got
    /// the lock, its caller gives the turn back on taking the result (or
    /// after giving the lock back, if it unwinds first). A `try_lock` that
    /// gets the lock while the turn is taken marks it kept, and then the
    /// turn's holder does not give it back ([`Gate::try_lock`]).
    pub(super) locking: Gate,
}

/// A turn that one thread takes and another may give back (unlike a
/// `MutexGuard`, which must be dropped where it was made).
#[derive(Debug, Default)]
pub(super) struct Gate {
    state: Mutex<GateState>,
    /// Signalled when the turn is given back.
    free: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    /// A blocking lock call of the description holds the turn.
    taken: bool,
    /// While the turn was taken, a `try_lock` of the description got the
    /// lock: giving the turn back must not give back that lock too.
    kept: bool,
}

impl Gate {
    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the turn and takes it (on the pool only).
    fn take(&self) {
        let mut st = self.state();
        while st.taken {
            st = self.free.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        *st = GateState { taken: true, kept: false };
    }

    /// Runs `try_lock` (a non-blocking `flock`) under the gate's lock. The
    /// kernel's answer is right whether or not a lock call holds the turn
    /// (one that waits does so because another description holds a
    /// conflicting lock; one that got the lock shares it with this
    /// description); a lock got while the turn is taken is marked kept, so
    /// that the turn's holder, if its caller leaves, does not give it back.
    pub(super) fn try_lock(&self, try_lock: impl FnOnce() -> Result<(), TryLockError>) -> Result<(), TryLockError> {
        let mut st = self.state();
        let r = try_lock();
        if r.is_ok() && st.taken {
            st.kept = true;
        }
        r
    }

    /// Gives the turn back, first running `undo` (which must not block:
    /// it runs under the gate's lock) unless a `try_lock` kept the lock.
    fn give_back(&self, undo: impl FnOnce()) {
        let mut st = self.state();
        if !st.kept {
            undo();
        }
        *st = GateState::default();
        drop(st);
        self.free.notify_one();
    }
}

impl Position {
    /// Whether the file has a position that means something: a regular
    /// file or a block device, whose calls never wait on another party.
    /// Other files (FIFOs, sockets, terminals, eventfds) have none worth a
    /// turn: a read there may wait for a write that a turn would hold
    /// back. Makes an `fstat` the first time: call it on the pool.
    pub(super) fn positioned(&self, f: &std::fs::File) -> bool {
        *self
            .positioned
            .get_or_init(|| f.metadata().is_ok_and(|m| m.file_type().is_file() || m.file_type().is_block_device()))
    }

    /// A turn at the position, if the file has one that means something
    /// (see [`Position::positioned`]).
    fn hold(&self, f: &std::fs::File) -> Option<MutexGuard<'_, ()>> {
        self.positioned(f).then(|| self.turn.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// How many of one handle's position-using jobs (reads with their rewind,
/// writes, seeks) are queued or running on the pool, so that
/// [`File::into_std`] can wait for those of a killed caller.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    jobs: Mutex<usize>,
    /// Signalled when `jobs` drops to zero.
    idle: Condvar,
}

impl InFlight {
    /// Counts a job until the ticket is dropped (at the end of the job,
    /// or with the job if it never runs).
    fn ticket(self: &Arc<InFlight>) -> Ticket {
        *self.jobs.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Ticket(self.clone())
    }

    /// Blocks until no job is counted (on the pool only).
    pub(super) fn wait_idle(&self) {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        while *jobs > 0 {
            jobs = self.idle.wait(jobs).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// One counted job of an [`InFlight`].
struct Ticket(Arc<InFlight>);

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut jobs = self.0.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        *jobs -= 1;
        if *jobs == 0 {
            self.0.idle.notify_all();
        }
    }
}

impl File {
    /// Runs `op` on the file on the pool.
    pub(super) fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let f = self.inner.clone();
        execute(move || op(&f))
    }

    /// [`File::run`] for a call that uses or moves the file position: it
    /// takes its turn at the position (see [`Position`]).
    pub(super) fn run_positioned<T: Send + 'static>(
        &self,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let (f, position, ticket) = (self.inner.clone(), self.position.clone(), self.in_flight.ticket());
        execute(move || {
            let _ticket = ticket;
            let _turn = position.hold(&f);
            op(&f)
        })
    }

    /// Runs `op` on the pool; if the caller unwinds (killed, timed out)
    /// before it hears of the result, `undo` is applied to what `op`
    /// reported it did (`Some`): on the pool when the job ends after the
    /// caller left, or in the caller's unwinding when the result came but
    /// was never taken (so `undo` must not block).
    /// The job takes its `turn` for `op` and the undo together, and skips
    /// `op` if the caller left before the turn came. With
    /// [`Turn::Locking`], a job that did something keeps the turn until
    /// its caller has the result, or has undone it while unwinding.
    pub(super) fn run_undoable<T: Send + 'static, U: Copy + Send + 'static>(
        &self,
        turn: Turn,
        op: impl FnOnce(&std::fs::File) -> (io::Result<T>, Option<U>) + Send + 'static,
        undo: fn(&std::fs::File, U),
    ) -> io::Result<T> {
        let state = Arc::new(Mutex::new(PoolCall::Running));
        let gate = (turn == Turn::Locking).then(|| self.position.clone());
        let mut guard = UndoGuard { state: state.clone(), file: self.inner.clone(), undo, gate, armed: true };
        let position = self.position.clone();
        let ticket = (turn == Turn::Position).then(|| self.in_flight.ticket());
        let job_state = state.clone();
        let r = self.run(move |f| {
            let state = job_state;
            // Dropped last: the job is over for `into_std` once its undo is.
            let _ticket = ticket;
            let _turn = match turn {
                Turn::Position => position.hold(f),
                Turn::Locking => {
                    position.locking.take();
                    None
                }
            };
            // A caller that left before its turn came wants nothing done:
            // a lock taken now and given back could be another call's
            // (same description), a read would only be rewound.
            if matches!(*state.lock().unwrap_or_else(PoisonError::into_inner), PoolCall::Abandoned) {
                if turn == Turn::Locking {
                    position.locking.give_back(|| ());
                }
                return Err(io::Error::other("guv: the caller left before the call ran"));
            }
            let (r, did) = op(f);
            let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
            let undo_now = match (*st, did) {
                (PoolCall::Abandoned, did) => did,
                _ => {
                    *st = PoolCall::Done(did);
                    None
                }
            };
            // A lock turn goes to the caller with something to undo;
            // otherwise it ends here (with the undo, unless a `try_lock`
            // kept the lock meanwhile).
            if turn == Turn::Locking && !matches!(*st, PoolCall::Done(Some(_))) {
                position.locking.give_back(|| {
                    if let Some(did) = undo_now {
                        undo(f, did);
                    }
                });
            } else if let Some(did) = undo_now {
                undo(f, did);
            }
            r
        });
        guard.armed = false;
        if turn == Turn::Locking
            && matches!(*state.lock().unwrap_or_else(PoisonError::into_inner), PoolCall::Done(Some(_)))
        {
            self.position.locking.give_back(|| ());
        }
        r
    }

    /// Runs a read `op` on the pool that moves the file position; if the
    /// caller unwinds before it hears of the result, the position is put
    /// back where it was, so the bytes the read took are read again by the
    /// next read rather than lost. (A file that cannot seek — a FIFO —
    /// cannot be put back: those bytes are gone, as with any reader
    /// abandoned mid-read.)
    pub(super) fn run_read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        self.run_undoable(
            Turn::Position,
            move |mut f| {
                let before = f.stream_position().ok();
                (op(f), before)
            },
            // `lseek` does not block.
            |mut f, pos| drop(f.seek(SeekFrom::Start(pos))),
        )
    }
}

/// The turn a [`File::run_undoable`] job takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// At the file position ([`Position::hold`]).
    Position,
    /// Among the blocking lock calls ([`Position::locking`]), handed to
    /// the caller with the lock.
    Locking,
}

/// A pool call whose effect is undone if its caller leaves first (see
/// [`File::run_undoable`]), as the caller and the job both see it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PoolCall<U> {
    /// The job has not finished.
    Running,
    /// The caller left (killed or timed out) before the job finished.
    Abandoned,
    /// The job finished, and did this (if anything) to be undone.
    Done(Option<U>),
}

/// Undoes a finished job's effect for a caller that unwinds before it
/// sees the result, or marks the call abandoned for the job to undo.
struct UndoGuard<U: Copy> {
    state: Arc<Mutex<PoolCall<U>>>,
    file: Arc<std::fs::File>,
    undo: fn(&std::fs::File, U),
    /// For a lock call: whose lock turn to give back after the undo.
    gate: Option<Arc<Position>>,
    armed: bool,
}

impl<U: Copy> Drop for UndoGuard<U> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *st {
            PoolCall::Done(Some(did)) => match &self.gate {
                Some(position) => position.locking.give_back(|| (self.undo)(&self.file, did)),
                None => (self.undo)(&self.file, did),
            },
            PoolCall::Running => *st = PoolCall::Abandoned,
            PoolCall::Done(None) | PoolCall::Abandoned => {}
        }
    }
}
