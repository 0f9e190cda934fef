//! The per-member tour state machine, sans-IO.
//!
//! A [`TourMachine`] is told what arrived and when (`handle_datagram(now, bytes)`,
//! `handle_timeout(now)`), asks for new messages to send (`poll_send`), and answers with a
//! [`Verdict`] saying what the driver must do with the buffer it just handed in: forward it,
//! hold it, flush everything held, or drop it. It never reads a clock or touches a socket:
//! the io_uring and syscall backends, and the simulated links of the tests, drive it.
#![forbid(unsafe_code)]

use hdrhistogram::Histogram;

pub use crate::counters::Counters;
use crate::fragment::{Assembled, FragmentPlan, Reassembly};
use crate::wire::{FLAG_WARMUP, HEADER_LEN, Header, Kind, MAX_DATAGRAM};

/// Nanoseconds on a monotonic clock chosen by the driver.
pub type Nanos = u64;

/// Most messages a tour may have: every member keeps one bit per message (12.5 MB here).
pub const MAX_COUNT: u32 = 100_000_000;
/// Longest message a tour carries (64 MiB); beyond one datagram it travels as fragments.
pub const MAX_MESSAGE: u32 = 64 << 20;

/// Longest member timeout a tour accepts: one day.
pub const MAX_MEMBER_TIMEOUT_NS: u64 = 86_400 * 1_000_000_000;

/// Where a member sits in the ring. Member 0 is the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingPosition {
    /// This member's index, 0 for the origin.
    pub index: u32,
    /// Number of members in the ring.
    pub ring_len: u32,
}

impl RingPosition {
    /// Whether this member starts and ends every tour.
    pub fn is_origin(&self) -> bool {
        self.index == 0
    }

    /// The hop count a data datagram carries when it arrives here: the origin sends with
    /// hop 0 and every forward adds one, so member i receives hop i−1 and the origin, at the
    /// end of the tour, hop ring_len−1.
    pub fn expected_hop(&self) -> u32 {
        if self.index == 0 {
            self.ring_len - 1
        } else {
            self.index - 1
        }
    }
}

/// The tour parameters a ring is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TourConfig {
    /// Messages per tour.
    pub count: u32,
    /// Bytes per message, header included.
    pub msg_len: u32,
    /// Messages the origin keeps in flight; `count` sends them all at once.
    pub window: u32,
    /// Forward every message as it arrives (true) or hold all `count` and then send them.
    pub forward_immediately: bool,
    /// How long the origin waits for the next message before it ends the tour as timed out.
    pub member_timeout_ns: u64,
    /// The first `warmup` messages travel like the others but are not recorded.
    pub warmup: u32,
    /// Open loop: the origin sends message k at start + k × `interval_ns` (as far as the
    /// window allows) and measures tour latency from that intended time too. 0: closed loop,
    /// each message as soon as the window allows.
    pub interval_ns: u64,
    /// Largest datagram a message travels in (header included); a longer message is split
    /// into fragments of at most this many bytes. 0: one datagram per message.
    pub max_datagram: u32,
    /// Most memory a member may set aside for a tour's buffers (its receive and send pools
    /// and its socket receive buffer), bytes. 0: [`DEFAULT_MAX_BUFFER_MEMORY`].
    pub max_buffer_memory: u64,
}

/// The buffer memory a member may use for a tour when none is configured (1 GiB).
pub const DEFAULT_MAX_BUFFER_MEMORY: u64 = 1 << 30;

/// How many messages one tour sends, how many it keeps in flight and how many it does not
/// record: the configuration's by default, or fewer for one tour (a monitor tour of 100
/// messages on a ring configured for a million), within what the configuration allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TourShape {
    /// Messages of the tour.
    pub count: u32,
    /// Messages in flight.
    pub window: u32,
    /// Leading messages not recorded.
    pub warmup: u32,
}

/// Why a [`TourShape`] does not fit the configuration. Each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// More messages than the configuration allocated for, or none.
    #[error(
        "a tour of {count} messages does not fit this configuration: 1 to {configured} (its msgcount)"
    )]
    Count {
        /// The tour's count.
        count: u32,
        /// The configured count.
        configured: u32,
    },
    /// A window of none, beyond the tour's count or beyond the configured window.
    #[error(
        "a window of {window} does not fit: 1 to the tour's {count} messages and at most the configured window {configured}"
    )]
    Window {
        /// The tour's window.
        window: u32,
        /// The tour's count.
        count: u32,
        /// The configured window.
        configured: u32,
    },
    /// Hold mode with fewer messages in flight than the tour has.
    #[error(
        "window {window} is smaller than the tour's {count} messages, but the ring holds every message before it forwards any (forward-immediately false)"
    )]
    WindowWithHold {
        /// The tour's window.
        window: u32,
        /// The tour's count.
        count: u32,
    },
    /// No message left to record.
    #[error("warmup {warmup} must be smaller than the tour's {count} messages")]
    Warmup {
        /// The tour's warm-up.
        warmup: u32,
        /// The tour's count.
        count: u32,
    },
}

impl TourConfig {
    /// The shape of a tour as configured.
    pub fn shape(&self) -> TourShape {
        TourShape {
            count: self.count,
            window: self.window,
            warmup: self.warmup,
        }
    }

    /// Checks that a tour of `shape` fits what this configuration allocated.
    pub fn check_shape(&self, shape: TourShape) -> Result<(), ShapeError> {
        let TourShape {
            count,
            window,
            warmup,
        } = shape;
        if count == 0 || count > self.count {
            return Err(ShapeError::Count {
                count,
                configured: self.count,
            });
        }
        if window == 0 || window > count || window > self.window {
            return Err(ShapeError::Window {
                window,
                count,
                configured: self.window,
            });
        }
        if !self.forward_immediately && window < count {
            return Err(ShapeError::WindowWithHold { window, count });
        }
        if warmup >= count {
            return Err(ShapeError::Warmup { warmup, count });
        }
        Ok(())
    }
}

