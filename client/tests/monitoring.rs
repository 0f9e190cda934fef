//! Monitor mode, Prometheus metrics and member health (docs/monitoring.md), with real
//! daemons on loopback: the coordinator runs a monitor tour every second, checks its
//! members every second and serves `/metrics`, `/healthz` and `/readyz`; what it shows is
//! checked against the tours it ran, and with `promtool` (Debian's `prometheus`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Cluster, Daemon, assert_success, json, skip};

/// An HTTP GET of `path` on `addr`; returns the status code and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a header and a body");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (code, body.to_string())
}

/// The metrics endpoint a daemon's banner names.
fn metrics_addr(daemon: &Daemon) -> String {
    daemon
        .addr_after("metrics on http://")
        .trim_end_matches("/metrics")
        .to_string()
}

/// Every sample of a text exposition: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the sample `key`, 0 when absent.
fn value(text: &str, key: &str) -> f64 {
    samples(text).get(key).copied().unwrap_or(0.0)
}

fn hop(name: &str, from: &str, to: &str) -> String {
    format!("{name}{{ring=\"0\",from=\"{from}\",to=\"{to}\"}}")
}

/// Polls `scrape` until `done` holds for it, for at most `limit`; returns the last scrape.
fn wait_for(limit: Duration, scrape: impl Fn() -> String, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = scrape();
        if done(&text) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A coordinator with monitor mode (1 s), health checks (1 s) and metrics, and three
/// members named m0, m1, m2; member `i` gets `extra(i)` too.
fn monitored(count: &str, extra: impl Fn(usize) -> Vec<String>) -> (Cluster, String) {
    let cluster = Cluster::start_custom(
        3,
        &[
            "--monitor-interval",
            "1s",
            "--monitor-count",
            count,
            "--health-interval",
            "1s",
            "--metrics-bind",
            "127.0.0.1:0",
        ],
        |i| {
            let mut flags = vec!["--name".to_string(), format!("m{i}")];
            flags.extend(extra(i));
            flags
        },
    );
    let addr = metrics_addr(&cluster.coordinator);
    (cluster, addr)
}

/// `promtool`, or `None` (after [`skip`]) where it is missing.
fn promtool() -> Option<PathBuf> {
    match Command::new("promtool").arg("--version").output() {
        Ok(out) if out.status.success() => Some(PathBuf::from("promtool")),
        _ => {
            skip("promtool is not installed (Debian package prometheus)");
            None
        }
    }
}

/// `promtool check metrics` on `text`: it must pass without a lint problem.
fn check_metrics(promtool: &Path, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- the metrics:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The repository's deploy/monitoring directory.
fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring")
}

/// Every query of a Grafana dashboard: the strings under `expr`, `query` and `definition`.
fn queries(doc: &serde_json::Value, out: &mut String) {
    match doc {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(q)
                        if ["expr", "query", "definition"].contains(&key.as_str()) =>
                    {
                        out.push_str(q);
                        out.push('\n');
                    }
                    other => queries(other, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| queries(i, out)),
        _ => {}
    }
}

/// Every `stillepost_*` metric name `text` names.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("stillepost_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn monitor_mode_fills_the_metrics_with_every_message_of_its_tours() {
    let (cluster, coordinator) = monitored("50", |i| {
        if i == 1 {
            vec!["--metrics-bind".to_string(), "127.0.0.1:0".to_string()]
        } else {
            Vec::new()
        }
    });
    let member = metrics_addr(&cluster.members[1]);
    // Not ready before a ring is configured; alive all along.
    assert_eq!(get(&coordinator, "/healthz").0, 200);
    let (code, body) = get(&coordinator, "/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("no ring is configured"), "{body}");
    cluster.configure(&["--msgcount", "1000"]);
    assert_eq!(get(&coordinator, "/readyz").0, 200);
    assert_eq!(get(&member, "/readyz").0, 200);

    // Three intervals.
    std::thread::sleep(Duration::from_millis(3500));
    let text = get(&coordinator, "/metrics").1;
    let tours = value(
        &text,
        "stillepost_tours_total{ring=\"0\",outcome=\"complete\"}",
    );
    assert!(tours >= 2.0, "monitor tours ran every second: {text}");
    for (from, to) in [("m0", "m1"), ("m1", "m2"), ("m2", "m0")] {
        let count = value(
            &text,
            &hop("stillepost_hop_latency_seconds_count", from, to),
        );
        assert_eq!(
            count,
            50.0 * tours,
            "hop {from}→{to}: every message of the {tours} tours: {text}"
        );
        let labels = [
            format!("from=\"{from}\""),
            format!("to=\"{to}\""),
            "le=\"+Inf\"".to_string(),
        ];
        let inf = samples(&text)
            .into_iter()
            .find(|(k, _)| {
                k.starts_with("stillepost_hop_latency_seconds_bucket{")
                    && labels.iter().all(|l| k.contains(l.as_str()))
            })
            .map(|(_, v)| v);
        assert_eq!(inf, Some(count), "the +Inf bucket holds them all: {text}");
        for counter in ["lost", "duplicates", "reordered"] {
            let name = format!("stillepost_hop_messages_{counter}_total");
            assert_eq!(
                value(&text, &hop(&name, from, to)),
                0.0,
                "{name} {from}→{to}"
            );
        }
        let sent = value(&text, &hop("stillepost_hop_messages_sent_total", from, to));
        let received = value(
            &text,
            &hop("stillepost_hop_messages_received_total", from, to),
        );
        assert_eq!((sent, received), (50.0 * tours, 50.0 * tours));
    }
    assert_eq!(
        value(&text, "stillepost_tour_latency_seconds_count{ring=\"0\"}"),
        50.0 * tours
    );
    assert_eq!(
        value(&text, "stillepost_monitor_interval_seconds{ring=\"0\"}"),
        1.0
    );
    assert_eq!(value(&text, "stillepost_ring_members{ring=\"0\"}"), 3.0);
    for m in ["m0", "m1", "m2"] {
        assert_eq!(
            value(
                &text,
                &format!("stillepost_member_up{{ring=\"0\",member=\"{m}\"}}")
            ),
            1.0
        );
    }
    assert!(text.contains("# TYPE stillepost_hop_latency_seconds histogram"));
    assert!(
        text.contains("le=\"1e-6\"") || text.contains("le=\"0.000001\""),
        "{text}"
    );

    // `status` shows monitoring and every member's health.
    let out = cluster.client(&["status", "--json"]);
    assert_success(&out);
    let status = json(&out);
    assert_eq!(status["monitor"]["interval_ms"], 1000);
    assert_eq!(status["monitor"]["count"], 50);
    assert!(
        status["monitor"]["tours"].as_u64().unwrap_or(0) >= 2,
        "{status}"
    );
    for (i, m) in status["members"]
        .as_array()
        .expect("members")
        .iter()
        .enumerate()
    {
        assert_eq!(m["name"], format!("m{i}"));
        assert_eq!(m["instance_id"].as_str().map(str::len), Some(16), "{m}");
        assert!(m["last_seen_unix_ms"].as_u64().is_some(), "{m}");
        assert_eq!(m["last_tour"], "reported", "{m}");
    }
    let out = cluster.client(&["status"]);
    assert_success(&out);
    let text_status = support::stdout(&out);
    assert!(
        text_status.contains("monitoring: a tour of 50 messages every 1.0 s; last monitor tour"),
        "{text_status}"
    );

    // The member's own metrics: its data plane's counters since it started.
    let member_text = get(&member, "/metrics").1;
    assert!(
        value(&member_text, "stillepost_dataplane_received_total") >= 100.0,
        "{member_text}"
    );
    assert!(value(&member_text, "stillepost_dataplane_forwarded_total") >= 100.0);
    assert!(
        member_text.contains("stillepost_dataplane_info{name=\"m1\""),
        "{member_text}"
    );
    assert!(member_text.contains("stillepost_dataplane_rejected_total{reason=\"malformed\"} 0"));

    if let Some(promtool) = promtool() {
        check_metrics(&promtool, &text);
        check_metrics(&promtool, &member_text);
    }

    // The dashboard and the alert rules name only metrics these endpoints serve.
    let served: BTreeSet<String> = samples(&text)
        .keys()
        .chain(samples(&member_text).keys())
        .map(|k| k.split('{').next().unwrap_or(k).to_string())
        .collect();
    let dashboard = deploy().join("stillepost-dashboard.json");
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&dashboard).expect("dashboard"))
            .expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| !p.is_empty()));
    let mut dashboard_queries = String::new();
    queries(&parsed, &mut dashboard_queries);
    let rules = deploy().join("stillepost-alerts.yml");
    let rule_text = std::fs::read_to_string(&rules).expect("the alert rules");
    for (file, text) in [(dashboard, dashboard_queries), (rules, rule_text)] {
        let named = names_in(&text);
        assert!(!named.is_empty());
        for name in named {
            let served_as_family = served.iter().any(|s| {
                s == &name
                    || s.strip_prefix(name.as_str())
                        .is_some_and(|rest| ["_bucket", "_count", "_sum"].contains(&rest))
            });
            assert!(
                served.contains(&name) || served_as_family,
                "{} names {name}, which no endpoint serves",
                file.display()
            );
        }
    }
}

