//! `stillepost tune` against fake `/proc/sys` and `/sys` trees with fixed values: its
//! output is pinned, `--emit-sysctl-conf` and `--apply` write what it recommends, and
//! settings a network namespace hides are named as such.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::path::{Path, PathBuf};

use support::*;

/// A fake host: Debian's defaults on a small machine, one 1500-byte NIC and loopback, no
/// cpufreq, no isolated cores. `hidden` sysctls are left out (as in a network namespace).
fn fake_host(hidden: &[&str]) -> PathBuf {
    let root = scratch_dir("tune");
    let sysctls = [
        ("net.core.rmem_max", "212992"),
        ("net.core.wmem_max", "212992"),
        ("net.core.rmem_default", "212992"),
        ("net.core.wmem_default", "212992"),
        ("net.ipv4.udp_mem", "18945\t25262\t37890"),
        ("net.core.netdev_max_backlog", "1000"),
        ("net.core.netdev_budget", "300"),
        ("net.ipv4.ipfrag_high_thresh", "4194304"),
        ("net.ipv4.ipfrag_low_thresh", "3145728"),
        ("net.core.busy_read", "0"),
        ("net.core.busy_poll", "0"),
    ];
    for (name, value) in sysctls {
        if hidden.contains(&name) {
            continue;
        }
        let path = root.join("proc/sys").join(name.replace('.', "/"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("{value}\n")).unwrap();
    }
    for (dev, mtu) in [("eth0", "1500"), ("lo", "65536")] {
        let dir = root.join("sys/class/net").join(dev);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("mtu"), format!("{mtu}\n")).unwrap();
    }
    let cpu = root.join("sys/devices/system/cpu");
    std::fs::create_dir_all(&cpu).unwrap();
    std::fs::write(cpu.join("isolated"), "\n").unwrap();
    root
}

/// `stillepost tune` for 1 MiB messages, window 8, on the fake host at `root`.
fn tune(root: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--msgbytelen", "1048576", "--window", "8"];
    args.extend_from_slice(extra);
    tune_host(root, &args)
}

