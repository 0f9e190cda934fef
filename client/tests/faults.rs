//! Faults in the middle of a tour, reported truthfully and fast: real `stillepostd`
//! processes, one of them killed while the tour runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Cluster, assert_success, bin, json, scratch_dir, stderr, stdout};

/// SIGKILL of the origin in the middle of a 200,000-message window-1 tour: the run ends
/// within seconds naming member 0, says that what the origin sent is unknown (rather than
/// "sent 0"), and the stored result exports in every format.
#[test]
fn a_tour_whose_origin_died_is_reported_and_exports_in_every_format() {
    let mut cluster = Cluster::start("auto", 2);
    cluster.configure(&["--msgcount", "200000", "--window", "1"]);
    let run = Command::new(bin("stillepost"))
        .args(["--coordinator", &cluster.coordinator_addr, "run"])
        .env_remove("STILLEPOST_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    cluster.members[0].kill();
    let killed = Instant::now();
    let out = run.wait_with_output().unwrap();
    let took = killed.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        took < Duration::from_secs(5),
        "the run took {took:?} to report the dead origin"
    );
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "messages      unknown: the origin (member 0, {}) sent no report",
            cluster.peers[0]
        )),
        "{text}"
    );
    assert!(!text.contains("the window stayed full"), "{text}");
    assert!(
        stderr(&out).contains(&format!("member 0 ({})", cluster.controls[0])),
        "{}",
        stderr(&out)
    );

    let out = cluster.client(&["report", "latest", "--format", "json"]);
    assert_success(&out);
    let result = json(&out);
    assert_eq!(result["outcome"], "failed", "{result:#}");
    assert_eq!(result["members"][0]["report_missing"], true);
    assert_eq!(result["members"][1]["report_missing"], false);
    assert!(
        result["members"][1]["received"].as_u64().unwrap() > 0,
        "member 1 recorded the messages it forwarded: {result:#}"
    );
    let dir = scratch_dir("dead-origin");
    for format in ["hgrm", "hlog", "csv", "svg", "png"] {
        let file = dir.join(format!("result.{format}"));
        let out = cluster.client(&[
            "report",
            "latest",
            "--format",
            format,
            "--out",
            file.to_str().unwrap(),
        ]);
        assert_success(&out);
        assert!(std::fs::metadata(&file).unwrap().len() > 0, "{format}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
