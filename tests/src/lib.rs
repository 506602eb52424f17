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

pub mod dns;
/// Helpers for the HTTP and WebSocket tests.
pub mod http;
