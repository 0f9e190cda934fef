//! Every counter a member and a hop report, each defined once: its name, help text, unit
//! and how a text report words it. The proto message, the JSON keys, the text report's
//! counter lines (and metrics) are all produced from these definitions, so adding a
//! counter is one line in one [`counter_set!`] below, plus its test.
#![forbid(unsafe_code)]

/// One counter's definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterDef {
    /// Its name: the struct field, the JSON key and the protocol's name for it.
    pub name: &'static str,
    /// What it counts (the field's doc comment).
    pub help: &'static str,
    /// What one count of it is.
    pub unit: Unit,
    /// How a text report words a non-zero count of it, after the count and its unit
    /// ("3 messages" + "received again"); `None` when the
    /// text report shows it elsewhere or not at all.
    pub note: Option<&'static str>,
    /// Whether members report it (protocol, JSON, text); otherwise it is the data plane's
    /// own bookkeeping.
    pub reported: bool,
    /// Whether it counts datagrams the member rejected (dropped without forwarding or
    /// answering them): metrics show these as one counter by reason.
    pub rejected: bool,
}

/// What one count of a counter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Messages of a tour.
    Messages,
    /// UDP datagrams.
    Datagrams,
    /// Fragments of messages larger than one datagram.
    Fragments,
    /// Send calls or sends of one datagram.
    Sends,
    /// Receive calls.
    Receives,
    /// Occurrences of a condition.
    Events,
}

impl Unit {
    /// Its name, singular.
    pub fn singular(self) -> &'static str {
        let name = self.name();
        &name[..name.len() - 1]
    }

    /// Its name, plural.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Messages => "messages",
            Unit::Datagrams => "datagrams",
            Unit::Fragments => "fragments",
            Unit::Sends => "sends",
            Unit::Receives => "receives",
            Unit::Events => "events",
        }
    }
}

