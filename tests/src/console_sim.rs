//! A RAID controller console simulator on a pseudo-terminal, speaking the Areca-style,
//! MegaCli-style or Infortrend RAIDCmd-style CLI, for the array monitoring tests.
//!
//! Owns one scriptable array (by default a RAID 5 of four disks plus a global spare; any of
//! RAID 0, 1, 1E, 5, 6, 10 and 50 with [`SimArray::with_level`]; a battery, a temperature, a
//! fan, a power supply) and a thread that answers the agent's commands on the
//! pty master, with the console's habits as knobs: echo, a password, unsolicited event lines
//! injected in the middle of a table, a reboot banner that drops the login, VT100 escapes
//! (Infortrend), output written in small pieces (partial lines), and garbage instead of text
//! (a wrong baud rate). The output is written here independently of the agent's parsers (a
//! shared bug would otherwise pass every test). The array keeps its members in places and
//! knows its layout (mirror pairs, spans, neighbours), so whether a failure loses the drive is
//! decided here exactly, not by the agent's worst case. It judges nothing about the agent;
//! tests compare the agent's events with what they scripted.

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

/// Disks in the default simulated array: four RAID 5 members and one global spare.
pub const SIM_DISKS: usize = 5;
/// Members of each level's array built by [`SimArray::with_level`] (one global spare follows).
pub const fn sim_members(level: SimLevel) -> usize {
    match level {
        SimLevel::Raid0 | SimLevel::Raid1 => 2,
        SimLevel::Raid1E => 3,
        SimLevel::Raid5 | SimLevel::Raid10 => 4,
        SimLevel::Raid6 => 5,
        SimLevel::Raid50 => 6,
    }
}
/// Members of one RAID 50 span in the simulated array.
const RAID50_SPAN: usize = 3;
/// Bound on a received line; more is dropped.
const MAX_LINE_BYTES: usize = 256;
/// Poll interval of the simulator thread (how fast it notices `stop`).
const POLL_MS: i64 = 10;
/// Output is written in pieces of this size, so the agent sees partial lines.
const WRITE_PIECE_BYTES: usize = 61;
/// Bytes of noise sent for each line received while the baud rate is wrong.
const GARBAGE_BYTES_PER_LINE: usize = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimDialect {
    Areca,
    MegaCli,
    Infortrend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimDisk {
    Member,
    Spare,
    Rebuilding,
    Failed,
    Free,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimLevel {
    Raid0,
    Raid1,
    /// Each block on two neighbouring members (in a ring).
    Raid1E,
    Raid5,
    Raid6,
    /// Mirrored pairs: places (0, 1), (2, 3)...
    Raid10,
    /// RAID 5 spans of three: places (0, 1, 2), (3, 4, 5).
    Raid50,
}

impl SimLevel {
    pub const ALL: [SimLevel; 7] = [
        SimLevel::Raid0,
        SimLevel::Raid1,
        SimLevel::Raid1E,
        SimLevel::Raid5,
        SimLevel::Raid6,
        SimLevel::Raid10,
        SimLevel::Raid50,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimDrive {
    Optimal,
    Degraded,
    Rebuilding(u8),
    Failed,
}

/// The scriptable array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimArray {
    pub level: SimLevel,
    pub disks: Vec<SimDisk>,
    /// The drive's places, in layout order: the disk holding (or rebuilding, or that lost)
    /// each one.
    pub places: Vec<usize>,
    pub drive: SimDrive,
    pub battery_ok: bool,
    pub temperature_c: i32,
    pub fan_rpm: i32,
    pub psu_ok: bool,
}

impl SimArray {
    /// The default array: RAID 5 of four members, one global spare.
    pub fn healthy() -> SimArray {
        SimArray::with_level(SimLevel::Raid5)
    }

    /// A healthy array of `level` with [`sim_members`] members in disks 0.., and one global
    /// spare after them.
    pub fn with_level(level: SimLevel) -> SimArray {
        let members = sim_members(level);
        let mut disks = vec![SimDisk::Member; members];
        disks.push(SimDisk::Spare);
        SimArray {
            level,
            disks,
            places: (0..members).collect(),
            drive: SimDrive::Optimal,
            battery_ok: true,
            temperature_c: 41,
            fan_rpm: 3100,
            psu_ok: true,
        }
    }

    /// Whether disk `i` holds one of the drive's places (online or rebuilding).
    pub fn is_member(&self, i: usize) -> bool {
        self.places.contains(&i) && matches!(self.disks[i], SimDisk::Member | SimDisk::Rebuilding)
    }

    /// Disk `i` fails. Whether the drive survives is the level's layout's answer; a dead drive
    /// stops its rebuilds.
    pub fn fail_disk(&mut self, i: usize) {
        self.disks[i] = SimDisk::Failed;
        self.settle(None);
    }

    /// The first spare takes the first place that lost its disk: the drive rebuilds onto it
    /// from 0 %.
    pub fn activate_spare(&mut self) {
        if self.drive == SimDrive::Failed {
            return;
        }
        let lost = self.places.iter().position(|&d| self.disks[d] == SimDisk::Failed);
        let spare = self.disks.iter().position(|d| *d == SimDisk::Spare);
        if let (Some(place), Some(spare)) = (lost, spare) {
            self.places[place] = spare;
            self.disks[spare] = SimDisk::Rebuilding;
            self.settle(Some(0));
        }
    }

    pub fn set_progress(&mut self, percent: u8) {
        assert!(matches!(self.drive, SimDrive::Rebuilding(_)));
        self.drive = SimDrive::Rebuilding(percent);
    }

    /// The rebuild reaches 100 %: the disk is a member; the drive is optimal unless another
    /// place is still lost.
    pub fn complete_rebuild(&mut self) {
        for d in self.disks.iter_mut().filter(|d| **d == SimDisk::Rebuilding) {
            *d = SimDisk::Member;
        }
        self.settle(None);
    }

    /// Disk `i` is replaced by a new disk configured as a global spare.
    pub fn replace_with_spare(&mut self, i: usize) {
        self.disks[i] = SimDisk::Spare;
    }

    /// Places whose disk does not hold its data (failed, replaced, or rebuilding).
    fn lost_places(&self) -> Vec<bool> {
        self.places.iter().map(|&d| self.disks[d] != SimDisk::Member).collect()
    }

    /// Whether the layout lost data with these places lost.
    fn data_lost(&self, lost: &[bool]) -> bool {
        let n = lost.len();
        let count = |places: &[bool]| places.iter().filter(|l| **l).count();
        match self.level {
            SimLevel::Raid0 => count(lost) > 0,
            SimLevel::Raid1 => count(lost) == n,
            SimLevel::Raid1E => (0..n).any(|p| lost[p] && lost[(p + 1) % n]),
            SimLevel::Raid5 => count(lost) >= 2,
            SimLevel::Raid6 => count(lost) >= 3,
            SimLevel::Raid10 => lost.chunks(2).any(|pair| count(pair) == pair.len()),
            SimLevel::Raid50 => lost.chunks(RAID50_SPAN).any(|span| count(span) >= 2),
        }
    }

    /// The drive's state from its places; `progress` restarts a rebuild. A dead drive stays
    /// dead.
    fn settle(&mut self, progress: Option<u8>) {
        if self.drive == SimDrive::Failed {
            return;
        }
        let lost = self.lost_places();
        if self.data_lost(&lost) {
            for d in self.disks.iter_mut().filter(|d| **d == SimDisk::Rebuilding) {
                *d = SimDisk::Free;
            }
            self.drive = SimDrive::Failed;
            return;
        }
        let rebuilding = self.places.iter().any(|&d| self.disks[d] == SimDisk::Rebuilding);
        self.drive = match (rebuilding, self.drive, progress) {
            (true, _, Some(p)) => SimDrive::Rebuilding(p),
            (true, SimDrive::Rebuilding(p), None) => SimDrive::Rebuilding(p),
            (true, _, None) => SimDrive::Rebuilding(0),
            (false, ..) if lost.iter().any(|l| *l) => SimDrive::Degraded,
            (false, ..) => SimDrive::Optimal,
        };
    }

    /// MegaCli's word for a RAID 6 missing one member.
    fn partially_degraded(&self) -> bool {
        self.level == SimLevel::Raid6 && self.lost_places().iter().filter(|l| **l).count() == 1
    }
}

struct Shared {
    array: SimArray,
    echo: bool,
    garbage: bool,
    logged_in: bool,
    reboot_pending: bool,
    inject: Option<String>,
    commands: u32,
}

pub struct ConsoleSim {
    dialect: SimDialect,
    path: PathBuf,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _slave: OwnedFd,
}

impl ConsoleSim {
    /// Start a console with a healthy array; `password` makes it ask for one.
    pub fn start(dialect: SimDialect, password: Option<&str>) -> io::Result<ConsoleSim> {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let name = rustix::pty::ptsname(&master, Vec::new())?;
        let path = PathBuf::from(name.to_string_lossy().into_owned());
        let slave = rustix::fs::open(&path, OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?;
        let mut t = rustix::termios::tcgetattr(&slave)?;
        t.make_raw();
        rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t)?;
        let flags = rustix::fs::fcntl_getfl(&master)?;
        rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK)?;
        let shared = Arc::new(Mutex::new(Shared {
            array: SimArray::healthy(),
            echo: false,
            garbage: false,
            logged_in: false,
            reboot_pending: false,
            inject: None,
            commands: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            let password = password.map(str::to_owned);
            std::thread::spawn(move || serve(master, dialect, password, shared, stop))
        };
        Ok(ConsoleSim { dialect, path, shared, stop, thread: Some(thread), _slave: slave })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Change the array (atomically with respect to the answers).
    pub fn with_array(&self, f: impl FnOnce(&mut SimArray)) {
        f(&mut self.shared.lock().unwrap().array);
    }
    pub fn set_echo(&self, on: bool) {
        self.shared.lock().unwrap().echo = on;
    }
    /// Garbage instead of text for everything (a wrong baud rate).
    pub fn set_garbage(&self, on: bool) {
        self.shared.lock().unwrap().garbage = on;
    }
    /// Print `line` in the middle of the next table.
    pub fn inject_event(&self, line: &str) {
        self.shared.lock().unwrap().inject = Some(line.to_owned());
    }
    /// Reboot at the next command: banner, login dropped, the command is lost.
    pub fn reboot(&self) {
        self.shared.lock().unwrap().reboot_pending = true;
    }
    /// Commands received so far (wakes included).
    pub fn commands(&self) -> u32 {
        self.shared.lock().unwrap().commands
    }
    pub fn logged_in(&self) -> bool {
        self.shared.lock().unwrap().logged_in
    }

    /// The agent's name for disk `i` in this dialect's numbering.
    pub fn disk_name(&self, i: usize) -> String {
        match self.dialect {
            SimDialect::Areca => format!("e1/s{}", i + 1),
            SimDialect::MegaCli => format!("e252/s{i}"),
            SimDialect::Infortrend => format!("s{}", i + 1),
        }
    }
    /// The agent's name for the logical drive.
    pub fn drive_name(&self) -> &'static str {
        match self.dialect {
            SimDialect::Areca => "ld1",
            _ => "ld0",
        }
    }
    /// The agent's sensor names: (battery, temperature, fan).
    pub fn sensor_names(&self) -> (&'static str, &'static str, &'static str) {
        match self.dialect {
            SimDialect::Areca => ("Battery", "Controller Temp.", "Fan#1"),
            SimDialect::MegaCli => ("BBU", "Enclosure 252 Temp 0", "Enclosure 252 Fan 0"),
            SimDialect::Infortrend => ("Battery 0", "Temperature 0", "Fan 0"),
        }
    }
    /// Whether a drive failure shows as `offline` in this dialect (MegaCli has no failed VD).
    pub fn dead_drive_label(&self) -> &'static str {
        match self.dialect {
            SimDialect::MegaCli => "drive_offline",
            _ => "drive_failed",
        }
    }
}

impl Drop for ConsoleSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    master: OwnedFd,
    dialect: SimDialect,
    password: Option<String>,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
) {
    let mut line: Vec<u8> = Vec::new();
    let mut noise_seed: u32 = 0x1234_5678;
    let ts = rustix::time::Timespec { tv_sec: 0, tv_nsec: POLL_MS * 1_000_000 };
    // Infortrend with a password asks for it at the next wake.
    let mut awaiting_password = false;
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(&master, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(_) => continue,
            Ok(_) => {}
        }
        let mut chunk = [0u8; 256];
        let n = match rustix::io::read(&master, &mut chunk) {
            Ok(n) => n,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(POLL_MS as u64));
                continue;
            }
        };
        for &b in &chunk[..n] {
            let (echo, garbage) = {
                let s = shared.lock().unwrap();
                (s.echo, s.garbage)
            };
            if echo && !garbage {
                write_all(&master, if b == b'\r' { b"\r\n" } else { std::slice::from_ref(&b) });
            }
            if b != b'\r' && b != b'\n' {
                if line.len() < MAX_LINE_BYTES {
                    line.push(b);
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            if garbage {
                let mut noise = Vec::with_capacity(GARBAGE_BYTES_PER_LINE);
                for _ in 0..GARBAGE_BYTES_PER_LINE {
                    noise_seed = noise_seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    noise.push((noise_seed >> 16) as u8 | 0x80);
                }
                write_pieces(&master, &noise);
                continue;
            }
            let reply = answer(dialect, password.as_deref(), &text, &shared, &mut awaiting_password);
            write_pieces(&master, reply.as_bytes());
        }
    }
}

fn prompt(dialect: SimDialect) -> &'static str {
    match dialect {
        SimDialect::Areca => "CLI> ",
        SimDialect::MegaCli => "MegaCli> ",
        SimDialect::Infortrend => "\x1b[1mRAIDCmd:>\x1b[0m ",
    }
}

