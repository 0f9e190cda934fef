//! The tools a benchmark runs (sockperf and `stillepost local`), each run bounded in time
//! and its command line recorded for the report.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::host::{self, Host};
use crate::process::{self, Background, Finished};
use crate::report::count_commands;
use crate::sockperf::{self, PingPong, Sent};
use crate::stillepost::{self, Capabilities, LocalRun, Tour};

/// Longest a sockperf client may run beyond its `-t` before it is killed.
const SOCKPERF_SLACK: Duration = Duration::from_secs(30);
/// How long a sockperf server may take to bind its port.
const SERVER_START: Duration = Duration::from_secs(5);
/// How long a sockperf server may take to print its totals after SIGINT.
const SERVER_STOP: Duration = Duration::from_secs(5);
/// Bound for short queries (`--help`, `--version`).
const QUERY: Duration = Duration::from_secs(30);
/// Bound for `apt-get install`.
const INSTALL: Duration = Duration::from_secs(600);

/// The `stillepost` client binary.
#[derive(Debug, Clone)]
pub struct StillepostBin {
    pub path: PathBuf,
    pub version: String,
    pub caps: Capabilities,
}

/// The sockperf binary.
#[derive(Debug, Clone)]
pub struct SockperfBin {
    pub path: PathBuf,
    pub version: String,
}

/// How the bench finds its tools.
#[derive(Debug, Clone)]
pub struct Setup {
    pub stillepost: Option<PathBuf>,
    pub sockperf: Option<PathBuf>,
    pub install: bool,
    pub timeout: Duration,
}

/// A `stillepost local` run: its measured tour and the requested flags it did not accept.
#[derive(Debug, Clone)]
pub struct LocalResult {
    pub tour: Tour,
    pub left_out: Vec<String>,
}

/// Every tour of one `stillepost local` run.
#[derive(Debug, Clone)]
pub struct LocalTours {
    pub tours: Vec<Tour>,
    pub left_out: Vec<String>,
}

/// sockperf throughput mode: what the client sent and what the server received.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SockperfRate {
    pub sent: Sent,
    pub received: u64,
}

impl SockperfRate {
    /// Messages the server received per second of the client's run.
    pub fn received_per_s(&self) -> f64 {
        self.received as f64 / self.sent.seconds
    }

    pub fn sent_per_s(&self) -> f64 {
        self.sent.messages as f64 / self.sent.seconds
    }

    /// Share of sent messages the server never received, in percent.
    pub fn loss_percent(&self) -> f64 {
        if self.sent.messages == 0 {
            return 0.0;
        }
        100.0 * (self.sent.messages.saturating_sub(self.received)) as f64
            / self.sent.messages as f64
    }
}

/// Cores to pin sockperf's server and client to (with `taskset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinning {
    pub server: u32,
    pub client: u32,
}

/// Tools, the port sockperf uses, and every command line run so far.
#[derive(Debug)]
pub struct Bench {
    pub stillepost: StillepostBin,
    pub sockperf: Option<SockperfBin>,
    pub host: Host,
    timeout: Duration,
    port: u16,
    cwd: Option<PathBuf>,
    commands: Vec<String>,
}

impl Bench {
    pub fn open(setup: &Setup) -> Result<Self> {
        let cwd = std::env::current_dir().ok();
        let mut bench = Self {
            stillepost: StillepostBin {
                path: PathBuf::new(),
                version: String::new(),
                caps: Capabilities {
                    backend: false,
                    poll: false,
                    cpus: false,
                    placement: false,
                    accept_loss: false,
                },
            },
            sockperf: None,
            host: Host::read(),
            timeout: setup.timeout,
            port: free_udp_port()?,
            cwd,
            commands: Vec::new(),
        };
        bench.stillepost = bench.find_stillepost(setup.stillepost.as_deref())?;
        bench.sockperf = bench.find_sockperf(setup)?;
        Ok(bench)
    }

