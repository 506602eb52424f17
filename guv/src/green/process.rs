//! Green `std::process`. Everything not shadowed here is `std::process`'s own.

pub use std::process::*;
