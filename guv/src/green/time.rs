//! Green `std::time`: std's types, plus [`sleep`], which parks the greenlet.
//!
//! ```
//! use guv::green::time::{Duration, Instant};
//! let start = Instant::now();
//! guv::green::time::sleep(Duration::from_millis(2));
//! assert!(start.elapsed() >= Duration::from_millis(2));
//! ```

pub use std::time::*;

// One item with green `thread`'s `sleep`, not a second function: globs of
// both modules (`use std::*; use time::*; use thread::*;` in patched code,
// or through `guv::green_std`) then bring in the same item, which Rust
// accepts, where two items by one name are ambiguous.
/// [`crate::sleep`]: parks the calling greenlet for at least `dur` while
/// the other greenlets run. The same item as
/// [`guv::green::thread::sleep`](crate::green::thread::sleep), so globs
/// of both modules do not make `sleep` ambiguous.
///
/// ```
/// guv::green::time::sleep(std::time::Duration::from_millis(1));
/// ```
pub use super::thread::sleep;
