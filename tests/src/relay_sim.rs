//! Relay board simulators on pseudo-terminals, for the relay driver tests.
//!
//! Owns one simulated board per [`RelaySim`]: a pty whose slave path the driver opens as its
//! serial port, and a thread that speaks the board's protocol on the master side (LCUS
//! 4-byte, KMtronic, Numato text, Modbus RTU coils), with injectable faults: no answer, wrong
//! answer, stuck relay, slow relay, garbage. The protocol code here is written independently
//! of the agent's codecs (on purpose: a shared bug would otherwise pass every test). It does
//! not know about fencing; tests read the relay state and the bytes received to judge.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;

/// Relays on a simulated board (Numato's largest index is 35).
pub const SIM_RELAYS: usize = 36;
/// Bound on the received-bytes log.
const MAX_LOG_BYTES: usize = 4096;
/// Bound on buffered, unparsed request bytes; more is dropped as line noise.
const MAX_PENDING_BYTES: usize = 256;
/// Poll interval of the simulator thread (how fast it notices `stop`).
const POLL_MS: i64 = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimBoard {
    /// `status_query`: the board answers `FF` with text lines `CH<n>:ON|OFF`.
    Lcus {
        status_query: bool,
    },
    Kmtronic,
    Numato,
    Modbus {
        address: u8,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The board is dead: it ignores every request.
    NoAnswer,
    /// Well-formed answers to something else (other relay, other address, other text).
    WrongAnswer,
    /// Commands are acknowledged, but the relay never changes state.
    Stuck,
    /// Everything works, after this delay.
    Slow {
        delay_ms: u64,
    },
    /// Line noise instead of answers; commands are not executed.
    Garbage,
}

/// Noise the garbage fault sends: never a valid frame of any protocol.
pub const GARBAGE: [u8; 7] = [0x13, 0x37, 0xFE, 0x00, 0x99, 0xC3, 0x0A];

struct Shared {
    relays: [bool; SIM_RELAYS],
    fault: Fault,
    received: Vec<u8>,
    requests: u32,
}

pub struct RelaySim {
    path: PathBuf,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _slave: OwnedFd,
}

impl RelaySim {
    /// Start a board with every relay on (servers powered).
    pub fn start(board: SimBoard) -> io::Result<RelaySim> {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let name = rustix::pty::ptsname(&master, Vec::new())?;
        let path = PathBuf::from(name.to_string_lossy().into_owned());
        // Keep one slave descriptor open so the master never sees a hangup between the
        // driver's opens, and make the line raw before the driver arrives.
        let slave = rustix::fs::open(&path, OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?;
        let mut t = rustix::termios::tcgetattr(&slave)?;
        t.make_raw();
        rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t)?;
        let flags = rustix::fs::fcntl_getfl(&master)?;
        rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK)?;
        let shared = Arc::new(Mutex::new(Shared {
            relays: [true; SIM_RELAYS],
            fault: Fault::None,
            received: Vec::new(),
            requests: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || serve(master, board, shared, stop))
        };
        Ok(RelaySim { path, shared, stop, thread: Some(thread), _slave: slave })
    }

    /// The serial device path to give the driver.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn set_fault(&self, fault: Fault) {
        self.shared.lock().unwrap().fault = fault;
    }

    /// Whether relay `index` (as the protocol numbers it) is on.
    pub fn relay(&self, index: usize) -> bool {
        self.shared.lock().unwrap().relays[index]
    }

    pub fn set_relay(&self, index: usize, on: bool) {
        self.shared.lock().unwrap().relays[index] = on;
    }

    /// Every byte the board received so far (bounded), and forget them.
    pub fn take_received(&self) -> Vec<u8> {
        std::mem::take(&mut self.shared.lock().unwrap().received)
    }

    /// Complete requests parsed so far (whatever the fault did with them).
    pub fn requests(&self) -> u32 {
        self.shared.lock().unwrap().requests
    }
}

impl Drop for RelaySim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a parsed request asks for.
enum Request {
    Set {
        index: usize,
        on: bool,
    },
    Read {
        index: usize,
    },
    /// LCUS `FF`: all relays.
    ReadAll,
}

