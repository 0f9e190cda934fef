//! Application-level fragmentation of messages longer than one datagram, sans IO.
//!
//! A message of `msg_len` bytes is the 64-byte header followed by `msg_len − 64` payload
//! bytes. When it does not fit one datagram of at most `max_datagram` bytes (the path MTU
//! minus the IP and UDP headers), it travels as `count` fragments, each a full header (with
//! its `frag_index` and the message's `frag_count` and `msg_len`) followed by the next
//! `max_datagram − 64` payload bytes; the last one carries the rest. A message that fits is
//! one datagram of exactly `msg_len` bytes, as before.
//!
//! [`Reassembly`] tracks, for the `slots` messages a member can have in flight, which
//! fragments arrived (one bit each), with duplicates and any order, and says when a
//! message is whole. Its memory is allocated once, at configure time; accepting a fragment
//! allocates nothing. A slot still incomplete when a newer message needs it is given up
//! and counted.
#![forbid(unsafe_code)]

use std::ops::Range;

use crate::wire::HEADER_LEN;

/// Why a message cannot be fragmented as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// A datagram must carry the header and at least one payload byte.
    #[error(
        "--max-datagram {max_datagram} B leaves no room for payload after the {HEADER_LEN}-byte header: give at least {} B (a datagram is limited by --max-datagram, else by the route's MTU − 28)", HEADER_LEN + 1
    )]
    DatagramTooSmall {
        /// The datagram size asked for.
        max_datagram: u32,
    },
    /// A message is at least its header.
    #[error("message length {msg_len} B is shorter than the {HEADER_LEN}-byte header")]
    MessageTooShort {
        /// The message length asked for.
        msg_len: u32,
    },
}

/// How one message length splits into datagrams of at most `max_datagram` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentPlan {
    msg_len: u32,
    max_datagram: u32,
    count: u32,
}

impl FragmentPlan {
    /// The plan for messages of `msg_len` bytes in datagrams of at most `max_datagram`.
    pub fn new(msg_len: u32, max_datagram: u32) -> Result<FragmentPlan, FragmentError> {
        if (msg_len as usize) < HEADER_LEN {
            return Err(FragmentError::MessageTooShort { msg_len });
        }
        if (max_datagram as usize) <= HEADER_LEN {
            return Err(FragmentError::DatagramTooSmall { max_datagram });
        }
        let count = if msg_len <= max_datagram {
            1
        } else {
            let payload = msg_len - HEADER_LEN as u32;
            payload.div_ceil(max_datagram - HEADER_LEN as u32)
        };
        Ok(FragmentPlan {
            msg_len,
            max_datagram,
            count,
        })
    }

    /// Fragments per message (1 when it fits one datagram).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Payload bytes each fragment but the last carries.
    fn chunk(&self) -> u32 {
        self.max_datagram - HEADER_LEN as u32
    }

    /// The part of the message's payload (bytes after its header) fragment `index` carries.
    pub fn payload_range(&self, index: u32) -> Range<usize> {
        let payload = (self.msg_len as usize) - HEADER_LEN;
        if self.count == 1 {
            return 0..payload;
        }
        let start = (index as usize * self.chunk() as usize).min(payload);
        let end = (start + self.chunk() as usize).min(payload);
        start..end
    }

    /// Length of fragment `index` on the wire: its header and its part of the payload.
    pub fn datagram_len(&self, index: u32) -> usize {
        HEADER_LEN + self.payload_range(index).len()
    }

    /// Whether a received fragment's length is the one this plan gives its index.
    pub fn fits(&self, index: u32, len: usize) -> bool {
        index < self.count && self.datagram_len(index) == len
    }
}

/// What [`Reassembly::accept`] made of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assembled {
    /// More fragments of this message are missing.
    Incomplete,
    /// This fragment completed the message (its first fragment arrived at `first_ns`).
    Complete {
        /// When the message's first fragment arrived.
        first_ns: u64,
    },
    /// This fragment had arrived before.
    Duplicate,
    /// The fragment does not fit the plan (index or length): dropped.
    Malformed,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    in_use: bool,
    seq: u32,
    received: u32,
    first_ns: u64,
}

