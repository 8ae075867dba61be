//! A relay driven by a Linux GPIO line (character device, uAPI v2), with an optional separate
//! sense input that reads whether the server really has power.
//!
//! Owns the line requests (held for the channel's lifetime, so no other process can move the
//! line) and the mapping between logical values and [`RelayState`]: logical 1 on the output
//! means power on (use `active_low` for boards that switch on a low level). Reading the output
//! back returns the kernel's latch, which proves nothing about the contact, so a channel
//! without a sense input has no read-back and gives unconfirmed fences.
//!
//! The output line is requested once, on first use, with initial value "power on", because
//! requesting an output line always drives it: the witness must never cut power merely by
//! starting. The ioctls themselves live in `devices::ioctl`.

#![forbid(unsafe_code)]

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{RelayChannel, RelayError, RelayState};
use crate::devices::ioctl;

/// One GPIO line: chip device and offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpioLine {
    pub chip: PathBuf,
    pub offset: u32,
    pub active_low: bool,
}

pub struct GpioRelay {
    output: GpioLine,
    sense: Option<GpioLine>,
    consumer: String,
    output_fd: Option<OwnedFd>,
    sense_fd: Option<OwnedFd>,
}

fn request(line: &GpioLine, consumer: &str, output_initial: Option<bool>) -> Result<OwnedFd, RelayError> {
    let chip = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&line.chip)
        .map_err(|e| RelayError::Io(format!("{}: {e}", line.chip.display())))?;
    let mut flags = if output_initial.is_some() {
        ioctl::GPIO_V2_LINE_FLAG_OUTPUT
    } else {
        ioctl::GPIO_V2_LINE_FLAG_INPUT
    };
    if line.active_low {
        flags |= ioctl::GPIO_V2_LINE_FLAG_ACTIVE_LOW;
    }
    let req = ioctl::gpio_line_request(line.offset, consumer, flags, output_initial);
    ioctl::gpio_request_line(chip.as_fd(), req)
        .map_err(|e| RelayError::Io(format!("{} line {}: {e}", line.chip.display(), line.offset)))
}

impl GpioRelay {
    /// Nothing is opened until first use. `consumer` is the label the kernel shows for the
    /// lines (e.g. "ha-agent node-a").
    pub fn new(output: GpioLine, sense: Option<GpioLine>, consumer: &str) -> GpioRelay {
        GpioRelay { output, sense, consumer: consumer.to_string(), output_fd: None, sense_fd: None }
    }

    fn set(&mut self, on: bool) -> Result<(), RelayError> {
        match &self.output_fd {
            Some(fd) => ioctl::gpio_set_value(fd.as_fd(), on).map_err(RelayError::from),
            None => {
                // The request itself sets the value, so the first command is one step.
                self.output_fd = Some(request(&self.output, &self.consumer, Some(on))?);
                Ok(())
            }
        }
    }

    pub fn output(&self) -> &Path {
        &self.output.chip
    }
}

impl RelayChannel for GpioRelay {
    fn describe(&self) -> String {
        let mut s = format!("gpio {} line {}", self.output.chip.display(), self.output.offset);
        match &self.sense {
            Some(sense) => s.push_str(&format!(", sense {} line {}", sense.chip.display(), sense.offset)),
            None => s.push_str(", no sense input"),
        }
        s
    }

    fn can_read_back(&self) -> bool {
        self.sense.is_some()
    }

    // GPIO ioctls complete immediately; the timeouts bound nothing here.
    fn power_off(&mut self, _timeout_ms: u64) -> Result<(), RelayError> {
        self.set(false)
    }

    fn power_on(&mut self, _timeout_ms: u64) -> Result<(), RelayError> {
        self.set(true)
    }

    fn read_state(&mut self, _timeout_ms: u64) -> Result<RelayState, RelayError> {
        let Some(sense) = &self.sense else { return Err(RelayError::NoReadback) };
        if self.sense_fd.is_none() {
            self.sense_fd = Some(request(sense, &self.consumer, None)?);
        }
        let fd = self.sense_fd.as_ref().expect("requested above");
        let powered = ioctl::gpio_get_value(fd.as_fd())?;
        Ok(if powered { RelayState::On } else { RelayState::Off })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_sense_input_there_is_no_read_back() {
        let line = GpioLine { chip: "/nonexistent/gpiochip0".into(), offset: 3, active_low: false };
        let mut g = GpioRelay::new(line.clone(), None, "test");
        assert!(!g.can_read_back());
        assert_eq!(g.read_state(10), Err(RelayError::NoReadback));
        assert!(matches!(g.power_off(10), Err(RelayError::Io(_))));
        let mut g = GpioRelay::new(line.clone(), Some(line), "test");
        assert!(g.can_read_back());
        assert!(matches!(g.read_state(10), Err(RelayError::Io(_))));
    }
}
