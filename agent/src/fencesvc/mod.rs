//! The fence service: how the box switches a power relay for a cluster that is not its own
//! (Pacemaker's fencer running `fence_rackha` on the other cluster's nodes).
//!
//! Owns the protocol ([`protocol`]: the datagrams, HMAC-SHA-256 under a dedicated key), the
//! box's decisions ([`server`]: nonces issued by the box and used once, the allowlist, the
//! rate limit, which plug may be switched) and the `[fence_service]` section ([`config`]), all
//! pure. The fence agent that speaks it is `cli::fence_agent`. It does not own the socket,
//! the relay or the journal: `shell::fence_service` serves the socket from the witness's loop
//! and carries out each command through the same fence procedure and drivers as the box's own
//! fences (`devices::fence`). The reference is docs/fence-agent.md.

#![forbid(unsafe_code)]

pub mod config;
pub mod protocol;
pub mod server;
