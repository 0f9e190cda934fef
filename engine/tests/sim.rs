//! A ring of members over simulated links with a simulated clock, in the style of
//! quinn-proto's `tests/util.rs`: no sockets, no threads, no wall clock.
//!
//! Every member is the production data-path core, an [`Endpoint`] with its receive pool,
//! driven as the io_uring and syscall backends drive it: a datagram is copied into a free
//! receive buffer and handed in with [`Endpoint::handle_receive`], and what the endpoint
//! has to send comes out of [`Endpoint::poll_transmit`] and goes on the member's outgoing
//! link (a GSO transmit as the kernel segments it). Link `i` carries datagrams from member
//! `i` to member `(i + 1) % n` after a fixed latency, with deterministic faults chosen per
//! link by sequence number (drop, duplicate, delay); a link with GRO delivers the
//! datagrams of one GSO send as one receive, as loopback and veth do. The clock jumps from
//! event to event (the next delivery or the next `poll_timeout`). Latencies stay below
//! 2048 ns so the HDR histogram records them exactly and the tests can assert exact values.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use stillepost_engine::auth::RingKey;
use stillepost_engine::endpoint::{BufferId, Destination, Endpoint, Offload, Receive, RingSetup};
use stillepost_engine::pool::Pool;
use stillepost_engine::tour::{
    Counters, DropReason, Nanos, Phase, RingPosition, TourConfig, TourMachine, Verdict,
};
use stillepost_engine::wire::{Header, Kind, write_message};

/// One-way latency of every link.
const LATENCY_NS: Nanos = 100;
/// Ring of three members: a message's tour takes three link latencies.
const RING_LATENCY_NS: Nanos = 3 * LATENCY_NS;
const MEMBER_TIMEOUT_NS: Nanos = 1_000_000;
const TOUR_ID: u64 = 42;
const MSG_LEN: u32 = 100;
/// No test needs more than a few thousand events; a bug that loops is stopped here.
const MAX_STEPS: usize = 100_000;

/// Deterministic faults of one link, keyed by the datagram's sequence number.
#[derive(Debug, Default, Clone)]
struct Faults {
    /// Datagrams with these sequence numbers never arrive.
    drop: BTreeSet<u32>,
    /// Datagrams with these sequence numbers arrive twice (the copy right after the original).
    duplicate: BTreeSet<u32>,
    /// Extra latency for these sequence numbers, so they arrive after later ones.
    delay: BTreeMap<u32, Nanos>,
    /// Fragments `(seq, index)` that never arrive.
    drop_fragment: BTreeSet<(u32, u32)>,
}

#[derive(Debug)]
struct InFlight {
    deliver_at: Nanos,
    /// Send order, so datagrams due at the same instant arrive in the order they were sent.
    serial: u64,
    bytes: Vec<u8>,
    /// GRO: the bytes are datagrams of this size, coalesced into one receive.
    segment: Option<usize>,
    /// Who sent it (the source address the receiver sees).
    source: SocketAddr,
}

#[derive(Debug)]
struct Link {
    faults: Faults,
    /// Deliver the datagrams of one GSO send as one receive (UDP GRO).
    gro: bool,
    queue: Vec<InFlight>,
    dropped: u64,
    duplicated: u64,
}

/// One receive handed to a member, as the test sees it afterwards.
#[derive(Debug, Clone)]
struct Delivery {
    at: Nanos,
    to: usize,
    /// The (first) header as it arrived, before the endpoint rewrote it.
    header: Option<Header>,
    /// The verdict on the receive's last datagram.
    verdict: Option<Verdict>,
    /// Datagrams in the receive (several when GRO coalesced them).
    datagrams: usize,
}

/// One member: the production endpoint and the buffers a backend would own.
#[derive(Debug)]
struct Member {
    endpoint: Endpoint,
    pool: Pool,
    send_pool: Pool,
    /// Refuse every GSO send with EINVAL, as a device that cannot segment.
    refuse_gso: bool,
    /// Every send this member made: its size and GSO segment size.
    sends: Vec<(usize, Option<usize>)>,
}

#[derive(Debug)]
struct Sim {
    now: Nanos,
    members: Vec<Member>,
    /// `links[i]` goes from member `i` to member `i + 1` (mod n).
    links: Vec<Link>,
    next_serial: u64,
    trace: Vec<Delivery>,
    /// Answers (echo, clock probe) each member sent back: to whom, and the bytes.
    answers: Vec<(usize, SocketAddr, Vec<u8>)>,
    /// Largest `sent - received` the origin ever had right after a send.
    max_in_flight: u64,
    /// When the origin's tour ended (complete or timed out).
    finished_at: Option<Nanos>,
    /// How far each member's clock is ahead of the simulated time (0: one clock).
    skew: Vec<i64>,
    /// The origin sends nothing from `.0` until `.1` (a stalled sender).
    stall: Option<(Nanos, Nanos)>,
}

/// Member `m`'s peer address.
fn addr(m: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20_000 + m as u16))
}

impl Sim {
    /// A ring of `n` members, every one prepared for [`TOUR_ID`]; the origin is not started.
    fn new(n: u32, config: TourConfig) -> Sim {
        Sim::with_offload(n, config, Offload::default())
    }

    /// A ring whose members may use `offload` (GSO and GRO for fragmented messages); its
    /// links coalesce GSO sends when `offload.gro`.
    fn with_offload(n: u32, config: TourConfig, offload: Offload) -> Sim {
        Sim::build(n, config, offload, None)
    }

    /// A ring whose members were given `key` (as the coordinator gives one at every
    /// configure): every tour datagram is tagged.
    fn with_key(n: u32, config: TourConfig, key: RingKey) -> Sim {
        Sim::build(n, config, Offload::default(), Some(key))
    }

    fn build(n: u32, config: TourConfig, offload: Offload, ring_key: Option<RingKey>) -> Sim {
        let members = (0..n as usize)
            .map(|index| {
                let setup = RingSetup {
                    position: RingPosition {
                        index: index as u32,
                        ring_len: n,
                    },
                    config,
                    next_peer: addr((index + 1) % n as usize),
                    prev_peer: addr((index + n as usize - 1) % n as usize),
                    ring_key,
                    echo_key: ring_key.map(|k| k.echo_key()),
                    dscp: 0,
                };
                let mut endpoint = match Endpoint::new(setup, offload, false) {
                    Ok(e) => e,
                    Err(e) => panic!("member {index}: {e}"),
                };
                let buffers = config.count + 64;
                endpoint.reserve(buffers, 1);
                assert!(endpoint.prepare(TOUR_ID, 0));
                let buffer_len = if endpoint.gro() {
                    65_536
                } else {
                    endpoint.datagram() + 1
                };
                let send_len = endpoint.send_batch() * endpoint.datagram();
                Member {
                    endpoint,
                    pool: Pool::new(buffers, buffer_len, 0),
                    send_pool: Pool::new(1, send_len, 0),
                    refuse_gso: false,
                    sends: Vec::new(),
                }
            })
            .collect();
        let links = (0..n)
            .map(|_| Link {
                faults: Faults::default(),
                gro: offload.gro,
                queue: Vec::new(),
                dropped: 0,
                duplicated: 0,
            })
            .collect();
        Sim {
            now: 0,
            members,
            links,
            next_serial: 0,
            trace: Vec::new(),
            answers: Vec::new(),
            max_in_flight: 0,
            finished_at: None,
            skew: vec![0; n as usize],
            stall: None,
        }
    }

