//! `fence_rackha`: the fence agent another cluster's fencer (Pacemaker's `pacemaker-fenced`)
//! runs to ask the box to switch a plug, following the fence-agents conventions.
//!
//! Owns the agent's side: its options, read as `key=value` lines on standard input when it is
//! run without arguments (as the fencer runs it) or as command-line options otherwise
//! (`-o off -n pm-a -a 10.0.0.2`); the `metadata` XML the fencer reads; the exchange with the
//! box (hello, challenge, the MACed request, retransmitted until the MACed answer or
//! `power_timeout`); and the exit codes (0 success, 1 failure; `status`: 0 on, 2 off, 1
//! unknown). The parsing and the metadata are pure; [`main`] does the I/O. It decides nothing
//! about the plug: the box does (`fencesvc::server`), and its answer is printed as it is.

#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::fence_service::{DEFAULT_KEY_FILE, DEFAULT_PORT};
use crate::fencesvc::protocol::{self, Action, Answer, FromBox, Power, MAX_DATAGRAM_BYTES};
use crate::wire::ClusterKey;

/// The agent's name (argv[0] dispatch, metadata, the packages' `/usr/sbin/fence_rackha`).
pub const NAME: &str = "fence_rackha";
/// Exit codes (fence-agents' convention).
pub const EXIT_SUCCESS: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
/// `status`: the plug is off.
pub const EXIT_OFF: i32 = 2;
/// A datagram unanswered this long is sent again (the same bytes: not a second command).
pub const RETRANSMIT_MS: u64 = 500;
/// Default `power_timeout`, in seconds: how long `off`, `on` or `reboot` may take at the box
/// (its fence procedure polls the relay for up to `confirm_timeout_ms`, 20 s by default).
pub const DEFAULT_POWER_TIMEOUT_S: u64 = 40;
/// Default timeout of `status`, `list` and `monitor`, in seconds.
pub const DEFAULT_SHELL_TIMEOUT_S: u64 = 10;
/// Bound on `power_timeout` and `delay`, in seconds.
pub const MAX_TIMEOUT_S: u64 = 600;
/// Bound on standard input, in bytes (the fencer sends a few lines).
pub const MAX_STDIN_BYTES: u64 = 16 * 1024;

/// What the agent is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentAction {
    On,
    Off,
    Reboot,
    Status,
    List,
    ListStatus,
    Monitor,
    Metadata,
    ValidateAll,
}

impl AgentAction {
    fn parse(word: &str) -> Option<AgentAction> {
        Some(match word {
            "on" | "enable" => AgentAction::On,
            "off" | "disable" => AgentAction::Off,
            "reboot" => AgentAction::Reboot,
            "status" => AgentAction::Status,
            "list" => AgentAction::List,
            "list-status" => AgentAction::ListStatus,
            "monitor" => AgentAction::Monitor,
            "metadata" => AgentAction::Metadata,
            "validate-all" => AgentAction::ValidateAll,
            _ => return None,
        })
    }
    fn needs_plug(self) -> bool {
        matches!(self, AgentAction::On | AgentAction::Off | AgentAction::Reboot | AgentAction::Status)
    }
    fn needs_box(self) -> bool {
        !matches!(self, AgentAction::Metadata | AgentAction::ValidateAll)
    }
}

/// The agent's options, from the command line or standard input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub action: AgentAction,
    pub plug: Option<String>,
    pub ip: Option<String>,
    pub ipport: u16,
    pub key_file: PathBuf,
    pub power_timeout_s: u64,
    pub shell_timeout_s: u64,
    pub delay_s: u64,
    pub verbose: bool,
    /// `-h`, `-V`: print and exit.
    pub help: bool,
    pub version: bool,
    /// Keys of standard input this agent does not know (ignored, reported on stderr).
    pub ignored: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            action: AgentAction::Reboot,
            plug: None,
            ip: None,
            ipport: DEFAULT_PORT,
            key_file: PathBuf::from(DEFAULT_KEY_FILE),
            power_timeout_s: DEFAULT_POWER_TIMEOUT_S,
            shell_timeout_s: DEFAULT_SHELL_TIMEOUT_S,
            delay_s: 0,
            verbose: false,
            help: false,
            version: false,
            ignored: Vec::new(),
        }
    }
}

