//! The command line of `ha-agent`: one table of commands, their operands, options and help,
//! the exit codes, and the argument parser every subcommand uses.
//!
//! Owns the grammar (`--config FILE` and `--config=FILE` alike, an unknown option named in the
//! error, `--wait[=SECONDS]`), the `help` texts, the exit-code table, and the man page section
//! and bash completion generated from the same table ([`docs`]). It also owns two pure pieces
//! of the operator's tools: the Nagios verdict of `status --check` ([`check`]) and the progress
//! of a command's `--wait` ([`wait`]), both computed from status documents. It does no I/O of
//! its own: `main.rs` talks to the socket and prints.

#![forbid(unsafe_code)]

pub mod check;
pub mod docs;
pub mod fence_agent;
pub mod wait;

/// Exit code: success (for `status --check`: OK).
pub const EXIT_OK: i32 = 0;
/// Exit code: invalid configuration (for `status --check`: WARNING).
pub const EXIT_INVALID: i32 = 1;
/// Exit code: usage error (for `status --check`: CRITICAL).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the running agent could not be reached, or the agent could not start (for
/// `status --check`: UNKNOWN).
pub const EXIT_UNREACHABLE: i32 = 3;
/// Exit code: the agent refused the command (the reason is printed).
pub const EXIT_REFUSED: i32 = 4;
/// Exit code: `--wait` expired before the cluster reached the asked state (what is missing is
/// printed).
pub const EXIT_TIMEOUT: i32 = 5;
/// Exit code: the operator did not confirm (`fence` without `--yes`).
pub const EXIT_NOT_CONFIRMED: i32 = 6;

/// `status --check` (Nagios plugin convention).
pub const CHECK_OK: i32 = 0;
pub const CHECK_WARNING: i32 = 1;
pub const CHECK_CRITICAL: i32 = 2;
pub const CHECK_UNKNOWN: i32 = 3;

// One meaning per number across the tool: check-config's codes are these.
const _: () = assert!(EXIT_OK == crate::config::report::EXIT_OK);
const _: () = assert!(EXIT_INVALID == crate::config::report::EXIT_INVALID);
const _: () = assert!(EXIT_USAGE == crate::config::report::EXIT_USAGE);
const _: () = assert!(CHECK_UNKNOWN == EXIT_UNREACHABLE);

/// Every exit code with its meaning: `ha-agent help`, the man page's EXIT STATUS.
pub const EXIT_CODES: &[(i32, &str)] = &[
    (EXIT_OK, "Success: the command was carried out (with --wait: the cluster reached the asked state); check-config: the configuration is valid; status --check: OK."),
    (EXIT_INVALID, "Invalid configuration (each problem printed); status --check: WARNING (a link down, a degraded array, a relay board that fails its health check, failed resources on the spare node, maintenance mode)."),
    (EXIT_USAGE, "Usage error: unknown command or option (named), missing or extra operand; status --check: CRITICAL (no holder, a member unreachable, a failed fence, failed resources on the holder, a failed stop)."),
    (EXIT_UNREACHABLE, "The agent could not start, or the running agent could not be reached (not running, no permission); status --check: UNKNOWN."),
    (EXIT_REFUSED, "The agent refused the command; the reason is printed (e.g. the node is not ready, maintenance mode is on)."),
    (EXIT_TIMEOUT, "--wait: the time ran out before the cluster reached the asked state; what was still missing is printed."),
    (EXIT_NOT_CONFIRMED, "fence: the operator did not type yes; nothing was done."),
];

/// `--wait` without a value waits this long.
pub const DEFAULT_WAIT_S: u64 = 60;
/// Bound on `--wait=SECONDS`.
pub const MAX_WAIT_S: u64 = 3600;

/// What an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    /// A flag: `--json`.
    Nothing,
    /// `--config FILE` or `--config=FILE`.
    Value(&'static str),
    /// `--wait` or `--wait=SECONDS` (only with `=`: the next word stays an operand).
    OptionalValue(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub name: &'static str,
    pub takes: Takes,
    pub help: &'static str,
}

/// What an operand is, for the synopsis and for completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A member's name (completed from the configuration).
    Node,
    /// One of these words.
    Word(&'static [&'static str]),
    /// A file.
    File,
    /// A command's name.
    Command,
}

