//! The fence service: how the box switches a power relay for a cluster that is not its own
//! (Pacemaker's fencer running `fence_rackha` on the other cluster's nodes).
//!
//! Owns the protocol ([`protocol`]: the datagrams, HMAC-SHA-256 under a dedicated key) and
//! the box's decisions ([`server`]: nonces issued by the box and used once, the allowlist, the
//! rate limit, which plug may be switched), both pure. The `[fence_service]` section is
//! `config::fence_service`, the fence agent that speaks the protocol `cli::fence_agent`. It
//! does not own the socket, the relay or the journal: `shell::fence_service` serves the socket
//! from the witness's loop and carries out each command through the same fence procedure and
//! drivers as the box's own fences (`devices::fence`). The reference is docs/fence-agent.md.

#![forbid(unsafe_code)]

pub mod protocol;
pub mod server;
