//! The fence procedure, with the process's clock.
//!
//! The procedure itself ([`FenceProcedure`], the blocking driver [`run`], the relay
//! [`HealthMonitor`]) is pure and lives in `ha_core::fence`, re-exported here. This module adds
//! only [`SystemClock`], the monotonic clock of the process the driver sleeps on.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

pub use ha_core::fence::*;
use ha_core::time::Micros;

/// The monotonic clock of the process.
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock { origin: Instant::now() }
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&mut self) -> Micros {
        Micros(self.origin.elapsed().as_micros() as u64)
    }
    fn sleep_until(&mut self, t: Micros) {
        let now = self.now();
        if t > now {
            std::thread::sleep(Duration::from_micros(t.since_us(now)));
        }
    }
}

