//! `auth`: what authentication costs. The same `stillepost local` runs as it does by
//! default (a ring key: every tour datagram tagged, and checked and tagged again at every
//! member) and with `--no-auth` (no key; loopback only), beside sockperf, on the latency
//! (block) and throughput scenarios; and the tag's cost per datagram, measured in this
//! process.

use anyhow::Result;

use crate::bench::Bench;
use crate::latency;
use crate::machine;
use crate::pair::{self, PairOpts, Variant};
use crate::report::{Section, Target, Verdict};

/// The cost target of one tag check and one retag per forwarded datagram, ns.
const TAG_BUDGET_NS: f64 = 100.0;
/// Datagrams and runs of the tag microbenchmark (the best run counts).
const TAG_DATAGRAMS: u32 = 1_000_000;
const TAG_RUNS: u32 = 5;

const TAGS: Variant = Variant {
    label: "tags",
    apply: |_| {},
};
const NO_AUTH: Variant = Variant {
    label: "no-auth",
    apply: |run| run.extra.push("--no-auth".into()),
};

fn about(opts: &PairOpts) -> String {
    format!(
        "The same `stillepost local` runs as by default (`tags`: the coordinator hands the \
         ring a key, members challenge their next member, and every tour datagram carries a \
         64-bit SipHash-2-4 tag over its header that every member checks and makes again as \
         it forwards) and with `--no-auth` (no key, no challenge, no tags; loopback only), \
         alternating (the first of a round alternates too), then sockperf, {rounds} rounds. \
         Latency: the block-mode latency scenario (2 members, window 1, {lat} messages of \
         {len} B; tour latency / 2, µs) beside sockperf ping-pong (RTT/2, blocking sockets, \
         `-t {secs}`). Throughput: the throughput scenario (2 members, window {window}, {tp} \
         messages; messages member 1 forwarded per second, loss-free runs only) beside \
         sockperf throughput's receive rate (as in the throughput section). sockperf is \
         pinned like the members, as in the latency section. `ratio` is tags / no-auth; the \
         last columns are each / sockperf, all of the medians over the rounds. The tag's own \
         cost is the best of {runs} runs of {datagrams} check-and-retag steps on a 64 B \
         datagram in this process (what `stillepost-bench machine` measures).",
        rounds = opts.rounds,
        lat = opts.latency_messages,
        len = latency::MSG_LEN,
        secs = opts.seconds,
        window = opts.window.min(opts.throughput_messages),
        tp = opts.throughput_messages,
        runs = TAG_RUNS,
        datagrams = TAG_DATAGRAMS,
    )
}

pub fn run(bench: &mut Bench, opts: &PairOpts) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new(
        "Authentication: tags (the default) vs --no-auth, beside sockperf",
        about(opts),
    );
    let compared = pair::compare(bench, "auth", [TAGS, NO_AUTH], opts, true)?;
    section.tables = compared.tables;
    for note in compared.notes {
        section.note(note);
    }
    if bench.sockperf.is_none() {
        section.note(crate::sockperf::MISSING);
    }
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let [tags, no_auth] = compared.latency;
    section.note(format!(
        "what tags cost: block latency p50 {}, {}",
        describe(ratio(tags, no_auth)),
        compared
            .rates
            .iter()
            .zip(&opts.sizes)
            .map(|(([tags, no_auth], _), size)| format!(
                "{size} B throughput {}",
                describe(ratio(*tags, *no_auth))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let (mut best, mut best_hash, mut covered) = (f64::INFINITY, f64::INFINITY, 0);
    for _ in 0..TAG_RUNS {
        best = best.min(machine::tag_ns_per_datagram(
            TAG_DATAGRAMS,
            latency::MSG_LEN,
        )?);
        let (hash, len) = machine::siphash_ns_per_header(TAG_DATAGRAMS, latency::MSG_LEN)?;
        (best_hash, covered) = (best_hash.min(hash), len);
    }
    section.note(format!(
        "tag check + retag: {best:.1} ns per datagram (best of {TAG_RUNS}); one SipHash-2-4 \
         of the {covered} header bytes a tag covers, alone: {best_hash:.1} ns (best of \
         {TAG_RUNS}); a forward computes two, and twice one hash is {:.2}x the step's \
         time",
        2.0 * best_hash / best
    ));
    section.targets.push(Target {
        goal: format!(
            "tag check + retag <= {TAG_BUDGET_NS} ns per datagram (measured / {TAG_BUDGET_NS} ns)"
        ),
        ratio: Some(best / TAG_BUDGET_NS),
        verdict: Verdict::from_met(best <= TAG_BUDGET_NS),
        note: None,
    });
    section.commands = bench.commands_since(mark);
    Ok(section)
}

/// "1.061x of --no-auth", or "not measured".
fn describe(ratio: Option<f64>) -> String {
    ratio.map_or_else(
        || "not measured".to_owned(),
        |r| format!("{r:.3}x of --no-auth"),
    )
}
