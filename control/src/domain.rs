//! The control plane's domain types: what the coordinator and member cores work on. The
//! gRPC services translate them to and from the protocol (`crate::convert`); every JSON
//! and text name of a state is given here or by the engine's enum, once.

use stillepost_engine::auth::RingKey;
use stillepost_engine::counters::{HopCounters, MemberCounters, Timestamping};
use stillepost_engine::dataplane::{Backend, PollMode};
use stillepost_engine::tour::Phase;

use crate::proto::TourParams;

/// Where a member stands, as the coordinator reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemberState {
    /// Running, not configured.
    #[default]
    Idle,
    /// Has its ring position and tour parameters.
    Configured,
    /// Armed for a tour.
    Armed,
    /// Origin: the tour is running.
    InTour,
    /// The coordinator could not reach it.
    Unreachable,
}

impl MemberState {
    /// Every view's name of it.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Idle => "idle",
            MemberState::Configured => "configured",
            MemberState::Armed => "armed",
            MemberState::InTour => "in-tour",
            MemberState::Unreachable => "unreachable",
        }
    }
}

/// How a member fared in a tour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TourReportState {
    /// It sent its report.
    Reported,
    /// It sent none: it went away or stopped answering (the tour's error says which).
    Missing,
}

impl TourReportState {
    /// Every view's name of it.
    pub fn name(self) -> &'static str {
        match self {
            TourReportState::Reported => "reported",
            TourReportState::Missing => "no-report",
        }
    }
}

/// How a tour ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The origin got every message back.
    Complete,
    /// The origin gave up waiting after the member timeout.
    TimedOut,
    /// A member could not be reached or refused; the result is partial.
    Failed,
    /// Ended early on request (`stillepost cancel`, Ctrl-C in `run`); the result is what
    /// the members had then.
    Cancelled,
}

impl Outcome {
    /// Every view's name of it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::TimedOut => "timed_out",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// The outcome of a name (results stored before the outcome was an enum carry it).
    pub fn from_name(name: &str) -> Option<Outcome> {
        [
            Outcome::Complete,
            Outcome::TimedOut,
            Outcome::Failed,
            Outcome::Cancelled,
        ]
        .into_iter()
        .find(|o| o.name() == name)
    }
}

/// One member's counters and set-up for one tour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberStats {
    /// Ring index.
    pub index: u32,
    /// Where its neighbours send.
    pub peer_endpoint: String,
    /// Everything it counted.
    pub counters: MemberCounters,
    /// The data-plane backend it runs (`None` when it did not say).
    pub backend: Option<Backend>,
    /// How its data-plane thread waits (`None` when it did not say).
    pub poll: Option<PollMode>,
    /// Core its data-plane thread is pinned to.
    pub cpu: Option<usize>,
    /// CPU time its data-plane thread used from the tour's arming to its end, ns.
    pub cpu_ns: u64,
    /// Times its data-plane thread was preempted in that time.
    pub preempted: u64,
    /// Forwarders: arrival → forward per message, HdrHistogram V2+DEFLATE.
    pub residence: Vec<u8>,
    /// Every message's `[in, out]` times on its clock when the tour recorded them, as
    /// little-endian u64 pairs by sequence number (empty otherwise).
    pub stamps: Vec<u8>,
    /// Kernel drop counters of its network namespace that moved, (name, delta).
    pub kernel_counters: Vec<(String, u64)>,
    /// What to change, for the counters that moved.
    pub drop_advice: Vec<String>,
    /// It sent no report of the tour: its counters are unknown, not zero.
    pub report_missing: bool,
}

/// What a member reports when a tour ends on it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberReport {
    /// The tour it reports.
    pub tour_id: u64,
    /// Where the tour stood on it (`None` when it did not say).
    pub phase: Option<Phase>,
    /// Its counters and set-up.
    pub stats: MemberStats,
    /// Origin: first send and last receive, monotonic ns on its clock (0 if none).
    pub first_send_ns: u64,
    /// See `first_send_ns`.
    pub last_receive_ns: u64,
    /// Origin: tour latency per message, HdrHistogram V2+DEFLATE.
    pub tour_latency: Vec<u8>,
    /// Origin, open loop: tour latency from the intended send time (empty otherwise).
    pub tour_latency_corrected: Vec<u8>,
    /// Latency of the hop into it, HdrHistogram V2+DEFLATE.
    pub hop_latency: Vec<u8>,
    /// IPDV of the hop into it (RFC 3393), HdrHistogram V2+DEFLATE.
    pub hop_ipdv: Vec<u8>,
    /// Origin: IPDV of the tour latency, HdrHistogram V2+DEFLATE.
    pub tour_ipdv: Vec<u8>,
    /// Hop latencies that came out negative and were recorded as 0.
    pub negative_hops: u64,
    /// How it took arrival times (`None` when it did not say).
    pub timestamping: Option<Timestamping>,
}

