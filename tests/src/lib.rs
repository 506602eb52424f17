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

/// Re-runs this test binary for the test `name` alone, in a child process
/// whose role ([`child_role`]) is `role`: for cases that must not take the
/// test binary down (aborts, resource limits).
pub fn run_child(name: &str, role: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("GUV_TEST_CHILD", role)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the test binary as a child")
}

/// The role of this process if [`run_child`] started it.
pub fn child_role() -> Option<String> {
    std::env::var("GUV_TEST_CHILD").ok()
}

/// A seeded xorshift generator: the same sequence on every run.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Changes `data` by 1 to `max_edits` edits drawn from `rng`: a byte
/// replaced by, or inserted from, `alphabet`, a byte removed, or the rest
/// cut off.
pub fn mutate(data: &mut Vec<u8>, rng: &mut XorShift, alphabet: &[u8], max_edits: usize) {
    for _ in 0..1 + rng.below(max_edits) {
        let pos = rng.below(data.len() + 1);
        match rng.below(4) {
            0 if pos < data.len() => data[pos] = alphabet[rng.below(alphabet.len())],
            1 => data.insert(pos, alphabet[rng.below(alphabet.len())]),
            2 if pos < data.len() => {
                data.remove(pos);
            }
            _ => data.truncate(pos),
        }
    }
}

pub mod alloc;
pub mod dns;
pub mod fs;
/// Helpers for the HTTP and WebSocket tests.
pub mod http;
pub mod net;
