//! A minimal logger for the `log` facade: one line per record on stderr, with the monotonic
//! time since start and the member name. Owns formatting only; the level comes from the
//! environment variable `HA_AGENT_LOG` (error, warn, info, debug, trace; default info).

#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

struct Logger {
    origin: Instant,
    member: String,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }
    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let t = self.origin.elapsed();
        let line = format!(
            "{:>6}.{:03} {} {:<5} {}\n",
            t.as_secs(),
            t.subsec_millis(),
            self.member,
            record.level(),
            record.args()
        );
        // One write per line so lines from a supervisor's pipe do not interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
    fn flush(&self) {}
}

/// Install the logger (once; later calls only keep the first member name).
pub fn init(member: &str) {
    let level = match std::env::var("HA_AGENT_LOG").as_deref() {
        Ok("error") => log::LevelFilter::Error,
        Ok("warn") => log::LevelFilter::Warn,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("trace") => log::LevelFilter::Trace,
        _ => log::LevelFilter::Info,
    };
    let logger = LOGGER.get_or_init(|| Logger { origin: Instant::now(), member: member.to_string() });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
