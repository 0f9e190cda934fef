//! The data-plane backends as a user meets them: io_uring by default, the automatic fallback
//! when io_uring is refused, buffer-ring exhaustion, and cores for spinning members.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::process::{Command, Stdio};

use support::*;

#[test]
fn io_uring_is_the_default_backend() {
    let (_member, _, _) = start_member("127.0.0.1:0", &[]);
    assert!(
        _member.banner.contains("backend uring, poll block"),
        "{}",
        _member.banner
    );
}

/// Spinning, `auto` runs the syscall backend (it answers a spinning poll sooner), without
/// calling it a fallback; `--backend uring` still spins on io_uring.
#[test]
fn spinning_members_run_syscalls_unless_io_uring_is_asked_for() {
    let (member, _, _) =
        start_member_with("127.0.0.1:0", &["--poll", "spin"], Daemon::start_logged);
    assert!(
        member.banner.contains("backend syscall, poll spin"),
        "{}",
        member.banner
    );
    assert!(
        !member.log().contains("io_uring cannot start"),
        "{}",
        member.log()
    );
    drop(member);
    let (member, _, _) = start_member("127.0.0.1:0", &["--poll", "spin", "--backend", "uring"]);
    assert!(
        member.banner.contains("backend uring, poll spin"),
        "{}",
        member.banner
    );
}

