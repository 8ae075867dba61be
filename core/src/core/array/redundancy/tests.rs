//! Every level, optimal, degraded, rebuilding and beyond; and how a console's listing becomes
//! members.

use super::*;
use crate::console::model::{name, Disk, LogicalDrive};
use MemberState::{Lost, Online as On, Rebuilding as Rb};
use Redundancy::{DataLost, Survives, Unknown};

fn survives(level: RaidLevel, state: DriveState, members: &[MemberState]) -> Redundancy {
    survivable_failures(level, state, members)
}

const DEGRADED: DriveState = DriveState::Degraded;
const OPTIMAL: DriveState = DriveState::Optimal;
const REBUILDING: DriveState = DriveState::Rebuilding(40);

#[test]
fn raid0_has_no_redundancy_and_loses_data_with_any_member() {
    let l = RaidLevel::Raid0;
    assert_eq!(survives(l, OPTIMAL, &[On, On]), Survives(0));
    assert_eq!(survives(l, OPTIMAL, &[On, On, On, On]), Survives(0));
    assert_eq!(survives(l, DEGRADED, &[On, Lost]), DataLost);
    assert_eq!(survives(l, REBUILDING, &[On, Rb]), DataLost);
}

#[test]
fn raid1_survives_all_but_one_mirror() {
    let l = RaidLevel::Raid1;
    assert_eq!(survives(l, OPTIMAL, &[On, On]), Survives(1));
    assert_eq!(survives(l, DEGRADED, &[On, Lost]), Survives(0));
    assert_eq!(survives(l, REBUILDING, &[On, Rb]), Survives(0));
    assert_eq!(survives(l, DEGRADED, &[Lost, Lost]), DataLost);
    // A three-way mirror.
    assert_eq!(survives(l, OPTIMAL, &[On, On, On]), Survives(2));
    assert_eq!(survives(l, DEGRADED, &[On, Lost, On]), Survives(1));
    assert_eq!(survives(l, REBUILDING, &[On, Rb, Lost]), Survives(0));
    assert_eq!(survives(l, DEGRADED, &[Lost, Lost, Lost]), DataLost);
}

#[test]
fn raid1e_worst_case_is_the_neighbour() {
    let l = RaidLevel::Raid1E;
    assert_eq!(survives(l, OPTIMAL, &[On, On, On]), Survives(1));
    assert_eq!(survives(l, DEGRADED, &[On, Lost, On]), Survives(0));
    assert_eq!(survives(l, REBUILDING, &[On, Rb, On]), Survives(0));
    // Of three members in a ring, any two are neighbours.
    assert_eq!(survives(l, DEGRADED, &[Lost, Lost, On]), DataLost);
    // Of four, two non-neighbours may be lost (the controller says whether they were).
    assert_eq!(survives(l, OPTIMAL, &[On, On, On, On]), Survives(1));
    assert_eq!(survives(l, DEGRADED, &[Lost, On, Lost, On]), Survives(0));
    assert_eq!(survives(l, DEGRADED, &[Lost, Lost, Lost, On]), DataLost);
}

#[test]
fn raid5_survives_one() {
    let l = RaidLevel::Raid5;
    assert_eq!(survives(l, OPTIMAL, &[On, On, On]), Survives(1));
    assert_eq!(survives(l, OPTIMAL, &[On, On, On, On]), Survives(1));
    assert_eq!(survives(l, DEGRADED, &[On, Lost, On, On]), Survives(0));
    assert_eq!(survives(l, REBUILDING, &[On, Rb, On, On]), Survives(0));
    assert_eq!(survives(l, DEGRADED, &[On, Lost, Lost, On]), DataLost);
    assert_eq!(survives(l, REBUILDING, &[On, Rb, Lost, On]), DataLost);
}

#[test]
fn raid6_survives_two() {
    let l = RaidLevel::Raid6;
    assert_eq!(survives(l, OPTIMAL, &[On, On, On, On, On]), Survives(2));
    assert_eq!(survives(l, DriveState::PartiallyDegraded, &[On, Lost, On, On, On]), Survives(1));
    assert_eq!(survives(l, REBUILDING, &[On, Rb, On, On, On]), Survives(1));
    assert_eq!(survives(l, DEGRADED, &[On, Lost, Lost, On, On]), Survives(0));
    assert_eq!(survives(l, REBUILDING, &[On, Rb, Lost, On, On]), Survives(0));
    assert_eq!(survives(l, REBUILDING, &[On, Rb, Rb, On, On]), Survives(0));
    assert_eq!(survives(l, DEGRADED, &[Lost, Lost, Lost, On, On]), DataLost);
}

