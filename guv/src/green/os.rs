//! Green `std::os`: everything is `std::os`'s own except the Unix socket
//! types in [`unix::net`], which are [`crate::net::unix`]'s.
//!
//! ```
//! use guv::green::os::unix::net::UnixStream;
//! use guv::green::os::unix::io::AsRawFd; // std's, re-exported
//! let (a, _b) = UnixStream::pair().unwrap();
//! assert!(a.as_raw_fd() >= 0);
//! ```

pub use std::os::*;

/// Green `std::os::unix`.
pub mod unix {
    pub use std::os::unix::*;

    /// Green `std::os::unix::net`: the socket types park the greenlet.
    pub mod net {
        pub use std::os::unix::net::*;

        pub use crate::net::unix::{UnixDatagram, UnixIncoming as Incoming, UnixListener, UnixStream};
    }
}