/// A request as parsed from the stream, with what a healthy board answers, given the state
/// after executing it (computed by `answer`).
struct Parsed {
    request: Request,
    /// Bytes of the request (for echoes).
    raw: Vec<u8>,
}

fn serve(master: OwnedFd, board: SimBoard, shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>) {
    let mut pending: Vec<u8> = Vec::new();
    let ts = rustix::time::Timespec { tv_sec: 0, tv_nsec: POLL_MS * 1_000_000 };
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(&master, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(_) => continue,
            Ok(_) => {}
        }
        let mut chunk = [0u8; 256];
        let n = match rustix::io::read(&master, &mut chunk) {
            Ok(n) => n,
            // EIO while no slave is open (cannot happen while we hold one), EAGAIN: retry.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(POLL_MS as u64));
                continue;
            }
        };
        {
            let mut s = shared.lock().unwrap();
            let room = MAX_LOG_BYTES.saturating_sub(s.received.len());
            s.received.extend_from_slice(&chunk[..n.min(room)]);
        }
        pending.extend_from_slice(&chunk[..n]);
        if pending.len() > MAX_PENDING_BYTES {
            pending.clear();
        }
        while let Some(parsed) = parse(board, &mut pending) {
            let fault = {
                let mut s = shared.lock().unwrap();
                s.requests += 1;
                s.fault
            };
            if let Fault::Slow { delay_ms } = fault {
                std::thread::sleep(Duration::from_millis(delay_ms));
            }
            let reply = {
                let mut s = shared.lock().unwrap();
                execute(board, fault, &parsed, &mut s.relays)
            };
            if !reply.is_empty() {
                write_all(&master, &reply);
            }
        }
    }
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {
                let mut fds = [PollFd::new(fd, PollFlags::OUT)];
                let _ = poll(&mut fds, None);
            }
            Err(_) => return,
        }
    }
}

/// Take one complete request off the front of `pending`, resynchronising on noise.
fn parse(board: SimBoard, pending: &mut Vec<u8>) -> Option<Parsed> {
    loop {
        match board {
            SimBoard::Lcus { status_query } => {
                let first = *pending.first()?;
                if first == 0xFF && status_query {
                    pending.remove(0);
                    return Some(Parsed { request: Request::ReadAll, raw: vec![0xFF] });
                }
                if first != 0xA0 {
                    pending.remove(0);
                    continue;
                }
                if pending.len() < 4 {
                    return None;
                }
                let f: Vec<u8> = pending.drain(..4).collect();
                if f[0].wrapping_add(f[1]).wrapping_add(f[2]) != f[3] || f[2] > 1 {
                    continue;
                }
                return Some(Parsed {
                    request: Request::Set { index: usize::from(f[1]), on: f[2] == 1 },
                    raw: f,
                });
            }
            SimBoard::Kmtronic => {
                if *pending.first()? != 0xFF {
                    pending.remove(0);
                    continue;
                }
                if pending.len() < 3 {
                    return None;
                }
                let f: Vec<u8> = pending.drain(..3).collect();
                let index = usize::from(f[1]);
                if index >= SIM_RELAYS {
                    continue;
                }
                let request = match f[2] {
                    0 => Request::Set { index, on: false },
                    1 => Request::Set { index, on: true },
                    3 => Request::Read { index },
                    _ => continue,
                };
                return Some(Parsed { request, raw: f });
            }
            SimBoard::Numato => {
                let end = pending.iter().position(|&b| b == b'\r')?;
                let line: Vec<u8> = pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]).trim().to_string();
                let words: Vec<&str> = text.split(' ').collect();
                let index = match words.get(2).and_then(|w| w.chars().next()) {
                    Some(c @ '0'..='9') => c as usize - '0' as usize,
                    Some(c @ 'A'..='Z') => c as usize - 'A' as usize + 10,
                    _ => continue,
                };
                let request = match (words.first(), words.get(1), words.len()) {
                    (Some(&"relay"), Some(&"on"), 3) => Request::Set { index, on: true },
                    (Some(&"relay"), Some(&"off"), 3) => Request::Set { index, on: false },
                    (Some(&"relay"), Some(&"read"), 3) => Request::Read { index },
                    _ => continue,
                };
                return Some(Parsed { request, raw: text.into_bytes() });
            }
            SimBoard::Modbus { address } => {
                if pending.len() < 8 {
                    return None;
                }
                let f: Vec<u8> = pending[..8].to_vec();
                if sim_crc(&f[..6]).to_le_bytes() != [f[6], f[7]] || f[0] != address {
                    // A real slave ignores frames with a bad CRC or another address; drop one
                    // byte and look for a frame boundary again.
                    pending.remove(0);
                    continue;
                }
                pending.drain(..8);
                let register = usize::from(u16::from_be_bytes([f[2], f[3]]));
                let value = u16::from_be_bytes([f[4], f[5]]);
                let request = match (f[1], value) {
                    (0x05, 0xFF00) => Request::Set { index: register, on: true },
                    (0x05, 0x0000) => Request::Set { index: register, on: false },
                    (0x01, 1) => Request::Read { index: register },
                    _ => continue,
                };
                if register >= SIM_RELAYS {
                    continue;
                }
                return Some(Parsed { request, raw: f });
            }
        }
    }
}

