//! Everything as an unprivileged user: `stillepost local`, and a coordinator, members and
//! the client run as `nobody` with no capabilities at all (`setpriv`, from root), run a
//! tour, echo and show status; what needs a privilege (socket buffers past
//! `net.core.rmem_max`, `tune --apply`, ICMP, io_uring's locked memory) fails or degrades
//! with a message naming the capability or sysctl.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::{Daemon, assert_success, json, scratch_dir, stderr, stdout};

/// `nobody` and `nogroup` on Debian.
const NOBODY: u32 = 65534;

/// Copies of the binaries that `nobody` may run (the build directory can sit below a home
/// directory other users cannot enter), and a home directory of its own.
struct Unprivileged {
    dir: PathBuf,
    home: PathBuf,
}

impl Drop for Unprivileged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Unprivileged {
    /// `None` (after a skip, which fails under CI) where the test cannot switch users.
    fn new() -> Option<Unprivileged> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            support::skip("runs as root, to start processes as nobody with setpriv");
            return None;
        }
        if !Command::new("setpriv")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            support::skip("needs setpriv (Debian: util-linux)");
            return None;
        }
        let dir = scratch_dir("unprivileged");
        for name in ["stillepost", "stillepostd"] {
            std::fs::copy(support::bin(name), dir.join(name)).unwrap();
        }
        let home = dir.join("home");
        std::fs::create_dir(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY)).unwrap();
        Some(Unprivileged { dir, home })
    }

    /// `binary` (one of ours) as nobody:nogroup, without supplementary groups or any
    /// capability (none inherited, none in the bounding set), `HOME` its own.
    fn command(&self, binary: &str) -> Command {
        let mut command = Command::new("setpriv");
        command
            .args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ])
            .arg(self.dir.join(binary))
            .env("HOME", &self.home)
            .env_remove("XDG_STATE_HOME")
            .env_remove("STILLEPOST_TOKEN");
        command
    }

    fn client(&self, args: &[&str]) -> Output {
        self.command("stillepost")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// A daemon as nobody, once it printed its ready line.
    fn daemon(&self, args: &[&str]) -> Daemon {
        Daemon::start_command(self.command("stillepostd"), args)
    }
}

fn sysctl(name: &str) -> u64 {
    std::fs::read_to_string(Path::new("/proc/sys").join(name.replace('.', "/")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_ring_runs_as_nobody_and_what_needs_privilege_says_which() {
    let Some(nobody) = Unprivileged::new() else {
        return;
    };

    // The README's main command.
    let out = nobody.client(&["local", "--msgcount", "200", "--json"]);
    assert_success(&out);
    let tour = &json(&out)["tours"][0];
    assert_eq!(tour["outcome"], "complete", "{tour:#}");
    assert_eq!(tour["messages_received"], 200, "{tour:#}");

    // A coordinator and two members as nobody, results in a directory of its own.
    let results = nobody.home.join("results");
    let coordinator = nobody.daemon(&[
        "coordinator",
        "--client-bind",
        "127.0.0.1:0",
        "--data-dir",
        results.to_str().unwrap(),
    ]);
    let coordinator_addr = coordinator.addr_after("listening for clients on ");
    let members: Vec<Daemon> = (0..2)
        .map(|_| {
            nobody.daemon(&[
                "member",
                "--coord-bind",
                "127.0.0.1:0",
                "--peer-bind",
                "127.0.0.1:0",
            ])
        })
        .collect();
    let cluster = members
        .iter()
        .map(|m| m.addr_after("control on "))
        .collect::<Vec<_>>()
        .join(",");
    let client = |args: &[&str]| {
        let mut all = vec!["--coordinator", coordinator_addr.as_str()];
        all.extend_from_slice(args);
        nobody.client(&all)
    };
    assert_success(&client(&[
        "configure",
        "--cluster",
        &cluster,
        "--msgcount",
        "100",
    ]));
    let out = client(&["run", "--json"]);
    assert_success(&out);
    assert_eq!(json(&out)["messages_received"], 100);
    assert_success(&client(&["echo-members"]));
    assert_success(&client(&["status"]));
    assert!(
        std::fs::read_dir(&results).unwrap().count() > 0,
        "the result is kept"
    );

    // Socket buffers past net.core.rmem_max need CAP_NET_ADMIN: the configure says so.
    let (msg_len, window) = (60_000u64, 1000u64);
    let out = client(&[
        "configure",
        "--cluster",
        &cluster,
        "--msgbytelen",
        "60000",
        "--msgcount",
        "1000",
        "--window",
        "all",
    ]);
    assert_success(&out);
    if sysctl("net.core.rmem_max") < msg_len * window {
        let text = stdout(&out) + &stderr(&out);
        assert!(text.contains("the kernel granted"), "{text}");
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
        assert!(text.contains("net.core.rmem_max"), "{text}");
    }

    // Writing sysctls needs CAP_NET_ADMIN (or root): every one that failed is named.
    let out = nobody.client(&[
        "tune",
        "--msgbytelen",
        "60000",
        "--window",
        "1000",
        "--apply",
    ]);
    if out.status.success() {
        assert!(
            stdout(&out).contains("nothing to change"),
            "{}",
            stdout(&out)
        );
    } else {
        let err = stderr(&out);
        assert!(err.contains("needs root or CAP_NET_ADMIN"), "{err}");
        assert!(err.contains("cannot set net."), "{err}");
        assert_eq!(
            err.matches("Permission denied").count(),
            err.matches("(/proc/sys/").count(),
            "{err}"
        );
    }

    // ICMP needs CAP_NET_RAW or net.ipv4.ping_group_range: a failure names both.
    let out = client(&["ping-systems", "--count", "1"]);
    if !out.status.success() {
        let text = stdout(&out) + &stderr(&out);
        assert!(text.contains("CAP_NET_RAW"), "{text}");
        assert!(text.contains("net.ipv4.ping_group_range"), "{text}");
        assert!(text.contains("cannot ping 127.0.0.1"), "{text}");
    }
    drop(members);
    drop(coordinator);

    // (In the same test: locked memory is counted per user, so nothing else of nobody's
    // may run meanwhile.)
    zerocopy_past_the_locked_memory_limit_names_the_limit_and_the_capability(&nobody);
}

fn zerocopy_past_the_locked_memory_limit_names_the_limit_and_the_capability(nobody: &Unprivileged) {
    // Registered buffers are locked memory: 1 MiB holds io_uring's rings but not the
    // receive buffers of a ring of three.
    let mut command = Command::new("prlimit");
    command.args(["--memlock=1048576:1048576", "--"]);
    let inner = nobody.command("stillepost");
    command.arg(inner.get_program()).args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let out = command
        .args([
            "local",
            "--zerocopy",
            "--backend",
            "uring",
            "--msgcount",
            "10",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    // The buffers fail to register; or, while the kernel still frees the rings of the
    // processes killed above (it does so after they exit), the rings fail to set up.
    assert!(err.contains("RLIMIT_MEMLOCK"), "{err}");
    assert!(err.contains("CAP_IPC_LOCK"), "{err}");
    if err.contains("B of buffers exceed") {
        assert!(err.contains("or leave out --zerocopy"), "{err}");
    } else {
        assert!(err.contains("the rings exceed"), "{err}");
    }
}