impl TourConfig {
    /// How messages split into datagrams.
    pub fn plan(&self) -> Result<FragmentPlan, ConfigError> {
        let max = if self.max_datagram == 0 {
            MAX_DATAGRAM as u32
        } else {
            self.max_datagram
        };
        FragmentPlan::new(self.msg_len, max).map_err(ConfigError::Fragment)
    }
}

/// Why a [`TourConfig`] cannot be used. Each variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `msg_len` outside what one datagram carries.
    #[error(
        "msgbytelen {msg_len} is out of range: a message needs at least the {HEADER_LEN}-byte header and has at most {MAX_MESSAGE} bytes (64 MiB; messages longer than a datagram travel as fragments)"
    )]
    MessageLength {
        /// The rejected length.
        msg_len: u32,
    },
    /// `count` is zero or above [`MAX_COUNT`].
    #[error("msgcount {count} is out of range: a tour has 1 to {MAX_COUNT} messages")]
    Count {
        /// The rejected count.
        count: u32,
    },
    /// `window` is zero or larger than `count`.
    #[error("window {window} must be between 1 and msgcount ({count})")]
    Window {
        /// The rejected window.
        window: u32,
        /// The configured count.
        count: u32,
    },
    /// Holding members would never release anything with fewer than `count` messages in flight.
    #[error(
        "window {window} is smaller than msgcount {count}, but with forward-immediately false every member holds all msgcount messages before it forwards any: the tour could never finish; use --forward-immediately true or a window equal to msgcount"
    )]
    WindowWithHold {
        /// The rejected window.
        window: u32,
        /// The configured count.
        count: u32,
    },
    /// `warmup` leaves no message to record.
    #[error(
        "warmup {warmup} must be smaller than msgcount ({count}): some messages must be recorded"
    )]
    Warmup {
        /// The rejected warm-up.
        warmup: u32,
        /// The configured count.
        count: u32,
    },
    /// A DSCP beyond its 6 bits.
    #[error("dscp {dscp} is out of range: 0 to 63 (46 is EF, 34 AF41, 8 CS1, 0 best effort)")]
    Dscp {
        /// The rejected DSCP.
        dscp: u32,
    },
    /// The open-loop rate is negative or not a number.
    #[error(
        "rate {rate} is out of range: give a positive number of messages per second (0.5 is one every 2 s), or none for a closed loop"
    )]
    Rate {
        /// The rejected rate, as given.
        rate: String,
    },
    /// The send interval is not shorter than the member timeout.
    #[error(
        "rate: one message every {interval_ns} ns is not shorter than member-timeout ({member_timeout_ns} ns): the origin would end the tour between two sends; raise --rate or --member-timeout"
    )]
    RateSlowerThanTimeout {
        /// The send interval.
        interval_ns: u64,
        /// The member timeout.
        member_timeout_ns: u64,
    },
    /// The message cannot be split as asked.
    #[error(transparent)]
    Fragment(crate::fragment::FragmentError),
    /// `max_datagram` is larger than a UDP datagram.
    #[error(
        "--max-datagram {max_datagram} B is larger than the {MAX_DATAGRAM} B a UDP datagram carries"
    )]
    MaxDatagram {
        /// The rejected size.
        max_datagram: u32,
    },
    /// `member_timeout_ns` is zero or longer than [`MAX_MEMBER_TIMEOUT_NS`].
    #[error("member-timeout must be greater than 0 ms and at most one day (86400000 ms)")]
    MemberTimeout,
    /// The ring has no member.
    #[error("a ring needs at least one member")]
    EmptyRing,
}

impl TourConfig {
    /// Checks every field; the error names the one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if (self.msg_len as usize) < HEADER_LEN || self.msg_len > MAX_MESSAGE {
            return Err(ConfigError::MessageLength {
                msg_len: self.msg_len,
            });
        }
        if self.count == 0 || self.count > MAX_COUNT {
            return Err(ConfigError::Count { count: self.count });
        }
        if self.window == 0 || self.window > self.count {
            return Err(ConfigError::Window {
                window: self.window,
                count: self.count,
            });
        }
        if !self.forward_immediately && self.window < self.count {
            return Err(ConfigError::WindowWithHold {
                window: self.window,
                count: self.count,
            });
        }
        if self.warmup >= self.count {
            return Err(ConfigError::Warmup {
                warmup: self.warmup,
                count: self.count,
            });
        }
        if self.member_timeout_ns == 0 || self.member_timeout_ns > MAX_MEMBER_TIMEOUT_NS {
            return Err(ConfigError::MemberTimeout);
        }
        if self.max_datagram as usize > MAX_DATAGRAM {
            return Err(ConfigError::MaxDatagram {
                max_datagram: self.max_datagram,
            });
        }
        self.plan()?;
        if self.interval_ns >= self.member_timeout_ns {
            return Err(ConfigError::RateSlowerThanTimeout {
                interval_ns: self.interval_ns,
                member_timeout_ns: self.member_timeout_ns,
            });
        }
        Ok(())
    }
}

/// What the driver must do with the datagram it just passed to
/// [`TourMachine::handle_datagram`]. The buffer was rewritten in place where needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the buffer to the next member now (its hop is stamped; stamp its send time
    /// with [`TourMachine::stamp_send`] as it leaves, which records its residence).
    Forward,
    /// A fragment that does not complete its message, forwarded before the message is
    /// whole (cut-through): send it on like [`Verdict::Forward`]; its residence is not
    /// recorded (the message's is, from the fragment that completes it).
    ForwardFragment,
    /// Hold mode: keep the datagram (a whole message, or the fragment that completes one)
    /// as it is until a later [`Verdict::FlushHeld`]; its residence is recorded as it
    /// leaves.
    Hold,
    /// Hold mode: keep this fragment, which does not complete its message, until a later
    /// [`Verdict::FlushHeld`]; its residence is not recorded (the message's is, from the
    /// fragment that completes it).
    HoldFragment,
    /// Keep this datagram too, then send every held datagram in the order they arrived
    /// and this one last, stamping each one's send time as it goes.
    FlushHeld,
    /// The origin got a message back: its tour is recorded, the buffer is free.
    Arrived,
    /// An echo request or clock probe, turned into its answer in place by the endpoint:
    /// send it back to its source. (The machine itself never answers.)
    EchoReply,
    /// Not forwarded; counted under this reason. The buffer is free.
    Dropped(DropReason),
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// It failed [`Header::decode`], or does not match the configured message length/count.
    Malformed,
    /// A data datagram arrived while no tour was armed here.
    NoTour,
    /// A data datagram of another tour.
    StaleTour,
    /// Its hop count is not the one this member's position expects.
    WrongHop,
    /// A message this member already received in this tour.
    Duplicate,
    /// A fragment this member already received.
    DuplicateFragment,
    /// A kind this member does not handle on the data path.
    UnexpectedKind,
}

