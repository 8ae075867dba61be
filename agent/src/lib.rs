//! The rack HA controller agent, as a library; `src/main.rs` is a thin multi-call front end.
//!
//! One binary runs on every member of a three-member cluster: the management box in the
//! `witness` role and each of the two servers in the `node` role. The crate is layered like
//! smoltcp, each layer saying what it owns and what it does not:
//!
//! - [`time`]: the monotonic microsecond clock type the core is driven with. It never reads a
//!   clock itself; the shell does.
//! - [`config`]: the TOML configuration, parsed at the edge into typed, validated values, and
//!   the explanations `ha-agent check-config` prints. It does no I/O beyond reading the file and
//!   inspecting the key file's metadata.
//! - [`wire`]: the heartbeat frame format (header, postcard body, truncated HMAC-SHA-256) and
//!   the serial framing (COBS + CRC-32). Pure functions on byte slices; no sockets.
//! - [`core`]: sans-I/O state machines: failure detection, the authority (witness arbitration,
//!   node rules, fence decisions), the resource group, array state diffing, and the engine that
//!   wires one member's core together. They take `(now, input)`, return actions and their next
//!   deadline, and never touch a clock, a file descriptor, a signal or randomness of their own.
//!   This is what makes deterministic simulation possible.
//! - [`links`]: transports that move encoded frames: serial ports, UDP sockets, raw Ethernet
//!   (AF_PACKET). They know nothing about liveness or authentication.
//! - [`devices`]: relay boards and the fence procedure, the hardware watchdog, the RAID
//!   controller's console (session and dialects). Codecs are pure; the executors own ports.
//! - [`fencesvc`]: the fence service another cluster's fencer asks through `fence_rackha`:
//!   its datagrams, the box's nonce table and decisions, its configuration section and the
//!   fence agent. Pure but for the agent's `main`; the socket is the shell's.
//! - [`snmp`]: BER, SNMP v1/v2c/v3 messages, USM, the MIB's notifications and the sans-I/O
//!   notifier with its durable queue. No socket of its own.
//! - [`journal`]: the append-only, checksummed event log on the data partition.
//! - [`shell`]: the one poll loop that owns the clock, the file descriptors, the signals, the
//!   control socket, the durable state files, the OCF runner, the relay worker, the watchdog,
//!   the SNMP socket and the journal, and feeds the core.
//! - [`control`]: the control-socket protocol and the human rendering of `ha-agent status`.
//! - [`update`]: field updates of the appliance's root slots (A/B): the update file's
//!   manifest and HMAC, GRUB's environment block, the decisions of apply, commit and rollback
//!   (pure), and the slot writer (I/O edge).
//! - [`cli`]: the command table of `ha-agent` (options, help, exit codes, man page and
//!   completion), `status --check`'s verdict and `--wait`'s progress, pure functions of status
//!   documents.
//!
//! `unsafe` lives only in `shell::sys`, `links::fd`, `links::packet_sys` and `devices::ioctl`
//! (small modules with safe APIs); every other module forbids it.

#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod control;
pub mod core;
pub mod devices;
pub mod fencesvc;
pub mod journal;
pub mod links;
pub mod shell;
pub mod snmp;
pub mod status;
pub mod time;
pub mod update;
pub mod wire;
