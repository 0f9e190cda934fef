//! End-to-end tests: a real coordinator and real members (`stillepostd` processes on
//! 127.0.0.1) driven through the real `stillepost` binary, as a user would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

/// Runs each test once per data-plane backend: `<test>::uring` and `<test>::syscall`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn uring() {
                    super::$name("uring");
                }
                #[test]
                fn syscall() {
                    super::$name("syscall");
                }
            }
        )*
    };
}

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// Checks the JSON keys other tools rely on, for a tour that lost nothing.
fn assert_complete_tour(tour: &Value, count: u64, members: usize) {
    assert_eq!(tour["outcome"], "complete", "{tour:#}");
    let id = tour["tour_id"].as_str().expect("tour_id is a string");
    assert_eq!(id.len(), 16, "tour_id is 16 hex digits: {id}");
    assert!(u64::from_str_radix(id, 16).is_ok());
    assert_eq!(tour["messages_sent"], count);
    assert_eq!(tour["messages_received"], count);
    assert_eq!(tour["lost"], 0);
    assert!(tour["total_ns"].as_u64().expect("total_ns") > 0);
    let lat = &tour["tour_latency"];
    assert_eq!(lat["count"], count);
    let keys = ["min_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"];
    let values: Vec<u64> = keys
        .iter()
        .map(|k| {
            lat[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} missing: {lat}"))
        })
        .collect();
    assert!(values[0] > 0, "a tour takes time: {lat}");
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "percentiles ascend: {lat}"
    );
    // A tour of messages cannot take longer than the whole tour did.
    assert!(values[5] <= tour["total_ns"].as_u64().unwrap() + 1_000_000);
    let stats = tour["members"].as_array().expect("members");
    assert_eq!(stats.len(), members);
    for m in stats {
        assert_eq!(m["received"], count, "every member saw every message: {m}");
        assert!(m["backend"] == "uring" || m["backend"] == "syscall", "{m}");
        assert_eq!(m["duplicates"], 0);
    }
    for hop in tour["hop_losses"].as_array().expect("hop_losses") {
        assert_eq!(hop["lost"], 0);
    }
}

