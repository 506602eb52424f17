//! Green `std::thread`. Everything not shadowed here is `std::thread`'s own.

pub use std::thread::*;
