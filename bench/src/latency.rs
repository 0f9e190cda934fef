//! `latency`: sockperf ping-pong against a 2-member ring with one message in flight.

use anyhow::Result;

use crate::bench::{Bench, Pinning};
use crate::report::{Section, Table, Target, Verdict, median, micros, ratio};
use crate::sockperf::{self, PingPong};
use crate::stillepost::{LocalRun, Poll, Tour};

/// Message length in bytes, UDP payload, for both tools (Stillepost's header included).
pub const MSG_LEN: u32 = 64;
/// Tours run before the measured one, like sockperf's warm-up (its first 400 ms).
pub const WARMUP_TOURS: u32 = 1;

#[derive(Debug, Clone)]
pub struct LatencyOpts {
    pub modes: Vec<Poll>,
    pub rounds: u32,
    pub seconds: u32,
    pub messages: u32,
    pub cpus: Option<Vec<u32>>,
    /// Leave sockperf unpinned instead of mirroring the members' cores.
    pub no_pin: bool,
}

/// Half the tour latency of a 2-member ring at p50, p99 and p99.9, in microseconds: a tour
/// of two members is one round trip, as sockperf's RTT is.
pub fn half_tour_us(tour: &Tour) -> Result<[f64; 3]> {
    let latency = tour.latency()?;
    Ok([latency.p50_ns, latency.p99_ns, latency.p999_ns].map(|ns| ns / 2.0 / 1000.0))
}

/// The ring run of one latency measurement.
pub fn ring(messages: u32, poll: Poll, cpus: Option<Vec<u32>>) -> LocalRun {
    LocalRun {
        members: 2,
        msg_len: MSG_LEN,
        count: messages,
        window: 1,
        tours: WARMUP_TOURS + 1,
        backend: None,
        poll: Some(poll),
        cpus,
        placement: None,
        extra: Vec::new(),
    }
}

pub fn run(bench: &mut Bench, opts: &LatencyOpts) -> Result<Vec<Section>> {
    opts.modes
        .iter()
        .map(|mode| run_mode(bench, opts, *mode))
        .collect()
}

fn about(mode: Poll, opts: &LatencyOpts) -> String {
    let sockperf_side = match mode {
        Poll::Block => "blocking sockets (its default)",
        Poll::Spin => "`--nonblocked` on client and server, so both busy-poll `recvfrom`",
    };
    let placement = if opts.no_pin {
        "sockperf is not pinned (--no-pin)"
    } else {
        "sockperf is pinned (taskset) to the cores the members reported, its client where the \
         origin ran and its server where member 1 ran, because where the two ends of a \
         ping-pong sit decides its wake-up cost"
    };
    format!(
        "sockperf ping-pong, UDP, {MSG_LEN} B, on 127.0.0.1, {sockperf_side}, `-t {secs}`, \
         against `stillepost local` with 2 members, window 1, {MSG_LEN} B messages (header \
         included), {msgs} messages, `--poll {mode}`. sockperf's figure is its latency, RTT/2 \
         (its `---> percentile` lines, in µs; its first 400 ms are warm-up). Stillepost's is \
         the tour latency of each message at the origin divided by 2 (one tour of a 2-member \
         ring is one round trip); it runs {tours} tours and only the last is measured, the \
         first being warm-up. The two alternate, Stillepost first in each of {rounds} rounds; \
         {placement}. Each ratio is Stillepost / sockperf of the medians over the rounds. \
         All figures in µs.",
        secs = opts.seconds,
        msgs = opts.messages,
        tours = WARMUP_TOURS + 1,
        rounds = opts.rounds,
    )
}

struct Round {
    peer: Option<PingPong>,
    ours: [f64; 3],
}

