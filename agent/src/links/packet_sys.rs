//! The few Linux `AF_PACKET` system calls that rustix does not wrap, behind a safe API:
//! binding a packet socket to one interface and EtherType (`sockaddr_ll`), receiving with the
//! packet type the kernel reports, and reading an interface's hardware address
//! (`SIOCGIFHWADDR`). It owns the packet socket's file descriptor and nothing else: no
//! Ethernet framing, no payload format, no policy about which packets to keep (that is
//! [`super::raw_eth`]). Socket creation, `send` and the name-to-index lookup go through rustix.
//!
//! This is one of the two modules where `unsafe` is allowed (with `shell::sys`); every unsafe
//! block says why it is sound.

#![allow(unsafe_code)]

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::net::{AddressFamily, SendFlags, SocketFlags, SocketType};

/// `PACKET_OUTGOING` from `<linux/if_packet.h>`: a packet we sent, looped back to taps.
pub const PACKET_OUTGOING: u8 = 4;
/// `ARPHRD_ETHER` from `<linux/if_arp.h>`: the interface carries Ethernet II frames.
pub const ARPHRD_ETHER: u16 = 1;
/// Length of an Ethernet hardware address.
pub const ETHERNET_ADDRESS_BYTES: usize = 6;
/// `IFNAMSIZ` minus the terminating NUL: the longest interface name Linux accepts.
pub const MAX_INTERFACE_NAME_BYTES: usize = 15;

/// One packet read by [`PacketSocket::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedPacket {
    /// The packet's real length on the wire (may exceed the buffer: see `truncated`).
    pub packet_bytes: usize,
    /// True when the packet did not fit in the buffer and only its head was copied.
    pub truncated: bool,
    /// `sll_pkttype`: `PACKET_HOST`, `PACKET_BROADCAST`, ..., [`PACKET_OUTGOING`].
    pub packet_type: u8,
}

/// A hardware address as `SIOCGIFHWADDR` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardwareAddress {
    /// `ARPHRD_*` type of the interface ([`ARPHRD_ETHER`] for Ethernet).
    pub hardware_type: u16,
    /// The first six bytes of the address (the whole address for Ethernet).
    pub bytes: [u8; ETHERNET_ADDRESS_BYTES],
}

/// A non-blocking, close-on-exec `AF_PACKET`/`SOCK_RAW` socket bound to one interface and one
/// EtherType. It sends and receives whole Ethernet frames (header included).
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    interface_index: u32,
}

impl PacketSocket {
    /// Open a packet socket on `interface` that receives only frames of `ethertype`.
    ///
    /// The socket is created with protocol 0 (it receives nothing) and the EtherType is given
    /// only in `bind`, which also names the interface: creating it with the EtherType would
    /// deliver frames from *every* interface in the short window before `bind`.
    pub fn open(interface: &str, ethertype: u16) -> io::Result<Self> {
        check_interface_name(interface)?;
        let fd = rustix::net::socket_with(
            AddressFamily::PACKET,
            SocketType::RAW,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|errno| {
            let error = io::Error::from(errno);
            io::Error::new(
                error.kind(),
                format!("cannot open a packet socket for {interface:?}: {error} (needs CAP_NET_RAW)"),
            )
        })?;
        let interface_index = rustix::net::netdevice::name_to_index(&fd, interface)
            .map_err(|errno| interface_error(interface, errno.into()))?;
        bind_packet(fd.as_fd(), interface_index, ethertype).map_err(|error| {
            io::Error::new(error.kind(), format!("cannot bind a packet socket to {interface:?}: {error}"))
        })?;
        Ok(PacketSocket { fd, interface_index })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn interface_index(&self) -> u32 {
        self.interface_index
    }

    /// The hardware address of `interface`, read through this socket (so in its namespace).
    pub fn hardware_address(&self, interface: &str) -> io::Result<HardwareAddress> {
        check_interface_name(interface)?;
        hardware_address(self.fd.as_fd(), interface).map_err(|error| interface_error(interface, error))
    }

    /// Send one whole Ethernet frame (header included) out of the bound interface.
    /// Returns `WouldBlock` when the device queue is full; never blocks.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        let sent_bytes = rustix::net::send(&self.fd, packet, SendFlags::DONTWAIT)?;
        if sent_bytes != packet.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("packet socket sent {sent_bytes} of {} bytes", packet.len()),
            ));
        }
        Ok(())
    }

    /// Receive one packet into `buffer` without blocking (`WouldBlock` when none is queued).
    pub fn recv(&self, buffer: &mut [u8]) -> io::Result<ReceivedPacket> {
        recv_packet(self.fd.as_fd(), buffer)
    }
}

