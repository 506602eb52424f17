//! Green `std::sync::mpsc`: the same channels, whose blocking calls park
//! the greenlet instead of the thread. The error types are `std`'s own.
//!
//! Senders and receivers may sit on different threads (a plain thread
//! sending to a greenlet, a greenlet to a thread, two hubs): the waiting
//! side parks on its own hub and is woken through that hub's remote queue.
//!
//! ```
//! use guv::green::sync::mpsc;
//! let (tx, rx) = mpsc::channel();
//! std::thread::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap(); // from a plain thread
//!     }
//! });
//! // On this thread, other greenlets run while `recv` waits.
//! let got: Vec<i32> = rx.iter().collect();
//! assert_eq!(got, [0, 1, 2]);
//! ```

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdGuard};
use std::time::{Duration, Instant};

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use super::park::{Kind, Parker, WaitQueue, lock, wake_all};

struct Chan<T> {
    state: StdMutex<State<T>>,
}

struct State<T> {
    /// Items with their tickets, in ticket order.
    items: VecDeque<(u64, T)>,
    /// `None`: `channel()`; `Some(0)`: rendezvous; `Some(n)`: bounded.
    bound: Option<usize>,
    next_ticket: u64,
    senders: usize,
    receiver_alive: bool,
    receivers_waiting: WaitQueue,
    senders_waiting: WaitQueue,
}

#[derive(Clone, Copy)]
enum Side {
    Receivers,
    Senders,
}

impl<T> State<T> {
    fn queue(&mut self, side: Side) -> &mut WaitQueue {
        match side {
            Side::Receivers => &mut self.receivers_waiting,
            Side::Senders => &mut self.senders_waiting,
        }
    }

    /// Pushes an item and wakes the receiver waiting longest.
    fn push(&mut self, item: T) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.items.push_back((ticket, item));
        self.receivers_waiting.wake_one();
        ticket
    }

    /// Whether the item with `ticket` has been received.
    fn taken(&self, ticket: u64) -> bool {
        self.items.front().is_none_or(|(t, _)| *t > ticket)
    }

    /// Takes the item with `ticket` out, if it is still queued.
    fn remove(&mut self, ticket: u64) -> Option<T> {
        let i = self.items.iter().position(|(t, _)| *t == ticket)?;
        self.items.remove(i).map(|(_, item)| item)
    }
}

/// Armed while a rendezvous sender waits for its item to be received: if
/// the sender unwinds (killed, timed out), its item leaves the channel.
struct Withdraw<'a, T> {
    chan: &'a Chan<T>,
    ticket: u64,
}

impl<T> Drop for Withdraw<'_, T> {
    fn drop(&mut self) {
        let item = lock(&self.chan.state).remove(self.ticket);
        // Dropped outside the lock: its destructor is user code.
        drop(item);
    }
}

/// How a park in a channel ended.
enum Woke {
    /// Popped by the other side: re-check.
    Popped,
    /// Still queued, woken for no reason: re-check.
    Spurious,
    TimedOut,
}

/// A queued waiter; if it unwinds after being popped, it passes the
/// wake-up to the next waiter of its side.
struct Registration<'a, T> {
    chan: &'a Chan<T>,
    side: Side,
    id: u64,
    armed: bool,
}

impl<T> Registration<'_, T> {
    fn finish(mut self, in_time: bool) -> Woke {
        self.armed = false;
        let removed = lock(&self.chan.state).queue(self.side).remove(self.id);
        match (removed, in_time) {
            (false, _) => Woke::Popped,
            (true, true) => Woke::Spurious,
            (true, false) => Woke::TimedOut,
        }
    }
}

impl<T> Drop for Registration<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = lock(&self.chan.state);
            let q = st.queue(self.side);
            if !q.remove(self.id) {
                q.wake_one();
            }
        }
    }
}

