//! `scaling`: tour latency and cost per hop as the ring grows.

use anyhow::Result;

use crate::bench::Bench;
use crate::latency::{MSG_LEN, WARMUP_TOURS, note_members};
use crate::report::{Section, Table, Target, Verdict, median, micros, ratio};
use crate::stillepost::{LocalRun, Poll};

/// Per-hop cost counts as flat while the largest is at most this times the smallest
/// (issue 16's target).
pub const FLAT_LIMIT: f64 = 1.10;

#[derive(Debug, Clone)]
pub struct ScalingOpts {
    pub members: Vec<u32>,
    pub rounds: u32,
    pub messages: u32,
}

fn about(opts: &ScalingOpts) -> String {
    format!(
        "`stillepost local` rings of {sizes} members, `--poll block`, window 1, {msgs} \
         messages of {MSG_LEN} B, {tours} tours per run with the last one measured; the ring \
         sizes alternate within each of {rounds} rounds. Tour p50 is the median tour latency \
         at the origin; the cost per hop is tour p50 / members (a tour crosses as many hops \
         as the ring has members). CPU per hop: the members' data-plane threads' CPU time in \
         the tour (`cpu_ns`) / (messages × members), which counts all the work of a hop, the \
         origin's bookkeeping included. Stillepost places a window-1 ring's members together \
         on one core. Target: per-hop cost stays flat, read as max/min of the per-hop costs \
         <= {FLAT_LIMIT}x. Times in µs.",
        sizes = opts
            .members
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        msgs = opts.messages,
        tours = WARMUP_TOURS + 1,
        rounds = opts.rounds,
    )
}

pub fn run(bench: &mut Bench, opts: &ScalingOpts) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new("Scaling: cost per hop as the ring grows", about(opts));
    let mut p50_us: Vec<Vec<f64>> = vec![Vec::new(); opts.members.len()];
    let mut cpu_us: Vec<Vec<f64>> = vec![Vec::new(); opts.members.len()];
    let mut tours = Vec::new();
    let mut left_out = Vec::new();
    for round in 1..=opts.rounds {
        for (i, &members) in opts.members.iter().enumerate() {
            eprintln!("[scaling] round {round}/{}: {members} members", opts.rounds);
            let run = LocalRun {
                members,
                msg_len: MSG_LEN,
                count: opts.messages,
                window: 1,
                tours: WARMUP_TOURS + 1,
                backend: None,
                poll: Some(Poll::Block),
                cpus: None,
                placement: None,
                extra: Vec::new(),
            };
            let result = bench.stillepost_local(&run)?;
            if !result.tour.complete() {
                section.note(format!(
                    "{members} members, round {round}: the tour ended {} with {} messages lost",
                    result.tour.outcome, result.tour.lost
                ));
            }
            p50_us[i].push(result.tour.latency()?.p50_ns / 1000.0);
            if result.tour.cpu_ns > 0 && result.tour.messages_sent > 0 {
                cpu_us[i].push(
                    result.tour.cpu_ns as f64
                        / result.tour.messages_sent as f64
                        / f64::from(members)
                        / 1000.0,
                );
            }
            left_out = result.left_out;
            tours.push(result.tour);
        }
    }

    let mut header = vec!["members".to_owned()];
    header.extend((1..=opts.rounds).map(|r| format!("tour p50, round {r}")));
    header.extend(
        [
            "median tour p50",
            "per hop",
            "per hop vs smallest",
            "CPU per hop",
        ]
        .map(String::from),
    );
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(&header).caption("Tour p50 and cost per hop, µs:");
    let per_hop: Vec<f64> = opts
        .members
        .iter()
        .zip(&p50_us)
        .filter_map(|(members, p50s)| median(p50s).map(|m| m / f64::from(*members)))
        .collect();
    let smallest = per_hop.first().copied();
    let cpu_per_hop: Vec<Option<f64>> = cpu_us.iter().map(|c| median(c)).collect();
    for (((members, p50s), hop), cpu) in opts
        .members
        .iter()
        .zip(&p50_us)
        .zip(&per_hop)
        .zip(&cpu_per_hop)
    {
        let mut cells = vec![members.to_string()];
        cells.extend(p50s.iter().map(|v| micros(*v)));
        cells.push(median(p50s).map_or_else(|| "-".into(), micros));
        cells.push(micros(*hop));
        cells.push(smallest.map_or_else(|| "-".into(), |s| ratio(hop / s)));
        cells.push(cpu.map_or_else(|| "-".into(), micros));
        table.row(cells);
    }
    section.tables.push(table);
    if let Some(note) = beyond_the_smallest(&opts.members, &per_hop, &cpu_per_hop) {
        section.note(note);
    }

    let spread = flatness(&per_hop);
    section.targets.push(Target {
        goal: format!("per-hop cost flat: max/min <= {FLAT_LIMIT}x"),
        ratio: spread,
        verdict: spread.map_or(Verdict::NotRun, |s| Verdict::from_met(s <= FLAT_LIMIT)),
        note: None,
    });
    let cores = format!("; this machine has {} cores", bench.host.cores);
    note_members(&mut section, &tours, &left_out, &cores);
    section.commands = bench.commands_since(mark);
    Ok(section)
}