/// Which fragments of the messages in flight arrived. Memory: one slot and one bit per
/// fragment per message in flight, allocated by [`Reassembly::new`].
#[derive(Debug, Clone)]
pub struct Reassembly {
    plan: FragmentPlan,
    slots: Vec<Slot>,
    /// `words` u64s of fragment bits per slot.
    bits: Vec<u64>,
    words: usize,
    /// Incomplete messages given up because a newer message needed their slot.
    evicted: u64,
}

impl Reassembly {
    /// Room for `in_flight` messages of `plan` at once.
    pub fn new(plan: FragmentPlan, in_flight: u32) -> Reassembly {
        let slots = in_flight.max(1) as usize;
        let words = (plan.count() as usize).div_ceil(64);
        Reassembly {
            plan,
            slots: vec![Slot::default(); slots],
            bits: vec![0; slots * words],
            words,
            evicted: 0,
        }
    }

    /// The plan messages are split by.
    pub fn plan(&self) -> FragmentPlan {
        self.plan
    }

    /// Incomplete messages given up so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Forgets every message (a new tour).
    pub fn clear(&mut self) {
        self.slots.fill(Slot::default());
        self.bits.fill(0);
    }

    /// Takes fragment `index` (`len` bytes on the wire) of message `seq`, arrived at `now`.
    pub fn accept(&mut self, seq: u32, index: u32, len: usize, now: u64) -> Assembled {
        if !self.plan.fits(index, len) {
            return Assembled::Malformed;
        }
        let at = seq as usize % self.slots.len();
        let slot = &mut self.slots[at];
        let words = &mut self.bits[at * self.words..(at + 1) * self.words];
        if !slot.in_use || slot.seq != seq {
            if slot.in_use && slot.received < self.plan.count() {
                self.evicted += 1;
            }
            *slot = Slot {
                in_use: true,
                seq,
                received: 0,
                first_ns: now,
            };
            words.fill(0);
        }
        let (word, bit) = (index as usize / 64, index % 64);
        if words[word] & (1 << bit) != 0 {
            return Assembled::Duplicate;
        }
        words[word] |= 1 << bit;
        slot.received += 1;
        if slot.received == self.plan.count() {
            // Whole: the slot stays marked complete so late duplicates are recognised.
            Assembled::Complete {
                first_ns: slot.first_ns,
            }
        } else {
            Assembled::Incomplete
        }
    }

