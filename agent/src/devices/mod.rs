//! Devices the agent drives outside its links: the fencing relays that cut a server's power
//! and the hardware watchdog that resets a hung member.
//!
//! - [`relay`]: one small interface for a relay channel and its drivers (serial boards as pure
//!   codecs plus a blocking executor, GPIO character device, external fence-agent command).
//! - [`fence`]: the fence procedure (read, off, poll until confirmed) as a sans-I/O state
//!   machine with a blocking driver, and the relay health-check policy.
//! - [`watchdog`]: `/dev/watchdog` ownership, identification, timeout, boot status, feeding,
//!   magic close, and the pure feed policy.
//! - [`config`]: the `[relay]` and `[watchdog]` TOML sections.
//! - `ioctl`: the only module here with `unsafe` (GPIO uAPI v2 and watchdog ioctls).
//!
//! It does not decide *when* to fence or self-fence (the core does), and it does not run a
//! loop of its own: the shell calls it. Controller console sessions (also "devices" in the
//! architecture) are not here yet.
//!
//! Entry point for the console: [`fence_test_main`], for `ha-agent fence-test`.

// No `forbid` here: `ioctl` allows unsafe code; every other module forbids it itself.

pub mod config;
pub mod fence;
mod ioctl;
pub mod relay;
pub mod watchdog;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use relay::RelayError;

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
    let mut config_path = PathBuf::from(crate::config::DEFAULT_PATH);
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
    let devices = match config::load_file(&config_path) {
        Ok(d) => d,
        Err(problems) => {
            for p in problems {
                let _ = writeln!(out, "{p}");
            }
            return EXIT_INVALID;
        }
    };
    let channels = devices.relay.map(|r| r.channels).unwrap_or_default();
    let found = match selector.parse::<usize>() {
        Ok(n) => channels.get(n).map(|c| (n, c)),
        Err(_) => channels.iter().enumerate().find(|(_, c)| c.node == selector),
    };
    let Some((index, channel_config)) = found else {
        let _ =
            writeln!(out, "{}: no relay channel {selector:?} ({} configured)", config_path.display(), channels.len());
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
    let result = channel.read_state(channel_config.timeout_ms);
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
