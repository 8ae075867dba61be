//! The built-in `ipaddr` resource's I/O: each action (start, stop, monitor, validate-all) as a
//! few rtnetlink requests on a `NETLINK_ROUTE` socket, and the gratuitous ARPs or unsolicited
//! neighbour advertisements after a start, sent on an `AF_PACKET` socket, repeated on a
//! schedule the loop drives ([`Builtins::poll`], [`Builtins::next_due`]).
//!
//! Owns the sockets and the announcement schedule. It decides nothing: which interface and
//! prefix, running or not, what a stop deletes are `core::resources::ipaddr`'s pure functions,
//! fed the interfaces and addresses the kernel reported; the bytes on the wire are
//! [`netlink`] and [`announce`]. `shell::ocf::Runner` calls [`Builtins::run`] for a resource
//! whose agent is `builtin:ipaddr`, so the core sees the same results (OCF codes, exit
//! reasons) as from a script.
//!
//! An action runs to its end inside `run`: rtnetlink answers a request in the system call that
//! sends it (a dump's next part in the `recv` that asks for it), so an action takes tens of
//! microseconds and never forks. The packet sockets that send the announcements stay open for
//! the agent's life, one per interface (bound with protocol 0, so they receive nothing):
//! closing a packet socket waits for an RCU grace period in the kernel (`synchronize_net`, 4 ms
//! measured here, more on a loaded machine), which must not happen in the loop. The rare socket
//! that must go (its interface vanished) is closed in a short-lived thread. Every wait for the kernel is bounded by the action's timeout
//! and [`NETLINK_REPLY_TIMEOUT_MS`]; past it the action is `TimedOut`, as a script killed at its
//! timeout. The whole action is bounded the same way.

#![forbid(unsafe_code)]

pub mod announce;
pub mod netlink;

use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::sockopt::Timeout;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::core::resources::ipaddr::{self, Address, InterfaceName, IpAddrSpec, Link};
use crate::core::resources::{exit_reason, Action, ActionRequest, ExitReason, Name, Outcome, ResourceSpec};
use crate::links::packet_sys::PacketSocket;
use crate::time::Micros;
use netlink::{Message, ParseError};

/// Bound on one wait for the kernel's answer (and on a whole dump), whatever the action's own
/// timeout: the loop must not stand still longer.
pub const NETLINK_REPLY_TIMEOUT_MS: u64 = 1_000;
/// Receive buffer for one datagram (the kernel sizes dump datagrams to at most 32 KiB).
pub const NETLINK_RECV_BUFFER_BYTES: usize = 64 * 1024;
/// Bound on the interfaces and on the addresses a dump may list.
pub const MAX_DUMP_LINKS: usize = 1024;
pub const MAX_DUMP_ADDRESSES: usize = 8192;
/// Bound on the datagrams of one dump.
pub const MAX_DUMP_DATAGRAMS: usize = 1024;
/// Bound on addresses being announced at once (one per resource).
pub const MAX_ANNOUNCING: usize = crate::core::resources::MAX_RESOURCES;
/// Bound on the packet sockets kept open (one per interface an address was announced on).
pub const MAX_ANNOUNCE_SOCKETS: usize = crate::core::resources::MAX_RESOURCES;
/// Stack of the thread that closes a packet socket off the loop.
const CLOSER_STACK_BYTES: usize = 16 * 1024;
/// `ETH_P_ALL`'s opposite: bound with protocol 0, a packet socket receives nothing.
const NO_PROTOCOL: u16 = 0;

const EEXIST: i32 = 17;
const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;

/// Why talking to the kernel failed.
#[derive(Debug)]
enum NetlinkError {
    /// The socket could not be opened, or a send or receive failed.
    Io(io::Error),
    /// No complete answer within the bound.
    TimedOut,
    /// The answer is not valid rtnetlink.
    Parse(ParseError),
    /// A datagram longer than the buffer.
    Truncated,
    /// A dump longer than its bound.
    TooLarge(&'static str),
    /// The kernel refused the request with this errno.
    Refused(i32),
}

impl core::fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NetlinkError::Io(e) => write!(f, "netlink: {e}"),
            NetlinkError::TimedOut => write!(f, "netlink: no answer within the timeout"),
            NetlinkError::Parse(e) => write!(f, "netlink reply: {e}"),
            NetlinkError::Truncated => {
                write!(f, "netlink reply longer than {NETLINK_RECV_BUFFER_BYTES} bytes")
            }
            NetlinkError::TooLarge(what) => write!(f, "netlink dump: more {what} than the bound"),
            NetlinkError::Refused(errno) => write!(f, "{}", io::Error::from_raw_os_error(*errno)),
        }
    }
}

