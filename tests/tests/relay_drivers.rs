//! Every serial relay driver against its simulator on a pty, in every fault mode; the external
//! fence-agent command against a shell-script agent; the fence procedure end to end; and the
//! `fence-test` console entry.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_agent::devices::fence::{self, FenceAction, FenceOptions, FenceOutcome, SystemClock};
use ha_agent::devices::relay::command::CommandRelay;
use ha_agent::devices::relay::kmtronic::Kmtronic;
use ha_agent::devices::relay::lcus::Lcus;
use ha_agent::devices::relay::modbus::Modbus;
use ha_agent::devices::relay::numato::Numato;
use ha_agent::devices::relay::serial::{open_port, SerialRelay};
use ha_agent::devices::relay::{RelayChannel, RelayError, RelayState, ReplyError};
use ha_tests::relay_sim::{Fault, RelaySim, SimBoard};

/// Exchange timeout for a healthy simulator (a pty answers in well under a millisecond).
const TIMEOUT_MS: u64 = 1000;
/// Exchange timeout in the fault tests that expect a timeout.
const SHORT_TIMEOUT_MS: u64 = 150;
/// Delay of the slow fault: far above SHORT_TIMEOUT_MS, far below TIMEOUT_MS * 4.
const SLOW_MS: u64 = 400;

#[derive(Clone, Copy, Debug)]
enum Kind {
    LcusProbed,
    Kmtronic,
    Numato,
    Modbus,
}

const ALL: [Kind; 4] = [Kind::LcusProbed, Kind::Kmtronic, Kind::Numato, Kind::Modbus];

/// The relay index each test uses, as its protocol numbers it (also the simulator's index).
fn relay_index(kind: Kind) -> usize {
    match kind {
        Kind::LcusProbed | Kind::Kmtronic => 1,
        Kind::Numato => 3,
        Kind::Modbus => 2,
    }
}

fn start(kind: Kind) -> (RelaySim, Box<dyn RelayChannel>) {
    let board = match kind {
        Kind::LcusProbed => SimBoard::Lcus { status_query: true },
        Kind::Kmtronic => SimBoard::Kmtronic,
        Kind::Numato => SimBoard::Numato,
        Kind::Modbus => SimBoard::Modbus { address: 7 },
    };
    let sim = RelaySim::start(board).expect("pty simulator");
    let path = sim.path().to_path_buf();
    let ch = relay_index(kind);
    let channel: Box<dyn RelayChannel> = match kind {
        Kind::LcusProbed => {
            Box::new(SerialRelay::new(&path, 9600, Lcus { channel: ch as u8, status_query: true }))
        }
        Kind::Kmtronic => Box::new(SerialRelay::new(&path, 9600, Kmtronic { channel: ch as u8 })),
        Kind::Numato => Box::new(SerialRelay::new(&path, 9600, Numato { channel: ch as u8 })),
        Kind::Modbus => Box::new(SerialRelay::new(&path, 9600, Modbus { address: 7, coil: ch as u16 })),
    };
    (sim, channel)
}

/// Whether commands to this board are acknowledged (so a dead board shows up at once).
fn commands_answered(kind: Kind) -> bool {
    matches!(kind, Kind::Numato | Kind::Modbus)
}

fn modbus_frame(body: &[u8]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.extend_from_slice(&ha_agent::devices::relay::modbus::crc16(body).to_le_bytes());
    v
}

