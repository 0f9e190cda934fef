//! Ending a tour early: Ctrl-C in `run` cancels the tour it started (a second one leaves at
//! once), `stillepost cancel` ends whichever runs, `stillepost wait` reattaches to it, and
//! `status` shows how far it has come. A cancelled tour's result is kept, marked so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::process::Child;
use std::time::{Duration, Instant};

use support::{Cluster, assert_success, json, stderr, stdout};

fn spawn(cluster: &Cluster, args: &[&str]) -> Child {
    cluster.spawn(args)
}

fn signal(child: &Child, name: &str) {
    support::signal(child.id(), name);
}

/// A long window-1 tour (about 20 s uncancelled).
fn long_ring() -> Cluster {
    let cluster = Cluster::start("auto", 3);
    cluster.configure(&["--msgcount", "2000000", "--window", "1"]);
    cluster
}

/// Waits until `status` shows a running tour that has moved; its JSON.
fn running(cluster: &Cluster) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let status = json(&cluster.client(&["status", "--json"]));
        if status["progress"]["received"].as_u64().unwrap_or(0) > 0 {
            return status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{status:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ctrl_c_in_run_cancels_its_tour_and_prints_what_it_measured() {
    let cluster = long_ring();
    let run = spawn(&cluster, &["run"]);
    let status = running(&cluster);
    let progress = &status["progress"];
    assert_eq!(progress["count"], 2_000_000, "{status:#}");
    assert!(progress["elapsed_ms"].as_u64().unwrap() > 0, "{status:#}");
    let text = stdout(&cluster.client(&["status"]));
    assert!(
        text.contains(&format!(
            "tour {} running for ",
            status["running_tour"].as_str().unwrap()
        )) && text.contains(" of 2000000 messages back"),
        "{text}"
    );

    signal(&run, "INT");
    let interrupted = Instant::now();
    let out = run.wait_with_output().unwrap();
    assert!(
        interrupted.elapsed() < Duration::from_secs(3),
        "took {:?}",
        interrupted.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("cancelling tour"), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(": cancelled"), "{text}");
    // What was in flight or unsent is not called lost.
    assert!(
        text.contains("in flight when cancelled")
            && text.contains("the tour was cancelled before they were sent")
            && !text.contains("window stayed full"),
        "{text}"
    );

    // The ring is free at once, and the result is kept, marked cancelled.
    let status = json(&cluster.client(&["status", "--json"]));
    assert_eq!(
        status["running_tour"],
        serde_json::Value::Null,
        "{status:#}"
    );
    let report = cluster.client(&["report", "latest", "--format", "json"]);
    assert_success(&report);
    let result = json(&report);
    assert_eq!(result["outcome"], "cancelled", "{result:#}");
    assert!(result["messages_received"].as_u64().unwrap() > 0);
    assert_success(&cluster.configure(&["--msgcount", "10"]));
    assert_eq!(cluster.tour()["outcome"], "complete");
}

#[test]
fn a_second_ctrl_c_leaves_at_once() {
    let cluster = long_ring();
    let run = spawn(&cluster, &["run"]);
    running(&cluster);
    signal(&run, "INT");
    signal(&run, "INT");
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    // Either the second signal came before the result (it left) or after (it was done).
    let text = stderr(&out);
    assert!(
        text.contains("left tour") || text.contains("cancelled"),
        "{text}"
    );
}

#[test]
fn cancel_ends_the_running_tour_and_wait_reattaches() {
    let cluster = long_ring();
    let run = spawn(&cluster, &["run", "--json"]);
    let status = running(&cluster);
    let tour_id = status["running_tour"].as_str().unwrap().to_owned();
    // Named by a prefix of its id: the running tour is among those a prefix matches.
    let wait = spawn(&cluster, &["wait", &tour_id[..6], "--json"]);
    std::thread::sleep(Duration::from_millis(500));

    let cancel = cluster.client(&["cancel"]);
    assert_success(&cancel);
    let text = stdout(&cancel);
    assert!(
        text.starts_with(&format!("tour {tour_id} cancelled: ")),
        "{text}"
    );
    // The run that started it, and the one that reattached, both get the result.
    for child in [run, wait] {
        let out = child.wait_with_output().unwrap();
        assert_success(&out);
        let result = json(&out);
        assert_eq!(result["tour_id"], tour_id.as_str(), "{result:#}");
        assert_eq!(result["outcome"], "cancelled", "{result:#}");
    }
    // Nothing left to cancel or wait for.
    let again = cluster.client(&["cancel"]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("no tour is running"),
        "{}",
        stderr(&again)
    );
    let again = cluster.client(&["cancel", &tour_id]);
    assert!(
        stderr(&again).contains(&format!("tour {tour_id} has already finished")),
        "{}",
        stderr(&again)
    );
    let wait = cluster.client(&["wait"]);
    assert!(
        stderr(&wait).contains("no tour is running"),
        "{}",
        stderr(&wait)
    );
}
