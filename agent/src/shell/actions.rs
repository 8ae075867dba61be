//! The node's resource actions in the loop: the OCF actions the engine asks for, spawned by the
//! runner (`shell::ocf`), their results handed back, and which agents advertise `validate-all`
//! (read from their meta-data in a helper thread, at start and after a reload).
//!
//! Owns only that glue; the group's state machine is `core::resources`, the processes are the
//! runner's.

#![forbid(unsafe_code)]

use super::{ocf, Agent};
use crate::core::resources::{ActionRequest, Outcome, Validation};
use crate::time::Micros;

impl Agent {
    /// Node: read every resource agent's meta-data in a helper thread, to learn which run
    /// validate-all before a start. With `hold`, starts wait for the answer (at start; after a
    /// reload the earlier answers stand meanwhile).
    pub(super) fn learn_agents(&mut self, now: Micros, hold: bool) {
        let Some(group) = self.cfg.resources.as_ref().filter(|_| self.engine.node().is_some()) else {
            return;
        };
        let agents: Vec<_> = group.resources.iter().map(|r| r.agent.clone()).collect();
        match ocf::inspect::MetaDataProbe::start(agents) {
            Ok(probe) => {
                self.meta_data = Some(probe);
                for index in (0..group.resources.len()).filter(|_| hold) {
                    self.engine.set_resource_validation(now, index, Validation::Unknown);
                }
            }
            Err(e) => log::error!("cannot read the agents' meta-data ({e}): no validate-all before start"),
        }
    }

    /// The agents' meta-data, once read: validate-all or not, for each resource.
    fn learned_agents(&mut self, now: Micros) {
        let Some(answer) = self.meta_data.as_ref().and_then(|p| p.poll()) else {
            return;
        };
        self.meta_data = None;
        let specs = self.cfg.resources.as_ref().map(|g| g.resources.clone()).unwrap_or_default();
        for (index, validation) in ocf::inspect::validations(&specs, answer).into_iter().enumerate() {
            self.engine.set_resource_validation(now, index, validation);
        }
    }

    /// Finished OCF actions go back to the engine (with what the agents' meta-data said).
    pub(super) fn collect_actions(&mut self, now: Micros) {
        self.learned_agents(now);
        for f in self.runner.poll_children(now) {
            let reason =
                if f.exit_reason.is_empty() { String::new() } else { format!(" ({})", f.exit_reason) };
            if !f.output.trim().is_empty() {
                log::info!(
                    "resource action {} finished {}{reason} after {} ms: {}",
                    f.id,
                    f.outcome,
                    f.elapsed_ms,
                    f.output.trim()
                );
            } else {
                log::debug!(
                    "resource action {} finished {}{reason} after {} ms",
                    f.id,
                    f.outcome,
                    f.elapsed_ms
                );
            }
            self.engine.handle_resource_result_with_reason(now, f.id, f.outcome, f.exit_reason);
        }
    }
    /// The engine's request for an OCF action: spawned, or reported failed (too many running:
    /// exit 1; no such resource: exit 5, not installed).
    pub(super) fn spawn_action(&mut self, now: Micros, req: ActionRequest) {
        let spec = self.cfg.resources.as_ref().and_then(|g| g.resources.get(req.resource)).cloned();
        match spec {
            Some(spec) => {
                log::info!("resource {}: {} (generation {})", spec.name, req.action.as_str(), req.generation);
                if self.runner.spawn(now, &req, &spec).is_err() {
                    log::error!(
                        "too many resource actions running; {} {} reported failed",
                        spec.name,
                        req.action.as_str()
                    );
                    self.engine.handle_resource_result(now, req.id, Outcome::Failed(1));
                }
            }
            None => self.engine.handle_resource_result(now, req.id, Outcome::Failed(5)),
        }
    }
}