#[test]
fn golden_bytes_reach_the_wire_and_switch_the_relay() {
    for kind in ALL {
        let (sim, mut relay) = start(kind);
        let ch = relay_index(kind);
        // Unacknowledged commands return once written: wait for the board to have parsed them.
        relay.power_off(TIMEOUT_MS).unwrap_or_else(|e| panic!("{kind:?} off: {e}"));
        wait_for(|| sim.requests() == 1);
        let off = sim.take_received();
        assert_eq!(relay.read_state(TIMEOUT_MS), Ok(RelayState::Off), "{kind:?}");
        let read = sim.take_received();
        relay.power_on(TIMEOUT_MS).unwrap();
        wait_for(|| sim.requests() == 3);
        let on = sim.take_received();
        assert_eq!(relay.read_state(TIMEOUT_MS), Ok(RelayState::On), "{kind:?}");
        assert!(sim.relay(ch), "{kind:?}: relay back on");
        let (want_off, want_read, want_on): (Vec<u8>, Vec<u8>, Vec<u8>) = match kind {
            Kind::LcusProbed => (vec![0xA0, 0x01, 0x00, 0xA1], vec![0xFF], vec![0xA0, 0x01, 0x01, 0xA2]),
            Kind::Kmtronic => (vec![0xFF, 0x01, 0x00], vec![0xFF, 0x01, 0x03], vec![0xFF, 0x01, 0x01]),
            Kind::Numato => (b"relay off 3\r".to_vec(), b"relay read 3\r".to_vec(), b"relay on 3\r".to_vec()),
            Kind::Modbus => (
                modbus_frame(&[0x07, 0x05, 0x00, 0x02, 0x00, 0x00]),
                modbus_frame(&[0x07, 0x01, 0x00, 0x02, 0x00, 0x01]),
                modbus_frame(&[0x07, 0x05, 0x00, 0x02, 0xFF, 0x00]),
            ),
        };
        assert_eq!((off, read, on), (want_off, want_read, want_on), "{kind:?}");
    }
}

#[test]
fn modbus_wire_frame_matches_devices_md() {
    let sim = RelaySim::start(SimBoard::Modbus { address: 1 }).unwrap();
    let mut relay = SerialRelay::new(sim.path(), 9600, Modbus { address: 1, coil: 0 });
    sim.set_relay(0, false);
    relay.power_on(TIMEOUT_MS).unwrap();
    assert_eq!(sim.take_received(), [0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A]);
    assert!(sim.relay(0));
}

#[test]
fn no_answer() {
    for kind in ALL {
        let (sim, mut relay) = start(kind);
        sim.set_fault(Fault::NoAnswer);
        let read = relay.read_state(SHORT_TIMEOUT_MS);
        assert_eq!(read, Err(RelayError::Timeout { after_ms: SHORT_TIMEOUT_MS, received: 0 }), "{kind:?}");
        let off = relay.power_off(SHORT_TIMEOUT_MS);
        if commands_answered(kind) {
            assert!(matches!(off, Err(RelayError::Timeout { .. })), "{kind:?}: {off:?}");
        } else {
            assert_eq!(off, Ok(()), "{kind:?}: unacknowledged protocols cannot notice");
        }
        assert!(sim.relay(relay_index(kind)), "{kind:?}: a dead board did not switch");
    }
}

#[test]
fn wrong_answer() {
    for kind in ALL {
        let (sim, mut relay) = start(kind);
        sim.set_fault(Fault::WrongAnswer);
        let read = relay.read_state(TIMEOUT_MS);
        assert!(matches!(read, Err(RelayError::Reply(ReplyError::WrongReply(_)))), "{kind:?}: {read:?}");
        if commands_answered(kind) {
            let off = relay.power_off(TIMEOUT_MS);
            assert!(matches!(off, Err(RelayError::Reply(ReplyError::WrongReply(_)))), "{kind:?}: {off:?}");
        }
    }
}

#[test]
fn garbage() {
    for kind in ALL {
        let (sim, mut relay) = start(kind);
        sim.set_fault(Fault::Garbage);
        let read = relay.read_state(TIMEOUT_MS);
        assert!(matches!(read, Err(RelayError::Reply(ReplyError::Garbage(_)))), "{kind:?}: {read:?}");
        if commands_answered(kind) {
            let off = relay.power_off(TIMEOUT_MS);
            assert!(matches!(off, Err(RelayError::Reply(ReplyError::Garbage(_)))), "{kind:?}: {off:?}");
        }
        // Healed: the next exchange is not confused by the noise.
        sim.set_fault(Fault::None);
        assert_eq!(relay.read_state(TIMEOUT_MS), Ok(RelayState::On), "{kind:?}");
    }
}

