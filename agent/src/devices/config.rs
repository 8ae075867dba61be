//! The TOML shape of the devices' configuration: `[relay]` with its `[[relay.channels]]`, and
//! `[watchdog]`. Owns the serde structures, their defaults, their validation (every problem
//! written at its typed key path to a [`Sink`]) and the construction of a [`RelayChannel`]
//! from a valid channel. It opens nothing and reads no file: the configuration loader
//! (`config::load`) deserializes these sections with the rest of the file and runs
//! [`DevicesConfig::validate`]. The reference is `docs/devices.md`.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::devices::fence::FenceOptions;
use crate::devices::relay::command::{CommandRelay, MAX_OPTIONS};
use crate::devices::relay::gpio::{GpioLine, GpioRelay};
use crate::devices::relay::kmtronic::Kmtronic;
use crate::devices::relay::lcus::Lcus;
use crate::devices::relay::modbus::Modbus;
use crate::devices::relay::numato::{self, Numato};
use crate::devices::relay::serial::SerialRelay;
use crate::devices::relay::RelayChannel;
use crate::devices::watchdog;
use crate::problem::{Found, KeyPath, Sink};

/// Bound on configured relay channels (two nodes, a few spare).
pub const MAX_CHANNELS: usize = 8;
/// Standard serial speeds accepted for relay boards.
const BAUD_RATES: [u32; 8] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];
/// Bounds of `timeout_ms`.
pub const TIMEOUT_MS_MIN: u64 = 1;
pub const TIMEOUT_MS_MAX: u64 = 60_000;
/// Default `timeout_ms` of a command channel: one whole run of a fence agent, which logs in to
/// a BMC or a PDU, sends the off and polls until the power reads off (fence-agents'
/// `power_timeout`, 20 s by default) before it answers. A relay board's exchange is one
/// request and one reply: its default is [`FenceOptions::default`]'s `exchange_timeout_ms`.
pub const COMMAND_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// fence-agents' defaults, in seconds, of the options that bound how long `action=off` runs:
/// `power_timeout` (polling until the power reads off), `login_timeout`, `power_wait`.
pub const FENCE_AGENT_DEFAULT_TIMEOUTS_S: [(&str, f64); 3] =
    [("power_timeout", 20.0), ("login_timeout", 5.0), ("power_wait", 0.0)];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Board {
    Lcus,
    Kmtronic,
    Numato,
    Modbus,
    Gpio,
    Command,
}

/// One `[[relay.channels]]` entry: the power of one node.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayChannelConfig {
    /// The member whose power this channel switches.
    pub node: String,
    pub board: Board,
    /// Serial boards: the port.
    pub device: Option<PathBuf>,
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Modbus: slave address.
    #[serde(default = "default_address")]
    pub address: u8,
    /// Relay number on the board (LCUS and KMtronic count from 1, Numato from 0, Modbus: coil).
    pub channel: Option<u16>,
    /// LCUS: the board was probed and answers the `FF` status query.
    #[serde(default)]
    pub status_query: bool,
    /// GPIO: output line.
    pub chip: Option<PathBuf>,
    pub line: Option<u32>,
    #[serde(default)]
    pub active_low: bool,
    /// GPIO: separate sense input reading the server's power (chip defaults to `chip`).
    pub sense_chip: Option<PathBuf>,
    pub sense_line: Option<u32>,
    #[serde(default)]
    pub sense_active_low: bool,
    /// Command: a fence agent following the fence-agents convention.
    pub command: Option<PathBuf>,
    #[serde(default)]
    pub args: Vec<String>,
    pub plug: Option<String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Timeout of one exchange with the board (of one run of a command) as configured; the one
    /// in force is [`RelayChannelConfig::exchange_timeout_ms`], whose default depends on the
    /// board.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default = "default_settle_ms")]
    pub settle_ms: u64,
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    #[serde(default = "default_confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    #[serde(default = "default_reboot_delay_ms")]
    pub reboot_delay_ms: u64,
    /// Whether the witness may treat an unconfirmed fence through this channel as a fence.
    #[serde(default)]
    pub trust_unconfirmed: bool,
}

fn default_baud() -> u32 {
    9600
}
fn default_address() -> u8 {
    1
}
fn default_settle_ms() -> u64 {
    FenceOptions::default().settle_ms
}
fn default_poll_interval_ms() -> u64 {
    FenceOptions::default().poll_interval_ms
}
fn default_confirm_timeout_ms() -> u64 {
    FenceOptions::default().confirm_timeout_ms
}
fn default_reboot_delay_ms() -> u64 {
    FenceOptions::default().reboot_delay_ms
}
fn default_health_interval_ms() -> u64 {
    60_000
}
fn default_health_failures() -> u32 {
    2
}

