//! `backends`: the io_uring backend against the syscall backend, on the latency (block)
//! and throughput scenarios.

use anyhow::Result;

use crate::bench::Bench;
use crate::latency::{self, distinct, half_tour_us};
use crate::report::{Section, Table, Target, Verdict, kilo_rate, median, micros, ratio};
use crate::stillepost::{Backend, Poll, Tour};
use crate::throughput;

#[derive(Debug, Clone)]
pub struct BackendsOpts {
    pub rounds: u32,
    pub latency_messages: u32,
    pub throughput_messages: u32,
    pub window: u32,
    pub sizes: Vec<u32>,
}

const PAIR: [Backend; 2] = [Backend::Uring, Backend::Syscall];

/// Alternate which backend goes first, so neither always runs on a warmer machine.
fn order(round: u32) -> [Backend; 2] {
    if round % 2 == 1 {
        PAIR
    } else {
        [Backend::Syscall, Backend::Uring]
    }
}

fn about(opts: &BackendsOpts) -> String {
    format!(
        "The same `stillepost local` runs with `--backend uring` and with `--backend syscall`, \
         alternating (the first backend of a round alternates too), {rounds} rounds. Latency: \
         the block-mode latency scenario (2 members, window 1, {lat} messages of {len} B; \
         tour latency / 2, µs). Throughput: the throughput scenario (2 members, window \
         {window}, {tp} messages; messages member 1 forwarded per second, loss-free runs \
         only). Ratios are uring / syscall of the medians over the rounds.",
        rounds = opts.rounds,
        lat = opts.latency_messages,
        len = latency::MSG_LEN,
        window = opts.window.min(opts.throughput_messages),
        tp = opts.throughput_messages,
    )
}

