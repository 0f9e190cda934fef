//! A tour's result, assembled from its members' end-of-tour reports: pure, on domain
//! types, so every case is unit-tested without gRPC.

use crate::domain::{
    ClockEstimate, HopLoss, HopResult, MemberReport, MemberStats, Outcome, TourResult,
};
use crate::proto::TourParams;
use stillepost_engine::counters::HopCounters;
use stillepost_engine::tour::Phase;

/// What assembly needs to know of a ring member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seat {
    /// Its peer endpoint, as configured.
    pub peer_endpoint: String,
    /// The clock it reads: members with the same one need no clock probes ("" unknown).
    pub clock_id: String,
}

impl Seat {
    /// Whether two members read the same clock (same host, no injected shift).
    pub fn same_clock(&self, other: &Seat) -> bool {
        !self.clock_id.is_empty() && self.clock_id == other.clock_id
    }
}

/// Builds a tour's result from the members' end-of-tour reports, one per seat in ring
/// order; a report that failed carries the text of its error. A report of another tour,
/// or a missing one, counts as no report.
///
/// Loss is located hop by hop: a hop i→i+1 lost what member i sent or forwarded and member
/// i+1 never received; messages still held by a member (forward-immediately false) are
/// reported on that member. Together they add up to `lost`.
pub fn assemble_result(
    tour_id: u64,
    params: TourParams,
    seats: &[Seat],
    reports: Vec<Result<MemberReport, String>>,
    mut error: Option<String>,
    started_unix_ms: u64,
    clocks: &[Option<ClockEstimate>],
) -> TourResult {
    let n = seats.len();
    let mut stats: Vec<MemberStats> = Vec::with_capacity(n);
    let mut reported = vec![false; n];
    let mut origin_report = None;
    let mut arrivals = vec![None; n];
    let mut reports = reports.into_iter();
    for (index, seat) in seats.iter().enumerate() {
        let report = reports
            .next()
            .unwrap_or_else(|| {
                Err(format!(
                    "member {index} ({}) sent no report",
                    seat.peer_endpoint
                ))
            })
            .and_then(|r| {
                if r.tour_id == tour_id {
                    Ok(r)
                } else {
                    Err(format!(
                        "member {index} ({}) reported tour {:016x} instead of tour {tour_id:016x}",
                        seat.peer_endpoint, r.tour_id
                    ))
                }
            });
        match report {
            Ok(report) => {
                let mut s = report.stats.clone();
                s.index = index as u32;
                stats.push(s);
                reported[index] = true;
                arrivals[index] = Some((
                    report.hop_latency.clone(),
                    report.hop_ipdv.clone(),
                    report.negative_hops,
                    report.timestamping,
                ));
                if index == 0 {
                    origin_report = Some(report);
                }
            }
            Err(text) => {
                // A member that failed one call of the tour (Wait) fails the next (End)
                // too: it is named once, with its first failure.
                let named = text.split_once(')').map_or(text.as_str(), |(who, _)| who);
                error = Some(match error {
                    Some(prev) if prev.contains(named) => prev,
                    Some(prev) => format!("{prev}; {text}"),
                    None => text,
                });
                stats.push(MemberStats {
                    index: index as u32,
                    peer_endpoint: seat.peer_endpoint.clone(),
                    report_missing: true,
                    ..Default::default()
                });
            }
        }
    }
    let (sent, received) = stats
        .first()
        .map_or((0, 0), |o| (o.counters.tour.sent, o.counters.tour.received));
    // A hop whose sender or receiver could not report has no known loss: it is left out
    // rather than guessed.
    // What left member `from` for the next one: the origin's sends, a forwarder's forwards.
    let out = |from: usize| {
        let c = &stats[from].counters.tour;
        if from == 0 { c.sent } else { c.forwarded }
    };
    let hop_losses: Vec<HopLoss> = (0..n)
        .filter(|&from| reported[from] && reported[(from + 1) % n])
        .map(|from| {
            let to = (from + 1) % n;
            let out = out(from);
            // Messages that stalled in `from` (forwarded after more than the member
            // timeout) were lost because of `from`, not on the hop: not counted here.
            let stalled = if from == 0 {
                0
            } else {
                stats[from].counters.tour.stalled
            };
            HopLoss {
                from: from as u32,
                to: to as u32,
                lost: out
                    .saturating_sub(stats[to].counters.tour.received)
                    .saturating_sub(stalled),
            }
        })
        .collect();
    // Hop i-1 → i as member i recorded it; a hop whose receiver could not report is left out.
    let hops = (1..=n)
        .map(|k| k % n)
        .filter_map(|to| {
            let from = (to + n - 1) % n;
            let (latency, ipdv, negative, timestamping) = arrivals[to].clone()?;
            let lost = hop_losses
                .iter()
                .find(|h| h.from == from as u32 && h.to == to as u32)
                .map_or(0, |h| h.lost);
            let receiver = &stats[to].counters.tour;
            Some(HopResult {
                from: from as u32,
                to: to as u32,
                latency,
                ipdv,
                counters: HopCounters {
                    sent: if reported[from] { out(from) } else { 0 },
                    received: receiver.received,
                    lost,
                    duplicates: receiver.duplicates,
                    reordered: receiver.reordered,
                    negative,
                },
                same_clock: seats[from].same_clock(&seats[to]),
                clock: clocks.get(to).copied().flatten().unwrap_or_default(),
                timestamping,
            })
        })
        .collect();
    let tour_ipdv = origin_report
        .as_ref()
        .map(|r| r.tour_ipdv.clone())
        .unwrap_or_default();
    let tour_latency_corrected = origin_report
        .as_ref()
        .map(|r| r.tour_latency_corrected.clone())
        .unwrap_or_default();
    let (outcome, total_ns, tour_latency) = match &origin_report {
        Some(r) => (
            if error.is_some() {
                Outcome::Failed
            } else if r.phase == Some(Phase::Complete) {
                Outcome::Complete
            } else {
                Outcome::TimedOut
            },
            r.last_receive_ns.saturating_sub(r.first_send_ns),
            r.tour_latency.clone(),
        ),
        None => (Outcome::Failed, 0, Vec::new()),
    };
    TourResult {
        tour_id,
        params,
        outcome,
        error,
        total_ns: if received == 0 { 0 } else { total_ns },
        messages_sent: sent,
        // Without the origin's report, what it sent is not known.
        messages_unsent: if origin_report.is_some() {
            u64::from(params.count).saturating_sub(sent)
        } else {
            0
        },
        messages_received: received,
        lost: sent.saturating_sub(received),
        tour_latency,
        tour_latency_corrected,
        tour_ipdv,
        members: stats,
        hop_losses,
        hops,
        started_unix_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use stillepost_engine::counters::{Counters, MemberCounters, Timestamping};

    const TOUR: u64 = 7;

    fn params(count: u32) -> TourParams {
        TourParams {
            msg_len: 512,
            count,
            forward_immediately: true,
            member_timeout_ms: 2000,
            ..TourParams::default()
        }
    }

    /// Three members on two hosts: 0 alone, 1 and 2 together.
    fn seats() -> Vec<Seat> {
        ["a", "b", "b"]
            .iter()
            .enumerate()
            .map(|(i, clock)| Seat {
                peer_endpoint: format!("10.0.0.{}:7101", i + 1),
                clock_id: (*clock).to_string(),
            })
            .collect()
    }

    fn report(index: u32, phase: Phase, counters: Counters) -> Result<MemberReport, String> {
        Ok(MemberReport {
            tour_id: TOUR,
            phase: Some(phase),
            stats: MemberStats {
                index,
                peer_endpoint: format!("10.0.0.{}:7101", index + 1),
                counters: MemberCounters {
                    tour: counters,
                    ..MemberCounters::default()
                },
                ..MemberStats::default()
            },
            first_send_ns: 1_000,
            last_receive_ns: 26_000,
            hop_latency: vec![index as u8],
            negative_hops: u64::from(index),
            timestamping: Some(Timestamping::KernelSoftware),
            ..MemberReport::default()
        })
    }

    fn origin(sent: u64, received: u64, phase: Phase) -> Result<MemberReport, String> {
        report(
            0,
            phase,
            Counters {
                sent,
                received,
                ..Counters::default()
            },
        )
    }

    fn forwarder(index: u32, received: u64, forwarded: u64) -> Result<MemberReport, String> {
        report(
            index,
            Phase::Armed,
            Counters {
                received,
                forwarded,
                ..Counters::default()
            },
        )
    }

    fn losses(result: &TourResult) -> Vec<(u32, u32, u64)> {
        result
            .hop_losses
            .iter()
            .map(|h| (h.from, h.to, h.lost))
            .collect()
    }

    fn probed() -> ClockEstimate {
        ClockEstimate {
            offset_ns: -40_000,
            error_bound_ns: 3_550,
            min_rtt_ns: 7_100,
            samples: 32,
            sent: 32,
            timestamping: Some(Timestamping::KernelSoftware),
        }
    }

    #[test]
    fn a_complete_tour_has_every_hop_with_its_clock() {
        let reports = vec![
            origin(100, 100, Phase::Complete),
            forwarder(1, 100, 100),
            forwarder(2, 100, 100),
        ];
        let clocks = [None, Some(probed()), None];
        let r = assemble_result(TOUR, params(100), &seats(), reports, None, 5, &clocks);
        assert_eq!(r.outcome, Outcome::Complete);
        assert_eq!(r.error, None);
        assert_eq!(
            (
                r.messages_sent,
                r.messages_received,
                r.lost,
                r.messages_unsent
            ),
            (100, 100, 0, 0)
        );
        assert_eq!(r.total_ns, 25_000);
        assert_eq!(r.started_unix_ms, 5);
        assert_eq!(losses(&r), [(0, 1, 0), (1, 2, 0), (2, 0, 0)]);
        let hops: Vec<(u32, u32, bool, ClockEstimate, Vec<u8>, u64)> = r
            .hops
            .iter()
            .map(|h| {
                (
                    h.from,
                    h.to,
                    h.same_clock,
                    h.clock,
                    h.latency.clone(),
                    h.counters.negative,
                )
            })
            .collect();
        assert_eq!(
            hops,
            [
                (0, 1, false, probed(), vec![1], 1),
                (1, 2, true, ClockEstimate::default(), vec![2], 2),
                (2, 0, false, ClockEstimate::default(), vec![0], 0),
            ]
        );
        assert!(
            r.hops
                .iter()
                .all(|h| h.timestamping == Some(Timestamping::KernelSoftware))
        );
    }

    #[test]
    fn loss_is_located_on_the_hop_that_lost_it() {
        // Hop 1→2 lost 3 of the 100 messages; the origin timed out waiting for them.
        let reports = vec![
            origin(100, 97, Phase::TimedOut),
            forwarder(1, 100, 100),
            forwarder(2, 97, 97),
        ];
        let r = assemble_result(TOUR, params(100), &seats(), reports, None, 0, &[]);
        assert_eq!(r.outcome, Outcome::TimedOut);
        assert_eq!((r.messages_sent, r.messages_received, r.lost), (100, 97, 3));
        assert_eq!(losses(&r), [(0, 1, 0), (1, 2, 3), (2, 0, 0)]);
        let lost: Vec<u64> = r.hops.iter().map(|h| h.counters.lost).collect();
        assert_eq!(lost, [0, 3, 0], "hops 0→1, 1→2, 2→0");
    }

    #[test]
    fn held_messages_and_hop_losses_add_up_to_the_loss() {
        // Hold mode: member 1 still held 4 when the tour ended, hop 2→0 lost 1.
        let mut held = forwarder(1, 100, 96);
        if let Ok(r) = &mut held {
            r.stats.counters.tour.held = 4;
        }
        let reports = vec![origin(100, 95, Phase::TimedOut), held, forwarder(2, 96, 96)];
        let r = assemble_result(TOUR, params(100), &seats(), reports, None, 0, &[]);
        assert_eq!(losses(&r), [(0, 1, 0), (1, 2, 0), (2, 0, 1)]);
        assert_eq!(r.members[1].counters.tour.held, 4);
        let hop_lost: u64 = r.hop_losses.iter().map(|h| h.lost).sum();
        assert_eq!(hop_lost + r.members[1].counters.tour.held, r.lost);
        assert_eq!(r.lost, 5);
    }

    /// A message member 1 forwarded after the member timeout (it stalled) and member 2
    /// no longer took is blamed on member 1, not on hop 1→2.
    #[test]
    fn messages_that_stalled_in_a_member_are_not_hop_losses() {
        let mut stalled = forwarder(1, 100, 100);
        if let Ok(r) = &mut stalled {
            r.stats.counters.tour.stalled = 1;
        }
        let reports = vec![
            origin(100, 99, Phase::TimedOut),
            stalled,
            forwarder(2, 99, 99),
        ];
        let r = assemble_result(TOUR, params(100), &seats(), reports, None, 0, &[]);
        assert_eq!(losses(&r), [(0, 1, 0), (1, 2, 0), (2, 0, 0)]);
        assert_eq!(r.lost, 1);
        assert_eq!(r.members[1].counters.tour.stalled, 1);
    }

    #[test]
    fn a_member_that_fails_to_report_fails_the_tour_and_its_hops_are_left_out() {
        let reports = vec![
            origin(100, 97, Phase::TimedOut),
            Err("member 1 (b:7001) is unreachable: connection refused".to_string()),
            forwarder(2, 97, 97),
        ];
        let r = assemble_result(TOUR, params(100), &seats(), reports, None, 0, &[]);
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(
            r.error.as_deref(),
            Some("member 1 (b:7001) is unreachable: connection refused")
        );
        // Only hop 2→0 has both ends reported; only hops into 2 and 0 were recorded.
        assert_eq!(losses(&r), [(2, 0, 0)]);
        let hops: Vec<(u32, u32)> = r.hops.iter().map(|h| (h.from, h.to)).collect();
        assert_eq!(hops, [(1, 2), (2, 0)]);
        assert_eq!(
            r.members[1],
            MemberStats {
                index: 1,
                peer_endpoint: "10.0.0.2:7101".into(),
                report_missing: true,
                ..MemberStats::default()
            }
        );
        assert_eq!((r.messages_sent, r.lost), (100, 3));
    }

    /// The origin's failure seen by the tour's wait and again by its end is said once.
    #[test]
    fn the_same_failure_is_said_once() {
        let gone = "member 0 (a:7001) is unreachable: connection refused; check it".to_string();
        let reports = vec![
            Err(gone.clone()),
            forwarder(1, 100, 100),
            forwarder(2, 100, 100),
        ];
        let r = assemble_result(
            TOUR,
            params(100),
            &seats(),
            reports,
            Some(gone.clone()),
            0,
            &[],
        );
        assert_eq!(r.error, Some(gone));
    }

    #[test]
    fn a_silent_origin_fails_the_tour_with_nothing_measured() {
        let reports = vec![
            Err("member 0 (a:7001) refused End: not armed".to_string()),
            forwarder(1, 100, 100),
            forwarder(2, 100, 100),
        ];
        let earlier = Some("the origin stopped answering".to_string());
        let r = assemble_result(TOUR, params(100), &seats(), reports, earlier, 0, &[]);
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(
            r.error.as_deref(),
            Some("the origin stopped answering; member 0 (a:7001) refused End: not armed")
        );
        // What the origin sent is not known: nothing is claimed unsent either.
        assert_eq!((r.messages_sent, r.messages_unsent, r.total_ns), (0, 0, 0));
        assert!(r.members[0].report_missing);
        assert!(!r.members[1].report_missing);
        assert_eq!(losses(&r), [(1, 2, 0)]);
    }

    #[test]
    fn a_member_reporting_another_tour_counts_as_not_reported() {
        let mut other = forwarder(1, 100, 100);
        if let Ok(r) = &mut other {
            r.tour_id = 9;
        }
        let reports = vec![
            origin(100, 100, Phase::Complete),
            other,
            forwarder(2, 100, 100),
        ];
        let r = assemble_result(TOUR, params(100), &seats(), reports, None, 0, &[]);
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(
            r.error.as_deref(),
            Some(
                "member 1 (10.0.0.2:7101) reported tour 0000000000000009 instead of tour 0000000000000007"
            )
        );
        assert_eq!(r.members[1].counters, MemberCounters::default());
        assert_eq!(losses(&r), [(2, 0, 0)]);
    }

    #[test]
    fn duplicates_and_reordering_are_those_the_receiver_counted() {
        let with = |index: u32, duplicates: u64, reordered: u64| {
            report(
                index,
                Phase::Armed,
                Counters {
                    received: 100,
                    forwarded: 100,
                    duplicates,
                    reordered,
                    ..Counters::default()
                },
            )
        };
        let mut origin = origin(100, 100, Phase::Complete);
        if let Ok(r) = &mut origin {
            r.stats.counters.tour.duplicates = 1;
            r.stats.counters.tour.reordered = 4;
        }
        let reports = vec![origin, with(1, 2, 0), with(2, 3, 5)];
        let r = assemble_result(TOUR, params(100), &seats(), reports, None, 0, &[]);
        let per_hop: Vec<(u32, u32, u64, u64)> = r
            .hops
            .iter()
            .map(|h| (h.from, h.to, h.counters.duplicates, h.counters.reordered))
            .collect();
        assert_eq!(per_hop, [(0, 1, 2, 0), (1, 2, 3, 5), (2, 0, 1, 4)]);
        let duplicates: u64 = r.hops.iter().map(|h| h.counters.duplicates).sum();
        let reordered: u64 = r.hops.iter().map(|h| h.counters.reordered).sum();
        assert_eq!((duplicates, reordered), (6, 9));
        // Duplicates are no loss.
        assert_eq!(r.lost, 0);
        assert_eq!(r.outcome, Outcome::Complete);
    }

    #[test]
    fn missing_reports_fail_the_tour_and_an_empty_ring_has_nothing() {
        let reports = vec![origin(100, 100, Phase::Complete)];
        let r = assemble_result(TOUR, params(100), &seats(), reports, None, 0, &[]);
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(
            r.error.as_deref(),
            Some(
                "member 1 (10.0.0.2:7101) sent no report; member 2 (10.0.0.3:7101) sent no report"
            )
        );
        assert_eq!(r.members.len(), 3);
        assert_eq!(losses(&r), []);
        let hops: Vec<(u32, u32)> = r.hops.iter().map(|h| (h.from, h.to)).collect();
        assert_eq!(hops, [(2, 0)]);

        let r = assemble_result(TOUR, params(100), &[], Vec::new(), None, 0, &[]);
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!((r.members.len(), r.hops.len(), r.messages_sent), (0, 0, 0));
    }
}
