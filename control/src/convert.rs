//! Translation between the protocol and the domain, in one place: the services, the
//! coordinator's calls to members and the client use it. A proto enum's `domain()` is
//! `None` for UNSPECIFIED (and values this version does not know); its `name()` is the
//! domain enum's name, or "" when there is none. Counters travel as (name, value) pairs
//! produced from their definitions (`stillepost_engine::counters`).

use stillepost_engine::auth::RingKey;
use stillepost_engine::counters::{CounterSet, HopCounters, MemberCounters, Timestamping};
use stillepost_engine::dataplane::{Backend, PollMode};
use stillepost_engine::tour::Phase;

use crate::coordinator::TourProgress;
use crate::domain::{
    ClockEstimate, HopLoss, HopResult, MemberConfigured, MemberIdentity, MemberInfo, MemberReport,
    MemberSetup, MemberState, MemberStats, Outcome, RingConfigured, RingStatus, Takeover,
    TourReportState, TourResult,
};
use crate::proto;

/// Pairs each domain variant with its proto variant, both ways.
macro_rules! enum_map {
    ($proto:ident <=> $domain:ty { $($p:ident <=> $d:ident),+ $(,)? }) => {
        impl From<$domain> for proto::$proto {
            fn from(value: $domain) -> proto::$proto {
                match value {
                    $(<$domain>::$d => proto::$proto::$p,)+
                }
            }
        }

        impl proto::$proto {
            /// The protocol's value of an optional domain variant (UNSPECIFIED for none).
            pub fn encode(value: Option<$domain>) -> i32 {
                value.map_or(proto::$proto::Unspecified, proto::$proto::from).into()
            }

            /// The domain's variant; `None` when unspecified.
            pub fn domain(self) -> Option<$domain> {
                match self {
                    $(proto::$proto::$p => Some(<$domain>::$d),)+
                    proto::$proto::Unspecified => None,
                }
            }
        }
    };
}

/// `name()` on proto enums whose domain enum has a name.
macro_rules! enum_name {
    ($($proto:ident),+) => {
        $(
            impl proto::$proto {
                /// The name every view uses ("" when unspecified).
                pub fn name(self) -> &'static str {
                    self.domain().map_or("", |d| d.name())
                }
            }
        )+
    };
}

enum_map!(MemberState <=> MemberState {
    Idle <=> Idle,
    Configured <=> Configured,
    Armed <=> Armed,
    InTour <=> InTour,
    Unreachable <=> Unreachable,
});
enum_map!(TourPhase <=> Phase {
    Idle <=> Idle,
    Armed <=> Armed,
    Running <=> Running,
    Complete <=> Complete,
    TimedOut <=> TimedOut,
});
enum_map!(Outcome <=> Outcome {
    Complete <=> Complete,
    TimedOut <=> TimedOut,
    Failed <=> Failed,
    Cancelled <=> Cancelled,
});
enum_map!(PollMode <=> PollMode {
    Block <=> Block,
    Spin <=> Spin,
});
enum_map!(Backend <=> Backend {
    Uring <=> Uring,
    Syscall <=> Syscall,
});
enum_map!(Timestamping <=> Timestamping {
    None <=> None,
    KernelSoftware <=> KernelSoftware,
    Application <=> Application,
    Mixed <=> Mixed,
});
enum_map!(TourReportState <=> TourReportState {
    Reported <=> Reported,
    Missing <=> Missing,
});
enum_name!(
    MemberState,
    Outcome,
    PollMode,
    Backend,
    Timestamping,
    TourReportState
);

/// Every counter of a set as the protocol carries it.
pub fn counters_to_proto(set: &impl CounterSet) -> Vec<proto::Counter> {
    set.counters()
        .map(|(def, value)| proto::Counter {
            name: def.name.to_string(),
            value,
        })
        .collect()
}

/// A counter set from the protocol's pairs; names the set does not have are ignored (a
/// newer member may count more).
pub fn counters_from_proto<C: CounterSet + Default>(list: &[proto::Counter]) -> C {
    let mut set = C::default();
    for counter in list {
        if let Some(slot) = set.counter_mut(&counter.name) {
            *slot = counter.value;
        }
    }
    set
}

impl proto::MemberTourStats {
    /// The member's counters, typed.
    pub fn member_counters(&self) -> MemberCounters {
        counters_from_proto(&self.counters)
    }
}

