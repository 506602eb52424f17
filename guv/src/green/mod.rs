//! The green mirror of the blocking parts of `std`: the same names,
//! signatures and behaviour as the `std` modules, except that a call that
//! would block parks the greenlet instead of the thread.
//!
//! Each module starts with `pub use std::<module>::*;` and shadows only what
//! blocks, so it can stand in for the `std` module wholesale — which is what
//! `#[guv::patched]` relies on when it rewrites `std::net::TcpStream` to
//! `guv::green::net::TcpStream`.

pub mod fs;
pub mod io;
pub mod net;
pub mod os;
mod pipe;
pub mod process;
mod scope;
pub mod sync;
mod sys;
pub mod thread;
pub mod time;