fn answer(
    dialect: SimDialect,
    password: Option<&str>,
    text: &str,
    shared: &Mutex<Shared>,
    awaiting_password: &mut bool,
) -> String {
    let mut s = shared.lock().unwrap();
    s.commands += 1;
    let command = text.trim();
    if s.reboot_pending {
        s.reboot_pending = false;
        s.logged_in = false;
        return match dialect {
            SimDialect::Areca => {
                "\r\nAreca RAID Controller BIOS v1.52 (booting)\r\nRAID powered on\r\n".into()
            }
            SimDialect::MegaCli => "\r\nLSI MegaRAID SAS-MFI BIOS Version 6.18\r\n".into(),
            SimDialect::Infortrend => "\r\n\x1b[2JInfortrend RAID controller: boot in progress\r\n".into(),
        };
    }
    // Infortrend asks `Password:` at the console before anything else.
    if dialect == SimDialect::Infortrend && password.is_some() && !s.logged_in {
        if *awaiting_password && !command.is_empty() {
            *awaiting_password = false;
            if Some(command) == password {
                s.logged_in = true;
                return format!("\r\n{}", prompt(dialect));
            }
        }
        *awaiting_password = true;
        return "Password: ".into();
    }
    if command.is_empty() {
        return prompt(dialect).into();
    }
    if let Some(given) = command.strip_prefix("set password=") {
        if dialect == SimDialect::Areca {
            s.logged_in = Some(given) == password;
            let body =
                if s.logged_in { "GuiErrMsg<0x00>: Success." } else { "GuiErrMsg<0x0A>: Password Error." };
            return format!("{body}\r\n{}", prompt(dialect));
        }
    }
    if dialect == SimDialect::Areca && password.is_some() && !s.logged_in {
        return format!("GuiErrMsg<0x08>: Password Required.\r\n{}", prompt(dialect));
    }
    let array = s.array.clone();
    let body = match dialect {
        SimDialect::Areca => areca(command, &array),
        SimDialect::MegaCli => megacli(command, &array),
        SimDialect::Infortrend => infortrend(command, &array),
    };
    let mut lines: Vec<String> = body.lines().map(str::to_owned).collect();
    if let Some(event) = s.inject.take() {
        let at = lines.len().min(2);
        lines.insert(at, event);
    }
    let mut out = lines.join("\r\n");
    out.push_str("\r\n");
    out.push_str(prompt(dialect));
    out
}