#[derive(Clone, Copy, Debug)]
pub struct Command {
    pub name: &'static str,
    /// The operand's name in the synopsis (`NODE`, `on|off`, `FILE`), if any.
    pub operand: Option<(&'static str, Operand)>,
    /// At least this many operands, at most `max_operands`.
    pub min_operands: usize,
    pub max_operands: usize,
    pub options: &'static [Opt],
    /// Mutually exclusive options, shown as `[A | B]` in the synopsis.
    pub exclusive: &'static [(&'static str, &'static str)],
    /// Options that must be given (shown without brackets).
    pub required: &'static [&'static str],
    /// Paragraphs separated by blank lines (the man page and `help COMMAND`).
    pub help: &'static str,
    /// Not listed by `help`, the man page or the completion.
    pub hidden: bool,
}

const CONFIG: Opt = Opt {
    name: "--config",
    takes: Takes::Value("FILE"),
    help: "the configuration file (default /etc/ha-agent/agent.toml)",
};
const SOCKET: Opt = Opt {
    name: "--socket",
    takes: Takes::Value("PATH"),
    help: "the control socket, instead of the one the configuration names",
};
const WAIT: Opt = Opt {
    name: "--wait",
    takes: Takes::OptionalValue("SECONDS"),
    help: "print each step as it happens; exit 0 only once the cluster reached the asked state (SECONDS: default 60)",
};
const REMOTE: &[(&str, &str)] = &[("--config", "--socket")];

