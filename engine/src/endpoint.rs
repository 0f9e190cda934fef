//! A member's data-path protocol, sans-IO: everything a member decides about the datagrams
//! on its peer socket, in the shape of quinn-proto's `Endpoint`.
//!
//! The backends (io_uring, syscalls) and the simulated links of the tests drive it the
//! same way:
//!
//! - a receive goes in as [`Endpoint::handle_receive`] (the buffer it landed in, where,
//!   its GRO segment size, its source and arrival time); the endpoint splits a GRO receive
//!   into its datagrams, answers echo requests and clock probes, checks the source and
//!   hands data to the [`TourMachine`];
//! - the origin's new messages are written into a send buffer with
//!   [`Endpoint::fill_send_slot`];
//! - what is to be sent comes out of [`Endpoint::poll_transmit`] as [`Transmit`]s: runs of
//!   consecutive forwards as one GSO send when the kernel segments, else one datagram each;
//!   each forward's send time is stamped as it is polled;
//! - the outcome of every send goes back with [`Endpoint::handle_send_result`]: a GSO send
//!   the kernel refused is queued again one datagram at a time, and GSO stays off.
//!
//! The endpoint never reads a clock, touches a socket or allocates after construction.
//! Buffers are named by [`BufferId`]; the driver owns them and keeps a buffer untouched
//! while a transmit out of it is in flight. Hold mode copies what it holds into the
//! endpoint's own [`HoldStore`], so a receive buffer is never kept.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use crate::auth::{DatagramKey, RingKey};
use crate::counters::IoCounters;
use crate::pool::Pool;
use crate::tour::{ConfigError, RingPosition, TourConfig, TourMachine, Verdict};
use crate::wire::{CHALLENGE_LEN, FLAG_ANSWER, HEADER_LEN, Header, Kind, PROBE_LEN};

/// Most segments one GSO send may carry (`UDP_MAX_SEGMENTS` was 64 before Linux 6.9);
/// also the most datagrams GRO coalesces into one (`UDP_GRO_CNT_MAX`).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Most bytes one GSO send may carry: the UDP payload of a maximal IPv4 packet.
pub const GSO_MAX_BYTES: usize = 65_507;

/// Answers (echo, clock probe) one source address may get at once: the token bucket's
/// depth. A member's clock probes (at most 128 per tour, see `dataplane::probe`) and a
/// client's echoes fit in it.
pub const ANSWER_BURST: u32 = 256;
/// Answers per second one source address gets once its burst is used up.
pub const ANSWER_RATE: u64 = 1024;
/// Source addresses the answer limit tracks at once (direct-mapped by address).
const ANSWER_SOURCES: usize = 256;

/// A token bucket of answers for one source address.
#[derive(Debug, Clone, Copy)]
struct AnswerBucket {
    source: Option<IpAddr>,
    tokens: u32,
    /// When the bucket was last refilled, ns.
    refilled_ns: u64,
}

/// The answers a member gives per source address: echoes and probes are answered with a
/// datagram of the request's own size, and no source gets more than [`ANSWER_BURST`] at
/// once or [`ANSWER_RATE`] per second, so a spoofed source cannot turn a member into a
/// reflector. Sources are direct-mapped into a fixed table (allocated once); a source
/// that takes over a slot starts with a full bucket, which a spoofer gains nothing from:
/// every answer goes to the address it claims.
#[derive(Debug)]
struct AnswerLimit {
    buckets: Box<[AnswerBucket]>,
}

impl AnswerLimit {
    fn new() -> AnswerLimit {
        AnswerLimit {
            buckets: vec![
                AnswerBucket {
                    source: None,
                    tokens: 0,
                    refilled_ns: 0,
                };
                ANSWER_SOURCES
            ]
            .into_boxed_slice(),
        }
    }

    /// Whether `source` may be answered at `now`; takes one answer from its bucket.
    fn allow(&mut self, source: Option<IpAddr>, now: u64) -> bool {
        let Some(bucket) = self.buckets.get_mut(slot_of(source)) else {
            return false;
        };
        if bucket.source != source || bucket.refilled_ns == 0 {
            *bucket = AnswerBucket {
                source,
                tokens: ANSWER_BURST,
                refilled_ns: now.max(1),
            };
        } else {
            let elapsed = u128::from(now.saturating_sub(bucket.refilled_ns));
            let earned = elapsed * u128::from(ANSWER_RATE) / 1_000_000_000;
            if earned > 0 {
                let earned = u32::try_from(earned).unwrap_or(u32::MAX);
                bucket.tokens = bucket.tokens.saturating_add(earned).min(ANSWER_BURST);
                // Keep the fraction of an answer not yet earned.
                let spent_ns = u64::from(earned) * 1_000_000_000 / ANSWER_RATE;
                bucket.refilled_ns = bucket.refilled_ns.saturating_add(spent_ns);
            }
        }
        if bucket.tokens == 0 {
            return false;
        }
        bucket.tokens -= 1;
        true
    }
}