/// A set of counters with their definitions.
pub trait CounterSet {
    /// Every counter of the set with its value, in definition order.
    fn counters(&self) -> impl Iterator<Item = (&'static CounterDef, u64)>;
    /// The counter named `name`, to set it; `None` when the set has no such counter.
    fn counter_mut(&mut self, name: &str) -> Option<&mut u64>;
    /// Adds every counter of `other` to this set's counter of the same name.
    fn add(&mut self, other: &Self)
    where
        Self: Sized,
    {
        for (def, value) in other.counters() {
            if let Some(counter) = self.counter_mut(def.name) {
                *counter = counter.saturating_add(value);
            }
        }
    }

    /// The value of the counter named `name`.
    fn counter(&self, name: &str) -> Option<u64> {
        self.counters()
            .find(|(def, _)| def.name == name)
            .map(|(_, value)| value)
    }
}

/// Defines a struct of `u64` counters (one per field, keeping the field names) and its
/// [`CounterSet`] with one [`CounterDef`] per field: the field's doc comment is its help,
/// `field: Unit` its unit, `=> "words"` how a text report words it after the count and
/// unit ("3 datagrams" + "from another tour"), `(internal)` marks the
/// data plane's own bookkeeping, which members do not report, and `(rejected)` a count of
/// datagrams the member dropped without forwarding or answering them.
#[macro_export]
macro_rules! counter_set {
    (@note) => { None };
    (@note $note:literal) => { Some($note) };
    (@reported) => { true };
    (@reported internal) => { false };
    (@reported rejected) => { true };
    (@rejected) => { false };
    (@rejected internal) => { false };
    (@rejected rejected) => { true };
    (
        $(#[$meta:meta])*
        $vis:vis struct $ty:ident {
            $(
                $(#[doc = $help:literal])+
                $field:ident: $unit:ident $(=> $note:literal)? $(($tag:ident))?
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $ty {
            $(
                $(#[doc = $help])+
                pub $field: u64,
            )+
        }

        impl $ty {
            /// Every counter's definition, in field order.
            pub const DEFS: &'static [$crate::counters::CounterDef] = &[
                $(
                    $crate::counters::CounterDef {
                        name: stringify!($field),
                        help: concat!($($help),+).trim_ascii_start(),
                        unit: $crate::counters::Unit::$unit,
                        note: $crate::counter_set!(@note $($note)?),
                        reported: $crate::counter_set!(@reported $($tag)?),
                        rejected: $crate::counter_set!(@rejected $($tag)?),
                    },
                )+
            ];
        }

        impl $crate::counters::CounterSet for $ty {
            fn counters(
                &self,
            ) -> impl Iterator<Item = (&'static $crate::counters::CounterDef, u64)> {
                Self::DEFS.iter().zip([$(self.$field),+])
            }

            fn counter_mut(&mut self, name: &str) -> Option<&mut u64> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)+
                    _ => None,
                }
            }
        }
    };
}

counter_set! {
    /// Per-member counters of one tour, kept by the tour state machine.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Counters {
        /// Messages this member sent as the origin.
        sent: Messages,
        /// Distinct messages received.
        received: Messages,
        /// Messages forwarded to the next member (immediately or at the flush).
        forwarded: Messages,
        /// Messages held, waiting for the rest of the tour (hold mode).
        held: Messages,
        /// Messages forwarded after staying here longer than the member timeout (forwarding
        /// immediately): the member stood still (stopped, descheduled, swapped) while the
        /// origin may have given up on them. The hop after it does not count them lost.
        stalled: Messages => "stayed here longer than the member timeout before they were forwarded (the member stalled)",
        /// Messages received again after their first arrival.
        duplicates: Messages => "received again",
        /// Messages that arrived after one with a higher sequence number.
        reordered: Messages => "reordered",
        /// Origin: messages that came back after more than a window of newer messages had
        /// been sent, when it no longer kept their send time: received, not timed.
        overtaken: Messages => "came back too late to be timed (behind more than a window)",
        /// Datagrams rejected by the decoder or not matching the configured tour shape.
        malformed: Datagrams => "malformed" (rejected),
        /// Data datagrams of another tour, or of none.
        stale: Datagrams => "from another tour" (rejected),
        /// Data datagrams with a hop count this member does not expect.
        wrong_hop: Datagrams => "with a wrong hop count" (rejected),
        /// Datagrams of a kind the data path does not handle.
        unexpected_kind: Datagrams (rejected),
        /// Fragments received again (of a message still being reassembled or already whole).
        duplicate_fragments: Fragments => "received again" (rejected),
        /// Fragments forwarded before their message was whole (cut-through).
        forwarded_fragments: Fragments,
    }
}

counter_set! {
    /// Counters of the I/O layer for the current tour (reset when a tour is prepared).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct IoCounters {
        /// Sends that failed.
        send_errors: Sends => "failed",
        /// Of those, sends refused because the datagram does not fit the route's MTU
        /// (EMSGSIZE: Don't-Fragment is set).
        send_too_big: Sends => "refused as larger than the route MTU",
        /// Receives that failed, other than by running out of buffers.
        recv_errors: Receives => "failed",
        /// Times the receive ran out of buffers (io_uring ENOBUFS) and was re-armed later.
        recv_no_buffers: Events => "of the receive running out of buffers",
        /// Tour datagrams whose tag was missing or wrong (forged, corrupted, or of another
        /// configuration): dropped, never forwarded.
        bad_tag: Datagrams => "with a missing or wrong tag (dropped)" (rejected),
        /// Data datagrams from an address other than the previous member's.
        wrong_source: Datagrams => "from an unexpected source" (rejected),
        /// Hold mode: datagrams the machine held that found no room in the hold store
        /// (sized at configure for every datagram of the tour): dropped.
        hold_overflows: Datagrams => "dropped: no room left to hold them" (rejected),
        /// Data datagrams discarded by an injected fault.
        injected_drops: Datagrams => "dropped by fault injection" (rejected),
        /// Echo requests and clock probes answered.
        echoes: Datagrams (internal),
        /// Datagrams whose arrival time is the kernel's receive timestamp.
        kernel_stamps: Datagrams (internal),
        /// Datagrams whose arrival time was read by the data plane (no kernel timestamp).
        app_stamps: Datagrams (internal),
        /// Sends that carried several datagrams (UDP GSO).
        gso_sends: Sends,
        /// GSO sends the kernel refused (EIO/EINVAL); their datagrams were sent one by one and
        /// GSO stays off until the next configuration.
        gso_refused: Sends => "of several datagrams (GSO) refused by the kernel (sent again one datagram at a time)",
        /// Receives that delivered several datagrams coalesced by the kernel (UDP GRO).
        gro_receives: Receives,
        /// Echo requests and clock probes not answered because their source address had
        /// used up its answers (a token bucket per source: no reflector at any rate).
        rate_limited: Datagrams => "not answered (echo or probe requests over the rate limit per source)" (rejected),
        /// Datagrams not for this member as it stands: echoes, clock probes and challenges
        /// of the wrong size, from the wrong host or before a configuration, and data when
        /// no ring is configured. Dropped, never answered.
        ignored: Datagrams => "not for this member (wrong size, source or state; dropped)" (rejected),
    }
}

