//! `--json` is one JSON document per invocation, errors included: every document carries
//! `schema_version`; an error before the document is `{"error": {kind, message,
//! exit_status}}` on stdout (and text on stderr); combinations that would print something
//! else are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use serde_json::Value;
use support::{Cluster, closed_port, json, stderr, stillepost};

/// The error document of a failed `--json` invocation, checked against its exit status.
fn error_doc(args: &[&str], exit_status: i32, kind: &str) -> Value {
    let out = stillepost(args);
    assert_eq!(
        out.status.code(),
        Some(exit_status),
        "{args:?}: {}",
        stderr(&out)
    );
    let doc = json(&out);
    assert_eq!(doc["schema_version"], 2, "{doc:#}");
    assert_eq!(doc["error"]["kind"], kind, "{doc:#}");
    assert_eq!(doc["error"]["exit_status"], exit_status, "{doc:#}");
    assert!(
        stderr(&out).starts_with("error: ") || exit_status == 2,
        "{}",
        stderr(&out)
    );
    doc
}

#[test]
fn errors_under_json_are_json_documents() {
    let nobody = format!("127.0.0.1:{}", closed_port());
    let doc = error_doc(
        &["--json", "--coordinator", &nobody, "status"],
        4,
        "unreachable",
    );
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot reach the coordinator"),
        "{message}"
    );
    // Usage errors too (clap's), but not --help.
    let doc = error_doc(
        &["--json", "configure", "--msgcount", "x"],
        2,
        "invalid_input",
    );
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--msgcount"),
        "{doc:#}"
    );
    let help = stillepost(&["--json", "--help"]);
    assert!(help.status.success());
    // Combinations that would print something else than JSON are refused.
    let doc = error_doc(
        &["--json", "tune", "--emit-sysctl-conf"],
        2,
        "invalid_input",
    );
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--emit-sysctl-conf"),
        "{doc:#}"
    );
}

#[test]
fn every_document_has_a_schema_version_and_report_honours_json() {
    let cluster = Cluster::start("auto", 2);
    let coordinator = cluster.coordinator_addr.as_str();
    // Before any tour: the error is the document.
    error_doc(
        &["--json", "--coordinator", coordinator, "report", "latest"],
        1,
        "failed",
    );
    cluster.configure(&["--msgcount", "20"]);
    for args in [
        vec!["--json", "--coordinator", coordinator, "run"],
        vec!["--json", "--coordinator", coordinator, "status"],
        vec!["--json", "--coordinator", coordinator, "report", "latest"],
        vec![
            "--coordinator",
            coordinator,
            "report",
            "latest",
            "--format",
            "json",
        ],
        vec!["--json", "tune"],
        vec!["--json", "local", "--msgcount", "10"],
    ] {
        let out = stillepost(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let doc = json(&out);
        assert_eq!(doc["schema_version"], 2, "{args:?}");
        assert!(doc.get("error").is_none_or(|e| !e.is_object()), "{args:?}");
    }
    // `report --json` is the JSON export, histograms included.
    let out = stillepost(&["--json", "--coordinator", coordinator, "report", "latest"]);
    assert!(
        json(&out)["histograms"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    );
    error_doc(
        &[
            "--json",
            "--coordinator",
            coordinator,
            "report",
            "latest",
            "--format",
            "csv",
        ],
        2,
        "invalid_input",
    );
    // Latency summaries are integers, with the standard deviation.
    let out = stillepost(&["--json", "--coordinator", coordinator, "run"]);
    let tour = json(&out);
    let latency = &tour["tour_latency"];
    assert!(
        latency["mean_ns"].is_u64() && latency["stdev_ns"].is_u64(),
        "{latency:#}"
    );
}

#[test]
fn a_client_pointed_at_a_member_says_it_is_not_a_coordinator() {
    let cluster = Cluster::start("auto", 1);
    let out = stillepost(&["--coordinator", &cluster.controls[0], "status"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("is not a coordinator") && text.contains("--client-bind"),
        "{text}"
    );
}