/// A member's estimate of its previous member's clock: this member's clock minus the
/// previous one's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockEstimate {
    /// The offset, ns.
    pub offset_ns: i64,
    /// Half the smallest round trip: the offset is off by at most this much, ns.
    pub error_bound_ns: u64,
    /// The smallest round trip, ns.
    pub min_rtt_ns: u64,
    /// Probes answered.
    pub samples: u32,
    /// Probes sent.
    pub sent: u32,
    /// How the answers' arrivals were stamped.
    pub timestamping: Option<Timestamping>,
}

/// Messages that left member `from` and never arrived at member `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopLoss {
    /// Sending member.
    pub from: u32,
    /// Receiving member.
    pub to: u32,
    /// Messages lost between them.
    pub lost: u64,
}

/// One hop of the ring, as its receiving member recorded it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HopResult {
    /// Sending member.
    pub from: u32,
    /// Receiving member.
    pub to: u32,
    /// One-way latency per message, HdrHistogram V2+DEFLATE.
    pub latency: Vec<u8>,
    /// IPDV of the latency (RFC 3393), HdrHistogram V2+DEFLATE.
    pub ipdv: Vec<u8>,
    /// Lost, duplicates, reordered, negative.
    pub counters: HopCounters,
    /// Whether both members read the same clock.
    pub same_clock: bool,
    /// The receiver's clock offset and its error bound, as probed (0 when not probed).
    pub clock: ClockEstimate,
    /// How the receiver took arrival times.
    pub timestamping: Option<Timestamping>,
}

/// A finished tour.
#[derive(Debug, Clone, PartialEq)]
pub struct TourResult {
    /// The tour.
    pub tour_id: u64,
    /// Its parameters, as configured.
    pub params: TourParams,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed, or a member could not report.
    pub error: Option<String>,
    /// First send to last receive at the origin, ns (0 when nothing came back).
    pub total_ns: u64,
    /// Messages the origin sent.
    pub messages_sent: u64,
    /// Messages the origin never sent (the window stayed full of lost messages).
    pub messages_unsent: u64,
    /// Messages back at the origin.
    pub messages_received: u64,
    /// Sent and never back.
    pub lost: u64,
    /// The origin's tour latency per message, HdrHistogram V2+DEFLATE.
    pub tour_latency: Vec<u8>,
    /// Open loop: from the intended send time (empty otherwise).
    pub tour_latency_corrected: Vec<u8>,
    /// IPDV of the tour latency (RFC 3393), HdrHistogram V2+DEFLATE.
    pub tour_ipdv: Vec<u8>,
    /// Every member's counters, in ring order.
    pub members: Vec<MemberStats>,
    /// Where lost messages were last seen, per hop whose both members reported.
    pub hop_losses: Vec<HopLoss>,
    /// Per hop, in ring order from hop 0→1, for hops whose receiver reported.
    pub hops: Vec<HopResult>,
    /// Wall-clock start, ms since the Unix epoch.
    pub started_unix_ms: u64,
}

/// A member's identity and state, as it answers the coordinator's `Info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberIdentity {
    /// Where its neighbours send (never 0.0.0.0), as it says.
    pub peer_endpoint: String,
    /// Where it stands (`None` when it did not say).
    pub state: Option<MemberState>,
    /// The data-plane backend it runs.
    pub backend: Option<Backend>,
    /// How its data-plane thread waits.
    pub poll: Option<PollMode>,
    /// Core its data-plane thread is pinned to.
    pub cpu: Option<usize>,
    /// Cores a configure may place its data-plane thread on.
    pub cores: Vec<usize>,
    /// Its core was given with `--cpu`: configures leave it there.
    pub cpu_fixed: bool,
    /// Its ring position and the ring's length (0, 0 before it is configured).
    pub index: u32,
    /// See `index`.
    pub ring_len: u32,
    /// Its version.
    pub version: String,
    /// Its host (boot id): members with the same one share cores.
    pub host_id: String,
    /// The clock it reads: members with the same one need no clock probes.
    pub clock_id: String,
    /// Why `--backend auto` runs the syscall backend, when it does.
    pub fallback_reason: Option<String>,
    /// Every counter since it started.
    pub lifetime: MemberCounters,
    /// Its configuration's number (0: never configured) and who made it.
    pub generation: u64,
    /// See `generation`.
    pub owner: String,
    /// Its name (`--name`, default its host name).
    pub name: String,
    /// Random per member process: a new one means it restarted.
    pub instance_id: String,
}

/// What a member is told when the ring is configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberSetup {
    /// Its ring position.
    pub index: u32,
    /// Members in the ring.
    pub ring_len: u32,
    /// The next member's peer endpoint, ip:port.
    pub next_peer: String,
    /// The previous member's peer endpoint, ip:port.
    pub prev_peer: String,
    /// The tour parameters (`None` when the request had none).
    pub params: Option<TourParams>,
    /// This configuration's ring key (`None` when the request had none or not 32 bytes).
    pub ring_key: Option<RingKey>,
    /// The configuring coordinator.
    pub coordinator_id: String,
    /// Whether it may take the member from another coordinator.
    pub takeover: Takeover,
    /// The core to pin its data-plane thread to (`None`: leave it).
    pub cpu: Option<usize>,
}

/// What a member's Info answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoDetail {
    /// Everything, its lifetime counters too (asked of its data plane).
    Counters,
    /// Whether it answers, leaving its data plane alone (checks during a tour).
    Liveness,
}

