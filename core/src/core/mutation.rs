//! Deliberate safety bugs for proving that the simulator finds them (test builds only).
//!
//! Owns a switch per safety rule that a test may turn off: one [`Mutation`] per rule (W1-W5,
//! N1-N4 and N2's voiding of grants, the peer check, the durable generation, replay rejection,
//! the witness's `latest_boot` check of a node that left stopped, an early grant's wait for the
//! fence and its mark in the state file), each guarding the one place
//! where that rule is decided, and the list of broken builds the simulator runs
//! ([`Mutation::simulated`]). Without the cargo feature `mutations` every switch is a constant `false`
//! and the checks compile away; production and the normal test suite never build with it.
//! Several may be on at once (the simulator's `--mutation a,b`). It decides nothing by itself.

#![forbid(unsafe_code)]

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mutation {
    /// W1: the witness declares a lost holder released at once: no fence, no watchdog
    /// deadline.
    GrantWithoutFence = 1,
    /// Peer check: a node starts resources even while its peer is heard running an older
    /// generation. The peer check is a second line of defence for when the witness is wrong;
    /// in the simulator's fault model the witness never grants while the other node still
    /// runs, so this build alone cannot be told apart; `make test-sim` runs it with
    /// [`Mutation::KeepGrantsAfterSelfFence`] (see [`Mutation::simulated`]).
    SkipPeerCheck = 2,
    /// N2: a node that loses quorum keeps its resources running (no self-fence).
    NoSelfFence = 3,
    /// W2: the witness declares the holder lost without the other node's word: it no longer
    /// needs the other node's report to say that it does not reach the holder either.
    LostWhilePeerReaches = 4,
    /// W3: an isolated witness (it reaches no node) acts as if it were in quorum: it declares
    /// holders lost and fences them.
    IsolatedWitnessActs = 5,
    /// W4: at cold start the witness does not adopt a generation heard from the nodes that is
    /// higher than its own stored one (a witness that lost its state starts again from 0).
    NoGenerationAdoption = 6,
    /// W5: a switchover grants the new node as soon as it is asked for, without waiting for
    /// the holder's `Stopped{g}`.
    SwitchWithoutStop = 7,
    /// N1: a node acts on a `Run` for a generation older than one it has seen, or not newer
    /// than one it stopped for.
    StartUnderOlderGeneration = 8,
    /// N3: the core lets the watchdog be fed even after it decided to starve it (a stop that
    /// failed or hung during a self-fence or a failure).
    FeedWhileUnhealthy = 9,
    /// N4: after boot, a node that has not heard the witness's word yet starts the resources
    /// on its own, under the generation it stored, as soon as it reaches its peer.
    StartWithoutWitness = 10,
    /// Durable generation: a node that boots ignores the generation it stored before its
    /// restart (it reports 0), so a witness that lost its state cannot adopt it.
    ForgetStoredGeneration = 11,
    /// Replay rejection: failure detection accepts a frame that is not newer than the latest
    /// one accepted on its link (a duplicate, a late reordered frame or a recorded one).
    AcceptReplays = 12,
    /// `LeftStopped`: the witness releases a silent node on the stopped report of an earlier
    /// boot, although it heard a later boot since (`latest_boot` ignored).
    IgnoreLatestBoot = 13,
    /// N2's voiding of grants: a node that self-fences keeps the grants it had not acted on
    /// yet (`stopped` is not raised to `max_seen`), so a grant whose store was slow or whose
    /// peer check waited may still start it after the witness counted on its self-fence.
    KeepGrantsAfterSelfFence = 14,
    /// W1 for an early grant: the grant stored while the lost holder is being fenced is
    /// announced as soon as it is durable, without waiting for that holder's release.
    AnnounceEarlyGrant = 15,
    /// W1 for an early grant across a restart: a witness that restarts with an early grant in
    /// its state file takes it as announced (it forgets that it waits for a fence).
    ForgetPendingFence = 16,
}

impl Mutation {
    /// Every mutation.
    pub const ALL: [Mutation; 16] = [
        Mutation::GrantWithoutFence,
        Mutation::LostWhilePeerReaches,
        Mutation::IsolatedWitnessActs,
        Mutation::NoGenerationAdoption,
        Mutation::SwitchWithoutStop,
        Mutation::StartUnderOlderGeneration,
        Mutation::NoSelfFence,
        Mutation::FeedWhileUnhealthy,
        Mutation::StartWithoutWitness,
        Mutation::SkipPeerCheck,
        Mutation::ForgetStoredGeneration,
        Mutation::AcceptReplays,
        Mutation::IgnoreLatestBoot,
        Mutation::KeepGrantsAfterSelfFence,
        Mutation::AnnounceEarlyGrant,
        Mutation::ForgetPendingFence,
    ];