/// One parameter: its stdin names (the first is the metadata's), its options, what it takes.
struct Param {
    names: &'static [&'static str],
    short: Option<&'static str>,
    long: &'static str,
    value: Option<&'static str>,
    content: &'static str,
    default: Option<&'static str>,
    required: bool,
    shortdesc: &'static str,
}

const PARAMS: &[Param] = &[
    Param {
        names: &["action", "option"],
        short: Some("-o"),
        long: "--action",
        value: Some("action"),
        content: "string",
        default: Some("reboot"),
        required: true,
        shortdesc: "Fencing action",
    },
    Param {
        names: &["ip", "ipaddr"],
        short: Some("-a"),
        long: "--ip",
        value: Some("ip"),
        content: "string",
        default: None,
        required: true,
        shortdesc: "IP address of the rack HA box (its fence service); host names are not resolved",
    },
    Param {
        names: &["ipport"],
        short: Some("-u"),
        long: "--ipport",
        value: Some("port"),
        content: "integer",
        default: Some("7790"),
        required: false,
        shortdesc: "UDP port of the box's fence service",
    },
    Param {
        names: &["plug", "port"],
        short: Some("-n"),
        long: "--plug",
        value: Some("id"),
        content: "string",
        default: None,
        required: true,
        shortdesc: "Plug name on the box (the node's name in [fence_service] plugs)",
    },
    Param {
        names: &["key_file"],
        short: Some("-k"),
        long: "--key-file",
        value: Some("filename"),
        content: "string",
        default: Some(DEFAULT_KEY_FILE),
        required: false,
        shortdesc:
            "File with the fence service's key in hex (the same file as the box's fence_service.key_file)",
    },
    Param {
        names: &["power_timeout"],
        short: None,
        long: "--power-timeout",
        value: Some("seconds"),
        content: "second",
        default: Some("40"),
        required: false,
        shortdesc: "Wait X seconds for the box to confirm on, off or reboot",
    },
    Param {
        names: &["shell_timeout"],
        short: None,
        long: "--shell-timeout",
        value: Some("seconds"),
        content: "second",
        default: Some("10"),
        required: false,
        shortdesc: "Wait X seconds for the box to answer status, list or monitor",
    },
    Param {
        names: &["delay"],
        short: None,
        long: "--delay",
        value: Some("seconds"),
        content: "second",
        default: Some("0"),
        required: false,
        shortdesc: "Wait X seconds before fencing is started",
    },
    Param {
        names: &["verbose"],
        short: Some("-v"),
        long: "--verbose",
        value: None,
        content: "boolean",
        default: None,
        required: false,
        shortdesc: "Verbose mode",
    },
    Param {
        names: &["version"],
        short: Some("-V"),
        long: "--version",
        value: None,
        content: "boolean",
        default: None,
        required: false,
        shortdesc: "Display version information and exit",
    },
    Param {
        names: &["help"],
        short: Some("-h"),
        long: "--help",
        value: None,
        content: "boolean",
        default: None,
        required: false,
        shortdesc: "Display help and exit",
    },
];

/// Stdin keys the fencer may pass that this agent has no use for.
const QUIET_KEYS: &[&str] = &["nodename", "agent"];

fn set(options: &mut Options, name: &str, value: &str) -> Result<(), String> {
    let seconds = |v: &str| -> Result<u64, String> {
        let s: f64 = v.trim().parse().map_err(|_| format!("{name}: {v:?} is not a number of seconds"))?;
        if !(0.0..=MAX_TIMEOUT_S as f64).contains(&s) {
            return Err(format!("{name}: {v} is outside 0..={MAX_TIMEOUT_S} seconds"));
        }
        Ok(s.ceil() as u64)
    };
    let flag = |v: &str| matches!(v.trim(), "" | "1" | "yes" | "true" | "on");
    match name {
        "action" | "option" => {
            options.action = AgentAction::parse(value.trim()).ok_or(format!("unknown action {value:?}"))?
        }
        "ip" | "ipaddr" => options.ip = Some(value.trim().to_string()),
        "ipport" => {
            options.ipport = value
                .trim()
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(format!("ipport: {value:?} is not a port"))?
        }
        "plug" | "port" => options.plug = Some(value.trim().to_string()),
        "key_file" => options.key_file = PathBuf::from(value.trim()),
        "power_timeout" => options.power_timeout_s = seconds(value)?,
        "shell_timeout" => options.shell_timeout_s = seconds(value)?,
        "delay" => options.delay_s = seconds(value)?,
        "verbose" => options.verbose = flag(value),
        "version" => options.version = flag(value),
        "help" => options.help = flag(value),
        other => return Err(format!("unknown option {other:?}")),
    }
    Ok(())
}

