//! The array's redundancy: from a logical drive's RAID level, its state and the state of each
//! of its member disks, how many more disk failures it survives, in the worst case.
//!
//! Owns the arithmetic of each level (0, 1, 1E, 5, 6, 10, 50) and the rule that turns what a
//! console lists into members ([`members_of`]: a member the console no longer lists counts as
//! lost). "Survives n more" means *any* n further member failures leave the data readable;
//! n + 1 badly placed ones may not. A rebuilding member counts as lost until its rebuild
//! completes (its data is not there yet; losing another member first loses the drive). It is a
//! pure function of its arguments; the monitor (`super`) remembers each drive's width and
//! turns changes into events. It does not parse consoles nor decide when to notify.
//!
//! The levels, with `n` members of which `lost` are failed, missing or rebuilding:
//!
//! | level | survives when nothing is lost | then | data lost for certain when |
//! |---|---|---|---|
//! | 0 | 0 | - | `lost >= 1` |
//! | 1 (n-way mirror) | n - 1 | n - 1 - lost | `lost >= n` |
//! | 1E (each block on two neighbouring members) | 1 | 0 | `lost > n / 2` |
//! | 5 | 1 | 1 - lost | `lost >= 2` |
//! | 6 | 2 | 2 - lost | `lost >= 3` |
//! | 10 (mirrored pairs, striped) | 1 | 0 | `lost > n / 2` |
//! | 50 (RAID 5 spans of 3 or more, striped) | 1 | 0 | `lost > n / 3` |
//!
//! For 1E, 10 and 50 the worst case is stated: the next failure hits the neighbour, the mirror
//! partner or the span of a member already lost, so one lost member leaves none to spare,
//! however many members the drive has (a RAID 10 of 8 disks that lost one may survive three
//! more, but only if they fall in the right places; it is reported as surviving 0). Which
//! members share a span is not shown by every console, so data loss is certain only past the
//! pigeonhole bound above; below it, the controller's own drive state (failed, offline) says
//! whether the data is lost.

#![forbid(unsafe_code)]

use crate::console::model::{ArrayModel, DiskState, DriveState, RaidLevel, MAX_DISKS};

/// The smallest span of a RAID 50 (a RAID 5 needs three members).
pub const RAID50_MIN_SPAN: u8 = 3;
/// Members of a RAID 10 mirror (the pairs controllers build).
pub const RAID10_MIRROR: u8 = 2;

/// One member's part in the redundancy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// Holds its data.
    Online,
    /// Being rebuilt: its data is not complete yet.
    Rebuilding,
    /// Failed, missing, or no longer listed by the console.
    Lost,
}

/// How many more member failures a logical drive survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redundancy {
    /// Any this many more failures leave the data readable (0: the next one may lose it).
    Survives(u8),
    /// The drive has lost data (the controller says failed or offline, or more members are
    /// lost than the level can bear).
    DataLost,
    /// A level the model does not name, or no member known.
    Unknown,
}

impl Redundancy {
    /// The number for status and notifications: `Some(n)` when known and the data is there.
    pub fn survivable(self) -> Option<u8> {
        match self {
            Redundancy::Survives(n) => Some(n),
            _ => None,
        }
    }
}

/// What a level survives with nothing lost, for `members` members (the redundancy it was
/// built with).
pub fn designed_tolerance(level: RaidLevel, members: u8) -> Option<u8> {
    match level {
        RaidLevel::Raid0 => Some(0),
        RaidLevel::Raid1 => Some(members.saturating_sub(1)),
        RaidLevel::Raid1E | RaidLevel::Raid5 | RaidLevel::Raid10 | RaidLevel::Raid50 => Some(1),
        RaidLevel::Raid6 => Some(2),
        RaidLevel::Other => None,
    }
}

/// How many more member failures a drive of `level`, in `state`, with these `members`
/// survives in the worst case (see the module's table).
pub fn survivable_failures(level: RaidLevel, state: DriveState, members: &[MemberState]) -> Redundancy {
    if matches!(state, DriveState::Failed | DriveState::Offline) {
        return Redundancy::DataLost;
    }
    let Ok(n) = u8::try_from(members.len()) else {
        return Redundancy::Unknown;
    };
    if n == 0 {
        return Redundancy::Unknown;
    }
    let lost = members.iter().filter(|m| **m != MemberState::Online).count() as u8;
    assert!(lost <= n);
    let Some(tolerance) = designed_tolerance(level, n) else {
        return Redundancy::Unknown;
    };
    let certain_loss = match level {
        RaidLevel::Raid0 | RaidLevel::Raid1 | RaidLevel::Raid5 | RaidLevel::Raid6 => lost > tolerance,
        RaidLevel::Raid1E => lost > n / 2,
        RaidLevel::Raid10 => lost > n / RAID10_MIRROR,
        RaidLevel::Raid50 => lost > n / RAID50_MIN_SPAN,
        RaidLevel::Other => unreachable!("no tolerance for an unnamed level"),
    };
    if certain_loss || lost == n {
        return Redundancy::DataLost;
    }
    let left = match level {
        // Worst case: the next failure is the neighbour, the partner, or in the same span.
        RaidLevel::Raid1E | RaidLevel::Raid10 | RaidLevel::Raid50 if lost > 0 => 0,
        _ => tolerance - lost,
    };
    Redundancy::Survives(left)
}

/// The members of drive `id` in `model`, as [`survivable_failures`] takes them: each disk the
/// console attributes to the drive that is online or rebuilding, and lost members for the
/// places they do not fill: `width` (the member count the drive was last seen optimal with)
/// minus the online ones, or without a width the failed or missing disks it still lists; at
/// least one when the controller says the drive is degraded, none when it says optimal.
pub fn members_of(model: &ArrayModel, id: u16, width: Option<u8>) -> heapless::Vec<MemberState, MAX_DISKS> {
    let mut members = heapless::Vec::new();
    let Some(drive) = model.drive(id) else {
        return members;
    };
    let mut rebuilding = 0usize;
    let mut failed = 0usize;
    let mut online = 0usize;
    for disk in model.disks.iter().filter(|d| d.drive == Some(id)) {
        match disk.state {
            DiskState::Online => online += 1,
            DiskState::Rebuilding => rebuilding += 1,
            DiskState::Failed | DiskState::Missing => failed += 1,
            _ => {}
        }
    }
    // With the width known, the places not online are those the online members do not fill
    // (a failed disk may stay listed after a spare took its place). Without it, a failed disk
    // and the spare rebuilding in its place may both be listed: the larger count.
    let mut not_online = match width {
        Some(width) => usize::from(width).saturating_sub(online),
        None => rebuilding.max(failed),
    };
    if drive.state.is_degraded() || matches!(drive.state, DriveState::Failed | DriveState::Offline) {
        not_online = not_online.max(1);
    }
    if matches!(drive.state, DriveState::Optimal | DriveState::Initializing) {
        // The controller's word wins: whatever is listed besides the online members is stale.
        not_online = 0;
    }
    for state in core::iter::repeat_n(MemberState::Online, online)
        .chain(core::iter::repeat_n(MemberState::Rebuilding, rebuilding.min(not_online)))
        .chain(core::iter::repeat_n(MemberState::Lost, not_online.saturating_sub(rebuilding)))
    {
        if members.push(state).is_err() {
            break;
        }
    }
    members
}

#[cfg(test)]
mod tests;
