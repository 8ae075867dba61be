//! The relay worker's side in the loop: the fence and power-on commands the engine asks for,
//! queued (at most [`MAX_RELAY_QUEUE`]) for the worker thread that runs one at a time, their
//! results handed back to the engine and worded by the fan-out, and the periodic health check
//! of every relay channel that can be read back.
//!
//! Owns the queue and the channels' health monitors; the worker thread itself is
//! `shell::authority::RelayWorker`, the fence procedure `devices::fence`. It decides nothing:
//! whether to fence, and what a result means, is the engine's; a command that cannot be queued
//! is reported failed to it, never dropped.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io;

use super::{authority, fanout, words, Agent};
use crate::config::Config;
use crate::core::authority::fence::FenceResult;
use crate::devices::fence::{HealthEvent, HealthMonitor};
use crate::devices::relay::{RelayError, RelayState};
use crate::journal::{Event as JournalEvent, Kind as JournalKind};
use crate::snmp::mib::Notification;
use crate::time::Micros;

/// Bound on relay commands waiting for the worker.
pub const MAX_RELAY_QUEUE: usize = 8;

/// The relay worker, its queue and the health of the channels.
pub struct Relay {
    pub worker: authority::RelayWorker,
    /// (node, power on?) waiting for the worker.
    queue: VecDeque<(u8, bool)>,
    /// Health of each relay channel that can be read back.
    health: Vec<(u8, HealthMonitor)>,
}