    fn with_faults(mut self, link: usize, faults: Faults) -> Sim {
        self.links[link].faults = faults;
        self
    }

    /// Member `m`'s tour state machine.
    fn machine(&self, m: usize) -> &TourMachine {
        self.members[m].endpoint.machine().unwrap()
    }

    fn machine_mut(&mut self, m: usize) -> &mut TourMachine {
        self.members[m].endpoint.machine_mut().unwrap()
    }

    /// Puts raw bytes on the link into `to`, due now, bypassing the link's faults.
    fn inject(&mut self, to: usize, bytes: Vec<u8>) {
        let n = self.members.len();
        let from = (to + n - 1) % n;
        self.inject_from(to, addr(from), bytes);
    }

    /// Puts raw bytes from `source` on the link into `to`, due now.
    fn inject_from(&mut self, to: usize, source: SocketAddr, bytes: Vec<u8>) {
        let n = self.members.len();
        let link = (to + n - 1) % n;
        let serial = self.take_serial();
        self.links[link].queue.push(InFlight {
            deliver_at: self.now,
            serial,
            bytes,
            segment: None,
            source,
        });
    }

    fn take_serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    /// Member `from` sends the datagrams in `bytes` (of `segment` bytes each with GSO) on
    /// its outgoing link; the link's faults apply to each.
    fn send(&mut self, from: usize, bytes: &[u8], segment: Option<usize>) {
        let mut survivors: Vec<(Vec<u8>, Nanos)> = Vec::new();
        for datagram in bytes.chunks(segment.unwrap_or(bytes.len()).max(1)) {
            let Ok(header) = Header::decode(datagram) else {
                panic!("member {from} sent bytes that do not decode");
            };
            let link = &self.links[from];
            if link.faults.drop.contains(&header.seq)
                || link
                    .faults
                    .drop_fragment
                    .contains(&(header.seq, header.frag_index))
            {
                self.links[from].dropped += 1;
                continue;
            }
            let extra = link.faults.delay.get(&header.seq).copied().unwrap_or(0);
            let deliver_at = self.now + LATENCY_NS + extra;
            if link.faults.duplicate.contains(&header.seq) {
                self.links[from].duplicated += 1;
                survivors.push((datagram.to_vec(), deliver_at));
            }
            survivors.push((datagram.to_vec(), deliver_at));
        }
        let coalesce = self.links[from].gro && segment.is_some();
        let mut i = 0;
        while i < survivors.len() {
            // GRO: datagrams of one send due together arrive as one receive.
            let mut j = i + 1;
            if coalesce {
                while j < survivors.len()
                    && survivors[j].1 == survivors[i].1
                    && survivors[j - 1].0.len() == segment.unwrap_or(0)
                {
                    j += 1;
                }
            }
            let bytes: Vec<u8> = survivors[i..j]
                .iter()
                .flat_map(|(d, _)| d.clone())
                .collect();
            let serial = self.take_serial();
            self.links[from].queue.push(InFlight {
                deliver_at: survivors[i].1,
                serial,
                bytes,
                segment: (j - i > 1).then_some(segment.unwrap_or(0)),
                source: addr(from),
            });
            i = j;
        }
    }

    /// Member `m` sends everything its endpoint has to send, as a backend does. `reply`
    /// is the source of the receive just handed in.
    fn transmit(&mut self, m: usize, reply: Option<SocketAddr>) {
        let now = self.local_time(m);
        loop {
            let member = &mut self.members[m];
            let Some(t) = member.endpoint.poll_transmit(now, &mut member.pool) else {
                break;
            };
            let bytes = match t.buffer {
                BufferId::Receive(bid) => {
                    member.pool.slot(bid)[t.offset..t.offset + t.len].to_vec()
                }
                BufferId::Send(slot) => {
                    member.send_pool.payload(slot)[t.offset..t.offset + t.len].to_vec()
                }
                BufferId::Held => {
                    member.endpoint.hold_store().bytes_mut()[t.offset..t.offset + t.len].to_vec()
                }
            };
            if member.refuse_gso && t.segment_size.is_some() {
                // The endpoint queues the datagrams again, one by one.
                assert!(member.endpoint.handle_send_result(&t, Err(libc::EINVAL)));
                continue;
            }
            member.endpoint.handle_send_result(&t, Ok(()));
            member.sends.push((t.len, t.segment_size));
            match t.destination {
                Destination::Next => self.send(m, &bytes, t.segment_size),
                Destination::Source => {
                    let to = reply.expect("answers are polled right after their receive");
                    self.answers.push((m, to, bytes));
                }
            }
        }
    }

    /// The origin sends while its window and count allow, as the data plane's origin step.
    fn origin_sends(&mut self) {
        if self.stalled() {
            return;
        }
        while self.machine(0).wants_to_send(self.local_time(0)) {
            let now = self.local_time(0);
            let origin = &mut self.members[0];
            let buf = origin.send_pool.payload(0);
            assert!(
                origin.endpoint.fill_send_slot(now, 0, buf),
                "wants_to_send() was true but the endpoint wrote nothing"
            );
            let machine = self.machine(0);
            let in_flight = machine.counters().sent - machine.counters().received;
            assert!(
                in_flight <= u64::from(machine.config().window),
                "origin has {in_flight} messages in flight, window is {}",
                machine.config().window
            );
            self.max_in_flight = self.max_in_flight.max(in_flight);
            self.transmit(0, None);
        }
    }

    /// Delivers the receive at `queue[index]` of `link` to the link's receiving member.
    fn deliver(&mut self, link: usize, index: usize) {
        let n = self.members.len();
        let to = (link + 1) % n;
        let arrived = self.links[link].queue.swap_remove(index);
        let header = Header::decode(&arrived.bytes).ok();
        let local = self.local_time(to);
        let member = &mut self.members[to];
        let bid = member.pool.take().expect("a free receive buffer");
        // What does not fit the buffer is cut off, as the kernel truncates a datagram.
        let slot = member.pool.slot(bid);
        let len = arrived.bytes.len().min(slot.len());
        slot[..len].copy_from_slice(&arrived.bytes[..len]);
        let handled = member.endpoint.handle_receive(
            Receive {
                buffer: bid,
                offset: 0,
                len,
                segment_size: arrived.segment,
                source: Some(arrived.source),
                now: local,
                kernel_stamp: true,
            },
            &mut member.pool,
        );
        self.trace.push(Delivery {
            at: self.now,
            to,
            header,
            verdict: handled.last,
            datagrams: arrived
                .segment
                .map_or(1, |s| arrived.bytes.len().div_ceil(s)),
        });
        self.transmit(to, Some(arrived.source));
        // Sent synchronously: the buffer is free (holding copies what it keeps).
        self.members[to].pool.put(bid);
        self.note_finished();
    }

