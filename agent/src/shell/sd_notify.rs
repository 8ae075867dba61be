//! The systemd notification protocol (`sd_notify(3)`): `READY=1` once the agent is running,
//! `STOPPING=1` when it begins an orderly exit, `STATUS=` lines an operator sees in
//! `systemctl status`.
//!
//! Owns the socket named by `NOTIFY_SOCKET` (a path, or an abstract name written with a
//! leading `@`) and the datagram format. Not under systemd (no `NOTIFY_SOCKET`) every call does
//! nothing. A send never waits (non-blocking datagram); a failure is logged once and otherwise
//! ignored: the service manager's view is a convenience, the cluster does not depend on it.
//! It does not decide when the agent is ready or stopping (the shell's loop does).

#![forbid(unsafe_code)]

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Bound on one notification (systemd reads far more; ours are a few short lines).
pub const MAX_NOTIFY_BYTES: usize = 512;
/// Bound on the socket path taken from the environment (`sockaddr_un`'s path is 108 bytes).
const MAX_SOCKET_PATH_BYTES: usize = 107;

/// Where notifications go, if anywhere.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    failed_once: bool,
}

/// Parse `NOTIFY_SOCKET`: an absolute path or `@abstract-name`.
pub fn parse_socket(value: &str) -> Result<SocketAddr, String> {
    if value.is_empty() || value.len() > MAX_SOCKET_PATH_BYTES {
        return Err(format!("NOTIFY_SOCKET has {} bytes (1..={MAX_SOCKET_PATH_BYTES})", value.len()));
    }
    if let Some(name) = value.strip_prefix('@') {
        SocketAddr::from_abstract_name(name.as_bytes()).map_err(|e| format!("NOTIFY_SOCKET {value}: {e}"))
    } else if value.starts_with('/') {
        SocketAddr::from_pathname(value).map_err(|e| format!("NOTIFY_SOCKET {value}: {e}"))
    } else {
        Err(format!("NOTIFY_SOCKET {value}: neither an absolute path nor an @abstract name"))
    }
}

impl Notifier {
    /// From the environment (`NOTIFY_SOCKET`); without it, a notifier that does nothing.
    pub fn from_env() -> Notifier {
        let target = std::env::var("NOTIFY_SOCKET").ok().and_then(|value| {
            let opened = parse_socket(&value).and_then(|addr| {
                let socket = UnixDatagram::unbound().map_err(|e| format!("notify socket: {e}"))?;
                socket.set_nonblocking(true).map_err(|e| format!("notify socket: {e}"))?;
                Ok((socket, addr))
            });
            opened.map_err(|e| log::warn!("systemd notification disabled: {e}")).ok()
        });
        Notifier { target, failed_once: false }
    }

    /// Send `state` (newline-separated `KEY=VALUE` assignments). Nothing under no systemd.
    pub fn notify(&mut self, state: &str) {
        let Some((socket, addr)) = &self.target else { return };
        let bytes = &state.as_bytes()[..state.len().min(MAX_NOTIFY_BYTES)];
        let result = socket.send_to_addr(bytes, addr).and_then(|n| {
            if n == bytes.len() {
                Ok(())
            } else {
                Err(io::Error::other("short datagram"))
            }
        });
        if let Err(e) = result {
            if !self.failed_once {
                self.failed_once = true;
                log::warn!("systemd notification failed: {e} (later failures are not logged)");
            }
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&mut self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// `STOPPING=1` with a status line saying what the exit does.
    pub fn stopping(&mut self, status: &str) {
        self.notify(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    /// A `STATUS=` line alone.
    pub fn status(&mut self, status: &str) {
        self.notify(&format!("STATUS={}", one_line(status)));
    }
}

/// A status is one line: newlines would start new assignments.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_names_are_paths_or_abstract() {
        assert!(parse_socket("/run/systemd/notify").is_ok());
        let abs = parse_socket("@sd-notify-test").unwrap();
        assert_eq!(abs.as_abstract_name(), Some(&b"sd-notify-test"[..]));
        assert!(parse_socket("").is_err());
        assert!(parse_socket("relative/path").is_err());
        assert!(parse_socket(&format!("/{}", "x".repeat(200))).is_err());
    }

    #[test]
    fn datagrams_reach_the_service_manager_socket() {
        let dir = std::env::temp_dir().join(format!("ha-sd-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let manager = UnixDatagram::bind(&path).unwrap();
        let addr = parse_socket(path.to_str().unwrap()).unwrap();
        let socket = UnixDatagram::unbound().unwrap();
        let mut n = Notifier { target: Some((socket, addr)), failed_once: false };
        n.ready("running\nsecond line");
        n.stopping("handing the service over");
        let mut buf = [0u8; 600];
        let len = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=running second line");
        let len = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1\nSTATUS=handing the service over");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_systemd_nothing_is_sent() {
        let mut n = Notifier { target: None, failed_once: false };
        n.ready("x");
        assert!(!n.failed_once);
    }
}
