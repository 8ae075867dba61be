//! The root slots' state and the update's decisions, as pure functions of the GRUB
//! environment block ([`super::grubenv`]) and the slot the running system booted from.
//!
//! Variables (board/x86_64/grub.cfg reads the first three):
//! - `ha_boot`: the committed slot, `A` or `B` (absent: `A`).
//! - `ha_try`, `ha_try_left`: the slot on trial; `ha_try_left=1` until GRUB boots it once
//!   (GRUB writes `0` before starting its kernel).
//! - `ha_A_version`, `ha_B_version`: the release each slot holds (absent: unknown or
//!   incomplete; cleared before a slot is written).
//!
//! Owns: which slot an update writes, what the block says before and after the write, when a
//! trial may be committed, the agent's readiness for a commit (from its status document), and
//! the words of `update status`. Does no I/O ([`super::device`] does).

#![forbid(unsafe_code)]

use super::grubenv::GrubEnv;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
    pub fn letter(self) -> &'static str {
        match self {
            Slot::A => "A",
            Slot::B => "B",
        }
    }
    /// The GPT partition's name (genimage.cfg).
    pub fn partname(self) -> &'static str {
        match self {
            Slot::A => "rootA",
            Slot::B => "rootB",
        }
    }
    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "A" => Some(Slot::A),
            "B" => Some(Slot::B),
            _ => None,
        }
    }
    fn version_var(self) -> &'static str {
        match self {
            Slot::A => "ha_A_version",
            Slot::B => "ha_B_version",
        }
    }
}

/// The slot named by `ha.slot=` on a kernel command line (GRUB puts it there).
pub fn booted_slot(cmdline: &str) -> Option<Slot> {
    cmdline.split_whitespace().find_map(|w| w.strip_prefix("ha.slot=")).and_then(Slot::parse)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trial {
    pub slot: Slot,
    /// GRUB has not booted it yet.
    pub pending: bool,
}

/// What the environment block says about the slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slots {
    pub committed: Slot,
    pub trial: Option<Trial>,
    pub versions: [Option<String>; 2],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotsError {
    /// A variable holds something GRUB's script would not act on as we would.
    BadVariable { name: &'static str, value: String },
}

impl std::fmt::Display for SlotsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotsError::BadVariable { name, value } => {
                write!(f, "the environment block's {name}={value:?} is neither A nor B")
            }
        }
    }
}

fn index(slot: Slot) -> usize {
    match slot {
        Slot::A => 0,
        Slot::B => 1,
    }
}

impl Slots {
    pub fn from_env(env: &GrubEnv) -> Result<Slots, SlotsError> {
        let slot_var = |name: &'static str| -> Result<Option<Slot>, SlotsError> {
            match env.get(name) {
                None | Some("") => Ok(None),
                Some(v) => Slot::parse(v).map(Some).ok_or(SlotsError::BadVariable { name, value: v.into() }),
            }
        };
        let committed = slot_var("ha_boot")?.unwrap_or(Slot::A);
        let trial =
            slot_var("ha_try")?.map(|slot| Trial { slot, pending: env.get("ha_try_left") == Some("1") });
        let version = |s: Slot| env.get(s.version_var()).filter(|v| !v.is_empty()).map(str::to_string);
        Ok(Slots { committed, trial, versions: [version(Slot::A), version(Slot::B)] })
    }

    /// Write these slots into `env` (other variables kept).
    pub fn to_env(&self, env: &mut GrubEnv) {
        env.set("ha_boot", self.committed.letter());
        match &self.trial {
            Some(t) => {
                env.set("ha_try", t.slot.letter());
                env.set("ha_try_left", if t.pending { "1" } else { "0" });
            }
            None => {
                env.remove("ha_try");
                env.remove("ha_try_left");
            }
        }
        for s in [Slot::A, Slot::B] {
            match &self.versions[index(s)] {
                Some(v) => env.set(s.version_var(), v),
                None => env.remove(s.version_var()),
            }
        }
    }

    pub fn version(&self, slot: Slot) -> Option<&str> {
        self.versions[index(slot)].as_deref()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The running system is on trial (or booted from a slot the block does not commit).
    NotCommitted { booted: Slot, committed: Slot },
    /// `commit` on a system that GRUB did not count as a trial boot.
    TrialNotCounted { slot: Slot },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotCommitted { booted, committed } => write!(
                f,
                "this system runs slot {}, which is not committed (slot {} is): commit it (ha-agent update commit) or reboot first",
                booted.letter(),
                committed.letter()
            ),
            Refusal::TrialNotCounted { slot } => write!(
                f,
                "slot {} is on trial but GRUB has not counted its boot (ha_try_left is still 1): not committed",
                slot.letter()
            ),
        }
    }
}

