use super::*;
use crate::console::areca::Areca;
use crate::console::infortrend::Infortrend;
use crate::console::model::DriveState;

const VSF: &str = "  # Name  Raid Name  Level  Capacity Ch/Id/Lun  State\r\n==========\r\n  1 VOL#000 Raid Set # 000 Raid5 3000.0GB 00/00/00 Normal\r\n==========\r\nGuiErrMsg<0x00>: Success.\r\n";
const DISK: &str = "==========\r\n  1 01 Slot#1 ST1 1000.2GB Raid Set # 000\r\n  2 01 Slot#2 ST1 1000.2GB HotSpare[Global]\r\n==========\r\nGuiErrMsg<0x00>: Success.\r\n";
const HW: &str = "Controller Temp. : 40 C\r\nGuiErrMsg<0x00>: Success.\r\n";

/// An in-memory Areca console: answers each line the session sends.
struct Fake {
    echo: bool,
    password: Option<&'static str>,
    logged_in: bool,
    /// Inserted after the first line of the `disk info` output.
    inject: Option<&'static str>,
    silent: bool,
}

impl Fake {
    fn answer(&mut self, sent: &[u8]) -> Vec<u8> {
        if self.silent {
            return Vec::new();
        }
        let text = std::str::from_utf8(sent).unwrap().trim_end_matches('\r');
        let mut out = String::new();
        if self.echo {
            out.push_str(text);
            out.push_str("\r\n");
        }
        let body = match text {
            "" => "",
            t if t.starts_with("set password=") => {
                if Some(&t["set password=".len()..]) == self.password {
                    self.logged_in = true;
                    "GuiErrMsg<0x00>: Success.\r\n"
                } else {
                    "GuiErrMsg<0x0A>: Password Error.\r\n"
                }
            }
            _ if self.password.is_some() && !self.logged_in => "GuiErrMsg<0x08>: Password Required.\r\n",
            "vsf info" => VSF,
            "disk info" => {
                if let Some(line) = self.inject.take() {
                    let (head, tail) = DISK.split_once("\r\n").unwrap();
                    out.push_str(head);
                    out.push_str("\r\n");
                    out.push_str(line);
                    out.push_str("\r\n");
                    out.push_str(tail);
                    ""
                } else {
                    DISK
                }
            }
            "hw info" => HW,
            _ => "GuiErrMsg<0x01>: Undefined Command.\r\n",
        };
        out.push_str(body);
        out.push_str("CLI> ");
        out.into_bytes()
    }
}

fn options(password: Option<&str>) -> SessionOptions {
    SessionOptions { poll_interval_ms: 1000, command_timeout_ms: 200, password: password.map(str::to_owned) }
}

/// Run the session against `fake` until `until_ms`, delivering answers `chunk` bytes at a time.
/// Returns (snapshots, events).
fn run(
    s: &mut Session,
    fake: &mut Fake,
    from_ms: u64,
    until_ms: u64,
    chunk: usize,
) -> (Vec<ArrayModel>, Vec<SessionEvent>) {
    let mut snapshots = Vec::new();
    let mut events = Vec::new();
    let mut now = Micros::from_ms(from_ms);
    let end = Micros::from_ms(until_ms);
    while now <= end {
        s.handle_timeout(now);
        while let Some(tx) = s.poll_transmit() {
            let answer = fake.answer(&tx);
            for piece in answer.chunks(chunk.max(1)) {
                s.handle_bytes(now, piece);
            }
        }
        events.extend(std::iter::from_fn(|| s.poll_event()));
        snapshots.extend(s.poll_snapshot());
        let next = s.poll_timeout().max(now.plus_us(1));
        now = if s.poll_transmit_pending() { now } else { next };
    }
    (snapshots, events)
}

impl Session {
    fn poll_transmit_pending(&self) -> bool {
        !self.tx.is_empty()
    }
}

fn fake() -> Fake {
    Fake { echo: false, password: None, logged_in: false, inject: None, silent: false }
}

#[test]
fn polls_on_schedule_and_builds_the_model() {
    let mut s = Session::new(&Areca, options(None), Micros::ZERO);
    let (snaps, events) = run(&mut s, &mut fake(), 0, 2500, 4096);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(snaps.len(), 3, "cycles at 0, 1000 and 2000 ms");
    assert_eq!(snaps[0].drives[0].state, DriveState::Optimal);
    assert_eq!(snaps[0].disks.len(), 2);
    assert_eq!(snaps[0].sensors.len(), 1);
    assert!(s.is_idle() && !s.is_lost());
    assert_eq!(s.last_answer_at(), Some(Micros::from_ms(2000)));
}

#[test]
fn echo_password_partial_lines_and_escapes() {
    let mut s = Session::new(&Areca, options(Some("0000")), Micros::ZERO);
    let mut f = Fake { echo: true, password: Some("0000"), ..fake() };
    let (one_shot, _) = run(&mut s, &mut f, 0, 500, 4096);
    let mut s = Session::new(&Areca, options(Some("0000")), Micros::ZERO);
    let mut f = Fake { echo: true, password: Some("0000"), ..fake() };
    let (bytewise, events) = run(&mut s, &mut f, 0, 500, 1);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(one_shot.len(), 1);
    assert_eq!(one_shot, bytewise, "byte-at-a-time delivery reads the same");
    let mut colored = Session::new(&Areca, options(None), Micros::ZERO);
    colored.handle_timeout(Micros::ZERO);
    while colored.poll_transmit().is_some() {}
    colored.handle_bytes(Micros::ZERO, b"\x1b[2J\x1b[1;1HCLI\x1b[0m> ");
    assert!(
        !colored.is_idle() && matches!(colored.phase, Phase::Command { index: 0, .. }),
        "prompt seen through escapes"
    );
}

