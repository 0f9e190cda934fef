//! Faults in the middle of a tour, reported truthfully and fast: real `stillepostd`
//! processes, one of them killed while the tour runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Cluster, assert_success, bin, json, scratch_dir, signal, stderr, stdout};

/// Starts `stillepost run` (with `extra` flags) against the cluster, its output piped.
fn spawn_run(cluster: &Cluster, extra: &[&str]) -> std::process::Child {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    cluster.spawn(&args)
}

/// SIGKILL of the origin in the middle of a 200,000-message window-1 tour: the run ends
/// within seconds naming member 0, says that what the origin sent is unknown (rather than
/// "sent 0"), and the stored result exports in every format.
#[test]
fn a_tour_whose_origin_died_is_reported_and_exports_in_every_format() {
    let mut cluster = Cluster::start("auto", 2);
    cluster.configure(&["--msgcount", "200000", "--window", "1"]);
    let run = spawn_run(&cluster, &[]);
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
        text.contains("  total time    unknown (no origin report)"),
        "{text}"
    );
    // Said once, though the tour's wait and its end both saw it.
    let err = stderr(&out);
    assert_eq!(
        err.matches(&format!("member 0 ({})", cluster.controls[0]))
            .count(),
        1,
        "{err}"
    );
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

/// 1,100 idle TCP connections to a member's control port, more than a soft open-file
/// limit of 1024 allows: the member raised its limit to the hard limit at start, so the
/// coordinator still reaches and configures it, and a tour runs.
#[test]
fn idle_connections_do_not_lock_a_member_out() {
    use std::net::TcpStream;
    // This test holds the connections: it needs the descriptors too.
    stillepost_control::process::raise_fd_limit().unwrap();
    let mut command = Command::new("prlimit");
    command
        .args(["--nofile=1024:8192", "--"])
        .arg(bin("stillepostd"));
    let (member, control, _) = support::start_member_with("127.0.0.1:0", &[], |args| {
        support::Daemon::start_command(command, args)
    });
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", member.pid())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_owned();
    assert!(
        open_files.split_whitespace().nth(3) == Some("8192"),
        "the member raised its soft limit to the hard one: {open_files}"
    );
    let idle: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(&control).unwrap())
        .collect();
    let coordinator = Cluster::start("auto", 0);
    let (_other, other_control, _) = support::start_member("127.0.0.1:0", &[]);
    let started = Instant::now();
    let out = coordinator.client(&[
        "configure",
        "--cluster",
        &format!("{control},{other_control}"),
        "--msgcount",
        "100",
    ]);
    assert_success(&out);
    assert!(started.elapsed() < Duration::from_secs(5));
    let tour = coordinator.tour();
    assert_eq!(tour["messages_received"], 100, "{tour:#}");
    drop(idle);
}

/// The data directory does not grow for ever: a coordinator started with `--keep-tours 2`
/// keeps its newest two results and the pinned one; `pin` names a tour it does not have.
#[test]
fn stored_results_are_pruned_except_the_pinned() {
    let cluster = Cluster::start_split(1, &["--keep-tours", "2"], &[]);
    cluster.configure(&["--msgcount", "10"]);
    let tours: Vec<String> = (0..4)
        .map(|i| {
            let id = cluster.tour()["tour_id"].as_str().unwrap().to_owned();
            if i == 0 {
                let out = cluster.client(&["pin", "latest"]);
                assert_success(&out);
                assert!(
                    stdout(&out).contains(&format!("tour {id}: pinned")),
                    "{}",
                    stdout(&out)
                );
            }
            id
        })
        .collect();
    let stored = |id: &str| cluster.data_dir.join(format!("{id}.pb")).exists();
    assert!(stored(&tours[0]), "the pinned tour stays");
    assert!(!stored(&tours[1]), "the oldest unpinned tour goes");
    assert!(
        stored(&tours[2]) && stored(&tours[3]),
        "the newest two stay"
    );
    let out = cluster.client(&["report", &tours[0], "--format", "json"]);
    assert_success(&out);
    let out = cluster.client(&["pin", "00000000000000ff"]);
    support::assert_failure(&out, 1, &["no tour 00000000000000ff is known"]);
    // Unpinned, the first tour goes at the next tour's pruning.
    assert_success(&cluster.client(&["pin", &tours[0], "--unpin"]));
    cluster.tour();
    assert!(!stored(&tours[0]));
}

