//! Translation between the protocol and the domain, in one place: the services, the
//! coordinator's calls to members and the client use it. A proto enum's `domain()` is
//! `None` for UNSPECIFIED (and values this version does not know); its `name()` is the
//! domain enum's name, or "" when there is none. Counters travel as (name, value) pairs
//! produced from their definitions (`stillepost_engine::counters`).

use stillepost_engine::counters::{CounterSet, HopCounters, MemberCounters, Timestamping};
use stillepost_engine::dataplane::{Backend, PollMode};
use stillepost_engine::tour::Phase;

use crate::domain::{
    ClockEstimate, HopLoss, HopResult, MemberReport, MemberState, MemberStats, Outcome, TourResult,
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
enum_name!(MemberState, Outcome, PollMode, Backend, Timestamping);

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

fn timestamping_to_proto(t: Option<Timestamping>) -> i32 {
    t.map_or(proto::Timestamping::Unspecified, proto::Timestamping::from)
        .into()
}

impl From<MemberStats> for proto::MemberTourStats {
    fn from(s: MemberStats) -> proto::MemberTourStats {
        proto::MemberTourStats {
            index: s.index,
            peer_endpoint: s.peer_endpoint,
            counters: counters_to_proto(&s.counters),
            backend: s
                .backend
                .map_or(proto::Backend::Unspecified, proto::Backend::from)
                .into(),
            poll: s
                .poll
                .map_or(proto::PollMode::Unspecified, proto::PollMode::from)
                .into(),
            cpu: cpu_to_proto(s.cpu),
            residence: s.residence,
            kernel_counters: s
                .kernel_counters
                .into_iter()
                .map(|(name, delta)| proto::KernelCounter { name, delta })
                .collect(),
            drop_advice: s.drop_advice,
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
            peer_endpoint: s.peer_endpoint,
            residence: s.residence,
            kernel_counters: s
                .kernel_counters
                .into_iter()
                .map(|c| (c.name, c.delta))
                .collect(),
            drop_advice: s.drop_advice,
        }
    }
}

impl From<MemberReport> for proto::MemberTourReport {
    fn from(r: MemberReport) -> proto::MemberTourReport {
        proto::MemberTourReport {
            tour_id: r.tour_id,
            phase: r
                .phase
                .map_or(proto::TourPhase::Unspecified, proto::TourPhase::from)
                .into(),
            stats: Some(r.stats.into()),
            first_send_ns: r.first_send_ns,
            last_receive_ns: r.last_receive_ns,
            tour_latency: r.tour_latency,
            hop_latency: r.hop_latency,
            negative_hops: r.negative_hops,
            timestamping: timestamping_to_proto(r.timestamping),
            tour_latency_corrected: r.tour_latency_corrected,
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
            timestamping: timestamping_to_proto(c.timestamping),
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
            counters: counters_to_proto(&h.counters),
            same_clock: h.same_clock,
            offset_ns: h.clock.offset_ns,
            error_bound_ns: h.clock.error_bound_ns,
            timestamping: timestamping_to_proto(h.timestamping),
            clock_samples: h.clock.samples,
        }
    }
}

impl From<TourResult> for proto::TourResult {
    fn from(r: TourResult) -> proto::TourResult {
        proto::TourResult {
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
        }
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
                residence: vec![1, 2],
                kernel_counters: vec![("Udp RcvbufErrors".into(), 3)],
                drop_advice: vec!["raise it".into()],
            },
            first_send_ns: 10,
            last_receive_ns: 20,
            tour_latency: vec![3],
            tour_latency_corrected: vec![4],
            hop_latency: vec![5],
            negative_hops: 1,
            timestamping: Some(Timestamping::Mixed),
        };
        let wire = proto::MemberTourReport::from(report.clone());
        let stats = wire.stats.as_ref().unwrap();
        assert_eq!(
            stats.counters.len(),
            22,
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
}