/// Parse the command line (fence-agents' short and long options, `--name=value` too).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        let (word, inline) = match arg.split_once('=') {
            Some((w, v)) if w.starts_with("--") => (w, Some(v)),
            _ => (arg, None),
        };
        let param = PARAMS
            .iter()
            .find(|p| p.long == word || p.short == Some(word))
            .ok_or_else(|| format!("unknown option {arg:?}"))?;
        let value = match (param.value, inline) {
            (None, None) => "1".to_string(),
            (None, Some(_)) => return Err(format!("{word} takes no value")),
            (Some(_), Some(v)) => v.to_string(),
            (Some(what), None) => {
                i += 1;
                args.get(i).cloned().ok_or_else(|| format!("{word} needs a {what}"))?
            }
        };
        set(&mut options, param.names[0], &value)?;
        i += 1;
    }
    Ok(options)
}

/// Parse standard input: `key=value` lines, `#` comments and blank lines skipped. Unknown keys
/// are kept in `ignored` (the fencer passes some of its own).
pub fn parse_stdin(text: &str) -> Result<Options, String> {
    let mut options = Options::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("stdin: {line:?} is not key=value"));
        };
        let key = key.trim();
        if PARAMS.iter().any(|p| p.names.contains(&key)) {
            set(&mut options, key, value)?;
        } else if !QUIET_KEYS.contains(&key) && !key.starts_with("pcmk_") {
            options.ignored.push(key.to_string());
        }
    }
    Ok(options)
}

