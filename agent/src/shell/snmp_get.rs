//! The shell's side of the read-only SNMP responder: the listening socket, and the typed
//! snapshot of the agent's state that the MIB view is built from.
//!
//! Owns one non-blocking UDP socket bound to `[snmp] listen`, reads at most
//! [`MAX_DATAGRAMS_PER_POLL`] datagrams per loop iteration (the loop never waits for it) and
//! hands each to [`Responder`]; the reply goes back with one non-blocking `send_to`. The
//! snapshot ([`Agent::mib_snapshot`]) reads the same typed getters as the status document
//! (`Agent::status`): the core's membership and authority, the configuration, the relay
//! health monitors and the array console. What a request means and what is answered is the
//! responder's (`crate::snmp::responder`); what the objects are is `crate::snmp::objects`.

#![forbid(unsafe_code)]

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsFd, BorrowedFd};

use super::Agent;
use crate::config::{self, Config, LinkKind, Role};
use crate::core::authority::ResState;
use crate::snmp::config::{read_key_file, SnmpConfig};
use crate::snmp::objects::{
    AgentCounters, AuthorityFacts, FenceOutcome, FenceResult, LinkKindTag, LinkRow, MemberRow, MibView,
    NodeReportFacts, RelayRow, Snapshot,
};
use crate::snmp::responder::{Responder, ResponderConfig, MAX_REQUEST_BYTES};
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
        let c = self.counters();
        crate::status::SnmpAgent {
            listen: self.listen.to_string(),
            requests: c.requests,
            responses: c.responses,
            malformed: c.malformed,
            bad_versions: c.bad_versions,
            bad_communities: c.bad_communities,
            usm_refused: c.usm_refused,
            sets_refused: c.sets_refused,
            too_big: c.too_big,
        }
    }

    /// Answer what arrived (bounded, non-blocking). `snapshot` is called only for requests
    /// that passed the community or USM check.
    pub fn serve(&mut self, now: Micros, snapshot: impl Fn(AgentCounters) -> Snapshot) {
        for _ in 0..MAX_DATAGRAMS_PER_POLL {
            let (n, from) = match self.socket.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::debug!("snmp listen: {e}");
                    return;
                }
            };
            let handled = self.responder.handle(now, &self.buf[..n], |c| MibView::build(&snapshot(c)));
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
    /// The state the MIB view shows, from the getters `status` reads.
    pub(super) fn mib_snapshot(&self, agent: AgentCounters) -> Snapshot {
        let now = self.now();
        let membership = self.engine.membership();
        let members = membership
            .peers()
            .iter()
            .filter_map(|p| {
                let m = self.cfg.member(config::MemberId(p.id))?;
                let witness = self.engine.witness().filter(|_| m.role == Role::Node);
                let report = witness.and_then(|w| w.report(p.id)).map(|r| NodeReportFacts {
                    ready: r.ready,
                    resources_state: r.resources,
                    acting_generation: r.acting,
                    fence_bound_ms: r.fence_bound_ms,
                });
                Some(MemberRow {
                    id: p.id,
                    name: m.name.clone(),
                    role: m.role,
                    state: p.state,
                    links_up: p.links_up,
                    standby: witness.map(|w| w.standby(p.id)),
                    report,
                })
            })
            .collect();
        let links = membership
            .links()
            .enumerate()
            .map(|(i, l)| {
                let cfg = &self.cfg.links[i];
                let transport = self.transports.of_link(i);
                LinkRow {
                    id: l.id,
                    peer: self.member_name(l.peer),
                    kind: match cfg.kind {
                        LinkKind::Serial { .. } => LinkKindTag::Serial,
                        LinkKind::Udp { .. } => LinkKindTag::Udp,
                        LinkKind::Ethernet { .. } => LinkKindTag::Ethernet,
                    },
                    transport: transport.name(),
                    open: transport.is_open(),
                    state: l.state,
                    counters: l.counters,
                }
            })
            .collect();
        let authority = match (self.engine.witness(), self.engine.node()) {
            (Some(w), _) => {
                let d = w.durable();
                AuthorityFacts::Witness {
                    generation: d.generation,
                    holder: (d.holder != 0).then(|| self.member_name(d.holder)),
                    maintenance: w.maintenance(),
                    granted_at_wall_ms: self.granted_at_wall_ms,
                    startup: w.in_startup(),
                    switching: w.switching(),
                    fencing: w.fencing().map(|n| self.member_name(n)),
                    last_fence: self.last_fence.map(|f| FenceOutcome {
                        node: self.member_name(f.node),
                        result: match f.result {
                            "confirmed" => FenceResult::Confirmed,
                            "unconfirmed" => FenceResult::Unconfirmed,
                            "failed" => FenceResult::Failed,
                            other => unreachable!("note_fence keeps no other result: {other}"),
                        },
                        attempt: f.attempt,
                        count: f.count,
                        at_wall_ms: f.wall_ms,
                    }),
                }
            }
            (None, Some((n, g))) => AuthorityFacts::Node {
                acting_generation: n.acting(),
                max_seen_generation: n.max_seen(),
                quorum: n.has_quorum(),
                maintenance: n.maintenance(),
                resources_state: ResState::from(g.state()),
            },
            (None, None) => unreachable!("every member is a witness or a node"),
        };
        let relays = self
            .relay
            .alarms()
            .map(|(node, alarmed)| RelayRow {
                node_id: node,
                node: self.member_name(node),
                healthy: !alarmed,
            })
            .collect();
        Snapshot {
            cluster: self.cfg.cluster.clone(),
            member: self.cfg.me().name.clone(),
            role: self.cfg.me().role,
            boot: membership.boot(),
            authority,
            members,
            links,
            relays,
            array: self.array.as_ref().map(|a| a.facts(now)),
            agent,
            fence_service: self.fence_service.as_ref().map(|f| f.status()),
        }
    }

    /// Serve the SNMP requests that arrived (called when the socket is readable).
    pub(super) fn serve_snmp_get(&mut self, now: Micros) {
        let Some(mut get) = self.snmp_get.take() else { return };
        get.serve(now, |counters| self.mib_snapshot(counters));
        self.snmp_get = Some(get);
    }
}
