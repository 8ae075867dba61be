//! The parser of `/proc/PID/mountinfo` (proc(5)), the kernel's list of the mounts a mount
//! namespace sees, for `builtin:filesystem`.
//!
//! Owns [`parse`] (bytes to [`MountEntry`]s or a typed [`MountinfoError`] naming the line),
//! its bounds ([`MAX_MOUNTINFO_BYTES`], [`MAX_MOUNTS`], [`MAX_OPTIONAL_FIELDS`]) and device
//! numbers ([`DevNum`], with the C library's `dev_t` encoding). One line is
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! ```
//!
//! mount id, parent id, `major:minor` (the `st_dev` of every file in the mount), the root of
//! the mount within its file system, the mount point, the mount options, zero or more optional
//! fields ended by a lone `-`, then the file system type, the source and the super-block
//! options. The kernel writes space, tab, newline and backslash inside the paths as `\ooo`
//! (three octal digits); every other byte is written as it is, so the paths are kept as bytes.
//! It reads nothing (the driver `shell::filesystem` reads the file) and decides nothing.

#![forbid(unsafe_code)]

/// Bound on the text parsed (a machine with thousands of mounts writes a few hundred KiB).
pub const MAX_MOUNTINFO_BYTES: usize = 1024 * 1024;
/// Bound on the mounts kept.
pub const MAX_MOUNTS: usize = 8192;
/// Bound on the optional fields of one line (`shared:N`, `master:N`, `propagate_from:N`,
/// `unbindable`: a handful at most).
pub const MAX_OPTIONAL_FIELDS: usize = 16;

/// A device number: `major:minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DevNum {
    pub major: u32,
    pub minor: u32,
}

impl DevNum {
    /// From a `dev_t` (`st_dev`, `st_rdev`), in the C library's encoding (`gnu_dev_major`).
    pub fn from_dev_t(dev: u64) -> DevNum {
        DevNum {
            major: (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32,
            minor: (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32,
        }
    }

    /// As a `dev_t` (`gnu_dev_makedev`).
    pub fn to_dev_t(self) -> u64 {
        let (major, minor) = (u64::from(self.major), u64::from(self.minor));
        ((major & 0xffff_f000) << 32)
            | ((major & 0x0000_0fff) << 8)
            | ((minor & 0xffff_ff00) << 12)
            | (minor & 0xff)
    }
}

impl core::fmt::Display for DevNum {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// One mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_id: u32,
    pub parent_id: u32,
    /// The `st_dev` of the files in this mount (for a block device's file system, the device's
    /// `st_rdev`).
    pub dev: DevNum,
    /// The directory of the file system that is the root of this mount (unescaped).
    pub root: Vec<u8>,
    /// Where it is mounted, relative to the reader's root (unescaped).
    pub mount_point: Vec<u8>,
    /// The per-mount options (`rw,noatime`).
    pub options: Vec<u8>,
    /// The file system type (`ext4`; `fuse.sshfs`).
    pub fstype: Vec<u8>,
    /// The source (`/dev/loop0`, `none`), unescaped.
    pub source: Vec<u8>,
}

/// What is wrong with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountinfoErrorKind {
    /// More than [`MAX_MOUNTINFO_BYTES`].
    TooLarge,
    /// More than [`MAX_MOUNTS`] lines.
    TooManyMounts,
    /// An empty line, or two spaces in a row.
    EmptyField,
    /// Fewer fields than a line has.
    MissingField,
    /// A mount or parent id that is not a decimal number.
    BadId,
    /// A device that is not `major:minor` in decimal.
    BadDevice,
    /// A backslash not followed by three octal digits of a byte.
    BadEscape,
    /// More than [`MAX_OPTIONAL_FIELDS`] optional fields, or no `-` after them.
    NoSeparator,
    /// More than the three fields after the `-`.
    TrailingField,
}

impl MountinfoErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountinfoErrorKind::TooLarge => "larger than the bound",
            MountinfoErrorKind::TooManyMounts => "more mounts than the bound",
            MountinfoErrorKind::EmptyField => "an empty field",
            MountinfoErrorKind::MissingField => "fewer fields than a mount has",
            MountinfoErrorKind::BadId => "a mount id that is not a number",
            MountinfoErrorKind::BadDevice => "a device that is not major:minor",
            MountinfoErrorKind::BadEscape => "a backslash without three octal digits",
            MountinfoErrorKind::NoSeparator => "no `-` after the optional fields",
            MountinfoErrorKind::TrailingField => "more fields after the file system's options",
        }
    }
}

/// Why the text is not a mount list, and on which line (1-based; 0 for the text as a whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountinfoError {
    pub line: usize,
    pub kind: MountinfoErrorKind,
}

impl core::fmt::Display for MountinfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.line == 0 {
            write!(f, "mountinfo: {}", self.kind.as_str())
        } else {
            write!(f, "mountinfo line {}: {}", self.line, self.kind.as_str())
        }
    }
}

