//! GRUB's environment block (`grubenv`): 1024 bytes, the line `# GRUB Environment Block`,
//! then `name=value` lines and `#` comment lines, padded with `#` to the end. GRUB's `load_env`/`save_env` and
//! `grub-editenv` read and write it; the update command reads it, changes a few variables and
//! writes it back in place (GRUB writes it through a block list, so the file's size and place
//! never change). Values escape `\` and newline with a backslash, as GRUB does.
//!
//! A block is rewritten in place, so a power cut while it is written can leave a torn block
//! (the new block's beginning over the old one's end, on a medium that does not write a sector
//! atomically). So the ESP holds two copies, `grubenv` and `grubenv.bak`, written one after
//! the other, each **sealed**: its first variable `ha_env_seq` and its last `ha_env_end` carry
//! the same number, one more at every write; a torn block has them differ (or lacks one).
//! Readers (grub.cfg and [`choose`]) take the first copy if sealed, else the second if sealed:
//! one of them is always whole, and it is the newer one or the one from just before.
//!
//! Owns the parse (typed errors, never a panic: `fuzz/fuzz_targets/grubenv_parse.rs`), the
//! encoding, the seal and the choice between the two copies. Does no I/O and knows nothing of
//! root slots ([`super::plan`] does).

#![forbid(unsafe_code)]

/// The block's size: GRUB refuses any other.
pub const GRUBENV_BYTES: usize = 1024;
/// Its first line.
pub const HEADER: &[u8] = b"# GRUB Environment Block\n";
/// Bound on a variable's name (GRUB has none; ours are short).
pub const MAX_NAME_BYTES: usize = 64;
/// The seal: the first and the last variable of a block, the same number in both.
pub const SEAL_FIRST: &str = "ha_env_seq";
pub const SEAL_LAST: &str = "ha_env_end";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvError {
    /// The block is not GRUBENV_BYTES long.
    WrongSize { bytes: usize },
    /// It does not start with the header line.
    NoHeader,
    /// A line without `=`, with an empty or invalid name, or cut off by the block's end.
    BadLine { offset: usize },
    /// Bytes other than `#` after the padding began.
    BadPadding { offset: usize },
    /// A value that is not UTF-8 text.
    NotText { offset: usize },
    /// A name given twice.
    Duplicate { name: String },
    /// Encoding: the variables do not fit in the block.
    TooLarge { bytes: usize },
    /// Encoding: an invalid name.
    BadName { name: String },
}

impl std::fmt::Display for EnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvError::WrongSize { bytes } => {
                write!(f, "the environment block is {bytes} bytes, not {GRUBENV_BYTES}")
            }
            EnvError::NoHeader => {
                write!(f, "the environment block does not start with {:?}", "# GRUB Environment Block")
            }
            EnvError::BadLine { offset } => {
                write!(f, "the environment block has a bad line at byte {offset}")
            }
            EnvError::BadPadding { offset } => {
                write!(f, "the environment block has data after its padding (byte {offset})")
            }
            EnvError::NotText { offset } => {
                write!(f, "the environment block has a value that is not text at byte {offset}")
            }
            EnvError::Duplicate { name } => write!(f, "the environment block sets {name} twice"),
            EnvError::TooLarge { bytes } => {
                write!(f, "the variables take {bytes} bytes, more than the block's {GRUBENV_BYTES}")
            }
            EnvError::BadName { name } => write!(f, "{name:?} is not a GRUB variable name"),
        }
    }
}

/// The variables, in the block's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrubEnv {
    vars: Vec<(String, String)>,
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