impl proto::HopResult {
    /// The hop's counters, typed.
    pub fn hop_counters(&self) -> HopCounters {
        counters_from_proto(&self.counters)
    }
}

/// A core id as the protocol carries it (-1: not pinned).
pub fn cpu_to_proto(cpu: Option<usize>) -> i32 {
    cpu.and_then(|c| i32::try_from(c).ok()).unwrap_or(-1)
}

impl From<MemberStats> for proto::MemberTourStats {
    fn from(s: MemberStats) -> proto::MemberTourStats {
        proto::MemberTourStats {
            index: s.index,
            peer_endpoint: s.peer_endpoint,
            counters: counters_to_proto(&s.counters),
            backend: proto::Backend::encode(s.backend),
            poll: proto::PollMode::encode(s.poll),
            cpu: cpu_to_proto(s.cpu),
            cpu_ns: s.cpu_ns,
            preempted: s.preempted,
            residence: s.residence,
            stamps: s.stamps,
            kernel_counters: s
                .kernel_counters
                .into_iter()
                .map(|(name, delta)| proto::KernelCounter { name, delta })
                .collect(),
            drop_advice: s.drop_advice,
            report_missing: s.report_missing,
        }
    }
}

impl From<proto::MemberTourStats> for MemberStats {
    fn from(s: proto::MemberTourStats) -> MemberStats {
        MemberStats {
            index: s.index,
            counters: s.member_counters(),
            backend: s.backend().domain(),
            poll: s.poll().domain(),
            cpu: usize::try_from(s.cpu).ok(),
            cpu_ns: s.cpu_ns,
            preempted: s.preempted,
            peer_endpoint: s.peer_endpoint,
            residence: s.residence,
            stamps: s.stamps,
            kernel_counters: s
                .kernel_counters
                .into_iter()
                .map(|c| (c.name, c.delta))
                .collect(),
            drop_advice: s.drop_advice,
            report_missing: s.report_missing,
        }
    }
}

impl From<MemberReport> for proto::MemberTourReport {
    fn from(r: MemberReport) -> proto::MemberTourReport {
        proto::MemberTourReport {
            tour_id: r.tour_id,
            phase: proto::TourPhase::encode(r.phase),
            stats: Some(r.stats.into()),
            first_send_ns: r.first_send_ns,
            last_receive_ns: r.last_receive_ns,
            tour_latency: r.tour_latency,
            hop_latency: r.hop_latency,
            negative_hops: r.negative_hops,
            timestamping: proto::Timestamping::encode(r.timestamping),
            tour_latency_corrected: r.tour_latency_corrected,
            hop_ipdv: r.hop_ipdv,
            tour_ipdv: r.tour_ipdv,
        }
    }
}

impl From<proto::MemberTourReport> for MemberReport {
    fn from(r: proto::MemberTourReport) -> MemberReport {
        MemberReport {
            tour_id: r.tour_id,
            phase: r.phase().domain(),
            timestamping: r.timestamping().domain(),
            stats: r.stats.map(MemberStats::from).unwrap_or_default(),
            first_send_ns: r.first_send_ns,
            last_receive_ns: r.last_receive_ns,
            tour_latency: r.tour_latency,
            tour_latency_corrected: r.tour_latency_corrected,
            hop_latency: r.hop_latency,
            hop_ipdv: r.hop_ipdv,
            tour_ipdv: r.tour_ipdv,
            negative_hops: r.negative_hops,
        }
    }
}

impl From<ClockEstimate> for proto::ClockEstimate {
    fn from(c: ClockEstimate) -> proto::ClockEstimate {
        proto::ClockEstimate {
            offset_ns: c.offset_ns,
            error_bound_ns: c.error_bound_ns,
            min_rtt_ns: c.min_rtt_ns,
            samples: c.samples,
            sent: c.sent,
            timestamping: proto::Timestamping::encode(c.timestamping),
        }
    }
}

impl From<proto::ClockEstimate> for ClockEstimate {
    fn from(c: proto::ClockEstimate) -> ClockEstimate {
        ClockEstimate {
            offset_ns: c.offset_ns,
            error_bound_ns: c.error_bound_ns,
            min_rtt_ns: c.min_rtt_ns,
            samples: c.samples,
            sent: c.sent,
            timestamping: c.timestamping().domain(),
        }
    }
}

impl From<HopLoss> for proto::HopLoss {
    fn from(h: HopLoss) -> proto::HopLoss {
        proto::HopLoss {
            from: h.from,
            to: h.to,
            lost: h.lost,
        }
    }
}

