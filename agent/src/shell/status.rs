//! The status document served on the control socket (`ha-agent status`): the typed
//! [`crate::status::Status`] filled from what this member knows at the moment of the request,
//! read from the engine, the transports, the relay's health, the durable writer, the array and
//! the SNMP responder.
//!
//! Owns the filling and the one fact it keeps that nothing else does (the latest fence
//! outcome, [`LastFence`]); the document's shape is `crate::status`'s. It decides nothing and
//! reads no disk: the last events are the loop's copy of the journal's tail.

#![forbid(unsafe_code)]

use super::{alloc_count, logger, notify, wall_clock_ms, Agent};
use crate::config::{self, Role};
use crate::core::authority::Notice;
use crate::status::{self, Authority, Status};

/// The latest fence outcome the core noticed, for `status` (`last_fence`), `status --check`
/// (a failing fence) and `fence --wait` (a confirmation after the command).
#[derive(Clone, Copy, Debug)]
pub(super) struct LastFence {
    pub(super) node: u8,
    pub(super) result: status::FenceResult,
    pub(super) attempt: u32,
    /// Fence outcomes since the agent started: tells a new outcome from the one before.
    pub(super) count: u64,
    pub(super) wall_ms: u64,
}

impl Agent {
    /// Keep the latest fence outcome (status `last_fence`).
    pub(super) fn note_fence(&mut self, notice: Notice) {
        let (node, result, attempt) = match notice {
            Notice::FenceSucceeded { node } => (node, status::FenceResult::Confirmed, 0),
            Notice::FenceUnconfirmed { node } => (node, status::FenceResult::Unconfirmed, 0),
            Notice::FenceFailed { node, attempt } => (node, status::FenceResult::Failed, attempt),
            _ => return,
        };
        let count = self.last_fence.map_or(0, |f| f.count) + 1;
        self.last_fence = Some(LastFence { node, result, attempt, count, wall_ms: wall_clock_ms() });
    }

    fn authority_status(&self) -> Option<Authority> {
        if let Some(w) = self.engine.witness() {
            let d = w.durable();
            return Some(Authority::Witness(status::WitnessAuthority {
                generation: d.generation,
                holder: (d.holder != 0).then(|| self.member_name(d.holder)),
                startup: w.in_startup(),
                switching: w.switching(),
                fencing: w.fencing().map(|n| self.member_name(n)),
                fence_device: self.cfg.relay.is_some(),
                fence_devices: self
                    .relay
                    .alarms()
                    .map(|(node, alarmed)| status::FenceDevice {
                        node: self.member_name(node),
                        state: if alarmed { "unreachable" } else { "ok" }.into(),
                    })
                    .collect(),
                granted_at_wall_ms: self.granted_at_wall_ms,
                maintenance: w.maintenance(),
                last_fence: self.last_fence.map(|f| status::LastFence {
                    node: self.member_name(f.node),
                    result: f.result.as_str().into(),
                    attempt: f.attempt,
                    count: f.count,
                    at_wall_ms: f.wall_ms,
                }),
                // What each node said in its latest report (null: nothing heard this boot),
                // and the operator's standby, which the witness keeps.
                nodes: self
                    .cfg
                    .members
                    .iter()
                    .filter(|m| m.role == Role::Node)
                    .map(|m| {
                        let r = w.report(m.id.0);
                        status::NodeReport {
                            name: m.name.clone(),
                            standby: w.standby(m.id.0),
                            ready: r.map(|r| r.ready),
                            resources_state: r.map(|r| r.resources.as_str().into()),
                            acting_generation: r.map(|r| r.acting),
                            stopped_generation: r.map(|r| r.stopped),
                            watchdog_armed: r.map(|r| r.fence_bound_ms > 0),
                            fence_bound_ms: r.map(|r| r.fence_bound_ms),
                        }
                    })
                    .collect(),
            }));
        }
        let (n, g) = self.engine.node()?;
        let resources = g
            .resources()
            .map(|r| status::Resource {
                name: r.name.as_str().into(),
                state: r.state_str().into(),
                degraded_reason: r.degraded.as_ref().filter(|d| !d.is_empty()).map(|d| d.as_str().into()),
                failures: r.failures,
                last_failure: r.last_failure.as_ref().map(|f| status::ResourceFailure {
                    action: f.action.as_str().into(),
                    outcome: f.outcome.to_string(),
                    exit_code: f.outcome.exit_code(),
                    exit_reason: Some(f.exit_reason.as_str()).filter(|e| !e.is_empty()).map(Into::into),
                }),
            })
            .collect();
        Some(Authority::Node(status::NodeAuthority {
            acting_generation: n.acting(),
            max_seen_generation: n.max_seen(),
            quorum: n.has_quorum(),
            leaving: n.leaving().map(|l| l.as_str().into()),
            maintenance: n.maintenance(),
            resources_state: g.state().as_str().into(),
            resources,
            watchdog: self
                .feeder
                .as_ref()
                .map(|f| status::WatchdogStatus { timeout_ms: f.timeout_ms(), withholding: f.withholding() }),
        }))
    }