    fn stalled(&self) -> bool {
        self.stall
            .is_some_and(|(from, until)| from <= self.now && self.now < until)
    }

    /// Member `m`'s clock now.
    fn local_time(&self, m: usize) -> Nanos {
        self.now.wrapping_add_signed(self.skew[m])
    }

    fn note_finished(&mut self) {
        if self.finished_at.is_none() && self.machine(0).is_finished() {
            self.finished_at = Some(self.now);
        }
    }

    /// One event: the origin sends what it may, then the clock jumps to the earliest of the
    /// next delivery and the next timeout and handles it. A delivery due at the same instant
    /// as a timeout goes first. Returns false when nothing is left to happen.
    fn step(&mut self) -> bool {
        self.origin_sends();
        let next_delivery = self
            .links
            .iter()
            .enumerate()
            .flat_map(|(link, l)| {
                l.queue
                    .iter()
                    .enumerate()
                    .map(move |(index, d)| (d.deliver_at, d.serial, link, index))
            })
            .min();
        // A stalled origin acts again when the stall ends, whatever is due before.
        let resume = self
            .stall
            .filter(|_| self.stalled())
            .map_or(0, |(_, until)| until);
        let next_timeout = (0..self.members.len())
            .filter_map(|m| self.machine(m).poll_timeout())
            .map(|t| t.max(resume))
            .min();
        match (next_delivery, next_timeout) {
            (None, None) => false,
            (Some((at, _, link, index)), timeout) if timeout.is_none_or(|t| at <= t) => {
                assert!(at >= self.now, "the clock never goes back");
                self.now = at;
                self.deliver(link, index);
                true
            }
            (_, Some(deadline)) => {
                self.now = self.now.max(deadline);
                for m in 0..self.members.len() {
                    let now = self.now;
                    let machine = self.machine_mut(m);
                    if machine.poll_timeout().is_some_and(|t| t <= now) {
                        machine.handle_timeout(now);
                    }
                }
                self.note_finished();
                true
            }
            (Some(_), None) => unreachable!("the guard above takes every delivery without timeout"),
        }
    }

    /// Starts the origin now and runs until nothing is left to happen.
    fn run(&mut self) {
        let now = self.local_time(0);
        self.machine_mut(0).start(now);
        let mut steps = 0;
        while self.step() {
            steps += 1;
            assert!(steps < MAX_STEPS, "simulation did not settle");
        }
    }

    fn counters(&self, member: usize) -> &Counters {
        self.machine(member).counters()
    }

    fn deliveries_to(&self, member: usize) -> impl Iterator<Item = (usize, &Delivery)> {
        self.trace
            .iter()
            .enumerate()
            .filter(move |(_, d)| d.to == member)
    }
}

fn config(count: u32, window: u32, forward_immediately: bool) -> TourConfig {
    TourConfig {
        count,
        msg_len: MSG_LEN,
        window,
        forward_immediately,
        member_timeout_ns: MEMBER_TIMEOUT_NS,
        warmup: 0,
        interval_ns: 0,
        max_datagram: 0,
        max_buffer_memory: 0,
    }
}

/// A one-datagram message of tour `tour_id` as a member would send it (untagged).
fn data_datagram(tour_id: u64, seq: u32, hop: u16) -> Vec<u8> {
    let mut buf = vec![0u8; MSG_LEN as usize];
    let header = Header {
        kind: Kind::Data,
        flags: 0,
        tour_id,
        seq,
        frag_index: 0,
        frag_count: 1,
        msg_len: MSG_LEN,
        hop,
        prev_send_ns: 0,
        origin_send_ns: 0,
    };
    write_message(&mut buf, &header);
    buf
}

fn seqs(list: &[u32]) -> BTreeSet<u32> {
    list.iter().copied().collect()
}

/// Counters of a forwarder that got and forwarded `n` messages and nothing else.
fn forwarded_all(n: u64) -> Counters {
    Counters {
        received: n,
        forwarded: n,
        ..Counters::default()
    }
}

/// Counters of an origin that sent `sent` and got `received` back, nothing else.
fn origin_counters(sent: u64, received: u64) -> Counters {
    Counters {
        sent,
        received,
        ..Counters::default()
    }
}

#[test]
fn forward_immediately_without_faults_completes() {
    let mut sim = Sim::new(3, config(100, 100, true));
    sim.run();

    let origin = sim.machine(0);
    assert_eq!(origin.phase(), Phase::Complete);
    assert_eq!(sim.counters(0), &origin_counters(100, 100));
    assert_eq!(sim.counters(1), &forwarded_all(100));
    assert_eq!(sim.counters(2), &forwarded_all(100));
    let h = origin.tour_latency();
    assert_eq!(h.len(), 100);
    assert_eq!(h.min(), RING_LATENCY_NS);
    assert_eq!(h.max(), RING_LATENCY_NS);
    assert_eq!(origin.first_send_ns(), Some(0));
    assert_eq!(origin.last_receive_ns(), Some(RING_LATENCY_NS));
    assert_eq!(sim.finished_at, Some(RING_LATENCY_NS));
    assert_eq!(
        origin.poll_timeout(),
        None,
        "a complete tour has no timeout"
    );
    // Every hop sees the hop count its position expects, stamped with the sender's time.
    for (member, hop, sent_at) in [(1, 0, 0), (2, 1, LATENCY_NS), (0, 2, 2 * LATENCY_NS)] {
        let hops: Vec<(u16, Nanos)> = sim
            .deliveries_to(member)
            .map(|(_, d)| {
                let h = d.header.unwrap();
                (h.hop, h.prev_send_ns)
            })
            .collect();
        assert_eq!(hops, vec![(hop, sent_at); 100], "member {member}");
    }
    // Every hop's one-way latency is the link's, exactly; nothing waits in a member; the
    // hops and residences add up to the tour.
    for member in 0..3 {
        let hop = sim.machine(member).hop_latency();
        assert_eq!(
            (hop.len(), hop.min(), hop.max()),
            (100, LATENCY_NS, LATENCY_NS)
        );
        // A link of constant latency varies by nothing between consecutive messages.
        let ipdv = sim.machine(member).hop_ipdv();
        assert_eq!((ipdv.len(), ipdv.max()), (99, 0), "member {member}");
        assert_eq!(sim.machine(member).negative_hops(), 0);
    }
    for member in 1..3 {
        let residence = sim.machine(member).residence();
        assert_eq!((residence.len(), residence.max()), (100, 0));
    }
}

