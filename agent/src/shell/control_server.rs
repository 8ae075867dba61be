//! The control server: the Unix socket `ha-agent` commands talk to (`status`, `reload`, the
//! operator's commands), one JSON request line and one JSON answer per connection.
//!
//! Owns the listener, the clients (at most `control::MAX_CLIENTS`, each with a deadline) and
//! the rule that an operator's command is answered only once its journal record is on disk
//! (`status` is answered at once). Only root or the agent's own user may connect. The request
//! syntax is `control`'s; what a command does is the engine's (`Engine::witness_command`).

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use serde_json::{json, Value};

use super::durable::StateWrite;
use super::{fanout, words, Agent};
use crate::config::Role;
use crate::control::{self, Request};
use crate::journal::{Event as JournalEvent, Kind as JournalKind};
use crate::time::Micros;

/// The listener and its clients.
pub struct ControlServer {
    pub(super) listener: UnixListener,
    pub(super) clients: Vec<Client>,
    /// The uid of the last control client accepted (for the journal's operator records).
    last_client_uid: u32,
}

impl ControlServer {
    /// Bind the socket at `path` (replacing a stale one), owner-only.
    pub fn bind(path: &Path) -> io::Result<ControlServer> {
        Ok(ControlServer { listener: bind_control(path)?, clients: Vec::new(), last_client_uid: 0 })
    }

    /// The earliest client deadline.
    pub fn next_deadline(&self) -> Option<Micros> {
        self.clients.iter().map(|c| c.deadline).min()
    }
}

pub(super) struct Client {
    pub(super) stream: UnixStream,
    request: Vec<u8>,
    pub(super) response: Vec<u8>,
    written: usize,
    deadline: Micros,
    /// The response waits until the durable writer has written everything up to this ticket
    /// (an operator's command is answered only once its journal record is on disk).
    pub(super) hold_until: u64,
}

