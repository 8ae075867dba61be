//! Monotonic time as the core sees it: microseconds since an arbitrary origin chosen by the
//! shell (or the simulator). Owns only arithmetic on that type; it never reads a clock, so
//! wall-clock jumps cannot reach the core. Configuration speaks milliseconds; the core keeps
//! microseconds so that link latency on a LAN is measurable.

#![forbid(unsafe_code)]

/// A point on the monotonic clock, in microseconds since the shell's origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub u64);

impl Micros {
    pub const ZERO: Micros = Micros(0);
    pub const MAX: Micros = Micros(u64::MAX);

    pub const fn from_ms(ms: u64) -> Micros {
        Micros(ms.saturating_mul(1000))
    }
    /// Whole milliseconds since the origin.
    pub const fn as_ms(self) -> u64 {
        self.0 / 1000
    }
    /// Microseconds elapsed since `earlier`, zero if `earlier` is in the future.
    pub const fn since_us(self, earlier: Micros) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
    pub const fn plus_us(self, us: u64) -> Micros {
        Micros(self.0.saturating_add(us))
    }
    pub const fn plus_ms(self, ms: u64) -> Micros {
        self.plus_us(ms.saturating_mul(1000))
    }
    pub const fn minus_us(self, us: u64) -> Micros {
        Micros(self.0.saturating_sub(us))
    }
}

impl core::fmt::Display for Micros {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:03}ms", self.0 / 1000, self.0 % 1000)
    }
}