#[test]
fn raid10_worst_case_is_the_mirror_partner() {
    let l = RaidLevel::Raid10;
    assert_eq!(survives(l, OPTIMAL, &[On, On, On, On]), Survives(1));
    assert_eq!(survives(l, OPTIMAL, &[On; 8]), Survives(1));
    assert_eq!(survives(l, DEGRADED, &[Lost, On, On, On]), Survives(0));
    assert_eq!(survives(l, REBUILDING, &[Rb, On, On, On]), Survives(0));
    // One from each pair: the data is there, nothing to spare.
    assert_eq!(survives(l, DEGRADED, &[Lost, On, Lost, On]), Survives(0));
    // More lost than pairs: some pair lost both.
    assert_eq!(survives(l, DEGRADED, &[Lost, Lost, Lost, On]), DataLost);
    assert_eq!(survives(l, DEGRADED, &[Lost, On, Lost, On, Lost, On, Lost, On]), Survives(0));
    assert_eq!(survives(l, DEGRADED, &[Lost, On, Lost, On, Lost, On, Lost, Lost]), DataLost);
    // Both of one pair, said by the controller.
    assert_eq!(survives(l, DriveState::Failed, &[Lost, Lost, On, On]), DataLost);
}

#[test]
fn raid50_worst_case_is_the_same_span() {
    let l = RaidLevel::Raid50;
    assert_eq!(survives(l, OPTIMAL, &[On; 6]), Survives(1));
    assert_eq!(survives(l, DEGRADED, &[Lost, On, On, On, On, On]), Survives(0));
    assert_eq!(survives(l, REBUILDING, &[Rb, On, On, On, On, On]), Survives(0));
    // One in each of two spans of three.
    assert_eq!(survives(l, DEGRADED, &[Lost, On, On, Lost, On, On]), Survives(0));
    // Three lost among six: at most two spans, so one span lost two.
    assert_eq!(survives(l, DEGRADED, &[Lost, Lost, On, Lost, On, On]), DataLost);
    assert_eq!(survives(l, DriveState::Offline, &[Lost, Lost, On, On, On, On]), DataLost);
}

#[test]
fn unknown_levels_and_empty_drives_say_unknown_and_dead_drives_lost() {
    assert_eq!(survives(RaidLevel::Other, OPTIMAL, &[On, On, On]), Unknown);
    assert_eq!(survives(RaidLevel::Raid5, OPTIMAL, &[]), Unknown);
    assert_eq!(survives(RaidLevel::Raid6, DriveState::Failed, &[]), DataLost);
    assert_eq!(survives(RaidLevel::Raid1, DriveState::Offline, &[On, On]), DataLost);
    assert_eq!(survives(RaidLevel::Raid6, DriveState::Initializing, &[On; 4]), Survives(2));
    assert_eq!(Survives(3).survivable(), Some(3));
    assert_eq!(DataLost.survivable(), None);
}

fn model(level: RaidLevel, state: DriveState, disks: &[DiskState]) -> ArrayModel {
    let mut m = ArrayModel::default();
    m.put_drive(LogicalDrive { id: 0, level, state, group: name("") });
    for (slot, state) in disks.iter().enumerate() {
        let attached = !matches!(state, DiskState::GlobalSpare | DiskState::Unconfigured);
        m.put_disk(Disk {
            enclosure: None,
            slot: slot as u16,
            state: *state,
            drive: attached.then_some(0),
            rebuild_percent: None,
        });
    }
    m
}

#[test]
fn members_from_what_the_console_lists() {
    use DiskState::{Failed, GlobalSpare, Online, Rebuilding};
    let r5 = RaidLevel::Raid5;
    // All listed.
    let m = model(r5, OPTIMAL, &[Online, Online, Online, Online, GlobalSpare]);
    assert_eq!(members_of(&m, 0, None).as_slice(), [On, On, On, On]);
    // The failed member is no longer listed: the width remembers it.
    let m = model(r5, DEGRADED, &[Online, Online, Online]);
    assert_eq!(members_of(&m, 0, Some(4)).as_slice(), [On, On, On, Lost]);
    // Without a width, a degraded drive has at least one lost member.
    assert_eq!(members_of(&m, 0, None).as_slice(), [On, On, On, Lost]);
    // A failed member listed beside the spare rebuilding in its place is one place.
    let m = model(r5, REBUILDING, &[Online, Failed, Online, Online, Rebuilding]);
    assert_eq!(members_of(&m, 0, Some(4)).as_slice(), [On, On, On, Rb]);
    assert_eq!(members_of(&m, 0, None).as_slice(), [On, On, On, Rb]);
    // RAID 6 that lost two, the console listing neither.
    let m = model(RaidLevel::Raid6, DEGRADED, &[Online, Online, Online]);
    let members = members_of(&m, 0, Some(5));
    assert_eq!(members.as_slice(), [On, On, On, Lost, Lost]);
    assert_eq!(survivable_failures(RaidLevel::Raid6, DEGRADED, &members), Survives(0));
    // A failed disk still listed after a spare took its place, beside one failed since.
    let m = model(RaidLevel::Raid6, DEGRADED, &[Online, Failed, Online, Online, Online, Online]);
    assert_eq!(members_of(&m, 0, Some(6)).as_slice(), [On, On, On, On, On, Lost]);
    assert_eq!(members_of(&m, 0, None).as_slice(), [On, On, On, On, On, Lost]);
    // Optimal again, with the old failed disk still listed: the controller's word wins.
    let m = model(r5, OPTIMAL, &[Online, Failed, Online, Online, Online]);
    assert_eq!(members_of(&m, 0, Some(4)).as_slice(), [On, On, On, On]);
    // No such drive.
    assert!(members_of(&m, 7, Some(4)).is_empty());
}
