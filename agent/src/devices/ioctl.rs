//! The raw ioctls of `devices`: the Linux GPIO character device uAPI v2 and the watchdog
//! device (`'W'` ioctls). Owns the `#[repr(C)]` mirrors of the kernel structures, their
//! opcodes and thin safe wrappers; it decides nothing. This is the only module of `devices`
//! with `unsafe`; each block says why it is sound. The layouts are checked against the kernel
//! headers' sizes and opcodes in the tests below.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::ioctl::{ioctl, opcode, Getter, Opcode, Updater};

// ---- GPIO character device, uAPI v2 (include/uapi/linux/gpio.h) ----

pub const GPIO_V2_LINES_MAX: usize = 64;
pub const GPIO_MAX_NAME_SIZE: usize = 32;
pub const GPIO_V2_LINE_NUM_ATTRS_MAX: usize = 10;
pub const GPIO_V2_LINE_FLAG_ACTIVE_LOW: u64 = 1 << 1;
pub const GPIO_V2_LINE_FLAG_INPUT: u64 = 1 << 2;
pub const GPIO_V2_LINE_FLAG_OUTPUT: u64 = 1 << 3;
pub const GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES: u32 = 2;

/// `struct gpio_v2_line_attribute`; the union is carried as its `u64` member.
#[repr(C, align(8))]
#[derive(Clone, Copy, Default, Debug)]
pub struct GpioLineAttribute {
    pub id: u32,
    pub padding: u32,
    pub value: u64,
}

/// `struct gpio_v2_line_config_attribute`.
#[repr(C, align(8))]
#[derive(Clone, Copy, Default, Debug)]
pub struct GpioLineConfigAttribute {
    pub attr: GpioLineAttribute,
    pub mask: u64,
}

/// `struct gpio_v2_line_config`.
#[repr(C, align(8))]
#[derive(Clone, Copy, Default, Debug)]
pub struct GpioLineConfig {
    pub flags: u64,
    pub num_attrs: u32,
    pub padding: [u32; 5],
    pub attrs: [GpioLineConfigAttribute; GPIO_V2_LINE_NUM_ATTRS_MAX],
}

/// `struct gpio_v2_line_request`.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub struct GpioLineRequest {
    pub offsets: [u32; GPIO_V2_LINES_MAX],
    pub consumer: [u8; GPIO_MAX_NAME_SIZE],
    pub config: GpioLineConfig,
    pub num_lines: u32,
    pub event_buffer_size: u32,
    pub padding: [u32; 5],
    pub fd: i32,
}

/// `struct gpio_v2_line_values`.
#[repr(C, align(8))]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct GpioLineValues {
    pub bits: u64,
    pub mask: u64,
}

pub const GPIO_V2_GET_LINE_IOCTL: Opcode = opcode::read_write::<GpioLineRequest>(0xB4, 0x07);
pub const GPIO_V2_LINE_GET_VALUES_IOCTL: Opcode = opcode::read_write::<GpioLineValues>(0xB4, 0x0E);
pub const GPIO_V2_LINE_SET_VALUES_IOCTL: Opcode = opcode::read_write::<GpioLineValues>(0xB4, 0x0F);

/// The request for one line: pure, so that it can be tested without a chip. `initial` is the
/// logical output value the line takes at the moment of the request (outputs only).
pub fn gpio_line_request(offset: u32, consumer: &str, flags: u64, initial: Option<bool>) -> GpioLineRequest {
    let mut req = GpioLineRequest {
        offsets: [0; GPIO_V2_LINES_MAX],
        consumer: [0; GPIO_MAX_NAME_SIZE],
        config: GpioLineConfig { flags, ..GpioLineConfig::default() },
        num_lines: 1,
        event_buffer_size: 0,
        padding: [0; 5],
        fd: -1,
    };
    req.offsets[0] = offset;
    // Leave at least one NUL at the end: the kernel reads a C string.
    for (dst, src) in req.consumer.iter_mut().zip(consumer.bytes().take(GPIO_MAX_NAME_SIZE - 1)) {
        *dst = src;
    }
    if let Some(value) = initial {
        req.config.num_attrs = 1;
        req.config.attrs[0] = GpioLineConfigAttribute {
            attr: GpioLineAttribute {
                id: GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES,
                padding: 0,
                value: u64::from(value),
            },
            mask: 1,
        };
    }
    req
}

