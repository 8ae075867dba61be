//! The loop's one wait: every descriptor it watches in one `poll` (on the stack, bounded by
//! [`MAX_POLL_FDS`]), and what was found ready; and the signal pipes that turn SIGTERM, SIGINT
//! and SIGHUP into readable descriptors.
//!
//! Owns the order of the descriptors and the mapping back to what became ready. It reads
//! nothing but the signal pipes: the loop serves what is ready.

#![forbid(unsafe_code)]

use std::io::{self, Read};
use std::os::unix::net::UnixStream;

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::{ocf, Agent};
use crate::config;
use crate::control;

const _: () = assert!(config::MAX_LINKS <= 8, "readable transports are a bit mask of a u8");
/// Bound on the descriptors of one `poll`: two signal pipes, the control listener, the relay
/// worker, the durable writer, the control clients, one per transport (at most one per link),
/// the SNMP sockets (notifications, requests), the fence service's two sockets, the array console and the running resource
/// actions' exit descriptors.
const MAX_POLL_FDS: usize = 5 + control::MAX_CLIENTS + config::MAX_LINKS + 3 + 2 + ocf::MAX_RUNNING_ACTIONS;

pub struct Signals {
    stop: UnixStream,
    reload: UnixStream,
}

impl Signals {
    pub fn install() -> io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::low_level::pipe;
        let (stop_read, stop_write) = UnixStream::pair()?;
        let (reload_read, reload_write) = UnixStream::pair()?;
        for s in [&stop_read, &stop_write, &reload_read, &reload_write] {
            s.set_nonblocking(true)?;
        }
        pipe::register(SIGTERM, stop_write.try_clone()?)?;
        pipe::register(SIGINT, stop_write)?;
        pipe::register(SIGHUP, reload_write)?;
        Ok(Signals { stop: stop_read, reload: reload_read })
    }
}

/// Drain a signal pipe; true if any byte was there.
fn drain(stream: &mut UnixStream) -> bool {
    let mut buf = [0u8; 16];
    let mut any = false;
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        any = true;
    }
    any
}

impl Agent {
    pub(super) fn wait(&mut self, sleep_us: u64) -> io::Result<Ready> {
        // On the stack: the loop does not allocate per iteration.
        let mut fds: heapless::Vec<PollFd<'_>, MAX_POLL_FDS> = heapless::Vec::new();
        add_fd(&mut fds, PollFd::new(&self.signals.stop, PollFlags::IN));
        add_fd(&mut fds, PollFd::new(&self.signals.reload, PollFlags::IN));
        add_fd(&mut fds, PollFd::new(&self.control.listener, PollFlags::IN));
        add_fd(&mut fds, PollFd::new(self.relay.worker.fd(), PollFlags::IN));
        add_fd(&mut fds, PollFd::new(self.durable.fd(), PollFlags::IN));
        for c in &self.control.clients {
            let flags = if c.response.is_empty() {
                PollFlags::IN
            } else if self.durable.is_durable(c.hold_until) {
                PollFlags::OUT
            } else {
                // Held: the durable writer's result wakes the loop.
                PollFlags::empty()
            };
            add_fd(&mut fds, PollFd::new(&c.stream, flags));
        }
        let mut transport_slots: heapless::Vec<usize, { config::MAX_LINKS }> = heapless::Vec::new();
        for (i, t) in self.transports.iter().enumerate() {
            if let Some(fd) = t.fd() {
                add_fd(&mut fds, PollFd::from_borrowed_fd(fd, PollFlags::IN));
                assert!(transport_slots.push(i).is_ok(), "at most one transport per link");
            }
        }
        // SNMP responses and the array console are serviced every iteration (non-blocking,
        // bounded); their descriptors are here only to wake the loop. SNMP requests are read
        // only when they arrived (what one iteration leaves keeps the descriptor readable).
        if let Some(s) = &self.snmp {
            add_fd(&mut fds, PollFd::from_borrowed_fd(s.fd(), PollFlags::IN));
        }
        let snmp_get_slot = self.snmp_get.as_ref().map(|g| {
            add_fd(&mut fds, PollFd::from_borrowed_fd(g.fd(), PollFlags::IN));
            fds.len() - 1
        });
        let fence_slots = self.fence_service.as_ref().map(|f| {
            for fd in f.fds() {
                add_fd(&mut fds, PollFd::from_borrowed_fd(fd, PollFlags::IN));
            }
            fds.len() - 2..fds.len()
        });
        if let Some(fd) = self.array.as_ref().and_then(|a| a.fd()) {
            add_fd(&mut fds, PollFd::from_borrowed_fd(fd, PollFlags::IN));
        }
        // A resource action's exit: collect_results reaps it in the next iteration.
        for fd in self.runner.exit_fds() {
            add_fd(&mut fds, PollFd::from_borrowed_fd(fd, PollFlags::IN));
        }
        let timeout = Timespec {
            tv_sec: i64::try_from(sleep_us / 1_000_000).unwrap_or(i64::MAX),
            tv_nsec: i64::try_from((sleep_us % 1_000_000) * 1000).unwrap_or(0),
        };
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let active = |f: &PollFd<'_>| !f.revents().is_empty();
        let mut ready = Ready {
            stop: active(&fds[0]),
            reload: active(&fds[1]),
            listener: active(&fds[2]),
            relay: active(&fds[3]),
            durable: active(&fds[4]),
            clients: heapless::Vec::new(),
            transports: 0,
            snmp_get: snmp_get_slot.is_some_and(|i| active(&fds[i])),
            fence_service: fence_slots.is_some_and(|r| fds[r].iter().any(active)),
        };
        let nclients = self.control.clients.len();
        for i in 0..nclients {
            if active(&fds[5 + i]) {
                assert!(ready.clients.push(i).is_ok(), "at most MAX_CLIENTS clients");
            }
        }
        for (slot, &t) in transport_slots.iter().enumerate() {
            if active(&fds[5 + nclients + slot]) {
                ready.transports |= 1 << t;
            }
        }
        drop(fds);
        if ready.stop {
            drain(&mut self.signals.stop);
        }
        if ready.reload {
            ready.reload = drain(&mut self.signals.reload);
        }
        Ok(ready)
    }
}

fn add_fd<'a>(fds: &mut heapless::Vec<PollFd<'a>, MAX_POLL_FDS>, fd: PollFd<'a>) {
    assert!(fds.push(fd).is_ok(), "MAX_POLL_FDS counts every descriptor the loop polls");
}

/// What one `poll` found ready.
pub(super) struct Ready {
    pub stop: bool,
    pub reload: bool,
    pub listener: bool,
    pub relay: bool,
    pub durable: bool,
    pub clients: heapless::Vec<usize, { control::MAX_CLIENTS }>,
    /// Bit t: transport t is readable.
    pub transports: u8,
    /// An SNMP request arrived.
    pub snmp_get: bool,
    /// A fence request arrived, or a fence command finished.
    pub fence_service: bool,
}