fn areca(command: &str, a: &SimArray) -> String {
    match command {
        "vsf info" => {
            let level = match a.level {
                SimLevel::Raid0 => "Raid0",
                SimLevel::Raid1 => "Raid1",
                SimLevel::Raid1E => "Raid1E",
                SimLevel::Raid5 => "Raid5",
                SimLevel::Raid6 => "Raid6",
                SimLevel::Raid10 => "Raid1+0",
                SimLevel::Raid50 => "Raid50",
            };
            let state = match a.drive {
                SimDrive::Optimal => "Normal".to_owned(),
                SimDrive::Degraded => "Degraded".to_owned(),
                SimDrive::Rebuilding(p) => format!("Rebuilding({p}.0%)"),
                SimDrive::Failed => "Failed".to_owned(),
            };
            format!(
                "  # Name             Raid Name       Level   Capacity Ch/Id/Lun  State\n{EQ}\n  1 ARC-1880-VOL#000 Raid Set # 000  {level:<7} 3000.0GB 00/00/00   {state}\n{EQ}\nGuiErrMsg<0x00>: Success."
            )
        }
        "disk info" => {
            let mut out =
                format!("  # Enc# Slot#   ModelName                        Capacity  Usage\n{EQ}\n");
            for (i, d) in a.disks.iter().enumerate() {
                let usage = match d {
                    SimDisk::Member if !a.is_member(i) => "Free",
                    SimDisk::Member => "Raid Set # 000",
                    SimDisk::Spare => "HotSpare[Global]",
                    SimDisk::Rebuilding => "Rebuild Raid Set # 000",
                    SimDisk::Failed => "Failed",
                    SimDisk::Free => "Free",
                };
                out.push_str(&format!(
                    "  {}  01  Slot#{}  ST1000NM0033-9ZM173             1000.2GB  {usage}\n",
                    i + 1,
                    i + 1
                ));
            }
            let empty = a.disks.len() + 1;
            out.push_str(&format!(
                "  {empty}  01  Slot#{empty}  N.A.                                0.0GB  N.A.\n{EQ}\nGuiErrMsg<0x00>: Success."
            ));
            out
        }
        "hw info" => {
            let battery = if a.battery_ok { "100%" } else { "Failed" };
            format!(
                "The Hardware Monitor Information\n{EQ}\nFan#1 Speed (RPM)   : {}\nBattery Status      : {battery}\nController Temp.    : {} (Celsius)\n12V                 : 12.160 V\n{EQ}\nGuiErrMsg<0x00>: Success.",
                a.fan_rpm, a.temperature_c
            )
        }
        _ => "GuiErrMsg<0x01>: Undefined Command.".into(),
    }
}