/// `[relay]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Interval of the read-state health check of each channel with read-back.
    #[serde(default = "default_health_interval_ms")]
    pub health_interval_ms: u64,
    /// Consecutive failed checks before the "stopped answering" alarm.
    #[serde(default = "default_health_failures")]
    pub health_failures_before_alarm: u32,
    #[serde(default)]
    pub channels: Vec<RelayChannelConfig>,
}

fn default_watchdog_device() -> PathBuf {
    PathBuf::from(watchdog::DEFAULT_DEVICE)
}
fn default_watchdog_timeout_s() -> u32 {
    10
}

/// `[watchdog]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogConfig {
    #[serde(default = "default_watchdog_device")]
    pub device: PathBuf,
    #[serde(default = "default_watchdog_timeout_s")]
    pub timeout_s: u32,
}

/// The devices' sections of a configuration, as the configuration checker validates them
/// together (the checker deserializes each section from the file's tree).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevicesConfig {
    pub relay: Option<RelayConfig>,
    pub watchdog: Option<WatchdogConfig>,
}

impl DevicesConfig {
    /// Writes every problem, each at its key, to `sink`.
    pub fn validate(&self, sink: &mut dyn Sink) {
        if let Some(relay) = &self.relay {
            let at = KeyPath::root("relay");
            if relay.channels.len() > MAX_CHANNELS {
                sink.found(problem(
                    at.key("channels"),
                    format!("`channels`: {} channels, at most {MAX_CHANNELS}", relay.channels.len()),
                ));
            }
            if relay.health_interval_ms < 1000 {
                sink.found(problem(at.key("health_interval_ms"), "`health_interval_ms`: at least 1000"));
            }
            if relay.health_failures_before_alarm == 0 {
                sink.found(problem(
                    at.key("health_failures_before_alarm"),
                    "`health_failures_before_alarm`: at least 1",
                ));
            }
            for (i, c) in relay.channels.iter().enumerate() {
                c.validate(&at.key("channels").index(i), sink);
            }
        }
        if let Some(w) = &self.watchdog {
            if !(watchdog::TIMEOUT_S_MIN..=watchdog::TIMEOUT_S_MAX).contains(&w.timeout_s) {
                sink.found(problem(
                    KeyPath::root("watchdog").key("timeout_s"),
                    format!(
                        "`timeout_s`: {} is outside {}..={}",
                        w.timeout_s,
                        watchdog::TIMEOUT_S_MIN,
                        watchdog::TIMEOUT_S_MAX
                    ),
                ));
            }
        }
    }
}

/// A bad value of `[relay]` or `[watchdog]` at `path`, with the hint of its key.
fn problem(path: KeyPath, message: impl Into<String>) -> Found {
    let hint = device_hint(path.last_key());
    Found::bad_value(path, message, hint)
}

/// How to fix a value of the key `key` of `[relay]` or `[watchdog]`.
fn device_hint(key: &str) -> &'static str {
    match key {
        "node" => "the name of the node member whose power this channel switches",
        "device" => "the serial port of the board, e.g. \"/dev/ttyUSB0\"",
        "baud" => "one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200: the board's rate",
        "channel" => "the relay on the board that switches this node's power; how boards count is in docs/devices.md (Relay drivers)",
        "address" => "the board's Modbus slave address, 1 to 247 (1 unless changed on the board)",
        "timeout_s" => "the timeout asked of the watchdog driver, 1 to 600 s; 10 is usual",
        _ => "see docs/devices.md (Configuration) for the keys of [relay] and [watchdog]",
    }
}

