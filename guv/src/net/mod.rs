//! Green sockets: the `std::net` types, parking the greenlet instead of the
//! thread.
//!
//! Every socket here is non-blocking underneath and registered once with the
//! hub; an operation tries the system call first and parks the greenlet only
//! when it would block.

mod tcp;

pub use tcp::{Incoming, TcpListener, TcpStream};
