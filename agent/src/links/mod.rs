//! Transports that carry encoded frames between members: serial ports, UDP sockets and raw
//! Ethernet. They own file descriptors and framing on the medium; they know nothing about
//! authentication, sequence numbers or liveness (the core decides those).
//!
//! A *transport* is one descriptor: a serial port (one link), a UDP socket (every link with the
//! same local address) or a packet socket (every link on the same interface). The shell maps
//! links to transports.

pub mod fd;
pub mod packet_sys;
pub mod raw_eth;
pub mod serial;
pub mod udp;
