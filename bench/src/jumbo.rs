//! `jumbo`: goodput of 1 MiB messages around a 2-member ring against iperf3's UDP receiver
//! goodput with 65000-byte datagrams, on loopback, in the same run.

use anyhow::Result;

use crate::bench::Bench;
use crate::latency::{WARMUP_TOURS, note_members, placement, placement_note};
use crate::report::{Section, Table, Target, Verdict, median, ratio};

/// The target: per-hop goodput at least half of iperf3's.
const TARGET: f64 = 0.5;
/// Datagram size of the offload comparison: an Ethernet MTU of 1500 less IPv4 and UDP.
const MTU_DATAGRAM: u32 = 1472;
/// The default message length: 1 MiB.
pub const MSG_LEN: u32 = 1 << 20;
/// The default messages per tour.
pub const MESSAGES: u32 = 1000;
/// The default window: one message in flight.
pub const WINDOW: u32 = 1;
/// Most messages per tour in the offload comparison (each is ~713 datagrams of 1472 B).
const OFFLOAD_MESSAGES: u32 = 200;

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

/// A goodput, or "-" when there is none.
fn mb_or_dash(bytes_per_s: Option<f64>) -> String {
    bytes_per_s.map_or_else(|| "-".into(), mb)
}

/// `a / b`, or "-" when either is missing.
fn ratio_or_dash(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => ratio(a / b),
        _ => "-".into(),
    }
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
            mb_or_dash(goodput),
            tour.lost.to_string(),
            ratio_or_dash(goodput, Some(peer)),
        ]);
        left_out = result.left_out;
        tours.push(result.tour);
    }
    let (peer, us) = (median(&theirs), median(&ours));
    table.row(vec![
        "median".into(),
        mb_or_dash(peer),
        mb_or_dash(us),
        String::new(),
        ratio_or_dash(us, peer),
    ]);
    section.tables.push(table);
    offload_comparison(bench, opts, &mut section, &placements)?;
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

/// The same messages in datagrams of 1472 B (an Ethernet MTU): Stillepost with GSO and GRO
/// (the default) and with `--no-offload`, and iperf3 with 1472-byte datagrams, per round.
fn offload_comparison(
    bench: &mut Bench,
    opts: &JumboOpts,
    section: &mut Section,
    placements: &[Option<crate::bench::Pinning>],
) -> Result<()> {
    let messages = opts.messages.min(OFFLOAD_MESSAGES);
    section.about.push_str(&format!(
        " Second table: the same {len} B messages in datagrams of at most {MTU_DATAGRAM} B \
         (`--max-datagram {MTU_DATAGRAM}`, as on a 1500-byte MTU), {messages} per tour, with \
         UDP GSO and GRO (the default) and with `--no-offload` (one send and one receive per \
         datagram), against `iperf3 -u -l {MTU_DATAGRAM} -b 0` in the same round; no target, \
         it shows what segmentation offload gives.",
        len = opts.msg_len,
    ));
    let mut table = Table::new(&[
        "round",
        "iperf3 -l 1472 received",
        "GSO/GRO per hop",
        "--no-offload per hop",
        "GSO/GRO ÷ --no-offload",
        "GSO/GRO ÷ iperf3",
    ]);
    let (mut with, mut without, mut peers) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=opts.rounds {
        let mut goodput = |offload: bool| -> Result<Option<f64>> {
            eprintln!(
                "[jumbo] round {round}/{}: stillepost, {MTU_DATAGRAM} B datagrams{}",
                opts.rounds,
                if offload { "" } else { ", --no-offload" }
            );
            let mut run = crate::throughput::ring(opts.msg_len, messages, opts.window, None, None);
            run.extra = vec!["--max-datagram".into(), MTU_DATAGRAM.to_string()];
            if !offload {
                run.extra.push("--no-offload".into());
            }
            let tour = bench.stillepost_local(&run)?.tour;
            Ok(tour
                .messages_per_s()
                .filter(|_| tour.complete())
                .map(|rate| rate * f64::from(opts.msg_len)))
        };
        let (on, off) = (goodput(true)?, goodput(false)?);
        eprintln!(
            "[jumbo] round {round}/{}: iperf3 -l {MTU_DATAGRAM}",
            opts.rounds
        );
        let pin = placements.get(round as usize - 1).copied().flatten();
        let peer = bench.iperf3_udp(MTU_DATAGRAM, opts.seconds, pin)?;
        peers.push(peer);
        with.extend(on);
        without.extend(off);
        let show = |g: Option<f64>| g.map_or_else(|| "lost messages".into(), mb);
        table.row(vec![
            round.to_string(),
            mb(peer),
            show(on),
            show(off),
            ratio_or_dash(on, off),
            ratio_or_dash(on, Some(peer)),
        ]);
    }
    let (peer, on, off) = (median(&peers), median(&with), median(&without));
    table.row(vec![
        "median".into(),
        mb_or_dash(peer),
        mb_or_dash(on),
        mb_or_dash(off),
        ratio_or_dash(on, off),
        ratio_or_dash(on, peer),
    ]);
    section.tables.push(table);
    Ok(())
}
