//! Opt-in bookkeeping of a hub's greenlets, for `#[guv::test]`: which are
//! still alive, and which panicked without anyone taking the panic from
//! `GreenThread::wait`. Off by default; when off, each hook is one `Cell`
//! read.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::greenlet::Header;

/// The greenlets of one hub, by id, described as in panic messages.
#[derive(Default)]
pub(crate) struct Tracker {
    on: Cell<bool>,
    live: RefCell<BTreeMap<u64, String>>,
    /// Panicked greenlets whose panic nobody has waited for: description
    /// and message.
    panicked: RefCell<BTreeMap<u64, (String, String)>>,
}

/// What the hub's greenlet tracking recorded (for `#[guv::test]`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TrackReport {
    /// Greenlets spawned since tracking began that have not ended, in spawn
    /// order: `'name' (#3)` or `#3`.
    pub alive: Vec<String>,
    /// Greenlets that panicked and whose panic no `wait()` returned:
    /// (description, panic message).
    pub panicked: Vec<(String, String)>,
}

impl Tracker {
    pub(crate) fn enable(&self) {
        self.on.set(true);
    }

    #[inline]
    pub(crate) fn spawned(&self, h: &Header) {
        if self.on.get() {
            self.live.borrow_mut().insert(h.id(), h.describe());
        }
    }

    #[inline]
    pub(crate) fn ended(&self, h: &Header) {
        if self.on.get() {
            self.live.borrow_mut().remove(&h.id());
        }
    }

    pub(crate) fn panicked(&self, h: &Header, message: &str) {
        if self.on.get() {
            self.panicked.borrow_mut().insert(h.id(), (h.describe(), message.to_owned()));
        }
    }

    /// A `wait()` returned the greenlet's panic: it is handled.
    pub(crate) fn observed(&self, id: u64) {
        if self.on.get() {
            self.panicked.borrow_mut().remove(&id);
        }
    }

    pub(crate) fn report(&self) -> TrackReport {
        TrackReport {
            alive: self.live.borrow().values().cloned().collect(),
            panicked: self.panicked.borrow().values().cloned().collect(),
        }
    }
}
