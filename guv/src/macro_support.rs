//! Run-time support for the macros, reached through `guv::__private`:
//! what `#[guv::test]` expands to.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::hub;

/// `#[guv::test]`'s options, checked at compile time.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// The test function's name.
    pub name: &'static str,
    /// The hub's default greenlet stack size.
    pub stack_size: Option<usize>,
    /// How long the test may run, and that duration as written.
    pub timeout: Option<(Duration, &'static str)>,
    /// Greenlets still alive at the end are fine.
    pub allow_leaks: bool,
}

/// What a `#[guv::test]` body may return: `()`, an `ExitCode`,
/// `Infallible`, or a `Result` of one of them whose error is `Debug` — the
/// `Termination` types of std that `#[test]` accepts (a `-> !` test's body
/// returns `()`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a #[guv::test] function",
    label = "the test's return type",
    note = "a #[guv::test] function returns `()`, `!`, `std::process::ExitCode`, or a `Result` of one of them (or of `Infallible`) whose error is `Debug`"
)]
pub trait TestReturn {
    /// `None` for success, or the failure message.
    fn into_failure(self) -> Option<String>;
}

impl TestReturn for () {
    fn into_failure(self) -> Option<String> {
        None
    }
}

/// `Result<Infallible, E>`: a body that only ever ends with an error.
impl TestReturn for Infallible {
    fn into_failure(self) -> Option<String> {
        match self {}
    }
}

impl TestReturn for ExitCode {
    fn into_failure(self) -> Option<String> {
        (self != ExitCode::SUCCESS).then(|| {
            format!(
                "the test returned a termination value with a non-zero status code ({self:?}) which indicates a failure"
            )
        })
    }
}

impl<T: TestReturn, E: fmt::Debug> TestReturn for Result<T, E> {
    fn into_failure(self) -> Option<String> {
        match self {
            Ok(v) => v.into_failure(),
            Err(e) => Some(format!("Error: {e:?}")),
        }
    }
}

/// How the test's own thread ended.
enum Outcome {
    Passed,
    Failed(String),
    Panicked(Box<dyn Any + Send + 'static>),
}

/// Runs a `#[guv::test]` body as the main greenlet of a fresh hub on a new
/// thread, then checks the greenlets it left behind. Panics (the test
/// fails) on a panic in the body — re-raised with its own payload, so
/// `#[should_panic(expected = ...)]` works —, an `Err` result, a greenlet
/// whose panic nobody waited for, a greenlet still alive (unless
/// `allow_leaks`), or an overrun timeout. The failure points at the test.
#[track_caller]
pub fn run_test<F, R>(opts: TestOptions, body: F)
where
    F: FnOnce() -> R + Send + 'static,
    R: TestReturn,
{
    let thread_name = thread::current().name().map_or_else(|| opts.name.to_owned(), str::to_owned);
    let (tx, rx) = mpsc::channel();
    let child_opts = opts.clone();
    let spawned = thread::Builder::new().name(thread_name).spawn(move || {
        let outcome = run_on_fresh_hub(&child_opts, body);
        // The receiver is gone only if the test already timed out.
        let _ = tx.send(outcome);
    });
    if let Err(e) = spawned {
        panic!("#[guv::test] `{}`: cannot start the test's thread: {e}", opts.name);
    }
    let outcome = match opts.timeout {
        None => rx.recv().ok(),
        Some((limit, text)) => match rx.recv_timeout(limit) {
            Ok(outcome) => Some(outcome),
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "#[guv::test] `{}` timed out: still running after timeout = \"{text}\". \
                 Some greenlet is waiting for something that never comes (or a blocking call \
                 that is not patched holds the thread); raise `timeout` if it is only slow",
                opts.name
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
        },
    };
    match outcome {
        Some(Outcome::Passed) => {}
        Some(Outcome::Failed(msg)) => panic!("{msg}"),
        Some(Outcome::Panicked(payload)) => crate::hub::resume_unwind(payload),
        None => panic!("#[guv::test] `{}`: the test's thread ended without a result", opts.name),
    }
}

fn run_on_fresh_hub<F, R>(opts: &TestOptions, body: F) -> Outcome
where
    F: FnOnce() -> R,
    R: TestReturn,
{
    if let Some(size) = opts.stack_size
        && let Err(e) = hub::set_stack_size(size)
    {
        return Outcome::Failed(format!("#[guv::test] `{}`: stack_size: {e}", opts.name));
    }
    hub::track_greenlets();
    let failure = match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result.into_failure(),
        // guv's own unwinding payloads carry no message: say what they are,
        // or the test would fail without a word.
        Err(payload) => match crate::Error::from_unwind(payload) {
            crate::Error::Panicked(payload) => return Outcome::Panicked(payload),
            crate::Error::TimedOut => Some(format!(
                "#[guv::test] `{}`: the body was interrupted by a guv::Timeout it did not catch \
                 (use guv::with_timeout to get it as an Err)",
                opts.name
            )),
            crate::Error::Killed => Some(format!("#[guv::test] `{}`: the body was killed", opts.name)),
        },
    };
    if let Some(msg) = failure {
        return Outcome::Failed(msg);
    }
    let report = hub::tracked();
    let mut problems = Vec::new();
    for (who, msg) in &report.panicked {
        problems.push(format!("greenlet {who} panicked and nothing waited for it: {msg}"));
    }
    if !opts.allow_leaks && !report.alive.is_empty() {
        problems.push(format!(
            "{} greenlet(s) still alive at the end of the test: {}; wait for them or kill them, \
             or write #[guv::test(allow_leaks)]",
            report.alive.len(),
            report.alive.join(", ")
        ));
    }
    if problems.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(format!("#[guv::test] `{}`: {}", opts.name, problems.join("; ")))
    }
}