fn run_mode(bench: &mut Bench, opts: &LatencyOpts, mode: Poll) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new(
        format!("Latency, {mode} mode: sockperf ping-pong vs a 2-member ring"),
        about(mode, opts),
    );
    let mut rounds = Vec::new();
    let mut tours = Vec::new();
    let mut left_out = Vec::new();
    let mut placements = Vec::new();
    // Timer interrupts per second, all cores, while each tool ran.
    let (mut our_ticks, mut peer_ticks) = (Vec::new(), Vec::new());
    for round in 1..=opts.rounds {
        eprintln!("[latency {mode}] round {round}/{}: stillepost", opts.rounds);
        let (result, rate) = crate::host::timer_rate(|| {
            bench.stillepost_local(&ring(opts.messages, mode, opts.cpus.clone()))
        });
        let result = result?;
        our_ticks.extend(rate);
        if !result.tour.complete() {
            section.note(format!(
                "round {round}: the measured tour ended {} with {} of {} messages lost",
                result.tour.outcome, result.tour.lost, result.tour.messages_sent
            ));
        }
        let pin = placement(&result.tour, opts.cpus.as_deref(), opts.no_pin);
        placements.push(pin);
        let peer = match bench.sockperf {
            Some(_) => {
                eprintln!("[latency {mode}] round {round}/{}: sockperf", opts.rounds);
                let (peer, rate) = crate::host::timer_rate(|| {
                    bench.sockperf_ping_pong(MSG_LEN, opts.seconds, mode == Poll::Spin, pin)
                });
                let peer = peer?;
                peer_ticks.extend(rate);
                if peer.dropped > 0 {
                    section.note(format!(
                        "round {round}: sockperf counted {} dropped messages",
                        peer.dropped
                    ));
                }
                Some(peer)
            }
            None => None,
        };
        rounds.push(Round {
            peer,
            ours: half_tour_us(&result.tour)?,
        });
        left_out = result.left_out;
        tours.push(result.tour);
    }
    if bench.sockperf.is_some() {
        section.note(placement_note(&placements, opts.no_pin));
    }

    let mut table = Table::new(&[
        "round",
        "sockperf p50",
        "sockperf p99",
        "sockperf p99.9",
        "Stillepost p50",
        "Stillepost p99",
        "Stillepost p99.9",
        "ratio p50",
        "ratio p99",
        "ratio p99.9",
    ])
    .caption("Latency in µs (sockperf: RTT/2; Stillepost: tour latency / 2):");
    let row = |label: String, peer: Option<[f64; 3]>, ours: [f64; 3]| {
        let mut cells = vec![label];
        cells.extend((0..3).map(|i| peer.map_or_else(|| "-".into(), |p| micros(p[i]))));
        cells.extend(ours.iter().map(|v| micros(*v)));
        cells.extend((0..3).map(|i| peer.map_or_else(|| "-".into(), |p| ratio(ours[i] / p[i]))));
        cells
    };
    for (i, round) in rounds.iter().enumerate() {
        let peer = round.peer.map(|p| [p.p50_us, p.p99_us, p.p999_us]);
        table.row(row((i + 1).to_string(), peer, round.ours));
    }
    let ours_median = medians(rounds.iter().map(|r| r.ours));
    let peer_median = medians(
        rounds
            .iter()
            .filter_map(|r| r.peer.map(|p| [p.p50_us, p.p99_us, p.p999_us])),
    );
    if let Some(ours) = ours_median {
        table.row(row("median".into(), peer_median, ours));
    }
    section.tables.push(table);

    // What the members say they ran, and what this binary could not be asked for.
    note_members(&mut section, &tours, &left_out, "");
    let polls = distinct(&tours, |t| t.member_values(|m| &m.poll));
    if mode == Poll::Spin {
        section.note(format!(
            "this machine has {} cores; in spin mode each side keeps 2 of them busy (sockperf: client and server; Stillepost: 2 member threads)",
            bench.host.cores
        ));
        let preempted: Vec<String> = tours.iter().map(|t| t.preempted.to_string()).collect();
        let messages = tours.first().map_or(0, |t| t.messages_sent);
        // Each preemption delays the message in hand: at most this share of the messages.
        let share = tours
            .iter()
            .filter(|t| t.messages_sent > 0)
            .map(|t| t.preempted as f64 / t.messages_sent as f64)
            .reduce(f64::max);
        let reach = match share {
            Some(s) if s < 0.01 => format!(
                "; each delays the message in hand by the time the other thread runs, at most {:.2} % of the messages, so they reach beyond p99 (p99.9), not p99",
                s * 100.0
            ),
            Some(s) => format!(
                "; each delays the message in hand by the time the other thread runs, up to {:.2} % of the messages, enough to reach p99",
                s * 100.0
            ),
            None => String::new(),
        };
        section.note(format!(
            "the spinning members' data-plane threads were preempted {} times in the measured tours of {messages} messages (by round; involuntary context switches, as each result's `preempted` counts them: kernel workers, other processes, this process's control plane){reach}",
            preempted.join(", ")
        ));
        let per_s = |rates: &[f64]| median(rates).map_or_else(|| "-".into(), |r| format!("{r:.0}"));
        // A tick that lands while a message is in flight delays it: with a message in flight
        // all the time, the share of messages a tick meets is ticks/s × round trip.
        let round_trip_s = median(&rounds.iter().map(|r| r.ours[0] * 2e-6).collect::<Vec<_>>());
        let share = match (median(&our_ticks), round_trip_s) {
            (Some(rate), Some(rt)) if rate * rt > 0.0 => {
                format!(
                    ", about 1 message in {:.0} (ticks/s × the p50 round trip)",
                    1.0 / (rate * rt)
                )
            }
            _ => String::new(),
        };
        section.note(format!(
            "timer interrupts (/proc/interrupts LOC, all cores, median over the rounds): {}/s while Stillepost ran, {}/s while sockperf ran: both tools meet the same ticks, and a tick delays the message in flight by its handler{share}",
            per_s(&our_ticks),
            per_s(&peer_ticks)
        ));
    }

    let goals: &[(usize, &str)] = match mode {
        Poll::Block => &[(0, "block p50 <= 1.0x sockperf")],
        Poll::Spin => &[
            (0, "spin p50 <= 1.0x sockperf"),
            (1, "spin p99 <= 1.0x sockperf"),
        ],
    };
    let mode_problem = mode_problem(mode, &left_out, &polls);
    for (i, goal) in goals {
        let measured = match (ours_median, peer_median) {
            (Some(ours), Some(peer)) => Some(ours[*i] / peer[*i]),
            _ => None,
        };
        let (verdict, note) = match (measured, &mode_problem) {
            (None, _) => (Verdict::NotRun, Some(sockperf::MISSING.to_owned())),
            (Some(_), Some(problem)) => (Verdict::Miss, Some(problem.clone())),
            (Some(r), None) => (Verdict::from_met(r <= 1.0), None),
        };
        section.targets.push(Target {
            goal: (*goal).into(),
            ratio: measured,
            verdict,
            note,
        });
    }
    section.commands = bench.commands_since(mark);
    Ok(section)
}

