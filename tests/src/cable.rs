//! The cable proxy: a fault-injecting stand-in for a serial cable or a UDP path between two
//! agent processes.
//!
//! A cable has two ends, A and B, and two directions ([`Direction::AToB`], [`Direction::BToA`]).
//! Each direction carries its own faults ([`Faults`]: cut, delay, bit corruption), its own
//! counters ([`Counters`]), a bounded record of the last [`MAX_RECORDED_UNITS`] units that
//! arrived from the sender (byte chunks on serial, datagrams on UDP), and a bounded queue of
//! units to inject towards the receiving end. All of it is reached at run time through a
//! cloneable [`CableControl`].
//!
//! [`SerialCable`] joins two pseudo-terminal pairs (the agents open the slave paths `end_a` and
//! `end_b`); [`UdpCable`] owns two loopback sockets (agent A sends to `port_for_a`, agent B to
//! `port_for_b`). Each runs one thread that copies bytes through the fault logic in [`Pump`],
//! which does no I/O itself, so the fault logic is tested without any descriptor. The thread
//! stops when the cable is dropped.
//!
//! It does not own: agent processes, configuration files (see `harness`), or any knowledge of
//! the heartbeat frame format: it moves opaque bytes.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::OptionalActions;

/// Bound on the record of units kept per direction (for replay tests).
pub const MAX_RECORDED_UNITS: usize = 64;
/// Bound on units held back by a delay, per direction; more are dropped and counted.
pub const MAX_DELAYED_UNITS: usize = 1024;
/// Bound on units waiting to be injected, per direction; [`CableControl::inject`] refuses more.
pub const MAX_INJECT_QUEUE: usize = 64;
/// Bound on one read from a pty master.
const MAX_SERIAL_CHUNK_BYTES: usize = 4096;
/// Bound on one UDP datagram.
const MAX_DATAGRAM_BYTES: usize = 65_536;
/// Bound on datagrams or chunks read from one descriptor per loop turn, so that one busy side
/// cannot starve the other.
const MAX_READS_PER_TURN: usize = 64;
/// Longest the proxy thread sleeps in poll: bounds the latency of injection and of stopping.
const POLL_TICK_MS: u64 = 5;
/// Seed used by `new()`; every cable draws its corruption from its own seeded generator.
pub const DEFAULT_SEED: u64 = 0x5eed_cab1_e000_0001;

/// One direction of a cable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Bytes sent by end A, delivered to end B.
    AToB,
    /// Bytes sent by end B, delivered to end A.
    BToA,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::AToB, Direction::BToA];

    fn index(self) -> usize {
        match self {
            Direction::AToB => 0,
            Direction::BToA => 1,
        }
    }
}

/// The faults applied to one direction. `Faults::default()` is a perfect cable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Drop everything that arrives (and everything still held by a delay).
    pub cut: bool,
    /// Hold each unit this long before delivering it; order is preserved.
    pub delay_ms: u64,
    /// Flip one random bit in 1 of N bytes (serial) or datagrams (UDP); 0 disables.
    pub corrupt_one_in: u32,
}

/// What one direction has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Units (chunks or datagrams) that arrived from the sender.
    pub units_received: u64,
    /// Units written to the receiving end, injected ones included.
    pub units_forwarded: u64,
    pub bytes_forwarded: u64,
    /// Units dropped by a cut, a full delay queue, or a receiver that could not take them.
    pub units_dropped: u64,
    pub bytes_dropped: u64,
    /// Bits flipped by the corruption fault.
    pub bits_flipped: u64,
    /// Units that came from [`CableControl::inject`].
    pub units_injected: u64,
}

/// How corruption is drawn: per byte on a byte stream, per unit on a datagram path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Bytes,
    Datagrams,
}

#[derive(Default)]
struct DirectionState {
    faults: Faults,
    counters: Counters,
    recorded: VecDeque<Vec<u8>>,
    inject: VecDeque<Vec<u8>>,
}

/// The run-time handle on a cable's faults, counters, record and injection queue. Cheap to
/// clone; every clone controls the same cable.
#[derive(Clone, Default)]
pub struct CableControl {
    shared: Arc<Mutex<[DirectionState; 2]>>,
}

impl CableControl {
    fn lock(&self) -> MutexGuard<'_, [DirectionState; 2]> {
        // A panicking test thread must not make the proxy thread panic too.
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn faults(&self, direction: Direction) -> Faults {
        self.lock()[direction.index()].faults
    }