/// Junk that reaches a member between tours is counted, and stays visible: the member's
/// counters since it started (in `status`) keep it after the next tour begins its own.
#[test]
fn datagrams_rejected_between_tours_stay_counted_in_status() {
    use std::net::UdpSocket;
    use stillepost_engine::wire::{HEADER_LEN, Header, Kind};
    let cluster = Cluster::start("auto", 2);
    cluster.configure(&["--msgcount", "20"]);
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let member = cluster.peers[1].as_str();
    // 200 datagrams of zeros (no header: malformed), 200 data datagrams of another tour
    // without a tag (bad_tag), 100 clock probes of the wrong size (ignored).
    for _ in 0..200 {
        junk.send_to(&[0u8; 100], member).unwrap();
    }
    let mut data = [0u8; HEADER_LEN];
    Header {
        kind: Kind::Data,
        flags: 0,
        tour_id: 12_345,
        seq: 0,
        frag_index: 0,
        frag_count: 1,
        msg_len: HEADER_LEN as u32,
        hop: 0,
        prev_send_ns: 0,
        origin_send_ns: 0,
    }
    .encode(&mut data);
    for _ in 0..200 {
        junk.send_to(&data, member).unwrap();
    }
    let mut probe = [0u8; HEADER_LEN];
    Header::clock_probe(1, 0, 0).encode(&mut probe);
    for _ in 0..100 {
        junk.send_to(&probe, member).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    // The tour starts its own counters: the junk must not vanish with the old ones.
    let tour = cluster.tour();
    assert_eq!(tour["messages_received"], 20, "{tour:#}");
    let out = cluster.client(&["status", "--json"]);
    assert_success(&out);
    let status = json(&out);
    let lifetime = &status["members"][1]["lifetime"];
    assert_eq!(lifetime["malformed"], 200, "{status:#}");
    assert_eq!(lifetime["bad_tag"], 200, "{status:#}");
    assert_eq!(lifetime["ignored"], 100, "{status:#}");
    assert_eq!(lifetime["received"], 20, "{status:#}");
    let text = stdout(&cluster.client(&["status"]));
    assert!(
        text.contains("  member 1 since it started: 200 datagrams malformed"),
        "{text}"
    );
}

/// A coordinator restarted on its data directory takes up the ring it had configured when
/// every member still has that configuration; one whose members another coordinator took
/// meanwhile does not, and says nothing is configured.
#[test]
fn a_restarted_coordinator_takes_up_its_ring_if_the_members_still_have_it() {
    let mut cluster = Cluster::start("auto", 2);
    cluster.configure(&["--msgcount", "20"]);
    cluster.tour();
    let restart = |cluster: &mut Cluster| {
        cluster.coordinator.kill();
        cluster.coordinator =
            support::Daemon::coordinator(&cluster.coordinator_addr, &cluster.data_dir);
        let out = cluster.client(&["status", "--json"]);
        assert_success(&out);
        json(&out)
    };
    let status = restart(&mut cluster);
    assert_eq!(status["configured"], true, "{status:#}");
    assert_eq!(status["members"].as_array().unwrap().len(), 2);
    let tour = cluster.tour();
    assert_eq!(tour["messages_received"], 20, "{tour:#}");

    // Another coordinator takes the members; the restarted one does not take them up.
    let other = Cluster::start("auto", 0);
    let out = other.client(&["configure", "--cluster", &cluster.cluster_arg(), "--force"]);
    assert_success(&out);
    let status = restart(&mut cluster);
    assert_eq!(status["configured"], false, "{status:#}");
    let out = cluster.client(&["run"]);
    support::assert_failure(&out, 1, &["not configured"]);
}

/// A window-1 tour of 200,000 messages with a member timeout of `member_timeout_ms`,
/// started with `run --json` (and `extra`).
fn window_one_tour(
    cluster: &Cluster,
    member_timeout_ms: &str,
    extra: &[&str],
) -> std::process::Child {
    cluster.configure(&[
        "--msgcount",
        "200000",
        "--window",
        "1",
        "--member-timeout",
        member_timeout_ms,
    ]);
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    spawn_run(cluster, &args)
}

/// A window-1 tour of 200,000 messages (member timeout 30 s) started with `run --json`, 1.5
/// s under way.
fn long_tour_under_way(cluster: &Cluster) -> std::process::Child {
    let run = window_one_tour(cluster, "30000", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    run
}

/// SIGKILL of a forwarder mid-tour: the coordinator notices its refused control port and
/// ends the tour within a few seconds, naming it, instead of waiting out the member
/// timeout (here 30 s).
#[test]
fn a_dead_forwarder_ends_the_tour_fast_and_is_named() {
    let mut cluster = Cluster::start("auto", 3);
    let run = long_tour_under_way(&cluster);
    cluster.members[1].kill();
    let killed = Instant::now();
    let out = run.wait_with_output().unwrap();
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let result = json(&out);
    let error = result["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "member 1 ({}) went away during the tour",
            cluster.controls[1]
        )),
        "{error}"
    );
    assert_eq!(result["members"][1]["report_missing"], true, "{result:#}");
    assert!(result["messages_received"].as_u64().unwrap() > 0);
}

