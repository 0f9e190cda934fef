//! Test support: real `stillepostd` processes on 127.0.0.1 (ports chosen by the kernel) and
//! the real `stillepost` binary driving them. Every daemon is killed when its handle drops,
//! so a failing test leaves nothing running.
#![allow(dead_code)]

pub mod netns;
pub mod skip;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub use skip::{skip, skip_unless_required};

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
    /// Its stderr so far, when started with [`Daemon::start_logged`].
    log: Option<Arc<Mutex<String>>>,
}

impl Daemon {
    /// Starts `stillepostd` with these arguments.
    pub fn start(args: &[&str]) -> Daemon {
        Daemon::start_command(Command::new(bin("stillepostd")), args)
    }

    /// Starts a daemon whose io_uring_setup fails with EPERM (see [`without_io_uring`]).
    pub fn start_without_io_uring(args: &[&str]) -> Daemon {
        let mut command = Command::new(bin("stillepostd"));
        without_io_uring(&mut command);
        Daemon::start_command(command, args)
    }

    /// Starts a daemon logging everything down to debug level into [`Daemon::log`].
    pub fn start_logged(args: &[&str]) -> Daemon {
        Daemon::start_logged_command(Command::new(bin("stillepostd")), args)
    }

    /// Starts `command` (see [`Daemon::start_command`]) logging everything down to debug
    /// level into [`Daemon::log`].
    pub fn start_logged_command(mut command: Command, args: &[&str]) -> Daemon {
        command
            .env("STILLEPOST_LOG", "debug")
            .stderr(Stdio::piped());
        let mut daemon = Daemon::start_command(command, args);
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = daemon.child.stderr.take() {
            let sink = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    sink.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_str(&line);
                    line.clear();
                }
            });
        }
        daemon.log = Some(log);
        daemon
    }

    /// What a daemon started with [`Daemon::start_logged`] has logged so far.
    pub fn log(&self) -> String {
        let log = self
            .log
            .as_ref()
            .expect("started with Daemon::start_logged");
        log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `command` (a `stillepostd`, possibly wrapped, e.g. in `ip netns exec`) with
    /// `args` and waits for its ready line. Logs warnings to the test's stderr unless the
    /// command says otherwise; never sees the test's STILLEPOST_TOKEN.
    pub fn start_command(mut command: Command, args: &[&str]) -> Daemon {
        if !command.get_envs().any(|(k, _)| k == "STILLEPOST_LOG") {
            command
                .env("STILLEPOST_LOG", "warn")
                .stderr(Stdio::inherit());
        }
        let mut child = command
            .args(args)
            .env_remove("STILLEPOST_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
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
        Daemon {
            child,
            banner,
            log: None,
        }
    }

    /// Starts a coordinator on `client_bind` keeping results in `data_dir`.
    pub fn coordinator(client_bind: &str, data_dir: &Path) -> Daemon {
        Daemon::start(&[
            "coordinator",
            "--client-bind",
            client_bind,
            "--data-dir",
            data_dir.to_str().expect("utf-8 path"),
        ])
    }

    /// Waits up to `limit` for the process to exit by itself; its exit status, or `None`
    /// while it still runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process now (a member "dies").
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The address after `label` in the banner ("control on 127.0.0.1:4711,").
    pub fn addr_after(&self, label: &str) -> String {
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
    /// The coordinator's data directory (removed when the cluster is dropped).
    pub data_dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.coordinator.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A fresh directory under the system's temporary directory, unique to this process and
/// call.
pub fn scratch_dir(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "stillepost-test-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// A token file holding `text`, readable by its owner only, in a fresh scratch directory.
pub fn token_file(text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = scratch_dir("token").join("token");
    std::fs::write(&path, text).expect("write a token file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod the token file");
    path
}

/// Starts a member with extra flags; returns it with its control and peer addresses.
pub fn start_member(peer_bind: &str, extra: &[&str]) -> (Daemon, String, String) {
    start_member_with(peer_bind, extra, Daemon::start)
}

/// Starts a member with extra flags through `start` (a plain or a restricted start).
pub fn start_member_with(
    peer_bind: &str,
    extra: &[&str],
    start: impl FnOnce(&[&str]) -> Daemon,
) -> (Daemon, String, String) {
    let mut args = vec![
        "member",
        "--coord-bind",
        "127.0.0.1:0",
        "--peer-bind",
        peer_bind,
    ];
    args.extend_from_slice(extra);
    let daemon = start(&args);
    let control = daemon.addr_after("control on ");
    let peer = daemon.addr_after("peer socket on ");
    (daemon, control, peer)
}

impl Cluster {
    /// A coordinator and `n` members on `backend`; `faulty` members get `--fault-drop-data`.
    pub fn start_with(backend: &str, n: usize, faulty: &[usize]) -> Cluster {
        Cluster::start_each(backend, n, |i| {
            if faulty.contains(&i) {
                vec!["--fault-drop-data".to_string()]
            } else {
                Vec::new()
            }
        })
    }

    /// A coordinator and `n` members on `backend`, member `i` with the flags `extra(i)`.
    pub fn start_each(backend: &str, n: usize, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        Cluster::start_via(backend, n, &[], &[], extra, Daemon::start)
    }

    /// A coordinator and `n` members on the default backend, all started with
    /// `--token-file token_file` and logging into [`Daemon::log`].
    pub fn start_with_token(n: usize, token_file: &Path) -> Cluster {
        let file = token_file.to_str().expect("utf-8 path");
        let common = ["--token-file", file];
        Cluster::start_split(n, &common, &common)
    }

    /// A coordinator started with `coordinator` and `n` members on the default backend
    /// started with `members`, all logging into [`Daemon::log`].
    pub fn start_split(n: usize, coordinator: &[&str], members: &[&str]) -> Cluster {
        Cluster::start_via(
            "auto",
            n,
            coordinator,
            members,
            |_| Vec::new(),
            Daemon::start_logged,
        )
    }

    /// A coordinator with the flags `coordinator` and `n` members on the default backend,
    /// member `i` with the flags `extra(i)`.
    pub fn start_custom(
        n: usize,
        coordinator: &[&str],
        extra: impl Fn(usize) -> Vec<String>,
    ) -> Cluster {
        Cluster::start_via("auto", n, coordinator, &[], extra, Daemon::start)
    }

    /// A coordinator with the flags `coordinator` and `n` members on `backend` with the
    /// flags `common`, member `i` with `extra(i)` too, each started by `start`.
    fn start_via(
        backend: &str,
        n: usize,
        coordinator: &[&str],
        common: &[&str],
        extra: impl Fn(usize) -> Vec<String>,
        start: impl Fn(&[&str]) -> Daemon,
    ) -> Cluster {
        let data_dir = scratch_dir("results");
        let mut args = vec![
            "coordinator",
            "--client-bind",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().expect("utf-8 temp dir"),
        ];
        args.extend_from_slice(coordinator);
        let coordinator = start(&args);
        let coordinator_addr = coordinator.addr_after("listening for clients on ");
        let mut members = Vec::new();
        let mut controls = Vec::new();
        let mut peers = Vec::new();
        for i in 0..n {
            let more = extra(i);
            let mut flags = vec!["--backend", backend];
            flags.extend_from_slice(common);
            flags.extend(more.iter().map(String::as_str));
            let (daemon, control, peer) = start_member_with("127.0.0.1:0", &flags, &start);
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
            data_dir,
        }
    }

    pub fn start(backend: &str, n: usize) -> Cluster {
        Cluster::start_with(backend, n, &[])
    }

    pub fn cluster_arg(&self) -> String {
        self.controls.join(",")
    }

    /// Starts `stillepost --coordinator <this> <args>` in the background, its output piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        Command::new(bin("stillepost"))
            .args(["--coordinator", &self.coordinator_addr])
            .args(args)
            .env_remove("STILLEPOST_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stillepost")
    }

    /// Runs `stillepost --coordinator <this> <args>`.
    pub fn client(&self, args: &[&str]) -> Output {
        let mut all = vec!["--coordinator", &self.coordinator_addr];
        all.extend_from_slice(args);
        stillepost(&all)
    }

    /// Runs one tour and returns its JSON result; panics with the client's output if that
    /// fails.
    pub fn tour(&self) -> serde_json::Value {
        let out = self.client(&["stillepost", "--json"]);
        assert_success(&out);
        json(&out)
    }

    /// Runs a tour that is meant to lose messages or time out: it exits 6 with its result
    /// as the document, and 0 with `--accept-loss`; returns the result.
    pub fn lossy_tour(&self) -> serde_json::Value {
        let out = self.client(&["stillepost", "--json"]);
        assert_eq!(
            out.status.code(),
            Some(6),
            "a lossy tour exits 6: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = self.client(&["stillepost", "--json", "--accept-loss"]);
        assert_success(&out);
        json(&out)
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

/// Runs a shell command line with a pseudo-terminal as its stdout and stderr
/// (util-linux's script(1)); `None`, after [`skip`], where script is missing.
pub fn on_terminal(line: &str) -> Option<Output> {
    if !Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        skip("needs script(1) (Debian: bsdutils) to give the client a terminal");
        return None;
    }
    Some(
        Command::new("script")
            .args(["-qec", line, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("run script(1)"),
    )
}

/// Runs the client binary (without the test's STILLEPOST_TOKEN).
pub fn stillepost(args: &[&str]) -> Output {
    stillepost_env(args, &[])
}

/// Runs the client binary with these environment variables set.
pub fn stillepost_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin("stillepost"))
        .args(args)
        .env_remove("STILLEPOST_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run stillepost")
}

/// Sends `signal` (as kill(1) names it: INT, STOP, CONT, ...) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
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

/// Makes io_uring_setup fail with EPERM in the child, as under a container's seccomp
/// profile: a real seccomp filter installed after fork, before exec.
pub fn without_io_uring(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only makes two prctl
    // calls with a filter that lives on its stack frame; it allocates nothing.
    unsafe {
        command.pre_exec(|| {
            // seccomp_data.nr is the first 32-bit word; 425 is io_uring_setup on every
            // architecture with the unified syscall table (x86_64, aarch64, ...).
            let filter = [
                bpf((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 0, 0, 0),
                bpf(
                    (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                    0,
                    1,
                    425,
                ),
                bpf(
                    (libc::BPF_RET | libc::BPF_K) as u16,
                    0,
                    0,
                    libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
                ),
                bpf(
                    (libc::BPF_RET | libc::BPF_K) as u16,
                    0,
                    0,
                    libc::SECCOMP_RET_ALLOW,
                ),
            ];
            let program = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr().cast_mut(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &program as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}