impl<T> Chan<T> {
    fn new(bound: Option<usize>) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: StdMutex::new(State {
                items: VecDeque::new(),
                bound,
                next_ticket: 0,
                senders: 1,
                receiver_alive: true,
                receivers_waiting: WaitQueue::new(),
                senders_waiting: WaitQueue::new(),
            }),
        })
    }

    /// Queues the caller on `side` (releasing the lock) and parks once.
    fn park(
        &self,
        mut st: StdGuard<'_, State<T>>,
        side: Side,
        parker: &Parker,
        deadline: Option<Instant>,
        front: bool,
    ) -> Woke {
        let id = st.queue(side).push(parker.remote(), Kind::Shared, front);
        drop(st);
        let reg = Registration { chan: self, side, id, armed: true };
        let in_time = parker.park(deadline);
        reg.finish(in_time)
    }

    /// Sends `item`; `wait: false` fails instead of blocking.
    fn send(&self, item: T, wait: bool) -> Result<(), TrySendError<T>> {
        let mut parker: Option<Parker> = None;
        let mut front = false;
        let mut item = Some(item);
        loop {
            let mut st = lock(&self.state);
            let value = item.take().expect("guv internal error: mpsc item lost");
            if !st.receiver_alive {
                return Err(TrySendError::Disconnected(value));
            }
            let room = match st.bound {
                None => true,
                Some(0) => wait || !st.receivers_waiting.is_empty(),
                Some(n) => st.items.len() < n,
            };
            if room {
                let ticket = st.push(value);
                let rendezvous = st.bound == Some(0) && wait;
                drop(st);
                return if rendezvous { self.rendezvous(ticket) } else { Ok(()) };
            }
            if !wait {
                return Err(TrySendError::Full(value));
            }
            item = Some(value);
            let parker = parker.get_or_insert_with(Parker::new);
            front = matches!(self.park(st, Side::Senders, parker, None, front), Woke::Popped);
        }
    }

    /// Waits until the item with `ticket` has been received (a rendezvous
    /// send); takes it back if the receiver hangs up first. A sender killed
    /// (or timed out) here takes its item back too, unless it was received
    /// already: a send that did not return did not happen, so a retry
    /// cannot deliver the item twice.
    fn rendezvous(&self, ticket: u64) -> Result<(), TrySendError<T>> {
        let withdraw = Withdraw { chan: self, ticket };
        let parker = Parker::new();
        let result = loop {
            let mut st = lock(&self.state);
            if st.taken(ticket) {
                break Ok(());
            }
            if !st.receiver_alive {
                let value = st.remove(ticket).expect("guv internal error: rendezvous item lost");
                break Err(TrySendError::Disconnected(value));
            }
            self.park(st, Side::Senders, &parker, None, false);
        };
        std::mem::forget(withdraw);
        result
    }

    fn recv(&self, wait: bool, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let mut parker: Option<Parker> = None;
        let mut front = false;
        loop {
            let mut st = lock(&self.state);
            if let Some((_, item)) = st.items.pop_front() {
                // Room for a blocked bounded sender; rendezvous senders
                // each check whether their own item went.
                let senders = match st.bound {
                    Some(0) => st.senders_waiting.take_all(),
                    _ => {
                        st.senders_waiting.wake_one();
                        VecDeque::new()
                    }
                };
                drop(st);
                wake_all(senders);
                return Ok(item);
            }
            if st.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            if !wait {
                return Err(RecvTimeoutError::Timeout);
            }
            let parker = parker.get_or_insert_with(Parker::new);
            match self.park(st, Side::Receivers, parker, deadline, front) {
                Woke::Popped => front = true,
                Woke::Spurious => {}
                Woke::TimedOut => return Err(RecvTimeoutError::Timeout),
            }
        }
    }
}

/// Creates an unbounded channel: [`Sender::send`] never blocks,
/// [`Receiver::recv`] parks the greenlet until an item arrives.
///
/// ```
/// let (tx, rx) = guv::green::sync::mpsc::channel();
/// let tx2 = tx.clone();
/// guv::spawn_n(move || tx2.send("from a greenlet").unwrap());
/// assert_eq!(rx.recv().unwrap(), "from a greenlet");
/// drop(tx);
/// assert!(rx.recv().is_err()); // every sender is gone
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(None);
    (Sender { chan: chan.clone() }, Receiver { chan, _not_sync: PhantomData })
}

/// Creates a channel holding at most `bound` items: [`SyncSender::send`]
/// parks while it is full. With `bound == 0`, each send waits until the
/// receiver takes the item (a rendezvous); a sender killed (or timed out)
/// before that takes its item back.
///
/// ```
/// let (tx, rx) = guv::green::sync::mpsc::sync_channel(0);
/// let sender = guv::spawn(move || {
///     tx.send(1).unwrap(); // returns once received
///     "sent"
/// });
/// assert_eq!(rx.recv().unwrap(), 1);
/// assert_eq!(sender.wait().unwrap(), "sent");
/// ```
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = Chan::new(Some(bound));
    (SyncSender { chan: chan.clone() }, Receiver { chan, _not_sync: PhantomData })
}

fn sender_dropped<T>(chan: &Chan<T>) {
    let receivers = {
        let mut st = lock(&chan.state);
        st.senders -= 1;
        if st.senders == 0 { st.receivers_waiting.take_all() } else { VecDeque::new() }
    };
    wake_all(receivers);
}

fn sender_cloned<T>(chan: &Arc<Chan<T>>) -> Arc<Chan<T>> {
    lock(&chan.state).senders += 1;
    chan.clone()
}

