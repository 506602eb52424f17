//! Green `std::time`: std's types, plus [`sleep`], which parks the greenlet.
//!
//! ```
//! use guv::green::time::{Duration, Instant};
//! let start = Instant::now();
//! guv::green::time::sleep(Duration::from_millis(2));
//! assert!(start.elapsed() >= Duration::from_millis(2));
//! ```

pub use std::time::*;

/// [`crate::sleep`]: parks the calling greenlet for at least `dur` while
/// the other greenlets run.
///
/// ```
/// guv::green::time::sleep(std::time::Duration::from_millis(1));
/// ```
pub fn sleep(dur: Duration) {
    crate::sleep(dur);
}
