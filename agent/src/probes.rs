//! The operator's probes of the devices: [`fence_test_main`] (`ha-agent fence-test`, a
//! non-destructive read of one relay channel) and [`watchdog_test_main`] (`ha-agent
//! watchdog-test`, also used by the QEMU watchdog test).
//!
//! Owns their options, output and exit codes. It reads the configuration and drives the
//! devices through `devices`; it decides nothing the agent's loop does. Above both `config`
//! and `devices` (it uses them; they do not use it).

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::devices::relay::RelayError;
use crate::devices::watchdog;

/// `fence-test` exit code: the channel answered with its state.
pub const EXIT_ANSWERED: i32 = 0;
/// `fence-test` exit code: the configuration is invalid or has no such channel.
pub const EXIT_INVALID: i32 = 1;
/// `fence-test` exit code: usage error.
pub const EXIT_USAGE: i32 = 2;
/// `fence-test` exit code: the board did not answer, or answered wrongly.
pub const EXIT_NO_ANSWER: i32 = 3;
/// `fence-test` exit code: the channel cannot read back; nothing could be checked.
pub const EXIT_NO_READBACK: i32 = 4;

const FENCE_TEST_USAGE: &str = "usage: ha-agent fence-test [--config FILE] --channel N|NODE
Reads the state of one relay channel (non-destructive: never switches it) and prints it.
N is the channel's position in [[relay.channels]], counting from 0; NODE is its node name.
Exit codes: 0 answered, 1 invalid configuration or unknown channel, 2 usage error,
3 no or wrong answer, 4 channel has no read-back (nothing checked).";

/// `ha-agent fence-test --channel N`: a non-destructive read-state check of one channel.
/// `args` are the arguments after the subcommand.
pub fn fence_test_main(args: &[String], out: &mut dyn Write) -> i32 {
    let mut config_path = crate::config::path_of(None);
    let mut selector: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--config", Some(v)) => config_path = PathBuf::from(v),
            ("--channel", Some(v)) => selector = Some(v.clone()),
            _ => {
                let _ = writeln!(out, "{FENCE_TEST_USAGE}");
                return EXIT_USAGE;
            }
        }
        i += 2;
    }
    let Some(selector) = selector else {
        let _ = writeln!(out, "{FENCE_TEST_USAGE}");
        return EXIT_USAGE;
    };
    let loaded = crate::config::load_as(&config_path, crate::config::Needs::FileOnly);
    let config = match loaded {
        Ok(c) => c,
        Err(problems) => {
            for p in problems {
                let _ = writeln!(out, "{p}");
            }
            return EXIT_INVALID;
        }
    };
    let channels = config.relay.map(|r| r.channels).unwrap_or_default();
    let found = match selector.parse::<usize>() {
        Ok(n) => channels.get(n).map(|c| (n, c)),
        Err(_) => channels.iter().enumerate().find(|(_, c)| c.node == selector),
    };
    let Some((index, channel_config)) = found else {
        let _ = writeln!(
            out,
            "{}: no relay channel {selector:?} ({} configured)",
            config_path.display(),
            channels.len()
        );
        return EXIT_INVALID;
    };
    let mut channel = channel_config.open();
    let _ = writeln!(out, "channel {index} (node {}): {}", channel_config.node, channel.describe());
    if !channel.can_read_back() {
        let trust = if channel_config.trust_unconfirmed { "trusted" } else { "not trusted" };
        let _ = writeln!(
            out,
            "read-back: none; fences through this channel are unconfirmed ({trust}: trust_unconfirmed = {})",
            channel_config.trust_unconfirmed
        );
        let _ = writeln!(out, "result: nothing checked (the board cannot be read without switching it)");
        return EXIT_NO_READBACK;
    }
    let started = Instant::now();
    let result = channel.read_state(channel_config.exchange_timeout_ms());
    let elapsed_ms = started.elapsed().as_millis();
    match result {
        Ok(state) => {
            let _ = writeln!(out, "state: {state} (answered in {elapsed_ms} ms)");
            EXIT_ANSWERED
        }
        Err(RelayError::NoReadback) => {
            let _ = writeln!(out, "result: nothing checked (no read-back)");
            EXIT_NO_READBACK
        }
        Err(e) => {
            let _ = writeln!(out, "state: unknown: {e} (after {elapsed_ms} ms)");
            if let RelayError::Io(m) = &e {
                if m.contains("busy") || m.contains("Resource") || m.contains("lock") {
                    let _ = writeln!(out, "hint: another process (the running agent?) owns the port");
                }
            }
            EXIT_NO_ANSWER
        }
    }
}

/// `watchdog-test` exit codes.
pub const EXIT_WATCHDOG_STOPPED: i32 = 0;
pub const EXIT_WATCHDOG_FAILED: i32 = 3;

const WATCHDOG_TEST_USAGE: &str =
    "usage: ha-agent watchdog-test [--device PATH] [--timeout-s N] [--seconds N]