/// Every command. `main.rs` dispatches on the name; the order is the help's and the man page's.
pub const COMMANDS: &[Command] = &[
    Command {
        name: "run",
        operand: None,
        min_operands: 0,
        max_operands: 0,
        options: &[CONFIG],
        exclusive: &[],
        required: &[],
        help: "Run the agent in the foreground (systemd or the init script does this). Logs go to standard error; \
               HA_AGENT_LOG sets the level (error, warn, info, debug, trace; default info). Under systemd \
               (Type=notify) the agent reports READY=1 once its links are open and its state restored, and \
               STOPPING=1 when it begins a stop.",
        hidden: false,
    },
    Command {
        name: "check-config",
        operand: Some(("FILE", Operand::File)),
        min_operands: 1,
        // The cluster's three members' files at most.
        max_operands: 3,
        options: &[],
        exclusive: &[],
        required: &[],
        help: "Validate a configuration file and its key file: every problem with its line and a hint, and \
               the warnings. With the three members' files, also checks them against each other. Exit 0 valid \
               (warnings printed), 1 invalid. The systemd unit runs it before every start.",
        hidden: false,
    },
    Command {
        name: "status",
        operand: None,
        min_operands: 0,
        max_operands: 0,
        options: &[
            CONFIG,
            SOCKET,
            Opt { name: "--json", takes: Takes::Nothing, help: "print the status document (docs/status.md)" },
            Opt { name: "--watch", takes: Takes::Nothing, help: "redraw the screen every second" },
            Opt { name: "--check", takes: Takes::Nothing, help: "one line and a Nagios exit code" },
        ],
        exclusive: REMOTE,
        required: &[],
        help: "One 80x24 screen: members, links, who holds the service and under which generation, maintenance, \
               each node's readiness, resources, standby, watchdog and fence bound (on the witness), the fence \
               devices, the array and the last events. --json prints the status document, --watch redraws every \
               second.\n\n\
               --check prints one line as a Nagios plugin does (RACK-HA OK - holder node-a gen 3, 3/3 members, \
               4/4 links up | perfdata) and exits 0 OK, 1 WARNING (a link down, a degraded array, a relay board \
               that fails its health check, failed resources on the spare node, maintenance mode), 2 CRITICAL \
               (no holder, a member unreachable, a failed fence, failed resources on the holder, a failed stop), \
               3 UNKNOWN (the agent cannot be reached).",
        hidden: false,
    },
    Command {
        name: "move",
        operand: Some(("NODE", Operand::Node)),
        min_operands: 1,
        max_operands: 1,
        options: &[WAIT, CONFIG, SOCKET],
        exclusive: REMOTE,
        required: &[],
        help: "Witness: graceful switchover to NODE (stop on the holder, then start on NODE). Refused when NODE \
               is not ready, the witness is busy, or maintenance mode is on. With --wait: done once NODE holds \
               the service and runs it.",
        hidden: false,
    },
    Command {
        name: "standby",
        operand: Some(("NODE", Operand::Node)),
        min_operands: 1,
        max_operands: 1,
        options: &[WAIT, CONFIG, SOCKET],
        exclusive: REMOTE,
        required: &[],
        help: "Witness: NODE may not run the service (kept across a restart of the witness). If it runs it now, \
               it moves to the other node first; refused when no other node is ready to take it. With --wait: \
               done once NODE's resources are stopped and the holder, if any, runs the service.",
        hidden: false,
    },
    Command {
        name: "online",
        operand: Some(("NODE", Operand::Node)),
        min_operands: 1,
        max_operands: 1,
        options: &[WAIT, CONFIG, SOCKET],
        exclusive: REMOTE,
        required: &[],
        help: "Witness: NODE may run the service again (undoes standby). With --wait: done once NODE reports \
               itself ready (or holds and runs the service).",
        hidden: false,
    },
    Command {
        name: "fence",
        operand: Some(("NODE", Operand::Node)),
        min_operands: 1,
        max_operands: 1,
        options: &[
            Opt { name: "--yes", takes: Takes::Nothing, help: "do not ask for confirmation" },
            WAIT,
            CONFIG,
            SOCKET,
        ],
        exclusive: REMOTE,
        required: &[],
        help: "Witness: power NODE off now through its relay channel. Asks for confirmation unless --yes. Refused \
               for the only healthy node, without a relay channel, or while a fence runs. With --wait: done once \
               the power-off is confirmed and, if NODE held the service, the other node runs it.",
        hidden: false,
    },
    Command {
        name: "power-on",
        operand: Some(("NODE", Operand::Node)),
        min_operands: 1,
        max_operands: 1,
        options: &[CONFIG, SOCKET],
        exclusive: REMOTE,
        required: &[],
        help: "Witness: switch NODE's power on again through its relay channel (after a fence), like a fence \
               through the relay worker, and journaled. Refused while NODE is reachable (it is on) or being \
               fenced, and without a relay channel.",
        hidden: false,
    },
    Command {
        name: "maintenance",
        operand: Some(("on|off", Operand::Word(&["on", "off"]))),
        min_operands: 1,
        max_operands: 1,
        options: &[CONFIG, SOCKET],
        exclusive: REMOTE,
        required: &[],
        help: "Witness: maintenance mode. While on, resources are left exactly as they are (no start, stop, \
               monitor or restart) and nothing fails over or moves; status shows MAINTENANCE and a trap is \
               sent. A node that loses quorum still stops its resources (safety first). When turned off, the \
               nodes look again: what runs is monitored, a node without the grant stops everything.",
        hidden: false,
    },
    Command {
        name: "cleanup",
        operand: None,
        min_operands: 0,
        max_operands: 0,
        options: &[CONFIG, SOCKET],
        exclusive: REMOTE,
        required: &[],
        help: "Node: forget resource failures (restart counts, failed state) so the node may run the service again.",
        hidden: false,
    },
    Command {
        name: "reload",
        operand: None,
        min_operands: 0,
        max_operands: 0,
        options: &[CONFIG, SOCKET],
        exclusive: REMOTE,
        required: &[],
        help: "Re-read the configuration file (like SIGHUP). A bad file is refused with its problems and the \
               running configuration kept; a change that needs a restart is refused and named.",
        hidden: false,
    },
    Command {
        name: "log",
        operand: None,
        min_operands: 0,
        max_operands: 0,
        options: &[
            CONFIG,
            Opt { name: "--since", takes: Takes::Value("TIME"), help: "records from this time on" },
            Opt { name: "--since-seq", takes: Takes::Value("N"), help: "records after sequence number N" },
            Opt { name: "--follow", takes: Takes::Nothing, help: "wait for new records" },
        ],
        exclusive: &[("--since", "--since-seq")],
        required: &[],
        help: "Print the durable journal, oldest first, times in UTC. TIME: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS], \
               10m / 2h / 1d (that long ago) or @UNIX_SECONDS. --follow waits for new records.",
        hidden: false,
    },
    Command {
        name: "fence-test",
        operand: None,
        min_operands: 0,
        max_operands: 0,
        options: &[
            Opt { name: "--channel", takes: Takes::Value("N|NODE"), help: "the relay channel (index or node)" },
            CONFIG,
        ],
        exclusive: &[],
        required: &["--channel"],
        help: "Read a relay channel's state without switching anything; says whether the board answers. Its own \
               exit codes: 0 answered, 1 invalid configuration or unknown channel, 2 usage error, 3 no or wrong \
               answer, 4 the channel cannot read back (nothing checked).",
        hidden: false,
    },
    Command {
        name: "watchdog-test",
        operand: None,
        min_operands: 0,
        max_operands: 0,
        options: &[
            Opt { name: "--device", takes: Takes::Value("PATH"), help: "the watchdog device (default /dev/watchdog)" },
            Opt { name: "--timeout-s", takes: Takes::Value("SECONDS"), help: "the timeout to arm" },
            Opt { name: "--seconds", takes: Takes::Value("SECONDS"), help: "stop after this long" },
        ],
        exclusive: &[],
        required: &[],
        help: "Arm the hardware watchdog, report what the driver says (identity, timeout, whether the last reset \
               came from it), feed it until SIGTERM or SIGINT (or for --seconds), close it cleanly. A hang of this \
               process resets the machine: that is the test. Exit 0 stopped cleanly, 2 usage error, 3 could not \
               arm, feed or disarm.",
        hidden: false,
    },
    Command {
        name: "fence-agent",
        operand: None,
        min_operands: 0,
        max_operands: 0,
        options: &[
            Opt { name: "--action", takes: Takes::Value("ACTION"), help: "on, off, reboot, status, list, list-status, monitor, metadata or validate-all (-o; default reboot)" },
            Opt { name: "--plug", takes: Takes::Value("NAME"), help: "the plug: the other cluster's node, as the box's [fence_service] names it (-n)" },
            Opt { name: "--ip", takes: Takes::Value("ADDRESS"), help: "the box's IP address (-a)" },
            Opt { name: "--ipport", takes: Takes::Value("PORT"), help: "the box's fence service port (-u; default 7790)" },
            Opt { name: "--key-file", takes: Takes::Value("FILE"), help: "the fence service's key (-k; default /etc/ha-agent/fence.key)" },
            Opt { name: "--power-timeout", takes: Takes::Value("SECONDS"), help: "how long on, off and reboot may take (default 40)" },
            Opt { name: "--verbose", takes: Takes::Nothing, help: "say each step on standard error (-v)" },
        ],
        exclusive: &[],
        required: &[],
        help: "The fence agent another cluster's fencer runs (installed as /usr/sbin/fence_rackha, which is \
               this binary): asks a box's [fence_service] to switch a plug, over UDP, authenticated with the \
               dedicated key and replay-proof (docs/fence-agent.md). It follows the fence-agents conventions, \
               not this table's: run without arguments it reads key=value lines on standard input (action, \
               plug or port, ip or ipaddr, ipport, key_file, power_timeout, delay), as Pacemaker's fencer runs \
               it; short options -o -n -a -u -k -v as fence agents have them. Its own exit codes: 0 success \
               (status: on), 1 failure, 2 status: off.",
        hidden: false,
    },
    Command {
        name: "update",
        operand: Some((
            "status|apply|commit|repair|pack",
            Operand::Word(&["status", "apply", "commit", "repair", "pack"]),
        )),
        min_operands: 1,
        // apply FILE, pack SQUASHFS.
        max_operands: 2,
        options: &[
            Opt { name: "--key", takes: Takes::Value("FILE"), help: "the update key (default /etc/ha-agent/update.key)" },
            Opt { name: "--no-reboot", takes: Takes::Nothing, help: "apply: do not reboot after writing the slot" },
            Opt {
                name: "--wait",
                takes: Takes::OptionalValue("SECONDS"),
                help: "commit: wait until the agent is ready and has heard its peers (SECONDS: default 60)",
            },
            Opt { name: "--no-peers", takes: Takes::Nothing, help: "commit: the agent's answer is enough" },
            Opt { name: "--version", takes: Takes::Value("V"), help: "pack: the release's name" },
            Opt { name: "--output", takes: Takes::Value("FILE"), help: "pack: the update file to write" },
            CONFIG,
            SOCKET,
        ],
        exclusive: REMOTE,
        required: &[],
        help: "Appliance: field update of the root slots A/B (docs/image.md). `update apply FILE` checks the update \
               file (its manifest's HMAC-SHA-256 with the update key, the slot image's size and SHA-256) before \
               anything is written, writes the slot not running, reads it back, marks it to be tried once and \
               reboots. `update commit` makes the running trial slot the committed one once the agent has been \
               ready and heard its peers for 30 s (init runs it at every boot; a trial that does not get there reboots to \
               the committed slot, and so do a panic and a watchdog reset). `update status` shows the slots, \
               their releases, which one booted and which one is committed. `update repair` makes the environment \
               block's two copies equal (the one GRUB believes written over the other; init runs it at every \
               boot from a slot). `update pack SQUASHFS --key FILE \
               --version V --output FILE` makes an update file. The data partition is never touched.",
        hidden: false,
    },
    Command {
        name: "help",
        operand: Some(("COMMAND", Operand::Command)),
        min_operands: 0,
        max_operands: 1,
        options: &[],
        exclusive: &[],
        required: &[],
        help: "All commands, or one command's explanation. `ha-agent COMMAND --help` does the same.",
        hidden: false,
    },
    Command {
        name: "version",
        operand: None,
        min_operands: 0,
        max_operands: 0,
        options: &[],
        exclusive: &[],
        required: &[],
        help: "Print the version.",
        hidden: false,
    },
];

