//! Members found without typing their addresses: `configure --cluster file:<path>` (a file
//! on the coordinator's host) and `dns:<name>[:<port>]` (A/AAAA or SRV records, from a DNS
//! server this test runs on 127.0.0.1), asked at every configure, the ring in the order of
//! the members' names; in monitor mode the coordinator follows the source by itself.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

#[path = "support/dns.rs"]
mod dns;
mod support;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use dns::DnsServer;
use support::{Cluster, Daemon, assert_failure, assert_success, json, scratch_dir};

/// The members' names of a configure reply, in ring order.
fn ring_order(reply: &serde_json::Value) -> Vec<&str> {
    reply["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect()
}

#[test]
fn a_member_file_is_read_at_every_configure_and_the_ring_sorted_by_name() {
    // Named so that name order is not start order: m2 is the first started.
    let names = ["m2", "m0", "m1"];
    let cluster = Cluster::start_custom(3, &[], |i| vec!["--name".into(), names[i].into()]);
    let dir = scratch_dir("members");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("members");
    let lines = |members: &[usize]| {
        let mut text = String::from("# the ring's members\n\n");
        for &i in members {
            text.push_str(&format!("{}  # {}\n", cluster.controls[i], names[i]));
        }
        text
    };
    std::fs::write(&file, lines(&[0, 1, 2])).unwrap();
    let source = format!("file:{}", file.display());

    let out = cluster.client(&["configure", "--cluster", &source, "--json"]);
    assert_success(&out);
    let reply = json(&out);
    assert_eq!(reply["source"], source.as_str());
    let order = ring_order(&reply);
    assert_eq!(order, ["m0", "m1", "m2"], "{reply}");
    let out = cluster.client(&["configure", "--cluster", &source]);
    assert!(
        support::stdout(&out).contains(&format!(
            "members from {source}, in the order of their names"
        )),
        "{}",
        support::stdout(&out)
    );
    assert_eq!(cluster.tour()["outcome"], "complete");

    // A member (m0, started second) taken out of the file: the next configure has two.
    std::fs::write(&file, lines(&[0, 2])).unwrap();
    let out = cluster.client(&["configure", "--cluster", &source, "--json"]);
    assert_success(&out);
    let reply = json(&out);
    let order = ring_order(&reply);
    assert_eq!(order, ["m1", "m2"], "{reply}");
    let status = json(&cluster.client(&["status", "--json"]));
    assert_eq!(status["source"], source.as_str());

    // What is wrong with a file is named with its line.
    std::fs::write(&file, "127.0.0.1:7001\nnot-an-endpoint\n").unwrap();
    let out = cluster.client(&["configure", "--cluster", &source]);
    assert_failure(
        &out,
        2,
        &[&format!("{} line 2", file.display()), "not host:port"],
    );
    std::fs::write(&file, "# nobody\n").unwrap();
    let out = cluster.client(&["configure", "--cluster", &source]);
    assert_failure(&out, 2, &["lists no member"]);
    let missing = format!("file:{}", dir.join("nope").display());
    let out = cluster.client(&["configure", "--cluster", &missing]);
    assert_failure(&out, 2, &["cannot read it on the coordinator's host"]);
    let out = cluster.client(&[
        "configure",
        "--cluster",
        &format!("{source},127.0.0.1:7001"),
    ]);
    assert_failure(&out, 2, &["must stand alone"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `stillepost --coordinator <addr> <args>`.
fn client(coordinator: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--coordinator", coordinator];
    all.extend_from_slice(args);
    support::stillepost(&all)
}

#[test]
fn srv_records_name_the_members_and_a_removed_record_leaves_the_ring() {
    let server = DnsServer::start("ring.test.");
    let dns_server = server.addr.to_string();
    let names = ["m2", "m0", "m1"];
    let cluster = Cluster::start_custom(3, &["--dns-server", &dns_server], |i| {
        vec!["--name".into(), names[i].into()]
    });
    let port = |i: usize| -> u16 {
        cluster.controls[i]
            .rsplit_once(':')
            .unwrap()
            .1
            .parse()
            .unwrap()
    };
    let service = "_control._tcp.ring.test.";
    for (i, name) in names.iter().enumerate() {
        let host = format!("{name}.ring.test.");
        server.add_a(&host, Ipv4Addr::LOCALHOST);
        server.add_srv(service, &host, port(i));
    }
    let source = "dns:_control._tcp.ring.test";
    let out = cluster.client(&["configure", "--cluster", source, "--json"]);
    assert_success(&out);
    let reply = json(&out);
    assert_eq!(reply["source"], source);
    assert_eq!(ring_order(&reply), ["m0", "m1", "m2"], "{reply}");
    assert_eq!(cluster.tour()["outcome"], "complete");

    // m0's record removed: the next configure has the other two.
    server.remove_srv(service, "m0.ring.test.", port(1));
    let out = cluster.client(&["configure", "--cluster", source, "--json"]);
    assert_success(&out);
    assert_eq!(ring_order(&json(&out)), ["m1", "m2"]);
    assert_eq!(cluster.tour()["outcome"], "complete");

    // A name without records is named, with what to do.
    let out = cluster.client(&["configure", "--cluster", "dns:nobody.ring.test:7001"]);
    assert_failure(&out, 2, &["dns:nobody.ring.test:7001", "nobody.ring.test"]);
    let out = cluster.client(&["configure", "--cluster", "dns:nobody.ring.test"]);
    assert_failure(&out, 2, &["(SRV)", "dns:nobody.ring.test:<port>"]);
}

/// A port free on all of `ips` (the members of a name's A records share one port).
fn common_port(ips: &[Ipv4Addr]) -> u16 {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind((ips[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let rest: Vec<_> = ips[1..]
            .iter()
            .map(|ip| std::net::TcpListener::bind((*ip, port)))
            .collect();
        if rest.iter().all(Result::is_ok) {
            return port;
        }
    }
    panic!("no port free on all of {ips:?}");
}

#[test]
fn a_records_at_a_given_port_name_the_members() {
    let server = DnsServer::start("ring.test.");
    let data_dir = scratch_dir("dns-a");
    let coordinator = Daemon::start(&[
        "coordinator",
        "--client-bind",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--dns-server",
        &server.addr.to_string(),
    ]);
    let addr = coordinator.addr_after("listening for clients on ");
    let ips: Vec<Ipv4Addr> = (11..14).map(|d| Ipv4Addr::new(127, 0, 0, d)).collect();
    let port = common_port(&ips);
    let names = ["c", "a", "b"];
    let _members: Vec<Daemon> = ips
        .iter()
        .zip(names)
        .map(|(ip, name)| {
            Daemon::start(&[
                "member",
                "--coord-bind",
                &format!("{ip}:{port}"),
                "--peer-bind",
                &format!("{ip}:0"),
                "--name",
                name,
            ])
        })
        .collect();
    for ip in &ips {
        server.add_a("members.ring.test.", *ip);
    }
    let source = format!("dns:members.ring.test:{port}");
    let out = client(&addr, &["configure", "--cluster", &source, "--json"]);
    assert_success(&out);
    let reply = json(&out);
    assert_eq!(ring_order(&reply), ["a", "b", "c"], "{reply}");
    let out = client(&addr, &["configure", "--cluster", &source]);
    assert!(
        support::stdout(&out).contains(&format!(
            "members from {source}, in the order of their names"
        )),
        "{}",
        support::stdout(&out)
    );

    // "a" (127.0.0.12) gone from the name: two members.
    server.remove_a("members.ring.test.", ips[1]);
    let out = client(&addr, &["configure", "--cluster", &source, "--json"]);
    assert_success(&out);
    assert_eq!(ring_order(&json(&out)), ["b", "c"]);
    let out = client(&addr, &["run", "--json"]);
    assert_success(&out);
    assert_eq!(json(&out)["outcome"], "complete");
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// The number of members `status` shows, polled until it is `want` or `limit` passed.
fn wait_for_members(cluster: &Cluster, want: usize, limit: Duration) -> usize {
    let start = Instant::now();
    loop {
        let status = json(&cluster.client(&["status", "--json"]));
        let n = status["members"].as_array().map_or(0, Vec::len);
        if n == want || start.elapsed() > limit {
            return n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn in_monitor_mode_the_ring_follows_its_source() {
    let mut cluster = Cluster::start_split(
        3,
        &["--monitor-interval", "1s", "--resolve-interval", "1s"],
        &[],
    );
    let dir = scratch_dir("follow");
    let file = dir.join("members");
    let write = |members: &[usize]| {
        let text: String = members
            .iter()
            .map(|&i| format!("{}\n", cluster.controls[i]))
            .collect();
        std::fs::write(&file, text).unwrap();
    };
    write(&[0, 1]);
    let source = format!("file:{}", file.display());
    assert_success(&cluster.client(&["configure", "--cluster", &source, "--msgcount", "100"]));

    // A member added to the file joins within a few resolve intervals (monitor tours and
    // the machine's noise in between), and one removed leaves.
    write(&[0, 1, 2]);
    assert_eq!(wait_for_members(&cluster, 3, Duration::from_secs(15)), 3);
    let log = cluster.coordinator.log();
    assert!(
        log.contains(&format!(
            "the members of {source} changed: joined {}; left none",
            cluster.controls[2]
        )),
        "{log}"
    );
    write(&[1, 2]);
    assert_eq!(wait_for_members(&cluster, 2, Duration::from_secs(15)), 2);
    let log = cluster.coordinator.log();
    assert!(
        log.contains(&format!("joined none; left {}", cluster.controls[0])),
        "{log}"
    );
    // Monitor tours go on around the new ring.
    let monitor = || json(&cluster.client(&["status", "--json"]))["monitor"].clone();
    let before = monitor()["tours"].as_u64().unwrap_or(0);
    let start = Instant::now();
    loop {
        let status = monitor();
        if status["tours"].as_u64().unwrap_or(0) > before && status["last_outcome"] == "complete" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{status:#}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A restarted coordinator takes up the ring and goes on following the file.
    cluster.coordinator.kill();
    cluster.coordinator = Daemon::start_logged(&[
        "coordinator",
        "--client-bind",
        &cluster.coordinator_addr,
        "--data-dir",
        cluster.data_dir.to_str().unwrap(),
        "--monitor-interval",
        "1s",
        "--resolve-interval",
        "1s",
    ]);
    let status = json(&cluster.client(&["status", "--json"]));
    assert_eq!(status["source"], source.as_str(), "{status:#}");
    assert_eq!(status["members"].as_array().map_or(0, Vec::len), 2);
    write(&[0, 1, 2]);
    assert_eq!(wait_for_members(&cluster, 3, Duration::from_secs(15)), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_coordinator_given_a_source_configures_its_ring_at_start_and_monitors_it() {
    let dir = scratch_dir("at-start");
    let file = dir.join("members");
    let source = format!("file:{}", file.display());
    // The coordinator starts before the file exists: it tries again (every 5 s) until the
    // file names its members.
    let names = ["m2", "m0", "m1"];
    let cluster = Cluster::start_custom(
        3,
        &["--cluster", &source, "--monitor-interval", "1s"],
        |i| vec!["--name".into(), names[i].into()],
    );
    let text: String = cluster.controls.iter().map(|c| format!("{c}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let start = Instant::now();
    let status = loop {
        let status = json(&cluster.client(&["status", "--json"]));
        if status["configured"] == true {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{status:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status["source"], source.as_str(), "{status:#}");
    let order: Vec<&str> = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["m0", "m1", "m2"]);
    // The default tour, as `stillepost configure` without tour flags.
    assert_eq!(status["params"]["count"], 1000, "{status:#}");
    // Monitoring runs by itself.
    let start = Instant::now();
    loop {
        let monitor = json(&cluster.client(&["status", "--json"]))["monitor"].clone();
        if monitor["last_outcome"] == "complete" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{monitor:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A malformed --cluster stops the coordinator at start, naming it.
    let out = Command::new(support::bin("stillepostd"))
        .args([
            "coordinator",
            "--client-bind",
            "127.0.0.1:0",
            "--cluster",
            "dns:",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("'dns:' names no DNS name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The members' names of each ring of a `configure --json` or `status --json` reply.
fn rings(reply: &serde_json::Value) -> Vec<Vec<String>> {
    reply["rings"]
        .as_array()
        .unwrap_or_else(|| panic!("no rings: {reply:#}"))
        .iter()
        .map(|ring| ring_order(ring).into_iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn ring_size_splits_the_members_into_rings_run_in_parallel() {
    // Six members whose names do not sort in start order.
    let names = ["n3", "n0", "n5", "n1", "n4", "n2"];
    let cluster = Cluster::start_custom(6, &["--metrics-bind", "127.0.0.1:0"], |i| {
        vec!["--name".into(), names[i].into()]
    });
    let dir = scratch_dir("ring-size");
    let file = dir.join("members");
    let text: String = cluster.controls.iter().map(|c| format!("{c}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let source = format!("file:{}", file.display());
    // Rings of three, 200 messages paced at 400/s.
    let configure_split = |extra: &[&str]| {
        let mut args = vec![
            "configure",
            "--cluster",
            &source,
            "--ring-size",
            "3",
            "--msgcount",
            "200",
            "--rate",
            "400",
        ];
        args.extend_from_slice(extra);
        cluster.client(&args)
    };
    let out = configure_split(&["--json"]);
    assert_success(&out);
    let reply = json(&out);
    assert_eq!(
        rings(&reply),
        [["n0", "n1", "n2"], ["n3", "n4", "n5"]],
        "{reply:#}"
    );
    assert_eq!(reply["rings"][1]["ring"], "1");
    let out = configure_split(&[]);
    let text = support::stdout(&out);
    assert!(
        text.contains(&format!("configured 6 members in 2 rings, from {source}"))
            && text.contains("ring 0: configured a ring of 3 members")
            && text.contains("ring 1: configured a ring of 3 members"),
        "{text}"
    );

    // `run` runs both rings at once; each ring's tour is reported on its own.
    let out = cluster.client(&["run", "--json"]);
    assert_success(&out);
    let doc = json(&out);
    let results = doc["rings"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{doc:#}");
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["ring"], i.to_string());
        assert_eq!(result["outcome"], "complete", "{result:#}");
        assert_eq!(result["messages_received"], 200);
        assert_eq!(result["hops"].as_array().unwrap().len(), 3);
    }
    // Both tours ran together: paced at 400 messages/s, each took half a second or more,
    // and each started before the other ended.
    let span = |r: &serde_json::Value| {
        let start = r["started_unix_ms"].as_f64().unwrap();
        (start, start + r["total_ns"].as_f64().unwrap() / 1e6)
    };
    let (a, b) = (span(&results[0]), span(&results[1]));
    assert!(a.1 - a.0 >= 450.0 && b.1 - b.0 >= 450.0, "{a:?} {b:?}");
    assert!(a.0 < b.1 && b.0 < a.1, "{a:?} {b:?}");
    let listed = json(&cluster.client(&["tours", "--json"]));
    for result in results {
        let id = result["tour_id"].as_str().unwrap();
        assert!(listed.to_string().contains(id), "{listed:#}");
    }
    let out = cluster.client(&["run"]);
    assert_success(&out);
    let text = support::stdout(&out);
    assert!(
        text.contains("(ring 0): complete") && text.contains("(ring 1): complete"),
        "{text}"
    );
    // Each ring's tour is listed and can be reported by its id.
    let id = results[1]["tour_id"].as_str().unwrap();
    let out = cluster.client(&["report", id, "--json"]);
    assert_success(&out);
    assert_eq!(json(&out)["ring"], "1");

    // `status` names every ring; the metrics label every series with its ring.
    let status = json(&cluster.client(&["status", "--json"]));
    assert_eq!(
        rings(&status),
        [["n0", "n1", "n2"], ["n3", "n4", "n5"]],
        "{status:#}"
    );
    assert_eq!(status["source"], source.as_str());
    let metrics = cluster
        .coordinator
        .addr_after("metrics on http://")
        .trim_end_matches("/metrics")
        .to_string();
    let scrape = http_get(&metrics, "/metrics");
    for ring in ["0", "1"] {
        assert!(
            scrape.contains(&format!("stillepost_ring_members{{ring=\"{ring}\"}} 3")),
            "{scrape}"
        );
        assert!(
            scrape.contains(&format!(
                "stillepost_tours_total{{ring=\"{ring}\",outcome=\"complete\"}} 2"
            )),
            "{scrape}"
        );
    }
    assert_eq!(scrape.matches("# HELP stillepost_ring_members ").count(), 1);

    // Without --ring-size the members form one ring again.
    let out = cluster.client(&["configure", "--cluster", &source, "--json"]);
    assert_success(&out);
    let reply = json(&out);
    assert_eq!(ring_order(&reply), ["n0", "n1", "n2", "n3", "n4", "n5"]);
    assert!(reply.get("rings").is_none(), "{reply:#}");
    let out = cluster.client(&["run", "--json"]);
    assert_success(&out);
    let result = json(&out);
    assert_eq!(result["outcome"], "complete");
    assert!(result["ring"].is_null(), "{result:#}");
    // The second ring, out of use, is out of the metrics.
    let scrape = http_get(&metrics, "/metrics");
    assert!(
        scrape.contains("stillepost_ring_members{ring=\"0\"} 6"),
        "{scrape}"
    );
    assert!(!scrape.contains("ring=\"1\""), "{scrape}");

    // Refused: a ring of one.
    let out = cluster.client(&["configure", "--cluster", &source, "--ring-size", "1"]);
    assert_failure(&out, 2, &["--ring-size"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The body of `GET http://<addr><path>` (HTTP/1.0, as a scraper would).
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

#[test]
fn in_monitor_mode_split_rings_follow_their_source() {
    let names = ["a0", "a1", "a2", "a3"];
    let cluster = Cluster::start_custom(
        4,
        &["--monitor-interval", "1s", "--resolve-interval", "1s"],
        |i| vec!["--name".into(), names[i].into()],
    );
    let dir = scratch_dir("split-follow");
    let file = dir.join("members");
    let write = |members: &[usize]| {
        let text: String = members
            .iter()
            .map(|&i| format!("{}\n", cluster.controls[i]))
            .collect();
        std::fs::write(&file, text).unwrap();
    };
    write(&[0, 1, 2]);
    let source = format!("file:{}", file.display());
    let out = cluster.client(&[
        "configure",
        "--cluster",
        &source,
        "--ring-size",
        "2",
        "--msgcount",
        "50",
        "--json",
    ]);
    assert_success(&out);
    assert_eq!(rings(&json(&out)), [vec!["a0", "a1"], vec!["a2"]]);
    // a3 joins: the coordinator splits the members again by itself.
    write(&[0, 1, 2, 3]);
    let start = Instant::now();
    loop {
        let status = json(&cluster.client(&["status", "--json"]));
        if status["rings"].is_array() && rings(&status) == [["a0", "a1"], ["a2", "a3"]] {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{status:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Monitor tours go on around the new second ring.
    let monitor = || json(&cluster.client(&["status", "--json"]))["rings"][1]["monitor"].clone();
    let before = monitor()["tours"].as_u64().unwrap_or(0);
    let start = Instant::now();
    loop {
        let m = monitor();
        if m["tours"].as_u64().unwrap_or(0) > before && m["last_outcome"] == "complete" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{m:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // a0 leaves: a1, a2, a3 split into rings of two and one.
    write(&[1, 2, 3]);
    let start = Instant::now();
    loop {
        let status = json(&cluster.client(&["status", "--json"]));
        if status["rings"].is_array() && rings(&status) == [vec!["a1", "a2"], vec!["a3"]] {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{status:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