/// What the measurements say about why the per-hop cost grows, comparing the smallest
/// ring with the largest: whether the CPU work per hop grows with it (more work per hop
/// on the shared core) or stays (the same work, more of it inside the latency).
fn beyond_the_smallest(members: &[u32], per_hop: &[f64], cpu: &[Option<f64>]) -> Option<String> {
    let last = members.len().checked_sub(1).filter(|&l| l > 0)?;
    if per_hop.len() != members.len() || cpu.len() != members.len() {
        return None;
    }
    let (first, largest) = (members[0], members[last]);
    let latency = per_hop[last] / per_hop[0];
    let mut note = format!(
        "from {first} to {largest} members the latency per hop changes {}",
        ratio(latency)
    );
    let (Some(a), Some(b)) = (cpu[0], cpu[last]) else {
        return Some(note);
    };
    let work = b / a;
    let inside = |hop: f64, cpu: f64| format!("{:.0} %", 100.0 * hop / cpu);
    if work >= 1.1 {
        note.push_str(&format!(
            ", and the CPU work per hop with it ({} µs to {} µs, {}): a hop costs more work on the shared core in a larger ring. The likely reason (this benchmark reads no cache-miss counters to show it): with {first} members every wake-up returns to a thread that ran a hop before, whose state is still in the core's caches; with more, each brings back a thread that ran several hops ago. Across hosts every member has a core and its caches to itself, so this does not grow with the ring there",
            micros(a),
            micros(b),
            ratio(work)
        ));
    } else {
        note.push_str(&format!(
            ", while the CPU work per hop does not ({} µs to {} µs, {}): a larger ring does no more work per hop. What changes is how much of that work the tour latency takes in: {} of it with {first} members, {} with {largest}. All members share one core here, so a message waits for all the work the members do between its send and its return, and the origin's own work between a message's return and the next send (recording it, sending the next), which the tour latency leaves out, is a larger part of a small ring's work. Across hosts no member's work waits for another's core, so a hop costs the same in any ring",
            micros(a),
            micros(b),
            ratio(work),
            inside(per_hop[0], a),
            inside(per_hop[last], b),
        ));
    }
    Some(note)
}

/// max / min of the per-hop costs; `None` for fewer than one value or a zero minimum.
pub fn flatness(per_hop: &[f64]) -> Option<f64> {
    let max = per_hop.iter().copied().reduce(f64::max)?;
    let min = per_hop.iter().copied().reduce(f64::min)?;
    (min > 0.0).then(|| max / min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_says_whether_the_work_per_hop_grows() {
        let note = beyond_the_smallest(
            &[2, 4, 8],
            &[6.0, 10.0, 11.0],
            &[Some(10.0), Some(13.0), Some(13.5)],
        )
        .unwrap();
        assert!(
            note.starts_with("from 2 to 8 members the latency per hop changes 1.83x, and the CPU work per hop with it (10.00 µs to 13.50 µs, 1.35x)"),
            "{note}"
        );
        let note = beyond_the_smallest(
            &[2, 4, 16],
            &[8.0, 10.0, 12.0],
            &[Some(13.0), None, Some(13.0)],
        )
        .unwrap();
        assert!(
            note.starts_with("from 2 to 16 members the latency per hop changes 1.50x, while the CPU work per hop does not (13.00 µs to 13.00 µs, 1.00x): a larger ring does no more work per hop. What changes is how much of that work the tour latency takes in: 62 % of it with 2 members, 92 % with 16."),
            "{note}"
        );
        assert_eq!(
            beyond_the_smallest(&[2, 4], &[6.0, 10.0], &[None, None]),
            Some("from 2 to 4 members the latency per hop changes 1.67x".to_string())
        );
        assert_eq!(beyond_the_smallest(&[2], &[6.0], &[None]), None);
    }

    #[test]
    fn flatness_is_the_spread_of_per_hop_costs() {
        assert_eq!(flatness(&[7.0, 7.0, 7.0]), Some(1.0));
        assert_eq!(flatness(&[8.0, 7.0, 14.0]), Some(2.0));
        assert_eq!(flatness(&[]), None);
        assert_eq!(flatness(&[0.0, 1.0]), None);
    }
}
