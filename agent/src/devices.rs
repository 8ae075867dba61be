//! Devices the agent drives outside its links: the fencing relays that cut a server's power
//! and the hardware watchdog that resets a hung member.
//!
//! - [`relay`]: one small interface for a relay channel and its drivers (serial boards as pure
//!   codecs plus a blocking executor, GPIO character device, external fence-agent command).
//! - [`fence`]: the fence procedure (read, off, poll until confirmed) as a sans-I/O state
//!   machine with a blocking driver, and the relay health-check policy.
//! - [`watchdog`]: `/dev/watchdog` ownership, identification, timeout, boot status, feeding,
//!   magic close, and the pure feed policy.
//! - [`console`]: the RAID controller's console (session, model and dialects, serial adapter).
//! - [`config`]: the `[relay]` and `[watchdog]` TOML sections.
//! - `ioctl`: the only module here with `unsafe` (GPIO uAPI v2 and watchdog ioctls).
//!
//! The pure parts (the relay trait and codecs, the fence procedure, the feed policy, the
//! console session, model and dialects) live in `ha-core` and are re-exported by the modules
//! here. It does not decide *when* to fence or self-fence (the core does), and it does not run
//! a loop of its own: the shell calls it. The operator's probes (`fence-test`,
//! `watchdog-test`) are [`crate::probes`].

// No `forbid` here: `ioctl` allows unsafe code; every other module forbids it itself.

pub mod config;
pub mod console;
mod ioctl;

/// The fence procedure (`ha_core::fence`) with the process's clock ([`fence::SystemClock`]).
pub mod fence {
    pub use super::clock::SystemClock;
    pub use ha_core::fence::*;
}
mod clock;
pub mod relay;
pub mod watchdog;
