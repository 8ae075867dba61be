//! The shell's side of SNMP notifications: the socket, the durable store and the mapping from
//! what the core reports to the MIB's notifications.
//!
//! Owns one UDP socket (an ephemeral port on the wildcard address), the [`Notifier`] and the
//! order its call protocol requires (store the queue durably before any inform it holds is
//! transmitted: the store goes to the durable writer thread, and nothing is transmitted until
//! its ticket is on disk). It decides nothing about cluster state; it only reports it.

#![forbid(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use crate::config::Config;
use crate::core::resources::Event as ResourceEvent;
use crate::shell::durable::{DurableWriter, StateWrite};
use crate::snmp::config::read_key_file;
use crate::snmp::mib::Notification;
use crate::snmp::notify::{Notifier, NotifierOptions};
use crate::snmp::queue_store;
use crate::time::Micros;

/// Bound on datagrams read per call.
const MAX_DATAGRAMS_PER_POLL: usize = 32;
/// Bound on one received datagram.
const MAX_DATAGRAM_BYTES: usize = crate::snmp::ber::MAX_MESSAGE_BYTES;

pub struct Snmp {
    socket: UdpSocket,
    notifier: Notifier,
    dir: PathBuf,
    /// Receive buffer, allocated once (receive runs every loop iteration).
    buf: Vec<u8>,
    /// The durable writer's ticket of the last queue image handed over: nothing is transmitted
    /// before it is on disk.
    store_ticket: Option<u64>,
}

fn salt_seed() -> u64 {
    // The salt only has to differ between starts; /dev/urandom is the OS's answer.
    let mut bytes = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = io::Read::read_exact(&mut f, &mut bytes);
    }
    u64::from_le_bytes(bytes)
}

impl Snmp {
    /// Build from the configuration; None when no `[snmp]` section.
    pub fn start(cfg: &Config, boot: u64, now: Micros) -> Result<Option<Snmp>, String> {
        let Some(snmp) = &cfg.snmp else { return Ok(None) };
        let member = cfg.me().name.clone();
        let targets = snmp.targets(read_key_file).map_err(|problems| {
            problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("; ")
        })?;
        let dir = cfg.state_dir.clone();
        let restored = match queue_store::load(&dir) {
            Ok(loaded) => {
                if loaded.damaged_records > 0 {
                    log::warn!(
                        "snmp: {} damaged records dropped from the stored queue",
                        loaded.damaged_records
                    );
                }
                loaded.image
            }
            Err(e) => {
                log::warn!("snmp: cannot read the stored queue: {e}; starting empty");
                Default::default()
            }
        };
        let options = NotifierOptions {
            engine_id: snmp.engine_id(&member),
            engine_boots: u32::try_from(boot.min(0x7fff_ffff)).unwrap_or(0x7fff_ffff),
            start: now,
            agent_addr_v1: snmp.agent_address.map_or([0; 4], |a| a.octets()),
            salt_seed: salt_seed(),
            alive_interval_ms: snmp.alive_interval_ms,
            member,
        };
        let notifier = Notifier::new(options, targets, restored).map_err(|e| format!("{e:?}"))?;
        // A typed address, not ("0.0.0.0", 0): a string would link glibc's resolver (getaddrinfo,
        // NSS, static dlopen) into the static binary for nothing (docs/design.md, "Binary size").
        let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        let socket = UdpSocket::bind(any).map_err(|e| format!("snmp socket: {e}"))?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Some(Snmp { socket, notifier, dir, buf: vec![0u8; MAX_DATAGRAM_BYTES], store_ticket: None }))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    pub fn set_generation(&mut self, generation: u64) {
        self.notifier.set_generation(generation);
    }

    /// Send `n` with `text` as its text: an event the fan-out worded (`shell::fanout`), whose
    /// line the log already has.
    pub fn notify_worded(&mut self, now: Micros, n: Notification, text: &str) {
        log::info!("snmp: {}", n.info().mib_name);
        let _ = self.notifier.notify_with_text(now, n, Some(text));
    }

    /// Read responses and reports (bounded).
    pub fn receive(&mut self, now: Micros) {
        for _ in 0..MAX_DATAGRAMS_PER_POLL {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, from)) => self.notifier.handle_datagram(now, from, &self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    }