impl From<HopResult> for proto::HopResult {
    fn from(h: HopResult) -> proto::HopResult {
        proto::HopResult {
            from: h.from,
            to: h.to,
            latency: h.latency,
            ipdv: h.ipdv,
            counters: counters_to_proto(&h.counters),
            same_clock: h.same_clock,
            offset_ns: h.clock.offset_ns,
            error_bound_ns: h.clock.error_bound_ns,
            timestamping: proto::Timestamping::encode(h.timestamping),
            clock_samples: h.clock.samples,
        }
    }
}

impl From<TourResult> for proto::TourResult {
    fn from(r: TourResult) -> proto::TourResult {
        proto::TourResult {
            // Set by the coordinator for its monitor tours, and for a ring of several.
            monitor: false,
            ring: String::new(),
            placed: None,
            tour_id: r.tour_id,
            params: Some(r.params),
            outcome: proto::Outcome::from(r.outcome).into(),
            error: r.error.unwrap_or_default(),
            total_ns: r.total_ns,
            messages_sent: r.messages_sent,
            messages_received: r.messages_received,
            lost: r.lost,
            tour_latency: r.tour_latency,
            members: r.members.into_iter().map(Into::into).collect(),
            hop_losses: r.hop_losses.into_iter().map(Into::into).collect(),
            started_unix_ms: r.started_unix_ms,
            messages_unsent: r.messages_unsent,
            hops: r.hops.into_iter().map(Into::into).collect(),
            tour_latency_corrected: r.tour_latency_corrected,
            tour_ipdv: r.tour_ipdv,
        }
    }
}

