//! The serial link when its output cannot drain (a receiver that does not read, a UART that
//! cannot transmit): a pty whose master side nobody reads. The frame that does not fit is
//! dropped as `WouldBlock`, whether nothing or part of it was written, so the shell never
//! reopens the port for it (closing a tty with output pending waits up to its `closing_wait`,
//! 30 s, longer than the hardware watchdog: the rack saw members reset that way); the port
//! stays open and carries frames again once the line drains.

use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use ha_agent::links::serial::SerialLink;
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::OptionalActions;

/// Bound on the frames sent before the pty's buffer must be full (it holds a few KiB).
const MAX_FRAMES: usize = 10_000;

fn pty() -> (OwnedFd, OwnedFd, PathBuf) {
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    // Held open so that the slave's raw termios survive the link's reopen.
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .unwrap();
    let mut termios = rustix::termios::tcgetattr(&slave).unwrap();
    termios.make_raw();
    rustix::termios::tcsetattr(&slave, OptionalActions::Now, &termios).unwrap();
    let flags = rustix::fs::fcntl_getfl(&master).unwrap();
    rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK).unwrap();
    (master, slave, PathBuf::from(name.to_str().unwrap()))
}

fn drain(master: &OwnedFd) -> usize {
    let mut total = 0;
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(master, &mut buf) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

#[test]
fn a_full_output_buffer_drops_frames_as_would_block_and_keeps_the_port_open() {
    let (master, _slave, path) = pty();
    let mut link = SerialLink::new(&path, 115_200);
    link.reopen().expect("the pty's slave opens as a serial port");
    // Frames of different lengths, so that one of them is cut short by the buffer's end.
    let mut errors: Vec<io::Error> = Vec::new();
    let mut sent = 0;
    for i in 0..MAX_FRAMES {
        let frame = vec![0x5a; 40 + (i % 7) * 13];
        match link.send(&frame) {
            Ok(()) => sent += 1,
            Err(e) => {
                errors.push(e);
                if errors.len() == 20 {
                    break;
                }
            }
        }
    }
    assert!(sent > 0, "no frame fitted at all");
    assert!(!errors.is_empty(), "the buffer never filled after {sent} frames");
    for e in &errors {
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "a full buffer is not a broken port: {e}");
    }
    assert!(link.is_open(), "the port stays open");
    // The line drains: frames go out again on the same descriptor.
    let drained = drain(&master);
    assert!(drained > 0, "the master read nothing of {sent} frames");
    link.send(&[0x11; 64]).expect("a frame fits once the line drained");
    // Closing with output pending returns (the pending bytes are discarded first).
    for _ in 0..MAX_FRAMES {
        if link.send(&[0x22; 100]).is_err() {
            break;
        }
    }
    link.close();
    assert!(!link.is_open());
    println!("{sent} frames fitted, then {} dropped as WouldBlock", errors.len());
}
