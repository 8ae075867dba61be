//! Monotonic time as the core sees it: milliseconds since an arbitrary origin chosen by the
//! shell (or the simulator). Owns only arithmetic on that type; it never reads a clock, so
//! wall-clock jumps cannot reach the core.

#![forbid(unsafe_code)]

use core::ops::{Add, Sub};

/// A point on the monotonic clock, in milliseconds since the shell's origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    pub const ZERO: Millis = Millis(0);

    /// Milliseconds elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<u64> for Millis {
    type Output = Millis;
    fn add(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl Sub<u64> for Millis {
    type Output = Millis;
    fn sub(self, ms: u64) -> Millis {
        Millis(self.0.saturating_sub(ms))
    }
}

impl core::fmt::Display for Millis {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
