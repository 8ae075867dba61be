//! The `[syslog]` TOML section: a remote syslog collector that receives every log line of the
//! agent, its severity kept (logs off the box).
//!
//! Owns the serde structure, its defaults, its validation (each problem written at its typed key path to a `Sink`) and the
//! syslog codes of facilities and formats. It opens no socket and formats no message: the
//! shell's logger (`shell::logger::remote`) does. The reference is docs/configuration.md.

#![forbid(unsafe_code)]

use std::net::SocketAddr;

use serde::Deserialize;

use super::path::{Found, KeyPath, Sink};

/// Bound on `hostname` (RFC 5424: HOSTNAME is at most 255 printable US-ASCII characters).
pub const MAX_HOSTNAME_BYTES: usize = 255;

/// The message format of each datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    /// RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`.
    #[default]
    Rfc5424,
    /// RFC 3164 (BSD): `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`.
    Rfc3164,
}

/// The syslog facility (RFC 5424, table 1), by its usual name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    Kern,
    User,
    Mail,
    #[default]
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// The facility's code: PRI is `code * 8 + severity`.
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Mail => 2,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Syslog => 5,
            Facility::Lpr => 6,
            Facility::News => 7,
            Facility::Uucp => 8,
            Facility::Cron => 9,
            Facility::Authpriv => 10,
            Facility::Ftp => 11,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// `[syslog]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// The collector, `"ip:port"` (UDP; 514 is customary).
    pub target: SocketAddr,
    #[serde(default)]
    pub format: SyslogFormat,
    #[serde(default)]
    pub facility: Facility,
    /// HOSTNAME of each message; this member's name when absent.
    pub hostname: Option<String>,
}

impl SyslogConfig {
    /// Writes every problem, each at its key, to `sink`.
    pub fn validate(&self, sink: &mut dyn Sink) {
        if self.target.port() == 0 || self.target.ip().is_unspecified() {
            sink.found(Found::bad_value(
                KeyPath::root("syslog").key("target"),
                format!("`target` {} names no collector", self.target),
                "write the collector's address and port, e.g. \"192.0.2.10:514\"".to_string(),
            ));
        }
        if let Some(hostname) = &self.hostname {
            if hostname.is_empty()
                || hostname.len() > MAX_HOSTNAME_BYTES
                || !hostname.bytes().all(|b| b.is_ascii_graphic())
            {
                sink.found(Found::bad_value(
                    KeyPath::root("syslog").key("hostname"),
                    format!("`hostname` {hostname:?} is not a syslog host name"),
                    format!(
                        "use 1 to {MAX_HOSTNAME_BYTES} printable ASCII characters without spaces, or leave it out for the member's name"
                    ),
                ));
            }
        }
    }
}
