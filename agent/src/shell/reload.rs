//! The reload rule: SIGHUP or `ha-agent reload` reads the configuration again, validated
//! first; only what the running engine and shell were not built from may change (the timing,
//! `[shell] stall_warn_ms`, the key), anything else is refused with the reasons and the
//! running configuration is kept. Either way it is logged, journaled and notified.
//!
//! Owns that rule and its counters' updates; loading and validating is `config`'s.

#![forbid(unsafe_code)]

use super::{fanout, words, Agent};
use crate::config::{self, Config};
use crate::snmp::mib::Notification;
use crate::time::Micros;

impl Agent {
    /// Reload the configuration (SIGHUP or `ha-agent reload`): validated first; a bad file, or
    /// a change that needs a restart, is refused with the reasons and the running configuration
    /// is kept; a notification either way.
    pub(super) fn reload(&mut self, now: Micros) -> Result<String, String> {
        log::info!("reloading {}", self.config_path.display());
        let result = self.try_reload(now);
        let member = self.cfg.me().name.clone();
        let n = match &result {
            Ok(_) => {
                self.reloads += 1;
                // The agents may have been upgraded: learn again what they advertise.
                self.learn_agents(now, false);
                Notification::ConfigurationReloaded { member }
            }
            Err(reason) => {
                self.reloads_refused += 1;
                Notification::ConfigurationRejected { member, reason: reason.clone() }
            }
        };
        self.fan_out(now, fanout::worded(&words::reload(&result), Some(n)));
        result
    }

    fn try_reload(&mut self, now: Micros) -> Result<String, String> {
        let new = config::load(&self.config_path).map_err(|problems| {
            let all: Vec<String> = problems.iter().map(|p| p.to_string().replace('\n', " ")).collect();
            format!("{} problem(s): {}", problems.len(), all.join("; "))
        })?;
        let key = config::load_key(&new.key_file).map_err(|p| p.to_string().replace('\n', " "))?;
        // What the running engine, transports, devices and notifier were built from cannot
        // change under them: those changes need a restart.
        let fixed = |c: &Config| {
            (
                (
                    c.cluster.clone(),
                    c.me,
                    c.members.clone(),
                    c.links.clone(),
                    c.state_dir.clone(),
                    c.control_socket.clone(),
                    // Set once at start (the loop's scheduling, the locked pages).
                    (c.shell.mlockall, c.shell.realtime_priority),
                ),
                (
                    c.authority.clone(),
                    c.resources.clone(),
                    c.relay.clone(),
                    c.watchdog.clone(),
                    c.snmp.clone(),
                    c.array.clone(),
                    c.syslog.clone(),
                    c.fence_service.clone(),
                ),
            )
        };
        if fixed(&new) != fixed(&self.cfg) {
            return Err("only [timing], [shell] stall_warn_ms and the key can change while running; cluster, members, \
                 links, paths, [shell] mlockall and realtime_priority, [authority], [resources], [relay], [watchdog], \
                 [snmp], [array], [syslog] and [fence_service] need a restart of the agent"
                .into());
        }
        self.engine.set_timing(new.timing, now);
        self.key = key;
        self.cfg = new;
        Ok("configuration reloaded (timing, stall_warn_ms and key applied)".into())
    }
}
