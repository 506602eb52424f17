//! Green `std::process`: [`Command`] and [`Child`] whose waits and pipes
//! park the greenlet. Everything not shadowed here (`Stdio`, `ExitStatus`,
//! `Output`, `exit`, `id`, ...) is `std::process`'s own.
//!
//! Waiting for a child parks on a *pidfd* (Linux 5.3+: an fd that becomes
//! readable when the process exits) registered with the hub — no polling
//! loop, no `SIGCHLD` handler. Where pidfds are not available (older
//! kernels, some sandboxes), or with the environment variable
//! `GUV_NO_PIDFD` set, the wait parks until a `SIGCHLD` handler guv
//! installs then (chaining to any handler installed before it) reports the
//! child's exit; no thread blocks for the waiter, so killed or timed-out
//! waits cost nothing. A program that installs its own `SIGCHLD` handler
//! after that must call the previous one, and one that ignores `SIGCHLD`
//! (children reaped automatically) gets an `Unsupported` error. The
//! child's stdin/stdout/stderr pipes are non-blocking on guv's side and
//! registered with the hub like sockets.
//!
//! ```
//! use guv::green::process::{Command, Stdio};
//! use std::io::{Read, Write};
//!
//! let mut child = Command::new("tr").arg("a-z").arg("A-Z")
//!     .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
//! child.stdin.take().unwrap().write_all(b"green pipes").unwrap(); // dropped: EOF
//! let mut out = String::new();
//! child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
//! assert_eq!(out, "GREEN PIPES");
//! assert!(child.wait().unwrap().success());
//! ```

mod child;
mod command;
mod pipes;

pub use std::process::*;

pub use child::Child;
pub use command::Command;
pub use pipes::{ChildStderr, ChildStdin, ChildStdout};
