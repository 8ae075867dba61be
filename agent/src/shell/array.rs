//! The shell's side of array monitoring: the controller console's serial port, the session and
//! the state diffing, wired together.
//!
//! Owns building them from `[array]` and passing the session's snapshots and losses to the
//! monitor; the events it returns go to the log and to SNMP through the caller. The decisions
//! (what changed, what is lost) are the core's and the session's.

#![forbid(unsafe_code)]

use std::os::fd::BorrowedFd;

use crate::config::Config;
use crate::core::array::{ArrayEvent, ArrayMonitor, Params};
use crate::devices::console::dialect_for;
use crate::devices::console::serial::ConsolePort;
use crate::devices::console::session::{self, Session, SessionEvent};
use crate::devices::console::status::{self, ConsoleFacts};
use crate::time::Micros;

/// Bound on array events handed out per call.
const MAX_EVENTS_PER_POLL: usize = 64;

pub struct Array {
    port: ConsolePort,
    monitor: ArrayMonitor,
    dialect: String,
}

impl Array {
    pub fn start(cfg: &Config, now: Micros) -> Result<Option<Array>, String> {
        let Some(a) = &cfg.array else { return Ok(None) };
        let options = a.session_options()?;
        let session = Session::new(dialect_for(a.dialect), options, now);
        let port = ConsolePort::new(&a.device, a.baud, session);
        let name = |s: &str| {
            heapless::String::try_from(
                s.get(..s.len().min(crate::devices::console::model::MAX_NAME_BYTES)).unwrap_or(""),
            )
            .unwrap_or_default()
        };
        let monitor = ArrayMonitor::new(Params {
            member: name(&cfg.me().name),
            console: name(&a.device.display().to_string()),
        });
        Ok(Some(Array { port, monitor, dialect: format!("{:?}", a.dialect).to_lowercase() }))
    }

    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.port.fd()
    }

    pub fn poll_timeout(&self) -> Micros {
        self.port.poll_timeout()
    }

    /// Drive the console and return the array events that resulted (bounded).
    pub fn poll(&mut self, now: Micros) -> Vec<ArrayEvent> {
        self.port.poll(now);
        let session = self.port.session_mut();
        let mut lost = false;
        while let Some(e) = session.poll_event() {
            match &e {
                SessionEvent::Lost(_) => {
                    lost = true;
                    log::warn!("array console: {}", session::describe(&e));
                }
                _ => log::info!("array console: {}", session::describe(&e)),
            }
        }
        let mut snapshots = Vec::new();
        while let Some(model) = session.poll_snapshot() {
            snapshots.push(model);
        }
        if lost {
            self.monitor.handle_console_lost(now);
        }
        for model in &snapshots {
            self.monitor.handle_snapshot(now, model);
        }
        let mut events = Vec::new();
        while events.len() < MAX_EVENTS_PER_POLL {
            let Some(e) = self.monitor.poll_event() else { break };
            events.push(e);
        }
        events
    }

    /// The `array` object of the status document (and so of the MIB view).
    pub fn status(&self, now: Micros) -> crate::status::ArrayStatus {
        let session = self.port.session();
        let device = self.port.device().display().to_string();
        let facts = ConsoleFacts {
            dialect: &self.dialect,
            device: &device,
            lost: session.is_lost(),
            wrong_baud: session.wrong_baud(),
            last_answer_at: session.last_answer_at(),
            now,
        };
        status::to_status(self.monitor.latest().map(|(m, _)| m), &self.monitor.redundancy(), &facts)
    }
}
