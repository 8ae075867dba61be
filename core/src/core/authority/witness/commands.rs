//! The witness's operator commands and requested moves: move, standby, online, maintenance,
//! fence and power-on, each checked against the rules (W1-W5) before it changes anything, and
//! refused with the reason otherwise.
//!
//! Owns only the checks and the state each command sets; the decisions that follow (the
//! switchover, the grant, the fence) are the witness's (`super`). It does no I/O.

#![forbid(unsafe_code)]

use super::*;

impl Witness {
    /// Operator or failback: move the service to `node` gracefully (W5).
    pub fn request_move(&mut self, node: u8) {
        if self.cfg.nodes.contains(&node) {
            self.move_to = Some(node);
        }
    }

    /// Operator `maintenance on|off`. Turning it on is refused while the witness is busy
    /// (a grant being stored, a switchover, a fence), so that nothing is left half done;
    /// turning it off is always accepted. Idempotent.
    pub fn command_maintenance(&mut self, on: bool) -> Result<(), &'static str> {
        if on == self.maintenance {
            return Ok(());
        }
        if on && (self.persisting.is_some() || self.switching() || self.fencer.target().is_some()) {
            return Err("the witness is busy (storing a grant, switching over or fencing); try again");
        }
        self.maintenance = on;
        self.move_to = None;
        self.notices.push(Notice::Maintenance { on });
        Ok(())
    }

    /// Operator `move`: refused when it cannot work or would stop the service.
    pub fn command_move(&mut self, node: u8) -> Result<(), &'static str> {
        if !self.cfg.nodes.contains(&node) {
            return Err("not a node of this cluster");
        }
        if self.maintenance {
            return Err("maintenance mode is on: nothing moves until `maintenance off`");
        }
        if self.persisting.is_some() || self.phase != Phase::Steady {
            return Err("the witness is busy (starting, switching over or storing a grant); try again");
        }
        if self.durable.holder == node {
            return Err("the service already runs there");
        }
        let view = self.last_view.clone();
        if !self.eligible(node, &view) {
            return Err(
                "that node is not ready to take the service (unreachable, failed, in standby or not stopped)",
            );
        }
        self.move_to = Some(node);
        Ok(())
    }

    /// Operator `standby` / `online`. Standby of the holder moves the service first; refused
    /// when no other node is ready to take it.
    pub fn command_standby(&mut self, node: u8, standby: bool) -> Result<(), &'static str> {
        let Some(i) = self.nodes.iter().position(|n| n.id == node) else {
            return Err("not a node of this cluster");
        };
        if standby && self.durable.holder == node && self.maintenance {
            return Err(
                "maintenance mode is on and the service runs there: nothing moves until `maintenance off`",
            );
        }
        if standby && self.durable.holder == node {
            let other = self.nodes[1 - i].id;
            let view = self.last_view.clone();
            if !self.eligible(other, &view) {
                return Err("the service runs there and no other node is ready to take it");
            }
            self.move_to = Some(other);
        }
        self.nodes[i].standby = standby;
        Ok(())
    }

    /// Operator `fence`: power a node off now. Refused for the only healthy node.
    pub fn command_fence(&mut self, node: u8) -> Result<(), &'static str> {
        let Some(i) = self.nodes.iter().position(|n| n.id == node) else {
            return Err("not a node of this cluster");
        };
        if !self.cfg.fence_enabled {
            return Err("no relay channel is configured for every node");
        }
        let other = self.nodes[1 - i].id;
        let view = self.last_view.clone();
        let node_healthy = view.reaches(node)
            && self.node(node).report.as_ref().is_some_and(|r| r.ready || !r.resources.is_stopped());
        if node_healthy && !self.eligible(other, &view) && self.durable.holder != other {
            return Err("it is the only healthy node: fencing it would leave no node to run the service");
        }
        if self.fencer.target().is_some() {
            return Err("a fence is already under way");
        }
        self.fencer.request(node);
        self.operator_fence = Some(node);
        Ok(())
    }

    /// Operator `power-on`: switch a node's power on again through its relay channel (after a
    /// fence). Refused while the node is reachable (its power is on) or being fenced.
    pub fn command_power_on(&mut self, node: u8) -> Result<(), &'static str> {
        let Some(i) = self.nodes.iter().position(|n| n.id == node) else {
            return Err("not a node of this cluster");
        };
        if !self.cfg.fence_enabled {
            return Err("no relay channel is configured for every node");
        }
        if self.fencer.target() == Some(node) {
            return Err("it is being fenced");
        }
        if self.last_view.reaches(node) {
            return Err("it is reachable: its power is on");
        }
        if self.actions.is_full() {
            return Err("the witness is busy (too many relay commands queued); try again");
        }
        self.push_action(Action::PowerOn(node));
        self.nodes[i].power_on_sent = true;
        Ok(())
    }

    /// Whether the operator put `node` in standby.
    pub fn standby(&self, node: u8) -> bool {
        self.nodes.iter().any(|n| n.id == node && n.standby)
    }

    /// Standby as the shell stored it before a restart (call before any input).
    pub fn set_standby(&mut self, node: u8, standby: bool) {
        if let Some(n) = self.nodes.iter_mut().find(|n| n.id == node) {
            n.standby = standby;
        }
    }
}
