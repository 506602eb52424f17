//! Green `std::fs`. Everything not shadowed here is `std::fs`'s own.

pub use std::fs::*;