#[test]
fn hold_mode_residence_is_the_wait_for_the_last_message() {
    // Seq 0 is delayed by 200 ns on the first link, so member 1 holds 99 messages from
    // t = 100 until seq 0 arrives at t = 300 and releases them all.
    let faults = Faults {
        delay: [(0, 200)].into(),
        ..Faults::default()
    };
    let mut sim = Sim::new(3, config(100, 100, false)).with_faults(0, faults);
    sim.run();
    assert_eq!(sim.machine(0).phase(), Phase::Complete);
    let residence = sim.machine(1).residence();
    assert_eq!(residence.len(), 100);
    assert_eq!(residence.min(), 0, "seq 0 leaves as it arrives");
    assert_eq!(residence.max(), 200, "the others waited 200 ns");
    assert_eq!(residence.count_at(200), 99);
    let hop = sim.machine(1).hop_latency();
    assert_eq!((hop.min(), hop.max()), (LATENCY_NS, LATENCY_NS + 200));
}

#[test]
fn hold_mode_forwards_only_after_the_last_message() {
    let mut sim = Sim::new(3, config(100, 100, false));
    sim.run();

    let origin = sim.machine(0);
    assert_eq!(origin.phase(), Phase::Complete);
    assert_eq!(sim.counters(0), &origin_counters(100, 100));
    // After the flush nothing is held any more: `held` counts what is still waiting.
    assert_eq!(sim.counters(1), &forwarded_all(100));
    assert_eq!(sim.counters(2), &forwarded_all(100));
    assert!((0..3).all(|m| sim.counters(m).held == 0));
    let h = origin.tour_latency();
    assert_eq!(h.len(), 100);
    assert_eq!(h.min(), RING_LATENCY_NS);

    for member in [1, 2] {
        let verdicts: Vec<Option<Verdict>> =
            sim.deliveries_to(member).map(|(_, d)| d.verdict).collect();
        let mut expected = vec![Some(Verdict::Hold); 99];
        expected.push(Some(Verdict::FlushHeld));
        assert_eq!(verdicts, expected, "member {member}");
    }
    let (flush_index, flush) = sim
        .deliveries_to(1)
        .find(|(_, d)| d.verdict == Some(Verdict::FlushHeld))
        .unwrap();
    assert_eq!(flush.header.unwrap().seq, 99);
    assert_eq!(flush.at, LATENCY_NS);
    // Nothing reached member 2 before member 1 had the 100th message; every datagram it got
    // was sent at the flush, in member 1's arrival order.
    let at_member_2: Vec<(usize, Delivery)> =
        sim.deliveries_to(2).map(|(i, d)| (i, d.clone())).collect();
    assert_eq!(at_member_2.len(), 100);
    for (seq, (index, d)) in at_member_2.iter().enumerate() {
        assert!(*index > flush_index);
        let h = d.header.unwrap();
        assert_eq!((h.seq, h.hop, h.prev_send_ns), (seq as u32, 1, LATENCY_NS));
        assert_eq!(d.at, 2 * LATENCY_NS);
    }
}

#[test]
fn loss_times_out_at_member_timeout_after_the_last_arrival() {
    let faults = Faults {
        drop: seqs(&[3, 50, 99]),
        ..Faults::default()
    };
    let mut sim = Sim::new(3, config(100, 100, true)).with_faults(1, faults);
    sim.run();

    let origin = sim.machine(0);
    assert_eq!(origin.phase(), Phase::TimedOut);
    assert_eq!(sim.links[1].dropped, 3);
    assert_eq!(sim.counters(0), &origin_counters(100, 97));
    assert_eq!(sim.counters(1), &forwarded_all(100));
    assert_eq!(sim.counters(2), &forwarded_all(97));
    assert_eq!(origin.tour_latency().len(), 97);
    // The last activity was the last arrival at the origin; the tour ends exactly one
    // member timeout later, not a nanosecond earlier.
    assert_eq!(origin.last_receive_ns(), Some(RING_LATENCY_NS));
    assert_eq!(sim.finished_at, Some(RING_LATENCY_NS + MEMBER_TIMEOUT_NS));
    assert_eq!(sim.now, RING_LATENCY_NS + MEMBER_TIMEOUT_NS);
    let lost: Vec<u32> = (0..100)
        .filter(|seq| {
            !sim.deliveries_to(0)
                .any(|(_, d)| d.header.is_some_and(|h| h.seq == *seq))
        })
        .collect();
    assert_eq!(lost, vec![3, 50, 99]);
}

#[test]
fn duplicates_are_counted_and_not_forwarded() {
    let faults = Faults {
        duplicate: seqs(&[0, 10, 20, 30]),
        ..Faults::default()
    };
    let mut sim = Sim::new(3, config(100, 100, true)).with_faults(0, faults);
    sim.run();

    assert_eq!(sim.machine(0).phase(), Phase::Complete);
    assert_eq!(sim.links[0].duplicated, 4);
    assert_eq!(
        sim.counters(1),
        &Counters {
            duplicates: 4,
            ..forwarded_all(100)
        }
    );
    assert_eq!(sim.counters(2), &forwarded_all(100));
    assert_eq!(sim.counters(0), &origin_counters(100, 100));
    assert_eq!(sim.machine(0).tour_latency().len(), 100);
    let dropped: Vec<u32> = sim
        .deliveries_to(1)
        .filter(|(_, d)| d.verdict == Some(Verdict::Dropped(DropReason::Duplicate)))
        .map(|(_, d)| d.header.unwrap().seq)
        .collect();
    assert_eq!(dropped, vec![0, 10, 20, 30]);
}

#[test]
fn late_messages_are_counted_as_reordered_downstream() {
    const EXTRA_NS: Nanos = 500;
    let faults = Faults {
        delay: [(5, EXTRA_NS), (6, EXTRA_NS), (7, EXTRA_NS)].into(),
        ..Faults::default()
    };
    let mut sim = Sim::new(3, config(100, 100, true)).with_faults(1, faults);
    sim.run();

    let origin = sim.machine(0);
    assert_eq!(origin.phase(), Phase::Complete);
    assert_eq!(sim.counters(1), &forwarded_all(100));
    // 5, 6 and 7 arrive at member 2 after 99, and member 2 forwards them in that order,
    // so the origin sees them late too.
    let arrival: Vec<u32> = sim
        .deliveries_to(2)
        .map(|(_, d)| d.header.unwrap().seq)
        .collect();
    let mut expected: Vec<u32> = (0..5).chain(8..100).collect();
    expected.extend([5, 6, 7]);
    assert_eq!(arrival, expected);
    assert_eq!(
        sim.counters(2),
        &Counters {
            reordered: 3,
            ..forwarded_all(100)
        }
    );
    assert_eq!(
        sim.counters(0),
        &Counters {
            reordered: 3,
            ..origin_counters(100, 100)
        }
    );
    let h = origin.tour_latency();
    assert_eq!(h.len(), 100);
    assert_eq!(h.min(), RING_LATENCY_NS);
    assert_eq!(h.max(), RING_LATENCY_NS + EXTRA_NS);
    assert_eq!(h.count_at(RING_LATENCY_NS + EXTRA_NS), 3);
    assert_eq!(sim.finished_at, Some(RING_LATENCY_NS + EXTRA_NS));
}

