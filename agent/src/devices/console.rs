//! RAID controller consoles: watching the array through the controller's RS-232 CLI.
//!
//! The pure parts (the session state machine, the canonical model, the dialects and their
//! parsers) live in `ha_core::console` and are re-exported here. This module adds what touches
//! the system or the configuration:
//!
//! - [`serial`]: the shell-side adapter that owns the port and feeds the session without ever
//!   blocking the agent's loop.
//! - [`config`]: the `[array]` TOML section. [`status`]: the array summary for `ha-agent
//!   status`.

#![forbid(unsafe_code)]

pub use ha_core::console::*;
pub use ha_core::console::{areca, infortrend, megacli, model, session};

pub mod config;
pub mod serial;
pub mod status;
