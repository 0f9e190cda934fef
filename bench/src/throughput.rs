//! `throughput`: messages per second one member forwards against sockperf's receive rate.

use anyhow::Result;

use crate::bench::Bench;
use crate::latency::{WARMUP_TOURS, note_members, placement, placement_note};
use crate::report::{Section, Table, Target, Verdict, kilo_rate, median, ratio};
use crate::sockperf;
use crate::stillepost::{Backend, LocalRun, Poll};

/// Stillepost's fixed header: no message can be shorter.
pub const MIN_MSG_LEN: u32 = stillepost_engine::wire::HEADER_LEN as u32;
/// The largest UDP payload on IPv4.
pub const MAX_MSG_LEN: u32 = 65_507;

#[derive(Debug, Clone)]
pub struct ThroughputOpts {
    pub sizes: Vec<u32>,
    pub rounds: u32,
    pub seconds: u32,
    pub messages: u32,
    pub window: u32,
    pub cpus: Option<Vec<u32>>,
    /// Leave sockperf unpinned instead of mirroring the members' cores.
    pub no_pin: bool,
}

/// The ring run of one throughput measurement.
pub fn ring(
    msg_len: u32,
    messages: u32,
    window: u32,
    backend: Option<Backend>,
    cpus: Option<Vec<u32>>,
) -> LocalRun {
    LocalRun {
        members: 2,
        msg_len,
        count: messages,
        window: window.min(messages),
        tours: WARMUP_TOURS + 1,
        backend,
        poll: Some(Poll::Block),
        cpus,
        placement: None,
        extra: Vec::new(),
    }
}

fn about(opts: &ThroughputOpts) -> String {
    let placement = if opts.no_pin {
        "sockperf is not pinned (--no-pin)"
    } else {
        "sockperf is pinned (taskset) to the cores the members reported, its client where \
         the origin ran and its server where member 1 ran"
    };
    format!(
        "sockperf throughput (one client sends UDP datagrams of the given size to a sockperf \
         server as fast as it can, blocking sockets, `-t {secs}`) against `stillepost local` \
         with 2 members, window {window}, {msgs} messages, `--poll block`. sockperf's number \
         is the server's receive rate: the messages its server received (the `Total N \
         messages received and handled` it prints on SIGINT) divided by the client's run \
         time. The client's own `Message Rate` counts what it sent, including datagrams the \
         kernel dropped at the server's full socket buffer, so it is shown for context only. \
         Stillepost's number is the messages member 1 forwarded per second: \
         `messages_received / total_ns` of the measured tour (each message that came back to \
         the origin went through member 1 once); only runs without loss count. Unlike the \
         sockperf server, which only receives, member 1 receives and sends every message, \
         and so does the origin. {tours} tours per run, the last one measured; the two \
         alternate, Stillepost first in each of {rounds} rounds; {placement}. The ratio is \
         Stillepost / sockperf of the medians over the rounds.",
        secs = opts.seconds,
        window = opts.window.min(opts.messages),
        msgs = opts.messages,
        tours = WARMUP_TOURS + 1,
        rounds = opts.rounds,
    )
}