/// The slot an update writes: the one not running. Refused unless the running slot is the
/// committed one (an update on top of an uncommitted trial could leave no good slot).
pub fn target(slots: &Slots, booted: Slot) -> Result<Slot, Refusal> {
    if booted != slots.committed {
        return Err(Refusal::NotCommitted { booted, committed: slots.committed });
    }
    Ok(booted.other())
}

/// Before writing `target`: nothing is on trial and its version is forgotten, so that a
/// power cut in the middle of the write leaves a block that boots the committed slot only.
pub fn before_write(slots: &Slots, target: Slot) -> Slots {
    assert_ne!(target, slots.committed, "never write the committed slot");
    let mut s = slots.clone();
    s.trial = None;
    s.versions[index(target)] = None;
    s
}

/// After `target` was written and read back: it is tried once at the next boot.
pub fn after_write(slots: &Slots, target: Slot, version: &str) -> Slots {
    assert_ne!(target, slots.committed, "never write the committed slot");
    let mut s = slots.clone();
    s.trial = Some(Trial { slot: target, pending: true });
    s.versions[index(target)] = Some(version.to_string());
    s
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commit {
    /// The booted trial slot becomes the committed one: write these slots.
    Commit(Slots),
    /// The booted slot is already the committed one; nothing on trial here.
    Nothing,
}

pub fn commit(slots: &Slots, booted: Slot) -> Result<Commit, Refusal> {
    match &slots.trial {
        Some(t) if t.slot == booted && booted != slots.committed => {
            if t.pending {
                return Err(Refusal::TrialNotCounted { slot: booted });
            }
            let mut s = slots.clone();
            s.committed = booted;
            s.trial = None;
            Ok(Commit::Commit(s))
        }
        _ if booted == slots.committed => Ok(Commit::Nothing),
        _ => Err(Refusal::NotCommitted { booted, committed: slots.committed }),
    }
}

/// Whether the running system is a trial boot waiting for its commit.
pub fn on_trial(slots: &Slots, booted: Slot) -> bool {
    matches!(&slots.trial, Some(t) if t.slot == booted && !t.pending) && booted != slots.committed
}

/// Is the agent ready for a commit, judged from its status document (docs/status.md)? It
/// answered (that is the document), and, with `require_peers`, every other member is
/// `reachable`. Err: what is missing.
pub fn ready_for_commit(status: &serde_json::Value, require_peers: bool) -> Result<(), String> {
    if !require_peers {
        return Ok(());
    }
    let members = status["members"].as_array().ok_or("the status has no members")?;
    let missing: Vec<String> = members
        .iter()
        .filter(|m| m["state"].as_str() != Some("reachable"))
        .map(|m| format!("{} {}", m["name"].as_str().unwrap_or("?"), m["state"].as_str().unwrap_or("?")))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("peers not heard: {}", missing.join(", ")))
    }
}