    /// Store, then send what is due (the notifier's call order). The store is written by the
    /// durable writer; until it is on disk nothing is sent, and the loop goes on. A store that
    /// failed was logged by the writer's result; what it held is sent all the same (a
    /// notification that would not survive a restart is better than none).
    pub fn flush(&mut self, now: Micros, durable: &mut DurableWriter) {
        if let Some(ticket) = self.store_ticket {
            if !durable.is_durable(ticket) {
                return;
            }
            self.store_ticket = None;
        }
        if let Some(image) = self.notifier.take_store_image() {
            match durable.state(now, StateWrite::SnmpQueue(Box::new(image))) {
                Ok(()) => {
                    self.store_ticket = Some(durable.ticket());
                    return;
                }
                Err(e) => {
                    // The writer thread has stopped: send without a store.
                    log::error!("snmp: cannot store the queue in {}: {e}", self.dir.display());
                }
            }
        }
        while let Some((to, bytes)) = self.notifier.poll_transmit(now) {
            if let Err(e) = self.socket.send_to(&bytes, to) {
                log::debug!("snmp: send to {to}: {e}");
            }
        }
    }

    /// The notifier's next deadline; none while a store is on its way to the disk (the durable
    /// writer's result wakes the loop).
    pub fn poll_timeout(&self) -> Option<Micros> {
        if self.store_ticket.is_some() {
            return None;
        }
        self.notifier.poll_timeout()
    }
}

/// Where notifications are sent, for the status output.
/// The notification a resource event of this node (`member`) makes, if any: failures (with
/// the agent's exit reason at the end of the text), local restarts, degradation and its end.
pub fn resource_notification(member: &str, event: &ResourceEvent) -> Option<Notification> {
    let because = event.exit_reason().map(|r| format!(": {r}")).unwrap_or_default();
    let member = member.to_string();
    Some(match event {
        ResourceEvent::ResourceRestarted { name, .. } => {
            Notification::ResourceRestarted { member, resource: name.to_string() }
        }
        ResourceEvent::ResourceFailed { name, action, outcome, .. } => Notification::ResourceFailed {
            member,
            resource: name.to_string(),
            reason: format!("{} returned {outcome}{because}", action.as_str()),
        },
        ResourceEvent::ResourceDegraded { name, exit_reason, .. } => Notification::ResourceDegraded {
            member,
            resource: name.to_string(),
            reason: exit_reason.to_string(),
        },
        ResourceEvent::ResourceRecovered { name, .. } => {
            Notification::ResourceRecovered { member, resource: name.to_string() }
        }
        _ => return None,
    })
}

pub fn describe_targets(cfg: &Config) -> Vec<String> {
    cfg.snmp.as_ref().map(|s| s.targets.iter().map(|t| t.address.to_string()).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::resources::{exit_reason, Action, Name, Outcome};

    #[test]
    fn a_resource_failure_s_text_ends_with_the_agent_s_exit_reason() {
        let name = Name::try_from("db").unwrap();
        let failed = ResourceEvent::ResourceFailed {
            resource: 1,
            name: name.clone(),
            action: Action::Monitor,
            outcome: Outcome::Failed(1),
            exit_reason: exit_reason("cannot connect to the database"),
        };
        let n = resource_notification("node-a", &failed).unwrap();
        assert_eq!(
            n.text(),
            "resource db failed on node-a: monitor returned exit 1 (generic error): cannot connect to the database"
        );
        let silent = ResourceEvent::ResourceFailed {
            resource: 1,
            name: name.clone(),
            action: Action::ValidateAll,
            outcome: Outcome::TimedOut,
            exit_reason: exit_reason(""),
        };
        assert_eq!(
            resource_notification("node-a", &silent).unwrap().text(),
            "resource db failed on node-a: validate-all returned timed out"
        );
    }

    #[test]
    fn degradation_and_its_end_are_notified_and_starts_are_not() {
        let name = Name::try_from("db").unwrap();
        let degraded = ResourceEvent::ResourceDegraded {
            resource: 0,
            name: name.clone(),
            exit_reason: exit_reason("lag 30 s"),
        };
        let n = resource_notification("node-a", &degraded).unwrap();
        assert_eq!(n.info().mib_name, "rackHaResourceDegraded");
        assert_eq!(n.text(), "resource db on node-a runs degraded: lag 30 s");
        let recovered = ResourceEvent::ResourceRecovered { resource: 0, name: name.clone() };
        assert_eq!(
            resource_notification("node-a", &recovered).unwrap().info().mib_name,
            "rackHaResourceRecovered"
        );
        assert_eq!(
            resource_notification("node-a", &ResourceEvent::ResourceStarted { resource: 0, name }),
            None
        );
    }
}