impl From<io::Error> for NetlinkError {
    fn from(e: io::Error) -> Self {
        if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            NetlinkError::TimedOut
        } else {
            NetlinkError::Io(e)
        }
    }
}

/// One `NETLINK_ROUTE` socket, for one action.
struct Rtnetlink {
    fd: OwnedFd,
    seq: u32,
    buffer: Vec<u8>,
    deadline: Instant,
}

impl Rtnetlink {
    fn open(deadline: Instant) -> Result<Rtnetlink, NetlinkError> {
        let fd =
            rustix::net::socket_with(AddressFamily::NETLINK, SocketType::RAW, SocketFlags::CLOEXEC, None)
                .map_err(|e| NetlinkError::Io(e.into()))?;
        Ok(Rtnetlink { fd, seq: 0, buffer: vec![0; NETLINK_RECV_BUFFER_BYTES], deadline })
    }

    fn send(&mut self, encode: impl FnOnce(u32) -> Vec<u8>) -> Result<u32, NetlinkError> {
        self.seq += 1;
        let request = encode(self.seq);
        let kernel = SocketAddrNetlink::new(0, 0);
        rustix::net::sendto(&self.fd, &request, SendFlags::empty(), &kernel).map_err(io::Error::from)?;
        Ok(self.seq)
    }

    /// The messages of the next datagram of ours (other sequence numbers are skipped).
    fn receive(&mut self, seq: u32) -> Result<Vec<Message>, NetlinkError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NetlinkError::TimedOut);
        }
        rustix::net::sockopt::set_socket_timeout(
            &self.fd,
            Timeout::Recv,
            Some(left.max(Duration::from_millis(1))),
        )
        .map_err(io::Error::from)?;
        let (_, length) =
            rustix::net::recv(&self.fd, &mut self.buffer[..], RecvFlags::TRUNC).map_err(io::Error::from)?;
        if length > self.buffer.len() {
            return Err(NetlinkError::Truncated);
        }
        let messages = netlink::parse_datagram(&self.buffer[..length]).map_err(NetlinkError::Parse)?;
        Ok(messages.into_iter().filter(|(s, _)| *s == seq).map(|(_, m)| m).collect())
    }

    /// Send a request that the kernel acknowledges; `Refused(errno)` when it says no.
    fn request(&mut self, encode: impl FnOnce(u32) -> Vec<u8>) -> Result<(), NetlinkError> {
        let seq = self.send(encode)?;
        for _ in 0..MAX_DUMP_DATAGRAMS {
            for message in self.receive(seq)? {
                match message {
                    Message::Ack => return Ok(()),
                    Message::Error(errno) => return Err(NetlinkError::Refused(errno)),
                    _ => {}
                }
            }
        }
        Err(NetlinkError::TooLarge("datagrams"))
    }

    /// Every message of a dump until its `NLMSG_DONE`.
    fn dump(
        &mut self,
        encode: impl FnOnce(u32) -> Vec<u8>,
        bound: usize,
    ) -> Result<Vec<Message>, NetlinkError> {
        let seq = self.send(encode)?;
        let mut all = Vec::new();
        for _ in 0..MAX_DUMP_DATAGRAMS {
            for message in self.receive(seq)? {
                match message {
                    Message::Done => return Ok(all),
                    Message::Error(errno) => return Err(NetlinkError::Refused(errno)),
                    Message::Link(_) | Message::Address(_) if all.len() == bound => {
                        return Err(NetlinkError::TooLarge("entries"))
                    }
                    Message::Link(_) | Message::Address(_) => all.push(message),
                    Message::Ack | Message::Other => {}
                }
            }
        }
        Err(NetlinkError::TooLarge("datagrams"))
    }

    /// The interfaces and addresses of this network namespace.
    fn state(&mut self) -> Result<(Vec<Link>, Vec<Address>), NetlinkError> {
        let links = self
            .dump(netlink::get_links, MAX_DUMP_LINKS)?
            .into_iter()
            .filter_map(|m| if let Message::Link(l) = m { Some(l) } else { None })
            .collect();
        let addresses = self
            .dump(netlink::get_addresses, MAX_DUMP_ADDRESSES)?
            .into_iter()
            .filter_map(|m| if let Message::Address(a) = m { Some(a) } else { None })
            .collect();
        Ok((links, addresses))
    }
}