/// `stillepost tune` with `args` on the fake host at `root`; its stdout.
fn tune_host(root: &Path, args: &[&str]) -> String {
    let proc_sys = root.join("proc/sys");
    let sys = root.join("sys");
    let mut all = vec![
        "tune",
        "--proc-sys-root",
        proc_sys.to_str().unwrap(),
        "--sys-root",
        sys.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = stillepost(&all);
    assert_success(&out);
    stdout(&out)
}

#[test]
fn tune_output_for_fixed_settings_is_pinned() {
    let root = fake_host(&[]);
    insta::assert_snapshot!("tune_1mib_window_8", tune(&root, &[]));
    insta::assert_snapshot!("tune_1mib_window_8_jumbo", tune(&root, &["--mtu", "9000"]));
    insta::assert_snapshot!("tune_sysctl_conf", tune(&root, &["--emit-sysctl-conf"]));
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn apply_sets_exactly_the_sysctls_to_change() {
    let root = fake_host(&[]);
    let out = tune(&root, &["--apply"]);
    let read = |name: &str| {
        std::fs::read_to_string(root.join("proc/sys").join(name.replace('.', "/")))
            .unwrap()
            .trim()
            .to_string()
    };
    // 8 messages of 745 datagrams of 1472 B (what MTU 1500 carries, as configure would
    // cut them), each charged (1500 + 1024) B: 15.0 MB → 16 MiB. No IP fragments, so the
    // reassembly memory stays.
    assert_eq!(read("net.core.rmem_max"), "16777216", "{out}");
    assert_eq!(read("net.core.netdev_max_backlog"), "8192", "{out}");
    assert_eq!(read("net.ipv4.ipfrag_high_thresh"), "4194304", "{out}");
    // Latency-only settings and defaults stay as they were.
    assert_eq!(read("net.core.busy_read"), "0");
    assert_eq!(read("net.core.rmem_default"), "212992");
    assert!(out.contains("set net.core.rmem_max = 16777216"), "{out}");
    // Applied, the same check has nothing left to change.
    assert!(
        tune(&root, &[]).contains("0 settings to change"),
        "{}",
        tune(&root, &[])
    );
    assert_eq!(tune(&root, &["--apply"]).trim(), "nothing to change");
    // Datagrams larger than the MTU (--max-datagram 65507) are IP-fragmented: then the
    // reassembly memory must hold a window of them.
    let out = tune(&root, &["--max-datagram", "65507", "--apply"]);
    assert_eq!(read("net.ipv4.ipfrag_high_thresh"), "16777216", "{out}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn settings_a_network_namespace_hides_are_named() {
    let root = fake_host(&["net.core.netdev_max_backlog", "net.core.netdev_budget"]);
    let out = tune(&root, &["--assume-netns"]);
    let line = out
        .lines()
        .skip_while(|l| !l.contains("net.core.netdev_max_backlog"))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(line.starts_with("  n/a"), "{out}");
    assert!(
        line.contains("not visible in this network namespace: check and set it on the host"),
        "{out}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn bad_tune_flags_are_refused() {
    // The same flags and checks as configure.
    let out = stillepost(&["tune", "--window", "0"]);
    assert_failure(
        &out,
        2,
        &["--window 0 is out of range: at least 1 message must be in flight"],
    );
    let out = stillepost(&["tune", "--mtu", "500"]);
    assert_failure(&out, 2, &["--mtu must be at least 576 (is 500)"]);
    // Only what is wrong is named.
    let out = stillepost(&["tune", "--msgbytelen", "63"]);
    assert_failure(
        &out,
        2,
        &["error: --msgbytelen 63 is out of range: a message needs at least the 64-byte header"],
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("--window") && !text.contains("--mtu"),
        "{text}"
    );
}

#[test]
fn a_small_udp_mem_min_is_raised_with_pressure_and_max_kept_in_order() {
    let root = fake_host(&[]);
    std::fs::write(
        root.join("proc/sys/net/ipv4/udp_mem"),
        "1000\t2000\t30000\n",
    )
    .unwrap();
    let out = tune(&root, &["--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let udp = doc["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "net.ipv4.udp_mem")
        .unwrap();
    assert_eq!(udp["status"], "change", "{udp}");
    // 2 × (receive + send buffer, 15043040 B each: 8 messages of 745 frames charged
    // 1500 + 1024 B) in 4096-byte pages: 14691; pressure follows, max stays.
    assert_eq!((2u64 * 2 * 8 * 745 * 2524).div_ceil(4096), 14691);
    assert_eq!(
        udp["recommended"],
        serde_json::json!([14691, 14691, 30000]),
        "{udp}"
    );
    assert_eq!(
        udp["current"],
        serde_json::json!([1000, 2000, 30000]),
        "{udp}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

/// `tune` models the tour as `configure` makes it: the host's MTU (1400 here) rather than
/// an assumed 1500, the datagram that MTU carries as the default --max-datagram (as
/// configure takes the route MTU's), `--window all`, and the emitted file names every flag
/// it was made for.
#[test]
fn tune_models_the_tour_as_configure_does() {
    let root = fake_host(&[]);
    std::fs::write(root.join("sys/class/net/eth0/mtu"), "1400\n").unwrap();
    let run = |args: &[&str]| tune_host(&root, args);
    let doc: serde_json::Value = serde_json::from_str(&run(&[
        "--msgbytelen",
        "100000",
        "--msgcount",
        "10",
        "--window",
        "all",
        "--json",
    ]))
    .unwrap();
    assert_eq!(doc["mtu"], 1400, "{doc:#}");
    assert_eq!(doc["mtu_from"], "eth0", "{doc:#}");
    assert_eq!(doc["window"], 10, "{doc:#}");
    // 1400 − 28 B datagrams carry 1308 B of message each: 99,936 B in 77 of them, one
    // frame each, so no IP reassembly is asked for.
    assert_eq!(doc["max_datagram"], 1372, "{doc:#}");
    assert_eq!(doc["datagrams_per_message"], 77, "{doc:#}");
    assert_eq!(doc["fragments_per_message"], 77, "{doc:#}");
    let ipfrag = doc["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "net.ipv4.ipfrag_high_thresh")
        .unwrap();
    assert_eq!(ipfrag["status"], "info", "{ipfrag}");
    let text = run(&[
        "--msgbytelen",
        "65000",
        "--max-datagram",
        "1472",
        "--mtu",
        "1500",
    ]);
    assert!(
        text.starts_with(
            "for 65000 B messages (47 datagrams of at most 1472 B), window 63, MTU 1500: each message is 47 frames"
        ),
        "{text}"
    );
    let conf = run(&["--msgbytelen", "100000", "--emit-sysctl-conf"]);
    assert!(
        conf.starts_with("# /etc/sysctl.d/90-stillepost.conf: written by `stillepost tune --msgbytelen 100000 --window 41 --mtu 1400 --max-datagram 1372 --emit-sysctl-conf`"),
        "{conf}"
    );
    std::fs::remove_dir_all(root).unwrap();
}
