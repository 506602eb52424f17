//! The whole of `std` with its blocking modules swapped for their green
//! twins (`fs`, `io`, `net`, `os`, `process`, `sync`, `thread`, `time`):
//! put `use guv::green_std as std;` at the top of a file and its `std::...`
//! paths park greenlets instead of threads. Everything else is std's own.
//!
//! ```
//! use guv::green_std as std;
//! use std::io::{Read, Write};
//!
//! let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = l.local_addr().unwrap();
//! let h = std::thread::spawn(move || {
//!     let (mut c, _) = l.accept().unwrap();
//!     let mut b = [0; 2];
//!     c.read_exact(&mut b).unwrap();
//!     b
//! });
//! std::net::TcpStream::connect(addr).unwrap().write_all(b"ok").unwrap();
//! assert_eq!(&h.join().unwrap(), b"ok");
//! let v: std::vec::Vec<u8> = std::vec![1]; // the rest is std
//! assert_eq!(v.len(), 1);
//! ```

pub use std::*;

pub use crate::green::{fs, io, net, os, process, sync, thread, time};

/// `thread_local!` as code patched with every group reaches it through an
/// alias of std (`use std as s;` or `extern crate std as s;` → `use
/// guv::green_std as s;`): where that alias is in scope, the walk turns
/// `s::thread_local!` into `s::__guv_thread_local!`, [`crate::local!`]
/// under a macro-only name, so that green threads get a value each, as
/// with a bare `thread_local!`, and the alias's import stays used. Under
/// its own name, `thread_local!` here is std's, as the rest of this
/// mirror (`std::thread::LocalKey` is std's too). Not public API.
///
/// ```
/// use guv::green_std as s;
/// s::__guv_thread_local! { static N: std::cell::Cell<u8> = std::cell::Cell::new(3); }
/// assert_eq!(N.with(|n| n.get()), 3);
/// ```
#[doc(hidden)]
pub use crate::__thread_local as __guv_thread_local;