#[test]
fn stuck_relay_acknowledges_but_reads_on_and_the_fence_fails() {
    for kind in ALL {
        let (sim, mut relay) = start(kind);
        sim.set_fault(Fault::Stuck);
        assert_eq!(relay.power_off(TIMEOUT_MS), Ok(()), "{kind:?}");
        assert_eq!(relay.read_state(TIMEOUT_MS), Ok(RelayState::On), "{kind:?}");
        let report = fence::run(relay.as_mut(), FenceAction::Off, quick_fence(), &mut SystemClock::new());
        let FenceOutcome::Failed(reason) = &report.outcome else { panic!("{kind:?}: {report:?}") };
        assert!(reason.contains("still reads on"), "{kind:?}: {reason}");
    }
}

#[test]
fn slow_relay_within_and_beyond_the_timeout() {
    for kind in ALL {
        let (sim, mut relay) = start(kind);
        sim.set_fault(Fault::Slow { delay_ms: SLOW_MS });
        let before = sim.requests();
        let read = relay.read_state(SHORT_TIMEOUT_MS);
        assert!(matches!(read, Err(RelayError::Timeout { .. })), "{kind:?}: {read:?}");
        // Wait until the late answer has been sent, then check the next exchange flushes it.
        wait_for(|| sim.requests() > before);
        std::thread::sleep(Duration::from_millis(SLOW_MS + 100));
        sim.set_relay(relay_index(kind), false);
        assert_eq!(
            relay.read_state(SLOW_MS * 4),
            Ok(RelayState::Off),
            "{kind:?}: slow but within the timeout"
        );
    }
}

fn wait_for(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met within 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fast fence timing for the tests. The exchange timeout is the generous one: a loaded
/// machine (make test runs builds beside the tests) must not turn a board's answer into "no
/// answer"; the tests that want a timeout use their own short one.
fn quick_fence() -> FenceOptions {
    FenceOptions {
        exchange_timeout_ms: TIMEOUT_MS,
        settle_ms: 20,
        poll_interval_ms: 50,
        confirm_timeout_ms: 1500,
        reboot_delay_ms: 50,
    }
}

#[test]
fn fence_confirmed_on_every_board_with_read_back() {
    for kind in ALL {
        let (sim, mut relay) = start(kind);
        let report = fence::run(relay.as_mut(), FenceAction::Off, quick_fence(), &mut SystemClock::new());
        assert_eq!(report.outcome, FenceOutcome::Confirmed, "{kind:?}");
        assert_eq!(report.initial, Some(RelayState::On));
        assert!(!sim.relay(relay_index(kind)), "{kind:?}: power is off");
    }
}

#[test]
fn fence_fails_on_a_dead_board() {
    for kind in ALL {
        let (sim, mut relay) = start(kind);
        sim.set_fault(Fault::NoAnswer);
        let report = fence::run(relay.as_mut(), FenceAction::Off, quick_fence(), &mut SystemClock::new());
        assert!(
            matches!(report.outcome, FenceOutcome::Failed(ref r) if r.contains("no answer")),
            "{kind:?}: {report:?}"
        );
    }
}

#[test]
fn reboot_powers_the_node_back_on() {
    let (sim, mut relay) = start(Kind::Numato);
    let report = fence::run(relay.as_mut(), FenceAction::Reboot, quick_fence(), &mut SystemClock::new());
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert_eq!(report.power_on, Some(Ok(())));
    let received = String::from_utf8(sim.take_received()).unwrap();
    assert!(received.starts_with("relay read 3\rrelay off 3\rrelay read 3\r"), "{received:?}");
    assert!(received.ends_with("relay on 3\r"), "{received:?}");
    assert!(sim.relay(3));
}

#[test]
fn lcus_without_status_query_is_unconfirmed_even_when_the_board_is_dead() {
    let sim = RelaySim::start(SimBoard::Lcus { status_query: false }).unwrap();
    let mut relay = SerialRelay::new(sim.path(), 9600, Lcus { channel: 1, status_query: false });
    assert!(!relay.can_read_back());
    assert_eq!(relay.read_state(TIMEOUT_MS), Err(RelayError::NoReadback));
    let report = fence::run(&mut relay, FenceAction::Off, quick_fence(), &mut SystemClock::new());
    assert_eq!(report.outcome, FenceOutcome::Unconfirmed);
    wait_for(|| !sim.relay(1));
    // The reason an unconfirmed fence is not trusted by default: a dead board looks the same.
    sim.set_relay(1, true);
    sim.set_fault(Fault::NoAnswer);
    let report = fence::run(&mut relay, FenceAction::Off, quick_fence(), &mut SystemClock::new());
    assert_eq!(report.outcome, FenceOutcome::Unconfirmed);
    wait_for(|| sim.requests() == 2);
    assert!(sim.relay(1), "power is still on");
}

#[test]
fn opening_clears_hupcl_and_is_exclusive() {
    let sim = RelaySim::start(SimBoard::Kmtronic).unwrap();
    let fd = open_port(sim.path(), 9600).unwrap();
    let t = rustix::termios::tcgetattr(&fd).unwrap();
    assert!(!t.control_modes.contains(rustix::termios::ControlModes::HUPCL), "closing must not drop DTR/RTS");
    let second = open_port(sim.path(), 9600);
    assert!(second.is_err(), "a second opener is refused while the first holds the port");
    drop(fd);
    // The flag lives in the tty, not in the descriptor: still cleared for the next opener.
    let again = rustix::fs::open(
        sim.path(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let t = rustix::termios::tcgetattr(&again).unwrap();
    assert!(!t.control_modes.contains(rustix::termios::ControlModes::HUPCL));
}

// ---- External command (fence-agents convention) ----

struct Scratch(PathBuf);
impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ha-relay-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A minimal fence agent: reads key=value lines, keeps the plug's power in a file.
const FENCE_AGENT: &str = r#"#!/bin/sh
action=""; plug=""; state_dir=""; mode=""
while IFS='=' read -r key value; do
  case "$key" in
    action) action="$value" ;;
    plug) plug="$value" ;;
    state_dir) state_dir="$value" ;;
    mode) mode="$value" ;;
  esac