#[test]
fn hold_mode_with_one_loss_holds_everything_until_the_timeout() {
    let faults = Faults {
        drop: seqs(&[42]),
        ..Faults::default()
    };
    let mut sim = Sim::new(3, config(100, 100, false)).with_faults(0, faults);
    sim.run();

    assert_eq!(sim.machine(0).phase(), Phase::TimedOut);
    // The origin's last activity was its last send, at 0.
    assert_eq!(sim.finished_at, Some(MEMBER_TIMEOUT_NS));
    assert_eq!(sim.counters(0), &origin_counters(100, 0));
    assert_eq!(sim.machine(0).tour_latency().len(), 0);
    assert_eq!(
        sim.counters(1),
        &Counters {
            received: 99,
            held: 99,
            ..Counters::default()
        }
    );
    assert_eq!(sim.counters(2), &Counters::default());
    assert_eq!(
        sim.machine_mut(1).end(),
        99,
        "end() reports the buffers to release"
    );
}

#[test]
fn window_of_one_is_ping_pong() {
    let mut sim = Sim::new(3, config(20, 1, true));
    sim.run();

    let origin = sim.machine(0);
    assert_eq!(origin.phase(), Phase::Complete);
    assert_eq!(sim.max_in_flight, 1);
    assert_eq!(sim.counters(0), &origin_counters(20, 20));
    assert_eq!(sim.counters(1), &forwarded_all(20));
    assert_eq!(sim.counters(2), &forwarded_all(20));
    assert_eq!(origin.first_send_ns(), Some(0));
    assert_eq!(origin.last_receive_ns(), Some(20 * RING_LATENCY_NS));
    assert_eq!(sim.finished_at, Some(20 * RING_LATENCY_NS));
    let h = origin.tour_latency();
    assert_eq!(
        (h.len(), h.min(), h.max()),
        (20, RING_LATENCY_NS, RING_LATENCY_NS)
    );
    // Message k leaves the origin when message k − 1 is back.
    let sent_at: Vec<Nanos> = sim
        .deliveries_to(1)
        .map(|(_, d)| d.header.unwrap().origin_send_ns)
        .collect();
    let expected: Vec<Nanos> = (0..20).map(|k| k * RING_LATENCY_NS).collect();
    assert_eq!(sent_at, expected);
}

#[test]
fn stale_tour_and_wrong_hop_are_dropped_and_counted() {
    let mut sim = Sim::new(3, config(100, 100, true));
    // A message of the previous tour, and one of this tour that claims to have travelled
    // further than member 1's position allows. Both use sequence numbers of this tour,
    // which must still be accepted when the real messages arrive.
    sim.inject(1, data_datagram(TOUR_ID - 1, 7, 0));
    sim.inject(1, data_datagram(TOUR_ID, 8, 2));
    sim.run();

    let verdicts: Vec<Option<Verdict>> = sim
        .deliveries_to(1)
        .take(2)
        .map(|(_, d)| d.verdict)
        .collect();
    assert_eq!(
        verdicts,
        vec![
            Some(Verdict::Dropped(DropReason::StaleTour)),
            Some(Verdict::Dropped(DropReason::WrongHop))
        ]
    );
    assert_eq!(
        sim.counters(1),
        &Counters {
            stale: 1,
            wrong_hop: 1,
            ..forwarded_all(100)
        }
    );
    assert_eq!(sim.counters(2), &forwarded_all(100));
    assert_eq!(sim.machine(0).phase(), Phase::Complete);
    assert_eq!(sim.counters(0), &origin_counters(100, 100));
}

#[test]
fn hold_mode_flushes_in_arrival_order() {
    const EXTRA_NS: Nanos = 200;
    let faults = Faults {
        delay: [(0, EXTRA_NS)].into(),
        ..Faults::default()
    };
    let mut sim = Sim::new(3, config(100, 100, false)).with_faults(0, faults);
    sim.run();

    assert_eq!(sim.machine(0).phase(), Phase::Complete);
    // Seq 0 arrives last at member 1, completes the set and triggers the flush; it goes out
    // last, so every member downstream sees it after 99 as well.
    let mut expected: Vec<u32> = (1..100).collect();
    expected.push(0);
    for member in [1, 2, 0] {
        let arrival: Vec<u32> = sim
            .deliveries_to(member)
            .map(|(_, d)| d.header.unwrap().seq)
            .collect();
        assert_eq!(arrival, expected, "member {member}");
    }
    let reordered_once = |c: Counters| Counters { reordered: 1, ..c };
    assert_eq!(sim.counters(1), &reordered_once(forwarded_all(100)));
    assert_eq!(sim.counters(2), &reordered_once(forwarded_all(100)));
    assert_eq!(sim.counters(0), &reordered_once(origin_counters(100, 100)));
    // All 100 were flushed at once, when seq 0 reached member 1.
    let h = sim.machine(0).tour_latency();
    assert_eq!(
        (h.len(), h.min(), h.max()),
        (100, RING_LATENCY_NS + EXTRA_NS, RING_LATENCY_NS + EXTRA_NS)
    );
}

/// Members on different hosts: each member's clock is the simulated time plus its own
/// offset. Uncorrected, hops come out as link latency ± the offset difference (negative
/// ones recorded as 0); corrected by NTP-style probes over the same links, the offset found
/// is exact (symmetric links) and every hop is the link's latency again.
#[test]
fn clock_offsets_found_by_probes_correct_every_hop() {
    use stillepost_engine::wire::ProbeTimes;
    // Member clocks ahead of the simulated time by these, ns.
    let skew: [i64; 3] = [0, 7_000_000, -2_500_000];
    let clock = |m: usize, t: Nanos| t.wrapping_add_signed(skew[m]);
    // One probe exchange from member `to` to its previous member over the links: the probe
    // and its answer each take LATENCY_NS, the answer leaves 1 µs after the probe arrived.
    let probe = |to: usize, from: usize, at: Nanos| ProbeTimes {
        t1: clock(to, at),
        t2: clock(from, at + LATENCY_NS),
        t3: clock(from, at + LATENCY_NS + 1_000),
        t4: clock(to, at + 2 * LATENCY_NS + 1_000),
    };
    for corrected in [false, true] {
        let mut sim = Sim::new(3, config(50, 1, true));
        sim.skew = skew.to_vec();
        // Start late enough that no member's clock is before its zero.
        sim.now = 1_000_000_000;
        if corrected {
            for to in 0..3 {
                let from = (to + 2) % 3;
                let times = probe(to, from, 1_000_000_000 + 1_000 * to as u64);
                assert_eq!(times.rtt_ns(), 2 * LATENCY_NS, "turnaround excluded");
                // This member's clock minus the previous one's.
                let offset = -times.offset_ns();
                assert_eq!(offset, skew[to] - skew[from]);
                sim.machine_mut(to).set_prev_clock_offset(offset);
            }
        }
        sim.run();
        assert_eq!(sim.machine(0).phase(), Phase::Complete);
        for m in 0..3 {
            let hop = sim.machine(m).hop_latency();
            let uncorrected = skew[m] - skew[(m + 2) % 3] + LATENCY_NS as i64;
            let (want, negative) = match (corrected, uncorrected < 0) {
                (true, _) => (LATENCY_NS, 0),
                (false, true) => (0, 50),
                (false, false) => (uncorrected as u64, 0),
            };
            assert!(
                hop.equivalent(hop.min(), want) && hop.equivalent(hop.max(), want),
                "corrected {corrected}, member {m}: hop {}..{} ns, want {want}",
                hop.min(),
                hop.max()
            );
            assert_eq!(sim.machine(m).negative_hops(), negative, "member {m}");
        }
        // The tour is on the origin's one clock either way.
        let tour = sim.machine(0).tour_latency();
        assert_eq!((tour.min(), tour.max()), (RING_LATENCY_NS, RING_LATENCY_NS));
    }
}