/// What the options lack for their action.
pub fn validate(options: &Options) -> Result<(), String> {
    let needs_ip = options.action.needs_box() || options.action == AgentAction::ValidateAll;
    if needs_ip && options.ip.as_deref().is_none_or(str::is_empty) {
        return Err("ip (the box's address, -a) is required".into());
    }
    if options.action.needs_plug() {
        match options.plug.as_deref() {
            None | Some("") => return Err("plug (-n) is required for this action".into()),
            Some(p) if protocol::plug_name(p).is_none() => {
                return Err(format!("plug {p:?} is longer than {} bytes", protocol::MAX_PLUG_BYTES))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The metadata the fencer reads (`-o metadata`), in fence-agents' shape
/// (`/usr/share/cluster/relaxng/metadata.rng`).
pub fn metadata() -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" ?>\n");
    out.push_str(&format!(
        "<resource-agent name=\"{NAME}\" shortdesc=\"Fence agent for the rack HA box's relays\" >\n"
    ));
    out.push_str(
        "<longdesc>fence_rackha asks a rack HA box (ha-agent in the witness role) to switch one of its power \
relays for this cluster. The exchange is UDP, authenticated with HMAC-SHA-256 under a key shared with the box \
(key_file), and replay-proof: each request uses a fresh nonce the box issued, once. The box answers off only \
once its relay reads off (the same confirmed procedure as its own fences), and journals and traps every \
command.</longdesc>\n",
    );
    // No public home to point to: the documentation ships with the package (man 8 ha-agent).
    out.push_str("<vendor-url></vendor-url>\n<parameters>\n");
    let mut param = |name: &str, p: &Param, deprecated: bool| {
        let getopt = match (p.short, p.value) {
            (Some(s), Some(v)) => format!("{s}, {}=[{v}]", p.long),
            (None, Some(v)) => format!("{}=[{v}]", p.long),
            (Some(s), None) => format!("{s}, {}", p.long),
            (None, None) => p.long.to_string(),
        };
        // `option` is accepted on stdin, as fence-agents do, but not described.
        let obsoletes = p.names[0] == name && p.names.len() > 1 && p.names[1] != "option";
        let flags = match (deprecated, obsoletes) {
            (true, _) => " deprecated=\"1\"".to_string(),
            (false, true) => format!(" obsoletes=\"{}\"", p.names[1]),
            (false, false) => String::new(),
        };
        let default = p.default.map(|d| format!(" default=\"{}\"", xml_escape(d))).unwrap_or_default();
        out.push_str(&format!(
            "\t<parameter name=\"{name}\" unique=\"0\" required=\"{}\"{flags}>\n\t\t<getopt mixed=\"{}\" />\n\t\t<content type=\"{}\"{default} />\n\t\t<shortdesc lang=\"en\">{}</shortdesc>\n\t</parameter>\n",
            u8::from(p.required),
            xml_escape(&getopt),
            p.content,
            xml_escape(p.shortdesc),
        ));
    };
    for p in PARAMS {
        param(p.names[0], p, false);
        // The old names fence-agents still accept (ipaddr, port), deprecated as they do it.
        for old in &p.names[1..] {
            if *old != "option" {
                param(old, p, true);
            }
        }
    }
    out.push_str("</parameters>\n<actions>\n");
    out.push_str("\t<action name=\"on\" automatic=\"0\"/>\n");
    for a in ["off", "reboot", "status", "list", "list-status", "monitor", "metadata", "validate-all"] {
        out.push_str(&format!("\t<action name=\"{a}\" />\n"));
    }
    out.push_str("</actions>\n</resource-agent>\n");
    out
}

fn usage() -> String {
    let mut out = format!("Usage:\n\t{NAME} [options]\nOptions:\n");
    for p in PARAMS {
        let names = match p.short {
            Some(s) => format!("{s}, {}", p.long),
            None => format!("    {}", p.long),
        };
        let names = match p.value {
            Some(v) => format!("{names}=[{v}]"),
            None => names,
        };
        out.push_str(&format!("   {names:<32} {}\n", p.shortdesc));
    }
    out.push_str("\nWithout options, key=value lines are read on standard input (the fencer's way).\n");
    out.push_str("Exit: 0 success (status: on), 1 failure, 2 status: off.\n");
    out
}

/// One exchange with the box: hello, challenge, request, retransmitted every
/// [`RETRANSMIT_MS`] until the MACed final answer or `timeout`.
pub fn ask(
    socket: &UdpSocket,
    key: &ClusterKey,
    action: Action,
    plug: &str,
    timeout: Duration,
    verbose: &dyn Fn(&str),
) -> Result<Answer, String> {
    let deadline = Instant::now() + timeout;
    let plug = protocol::plug_name(plug).ok_or("plug name too long")?;
    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    let receive = |buf: &mut [u8]| -> Result<Option<FromBox>, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer from the box within {} s", timeout.as_secs()));
        }
        socket
            .set_read_timeout(Some(left.min(Duration::from_millis(RETRANSMIT_MS))))
            .map_err(|e| e.to_string())?;
        match socket.recv(buf) {
            Ok(n) => match protocol::decode_from_box(key, &buf[..n]) {
                Ok(m) => Ok(Some(m)),
                Err(e) => {
                    verbose(&format!("ignored a datagram: {e}"));
                    Ok(None)
                }
            },
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Ok(None)
            }
            // ICMP port unreachable from an earlier send: nothing listens (yet); keep trying.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(Duration::from_millis(RETRANSMIT_MS).min(left));
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        }
    };
    let hello = protocol::encode_hello();
    let nonce = 'challenge: loop {
        verbose("hello");
        let _ = socket.send(&hello);
        let sent = Instant::now();
        while sent.elapsed() < Duration::from_millis(RETRANSMIT_MS) {
            if let Some(FromBox::Challenge { nonce, .. }) = receive(&mut buf)? {
                break 'challenge nonce;
            }
        }
    };
    let request = protocol::encode_request(key, &nonce, action, &plug);
    loop {
        verbose(&format!("request {} {}", action.as_str(), plug.as_str()));
        if let Err(e) = socket.send(&request) {
            verbose(&format!("send: {e}"));
        }
        let sent = Instant::now();
        while sent.elapsed() < Duration::from_millis(RETRANSMIT_MS) {
            match receive(&mut buf)? {
                Some(FromBox::Reply { nonce: n, answer }) if n == nonce => {
                    if answer != Answer::InProgress {
                        return Ok(answer);
                    }
                    verbose("in progress");
                }
                Some(FromBox::Refused { nonce: n, why }) if n == nonce => {
                    return Err(format!("the box refused the request: {}", why.as_str()));
                }
                _ => {}
            }
        }
    }
}