/// Undo the kernel's `\ooo` escapes.
pub fn unescape(field: &[u8]) -> Result<Vec<u8>, MountinfoErrorKind> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] != b'\\' {
            out.push(field[i]);
            i += 1;
            continue;
        }
        let digits = field.get(i + 1..i + 4).ok_or(MountinfoErrorKind::BadEscape)?;
        if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
            return Err(MountinfoErrorKind::BadEscape);
        }
        let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
        out.push(u8::try_from(value).map_err(|_| MountinfoErrorKind::BadEscape)?);
        i += 4;
    }
    Ok(out)
}

fn parse_id(field: &[u8]) -> Result<u32, MountinfoErrorKind> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err(MountinfoErrorKind::BadId);
    }
    core::str::from_utf8(field).ok().and_then(|s| s.parse().ok()).ok_or(MountinfoErrorKind::BadId)
}

fn parse_dev(field: &[u8]) -> Result<DevNum, MountinfoErrorKind> {
    let colon = field.iter().position(|&b| b == b':').ok_or(MountinfoErrorKind::BadDevice)?;
    let number = |part: &[u8]| parse_id(part).map_err(|_| MountinfoErrorKind::BadDevice);
    Ok(DevNum { major: number(&field[..colon])?, minor: number(&field[colon + 1..])? })
}

fn parse_line(line: &[u8]) -> Result<MountEntry, MountinfoErrorKind> {
    let mut fields = line.split(|&b| b == b' ');
    let mut next = || -> Result<&[u8], MountinfoErrorKind> {
        match fields.next() {
            None => Err(MountinfoErrorKind::MissingField),
            Some([]) => Err(MountinfoErrorKind::EmptyField),
            Some(field) => Ok(field),
        }
    };
    let mount_id = parse_id(next()?)?;
    let parent_id = parse_id(next()?)?;
    let dev = parse_dev(next()?)?;
    let root = unescape(next()?)?;
    let mount_point = unescape(next()?)?;
    let options = next()?.to_vec();
    let mut optional = 0;
    loop {
        let field = next()?;
        if field == b"-" {
            break;
        }
        optional += 1;
        if optional > MAX_OPTIONAL_FIELDS {
            return Err(MountinfoErrorKind::NoSeparator);
        }
    }
    let fstype = unescape(next()?)?;
    let source = unescape(next()?)?;
    next()?; // the super-block options
    if fields.next().is_some() {
        return Err(MountinfoErrorKind::TrailingField);
    }
    Ok(MountEntry { mount_id, parent_id, dev, root, mount_point, options, fstype, source })
}

/// The mounts in the text of a `mountinfo` file, in its order.
pub fn parse(text: &[u8]) -> Result<Vec<MountEntry>, MountinfoError> {
    if text.len() > MAX_MOUNTINFO_BYTES {
        return Err(MountinfoError { line: 0, kind: MountinfoErrorKind::TooLarge });
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mut mounts = Vec::new();
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let at = |kind| MountinfoError { line: index + 1, kind };
        if mounts.len() == MAX_MOUNTS {
            return Err(at(MountinfoErrorKind::TooManyMounts));
        }
        mounts.push(parse_line(line).map_err(at)?);
    }
    assert!(mounts.len() <= MAX_MOUNTS);
    Ok(mounts)
}

/// Of the mounts on `mount_point`, the one on top (the one a path lookup reaches): the mount
/// that is no other one's parent among them. `None` when `mount_point` is not a mount point.
pub fn topmost<'a>(mounts: &'a [MountEntry], mount_point: &[u8]) -> Option<&'a MountEntry> {
    let here: Vec<&MountEntry> = mounts.iter().filter(|m| m.mount_point == mount_point).collect();
    here.iter()
        .rev()
        .find(|m| !here.iter().any(|other| other.parent_id == m.mount_id && other.mount_id != m.mount_id))
        .or(here.last())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
