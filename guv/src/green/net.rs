//! Green `std::net`. Everything not shadowed here is `std::net`'s own.

pub use std::net::*;
