//! Two variants of the same `stillepost local` runs side by side (the backends;
//! authentication on and off), optionally beside sockperf: the block-mode latency
//! scenario and the throughput scenario, the variants alternating (the first of a round
//! alternates too), sockperf after them in each round.

use anyhow::Result;

use crate::bench::Bench;
use crate::latency::{self, half_tour_us, placement, placement_note};
use crate::report::{Table, kilo_rate, median, micros, ratio};
use crate::stillepost::{LocalRun, Poll, Tour};
use crate::throughput;

/// One side of the comparison.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// In table headers ("uring", "tags").
    pub label: &'static str,
    /// What makes a run this variant.
    pub apply: fn(&mut LocalRun),
}

#[derive(Debug, Clone)]
pub struct PairOpts {
    pub rounds: u32,
    pub latency_messages: u32,
    pub throughput_messages: u32,
    pub window: u32,
    pub sizes: Vec<u32>,
    /// Seconds per sockperf run.
    pub seconds: u32,
    /// Leave sockperf unpinned.
    pub no_pin: bool,
}

/// What the runs measured.
#[derive(Debug, Default)]
pub struct Compared {
    pub tables: Vec<Table>,
    /// Median over the rounds of each variant's p50 latency (tour latency / 2), µs.
    pub latency: [Option<f64>; 2],
    /// Median of sockperf's p50 (RTT / 2), µs, when it ran.
    pub sockperf_latency: Option<f64>,
    /// Per message size: the median forwarded/s of each variant over loss-free runs, and
    /// sockperf's median received/s.
    pub rates: Vec<([Option<f64>; 2], Option<f64>)>,
    /// Every tour of each variant.
    pub tours: [Vec<Tour>; 2],
    pub notes: Vec<String>,
}

/// Alternate which variant goes first, so neither always runs on a warmer machine.
pub fn order(round: u32) -> [usize; 2] {
    if round % 2 == 1 { [0, 1] } else { [1, 0] }
}

fn ratio_of(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => ratio(a / b),
        _ => "-".into(),
    }
}

