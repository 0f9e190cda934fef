//! Test support: real `stillepostd` processes on 127.0.0.1 (ports chosen by the kernel) and
//! the real `stillepost` binary driving them. Every daemon is killed when its handle drops,
//! so a failing test leaves nothing running.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A binary built next to this test (cargo builds the whole workspace's binaries for
/// `cargo test --workspace` and `cargo nextest run --workspace`).
pub fn bin(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("test executable path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo nextest run --workspace` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

/// A running daemon; killed on drop.
pub struct Daemon {
    child: Child,
    /// The line it printed when ready.
    pub banner: String,
}

impl Daemon {
    fn start(args: &[&str]) -> Daemon {
        let mut child = Command::new(bin("stillepostd"))
            .args(args)
            .env("STILLEPOST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start stillepostd");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the daemon never blocks on a full pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let banner = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("stillepostd {args:?} did not report ready within 20 s"));
        assert!(
            !banner.is_empty(),
            "stillepostd {args:?} exited before it was ready"
        );
        Daemon { child, banner }
    }

    /// Kills the process now (a member "dies").
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The address after `label` in the banner ("control on 127.0.0.1:4711,").
    fn addr_after(&self, label: &str) -> String {
        let rest = self.banner.split(label).nth(1).expect("label in banner");
        rest.split([',', ' ', '\n'])
            .find(|s| !s.is_empty())
            .expect("address after label")
            .to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A coordinator and its members, each its own process.
pub struct Cluster {
    pub coordinator: Daemon,
    pub coordinator_addr: String,
    pub members: Vec<Daemon>,
    /// The members' control endpoints, in ring order.
    pub controls: Vec<String>,
    /// The members' peer socket addresses, in ring order.
    pub peers: Vec<String>,
}

/// Starts a member with extra flags; returns it with its control and peer addresses.
pub fn start_member(peer_bind: &str, extra: &[&str]) -> (Daemon, String, String) {
    let mut args = vec![
        "member",
        "--coord-bind",
        "127.0.0.1:0",
        "--peer-bind",
        peer_bind,
    ];
    args.extend_from_slice(extra);
    let daemon = Daemon::start(&args);
    let control = daemon.addr_after("control on ");
    let peer = daemon.addr_after("peer socket on ");
    (daemon, control, peer)
}

impl Cluster {
    /// A coordinator and `n` members; `faulty` members get `--fault-drop-data`.
    pub fn start_with(n: usize, faulty: &[usize]) -> Cluster {
        let coordinator = Daemon::start(&["coordinator", "--client-bind", "127.0.0.1:0"]);
        let coordinator_addr = coordinator.addr_after("listening for clients on ");
        let mut members = Vec::new();
        let mut controls = Vec::new();
        let mut peers = Vec::new();
        for i in 0..n {
            let extra: &[&str] = if faulty.contains(&i) {
                &["--fault-drop-data"]
            } else {
                &[]
            };
            let (daemon, control, peer) = start_member("127.0.0.1:0", extra);
            members.push(daemon);
            controls.push(control);
            peers.push(peer);
        }
        Cluster {
            coordinator,
            coordinator_addr,
            members,
            controls,
            peers,
        }
    }

    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[])
    }

    pub fn cluster_arg(&self) -> String {
        self.controls.join(",")
    }

    /// Runs `stillepost --coordinator <this> <args>`.
    pub fn client(&self, args: &[&str]) -> Output {
        let mut all = vec!["--coordinator", &self.coordinator_addr];
        all.extend_from_slice(args);
        stillepost(&all)
    }

    /// Configures the ring with the given extra flags; panics with the client's output if
    /// that fails.
    pub fn configure(&self, extra: &[&str]) -> Output {
        let cluster = self.cluster_arg();
        let mut args = vec!["configure", "--cluster", &cluster];
        args.extend_from_slice(extra);
        let out = self.client(&args);
        assert_success(&out);
        out
    }
}

/// Runs the client binary.
pub fn stillepost(args: &[&str]) -> Output {
    Command::new(bin("stillepost"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run stillepost")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "stillepost failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// Parses stdout as the one JSON document `--json` promises.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

/// Asserts a failure with the given exit status whose stderr contains every needle.
pub fn assert_failure(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit status {code}\nstdout:\n{}\nstderr:\n{err}",
        stdout(out)
    );
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    }
}

/// A TCP port on 127.0.0.1 with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