/// SIGSTOP of a forwarder mid-tour: its kernel still accepts connections, so nothing is
/// refused; the tour ends within seconds of the tour standing still (not after the member
/// timeout, here 30 s, plus a deadline per call), naming the member as stopped, without
/// waiting for its report. Resumed, the member serves the next tour.
#[test]
fn a_stopped_forwarder_ends_the_tour_within_seconds_and_the_ring_recovers() {
    let cluster = Cluster::start("auto", 3);
    let run = long_tour_under_way(&cluster);
    let pid = cluster.members[1].pid();
    signal(pid, "STOP");
    let stopped = Instant::now();
    let out = run.wait_with_output().unwrap();
    let took = stopped.elapsed();
    signal(pid, "CONT");
    // Silence limit 3 s, checks of 1 s: about 4.5 s (it was 15 s: the member timeout and
    // an End call's deadline).
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let result = json(&out);
    let error = result["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "member 1 ({}) stopped answering during the tour",
            cluster.controls[1]
        )) && error.contains("SIGSTOP"),
        "{error}"
    );
    assert_eq!(result["members"][1]["report_missing"], true, "{result:#}");
    assert!(result["messages_received"].as_u64().unwrap() > 0);

    assert_success(&cluster.configure(&["--msgcount", "100"]));
    let tour = cluster.tour();
    assert_eq!(tour["outcome"], "complete", "{tour:#}");
    assert_eq!(tour["messages_received"], 100);
}

/// A forwarder stopped between tours: the next `run` fails in about 3 s (the coordinator's
/// keepalive pings go unanswered; the call's deadline is 5 s), exit 4, naming the member
/// and the call it did not answer, and saying what to suspect.
#[test]
fn a_member_stopped_before_a_tour_is_named_as_not_answering() {
    let cluster = Cluster::start("auto", 3);
    cluster.configure(&["--msgcount", "10"]);
    let pid = cluster.members[2].pid();
    signal(pid, "STOP");
    let started = Instant::now();
    let out = cluster.client(&["run"]);
    let took = started.elapsed();
    signal(pid, "CONT");
    assert!(took < Duration::from_millis(4500), "took {took:?}");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains(&format!(
            "member 2 ({}) did not answer Prepare in time",
            cluster.controls[2]
        )) && text.contains("stopped (SIGSTOP"),
        "{text}"
    );
    // Resumed, it serves the next tour.
    let tour = cluster.tour();
    assert_eq!(tour["messages_received"], 10, "{tour:#}");
}

/// The coordinator stopped (SIGSTOP) mid-tour: the waiting `run` says so within seconds
/// (HTTP/2 keepalive pings go unanswered), exit 4, naming the tour; resumed, the
/// coordinator finishes the tour and stores its result. Killed mid-tour, `run` says it went
/// away and that the result went with it (no TLS hint: the connection worked a moment ago).
#[test]
fn a_coordinator_stopped_or_killed_mid_tour_is_reported_as_such() {
    let mut cluster = Cluster::start("auto", 3);
    cluster.configure(&["--msgcount", "100000", "--window", "1"]);
    let run = spawn_run(&cluster, &[]);
    std::thread::sleep(Duration::from_millis(1000));
    let pid = cluster.coordinator.pid();
    signal(pid, "STOP");
    let stopped = Instant::now();
    let out = run.wait_with_output().unwrap();
    let took = stopped.elapsed();
    signal(pid, "CONT");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("stopped answering while tour") && text.contains("SIGSTOP"),
        "{text}"
    );
    let tour_id = text
        .split("while tour ")
        .nth(1)
        .and_then(|rest| rest.get(..16))
        .unwrap()
        .to_owned();
    // Resumed, it finishes the tour and keeps the result.
    let started = Instant::now();
    loop {
        let report = cluster.client(&["report", &tour_id, "--format", "json"]);
        if report.status.success() {
            assert_eq!(json(&report)["outcome"], "complete", "{}", stdout(&report));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            stderr(&report)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let run = spawn_run(&cluster, &[]);
    std::thread::sleep(Duration::from_millis(1000));
    cluster.coordinator.kill();
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("went away while tour") && !text.contains("TLS"),
        "{text}"
    );
}