/// The lines of `update status`.
pub fn describe(slots: &Slots, booted: Option<Slot>) -> Vec<String> {
    let mut lines = Vec::new();
    lines.push(match booted {
        Some(b) => format!("booted: slot {}", b.letter()),
        None => "booted: not from a root slot (no ha.slot= on the kernel command line)".to_string(),
    });
    lines.push(format!("committed: slot {}", slots.committed.letter()));
    for s in [Slot::A, Slot::B] {
        let mut words = vec![format!(
            "slot {}: {}",
            s.letter(),
            slots.version(s).unwrap_or("no release (empty or incompletely written)")
        )];
        if s == slots.committed {
            words.push("committed".into());
        }
        if booted == Some(s) {
            words.push("booted".into());
        }
        if let Some(t) = slots.trial.as_ref().filter(|t| t.slot == s) {
            words.push(
                match (t.pending, booted == Some(s)) {
                    (true, _) => "to be tried once at the next boot",
                    (false, true) => "on trial: commits once the agent is ready and has heard its peers",
                    (false, false) => "tried and not committed: rolled back",
                }
                .into(),
            );
        }
        lines.push(words.join(", "));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Slots {
        let mut env = GrubEnv::new();
        env.set("ha_boot", "A");
        env.set("ha_A_version", "v1");
        Slots::from_env(&env).unwrap()
    }

    fn round_trip(s: &Slots) -> Slots {
        let mut env = GrubEnv::new();
        env.set("other", "kept");
        s.to_env(&mut env);
        assert_eq!(env.get("other"), Some("kept"));
        Slots::from_env(&GrubEnv::parse(&env.encode().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn a_good_update_is_tried_once_then_committed() {
        let s = fresh();
        let t = target(&s, Slot::A).unwrap();
        assert_eq!(t, Slot::B);
        let s = round_trip(&before_write(&s, t));
        assert_eq!((s.trial.clone(), s.version(Slot::B)), (None, None));
        let s = round_trip(&after_write(&s, t, "v2"));
        assert_eq!(s.trial, Some(Trial { slot: Slot::B, pending: true }));
        // Still on A before the reboot: nothing to commit; a second update is allowed.
        assert_eq!(commit(&s, Slot::A), Ok(Commit::Nothing));
        // GRUB boots B once: ha_try_left=0.
        let mut grub = s.clone();
        grub.trial = Some(Trial { slot: Slot::B, pending: false });
        assert!(on_trial(&grub, Slot::B));
        assert_eq!(
            target(&grub, Slot::B),
            Err(Refusal::NotCommitted { booted: Slot::B, committed: Slot::A })
        );
        let Ok(Commit::Commit(done)) = commit(&grub, Slot::B) else { panic!() };
        let done = round_trip(&done);
        assert_eq!((done.committed, done.trial.clone(), done.version(Slot::B)), (Slot::B, None, Some("v2")));
        assert_eq!(commit(&done, Slot::B), Ok(Commit::Nothing));
        assert_eq!(target(&done, Slot::B), Ok(Slot::A));
    }

    #[test]
    fn a_failed_trial_is_shown_as_rolled_back() {
        let mut s = after_write(&before_write(&fresh(), Slot::B), Slot::B, "v2");
        s.trial = Some(Trial { slot: Slot::B, pending: false });
        // Back on A after the trial: not on trial, nothing to commit, B shown rolled back.
        assert!(!on_trial(&s, Slot::A));
        assert_eq!(commit(&s, Slot::A), Ok(Commit::Nothing));
        assert!(describe(&s, Some(Slot::A))
            .iter()
            .any(|l| l.contains("slot B: v2, tried and not committed")));
    }

    #[test]
    fn refusals() {
        let mut s = after_write(&fresh(), Slot::B, "v2");
        assert_eq!(commit(&s, Slot::B), Err(Refusal::TrialNotCounted { slot: Slot::B }));
        s.trial = None;
        assert_eq!(commit(&s, Slot::B), Err(Refusal::NotCommitted { booted: Slot::B, committed: Slot::A }));
        let mut env = GrubEnv::new();
        env.set("ha_boot", "C");
        assert!(Slots::from_env(&env).is_err());
    }

    #[test]
    fn reads_the_booted_slot_and_the_peers() {
        assert_eq!(booted_slot("ro root=PARTLABEL=rootB ha.slot=B quiet"), Some(Slot::B));
        assert_eq!(booted_slot("ro quiet"), None);
        let status = serde_json::json!({"members": [{"name": "node-a", "state": "reachable"}, {"name": "node-b", "state": "unknown"}]});
        assert_eq!(ready_for_commit(&status, true), Err("peers not heard: node-b unknown".into()));
        assert_eq!(ready_for_commit(&status, false), Ok(()));
    }
}
