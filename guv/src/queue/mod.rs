//! Queues between greenlets: [`Queue`], [`LightQueue`], [`PriorityQueue`]
//! and [`LifoQueue`] (eventlet's and gevent's `queue` module).
//!
//! Every queue has a `maxsize`: `None` is unbounded; `Some(n)` bounds the
//! queue to `n` items, `put` blocking while it is full; `Some(0)` makes a
//! *channel*, where `put` blocks until a `get` takes the item (both
//! [`Queue::empty`] and [`Queue::full`] are then always true). Blocked
//! getters and putters are served in the order they came, and items leave
//! in the queue's order: FIFO for `Queue` and `LightQueue`, lowest first
//! for `PriorityQueue` (equal items FIFO), last in first out for
//! `LifoQueue`.
//!
//! `Queue`, `PriorityQueue` and `LifoQueue` count unfinished tasks:
//! consumers call `task_done()` per item and `join()` waits until every item
//! put has been marked done. `LightQueue` skips that bookkeeping.
//!
//! Queues are hub-local: cheap handles (`Clone` shares the queue) that stay
//! on their thread (`!Send`), built without atomics or locks. A greenlet
//! killed or timed out while blocked in `get` or `put` leaves the queue
//! without losing an item: an item already handed to it goes to the next
//! getter, or back to the head of the queue. A `put` that is interrupted
//! owned its item, which is then dropped (Python's caller still holds its
//! object after `with Timeout(...): q.put(item)`): to keep it, use
//! `put_timeout`, which hands it back in [`Full`].
//!
//! ```
//! use guv::queue::Queue;
//! let q = Queue::new(Some(0)); // a channel
//! let tx = q.clone();
//! let producer = guv::spawn(move || {
//!     for i in 0..3 {
//!         tx.put(i); // blocks until the consumer takes it
//!     }
//! });
//! let got: Vec<i32> = (0..3).map(|_| q.get()).collect();
//! assert_eq!(got, [0, 1, 2]);
//! producer.wait().unwrap();
//! ```

mod core;

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use self::core::{Core, Fifo, Heap, Lifo};
use crate::event::deadline_after;

/// A `put` that could not complete: the queue was full (or, for a
/// channel, no getter took the item) and it was not allowed to wait, or
/// its time ran out. Carries the item back.
///
/// ```
/// let q = guv::queue::Queue::new(Some(1));
/// q.try_put("a").unwrap();
/// let full = q.try_put("b").unwrap_err();
/// assert_eq!(full.0, "b");
/// assert_eq!(full.to_string(), "the queue is full");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is full")
    }
}

impl<T> std::error::Error for Full<T> {}

/// A `get` that found no item and was not allowed to wait, or whose time
/// ran out.
///
/// ```
/// let q = guv::queue::Queue::<u8>::new(None);
/// assert_eq!(q.try_get(), Err(guv::queue::Empty));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Empty;

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is empty")
    }
}

impl std::error::Error for Empty {}

/// `task_done()` called more times than items were put.
///
/// ```
/// let q = guv::queue::Queue::<u8>::new(None);
/// let err = q.task_done().unwrap_err();
/// assert!(err.to_string().contains("more times"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than there were items put")
    }
}

impl std::error::Error for TaskDoneError {}