/// CRC-16/MODBUS, written here independently of the agent's.
pub fn sim_crc(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for byte in data {
        crc ^= *byte as u16;
        for _ in 0..8 {
            let lsb = crc & 0x0001;
            crc >>= 1;
            if lsb == 1 {
                crc ^= 0xA001;
            }
        }
    }
    crc
}

fn modbus_frame(body: &[u8]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.extend_from_slice(&sim_crc(body).to_le_bytes());
    v
}

/// Apply the request under `fault` and build the reply bytes.
fn execute(board: SimBoard, fault: Fault, parsed: &Parsed, relays: &mut [bool; SIM_RELAYS]) -> Vec<u8> {
    match fault {
        Fault::NoAnswer => return Vec::new(),
        Fault::Garbage => return GARBAGE.to_vec(),
        _ => {}
    }
    if let Request::Set { index, on } = parsed.request {
        if fault != Fault::Stuck && index < SIM_RELAYS {
            relays[index] = on;
        }
    }
    let wrong = fault == Fault::WrongAnswer;
    match (board, &parsed.request) {
        (SimBoard::Lcus { .. }, Request::ReadAll) => {
            if wrong {
                // A valid frame about a relay this board does not have.
                return vec![0xA0, 0x09, 0x01, 0xAA];
            }
            let mut text = String::new();
            for (i, on) in relays.iter().enumerate().skip(1).take(2) {
                text.push_str(&format!("CH{i}:{}\r\n", if *on { "ON" } else { "OFF" }));
            }
            text.into_bytes()
        }
        (SimBoard::Lcus { .. }, _) => Vec::new(),
        (SimBoard::Kmtronic, Request::Read { index }) => {
            let i = if wrong { index + 1 } else { *index };
            vec![0xFF, i as u8, u8::from(relays[*index])]
        }
        (SimBoard::Kmtronic, _) => Vec::new(),
        (SimBoard::Numato, request) => {
            let mut reply = if wrong { b"relay on 7".to_vec() } else { parsed.raw.clone() };
            reply.extend_from_slice(b"\n\r");
            if let Request::Read { index } = request {
                if !wrong {
                    reply.extend_from_slice(if relays[*index] { b"on" } else { b"off" });
                    reply.extend_from_slice(b"\n\r");
                }
            }
            reply.push(b'>');
            reply
        }
        (SimBoard::Modbus { address }, request) => {
            let from = if wrong { address.wrapping_add(1) } else { address };
            match request {
                Request::Read { index } => modbus_frame(&[from, 0x01, 0x01, u8::from(relays[*index])]),
                _ => {
                    let mut echo = parsed.raw[..6].to_vec();
                    echo[0] = from;
                    modbus_frame(&echo)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_crc_matches_devices_md() {
        assert_eq!(
            modbus_frame(&[0x01, 0x05, 0x00, 0x00, 0xFF, 0x00]),
            [0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A]
        );
        assert_eq!(modbus_frame(&[0x01, 0x01, 0x01, 0x41]), [0x01, 0x01, 0x01, 0x41, 0x91, 0xB8]);
    }
}
