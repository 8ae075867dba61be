//! Deliberate safety bugs for proving that the simulator finds them (test builds only).
//!
//! Owns a switch per safety precondition that a test may turn off. Without the cargo feature
//! `mutations` every switch is a constant `false` and the checks compile away; production and
//! the normal test suite never build with it. It decides nothing by itself.

#![forbid(unsafe_code)]

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mutation {
    /// The witness declares a lost holder released at once: no fence, no watchdog deadline.
    GrantWithoutFence = 1,
    /// A node starts resources even while its peer is heard running an older generation.
    SkipPeerCheck = 2,
    /// A node that loses quorum keeps its resources running (no N2 self-fence).
    NoSelfFence = 3,
}

#[cfg(feature = "mutations")]
static ACTIVE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Turn one mutation on for the whole process (0 = none).
#[cfg(feature = "mutations")]
pub fn set(m: Option<Mutation>) {
    ACTIVE.store(m.map_or(0, |m| m as u8), std::sync::atomic::Ordering::SeqCst);
}

#[cfg(feature = "mutations")]
pub fn active(m: Mutation) -> bool {
    ACTIVE.load(std::sync::atomic::Ordering::Relaxed) == m as u8
}

#[cfg(not(feature = "mutations"))]
#[inline(always)]
pub const fn active(_m: Mutation) -> bool {
    false
}