Arms the hardware watchdog, prints what it found (identity, timeout the driver set, whether
the last reset came from the watchdog, nowayout), then feeds it until SIGTERM or SIGINT (or
for N seconds) and stops it with the magic close. Stopping this process with SIGSTOP
(or any hang) resets the machine within the timeout: that is the test.
Exit codes: 0 stopped cleanly, 2 usage error, 3 could not arm, feed or disarm.";

/// `ha-agent watchdog-test`: arm, report, feed until told to stop, magic close.
/// `args` are the arguments after the subcommand.
pub fn watchdog_test_main(args: &[String], out: &mut dyn Write) -> i32 {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let mut device = PathBuf::from(watchdog::DEFAULT_DEVICE);
    let mut timeout_s: u32 = 10;
    let mut seconds: Option<u64> = None;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        match (args[i].as_str(), value) {
            ("--device", Some(v)) => device = PathBuf::from(v),
            ("--timeout-s", Some(v)) => match v.parse() {
                Ok(t) if (watchdog::TIMEOUT_S_MIN..=watchdog::TIMEOUT_S_MAX).contains(&t) => timeout_s = t,
                _ => {
                    let _ = writeln!(out, "{WATCHDOG_TEST_USAGE}");
                    return EXIT_USAGE;
                }
            },
            ("--seconds", Some(v)) => match v.parse() {
                Ok(s) => seconds = Some(s),
                Err(_) => {
                    let _ = writeln!(out, "{WATCHDOG_TEST_USAGE}");
                    return EXIT_USAGE;
                }
            },
            _ => {
                let _ = writeln!(out, "{WATCHDOG_TEST_USAGE}");
                return EXIT_USAGE;
            }
        }
        i += 2;
    }
    let mut wd = match watchdog::open_and_arm(&device, timeout_s, Path::new("/sys")) {
        Ok(wd) => wd,
        Err(e) => {
            let _ = writeln!(out, "watchdog-test: {e}");
            return EXIT_WATCHDOG_FAILED;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(signal, stop.clone()) {
            let _ = writeln!(out, "watchdog-test: cannot handle signal {signal}: {e}");
            let _ = wd.stop();
            return EXIT_WATCHDOG_FAILED;
        }
    }
    for line in wd.report().messages() {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "watchdog-test: last reset by watchdog: {}",
        if wd.report().last_reset_by_watchdog() { "yes" } else { "no" }
    );
    let policy = watchdog::FeedPolicy::for_timeout(wd.report().timeout_s);
    let _ = writeln!(out, "watchdog-test: feeding every {} ms until SIGTERM", policy.feed_interval_ms);
    let _ = out.flush();
    let started = Instant::now();
    let mut last_fed = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if seconds.is_some_and(|s| started.elapsed().as_secs() >= s) {
            break;
        }
        if last_fed.elapsed().as_millis() as u64 >= policy.feed_interval_ms {
            if let Err(e) = wd.feed() {
                let _ = writeln!(out, "watchdog-test: keepalive failed: {e}");
                return EXIT_WATCHDOG_FAILED;
            }
            last_fed = Instant::now();
        }
        // Short sleeps so that a signal is noticed quickly.
        std::thread::sleep(std::time::Duration::from_millis(WATCHDOG_TEST_TICK_MS));
    }
    match wd.stop() {
        watchdog::StopOutcome::Disarmed => {
            let _ = writeln!(out, "watchdog-test: stopped; watchdog disarmed (magic close)");
            EXIT_WATCHDOG_STOPPED
        }
        watchdog::StopOutcome::LeftArmed(why) => {
            let _ = writeln!(out, "watchdog-test: stopped; WATCHDOG STILL ARMED: {why}");
            EXIT_WATCHDOG_FAILED
        }
    }
}

/// Sleep granularity of `watchdog-test`'s feeding loop.
const WATCHDOG_TEST_TICK_MS: u64 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&[String], &mut dyn Write) -> i32, args: &[&str]) -> (i32, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let code = f(&args, &mut out);
        (code, String::from_utf8(out).unwrap())
    }

    #[test]
    fn watchdog_test_usage_and_missing_device() {
        assert_eq!(run(watchdog_test_main, &["--timeout-s", "0"]).0, EXIT_USAGE);
        assert_eq!(run(watchdog_test_main, &["--bogus"]).0, EXIT_USAGE);
        let (code, out) = run(watchdog_test_main, &["--device", "/nonexistent/watchdog", "--seconds", "0"]);
        assert_eq!(code, EXIT_WATCHDOG_FAILED);
        assert!(out.contains("no such watchdog device"), "{out}");
    }

    #[test]
    fn fence_test_usage_and_bad_config() {
        assert_eq!(run(fence_test_main, &[]).0, EXIT_USAGE);
        let (code, out) = run(fence_test_main, &["--config", "/nonexistent.toml", "--channel", "0"]);
        assert_eq!(code, EXIT_INVALID);
        assert!(out.contains("/nonexistent.toml"), "{out}");
    }
}