fn configure_and_run_forwarding_immediately(backend: &str) {
    let cluster = Cluster::start(backend, 3);
    let out = cluster.configure(&["--msgbytelen", "256", "--msgcount", "300"]);
    let text = stdout(&out);
    assert!(
        text.contains("configured a ring of 3 members, 300 messages × 256 B, forward-immediately"),
        "{text}"
    );
    for peer in &cluster.peers {
        assert!(
            text.contains(peer.as_str()),
            "configure lists peer {peer}:\n{text}"
        );
    }
    let tour = cluster.tour();
    assert_complete_tour(&tour, 300, 3);
    assert_eq!(tour["params"]["msg_len"], 256);
    assert_eq!(tour["params"]["forward_immediately"], true);

    // The text form says the same.
    let out = cluster.client(&["stillepost"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains(": complete"), "{text}");
    assert!(
        text.contains("messages      sent 300, received 300, lost 0"),
        "{text}"
    );
    assert!(text.contains("\n  latency (µs)  count "), "{text}");
    assert!(text.contains("\n  tour  "), "{text}");
    // `run` is the same command.
    let out = cluster.client(&["run", "--json"]);
    assert_success(&out);
    assert_complete_tour(&json(&out), 300, 3);
}

fn run_holding_until_all_messages_arrived(backend: &str) {
    let cluster = Cluster::start(backend, 3);
    // The original's flag spellings.
    cluster.configure(&[
        "--msgbytelen",
        "1400",
        "--msgcount",
        "200",
        "--forward-immediately",
        "false",
        "--timeout",
        "5",
        "--member-timeout",
        "3000",
    ]);
    let tour = cluster.tour();
    assert_complete_tour(&tour, 200, 3);
    assert_eq!(tour["params"]["forward_immediately"], false);
    for m in tour["members"].as_array().unwrap().iter().skip(1) {
        assert_eq!(m["forwarded"], 200, "{m}");
        assert_eq!(m["held"], 0, "{m}");
    }
}

/// Hold mode takes what forwarding takes: more messages than a member has receive buffers
/// (32,704 was the limit), and messages of several datagrams (refused before).
fn holding_takes_any_count_and_size(backend: &str) {
    let cluster = Cluster::start(backend, 3);
    for (len, count) in [("1024", 40_000u64), ("100000", 10)] {
        cluster.configure(&[
            "--msgbytelen",
            len,
            "--msgcount",
            &count.to_string(),
            "--forward-immediately",
            "false",
        ]);
        let tour = cluster.tour();
        assert_complete_tour(&tour, count, 3);
        for m in tour["members"].as_array().unwrap().iter().skip(1) {
            assert_eq!(
                (m["forwarded"].as_u64(), m["held"].as_u64()),
                (Some(count), Some(0)),
                "{m}"
            );
            assert_eq!(m["residence"]["count"], count, "{m}");
            assert_eq!(m["forwarded_fragments"], 0, "held, not cut through: {m}");
        }
    }
    // Beyond --max-buffer-memory, the error says what holding takes.
    let cluster_arg = cluster.cluster_arg();
    let out = cluster.client(&[
        "configure",
        "--cluster",
        &cluster_arg,
        "--msgbytelen",
        "60000",
        "--msgcount",
        "1000",
        "--forward-immediately",
        "false",
        "--max-buffer-memory",
        "16777216",
    ]);
    assert_failure(
        &out,
        1,
        &[
            "B to hold messages until the flush",
            "--max-buffer-memory 16777216",
        ],
    );
}

fn window_one_and_readable_aliases(backend: &str) {
    let cluster = Cluster::start(backend, 3);
    cluster.configure(&["--msg-len", "64", "--count", "50", "--window", "1"]);
    let tour = cluster.tour();
    assert_complete_tour(&tour, 50, 3);
    assert_eq!(tour["params"]["window"], 1);
    // IPDV: one per pair of consecutive messages, on every hop and for the tour.
    assert_eq!(tour["tour_ipdv"]["count"], 49, "{tour:#}");
    for hop in tour["hops"].as_array().unwrap() {
        assert_eq!(hop["ipdv"]["count"], 49, "{hop:#}");
        assert!(
            hop["ipdv"]["max_ns"].as_u64().unwrap() <= hop["latency"]["max_ns"].as_u64().unwrap()
        );
    }
    // Every hop is reported in ring order, on the members' shared clock, and hops plus
    // residences add up to the tour: per message exactly (the stamps telescope), so their
    // means too, up to the histograms' 3 significant digits. Medians need not add up, and
    // on a loaded machine with 50 messages they do not reliably; the consistency line
    // reports how far they are apart.
    let hops = tour["hops"].as_array().unwrap();
    let order: Vec<(u64, u64)> = hops
        .iter()
        .map(|h| (h["from"].as_u64().unwrap(), h["to"].as_u64().unwrap()))
        .collect();
    assert_eq!(order, vec![(0, 1), (1, 2), (2, 0)]);
    for h in hops {
        assert_eq!(h["latency"]["count"], 50, "{h}");
        assert!(h["latency"]["min_ns"].as_u64().unwrap() > 0, "{h}");
        assert_eq!(h["same_clock"], true);
        assert_eq!(h["offset_ns"], 0);
        assert_eq!(h["error_bound_ns"], 0);
        // SO_TIMESTAMPING works on loopback: every arrival is the kernel's timestamp.
        assert_eq!(h["timestamping"], "kernel-software");
        assert_eq!(h["clock_samples"], 0, "one clock needs no probes: {h}");
        assert_eq!(
            (h["lost"].as_u64(), h["duplicates"].as_u64()),
            (Some(0), Some(0))
        );
    }
    for m in tour["members"].as_array().unwrap().iter().skip(1) {
        assert_eq!(m["residence"]["count"], 50, "{m}");
    }
    let mean = |summary: &Value| summary["mean_ns"].as_f64().unwrap();
    let parts: f64 = hops.iter().map(|h| mean(&h["latency"])).sum::<f64>()
        + tour["members"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|m| mean(&m["residence"]))
            .sum::<f64>();
    let tour_mean = mean(&tour["tour_latency"]);
    assert!(
        (parts - tour_mean).abs() <= 0.02 * tour_mean,
        "hops + residence means {parts} ns against the tour's {tour_mean} ns: {tour:#}"
    );
    let c = &tour["consistency"];
    let field = |name: &str| c[name].as_f64().unwrap();
    assert_eq!(
        field("difference_ns"),
        field("tour_p50_ns") - field("hops_p50_sum_ns") - field("residence_p50_sum_ns"),
        "{c}"
    );
    // In ping-pong every message sees an empty ring: no message waits behind another, so
    // the sum of tour latencies cannot exceed the whole tour.
    let lat = &tour["tour_latency"];
    let mean = lat["mean_ns"].as_f64().unwrap();
    assert!(
        mean * 50.0 <= tour["total_ns"].as_f64().unwrap() * 1.01,
        "{tour:#}"
    );
}

/// Members whose clocks are shifted against each other, as on different hosts: the
/// coordinator has each probe its previous member's clock, every hop reports the offset
/// found (the injected one, within the error bound) and is corrected by it, so the hops
/// come out as on one clock and still add up to the tour within the bounds.
fn clock_offsets_between_hosts_are_measured_and_corrected(backend: &str) {
    // Member 1 runs 50 ms ahead of member 0, member 2 30 ms behind.
    let shifts: [i64; 3] = [0, 50_000_000, -30_000_000];
    let cluster = Cluster::start_each(backend, 3, |i| {
        vec![format!("--fault-clock-shift-ns={}", shifts[i])]
    });
    cluster.configure(&["--msgcount", "200", "--window", "1"]);
    let tour = cluster.tour();
    assert_complete_tour(&tour, 200, 3);
    let mut bounds = 0.0;
    for h in tour["hops"].as_array().unwrap() {
        let (from, to) = (
            h["from"].as_u64().unwrap() as usize,
            h["to"].as_u64().unwrap() as usize,
        );
        let truth = shifts[to] - shifts[from];
        let offset = h["offset_ns"].as_i64().unwrap();
        let bound = h["error_bound_ns"].as_i64().unwrap();
        assert_eq!(h["same_clock"], false, "{h}");
        assert!(h["clock_samples"].as_u64().unwrap() >= 32, "{h}");
        assert!(bound > 0 && bound < 5_000_000, "a loopback round trip: {h}");
        assert!(
            (offset - truth).abs() <= bound,
            "hop {from}→{to}: offset {offset} ns, injected {truth} ns, bound {bound} ns"
        );
        // Corrected: no 30–80 ms hops, and (almost) nothing negative.
        let p50 = h["latency"]["p50_ns"].as_u64().unwrap();
        assert!(
            p50 < 5_000_000,
            "hop {from}→{to} p50 {p50} ns: not corrected"
        );
        // A latency comes out negative only when the offset is off by more than the
        // latency itself, which the bound must then allow.
        let negative = h["negative"].as_u64().unwrap();
        assert!(
            negative == 0 || bound as u64 >= h["latency"]["min_ns"].as_u64().unwrap(),
            "{negative} negative latencies without a bound that allows them: {h}"
        );
        bounds += bound as f64;
    }
    let c = &tour["consistency"];
    assert_eq!(c["error_bounds_sum_ns"].as_f64().unwrap(), bounds);
    let difference = c["difference_ns"].as_f64().unwrap();
    let tour_p50 = c["tour_p50_ns"].as_f64().unwrap();
    assert!(
        difference.abs() <= bounds + 0.25 * tour_p50,
        "hops + residence vs tour: {c}"
    );
    // The text report shows each hop's bound and offset.
    let out = cluster.client(&["stillepost"]);
    assert_success(&out);
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("hop 0→1"))
        .unwrap_or_else(|| panic!("no hop 0→1 row:\n{text}"));
    let offset_us: f64 = row
        .split("offset ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {row}"));
    assert!((offset_us - 50_000.0).abs() < 1_000.0, "{row}");
    assert!(row.contains("32 probes"), "{row}");
}

