//! The datagram's two formats, and real datagrams on loopback: each severity with its PRI, and
//! sends that never wait for a collector that is not there.

use std::time::{Duration, Instant};

use super::*;

/// 2026-12-06 13:52:32.123 UTC.
const WALL_MS: u64 = 1_796_565_152_123;
/// Bound on waiting for a datagram on loopback.
const RECEIVE_LIMIT: Duration = Duration::from_secs(5);

fn origin(format: SyslogFormat) -> Origin<'static> {
    Origin { format, facility: Facility::Daemon, hostname: "node-a", pid: 4242 }
}

#[test]
fn rfc5424_header_and_message() {
    let d = format_datagram(
        &origin(SyslogFormat::Rfc5424),
        WALL_MS,
        log::Level::Warn,
        &format_args!("link 3 down"),
    );
    assert_eq!(d.as_str(), "<28>1 2026-12-06T13:52:32.123Z node-a ha-agent 4242 - - link 3 down");
}

#[test]
fn rfc3164_header_and_message() {
    let d = format_datagram(
        &origin(SyslogFormat::Rfc3164),
        WALL_MS,
        log::Level::Error,
        &format_args!("fence failed"),
    );
    assert_eq!(d.as_str(), "<27>Dec  6 13:52:32 node-a ha-agent[4242]: fence failed");
    let d = format_datagram(&origin(SyslogFormat::Rfc3164), 0, log::Level::Info, &format_args!("x"));
    assert_eq!(d.as_str(), "<30>Jan  1 00:00:00 node-a ha-agent[4242]: x");
}

#[test]
fn every_severity_and_facility_in_the_pri() {
    for (level, severity) in [
        (log::Level::Error, 3),
        (log::Level::Warn, 4),
        (log::Level::Info, 6),
        (log::Level::Debug, 7),
        (log::Level::Trace, 7),
    ] {
        assert_eq!(pri(Facility::Daemon, level), 3 * 8 + severity);
        assert_eq!(pri(Facility::Local7, level), 23 * 8 + severity);
        assert_eq!(pri(Facility::Kern, level), severity);
    }
}

#[test]
fn long_messages_are_cut_and_control_characters_become_spaces() {
    let long = "é".repeat(400);
    let d =
        format_datagram(&origin(SyslogFormat::Rfc5424), WALL_MS, log::Level::Info, &format_args!("{long}"));
    assert!(d.len() <= MAX_DATAGRAM_BYTES && d.ends_with(CUT_MARK), "{d}");
    let d =
        format_datagram(&origin(SyslogFormat::Rfc5424), WALL_MS, log::Level::Info, &format_args!("a\nb\tc"));
    assert!(d.ends_with(" - - a b c"), "{d}");
}

fn config(target: SocketAddr, format: SyslogFormat) -> SyslogConfig {
    SyslogConfig { target, format, facility: Facility::Local3, hostname: None }
}

fn receive(listener: &UdpSocket) -> String {
    let mut buf = [0u8; 2048];
    let n = listener.recv(&mut buf).expect("a datagram within the limit");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[test]
fn a_loopback_collector_receives_each_severity_with_its_pri() {
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener.set_read_timeout(Some(RECEIVE_LIMIT)).unwrap();
    for format in [SyslogFormat::Rfc5424, SyslogFormat::Rfc3164] {
        let remote = Remote::open(&config(listener.local_addr().unwrap(), format), "witness").unwrap();
        let levels = [log::Level::Error, log::Level::Warn, log::Level::Info, log::Level::Debug];
        for level in levels {
            remote.send(WALL_MS, level, &format_args!("{level} from the witness"));
        }
        for (level, severity) in levels.iter().zip([3, 4, 6, 7]) {
            let got = receive(&listener);
            let pri = format!("<{}>", 19 * 8 + severity);
            assert!(got.starts_with(&pri), "{format:?}: {got:?} should start with {pri}");
            assert!(got.contains(" witness ha-agent"), "{got:?}");
            assert!(got.ends_with(&format!("{level} from the witness")), "{got:?}");
        }
        assert_eq!(remote.figures(), (4, 0));
    }
}

#[test]
fn sends_never_wait_for_a_collector_that_is_not_there() {
    // A port nobody listens on: loopback answers "port unreachable", the next send fails.
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let remote = Remote::open(&config(port, SyslogFormat::Rfc5424), "node-b").unwrap();
    const SENDS: u64 = 1000;
    let started = Instant::now();
    for i in 0..SENDS {
        remote.send(WALL_MS, log::Level::Info, &format_args!("line {i}"));
    }
    let (sent, dropped) = remote.figures();
    assert_eq!(sent + dropped, SENDS);
    assert!(dropped > 0, "refused datagrams are counted");
    assert!(started.elapsed() < Duration::from_secs(2), "{SENDS} sends took {:?}", started.elapsed());
}