counter_set! {
    /// What the kernel counted for a member's peer socket during a tour.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct SocketCounters {
        /// Datagrams the member's peer socket dropped during the tour (SO_MEMINFO).
        socket_drops: Datagrams => "dropped by the kernel at the peer socket",
    }
}

counter_set! {
    /// One hop's counters (member `from` → member `to`), as the coordinator assembles them.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct HopCounters {
        /// Messages that left `from` for `to`: the origin's sends on the first hop, `from`'s
        /// forwards on the others.
        sent: Messages,
        /// Distinct messages `to` received.
        received: Messages,
        /// Messages that left `from` and never arrived at `to`.
        lost: Messages,
        /// Messages `to` received again after their first arrival.
        duplicates: Messages,
        /// Messages that arrived at `to` after one with a higher sequence number.
        reordered: Messages,
        /// Latencies that came out negative (clocks disagree) and were recorded as 0.
        negative: Messages,
    }
}

/// Every counter a member reports for one tour: the state machine's, the I/O layer's and
/// the kernel's for its socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberCounters {
    /// The tour state machine's.
    pub tour: Counters,
    /// The data plane's I/O layer's.
    pub io: IoCounters,
    /// The kernel's, for the peer socket.
    pub socket: SocketCounters,
}

impl CounterSet for MemberCounters {
    /// The reported counters only, the state machine's first.
    fn counters(&self) -> impl Iterator<Item = (&'static CounterDef, u64)> {
        self.tour
            .counters()
            .chain(self.io.counters())
            .chain(self.socket.counters())
            .filter(|(def, _)| def.reported)
    }

    fn counter_mut(&mut self, name: &str) -> Option<&mut u64> {
        let reported = Counters::DEFS
            .iter()
            .chain(IoCounters::DEFS)
            .chain(SocketCounters::DEFS)
            .any(|def| def.name == name && def.reported);
        if !reported {
            return None;
        }
        if let Some(c) = self.tour.counter_mut(name) {
            return Some(c);
        }
        if let Some(c) = self.io.counter_mut(name) {
            return Some(c);
        }
        self.socket.counter_mut(name)
    }
}

/// How a member's arrival times were taken during a tour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamping {
    /// Nothing arrived.
    None,
    /// Every arrival carried the kernel's software receive timestamp.
    KernelSoftware,
    /// No arrival had a kernel timestamp: the data plane read the clock itself.
    Application,
    /// Some arrivals had the kernel's timestamp, some did not.
    Mixed,
}

impl Timestamping {
    /// Every view's name of it (results, JSON, text reports).
    pub fn name(self) -> &'static str {
        match self {
            Timestamping::None => "none",
            Timestamping::KernelSoftware => "kernel-software",
            Timestamping::Application => "application",
            Timestamping::Mixed => "mixed",
        }
    }

    /// From the number of arrivals stamped by the kernel and by the application.
    pub fn from_stamps(kernel: u64, application: u64) -> Timestamping {
        match (kernel, application) {
            (0, 0) => Timestamping::None,
            (_, 0) => Timestamping::KernelSoftware,
            (0, _) => Timestamping::Application,
            _ => Timestamping::Mixed,
        }
    }
}