/// Open loop with a stalled origin: 1000 msg/s, and the origin stops for 100 ms after
/// message 100. Measured from the actual send, no message waited for the stall; measured
/// from the intended send (corrected for coordinated omission), the messages scheduled
/// during the stall did: the corrected maximum is about the stall plus a tour, and the 50
/// messages scheduled in the stall's first half (plus those the burst after it delayed) are
/// above half the stall.
fn open_loop_rate_corrects_for_a_stalled_origin(backend: &str) {
    const STALL_MS: u64 = 100;
    let cluster = Cluster::start_each(backend, 3, |i| {
        if i == 0 {
            vec![format!("--fault-origin-stall=100:{STALL_MS}")]
        } else {
            Vec::new()
        }
    });
    cluster.configure(&["--msgcount", "600", "--rate", "1000"]);
    let tour = cluster.tour();
    assert_complete_tour(&tour, 600, 3);
    assert_eq!(tour["params"]["rate"], 1000);
    // The schedule: the last of 600 messages at 1000/s is due 599 ms after the start, and
    // the first send may itself leave a little after the start.
    let total_ms = tour["total_ns"].as_f64().unwrap() / 1e6;
    assert!((590.0..800.0).contains(&total_ms), "total {total_ms} ms");
    let raw = &tour["tour_latency"];
    let corrected = &tour["tour_latency_corrected"];
    assert_eq!(
        (raw["count"].as_u64(), corrected["count"].as_u64()),
        (Some(600), Some(600))
    );
    let stall_ns = STALL_MS as f64 * 1e6;
    let raw_max = raw["max_ns"].as_f64().unwrap();
    let corrected_max = corrected["max_ns"].as_f64().unwrap();
    assert!(
        raw_max < stall_ns / 2.0,
        "raw max {raw_max} ns saw the stall"
    );
    assert!(
        // The sleep may overshoot on a loaded machine; the stall shows in full.
        corrected_max >= stall_ns * 0.99 && corrected_max <= stall_ns + raw_max + 50e6,
        "corrected max {corrected_max} ns, stall {stall_ns} ns, raw max {raw_max} ns"
    );
    // Text and report name both.
    let out = cluster.client(&["stillepost"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("\n  tour intended "),
        "{}",
        stdout(&out)
    );
    // The exported corrected histogram: the messages scheduled in the stall's first half
    // (100 ms × 1000/s ÷ 2 = 50) waited more than half the stall.
    let out = cluster.client(&["report", "latest", "--format", "json"]);
    assert_success(&out);
    let doc = json(&out);
    let entry = doc["histograms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["tag"] == "tour-intended")
        .expect("a tour-intended histogram");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(entry["hdr_v2_deflate_base64"].as_str().unwrap())
        .unwrap();
    let h = stillepost_engine::histogram::decode(&bytes).unwrap();
    // A message scheduled t after the stall began has a corrected latency of
    // stall − t + its raw latency: every one with t < stall/2 is above stall/2 (50 at
    // 1000/s; the first delayed one is due one interval after the stall began). The 101 sent before the stall are not; how many after the stall's first
    // half are depends on how fast this machine drains the burst that follows it (the sim
    // test pins the exact figures).
    let waited = h.count_between(stall_ns as u64 / 2, u64::MAX);
    assert!(
        (50..=600 - 101).contains(&waited),
        "{waited} messages waited > half the stall; expected at least 50, at most 499"
    );
    // Messages sent before the stall did not wait.
    assert!(h.count_between(0, stall_ns as u64 / 2) >= 101);
}

/// Members check their host for the configured tour as `stillepost tune` does, and
/// `configure` prints what to change per member: here netdev_max_backlog against the 2000
/// datagrams of a window (whichever way this host is set).
#[test]
fn configure_prints_each_members_tuning_warnings() {
    let backlog: u64 = std::fs::read_to_string("/proc/sys/net/core/netdev_max_backlog")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cluster = Cluster::start("auto", 2);
    let out = cluster.configure(&["--msgbytelen", "1000", "--msgcount", "2000"]);
    let text = stdout(&out);
    let warned = text
        .matches("warning: net.core.netdev_max_backlog: ")
        .count();
    if backlog < 2000 {
        assert_eq!(warned, 2, "one per member:\n{text}");
        assert!(
            text.contains(&format!(
                "netdev_max_backlog: {backlog} → 2048 (up to 2000 frames"
            )),
            "{text}"
        );
        assert!(text.contains("docs/tuning.md#netdev_max_backlog"), "{text}");
    } else {
        assert_eq!(warned, 0, "{text}");
    }
}

/// A tour whose buffers would take more memory than --max-buffer-memory is refused at
/// configure, by the member, with the numbers.
#[test]
fn a_tour_beyond_the_buffer_memory_is_refused_with_the_numbers() {
    let cluster = Cluster::start("auto", 2);
    let cl = cluster.cluster_arg();
    let out = cluster.client(&[
        "configure",
        "--cluster",
        &cl,
        "--max-buffer-memory",
        "1000000",
    ]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("refused Configure: this tour needs "), "{err}");
    assert!(
        err.contains("more than --max-buffer-memory 1000000 B; lower --window"),
        "{err}"
    );
    // The default leaves room for it.
    cluster.configure(&[]);
}

/// A tour that runs for seconds shows a progress bar on a terminal, and nothing of it when
/// the output is piped or JSON.
#[test]
fn a_long_tour_shows_progress_on_a_terminal_only() {
    let client = bin("stillepost");
    // Open loop at 1500 msg/s: 2 s long without loading the cores other tests' members
    // are pinned to.
    let args = "local --msgcount 3000 --rate 1500";
    let Some(out) = on_terminal(&format!("'{}' {args}", client.display())) else {
        return;
    };
    let terminal = stdout(&out).replace('\r', "\n");
    assert!(out.status.success(), "{terminal}");
    assert!(
        terminal.contains("/3000 back at the origin, ") && terminal.contains(", ETA "),
        "no progress bar:\n{terminal}"
    );
    // The rate and what is left, as other long-running tools show them.
    assert!(
        terminal.contains("/s, ETA ") && terminal.contains(", sent "),
        "{terminal}"
    );
    assert!(terminal.contains(": complete"), "{terminal}");
    let piped = stillepost(&args.split(' ').collect::<Vec<_>>());
    assert_success(&piped);
    assert!(
        !stderr(&piped).contains("back at the origin"),
        "{}",
        stderr(&piped)
    );
    assert!(!stdout(&piped).contains("back at the origin"));
}

/// Messages longer than a datagram (`--max-datagram`): 60000-byte messages as 43
/// fragments of at most 1472 B go around, each member forwarding fragments as they arrive,
/// and the tour and every hop are complete. Each message leaves the origin with one GSO
/// send and reaches member 1 as one GRO receive; member 1's kernel refuses GSO (injected),
/// so it falls back to one send per datagram and loses nothing, and from there on every
/// datagram travels on its own.
fn fragmented_messages_go_around(backend: &str) {
    let cluster = Cluster::start_each(backend, 3, |i| {
        if i == 1 {
            vec!["--fault-refuse-gso".to_string()]
        } else {
            Vec::new()
        }
    });
    let out = cluster.configure(&[
        "--msgbytelen",
        "60000",
        "--max-datagram",
        "1472",
        "--msgcount",
        "100",
        "--window",
        "4",
        "--json",
    ]);
    for m in json(&out)["members"].as_array().unwrap() {
        assert_eq!(m["gso_segment"], 1472, "{m}");
        assert_eq!(m["gro"], true, "{m}");
        assert!(m["sndbuf_granted"].as_u64().unwrap() > 0, "{m}");
    }
    // The text report first (member 1 refuses GSO in the first tour after configure),
    // then the same tour as JSON.
    let text = cluster.client(&["stillepost"]);
    assert_success(&text);
    let text = stdout(&text);
    assert!(
        text.contains("offload: member 0 100 GSO sends, 0 GRO receives; member 1 0 GSO sends, 100 GRO receives"),
        "{text}"
    );
    assert!(
        text.contains(
            "of several datagrams (GSO) refused by the kernel (sent again one datagram at a time)"
        ),
        "{text}"
    );
    let out = cluster.client(&["report", "latest", "--format", "json"]);
    assert_success(&out);
    let tour = json(&out);
    assert_complete_tour(&tour, 100, 3);
    assert_eq!(tour["params"]["max_datagram"], 1472);
    for m in tour["members"].as_array().unwrap().iter().skip(1) {
        assert_eq!(m["forwarded"], 100, "{m}");
        // 42 of each message's 43 fragments go on before it is whole.
        assert_eq!(m["forwarded_fragments"], 100 * 42, "{m}");
        assert_eq!(m["residence"]["count"], 100, "{m}");
    }
    for h in tour["hops"].as_array().unwrap() {
        assert_eq!(h["latency"]["count"], 100, "{h}");
    }
    let members = tour["members"].as_array().unwrap();
    let counts = |m: &Value| {
        [
            m["gso_sends"].as_u64().unwrap(),
            m["gro_receives"].as_u64().unwrap(),
            m["gso_refused"].as_u64().unwrap(),
            m["send_errors"].as_u64().unwrap(),
        ]
    };
    assert_eq!(counts(&members[0]), [100, 0, 0, 0], "{}", members[0]);
    let [gso, gro, refused, errors] = counts(&members[1]);
    assert_eq!([gso, gro, errors], [0, 100, 0], "{}", members[1]);
    assert!(refused >= 1, "{}", members[1]);
    assert_eq!(counts(&members[2]), [0, 0, 0, 0], "{}", members[2]);
    // Held tours of fragmented messages: holding_takes_any_count_and_size.
}

/// A tour marked with a DSCP (the wire is checked in the engine's tests): it runs, and the
/// result and the text say which class it measured.
fn a_dscp_marked_tour_says_its_class(backend: &str) {
    let cluster = Cluster::start(backend, 3);
    cluster.configure(&["--msgcount", "50", "--dscp", "af41"]);
    let tour = cluster.tour();
    assert_complete_tour(&tour, 50, 3);
    assert_eq!(tour["params"]["dscp"], 34, "{tour:#}");
    let text = stdout(&cluster.client(&["report", "latest", "--format", "text"]));
    assert!(text.contains(", DSCP 34, "), "{text}");
}

/// `run --raw` and `--interval`: every message's timestamps at every member, written as
/// CSV (each message's hops and residences add up to its tour exactly: one clock, the
/// stamps telescope), kept with the result (`report --format raw-jsonl`), and cut into
/// periods in the text and as an interval log.
fn every_messages_timestamps_are_recorded_on_request(backend: &str) {
    let cluster = Cluster::start(backend, 3);
    cluster.configure(&["--msgcount", "400", "--window", "1", "--warmup", "10"]);
    let dir = support::scratch_dir("raw");
    let csv_path = dir.join("tour.csv");
    let out = cluster.client(&[
        "run",
        "--raw",
        csv_path.to_str().unwrap(),
        "--interval",
        "2ms",
    ]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("  tour latency per 2ms of the origin's sends (p99 from 100 samples):\n"),
        "{text}"
    );
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "seq,warmup,m0_out_ns,m1_in_ns,m1_out_ns,m2_in_ns,m2_out_ns,m0_in_ns,hop_0_1_ns,hop_1_2_ns,hop_2_0_ns,residence_1_ns,residence_2_ns,tour_ns"
        )
    );
    let rows: Vec<Vec<i64>> = lines
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 400);
    for (seq, row) in rows.iter().enumerate() {
        assert_eq!(row[0], seq as i64);
        assert_eq!(row[1], i64::from(seq < 10), "warm-up flag of {seq}");
        let parts: i64 = row[8..13].iter().sum();
        assert_eq!(parts, row[13], "message {seq}: hops + residences = tour");
        // Sent, then at member 1, member 2 and back, in order.
        assert!(row[2..8].windows(2).all(|w| w[0] <= w[1]), "{row:?}");
    }
    // Kept with the result: the same messages as JSON lines.
    let out = cluster.client(&["report", "latest", "--format", "raw-jsonl"]);
    assert_success(&out);
    let jsonl = stdout(&out);
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["tour_ns"].as_i64(), Some(rows[0][13]), "{first}");
    assert_eq!(jsonl.lines().count(), 400);
    // An interval log with one interval per period.
    let out = cluster.client(&["report", "latest", "--format", "hlog", "--interval", "2ms"]);
    assert_success(&out);
    let hlog = stdout(&out);
    let starts: Vec<f64> = hlog
        .lines()
        .filter(|l| l.starts_with("Tag=tour,"))
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(starts.len() >= 2, "{hlog}");
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    assert!(
        hlog.lines().any(|l| l.starts_with("Tag=hop-1-2,")),
        "{hlog}"
    );
    // A tour that did not record them says how to.
    assert_success(&cluster.client(&["run"]));
    let out = cluster.client(&["report", "latest", "--format", "raw"]);
    assert_failure(
        &out,
        1,
        &["did not record its messages' timestamps", "--raw"],
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn warm_up_messages_travel_but_are_not_recorded(backend: &str) {
    let cluster = Cluster::start(backend, 3);
    cluster.configure(&["--msgcount", "50", "--warmup", "10", "--window", "1"]);
    let tour = cluster.tour();
    assert_eq!(tour["outcome"], "complete");
    assert_eq!(tour["messages_received"], 50);
    assert_eq!(tour["tour_latency"]["count"], 40);
    assert_eq!(tour["params"]["warmup"], 10);
    let cl = cluster.cluster_arg();
    let out = cluster.client(&[
        "configure",
        "--cluster",
        &cl,
        "--msgcount",
        "50",
        "--warmup",
        "50",
    ]);
    assert_failure(&out, 2, &["--warmup 50 must be smaller than msgcount (50)"]);
}

/// `echo-members` from the coordinator (the default) and from the client: ping's
/// statistics per member, where the probes came from, and a member that does not answer
/// named.
fn echo_members_answers_and_names_the_silent_one(backend: &str) {
    let mut cluster = Cluster::start(backend, 3);
    cluster.configure(&[]);
    let out = cluster.client(&["echo-members", "--count", "3", "--interval", "10"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with("UDP echoes to each member's peer socket from coordinator "),
        "{text}"
    );
    for (i, peer) in cluster.peers.iter().enumerate() {
        assert!(
            text.contains(&format!(
                "--- member {i} {peer} (udp-echo) ---\n3 packets transmitted, 3 received, 0% packet loss\nrtt min/avg/max/mdev = "
            )),
            "{text}"
        );
    }
    for from_client in [false, true] {
        let mut args = vec!["echo-members", "--json", "--count", "4", "--interval", "5"];
        if from_client {
            args.push("--from-client");
        }
        let out = cluster.client(&args);
        assert_success(&out);
        let doc = json(&out);
        let from = doc["from"].as_str().unwrap();
        assert!(
            from.starts_with(if from_client {
                "this client ("
            } else {
                "coordinator "
            }),
            "{doc:#}"
        );
        for (i, m) in doc["members"].as_array().unwrap().iter().enumerate() {
            assert_eq!(m["index"], i as u64);
            assert_eq!(m["peer_endpoint"], cluster.peers[i].as_str());
            assert_eq!(
                (m["sent"].as_u64(), m["received"].as_u64()),
                (Some(4), Some(4))
            );
            assert_eq!(m["rtts_ns"].as_array().unwrap().len(), 4);
            let (min, avg, max) = (
                m["min_ns"].as_u64().unwrap(),
                m["avg_ns"].as_u64().unwrap(),
                m["max_ns"].as_u64().unwrap(),
            );
            assert!(min > 0 && min <= avg && avg <= max, "{m}");
            assert!(m["mdev_ns"].is_u64(), "{m}");
            assert!(m.get("echo_id").is_none(), "{m}");
        }
    }

    cluster.members[1].kill();
    let out = cluster.client(&["echo-members", "--count", "2", "--timeout", "300"]);
    assert_failure(
        &out,
        1,
        &["1 of 3 members did not answer", &cluster.peers[1]],
    );
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "--- member 1 {} (udp-echo) ---\n2 packets transmitted, 0 received, 100% packet loss\nno answer within 300 ms\n",
            cluster.peers[1]
        )),
        "{text}"
    );
    assert_eq!(text.matches("rtt min/avg/max/mdev").count(), 2, "{text}");
}