36 25 7:3 / /srv/my\\040data rw,noatime shared:30 master:1 - ext4 /dev/loop3 rw
37 36 0:40 /sub /srv/my\\040data rw - tmpfs none rw,size=1024k
";

    #[test]
    fn a_line_gives_its_ids_device_paths_type_and_source() {
        let mounts = parse(SAMPLE).unwrap();
        assert_eq!(mounts.len(), 4);
        let m = &mounts[2];
        assert_eq!((m.mount_id, m.parent_id), (36, 25));
        assert_eq!(m.dev, DevNum { major: 7, minor: 3 });
        assert_eq!(m.root, b"/");
        assert_eq!(m.mount_options_text(), "rw,noatime");
        assert_eq!((m.fstype.as_slice(), m.source.as_slice()), (&b"ext4"[..], &b"/dev/loop3"[..]));
    }

    #[test]
    fn octal_escapes_are_undone_in_the_paths() {
        let mounts = parse(SAMPLE).unwrap();
        assert_eq!(mounts[2].mount_point, b"/srv/my data");
        assert_eq!(unescape(b"a\\011b\\012c\\134d").unwrap(), b"a\tb\nc\\d");
        assert_eq!(unescape(b"x\\04"), Err(MountinfoErrorKind::BadEscape), "three digits");
        assert_eq!(unescape(b"x\\089"), Err(MountinfoErrorKind::BadEscape), "octal digits");
        assert_eq!(unescape(b"x\\400"), Err(MountinfoErrorKind::BadEscape), "a byte");
    }

    #[test]
    fn optional_fields_are_skipped_up_to_the_separator() {
        let none = parse(b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n").unwrap();
        assert_eq!(none[0].fstype, b"ext4");
        let many = "1 0 8:1 / / rw shared:1 master:2 propagate_from:3 unbindable - xfs /dev/sdb rw";
        assert_eq!(parse(many.as_bytes()).unwrap()[0].fstype, b"xfs");
        let too_many =
            format!("1 0 8:1 / / rw {}- xfs /dev/sdb rw", "shared:1 ".repeat(MAX_OPTIONAL_FIELDS + 1));
        assert_eq!(parse(too_many.as_bytes()).unwrap_err().kind, MountinfoErrorKind::NoSeparator);
    }

    #[test]
    fn a_malformed_line_is_a_typed_error_with_its_line_number() {
        let error = |text: &str| parse(text.as_bytes()).unwrap_err();
        let good = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n";
        assert_eq!(
            error(&format!("{good}x 0 8:1 / / rw - ext4 a rw")),
            MountinfoError { line: 2, kind: MountinfoErrorKind::BadId }
        );
        assert_eq!(error("1 0 8-1 / / rw - ext4 a rw").kind, MountinfoErrorKind::BadDevice);
        assert_eq!(error("1 0 8:x / / rw - ext4 a rw").kind, MountinfoErrorKind::BadDevice);
        assert_eq!(error("1 0 8:1 / / rw - ext4 a").kind, MountinfoErrorKind::MissingField);
        assert_eq!(error("1 0 8:1 / / rw shared:1").kind, MountinfoErrorKind::MissingField);
        assert_eq!(error("1 0 8:1 / / rw - ext4 a rw extra").kind, MountinfoErrorKind::TrailingField);
        assert_eq!(error("1 0 8:1 /  / rw - ext4 a rw").kind, MountinfoErrorKind::EmptyField);
        assert_eq!(error(&format!("{good}\n{good}")).kind, MountinfoErrorKind::EmptyField);
        assert_eq!(error("1 0 8:1 / /a\\9 rw - ext4 a rw").kind, MountinfoErrorKind::BadEscape);
        assert_eq!(error("1 0 99999999999:1 / / rw - ext4 a rw").kind, MountinfoErrorKind::BadDevice);
        assert_eq!(parse(b"").unwrap(), vec![]);
        assert_eq!(parse(b"\n").unwrap(), vec![]);
    }

    #[test]
    fn the_bounds_are_errors_not_truncations() {
        let big = vec![b'1'; MAX_MOUNTINFO_BYTES + 1];
        assert_eq!(parse(&big).unwrap_err(), MountinfoError { line: 0, kind: MountinfoErrorKind::TooLarge });
        let line = "1 0 8:1 / / rw - ext4 a rw\n";
        let many = line.repeat(MAX_MOUNTS + 1);
        assert_eq!(parse(many.as_bytes()).unwrap_err().kind, MountinfoErrorKind::TooManyMounts);
        assert_eq!(parse(line.repeat(MAX_MOUNTS).as_bytes()).unwrap().len(), MAX_MOUNTS);
    }

    #[test]
    fn the_topmost_of_stacked_mounts_is_the_one_no_other_sits_on() {
        let mounts = parse(SAMPLE).unwrap();
        assert_eq!(topmost(&mounts, b"/srv/my data").unwrap().mount_id, 37);
        assert_eq!(topmost(&mounts, b"/proc").unwrap().mount_id, 22);
        assert!(topmost(&mounts, b"/srv").is_none());
        // Listed out of order: the parent relation decides, not the position.
        let reversed: Vec<MountEntry> = mounts.iter().rev().cloned().collect();
        assert_eq!(topmost(&reversed, b"/srv/my data").unwrap().mount_id, 37);
    }

    #[test]
    fn a_device_number_round_trips_through_dev_t() {
        for (major, minor) in
            [(0, 0), (7, 3), (8, 17), (259, 1), (0xfff, 0xff), (0x12345, 0x123456), (u32::MAX, u32::MAX)]
        {
            let dev = DevNum { major, minor };
            assert_eq!(DevNum::from_dev_t(dev.to_dev_t()), dev);
        }
        assert_eq!(DevNum { major: 8, minor: 1 }.to_dev_t(), 0x801);
        assert_eq!(DevNum { major: 259, minor: 300 }.to_dev_t(), 0x0011_032c);
    }

    impl MountEntry {
        fn mount_options_text(&self) -> String {
            String::from_utf8_lossy(&self.options).into_owned()
        }
    }
}