/// Open loop with a stalled sender: message k is due at k × 1 µs; the origin stalls right
/// after sending message 10 and sends again 20 µs later, when messages 11..=30 are all
/// overdue and leave at once. Measured from their actual send, every message takes the
/// ring's latency; measured from their intended send, the ones that waited show it: the
/// corrected tail is longer than the raw one by the stall minus one interval, and exactly
/// the 19 messages that waited are above the ring's latency.
#[test]
fn open_loop_keeps_the_schedule_and_corrects_for_a_stalled_sender() {
    const INTERVAL: Nanos = 1_000;
    let mut sim = Sim::new(
        3,
        TourConfig {
            interval_ns: INTERVAL,
            ..config(100, 100, true)
        },
    );
    // Message 10 leaves at 10 µs; nothing leaves from then until 30 µs.
    sim.stall = Some((10 * INTERVAL + 1, 30 * INTERVAL));
    sim.run();
    let origin = sim.machine(0);
    assert_eq!(origin.phase(), Phase::Complete);
    assert_eq!(sim.counters(0), &origin_counters(100, 100));
    // Sends followed the schedule, except for the ones the stall held back.
    let sent_at: Vec<Nanos> = sim
        .deliveries_to(1)
        .map(|(_, d)| d.header.unwrap().origin_send_ns)
        .collect();
    for (seq, at) in sent_at.iter().enumerate() {
        let want = match seq as u64 {
            s @ 0..=10 | s @ 30.. => s * INTERVAL,
            _ => 30 * INTERVAL,
        };
        assert_eq!(*at, want, "message {seq}");
    }
    let raw = origin.tour_latency();
    let corrected = origin.tour_latency_corrected();
    assert_eq!((raw.len(), corrected.len()), (100, 100));
    assert_eq!((raw.min(), raw.max()), (RING_LATENCY_NS, RING_LATENCY_NS));
    assert!(corrected.equivalent(corrected.max(), RING_LATENCY_NS + 19 * INTERVAL));
    assert_eq!(corrected.min(), RING_LATENCY_NS);
    assert_eq!(
        corrected.count_between(RING_LATENCY_NS + 1, u64::MAX),
        19,
        "messages 11..=29 waited for the stall"
    );
    // Closed loop keeps no corrected histogram.
    let mut closed = Sim::new(3, config(10, 10, true));
    closed.run();
    assert!(closed.machine(0).tour_latency_corrected().is_empty());
}

/// Messages of 3 fragments (300 payload bytes in datagrams of at most 164 B): members
/// forward each fragment as it arrives (cut-through) and count a message when its last
/// fragment is in. Every hop is the link's latency, as for whole messages; duplicated
/// fragments are dropped and counted; a message missing one fragment is lost at that hop,
/// and its other fragments still went on.
#[test]
fn fragments_travel_cut_through_and_messages_count_when_whole() {
    let config = TourConfig {
        msg_len: 64 + 300,
        max_datagram: 164,
        ..config(20, 20, true)
    };
    assert_eq!(config.plan().unwrap().count(), 3);
    let mut faults = Faults::default();
    faults.duplicate.insert(5); // all three fragments of message 5, twice, on link 0→1
    let mut lossy = Faults::default();
    lossy.drop_fragment.insert((7, 1)); // the middle fragment of message 7 on link 1→2
    let mut sim = Sim::new(3, config)
        .with_faults(0, faults)
        .with_faults(1, lossy);
    sim.run();
    let origin = sim.machine(0);
    assert_eq!(origin.phase(), Phase::TimedOut, "message 7 never came back");
    assert_eq!(
        (origin.counters().sent, origin.counters().received),
        (20, 19)
    );
    let m1 = sim.counters(1);
    assert_eq!((m1.received, m1.forwarded), (20, 20));
    assert_eq!(m1.duplicate_fragments, 3);
    assert_eq!(
        m1.forwarded_fragments,
        20 * 2,
        "all but each message's last fragment"
    );
    let m2 = sim.counters(2);
    assert_eq!(
        (m2.received, m2.forwarded),
        (19, 19),
        "message 7 stays incomplete"
    );
    // Fragments 0 and 2 of message 7 went on before the message was known to be whole.
    assert_eq!(m2.forwarded_fragments, 19 * 2 + 2);
    for m in 0..3 {
        let hop = sim.machine(m).hop_latency();
        assert_eq!(
            (hop.min(), hop.max()),
            (LATENCY_NS, LATENCY_NS),
            "member {m}"
        );
    }
    for m in 1..3 {
        let residence = sim.machine(m).residence();
        assert_eq!(
            residence.len(),
            sim.counters(m).received,
            "one per whole message"
        );
        assert_eq!(residence.max(), 0);
    }
    let tour = sim.machine(0).tour_latency();
    assert_eq!(
        (tour.len(), tour.min(), tour.max()),
        (19, RING_LATENCY_NS, RING_LATENCY_NS)
    );
}