fn ping_systems_summarises_each_host(backend: &str) {
    let cluster = Cluster::start(backend, 3);
    cluster.configure(&[]);
    for from_client in [false, true] {
        let mut args = vec!["ping-systems", "--json"];
        if from_client {
            args.push("--from-client");
        }
        let out = cluster.client(&args);
        assert_success(&out);
        let doc = json(&out);
        let hosts = doc["hosts"].as_array().unwrap();
        // All three members live on 127.0.0.1: one host, one summary naming all three.
        assert_eq!(hosts.len(), 1, "{doc:#}");
        assert_eq!(hosts[0]["host"], "127.0.0.1");
        assert_eq!(hosts[0]["members"], serde_json::json!([0, 1, 2]));
        assert_eq!(hosts[0]["sent"], 5);
        assert_eq!(hosts[0]["received"], 5);
        assert!(hosts[0]["mdev_ns"].is_u64(), "{doc:#}");
        assert!(
            doc["from"].as_str().unwrap().starts_with(if from_client {
                "this client ("
            } else {
                "coordinator "
            }),
            "{doc:#}"
        );
    }
    let out = cluster.client(&["ping-systems"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("--- members 0, 1, 2 on 127.0.0.1 (icmp-")
            && text.contains("5 packets transmitted, 5 received, 0% packet loss"),
        "{text}"
    );
    assert!(text.contains("rtt min/avg/max/mdev = "), "{text}");
}

fn status_shows_configuration_and_member_states(backend: &str) {
    let mut cluster = Cluster::start(backend, 3);
    let out = cluster.client(&["status"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("no ring configured"),
        "{}",
        stdout(&out)
    );

    cluster.configure(&["--msgcount", "10"]);
    let out = cluster.client(&["status", "--json"]);
    assert_success(&out);
    let doc = json(&out);
    assert_eq!(doc["configured"], true);
    assert_eq!(doc["params"]["count"], 10);
    let members = doc["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    for (i, m) in members.iter().enumerate() {
        assert_eq!(m["control_endpoint"], cluster.controls[i].as_str());
        assert_eq!(m["peer_endpoint"], cluster.peers[i].as_str());
        assert_eq!(m["state"], "configured");
        assert_eq!(m["backend"], backend);
    }

    cluster.members[2].kill();
    let out = cluster.client(&["status"]);
    assert_success(&out);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains(cluster.controls[2].as_str()))
        .expect("member 2 listed");
    assert!(line.contains("unreachable"), "{text}");
}

fn a_black_hole_member_ends_the_tour_at_the_member_timeout(backend: &str) {
    let cluster = Cluster::start_with(backend, 3, &[1]);
    cluster.configure(&["--msgcount", "100", "--member-timeout", "1500"]);
    let started = Instant::now();
    let out = cluster.client(&["stillepost", "--json"]);
    let elapsed = started.elapsed();
    // A timed-out tour exits 6 with its result as the one document on stdout.
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "timed out: 0 of 100 messages came back (100 lost); --accept-loss exits 0 for such a tour"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tour = json(&out);
    assert!(
        tour.get("error").is_some_and(|e| !e.is_object()),
        "{tour:#}"
    );
    assert!(
        elapsed < Duration::from_millis(1500 + 2000),
        "the tour returned after {elapsed:?}"
    );
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(tour["outcome"], "timed_out");
    assert_eq!(tour["messages_sent"], 100);
    assert_eq!(tour["messages_received"], 0);
    assert_eq!(tour["lost"], 100);
    assert_eq!(tour["tour_latency"]["count"], 0);
    // Lost on the hop into member 1, which saw (and dropped) every one of them.
    let hops = tour["hop_losses"].as_array().unwrap();
    assert_eq!(
        hops[0],
        serde_json::json!({"from": 0, "to": 1, "lost": 100})
    );
    assert_eq!(hops[1]["lost"], 0);
    assert_eq!(hops[2]["lost"], 0);
    assert_eq!(tour["members"][1]["injected_drops"], 100);

    let out = cluster.client(&["stillepost", "--accept-loss"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains(": timed out"), "{text}");
    assert!(
        text.contains(&format!(
            "hop 0→1 ({} → {}): 100 sent, never received",
            cluster.peers[0], cluster.peers[1]
        )),
        "{text}"
    );
}

fn a_held_tour_with_a_black_hole_reports_where_messages_wait(backend: &str) {
    let cluster = Cluster::start_with(backend, 3, &[2]);
    cluster.configure(&[
        "--msgcount",
        "20",
        "--member-timeout",
        "1000",
        "--forward-immediately",
        "false",
    ]);
    let tour = cluster.lossy_tour();
    assert_eq!(tour["outcome"], "timed_out");
    assert_eq!(tour["lost"], 20);
    // Member 1 got all 20 and forwarded them; member 2 dropped them all.
    assert_eq!(tour["members"][1]["received"], 20);
    assert_eq!(tour["members"][1]["forwarded"], 20);
    assert_eq!(
        tour["hop_losses"][1],
        serde_json::json!({"from": 1, "to": 2, "lost": 20})
    );
}

fn a_windowed_tour_with_a_black_hole_reports_unsent_messages(backend: &str) {
    let cluster = Cluster::start_with(backend, 2, &[1]);
    cluster.configure(&[
        "--msgcount",
        "100",
        "--window",
        "10",
        "--member-timeout",
        "1000",
    ]);
    let tour = cluster.lossy_tour();
    assert_eq!(tour["outcome"], "timed_out");
    assert_eq!(tour["messages_sent"], 10);
    assert_eq!(tour["messages_unsent"], 90);
    assert_eq!(tour["lost"], 10);
    assert_eq!(
        tour["hop_losses"][0],
        serde_json::json!({"from": 0, "to": 1, "lost": 10})
    );
}

fn a_second_tour_or_configure_while_running_is_refused_as_ring_busy(backend: &str) {
    let cluster = Cluster::start_with(backend, 3, &[1]);
    cluster.configure(&["--msgcount", "10", "--member-timeout", "3000"]);
    let first = {
        let coordinator = cluster.coordinator_addr.clone();
        std::thread::spawn(move || {
            stillepost(&[
                "--coordinator",
                &coordinator,
                "stillepost",
                "--json",
                "--accept-loss",
            ])
        })
    };
    // Wait until the tour is running.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = cluster.client(&["status", "--json"]);
        assert_success(&out);
        if !json(&out)["running_tour"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "the first tour never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = cluster.client(&["stillepost"]);
    assert_failure(&out, 3, &["ring busy", "is running"]);
    let cl = cluster.cluster_arg();
    let out = cluster.client(&["configure", "--cluster", &cl]);
    assert_failure(&out, 3, &["ring busy"]);

    let first = first.join().unwrap();
    assert_success(&first);
    assert_eq!(json(&first)["lost"], 10);
    // Once it ended, the ring takes tours again.
    let out = cluster.client(&["configure", "--cluster", &cl, "--msgcount", "5"]);
    assert_success(&out);
}

fn bad_input_names_the_field_and_exits_non_zero(backend: &str) {
    let cluster = Cluster::start(backend, 2);
    let cl = cluster.cluster_arg();
    let cases: Vec<(Vec<String>, &[&str])> = vec![
        (
            vec!["--msgbytelen".into(), "63".into()],
            &["msgbytelen 63", "64-byte header"],
        ),
        (
            vec!["--msgbytelen".into(), "67108865".into()],
            &["msgbytelen 67108865", "at most 67108864 bytes (64 MiB"],
        ),
        (
            vec!["--max-datagram".into(), "65508".into()],
            &["max-datagram 65508 B is larger than the 65507 B"],
        ),
        (
            vec!["--max-datagram".into(), "64".into()],
            &["--max-datagram 64 B leaves no room for payload"],
        ),
        (
            vec!["--msgcount".into(), "0".into()],
            &["msgcount 0 is out of range"],
        ),
        (vec!["--window".into(), "0".into()], &["window 0"]),
        (
            vec![
                "--window".into(),
                "5".into(),
                "--forward-immediately".into(),
                "false".into(),
            ],
            &["window 5 is smaller than msgcount"],
        ),
        (
            vec!["--member-timeout".into(), "0".into()],
            &["member-timeout"],
        ),
        (
            vec!["--timeout".into(), "0".into()],
            &["--timeout must be from 1 to 3600 s"],
        ),
        (
            vec!["--timeout".into(), "99999999999".into()],
            &["--timeout must be from 1 to 3600 s"],
        ),
        (
            vec!["--msgcount".into(), "100000001".into()],
            &["msgcount 100000001 is out of range"],
        ),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["configure", "--cluster", &cl];
        args.extend(extra.iter().map(String::as_str));
        let out = cluster.client(&args);
        assert_failure(&out, 2, needles);
    }

    let (a, b) = (&cluster.controls[0], &cluster.controls[1]);
    let cluster_cases: Vec<(String, &[&str])> = vec![
        (format!("{a},,{b}"), &["--cluster entry 2 is empty"]),
        (
            format!("{a},{b},{a}"),
            &["lists", "twice (entries 1 and 3)"],
        ),
        (format!("{a},{b},"), &["--cluster entry 3 is empty"]),
        (
            "no-such-host.invalid:7001".to_string(),
            &["'no-such-host.invalid:7001'", "cannot resolve"],
        ),
        // The same member under two names resolves to one address.
        (
            format!("{a},{b},localhost:{}", b.rsplit_once(':').unwrap().1),
            &["entries 2", "and 3", "are the same member"],
        ),
        ("127.0.0.1".to_string(), &["port is missing"]),
    ];
    for (list, needles) in cluster_cases {
        let out = cluster.client(&["configure", "--cluster", &list]);
        assert_failure(&out, 2, needles);
    }

    // An unreachable member is named, with its endpoint.
    let dead = format!("127.0.0.1:{}", closed_port());
    let list = format!("{a},{dead}");
    let out = cluster.client(&["configure", "--cluster", &list, "--timeout", "3"]);
    assert_failure(&out, 4, &[&format!("member 1 ({dead}) is unreachable")]);

    // A run before any successful configure.
    let out = cluster.client(&["stillepost"]);
    assert_failure(&out, 1, &["not configured", "stillepost configure"]);

    // No coordinator at all.
    let nowhere = format!("127.0.0.1:{}", closed_port());
    let out = stillepost(&["--coordinator", &nowhere, "status"]);
    assert_failure(
        &out,
        4,
        &[&format!("cannot reach the coordinator at {nowhere}")],
    );
}

fn a_member_killed_before_a_run_is_named(backend: &str) {
    let mut cluster = Cluster::start(backend, 3);
    cluster.configure(&["--msgcount", "10"]);
    cluster.members[2].kill();
    let out = cluster.client(&["stillepost"]);
    assert_failure(
        &out,
        4,
        &[&format!(
            "member 2 ({}) is unreachable",
            cluster.controls[2]
        )],
    );
    // The coordinator is not left busy.
    let out = cluster.client(&["status", "--json"]);
    assert_success(&out);
    assert!(json(&out)["running_tour"].is_null());
}

fn a_wildcard_peer_bind_is_advertised_as_a_reachable_address(backend: &str) {
    let cluster = Cluster::start(backend, 1);
    let (_wild, control, bound) = start_member("0.0.0.0:0", &["--backend", backend]);
    assert!(bound.starts_with("0.0.0.0:"), "{bound}");
    let port = bound.rsplit_once(':').unwrap().1;
    let list = format!("{},{control}", cluster.controls[0]);
    let out = cluster.client(&[
        "configure",
        "--cluster",
        &list,
        "--msgcount",
        "20",
        "--json",
    ]);
    assert_success(&out);
    let doc = json(&out);
    // Reached at 127.0.0.1, so advertised there, with the port it is bound to.
    assert_eq!(
        doc["members"][1]["peer_endpoint"],
        format!("127.0.0.1:{port}")
    );
    // And the ring works through it.
    assert_complete_tour(&cluster.tour(), 20, 2);
}

fn local_runs_a_ring_in_one_process(backend: &str) {
    let out = stillepost(&[
        "local",
        "--members",
        "3",
        "--msgcount",
        "100",
        "--tours",
        "2",
        "--json",
        "--backend",
        backend,
    ]);
    assert_success(&out);
    let doc = json(&out);
    assert_eq!(doc["ring"]["members"].as_array().unwrap().len(), 3);
    let tours = doc["tours"].as_array().unwrap();
    assert_eq!(tours.len(), 2);
    assert_ne!(tours[0]["tour_id"], tours[1]["tour_id"]);
    for tour in tours {
        assert_complete_tour(tour, 100, 3);
        for m in tour["members"].as_array().unwrap() {
            assert_eq!(m["backend"], backend);
        }
    }
    let out = stillepost(&[
        "local",
        "--members",
        "2",
        "--msgcount",
        "10",
        "--forward-immediately",
        "false",
        "--backend",
        backend,
    ]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("sent 10, received 10, lost 0"),
        "{}",
        stdout(&out)
    );
    // Without authentication (a loopback ring, to measure what it costs): no challenge,
    // no tags, the same tour.
    let out = stillepost(&[
        "local",
        "--members",
        "2",
        "--msgcount",
        "50",
        "--no-auth",
        "--json",
        "--backend",
        backend,
    ]);
    assert_success(&out);
    let doc = json(&out);
    for tour in doc["tours"].as_array().unwrap() {
        assert_complete_tour(tour, 50, 2);
        for m in tour["members"].as_array().unwrap() {
            assert_eq!(m["bad_tag"], 0, "{m}");
        }
    }
    let out = stillepost(&["local", "--members", "0"]);
    assert_failure(&out, 2, &["--members 0"]);
}

on_both_backends!(
    warm_up_messages_travel_but_are_not_recorded,
    clock_offsets_between_hosts_are_measured_and_corrected,
    open_loop_rate_corrects_for_a_stalled_origin,
    fragmented_messages_go_around,
    configure_and_run_forwarding_immediately,
    run_holding_until_all_messages_arrived,
    holding_takes_any_count_and_size,
    a_dscp_marked_tour_says_its_class,
    every_messages_timestamps_are_recorded_on_request,
    window_one_and_readable_aliases,
    echo_members_answers_and_names_the_silent_one,
    ping_systems_summarises_each_host,
    status_shows_configuration_and_member_states,
    a_black_hole_member_ends_the_tour_at_the_member_timeout,
    a_held_tour_with_a_black_hole_reports_where_messages_wait,
    a_windowed_tour_with_a_black_hole_reports_unsent_messages,
    a_second_tour_or_configure_while_running_is_refused_as_ring_busy,
    bad_input_names_the_field_and_exits_non_zero,
    a_member_killed_before_a_run_is_named,
    a_wildcard_peer_bind_is_advertised_as_a_reachable_address,
    local_runs_a_ring_in_one_process,
);