/// Issue GPIO_V2_GET_LINE_IOCTL on a chip descriptor; returns the line request descriptor.
pub fn gpio_request_line(chip: BorrowedFd<'_>, mut req: GpioLineRequest) -> io::Result<OwnedFd> {
    assert!(req.num_lines as usize <= GPIO_V2_LINES_MAX);
    // SAFETY: the opcode is _IOWR(0xB4, 0x07, struct gpio_v2_line_request) and `req` is a
    // #[repr(C)] mirror of that structure (size checked in tests); the kernel reads and writes
    // only within it, and `req` outlives the call.
    unsafe { ioctl(chip, Updater::<GPIO_V2_GET_LINE_IOCTL, GpioLineRequest>::new(&mut req)) }?;
    if req.fd < 0 {
        return Err(io::Error::other("GPIO line request returned no descriptor"));
    }
    // SAFETY: on success the kernel installed a new descriptor in `req.fd` that nothing else
    // in this process knows about; the OwnedFd becomes its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(req.fd) })
}

/// Read the logical value of line 0 of a line request.
pub fn gpio_get_value(line: BorrowedFd<'_>) -> io::Result<bool> {
    let mut values = GpioLineValues { bits: 0, mask: 1 };
    // SAFETY: opcode _IOWR(0xB4, 0x0E, struct gpio_v2_line_values) with its #[repr(C)] mirror.
    unsafe { ioctl(line, Updater::<GPIO_V2_LINE_GET_VALUES_IOCTL, GpioLineValues>::new(&mut values)) }?;
    Ok(values.bits & 1 == 1)
}

/// Set the logical value of line 0 of a line request.
pub fn gpio_set_value(line: BorrowedFd<'_>, value: bool) -> io::Result<()> {
    let mut values = GpioLineValues { bits: u64::from(value), mask: 1 };
    // SAFETY: opcode _IOWR(0xB4, 0x0F, struct gpio_v2_line_values) with its #[repr(C)] mirror.
    unsafe { ioctl(line, Updater::<GPIO_V2_LINE_SET_VALUES_IOCTL, GpioLineValues>::new(&mut values)) }?;
    Ok(())
}

// ---- Watchdog (include/uapi/linux/watchdog.h) ----

/// `struct watchdog_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WatchdogInfo {
    pub options: u32,
    pub firmware_version: u32,
    pub identity: [u8; 32],
}

const WATCHDOG_IOCTL_BASE: u8 = b'W';
pub const WDIOC_GETSUPPORT: Opcode = opcode::read::<WatchdogInfo>(WATCHDOG_IOCTL_BASE, 0);
pub const WDIOC_GETBOOTSTATUS: Opcode = opcode::read::<libc::c_int>(WATCHDOG_IOCTL_BASE, 2);
pub const WDIOC_KEEPALIVE: Opcode = opcode::read::<libc::c_int>(WATCHDOG_IOCTL_BASE, 5);
pub const WDIOC_SETTIMEOUT: Opcode = opcode::read_write::<libc::c_int>(WATCHDOG_IOCTL_BASE, 6);
pub const WDIOC_GETTIMEOUT: Opcode = opcode::read::<libc::c_int>(WATCHDOG_IOCTL_BASE, 7);
pub const WDIOC_GETTIMELEFT: Opcode = opcode::read::<libc::c_int>(WATCHDOG_IOCTL_BASE, 10);

pub fn wdioc_getsupport<Fd: AsFd>(fd: Fd) -> io::Result<WatchdogInfo> {
    // SAFETY: _IOR('W', 0, struct watchdog_info); the kernel writes one WatchdogInfo.
    Ok(unsafe { ioctl(fd, Getter::<WDIOC_GETSUPPORT, WatchdogInfo>::new()) }?)
}

pub fn wdioc_getbootstatus<Fd: AsFd>(fd: Fd) -> io::Result<u32> {
    // SAFETY: _IOR('W', 2, int); the kernel writes one int.
    let v = unsafe { ioctl(fd, Getter::<WDIOC_GETBOOTSTATUS, libc::c_int>::new()) }?;
    Ok(v as u32)
}

pub fn wdioc_keepalive<Fd: AsFd>(fd: Fd) -> io::Result<()> {
    // SAFETY: _IOR('W', 5, int); the kernel ignores or writes one int, which Getter provides.
    unsafe { ioctl(fd, Getter::<WDIOC_KEEPALIVE, libc::c_int>::new()) }?;
    Ok(())
}