/// The command named `name`.
pub fn command(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

impl Command {
    /// `move NODE [--wait[=SECONDS]] [--config FILE | --socket PATH]`.
    pub fn synopsis(&self) -> String {
        let mut s = self.name.to_string();
        if let Some((operand, _)) = self.operand {
            let one = if self.max_operands > 1 { format!("{operand}...") } else { operand.to_string() };
            if self.min_operands == 0 {
                s.push_str(&format!(" [{one}]"));
            } else {
                s.push(' ');
                s.push_str(&one);
            }
        }
        let mut shown: Vec<&str> = Vec::new();
        for o in self.options {
            if shown.contains(&o.name) {
                continue;
            }
            let partner = self.exclusive.iter().find_map(|(a, b)| {
                if *a == o.name {
                    Some(*b)
                } else if *b == o.name {
                    Some(*a)
                } else {
                    None
                }
            });
            match partner.and_then(|p| self.options.iter().find(|x| x.name == p)) {
                Some(p) => {
                    s.push_str(&format!(" [{} | {}]", o.usage(), p.usage()));
                    shown.push(p.name);
                }
                None if self.required.contains(&o.name) => s.push_str(&format!(" {}", o.usage())),
                None => s.push_str(&format!(" [{}]", o.usage())),
            }
            shown.push(o.name);
        }
        s
    }
}

impl Opt {
    /// `--config FILE`, `--wait[=SECONDS]`, `--json`.
    pub fn usage(&self) -> String {
        match self.takes {
            Takes::Nothing => self.name.to_string(),
            Takes::Value(v) => format!("{} {v}", self.name),
            Takes::OptionalValue(v) => format!("{}[={v}]", self.name),
        }
    }
}

/// A command line parsed against its [`Command`]: operands, and the options given (with their
/// values; `None` for a flag or an optional value left out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub operands: Vec<String>,
    pub options: Vec<(&'static str, Option<String>)>,
}

impl Parsed {
    pub fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| *n == name)
    }

    /// The value of an option given with a value (the last one given wins).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.options.iter().rev().find(|(n, _)| *n == name).and_then(|(_, v)| v.as_deref())
    }

    /// The options again as `--name VALUE` words (for the device checks' own parsers).
    pub fn option_words(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in &self.options {
            out.push(name.to_string());
            if let Some(v) = value {
                out.push(v.clone());
            }
        }
        out
    }

    /// `--wait`: `None` when not given, else how long in seconds.
    pub fn wait_s(&self) -> Option<u64> {
        if !self.has("--wait") {
            return None;
        }
        Some(self.value("--wait").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_WAIT_S))
    }
}

