//! Green `std::sync`. Everything not shadowed here is `std::sync`'s own.

pub use std::sync::*;
