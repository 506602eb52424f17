//! Helpers shared by guv's integration tests (`tests/tests/*.rs`).

use std::cell::RefCell;
use std::rc::Rc;

/// An ordered log of events, shared between greenlets of one thread.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    /// A new empty log.
    pub fn new() -> Log {
        Log::default()
    }

    /// Appends an event.
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    /// Everything logged so far.
    pub fn take(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// An I/O result as the twin tests compare it: `ok`, or the error's kind.
pub fn io_kind<T>(r: &std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?}", e.kind()),
    }
}

pub mod dns;
pub mod fs;
/// Helpers for the HTTP and WebSocket tests.
pub mod http;
pub mod net;