/// The methods every queue type has. `$bound` is the item bound, `$ex` an
/// expression making an unbounded queue of that type, for the examples.
macro_rules! queue_common {
    ($name:ident, $store:ident, [$($bound:tt)*], $ex:literal) => {
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { core: self.core.clone() }
            }
        }

        impl<T $($bound)*> Default for $name<T> {
            /// An unbounded queue.
            fn default() -> Self {
                $name::new(None)
            }
        }

        impl<T $($bound)*> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("qsize", &self.qsize())
                    .field("maxsize", &self.maxsize())
                    .field("getting", &self.getting())
                    .field("putting", &self.putting())
                    .finish()
            }
        }

        impl<T $($bound)*> $name<T> {
            #[doc = concat!("A new queue: `maxsize` `None` is unbounded, `Some(0)` a channel, `Some(n)` at most `n` items.\n\n```\nlet q = guv::queue::", stringify!($name), "::new(Some(2));\nq.put(1);\nq.put(2);\nassert!(q.full());\nassert_eq!(q.maxsize(), Some(2));\n```")]
            pub fn new(maxsize: Option<usize>) -> Self {
                $name { core: Rc::new(Core::<T, $store<T>>::new(maxsize)) }
            }

            #[doc = concat!("Puts `item`, blocking while the queue is full (for a channel: until a getter takes it). Waiting putters go in the order they came.\n\n```\nlet q = ", $ex, ";\nq.put(7);\nassert_eq!(q.get(), 7);\n```")]
            pub fn put(&self, item: T) {
                if self.core.put(item, true, None).is_err() {
                    unreachable!("guv internal error: a put without deadline timed out");
                }
            }

            #[doc = concat!("Like [`put`](Self::put), blocking for at most `timeout`; gives the item back in [`Full`] if it could not be put in time.\n\n```\nuse std::time::Duration;\nlet q = guv::queue::", stringify!($name), "::new(Some(0));\nassert_eq!(q.put_timeout(1, Duration::from_millis(2)).unwrap_err().0, 1);\n```")]
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
                self.core.put(item, true, deadline_after(timeout)).map_err(Full)
            }

            #[doc = concat!("Puts `item` without blocking: [`Full`] (with the item) if the queue is full — for a channel, unless a getter is waiting.\n\n```\nlet q = guv::queue::", stringify!($name), "::new(Some(1));\nassert!(q.try_put(1).is_ok());\nassert_eq!(q.try_put(2).unwrap_err().0, 2);\n```")]
            pub fn try_put(&self, item: T) -> Result<(), Full<T>> {
                self.core.put(item, false, None).map_err(Full)
            }

            #[doc = concat!("Takes the next item, blocking until there is one. Waiting getters are served in the order they came.\n\n```\nlet q = ", $ex, ";\nlet tx = q.clone();\nguv::spawn_n(move || tx.put(3));\nassert_eq!(q.get(), 3); // blocks until the greenlet puts\n```")]
            pub fn get(&self) -> T {
                self.core.get(true, None).expect("guv internal error: a get without deadline timed out")
            }

            #[doc = concat!("Like [`get`](Self::get), blocking for at most `timeout`.\n\n```\nuse std::time::Duration;\nlet q = ", $ex, ";\nassert_eq!(q.get_timeout(Duration::from_millis(2)), Err(guv::queue::Empty));\nq.put(1);\nassert_eq!(q.get_timeout(Duration::from_millis(2)), Ok(1));\n```")]
            pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
                self.core.get(true, deadline_after(timeout)).ok_or(Empty)
            }

            #[doc = concat!("Takes the next item without blocking — for a channel, from a waiting putter.\n\n```\nlet q = ", $ex, ";\nassert!(q.try_get().is_err());\nq.put(1);\nassert_eq!(q.try_get(), Ok(1));\n```")]
            pub fn try_get(&self) -> Result<T, Empty> {
                self.core.get(false, None).ok_or(Empty)
            }

            #[doc = concat!("The number of items in the queue (not counting those of blocked putters).\n\n```\nlet q = ", $ex, ";\nq.put(1);\nq.put(2);\nassert_eq!(q.qsize(), 2);\n```")]
            pub fn qsize(&self) -> usize {
                self.core.qsize()
            }

            #[doc = concat!("Whether the queue holds no item (always true for a channel).\n\n```\nlet q = ", $ex, ";\nassert!(q.empty());\nq.put(1);\nassert!(!q.empty());\n```")]
            pub fn empty(&self) -> bool {
                self.core.qsize() == 0
            }

            #[doc = concat!("Whether a `put` would block now: the queue holds `maxsize` items (always true for a channel, never for an unbounded queue).\n\n```\nlet q = guv::queue::", stringify!($name), "::<u8>::new(Some(0));\nassert!(q.full() && q.empty());\n```")]
            pub fn full(&self) -> bool {
                self.core.full()
            }

            #[doc = concat!("The current `maxsize`.\n\n```\nlet q = ", $ex, ";\nq.put(1);\nassert_eq!(q.maxsize(), None);\n```")]
            pub fn maxsize(&self) -> Option<usize> {
                self.core.maxsize()
            }

            #[doc = concat!("Changes `maxsize`. Growing it moves the items of blocked putters into the queue (waking them); shrinking it never drops items, it only makes later puts wait.\n\n```\nlet q = guv::queue::", stringify!($name), "::new(Some(1));\nq.put(1);\nassert!(q.try_put(2).is_err());\nq.resize(None);\nassert!(q.try_put(2).is_ok());\n```")]
            pub fn resize(&self, maxsize: Option<usize>) {
                self.core.resize(maxsize)
            }

            #[doc = concat!("The number of greenlets blocked in `get`.\n\n```\nlet q = ", $ex, ";\nlet rx = q.clone();\nlet g = guv::spawn(move || rx.get());\nguv::gyield();\nassert_eq!(q.getting(), 1);\nq.put(1);\nassert_eq!(q.getting(), 0);\nassert_eq!(g.wait().unwrap(), 1);\n```")]
            pub fn getting(&self) -> usize {
                self.core.getting()
            }

            #[doc = concat!("The number of greenlets blocked in `put`.\n\n```\nlet q = guv::queue::", stringify!($name), "::new(Some(0));\nlet tx = q.clone();\nguv::spawn_n(move || tx.put(1));\nguv::gyield();\nassert_eq!(q.putting(), 1);\nassert_eq!(q.get(), 1);\nassert_eq!(q.putting(), 0);\n```")]
            pub fn putting(&self) -> usize {
                self.core.putting()
            }
        }
    };
}