#[test]
fn a_lossy_hop_shows_its_loss_on_that_hop_alone() {
    let (cluster, coordinator) = monitored("20", |i| {
        if i == 1 {
            vec!["--fault-drop-data".to_string()]
        } else {
            Vec::new()
        }
    });
    cluster.configure(&["--msgcount", "100", "--member-timeout", "200"]);
    let text = wait_for(
        Duration::from_secs(10),
        || get(&coordinator, "/metrics").1,
        |t| {
            value(
                t,
                "stillepost_tours_total{ring=\"0\",outcome=\"timed_out\"}",
            ) >= 2.0
        },
    );
    let lost = |from, to| value(&text, &hop("stillepost_hop_messages_lost_total", from, to));
    let sent = value(
        &text,
        &hop("stillepost_hop_messages_sent_total", "m0", "m1"),
    );
    assert!(sent >= 2.0, "{text}");
    assert_eq!(
        lost("m0", "m1"),
        sent,
        "every message sent to m1 is lost: {text}"
    );
    assert_eq!(lost("m1", "m2"), 0.0);
    assert_eq!(lost("m2", "m0"), 0.0);
    assert!(
        value(
            &text,
            "stillepost_member_datagrams_rejected_total{ring=\"0\",member=\"m1\",reason=\"injected_drops\"}"
        ) >= sent,
        "{text}"
    );
}