    fn find_stillepost(&mut self, explicit: Option<&Path>) -> Result<StillepostBin> {
        let path = match explicit {
            Some(path) => path.to_owned(),
            None => std::env::current_exe()
                .context("cannot find this executable, so neither the stillepost next to it")?
                .with_file_name("stillepost"),
        };
        if !sockperf::is_executable(&path) {
            bail!(
                "no stillepost binary at {}: build it with `cargo build --release -p stillepost` or pass --stillepost <path>",
                path.display()
            );
        }
        let help = self
            .query(Command::new(&path).args(["local", "--help"]))
            .context("cannot ask stillepost which flags `local` accepts")?;
        let version = self
            .query(Command::new(&path).arg("--version"))
            .map(|out| out.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        Ok(StillepostBin {
            path,
            version,
            caps: Capabilities::from_help(&help),
        })
    }

    fn find_sockperf(&mut self, setup: &Setup) -> Result<Option<SockperfBin>> {
        let locate = || match &setup.sockperf {
            Some(path) => sockperf::is_executable(path).then(|| path.clone()),
            None => sockperf::find_in_path("sockperf"),
        };
        let mut path = locate();
        if path.is_none() && setup.install {
            if host::is_root() {
                eprintln!("sockperf not found; running apt-get install -y sockperf");
                let mut cmd = Command::new("apt-get");
                cmd.args(["install", "-y", "sockperf"]);
                self.run(&mut cmd, INSTALL)?;
                path = locate();
            } else {
                eprintln!("sockperf not found, and --install needs root for apt-get");
            }
        }
        let Some(path) = path else {
            eprintln!("{}", sockperf::MISSING);
            return Ok(None);
        };
        let version = self
            .query(Command::new(&path).arg("--version"))
            .ok()
            .and_then(|out| sockperf::parse_version(&out))
            .unwrap_or_else(|| "unknown".into());
        Ok(Some(SockperfBin { path, version }))
    }

    /// Index into the command log, to collect one scenario's commands later.
    pub fn mark(&self) -> usize {
        self.commands.len()
    }

    /// The command lines run since `mark`, repeats counted.
    pub fn commands_since(&self, mark: usize) -> Vec<String> {
        count_commands(self.commands.get(mark..).unwrap_or_default())
    }

    /// A command line as reports show it: paths under the working directory made relative.
    fn display(&self, cmd: &Command) -> String {
        let line = process::command_line(cmd);
        let line = match &self.cwd {
            Some(cwd) => line.replace(&format!("{}/", cwd.display()), ""),
            None => line,
        };
        line.split(' ')
            .map(abbreviate)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs a command to a successful end within `timeout`, recording it.
    fn run(&mut self, cmd: &mut Command, timeout: Duration) -> Result<Finished> {
        let line = self.display(cmd);
        self.commands.push(line.clone());
        process::run_bounded(cmd, timeout)?.success(&line)
    }

    /// Runs the stillepost client with `args` within `timeout`, recording it; returns how it
    /// ended, failure included (fault scenarios expect some).
    pub fn client(&mut self, args: &[&str], timeout: Duration) -> Result<Finished> {
        let mut cmd = Command::new(&self.stillepost.path);
        cmd.args(args);
        self.commands.push(self.display(&cmd));
        process::run_bounded(&mut cmd, timeout)
    }

    /// Records a command the bench started itself (a daemon), as reports show it.
    pub fn record(&mut self, cmd: &Command) {
        let line = self.display(cmd);
        self.commands.push(line);
    }

    /// stdout of a short query that is not part of any benchmark (not recorded).
    fn query(&self, cmd: &mut Command) -> Result<String> {
        let line = self.display(cmd);
        Ok(process::run_bounded(cmd, QUERY)?.success(&line)?.stdout)
    }

    /// Runs `stillepost local … --json` and returns its measured (last) tour.
    pub fn stillepost_local(&mut self, run: &LocalRun) -> Result<LocalResult> {
        let (stdout, left_out) = self.stillepost_local_json(run)?;
        Ok(LocalResult {
            tour: stillepost::parse_last_tour(&stdout)?,
            left_out,
        })
    }

    /// Runs `stillepost local … --json` and returns every tour it ran.
    pub fn stillepost_local_tours(&mut self, run: &LocalRun) -> Result<LocalTours> {
        let (stdout, left_out) = self.stillepost_local_json(run)?;
        Ok(LocalTours {
            tours: stillepost::parse_tours(&stdout)?,
            left_out,
        })
    }

    /// `stillepost local … --json`'s output, and the flags it was run without.
    fn stillepost_local_json(&mut self, run: &LocalRun) -> Result<(String, Vec<String>)> {
        let args = run.args(self.stillepost.caps);
        let mut cmd = Command::new(&self.stillepost.path);
        cmd.args(&args.args);
        let finished = self.run(&mut cmd, self.timeout)?;
        Ok((finished.stdout, args.left_out))
    }

    fn sockperf_command(&self, pin: Option<u32>) -> Result<Command> {
        let Some(sockperf) = &self.sockperf else {
            bail!(sockperf::MISSING);
        };
        Ok(match pin {
            Some(cpu) => {
                if sockperf::find_in_path("taskset").is_none() {
                    bail!("pinning sockperf needs taskset (util-linux); or pass --no-pin");
                }
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", &cpu.to_string()]).arg(&sockperf.path);
                cmd
            }
            None => Command::new(&sockperf.path),
        })
    }

    /// Starts a sockperf server on 127.0.0.1 and waits until its port is bound.
    /// iperf3 UDP goodput: a server (killed afterwards) and a client sending `len`-byte datagrams as
    /// fast as it can (`-b 0`) for `seconds`, pinned like sockperf (`pin`). Returns the
    /// bytes per second the server received.
    pub fn iperf3_udp(&mut self, len: u32, seconds: u32, pin: Option<Pinning>) -> Result<f64> {
        let port = free_udp_port()?;
        let taskset = |core: Option<u32>, program: &str| {
            let mut cmd = match core {
                Some(core) => {
                    let mut c = Command::new("taskset");
                    c.args(["-c", &core.to_string(), program]);
                    c
                }
                None => Command::new(program),
            };
            cmd.current_dir(std::env::temp_dir());
            cmd
        };
        let mut server = taskset(pin.map(|p| p.server), "iperf3");
        server.args(["-s", "-p", &port.to_string()]);
        self.commands.push(self.display(&server));
        let server = Background::start(&mut server)?;
        // iperf3's control connection is TCP: wait until it listens.
        let deadline = Instant::now() + SERVER_START;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() >= deadline {
                let line = server.line().to_owned();
                server.kill()?;
                bail!(
                    "`{line}` did not listen on 127.0.0.1:{port} within {} s",
                    SERVER_START.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
        let mut client = taskset(pin.map(|p| p.client), "iperf3");
        client.args([
            "-u",
            "-c",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-l",
            &len.to_string(),
            "-b",
            "0",
            "-t",
            &seconds.to_string(),
            "--json",
        ]);
        let finished = self.run(
            &mut client,
            Duration::from_secs(seconds.into()) + SOCKPERF_SLACK,
        );
        let _ = server.kill();
        let finished = finished?;
        let doc: serde_json::Value = serde_json::from_str(&finished.stdout)
            .map_err(|e| anyhow::anyhow!("iperf3 --json printed no JSON: {e}"))?;
        let received = &doc["end"]["sum_received"];
        let (bytes, secs) = (received["bytes"].as_f64(), received["seconds"].as_f64());
        match (bytes, secs) {
            (Some(bytes), Some(secs)) if secs > 0.0 => Ok(bytes / secs),
            _ => bail!("iperf3's JSON has no end.sum_received bytes and seconds"),
        }
    }

    fn start_server(&mut self, nonblocked: bool, pin: Option<Pinning>) -> Result<Background> {
        if port_bound(self.port) {
            // Someone took our port since we chose it; a server there would not be ours.
            self.port = free_udp_port()?;
        }
        let mut cmd = self.sockperf_command(pin.map(|p| p.server))?;
        cmd.args(["server", "-i", "127.0.0.1", "-p", &self.port.to_string()]);
        if nonblocked {
            cmd.arg("--nonblocked");
        }
        self.commands.push(self.display(&cmd));
        let mut server = Background::start(&mut cmd)?;
        let deadline = Instant::now() + SERVER_START;
        loop {
            if !server.is_running()? {
                let line = server.line().to_owned();
                let finished = server.kill()?;
                bail!(
                    "`{line}` exited at start: {}",
                    process::tail(&sockperf::strip_ansi(&finished.stdout), 6)
                );
            }
            if port_bound(self.port) {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                bail!(
                    "`{}` did not bind 127.0.0.1:{} within {} s",
                    server.line(),
                    self.port,
                    SERVER_START.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn sockperf_client(
        &mut self,
        mode: &str,
        msg_len: u32,
        seconds: u32,
        pin: Option<Pinning>,
    ) -> Result<Command> {
        let mut cmd = self.sockperf_command(pin.map(|p| p.client))?;
        cmd.args([
            mode,
            "-i",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-m",
            &msg_len.to_string(),
            "-t",
            &seconds.to_string(),
        ]);
        Ok(cmd)
    }

    /// `sockperf ping-pong` against a fresh server; `nonblocked` makes both sides spin.
    pub fn sockperf_ping_pong(
        &mut self,
        msg_len: u32,
        seconds: u32,
        nonblocked: bool,
        pin: Option<Pinning>,
    ) -> Result<PingPong> {
        let server = self.start_server(nonblocked, pin)?;
        let mut client = self.sockperf_client("ping-pong", msg_len, seconds, pin)?;
        if nonblocked {
            client.arg("--nonblocked");
        }
        // On error the server guard is dropped, which kills it.
        let finished = self.run(
            &mut client,
            Duration::from_secs(seconds.into()) + SOCKPERF_SLACK,
        )?;
        server.interrupt(SERVER_STOP)?;
        sockperf::parse_ping_pong(&finished.stdout)
    }

    /// `sockperf throughput` against a fresh server, whose received count is read when it
    /// is stopped.
    pub fn sockperf_throughput(
        &mut self,
        msg_len: u32,
        seconds: u32,
        pin: Option<Pinning>,
    ) -> Result<SockperfRate> {
        let server = self.start_server(false, pin)?;
        let mut client = self.sockperf_client("throughput", msg_len, seconds, pin)?;
        let finished = self.run(
            &mut client,
            Duration::from_secs(seconds.into()) + SOCKPERF_SLACK,
        )?;
        let sent = sockperf::parse_throughput_client(&finished.stdout)?;
        // Let the server drain what is still queued in its socket before it is stopped.
        thread::sleep(Duration::from_millis(100));
        let stopped = server.interrupt(SERVER_STOP)?;
        let received = sockperf::parse_server_received(&stopped.stdout)?;
        Ok(SockperfRate { sent, received })
    }
}

/// A UDP port on 127.0.0.1 that is free right now.
fn free_udp_port() -> Result<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("cannot find a free UDP port")?;
    Ok(socket.local_addr()?.port())
}

/// Whether some socket is bound to 127.0.0.1:`port`; without /proc, a short pause stands
/// in for the check.
fn port_bound(port: u16) -> bool {
    match std::fs::read_to_string("/proc/net/udp") {
        Ok(table) => sockperf::udp_bound(&table, port),
        Err(_) => {
            thread::sleep(Duration::from_millis(500));
            true
        }
    }
}

/// A command-line word as reports show it: a list of hundreds of entries (a cluster of
/// 1025 members) as its first two, its last and how many.
fn abbreviate(word: &str) -> String {
    let entries: Vec<&str> = word.split(',').collect();
    match entries.as_slice() {
        [first, second, .., last] if word.len() > 200 => {
            format!("{first},{second},…,{last} ({} entries)", entries.len())
        }
        _ => word.to_owned(),
    }
}
