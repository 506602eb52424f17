//! Adapters for code that brings its own model of waiting: futures.
//!
//! - [`block_on`] (also `guv::block_on`) drives a `Future` inside a
//!   greenlet: the greenlet parks while the future is pending, other
//!   greenlets run, and the future's waker — callable from any thread —
//!   wakes it.
//! - Green sockets implement `futures_io::AsyncRead` / `AsyncWrite` (the
//!   traits `futures-lite` re-exports), so async protocol code can run on
//!   the hub:
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//!
//! let (mut a, mut b) = guv::net::unix::UnixStream::pair().unwrap();
//! let echo = guv::spawn(move || {
//!     guv::block_on(async {
//!         let mut buf = [0; 5];
//!         b.read_exact(&mut buf).await.unwrap();
//!         b.write_all(&buf).await.unwrap();
//!     })
//! });
//! let got = guv::block_on(async {
//!     a.write_all(b"async").await.unwrap();
//!     let mut buf = [0; 5];
//!     a.read_exact(&mut buf).await.unwrap();
//!     buf
//! });
//! assert_eq!(&got, b"async");
//! echo.wait().unwrap();
//! ```
//!
//! A green socket's async methods register their interest with the hub of
//! the thread that polls them, so drive them with [`block_on`] on a guv
//! thread rather than on another executor. That may be a thread other
//! than the socket's own: dropping the socket (with a poll abandoned while
//! pending) then closes the connection at once, wherever it is dropped,
//! and the hub that polled it keeps no waiter for it.

mod async_io;

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use crate::hub::{RemoteWaker, take_back, with_hub};

/// The waker `block_on` hands to its future.
#[derive(Default)]
struct Signal {
    /// (woken since the last poll, the parked greenlet's remote waker)
    state: Mutex<(bool, Option<RemoteWaker>)>,
}

fn lock(s: &Signal) -> MutexGuard<'_, (bool, Option<RemoteWaker>)> {
    s.state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiter = {
            let mut st = lock(self);
            st.0 = true;
            st.1.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

/// Drives `future` to completion on the calling greenlet, parking it while
/// the future is pending so that other greenlets run. The future's waker
/// may be called from any thread.
///
/// ```
/// use std::task::Poll;
/// let (tx, rx) = std::sync::mpsc::channel::<u32>();
/// let mut asked = false;
/// // The value and the wake-up come from another OS thread.
/// let v = guv::block_on(std::future::poll_fn(|cx| match rx.try_recv() {
///     Ok(v) => Poll::Ready(v),
///     Err(_) => {
///         if !asked {
///             asked = true;
///             let (waker, tx) = (cx.waker().clone(), tx.clone());
///             std::thread::spawn(move || {
///                 tx.send(7).unwrap();
///                 waker.wake();
///             });
///         }
///         Poll::Pending
///     }
/// }));
/// assert_eq!(v, 7);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let signal = Arc::new(Signal::default());
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        let mut st = lock(&signal);
        if std::mem::take(&mut st.0) {
            continue;
        }
        with_hub(|hub| {
            let w = hub.arm();
            let (remote, _registration) = hub.remote_waker(&w);
            st.1 = Some(remote);
            drop(st);
            // A kill or Timeout unwinding the park takes the waker back
            // too: a waker of the future kept elsewhere would hold it.
            let _parked = take_back(&signal.state, |st| st.1.take());
            hub.park();
        });
    }
}