/// Ask for `timeout_s`; returns the timeout the driver actually set.
pub fn wdioc_settimeout<Fd: AsFd>(fd: Fd, timeout_s: u32) -> io::Result<u32> {
    let mut value =
        libc::c_int::try_from(timeout_s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: _IOWR('W', 6, int); the kernel reads and writes back one int in `value`.
    unsafe { ioctl(fd, Updater::<WDIOC_SETTIMEOUT, libc::c_int>::new(&mut value)) }?;
    Ok(value.max(0) as u32)
}

pub fn wdioc_gettimeout<Fd: AsFd>(fd: Fd) -> io::Result<u32> {
    // SAFETY: _IOR('W', 7, int); the kernel writes one int.
    let v = unsafe { ioctl(fd, Getter::<WDIOC_GETTIMEOUT, libc::c_int>::new()) }?;
    Ok(v.max(0) as u32)
}

pub fn wdioc_gettimeleft<Fd: AsFd>(fd: Fd) -> io::Result<u32> {
    // SAFETY: _IOR('W', 10, int); the kernel writes one int.
    let v = unsafe { ioctl(fd, Getter::<WDIOC_GETTIMELEFT, libc::c_int>::new()) }?;
    Ok(v.max(0) as u32)
}

#[cfg(test)]
// `as u32`: the opcode type is c_uint or c_ulong depending on the rustix backend.
#[allow(clippy::unnecessary_cast)]
mod tests {
    use super::*;

    #[test]
    fn gpio_layouts_and_opcodes_match_the_kernel_header() {
        assert_eq!(core::mem::size_of::<GpioLineAttribute>(), 16);
        assert_eq!(core::mem::size_of::<GpioLineConfigAttribute>(), 24);
        assert_eq!(core::mem::size_of::<GpioLineConfig>(), 272);
        assert_eq!(core::mem::size_of::<GpioLineRequest>(), 592);
        assert_eq!(core::mem::size_of::<GpioLineValues>(), 16);
        assert_eq!(core::mem::offset_of!(GpioLineRequest, config), 288);
        assert_eq!(core::mem::offset_of!(GpioLineRequest, fd), 588);
        assert_eq!(GPIO_V2_GET_LINE_IOCTL as u32, 0xC250_B407);
        assert_eq!(GPIO_V2_LINE_GET_VALUES_IOCTL as u32, 0xC010_B40E);
        assert_eq!(GPIO_V2_LINE_SET_VALUES_IOCTL as u32, 0xC010_B40F);
    }

    #[test]
    fn watchdog_layouts_and_opcodes_match_the_kernel_header() {
        assert_eq!(core::mem::size_of::<WatchdogInfo>(), 40);
        assert_eq!(WDIOC_GETSUPPORT as u32, 0x8028_5700);
        assert_eq!(WDIOC_GETBOOTSTATUS as u32, 0x8004_5702);
        assert_eq!(WDIOC_KEEPALIVE as u32, 0x8004_5705);
        assert_eq!(WDIOC_SETTIMEOUT as u32, 0xC004_5706);
        assert_eq!(WDIOC_GETTIMEOUT as u32, 0x8004_5707);
        assert_eq!(WDIOC_GETTIMELEFT as u32, 0x8004_570A);
    }

    #[test]
    fn line_request_carries_offset_consumer_and_initial_value() {
        let req = gpio_line_request(
            17,
            "ha-agent fence node-a with a long name",
            GPIO_V2_LINE_FLAG_OUTPUT,
            Some(true),
        );
        assert_eq!(req.offsets[0], 17);
        assert_eq!(req.num_lines, 1);
        assert_eq!(req.config.flags, GPIO_V2_LINE_FLAG_OUTPUT);
        assert_eq!(req.config.num_attrs, 1);
        assert_eq!(req.config.attrs[0].attr.id, GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES);
        assert_eq!(req.config.attrs[0].attr.value, 1);
        assert_eq!(req.config.attrs[0].mask, 1);
        assert_eq!(req.consumer[GPIO_MAX_NAME_SIZE - 1], 0, "consumer stays NUL-terminated");
        assert_eq!(&req.consumer[..8], b"ha-agent");
        let input = gpio_line_request(4, "s", GPIO_V2_LINE_FLAG_INPUT, None);
        assert_eq!(input.config.num_attrs, 0);
    }

    #[test]
    fn ioctls_on_a_plain_file_fail_cleanly() {
        let f = std::fs::File::open("/dev/null").unwrap();
        assert!(wdioc_getsupport(&f).is_err());
        assert!(gpio_get_value(f.as_fd()).is_err());
    }
}