/// Hold mode with messages of three fragments, one of message 5's duplicated on the way
/// in: each forwarder holds every fragment (copies; no receive buffer is kept) until the
/// last message is whole, then sends them all on in arrival order. Nothing is forwarded
/// early, residence is recorded once per message, and the tour completes exactly.
#[test]
fn hold_mode_holds_fragmented_messages_until_the_last_one_is_whole() {
    const COUNT: u64 = 20;
    let config = TourConfig {
        msg_len: 64 + 300,
        max_datagram: 164,
        ..config(COUNT as u32, COUNT as u32, false)
    };
    assert_eq!(config.plan().unwrap().count(), 3);
    let mut faults = Faults::default();
    faults.duplicate.insert(5);
    let mut sim = Sim::new(3, config).with_faults(0, faults);
    sim.run();
    assert_eq!(sim.machine(0).phase(), Phase::Complete);
    assert_eq!(sim.counters(0), &origin_counters(COUNT, COUNT));
    for m in 1..3 {
        let c = sim.counters(m);
        assert_eq!(
            (c.received, c.forwarded, c.held, c.forwarded_fragments),
            (COUNT, COUNT, 0, 0),
            "member {m}"
        );
        assert_eq!(sim.machine(m).residence().len(), COUNT, "member {m}");
        // Nothing left member m before its last datagram arrived: every delivery to the
        // next member comes after it.
        let last_in = sim.deliveries_to(m).map(|(_, d)| d.at).max().unwrap();
        let first_out = sim
            .deliveries_to((m + 1) % 3)
            .map(|(_, d)| d.at)
            .min()
            .unwrap();
        assert!(first_out > last_in, "member {m} forwarded before the flush");
        let verdicts: Vec<Option<Verdict>> = sim.deliveries_to(m).map(|(_, d)| d.verdict).collect();
        assert_eq!(
            verdicts
                .iter()
                .filter(|v| **v == Some(Verdict::HoldFragment))
                .count(),
            40,
            "two of each message's three fragments wait as fragments"
        );
        assert_eq!(
            verdicts.last(),
            Some(&Some(Verdict::FlushHeld)),
            "member {m}"
        );
    }
    assert_eq!(sim.counters(1).duplicate_fragments, 3);
    let tour = sim.machine(0).tour_latency();
    assert_eq!(tour.len(), COUNT);
}

/// Messages of five fragments (450 payload bytes in datagrams of at most 164 B, the last
/// one 114 B) with GSO and GRO: the origin sends each message with one GSO send of 164-byte
/// segments, each link delivers it as one GRO receive, and each member forwards it on with
/// one GSO send straight out of that receive, stamping every datagram. Counts are exact,
/// every hop is the link's latency and residence is recorded once per message.
#[test]
fn gso_sends_and_gro_receives_carry_whole_messages() {
    const COUNT: u64 = 20;
    let config = TourConfig {
        msg_len: 64 + 450,
        max_datagram: 164,
        ..config(COUNT as u32, 4, true)
    };
    assert_eq!(config.plan().unwrap().count(), 5);
    let offload = Offload {
        gso: true,
        gro: true,
    };
    let mut sim = Sim::with_offload(3, config, offload);
    sim.run();
    assert_eq!(sim.machine(0).phase(), Phase::Complete);
    assert_eq!(sim.counters(0), &origin_counters(COUNT, COUNT));
    let message = 4 * 164 + 114;
    for m in 0..3 {
        let member = &sim.members[m];
        assert_eq!(member.endpoint.gso_segment(), 164, "member {m}");
        assert_eq!(
            member.sends,
            vec![(message, Some(164)); COUNT as usize],
            "member {m}: one GSO send per message, the last segment short"
        );
        let io = member.endpoint.io();
        assert_eq!(
            (io.gso_sends, io.gso_refused, io.gro_receives),
            (COUNT, 0, COUNT),
            "member {m}"
        );
        assert_eq!(io.kernel_stamps, COUNT, "one arrival stamp per receive");
        let receives: Vec<usize> = sim.deliveries_to(m).map(|(_, d)| d.datagrams).collect();
        assert_eq!(receives, vec![5; COUNT as usize], "member {m}");
        let hop = sim.machine(m).hop_latency();
        assert_eq!(
            (hop.len(), hop.min(), hop.max()),
            (COUNT, LATENCY_NS, LATENCY_NS)
        );
    }
    for m in 1..3 {
        let c = sim.counters(m);
        assert_eq!(
            (c.received, c.forwarded, c.forwarded_fragments),
            (COUNT, COUNT, 4 * COUNT)
        );
        let residence = sim.machine(m).residence();
        assert_eq!(
            (residence.len(), residence.max()),
            (COUNT, 0),
            "one residence per whole message"
        );
    }
    let tour = sim.machine(0).tour_latency();
    assert_eq!(
        (tour.len(), tour.min(), tour.max()),
        (COUNT, RING_LATENCY_NS, RING_LATENCY_NS)
    );
}

/// The same ring with member 1's kernel refusing GSO (EINVAL): its first GSO send is
/// queued again one datagram at a time and GSO stays off, so every later message leaves
/// member 1 as five plain sends; nothing is lost, member 2 receives single datagrams and
/// sends them on one by one, and every hop is still the link's latency.
#[test]
fn a_refused_gso_send_falls_back_to_one_datagram_per_send() {
    const COUNT: u64 = 10;
    let config = TourConfig {
        msg_len: 64 + 450,
        max_datagram: 164,
        ..config(COUNT as u32, 1, true)
    };
    let offload = Offload {
        gso: true,
        gro: true,
    };
    let mut sim = Sim::with_offload(3, config, offload);
    sim.members[1].refuse_gso = true;
    sim.run();
    assert_eq!(sim.machine(0).phase(), Phase::Complete);
    assert_eq!(sim.counters(0), &origin_counters(COUNT, COUNT));
    let m1 = &sim.members[1];
    let io = m1.endpoint.io();
    assert_eq!((io.gso_sends, io.gso_refused, io.send_errors), (0, 1, 0));
    assert_eq!(
        m1.endpoint.gso_segment(),
        0,
        "GSO stays off after a refusal"
    );
    let mut plain = Vec::new();
    for _ in 0..COUNT {
        plain.extend([
            (164, None),
            (164, None),
            (164, None),
            (164, None),
            (114, None),
        ]);
    }
    assert_eq!(m1.sends, plain);
    assert_eq!(sim.members[0].endpoint.io().gso_sends, COUNT);
    // Member 2 gets single datagrams: nothing to coalesce, so each goes on by itself
    // (runs are sent with GSO only within one receive).
    let m2 = &sim.members[2];
    assert_eq!(
        (m2.endpoint.io().gro_receives, m2.endpoint.io().gso_sends),
        (0, 0)
    );
    assert_eq!(m2.sends, plain);
    for m in 0..3 {
        let hop = sim.machine(m).hop_latency();
        assert_eq!(
            (hop.len(), hop.min(), hop.max()),
            (COUNT, LATENCY_NS, LATENCY_NS)
        );
    }
    assert_eq!(sim.counters(2).received, COUNT);
}