impl IoCounters {
    /// How arrival times were taken this tour: kernel-software when every datagram had
    /// the kernel's timestamp, application when none had, mixed otherwise, none when
    /// nothing arrived.
    pub fn timestamping(&self) -> Timestamping {
        Timestamping::from_stamps(self.kernel_stamps, self.app_stamps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are the JSON keys of docs/reports.md: a member reports exactly these.
    #[test]
    fn a_member_reports_every_counter_but_the_bookkeeping() {
        let names: Vec<&str> = MemberCounters::default()
            .counters()
            .map(|(def, _)| def.name)
            .collect();
        assert_eq!(
            names,
            [
                "sent",
                "received",
                "forwarded",
                "held",
                "stalled",
                "duplicates",
                "reordered",
                "overtaken",
                "malformed",
                "stale",
                "wrong_hop",
                "unexpected_kind",
                "duplicate_fragments",
                "forwarded_fragments",
                "send_errors",
                "send_too_big",
                "recv_errors",
                "recv_no_buffers",
                "bad_tag",
                "wrong_source",
                "hold_overflows",
                "injected_drops",
                "gso_sends",
                "gso_refused",
                "gro_receives",
                "rate_limited",
                "ignored",
                "socket_drops",
            ]
        );
        let internal: Vec<&str> = IoCounters::DEFS
            .iter()
            .filter(|def| !def.reported)
            .map(|def| def.name)
            .collect();
        assert_eq!(internal, ["echoes", "kernel_stamps", "app_stamps"]);
    }

    #[test]
    fn definitions_carry_the_doc_comment_unit_and_words() {
        let def = |name: &str| {
            IoCounters::DEFS
                .iter()
                .find(|d| d.name == name)
                .copied()
                .unwrap()
        };
        assert_eq!(
            def("send_too_big"),
            CounterDef {
                name: "send_too_big",
                help: "Of those, sends refused because the datagram does not fit the route's MTU (EMSGSIZE: Don't-Fragment is set).",
                unit: Unit::Sends,
                note: Some("refused as larger than the route MTU"),
                reported: true,
                rejected: false,
            }
        );
        assert_eq!(def("gso_sends").note, None);
        // Rejections are reported and flagged; internal counters are neither.
        assert!(def("bad_tag").rejected && def("bad_tag").reported);
        assert!(!def("echoes").rejected && !def("echoes").reported);
        let rejected: Vec<&str> = Counters::DEFS
            .iter()
            .chain(IoCounters::DEFS)
            .filter(|d| d.rejected)
            .map(|d| d.name)
            .collect();
        assert_eq!(
            rejected,
            [
                "malformed",
                "stale",
                "wrong_hop",
                "unexpected_kind",
                "duplicate_fragments",
                "bad_tag",
                "wrong_source",
                "hold_overflows",
                "injected_drops",
                "rate_limited",
                "ignored"
            ]
        );
        assert_eq!(def("echoes").unit.name(), "datagrams");
        assert_eq!(def("echoes").unit.singular(), "datagram");
        assert_eq!(def("recv_no_buffers").unit.singular(), "event");
        assert_eq!(
            Counters::DEFS[0].help,
            "Messages this member sent as the origin."
        );
        let hop: Vec<&str> = HopCounters::DEFS.iter().map(|d| d.name).collect();
        assert_eq!(
            hop,
            [
                "sent",
                "received",
                "lost",
                "duplicates",
                "reordered",
                "negative"
            ]
        );
    }

    #[test]
    fn counters_are_read_and_set_by_name() {
        let mut c = MemberCounters::default();
        c.tour.duplicates = 3;
        c.io.wrong_source = 2;
        *c.counter_mut("socket_drops").unwrap() = 7;
        *c.counter_mut("held").unwrap() = 5;
        assert_eq!(c.socket.socket_drops, 7);
        assert_eq!(c.tour.held, 5);
        assert_eq!(c.counter("duplicates"), Some(3));
        assert_eq!(c.counter("wrong_source"), Some(2));
        // Bookkeeping and unknown names are no member counters.
        assert!(c.counter_mut("echoes").is_none());
        assert!(c.counter_mut("no_such_counter").is_none());
        assert_eq!(c.counter("kernel_stamps"), None);
        let nonzero: Vec<(&str, u64)> = c
            .counters()
            .filter(|(_, v)| *v > 0)
            .map(|(d, v)| (d.name, v))
            .collect();
        assert_eq!(
            nonzero,
            [
                ("held", 5),
                ("duplicates", 3),
                ("wrong_source", 2),
                ("socket_drops", 7)
            ]
        );
    }

    #[test]
    fn timestamping_follows_the_stamps_counted() {
        assert_eq!(Timestamping::from_stamps(0, 0), Timestamping::None);
        assert_eq!(
            Timestamping::from_stamps(5, 0),
            Timestamping::KernelSoftware
        );
        assert_eq!(Timestamping::from_stamps(0, 5), Timestamping::Application);
        assert_eq!(Timestamping::from_stamps(1, 4), Timestamping::Mixed);
        assert_eq!(Timestamping::KernelSoftware.name(), "kernel-software");
        assert_eq!(Timestamping::Application.name(), "application");
        assert_eq!(Timestamping::Mixed.name(), "mixed");
        assert_eq!(Timestamping::None.name(), "none");
    }
}