impl RelayChannelConfig {
    /// Writes the problems of the channel at `at` (`relay.channels[1]`) to `sink`, each at the
    /// key it is about.
    pub fn validate(&self, at: &KeyPath, sink: &mut dyn Sink) {
        let mut need = |ok: bool, key: &str, what: &str| {
            if !ok {
                sink.found(problem(at.key(key), what));
            }
        };
        need(!self.node.is_empty(), "node", "node must name a member");
        need(
            (TIMEOUT_MS_MIN..=TIMEOUT_MS_MAX).contains(&self.exchange_timeout_ms()),
            "timeout_ms",
            "timeout_ms must be in 1..=60000",
        );
        need(self.poll_interval_ms > 0, "poll_interval_ms", "poll_interval_ms must be at least 1");
        need(
            self.confirm_timeout_ms >= self.settle_ms,
            "confirm_timeout_ms",
            "confirm_timeout_ms must be at least settle_ms",
        );
        need(
            self.confirm_timeout_ms <= 600_000,
            "confirm_timeout_ms",
            "confirm_timeout_ms must be at most 600000",
        );
        let serial = matches!(self.board, Board::Lcus | Board::Kmtronic | Board::Numato | Board::Modbus);
        if serial {
            need(self.device.is_some(), "device", "device (the serial port) is required for this board");
            need(BAUD_RATES.contains(&self.baud), "baud", "baud must be a standard rate (1200..=115200)");
        }
        match self.board {
            Board::Lcus | Board::Kmtronic => {
                need(
                    matches!(self.channel, Some(1..=255)),
                    "channel",
                    "channel (relay number, from 1) is required",
                );
            }
            Board::Numato => need(
                matches!(self.channel, Some(c) if c <= u16::from(numato::MAX_CHANNEL)),
                "channel",
                "channel (relay index 0..=35) is required",
            ),
            Board::Modbus => {
                need(self.channel.is_some(), "channel", "channel (coil number, from 0) is required");
                need(
                    (1..=247).contains(&self.address),
                    "address",
                    "address must be a Modbus slave address 1..=247",
                );
            }
            Board::Gpio => {
                need(
                    self.chip.is_some() && self.line.is_some(),
                    "chip",
                    "chip and line are required for gpio",
                );
                if self.sense_chip.is_some() {
                    need(self.sense_line.is_some(), "sense_chip", "sense_chip without sense_line");
                }
            }
            Board::Command => {
                need(self.command.is_some(), "command", "command (the fence agent's path) is required");
                need(self.options.len() <= MAX_OPTIONS, "options", "too many options");
                let one_line = |s: &str| !s.contains('\n');
                need(
                    self.options
                        .iter()
                        .all(|(k, v)| one_line(k) && !k.contains('=') && !k.is_empty() && one_line(v)),
                    "options",
                    "options must be single-line key = value pairs",
                );
                need(self.plug.as_deref().is_none_or(one_line), "plug", "plug must be one line");
                need(
                    self.options.keys().all(|k| k != "action" && k != "plug"),
                    "options",
                    "action and plug are set by the agent",
                );
            }
        }
        if self.board != Board::Lcus {
            need(!self.status_query, "status_query", "status_query applies to lcus boards only");
        }
    }

