//! Green `std::io`. Everything not shadowed here is `std::io`'s own.

pub use std::io::*;