/// A member's resident memory, kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Every rejection a member counts, summed over its counters since it started.
fn rejected(status: &serde_json::Value, index: usize) -> u64 {
    let lifetime = &status["members"][index]["lifetime"];
    stillepost_fuzz::REJECTED
        .iter()
        .map(|name| lifetime[*name].as_u64().unwrap_or(0))
        .sum()
}

/// Junk at every member while a tour runs: random bytes, truncated headers, another tour's
/// data, the running tour's id with bogus sequences, fragment fields and times, 65535
/// fragments, a length of 0xFFFFFFFF, clock probes and echoes without the ring's tag. The
/// tour is exact, every junk datagram is counted by the member it reached (or by the
/// kernel, had its socket been full), and no member's memory grows.
#[test]
fn a_junk_blast_at_every_member_leaves_the_tour_exact_and_is_counted() {
    use std::net::UdpSocket;
    const JUNK_PER_MEMBER: usize = 6000;
    let cluster = Cluster::start("auto", 3);
    cluster.configure(&["--msgcount", "30000", "--window", "8"]);
    let before = json(&cluster.client(&["status", "--json"]));
    let rss_before: Vec<u64> = cluster.members.iter().map(|m| rss_kb(m.pid())).collect();
    let run = spawn_run(&cluster, &["--json"]);
    // The running tour's id, to forge its datagrams.
    let tour_id = loop {
        let status = json(&cluster.client(&["status", "--json"]));
        if let Some(id) = status["running_tour"].as_str() {
            break u64::from_str_radix(id, 16).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut junk = stillepost_fuzz::Junk::new(tour_id);
    for i in 0..JUNK_PER_MEMBER {
        for peer in &cluster.peers {
            socket.send_to(&junk.datagram(), peer).unwrap();
        }
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let out = run.wait_with_output().unwrap();
    assert_success(&out);
    let tour = json(&out);
    assert_eq!(tour["outcome"], "complete", "{tour:#}");
    assert_eq!(tour["messages_received"], 30_000, "{tour:#}");
    let after = json(&cluster.client(&["status", "--json"]));
    for (index, member) in cluster.members.iter().enumerate() {
        let counted = rejected(&after, index) - rejected(&before, index);
        let kernel = tour["members"][index]["socket_drops"].as_u64().unwrap();
        assert_eq!(
            counted + kernel,
            JUNK_PER_MEMBER as u64,
            "member {index}: {counted} counted, {kernel} dropped by the kernel: {:#}",
            after["members"][index]["lifetime"]
        );
        let grew = rss_kb(member.pid()).saturating_sub(rss_before[index]);
        assert!(grew < 16 * 1024, "member {index} grew by {grew} kB");
    }
}

/// A forwarder stopped (SIGSTOP) for 1.5 s with a member timeout of 1 s: the origin gives
/// up, and the message that sat in the stopped member is blamed on it (it stalled), not on
/// the hop after it as "never received".
#[test]
fn a_message_that_sat_in_a_stalled_member_is_blamed_on_that_member() {
    let cluster = Cluster::start("auto", 3);
    let run = window_one_tour(&cluster, "1000", &[]);
    std::thread::sleep(Duration::from_millis(1000));
    let pid = cluster.members[1].pid();
    signal(pid, "STOP");
    std::thread::sleep(Duration::from_millis(1500));
    signal(pid, "CONT");
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let result = json(&out);
    assert_eq!(result["outcome"], "timed_out", "{result:#}");
    assert_eq!(result["lost"], 1, "{result:#}");
    assert_eq!(result["members"][1]["stalled"], 1, "{result:#}");
    let residence = result["members"][1]["residence"]["max_ns"]
        .as_u64()
        .unwrap();
    assert!(residence >= 1_000_000_000, "{result:#}");
    for hop in result["hop_losses"].as_array().unwrap() {
        assert_eq!(hop["lost"], 0, "no hop lost it: {result:#}");
    }
    // The text says where it sat.
    let out = cluster.client(&["report", "latest", "--format", "text"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "  where the lost message was last seen:\n    member 1 ({}): 1 stayed there longer than the member timeout before it forwarded it: the member stalled (stopped, descheduled or swapped out), its longest residence ",
            cluster.peers[1]
        )) && !text.contains("never received"),
        "{text}"
    );
}
