//! Green `std::net`. Everything not shadowed here is `std::net`'s own.
//!
//! The sockets and [`ToSocketAddrs`] are [`crate::net`]'s: the same names,
//! methods and behaviour as std's, parking the greenlet instead of the
//! thread, and resolving host names without blocking the hub.
//!
//! ```
//! use guv::green::net::{TcpListener, TcpStream};
//! use std::io::{Read, Write};
//!
//! let l = TcpListener::bind("127.0.0.1:0").unwrap();
//! let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
//! let (mut s, _) = l.accept().unwrap();
//! c.write_all(b"same API").unwrap();
//! let mut buf = [0; 8];
//! s.read_exact(&mut buf).unwrap();
//! assert_eq!(&buf, b"same API");
//! ```

pub use std::net::*;

pub use crate::net::{Incoming, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
