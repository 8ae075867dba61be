//! The witness's durable record: the generation, its holder and, for an early grant, the node
//! whose release it still waits for; and the one text form of that record in the state file
//! (`state_dir/authority`).
//!
//! Owns the type, its validity and its codec. The file itself (reading with a bound, the
//! durable write) is the shell's (`shell::authority`); what the witness does with a record is
//! `super` (see `docs/design.md`, "Authority", early grants).

#![forbid(unsafe_code)]

use core::fmt;

/// The durable state of the witness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub generation: u64,
    /// Member id of the holder of `generation` (0 = none).
    pub holder: u8,
    /// Member id of the holder of `generation - 1` whose release (its fence confirmed, its
    /// watchdog deadline passed or its own stopped report) this grant still waits for: an
    /// **early grant**, stored while that holder is being fenced and announced only once it
    /// is released (0 = none: the grant is announced once it is stored).
    pub pending_fence: u8,
}

impl Stored {
    /// A grant (or the absence of one) that is announced once stored.
    pub const fn announced(generation: u64, holder: u8) -> Stored {
        Stored { generation, holder, pending_fence: 0 }
    }

    /// Whether the record can have been written by a witness: an early grant follows a
    /// generation with a holder (so it is at least 2) and names another node than that
    /// holder. Any other record counts as unreadable (lost state, rule W4).
    pub fn is_valid(&self) -> bool {
        self.pending_fence == 0
            || (self.generation >= 2 && self.holder != 0 && self.holder != self.pending_fence)
    }

    /// The record as the state file holds it: `generation=G holder=H`, and for an early grant
    /// `pending_fence=N generation=G holder=H`. The mark comes first so that an agent older than
    /// early grants, which reads `generation=` as the first word, finds the record unreadable
    /// (lost state: it adopts from the nodes, W4) instead of taking it as announced.
    pub fn parse(text: &str) -> Option<Stored> {
        let mut words = text.split_whitespace().peekable();
        let pending_fence = match words.peek().and_then(|w| w.strip_prefix("pending_fence=")) {
            Some(n) => {
                let n = n.parse().ok().filter(|&n: &u8| n != 0)?;
                words.next();
                n
            }
            None => 0,
        };
        let generation = words.next()?.strip_prefix("generation=")?.parse().ok()?;
        let holder = words.next()?.strip_prefix("holder=")?.parse().ok()?;
        let stored = Stored { generation, holder, pending_fence };
        (words.next().is_none() && stored.is_valid()).then_some(stored)
    }
}

/// The record's line (without its newline), as [`Stored::parse`] reads it.
impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pending_fence != 0 {
            write!(f, "pending_fence={} ", self.pending_fence)?;
        }
        write!(f, "generation={} holder={}", self.generation, self.holder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_older_agents_still_read_and_every_record_reads_back() {
        assert_eq!(Stored::parse("generation=7 holder=2\n"), Some(Stored::announced(7, 2)));
        assert_eq!(Stored::parse("generation=1 holder=0"), Some(Stored::announced(1, 0)));
        for s in [
            Stored::announced(0, 0),
            Stored::announced(9, 3),
            Stored { generation: 8, holder: 3, pending_fence: 2 },
            Stored { generation: u64::MAX, holder: 255, pending_fence: 254 },
        ] {
            assert_eq!(Stored::parse(&s.to_string()), Some(s), "{s}");
        }
        assert_eq!(
            Stored { generation: 8, holder: 3, pending_fence: 2 }.to_string(),
            "pending_fence=2 generation=8 holder=3"
        );
    }

    #[test]
    fn an_early_grant_is_unreadable_to_a_reader_that_expects_generation_first() {
        // What agents without early grants did: the first word must be `generation=`.
        fn older(text: &str) -> Option<&str> {
            text.split_whitespace().next().and_then(|w| w.strip_prefix("generation="))
        }
        let early = Stored { generation: 8, holder: 3, pending_fence: 2 };
        assert_eq!(older(&early.to_string()), None);
        assert_eq!(older(&Stored::announced(8, 3).to_string()), Some("8"));
    }

    #[test]
    fn malformed_or_impossible_records_are_refused() {
        for text in [
            "",
            "generation=7",
            "holder=2 generation=7",
            "generation=7 holder=2 extra",
            "generation=x holder=2",
            "generation=7 holder=256",
            "pending_fence=0 generation=7 holder=3",
            "pending_fence=3 generation=7 holder=3",
            "pending_fence=2 generation=1 holder=3",
            "pending_fence=2 generation=7 holder=0",
            "generation=7 holder=3 pending_fence=2",
        ] {
            assert_eq!(Stored::parse(text), None, "{text:?}");
        }
    }
}
