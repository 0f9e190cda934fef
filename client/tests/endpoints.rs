//! Endpoints as users give them: a ring on IPv6 loopback (`[::1]`), an IPv6 endpoint
//! without brackets, and the coordinator's own port listed as a member.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::process::Command;

use support::{
    Cluster, Daemon, assert_failure, assert_success, bin, json, scratch_dir, stillepost,
};

#[test]
fn a_ring_runs_on_ipv6_loopback() {
    let data_dir = scratch_dir("ipv6");
    let coordinator = Daemon::start_command(
        Command::new(bin("stillepostd")),
        &[
            "coordinator",
            "--client-bind",
            "[::1]:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
    );
    let coordinator_addr = coordinator.addr_after("listening for clients on ");
    assert!(coordinator_addr.starts_with("[::1]:"), "{coordinator_addr}");
    let members: Vec<Daemon> = (0..3)
        .map(|_| {
            Daemon::start_command(
                Command::new(bin("stillepostd")),
                &[
                    "member",
                    "--coord-bind",
                    "[::1]:0",
                    "--peer-bind",
                    "[::1]:0",
                ],
            )
        })
        .collect();
    let cluster = members
        .iter()
        .map(|m| m.addr_after("control on "))
        .collect::<Vec<_>>()
        .join(",");
    let out = stillepost(&[
        "--coordinator",
        &coordinator_addr,
        "configure",
        "--cluster",
        &cluster,
        "--msgcount",
        "100",
    ]);
    assert_success(&out);
    let out = stillepost(&["--coordinator", &coordinator_addr, "run", "--json"]);
    assert_success(&out);
    let tour = json(&out);
    assert_eq!(tour["outcome"], "complete", "{tour:#}");
    assert_eq!(tour["messages_received"], 100);
    for member in tour["members"].as_array().unwrap() {
        let peer = member["peer_endpoint"].as_str().unwrap();
        assert!(peer.starts_with("[::1]:"), "{peer}");
    }
    let out = stillepost(&["--coordinator", &coordinator_addr, "echo-members"]);
    assert_success(&out);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn wrong_endpoints_are_named_with_what_to_give() {
    let cluster = Cluster::start("auto", 1);
    // An IPv6 address without brackets: invalid input.
    let out = cluster.client(&["configure", "--cluster", "::1:17001"]);
    assert_failure(
        &out,
        2,
        &["--cluster entry 1 '::1:17001' is not host:port: an IPv6 address needs brackets"],
    );
    // The coordinator's own port: it answers gRPC, but not as a member; exit 4 like any
    // endpoint that is no member.
    let out = cluster.client(&["configure", "--cluster", &cluster.coordinator_addr]);
    assert_failure(
        &out,
        4,
        &[&format!(
            "member 0 ({}) is not a Stillepost member: it answers gRPC but not the member API",
            cluster.coordinator_addr
        )],
    );
}