    /// The timeout of one exchange with the board, or of one run of a command: `timeout_ms`,
    /// or the board's default ([`COMMAND_TIMEOUT_MS_DEFAULT`] for a command).
    pub fn exchange_timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(match self.board {
            Board::Command => COMMAND_TIMEOUT_MS_DEFAULT,
            _ => FenceOptions::default().exchange_timeout_ms,
        })
    }

    /// A command channel: how long its fence agent may need for `action=off`, from the
    /// options that bound it (`power_timeout`, `login_timeout`, `power_wait`, in seconds, with
    /// fence-agents' defaults when absent or unreadable). None for relay boards.
    pub fn fence_agent_needs_ms(&self) -> Option<u64> {
        if self.board != Board::Command {
            return None;
        }
        let mut total_s = 0.0;
        for (key, default_s) in FENCE_AGENT_DEFAULT_TIMEOUTS_S {
            let configured = self.options.get(key).and_then(|v| v.trim().parse::<f64>().ok());
            total_s += configured.filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0).unwrap_or(default_s);
        }
        Some((total_s * 1000.0).ceil() as u64)
    }

    pub fn fence_options(&self) -> FenceOptions {
        FenceOptions {
            exchange_timeout_ms: self.exchange_timeout_ms(),
            settle_ms: self.settle_ms,
            poll_interval_ms: self.poll_interval_ms,
            confirm_timeout_ms: self.confirm_timeout_ms,
            reboot_delay_ms: self.reboot_delay_ms,
        }
    }

    /// The driver for a validated channel. Opens nothing yet.
    pub fn open(&self) -> Box<dyn RelayChannel> {
        let channel = self.channel.unwrap_or(0);
        let device = || self.device.clone().expect("validated: serial boards have a device");
        let relay_number = || u8::try_from(channel).expect("validated: relay number fits a byte");
        match self.board {
            Board::Lcus => Box::new(SerialRelay::new(
                &device(),
                self.baud,
                Lcus { channel: relay_number(), status_query: self.status_query },
            )),
            Board::Kmtronic => {
                Box::new(SerialRelay::new(&device(), self.baud, Kmtronic { channel: relay_number() }))
            }
            Board::Numato => {
                Box::new(SerialRelay::new(&device(), self.baud, Numato { channel: relay_number() }))
            }
            Board::Modbus => Box::new(SerialRelay::new(
                &device(),
                self.baud,
                Modbus { address: self.address, coil: channel },
            )),
            Board::Gpio => {
                let chip = self.chip.clone().expect("validated");
                let output = GpioLine {
                    chip: chip.clone(),
                    offset: self.line.expect("validated"),
                    active_low: self.active_low,
                };
                let sense = self.sense_line.map(|offset| GpioLine {
                    chip: self.sense_chip.clone().unwrap_or(chip),
                    offset,
                    active_low: self.sense_active_low,
                });
                Box::new(GpioRelay::new(output, sense, &format!("ha-agent {}", self.node)))
            }
            Board::Command => Box::new(CommandRelay::new(
                self.command.clone().expect("validated"),
                self.args.clone(),
                self.plug.clone(),
                self.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[cluster]
name = "ignored here"

[relay]
health_interval_ms = 30000

[[relay.channels]]
node = "node-a"
board = "modbus"
device = "/dev/ttyUSB0"
address = 1
channel = 0

[[relay.channels]]
node = "node-b"
board = "command"
command = "/usr/sbin/fence_ipmilan"
plug = "2"
options = { ip = "10.0.0.6", username = "admin" }
trust_unconfirmed = false

[watchdog]
device = "/dev/watchdog0"
timeout_s = 15
"#;

    /// The devices' sections of `text` (other sections ignored), validated: what the
    /// configuration checker does with them.
    fn parse_str(text: &str) -> Result<DevicesConfig, Vec<Found>> {
        #[derive(Deserialize)]
        struct Sections {
            relay: Option<RelayConfig>,
            watchdog: Option<WatchdogConfig>,
        }
        let sections: Sections =
            toml::from_str(text).map_err(|e| vec![Found::bad_value(KeyPath::empty(), e.to_string(), "")])?;
        let config = DevicesConfig { relay: sections.relay, watchdog: sections.watchdog };
        let mut found = Vec::new();
        config.validate(&mut found);
        if found.is_empty() {
            Ok(config)
        } else {
            Err(found)
        }
    }

    #[test]
    fn example_parses_with_defaults() {
        let c = parse_str(EXAMPLE).unwrap();
        let relay = c.relay.unwrap();
        assert_eq!(relay.health_interval_ms, 30_000);
        assert_eq!(relay.channels.len(), 2);
        assert_eq!(relay.channels[0].board, Board::Modbus);
        assert_eq!(relay.channels[0].baud, 9600);
        assert_eq!(relay.channels[0].fence_options(), FenceOptions::default());
        assert_eq!(relay.channels[1].options["ip"], "10.0.0.6");
        assert_eq!(c.watchdog.unwrap().timeout_s, 15);
        assert!(relay.channels[0].open().describe().contains("modbus on /dev/ttyUSB0"));
    }

    #[test]
    fn problems_name_their_location() {
        let text = r#"
[[relay.channels]]
node = "node-a"
board = "kmtronic"
baud = 1234
[[relay.channels]]
node = "node-b"
board = "command"
options = { action = "reboot" }
[watchdog]
timeout_s = 0
"#;
        let problems = parse_str(text).unwrap_err();
        let joined =
            problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("\n");
        assert!(joined.contains("relay.channels[0].device: device"), "{joined}");
        assert!(joined.contains("relay.channels[0].baud: baud"), "{joined}");
        assert!(joined.contains("relay.channels[0].channel: channel"), "{joined}");
        assert!(joined.contains("relay.channels[1].command: command"), "{joined}");
        assert!(joined.contains("relay.channels[1].options: action and plug"), "{joined}");
        assert!(joined.contains("watchdog.timeout_s"), "{joined}");
    }

    #[test]
    fn unknown_keys_and_boards_are_rejected() {
        assert!(parse_str("[[relay.channels]]\nnode = \"a\"\nboard = \"x10\"\n").is_err());
        assert!(parse_str("[watchdog]\ntimeout = 5\n").is_err());
    }
}