/// `Some(text)` unless it is empty (the protocol's empty string for none).
pub(crate) fn some_text(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl From<MemberIdentity> for proto::InfoReply {
    fn from(m: MemberIdentity) -> proto::InfoReply {
        proto::InfoReply {
            peer_endpoint: m.peer_endpoint,
            state: proto::MemberState::encode(m.state),
            backend: proto::Backend::encode(m.backend),
            index: m.index,
            ring_len: m.ring_len,
            version: m.version,
            poll: proto::PollMode::encode(m.poll),
            cpu: cpu_to_proto(m.cpu),
            host_id: m.host_id,
            fallback_reason: m.fallback_reason.unwrap_or_default(),
            clock_id: m.clock_id,
            lifetime: counters_to_proto(&m.lifetime),
            generation: m.generation,
            owner: m.owner,
            name: m.name,
            instance_id: m.instance_id,
            cores: m
                .cores
                .iter()
                .filter_map(|&c| u32::try_from(c).ok())
                .collect(),
            cpu_fixed: m.cpu_fixed,
        }
    }
}

impl From<proto::InfoReply> for MemberIdentity {
    fn from(m: proto::InfoReply) -> MemberIdentity {
        MemberIdentity {
            state: m.state().domain(),
            backend: m.backend().domain(),
            poll: m.poll().domain(),
            cpu: usize::try_from(m.cpu).ok(),
            cores: m.cores.iter().map(|&c| c as usize).collect(),
            cpu_fixed: m.cpu_fixed,
            peer_endpoint: m.peer_endpoint,
            index: m.index,
            ring_len: m.ring_len,
            version: m.version,
            host_id: m.host_id,
            clock_id: m.clock_id,
            fallback_reason: some_text(m.fallback_reason),
            lifetime: counters_from_proto(&m.lifetime),
            generation: m.generation,
            owner: m.owner,
            name: m.name,
            instance_id: m.instance_id,
        }
    }
}

impl From<MemberSetup> for proto::MemberConfigureRequest {
    fn from(m: MemberSetup) -> proto::MemberConfigureRequest {
        proto::MemberConfigureRequest {
            index: m.index,
            ring_len: m.ring_len,
            next_peer: m.next_peer,
            prev_peer: m.prev_peer,
            params: m.params,
            ring_key: m
                .ring_key
                .map(|k| k.as_bytes().to_vec())
                .unwrap_or_default(),
            coordinator_id: m.coordinator_id,
            force: m.takeover == Takeover::Force,
            cpu: m.cpu.and_then(|c| u32::try_from(c).ok()),
        }
    }
}

impl From<proto::MemberConfigureRequest> for MemberSetup {
    fn from(m: proto::MemberConfigureRequest) -> MemberSetup {
        MemberSetup {
            index: m.index,
            ring_len: m.ring_len,
            next_peer: m.next_peer,
            prev_peer: m.prev_peer,
            params: m.params,
            ring_key: RingKey::from_slice(&m.ring_key),
            coordinator_id: m.coordinator_id,
            takeover: if m.force {
                Takeover::Force
            } else {
                Takeover::Respect
            },
            cpu: m.cpu.map(|c| c as usize),
        }
    }
}

impl From<MemberConfigured> for proto::MemberConfigureReply {
    fn from(m: MemberConfigured) -> proto::MemberConfigureReply {
        proto::MemberConfigureReply {
            rcvbuf_requested: m.rcvbuf_requested,
            rcvbuf_granted: m.rcvbuf_granted,
            sndbuf_granted: m.sndbuf_granted,
            warnings: m.warnings,
            path_mtu: m.path_mtu,
            sndbuf_requested: m.sndbuf_requested,
            gso_segment: m.gso_segment,
            gro: m.gro,
            generation: m.generation,
            cpu: cpu_to_proto(m.cpu),
        }
    }
}

impl From<proto::MemberConfigureReply> for MemberConfigured {
    fn from(m: proto::MemberConfigureReply) -> MemberConfigured {
        MemberConfigured {
            rcvbuf_requested: m.rcvbuf_requested,
            rcvbuf_granted: m.rcvbuf_granted,
            sndbuf_requested: m.sndbuf_requested,
            sndbuf_granted: m.sndbuf_granted,
            warnings: m.warnings,
            path_mtu: m.path_mtu,
            gso_segment: m.gso_segment,
            gro: m.gro,
            generation: m.generation,
            cpu: usize::try_from(m.cpu).ok(),
        }
    }
}

impl From<MemberInfo> for proto::MemberInfo {
    fn from(m: MemberInfo) -> proto::MemberInfo {
        let c = m.configured;
        proto::MemberInfo {
            index: m.index,
            control_endpoint: m.control_endpoint,
            peer_endpoint: m.peer_endpoint,
            state: proto::MemberState::encode(m.state),
            error: m.error.unwrap_or_default(),
            backend: proto::Backend::encode(m.backend),
            poll: proto::PollMode::encode(m.poll),
            cpu: cpu_to_proto(m.cpu),
            rcvbuf_requested: c.rcvbuf_requested,
            rcvbuf_granted: c.rcvbuf_granted,
            sndbuf_requested: c.sndbuf_requested,
            sndbuf_granted: c.sndbuf_granted,
            warnings: c.warnings,
            gso_segment: c.gso_segment,
            gro: c.gro,
            lifetime: counters_to_proto(&m.lifetime),
            name: m.name,
            instance_id: m.instance_id,
            last_seen_unix_ms: m.last_seen_unix_ms,
            last_tour: proto::TourReportState::encode(m.last_tour),
        }
    }
}

impl From<proto::MemberInfo> for MemberInfo {
    /// A member as a status or a stored ring had it (what the protocol carries of its set-up:
    /// not the route MTU, which only a configure uses).
    fn from(m: proto::MemberInfo) -> MemberInfo {
        MemberInfo {
            index: m.index,
            state: m.state().domain(),
            backend: m.backend().domain(),
            poll: m.poll().domain(),
            cpu: usize::try_from(m.cpu).ok(),
            lifetime: counters_from_proto(&m.lifetime),
            last_tour: m.last_tour().domain(),
            name: m.name,
            instance_id: m.instance_id,
            last_seen_unix_ms: m.last_seen_unix_ms,
            control_endpoint: m.control_endpoint,
            peer_endpoint: m.peer_endpoint,
            error: some_text(m.error),
            configured: MemberConfigured {
                rcvbuf_requested: m.rcvbuf_requested,
                rcvbuf_granted: m.rcvbuf_granted,
                sndbuf_requested: m.sndbuf_requested,
                sndbuf_granted: m.sndbuf_granted,
                warnings: m.warnings,
                path_mtu: 0,
                gso_segment: m.gso_segment,
                gro: m.gro,
                generation: 0,
                cpu: usize::try_from(m.cpu).ok(),
            },
        }
    }
}

impl From<RingConfigured> for proto::ConfigureReply {
    fn from(r: RingConfigured) -> proto::ConfigureReply {
        proto::ConfigureReply {
            members: r.members.into_iter().map(Into::into).collect(),
            params: Some(r.params),
            source: r.source.unwrap_or_default(),
            ring: r.name.unwrap_or_default(),
            rings: r.rings.into_iter().map(Into::into).collect(),
            placed: r.placed,
        }
    }
}

impl From<RingStatus> for proto::StatusReply {
    fn from(s: RingStatus) -> proto::StatusReply {
        let ring = s.name.unwrap_or_default();
        let rings = s.rings.into_iter().map(Into::into).collect();
        let (params, members, source, placed) = match s.ring {
            Some(ring) => (
                Some(ring.params),
                ring.members.into_iter().map(Into::into).collect(),
                ring.source.unwrap_or_default(),
                ring.placed,
            ),
            None => (None, Vec::new(), String::new(), None),
        };
        proto::StatusReply {
            placed,
            configured: params.is_some(),
            params,
            members,
            ring,
            rings,
            running_tour: s.running_tour.unwrap_or(0),
            last_tour: s.last_tour.unwrap_or(0),
            progress: s.progress.map(|p| proto::RunningProgress {
                sent: p.sent,
                received: p.received,
                count: p.count,
                elapsed_ms: p.elapsed_ms,
            }),
            source,
            monitor: s.monitor.map(|m| proto::MonitorStatus {
                interval_ms: m.interval_ms,
                count: m.count,
                last_tour: m.last_tour.unwrap_or(0),
                last_outcome: proto::Outcome::encode(m.last_outcome),
                last_unix_ms: m.last_unix_ms,
                last_error: m.last_error.unwrap_or_default(),
                tours: m.tours,
            }),
        }
    }
}

impl From<TourProgress> for proto::WaitTourReply {
    fn from(p: TourProgress) -> proto::WaitTourReply {
        match p {
            TourProgress::Done(result) => proto::WaitTourReply {
                done: true,
                sent: result.messages_sent,
                received: result.messages_received,
                count: result.params.map_or(0, |p| u64::from(p.count)),
                result: Some(proto::TourResult::clone(&result)),
            },
            TourProgress::Running {
                sent,
                received,
                count,
            } => proto::WaitTourReply {
                done: false,
                sent,
                received,
                result: None,
                count,
            },
        }
    }
}

/// A target's round trips for the protocol: −1 for a probe without an answer.
pub fn rtts_to_proto(r: &crate::echo::Rtts) -> proto::TargetRtts {
    proto::TargetRtts {
        target: r.target.clone(),
        members: r.members.clone(),
        method: r.method.clone(),
        rtts_ns: r
            .rtts_ns
            .iter()
            .map(|v| v.map_or(-1, |ns| i64::try_from(ns).unwrap_or(i64::MAX)))
            .collect(),
        error: r.error.clone().unwrap_or_default(),
    }
}

/// A target's round trips from the protocol: a negative round trip is no answer.
pub fn rtts_from_proto(t: &proto::TargetRtts) -> crate::echo::Rtts {
    crate::echo::Rtts {
        target: t.target.clone(),
        members: t.members.clone(),
        method: t.method.clone(),
        rtts_ns: t.rtts_ns.iter().map(|&v| u64::try_from(v).ok()).collect(),
        error: (!t.error.is_empty()).then(|| t.error.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON and text names are the ones docs/reports.md lists, whichever way a state
    /// travels.
    #[test]
    fn proto_states_keep_their_names() {
        assert_eq!(
            proto::MemberState::from(MemberState::InTour).name(),
            "in-tour"
        );
        assert_eq!(proto::MemberState::Unreachable.name(), "unreachable");
        assert_eq!(proto::MemberState::Unspecified.name(), "");
        assert_eq!(proto::Outcome::TimedOut.name(), "timed_out");
        assert_eq!(proto::Outcome::Failed.name(), "failed");
        assert_eq!(proto::Outcome::Complete.name(), "complete");
        assert_eq!(proto::PollMode::Spin.name(), "spin");
        assert_eq!(proto::Backend::from(Backend::Uring).name(), "uring");
        assert_eq!(proto::Backend::Syscall.name(), "syscall");
        assert_eq!(
            proto::Timestamping::KernelSoftware.name(),
            "kernel-software"
        );
        assert_eq!(proto::Timestamping::Unspecified.domain(), None);
        assert_eq!(
            proto::TourPhase::from(Phase::TimedOut).domain(),
            Some(Phase::TimedOut)
        );
    }

    /// A member report survives the trip to the coordinator, counters included.
    #[test]
    fn member_reports_travel_whole() {
        let mut counters = MemberCounters::default();
        counters.tour.sent = 100;
        counters.tour.received = 97;
        counters.io.gso_refused = 2;
        counters.socket.socket_drops = 3;
        let report = MemberReport {
            tour_id: 7,
            phase: Some(Phase::TimedOut),
            stats: MemberStats {
                index: 2,
                peer_endpoint: "10.0.0.3:7101".into(),
                counters,
                backend: Some(Backend::Syscall),
                poll: Some(PollMode::Spin),
                cpu: Some(3),
                cpu_ns: 1_234_567,
                preempted: 12,
                residence: vec![1, 2],
                stamps: vec![9; 16],
                kernel_counters: vec![("Udp RcvbufErrors".into(), 3)],
                drop_advice: vec!["raise it".into()],
                report_missing: true,
            },
            first_send_ns: 10,
            last_receive_ns: 20,
            tour_latency: vec![3],
            tour_latency_corrected: vec![4],
            hop_latency: vec![5],
            hop_ipdv: vec![6],
            tour_ipdv: vec![7],
            negative_hops: 1,
            timestamping: Some(Timestamping::Mixed),
        };
        let wire = proto::MemberTourReport::from(report.clone());
        let stats = wire.stats.as_ref().unwrap();
        assert_eq!(
            stats.counters.len(),
            MemberCounters::default().counters().count(),
            "every reported counter, zeros too"
        );
        assert_eq!(
            stats
                .counters
                .iter()
                .find(|c| c.name == "socket_drops")
                .unwrap()
                .value,
            3
        );
        assert_eq!(stats.backend().name(), "syscall");
        assert_eq!(MemberReport::from(wire), report);
    }

    #[test]
    fn unknown_counter_names_are_ignored() {
        let list = [
            proto::Counter {
                name: "lost".into(),
                value: 4,
            },
            proto::Counter {
                name: "from_a_newer_member".into(),
                value: 9,
            },
        ];
        let hop: HopCounters = counters_from_proto(&list);
        assert_eq!(
            hop,
            HopCounters {
                lost: 4,
                ..HopCounters::default()
            }
        );
    }
    #[test]
    fn a_status_says_whether_a_ring_is_configured() {
        let none = proto::StatusReply::from(RingStatus::default());
        assert_eq!(none, proto::StatusReply::default());
        let member = MemberInfo {
            index: 1,
            state: Some(MemberState::Unreachable),
            error: Some("connection refused".into()),
            cpu: None,
            ..MemberInfo::default()
        };
        let status = proto::StatusReply::from(RingStatus {
            ring: Some(RingConfigured {
                members: vec![member],
                params: proto::TourParams {
                    count: 10,
                    ..proto::TourParams::default()
                },
                source: None,
                name: None,
                rings: Vec::new(),
                placed: None,
            }),
            running_tour: Some(5),
            last_tour: None,
            progress: None,
            monitor: None,
            name: None,
            rings: Vec::new(),
        });
        assert!(status.configured);
        assert_eq!((status.running_tour, status.last_tour), (5, 0));
        assert_eq!(status.params.map(|p| p.count), Some(10));
        let m = &status.members[0];
        assert_eq!(m.state().name(), "unreachable");
        assert_eq!((m.error.as_str(), m.cpu), ("connection refused", -1));
        assert_eq!(m.backend(), proto::Backend::Unspecified);
    }

    #[test]
    fn a_member_identity_travels_whole() {
        let identity = MemberIdentity {
            peer_endpoint: "10.0.0.1:7101".into(),
            state: Some(MemberState::Armed),
            backend: Some(Backend::Uring),
            poll: Some(PollMode::Block),
            cpu: Some(2),
            cores: vec![0, 1, 2, 3],
            cpu_fixed: true,
            index: 1,
            ring_len: 3,
            version: "0.1.0".into(),
            host_id: "boot".into(),
            clock_id: "boot+5ns".into(),
            name: "node2".into(),
            instance_id: "00c0ffee00000001".into(),
            fallback_reason: None,
            lifetime: {
                let mut lifetime = MemberCounters::default();
                lifetime.tour.stale = 13_000;
                lifetime.io.ignored = 4;
                lifetime
            },
            generation: 3,
            owner: "host-0badc0de".into(),
        };
        let wire = proto::InfoReply::from(identity.clone());
        assert_eq!(wire.fallback_reason, "");
        assert_eq!(MemberIdentity::from(wire), identity);
    }
}