pub fn run(bench: &mut Bench, opts: &ThroughputOpts) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new(
        "Throughput: messages one member forwards vs sockperf's receive rate",
        about(opts),
    );
    let mut placements = Vec::new();
    let mut tours = Vec::new();
    let mut left_out = Vec::new();
    for &size in &opts.sizes {
        let mut table = Table::new(&[
            "round",
            "sockperf sent/s",
            "sockperf received/s",
            "sockperf loss",
            "Stillepost forwarded/s",
            "Stillepost lost",
            "ratio",
        ])
        .caption(format!("{size} B messages:"));
        let mut peer_rates = Vec::new();
        let mut our_rates = Vec::new();
        for round in 1..=opts.rounds {
            eprintln!(
                "[throughput {size} B] round {round}/{}: stillepost",
                opts.rounds
            );
            let run = ring(size, opts.messages, opts.window, None, opts.cpus.clone());
            let result = bench.stillepost_local(&run)?;
            let tour = &result.tour;
            let rate = tour.messages_per_s().filter(|_| tour.complete());
            let pin = placement(tour, opts.cpus.as_deref(), opts.no_pin);
            placements.push(pin);
            let peer = match bench.sockperf {
                Some(_) => {
                    eprintln!(
                        "[throughput {size} B] round {round}/{}: sockperf",
                        opts.rounds
                    );
                    Some(bench.sockperf_throughput(size, opts.seconds, pin)?)
                }
                None => None,
            };
            let mut cells = vec![round.to_string()];
            match peer {
                Some(peer) => {
                    peer_rates.push(peer.received_per_s());
                    cells.push(kilo_rate(peer.sent_per_s()));
                    cells.push(kilo_rate(peer.received_per_s()));
                    cells.push(format!("{:.1} %", peer.loss_percent()));
                }
                None => cells.extend(["-".to_owned(), "-".to_owned(), "-".to_owned()]),
            }
            cells.push(tour.messages_per_s().map_or_else(|| "-".into(), kilo_rate));
            cells.push(tour.lost.to_string());
            match (rate, peer) {
                (Some(rate), Some(peer)) => cells.push(ratio(rate / peer.received_per_s())),
                _ => cells.push("-".into()),
            }
            match rate {
                Some(rate) => our_rates.push(rate),
                None => section.note(format!(
                    "{size} B round {round}: the tour ended {} with {} messages lost; it does not count",
                    tour.outcome, tour.lost
                )),
            }
            table.row(cells);
            left_out = result.left_out;
            tours.push(result.tour);
        }
        let peer = median(&peer_rates);
        let ours = median(&our_rates);
        table.row(vec![
            "median".into(),
            String::new(),
            peer.map_or_else(|| "-".into(), kilo_rate),
            String::new(),
            ours.map_or_else(|| "-".into(), kilo_rate),
            String::new(),
            match (ours, peer) {
                (Some(ours), Some(peer)) => ratio(ours / peer),
                _ => "-".into(),
            },
        ]);
        section.tables.push(table);
        section.targets.push(target(
            format!("{size} B: forwarded/s >= 1.0x sockperf received/s"),
            ours,
            peer,
        ));
    }
    if bench.sockperf.is_some() {
        section.note(placement_note(&placements, opts.no_pin));
    }
    note_members(&mut section, &tours, &left_out, "");
    section.commands = bench.commands_since(mark);
    Ok(section)
}

fn target(goal: String, ours: Option<f64>, peer: Option<f64>) -> Target {
    let (ratio, verdict, note) = match (ours, peer) {
        (_, None) => (None, Verdict::NotRun, Some(sockperf::MISSING.to_owned())),
        (None, Some(_)) => (
            None,
            Verdict::Miss,
            Some("every Stillepost run lost messages".to_owned()),
        ),
        (Some(ours), Some(peer)) => {
            let r = ours / peer;
            (Some(r), Verdict::from_met(r >= 1.0), None)
        }
    };
    Target {
        goal,
        ratio,
        verdict,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_never_exceeds_the_messages() {
        assert_eq!(ring(64, 100, 256, None, None).window, 100);
        assert_eq!(ring(64, 100_000, 256, None, None).window, 256);
    }

    #[test]
    fn throughput_verdicts() {
        let t = target("g".into(), Some(110.0), Some(100.0));
        assert_eq!(
            (t.verdict, t.ratio_text()),
            (Verdict::Pass, "1.100x".into())
        );
        let t = target("g".into(), Some(90.0), Some(100.0));
        assert_eq!(t.verdict, Verdict::Miss);
        let t = target("g".into(), None, Some(100.0));
        assert_eq!(t.verdict, Verdict::Miss);
        let t = target("g".into(), Some(90.0), None);
        assert_eq!(t.verdict, Verdict::NotRun);
    }
}