fn bind_control(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("control socket {}: {e}", path.display())))?;
    // Only the owner (root on the appliance) may connect; the peer's uid is checked too.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl Agent {
    pub(super) fn accept(&mut self, now: Micros) {
        loop {
            let (stream, _) = match self.control.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("control socket accept: {e}");
                    return;
                }
            };
            let me = rustix::process::geteuid();
            match rustix::net::sockopt::socket_peercred(stream.as_fd()) {
                Ok(cred) if cred.uid.is_root() || cred.uid == me => {
                    self.control.last_client_uid = cred.uid.as_raw()
                }
                Ok(cred) => {
                    log::warn!("control socket: refused uid {}", cred.uid.as_raw());
                    continue;
                }
                Err(e) => {
                    log::warn!("control socket: cannot read peer credentials: {e}");
                    continue;
                }
            }
            if self.control.clients.len() >= control::MAX_CLIENTS {
                log::warn!("control socket: more than {} clients; refusing one", control::MAX_CLIENTS);
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.control.clients.push(Client {
                stream,
                request: Vec::new(),
                response: Vec::new(),
                written: 0,
                deadline: now.plus_ms(control::CLIENT_TIMEOUT_MS),
                hold_until: 0,
            });
        }
    }

    pub(super) fn serve_client(&mut self, index: usize) {
        let done = {
            let mut buf = [0u8; control::MAX_REQUEST_BYTES];
            let client = &mut self.control.clients[index];
            if client.response.is_empty() {
                match client.stream.read(&mut buf) {
                    Ok(0) => true,
                    Ok(n) => {
                        client.request.extend_from_slice(&buf[..n]);
                        false
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                    Err(_) => true,
                }
            } else {
                false
            }
        };
        if done {
            self.control.clients.swap_remove(index);
            return;
        }
        if self.control.clients[index].response.is_empty() {
            let request = &self.control.clients[index].request;
            let complete = request.contains(&b'\n');
            let too_long = request.len() > control::MAX_REQUEST_BYTES;
            if !complete && !too_long {
                return;
            }
            // Status is answered at once; everything else journals an operator record first.
            let mut journaled = true;
            // The status document is encoded straight from its type (the one encoding the
            // agent has of it, shared with `status --json`); every other answer is a `Value`.
            let mut status_body = None;
            let value = if too_long {
                json!({"error": "request too long"})
            } else {
                let line = request.split(|&b| b == b'\n').next().unwrap_or(&[]);
                match control::parse_request(line) {
                    Ok(Request::Status) => {
                        journaled = false;
                        match serde_json::to_vec(&self.status()) {
                            Ok(body) => {
                                status_body = Some(body);
                                Value::Null
                            }
                            Err(e) => json!({"error": format!("status: {e}")}),
                        }
                    }
                    Ok(Request::Reload) => {
                        let now = self.now();
                        self.journal(
                            JournalEvent::new(JournalKind::Operator, "reload")
                                .with_field("from", "control socket")
                                .with_field("uid", &self.control.last_client_uid.to_string()),
                        );
                        match self.reload(now) {
                            Ok(text) => json!({"ok": true, "message": text}),
                            Err(reason) => json!({"error": format!("reload refused: {reason}")}),
                        }
                    }
                    Ok(request) => self.command(request),
                    Err(e) => json!({"error": e}),
                }
            };
            let mut body = status_body.unwrap_or_else(|| {
                serde_json::to_vec(&value).unwrap_or_else(|_| b"{\"error\":\"encoding\"}".to_vec())
            });
            body.push(b'\n');
            self.control.clients[index].response = body;
            self.control.clients[index].hold_until = if journaled { self.durable.ticket() } else { 0 };
        }
        if !self.durable.is_durable(self.control.clients[index].hold_until) {
            return;
        }
        let client = &mut self.control.clients[index];
        loop {
            match client.stream.write(&client.response[client.written..]) {
                Ok(n) => {
                    client.written += n;
                    if client.written == client.response.len() {
                        self.control.clients.swap_remove(index);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.control.clients.swap_remove(index);
                    return;
                }
            }
        }
    }

    /// An operator command from the control socket: carried out, or refused with the reason.
    fn command(&mut self, request: Request) -> Value {
        use crate::core::engine::WitnessCommand;
        let now = self.now();
        let id_of = |s: &Self, name: &str| s.cfg.members.iter().find(|m| m.name == name).map(|m| m.id.0);
        let line = match &request {
            Request::Move(n) => format!("move {n}"),
            Request::Standby(n) => format!("standby {n}"),
            Request::Online(n) => format!("online {n}"),
            Request::Fence(n) => format!("fence {n}"),
            Request::PowerOn(n) => format!("power-on {n}"),
            Request::Maintenance(on) => format!("maintenance {}", if *on { "on" } else { "off" }),
            Request::Cleanup => "cleanup".into(),
            Request::Status | Request::Reload => unreachable!("served elsewhere"),
        };
        self.journal(
            JournalEvent::new(JournalKind::Operator, &line)
                .with_field("from", "control socket")
                .with_field("uid", &self.control.last_client_uid.to_string()),
        );
        let (what, result) = match &request {
            Request::Cleanup => match self.engine.node() {
                Some(_) => {
                    self.engine.cleanup(now);
                    ("cleanup".to_string(), Ok(()))
                }
                None => ("cleanup".to_string(), Err("this command is for a node (run it on the server)")),
            },
            Request::Maintenance(on) => {
                (line.clone(), self.engine.witness_command(now, WitnessCommand::Maintenance(*on)))
            }
            Request::Move(n)
            | Request::Standby(n)
            | Request::Online(n)
            | Request::Fence(n)
            | Request::PowerOn(n) => {
                let Some(id) = id_of(self, n) else {
                    return json!({"error": format!("no member named {n:?}")});
                };
                let (verb, cmd) = match &request {
                    Request::Move(_) => ("move", WitnessCommand::Move(id)),
                    Request::Standby(_) => ("standby", WitnessCommand::Standby(id)),
                    Request::Online(_) => ("online", WitnessCommand::Online(id)),
                    Request::PowerOn(_) => ("power-on", WitnessCommand::PowerOn(id)),
                    _ => ("fence", WitnessCommand::Fence(id)),
                };
                let result = self.engine.witness_command(now, cmd);
                if result.is_ok() && matches!(request, Request::Standby(_) | Request::Online(_)) {
                    self.store_standby(now);
                }
                (format!("{verb} {n}"), result)
            }
            Request::Status | Request::Reload => unreachable!("served elsewhere"),
        };
        self.carry_out(now);
        match result {
            Ok(()) => {
                let w = words::operator_result(&what, None);
                self.fan_out(now, fanout::worded(&w, None));
                json!({"ok": true, "message": w.text})
            }
            Err(reason) => {
                let w = words::operator_result(&what, Some(&reason));
                self.fan_out(now, fanout::worded(&w, None));
                json!({"error": w.text})
            }
        }
    }

    /// Witness: store the nodes in standby (queued before the command is answered, so that
    /// the answer comes once it is on disk), kept across a restart like maintenance mode.
    fn store_standby(&mut self, now: Micros) {
        let Some(w) = self.engine.witness() else { return };
        let names: Vec<String> = self
            .cfg
            .members
            .iter()
            .filter(|m| m.role == Role::Node && w.standby(m.id.0))
            .map(|m| m.name.clone())
            .collect();
        if let Err(e) = self.durable.state(now, StateWrite::Standby(names)) {
            log::error!("cannot store the standby nodes ({e}); a restart would forget them");
        }
    }

    pub(super) fn expire_clients(&mut self, now: Micros) {
        self.control.clients.retain(|c| now < c.deadline);
    }
}