/// Where a tour stands on this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Configured, no tour armed.
    Idle,
    /// Armed for a tour: a forwarder accepts its messages, the origin waits for `start`.
    Armed,
    /// The origin is sending and receiving.
    Running,
    /// The origin got every message back.
    Complete,
    /// The origin waited `member_timeout` without progress and gave up.
    TimedOut,
}

/// Inter-packet delay variation (RFC 3393) of one delay series: for each message whose
/// predecessor by sequence number was recorded too, the absolute difference of their
/// delays. Selecting consecutive sequence numbers (not consecutive arrivals) keeps
/// reordering and loss from pairing unrelated messages.
#[derive(Debug, Clone)]
pub struct Ipdv {
    histogram: Histogram<u64>,
    /// The last message recorded: its sequence number and delay.
    last: Option<(u32, u64)>,
}

impl Ipdv {
    fn new() -> Ipdv {
        Ipdv {
            histogram: crate::histogram::new_histogram(),
            last: None,
        }
    }

    /// Message `seq` had delay `delay`.
    fn record(&mut self, seq: u32, delay: u64) {
        if let Some((prev_seq, prev)) = self.last
            && prev_seq.wrapping_add(1) == seq
        {
            self.histogram.saturating_record(delay.abs_diff(prev));
        }
        self.last = Some((seq, delay));
    }

    fn reset(&mut self) {
        self.histogram.reset();
        self.last = None;
    }

    /// The recorded variations, ns.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }
}

/// One member's tour state machine. Everything it needs is allocated at construction
/// (configure time); handling a datagram allocates nothing.
#[derive(Debug)]
pub struct TourMachine {
    position: RingPosition,
    config: TourConfig,
    /// This tour's count, window and warm-up (the configuration's unless set for the tour).
    shape: TourShape,
    phase: Phase,
    tour_id: u64,
    /// One bit per sequence number: received in this tour.
    seen: Vec<u64>,
    next_seq: u32,
    /// One past the highest sequence number received so far.
    next_expected: u32,
    counters: Counters,
    first_send_ns: Option<Nanos>,
    last_receive_ns: Option<Nanos>,
    last_activity_ns: Nanos,
    /// Origin only: tour latency of every message (now − origin send time).
    tour_latency: Histogram<u64>,
    /// Origin only, open loop: tour latency from the intended send time (corrected for
    /// coordinated omission).
    tour_latency_corrected: Histogram<u64>,
    /// Origin: when the tour started (the schedule's zero).
    start_ns: Nanos,
    /// Latency of the hop into this member: arrival − the previous member's send time.
    hop_latency: Histogram<u64>,
    /// Forwarders: arrival → forward of every message.
    residence: Histogram<u64>,
    /// IPDV of the hop into this member (RFC 3393): |D(i) − D(i−1)| of every pair of
    /// messages with consecutive sequence numbers that both arrived (recorded ones).
    hop_ipdv: Ipdv,
    /// Origin: IPDV of the tour latency, the same way.
    tour_ipdv: Ipdv,
    /// Every message's timestamps on this member's clock when the tour records them
    /// ([`TourMachine::record_stamps`]): `[in, out]` by sequence number, 0 where none. A
    /// forwarder's `in` is when the message was whole here and `out` when it left; the
    /// origin's `out` is when it sent the message and `in` when it came back.
    stamps: Option<Box<[[Nanos; 2]]>>,
    /// Hop latencies that came out negative (clocks that disagree) and were recorded as 0.
    negative_hops: u64,
    /// This member's clock minus the previous member's, ns, as estimated before the tour;
    /// subtracted from every hop latency.
    prev_clock_offset_ns: i64,
    /// How messages split into datagrams, and which fragments of those in flight arrived.
    plan: FragmentPlan,
    reassembly: Reassembly,
    /// Origin: the next fragment of the message being sent (0: start a new message).
    next_frag: u32,
    /// Origin: send time of the message whose fragments are going out.
    msg_send_ns: Nanos,
    /// Origin: when it sent each of the last `window` messages (sequence `s` in slot
    /// `s % window`). Tour latency is measured from here, never from a field of the
    /// datagram that comes back. Empty on forwarders.
    send_times: Vec<Nanos>,
}

impl TourMachine {
    /// Builds the machine for a configured ring position; validates the configuration and
    /// allocates the sequence bitmap and the histogram.
    pub fn new(position: RingPosition, config: TourConfig) -> Result<TourMachine, ConfigError> {
        config.validate()?;
        if position.ring_len == 0 || position.index >= position.ring_len {
            return Err(ConfigError::EmptyRing);
        }
        let plan = config.plan()?;
        // Fragments of the messages in flight: the window at the origin and anywhere else.
        let reassembly = Reassembly::new(plan, config.window);
        let tour_latency = crate::histogram::new_histogram();
        let tour_latency_corrected = crate::histogram::new_histogram();
        let hop_latency = crate::histogram::new_histogram();
        let residence = crate::histogram::new_histogram();
        Ok(TourMachine {
            position,
            config,
            shape: config.shape(),
            phase: Phase::Idle,
            tour_id: 0,
            seen: vec![0; (config.count as usize).div_ceil(64)],
            next_seq: 0,
            next_expected: 0,
            counters: Counters::default(),
            first_send_ns: None,
            last_receive_ns: None,
            last_activity_ns: 0,
            tour_latency,
            tour_latency_corrected,
            start_ns: 0,
            hop_latency,
            hop_ipdv: Ipdv::new(),
            tour_ipdv: Ipdv::new(),
            stamps: None,
            residence,
            negative_hops: 0,
            prev_clock_offset_ns: 0,
            plan,
            reassembly,
            next_frag: 0,
            msg_send_ns: 0,
            send_times: if position.is_origin() {
                vec![0; config.window as usize]
            } else {
                Vec::new()
            },
        })
    }