impl GrubEnv {
    pub fn parse(block: &[u8]) -> Result<GrubEnv, EnvError> {
        if block.len() != GRUBENV_BYTES {
            return Err(EnvError::WrongSize { bytes: block.len() });
        }
        if !block.starts_with(HEADER) {
            return Err(EnvError::NoHeader);
        }
        let mut env = GrubEnv::default();
        let mut pos = HEADER.len();
        while pos < block.len() {
            if block[pos] == b'#' {
                // A comment line (grub-editenv writes a warning), or the padding to the end.
                match block[pos..].iter().position(|&b| b == b'\n') {
                    Some(nl) => {
                        pos += nl + 1;
                        continue;
                    }
                    None => {
                        if let Some(bad) = block[pos..].iter().position(|&b| b != b'#') {
                            return Err(EnvError::BadPadding { offset: pos + bad });
                        }
                        break;
                    }
                }
            }
            let start = pos;
            let eq = block[pos..].iter().position(|&b| b == b'=' || b == b'\n');
            let Some(eq) = eq.filter(|&i| block[pos + i] == b'=') else {
                return Err(EnvError::BadLine { offset: start });
            };
            let name = &block[pos..pos + eq];
            if !valid_name(name) {
                return Err(EnvError::BadLine { offset: start });
            }
            pos += eq + 1;
            let mut value = Vec::new();
            loop {
                match block.get(pos) {
                    None => return Err(EnvError::BadLine { offset: start }),
                    Some(b'\n') => {
                        pos += 1;
                        break;
                    }
                    Some(b'\\') => match block.get(pos + 1) {
                        Some(&c) => {
                            value.push(c);
                            pos += 2;
                        }
                        None => return Err(EnvError::BadLine { offset: start }),
                    },
                    Some(&c) => {
                        value.push(c);
                        pos += 1;
                    }
                }
            }
            // Names are ASCII (checked); values must be text (ours are ASCII).
            let name = String::from_utf8_lossy(name).into_owned();
            let value = String::from_utf8(value).map_err(|_| EnvError::NotText { offset: start })?;
            if env.get(&name).is_some() {
                return Err(EnvError::Duplicate { name });
            }
            env.vars.push((name, value));
        }
        Ok(env)
    }