done
echo "action=$action plug=$plug" >> "$state_dir/calls"
[ "$mode" = hang ] && exec sleep 30
[ "$mode" = broken ] && { echo "cannot reach the BMC" >&2; exit 1; }
f="$state_dir/plug-$plug"
case "$action" in
  off) echo off > "$f" ;;
  on) echo on > "$f" ;;
  status) [ -f "$f" ] || echo on > "$f"; [ "$(cat "$f")" = on ] && exit 0; exit 2 ;;
  monitor) exit 0 ;;
  *) exit 1 ;;
esac
exit 0
"#;

fn fence_agent(dir: &Path, mode: &str) -> CommandRelay {
    let script = dir.join("fence_test_agent");
    std::fs::write(&script, FENCE_AGENT).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let options =
        vec![("state_dir".to_string(), dir.display().to_string()), ("mode".to_string(), mode.to_string())];
    CommandRelay::new(script, Vec::new(), Some("4".into()), options)
}

#[test]
fn command_agent_off_status_on() {
    let dir = Scratch::new("cmd");
    let mut relay = fence_agent(&dir.0, "");
    assert_eq!(relay.read_state(5000), Ok(RelayState::On));
    relay.power_off(5000).unwrap();
    assert_eq!(relay.read_state(5000), Ok(RelayState::Off));
    relay.power_on(5000).unwrap();
    assert_eq!(relay.read_state(5000), Ok(RelayState::On));
    relay.monitor(5000).unwrap();
    let calls = std::fs::read_to_string(dir.0.join("calls")).unwrap();
    assert_eq!(
        calls,
        "action=status plug=4\naction=off plug=4\naction=status plug=4\naction=on plug=4\naction=status plug=4\naction=monitor plug=4\n"
    );
    let options = FenceOptions { settle_ms: 10, exchange_timeout_ms: 5000, ..FenceOptions::default() };
    let report = fence::run(&mut relay, FenceAction::Off, options, &mut SystemClock::new());
    assert_eq!(report.outcome, FenceOutcome::Confirmed);
    assert_eq!(std::fs::read_to_string(dir.0.join("plug-4")).unwrap(), "off\n");
    // The fence was the agent's off alone: it confirms the device itself before exiting 0.
    let fence_calls = std::fs::read_to_string(dir.0.join("calls")).unwrap()[calls.len()..].to_string();
    assert_eq!(fence_calls, "action=off plug=4\n");

    // An agent that cannot confirm (exit 1) is a failed fence, with its message.
    let mut broken = fence_agent(&dir.0, "broken");
    let report = fence::run(&mut broken, FenceAction::Off, options, &mut SystemClock::new());
    let FenceOutcome::Failed(reason) = &report.outcome else { panic!("{report:?}") };
    assert!(reason.contains("cannot reach the BMC"), "{reason}");
}