/// Announcements still to send for one started address.
#[derive(Clone, Debug)]
struct Announcing {
    resource: Name,
    interface: InterfaceName,
    index: u32,
    mac: [u8; 6],
    ip: IpAddr,
    remaining: u32,
    next_at: Micros,
    interval_ms: u64,
}

/// Close a packet socket off the loop (its close waits for an RCU grace period). When no
/// thread can be started, the socket is closed with the thread's body, here.
fn close_later(socket: PacketSocket) {
    if let Err(e) =
        super::sys::spawn_thread("ipaddr-close", CLOSER_STACK_BYTES, Box::new(move || drop(socket)))
    {
        log::warn!("cannot start a thread to close a packet socket ({e}): closed in the loop");
    }
}

/// The open packet sockets, one per interface (by name and index: a recreated interface has a
/// new index and gets a new socket).
#[derive(Debug, Default)]
struct Senders {
    sockets: Vec<(InterfaceName, u32, PacketSocket)>,
}

impl Senders {
    fn send(&mut self, interface: &InterfaceName, index: u32, frame: &[u8]) -> io::Result<()> {
        let at = match self.sockets.iter().position(|(n, i, _)| n == interface && *i == index) {
            Some(at) => at,
            None => {
                let socket = PacketSocket::open(interface, NO_PROTOCOL)?;
                if socket.interface_index() != index {
                    close_later(socket);
                    return Err(io::Error::new(io::ErrorKind::NotFound, "the interface was replaced"));
                }
                // The same name with an old index, or one socket too many: the oldest goes.
                let stale = self.sockets.iter().position(|(n, _, _)| n == interface);
                if let Some(old) = stale.or((self.sockets.len() == MAX_ANNOUNCE_SOCKETS).then_some(0)) {
                    close_later(self.sockets.remove(old).2);
                }
                self.sockets.push((interface.clone(), index, socket));
                assert!(self.sockets.len() <= MAX_ANNOUNCE_SOCKETS, "bounded");
                self.sockets.len() - 1
            }
        };
        let sent = self.sockets[at].2.send(frame);
        if sent.as_ref().is_err_and(|e| matches!(e.raw_os_error(), Some(libc::ENODEV | libc::ENXIO))) {
            close_later(self.sockets.remove(at).2);
        }
        sent
    }
}

/// What a built-in action reports, as a script's exit would be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltinResult {
    pub outcome: Outcome,
    pub exit_reason: ExitReason,
    /// One line for the log (what was done).
    pub output: String,
}

/// The built-in resources' pending announcements and the sockets that send them.
#[derive(Debug, Default)]
pub struct Builtins {
    announcing: Vec<Announcing>,
    senders: Senders,
    /// Announcements that could not be sent (logged once per start).
    pub announce_failures: u64,
}

fn result(outcome: Outcome, reason: &str, output: String) -> BuiltinResult {
    BuiltinResult { outcome, exit_reason: exit_reason(reason), output }
}

fn netlink_failure(what: &str, e: NetlinkError) -> BuiltinResult {
    let text = format!("{what}: {e}");
    match e {
        NetlinkError::TimedOut => result(Outcome::TimedOut, &text, text.clone()),
        _ => result(Outcome::Failed(ipaddr::OCF_ERR_GENERIC), &text, text.clone()),
    }
}

impl Builtins {
    pub fn new() -> Builtins {
        Builtins::default()
    }