const EQ: &str = "===============================================================================";
const DASH: &str = "--------------------------------------------------------------------------------";

fn megacli_disk(i: usize, d: SimDisk) -> String {
    let state = match d {
        SimDisk::Member => "Online, Spun Up",
        SimDisk::Spare => "Hotspare, Spun Up",
        SimDisk::Rebuilding => "Rebuild",
        SimDisk::Failed => "Failed",
        SimDisk::Free => "Unconfigured(good), Spun Up",
    };
    format!("Enclosure Device ID: 252\nSlot Number: {i}\nDevice Id: {}\nMedia Error Count: 0\nPredictive Failure Count: 0\nFirmware state: {state}\n\n", i + 8)
}

fn megacli(command: &str, a: &SimArray) -> String {
    let mut out = String::from("Adapter #0\n\n");
    match command {
        "MegaCli -LDPDInfo -aALL" => {
            let state = match a.drive {
                SimDrive::Optimal => "Optimal",
                SimDrive::Degraded | SimDrive::Rebuilding(_) if a.partially_degraded() => {
                    "Partially Degraded"
                }
                SimDrive::Degraded | SimDrive::Rebuilding(_) => "Degraded",
                SimDrive::Failed => "Offline",
            };
            let level = match a.level {
                SimLevel::Raid0 => "Primary-0, Secondary-0, RAID Level Qualifier-0",
                SimLevel::Raid1 => "Primary-1, Secondary-0, RAID Level Qualifier-0",
                SimLevel::Raid1E => panic!("MegaRAID firmware offers no RAID 1E: not simulated"),
                SimLevel::Raid5 => "Primary-5, Secondary-0, RAID Level Qualifier-3",
                SimLevel::Raid6 => "Primary-6, Secondary-0, RAID Level Qualifier-3",
                SimLevel::Raid10 => "Primary-1, Secondary-3, RAID Level Qualifier-0",
                SimLevel::Raid50 => "Primary-5, Secondary-3, RAID Level Qualifier-3",
            };
            out.push_str(&format!(
                "Number of Virtual Disks: 1\nVirtual Drive: 0 (Target Id: 0)\nName                :\nRAID Level          : {level}\nSize                : 2.727 TB\nState               : {state}\nNumber Of Drives    : {}\n",
                a.places.len()
            ));
            for (i, d) in a.disks.iter().enumerate() {
                if a.is_member(i) {
                    out.push_str(&format!("PD: {i} Information\n{}", megacli_disk(i, *d)));
                }
            }
        }
        "MegaCli -PDList -aALL" => {
            for (i, d) in a.disks.iter().enumerate() {
                out.push_str(&megacli_disk(i, *d));
            }
        }
        "MegaCli -PDRbld -ShowProg -PhysDrv[ALL] -aALL" => {
            for (i, d) in a.disks.iter().enumerate() {
                match (d, a.drive) {
                    (SimDisk::Rebuilding, SimDrive::Rebuilding(p)) => out.push_str(&format!(
                        "Rebuild Progress on Device at Enclosure 252, Slot {i} Completed {p}% in {} Minutes.\n",
                        p / 3
                    )),
                    _ => out.push_str(&format!("Device(Encl-252 Slot-{i}) is not in rebuild process\n")),
                }
            }
        }
        "MegaCli -AdpBbuCmd -GetBbuStatus -aALL" => {
            let state = if a.battery_ok { "Optimal" } else { "Non Operational" };
            let replace = if a.battery_ok { "No" } else { "Yes" };
            out.push_str(&format!("BBU status for Adapter: 0\n\nBatteryType: iBBU\nVoltage: 4069 mV\nTemperature: 27 C\nBattery State : {state}\nBattery Replacement required : {replace}\n"));
        }
        "MegaCli -EncInfo -aALL" => {
            let fan = if a.fan_rpm >= 500 { "OK" } else { "Failed" };
            let psu = if a.psu_ok { "OK" } else { "Failed" };
            out.push_str(&format!(
                "    Number of enclosures on adapter 0 -- 1\n\n    Enclosure 0:\n    Device ID                     : 252\n    Number of Slots               : 8\n    Number of Temperature Sensors : 1\n    Temperature Sensor            : 0\n    Temperature                   : {}\n    Number of Fans                : 1\n    Fan                           : 0\n    Fan Status                    : {fan}\n    Number of Power Supplies      : 1\n    Power Supply                  : 0\n    Power Supply Status           : {psu}\n",
                a.temperature_c
            ));
        }
        _ => return "Invalid input at or near token\nExit Code: 0x01".into(),
    }
    out.push_str("\nExit Code: 0x00");
    out
}