    /// An empty block's variables (what `grub-editenv FILE create` writes).
    pub fn new() -> GrubEnv {
        GrubEnv::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Set `name` (kept in place if present, else appended).
    pub fn set(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.vars.retain(|(n, _)| n != name);
    }

    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Seal the block with `seq`: `ha_env_seq` first, `ha_env_end` last (grub.cfg's `save_env`
    /// of an existing variable rewrites it in place, so GRUB's own writes keep both).
    pub fn seal(&mut self, seq: u64) {
        self.remove(SEAL_FIRST);
        self.remove(SEAL_LAST);
        self.vars.insert(0, (SEAL_FIRST.to_string(), seq.to_string()));
        self.vars.push((SEAL_LAST.to_string(), seq.to_string()));
    }

    /// The seal's number when both seal variables are there and equal (the test grub.cfg
    /// makes); `None` for a torn block or one written without a seal.
    pub fn sealed(&self) -> Option<u64> {
        let first = self.get(SEAL_FIRST)?;
        (Some(first) == self.get(SEAL_LAST)).then(|| first.parse().ok()).flatten()
    }

    /// The 1024-byte block.
    pub fn encode(&self) -> Result<Vec<u8>, EnvError> {
        let mut out = HEADER.to_vec();
        for (name, value) in &self.vars {
            if !valid_name(name.as_bytes()) {
                return Err(EnvError::BadName { name: name.clone() });
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            for &b in value.as_bytes() {
                if b == b'\\' || b == b'\n' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'\n');
        }
        if out.len() > GRUBENV_BYTES {
            return Err(EnvError::TooLarge { bytes: out.len() });
        }
        out.resize(GRUBENV_BYTES, b'#');
        debug_assert_eq!(out.len(), GRUBENV_BYTES);
        Ok(out)
    }
}

/// The numbers of a block's seal variables that parse, sealed or not (a writer seals above them).
pub fn seal_numbers(env: &GrubEnv) -> Vec<u64> {
    [SEAL_FIRST, SEAL_LAST].iter().filter_map(|n| env.get(n)?.parse().ok()).collect()
}

/// Which copy of the block a reader took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// `grubenv`, sealed.
    Primary,
    /// `grubenv.bak`, sealed; `grubenv` is torn or unsealed.
    Backup,
    /// Neither is sealed (a disk made before the seal): `grubenv` as it parses.
    Unsealed,
}

/// The block to believe, by grub.cfg's rule: the primary if sealed, else the backup if
/// sealed, else the primary if it parses at all. `backup` is `None` when there is no backup
/// file. The error is the primary's.
pub fn choose(
    primary: Result<GrubEnv, EnvError>,
    backup: Option<Result<GrubEnv, EnvError>>,
) -> Result<(Which, GrubEnv), EnvError> {
    if let Ok(p) = &primary {
        if p.sealed().is_some() {
            return Ok((Which::Primary, p.clone()));
        }
    }
    if let Some(Ok(b)) = &backup {
        if b.sealed().is_some() {
            return Ok((Which::Backup, b.clone()));
        }
    }
    primary.map(|p| (Which::Unsealed, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> Vec<u8> {
        let mut b = text.as_bytes().to_vec();
        b.resize(GRUBENV_BYTES, b'#');
        b
    }

    #[test]
    fn reads_what_grub_editenv_writes() {
        let env = GrubEnv::parse(&block("# GRUB Environment Block\nha_boot=A\nha_A_version=v1\n")).unwrap();
        assert_eq!(env.get("ha_boot"), Some("A"));
        assert_eq!(env.get("ha_A_version"), Some("v1"));
        assert_eq!(env.get("ha_try"), None);
        assert_eq!(GrubEnv::parse(&block("# GRUB Environment Block\n")).unwrap(), GrubEnv::new());
    }

    #[test]
    fn reads_grub_editenv_with_its_warning_line() {
        // What `grub-editenv F create; grub-editenv F set ha_boot=A ha_try=B` writes (2.06).
        let text = "# GRUB Environment Block\n\
                    # WARNING: Do not edit this file by tools other than grub-editenv!!!\n\
                    ha_boot=A\nha_try=B\n";
        let env = GrubEnv::parse(&block(text)).unwrap();
        assert_eq!((env.get("ha_boot"), env.get("ha_try")), (Some("A"), Some("B")));
        assert_eq!(env.vars().count(), 2);
    }

    #[test]
    fn round_trips_with_escapes() {
        let mut env = GrubEnv::new();
        env.set("a", "x\\y\nz");
        env.set("b", "");
        env.set("a", "again\\");
        let b = env.encode().unwrap();
        assert_eq!(b.len(), GRUBENV_BYTES);
        assert_eq!(GrubEnv::parse(&b).unwrap(), env);
        assert_eq!(GrubEnv::parse(&b).unwrap().get("a"), Some("again\\"));
        env.remove("a");
        assert_eq!(GrubEnv::parse(&env.encode().unwrap()).unwrap().vars().count(), 1);
    }

    fn sealed(seq: u64, boot: &str) -> GrubEnv {
        let mut env = GrubEnv::new();
        env.set("ha_boot", boot);
        env.seal(seq);
        env
    }

    #[test]
    fn the_seal_is_first_and_last_and_survives_changes() {
        let mut env = sealed(7, "A");
        assert_eq!(env.sealed(), Some(7));
        env.set("ha_try", "B");
        env.set("ha_try_left", "1");
        assert_eq!(env.sealed(), Some(7), "a change between the seals keeps it");
        env.seal(8);
        let block = env.encode().unwrap();
        let text = String::from_utf8_lossy(&block);
        assert!(text.starts_with("# GRUB Environment Block\nha_env_seq=8\nha_boot=A\n"), "{text}");
        assert!(text.contains("ha_try_left=1\nha_env_end=8\n#"), "{text}");
        assert_eq!(GrubEnv::parse(&block).unwrap().sealed(), Some(8));
        let mut unsealed = GrubEnv::new();
        unsealed.set("ha_boot", "A");
        assert_eq!(unsealed.sealed(), None);
    }

    #[test]
    fn every_tear_of_a_sealed_write_is_seen() {
        // A write of block `new` over block `old` cut after any byte, in either direction
        // (the new beginning over the old end, or the old beginning under a new end): what
        // parses is never sealed unless it is one of the two whole blocks.
        let mut old = sealed(3, "A");
        old.set("ha_A_version", "v1");
        old.set("ha_try", "B");
        old.set("ha_try_left", "1");
        old.set("ha_B_version", "v2");
        old.seal(3);
        let mut new = old.clone();
        new.set("ha_boot", "B");
        new.remove("ha_try");
        new.remove("ha_try_left");
        new.seal(4);
        let (o, n) = (old.encode().unwrap(), new.encode().unwrap());
        for cut in 0..=GRUBENV_BYTES {
            for torn in [[&n[..cut], &o[cut..]].concat(), [&o[..cut], &n[cut..]].concat()] {
                if let Ok(env) = GrubEnv::parse(&torn) {
                    if env.sealed().is_some() {
                        assert!(
                            env == old || env == new,
                            "cut at {cut}: a torn block passed as sealed: {env:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn seal_numbers_are_read_from_torn_blocks_too() {
        let mut torn = sealed(5, "A");
        torn.set(SEAL_LAST, "4");
        assert_eq!(seal_numbers(&torn), vec![5, 4]);
        assert_eq!(seal_numbers(&GrubEnv::new()), Vec::<u64>::new());
    }

    #[test]
    fn readers_take_the_sealed_copy() {
        let (p, b) = (sealed(5, "B"), sealed(4, "A"));
        assert_eq!(choose(Ok(p.clone()), Some(Ok(b.clone()))), Ok((Which::Primary, p.clone())));
        // The primary torn: unparseable, or parsing with the seal broken.
        assert_eq!(choose(Err(EnvError::NoHeader), Some(Ok(b.clone()))), Ok((Which::Backup, b.clone())));
        let mut torn = p.clone();
        torn.set(SEAL_LAST, "4");
        assert_eq!(choose(Ok(torn.clone()), Some(Ok(b.clone()))), Ok((Which::Backup, b.clone())));
        // A disk from before the seal: the primary as it is; no backup file at all.
        let mut plain = GrubEnv::new();
        plain.set("ha_boot", "A");
        assert_eq!(choose(Ok(plain.clone()), None), Ok((Which::Unsealed, plain.clone())));
        assert_eq!(choose(Ok(torn.clone()), Some(Err(EnvError::NoHeader))), Ok((Which::Unsealed, torn)));
        assert_eq!(
            choose(Err(EnvError::NoHeader), Some(Err(EnvError::WrongSize { bytes: 0 }))),
            Err(EnvError::NoHeader)
        );
    }

    #[test]
    fn refuses_what_grub_would_not_write() {
        assert_eq!(GrubEnv::parse(b"# GRUB Environment Block\n"), Err(EnvError::WrongSize { bytes: 25 }));
        assert_eq!(GrubEnv::parse(&block("# GRUB Environment\n")), Err(EnvError::NoHeader));
        assert!(matches!(
            GrubEnv::parse(&block("# GRUB Environment Block\nnoequals\n")),
            Err(EnvError::BadLine { .. })
        ));
        assert!(matches!(
            GrubEnv::parse(&block("# GRUB Environment Block\n=v\n")),
            Err(EnvError::BadLine { .. })
        ));
        assert!(matches!(
            GrubEnv::parse(&block("# GRUB Environment Block\n##x")),
            Err(EnvError::BadPadding { .. })
        ));
        assert!(matches!(
            GrubEnv::parse(&block("# GRUB Environment Block\n# c\nx")),
            Err(EnvError::BadLine { .. })
        ));
        // Found by the fuzz target: a value that is not UTF-8 (it would grow when re-encoded).
        let mut raw = b"# GRUB Environment Block\nv=\xff\xfe\n".to_vec();
        raw.resize(GRUBENV_BYTES, b'#');
        assert!(matches!(GrubEnv::parse(&raw), Err(EnvError::NotText { .. })));
        assert!(matches!(
            GrubEnv::parse(&block("# GRUB Environment Block\na=1\na=2\n")),
            Err(EnvError::Duplicate { .. })
        ));
        // A value running into the block's end without its newline.
        let mut cut = b"# GRUB Environment Block\nv=".to_vec();
        cut.resize(GRUBENV_BYTES, b'x');
        assert!(matches!(GrubEnv::parse(&cut), Err(EnvError::BadLine { .. })));
        let mut big = GrubEnv::new();
        big.set("v", &"x".repeat(GRUBENV_BYTES));
        assert!(matches!(big.encode(), Err(EnvError::TooLarge { .. })));
        let mut bad = GrubEnv::new();
        bad.set("a b", "1");
        assert!(matches!(bad.encode(), Err(EnvError::BadName { .. })));
    }
}