/// The answer-limit slot of a source address.
fn slot_of(source: Option<IpAddr>) -> usize {
    let bits: u64 = match source {
        None => 0,
        Some(IpAddr::V4(ip)) => u64::from(u32::from(ip)),
        Some(IpAddr::V6(ip)) => {
            let bits = u128::from(ip);
            (bits as u64) ^ ((bits >> 64) as u64)
        }
    };
    (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % ANSWER_SOURCES
}

/// Everything a member's data plane needs to take part in tours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSetup {
    /// This member's place in the ring.
    pub position: RingPosition,
    /// The tour parameters.
    pub config: TourConfig,
    /// Where this member sends: the next member's peer endpoint.
    pub next_peer: SocketAddr,
    /// Where this member's data comes from: the previous member's peer endpoint.
    pub prev_peer: SocketAddr,
    /// The ring's key for this configuration, with which the member answers its previous
    /// member's challenge and tags tour datagrams and clock probes (`None`: a ring without
    /// authentication, on loopback only; it answers no challenge, and cannot be sent tours
    /// by a member that challenges).
    pub ring_key: Option<RingKey>,
    /// The key echo requests must be tagged with (`None` with no ring key: echoes are
    /// answered untagged).
    pub echo_key: Option<DatagramKey>,
    /// The DSCP every datagram this member sends carries (0 to 63; 0: best effort), for
    /// measuring a QoS class: the peer socket's IPv4 TOS and IPv6 traffic class are
    /// `dscp << 2`.
    pub dscp: u8,
}

/// UDP segmentation offload a member may use: what the kernel accepts on its peer socket
/// (probed at start), unless turned off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offload {
    /// UDP GSO: one send carries up to 64 datagrams of one size (`UDP_SEGMENT`).
    pub gso: bool,
    /// UDP GRO: one receive delivers datagrams the kernel coalesced (`UDP_GRO`).
    pub gro: bool,
}

/// A buffer of the driver's, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferId {
    /// A receive buffer (the io_uring buffer id).
    Receive(u16),
    /// One of the origin's send buffers, for new messages.
    Send(u16),
    /// The hold store ([`Endpoint::hold_store`]): hold mode's datagrams at the flush.
    Held,
}

/// Where a transmit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The next member.
    Next,
    /// Back to the source of the receive just handed in (echo and probe answers). The
    /// driver polls these before it hands in the next receive.
    Source,
}

/// One send: `len` bytes at `offset` of `buffer` (offsets count from the start of the
/// buffer's slot, as the receive's did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The buffer the bytes are in; it must stay untouched until the send is done.
    pub buffer: BufferId,
    /// Where the first datagram starts.
    pub offset: usize,
    /// Bytes to send.
    pub len: usize,
    /// GSO: the bytes are datagrams of this size, the last one possibly shorter, sent with
    /// one `UDP_SEGMENT` send. `None`: one datagram.
    pub segment_size: Option<usize>,
    /// Where it goes.
    pub destination: Destination,
}

impl Transmit {
    /// Datagrams the send carries.
    pub fn datagrams(&self) -> u64 {
        self.segment_size
            .map_or(1, |size| self.len.div_ceil(size.max(1)).max(1) as u64)
    }
}

/// One receive as the kernel delivered it: `len` bytes at `offset` of receive buffer
/// `buffer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receive {
    /// The receive buffer.
    pub buffer: u16,
    /// Where the bytes start in the buffer's slot.
    pub offset: usize,
    /// Bytes received.
    pub len: usize,
    /// GRO: the bytes are datagrams of this size (the last one may be shorter).
    pub segment_size: Option<usize>,
    /// The sender's address, as the kernel reported it.
    pub source: Option<SocketAddr>,
    /// Arrival time on the member's clock (ns), shared by every datagram of the receive.
    pub now: u64,
    /// Whether `now` is the kernel's receive timestamp (else the driver read its clock).
    pub kernel_stamp: bool,
}

/// What the endpoint did with a receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    /// The verdict on the receive's last datagram; `None` when the endpoint dropped it
    /// before the state machine (wrong source, injected loss, an unanswerable probe).
    pub last: Option<Verdict>,
}

/// Hold mode: every datagram held until the flush, copied out of its receive buffer (which
/// goes back to the kernel at once) into one allocation made at configure time, one
/// datagram every `stride` bytes. So a member holds any count of messages of any size,
/// within the tour's memory limit, whatever its receive buffers.
#[derive(Debug, Default)]
pub struct HoldStore {
    bytes: Box<[u8]>,
    stride: usize,
    /// The held datagrams in arrival order: their length, and whether their send records
    /// the message's residence (not for fragments that did not complete it).
    held: Vec<(usize, bool)>,
}

impl HoldStore {
    fn new(datagrams: usize, stride: usize) -> HoldStore {
        HoldStore {
            bytes: vec![0u8; datagrams * stride].into_boxed_slice(),
            stride,
            held: Vec::with_capacity(datagrams),
        }
    }

    /// Keeps a copy of `datagram`; false when the store is full or the datagram longer
    /// than a slot (neither happens to a datagram the machine accepted).
    fn push(&mut self, datagram: &[u8], residence: bool) -> bool {
        let at = self.held.len() * self.stride;
        let Some(slot) = self.bytes.get_mut(at..at + datagram.len()) else {
            return false;
        };
        if datagram.len() > self.stride {
            return false;
        }
        slot.copy_from_slice(datagram);
        self.held.push((datagram.len(), residence));
        true
    }

    /// The store's bytes, for the sends out of it ([`BufferId::Held`]).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

/// What a queued transmit still needs written into its datagrams when it is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// Nothing (new messages, answers already complete, datagrams sent again).
    None,
    /// Forwards: each datagram's send time; the residence of the datagrams whose bit is
    /// clear in `skip_residence` (bit i: the run's i-th datagram) is recorded.
    Forward { skip_residence: u64 },
    /// A clock-probe answer: its t3, the time it leaves.
    ProbeAnswer,
}

/// A run of datagrams `stride` bytes apart waiting to be polled.
#[derive(Debug, Clone, Copy)]
struct Queued {
    buffer: BufferId,
    offset: usize,
    len: usize,
    stride: usize,
    destination: Destination,
    stamp: Stamp,
}

