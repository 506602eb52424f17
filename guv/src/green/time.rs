//! Green `std::time`. Everything not shadowed here is `std::time`'s own.

pub use std::time::*;