/// Parse `args` (what follows the command's name). `Err` is the usage error to print, naming
/// what is wrong.
pub fn parse(cmd: &Command, args: &[String]) -> Result<Parsed, String> {
    let who = format!("ha-agent {}", cmd.name);
    let mut parsed = Parsed::default();
    let mut i = 0;
    let mut only_operands = false;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if only_operands || !arg.starts_with('-') || arg == "-" {
            parsed.operands.push(arg.to_string());
            continue;
        }
        if arg == "--" {
            only_operands = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg, None),
        };
        let Some(opt) = cmd.options.iter().find(|o| o.name == name) else {
            let known: Vec<&str> = cmd.options.iter().map(|o| o.name).collect();
            return Err(if known.is_empty() {
                format!("{who}: unknown option {name} (this command takes no options)")
            } else {
                format!("{who}: unknown option {name} (options: {})", known.join(", "))
            });
        };
        let value = match (opt.takes, inline) {
            (Takes::Nothing, Some(_)) => return Err(format!("{who}: option {name} takes no value")),
            (Takes::Nothing, None) | (Takes::OptionalValue(_), None) => None,
            (Takes::Value(_) | Takes::OptionalValue(_), Some(v)) => Some(v),
            (Takes::Value(what), None) => match args.get(i) {
                Some(v) => {
                    i += 1;
                    Some(v.clone())
                }
                None => return Err(format!("{who}: option {name} needs a value ({name} {what})")),
            },
        };
        if value.as_deref() == Some("") {
            return Err(format!("{who}: option {name} needs a value"));
        }
        if name == "--wait" {
            if let Some(v) = &value {
                match v.parse::<u64>() {
                    Ok(s) if (1..=MAX_WAIT_S).contains(&s) => {}
                    _ => return Err(format!("{who}: --wait={v}: seconds from 1 to {MAX_WAIT_S}")),
                }
            }
        }
        parsed.options.push((opt.name, value));
    }
    for (a, b) in cmd.exclusive {
        if parsed.has(a) && parsed.has(b) {
            return Err(format!("{who}: {a} and {b} exclude each other"));
        }
    }
    if let Some(missing) = cmd.required.iter().find(|r| !parsed.has(r)) {
        return Err(format!("{who}: {missing} is required"));
    }
    let n = parsed.operands.len();
    if n < cmd.min_operands || n > cmd.max_operands {
        let what = cmd.operand.map_or("no operand", |(o, _)| o);
        return Err(match (n, cmd.operand) {
            (_, None) => {
                format!("{who}: unexpected operand {:?} (this command takes none)", parsed.operands[0])
            }
            (0, _) => format!("{who}: missing {what}"),
            _ => format!("{who}: too many operands ({n}): {}", parsed.operands.join(" ")),
        });
    }
    // The first operand is the word; a second one (update apply FILE) is a file.
    if let Some((what, Operand::Word(words))) = cmd.operand {
        if let Some(bad) = parsed.operands.iter().take(1).find(|o| !words.contains(&o.as_str())) {
            return Err(format!("{who}: {bad:?} is not one of {what}"));
        }
    }
    Ok(parsed)
}