#[test]
fn missing_password_is_reported_and_the_console_lost() {
    let mut s = Session::new(&Areca, options(None), Micros::ZERO);
    let mut f = Fake { password: Some("0000"), ..fake() };
    let (snaps, events) = run(&mut s, &mut f, 0, 250, 4096);
    assert!(snaps.is_empty());
    assert_eq!(
        events[..5],
        [
            SessionEvent::LoginRequired,
            SessionEvent::CycleFailed(FailReason::Login),
            SessionEvent::LoginRequired,
            SessionEvent::CycleFailed(FailReason::Login),
            SessionEvent::Lost(LostReason::NoAnswer),
        ]
    );
}

#[test]
fn unsolicited_event_mid_output_is_reported_and_triggers_a_poll() {
    let mut s = Session::new(&Areca, options(None), Micros::ZERO);
    let mut f = Fake { inject: Some("2024-05-01 12:00:00  Enc#1 Slot#2  Device Failed"), ..fake() };
    let (snaps, events) = run(&mut s, &mut f, 0, 500, 7);
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0], SessionEvent::Unsolicited(l) if l.ends_with("Device Failed")));
    assert_eq!(snaps.len(), 2, "an early second cycle");
    assert_eq!(snaps[0], snaps[1], "the event line was not parsed as a row");
}

#[test]
fn silence_loses_the_console_and_an_answer_restores_it() {
    let mut s = Session::new(&Areca, options(None), Micros::ZERO);
    let mut f = Fake { silent: true, ..fake() };
    let (snaps, events) = run(&mut s, &mut f, 0, 450, 4096);
    assert!(snaps.is_empty());
    assert_eq!(
        events,
        [
            SessionEvent::CycleFailed(FailReason::Timeout),
            SessionEvent::CycleFailed(FailReason::Timeout),
            SessionEvent::Lost(LostReason::NoAnswer)
        ]
    );
    assert!(s.is_lost());
    f.silent = false;
    let (snaps, _) = run(&mut s, &mut f, 450, 1000, 4096);
    assert_eq!(snaps.len(), 1);
    assert!(!s.is_lost());
}

#[test]
fn garbage_is_never_parsed() {
    let mut s = Session::new(&Areca, options(None), Micros::ZERO);
    let mut now = Micros::ZERO;
    let mut events = Vec::new();
    for round in 0..4u64 {
        s.handle_timeout(now);
        while s.poll_transmit().is_some() {}
        // Wrong-baud noise with a valid-looking prompt and marker inside it.
        let mut noise: Vec<u8> = (0..200u32).map(|i| (i * 37 + 0x80) as u8).collect();
        noise.extend_from_slice(b"\r\nGuiErrMsg<0x00>: Success.\r\nCLI> ");
        s.handle_bytes(now, &noise);
        events.extend(std::iter::from_fn(|| s.poll_event()));
        assert!(s.poll_snapshot().is_none(), "round {round}");
        now = s.poll_timeout().max(now.plus_ms(1));
    }
    assert!(events.iter().any(|e| matches!(e, SessionEvent::WrongBaud { garbage_percent } if *garbage_percent >= GARBAGE_PERCENT_MAX)));
    assert!(events.contains(&SessionEvent::Lost(LostReason::WrongBaud)), "{events:?}");
}

#[test]
fn reboot_banner_restarts_the_login() {
    let mut s = Session::new(&Areca, options(Some("0000")), Micros::ZERO);
    let mut f = Fake { password: Some("0000"), ..fake() };
    run(&mut s, &mut f, 0, 100, 4096);
    assert!(s.is_idle() && f.logged_in);
    s.handle_bytes(Micros::from_ms(200), b"\r\nAreca RAID Controller BIOS v1.52 booting...\r\n");
    assert_eq!(s.poll_event(), Some(SessionEvent::ControllerRebooted));
    assert_eq!(s.poll_transmit().as_deref(), Some(&b"\r"[..]), "wakes the console");
    s.handle_bytes(Micros::from_ms(201), b"CLI> ");
    assert_eq!(s.poll_transmit().as_deref(), Some(&b"set password=0000\r"[..]), "logs in again");
}

#[test]
fn password_prompt_style_login() {
    let mut s = Session::new(&Infortrend, options(Some("secret")), Micros::ZERO);
    assert_eq!(s.poll_transmit().as_deref(), Some(&b"\r"[..]));
    s.handle_bytes(Micros::ZERO, b"\x1b[7mPassword:\x1b[0m ");
    assert_eq!(s.poll_transmit().as_deref(), Some(&b"secret\r"[..]));
    s.handle_bytes(Micros::ZERO, b"******\r\nRAIDCmd:> ");
    assert_eq!(s.poll_transmit().as_deref(), Some(&b"show ld\r"[..]));
    let mut wrong = Session::new(&Infortrend, options(Some("secret")), Micros::ZERO);
    wrong.handle_bytes(Micros::ZERO, b"Password: ");
    wrong.handle_bytes(Micros::ZERO, b"\r\nPassword: ");
    assert_eq!(wrong.poll_event(), Some(SessionEvent::LoginFailed));
}

#[test]
fn long_lines_are_truncated_not_grown() {
    let mut s = Session::new(&Areca, options(None), Micros::ZERO);
    s.handle_bytes(Micros::ZERO, &[b'x'; 10 * MAX_LINE_BYTES]);
    s.handle_bytes(Micros::ZERO, b"\n");
    assert_eq!(s.counters().truncated_lines, 1);
    assert!(s.partial.is_empty());
}