/// The sending half of [`channel`]: the green twin of
/// `std::sync::mpsc::Sender`. `Clone`, `Send` and `Sync` (for `T: Send`).
///
/// ```
/// let (tx, rx) = guv::green::sync::mpsc::channel();
/// tx.send(5).unwrap();
/// assert_eq!(rx.recv(), Ok(5));
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `t` without blocking; gives it back in [`SendError`] if the
    /// receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = guv::green::sync::mpsc::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(1).unwrap_err().0, 1);
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t, true).map_err(|e| match e {
            TrySendError::Disconnected(t) | TrySendError::Full(t) => SendError(t),
        })
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender { chan: sender_cloned(&self.chan) }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        sender_dropped(&self.chan);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The sending half of [`sync_channel`]: the green twin of
/// `std::sync::mpsc::SyncSender`. `Clone`, `Send` and `Sync` (for
/// `T: Send`).
///
/// ```
/// let (tx, rx) = guv::green::sync::mpsc::sync_channel(1);
/// tx.send(1).unwrap();
/// assert!(tx.try_send(2).is_err()); // full
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> SyncSender<T> {
    /// Sends `t`, parking while the channel is full (for a rendezvous
    /// channel: until the receiver takes it). Gives `t` back in
    /// [`SendError`] if the receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = guv::green::sync::mpsc::sync_channel(1);
    /// guv::spawn_n(move || {
    ///     for i in 0..3 {
    ///         tx.send(i).unwrap(); // blocks while one item waits
    ///     }
    /// });
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t, true).map_err(|e| match e {
            TrySendError::Disconnected(t) | TrySendError::Full(t) => SendError(t),
        })
    }

    /// Sends `t` if that does not block: [`TrySendError::Full`] if the
    /// channel is full (for a rendezvous channel: unless a receiver is
    /// waiting), [`TrySendError::Disconnected`] if the receiver is gone.
    ///
    /// ```
    /// use guv::green::sync::mpsc::{TrySendError, sync_channel};
    /// let (tx, _rx) = sync_channel(0);
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    /// ```
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan.send(t, false)
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> SyncSender<T> {
        SyncSender { chan: sender_cloned(&self.chan) }
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        sender_dropped(&self.chan);
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}

/// The receiving half of a channel: the green twin of
/// `std::sync::mpsc::Receiver`. `Send` but not `Sync`, like `std`'s:
///
/// ```compile_fail
/// fn assert_sync<T: Sync>(_: T) {}
/// assert_sync(guv::green::sync::mpsc::channel::<u8>().1);
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<T> Receiver<T> {
    /// Takes the next item, parking the greenlet until one arrives; fails
    /// once the channel is empty and every sender is gone.
    ///
    /// ```
    /// let (tx, rx) = guv::green::sync::mpsc::channel();
    /// guv::spawn_n(move || tx.send('x').unwrap());
    /// assert_eq!(rx.recv(), Ok('x'));
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(true, None).map_err(|_| RecvError)
    }

    /// Takes the next item if there is one now.
    ///
    /// ```
    /// use guv::green::sync::mpsc::{TryRecvError, channel};
    /// let (tx, rx) = channel::<u8>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.recv(false, None).map_err(|e| match e {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Like [`recv`](Receiver::recv), waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use guv::green::sync::mpsc::{RecvTimeoutError, channel};
    /// let (_tx, rx) = channel::<u8>();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(2)), Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv(true, Instant::now().checked_add(timeout))
    }

    /// An iterator that receives until every sender is gone.
    ///
    /// ```
    /// let (tx, rx) = guv::green::sync::mpsc::channel();
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the items there now, without blocking.
    ///
    /// ```
    /// let (tx, rx) = guv::green::sync::mpsc::channel();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (items, senders) = {
            let mut st = lock(&self.chan.state);
            st.receiver_alive = false;
            // Rendezvous senders take their own item back.
            let items = if st.bound == Some(0) { VecDeque::new() } else { std::mem::take(&mut st.items) };
            (items, st.senders_waiting.take_all())
        };
        wake_all(senders);
        drop(items);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// Receives until every sender is gone: [`Receiver::iter`].
///
/// ```
/// let (tx, rx) = guv::green::sync::mpsc::channel();
/// guv::spawn(move || (1..=3).for_each(|i| tx.send(i).unwrap()));
/// assert_eq!(rx.iter().sum::<i32>(), 6);
/// ```
#[derive(Debug)]
pub struct Iter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// The items there now: [`Receiver::try_iter`].
///
/// ```
/// let (tx, rx) = guv::green::sync::mpsc::channel();
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
/// assert_eq!(rx.try_iter().next(), None);
/// ```
#[derive(Debug)]
pub struct TryIter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Receives until every sender is gone, owning the receiver.
///
/// ```
/// let (tx, rx) = guv::green::sync::mpsc::channel();
/// tx.send(3).unwrap();
/// drop(tx);
/// assert_eq!(rx.into_iter().sum::<i32>(), 3);
/// ```
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
