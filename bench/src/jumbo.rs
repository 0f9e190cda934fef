//! `jumbo`: goodput of 1 MiB messages around a 2-member ring against iperf3's UDP receiver
//! goodput with 65000-byte datagrams, on loopback, in the same run.

use anyhow::Result;

use crate::bench::Bench;
use crate::latency::{WARMUP_TOURS, note_members, placement, placement_note};
use crate::report::{Section, Table, Target, Verdict, median, ratio};

/// The target: per-hop goodput at least half of iperf3's.
const TARGET: f64 = 0.5;

#[derive(Debug, Clone)]
pub struct JumboOpts {
    pub msg_len: u32,
    pub messages: u32,
    pub window: u32,
    pub rounds: u32,
    pub seconds: u32,
    pub no_pin: bool,
}

fn mb(bytes_per_s: f64) -> String {
    format!("{:.0} MB/s", bytes_per_s / 1e6)
}

fn about(opts: &JumboOpts) -> String {
    format!(
        "Goodput of large messages: message bytes per second that complete a hop, without \
         loss. Stillepost: `stillepost local` with 2 members, {msgs} messages of {len} B \
         (fragments of at most 65507 B on loopback, forwarded as they arrive), window \
         {window}, `--poll block`; goodput = msg_len × messages received / total time of the \
         measured tour (every message crosses each hop once; a tour that lost anything does \
         not count). iperf3: `iperf3 -u -l 65000 -b 0 -t {secs}` from a client to an `iperf3 -s` \
         server on 127.0.0.1; goodput = the bytes the server received / its seconds \
         (`end.sum_received` of `--json`), which leaves out what the kernel dropped. Each \
         Stillepost member receives and sends every byte; iperf3's server only receives. \
         iperf3 is pinned (taskset) to the cores the members reported unless --no-pin. \
         {tours} tours per Stillepost run, the last measured; the two alternate, Stillepost \
         first, in each of {rounds} rounds; the ratio is of the medians. Target: >= \
         {TARGET}x iperf3.",
        msgs = opts.messages,
        len = opts.msg_len,
        window = opts.window,
        secs = opts.seconds,
        tours = WARMUP_TOURS + 1,
        rounds = opts.rounds,
    )
}

pub fn run(bench: &mut Bench, opts: &JumboOpts) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new(
        "Jumbo: goodput of 1 MiB messages per hop vs iperf3 UDP receiver goodput",
        about(opts),
    );
    let mut table = Table::new(&[
        "round",
        "iperf3 received",
        "Stillepost per hop",
        "Stillepost lost",
        "ratio",
    ]);
    let (mut ours, mut theirs, mut placements, mut tours) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut left_out = Vec::new();
    for round in 1..=opts.rounds {
        eprintln!("[jumbo] round {round}/{}: stillepost", opts.rounds);
        let run = crate::throughput::ring(opts.msg_len, opts.messages, opts.window, None, None);
        let result = bench.stillepost_local(&run)?;
        let tour = &result.tour;
        let goodput = tour
            .messages_per_s()
            .filter(|_| tour.complete())
            .map(|rate| rate * f64::from(opts.msg_len));
        let pin = placement(tour, None, opts.no_pin);
        placements.push(pin);
        eprintln!("[jumbo] round {round}/{}: iperf3", opts.rounds);
        let peer = bench.iperf3_udp(65_000, opts.seconds, pin)?;
        theirs.push(peer);
        match goodput {
            Some(g) => ours.push(g),
            None => section.note(format!(
                "round {round}: the tour ended {} with {} messages lost; it does not count",
                tour.outcome, tour.lost
            )),
        }
        table.row(vec![
            round.to_string(),
            mb(peer),
            goodput.map_or_else(|| "-".into(), mb),
            tour.lost.to_string(),
            goodput.map_or_else(|| "-".into(), |g| ratio(g / peer)),
        ]);
        left_out = result.left_out;
        tours.push(result.tour);
    }
    let (peer, us) = (median(&theirs), median(&ours));
    table.row(vec![
        "median".into(),
        peer.map_or_else(|| "-".into(), mb),
        us.map_or_else(|| "-".into(), mb),
        String::new(),
        match (us, peer) {
            (Some(us), Some(peer)) => ratio(us / peer),
            _ => "-".into(),
        },
    ]);
    section.tables.push(table);
    let (r, verdict, note) = match (us, peer) {
        (Some(us), Some(peer)) => {
            let r = us / peer;
            (Some(r), Verdict::from_met(r >= TARGET), None)
        }
        _ => (
            None,
            Verdict::Miss,
            Some("every Stillepost run lost messages".to_owned()),
        ),
    };
    section.targets.push(Target {
        goal: format!("{} B: per-hop goodput >= {TARGET}x iperf3", opts.msg_len),
        ratio: r,
        verdict,
        note,
    });
    // The same placement as sockperf's elsewhere in the report: client where the origin
    // ran, server where member 1 ran.
    section.note(placement_note(&placements, opts.no_pin).replacen("sockperf", "iperf3", 1));
    note_members(&mut section, &tours, &left_out, "");
    section.commands = bench.commands_since(mark);
    Ok(section)
}