/// Starts a member on loopback with `extra` flags through `command`, expects it to refuse
/// to start, and returns what it said.
fn member_refuses(mut command: Command, extra: &[&str]) -> String {
    let out = command
        .args([
            "member",
            "--coord-bind",
            "127.0.0.1:0",
            "--peer-bind",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "stillepostd member {extra:?} started"
    );
    stderr(&out)
}

#[test]
fn forcing_uring_where_seccomp_refuses_it_fails_clearly() {
    let mut command = Command::new(bin("stillepostd"));
    without_io_uring(&mut command);
    let err = member_refuses(command, &["--backend", "uring"]);
    assert!(
        err.contains(
            "--backend uring: io_uring cannot start here: io_uring_setup: Operation not permitted"
        ),
        "{err}"
    );
    assert!(err.contains("use --backend auto"), "{err}");
}

#[test]
fn auto_falls_back_to_syscalls_where_seccomp_refuses_io_uring() {
    let coordinator = Cluster::start("uring", 0);
    let (member, control, _) =
        start_member_with("127.0.0.1:0", &[], Daemon::start_without_io_uring);
    assert!(
        member.banner.contains("backend syscall"),
        "{}",
        member.banner
    );
    let (_other, other_control, _) = start_member("127.0.0.1:0", &[]);
    let list = format!("{control},{other_control}");
    let out = coordinator.client(&["configure", "--cluster", &list, "--msgcount", "50"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("warning: io_uring cannot start (io_uring_setup: Operation not permitted (os error 1) (kernel.io_uring_disabled = "),
        "{text}"
    );
    assert!(
        text.contains(
            "or a seccomp profile refuses io_uring)); this member runs the syscall backend"
        ),
        "{text}"
    );
    // A ring of one member on each backend works.
    let out = coordinator.client(&["run", "--json"]);
    assert_success(&out);
    let tour = json(&out);
    assert_eq!(tour["outcome"], "complete");
    assert_eq!(tour["members"][0]["backend"], "syscall");
    assert_eq!(tour["members"][1]["backend"], "uring");
}

#[test]
fn the_injected_refusal_falls_back_the_same_way() {
    let (member, _, _) = start_member("127.0.0.1:0", &["--fault-refuse-uring"]);
    assert!(
        member.banner.contains("backend syscall"),
        "{}",
        member.banner
    );
}

#[test]
fn buffer_ring_exhaustion_recovers_and_the_next_tour_is_complete() {
    let cluster = Cluster::start("uring", 0);
    let (origin, origin_control, _) = start_member("127.0.0.1:0", &[]);
    // Member 1 gets 8 receive buffers for 2000 messages all in flight.
    let (small, small_control, _) = start_member(
        "127.0.0.1:0",
        &["--backend", "uring", "--fault-buffers", "8"],
    );
    let list = format!("{origin_control},{small_control}");
    let out = cluster.client(&[
        "configure",
        "--cluster",
        &list,
        "--msgcount",
        "2000",
        "--member-timeout",
        "1000",
    ]);
    assert_success(&out);
    let out = cluster.client(&["run", "--json"]);
    assert_success(&out);
    let first = json(&out);
    let exhausted = first["members"][1]["recv_no_buffers"].as_u64().unwrap();
    assert!(
        exhausted > 0,
        "the receive never ran out of buffers: {first:#}"
    );
    // Whatever the first tour lost is accounted for hop by hop.
    let lost = first["lost"].as_u64().unwrap();
    let hop_lost: u64 = first["hop_losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["lost"].as_u64().unwrap())
        .sum();
    assert_eq!(lost, hop_lost, "{first:#}");
    // The member keeps working: the next tour, on the same buffers, is complete.
    let out = cluster.client(&["run", "--json"]);
    assert_success(&out);
    let second = json(&out);
    assert_eq!(second["outcome"], "complete", "{second:#}");
    assert_eq!(second["lost"], 0);
    drop((origin, small));
}

#[test]
fn two_spinning_members_on_one_core_are_refused() {
    let cluster = Cluster::start("uring", 0);
    let (_a, a, _) = start_member("127.0.0.1:0", &["--poll", "spin", "--cpu", "1"]);
    let (_b, b, _) = start_member("127.0.0.1:0", &["--poll", "spin", "--cpu", "1"]);
    let list = format!("{a},{b}");
    let out = cluster.client(&["configure", "--cluster", &list]);
    assert_failure(
        &out,
        2,
        &[
            &format!("members 0 ({a}, core 1) and 1 ({b}, core 1) both spin on the same host"),
            "--poll block",
        ],
    );
}

#[test]
fn local_spins_only_with_a_core_per_member() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let members = (cores + 1).to_string();
    let out = stillepost(&[
        "local",
        "--members",
        &members,
        "--msgcount",
        "20",
        "--poll",
        "spin",
        "--json",
    ]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("--poll spin needs a core per member")
            && stderr(&out).contains("running in block mode"),
        "{}",
        stderr(&out)
    );
    for m in json(&out)["tours"][0]["members"].as_array().unwrap() {
        assert_eq!(m["poll"], "block");
    }
    let out = stillepost(&["local", "--members", "2", "--cpus", "1,1", "--poll", "spin"]);
    assert_failure(&out, 2, &["--cpus gives core 1 to members 0 and 1"]);
    let out = stillepost(&["local", "--members", "2", "--cpus", "1,2,3"]);
    assert_failure(&out, 2, &["--cpus lists 3 cores for 2 members"]);
}

#[test]
fn a_core_that_does_not_exist_is_named() {
    let err = member_refuses(Command::new(bin("stillepostd")), &["--cpu", "4096"]);
    assert!(
        err.contains("--cpu 4096: cannot pin the data-plane thread to that core"),
        "{err}"
    );
}

/// A core outside the member's affinity mask (as an isolated core is, with isolcpus=) can
/// still be asked for with --cpu: here the member starts under `taskset -c 0` and pins its
/// data plane to the host's last core.
#[test]
fn a_core_outside_the_affinity_mask_can_be_pinned() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || Command::new("taskset").arg("-V").output().is_err() {
        skip(&format!(
            "needs two cores ({cores} here) and taskset(1) (Debian: util-linux)"
        ));
        return;
    }
    let last = (cores - 1).to_string();
    let mut command = Command::new("taskset");
    command.args(["-c", "0"]).arg(bin("stillepostd"));
    let member = Daemon::start_command(
        command,
        &[
            "member",
            "--coord-bind",
            "127.0.0.1:0",
            "--peer-bind",
            "127.0.0.1:0",
            "--cpu",
            &last,
        ],
    );
    assert!(member.banner.contains("control on "), "{}", member.banner);
    let control = member.addr_after("control on ");
    let cluster = Cluster::start("auto", 0);
    let out = cluster.client(&["configure", "--cluster", &control, "--msgcount", "10"]);
    assert_success(&out);
    let tour = json(&cluster.client(&["stillepost", "--json"]));
    assert_eq!(tour["outcome"], "complete", "{tour:#}");
    assert_eq!(tour["members"][0]["cpu"].to_string(), last);
}

#[test]
fn zero_copy_forwarding_completes_tours_of_large_messages() {
    let cluster = Cluster::start("uring", 0);
    let (_a, a, _) = start_member("127.0.0.1:0", &["--zerocopy"]);
    let (_b, b, _) = start_member("127.0.0.1:0", &["--zerocopy"]);
    let (_c, c, _) = start_member("127.0.0.1:0", &[]);
    let list = format!("{a},{b},{c}");
    let out = cluster.client(&[
        "configure",
        "--cluster",
        &list,
        "--msgbytelen",
        "32768",
        "--msgcount",
        "500",
        "--window",
        "32",
    ]);
    assert_success(&out);
    for _ in 0..2 {
        let out = cluster.client(&["run", "--json"]);
        assert_success(&out);
        let tour = json(&out);
        assert_eq!(tour["outcome"], "complete", "{tour:#}");
        assert_eq!(tour["lost"], 0);
        assert_eq!(tour["members"][1]["forwarded"], 500);
    }
    let err = member_refuses(
        Command::new(bin("stillepostd")),
        &["--zerocopy", "--backend", "syscall"],
    );
    assert!(
        err.contains("--zerocopy needs the io_uring backend"),
        "{err}"
    );
}
