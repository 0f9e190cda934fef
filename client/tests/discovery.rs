//! Members found without typing their addresses: `configure --cluster file:<path>`, a file
//! on the coordinator's host read at every configure, the ring in the order of the
//! members' names.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use support::{Cluster, assert_failure, assert_success, json, scratch_dir};

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
