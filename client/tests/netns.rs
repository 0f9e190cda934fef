//! Rings over real links: members in their own network namespaces, joined by veth pairs
//! to a bridge (see `support/netns.rs`), one link shaped with `tc qdisc tbf`. Needs root;
//! skips with a printed reason otherwise, except under `CI=true` or with
//! `STILLEPOST_REQUIRE_NETNS=1` (which `.ci/run` sets as root), where a skip fails.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::process::{Output, Stdio};

use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use support::netns::Lab;
use support::*;

/// A coordinator in the hub and one member per namespace. Daemons are declared before the
/// lab so they are killed before their namespaces go.
struct NsRing {
    _coordinator: Daemon,
    _members: Vec<Daemon>,
    coordinator_addr: String,
    controls: Vec<String>,
    data_dir: std::path::PathBuf,
    /// The ring's token: the daemons listen on the lab's addresses, not on loopback.
    token_file: std::path::PathBuf,
    lab: Lab,
}

impl NsRing {
    fn start(lab: Lab, n: usize) -> NsRing {
        NsRing::start_with(lab, n, |_| Vec::new())
    }

    /// Member `i` gets the extra flags `extra(i)`.
    fn start_with(lab: Lab, n: usize, extra: impl Fn(usize) -> Vec<String>) -> NsRing {
        let data_dir = scratch_dir("netns-results");
        let token_file = token_file("netns-ring-token\n");
        let token = token_file.to_str().unwrap();
        let coordinator_addr = format!("{}:7000", lab.hub_ip());
        let coordinator = Daemon::start_command(
            lab.command(&lab.hub(), &bin("stillepostd")),
            &[
                "coordinator",
                "--client-bind",
                &coordinator_addr,
                "--token-file",
                token,
                "--data-dir",
                data_dir.to_str().unwrap(),
            ],
        );
        let mut members = Vec::new();
        let mut controls = Vec::new();
        for i in 0..n {
            let control = format!("{}:7001", lab.ip(i));
            let peer = format!("{}:7101", lab.ip(i));
            let more = extra(i);
            let mut args = vec![
                "member",
                "--coord-bind",
                &control,
                "--token-file",
                token,
                "--peer-bind",
                &peer,
            ];
            args.extend(more.iter().map(String::as_str));
            members.push(Daemon::start_command(
                lab.command(&lab.member(i), &bin("stillepostd")),
                &args,
            ));
            controls.push(control);
        }
        NsRing {
            _coordinator: coordinator,
            _members: members,
            coordinator_addr,
            controls,
            data_dir,
            token_file,
            lab,
        }
    }

    /// Runs the client in the hub namespace.
    fn client(&self, args: &[&str]) -> Output {
        self.lab
            .command(&self.lab.hub(), &bin("stillepost"))
            .args(["--coordinator", &self.coordinator_addr])
            .arg("--token-file")
            .arg(&self.token_file)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run stillepost in the hub")
    }

    fn configure(&self, extra: &[&str]) {
        let cluster = self.controls.join(",");
        let mut args = vec!["configure", "--cluster", &cluster];
        args.extend_from_slice(extra);
        assert_success(&self.client(&args));
    }

    fn tour(&self) -> Value {
        let tour = self.any_tour();
        assert_eq!(tour["outcome"], "complete", "{tour:#}");
        tour
    }

    /// A tour, complete or not.
    fn any_tour(&self) -> Value {
        let out = self.client(&["stillepost", "--json", "--accept-loss"]);
        assert_success(&out);
        json(&out)
    }
}