    /// The status document served on the control socket (docs/status.md).
    pub fn status(&self) -> Status {
        let now = self.now();
        let t = self.engine.membership().timing();
        let members = self
            .engine
            .membership()
            .peers()
            .iter()
            .map(|p| {
                let m = self.cfg.member(config::MemberId(p.id));
                status::Member {
                    name: m.map(|m| m.name.clone()),
                    id: p.id,
                    role: m.map(|m| m.role.as_str().into()),
                    state: p.state.as_str().into(),
                    links_up: p.links_up,
                    reaches: p.reported_reaches.iter().map(|&id| self.member_name(id)).collect(),
                }
            })
            .collect();
        let links = self
            .engine
            .membership()
            .links()
            .enumerate()
            .map(|(i, l)| {
                let transport = self.transports.of_link(i);
                let c = &l.counters;
                status::Link {
                    id: l.id,
                    peer: self.member_name(l.peer),
                    kind: self.cfg.links[i].kind.name().into(),
                    transport: transport.name(),
                    open: transport.is_open(),
                    state: l.state.as_str().into(),
                    frames_in: c.frames_in,
                    frames_out: c.frames_out,
                    send_errors: c.send_errors,
                    crc_errors: c.crc_errors,
                    auth_failures: c.auth_failures,
                    replays: c.replays,
                    malformed: c.malformed,
                    unknown_link: c.unknown_link,
                    latency_us: l.latency_us,
                    jitter_us: l.jitter_us,
                    last_rx_ago_ms: l.last_rx.map(|at| now.since_us(at) / 1000),
                    transitions: c.transitions,
                    downs: c.downs,
                    note: transport.down_note(now),
                }
            })
            .collect();
        let (log_waiting, log_dropped) = logger::figures();
        Status {
            cluster: self.cfg.cluster.clone(),
            member: self.cfg.me().name.clone(),
            role: self.cfg.me().role.as_str().into(),
            boot: self.engine.membership().boot(),
            uptime_ms: now.as_ms(),
            timing: status::Timing {
                interval_ms: t.interval_ms,
                warn_ms: t.warn_ms,
                dead_ms: t.dead_ms,
                initdead_ms: t.initdead_ms,
            },
            stalls: status::Stalls {
                count: self.stalls.count,
                max_ms: self.stalls.max_ms,
                late_max_us: self.stalls.late_max_us,
                busy_max_us: self.stalls.busy_max_us,
                busy_count: self.stalls.busy_count,
            },
            journal_queue: status::Queue {
                waiting: self.durable.outstanding() as u64,
                dropped: self.durable.dropped(),
            },
            log_queue: status::Queue { waiting: log_waiting as u64, dropped: log_dropped },
            allocations: alloc_count::allocations(),
            heartbeats_triggered: self.engine.membership().triggered(),
            reloads: status::Reloads { applied: self.reloads, refused: self.reloads_refused },
            events_dropped: self.engine.events_dropped(),
            authority: self.authority_status(),
            array: self.array.as_ref().map(|a| a.status(now)),
            snmp_targets: notify::describe_targets(&self.cfg),
            snmp_agent: self.snmp_get.as_ref().map(|g| g.status()),
            fence_service: self.fence_service.as_ref().map(|f| f.status()),
            last_events: self.journaling.then(|| self.last_events.iter().cloned().collect()),
            members,
            links,
        }
    }
}
