//! `backends`: the io_uring backend against the syscall backend, on the latency (block)
//! and throughput scenarios.

use anyhow::Result;

use crate::bench::Bench;
use crate::latency::{self, distinct};
use crate::pair::{self, PairOpts, Variant};
use crate::report::{Section, Target, Verdict};
use crate::stillepost::Backend;

const URING: Variant = Variant {
    label: "uring",
    apply: |run| run.backend = Some(Backend::Uring),
};
const SYSCALL: Variant = Variant {
    label: "syscall",
    apply: |run| run.backend = Some(Backend::Syscall),
};

fn about(opts: &PairOpts) -> String {
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

pub fn run(bench: &mut Bench, opts: &PairOpts) -> Result<Section> {
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

    let compared = pair::compare(bench, "backends", [URING, SYSCALL], opts, false)?;
    section.tables = compared.tables;
    for note in compared.notes {
        section.note(note);
    }
    let mut measured_ratios = vec![match compared.latency {
        [Some(uring), Some(syscall)] => Some(uring / syscall),
        _ => None,
    }];
    measured_ratios.extend(compared.rates.iter().map(|(rates, _)| match rates {
        [Some(uring), Some(syscall)] => Some(uring / syscall),
        _ => None,
    }));

    // Each run must have used the backend it was asked for.
    let mut wrong = Vec::new();
    for (backend, tours) in [Backend::Uring, Backend::Syscall]
        .into_iter()
        .zip(&compared.tours)
    {
        let ran = distinct(tours, |t| t.member_values(|m| &m.backend));
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