pub fn run(bench: &mut Bench, opts: &BackendsOpts) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new("Backends: io_uring vs syscall", about(opts));
    let mut goals = vec!["block latency p50: uring <= 1.0x syscall".to_owned()];
    goals.extend(
        opts.sizes
            .iter()
            .map(|size| format!("{size} B throughput: uring >= 1.0x syscall")),
    );
    if !bench.stillepost.caps.backend {
        for goal in goals {
            section.targets.push(Target {
                goal,
                ratio: None,
                verdict: Verdict::NotRun,
                note: Some("this stillepost has no --backend".into()),
            });
        }
        return Ok(section);
    }

    let mut tours: Vec<(Backend, Tour)> = Vec::new();
    // Latency, block mode.
    let mut latency_table = Table::new(&[
        "round",
        "uring p50",
        "uring p99",
        "syscall p50",
        "syscall p99",
        "ratio p50",
    ])
    .caption("Block-mode latency, tour latency / 2 in µs:");
    let mut p50 = [Vec::new(), Vec::new()];
    for round in 1..=opts.rounds {
        let mut measured = [[0.0; 3]; 2];
        for backend in order(round) {
            eprintln!(
                "[backends latency] round {round}/{}: {backend}",
                opts.rounds
            );
            let mut run = latency::ring(opts.latency_messages, Poll::Block, None);
            run.backend = Some(backend);
            let result = bench.stillepost_local(&run)?;
            let slot = slot(backend);
            measured[slot] = half_tour_us(&result.tour)?;
            p50[slot].push(measured[slot][0]);
            tours.push((backend, result.tour));
        }
        let [uring, syscall] = measured;
        latency_table.row(vec![
            round.to_string(),
            micros(uring[0]),
            micros(uring[1]),
            micros(syscall[0]),
            micros(syscall[1]),
            ratio(uring[0] / syscall[0]),
        ]);
    }
    let medians = [median(&p50[0]), median(&p50[1])];
    if let [Some(uring), Some(syscall)] = medians {
        latency_table.row(vec![
            "median".into(),
            micros(uring),
            String::new(),
            micros(syscall),
            String::new(),
            ratio(uring / syscall),
        ]);
    }
    section.tables.push(latency_table);
    let mut measured_ratios = vec![match medians {
        [Some(uring), Some(syscall)] => Some(uring / syscall),
        _ => None,
    }];

    // Throughput.
    for &size in &opts.sizes {
        let mut table = Table::new(&["round", "uring forwarded/s", "syscall forwarded/s", "ratio"])
            .caption(format!("Throughput, {size} B messages:"));
        let mut rates = [Vec::new(), Vec::new()];
        for round in 1..=opts.rounds {
            let mut measured = [None, None];
            for backend in order(round) {
                eprintln!(
                    "[backends throughput {size} B] round {round}/{}: {backend}",
                    opts.rounds
                );
                let run = throughput::ring(
                    size,
                    opts.throughput_messages,
                    opts.window,
                    Some(backend),
                    None,
                );
                let result = bench.stillepost_local(&run)?;
                let tour = &result.tour;
                let rate = tour.messages_per_s().filter(|_| tour.complete());
                if rate.is_none() {
                    section.note(format!(
                        "{size} B round {round}, {backend}: {} messages lost; the run does not count",
                        tour.lost
                    ));
                }
                measured[slot(backend)] = rate;
                if let Some(rate) = rate {
                    rates[slot(backend)].push(rate);
                }
                tours.push((backend, result.tour));
            }
            let cell = |rate: Option<f64>| rate.map_or_else(|| "lost".into(), kilo_rate);
            table.row(vec![
                round.to_string(),
                cell(measured[0]),
                cell(measured[1]),
                match measured {
                    [Some(uring), Some(syscall)] => ratio(uring / syscall),
                    _ => "-".into(),
                },
            ]);
        }
        let medians = [median(&rates[0]), median(&rates[1])];
        let r = match medians {
            [Some(uring), Some(syscall)] => Some(uring / syscall),
            _ => None,
        };
        table.row(vec![
            "median".into(),
            medians[0].map_or_else(|| "-".into(), kilo_rate),
            medians[1].map_or_else(|| "-".into(), kilo_rate),
            r.map_or_else(|| "-".into(), ratio),
        ]);
        section.tables.push(table);
        measured_ratios.push(r);
    }

    // Each run must have used the backend it was asked for.
    let mut wrong = Vec::new();
    for backend in PAIR {
        let ran = distinct(
            &tours
                .iter()
                .filter(|(b, _)| *b == backend)
                .map(|(_, t)| t.clone())
                .collect::<Vec<_>>(),
            |t| t.member_values(|m| &m.backend),
        );
        section.note(format!(
            "asked for --backend {backend}: members reported {}",
            ran.join(", ")
        ));
        if ran.iter().any(|name| name != backend.name()) {
            wrong.push(format!("--backend {backend} ran as {}", ran.join(", ")));
        }
    }
    for (i, goal) in goals.into_iter().enumerate() {
        let measured = measured_ratios.get(i).copied().flatten();
        let latency_goal = i == 0;
        let (verdict, note) = match measured {
            _ if !wrong.is_empty() => (Verdict::Miss, Some(wrong.join("; "))),
            None => (Verdict::Miss, Some("no loss-free run to compare".into())),
            Some(r) if latency_goal => (Verdict::from_met(r <= 1.0), None),
            Some(r) => (Verdict::from_met(r >= 1.0), None),
        };
        section.targets.push(Target {
            goal,
            ratio: measured,
            verdict,
            note,
        });
    }
    section.commands = bench.commands_since(mark);
    Ok(section)
}

fn slot(backend: Backend) -> usize {
    usize::from(backend != Backend::Uring)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_backend_alternates() {
        assert_eq!(order(1), [Backend::Uring, Backend::Syscall]);
        assert_eq!(order(2), [Backend::Syscall, Backend::Uring]);
        assert_eq!((slot(Backend::Uring), slot(Backend::Syscall)), (0, 1));
    }
}