/// The text of `ha-agent help` (every visible command) or of one command.
pub fn help_text(cmd: Option<&Command>) -> String {
    let indent = |text: &str, by: &str| -> String {
        text.split("\n\n").map(|p| wrap(p, 76, by)).collect::<Vec<_>>().join("\n\n")
    };
    match cmd {
        Some(c) => {
            let mut s = format!("usage: ha-agent {}\n\n{}\n", c.synopsis(), indent(c.help, ""));
            if !c.options.is_empty() {
                s.push_str("\noptions:\n");
                for o in c.options {
                    let text = wrap(o.help, 80, &" ".repeat(25));
                    s.push_str(&format!("  {:<22} {}\n", o.usage(), text.trim_start()));
                }
            }
            s
        }
        None => {
            let mut s = String::new();
            for c in COMMANDS.iter().filter(|c| !c.hidden) {
                s.push_str(&format!("ha-agent {}\n{}\n\n", c.synopsis(), indent(c.help, "    ")));
            }
            s.push_str("Exit codes:\n");
            for (code, meaning) in EXIT_CODES {
                s.push_str(&format!("  {code}  {}\n", wrap(meaning, 72, "     ").trim_start()));
            }
            s
        }
    }
}

/// The short usage printed with a usage error.
pub fn usage_text() -> String {
    let mut text = String::from("usage:");
    for (i, c) in COMMANDS.iter().filter(|c| !c.hidden).enumerate() {
        text.push_str(if i == 0 { " ha-agent " } else { "       ha-agent " });
        text.push_str(&c.synopsis());
        text.push('\n');
    }
    text.push_str(&format!(
        "`ha-agent help COMMAND` (or `ha-agent COMMAND --help`) explains one command.\n\
         Default configuration: {}\n\
         Exit codes: 0 ok, 1 invalid configuration, 2 usage error, 3 agent not reachable,\n\
         4 refused by the agent, 5 --wait timed out, 6 not confirmed (`ha-agent help` explains them).",
        crate::config::DEFAULT_PATH
    ));
    text
}

