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