/// Runs both scenarios for `variants` (with sockperf when `with_sockperf` and it is
/// installed); `section` is the section's name in progress lines.
pub fn compare(
    bench: &mut Bench,
    name: &str,
    variants: [Variant; 2],
    opts: &PairOpts,
    with_sockperf: bool,
) -> Result<Compared> {
    let with_sockperf = with_sockperf && bench.sockperf.is_some();
    let [a, b] = variants.map(|v| v.label);
    let mut out = Compared::default();
    let mut placements = Vec::new();

    // Latency, block mode.
    let mut header = vec!["round".to_owned()];
    if with_sockperf {
        header.extend(["sockperf p50".to_owned(), "sockperf p99".to_owned()]);
    }
    for label in [a, b] {
        header.extend([format!("{label} p50"), format!("{label} p99")]);
    }
    header.push("ratio p50".to_owned());
    if with_sockperf {
        header.extend([format!("{a} / sockperf p50"), format!("{b} / sockperf p50")]);
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let caption = if with_sockperf {
        format!(
            "Block-mode latency in µs (sockperf: RTT/2; Stillepost: tour latency / 2); ratio p50 is {a} / {b}:"
        )
    } else {
        "Block-mode latency, tour latency / 2 in µs:".to_owned()
    };
    let mut table = Table::new(&header).caption(caption);
    let mut p50 = [Vec::new(), Vec::new()];
    let mut peer_p50 = Vec::new();
    // Each side's p50 and p99 (a blank cell for None).
    let row = |label: String, peer: [Option<f64>; 2], ours: [[Option<f64>; 2]; 2]| {
        let cell = |v: Option<f64>| v.map_or_else(String::new, micros);
        let mut cells = vec![label];
        if with_sockperf {
            cells.extend(peer.map(cell));
        }
        for side in ours {
            cells.extend(side.map(cell));
        }
        cells.push(ratio_of(ours[0][0], ours[1][0]));
        if with_sockperf {
            cells.extend(ours.map(|side| ratio_of(side[0], peer[0])));
        }
        cells
    };
    for round in 1..=opts.rounds {
        let mut measured = [[None, None], [None, None]];
        let mut pin = None;
        for slot in order(round) {
            let variant = variants[slot];
            eprintln!(
                "[{name} latency] round {round}/{}: {}",
                opts.rounds, variant.label
            );
            let mut run = latency::ring(opts.latency_messages, Poll::Block, None);
            (variant.apply)(&mut run);
            let result = bench.stillepost_local(&run)?;
            let [p50_us, p99_us, _] = half_tour_us(&result.tour)?;
            measured[slot] = [Some(p50_us), Some(p99_us)];
            p50[slot].push(p50_us);
            pin = pin.or_else(|| placement(&result.tour, None, opts.no_pin));
            out.tours[slot].push(result.tour);
        }
        let peer = if with_sockperf {
            eprintln!("[{name} latency] round {round}/{}: sockperf", opts.rounds);
            placements.push(pin);
            let peer = bench.sockperf_ping_pong(latency::MSG_LEN, opts.seconds, false, pin)?;
            peer_p50.push(peer.p50_us);
            [Some(peer.p50_us), Some(peer.p99_us)]
        } else {
            [None, None]
        };
        table.row(row(round.to_string(), peer, measured));
    }
    out.latency = [median(&p50[0]), median(&p50[1])];
    out.sockperf_latency = median(&peer_p50);
    // Medians of the p50s only.
    table.row(row(
        "median".into(),
        [out.sockperf_latency, None],
        out.latency.map(|m| [m, None]),
    ));
    out.tables.push(table);

    // Throughput.
    for &size in &opts.sizes {
        let mut header = vec!["round".to_owned()];
        if with_sockperf {
            header.push("sockperf received/s".to_owned());
        }
        header.extend([format!("{a} forwarded/s"), format!("{b} forwarded/s")]);
        header.push("ratio".to_owned());
        if with_sockperf {
            header.extend([format!("{a} / sockperf"), format!("{b} / sockperf")]);
        }
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut table = Table::new(&header).caption(format!("Throughput, {size} B messages:"));
        let mut rates = [Vec::new(), Vec::new()];
        let mut peer_rates = Vec::new();
        let rate_row = |label: String, peer: Option<f64>, ours: [Option<f64>; 2], lost: bool| {
            let cell = |rate: Option<f64>| {
                rate.map_or_else(|| if lost { "lost" } else { "-" }.into(), kilo_rate)
            };
            let mut cells = vec![label];
            if with_sockperf {
                cells.push(peer.map_or_else(|| "-".into(), kilo_rate));
            }
            cells.extend(ours.map(cell));
            cells.push(ratio_of(ours[0], ours[1]));
            if with_sockperf {
                cells.extend(ours.map(|rate| ratio_of(rate, peer)));
            }
            cells
        };
        for round in 1..=opts.rounds {
            let mut measured = [None, None];
            let mut pin = None;
            for slot in order(round) {
                let variant = variants[slot];
                eprintln!(
                    "[{name} throughput {size} B] round {round}/{}: {}",
                    opts.rounds, variant.label
                );
                let mut run =
                    throughput::ring(size, opts.throughput_messages, opts.window, None, None);
                (variant.apply)(&mut run);
                let result = bench.stillepost_local(&run)?;
                let tour = &result.tour;
                let rate = tour.messages_per_s().filter(|_| tour.complete());
                match rate {
                    Some(rate) => rates[slot].push(rate),
                    None => out.notes.push(format!(
                        "{size} B round {round}, {}: {} messages lost; the run does not count",
                        variant.label, tour.lost
                    )),
                }
                measured[slot] = rate;
                pin = pin.or_else(|| placement(tour, None, opts.no_pin));
                out.tours[slot].push(result.tour);
            }
            let peer = if with_sockperf {
                eprintln!(
                    "[{name} throughput {size} B] round {round}/{}: sockperf",
                    opts.rounds
                );
                placements.push(pin);
                let rate = bench
                    .sockperf_throughput(size, opts.seconds, pin)?
                    .received_per_s();
                peer_rates.push(rate);
                Some(rate)
            } else {
                None
            };
            table.row(rate_row(round.to_string(), peer, measured, true));
        }
        let medians = [median(&rates[0]), median(&rates[1])];
        let peer = median(&peer_rates);
        table.row(rate_row("median".into(), peer, medians, false));
        out.tables.push(table);
        out.rates.push((medians, peer));
    }
    if with_sockperf {
        out.notes.push(placement_note(&placements, opts.no_pin));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_variant_alternates() {
        assert_eq!(order(1), [0, 1]);
        assert_eq!(order(2), [1, 0]);
        assert_eq!(ratio_of(Some(3.0), Some(2.0)), "1.50x");
        assert_eq!(ratio_of(None, Some(2.0)), "-");
    }
}