/// `text` wrapped at `width` columns, every line starting with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            lines.push(format!("{indent}{line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(format!("{indent}{line}"));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options_take_their_value_both_ways_and_unknown_ones_are_named() {
        let status = command("status").unwrap();
        let a = parse(status, &args("--config=/x.toml --check")).unwrap();
        let b = parse(status, &args("--config /x.toml --check")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.value("--config"), Some("/x.toml"));
        assert!(a.has("--check"));
        let e = parse(status, &args("--bogus")).unwrap_err();
        assert!(e.contains("unknown option --bogus") && e.contains("--config"), "{e}");
        let e = parse(status, &args("--config")).unwrap_err();
        assert!(e.contains("--config needs a value"), "{e}");
        let e = parse(status, &args("--json=yes")).unwrap_err();
        assert!(e.contains("--json takes no value"), "{e}");
        let e = parse(status, &args("--config a --socket b")).unwrap_err();
        assert!(e.contains("exclude each other"), "{e}");
        let e = parse(status, &args("node-a")).unwrap_err();
        assert!(e.contains("unexpected operand"), "{e}");
    }

    #[test]
    fn wait_takes_an_optional_value_only_after_an_equals_sign() {
        let mv = command("move").unwrap();
        let p = parse(mv, &args("node-b --wait")).unwrap();
        assert_eq!((p.operands.clone(), p.wait_s()), (vec!["node-b".to_string()], Some(DEFAULT_WAIT_S)));
        let p = parse(mv, &args("--wait node-b")).unwrap();
        assert_eq!(p.operands, vec!["node-b".to_string()], "the next word stays the operand");
        let p = parse(mv, &args("node-b --wait=7")).unwrap();
        assert_eq!(p.wait_s(), Some(7));
        assert_eq!(parse(mv, &args("node-b")).unwrap().wait_s(), None);
        assert!(parse(mv, &args("node-b --wait=0")).unwrap_err().contains("--wait=0"));
        assert!(parse(mv, &args("node-b --wait=soon")).is_err());
        assert!(parse(mv, &args("")).unwrap_err().contains("missing NODE"));
        assert!(parse(mv, &args("a b")).unwrap_err().contains("too many operands"));
        let m = command("maintenance").unwrap();
        assert!(parse(m, &args("maybe")).unwrap_err().contains("not one of on|off"));
        let c = command("check-config").unwrap();
        assert_eq!(parse(c, &args("a.toml b.toml c.toml")).unwrap().operands.len(), 3);
    }

    #[test]
    fn synopses_and_help_come_from_the_table() {
        assert_eq!(
            command("move").unwrap().synopsis(),
            "move NODE [--wait[=SECONDS]] [--config FILE | --socket PATH]"
        );
        assert_eq!(command("check-config").unwrap().synopsis(), "check-config FILE...");
        assert_eq!(command("help").unwrap().synopsis(), "help [COMMAND]");
        let fence_test = command("fence-test").unwrap();
        assert_eq!(fence_test.synopsis(), "fence-test --channel N|NODE [--config FILE]");
        assert!(parse(fence_test, &args("--config x")).unwrap_err().contains("--channel is required"));
        assert!(parse(fence_test, &args("--channel=node-a")).is_ok());
        let all = help_text(None);
        assert!(all.contains("ha-agent power-on NODE") && !all.contains("generate-docs"), "{all}");
        for (code, _) in EXIT_CODES {
            assert!(all.contains(&format!("  {code}  ")), "{all}");
        }
        let one = help_text(command("fence"));
        assert!(one.starts_with("usage: ha-agent fence NODE [--yes]"), "{one}");
        assert!(one.lines().skip(1).all(|l| l.chars().count() <= 80), "{one}");
        let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "one entry per command: {names:?}");
    }
}