/// How the endpoint classified one datagram before the state machine.
enum Admitted {
    Machine(Verdict),
    Echo,
    Probe,
    Ignored,
}

/// A member's data-path protocol state: the tour state machine (absent before the first
/// configuration, when the member only answers echoes and probes), the send batching and
/// the I/O counters.
#[derive(Debug)]
pub struct Endpoint {
    setup: Option<RingSetup>,
    machine: Option<TourMachine>,
    io: IoCounters,
    /// The longest datagram of the tour: the stride of datagrams in a send buffer and the
    /// GSO segment size.
    datagram: usize,
    /// Origin: datagrams of one message written into one send buffer.
    send_batch: usize,
    /// The GSO segment size sends carry now (0: every datagram on its own). A refusal
    /// turns it off until the next configuration.
    gso_segment: usize,
    /// Whether the socket receives GRO-coalesced datagrams.
    gro: bool,
    /// Discard every data datagram on arrival (fault injection).
    drop_data: bool,
    /// Datagrams held (hold mode), in arrival order.
    hold: HoldStore,
    /// What is to be sent, in order.
    queue: VecDeque<Queued>,
    /// Answers per source address.
    answers: AnswerLimit,
    /// The ring's datagram key: every tour datagram sent is tagged with it and every one
    /// received must carry its tag (`None`: a ring configured without a key, untagged).
    datagram_key: Option<DatagramKey>,
}

impl Endpoint {
    /// The endpoint of a member that is not configured: it has no key to check a request
    /// with, so it answers nothing (echoes and clock probes included) and ignores
    /// everything it receives.
    pub fn unconfigured(drop_data: bool) -> Endpoint {
        Endpoint {
            setup: None,
            machine: None,
            io: IoCounters::default(),
            datagram: 2048,
            send_batch: 1,
            gso_segment: 0,
            gro: false,
            drop_data,
            hold: HoldStore::default(),
            queue: VecDeque::with_capacity(64),
            answers: AnswerLimit::new(),
            datagram_key: None,
        }
    }

    /// The endpoint of a configured member. `offload` is what the socket allows; GSO and
    /// GRO are used only for messages of several datagrams forwarded as they arrive. The
    /// driver then sizes its buffers and calls [`Endpoint::reserve`].
    pub fn new(
        setup: RingSetup,
        offload: Offload,
        drop_data: bool,
    ) -> Result<Endpoint, ConfigError> {
        let machine = TourMachine::new(setup.position, setup.config)?;
        let offload = Endpoint::offload_for(&setup, offload)?;
        let datagram = machine.max_datagram_len();
        let send_batch = if offload.gso {
            (GSO_MAX_BYTES / datagram).clamp(1, GSO_MAX_SEGMENTS)
        } else {
            1
        };
        Ok(Endpoint {
            setup: Some(setup),
            machine: Some(machine),
            io: IoCounters::default(),
            datagram,
            send_batch,
            gso_segment: if offload.gso { datagram } else { 0 },
            gro: offload.gro,
            drop_data,
            hold: HoldStore::default(),
            queue: VecDeque::new(),
            answers: AnswerLimit::new(),
            datagram_key: setup.ring_key.map(|k| k.datagram_key()),
        })
    }

    /// Allocates, at configure time, room for what `buffers` receive buffers and
    /// `send_buffers` send buffers can hold and queue, and in hold mode the hold store
    /// ([`Endpoint::hold_bytes`]), so that handling datagrams never allocates.
    pub fn reserve(&mut self, buffers: u32, send_buffers: u32) {
        let held = self.held_datagrams();
        if held > 0 {
            self.hold = HoldStore::new(held, self.datagram);
        }
        self.queue
            .reserve(buffers as usize + send_buffers as usize + GSO_MAX_SEGMENTS + held);
    }

    /// Hold mode: every datagram of the tour (`count` messages of their fragments); else 0.
    fn held_datagrams(&self) -> usize {
        match (&self.setup, &self.machine) {
            (Some(setup), Some(machine))
                if !setup.config.forward_immediately && !setup.position.is_origin() =>
            {
                setup.config.count as usize * machine.fragments() as usize
            }
            _ => 0,
        }
    }

    /// Bytes the hold store takes once reserved (0 unless holding).
    pub fn hold_bytes(&self) -> u64 {
        (self.held_datagrams() as u64).saturating_mul(self.datagram as u64)
    }

    /// The hold store, for the sends out of it.
    pub fn hold_store(&mut self) -> &mut HoldStore {
        &mut self.hold
    }

    /// The offload a tour uses: it pays only for messages of several datagrams forwarded as
    /// they arrive (a holding member copies each datagram on its own).
    fn offload_for(setup: &RingSetup, offload: Offload) -> Result<Offload, ConfigError> {
        let hold = !setup.config.forward_immediately && !setup.position.is_origin();
        let fragments = setup.config.plan()?.count();
        Ok(if fragments > 1 && !hold {
            offload
        } else {
            Offload::default()
        })
    }

    /// The ring position and neighbours, once configured.
    pub fn setup(&self) -> Option<&RingSetup> {
        self.setup.as_ref()
    }

    /// The tour state machine, once configured.
    pub fn machine(&self) -> Option<&TourMachine> {
        self.machine.as_ref()
    }

    /// The tour state machine, once configured (to prepare, start, end and time it out).
    pub fn machine_mut(&mut self) -> Option<&mut TourMachine> {
        self.machine.as_mut()
    }

    /// The I/O counters of the current tour.
    pub fn io(&self) -> &IoCounters {
        &self.io
    }