    /// Bytes the origin keeps for the send times of a tour with `config` (part of the
    /// memory a configuration is checked against).
    pub fn send_times_bytes(config: &TourConfig) -> u64 {
        u64::from(config.window) * std::mem::size_of::<Nanos>() as u64
    }

    /// Origin: when message `seq` (already sent) left, if this member still knows: it keeps
    /// the last `window` send times, so a message that comes back after more than a
    /// window of newer messages were sent (possible only when others were lost) has no
    /// send time left.
    fn sent_at(&self, seq: u32) -> Option<Nanos> {
        let slots = self.send_times.len() as u32;
        (slots > 0 && self.next_seq.saturating_sub(seq) <= slots)
            .then(|| self.send_times[(seq % slots) as usize])
    }

    /// The configuration this machine was built for.
    pub fn config(&self) -> &TourConfig {
        &self.config
    }

    /// This member's place in the ring.
    pub fn position(&self) -> RingPosition {
        self.position
    }

    /// Arms the machine for a new tour, clearing everything the last tour left.
    /// Any buffers the driver still holds from the last tour must be released first.
    pub fn prepare(&mut self, tour_id: u64) {
        self.tour_id = tour_id;
        self.shape = self.config.shape();
        self.phase = Phase::Armed;
        self.seen.fill(0);
        self.next_seq = 0;
        self.next_expected = 0;
        self.counters = Counters::default();
        self.first_send_ns = None;
        self.last_receive_ns = None;
        self.last_activity_ns = 0;
        self.tour_latency.reset();
        self.tour_latency_corrected.reset();
        self.reassembly.clear();
        self.next_frag = 0;
        self.start_ns = 0;
        self.hop_latency.reset();
        self.residence.reset();
        self.hop_ipdv.reset();
        self.tour_ipdv.reset();
        self.stamps = None;
        self.negative_hops = 0;
    }

    /// Sets how far this member's clock is ahead of the previous member's (ns): hop
    /// latencies are corrected by it. Kept across tours until set again.
    pub fn set_prev_clock_offset(&mut self, offset_ns: i64) {
        self.prev_clock_offset_ns = offset_ns;
    }

    /// Origin: begins sending. Ignored on forwarders and when not armed.
    pub fn start(&mut self, now: Nanos) {
        if self.position.is_origin() && self.phase == Phase::Armed {
            self.phase = Phase::Running;
            self.last_activity_ns = now;
            self.start_ns = now;
        }
    }

    /// Ends the tour on this member (the coordinator's end of tour). Returns how many
    /// messages were still held, whose buffers the driver may now reuse.
    pub fn end(&mut self) -> u64 {
        self.phase = match self.phase {
            // The coordinator ended a tour the origin was still running.
            Phase::Running => Phase::TimedOut,
            Phase::Armed => Phase::Idle,
            other => other,
        };
        self.counters.held
    }

    /// The current tour id (0 before the first tour).
    pub fn tour_id(&self) -> u64 {
        self.tour_id
    }