impl Relay {
    /// The worker thread, and a health monitor for every channel that can be read back.
    pub fn start(cfg: &Config) -> io::Result<Relay> {
        let worker = authority::RelayWorker::new()?;
        let health = match &cfg.relay {
            Some(r) => r
                .channels
                .iter()
                .filter(|c| c.open().can_read_back())
                .filter_map(|c| cfg.members.iter().find(|m| m.name == c.node).map(|m| m.id.0))
                .map(|id| {
                    (
                        id,
                        HealthMonitor::new(
                            Micros::ZERO,
                            r.health_interval_ms,
                            r.health_failures_before_alarm,
                        ),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(Relay { worker, queue: VecDeque::new(), health })
    }

    /// The next health check due (never earlier than 1 ms from `now`).
    pub fn next_check(&self, now: Micros) -> Option<Micros> {
        self.health.iter().map(|(_, m)| m.next_check().max(now.plus_ms(1))).min()
    }

    /// Each checked channel's node and whether its board stopped answering.
    pub fn alarms(&self) -> impl Iterator<Item = (u8, bool)> + '_ {
        self.health.iter().map(|(node, m)| (*node, m.is_alarmed()))
    }
}

impl Agent {
    /// The worker's results: fence outcomes to the engine, every outcome worded by the fan-out.
    pub(super) fn collect_relay(&mut self, now: Micros) {
        for (node, result) in self.relay.worker.poll() {
            let name = self.member_name(node);
            match result {
                authority::RelayResult::Fence(report) => {
                    self.fan_out(now, fanout::worded(&words::fence_outcome(&name, &report.outcome), None));
                    self.engine.handle_fence_result(now, node, authority::fence_result(&report.outcome));
                }
                authority::RelayResult::PowerOn(error) => {
                    self.fan_out(now, fanout::worded(&words::power_on(&name, error.as_deref()), None));
                }
                authority::RelayResult::Check(result) => self.health_result(now, node, result),
            }
        }
        self.pending_relay(now);
        self.start_health_check(now);
    }

    /// The engine's `PowerOff`: queued for the worker, or reported failed when the queue is full.
    pub(super) fn power_off(&mut self, now: Micros, node: u8) {
        let name = self.member_name(node);
        log::warn!("fencing {name}: power off");
        self.journal(JournalEvent::new(JournalKind::Fence, "power off").with_member(&name));
        if queue_relay(&mut self.relay.queue, node, false).is_err() {
            // Never silently: the core's fence would wait for a result forever.
            log::error!("fence of {name}: {MAX_RELAY_QUEUE} relay commands already wait; reported failed");
            self.engine.handle_fence_result(now, node, FenceResult::Failed);
        }
        self.pending_relay(now);
    }

    /// The engine's `PowerOn`: queued for the worker (a full queue is logged: not sent).
    pub(super) fn power_on(&mut self, now: Micros, node: u8) {
        log::info!("powering {} on again", self.member_name(node));
        if queue_relay(&mut self.relay.queue, node, true).is_err() {
            log::error!(
                "power-on of {}: {MAX_RELAY_QUEUE} relay commands already wait; not sent (ha-agent fence-test, then the relay by hand)",
                self.member_name(node)
            );
        }
        self.pending_relay(now);
    }

    /// The periodic health check of the relay board: one read-state per channel with read-back
    /// every `health_interval_ms`, only when no fence or power command waits.
    pub(super) fn start_health_check(&mut self, now: Micros) {
        if self.relay.worker.busy() || !self.relay.queue.is_empty() {
            return;
        }
        let Some(i) = self.relay.health.iter().position(|(_, m)| now >= m.next_check()) else { return };
        let node = self.relay.health[i].0;
        let name = self.member_name(node);
        let channel =
            self.cfg.relay.as_ref().and_then(|r| r.channels.iter().find(|c| c.node == name).cloned());
        if let Some(c) = channel {
            if let Err(e) = self.relay.worker.start(node, &c, authority::RelayJob::Check) {
                log::debug!("relay health check of {name}: {e}");
            }
        }
    }

    fn health_result(&mut self, now: Micros, node: u8, result: Result<RelayState, RelayError>) {
        let name = self.member_name(node);
        let Some(i) = self.relay.health.iter().position(|(n, _)| *n == node) else { return };
        match self.relay.health[i].1.on_check(now, result) {
            Some(HealthEvent::StoppedAnswering { failures, error }) => {
                let w = words::relay_board_unreachable(&name, failures, &error.to_string());
                let n = Notification::RelayBoardUnreachable { relay: format!("relay of {name}") };
                self.fan_out(now, fanout::worded(&w, Some(n)));
            }
            Some(HealthEvent::AnswersAgain { state }) => {
                let w = words::relay_board_answers(&name, &state.to_string());
                self.fan_out(now, fanout::worded(&w, None));
            }
            None => {}
        }
    }

    /// Relay commands wait while another runs (one at a time on the worker).
    fn pending_relay(&mut self, now: Micros) {
        while !self.relay.worker.busy() {
            let Some((node, power_on)) = self.relay.queue.pop_front() else { break };
            let name = self.member_name(node);
            let channel =
                self.cfg.relay.as_ref().and_then(|r| r.channels.iter().find(|c| c.node == name).cloned());
            match channel {
                Some(c) => {
                    let job =
                        if power_on { authority::RelayJob::PowerOn } else { authority::RelayJob::Fence };
                    if let Err(e) = self.relay.worker.start(node, &c, job) {
                        log::error!("relay command for {name}: {e}");
                        if !power_on {
                            self.engine.handle_fence_result(now, node, FenceResult::Failed);
                        }
                    }
                }
                None => {
                    log::error!("no relay channel for {name}");
                    if !power_on {
                        self.engine.handle_fence_result(now, node, FenceResult::Failed);
                    }
                }
            }
        }
    }
}

/// Queue a relay command (`power_on` false: a fence) for the worker, within
/// [`MAX_RELAY_QUEUE`]. `Err` when full: the caller reports it (a fence as failed, so that the
/// core retries it), never drops it silently.
fn queue_relay(
    queue: &mut std::collections::VecDeque<(u8, bool)>,
    node: u8,
    power_on: bool,
) -> Result<(), ()> {
    if queue.len() >= MAX_RELAY_QUEUE {
        return Err(());
    }
    queue.push_back((node, power_on));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_relay_queue_refuses_a_command_instead_of_dropping_it() {
        let mut queue = std::collections::VecDeque::new();
        for i in 0..MAX_RELAY_QUEUE {
            assert_eq!(queue_relay(&mut queue, (i % 2) as u8 + 2, i % 2 == 1), Ok(()));
        }
        assert_eq!(
            queue_relay(&mut queue, 2, false),
            Err(()),
            "the ninth is refused, for the caller to report"
        );
        assert_eq!(queue.len(), MAX_RELAY_QUEUE);
        queue.pop_front();
        assert_eq!(queue_relay(&mut queue, 2, false), Ok(()));
        assert_eq!(queue.back(), Some(&(2, false)));
    }
}