/// Echo requests and clock probes are answered by the endpoint, in place, back to their
/// source: an echo is the request with the reply kind; a probe answer carries the arrival
/// time (t2) and the time it left (t3) on the answering member's clock. A longer echo, an
/// already answered probe and a probe from another host than the next member's are not
/// answered; the longer echo is counted as malformed.
#[test]
fn echoes_and_clock_probes_are_answered_back_to_their_source() {
    use stillepost_engine::wire::{HEADER_LEN, PROBE_LEN};
    let mut sim = Sim::new(3, config(1, 1, true));
    sim.skew = vec![0, 5_000, 0];
    sim.now = 1_000;
    let client = SocketAddr::from(([127, 0, 0, 1], 30_000));
    let mut echo = vec![0u8; HEADER_LEN];
    Header::echo_request(77).encode(&mut echo);
    sim.inject_from(1, client, echo.clone());
    let mut long_echo = vec![0u8; HEADER_LEN + 8];
    Header::echo_request(78).encode(&mut long_echo);
    sim.inject_from(1, client, long_echo);
    let mut probe = vec![0u8; PROBE_LEN];
    Header::clock_probe(9, 3, 111).encode(&mut probe);
    sim.inject_from(1, addr(2), probe.clone());
    let mut answered = probe.clone();
    Header::make_probe_reply(&mut answered, 1, 2);
    sim.inject_from(1, addr(2), answered);
    let stranger = SocketAddr::from(([127, 0, 0, 2], 20_002));
    sim.inject_from(1, stranger, probe);
    sim.run();

    let to_member_1: Vec<Option<Verdict>> = sim
        .deliveries_to(1)
        .take(5)
        .map(|(_, d)| d.verdict)
        .collect();
    assert_eq!(
        to_member_1,
        vec![
            Some(Verdict::EchoReply),
            Some(Verdict::Dropped(DropReason::Malformed)),
            Some(Verdict::EchoReply),
            None,
            None
        ]
    );
    assert_eq!(sim.answers.len(), 2);
    let (from, to, reply) = &sim.answers[0];
    assert_eq!((*from, *to), (1, client));
    assert_eq!(
        Header::decode(reply),
        Ok(Header {
            kind: Kind::EchoReply,
            ..Header::decode(&echo).unwrap()
        })
    );
    let (from, to, reply) = &sim.answers[1];
    assert_eq!((*from, *to), (1, addr(2)));
    // Member 1's clock is 5 µs ahead; the probe arrived and was answered at 1 µs.
    assert_eq!(Header::probe_reply(reply), Some((9, 3, 111, 6_000, 6_000)));
    assert_eq!(sim.members[1].endpoint.io().echoes, 2);
    assert_eq!(sim.counters(1).malformed, 1);
    assert_eq!(sim.machine(0).phase(), Phase::Complete);
}

/// No reflection at a profit: every request a member answers outside a tour (echo, clock
/// probe) is answered with a datagram no larger than the request, requests of any other
/// size or kind get nothing back, and one source address gets at most a burst of
/// `ANSWER_BURST` answers at once while another source is still answered.
#[test]
fn answers_are_never_larger_than_requests_and_limited_per_source() {
    use stillepost_engine::endpoint::ANSWER_BURST;
    use stillepost_engine::wire::{HEADER_LEN, PROBE_LEN};
    let mut sim = Sim::new(3, config(1, 1, true));
    let client = SocketAddr::from(([127, 0, 0, 1], 30_000));
    // Every kind of datagram, at the header's size and longer.
    let mut requests = Vec::new();
    for kind in [
        Kind::EchoRequest,
        Kind::ClockProbe,
        Kind::EchoReply,
        Kind::Data,
    ] {
        for extra in [0usize, 1, 8, 100, 1000] {
            let mut bytes = vec![0u8; HEADER_LEN + extra];
            Header {
                kind,
                msg_len: bytes.len() as u32,
                ..Header::clock_probe(1, 0, 5)
            }
            .encode(&mut bytes);
            requests.push(bytes.len());
            sim.inject_from(1, addr(2), bytes);
        }
    }
    sim.run();
    let answered: Vec<usize> = sim.answers.iter().map(|(_, _, b)| b.len()).collect();
    assert_eq!(
        answered,
        vec![HEADER_LEN, PROBE_LEN],
        "one header-sized echo and one probe-sized probe are answered, nothing else"
    );
    let requested: usize = requests.iter().sum();
    assert!(answered.iter().sum::<usize>() <= requested);

    // A burst from one source: answered up to the limit; another source is still answered.
    let mut sim = Sim::new(3, config(1, 1, true));
    let mut echo = vec![0u8; HEADER_LEN];
    Header::echo_request(1).encode(&mut echo);
    let burst = ANSWER_BURST as usize + 44;
    for _ in 0..burst {
        sim.inject_from(1, client, echo.clone());
    }
    let other = SocketAddr::from(([127, 0, 0, 9], 30_001));
    sim.inject_from(1, other, echo.clone());
    sim.run();
    let to_client = sim
        .answers
        .iter()
        .filter(|(_, to, _)| *to == client)
        .count();
    let to_other = sim.answers.iter().filter(|(_, to, _)| *to == other).count();
    assert_eq!((to_client, to_other), (ANSWER_BURST as usize, 1));
    let io = sim.members[1].endpoint.io();
    assert_eq!((io.echoes, io.rate_limited), (ANSWER_BURST as u64 + 1, 44));
}

/// With a ring key every tour datagram carries a tag over its header, re-made at every
/// forward: the tour is exactly what it is without one. Forged datagrams of the running
/// tour (right magic, tour id, sequence and hop; no tag, a wrong tag, or a tag under
/// another key) injected at every member are dropped before the state machine, counted as
/// `bad_tag`, and never forwarded.
#[test]
fn tagged_datagrams_pass_and_forgeries_are_counted_and_dropped() {
    use stillepost_engine::wire::{FLAG_AUTH_TAG, write_tag};
    let key = RingKey::from_bytes([3; 32]);
    let mut sim = Sim::with_key(3, config(100, 100, true), key);
    let forge = |seq: u32, hop: u16, tag: Option<RingKey>| {
        let mut bytes = data_datagram(TOUR_ID, seq, hop);
        if let Some(k) = tag {
            write_tag(&mut bytes, |c| k.datagram_key().tag(c));
        }
        bytes
    };
    let wrong = RingKey::from_bytes([4; 32]);
    for m in 0..3 {
        // Member m expects hop m-1 (the origin: hop 2), so only the tag stops these.
        let hop = ((m + 2) % 3) as u16;
        sim.inject(m, forge(5, hop, None));
        sim.inject(m, forge(6, hop, Some(wrong)));
        let mut flipped = forge(7, hop, Some(key));
        flipped[20] ^= 1; // the fragment index, after tagging
        sim.inject(m, flipped);
    }
    sim.run();
    assert_eq!(sim.machine(0).phase(), Phase::Complete);
    assert_eq!(sim.counters(0), &origin_counters(100, 100));
    assert_eq!(sim.counters(1), &forwarded_all(100));
    assert_eq!(sim.counters(2), &forwarded_all(100));
    for m in 0..3 {
        assert_eq!(sim.members[m].endpoint.io().bad_tag, 3, "member {m}");
        let hop = sim.machine(m).hop_latency();
        assert_eq!(
            (hop.len(), hop.min(), hop.max()),
            (100, LATENCY_NS, LATENCY_NS)
        );
    }
    // What travelled carried the tag.
    let tagged = sim
        .trace
        .iter()
        .filter(|d| d.header.is_some_and(|h| h.flags & FLAG_AUTH_TAG != 0))
        .count();
    assert_eq!(
        tagged,
        300 + 3,
        "every tour datagram, and the forgeries tagged under another key (the flipped ones no longer decode)"
    );
}