    /// Where the tour stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the origin's tour is over (complete or timed out).
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Complete | Phase::TimedOut)
    }

    /// Counters of the current (or last) tour.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Origin: tour latency of every message that came back.
    pub fn tour_latency(&self) -> &Histogram<u64> {
        &self.tour_latency
    }

    /// Origin, open loop: tour latency of every message from its intended send time
    /// (empty in closed loop).
    pub fn tour_latency_corrected(&self) -> &Histogram<u64> {
        &self.tour_latency_corrected
    }

    /// Latency of the hop into this member, per message (arrival − previous send, on the
    /// two members' clocks: exact when they share one).
    pub fn hop_latency(&self) -> &Histogram<u64> {
        &self.hop_latency
    }

    /// Gives the tour just prepared its own count, window and warm-up, within what the
    /// configuration allocated ([`TourConfig::check_shape`]).
    pub fn set_shape(&mut self, shape: TourShape) -> Result<(), ShapeError> {
        self.config.check_shape(shape)?;
        self.shape = shape;
        Ok(())
    }

    /// This tour's count, window and warm-up.
    pub fn shape(&self) -> TourShape {
        self.shape
    }

    /// Records every message's timestamps in `stamps` (one `[in, out]` per message of
    /// the tour, zeroed, allocated by the caller outside the data path) for the tour just
    /// prepared; `None` records nothing.
    pub fn record_stamps(&mut self, stamps: Option<Box<[[Nanos; 2]]>>) {
        self.stamps = stamps;
    }

    /// The timestamps recorded this tour, taken out (the next tour records afresh).
    pub fn take_stamps(&mut self) -> Option<Box<[[Nanos; 2]]>> {
        self.stamps.take()
    }

    /// Notes message `seq`'s `in` (0) or `out` (1) time, when recording.
    fn stamp(&mut self, seq: u32, which: usize, now: Nanos) {
        if let Some(slot) = self
            .stamps
            .as_deref_mut()
            .and_then(|s| s.get_mut(seq as usize))
        {
            slot[which] = now;
        }
    }

    /// IPDV of the hop into this member ([`Ipdv`]).
    pub fn hop_ipdv(&self) -> &Histogram<u64> {
        self.hop_ipdv.histogram()
    }

    /// Origin: IPDV of the tour latency ([`Ipdv`]).
    pub fn tour_ipdv(&self) -> &Histogram<u64> {
        self.tour_ipdv.histogram()
    }

    /// Forwarders: arrival → forward, per message.
    pub fn residence(&self) -> &Histogram<u64> {
        &self.residence
    }

    /// Hop latencies that came out negative and were recorded as 0.
    pub fn negative_hops(&self) -> u64 {
        self.negative_hops
    }

    /// Stamps a forwarded datagram's send time just before the driver sends it, and with
    /// `residence` records how long the message stayed here: `handle_datagram` left its
    /// arrival time in the send-time field, so residence needs no per-message state.
    /// Cut-through fragments ([`Verdict::ForwardFragment`]) record none. A message that
    /// stayed here longer than the member timeout while forwarding immediately is counted
    /// `stalled`: this member stood still (stopped, descheduled, swapped) while the origin
    /// may have given up on it.
    pub fn stamp_send(&mut self, now: Nanos, datagram: &mut [u8], residence: bool) {
        if let Some((flags, arrival_ns)) = Header::send_stamp(datagram) {
            let stayed = now.saturating_sub(arrival_ns);
            if residence
                && self.stamps.is_some()
                && let Ok(h) = Header::decode(datagram)
            {
                self.stamp(h.seq, 1, now);
            }
            if residence {
                if flags & FLAG_WARMUP == 0 {
                    self.residence.saturating_record(stayed);
                }
                if self.config.forward_immediately && stayed >= self.config.member_timeout_ns {
                    self.counters.stalled += 1;
                }
            }
            Header::set_prev_send_ns(datagram, now);
        }
    }

    /// Origin: when the first message was sent.
    pub fn first_send_ns(&self) -> Option<Nanos> {
        self.first_send_ns
    }

    /// When the last distinct message arrived.
    pub fn last_receive_ns(&self) -> Option<Nanos> {
        self.last_receive_ns
    }

    /// Whether the origin has a message it may send at `now` (window, count and, in open
    /// loop, the schedule allow).
    pub fn wants_to_send(&self, now: Nanos) -> bool {
        self.may_send() && (self.next_frag > 0 || self.next_due().is_none_or(|due| due <= now))
    }

    /// Origin: whether anything could be sent, whatever the time: the rest of a message's
    /// fragments, or a new message the window has room for. Drivers ask this before they
    /// read the clock for [`TourMachine::wants_to_send`].
    pub fn may_send(&self) -> bool {
        (self.next_frag > 0 && self.phase == Phase::Running) || self.window_open()
    }

    /// Origin: whether a message is begun and its next fragment is to follow (a send may
    /// carry it together with the fragments before it).
    pub fn mid_message(&self) -> bool {
        self.next_frag > 0 && self.phase == Phase::Running
    }

    /// Datagrams per message (1: messages are not fragmented).
    pub fn fragments(&self) -> u32 {
        self.plan.count()
    }

    /// The longest datagram of the tour (a whole message, or its first fragment).
    pub fn max_datagram_len(&self) -> usize {
        self.plan.datagram_len(0)
    }

    /// Origin: a message is left to send and the window has room for it.
    fn window_open(&self) -> bool {
        self.phase == Phase::Running
            && self.next_seq < self.shape.count
            && self.counters.sent.saturating_sub(self.counters.received)
                < u64::from(self.shape.window)
    }

    /// Open loop: when message `seq` is due.
    fn intended_send(&self, seq: u32) -> Nanos {
        self.start_ns
            .saturating_add(u64::from(seq).saturating_mul(self.config.interval_ns))
    }

    /// Open loop: when the next message is due (`None` in closed loop).
    pub fn next_due(&self) -> Option<Nanos> {
        (self.config.interval_ns > 0).then(|| self.intended_send(self.next_seq))
    }

    /// Origin: writes the next message's header into `buf` and returns the message length,
    /// or `None` when nothing may be sent now. `buf` must hold at least `msg_len` bytes; its
    /// payload is left as it is (the data plane fills send buffers with the payload pattern
    /// once, [`crate::wire::fill_payload`]), so the send time stamped is not delayed by
    /// writing a long payload.
    ///
    /// A message longer than one datagram is sent as its fragments, one per call, all with
    /// the message's send time; the window counts messages, so once a message is begun its
    /// fragments follow without waiting.
    pub fn poll_send(&mut self, now: Nanos, buf: &mut [u8]) -> Option<usize> {
        let index = self.next_frag;
        let len = self.plan.datagram_len(index);
        if !self.wants_to_send(now) || buf.len() < len {
            return None;
        }
        if index == 0 {
            let slots = self.send_times.len() as u32;
            if slots > 0 {
                self.send_times[(self.next_seq % slots) as usize] = now;
            }
            self.next_seq += 1;
            self.counters.sent += 1;
            self.first_send_ns.get_or_insert(now);
            self.msg_send_ns = now;
            self.stamp(self.next_seq - 1, 1, now);
        }
        let seq = self.next_seq - 1;
        let header = Header {
            kind: Kind::Data,
            flags: if seq < self.shape.warmup {
                FLAG_WARMUP
            } else {
                0
            },
            tour_id: self.tour_id,
            seq,
            frag_index: index,
            frag_count: self.plan.count(),
            msg_len: self.config.msg_len,
            hop: 0,
            prev_send_ns: now,
            origin_send_ns: self.msg_send_ns,
        };
        header.encode(buf);
        self.next_frag = (index + 1) % self.plan.count();
        self.last_activity_ns = now;
        Some(len)
    }

    /// Handles one received datagram, rewriting it in place when it is to be forwarded or
    /// answered, and says what to do with the buffer.
    pub fn handle_datagram(&mut self, now: Nanos, datagram: &mut [u8]) -> Verdict {
        let header = match Header::decode(datagram) {
            Ok(h) => h,
            Err(_) => return self.drop(DropReason::Malformed),
        };
        match header.kind {
            Kind::Data => {}
            // Header-sized echo requests are answered by the endpoint
            // (`crate::endpoint`) before the machine sees a datagram; any other is malformed.
            Kind::EchoRequest => return self.drop(DropReason::Malformed),
            _ => return self.drop(DropReason::UnexpectedKind),
        }
        let accepting = match self.phase {
            Phase::Armed => !self.position.is_origin(),
            Phase::Running => true,
            _ => false,
        };
        if !accepting {
            return self.drop(DropReason::NoTour);
        }
        if header.tour_id != self.tour_id {
            return self.drop(DropReason::StaleTour);
        }
        // The origin only takes back what it sent; anything else is forged or corrupt.
        let limit = if self.position.is_origin() {
            self.next_seq
        } else {
            self.shape.count
        };
        if header.seq >= limit
            || header.msg_len != self.config.msg_len
            || header.frag_count != self.plan.count()
        {
            return self.drop(DropReason::Malformed);
        }
        if u32::from(header.hop) != self.position.expected_hop() {
            return self.drop(DropReason::WrongHop);
        }
        let (word, bit) = ((header.seq / 64) as usize, header.seq % 64);
        let whole = self.seen[word] & (1 << bit) != 0;
        if self.plan.count() > 1 {
            if whole {
                return self.drop(DropReason::DuplicateFragment);
            }
            match self
                .reassembly
                .accept(header.seq, header.frag_index, datagram.len(), now)
            {
                Assembled::Malformed => return self.drop(DropReason::Malformed),
                Assembled::Duplicate => return self.drop(DropReason::DuplicateFragment),
                Assembled::Incomplete => {
                    self.last_activity_ns = self.last_activity_ns.max(now);
                    if self.position.is_origin() {
                        return Verdict::Arrived;
                    }
                    Header::stamp_forward(datagram, header.hop.wrapping_add(1), now);
                    if !self.config.forward_immediately {
                        // Hold mode: it waits with the rest of the tour.
                        return Verdict::HoldFragment;
                    }
                    // Cut-through: on to the next member now; counted when whole.
                    self.counters.forwarded_fragments += 1;
                    return Verdict::ForwardFragment;
                }
                // The last fragment to arrive completes the message: it is recorded as the
                // message (its send time is the previous member's last send of it).
                Assembled::Complete { .. } => {}
            }
        } else if whole {
            return self.drop(DropReason::Duplicate);
        }
        self.seen[word] |= 1 << bit;
        self.counters.received += 1;
        self.stamp(header.seq, 0, now);
        if header.seq < self.next_expected {
            self.counters.reordered += 1;
        } else {
            self.next_expected = header.seq + 1;
        }
        self.last_receive_ns = Some(now);
        // A kernel arrival stamp can be older than the last send: never move the idle
        // deadline back.
        self.last_activity_ns = self.last_activity_ns.max(now);
        if header.flags & FLAG_WARMUP == 0 {
            let hop = i128::from(now)
                - i128::from(header.prev_send_ns)
                - i128::from(self.prev_clock_offset_ns);
            if hop < 0 {
                self.negative_hops += 1;
            }
            let hop = u64::try_from(hop).unwrap_or(if hop < 0 { 0 } else { u64::MAX });
            self.hop_latency.saturating_record(hop);
            self.hop_ipdv.record(header.seq, hop);
        }

        if self.position.is_origin() {
            // The origin's own record of when it sent the message: a datagram cannot
            // claim another send time.
            match self.sent_at(header.seq) {
                _ if header.flags & FLAG_WARMUP != 0 => {}
                Some(sent) => {
                    let tour = now.saturating_sub(sent);
                    self.tour_latency.saturating_record(tour);
                    self.tour_ipdv.record(header.seq, tour);
                }
                None => self.counters.overtaken += 1,
            }
            if header.flags & FLAG_WARMUP == 0 && self.config.interval_ns > 0 {
                self.tour_latency_corrected
                    .saturating_record(now.saturating_sub(self.intended_send(header.seq)));
            }
            if self.counters.received == u64::from(self.shape.count) {
                self.phase = Phase::Complete;
            }
            return Verdict::Arrived;
        }

        let next_hop = header.hop.wrapping_add(1);
        Header::stamp_forward(datagram, next_hop, now);
        if self.config.forward_immediately {
            self.counters.forwarded += 1;
            Verdict::Forward
        } else if self.counters.received == u64::from(self.shape.count) {
            self.counters.forwarded += self.counters.held + 1;
            self.counters.held = 0;
            Verdict::FlushHeld
        } else {
            self.counters.held += 1;
            Verdict::Hold
        }
    }

    fn drop(&mut self, reason: DropReason) -> Verdict {
        let c = &mut self.counters;
        match reason {
            DropReason::Malformed => c.malformed += 1,
            DropReason::NoTour | DropReason::StaleTour => c.stale += 1,
            DropReason::WrongHop => c.wrong_hop += 1,
            DropReason::Duplicate => c.duplicates += 1,
            DropReason::DuplicateFragment => c.duplicate_fragments += 1,
            DropReason::UnexpectedKind => c.unexpected_kind += 1,
        }
        Verdict::Dropped(reason)
    }

    /// When the driver must act next, if at all: the origin's idle deadline, or in open
    /// loop the next message's due time when the window has room for it.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        let idle = self.idle_deadline()?;
        Some(match self.next_due() {
            Some(due) if self.window_open() => idle.min(due),
            _ => idle,
        })
    }

    /// Origin: when the tour times out unless a message is sent or received before.
    pub fn idle_deadline(&self) -> Option<Nanos> {
        (self.phase == Phase::Running).then(|| {
            self.last_activity_ns
                .saturating_add(self.config.member_timeout_ns)
        })
    }

    /// Origin: ends the tour as timed out once `member_timeout` has passed without a
    /// message sent or received.
    pub fn handle_timeout(&mut self, now: Nanos) {
        if let Some(deadline) = self.idle_deadline()
            && now >= deadline
        {
            self.phase = Phase::TimedOut;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(count: u32, forward_immediately: bool) -> TourConfig {
        TourConfig {
            count,
            msg_len: 100,
            window: count,
            forward_immediately,
            member_timeout_ns: 1_000,
            warmup: 0,
            interval_ns: 0,
            max_datagram: 0,
            max_buffer_memory: 0,
        }
    }

    #[test]
    fn validation_names_the_field() {
        let ok = config(10, true);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            TourConfig { msg_len: 63, ..ok }.validate(),
            Err(ConfigError::MessageLength { msg_len: 63 })
        );
        assert_eq!(
            TourConfig {
                msg_len: MAX_MESSAGE + 1,
                ..ok
            }
            .validate(),
            Err(ConfigError::MessageLength {
                msg_len: MAX_MESSAGE + 1
            })
        );
        // Beyond one datagram, a message travels as fragments of at most 65507 B.
        let large = TourConfig {
            msg_len: 16 << 20,
            ..ok
        };
        assert_eq!(large.validate(), Ok(()));
        assert_eq!(
            large.plan().unwrap().count(),
            ((16u32 << 20) - 64).div_ceil(65_443)
        );
        assert_eq!(
            TourConfig {
                count: 0,
                window: 0,
                ..ok
            }
            .validate(),
            Err(ConfigError::Count { count: 0 })
        );
        assert_eq!(
            TourConfig { window: 11, ..ok }.validate(),
            Err(ConfigError::Window {
                window: 11,
                count: 10
            })
        );
        assert_eq!(
            TourConfig {
                window: 2,
                ..config(10, false)
            }
            .validate(),
            Err(ConfigError::WindowWithHold {
                window: 2,
                count: 10
            })
        );
        assert!(
            ConfigError::MessageLength { msg_len: 63 }
                .to_string()
                .starts_with("msgbytelen 63")
        );
    }

    /// The origin of a ring of 2 armed for tour 7: 5 messages of 100 B, 2 in flight.
    fn origin_with_window_2() -> TourMachine {
        let pos = RingPosition {
            index: 0,
            ring_len: 2,
        };
        let mut m = TourMachine::new(
            pos,
            TourConfig {
                window: 2,
                ..config(5, true)
            },
        )
        .unwrap();
        m.prepare(7);
        m
    }

    #[test]
    fn a_tour_of_its_own_shape_sends_and_completes_with_fewer_messages() {
        let mut m = origin_with_window_2();
        let too_many = TourShape {
            count: 6,
            window: 1,
            warmup: 0,
        };
        assert_eq!(
            m.set_shape(too_many),
            Err(ShapeError::Count {
                count: 6,
                configured: 5
            })
        );
        let wide = TourShape {
            count: 3,
            window: 3,
            warmup: 0,
        };
        assert!(matches!(m.set_shape(wide), Err(ShapeError::Window { .. })));
        let warm = TourShape {
            count: 3,
            window: 1,
            warmup: 3,
        };
        assert!(matches!(m.set_shape(warm), Err(ShapeError::Warmup { .. })));
        let monitor = TourShape {
            count: 2,
            window: 1,
            warmup: 0,
        };
        m.set_shape(monitor).unwrap();
        let mut buf = [0u8; 100];
        m.start(10);
        assert_eq!(m.poll_send(10, &mut buf), Some(100));
        assert_eq!(m.poll_send(11, &mut buf), None, "one in flight");
        // Back around the ring of 2: the other member forwarded it (hop 1).
        Header::stamp_forward(&mut buf, 1, 15);
        assert_eq!(m.handle_datagram(20, &mut buf), Verdict::Arrived);
        assert_eq!(m.poll_send(21, &mut buf), Some(100));
        Header::stamp_forward(&mut buf, 1, 25);
        assert_eq!(m.handle_datagram(30, &mut buf), Verdict::Arrived);
        assert_eq!(m.phase(), Phase::Complete, "two of the configured five");
        assert_eq!(m.poll_send(31, &mut buf), None);
        // The next tour has the configuration's shape again.
        m.prepare(8);
        assert_eq!(m.shape(), m.config().shape());
    }

    #[test]
    fn hold_mode_tours_of_their_own_shape_keep_every_message_in_flight() {
        let config = config(4, false);
        assert_eq!(
            config.check_shape(TourShape {
                count: 2,
                window: 1,
                warmup: 0
            }),
            Err(ShapeError::WindowWithHold {
                window: 1,
                count: 2
            })
        );
        assert_eq!(
            config.check_shape(TourShape {
                count: 2,
                window: 2,
                warmup: 0
            }),
            Ok(())
        );
    }

    #[test]
    fn origin_respects_window_and_times_out() {
        let mut m = origin_with_window_2();
        let mut buf = [0u8; 100];
        assert_eq!(m.poll_send(10, &mut buf), None, "not started");
        m.start(10);
        assert_eq!(m.poll_send(10, &mut buf), Some(100));
        assert_eq!(m.poll_send(11, &mut buf), Some(100));
        assert_eq!(m.poll_send(12, &mut buf), None, "window of 2 is full");
        assert_eq!(m.poll_timeout(), Some(11 + 1_000));
        m.handle_timeout(1_010);
        assert_eq!(m.phase(), Phase::Running);
        m.handle_timeout(1_011);
        assert_eq!(m.phase(), Phase::TimedOut);
        assert_eq!(m.counters().sent, 2);
    }

    #[test]
    fn warm_up_messages_travel_but_are_not_recorded() {
        let config = TourConfig {
            warmup: 3,
            ..config(5, true)
        };
        assert_eq!(
            TourConfig {
                warmup: 5,
                ..config
            }
            .validate(),
            Err(ConfigError::Warmup {
                warmup: 5,
                count: 5
            })
        );
        let mut m = TourMachine::new(
            RingPosition {
                index: 0,
                ring_len: 1,
            },
            config,
        )
        .unwrap();
        m.prepare(1);
        m.start(0);
        let mut buf = [0u8; 100];
        for seq in 0..5u64 {
            assert_eq!(m.poll_send(seq * 10, &mut buf), Some(100));
            let h = Header::decode(&buf).unwrap();
            assert_eq!(h.flags & FLAG_WARMUP != 0, seq < 3, "seq {seq}");
            // A ring of one: the origin gets its own message back 7 ns later.
            assert_eq!(m.handle_datagram(seq * 10 + 7, &mut buf), Verdict::Arrived);
        }
        assert_eq!(m.phase(), Phase::Complete);
        assert_eq!(m.counters().received, 5);
        assert_eq!(m.tour_latency().len(), 2);
        assert_eq!(m.tour_latency().max(), 7);
    }

    #[test]
    fn origin_drops_messages_it_never_sent() {
        let pos = RingPosition {
            index: 0,
            ring_len: 2,
        };
        let mut m = TourMachine::new(pos, config(5, true)).unwrap();
        m.prepare(7);
        m.start(0);
        let mut sent = [0u8; 100];
        assert_eq!(m.poll_send(1, &mut sent), Some(100));
        // seq 3 is within the tour's count but was never sent: forged, not counted.
        let mut forged = sent;
        let h = Header::decode(&sent).unwrap();
        Header {
            seq: 3,
            hop: 1,
            ..h
        }
        .encode(&mut forged);
        assert_eq!(
            m.handle_datagram(2, &mut forged),
            Verdict::Dropped(DropReason::Malformed)
        );
        Header::stamp_forward(&mut sent, 1, 2);
        assert_eq!(m.handle_datagram(3, &mut sent), Verdict::Arrived);
        assert_eq!(m.counters().received, 1);
        assert_eq!(m.counters().malformed, 1);
        assert!(m.wants_to_send(0));
    }

    /// A datagram that comes back to the origin claiming another send time (a forged or
    /// corrupted origin send time of 1 ns) is timed from when the origin sent the message;
    /// one that comes back after more than a window of newer messages is counted, not
    /// timed.
    #[test]
    fn the_origin_times_messages_from_its_own_send_record() {
        let mut m = origin_with_window_2();
        m.start(0);
        let mut first = [0u8; 100];
        let mut second = [0u8; 100];
        assert_eq!(m.poll_send(1_000, &mut first), Some(100));
        assert_eq!(m.poll_send(1_500, &mut second), Some(100));
        let back = |datagram: &mut [u8; 100]| {
            let h = Header::decode(&datagram[..]).unwrap();
            Header {
                hop: 1,
                origin_send_ns: 1,
                ..h
            }
            .encode(&mut datagram[..]);
        };
        back(&mut second);
        assert_eq!(m.handle_datagram(3_500, &mut second), Verdict::Arrived);
        assert_eq!(m.tour_latency().max(), 2_000, "timed from 1500, not from 1");
        // Messages 2 and 3 take the window; message 0 (sent at 1000) comes back after
        // message 2 took its slot: received, counted, not timed.
        let mut later = [0u8; 100];
        assert_eq!(m.poll_send(4_000, &mut later), Some(100));
        back(&mut later);
        assert_eq!(m.handle_datagram(4_100, &mut later), Verdict::Arrived);
        assert_eq!(m.poll_send(4_200, &mut later), Some(100));
        back(&mut first);
        assert_eq!(m.handle_datagram(9_000, &mut first), Verdict::Arrived);
        assert_eq!(m.counters().received, 3);
        assert_eq!(m.counters().overtaken, 1);
        assert_eq!(m.tour_latency().len(), 2);
        assert_eq!(m.tour_latency().max(), 2_000);
    }

    /// Message 0 of tour 1 (100 B, one datagram, hop 0) as member 0 sends it.
    fn first_message_of_tour_1() -> [u8; 100] {
        let mut buf = [0u8; 100];
        let h = Header {
            kind: Kind::Data,
            flags: 0,
            tour_id: 1,
            seq: 0,
            frag_index: 0,
            frag_count: 1,
            msg_len: 100,
            hop: 0,
            prev_send_ns: 0,
            origin_send_ns: 0,
        };
        crate::wire::write_message(&mut buf, &h);
        buf
    }

    #[test]
    fn data_without_tour_is_stale() {
        let pos = RingPosition {
            index: 1,
            ring_len: 2,
        };
        let mut m = TourMachine::new(pos, config(1, true)).unwrap();
        let mut buf = first_message_of_tour_1();
        assert_eq!(
            m.handle_datagram(1, &mut buf),
            Verdict::Dropped(DropReason::NoTour)
        );
        m.prepare(2);
        assert_eq!(
            m.handle_datagram(1, &mut buf),
            Verdict::Dropped(DropReason::StaleTour)
        );
        m.prepare(1);
        assert_eq!(m.handle_datagram(1, &mut buf), Verdict::Forward);
        assert_eq!(m.counters().stale, 0, "prepare clears the counters");
    }

    /// IPDV pairs messages with consecutive sequence numbers only: a loss or a reordering
    /// breaks the pair instead of pairing unrelated messages (RFC 3393's selection).
    #[test]
    fn ipdv_pairs_consecutive_sequence_numbers() {
        let mut ipdv = Ipdv::new();
        // 2 is lost; 5 arrives before 4.
        for (seq, delay) in [(0, 100), (1, 130), (3, 90), (5, 400), (4, 95), (6, 120)] {
            ipdv.record(seq, delay);
        }
        // Each delay is compared with the one recorded just before it, when that was its
        // predecessor: only 0→1 (30 ns) is such a pair here.
        let h = ipdv.histogram();
        assert_eq!(h.len(), 1, "only 0→1 is a consecutive pair in arrival");
        assert_eq!(h.max(), 30);
        ipdv.reset();
        for seq in 0..10 {
            ipdv.record(seq, 50 + u64::from(seq % 2) * 10);
        }
        assert_eq!((ipdv.histogram().len(), ipdv.histogram().min()), (9, 10));
    }

    /// A forwarder that sends a message on after the member timeout (1,000 ns here) or more
    /// counts it `stalled`; one that sends it sooner, or holds it by design (hold mode),
    /// does not.
    #[test]
    fn a_message_forwarded_after_the_member_timeout_counts_as_stalled() {
        let pos = RingPosition {
            index: 1,
            ring_len: 3,
        };
        for (forward_immediately, stayed, stalled) in [
            (true, 999, 0),
            (true, 1_000, 1),
            (true, 1_500_000_000, 1),
            (false, 1_500_000_000, 0),
        ] {
            let mut m = TourMachine::new(pos, config(1, forward_immediately)).unwrap();
            m.prepare(1);
            let mut buf = first_message_of_tour_1();
            let verdict = m.handle_datagram(10, &mut buf);
            assert!(
                matches!(verdict, Verdict::Forward | Verdict::FlushHeld),
                "{verdict:?}"
            );
            m.stamp_send(10 + stayed, &mut buf, true);
            assert_eq!(
                (m.counters().stalled, m.residence().max()),
                (stalled, m.residence().highest_equivalent(stayed)),
                "forward immediately {forward_immediately}, stayed {stayed} ns"
            );
        }
    }
}
