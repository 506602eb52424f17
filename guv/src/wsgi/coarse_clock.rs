//! The wall clock at the kernel's tick resolution, for the `Date` header.
//!
//! `SystemTime::now` reads the TSC and converts (about 40 ns on the
//! benchmark VM, once per response); `CLOCK_REALTIME_COARSE` returns the
//! time of the last timer tick (a few milliseconds old) from the vDSO's
//! data page, in about 6 ns. A `Date` field has one-second resolution.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::time::{SystemTime, UNIX_EPOCH};

/// Whole seconds since the Unix epoch, read from the coarse clock where
/// there is one (0 for a clock before 1970).
pub(crate) fn unix_secs() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a live, writable `timespec`; `clock_gettime` only
        // writes that struct and reports failure through its return value.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
            return u64::try_from(ts.tv_sec).unwrap_or(0);
        }
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn agrees_with_the_precise_clock() {
        let precise = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let before = precise();
        let coarse = super::unix_secs();
        let after = precise();
        // The coarse clock may lag by one tick, never by more than a second.
        assert!(coarse + 1 >= before && coarse <= after, "{before} <= {coarse} <= {after}");
    }
}