    /// Carry out `request` on `resource` (a `builtin:ipaddr` resource) to its end.
    pub fn run(&mut self, now: Micros, request: &ActionRequest, resource: &ResourceSpec) -> BuiltinResult {
        let spec = match IpAddrSpec::from_params(&resource.params) {
            Ok(spec) => spec,
            Err(problems) => {
                let text = problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ");
                return result(Outcome::Failed(ipaddr::OCF_ERR_CONFIGURED), &text, text.clone());
            }
        };
        let bound_ms = request.timeout_ms.min(NETLINK_REPLY_TIMEOUT_MS);
        let deadline = Instant::now() + Duration::from_millis(bound_ms);
        if request.action == Action::Stop {
            // A stop ends the announcing of an address that is going away.
            self.announcing.retain(|a| a.resource != resource.name);
        }
        let mut nl = match Rtnetlink::open(deadline) {
            Ok(nl) => nl,
            Err(e) => return netlink_failure("cannot open a netlink socket", e),
        };
        let (links, addresses) = match nl.state() {
            Ok(state) => state,
            Err(e) => return netlink_failure("cannot list interfaces and addresses", e),
        };
        match request.action {
            Action::Monitor => {
                let (outcome, reason) = ipaddr::monitor(&spec, &links, &addresses);
                BuiltinResult { outcome, output: reason.to_string(), exit_reason: reason }
            }
            Action::ValidateAll => match ipaddr::plan_start(&spec, &links, &addresses) {
                Ok(plan) => {
                    result(Outcome::Success, "", format!("{} would go on {}", spec.ip, plan.interface))
                }
                Err(refusal) => BuiltinResult {
                    outcome: refusal.outcome,
                    exit_reason: exit_reason(&refusal.reason),
                    output: refusal.reason,
                },
            },
            Action::Stop => match ipaddr::plan_stop(&spec, &links, &addresses) {
                None => result(Outcome::Success, "", format!("{} is not configured: stopped", spec.ip)),
                Some(address) => match nl.request(|seq| netlink::delete_address(seq, &address)) {
                    Ok(()) | Err(NetlinkError::Refused(EADDRNOTAVAIL | ENODEV)) => result(
                        Outcome::Success,
                        "",
                        format!(
                            "deleted {}/{} (interface {})",
                            address.ip, address.prefix_len, address.index
                        ),
                    ),
                    Err(e) => netlink_failure(&format!("cannot delete {}", spec.ip), e),
                },
            },
            Action::Start => {
                let plan = match ipaddr::plan_start(&spec, &links, &addresses) {
                    Ok(plan) => plan,
                    Err(refusal) => {
                        return BuiltinResult {
                            outcome: refusal.outcome,
                            exit_reason: exit_reason(&refusal.reason),
                            output: refusal.reason,
                        }
                    }
                };
                let address = Address { index: plan.index, ip: spec.ip, prefix_len: plan.prefix_len };
                if !plan.already_present {
                    match nl.request(|seq| netlink::add_address(seq, &address, plan.broadcast)) {
                        Ok(()) | Err(NetlinkError::Refused(EEXIST)) => {}
                        Err(NetlinkError::Refused(ENODEV)) => {
                            let text = format!("network interface {} vanished", plan.interface);
                            return result(Outcome::Failed(ipaddr::OCF_ERR_CONFIGURED), &text, text.clone());
                        }
                        Err(e) => {
                            return netlink_failure(
                                &format!("cannot add {}/{} to {}", spec.ip, plan.prefix_len, plan.interface),
                                e,
                            )
                        }
                    }
                }
                let mut output = format!(
                    "{} {}/{} on {}",
                    if plan.already_present { "kept" } else { "added" },
                    spec.ip,
                    plan.prefix_len,
                    plan.interface
                );
                match plan.mac.filter(|_| spec.arp_count > 0) {
                    Some(mac) => {
                        self.announcing.retain(|a| a.resource != resource.name);
                        if self.announcing.len() < MAX_ANNOUNCING {
                            self.announcing.push(Announcing {
                                resource: resource.name.clone(),
                                interface: plan.interface.clone(),
                                index: plan.index,
                                mac,
                                ip: spec.ip,
                                remaining: spec.arp_count,
                                next_at: now,
                                interval_ms: spec.arp_interval_ms,
                            });
                            // The first announcement goes out now, before the start reports.
                            self.poll(now);
                            output.push_str(&format!(
                                ", announcing it {} times every {} ms",
                                spec.arp_count, spec.arp_interval_ms
                            ));
                        }
                    }
                    None if spec.arp_count > 0 => {
                        output.push_str(", not announced: the interface has no Ethernet address")
                    }
                    None => {}
                }
                result(Outcome::Success, "", output)
            }
        }
    }

    /// Send the announcements due at `now`; forget those that are done.
    pub fn poll(&mut self, now: Micros) {
        for a in self.announcing.iter_mut().filter(|a| a.next_at <= now) {
            assert!(a.remaining > 0, "finished announcements are dropped");
            let sent = match a.ip {
                IpAddr::V4(ip) => {
                    self.senders.send(&a.interface, a.index, &announce::gratuitous_arp(a.mac, ip))
                }
                IpAddr::V6(ip) => {
                    self.senders.send(&a.interface, a.index, &announce::neighbour_advertisement(a.mac, ip))
                }
            };
            if let Err(e) = sent {
                self.announce_failures += 1;
                log::warn!("resource {}: announcing {} on {} failed: {e}", a.resource, a.ip, a.interface);
            }
            a.remaining -= 1;
            a.next_at = now.plus_ms(a.interval_ms);
        }
        self.announcing.retain(|a| a.remaining > 0);
    }

    /// When the next announcement is due (`None` when none is pending).
    pub fn next_due(&self) -> Option<Micros> {
        self.announcing.iter().map(|a| a.next_at).min()
    }
}
