//! Logs off the box: every log line also goes, as one syslog datagram over UDP, to the
//! collector `[syslog]` names, with its severity (error 3, warning 4, info 6, debug 7) and the
//! configured facility in its PRI.
//!
//! Owns the datagram's format (RFC 5424, or RFC 3164 on request; a pure function, no
//! allocation: a datagram is at most [`MAX_DATAGRAM_BYTES`], longer messages are cut and say
//! so) and the socket: bound to an ephemeral port, connected to the collector, non-blocking. A
//! send never waits: the kernel takes the datagram or refuses it at once (a full send buffer,
//! an ICMP "port unreachable" reported by the previous send), and a refused datagram is
//! dropped and counted, never retried. So a collector that is down, slow or unreachable costs
//! the loop one system call per line and loses those lines, never time. UDP syslog has no
//! delivery guarantee; the durable record is the journal on the data partition. It does not
//! decide what is logged (the `log` level does) nor read the configuration file.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::syslog::{Facility, SyslogConfig, SyslogFormat};
use crate::journal::civil::utc_fields;

/// Longest datagram sent: the size RFC 5424 (section 6.1) requires every receiver to accept
/// over IPv4, and within RFC 3164's 1024.
pub const MAX_DATAGRAM_BYTES: usize = 480;
/// APP-NAME (RFC 5424) and TAG (RFC 3164).
pub const APP_NAME: &str = "ha-agent";
/// Ends a message that did not fit.
pub const CUT_MARK: &str = " [cut]";

/// One formatted datagram.
pub type Datagram = heapless::String<MAX_DATAGRAM_BYTES>;

/// What every datagram of this agent carries besides the message.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    pub format: SyslogFormat,
    pub facility: Facility,
    pub hostname: &'a str,
    pub pid: u32,
}

/// PRI of a record: facility * 8 + severity.
pub fn pri(facility: Facility, level: log::Level) -> u8 {
    facility.code() * 8 + super::syslog_severity(level)
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The datagram for one record at wall-clock time `wall_ms` (UTC). Control characters in the
/// message (a newline in an error text) become spaces, so one record is one line.
pub fn format_datagram(
    origin: &Origin<'_>,
    wall_ms: u64,
    level: log::Level,
    args: &std::fmt::Arguments<'_>,
) -> Datagram {
    struct Fill {
        datagram: Datagram,
        cut: bool,
        /// Map control characters to spaces (the message, not the header).
        clean: bool,
    }
    impl std::fmt::Write for Fill {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                let c = if self.clean && c.is_control() { ' ' } else { c };
                if self.datagram.push(c).is_err() {
                    self.cut = true;
                    return Ok(());
                }
            }
            Ok(())
        }
    }
    let mut fill = Fill { datagram: Datagram::new(), cut: false, clean: false };
    let t = utc_fields(wall_ms);
    let pri = pri(origin.facility, level);
    let (hostname, pid) = (origin.hostname, origin.pid);
    let _ = match origin.format {
        SyslogFormat::Rfc5424 => write!(
            fill,
            "<{pri}>1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {hostname} {APP_NAME} {pid} - - ",
            t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
        ),
        SyslogFormat::Rfc3164 => write!(
            fill,
            "<{pri}>{} {:>2} {:02}:{:02}:{:02} {hostname} {APP_NAME}[{pid}]: ",
            MONTHS[usize::from(t.month - 1)],
            t.day,
            t.hour,
            t.minute,
            t.second
        ),
    };
    assert!(!fill.cut, "the header fits: the hostname is bounded by the configuration");
    fill.clean = true;
    let _ = write!(fill, "{args}");
    if fill.cut {
        while fill.datagram.len() > MAX_DATAGRAM_BYTES - CUT_MARK.len() {
            fill.datagram.pop();
        }
        let _ = fill.datagram.push_str(CUT_MARK);
    }
    assert!(fill.datagram.len() <= MAX_DATAGRAM_BYTES);
    fill.datagram
}

/// The socket to the collector and what it sent.
pub struct Remote {
    socket: UdpSocket,
    target: SocketAddr,
    format: SyslogFormat,
    facility: Facility,
    hostname: String,
    pid: u32,
    sent: AtomicU64,
    dropped: AtomicU64,
}

impl Remote {
    /// A non-blocking UDP socket connected to `config.target`; HOSTNAME is `config.hostname`
    /// or `member`.
    pub fn open(config: &SyslogConfig, member: &str) -> io::Result<Remote> {
        let local: SocketAddr = match config.target {
            SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(config.target)?;
        socket.set_nonblocking(true)?;
        let hostname = config.hostname.clone().unwrap_or_else(|| member.to_string());
        assert!(hostname.len() <= crate::config::syslog::MAX_HOSTNAME_BYTES);
        Ok(Remote {
            socket,
            target: config.target,
            format: config.format,
            facility: config.facility,
            hostname,
            pid: std::process::id(),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Send one record now; never waits. A datagram the kernel refuses is dropped and counted.
    pub fn send(&self, wall_ms: u64, level: log::Level, args: &std::fmt::Arguments<'_>) {
        let origin =
            Origin { format: self.format, facility: self.facility, hostname: &self.hostname, pid: self.pid };
        let datagram = format_datagram(&origin, wall_ms, level, args);
        match self.socket.send(datagram.as_bytes()) {
            Ok(_) => self.sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Datagrams sent, and dropped (refused by the kernel) since start.
    pub fn figures(&self) -> (u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.dropped.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests;