#[test]
fn a_killed_member_is_down_and_back_in_the_ring_when_it_restarts() {
    let (mut cluster, coordinator) = monitored("20", |_| Vec::new());
    cluster.configure(&["--msgcount", "100", "--member-timeout", "500"]);
    let up = |t: &str| value(t, "stillepost_member_up{ring=\"0\",member=\"m2\"}");
    let failed = |t: &str| value(t, "stillepost_tours_total{ring=\"0\",outcome=\"failed\"}");
    let complete = |t: &str| value(t, "stillepost_tours_total{ring=\"0\",outcome=\"complete\"}");
    let scrape = || get(&coordinator, "/metrics").1;
    let before = wait_for(Duration::from_secs(5), scrape, |t| complete(t) >= 1.0);
    assert!(complete(&before) >= 1.0, "{before}");

    cluster.members[2].kill();
    let killed = Instant::now();
    // Within two health intervals (1 s each), and a second for this machine's noise.
    let text = wait_for(Duration::from_secs(3), scrape, |t| {
        up(t) == 0.0 && failed(t) > failed(&before)
    });
    assert_eq!(
        up(&text),
        0.0,
        "m2 is down {:?} after it was killed: {text}",
        killed.elapsed()
    );
    assert!(
        failed(&text) > failed(&before),
        "a failed tour is counted: {text}"
    );
    assert_eq!(get(&coordinator, "/readyz").0, 503);

    // The same member again, at the same addresses: a new process, configured into the
    // ring by the coordinator.
    let control = cluster.controls[2].clone();
    let peer = cluster.peers[2].clone();
    cluster.members[2] = Daemon::start_logged(&[
        "member",
        "--coord-bind",
        &control,
        "--peer-bind",
        &peer,
        "--name",
        "m2",
    ]);
    let at_restart = complete(&scrape());
    let text = wait_for(Duration::from_secs(15), scrape, |t| {
        up(t) == 1.0 && complete(t) >= at_restart + 2.0
    });
    assert_eq!(up(&text), 1.0, "{text}");
    assert!(
        complete(&text) >= at_restart + 2.0,
        "tours complete again: {text}"
    );
    assert_eq!(get(&coordinator, "/readyz").0, 200);
    let tour = cluster.tour();
    assert_eq!(tour["outcome"], "complete", "{tour}");
}

