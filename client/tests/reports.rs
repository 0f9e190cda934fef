//! `stillepost report` read by HdrHistogram's own implementations: Java's (the Debian
//! package libhdrhistogram-java) for the percentile distribution and the interval log, and
//! Python's (the PyPI package hdrhistogram) for the interval log. Both are installed by
//! .ci/run; elsewhere the test says what is missing and skips, and under CI it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

const JAR: &str = "/usr/share/java/hdrhistogram.jar";

fn reference_available() -> bool {
    let java = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    let python = Command::new("python3")
        .args(["-c", "import hdrh.log"])
        .output()
        .is_ok_and(|o| o.status.success());
    if java && python && Path::new(JAR).exists() {
        return true;
    }
    let why = format!(
        "skipped: needs java, {JAR} (apt-get install libhdrhistogram-java) and the Python hdrhistogram package (pip install hdrhistogram); java {java}, python hdrh {python}"
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}; .ci/run installs them"
    );
    eprintln!("{why}");
    false
}

fn java(args: &[&str]) -> String {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hdr/HdrReference.java");
    let out = Command::new("java")
        .args(["-cp", JAR, source])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "java: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn exports_read_back_with_hdrhistograms_own_implementations() {
    if !reference_available() {
        return;
    }
    let cluster = Cluster::start("uring", 3);
    cluster.configure(&["--msgcount", "2000", "--window", "16"]);
    let tour = json(&{
        let out = cluster.client(&["run", "--json"]);
        assert_success(&out);
        out
    });
    let latency = &tour["tour_latency"];

    // hgrm: line for line what Java's outputPercentileDistribution prints for the same
    // histogram (decoded by Java from the JSON export's V2+DEFLATE bytes).
    let out = cluster.client(&["report", "latest", "--format", "json"]);
    assert_success(&out);
    let doc = json(&out);
    assert_eq!(doc["tour_id"], tour["tour_id"]);
    let encoded = doc["histograms"][0]["hdr_v2_deflate_base64"]
        .as_str()
        .unwrap();
    assert_eq!(doc["histograms"][0]["tag"], "tour");
    let out = cluster.client(&[
        "report",
        tour["tour_id"].as_str().unwrap(),
        "--format",
        "hgrm",
    ]);
    assert_success(&out);
    // With several histograms each section starts with `# <tag>`; the tour's is first.
    let all = stdout(&out);
    let ours: String = all
        .lines()
        .skip_while(|l| *l != "# tour")
        .skip(1)
        .take_while(|l| !l.starts_with("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        all.contains("# hop-0-1\n") && all.contains("# residence-2\n"),
        "{all}"
    );
    let theirs = java(&["hgrm", encoded]);
    assert!(ours.lines().count() > 20, "{ours}");
    for (n, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
        assert_eq!(
            a,
            b,
            "hgrm line {} differs\nours:\n{ours}\nHdrHistogram:\n{theirs}",
            n + 1
        );
    }
    assert_eq!(
        ours.lines().count(),
        theirs.lines().count(),
        "ours:\n{ours}\nHdrHistogram:\n{theirs}"
    );

    // hlog: Java's and Python's log readers find the same histogram as the run reported.
    let dir = std::env::temp_dir().join(format!("stillepost-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hlog = dir.join("tour.hlog");
    let out = cluster.client(&[
        "report",
        "latest",
        "--format",
        "hlog",
        "--out",
        hlog.to_str().unwrap(),
    ]);
    assert_success(&out);
    let expected = format!(
        "tour {} {} {} {}",
        latency["count"], latency["p50_ns"], latency["p99_ns"], latency["max_ns"]
    );
    let java_lines = java(&["hlog", hlog.to_str().unwrap()]);
    let tags: Vec<&str> = java_lines
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        tags,
        [
            "tour",
            "hop-0-1",
            "hop-1-2",
            "hop-2-0",
            "residence-1",
            "residence-2"
        ]
    );
    assert_eq!(java_lines.lines().next().unwrap(), expected);
    // Each hop's histogram holds one value per message, as the JSON says.
    for (i, hop) in tour["hops"].as_array().unwrap().iter().enumerate() {
        let fields: Vec<&str> = java_lines.lines().nth(1 + i).unwrap().split(' ').collect();
        assert_eq!(fields[1], hop["latency"]["count"].to_string());
        assert_eq!(fields[4], hop["latency"]["max_ns"].to_string());
    }
    let python = Command::new("python3")
        .args([
            "-c",
            "import sys\n\
from hdrh.log import HistogramLogReader\n\
from hdrh.histogram import HdrHistogram\n\
r = HistogramLogReader(sys.argv[1], HdrHistogram(1, 3600 * 10**9, 3))\n\
h = r.get_next_interval_histogram()\n\
print(h.get_tag(), h.get_total_count(), h.get_value_at_percentile(50), h.get_value_at_percentile(99), h.get_max_value())",
            hlog.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), expected);

    // csv: one row per percentile step, the last one at 100 % with every message.
    let out = cluster.client(&["report", "latest", "--format", "csv"]);
    assert_success(&out);
    let csv = stdout(&out);
    assert_eq!(
        csv.lines().next(),
        Some("histogram,percentile,value_ns,total_count")
    );
    let last = csv.lines().rfind(|l| l.starts_with("tour,")).unwrap();
    assert_eq!(
        last,
        format!(
            "tour,100.000000000000,{},{}",
            latency["max_ns"], latency["count"]
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Unknown tours and bad ids are named.
    let out = cluster.client(&["report", "00000000000000ff"]);
    assert_failure(
        &out,
        1,
        &["no tour 00000000000000ff is known to this coordinator"],
    );
    let out = cluster.client(&["report", "yesterday"]);
    assert_failure(&out, 2, &["'yesterday' is not a tour id"]);
}

#[test]
fn results_survive_a_coordinator_restart() {
    let mut cluster = Cluster::start("uring", 2);
    cluster.configure(&["--msgcount", "100"]);
    let first = json(&cluster.client(&["run", "--json"]));
    let second = json(&cluster.client(&["run", "--json"]));
    assert_ne!(first["tour_id"], second["tour_id"]);

    // Stop the coordinator and start another on the same address and data directory.
    let addr = cluster.coordinator_addr.clone();
    cluster.coordinator.kill();
    cluster.coordinator = Daemon::coordinator(&addr, &cluster.data_dir);

    let out = cluster.client(&["report", "latest", "--format", "json"]);
    assert_success(&out);
    let latest = json(&out);
    assert_eq!(latest["tour_id"], second["tour_id"]);
    assert_eq!(latest["tour_latency"], second["tour_latency"]);
    let out = cluster.client(&[
        "report",
        first["tour_id"].as_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_success(&out);
    assert_eq!(json(&out)["messages_received"], 100);
    // The restarted coordinator knows the last tour but no ring.
    let status = json(&cluster.client(&["status", "--json"]));
    assert_eq!(status["last_tour"], second["tour_id"]);
    assert_eq!(status["configured"], false);
    // No temporary file is left behind.
    for entry in std::fs::read_dir(&cluster.data_dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.ends_with(".pb") && name.len() == 19, "{name}");
    }
}

#[test]
fn report_before_any_tour_says_so() {
    let cluster = Cluster::start("uring", 1);
    let out = cluster.client(&["report", "latest"]);
    assert_failure(&out, 1, &["no tour has finished on this coordinator yet"]);
}