    pub fn set_faults(&self, direction: Direction, faults: Faults) {
        self.lock()[direction.index()].faults = faults;
    }

    /// Cut (`true`) or reconnect (`false`) one direction, leaving its other faults alone.
    pub fn set_cut(&self, direction: Direction, cut: bool) {
        self.lock()[direction.index()].faults.cut = cut;
    }

    /// Cut both directions.
    pub fn cut(&self) {
        for direction in Direction::BOTH {
            self.set_cut(direction, true);
        }
    }

    /// Remove every fault in both directions.
    pub fn heal(&self) {
        for direction in Direction::BOTH {
            self.set_faults(direction, Faults::default());
        }
    }

    pub fn set_delay_ms(&self, direction: Direction, delay_ms: u64) {
        self.lock()[direction.index()].faults.delay_ms = delay_ms;
    }

    pub fn set_corrupt_one_in(&self, direction: Direction, one_in: u32) {
        self.lock()[direction.index()].faults.corrupt_one_in = one_in;
    }

    /// Queue `bytes` for delivery to the receiving end of `direction` (to B for `AToB`), as if
    /// a device on the wire had sent them. Injected units bypass every fault (they enter past
    /// the cut). Returns false, injecting nothing, when [`MAX_INJECT_QUEUE`] units are waiting.
    #[must_use]
    pub fn inject(&self, direction: Direction, bytes: &[u8]) -> bool {
        let mut state = self.lock();
        let queue = &mut state[direction.index()].inject;
        if queue.len() >= MAX_INJECT_QUEUE {
            return false;
        }
        queue.push_back(bytes.to_vec());
        true
    }

    /// The last [`MAX_RECORDED_UNITS`] units that arrived from the sender in `direction`, oldest
    /// first, as they arrived (before any fault; recorded even while the direction is cut).
    pub fn recorded(&self, direction: Direction) -> Vec<Vec<u8>> {
        self.lock()[direction.index()].recorded.iter().cloned().collect()
    }

    pub fn clear_recorded(&self, direction: Direction) {
        self.lock()[direction.index()].recorded.clear();
    }

    pub fn counters(&self, direction: Direction) -> Counters {
        self.lock()[direction.index()].counters
    }
}