/// Reject names Linux cannot hold before they reach an ioctl, with an error naming them.
fn check_interface_name(interface: &str) -> io::Result<()> {
    let valid = !interface.is_empty()
        && interface.len() <= MAX_INTERFACE_NAME_BYTES
        && !interface.bytes().any(|byte| byte == 0 || byte == b'/' || byte.is_ascii_whitespace());
    if valid {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{interface:?} is not a valid network interface name"),
        ))
    }
}

fn interface_error(interface: &str, error: io::Error) -> io::Error {
    if error.raw_os_error() == Some(libc::ENODEV) {
        io::Error::new(io::ErrorKind::NotFound, format!("network interface {interface:?} does not exist"))
    } else {
        io::Error::new(error.kind(), format!("network interface {interface:?}: {error}"))
    }
}

fn bind_packet(fd: BorrowedFd<'_>, interface_index: u32, ethertype: u16) -> io::Result<()> {
    let interface_index = libc::c_int::try_from(interface_index)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))?;
    // SAFETY: sockaddr_ll is a plain C struct of integers and arrays; all-zero is valid.
    let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
    address.sll_family = libc::AF_PACKET as libc::c_ushort;
    address.sll_protocol = ethertype.to_be();
    address.sll_ifindex = interface_index;
    let address_bytes = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `fd` is a valid open descriptor for the duration of the call (borrowed);
    // the pointer and length describe `address`, which lives across the call and is only read.
    let result = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&address as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
            address_bytes,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn recv_packet(fd: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<ReceivedPacket> {
    // SAFETY: sockaddr_ll is a plain C struct of integers and arrays; all-zero is valid.
    let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
    let mut address_bytes = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // MSG_TRUNC makes a packet socket return the packet's real length, so an oversized packet
    // is seen as such instead of silently cut to the buffer.
    let flags = libc::MSG_DONTWAIT | libc::MSG_TRUNC;
    // SAFETY: `fd` is valid for the call; `buffer` is a live, exclusively borrowed region of
    // `buffer.len()` writable bytes; `address`/`address_bytes` are live, writable, and the
    // length says how much of `address` the kernel may write.
    let result = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buffer.as_mut_ptr().cast::<libc::c_void>(),
            buffer.len(),
            flags,
            (&mut address as *mut libc::sockaddr_ll).cast::<libc::sockaddr>(),
            &mut address_bytes,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    let packet_bytes = result as usize; // non-negative, checked above
    Ok(ReceivedPacket {
        packet_bytes,
        truncated: packet_bytes > buffer.len(),
        packet_type: address.sll_pkttype,
    })
}

fn hardware_address(fd: BorrowedFd<'_>, interface: &str) -> io::Result<HardwareAddress> {
    assert!(interface.len() <= MAX_INTERFACE_NAME_BYTES);
    // SAFETY: ifreq is a C struct of a char array and a union of plain data and one pointer;
    // all-zero is a valid value for each (the pointer member is null and never dereferenced).
    let mut request: libc::ifreq = unsafe { mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(interface.bytes()) {
        *slot = byte as libc::c_char;
    }
    // The name is NUL-terminated: at most 15 bytes were written into the 16-byte zeroed array.
    // SAFETY: `fd` is valid for the call; SIOCGIFHWADDR reads `ifr_name` and writes only
    // `ifr_ifru.ifru_hwaddr` inside `request`, which is live and exclusively borrowed.
    let result =
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR as _, &mut request as *mut libc::ifreq) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful SIOCGIFHWADDR the kernel has written `ifru_hwaddr`, a
    // `sockaddr` of plain integers; reading that union member is reading initialized data.
    let hardware = unsafe { request.ifr_ifru.ifru_hwaddr };
    let mut bytes = [0u8; ETHERNET_ADDRESS_BYTES];
    for (byte, data) in bytes.iter_mut().zip(hardware.sa_data.iter()) {
        *byte = *data as u8;
    }
    Ok(HardwareAddress { hardware_type: hardware.sa_family, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked_before_any_syscall() {
        for bad in ["", "a/b", "has space", "sixteen_bytes_xx", "nul\0"] {
            let error = check_interface_name(bad).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            assert!(error.to_string().contains("not a valid network interface name"));
        }
        for good in ["eth0", "veth-a", "fifteen_bytes_x"] {
            check_interface_name(good).unwrap();
        }
    }
}