impl Drop for NsRing {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(dir) = self.token_file.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// One lab at a time: a flood in one test would shift the timing another one measures.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn hop_p50(tour: &Value, from: u64) -> f64 {
    let hop = tour["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["from"] == from)
        .unwrap();
    hop["latency"]["p50_ns"].as_f64().unwrap()
}

/// Bytes a message of `msg_len` bytes puts on an Ethernet link of MTU 1500, as the qdisc
/// counts them: Stillepost's fragments of at most 1472 bytes (the 64-byte header each, then
/// up to 1408 bytes of the message's payload), each in one frame with 8 + 20 + 14 bytes of
/// UDP, IP and Ethernet headers.
fn wire_bytes(msg_len: u64) -> u64 {
    let fragments = (msg_len - 64).div_ceil(1472 - 64);
    msg_len + (fragments - 1) * 64 + fragments * (8 + 20 + 14)
}

/// One link shaped to 10 Mbit/s: a 60000-byte message (43 datagrams of at most 1472 B, the
/// size the ring's 1500-byte MTU gives) takes its serialization delay on that hop (±10 %), the other hops do not change,
/// and on the members' one clock the hops and residences add up to the tour (means within
/// 1 %: per message the sum is exact).
///
/// The token bucket lets its burst (16000 B) through at once and the rest at the rate, so
/// the delay is (wire bytes − burst) / rate = 38.8 ms. Three things keep tbf close to an
/// ideal link: the burst is ten fragments deep, so a watchdog timer firing late (by up to
/// 11 ms at this rate) does not lose the tokens it accrued meanwhile (with a one-fragment
/// burst the hop came out 35 % slower on this VM); the tour is open loop at 10 msg/s, so
/// the bucket is full again when the next message arrives (in ping-pong it has only the
/// rest of the ring's time to refill); and at 10 Mbit/s a timer's lateness is small against
/// the delay (at 100 Mbit/s, 3.6 ms, a busy VM added up to 15 %).
#[test]
fn a_shaped_link_adds_its_serialization_delay_to_its_hop_only() {
    let _alone = one_at_a_time();
    let Some(lab) = Lab::new(3) else {
        return;
    };
    let ring = NsRing::start(lab, 3);
    const MSG_LEN: u64 = 60_000;
    const RATE_BPS: f64 = 10e6;
    const BURST: u64 = 16_000;
    let msg_len = MSG_LEN.to_string();
    ring.configure(&[
        "--msgbytelen",
        &msg_len,
        "--msgcount",
        "25",
        "--warmup",
        "5",
        "--window",
        "1",
        "--rate",
        "10",
    ]);
    let before = ring.tour();
    // No --max-datagram: the members' route MTU (1500) sets it, so no IP fragments.
    assert_eq!(
        before["params"]["max_datagram"], 1472,
        "{:#}",
        before["params"]
    );
    ring.lab
        .shape(1, "10mbit", BURST as u32, 200_000)
        .expect("shape member 1's link");
    let after = ring.tour();

    let expected = (wire_bytes(MSG_LEN) - BURST) as f64 * 8.0 / RATE_BPS * 1e9;
    let rise: Vec<f64> = (0..3)
        .map(|from| hop_p50(&after, from) - hop_p50(&before, from))
        .collect();
    eprintln!(
        "hop p50 before {:?} ns, after {:?} ns, rise {rise:?} ns, expected rise of hop 1→2 {expected:.0} ns",
        (0..3).map(|f| hop_p50(&before, f)).collect::<Vec<_>>(),
        (0..3).map(|f| hop_p50(&after, f)).collect::<Vec<_>>(),
    );
    assert!(
        (rise[1] - expected).abs() <= 0.10 * expected,
        "hop 1→2 rose by {} ns; its serialization delay is {expected:.0} ns (±10 %)",
        rise[1]
    );
    for from in [0, 2] {
        assert!(
            rise[from].abs() <= 0.10 * expected,
            "hop {from}→{} changed by {} ns, though its link is not shaped",
            (from + 1) % 3,
            rise[from]
        );
    }
    for tour in [&before, &after] {
        // Datagrams fit the MTU: no member's kernel reassembled an IP fragment.
        for m in tour["members"].as_array().unwrap() {
            assert!(m["kernel_counters"].get("Ip ReasmReqds").is_none(), "{m:#}");
        }
        for h in tour["hops"].as_array().unwrap() {
            assert_eq!(h["same_clock"], true, "{h}");
            assert_eq!(h["timestamping"], "kernel-software", "{h}");
            assert_eq!(h["lost"], 0, "{h}");
        }
        // Per message, tour = Σ hops + Σ residences exactly (one clock), so the means add up
        // to within the histograms' 3 significant digits. Medians need not add up (with 30
        // messages a tour median can sit between modes the hops do not share), so the
        // report's consistency line is not checked here.
        let mean = |v: &Value| v["mean_ns"].as_f64().unwrap();
        let hops: f64 = tour["hops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| mean(&h["latency"]))
            .sum();
        let residence: f64 = tour["members"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|m| mean(&m["residence"]))
            .sum();
        let whole = mean(&tour["tour_latency"]);
        assert!(
            (hops + residence - whole).abs() <= 0.01 * whole,
            "mean hops {hops} + residence {residence} ns vs tour {whole} ns"
        );
    }
    ring.lab.unshape(1).unwrap();
}

/// A member whose receive buffer is forced tiny: the kernel drops most of a burst at its
/// socket. The tour ends at the member timeout (+ 2 s at most), the loss is on the hop into
/// that member, and that member alone, in its own network namespace, reports RcvbufErrors
/// with the advice to raise rmem_max.
#[test]
fn a_tiny_receive_buffer_is_named_on_the_member_that_dropped() {
    let _alone = one_at_a_time();
    let Some(lab) = Lab::new(3) else {
        return;
    };
    let ring = NsRing::start_with(lab, 3, |i| {
        if i == 1 {
            vec!["--fault-rcvbuf=4096".to_string()]
        } else {
            Vec::new()
        }
    });
    ring.configure(&[
        "--msgbytelen",
        "1400",
        "--msgcount",
        "2000",
        "--member-timeout",
        "1000",
    ]);
    let started = std::time::Instant::now();
    let tour = ring.any_tour();
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(1000 + 2000),
        "the tour took {took:?}"
    );
    assert_eq!(tour["outcome"], "timed_out", "{tour:#}");
    let lost = tour["lost"].as_u64().unwrap();
    assert!(lost > 0, "{tour:#}");
    let hop = |from: u64| {
        tour["hop_losses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["from"] == from)
            .unwrap()["lost"]
            .as_u64()
            .unwrap()
    };
    assert_eq!((hop(0), hop(1), hop(2)), (lost, 0, 0), "{tour:#}");
    let members = tour["members"].as_array().unwrap();
    let m1 = &members[1];
    assert_eq!(m1["socket_drops"].as_u64().unwrap(), lost, "{m1:#}");
    assert_eq!(
        m1["kernel_counters"]["Udp RcvbufErrors"].as_u64().unwrap(),
        lost,
        "{m1:#}"
    );
    let advice = m1["drop_advice"][0].as_str().unwrap();
    assert!(
        advice.starts_with(&format!(
            "member 1: its peer socket dropped {lost} datagrams (RcvbufErrors +{lost}): its receive buffer holds "
        )) && advice.contains("raise net.core.rmem_max to "),
        "{advice}"
    );
    for other in [&members[0], &members[2]] {
        assert_eq!(other["socket_drops"], 0, "{other:#}");
        assert!(
            other["kernel_counters"].get("Udp RcvbufErrors").is_none(),
            "{other:#}"
        );
        assert_eq!(other["drop_advice"].as_array().unwrap().len(), 0);
    }
}

/// Messages of 1 MiB (100) and 16 MiB (10) around a 3-member ring whose links have an MTU of
/// 1500, then 9000: every tour is complete, in datagrams that fit the MTU (mtu − 28), and no
/// member's kernel reassembled an IP fragment. The origin sends them with GSO, and no
/// member's kernel refused it.
#[test]
fn large_messages_cross_1500_and_9000_byte_links_without_ip_fragments() {
    let _alone = one_at_a_time();
    for mtu in [1500u32, 9000] {
        let Some(lab) = Lab::with_mtu(3, mtu) else {
            return;
        };
        let ring = NsRing::start(lab, 3);
        for (msg_len, count) in [(1u32 << 20, 100u32), (16 << 20, 10)] {
            ring.configure(&[
                "--msgbytelen",
                &msg_len.to_string(),
                "--msgcount",
                &count.to_string(),
                "--window",
                "1",
            ]);
            let tour = ring.tour();
            assert_eq!(tour["messages_received"], count, "{tour:#}");
            assert_eq!(tour["lost"], 0);
            assert_eq!(
                tour["params"]["max_datagram"],
                mtu - 28,
                "{:#}",
                tour["params"]
            );
            let mut offload = Vec::new();
            for m in tour["members"].as_array().unwrap() {
                assert!(m["kernel_counters"].get("Ip ReasmReqds").is_none(), "{m:#}");
                assert_eq!(m["socket_drops"], 0, "{m:#}");
                assert_eq!(m["gso_refused"], 0, "{m:#}");
                assert_eq!(m["send_errors"], 0, "{m:#}");
                offload.push(format!(
                    "member {}: {} GSO sends, {} GRO receives",
                    m["index"], m["gso_sends"], m["gro_receives"]
                ));
            }
            // The origin sends each message's datagrams (each carries the 64-byte header
            // and the next mtu − 28 − 64 bytes of the rest) up to 64 and 65507 B at a time
            // with GSO; a last lone datagram goes as a plain send.
            let per_send = (65_507 / (mtu - 28)).min(64);
            let datagrams = (msg_len - 64).div_ceil(mtu - 28 - 64);
            let gso_sends = datagrams / per_send + u32::from(datagrams % per_send > 1);
            assert_eq!(
                tour["members"][0]["gso_sends"],
                u64::from(count) * u64::from(gso_sends),
                "{:#}",
                tour["members"][0]
            );
            eprintln!(
                "MTU {mtu}: {count} × {msg_len} B, tour p50 {} µs; {}",
                tour["tour_latency"]["p50_ns"].as_u64().unwrap() / 1000,
                offload.join("; ")
            );
        }
    }
}

/// Members set Don't-Fragment: with `--max-datagram 9000` on 1500-byte links the kernel
/// refuses the origin's datagrams (EMSGSIZE) instead of IP-fragmenting them. The tour ends
/// at the member timeout, and the origin is named with the route MTU and what to set.
#[test]
fn a_datagram_larger_than_the_mtu_is_refused_and_named() {
    let _alone = one_at_a_time();
    let Some(lab) = Lab::new(3) else {
        return;
    };
    let ring = NsRing::start(lab, 3);
    ring.configure(&[
        "--msgbytelen",
        "60000",
        "--max-datagram",
        "9000",
        "--msgcount",
        "5",
        "--window",
        "1",
        "--member-timeout",
        "500",
    ]);
    let tour = ring.any_tour();
    assert_eq!(tour["outcome"], "timed_out", "{tour:#}");
    let origin = &tour["members"][0];
    assert!(origin["send_too_big"].as_u64().unwrap() > 0, "{origin:#}");
    let advice = origin["drop_advice"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|a| a.contains("EMSGSIZE"))
        .unwrap_or_else(|| panic!("no EMSGSIZE advice: {origin:#}"));
    assert!(
        advice.starts_with("member 0: ")
            && advice.contains("datagrams of 9000 B do not fit the route MTU 1500")
            && advice.contains("lower --max-datagram to 1472"),
        "{advice}"
    );
    for m in tour["members"].as_array().unwrap() {
        assert!(m["kernel_counters"].get("Ip ReasmReqds").is_none(), "{m:#}");
    }
}

/// A link cut mid-tour (member 1's veth set down) and restored: the tour ends within
/// seconds of standing still, naming member 1 (its control connection is cut too, so it
/// answers nothing: the silence limit, not the member timeout of 30 s), with the messages
/// that were in flight counted lost; with the link up again the ring carries the next tour
/// in full.
#[test]
fn a_link_cut_mid_tour_is_reported_and_the_restored_link_carries_the_next_tour() {
    let _alone = one_at_a_time();
    let Some(lab) = Lab::new(3) else {
        return;
    };
    let ring = NsRing::start(lab, 3);
    ring.configure(&[
        "--msgcount",
        "200000",
        "--window",
        "1",
        "--member-timeout",
        "30000",
    ]);
    let run = ring
        .lab
        .command(&ring.lab.hub(), &bin("stillepost"))
        .args(["--coordinator", &ring.coordinator_addr])
        .arg("--token-file")
        .arg(&ring.token_file)
        .args(["run", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    ring.lab
        .in_ns(&ring.lab.member(1), &["ip", "link", "set", "m1", "down"])
        .unwrap();
    let cut = std::time::Instant::now();
    let out = run.wait_with_output().unwrap();
    let took = cut.elapsed();
    ring.lab
        .in_ns(&ring.lab.member(1), &["ip", "link", "set", "m1", "up"])
        .unwrap();
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let tour = json(&out);
    let error = tour["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "member 1 ({}) stopped answering during the tour",
            ring.controls[1]
        )) && error.contains("network"),
        "{error}"
    );
    assert_eq!(tour["members"][1]["report_missing"], true, "{tour:#}");
    let received = tour["messages_received"].as_u64().unwrap();
    assert!(received > 0, "{tour:#}");

    // The link is back: the next tour is whole.
    let started = std::time::Instant::now();
    loop {
        let cluster = ring.controls.join(",");
        let out = ring.client(&["configure", "--cluster", &cluster, "--msgcount", "1000"]);
        if out.status.success() {
            break;
        }
        // The veth takes a moment to carry traffic again.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{}",
            stderr(&out)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let next = ring.tour();
    assert_eq!(next["messages_received"], 1000, "{next:#}");
}

/// Members announce themselves on a multicast group across the lab's bridge; the
/// coordinator (in the hub) discovers them, leaves out one that says it leaves, and ignores
/// a stranger whose heartbeats carry another token's tag.
#[test]
fn members_announced_on_multicast_are_discovered_across_a_bridge() {
    let _one = one_at_a_time();
    let Some(lab) = Lab::new(5) else { return };
    // Multicast needs a route; the bridge floods it (no IGMP snooping without a querier).
    for i in 0..5 {
        lab.in_ns(
            &lab.member(i),
            &["ip", "route", "add", "224.0.0.0/4", "dev", &format!("m{i}")],
        )
        .unwrap();
    }
    let hub = lab.hub();
    lab.in_ns(&hub, &["ip", "route", "add", "224.0.0.0/4", "dev", "br0"])
        .unwrap();
    lab.in_ns(
        &hub,
        &[
            "ip",
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ],
    )
    .unwrap();

    let data_dir = scratch_dir("netns-discover");
    let token = token_file("netns-discover-token\n");
    let stranger_token = token_file("someone-else\n");
    let coordinator_addr = format!("{}:7000", lab.hub_ip());
    let coordinator = Daemon::start_logged_command(
        lab.command(&hub, &bin("stillepostd")),
        &[
            "coordinator",
            "--client-bind",
            &coordinator_addr,
            "--token-file",
            token.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
    );
    let mut members: Vec<Daemon> = (0..5)
        .map(|i| {
            // Member 0 listens on a wildcard: it announces the address its heartbeats leave
            // from. Member 4 has another token.
            let control = if i == 0 {
                "0.0.0.0:7001".to_string()
            } else {
                format!("{}:7001", lab.ip(i))
            };
            let peer = format!("{}:7101", lab.ip(i));
            let name = format!("n{i}");
            let token = if i == 4 { &stranger_token } else { &token };
            Daemon::start_command(
                lab.command(&lab.member(i), &bin("stillepostd")),
                &[
                    "member",
                    "--coord-bind",
                    &control,
                    "--peer-bind",
                    &peer,
                    "--token-file",
                    token.to_str().unwrap(),
                    "--name",
                    &name,
                    "--announce",
                ],
            )
        })
        .collect();
    let client = |args: &[&str]| {
        lab.command(&hub, &bin("stillepost"))
            .args(["--coordinator", &coordinator_addr])
            .arg("--token-file")
            .arg(&token)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run stillepost in the hub")
    };
    let order = |out: &Output| -> Vec<String> {
        assert_success(out);
        json(out)["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    };

    let out = client(&["configure", "--cluster", "discover", "--json"]);
    assert_eq!(order(&out), ["n0", "n1", "n2", "n3"]);
    assert_eq!(json(&out)["source"], "discover:239.255.83.80:7090");
    let out = client(&["run", "--json"]);
    assert_success(&out);
    assert_eq!(json(&out)["outcome"], "complete");

    // n2 stops: it says it leaves, so the next discovery (well within the 3 s a silent
    // member stays discovered) finds three.
    signal(members[2].pid(), "TERM");
    assert!(
        members[2]
            .wait_exit(std::time::Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    let out = client(&["configure", "--cluster", "discover", "--json"]);
    assert_eq!(order(&out), ["n0", "n1", "n3"]);
    let out = client(&["run", "--json"]);
    assert_success(&out);
    assert_eq!(json(&out)["outcome"], "complete");

    let log = coordinator.log();
    assert!(
        log.contains(&format!("ignored a heartbeat from {}:", lab.ip(4)))
            && log.contains("its tag does not match"),
        "{log}"
    );
    assert!(
        log.contains(&format!("n2 ({}:7001) leaves", lab.ip(2))),
        "{log}"
    );
    // Daemons go before their namespaces.
    members.clear();
    drop(coordinator);
    let _ = std::fs::remove_dir_all(&data_dir);
    for file in [&token, &stranger_token] {
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }
}
