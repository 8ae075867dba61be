//! Transports that carry encoded frames between members: serial ports, UDP sockets and raw
//! Ethernet. They own file descriptors and framing on the medium; they know nothing about
//! authentication, sequence numbers or liveness (the core decides those).

pub mod packet_sys;
pub mod raw_eth;