    /// The broken builds `make test-sim` runs, each a set of mutations turned on together, in
    /// [`Mutation::ALL`]'s order: every mutation alone but the peer check's, and the peer check's
    /// together with [`Mutation::KeepGrantsAfterSelfFence`]. The peer check is a second line of
    /// defence: no modelled fault gets past the witness and N2 to it, so alone it is caught by no
    /// seed. With N2's voiding of grants undone, a node may start under a grant the witness gave
    /// up on; the observer's W1 checks see that at once, but the invariant itself still holds
    /// while the peer check holds the new holder back. So that set is run with the observer
    /// checking only the invariant ([`Mutation::second_line`]; docs/design.md, "The simulator").
    pub fn simulated() -> impl Iterator<Item = &'static [Mutation]> {
        const PEER_CHECK: &[Mutation] = &[Mutation::SkipPeerCheck, Mutation::KeepGrantsAfterSelfFence];
        Mutation::ALL.iter().map(|m| {
            if *m == Mutation::SkipPeerCheck {
                PEER_CHECK
            } else {
                std::slice::from_ref(m)
            }
        })
    }

    /// A second line of defence: its mutation is observed against the invariant only (never two
    /// powered nodes with resources not stopped), with a first line broken as well.
    pub fn second_line(self) -> bool {
        self == Mutation::SkipPeerCheck
    }

    /// The name on the simulator's command line (`--mutation NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Mutation::GrantWithoutFence => "grant-without-fence",
            Mutation::SkipPeerCheck => "skip-peer-check",
            Mutation::NoSelfFence => "no-self-fence",
            Mutation::LostWhilePeerReaches => "lost-while-peer-reaches",
            Mutation::IsolatedWitnessActs => "isolated-witness-acts",
            Mutation::NoGenerationAdoption => "no-generation-adoption",
            Mutation::SwitchWithoutStop => "switch-without-stop",
            Mutation::StartUnderOlderGeneration => "start-under-older-generation",
            Mutation::FeedWhileUnhealthy => "feed-while-unhealthy",
            Mutation::StartWithoutWitness => "start-without-witness",
            Mutation::ForgetStoredGeneration => "forget-stored-generation",
            Mutation::AcceptReplays => "accept-replays",
            Mutation::IgnoreLatestBoot => "ignore-latest-boot",
            Mutation::KeepGrantsAfterSelfFence => "keep-grants-after-self-fence",
            Mutation::AnnounceEarlyGrant => "announce-early-grant",
            Mutation::ForgetPendingFence => "forget-pending-fence",
        }
    }

    /// The rule this mutation breaks, as docs/design.md names it.
    pub fn rule(self) -> &'static str {
        match self {
            Mutation::GrantWithoutFence => "W1",
            Mutation::LostWhilePeerReaches => "W2",
            Mutation::IsolatedWitnessActs => "W3",
            Mutation::NoGenerationAdoption => "W4",
            Mutation::SwitchWithoutStop => "W5",
            Mutation::StartUnderOlderGeneration => "N1",
            Mutation::NoSelfFence => "N2",
            Mutation::FeedWhileUnhealthy => "N3",
            Mutation::StartWithoutWitness => "N4",
            Mutation::SkipPeerCheck => "peer check",
            Mutation::ForgetStoredGeneration => "durable generation",
            Mutation::AcceptReplays => "replay rejection",
            Mutation::IgnoreLatestBoot => "LeftStopped latest_boot",
            Mutation::KeepGrantsAfterSelfFence => "N2 voids grants",
            Mutation::AnnounceEarlyGrant => "W1 early grant",
            Mutation::ForgetPendingFence => "W1 early grant restart",
        }
    }

    pub fn from_name(name: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == name)
    }
}

#[cfg(feature = "mutations")]
static ACTIVE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Turn these mutations on for the whole process (empty = none).
#[cfg(feature = "mutations")]
pub fn set(ms: &[Mutation]) {
    let bits = ms.iter().fold(0u32, |b, m| b | 1 << (*m as u8));
    ACTIVE.store(bits, std::sync::atomic::Ordering::SeqCst);
}

#[cfg(feature = "mutations")]
pub fn active(m: Mutation) -> bool {
    ACTIVE.load(std::sync::atomic::Ordering::Relaxed) & (1 << (m as u8)) != 0
}

#[cfg(not(feature = "mutations"))]
#[inline(always)]
pub const fn active(_m: Mutation) -> bool {
    false
}
