//! The shell's side of the read-only SNMP responder: the listening socket.
//!
//! Owns one non-blocking UDP socket bound to `[snmp] listen`, reads at most
//! [`MAX_DATAGRAMS_PER_POLL`] datagrams per loop iteration (the loop never waits for it) and
//! hands each to [`Responder`]; the reply goes back with one non-blocking `send_to`. The
//! objects are the status document's (`Agent::status`, the typed `crate::status::Status`):
//! there is no second snapshot of the agent's state. What a request means and what is
//! answered is the responder's (`crate::snmp::responder`); what the objects are and how the
//! status maps onto them is `crate::snmp::objects`.

#![forbid(unsafe_code)]

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsFd, BorrowedFd};

use super::Agent;
use crate::config::Config;
use crate::snmp::config::{read_key_file, SnmpConfig};
use crate::snmp::objects::{AgentCounters, MibView};
use crate::snmp::responder::{Responder, ResponderConfig, MAX_REQUEST_BYTES};
use crate::status::Status;
use crate::time::Micros;

/// Bound on datagrams read per loop iteration (the rest wait in the socket's buffer).
pub const MAX_DATAGRAMS_PER_POLL: usize = 32;

pub struct SnmpGet {
    socket: UdpSocket,
    responder: Responder,
    listen: std::net::SocketAddr,
    /// Receive buffer, allocated once; one byte more than a request may have, so that a longer
    /// datagram is seen as such (and dropped) rather than silently cut.
    buf: Vec<u8>,
}

fn salt_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = io::Read::read_exact(&mut f, &mut bytes);
    }
    u64::from_le_bytes(bytes)
}

impl SnmpGet {
    /// Bind the responder's socket; None when `[snmp] listen` is not set.
    pub fn start(cfg: &Config, boot: u64, now: Micros) -> Result<Option<SnmpGet>, String> {
        let Some(snmp) = &cfg.snmp else { return Ok(None) };
        let Some(listen) = snmp.listen else { return Ok(None) };
        let targets = snmp.targets(read_key_file).map_err(|problems| {
            problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("; ")
        })?;
        let engine_id = snmp.engine_id(&cfg.me().name);
        let users = SnmpConfig::readers(&targets).iter().map(|u| u.localize(&engine_id)).collect();
        let responder = Responder::new(ResponderConfig {
            read_community: snmp.read_community.as_ref().map(|c| c.as_bytes().to_vec()),
            users,
            engine_id,
            engine_boots: u32::try_from(boot.min(0x7fff_ffff)).unwrap_or(0x7fff_ffff),
            start: now,
            salt_seed: salt_seed(),
        });
        let socket = UdpSocket::bind(listen).map_err(|e| format!("snmp listen {listen}: {e}"))?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        log::info!("snmp: answering get, getnext and getbulk on {listen}");
        Ok(Some(SnmpGet { socket, responder, listen, buf: vec![0u8; MAX_REQUEST_BYTES + 1] }))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    pub fn counters(&self) -> AgentCounters {
        self.responder.counters()
    }

    /// The `snmp_agent` object of the status document.
    pub fn status(&self) -> crate::status::SnmpAgent {
        crate::status::SnmpAgent { listen: self.listen.to_string(), counters: self.counters() }
    }

    /// Answer what arrived (bounded, non-blocking). `status` is called once, for the first
    /// request that passed the community or USM check: the requests of one wake-up of the loop
    /// are answered from the same document (nothing changes between them), with the
    /// responder's own counters of each request.
    pub fn serve(&mut self, now: Micros, status: impl Fn() -> Status) {
        let mut document: Option<Status> = None;
        for _ in 0..MAX_DATAGRAMS_PER_POLL {
            let (n, from) = match self.socket.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::debug!("snmp listen: {e}");
                    return;
                }
            };
            let handled = self
                .responder
                .handle(now, &self.buf[..n], |c| MibView::build(document.get_or_insert_with(&status), &c));
            if let Some(e) = &handled.refused {
                log::debug!("snmp: request from {from} refused: {e:?}");
            }
            if let Some(reply) = handled.reply {
                if let Err(e) = self.socket.send_to(&reply, from) {
                    log::debug!("snmp: reply to {from}: {e}");
                }
            }
        }
    }
}

impl Agent {
    /// Serve the SNMP requests that arrived (called when the socket is readable). The view is
    /// the status document of the moment (`Agent::status`), built once per wake-up and only
    /// when a request passed the community or USM check.
    pub(super) fn serve_snmp_get(&mut self, now: Micros) {
        let Some(mut get) = self.snmp_get.take() else { return };
        get.serve(now, || self.status());
        self.snmp_get = Some(get);
    }
}