    /// The I/O counters, for what only the driver sees (receive errors, buffers running
    /// out).
    pub fn io_mut(&mut self) -> &mut IoCounters {
        &mut self.io
    }

    /// The longest datagram of the tour.
    pub fn datagram(&self) -> usize {
        self.datagram
    }

    /// Origin: datagrams of one message written into one send buffer (several when GSO is
    /// on); a send buffer holds `send_batch() × datagram()` bytes.
    pub fn send_batch(&self) -> usize {
        self.send_batch
    }

    /// The GSO segment size sends carry now (0: none).
    pub fn gso_segment(&self) -> usize {
        self.gso_segment
    }

    /// Whether the socket is to receive GRO-coalesced datagrams.
    pub fn gro(&self) -> bool {
        self.gro
    }

    /// Whether transmits are waiting to be polled.
    pub fn has_transmits(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Arms the machine for tour `tour_id` and starts the tour's counters afresh.
    /// `prev_clock_offset_ns` (this member's clock minus the previous member's) corrects the
    /// hop into this member.
    pub fn prepare(&mut self, tour_id: u64, prev_clock_offset_ns: i64) -> bool {
        let Some(machine) = self.machine.as_mut() else {
            return false;
        };
        machine.prepare(tour_id);
        machine.set_prev_clock_offset(prev_clock_offset_ns);
        self.io = IoCounters::default();
        true
    }

    /// Gives up every held datagram without sending it (the tour ended or was abandoned).
    pub fn release_held(&mut self) {
        self.hold.held.clear();
    }

    /// Handles one receive in `pool`: each of its datagrams (several when GRO coalesced
    /// them) goes through the endpoint's checks and the state machine, and what is to be
    /// sent is queued for [`Endpoint::poll_transmit`]: runs of consecutive forwards, echo
    /// and probe answers, and in hold mode every held message at the flush.
    pub fn handle_receive(&mut self, rx: Receive, pool: &mut Pool) -> Handled {
        if rx.kernel_stamp {
            self.io.kernel_stamps += 1;
        } else {
            self.io.app_stamps += 1;
        }
        let stride = rx.segment_size.filter(|&s| s < rx.len).unwrap_or(rx.len);
        if stride < rx.len {
            self.io.gro_receives += 1;
        }
        let mut handled = Handled { last: None };
        // A run of forwards not yet queued.
        let mut run: Option<Queued> = None;
        for (offset, len) in segments(rx.offset, rx.len, stride) {
            let Some(datagram) = pool.slot(rx.buffer).get_mut(offset..offset + len) else {
                self.io.recv_errors += 1;
                continue;
            };
            let admitted = self.admit(rx.now, datagram, rx.source);
            handled.last = match admitted {
                Admitted::Machine(verdict) => Some(verdict),
                Admitted::Echo | Admitted::Probe => Some(Verdict::EchoReply),
                Admitted::Ignored => None,
            };
            if let Admitted::Machine(verdict @ (Verdict::Forward | Verdict::ForwardFragment)) =
                admitted
            {
                let skip = u64::from(verdict == Verdict::ForwardFragment);
                run = match run {
                    Some(mut r) if r.offset + r.len == offset => {
                        let index = r.len / stride.max(1);
                        if let Stamp::Forward { skip_residence } = &mut r.stamp
                            && index < 64
                        {
                            *skip_residence |= skip << index;
                        }
                        r.len += len;
                        Some(r)
                    }
                    other => {
                        self.queue.extend(other);
                        Some(Queued {
                            buffer: BufferId::Receive(rx.buffer),
                            offset,
                            len,
                            stride,
                            destination: Destination::Next,
                            stamp: Stamp::Forward {
                                skip_residence: skip,
                            },
                        })
                    }
                };
                continue;
            }
            self.queue.extend(run.take());
            match admitted {
                Admitted::Echo | Admitted::Probe => {
                    self.io.echoes += 1;
                    self.queue.push_back(Queued {
                        buffer: BufferId::Receive(rx.buffer),
                        offset,
                        len,
                        stride: len,
                        destination: Destination::Source,
                        stamp: if matches!(admitted, Admitted::Probe) {
                            Stamp::ProbeAnswer
                        } else {
                            Stamp::None
                        },
                    });
                }
                // Hold mode: a copy waits in the hold store; the buffer is free at once.
                Admitted::Machine(verdict @ (Verdict::Hold | Verdict::HoldFragment)) => {
                    let kept = pool
                        .slot(rx.buffer)
                        .get(offset..offset + len)
                        .is_some_and(|d| self.hold.push(d, verdict == Verdict::Hold));
                    if !kept {
                        self.io.hold_overflows += 1;
                    }
                }
                Admitted::Machine(Verdict::FlushHeld) => {
                    // Everything held leaves in arrival order, then this datagram from its
                    // own buffer (free once its send is done).
                    let mut at = 0;
                    for (len, residence) in self.hold.held.drain(..) {
                        self.queue.push_back(Queued {
                            buffer: BufferId::Held,
                            offset: at,
                            len,
                            stride: len,
                            destination: Destination::Next,
                            stamp: Stamp::Forward {
                                skip_residence: u64::from(!residence),
                            },
                        });
                        at += self.hold.stride;
                    }
                    self.queue.push_back(Queued {
                        buffer: BufferId::Receive(rx.buffer),
                        offset,
                        len,
                        stride: len,
                        destination: Destination::Next,
                        stamp: Stamp::Forward { skip_residence: 0 },
                    });
                }
                _ => {}
            }
        }
        self.queue.extend(run);
        handled
    }

    /// The endpoint's own checks of one datagram (answers to echoes and clock probes,
    /// injected loss, the source of data), then the state machine.
    fn admit(&mut self, now: u64, datagram: &mut [u8], source: Option<SocketAddr>) -> Admitted {
        match Kind::peek(datagram) {
            Some(Kind::ClockProbe) => {
                // The next member measuring the clock offset: answered at once with t2
                // (now) and t3 (when the answer is polled), only by a configured member,
                // only from the next member's host, and tagged with the ring's key when it
                // has one.
                let Some(next_peer) = self.setup.as_ref().map(|s| s.next_peer) else {
                    return self.ignored();
                };
                match Header::decode(datagram) {
                    Ok(h)
                        if h.flags & FLAG_ANSWER == 0
                            && datagram.len() == PROBE_LEN
                            && source.map(|a| a.ip()) == Some(next_peer.ip()) =>
                    {
                        if !self.authentic(self.datagram_key, datagram) {
                            return Admitted::Ignored;
                        }
                        if !self.may_answer(source, now) {
                            return Admitted::Ignored;
                        }
                        Header::make_probe_reply(datagram, now, now);
                        Admitted::Probe
                    }
                    _ => self.ignored(),
                }
            }
            // The previous member proving this one is a member of its ring: answered with
            // the ring key's tag, in a datagram of the challenge's own size, only from the
            // previous member's host and only with a key.
            Some(Kind::Handshake) => {
                let Some((prev_peer, index, key)) = self
                    .setup
                    .as_ref()
                    .and_then(|s| s.ring_key.map(|key| (s.prev_peer, s.position.index, key)))
                else {
                    return self.ignored();
                };
                let expected = source.map(|a| a.ip()) == Some(prev_peer.ip());
                match Header::decode(datagram) {
                    Ok(h)
                        if h.flags & FLAG_ANSWER == 0
                            && datagram.len() == CHALLENGE_LEN
                            && expected =>
                    {
                        if !self.may_answer(source, now) {
                            return Admitted::Ignored;
                        }
                        let tag = key.challenge_answer(h.tour_id, index);
                        Header::make_challenge_answer(datagram, &tag);
                        Admitted::Echo
                    }
                    _ => self.ignored(),
                }
            }
            // Echoes are header-sized; a longer one is not answered (the answer could not
            // go out as one datagram while the socket sends with GSO). Only a configured
            // member answers, and only requests tagged with the echo key when it has one;
            // the answer carries the same key's tag.
            Some(Kind::EchoRequest) if datagram.len() == HEADER_LEN => {
                match Header::decode(datagram) {
                    Ok(_) => {
                        let Some(setup) = self.setup.as_ref() else {
                            return self.ignored();
                        };
                        let key = setup.echo_key;
                        if !self.authentic(key, datagram) || !self.may_answer(source, now) {
                            return Admitted::Ignored;
                        }
                        Header::make_echo_reply(datagram);
                        if let Some(key) = key {
                            key.sign(datagram);
                        }
                        Admitted::Echo
                    }
                    Err(_) => self.by_machine(now, datagram),
                }
            }
            Some(Kind::Data) if self.machine.is_some() => {
                if self.drop_data {
                    self.io.injected_drops += 1;
                    return Admitted::Ignored;
                }
                if !self.authentic(self.datagram_key, datagram) {
                    return Admitted::Ignored;
                }
                if source != self.setup.as_ref().map(|s| s.prev_peer) {
                    self.io.wrong_source += 1;
                    return Admitted::Ignored;
                }
                self.by_machine(now, datagram)
            }
            _ => self.by_machine(now, datagram),
        }
    }

    /// A datagram dropped as not for this member as it stands, counted.
    fn ignored(&mut self) -> Admitted {
        self.io.ignored += 1;
        Admitted::Ignored
    }

    /// Whether `datagram` carries `key`'s tag (always, without a key); counts the ones
    /// that do not as `bad_tag`.
    fn authentic(&mut self, key: Option<DatagramKey>, datagram: &[u8]) -> bool {
        let authentic = key.is_none_or(|key| key.check(datagram));
        if !authentic {
            self.io.bad_tag += 1;
        }
        authentic
    }

    /// Whether a request from `source` may be answered now (its answer limit); counts the
    /// ones that may not.
    fn may_answer(&mut self, source: Option<SocketAddr>, now: u64) -> bool {
        let allowed = self.answers.allow(source.map(|a| a.ip()), now);
        if !allowed {
            self.io.rate_limited += 1;
        }
        allowed
    }

    fn by_machine(&mut self, now: u64, datagram: &mut [u8]) -> Admitted {
        match self.machine.as_mut() {
            Some(machine) => Admitted::Machine(machine.handle_datagram(now, datagram)),
            // Not configured: there is no tour to take it.
            None => self.ignored(),
        }
    }

    /// Origin: writes what to send next into send buffer `slot` (`buf`, which holds
    /// [`Endpoint::send_batch`] datagrams): one datagram, or with GSO up to `send_batch`
    /// consecutive datagrams of one message, `datagram` bytes apart, and queues them. False
    /// when nothing may be sent now (the buffer stays free).
    pub fn fill_send_slot(&mut self, now: u64, slot: u16, buf: &mut [u8]) -> bool {
        let (stride, batch) = (self.datagram, self.send_batch);
        let Some(machine) = self.machine.as_mut() else {
            return false;
        };
        let Some(mut total) = machine.poll_send(now, buf) else {
            return false;
        };
        let mut count = 1;
        // Only whole datagrams may be followed by another in the same send.
        while count < batch && total == count * stride && machine.mid_message() {
            let Some(len) = buf
                .get_mut(count * stride..)
                .and_then(|rest| machine.poll_send(now, rest))
            else {
                break;
            };
            total += len;
            count += 1;
        }
        if let Some(key) = &self.datagram_key {
            for datagram in buf[..total].chunks_mut(stride) {
                key.sign(datagram);
            }
        }
        self.queue.push_back(Queued {
            buffer: BufferId::Send(slot),
            offset: 0,
            len: total,
            stride,
            destination: Destination::Next,
            stamp: Stamp::None,
        });
        true
    }

    /// The next send, if any: a run's datagrams as one GSO send while GSO is on (and the
    /// run's datagrams are of the segment size), else its next datagram. Forwards get their
    /// send time `now` (and their residence recorded), probe answers their t3. `pool` is
    /// the receive pool the forwards lie in.
    pub fn poll_transmit(&mut self, now: u64, pool: &mut Pool) -> Option<Transmit> {
        let entry = self.queue.front_mut()?;
        let stride = entry.stride.max(1);
        let chunk = if self.gso_segment > 0 && self.gso_segment == stride && entry.len > stride {
            entry.len.min(stride * GSO_MAX_SEGMENTS)
        } else {
            stride.min(entry.len)
        };
        let transmit = Transmit {
            buffer: entry.buffer,
            offset: entry.offset,
            len: chunk,
            segment_size: (chunk > stride).then_some(stride),
            destination: entry.destination,
        };
        let bytes = match entry.buffer {
            BufferId::Receive(bid) => Some(pool.slot(bid)),
            BufferId::Held => Some(self.hold.bytes_mut()),
            BufferId::Send(_) => None,
        };
        if let Some(bytes) = bytes {
            match &mut entry.stamp {
                Stamp::None => {}
                Stamp::Forward { skip_residence } => {
                    if let Some(machine) = self.machine.as_mut() {
                        for (offset, len) in segments(transmit.offset, chunk, stride) {
                            if let Some(datagram) = bytes.get_mut(offset..offset + len) {
                                machine.stamp_send(now, datagram, *skip_residence & 1 == 0);
                                if let Some(key) = &self.datagram_key {
                                    key.sign(datagram);
                                }
                            }
                            *skip_residence >>= 1;
                        }
                    }
                }
                Stamp::ProbeAnswer => {
                    if let Some(datagram) =
                        bytes.get_mut(transmit.offset..transmit.offset + transmit.len)
                    {
                        Header::set_probe_t3(datagram, now);
                        if let Some(key) = &self.datagram_key {
                            key.sign(datagram);
                        }
                    }
                }
            }
        }
        entry.offset += chunk;
        entry.len -= chunk;
        if entry.len == 0 {
            self.queue.pop_front();
        }
        Some(transmit)
    }

    /// The outcome of a polled transmit: `Ok` when the kernel took it, `Err(errno)` when it
    /// refused it. A GSO send refused with EIO (the device or path cannot segment) or EINVAL
    /// (the socket or the send does not allow it) is queued again one datagram at a time,
    /// and GSO stays off until the next configuration: returns true then, and the driver
    /// polls those sends before it reuses the buffer. Other failures count every datagram
    /// the send carried.
    pub fn handle_send_result(&mut self, transmit: &Transmit, result: Result<(), i32>) -> bool {
        match (result, transmit.segment_size) {
            (Ok(()), Some(_)) => self.io.gso_sends += 1,
            (Ok(()), None) => {}
            (Err(errno), Some(stride)) if errno == libc::EIO || errno == libc::EINVAL => {
                self.io.gso_refused += 1;
                if self.gso_segment > 0 {
                    self.gso_segment = 0;
                    tracing::warn!(
                        errno,
                        "the kernel refused a UDP GSO send ({}); sending every datagram on its own until the next configuration",
                        std::io::Error::from_raw_os_error(errno)
                    );
                }
                self.queue.push_back(Queued {
                    buffer: transmit.buffer,
                    offset: transmit.offset,
                    len: transmit.len,
                    stride,
                    destination: transmit.destination,
                    stamp: Stamp::None,
                });
                return true;
            }
            (Err(errno), _) => {
                let datagrams = transmit.datagrams();
                self.io.send_errors += datagrams;
                if errno == libc::EMSGSIZE {
                    self.io.send_too_big += datagrams;
                }
            }
        }
        false
    }
}

/// The datagrams in `len` bytes at `offset` that were sent (or coalesced) as segments of
/// `segment` bytes: `(offset, len)` of each, in order. A `segment` of 0 or of at least
/// `len` is one datagram.
pub fn segments(offset: usize, len: usize, segment: usize) -> impl Iterator<Item = (usize, usize)> {
    let step = if segment == 0 { len.max(1) } else { segment };
    (0..len.max(1))
        .step_by(step)
        .map(move |at| (offset + at, step.min(len - at)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    fn receive(len: usize, source: SocketAddr) -> Receive {
        Receive {
            buffer: 0,
            offset: 0,
            len,
            segment_size: None,
            source: Some(source),
            now: 500,
            kernel_stamp: false,
        }
    }

    /// A member at index 2 of 3 whose previous member's peer endpoint is 127.0.0.1:5000
    /// and next member's 127.0.0.1:6000, with `ring_key` (and the echo key from it).
    fn setup(ring_key: Option<RingKey>) -> RingSetup {
        RingSetup {
            position: crate::tour::RingPosition {
                index: 2,
                ring_len: 3,
            },
            config: crate::tour::TourConfig {
                count: 1,
                msg_len: 64,
                window: 1,
                forward_immediately: true,
                member_timeout_ns: 1_000_000,
                warmup: 0,
                interval_ns: 0,
                max_datagram: 0,
                max_buffer_memory: 0,
            },
            next_peer: SocketAddr::from(([127, 0, 0, 1], 6000)),
            prev_peer: SocketAddr::from(([127, 0, 0, 1], 5000)),
            ring_key,
            echo_key: ring_key.map(|k| k.echo_key()),
            dscp: 0,
        }
    }

    /// Only a configured member answers echo requests and clock probes, and with a ring
    /// key only those tagged with the right key (the echo key for echoes, the datagram key
    /// for probes), with answers tagged the same way; the rest is counted as `bad_tag`.
    #[test]
    fn echoes_and_probes_are_answered_by_configured_members_with_the_right_tag_only() {
        let client = SocketAddr::from(([127, 0, 0, 1], 4000));
        let key = RingKey::from_bytes([9; 32]);
        let (echo_key, datagram_key) = (key.echo_key(), key.datagram_key());
        let mut pool = Pool::new(1, 256, 0);
        let mut ask = |endpoint: &mut Endpoint,
                       request: Header,
                       len: usize,
                       tag: Option<DatagramKey>,
                       from: SocketAddr| {
            let slot = &mut pool.slot(0)[..len];
            request.encode(slot);
            if let Some(tag) = tag {
                tag.sign(slot);
            }
            let handled = endpoint.handle_receive(receive(len, from), &mut pool);
            let t = endpoint.poll_transmit(900, &mut pool)?;
            assert_eq!(handled.last, Some(Verdict::EchoReply));
            assert_eq!(
                (t.buffer, t.offset, t.len, t.segment_size, t.destination),
                (BufferId::Receive(0), 0, len, None, Destination::Source)
            );
            assert_eq!(endpoint.poll_transmit(900, &mut pool), None);
            Some(pool.slot(0)[..len].to_vec())
        };
        let echo = Header::echo_request(99);
        let probe = Header::clock_probe(5, 1, 100);

        let mut unconfigured = Endpoint::unconfigured(false);
        for (request, len) in [(echo, HEADER_LEN), (probe, PROBE_LEN)] {
            assert_eq!(ask(&mut unconfigured, request, len, None, client), None);
        }

        let mut keyed = Endpoint::new(setup(Some(key)), Offload::default(), false).unwrap();
        let answer = ask(&mut keyed, echo, HEADER_LEN, Some(echo_key), client).unwrap();
        assert!(
            echo_key.check(&answer),
            "the echo answer carries the echo key's tag"
        );
        assert_eq!(Header::decode(&answer).unwrap().kind, Kind::EchoReply);
        assert_eq!(Header::decode(&answer).unwrap().tour_id, 99);
        // A probe from the next member's host: t2 is the arrival, t3 the time the answer
        // is polled, and the tag covers both.
        let answer = ask(&mut keyed, probe, PROBE_LEN, Some(datagram_key), client).unwrap();
        assert!(datagram_key.check(&answer));
        assert_eq!(Header::probe_reply(&answer), Some((5, 1, 100, 500, 900)));
        let refused = [
            (echo, HEADER_LEN, None),
            (echo, HEADER_LEN, Some(datagram_key)),
            (probe, PROBE_LEN, None),
            (probe, PROBE_LEN, Some(echo_key)),
        ];
        for (request, len, tag) in refused {
            assert_eq!(ask(&mut keyed, request, len, tag, client), None);
        }
        assert_eq!(keyed.io().bad_tag, 4);
        // A probe from another host, or of the old header-only size: not answered.
        let stranger = SocketAddr::from(([127, 0, 0, 2], 4000));
        assert_eq!(
            ask(&mut keyed, probe, PROBE_LEN, Some(datagram_key), stranger),
            None
        );
        assert_eq!(
            ask(&mut keyed, probe, HEADER_LEN, Some(datagram_key), client),
            None
        );
        assert_eq!(keyed.io().echoes, 2);

        // A ring without a key (loopback only) answers untagged requests, untagged.
        let mut open = Endpoint::new(setup(None), Offload::default(), false).unwrap();
        let answer = ask(&mut open, echo, HEADER_LEN, None, client).unwrap();
        assert_eq!(
            wire::tagged(&answer).map(|(_, tag)| tag),
            Some(&[0u8; 8][..])
        );
        let answer = ask(&mut open, probe, PROBE_LEN, None, client).unwrap();
        assert_eq!(Header::probe_reply(&answer), Some((5, 1, 100, 500, 900)));

        // Data to an unconfigured member, or an echo longer than a header: ignored.
        let data = Header {
            kind: Kind::Data,
            ..Header::echo_request(1)
        };
        assert_eq!(ask(&mut unconfigured, data, HEADER_LEN, None, client), None);
        assert_eq!(ask(&mut open, echo, HEADER_LEN + 1, None, client), None);
        assert!(!open.has_transmits());
    }

    /// A configured member answers its previous member's challenge with the ring key's tag
    /// over the nonce and its own index, in a datagram of the challenge's size; a
    /// challenge from another host, an answer, a short challenge, or any challenge to a
    /// member without a key gets nothing.
    #[test]
    fn challenges_are_answered_with_the_ring_key_only_to_the_previous_member() {
        use crate::wire::CHALLENGE_LEN;
        let key = RingKey::from_bytes([9; 32]);
        let prev = setup(None).prev_peer;
        let mut pool = Pool::new(1, 256, 0);
        let mut challenge = |endpoint: &mut Endpoint, from: SocketAddr, len: usize, answer| {
            let slot = pool.slot(0);
            Header::challenge(77).encode(&mut slot[..CHALLENGE_LEN]);
            if answer {
                Header::make_challenge_answer(&mut slot[..CHALLENGE_LEN], &[0; 32]);
            }
            endpoint.handle_receive(receive(len, from), &mut pool);
            let t = endpoint.poll_transmit(0, &mut pool)?;
            assert_eq!((t.len, t.destination), (len, Destination::Source));
            Header::challenge_answer(&pool.slot(0)[..t.len]).map(|(n, tag)| (n, tag.to_vec()))
        };
        let mut keyed = Endpoint::new(setup(Some(key)), Offload::default(), false).unwrap();
        let (nonce, tag) = challenge(&mut keyed, prev, CHALLENGE_LEN, false).unwrap();
        assert_eq!(nonce, 77);
        assert!(key.verify_challenge_answer(77, 2, &tag));
        let stranger = SocketAddr::from(([127, 0, 0, 2], 5000));
        assert_eq!(challenge(&mut keyed, stranger, CHALLENGE_LEN, false), None);
        assert_eq!(challenge(&mut keyed, prev, CHALLENGE_LEN, true), None);
        assert_eq!(challenge(&mut keyed, prev, HEADER_LEN, false), None);
        let mut keyless = Endpoint::new(setup(None), Offload::default(), false).unwrap();
        assert_eq!(challenge(&mut keyless, prev, CHALLENGE_LEN, false), None);
        assert_eq!(
            challenge(
                &mut Endpoint::unconfigured(false),
                prev,
                CHALLENGE_LEN,
                false
            ),
            None
        );
        assert_eq!(keyed.io().echoes, 1);
    }

    /// A source's bucket holds `ANSWER_BURST` answers and refills at `ANSWER_RATE` per
    /// second, fractions kept; another source has its own bucket.
    #[test]
    fn answers_refill_at_the_rate_per_source() {
        let mut limit = AnswerLimit::new();
        let a = Some(IpAddr::from([198, 18, 0, 1]));
        let b = Some(IpAddr::from([198, 18, 0, 2]));
        assert_ne!(slot_of(a), slot_of(b));
        let answered = |limit: &mut AnswerLimit, source, now, n: u32| {
            (0..n).filter(|_| limit.allow(source, now)).count()
        };
        let t0 = 1_000_000_000;
        assert_eq!(answered(&mut limit, a, t0, 300), ANSWER_BURST as usize);
        assert_eq!(answered(&mut limit, b, t0, 10), 10);
        // 125 ms earn 128 answers at 1024/s; 1 ms earns 1.024, so 1 answer and a fraction.
        assert_eq!(answered(&mut limit, a, t0 + 125_000_000, 300), 128);
        assert_eq!(answered(&mut limit, a, t0 + 126_000_000, 300), 1);
        assert_eq!(answered(&mut limit, a, t0 + 126_500_000, 300), 0);
        // Ten seconds later the bucket is full again, not fuller.
        assert_eq!(
            answered(&mut limit, a, t0 + 10_000_000_000, 1000),
            ANSWER_BURST as usize
        );
    }

    #[test]
    fn a_refused_gso_send_is_queued_again_datagram_by_datagram() {
        let mut endpoint = Endpoint::unconfigured(false);
        endpoint.gso_segment = 1000;
        let mut pool = Pool::new(1, 4096, 0);
        let t = Transmit {
            buffer: BufferId::Receive(0),
            offset: 16,
            len: 2500,
            segment_size: Some(1000),
            destination: Destination::Next,
        };
        assert!(endpoint.handle_send_result(&t, Err(libc::EINVAL)));
        assert_eq!(endpoint.gso_segment(), 0, "GSO is off from now on");
        let resent: Vec<(usize, usize, Option<usize>)> =
            std::iter::from_fn(|| endpoint.poll_transmit(0, &mut pool))
                .map(|t| (t.offset, t.len, t.segment_size))
                .collect();
        assert_eq!(
            resent,
            vec![(16, 1000, None), (1016, 1000, None), (2016, 500, None)]
        );
        // Other errors count every datagram the send carried; EMSGSIZE also as too big.
        assert!(!endpoint.handle_send_result(&t, Err(libc::EMSGSIZE)));
        assert!(!endpoint.handle_send_result(&t, Err(libc::EAGAIN)));
        assert!(!endpoint.handle_send_result(&t, Ok(())));
        let io = endpoint.io();
        assert_eq!(
            (
                io.gso_refused,
                io.send_errors,
                io.send_too_big,
                io.gso_sends
            ),
            (1, 6, 3, 1)
        );
    }

    #[test]
    fn splits_received_bytes_into_segments() {
        let all = |offset, len, segment| segments(offset, len, segment).collect::<Vec<_>>();
        assert_eq!(all(10, 1000, 0), vec![(10, 1000)]);
        assert_eq!(all(10, 1000, 1000), vec![(10, 1000)]);
        assert_eq!(all(10, 1000, 4000), vec![(10, 1000)]);
        assert_eq!(all(0, 1000, 400), vec![(0, 400), (400, 400), (800, 200)]);
        assert_eq!(all(5, 800, 400), vec![(5, 400), (405, 400)]);
        assert_eq!(all(7, 0, 400), vec![(7, 0)]);
        // Every byte exactly once, in order, for many shapes.
        for len in 0..300 {
            for segment in [0, 1, 7, 64, 299, 300] {
                let parts = all(3, len, segment);
                let mut at = 3;
                for &(offset, n) in &parts {
                    assert_eq!(offset, at);
                    assert!(segment == 0 || n <= segment);
                    at += n;
                }
                assert_eq!(at, 3 + len);
            }
        }
    }
}