/// Why a run does not count for `mode` even if its numbers would: the binary could not
/// be asked for spin mode, or members report another mode than the one asked for.
fn mode_problem(mode: Poll, left_out: &[String], polls: &[String]) -> Option<String> {
    if mode == Poll::Spin && left_out.iter().any(|flag| flag.starts_with("--poll")) {
        return Some("not measured in spin mode: this stillepost has no --poll".into());
    }
    let other: Vec<&String> = polls
        .iter()
        .filter(|p| p.as_str() != mode.name() && p.as_str() != "not reported")
        .collect();
    if other.is_empty() {
        None
    } else {
        Some(format!(
            "asked for --poll {mode}, members ran {}",
            other
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Element-wise medians of triples; `None` for none.
pub fn medians(values: impl Iterator<Item = [f64; 3]>) -> Option<[f64; 3]> {
    let all: Vec<[f64; 3]> = values.collect();
    let column = |i: usize| median(&all.iter().map(|v| v[i]).collect::<Vec<_>>());
    Some([column(0)?, column(1)?, column(2)?])
}

/// The distinct values of some per-tour list over all tours.
/// Notes what the members reported running (backend, poll mode) and which flags this
/// `stillepost` could not be given; `extra` is appended to the first note.
pub fn note_members(section: &mut Section, tours: &[Tour], left_out: &[String], extra: &str) {
    let backends = distinct(tours, |t| t.member_values(|m| &m.backend));
    let polls = distinct(tours, |t| t.member_values(|m| &m.poll));
    section.note(format!(
        "Stillepost members reported backend: {}; poll: {}{extra}",
        backends.join(", "),
        polls.join(", ")
    ));
    if !left_out.is_empty() {
        section.note(format!(
            "this stillepost does not accept {}; it ran without (in its default mode)",
            left_out.join(", ")
        ));
    }
}

pub fn distinct(tours: &[Tour], values: impl Fn(&Tour) -> Vec<String>) -> Vec<String> {
    let mut all: Vec<String> = tours.iter().flat_map(values).collect();
    all.sort();
    all.dedup();
    all
}

/// Where sockperf runs: its client on the core of the origin (member 0) and its server on
/// member 1's, as the members reported them, so both tools have the same placement. Without
/// reported cores, an explicit `--cpus` list says where the members were asked to run.
pub fn placement(tour: &Tour, cpus: Option<&[u32]>, no_pin: bool) -> Option<Pinning> {
    if no_pin {
        return None;
    }
    let reported = |index: u32| {
        tour.members
            .iter()
            .find(|m| m.index == index)
            .and_then(|m| m.cpu.as_deref())
            .and_then(|cpu| cpu.parse().ok())
    };
    match (reported(0), reported(1), cpus) {
        (Some(client), Some(server), _) => Some(Pinning { server, client }),
        (_, _, Some([client, server, ..])) => Some(Pinning {
            server: *server,
            client: *client,
        }),
        _ => None,
    }
}

/// Says where sockperf ran, over all rounds.
pub fn placement_note(placements: &[Option<Pinning>], no_pin: bool) -> String {
    let mut seen: Vec<String> = placements
        .iter()
        .map(|pin| match pin {
            Some(pin) => format!(
                "client (like the origin) on core {}, server (like member 1) on core {}",
                pin.client, pin.server
            ),
            None => "unpinned".to_owned(),
        })
        .collect();
    seen.sort();
    seen.dedup();
    let why = if no_pin {
        "--no-pin"
    } else {
        "mirroring the cores the Stillepost members reported, so both tools run with the same placement"
    };
    format!("sockperf placement ({why}): {}", seen.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_mode_needs_a_binary_that_can_spin_and_members_that_did() {
        let none: Vec<String> = Vec::new();
        let reported = |p: &str| vec![p.to_owned()];
        assert_eq!(
            mode_problem(
                Poll::Spin,
                &["--poll spin".into()],
                &reported("not reported")
            ),
            Some("not measured in spin mode: this stillepost has no --poll".into())
        );
        // Without --poll, block mode is what the binary does anyway.
        assert_eq!(
            mode_problem(
                Poll::Block,
                &["--poll block".into()],
                &reported("not reported")
            ),
            None
        );
        assert_eq!(
            mode_problem(Poll::Spin, &none, &reported("block")),
            Some("asked for --poll spin, members ran block".into())
        );
        assert_eq!(mode_problem(Poll::Spin, &none, &reported("spin")), None);
    }

    #[test]
    fn sockperf_mirrors_the_cores_the_members_reported() {
        let uring = crate::stillepost::parse_last_tour(include_str!(
            "../testdata/stillepost-local-uring-block-2-tours.json"
        ))
        .unwrap();
        let both_on_1 = Some(Pinning {
            server: 1,
            client: 1,
        });
        assert_eq!(placement(&uring, None, false), both_on_1);
        // What the members report wins over what they were asked for.
        assert_eq!(placement(&uring, Some(&[0, 1]), false), both_on_1);
        assert_eq!(placement(&uring, None, true), None);
        // A binary that reports no cores: the requested list, origin first, or nothing.
        let old = crate::stillepost::parse_last_tour(include_str!(
            "../testdata/stillepost-local-2-members-2-tours.json"
        ))
        .unwrap();
        assert_eq!(
            placement(&old, Some(&[0, 1]), false),
            Some(Pinning {
                server: 1,
                client: 0,
            })
        );
        assert_eq!(placement(&old, None, false), None);
        assert_eq!(
            placement_note(&[both_on_1, both_on_1], false),
            "sockperf placement (mirroring the cores the Stillepost members reported, so both \
             tools run with the same placement): client (like the origin) on core 1, server \
             (like member 1) on core 1"
        );
    }

    #[test]
    fn element_wise_medians() {
        let values = [[1.0, 10.0, 100.0], [3.0, 30.0, 300.0], [2.0, 20.0, 200.0]];
        assert_eq!(medians(values.into_iter()), Some([2.0, 20.0, 200.0]));
        assert_eq!(medians(std::iter::empty()), None);
    }
}
