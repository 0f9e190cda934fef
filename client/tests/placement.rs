//! Placement by workload, with real `stillepostd` members on this host: the coordinator
//! places their data-plane threads at configure from the tour's shape, and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use support::*;

/// The cores this process may use (its affinity, as `Cpus_allowed_list` gives it: "0-3",
/// "2,5-6"), or `None` after saying the test needs two.
fn two_cores() -> Option<Vec<i64>> {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("a Cpus_allowed_list line")
        .trim();
    let mut cores = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cores.extend(a.parse::<i64>().unwrap()..=b.parse::<i64>().unwrap()),
            None => cores.push(part.parse::<i64>().unwrap()),
        }
    }
    if cores.len() < 2 {
        skip(&format!("needs two cores ({list} here)"));
        return None;
    }
    Some(cores)
}

/// The cores a member process's data-plane thread may run on, as the kernel says
/// (`Cpus_allowed_list` of the thread named `dataplane-*`).
fn dataplane_affinity(pid: u32) -> String {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("list the member's threads");
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with("dataplane-") {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap();
            let line = status
                .lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))
                .expect("a Cpus_allowed_list line");
            return line["Cpus_allowed_list:".len()..].trim().to_string();
        }
    }
    panic!("member {pid} has no dataplane thread");
}

fn cpus(doc: &serde_json::Value) -> Vec<i64> {
    doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["cpu"].as_i64().unwrap_or(-1))
        .collect()
}

#[test]
fn the_coordinator_places_a_hosts_members_by_the_tours_shape() {
    let Some(cores) = two_cores() else { return };
    let (high, next) = (cores[cores.len() - 1], cores[cores.len() - 2]);
    let cluster = Cluster::start("auto", 2);
    // One message in flight: both on one core, the highest.
    let configured = json(&cluster.configure(&["--window", "1", "--msgcount", "50", "--json"]));
    assert_eq!(configured["placed"]["layout"], "together", "{configured:#}");
    assert!(
        configured["placed"]["reason"]
            .as_str()
            .unwrap()
            .contains("one message in flight")
    );
    assert_eq!(cpus(&configured), vec![high, high]);
    for member in &cluster.members {
        assert_eq!(dataplane_affinity(member.pid()), high.to_string());
    }
    let tour = cluster.tour();
    assert_eq!(tour["placed"]["layout"], "together");
    assert_eq!(cpus(&tour), vec![high, high]);
    assert!(
        tour["members"][0]["cpu_ns"].as_u64().unwrap() > 0,
        "the origin's data plane used CPU time: {tour:#}"
    );

    // Many in flight: over the cores, the members' threads moved at this configure.
    let configured = json(&cluster.configure(&["--window", "all", "--msgcount", "200", "--json"]));
    assert_eq!(configured["placed"]["layout"], "spread", "{configured:#}");
    assert_eq!(cpus(&configured), vec![high, next]);
    assert_eq!(
        dataplane_affinity(cluster.members[1].pid()),
        next.to_string()
    );
    let tour = cluster.tour();
    assert_eq!(tour["outcome"], "complete");
    assert_eq!(cpus(&tour), vec![high, next]);

    // Asked for: together whatever the shape, and the text says it.
    let out = cluster.configure(&["--window", "all", "--placement", "together"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "placement: together on cores {high}, {high} (--placement together)"
        )),
        "{text}"
    );
    assert_eq!(
        dataplane_affinity(cluster.members[1].pid()),
        high.to_string()
    );
}

#[test]
fn a_member_given_a_core_keeps_it_and_spinners_get_a_core_each() {
    let Some(cores) = two_cores() else { return };
    let high = cores[cores.len() - 1];
    // Two spinning members without --cpu: each gets a core of its own instead of a refusal.
    let cluster = Cluster::start("auto", 0);
    let (a_daemon, a, _) = start_member("127.0.0.1:0", &["--poll", "spin"]);
    let (b_daemon, b, _) = start_member("127.0.0.1:0", &["--poll", "spin"]);
    let list = format!("{a},{b}");
    let out = cluster.client(&["configure", "--cluster", &list, "--window", "1", "--json"]);
    assert_success(&out);
    let placed = cpus(&json(&out));
    assert_ne!(placed[0], placed[1], "spinners share no core: {placed:?}");
    assert_eq!(dataplane_affinity(a_daemon.pid()), placed[0].to_string());
    assert_eq!(dataplane_affinity(b_daemon.pid()), placed[1].to_string());
    drop((a_daemon, b_daemon));

    // A member started with --cpu on the lowest core stays there in a together placement;
    // the other goes to the highest core.
    let low = cores[0].to_string();
    let (fixed, c, _) = start_member("127.0.0.1:0", &["--cpu", &low]);
    let (free, d, _) = start_member("127.0.0.1:0", &[]);
    let list = format!("{c},{d}");
    let out = cluster.client(&["configure", "--cluster", &list, "--window", "1", "--json"]);
    assert_success(&out);
    assert_eq!(cpus(&json(&out)), vec![cores[0], high]);
    assert_eq!(dataplane_affinity(fixed.pid()), low);
    assert_eq!(dataplane_affinity(free.pid()), high.to_string());
}

#[test]
fn local_places_its_members_and_refuses_a_placement_with_cores_given() {
    let Some(cores) = two_cores() else { return };
    let high = cores[cores.len() - 1];
    let out = stillepost(&[
        "local",
        "--members",
        "3",
        "--msgcount",
        "300",
        "--window",
        "all",
        "--json",
    ]);
    assert_success(&out);
    let doc = json(&out);
    assert_eq!(doc["ring"]["placed"]["layout"], "spread", "{doc:#}");
    let tour = &doc["tours"][0];
    assert_eq!(tour["placed"]["layout"], "spread");
    let placed = cpus(tour);
    assert_eq!(placed[0], high);
    assert_ne!(
        placed[0], placed[1],
        "neighbours on different cores: {placed:?}"
    );
    assert!(tour["cpu_ns"].as_u64().unwrap() > 0);

    let low = cores[0].to_string();
    let out = stillepost(&[
        "local",
        "--members",
        "2",
        "--cpus",
        &low,
        "--placement",
        "spread",
    ]);
    assert_failure(
        &out,
        2,
        &["--placement spread has nothing to place: --cpus gives every member its core"],
    );
    // --cpus is kept whatever the shape.
    let out = stillepost(&[
        "local",
        "--members",
        "2",
        "--cpus",
        &low,
        "--window",
        "all",
        "--json",
    ]);
    assert_success(&out);
    assert_eq!(cpus(&json(&out)["tours"][0]), vec![cores[0], cores[0]]);
}