/// Connect to the box and load the key.
fn connect(options: &Options) -> Result<(UdpSocket, ClusterKey), String> {
    let key =
        crate::config::load_key(&options.key_file).map_err(|p| format!("{}: {}", p.location, p.message))?;
    let ip = options.ip.as_deref().unwrap_or_default();
    // An address, never a host name: a fence must not wait for DNS (nor may the static binary
    // load NSS modules).
    let host = ip.trim_start_matches('[').trim_end_matches(']');
    let addr = SocketAddr::new(
        host.parse::<IpAddr>()
            .map_err(|_| format!("ip {ip:?} is not an IP address (host names are not resolved)"))?,
        options.ipport,
    );
    // A SocketAddr, not a string: a string would link the resolver (getaddrinfo, NSS) into the
    // static binary, about 200 KB.
    let any: IpAddr =
        if addr.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).map_err(|e| e.to_string())?;
    socket.connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    Ok((socket, key))
}

/// The agent: `args` without argv[0]; standard input is read only when there are no
/// arguments. Returns the exit code.
pub fn main(args: &[String], stdin: &mut dyn BufRead, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let parsed = if args.is_empty() {
        let mut text = String::new();
        if let Err(e) =
            std::io::Read::read_to_string(&mut std::io::Read::take(stdin, MAX_STDIN_BYTES), &mut text)
        {
            let _ = writeln!(err, "{NAME}: reading standard input: {e}");
            return EXIT_FAILURE;
        }
        parse_stdin(&text)
    } else {
        parse_args(args)
    };
    let options = match parsed {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "{NAME}: {e}");
            return EXIT_FAILURE;
        }
    };
    for key in &options.ignored {
        let _ = writeln!(err, "{NAME}: ignoring unknown option {key:?}");
    }
    if options.help {
        let _ = write!(out, "{}", usage());
        return EXIT_SUCCESS;
    }
    if options.version {
        let _ = writeln!(out, "{NAME} (ha-agent {})", env!("CARGO_PKG_VERSION"));
        return EXIT_SUCCESS;
    }
    if options.action == AgentAction::Metadata {
        let _ = write!(out, "{}", metadata());
        return EXIT_SUCCESS;
    }
    if let Err(e) = validate(&options) {
        let _ = writeln!(err, "{NAME}: {e}");
        return EXIT_FAILURE;
    }
    if options.action == AgentAction::ValidateAll {
        return match crate::config::load_key(&options.key_file) {
            Ok(_) => EXIT_SUCCESS,
            Err(p) => {
                let _ = writeln!(err, "{NAME}: {}: {}", p.location, p.message);
                EXIT_FAILURE
            }
        };
    }
    let (socket, key) = match connect(&options) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{NAME}: Failed: {e}");
            return EXIT_FAILURE;
        }
    };
    let verbose = options.verbose;
    let log = |line: &str| {
        if verbose {
            eprintln!("{NAME}: {line}");
        }
    };
    if options.delay_s > 0 && matches!(options.action, AgentAction::Off | AgentAction::Reboot) {
        std::thread::sleep(Duration::from_secs(options.delay_s));
    }
    let plug = options.plug.clone().unwrap_or_default();
    let power = Duration::from_secs(options.power_timeout_s.max(1));
    let shell = Duration::from_secs(options.shell_timeout_s.max(1));
    let (action, timeout) = match options.action {
        AgentAction::On => (Action::On, power),
        AgentAction::Off => (Action::Off, power),
        AgentAction::Reboot => (Action::Reboot, power),
        AgentAction::Status => (Action::Status, shell),
        AgentAction::List | AgentAction::ListStatus | AgentAction::Monitor => (Action::List, shell),
        AgentAction::Metadata | AgentAction::ValidateAll => unreachable!("answered above"),
    };
    let answer = match ask(&socket, &key, action, &plug, timeout, &log) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "{NAME}: Failed: {e}");
            return EXIT_FAILURE;
        }
    };
    match (options.action, answer) {
        (AgentAction::Off, Answer::Done) => {
            let _ = writeln!(out, "Success: Powered OFF");
            EXIT_SUCCESS
        }
        (AgentAction::On, Answer::Done) => {
            let _ = writeln!(out, "Success: Powered ON");
            EXIT_SUCCESS
        }
        (AgentAction::Reboot, Answer::Done) => {
            let _ = writeln!(out, "Success: Rebooted");
            EXIT_SUCCESS
        }
        (AgentAction::Status, Answer::Status(p)) => {
            let (word, code) = match p {
                Power::On => ("ON", EXIT_SUCCESS),
                Power::Off => ("OFF", EXIT_OFF),
            };
            let _ = writeln!(out, "Status: {word}");
            code
        }
        (AgentAction::Monitor, Answer::Plugs(_)) => EXIT_SUCCESS,
        (AgentAction::List, Answer::Plugs(plugs)) => {
            for p in plugs.iter() {
                let _ = writeln!(out, "{p},");
            }
            EXIT_SUCCESS
        }
        (AgentAction::ListStatus, Answer::Plugs(plugs)) => {
            for p in plugs.iter() {
                let state = match ask(&socket, &key, Action::Status, p, shell, &log) {
                    Ok(Answer::Status(Power::On)) => "ON",
                    Ok(Answer::Status(Power::Off)) => "OFF",
                    _ => "UNKNOWN",
                };
                let _ = writeln!(out, "{p},,{state}");
            }
            EXIT_SUCCESS
        }
        (_, Answer::Failed(reason)) => {
            let _ = writeln!(err, "{NAME}: Failed: {reason}");
            EXIT_FAILURE
        }
        (_, Answer::Refused(r)) => {
            let _ = writeln!(err, "{NAME}: Failed: refused: {}", r.as_str());
            EXIT_FAILURE
        }
        (action, other) => {
            let _ = writeln!(err, "{NAME}: Failed: unexpected answer {other:?} to {action:?}");
            EXIT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn command_line_and_stdin_say_the_same() {
        let from_args =
            parse_args(&args("-o off -n pm-a -a 10.0.0.2 --ipport=7791 -k /k --power-timeout 30 -v"))
                .unwrap();
        let from_stdin = parse_stdin(
            "# from the fencer\naction=off\nport=pm-a\nipaddr=10.0.0.2\nipport=7791\nkey_file=/k\npower_timeout=30\nverbose=1\nnodename=pm-a\npcmk_host_list=pm-a\ncolour=red\n",
        )
        .unwrap();
        let expected = Options {
            action: AgentAction::Off,
            plug: Some("pm-a".into()),
            ip: Some("10.0.0.2".into()),
            ipport: 7791,
            key_file: PathBuf::from("/k"),
            power_timeout_s: 30,
            verbose: true,
            ..Options::default()
        };
        assert_eq!(from_args, expected);
        assert_eq!(from_stdin, Options { ignored: vec!["colour".into()], ..expected });
    }

    #[test]
    fn bad_options_are_named() {
        assert_eq!(parse_args(&args("-o explode")), Err("unknown action \"explode\"".into()));
        assert_eq!(parse_args(&args("-x")), Err("unknown option \"-x\"".into()));
        assert_eq!(parse_args(&args("-n")), Err("-n needs a id".into()));
        assert!(parse_stdin("ipport=0").is_err());
        assert!(parse_stdin("power_timeout=9999").is_err());
        assert!(parse_stdin("just words").is_err());
        let no_plug = parse_args(&args("-o off -a 10.0.0.2")).unwrap();
        assert_eq!(validate(&no_plug), Err("plug (-n) is required for this action".into()));
        let list = parse_args(&args("-o list -a 10.0.0.2")).unwrap();
        assert_eq!(validate(&list), Ok(()));
        let metadata = parse_args(&args("-o metadata")).unwrap();
        assert_eq!(validate(&metadata), Ok(()));
    }

    #[test]
    fn metadata_names_what_the_fencer_needs() {
        let xml = metadata();
        for needed in [
            "<resource-agent name=\"fence_rackha\"",
            "<parameter name=\"plug\" unique=\"0\" required=\"1\" obsoletes=\"port\">",
            "<parameter name=\"port\" unique=\"0\" required=\"1\" deprecated=\"1\">",
            "<parameter name=\"ip\" unique=\"0\" required=\"1\" obsoletes=\"ipaddr\">",
            "<action name=\"off\" />",
            "<action name=\"monitor\" />",
            "<action name=\"on\" automatic=\"0\"/>",
        ] {
            assert!(xml.contains(needed), "{needed} missing:\n{xml}");
        }
    }
}
