//! Replays every kept fuzz input through its harness: the seeds AFL++ starts from and
//! every crash it ever found (`fuzz/regressions/<target>/`, kept there by `fuzz/run`), so
//! a finding stays fixed. The seeds must also still reach deep: a change of the wire
//! format that made them bounce off the header check would leave AFL++ fuzzing only the
//! decoder.

use std::path::Path;

use stillepost_fuzz::{Script, TARGETS, run, run_script, seeds};

#[test]
fn every_kept_crash_and_seed_runs_clean() {
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut replayed = 0;
    for target in TARGETS {
        for (name, bytes) in seeds(target) {
            assert!(run(target, &bytes).is_some(), "{target}: unknown target");
            replayed += 1;
            eprintln!("{target}/{name}: clean");
        }
        let Ok(dir) = std::fs::read_dir(regressions.join(target)) else {
            continue;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(run(target, &bytes).is_some());
            replayed += 1;
            eprintln!("{}: clean", path.display());
        }
    }
    assert!(replayed >= TARGETS.len(), "only {replayed} inputs replayed");
}

#[test]
fn the_datagram_seeds_reach_the_state_machine() {
    let seeds = seeds("datagrams");
    let counters = |name: &str| {
        let (_, bytes) = seeds
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no seed {name}"));
        let member = run_script(&Script::parse(bytes));
        let machine = member
            .machine()
            .unwrap_or_else(|| panic!("{name}: not configured"));
        (machine.counters().clone(), *member.io())
    };
    for name in ["forwarder", "forwarder-keyed"] {
        let (tour, io) = counters(name);
        assert_eq!(
            (tour.received, tour.forwarded, io.bad_tag),
            (3, 3, 0),
            "{name}"
        );
    }
    let (tour, _) = counters("origin");
    assert_eq!(
        (tour.received, tour.overtaken, tour.duplicates),
        (3, 0, 0),
        "origin"
    );
    let (_, io) = counters("answers");
    // The probe, the echo and the challenge are all answered.
    assert_eq!((io.echoes, io.bad_tag, io.ignored), (3, 0, 0), "answers");
    let (tour, _) = counters("fragmented");
    assert_eq!(
        tour.received, 1,
        "the fragmented seed's message is reassembled"
    );
    let (tour, _) = counters("gro");
    assert_eq!(
        tour.received, 2,
        "the GRO seed's two datagrams are received"
    );
    // Held, not forwarded: copies wait in the hold store, none overflows it.
    for name in ["hold", "hold-fragmented"] {
        let (tour, io) = counters(name);
        let whole = if name == "hold" { 3 } else { 1 };
        assert_eq!(
            (tour.received, tour.held, tour.forwarded, io.hold_overflows),
            (whole, whole, 0, 0),
            "{name}"
        );
    }
}

#[test]
fn scripts_read_back_as_written() {
    for (name, bytes) in seeds("datagrams") {
        assert_eq!(Script::parse(&bytes).to_bytes(), bytes, "{name}");
    }
}
