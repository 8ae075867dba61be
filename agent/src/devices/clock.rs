//! The process's monotonic clock for the fence procedure's blocking driver
//! (`ha_core::fence::run`), re-exported as `devices::fence::SystemClock`. Owns only reading
//! `Instant` and sleeping; the procedure itself is pure and lives in `ha_core::fence`.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use ha_core::fence::Clock;
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