/// The methods of queues that count unfinished tasks.
macro_rules! queue_tasks {
    ($name:ident, [$($bound:tt)*]) => {
        impl<T $($bound)*> $name<T> {
            #[doc = concat!("Marks one item taken from the queue as processed. Fails with [`TaskDoneError`] if called more times than items were put.\n\n```\nlet q = guv::queue::", stringify!($name), "::new(None);\nq.put(1);\nq.get();\nassert!(q.task_done().is_ok());\nassert!(q.task_done().is_err());\n```")]
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                if self.core.task_done() { Ok(()) } else { Err(TaskDoneError) }
            }

            #[doc = concat!("Blocks until every item put so far has been marked done with [`task_done`](Self::task_done).\n\n```\nlet q = guv::queue::", stringify!($name), "::new(None);\nfor i in 0..3 {\n    q.put(i);\n}\nlet worker = q.clone();\nguv::spawn_n(move || loop {\n    worker.get();\n    worker.task_done().unwrap();\n});\nq.join();\nassert_eq!(q.unfinished_tasks(), 0);\n```")]
            pub fn join(&self) {
                let done = self.core.join(None);
                debug_assert!(done);
            }

            #[doc = concat!("Like [`join`](Self::join) for at most `timeout`; returns whether all tasks are done.\n\n```\nuse std::time::Duration;\nlet q = guv::queue::", stringify!($name), "::new(None);\nq.put(1);\nassert!(!q.join_timeout(Duration::from_millis(2)));\n```")]
            pub fn join_timeout(&self, timeout: Duration) -> bool {
                self.core.join(deadline_after(timeout))
            }

            #[doc = concat!("The number of items put and not yet marked done.\n\n```\nlet q = guv::queue::", stringify!($name), "::new(None);\nq.put(1);\nassert_eq!(q.unfinished_tasks(), 1);\n```")]
            pub fn unfinished_tasks(&self) -> usize {
                self.core.unfinished()
            }
        }
    };
}

/// A FIFO queue with task tracking (`task_done`/`join`): eventlet's and
/// gevent's `Queue`. See the [module docs](self) for `maxsize`.
///
/// It stays on its thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(guv::queue::Queue::<u8>::new(None));
/// ```
///
/// ```
/// let q = guv::queue::Queue::new(Some(2));
/// q.put("a");
/// q.put("b");
/// assert_eq!((q.get(), q.get()), ("a", "b"));
/// ```
pub struct Queue<T> {
    core: Rc<Core<T, Fifo<T>>>,
}

queue_common!(Queue, Fifo, [], "guv::queue::Queue::new(None)");
queue_tasks!(Queue, []);

/// A FIFO queue without task tracking: a little lighter than [`Queue`].
///
/// ```
/// let q = guv::queue::LightQueue::new(None);
/// q.put(1);
/// q.put(2);
/// assert_eq!((q.get(), q.get()), (1, 2));
/// ```
pub struct LightQueue<T> {
    core: Rc<Core<T, Fifo<T>>>,
}

queue_common!(LightQueue, Fifo, [], "guv::queue::LightQueue::new(None)");

/// A queue that hands out the lowest item first (equal items in the order
/// they were put), with task tracking. Wrap items in
/// [`std::cmp::Reverse`] for highest first.
///
/// ```
/// let q = guv::queue::PriorityQueue::new(None);
/// for p in [3, 1, 2] {
///     q.put(p);
/// }
/// assert_eq!([q.get(), q.get(), q.get()], [1, 2, 3]);
/// ```
///
/// If the items' `Ord` panics, no item is lost and the unfinished-task
/// count stays true; only the order in which items leave may be off from
/// then on. A panic in the caller's own `put` reaches the caller with the
/// item queued and counted for [`join`](Self::join); one in the caller's
/// own `get` reaches the caller with the item left in the queue. When the
/// queue stores an item on another greenlet's behalf (a blocked putter's
/// item moved in by a `get`, an item handed back by a killed getter), the
/// panic is reported by the panic hook and the item stored.
///
/// ```
/// use std::cmp::Ordering;
/// #[derive(Debug, PartialEq, Eq)]
/// struct Job(u32);
/// impl Ord for Job {
///     fn cmp(&self, other: &Self) -> Ordering {
///         assert!(self.0 != 13 && other.0 != 13, "unlucky job");
///         self.0.cmp(&other.0)
///     }
/// }
/// impl PartialOrd for Job {
///     fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
///         Some(self.cmp(other))
///     }
/// }
///
/// let q = guv::queue::PriorityQueue::new(None);
/// q.put(Job(1));
/// let put = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.put(Job(13))));
/// assert!(put.is_err());
/// // Queued and counted all the same.
/// assert_eq!((q.qsize(), q.unfinished_tasks()), (2, 2));
/// ```
pub struct PriorityQueue<T> {
    core: Rc<Core<T, Heap<T>>>,
}

queue_common!(PriorityQueue, Heap, [: Ord], "guv::queue::PriorityQueue::new(None)");
queue_tasks!(PriorityQueue, [: Ord]);

/// A last-in, first-out queue (a stack), with task tracking.
///
/// ```
/// let q = guv::queue::LifoQueue::new(None);
/// q.put(1);
/// q.put(2);
/// assert_eq!((q.get(), q.get()), (2, 1));
/// ```
pub struct LifoQueue<T> {
    core: Rc<Core<T, Lifo<T>>>,
}

queue_common!(LifoQueue, Lifo, [], "guv::queue::LifoQueue::new(None)");
queue_tasks!(LifoQueue, []);