/// Whether a configure may take members another coordinator holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Takeover {
    /// Only members no other coordinator holds (its lease ran out, no tour of its is
    /// armed): the default.
    #[default]
    Respect,
    /// Any member (`stillepost configure --force`).
    Force,
}

/// Whether a ring's members prove themselves to each other and tag their datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RingAuth {
    /// A fresh ring key with every configure: every member challenges its next member,
    /// and every tour datagram is tagged (the default).
    #[default]
    Keyed,
    /// No key, no challenge, no tags: for rings on one host's loopback only, to measure
    /// what authentication costs (`stillepost local --no-auth`).
    Off,
}

/// What a member set up for the ring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberConfigured {
    /// Socket receive buffer asked for and granted, bytes.
    pub rcvbuf_requested: u64,
    /// See `rcvbuf_requested`.
    pub rcvbuf_granted: u64,
    /// Socket send buffer asked for and granted, bytes.
    pub sndbuf_requested: u64,
    /// See `sndbuf_requested`.
    pub sndbuf_granted: u64,
    /// What the member warns about.
    pub warnings: Vec<String>,
    /// MTU of the route to the next member, 0 if unknown.
    pub path_mtu: u32,
    /// UDP GSO segment size, 0 if off.
    pub gso_segment: u32,
    /// Whether it receives GRO-coalesced datagrams.
    pub gro: bool,
    /// This configuration's number on the member.
    pub generation: u64,
    /// Core its data-plane thread is pinned to after the configure.
    pub cpu: Option<usize>,
}

/// A ring member as the coordinator reports it (configure and status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberInfo {
    /// Ring index.
    pub index: u32,
    /// As given in the cluster list.
    pub control_endpoint: String,
    /// Where its neighbours send.
    pub peer_endpoint: String,
    /// Where it stands (`None` when it did not say).
    pub state: Option<MemberState>,
    /// Why it is unreachable, if it is.
    pub error: Option<String>,
    /// The data-plane backend it runs.
    pub backend: Option<Backend>,
    /// How its data-plane thread waits.
    pub poll: Option<PollMode>,
    /// Core its data-plane thread is pinned to.
    pub cpu: Option<usize>,
    /// What it set up when configured.
    pub configured: MemberConfigured,
    /// Every counter since it started, as of the last time it was asked.
    pub lifetime: MemberCounters,
    /// Its name in the ring (its own, made unique with its control endpoint).
    pub name: String,
    /// Its process's random id, as of the last health check.
    pub instance_id: String,
    /// When a health check last reached it, ms since the Unix epoch (0: not yet).
    pub last_seen_unix_ms: u64,
    /// How it fared in the last tour (`None`: no tour since configure).
    pub last_tour: Option<TourReportState>,
}

/// A configured ring: its members and the parameters they were given.
#[derive(Debug, Clone, PartialEq)]
pub struct RingConfigured {
    /// Every member, in ring order (with several rings: every ring's, ring after ring).
    pub members: Vec<MemberInfo>,
    /// The tour parameters, with the datagram size the ring's MTUs call for.
    pub params: TourParams,
    /// Where the members came from (`file:<path>`), when not from a list.
    pub source: Option<String>,
    /// This ring's name, when the members form several rings.
    pub name: Option<String>,
    /// With several rings (`--ring-size`): each one.
    pub rings: Vec<RingConfigured>,
    /// Where the members' data-plane threads were placed, and why.
    pub placed: Option<crate::proto::Placed>,
}

/// The coordinator's ring and tours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RingStatus {
    /// The ring, when one is configured.
    pub ring: Option<RingConfigured>,
    /// The tour running now.
    pub running_tour: Option<u64>,
    /// The last finished tour.
    pub last_tour: Option<u64>,
    /// How far the running tour has come.
    pub progress: Option<RunningProgress>,
    /// Monitor mode, when on.
    pub monitor: Option<MonitorStatus>,
    /// This ring's name, when the members form several rings.
    pub name: Option<String>,
    /// With several rings (`--ring-size`): each one's status.
    pub rings: Vec<RingStatus>,
}

/// The coordinator's monitor mode: a short tour every interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorStatus {
    /// Between two monitor tours (before jitter), ms.
    pub interval_ms: u64,
    /// Messages per monitor tour.
    pub count: u32,
    /// The last monitor tour, when one ran (one that could not start has none).
    pub last_tour: Option<u64>,
    /// How it ended (`Failed` for one that could not start).
    pub last_outcome: Option<Outcome>,
    /// When it ended or failed to start, ms since the Unix epoch (0: none yet).
    pub last_unix_ms: u64,
    /// Why it failed, when it did.
    pub last_error: Option<String>,
    /// Monitor tours so far (started or not).
    pub tours: u64,
}

/// How far a running tour has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunningProgress {
    /// Messages the origin has sent so far.
    pub sent: u64,
    /// Messages back at the origin so far.
    pub received: u64,
    /// Messages of the tour.
    pub count: u64,
    /// Since the tour started, ms.
    pub elapsed_ms: u64,
}