fn infortrend(command: &str, a: &SimArray) -> String {
    match command {
        "show ld" => {
            let state = match a.drive {
                SimDrive::Optimal => "\x1b[32mGood\x1b[0m".to_owned(),
                SimDrive::Degraded => "\x1b[33mDegraded\x1b[0m".to_owned(),
                SimDrive::Rebuilding(p) => format!("\x1b[33mRebuilding {p}%\x1b[0m"),
                SimDrive::Failed => "\x1b[31mDead\x1b[0m".to_owned(),
            };
            let level = match a.level {
                SimLevel::Raid0 => "RAID0",
                SimLevel::Raid1 => "RAID1",
                SimLevel::Raid1E => "RAID1E",
                SimLevel::Raid5 => "RAID5",
                SimLevel::Raid6 => "RAID6",
                SimLevel::Raid10 => "RAID10",
                SimLevel::Raid50 => "RAID50",
            };
            format!(" Index  ID        LV   RAID   Size(MB)  Status\n{DASH}\n 0      3A5F1E2C  P0   {level:<6} 2861056   {state}\n{DASH}\nCLI: Successful: 1 logical drive(s) shown\nReturn: 0x0000\n")
        }
        "show disk" => {
            let mut out = format!(
                " Slot  Chl  ID  Size(MB)  LG_DRV  Status                 Vendor and Product ID\n{DASH}\n"
            );
            for (i, d) in a.disks.iter().enumerate() {
                let (ld, status) = match d {
                    SimDisk::Member if !a.is_member(i) => ("NONE", "New Drive"),
                    SimDisk::Member => ("0", "On-Line"),
                    SimDisk::Spare => ("NONE", "Global Spare"),
                    SimDisk::Rebuilding => ("0", "Rebuild in Progress"),
                    SimDisk::Failed => ("0", "Failed Drive"),
                    SimDisk::Free => ("NONE", "New Drive"),
                };
                out.push_str(&format!(
                    " {}     0    {i}   953869    {ld:<6}  {status:<22} SEAGATE ST31000524NS\n",
                    i + 1
                ));
            }
            out.push_str(&format!(
                "{DASH}\nCLI: Successful: {} disk(s) shown\nReturn: 0x0000\n",
                a.disks.len()
            ));
            out
        }
        "show enclosure" => {
            let temp = if a.temperature_c >= 70 { "Over-Temp" } else { "OK" };
            let fan = if a.fan_rpm >= 500 { "OK" } else { "Failure" };
            let battery = if a.battery_ok { "OK" } else { "Failure" };
            let psu = if a.psu_ok { "OK" } else { "Failure" };
            format!(
                " Type         Index  Status      Value\n{DASH}\n Temperature  0      {temp:<10}  {} C\n Fan          0      {fan:<10}  {} RPM\n PSU          0      {psu:<10}  -\n Battery      0      {battery:<10}  100%\n{DASH}\nCLI: Successful: 4 device(s) shown\nReturn: 0x0000\n",
                a.temperature_c, a.fan_rpm
            )
        }
        _ => "CLI: Error: unknown command\nReturn: 0x000C\n".into(),
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

/// Write in small pieces with a pause between them, so lines arrive split across reads.
fn write_pieces(fd: &OwnedFd, bytes: &[u8]) {
    for piece in bytes.chunks(WRITE_PIECE_BYTES) {
        write_all(fd, piece);
        std::thread::sleep(Duration::from_micros(300));
    }
}