#[test]
fn a_run_during_monitoring_waits_for_the_monitor_tour_and_succeeds() {
    let (cluster, _) = monitored("100", |_| Vec::new());
    // Monitor tours of 100 messages at 100 per second: a second each.
    cluster.configure(&["--msgcount", "200", "--rate", "100"]);
    let status = |c: &Cluster| {
        let out = c.client(&["status", "--json"]);
        assert_success(&out);
        json(&out)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&cluster)["running_tour"].is_null() {
        assert!(Instant::now() < deadline, "no monitor tour started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let tour = cluster.tour();
    assert_eq!(tour["outcome"], "complete", "{tour}");
    assert_eq!(tour["params"]["count"], 200, "the ring's own count: {tour}");
    let after = status(&cluster)["monitor"]["tours"].as_u64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&cluster)["monitor"]["tours"].as_u64().unwrap_or(0) <= after {
        assert!(
            Instant::now() < deadline,
            "monitor tours resume after the run"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status(&cluster)["monitor"]["last_outcome"], "complete");
    // `tours` lists the client's tour; monitor tours only with --monitor.
    let listed = |args: &[&str]| {
        let out = cluster.client(args);
        assert_success(&out);
        json(&out)["tours"].as_array().cloned().unwrap_or_default()
    };
    let own = listed(&["tours", "--json"]);
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["tour_id"], tour["tour_id"]);
    let all = listed(&["tours", "--monitor", "--json"]);
    assert!(all.len() >= 3, "{all:?}");
    assert!(all.iter().filter(|t| t["monitor"] == true).count() >= 2);
    let out = cluster.client(&["tours"]);
    assert!(
        support::stdout(&out)
            .contains("monitor tours not listed: `stillepost tours --monitor` lists them")
    );
}

#[test]
fn both_daemons_stop_cleanly_on_sigterm_while_monitoring() {
    let (mut cluster, coordinator) = monitored("100", |i| {
        if i == 2 {
            vec!["--metrics-bind".to_string(), "127.0.0.1:0".to_string()]
        } else {
            Vec::new()
        }
    });
    let member = metrics_addr(&cluster.members[2]);
    // Tours of a second each (100 at 100/s), so the signal comes during one.
    cluster.configure(&["--msgcount", "100", "--rate", "100"]);
    std::thread::sleep(Duration::from_millis(1500));
    for daemon in [&mut cluster.coordinator, &mut cluster.members[2]] {
        support::signal(daemon.pid(), "TERM");
        let status = daemon.wait_exit(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "stillepostd exits 0 on SIGTERM: {status:?}"
        );
    }
    for addr in [coordinator, member] {
        assert!(
            TcpStream::connect(&addr).is_err(),
            "the metrics endpoint {addr} is closed"
        );
    }
}

#[test]
fn promtool_tests_every_alert_rule() {
    let Some(promtool) = promtool() else { return };
    let rules = deploy().join("stillepost-alerts.yml");
    let tests = deploy().join("stillepost-alerts.test.yml");
    for (command, file) in [("check", &rules), ("test", &tests)] {
        let out = Command::new(&promtool)
            .args([command, "rules"])
            .arg(file)
            .output()
            .expect("promtool");
        assert!(
            out.status.success(),
            "promtool {command} rules {}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A unit test for every alert.
    let rule_text = std::fs::read_to_string(&rules).expect("rules");
    let test_text = std::fs::read_to_string(&tests).expect("tests");
    let alerts: Vec<&str> = rule_text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(str::trim)
        .collect();
    assert!(alerts.len() >= 4, "{alerts:?}");
    for alert in alerts {
        assert!(
            test_text.contains(&format!("alertname: {alert}")),
            "no unit test for {alert}"
        );
    }
}