#[test]
fn command_agent_failure_and_hang() {
    let dir = Scratch::new("cmdfail");
    let mut broken = fence_agent(&dir.0, "broken");
    let e = broken.power_off(5000).unwrap_err();
    assert!(
        matches!(&e, RelayError::Reply(ReplyError::DeviceError(m)) if m.contains("exited 1") && m.contains("cannot reach the BMC")),
        "{e:?}"
    );
    let mut hung = fence_agent(&dir.0, "hang");
    let started = Instant::now();
    assert_eq!(hung.read_state(300), Err(RelayError::Timeout { after_ms: 300, received: 0 }));
    assert!(started.elapsed() < Duration::from_secs(10), "the hung agent was killed, not waited for");
}

// ---- fence-test console entry ----

/// A witness's configuration without its relay: fence-test loads the whole file, as every
/// subcommand does.
const WITNESS_HEAD: &str = "cluster = \"c1\"\nmember = \"witness\"\n\
    [[members]]\nname = \"witness\"\nid = 1\nrole = \"witness\"\n\
    [[members]]\nname = \"node-a\"\nid = 2\nrole = \"node\"\n\
    [[members]]\nname = \"node-b\"\nid = 3\nrole = \"node\"\n\
    [[links]]\nid = 1\npeer = \"node-a\"\nkind = \"ethernet\"\ninterface = \"eth1\"\n\
    [[links]]\nid = 2\npeer = \"node-b\"\nkind = \"ethernet\"\ninterface = \"eth2\"\n\n";

fn fence_test(config: &Path, channel: &str) -> (i32, String) {
    let mut out = Vec::new();
    let args =
        ["--config".to_string(), config.display().to_string(), "--channel".to_string(), channel.to_string()];
    let code = ha_agent::probes::fence_test_main(&args, &mut out);
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn fence_test_reads_state_without_switching() {
    let dir = Scratch::new("fencetest");
    let sim = RelaySim::start(SimBoard::Modbus { address: 1 }).unwrap();
    let lcus = RelaySim::start(SimBoard::Lcus { status_query: false }).unwrap();
    let config = dir.0.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "{WITNESS_HEAD}[[relay.channels]]\nnode = \"node-a\"\nboard = \"modbus\"\ndevice = \"{}\"\nchannel = 0\ntimeout_ms = 300\n\n\
             [[relay.channels]]\nnode = \"node-b\"\nboard = \"lcus\"\ndevice = \"{}\"\nchannel = 1\n",
            sim.path().display(),
            lcus.path().display()
        ),
    )
    .unwrap();
    let (code, out) = fence_test(&config, "0");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("node node-a") && out.contains("state: on"), "{out}");
    let received = sim.take_received();
    assert_eq!(received[1], 0x01, "only a read (function 01) was sent: {received:?}");
    assert!(sim.relay(0));

    sim.set_fault(Fault::NoAnswer);
    let (code, out) = fence_test(&config, "node-a");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("no answer within 300 ms"), "{out}");

    let (code, out) = fence_test(&config, "node-b");
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("unconfirmed"), "{out}");
    assert!(lcus.take_received().is_empty(), "nothing sent to a board that cannot be read");

    assert_eq!(fence_test(&config, "7").0, 1);
    let mut out = Vec::new();
    assert_eq!(ha_agent::probes::fence_test_main(&["--channel".into()], &mut out), 2);
}