    /// Messages whose first fragment arrived but which are not whole.
    pub fn incomplete(&self) -> u64 {
        self.slots
            .iter()
            .filter(|s| s.in_use && s.received < self.plan.count())
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_message_that_fits_is_one_datagram_of_its_length() {
        let plan = FragmentPlan::new(1000, 1472).unwrap();
        assert_eq!(plan.count(), 1);
        assert_eq!(plan.datagram_len(0), 1000);
        assert!(plan.fits(0, 1000) && !plan.fits(0, 999) && !plan.fits(1, 1000));
        let exact = FragmentPlan::new(1472, 1472).unwrap();
        assert_eq!(exact.count(), 1);
    }

    #[test]
    fn boundaries_around_one_datagram() {
        // 1472 B datagrams carry 1408 B of payload each.
        let split = |msg_len| FragmentPlan::new(msg_len, 1472).unwrap();
        assert_eq!(split(1473).count(), 2);
        assert_eq!(
            (split(1473).datagram_len(0), split(1473).datagram_len(1)),
            (1472, 64 + 1)
        );
        assert_eq!(split(64 + 2 * 1408).count(), 2);
        assert_eq!(split(64 + 2 * 1408 + 1).count(), 3);
        assert_eq!(split(1 << 20).count(), ((1u32 << 20) - 64).div_ceil(1408));
        assert_eq!(
            FragmentPlan::new(100, 64),
            Err(FragmentError::DatagramTooSmall { max_datagram: 64 })
        );
        assert_eq!(
            FragmentPlan::new(63, 1472),
            Err(FragmentError::MessageTooShort { msg_len: 63 })
        );
    }

    #[test]
    fn reassembly_handles_order_duplicates_and_eviction() {
        let plan = FragmentPlan::new(64 + 3 * 100, 164).unwrap();
        assert_eq!(plan.count(), 3);
        let mut r = Reassembly::new(plan, 2);
        assert_eq!(r.accept(0, 2, 164, 10), Assembled::Incomplete);
        assert_eq!(r.accept(0, 2, 164, 11), Assembled::Duplicate);
        assert_eq!(r.accept(0, 0, 164, 12), Assembled::Incomplete);
        assert_eq!(
            r.accept(0, 0, 100, 12),
            Assembled::Malformed,
            "wrong length"
        );
        assert_eq!(
            r.accept(0, 3, 164, 12),
            Assembled::Malformed,
            "index past the count"
        );
        assert_eq!(
            r.accept(0, 1, 164, 13),
            Assembled::Complete { first_ns: 10 }
        );
        assert_eq!(
            r.accept(0, 1, 164, 14),
            Assembled::Duplicate,
            "after completion"
        );
        // Message 1 in the other slot stays incomplete; message 3 takes its slot.
        assert_eq!(r.accept(1, 0, 164, 20), Assembled::Incomplete);
        assert_eq!(r.incomplete(), 1);
        assert_eq!(r.accept(3, 1, 164, 30), Assembled::Incomplete);
        assert_eq!(r.evicted(), 1);
        r.clear();
        assert_eq!(r.incomplete(), 0);
    }

    proptest! {
        /// Every message length from 64 B to several datagrams, around the boundaries:
        /// the fragments cover the payload exactly once, in order, none above the limit.
        #[test]
        fn fragments_cover_the_payload_exactly(
            max_datagram in 65u32..3000,
            extra in 0u32..4,
            offset in -2i64..=2,
        ) {
            let chunk = i64::from(max_datagram) - 64;
            let msg_len = (64 + i64::from(extra) * chunk + offset).max(64) as u32;
            let plan = FragmentPlan::new(msg_len, max_datagram).unwrap();
            let mut next = 0;
            for i in 0..plan.count() {
                let r = plan.payload_range(i);
                prop_assert_eq!(r.start, next);
                prop_assert!(plan.datagram_len(i) <= max_datagram as usize);
                prop_assert!(plan.count() == 1 || !r.is_empty());
                next = r.end;
            }
            prop_assert_eq!(next, msg_len as usize - 64);
            let fewest = (msg_len as usize - 64).div_ceil(max_datagram as usize - 64).max(1);
            prop_assert!(plan.count() == 1 && msg_len <= max_datagram || plan.count() as usize == fewest);
        }

        /// Fragments in any order, some twice, some missing: complete exactly when every
        /// one arrived, once, at the last new one; duplicates counted exactly.
        #[test]
        fn reassembly_is_exact_in_any_order(
            count in 1u32..200,
            order in proptest::collection::vec(any::<prop::sample::Index>(), 0..400),
            missing in proptest::collection::btree_set(0u32..200, 0..3),
        ) {
            let max_datagram = 164u32;
            let msg_len = 64 + (count - 1) * 100 + 1;
            let plan = FragmentPlan::new(msg_len, max_datagram).unwrap();
            prop_assert_eq!(plan.count(), count);
            let mut r = Reassembly::new(plan, 4);
            let mut sequence: Vec<u32> = order.iter().map(|i| i.index(count as usize) as u32).collect();
            sequence.extend(0..count);
            let mut seen = std::collections::BTreeSet::new();
            let (mut completes, mut duplicates, mut delivered) = (0u32, 0usize, 0usize);
            for index in sequence.into_iter().filter(|i| !missing.contains(i)) {
                delivered += 1;
                seen.insert(index);
                match r.accept(7, index, plan.datagram_len(index), 0) {
                    Assembled::Complete { .. } => {
                        completes += 1;
                        prop_assert_eq!(seen.len(), count as usize, "complete only when all arrived");
                    }
                    Assembled::Duplicate => duplicates += 1,
                    Assembled::Incomplete => prop_assert!(seen.len() < count as usize),
                    Assembled::Malformed => prop_assert!(false, "every fragment fits the plan"),
                }
            }
            prop_assert_eq!(duplicates, delivered - seen.len());
            let whole = (0..count).all(|i| !missing.contains(&i));
            prop_assert_eq!(completes, u32::from(whole));
            prop_assert_eq!(r.incomplete(), u64::from(!whole && !seen.is_empty()));
        }
    }
}
