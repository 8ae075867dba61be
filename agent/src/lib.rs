//! The rack HA controller agent, as a library; `src/main.rs` is a thin multi-call front end.
//!
//! One binary runs on every member of a three-member cluster: the management box in the
//! `witness` role and each of the two servers in the `node` role. The pure part (every decision
//! and every byte layout) is the crate `ha-core` (`core/`), which has no I/O dependency and
//! forbids `unsafe`; this crate is the shell around it: configuration, drivers, the poll loop,
//! the journal, the control socket and the command line. `ha-core`'s modules are re-exported
//! at their historical paths ([`time`], [`wire`], [`core`], and inside [`devices`] and
//! [`snmp`]), so `crate::core::…` works here as before. Layered like smoltcp, each layer saying
//! what it owns and what it does not:
//!
//! - [`time`], [`wire`], [`core`] (from `ha-core`): the monotonic clock type; the heartbeat
//!   frame and serial framing; the sans-I/O state machines (failure detection, the authority,
//!   the resource group, array state diffing, the engine). They take `(now, input)`, return
//!   actions and their next deadline, and never touch a clock, a file descriptor, a signal or
//!   randomness of their own. This is what makes deterministic simulation possible.
//! - [`problem`]: what a configuration problem is and where (kind, typed key path, the sink
//!   every section's validator writes to), below `config`, `devices` and `snmp`.
//! - [`config`]: the TOML configuration, parsed at the edge into typed, validated values, and
//!   the explanations `ha-agent check-config` prints; [`config::role`] maps a configuration
//!   and the restored durable state to the roles' core configuration, purely (the simulator
//!   uses the same function). It does no I/O beyond reading the file and inspecting the key
//!   file's metadata.
//! - [`links`]: transports that move encoded frames: serial ports, UDP sockets, raw Ethernet
//!   (AF_PACKET). They know nothing about liveness or authentication.
//! - [`devices`]: the relay drivers, the hardware watchdog device, the RAID console's serial
//!   adapter, with the pure parts (codecs, the fence procedure, the feed decision, the console
//!   session and dialects) re-exported from `ha-core`.
//! - [`fencesvc`]: the fence service another cluster's fencer asks through `fence_rackha`:
//!   its datagrams, the box's nonce table and decisions, its configuration section and the
//!   fence agent. Pure but for the agent's `main`; the socket is the shell's.
//! - [`probes`]: `ha-agent fence-test` and `watchdog-test`, the operator's checks of the
//!   devices.
//! - [`snmp`]: the readable objects, the command responder, the `[snmp]` section and the
//!   durable inform queue, with BER, messages, USM, the MIB and the notifier from `ha-core`.
//! - [`journal`]: the append-only, checksummed event log on the data partition.
//! - [`shell`]: the one poll loop that owns the clock, the file descriptors, the signals, the
//!   control socket, the durable state files, the OCF runner, the relay worker, the watchdog,
//!   the SNMP socket and the journal, and feeds the core.
//! - [`status`]: the typed status document; [`control`]: the control-socket protocol and the
//!   human rendering of `ha-agent status`.
//! - [`update`]: field updates of the appliance's root slots (A/B): the update file's
//!   manifest and HMAC, GRUB's environment block, the decisions of apply, commit and rollback
//!   (pure), and the slot writer (I/O edge).
//! - [`cli`]: the command table of `ha-agent` (options, help, exit codes, man page and
//!   completion), `status --check`'s verdict and `--wait`'s progress, pure functions of status
//!   documents.
//!
//! - [`sys`]: process-level calls (scheduling, threads, the malloc arena) behind safe
//!   functions, below both the shell and the drivers; in the static build, the C library
//!   names replaced for size (gettext, the unwinder).
//!
//! `unsafe` lives only in `sys`, `links::fd`, `links::packet_sys` and `devices::ioctl`
//! (small modules with safe APIs); every other module forbids it, and `ha-core` forbids it
//! crate-wide.

#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod control;
pub use ha_core::core;
pub mod devices;
pub mod fencesvc;
pub mod journal;
pub mod links;
pub mod probes;
pub mod problem;
pub mod shell;
pub mod snmp;
pub mod status;
pub mod sys;
pub use ha_core::{time, wire};
pub mod update;