/// A small xorshift64* generator: reproducible corruption without a `rand` dependency.
#[derive(Clone, Debug)]
pub struct XorShift {
    state: u64,
}

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // Zero is the one state xorshift never leaves.
        XorShift { state: if seed == 0 { DEFAULT_SEED } else { seed } }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..bound`; `bound` must not be zero.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "XorShift::below(0)");
        self.next_u64() % bound
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// The fault logic of a cable, without any I/O: units go in with [`Pump::receive`] and come out
/// of [`Pump::take_due`] when their time has come. The I/O loop reports what it managed to
/// write with [`Pump::delivered`].
pub struct Pump {
    control: CableControl,
    granularity: Granularity,
    rng: XorShift,
    /// Units waiting for their delivery instant, per direction, in delivery order.
    delayed: [VecDeque<(Instant, Vec<u8>)>; 2],
}

impl Pump {
    pub fn new(control: CableControl, granularity: Granularity, seed: u64) -> Self {
        Pump { control, granularity, rng: XorShift::new(seed), delayed: Default::default() }
    }

    /// A unit arrived from the sender of `direction` at `now`. Bounded work: one pass over it.
    pub fn receive(&mut self, direction: Direction, now: Instant, unit: &[u8]) {
        let mut shared = self.control.lock();
        let state = &mut shared[direction.index()];
        state.counters.units_received += 1;
        if state.recorded.len() == MAX_RECORDED_UNITS {
            state.recorded.pop_front();
        }
        state.recorded.push_back(unit.to_vec());
        let faults = state.faults;
        let queue = &mut self.delayed[direction.index()];
        if faults.cut || queue.len() >= MAX_DELAYED_UNITS {
            state.counters.units_dropped += 1;
            state.counters.bytes_dropped += unit.len() as u64;
            return;
        }
        let mut unit = unit.to_vec();
        if faults.corrupt_one_in > 0 && !unit.is_empty() {
            let one_in = u64::from(faults.corrupt_one_in);
            match self.granularity {
                Granularity::Bytes => {
                    for byte in unit.iter_mut() {
                        if self.rng.below(one_in) == 0 {
                            *byte ^= 1 << self.rng.below(8);
                            state.counters.bits_flipped += 1;
                        }
                    }
                }
                Granularity::Datagrams => {
                    if self.rng.below(one_in) == 0 {
                        let at = self.rng.below(unit.len() as u64) as usize;
                        unit[at] ^= 1 << self.rng.below(8);
                        state.counters.bits_flipped += 1;
                    }
                }
            }
        }
        // Never earlier than the unit ahead of it: shortening a delay must not reorder.
        let mut due = now + Duration::from_millis(faults.delay_ms);
        if let Some((last_due, _)) = queue.back() {
            due = due.max(*last_due);
        }
        queue.push_back((due, unit));
    }

    /// The next unit to write to the receiving end of `direction` at `now`: injected units
    /// first, then delayed units whose time has come. Units found while the direction is cut
    /// are dropped here.
    pub fn take_due(&mut self, direction: Direction, now: Instant) -> Option<Vec<u8>> {
        let mut shared = self.control.lock();
        let state = &mut shared[direction.index()];
        if let Some(unit) = state.inject.pop_front() {
            state.counters.units_injected += 1;
            return Some(unit);
        }
        let queue = &mut self.delayed[direction.index()];
        while let Some((due, _)) = queue.front() {
            if *due > now {
                return None;
            }
            let (_, unit) = queue.pop_front().expect("front exists");
            if state.faults.cut {
                state.counters.units_dropped += 1;
                state.counters.bytes_dropped += unit.len() as u64;
                continue;
            }
            return Some(unit);
        }
        None
    }

    /// Report that `written` of the `len` bytes of a unit taken from `take_due` reached the
    /// receiver; a short write counts the unit as dropped.
    pub fn delivered(&mut self, direction: Direction, written: usize, len: usize) {
        assert!(written <= len);
        let mut shared = self.control.lock();
        let counters = &mut shared[direction.index()].counters;
        if written == len {
            counters.units_forwarded += 1;
            counters.bytes_forwarded += len as u64;
        } else {
            counters.units_dropped += 1;
            counters.bytes_dropped += (len - written) as u64;
            counters.bytes_forwarded += written as u64;
        }
    }

    /// The earliest instant a delayed unit becomes due, if any is held.
    pub fn next_due(&self) -> Option<Instant> {
        self.delayed.iter().filter_map(|queue| queue.front().map(|(due, _)| *due)).min()
    }
}

/// The two sides of a transport as the proxy loop sees them. Side 0 is end A (its input feeds
/// `AToB`, its output receives `BToA`), side 1 is end B.
trait Transport {
    fn fds(&self) -> [std::os::fd::BorrowedFd<'_>; 2];
    /// Read one unit from `direction`'s sender; `Ok(None)` when nothing is waiting.
    fn read(&mut self, direction: Direction, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Write one unit to `direction`'s receiver; returns the bytes it took.
    fn write(&mut self, direction: Direction, unit: &[u8]) -> usize;
    fn max_unit_bytes(&self) -> usize;
}

fn run_proxy<T: Transport>(mut transport: T, mut pump: Pump, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; transport.max_unit_bytes()];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        for direction in Direction::BOTH {
            while let Some(unit) = pump.take_due(direction, now) {
                let written = transport.write(direction, &unit);
                pump.delivered(direction, written, unit.len());
            }
        }
        let mut wait = Duration::from_millis(POLL_TICK_MS);
        if let Some(due) = pump.next_due() {
            wait = wait.min(due.saturating_duration_since(Instant::now()));
        }
        let timeout = Timespec { tv_sec: 0, tv_nsec: wait.as_nanos() as _ };
        let readable = {
            let [fd_a, fd_b] = transport.fds();
            let mut fds = [PollFd::new(&fd_a, PollFlags::IN), PollFd::new(&fd_b, PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(_) => [!fds[0].revents().is_empty(), !fds[1].revents().is_empty()],
                Err(_) => [false, false],
            }
        };
        for (side, direction) in Direction::BOTH.into_iter().enumerate() {
            if !readable[side] {
                continue;
            }
            let mut error = false;
            for _ in 0..MAX_READS_PER_TURN {
                match transport.read(direction, &mut buf) {
                    Ok(Some(len)) => pump.receive(direction, Instant::now(), &buf[..len]),
                    Ok(None) => break,
                    Err(_) => {
                        error = true;
                        break;
                    }
                }
            }
            if error {
                // A side in a persistent error state (a hung-up pty) would make poll return at
                // once forever; rest for a tick instead of spinning.
                std::thread::sleep(Duration::from_millis(POLL_TICK_MS));
            }
        }
    }
}

/// SCHED_FIFO priority of proxy threads started from now on (0: normal scheduling).
static PROXY_REALTIME_PRIORITY: AtomicU8 = AtomicU8::new(0);

/// Run the proxy threads of cables made from now on at SCHED_FIFO `priority` (1..=99; 0 for
/// normal scheduling). A cable stands in for a wire, which no load on the machine delays: when
/// the agents run real-time, a proxy at normal priority would measure its own starvation
/// under load, not theirs (`make bench`'s load check). Needs root; without it the proxies
/// keep normal scheduling.
pub fn set_proxy_realtime_priority(priority: u8) {
    assert!(priority <= 99, "SCHED_FIFO priorities are 1..=99");
    PROXY_REALTIME_PRIORITY.store(priority, Ordering::Relaxed);
}

/// The proxy thread of a cable and its stop flag; stopping is joining.
struct ProxyThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl ProxyThread {
    fn spawn<T: Transport + Send + 'static>(name: String, transport: T, pump: Pump) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let priority = PROXY_REALTIME_PRIORITY.load(Ordering::Relaxed);
        let handle = std::thread::Builder::new().name(name).spawn(move || {
            if priority > 0 {
                // Applies to this thread only (sched_setscheduler with pid 0 on Linux).
                if let Err(e) = ha_agent::shell::sys::set_realtime_priority(priority) {
                    log::warn!("cable proxy: no real-time priority ({e})");
                }
            }
            run_proxy(transport, pump, flag)
        })?;
        Ok(ProxyThread { stop, handle: Some(handle) })
    }
}

impl Drop for ProxyThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// One pseudo-terminal pair. The proxy reads and writes the master; an agent opens the slave.
struct Pty {
    master: OwnedFd,
    /// Held open so that the master never sees a hang-up (EIO) while the agent closes and
    /// reopens its end, and so that the slave's raw termios survive that.
    _slave: OwnedFd,
    slave_path: PathBuf,
}

impl Pty {
    fn open() -> io::Result<Pty> {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let name = rustix::pty::ptsname(&master, Vec::new())?;
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )?;
        // The line discipline lives on the slave side (termios requests on a Linux master act
        // on the slave too): raw mode means no echo, no CR/LF translation, no signals, 8 bits.
        let mut termios = rustix::termios::tcgetattr(&slave)?;
        termios.make_raw();
        rustix::termios::tcsetattr(&slave, OptionalActions::Now, &termios)?;
        let flags = rustix::fs::fcntl_getfl(&master)?;
        rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK)?;
        let slave_path = PathBuf::from(name.to_str().map_err(|_| io::Error::other("ptsname is not UTF-8"))?);
        Ok(Pty { master, _slave: slave, slave_path })
    }
}

struct PtyTransport {
    a: Pty,
    b: Pty,
}

impl PtyTransport {
    fn sender(&self, direction: Direction) -> &Pty {
        match direction {
            Direction::AToB => &self.a,
            Direction::BToA => &self.b,
        }
    }

    fn receiver(&self, direction: Direction) -> &Pty {
        match direction {
            Direction::AToB => &self.b,
            Direction::BToA => &self.a,
        }
    }
}

impl Transport for PtyTransport {
    fn fds(&self) -> [std::os::fd::BorrowedFd<'_>; 2] {
        [self.a.master.as_fd(), self.b.master.as_fd()]
    }

    fn read(&mut self, direction: Direction, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match rustix::io::read(&self.sender(direction).master, buf) {
            Ok(0) => Ok(None),
            Ok(len) => Ok(Some(len)),
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => Ok(None),
            Err(errno) => Err(errno.into()),
        }
    }

    fn write(&mut self, direction: Direction, unit: &[u8]) -> usize {
        // A receiver that does not read fills the pty buffer: the rest is dropped, as a UART
        // overrun would drop it, rather than blocking the other direction.
        let master = &self.receiver(direction).master;
        let mut written = 0;
        while written < unit.len() {
            match rustix::io::write(master, &unit[written..]) {
                Ok(0) => break,
                Ok(len) => written += len,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
        }
        written
    }

    fn max_unit_bytes(&self) -> usize {
        MAX_SERIAL_CHUNK_BYTES
    }
}

/// A serial cable between two agents: two pty pairs joined by the proxy thread.
pub struct SerialCable {
    /// The device path end A's agent opens.
    pub end_a: PathBuf,
    /// The device path end B's agent opens.
    pub end_b: PathBuf,
    control: CableControl,
    _thread: ProxyThread,
}

impl SerialCable {
    pub fn new() -> io::Result<SerialCable> {
        SerialCable::with_seed(DEFAULT_SEED)
    }

    pub fn with_seed(seed: u64) -> io::Result<SerialCable> {
        let transport = PtyTransport { a: Pty::open()?, b: Pty::open()? };
        let end_a = transport.a.slave_path.clone();
        let end_b = transport.b.slave_path.clone();
        let control = CableControl::default();
        let pump = Pump::new(control.clone(), Granularity::Bytes, seed);
        let thread = ProxyThread::spawn("serial-cable".to_string(), transport, pump)?;
        Ok(SerialCable { end_a, end_b, control, _thread: thread })
    }

    pub fn control(&self) -> CableControl {
        self.control.clone()
    }
}

struct UdpTransport {
    /// Receives from agent A (`port_for_a`); sends to agent A.
    socket_a: UdpSocket,
    /// Receives from agent B (`port_for_b`); sends to agent B.
    socket_b: UdpSocket,
    agent_a: SocketAddr,
    agent_b: SocketAddr,
}

impl Transport for UdpTransport {
    fn fds(&self) -> [std::os::fd::BorrowedFd<'_>; 2] {
        [self.socket_a.as_fd(), self.socket_b.as_fd()]
    }

    fn read(&mut self, direction: Direction, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let socket = match direction {
            Direction::AToB => &self.socket_a,
            Direction::BToA => &self.socket_b,
        };
        match socket.recv_from(buf) {
            Ok((len, _source)) => Ok(Some(len)),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(None),
            // ICMP errors from an agent that is not listening yet: nothing to read.
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => Ok(None),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn write(&mut self, direction: Direction, unit: &[u8]) -> usize {
        let (socket, target) = match direction {
            Direction::AToB => (&self.socket_b, self.agent_b),
            Direction::BToA => (&self.socket_a, self.agent_a),
        };
        // A failed send (an agent not listening yet) delivers nothing: counted as dropped.
        socket.send_to(unit, target).unwrap_or(0)
    }

    fn max_unit_bytes(&self) -> usize {
        MAX_DATAGRAM_BYTES
    }
}

/// A UDP path between two agents on loopback, through two proxy sockets.
pub struct UdpCable {
    /// Where agent A must send (A's `remote`); the proxy forwards to agent B from `port_for_b`.
    pub port_for_a: SocketAddr,
    /// Where agent B must send (B's `remote`); the proxy forwards to agent A from `port_for_a`.
    pub port_for_b: SocketAddr,
    control: CableControl,
    _thread: ProxyThread,
}

impl UdpCable {
    /// `agent_a` and `agent_b` are the agents' own `local` addresses.
    pub fn new(agent_a: SocketAddr, agent_b: SocketAddr) -> io::Result<UdpCable> {
        UdpCable::with_seed(agent_a, agent_b, DEFAULT_SEED)
    }

    pub fn with_seed(agent_a: SocketAddr, agent_b: SocketAddr, seed: u64) -> io::Result<UdpCable> {
        let socket_a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let socket_b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        socket_a.set_nonblocking(true)?;
        socket_b.set_nonblocking(true)?;
        let port_for_a = socket_a.local_addr()?;
        let port_for_b = socket_b.local_addr()?;
        let transport = UdpTransport { socket_a, socket_b, agent_a, agent_b };
        let control = CableControl::default();
        let pump = Pump::new(control.clone(), Granularity::Datagrams, seed);
        let thread = ProxyThread::spawn("udp-cable".to_string(), transport, pump)?;
        Ok(UdpCable { port_for_a, port_for_b, control, _thread: thread })
    }

    pub fn control(&self) -> CableControl {
        self.control.clone()
    }
}

/// Split a recorded serial byte stream into the complete frames it carries: the byte runs that
/// lie between two 0x00 delimiters (delimiters excluded, empty runs skipped). The bytes before
/// the first delimiter are dropped: the recording may have started mid-frame.
pub fn complete_serial_frames(chunks: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let stream: Vec<u8> = chunks.concat();
    let mut frames = Vec::new();
    let mut start: Option<usize> = None;
    for (index, byte) in stream.iter().enumerate() {
        if *byte == 0 {
            if let Some(from) = start {
                if index > from {
                    frames.push(stream[from..index].to_vec());
                }
            }
            start = Some(index + 1);
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{File, OpenOptions};
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;

    /// Long enough for a loaded two-core machine; only reached when a test fails.
    const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

    fn open_end(path: &PathBuf) -> File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags((OFlags::NOCTTY | OFlags::NONBLOCK).bits() as i32)
            .open(path)
            .expect("open pty slave")
    }

    /// Read from a non-blocking end until `want` bytes arrived or `timeout` passed.
    fn read_for(end: &mut File, want: usize, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while got.len() < want && Instant::now() < deadline {
            match end.read(&mut buf) {
                Ok(len) if len > 0 => got.extend_from_slice(&buf[..len]),
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        got
    }

    fn udp_end() -> UdpSocket {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        socket
    }

    fn recv_for(socket: &UdpSocket, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            if let Ok(len) = socket.recv(&mut buf) {
                return Some(buf[..len].to_vec());
            }
        }
        None
    }

    /// Every byte value, so that any echo or CR/LF translation would show.
    fn all_byte_values() -> Vec<u8> {
        (0..=255u8).collect()
    }

    #[test]
    fn serial_bytes_pass_both_ways_untranslated() {
        let cable = SerialCable::new().unwrap();
        assert_ne!(cable.end_a, cable.end_b);
        let mut a = open_end(&cable.end_a);
        let mut b = open_end(&cable.end_b);
        let payload = all_byte_values();
        a.write_all(&payload).unwrap();
        assert_eq!(read_for(&mut b, payload.len(), RECEIVE_TIMEOUT), payload);
        let reply = b"\r\n\x00reply\x03\x1a";
        b.write_all(reply).unwrap();
        assert_eq!(read_for(&mut a, reply.len(), RECEIVE_TIMEOUT), reply);
        // Nothing echoed back to the senders.
        assert!(read_for(&mut a, 1, Duration::from_millis(100)).is_empty());
        assert!(read_for(&mut b, 1, Duration::from_millis(100)).is_empty());
        let counters = cable.control().counters(Direction::AToB);
        assert_eq!(counters.bytes_forwarded, payload.len() as u64);
        assert_eq!(counters.units_dropped, 0);
    }

    #[test]
    fn serial_end_can_be_closed_and_reopened() {
        let cable = SerialCable::new().unwrap();
        let mut b = open_end(&cable.end_b);
        {
            let mut a = open_end(&cable.end_a);
            a.write_all(b"first").unwrap();
            assert_eq!(read_for(&mut b, 5, RECEIVE_TIMEOUT), b"first");
        }
        let mut a = open_end(&cable.end_a);
        a.write_all(b"second").unwrap();
        assert_eq!(read_for(&mut b, 6, RECEIVE_TIMEOUT), b"second");
    }

    #[test]
    fn serial_cut_drops_one_direction_only() {
        let cable = SerialCable::new().unwrap();
        let control = cable.control();
        let mut a = open_end(&cable.end_a);
        let mut b = open_end(&cable.end_b);
        control.set_cut(Direction::AToB, true);
        a.write_all(b"lost").unwrap();
        b.write_all(b"kept").unwrap();
        assert_eq!(read_for(&mut a, 4, RECEIVE_TIMEOUT), b"kept");
        // A->B: the proxy has read the bytes (counted as dropped) and delivered nothing.
        let deadline = Instant::now() + RECEIVE_TIMEOUT;
        while control.counters(Direction::AToB).bytes_dropped < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(control.counters(Direction::AToB).bytes_dropped, 4);
        assert!(read_for(&mut b, 1, Duration::from_millis(100)).is_empty());
        control.heal();
        a.write_all(b"back").unwrap();
        assert_eq!(read_for(&mut b, 4, RECEIVE_TIMEOUT), b"back");
    }

    #[test]
    fn serial_delay_holds_bytes_for_the_delay() {
        let cable = SerialCable::new().unwrap();
        let control = cable.control();
        let mut a = open_end(&cable.end_a);
        let mut b = open_end(&cable.end_b);
        control.set_delay_ms(Direction::AToB, 300);
        let sent_at = Instant::now();
        a.write_all(b"late").unwrap();
        assert!(read_for(&mut b, 1, Duration::from_millis(150)).is_empty());
        assert_eq!(read_for(&mut b, 4, RECEIVE_TIMEOUT), b"late");
        assert!(sent_at.elapsed() >= Duration::from_millis(300), "delivered after {:?}", sent_at.elapsed());
    }

    #[test]
    fn serial_corruption_flips_one_bit_per_corrupted_byte() {
        let cable = SerialCable::new().unwrap();
        let control = cable.control();
        let mut a = open_end(&cable.end_a);
        let mut b = open_end(&cable.end_b);
        control.set_corrupt_one_in(Direction::AToB, 1);
        let payload = all_byte_values();
        a.write_all(&payload).unwrap();
        let got = read_for(&mut b, payload.len(), RECEIVE_TIMEOUT);
        assert_eq!(got.len(), payload.len());
        for (sent, received) in payload.iter().zip(&got) {
            assert_eq!((sent ^ received).count_ones(), 1, "sent {sent:#04x} received {received:#04x}");
        }
        assert_eq!(control.counters(Direction::AToB).bits_flipped, payload.len() as u64);
    }

    #[test]
    fn serial_inject_reaches_only_the_receiving_end() {
        let cable = SerialCable::new().unwrap();
        let control = cable.control();
        let mut a = open_end(&cable.end_a);
        let mut b = open_end(&cable.end_b);
        control.cut();
        assert!(control.inject(Direction::AToB, b"\x00garbage\x00"));
        assert_eq!(read_for(&mut b, 9, RECEIVE_TIMEOUT), b"\x00garbage\x00");
        assert!(read_for(&mut a, 1, Duration::from_millis(100)).is_empty());
        assert_eq!(control.counters(Direction::AToB).units_injected, 1);
    }

    #[test]
    fn serial_record_keeps_the_stream() {
        let cable = SerialCable::new().unwrap();
        let control = cable.control();
        let mut a = open_end(&cable.end_a);
        let mut b = open_end(&cable.end_b);
        a.write_all(b"\x00one\x00two\x00").unwrap();
        assert_eq!(read_for(&mut b, 9, RECEIVE_TIMEOUT).len(), 9);
        let frames = complete_serial_frames(&control.recorded(Direction::AToB));
        assert_eq!(frames, vec![b"one".to_vec(), b"two".to_vec()]);
        assert!(control.recorded(Direction::BToA).is_empty());
    }

    #[test]
    fn udp_datagrams_pass_both_ways_and_cut_is_one_way() {
        let agent_a = udp_end();
        let agent_b = udp_end();
        let cable = UdpCable::new(agent_a.local_addr().unwrap(), agent_b.local_addr().unwrap()).unwrap();
        let control = cable.control();
        agent_a.send_to(b"ping", cable.port_for_a).unwrap();
        assert_eq!(recv_for(&agent_b, RECEIVE_TIMEOUT).unwrap(), b"ping");
        agent_b.send_to(b"pong", cable.port_for_b).unwrap();
        assert_eq!(recv_for(&agent_a, RECEIVE_TIMEOUT).unwrap(), b"pong");

        control.set_cut(Direction::BToA, true);
        agent_b.send_to(b"lost", cable.port_for_b).unwrap();
        agent_a.send_to(b"kept", cable.port_for_a).unwrap();
        assert_eq!(recv_for(&agent_b, RECEIVE_TIMEOUT).unwrap(), b"kept");
        assert_eq!(recv_for(&agent_a, Duration::from_millis(200)), None);
        assert_eq!(control.counters(Direction::BToA).units_dropped, 1);
        assert_eq!(control.counters(Direction::AToB).units_forwarded, 2);
    }

    #[test]
    fn udp_corruption_flips_exactly_one_bit_per_datagram() {
        let agent_a = udp_end();
        let agent_b = udp_end();
        let cable = UdpCable::new(agent_a.local_addr().unwrap(), agent_b.local_addr().unwrap()).unwrap();
        cable.control().set_corrupt_one_in(Direction::AToB, 1);
        let payload = [0x55u8; 40];
        for _ in 0..10 {
            agent_a.send_to(&payload, cable.port_for_a).unwrap();
            let got = recv_for(&agent_b, RECEIVE_TIMEOUT).unwrap();
            let flipped: u32 = payload.iter().zip(&got).map(|(x, y)| (x ^ y).count_ones()).sum();
            assert_eq!(flipped, 1);
        }
    }

    #[test]
    fn udp_inject_record_and_delay() {
        let agent_a = udp_end();
        let agent_b = udp_end();
        let cable = UdpCable::new(agent_a.local_addr().unwrap(), agent_b.local_addr().unwrap()).unwrap();
        let control = cable.control();
        let total = MAX_RECORDED_UNITS + 10;
        for index in 0..total {
            agent_a.send_to(&(index as u32).to_be_bytes(), cable.port_for_a).unwrap();
            assert_eq!(recv_for(&agent_b, RECEIVE_TIMEOUT).unwrap(), (index as u32).to_be_bytes());
        }
        let recorded = control.recorded(Direction::AToB);
        let expected: Vec<Vec<u8>> = (10..total).map(|index| (index as u32).to_be_bytes().to_vec()).collect();
        assert_eq!(recorded, expected);

        // Replaying the last recorded datagram towards B.
        assert!(control.inject(Direction::AToB, recorded.last().unwrap()));
        assert_eq!(recv_for(&agent_b, RECEIVE_TIMEOUT).unwrap(), recorded.last().unwrap().as_slice());
        // Injecting towards A.
        assert!(control.inject(Direction::BToA, b"to-a"));
        assert_eq!(recv_for(&agent_a, RECEIVE_TIMEOUT).unwrap(), b"to-a");

        control.set_delay_ms(Direction::BToA, 250);
        let sent_at = Instant::now();
        agent_b.send_to(b"slow", cable.port_for_b).unwrap();
        assert_eq!(recv_for(&agent_a, RECEIVE_TIMEOUT).unwrap(), b"slow");
        assert!(sent_at.elapsed() >= Duration::from_millis(250));
    }

    #[test]
    fn udp_drop_stops_the_proxy_and_frees_its_ports() {
        let agent_a = udp_end();
        let agent_b = udp_end();
        let cable = UdpCable::new(agent_a.local_addr().unwrap(), agent_b.local_addr().unwrap()).unwrap();
        let ports = [cable.port_for_a, cable.port_for_b];
        drop(cable);
        for port in ports {
            UdpSocket::bind(port).expect("the proxy released its socket");
        }
    }

    #[test]
    fn pump_delay_never_reorders_and_cut_drops_held_units() {
        let control = CableControl::default();
        let mut pump = Pump::new(control.clone(), Granularity::Datagrams, 7);
        let start = Instant::now();
        control.set_delay_ms(Direction::AToB, 100);
        pump.receive(Direction::AToB, start, b"first");
        control.set_delay_ms(Direction::AToB, 0);
        pump.receive(Direction::AToB, start, b"second");
        assert_eq!(pump.take_due(Direction::AToB, start), None);
        assert_eq!(pump.next_due(), Some(start + Duration::from_millis(100)));
        let later = start + Duration::from_millis(100);
        assert_eq!(pump.take_due(Direction::AToB, later).as_deref(), Some(&b"first"[..]));
        control.set_cut(Direction::AToB, true);
        assert_eq!(pump.take_due(Direction::AToB, later), None);
        assert_eq!(control.counters(Direction::AToB).units_dropped, 1);
        assert_eq!(pump.next_due(), None);
    }

    #[test]
    fn pump_bounds_its_queues() {
        let control = CableControl::default();
        let mut pump = Pump::new(control.clone(), Granularity::Bytes, 7);
        let now = Instant::now();
        control.set_delay_ms(Direction::BToA, 1_000);
        for _ in 0..MAX_DELAYED_UNITS + 5 {
            pump.receive(Direction::BToA, now, b"x");
        }
        let counters = control.counters(Direction::BToA);
        assert_eq!(counters.units_received, (MAX_DELAYED_UNITS + 5) as u64);
        assert_eq!(counters.units_dropped, 5);
        assert_eq!(control.recorded(Direction::BToA).len(), MAX_RECORDED_UNITS);
        for _ in 0..MAX_INJECT_QUEUE {
            assert!(control.inject(Direction::AToB, b"y"));
        }
        assert!(!control.inject(Direction::AToB, b"y"));
    }

    #[test]
    fn xorshift_is_reproducible_and_bounded() {
        let mut first = XorShift::new(42);
        let mut second = XorShift::new(42);
        let drawn: Vec<u64> = (0..100).map(|_| first.below(8)).collect();
        assert_eq!(drawn, (0..100).map(|_| second.below(8)).collect::<Vec<_>>());
        assert!(drawn.iter().all(|value| *value < 8));
        assert!(drawn.iter().any(|value| *value != drawn[0]));
    }
}
