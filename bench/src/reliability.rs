//! `reliability`: faults, bad input and load against real `stillepostd` processes on
//! 127.0.0.1, with what each measured: time to report, memory and descriptors before and
//! after, tours per second; `--write` makes docs/reliability.md of it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench::Bench;
use crate::cli::ReliabilityPart;
use crate::report::{Section, Table};

#[derive(Debug, Clone)]
pub struct ReliabilityOpts {
    /// Back-to-back tours of one message.
    pub tours: u32,
    /// Messages of the long tour.
    pub long_tour: u32,
    /// Members of the large ring.
    pub large_ring: u32,
    /// Seconds of fuzzing per target.
    pub fuzz_seconds: u32,
    /// The parts to run.
    pub parts: Vec<ReliabilityPart>,
}

/// A daemon this bench started; killed when dropped.
struct Daemon {
    child: Child,
    control: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: libc::c_int) -> Result<()> {
        let pid = libc::pid_t::try_from(self.pid()).context("pid out of range")?;
        // SAFETY: kill(2) with the pid of our own child and a valid signal number.
        if unsafe { libc::kill(pid, signal) } != 0 {
            bail!("cannot signal {pid}: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A coordinator and its members, started by the bench.
struct Ring {
    coordinator: Daemon,
    members: Vec<Daemon>,
    stillepostd: PathBuf,
    data_dir: PathBuf,
}

impl Drop for Ring {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `stillepostd args` on a free control port (`flag`), waiting until it listens.
fn start(bench: &mut Bench, stillepostd: &Path, role: &[&str], flag: &str) -> Result<Daemon> {
    let control = format!("127.0.0.1:{}", free_port()?);
    start_on(bench, stillepostd, role, flag, &control)
}

/// Starts `stillepostd args` with control port `flag control`, waiting until it listens.
fn start_on(
    bench: &mut Bench,
    stillepostd: &Path,
    role: &[&str],
    flag: &str,
    control: &str,
) -> Result<Daemon> {
    let control = control.to_owned();
    let mut cmd = Command::new(stillepostd);
    cmd.args(role)
        .args([flag, &control])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    bench.record(&cmd);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", stillepostd.display()))?;
    let started = Instant::now();
    while TcpStream::connect(&control).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("stillepostd {role:?} did not listen on {control} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(Daemon { child, control })
}

impl Ring {
    fn start(bench: &mut Bench, members: usize) -> Result<Ring> {
        let stillepostd = bench.stillepost.path.with_file_name("stillepostd");
        let data_dir = std::env::temp_dir().join(format!(
            "stillepost-reliability-{}-{}",
            std::process::id(),
            free_port()?
        ));
        let dir = data_dir
            .to_str()
            .context("temp dir is not UTF-8")?
            .to_owned();
        let coordinator = start(
            bench,
            &stillepostd,
            &["coordinator", "--data-dir", &dir],
            "--client-bind",
        )?;
        let members = (0..members)
            .map(|_| {
                start(
                    bench,
                    &stillepostd,
                    &["member", "--peer-bind", "127.0.0.1:0"],
                    "--coord-bind",
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Ring {
            coordinator,
            members,
            stillepostd,
            data_dir,
        })
    }

    fn cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| m.control.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn client(&self, bench: &mut Bench, args: &[&str], timeout: Duration) -> Result<ClientRun> {
        let mut all = vec!["--coordinator", self.coordinator.control.as_str()];
        all.extend_from_slice(args);
        let started = Instant::now();
        let finished = bench.client(&all, timeout)?;
        Ok(ClientRun {
            ok: finished.status.success(),
            code: finished.status.code(),
            took: started.elapsed(),
            stdout: finished.stdout,
            stderr: finished.stderr,
        })
    }

    fn configure(&self, bench: &mut Bench, extra: &[&str]) -> Result<()> {
        let cluster = self.cluster();
        let mut args = vec!["configure", "--cluster", cluster.as_str()];
        args.extend_from_slice(extra);
        let run = self.client(bench, &args, Duration::from_secs(30))?;
        if !run.ok {
            bail!("configure failed: {}", run.stderr.trim());
        }
        Ok(())
    }

    /// Memory (kB) and descriptors of the coordinator and every member.
    fn usage(&self) -> Vec<(u64, usize)> {
        std::iter::once(&self.coordinator)
            .chain(&self.members)
            .map(|d| (rss_kb(d.pid()), fds(d.pid())))
            .collect()
    }
}

struct ClientRun {
    ok: bool,
    code: Option<i32>,
    took: Duration,
    stdout: String,
    stderr: String,
}

impl ClientRun {
    /// A client process that ended with `out`, `took` after the moment that counts.
    fn of(out: &std::process::Output, took: Duration) -> ClientRun {
        ClientRun {
            ok: out.status.success(),
            code: out.status.code(),
            took,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Starts `stillepost --coordinator <coordinator> run --json` in the background, its
/// output piped, recorded.
fn spawn_run(bench: &mut Bench, coordinator: &str) -> Result<std::process::Child> {
    let mut cmd = Command::new(&bench.stillepost.path);
    cmd.args(["--coordinator", coordinator, "run", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    bench.record(&cmd);
    cmd.spawn().context("cannot start stillepost run")
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Rows "role, RSS before → after, fds before → after" for a ring's processes.
fn usage_rows(table: &mut Table, scenario: &str, before: &[(u64, usize)], after: &[(u64, usize)]) {
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        let who = if i == 0 {
            "coordinator".to_owned()
        } else {
            format!("member {}", i - 1)
        };
        table.row(vec![
            scenario.to_owned(),
            who,
            format!("{} → {} kB", b.0, a.0),
            format!("{} → {}", b.1, a.1),
        ]);
    }
}

fn tour_json(run: &ClientRun) -> Option<Value> {
    serde_json::from_str(&run.stdout).ok()
}

/// The first line of what a failed run printed on stderr.
fn first_error(run: &ClientRun) -> String {
    run.stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .to_owned()
}

fn load(bench: &mut Bench, opts: &ReliabilityOpts) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new(
        "Load",
        format!(
            "A 4-member ring of `stillepostd` processes runs {} back-to-back tours of one \
             message (`stillepost run --json`, one client process per tour), then one tour of \
             {} messages (window 64); `stillepost local --members {}` runs a ring of {} \
             members in one process. Memory (VmRSS) and open descriptors of every daemon are \
             read from /proc before and after.",
            opts.tours, opts.long_tour, opts.large_ring, opts.large_ring
        ),
    );
    let ring = Ring::start(bench, 4)?;
    ring.configure(bench, &["--msgcount", "1", "--window", "1"])?;
    let before = ring.usage();
    let started = Instant::now();
    let mut complete = 0u32;
    // Memory as the tours go by: does it level off?
    let mut growth = Table::new(&[
        "tours",
        "coordinator",
        "member 0",
        "member 1",
        "member 2",
        "member 3",
    ])
    .caption("Memory (VmRSS, kB) during the back-to-back tours:");
    let step = (opts.tours / 10).max(1);
    for i in 0..opts.tours {
        if i % 1000 == 0 {
            eprintln!("[reliability load] tour {i}/{}", opts.tours);
        }
        let run = ring.client(bench, &["run", "--json"], Duration::from_secs(30))?;
        if run.ok && tour_json(&run).is_some_and(|t| t["outcome"] == "complete") {
            complete += 1;
        }
        if (i + 1) % step == 0 {
            let mut row = vec![(i + 1).to_string()];
            row.extend(ring.usage().iter().map(|(rss, _)| rss.to_string()));
            growth.row(row);
        }
    }
    let elapsed = started.elapsed();
    let after = ring.usage();
    let mut results = Table::new(&["scenario", "result", "time", "rate"]);
    results.row(vec![
        format!("{} tours of 1 message, 4 members", opts.tours),
        format!("{complete} of {} complete", opts.tours),
        format!("{:.1} s", elapsed.as_secs_f64()),
        format!(
            "{:.0} tours/s",
            f64::from(opts.tours) / elapsed.as_secs_f64()
        ),
    ]);
    let mut usage = Table::new(&["scenario", "process", "memory", "descriptors"]);
    usage_rows(&mut usage, "back-to-back tours", &before, &after);

    let count = opts.long_tour.to_string();
    ring.configure(bench, &["--msgcount", &count, "--window", "64"])?;
    let before = ring.usage();
    let run = ring.client(bench, &["run", "--json"], Duration::from_secs(600))?;
    let after = ring.usage();
    let received = tour_json(&run).map_or(0, |t| t["messages_received"].as_u64().unwrap_or(0));
    results.row(vec![
        format!("one tour of {} messages, 4 members", opts.long_tour),
        format!("{received} of {} received", opts.long_tour),
        format!("{:.1} s", run.took.as_secs_f64()),
        format!("{:.0} msg/s", received as f64 / run.took.as_secs_f64()),
    ]);
    usage_rows(&mut usage, "long tour", &before, &after);
    drop(ring);

    let members = opts.large_ring.to_string();
    let started = Instant::now();
    let finished = bench.client(
        &[
            "local",
            "--members",
            &members,
            "--msgcount",
            "1000",
            "--json",
        ],
        Duration::from_secs(300),
    )?;
    let outcome =
        serde_json::from_str::<Value>(&finished.stdout)
            .ok()
            .map_or("no result".to_owned(), |d| {
                format!(
                    "{}, {} of 1000 received",
                    d["tours"][0]["outcome"].as_str().unwrap_or("?"),
                    d["tours"][0]["messages_received"]
                )
            });
    results.row(vec![
        format!(
            "a ring of {} members (`local`), 1000 messages",
            opts.large_ring
        ),
        outcome,
        format!("{:.1} s", started.elapsed().as_secs_f64()),
        String::new(),
    ]);
    section.tables = vec![results, usage, growth];
    section.commands = bench.commands_since(mark);
    Ok(section)
}

/// Whom a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Member 1.
    Forwarder,
    /// Member 0.
    Origin,
    Coordinator,
}

/// When, relative to a tour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The ring configured, no tour yet: the next `run` meets the fault.
    Before,
    /// 1.5 s into a tour of 200000 messages at window 1.
    During,
    /// After a complete tour: the next `run` meets the fault.
    After,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Forwarder => "forwarder",
            Target::Origin => "origin",
            Target::Coordinator => "coordinator",
        }
    }
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Before => "before a tour",
            Phase::During => "during a tour",
            Phase::After => "after a tour",
        }
    }
}

fn signal_name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTOP => "SIGSTOP",
        _ => "?",
    }
}

/// Waits up to 10 s for `pid` to exit (or become a zombie); how long it took, if it did.
fn exit_time(pid: u32, since: Instant) -> Option<Duration> {
    while since.elapsed() < Duration::from_secs(10) {
        let gone = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_or(true, |s| s.contains("State:\tZ"));
        if gone {
            return Some(since.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// What a client run ended with: its outcome, or its error.
fn said(run: &ClientRun) -> String {
    if run.ok {
        return tour_json(run).map_or_else(
            || "(succeeded)".to_owned(),
            |t| {
                format!(
                    "{}, {} of {} received",
                    t["outcome"].as_str().unwrap_or("?"),
                    t["messages_received"],
                    t["messages_sent"]
                )
            },
        );
    }
    let error = first_error(run);
    if error.is_empty() {
        // `run --json` prints the failed tour's document on stdout.
        return tour_json(run).map_or_else(String::new, |t| {
            format!("error: {}", t["error"].as_str().unwrap_or(""))
        });
    }
    error
}

/// One cell of the fault matrix: a fresh 3-member ring, the fault, what `run` said and
/// how fast, then the ring brought back (resumed, or the process restarted) and a tour of
/// 100 messages to show whether it is usable.
fn fault(
    bench: &mut Bench,
    target: Target,
    signal: libc::c_int,
    phase: Phase,
) -> Result<Vec<String>> {
    let mut ring = Ring::start(bench, 3)?;
    let long = phase == Phase::During;
    ring.configure(
        bench,
        if long {
            &["--msgcount", "200000", "--window", "1"]
        } else {
            &["--msgcount", "100"]
        },
    )?;
    let mut earlier = None;
    if phase == Phase::After {
        let first = ring.client(bench, &["run", "--json"], Duration::from_secs(60))?;
        earlier = tour_json(&first).and_then(|t| t["tour_id"].as_str().map(str::to_owned));
    }
    let victim = match target {
        Target::Forwarder => &ring.members[1],
        Target::Origin => &ring.members[0],
        Target::Coordinator => &ring.coordinator,
    };
    let pid = victim.pid();
    let (run, signalled) = if long {
        let control = ring.coordinator.control.clone();
        let child = spawn_run(bench, &control)?;
        std::thread::sleep(Duration::from_millis(1500));
        victim.signal(signal)?;
        let signalled = Instant::now();
        let out = child.wait_with_output()?;
        (ClientRun::of(&out, signalled.elapsed()), signalled)
    } else {
        victim.signal(signal)?;
        let signalled = Instant::now();
        let mut run = ring.client(bench, &["run", "--json"], Duration::from_secs(60))?;
        run.took = signalled.elapsed();
        (run, signalled)
    };
    let exited = (signal == libc::SIGTERM)
        .then(|| exit_time(pid, signalled))
        .flatten();

    // Bring the victim back: resume a stopped one, restart a dead one (a coordinator on
    // its port and data directory, so it takes up its ring; a member on a new port, so the
    // ring is configured again).
    let mut restored = String::new();
    if signal == libc::SIGSTOP {
        ring.members
            .iter()
            .chain(std::iter::once(&ring.coordinator))
            .filter(|d| d.pid() == pid)
            .try_for_each(|d| d.signal(libc::SIGCONT))?;
    } else if target == Target::Coordinator {
        let dir = ring
            .data_dir
            .to_str()
            .context("temp dir is not UTF-8")?
            .to_owned();
        let stillepostd = ring.stillepostd.clone();
        let control = ring.coordinator.control.clone();
        ring.coordinator = start_on(
            bench,
            &stillepostd,
            &["coordinator", "--data-dir", &dir],
            "--client-bind",
            &control,
        )?;
        let status = ring.client(bench, &["status", "--json"], Duration::from_secs(30))?;
        restored = serde_json::from_str::<Value>(&status.stdout).ok().map_or(
            "status failed; ".to_owned(),
            |s| {
                if s["configured"] == true {
                    "ring restored; ".to_owned()
                } else {
                    "ring not restored; ".to_owned()
                }
            },
        );
    } else {
        let index = usize::from(target == Target::Forwarder);
        let stillepostd = ring.stillepostd.clone();
        ring.members[index] = start(
            bench,
            &stillepostd,
            &["member", "--peer-bind", "127.0.0.1:0"],
            "--coord-bind",
        )?;
    }
    // A resumed coordinator finishes the tour it was driving: the ring is busy until then.
    let resumed = Instant::now();
    let cluster = ring.cluster();
    let configured = loop {
        let configured = ring.client(
            bench,
            &["configure", "--cluster", &cluster, "--msgcount", "100"],
            Duration::from_secs(60),
        )?;
        if configured.ok
            || !configured.stderr.contains("ring busy")
            || resumed.elapsed() > Duration::from_secs(60)
        {
            break configured;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if resumed.elapsed() > Duration::from_secs(1) {
        restored.push_str(&format!(
            "busy {:.1} s finishing the tour it resumed; ",
            resumed.elapsed().as_secs_f64()
        ));
    }
    let afterwards = if configured.ok {
        let next = ring.client(bench, &["run", "--json"], Duration::from_secs(60))?;
        said(&next)
    } else {
        format!("configure: {}", first_error(&configured))
    };
    let mut afterwards = format!("{restored}{afterwards}");
    if let Some(id) = earlier {
        let report = ring.client(bench, &["report", &id], Duration::from_secs(30))?;
        afterwards.push_str(if report.ok {
            "; the earlier tour's result exports"
        } else {
            "; the earlier tour's result is gone"
        });
    }
    Ok(vec![
        format!("{} of the {}", signal_name(signal), target.name()),
        phase.name().to_owned(),
        run.code.map_or("signal".into(), |c| c.to_string()),
        format!("{:.2} s", run.took.as_secs_f64()),
        exited.map_or_else(String::new, |d| format!("{:.0} ms", d.as_secs_f64() * 1e3)),
        format!("`{}`", said(&run).replace('`', "'")),
        afterwards,
    ])
}

/// A ring in network namespaces (a coordinator in the hub, a member per namespace, with a
/// token: they listen on the lab's addresses), for the link cut. Daemons go before the lab.
struct NsRing {
    coordinator: Option<Daemon>,
    members: Vec<Daemon>,
    token_file: PathBuf,
    data_dir: PathBuf,
    lab: crate::lab::netns::Lab,
}

impl Drop for NsRing {
    fn drop(&mut self) {
        self.members.clear();
        self.coordinator = None;
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl NsRing {
    fn start(bench: &mut Bench, lab: crate::lab::netns::Lab, n: usize) -> Result<NsRing> {
        let stillepostd = bench.stillepost.path.with_file_name("stillepostd");
        let data_dir = std::env::temp_dir().join(format!(
            "stillepost-reliability-ns-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&data_dir)?;
        let token_file = data_dir.join("token");
        std::fs::write(&token_file, "reliability-link-cut-token\n")?;
        let token = token_file
            .to_str()
            .context("temp dir is not UTF-8")?
            .to_owned();
        let results = data_dir.join("results");
        let results = results
            .to_str()
            .context("temp dir is not UTF-8")?
            .to_owned();
        let mut spawn = |ns: &str, args: &[&str], control: String| -> Result<Daemon> {
            let mut cmd = lab.command(ns, &stillepostd);
            cmd.args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            bench.record(&cmd);
            let child = cmd
                .spawn()
                .context("cannot start stillepostd in a namespace")?;
            Ok(Daemon { child, control })
        };
        let control = format!("{}:7000", lab.hub_ip());
        let coordinator = spawn(
            &lab.hub(),
            &[
                "coordinator",
                "--client-bind",
                &control,
                "--token-file",
                &token,
                "--data-dir",
                &results,
            ],
            control.clone(),
        )?;
        let mut members = Vec::new();
        for i in 0..n {
            let control = format!("{}:7001", lab.ip(i));
            let peer = format!("{}:7101", lab.ip(i));
            members.push(spawn(
                &lab.member(i),
                &[
                    "member",
                    "--coord-bind",
                    &control,
                    "--peer-bind",
                    &peer,
                    "--token-file",
                    &token,
                ],
                control.clone(),
            )?);
        }
        Ok(NsRing {
            coordinator: Some(coordinator),
            members,
            token_file,
            data_dir,
            lab,
        })
    }

    /// `stillepost args` in the hub, against the ring's coordinator.
    fn client(&self, bench: &Bench, args: &[&str]) -> Command {
        let mut cmd = self.lab.command(&self.lab.hub(), &bench.stillepost.path);
        cmd.arg("--coordinator")
            .arg(format!("{}:7000", self.lab.hub_ip()))
            .arg("--token-file")
            .arg(&self.token_file)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Configures the ring, retrying while the daemons start or a link comes back (20 s).
    fn configure(&self, bench: &mut Bench, extra: &[&str]) -> Result<()> {
        let cluster = self
            .members
            .iter()
            .map(|m| m.control.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut args = vec!["configure", "--cluster", cluster.as_str()];
        args.extend_from_slice(extra);
        let mut cmd = self.client(bench, &args);
        bench.record(&cmd);
        let started = Instant::now();
        loop {
            let out = cmd.output()?;
            if out.status.success() {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!(
                    "configure in the namespace ring failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Member 1's link cut (its veth set down) 1.5 s into a tour of 200000 messages at window
/// 1 in a namespace ring, then restored: a row of the fault table, or why it did not run.
fn link_cut(bench: &mut Bench) -> Result<Vec<String>> {
    let name = "link of the forwarder cut (veth down)".to_owned();
    let Some(lab) = crate::lab::netns::Lab::new(3) else {
        return Ok(vec![
            name,
            "during a tour".into(),
            String::new(),
            String::new(),
            String::new(),
            "not run: no namespace lab here (needs root and iproute2)".into(),
            String::new(),
        ]);
    };
    let ring = NsRing::start(bench, lab, 3)?;
    ring.configure(bench, &["--msgcount", "200000", "--window", "1"])?;
    let mut cmd = ring.client(bench, &["run", "--json"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    bench.record(&cmd);
    let run = cmd.spawn().context("cannot start stillepost run")?;
    std::thread::sleep(Duration::from_millis(1500));
    let member = ring.lab.member(1);
    ring.lab
        .in_ns(&member, &["ip", "link", "set", "m1", "down"])
        .map_err(anyhow::Error::msg)?;
    let cut = Instant::now();
    let out = run.wait_with_output()?;
    let took = cut.elapsed();
    ring.lab
        .in_ns(&member, &["ip", "link", "set", "m1", "up"])
        .map_err(anyhow::Error::msg)?;
    let run = ClientRun::of(&out, took);
    ring.configure(bench, &["--msgcount", "100"])?;
    let mut cmd = ring.client(bench, &["run", "--json"]);
    bench.record(&cmd);
    let next = ClientRun::of(&cmd.output()?, Duration::ZERO);
    Ok(vec![
        name,
        "during a tour".into(),
        run.code.map_or("signal".into(), |c| c.to_string()),
        format!("{:.2} s", run.took.as_secs_f64()),
        String::new(),
        format!("`{}`", said(&run).replace('`', "'")),
        format!("link up again; {}", said(&next)),
    ])
}

fn faults(bench: &mut Bench) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new(
        "Faults",
        "Every process of a 3-member ring of `stillepostd` processes (the origin, a \
         forwarder, the coordinator) is sent SIGKILL, SIGTERM and SIGSTOP before a tour \
         (the ring configured for 100 messages, then `stillepost run`), during one (1.5 s \
         into a tour of 200000 messages at window 1, member timeout 10 s) and after one (a \
         complete tour of 100 messages, then `stillepost run`). \"Time to report\" runs from \
         the signal to the end of that `stillepost run`; \"exit\" is how long a SIGTERMed \
         process took to exit. Then the process is resumed (SIGCONT) or started again (a \
         coordinator on its port and data directory; a member on a new port), the ring is \
         configured for 100 messages and a tour run: \"afterwards\" says how it went, \
         whether a restarted coordinator took up its ring, and whether the result of the \
         tour before the fault still exports. The link cut runs the ring in network \
         namespaces (a member per namespace, veth pairs to a bridge, 198.18.0.0/24, as \
         client/tests/netns.rs) and sets member 1's veth down 1.5 s into the tour, then up \
         again.",
    );
    let mut table = Table::new(&[
        "fault",
        "when",
        "run exit",
        "time to report",
        "exit",
        "what run said",
        "afterwards",
    ]);
    for target in [Target::Forwarder, Target::Origin, Target::Coordinator] {
        for signal in [libc::SIGKILL, libc::SIGTERM, libc::SIGSTOP] {
            for phase in [Phase::Before, Phase::During, Phase::After] {
                eprintln!(
                    "[reliability faults] {} of the {} {}",
                    signal_name(signal),
                    target.name(),
                    phase.name()
                );
                table.row(fault(bench, target, signal, phase)?);
            }
        }
    }

    eprintln!("[reliability faults] link of the forwarder cut during a tour");
    table.row(link_cut(bench)?);

    // SIGTERM of an idle, configured member: how long it takes to exit.
    let ring = Ring::start(bench, 2)?;
    ring.configure(bench, &["--msgcount", "10"])?;
    let member = &ring.members[1];
    member.signal(libc::SIGTERM)?;
    let exited = exit_time(member.pid(), Instant::now());
    table.row(vec![
        "SIGTERM of an idle, configured member".into(),
        "no tour".into(),
        "-".into(),
        "-".into(),
        exited.map_or("did not exit within 10 s".into(), |d| {
            format!("{:.0} ms", d.as_secs_f64() * 1e3)
        }),
        String::new(),
        String::new(),
    ]);
    section.tables = vec![table];
    section.commands = bench.commands_since(mark);
    Ok(section)
}

fn limits(bench: &mut Bench) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new(
        "Limits",
        "What a caller can make a daemon hold, and what happens at each limit (the refusals \
         are run here; the other limits are the daemons' settings, docs/architecture.md).",
    );
    let ring = Ring::start(bench, 1)?;
    let too_many: Vec<String> = (0..1025)
        .map(|i| format!("127.0.{}.{}:{}", i / 250, i % 250 + 1, 7001 + i))
        .collect();
    let cluster = too_many.join(",");
    let refused = ring.client(
        bench,
        &["configure", "--cluster", &cluster],
        Duration::from_secs(30),
    )?;
    let mut table = Table::new(&["limit", "value", "beyond it"]);
    table.row(vec![
        "members in a ring".into(),
        "1024".into(),
        format!("`{}`", first_error(&refused)),
    ]);
    for (limit, value, beyond) in [
        (
            "request size",
            "1 MiB",
            "refused by gRPC with OutOfRange before it is held",
        ),
        (
            "calls in flight per connection",
            "64",
            "further calls wait for one to end",
        ),
        (
            "connection age",
            "10 min (+1 min grace)",
            "closed gracefully; callers reconnect",
        ),
        (
            "idle peer",
            "HTTP/2 ping every 30 s, 10 s to answer; TCP keepalive 30 s",
            "the connection is closed",
        ),
        (
            "a peer silent during a call",
            "HTTP/2 ping every 1 s while a call is in flight, 2 s to answer",
            "the call fails, naming the peer as stopped or hung (the fault table)",
        ),
        (
            "open files",
            "raised to the hard limit at start",
            "idle connections cannot use up a soft limit of 1024",
        ),
        (
            "stored results",
            "newest 1000, at most 90 days (--keep-tours, --keep-days)",
            "older ones are removed at start and after every tour, pinned ones stay",
        ),
    ] {
        table.row(vec![limit.into(), value.into(), beyond.into()]);
    }
    section.tables = vec![table];
    section.commands = bench.commands_since(mark);
    Ok(section)
}

/// Junk datagrams aimed at every member while a tour runs: the tour must stay exact, and
/// every junk datagram be counted by the member it reached (or by its kernel).
fn junk_blast(bench: &mut Bench) -> Result<Section> {
    const COUNT: &str = "100000";
    const JUNK_PER_MEMBER: u64 = 20_000;
    let mark = bench.mark();
    let mut section = Section::new(
        "Bad input",
        format!(
            "While a 3-member ring runs a tour of {COUNT} messages (window 8), a UDP socket \
             sends {JUNK_PER_MEMBER} junk datagrams to every member's peer socket \
             (`stillepost_fuzz::Junk`: random bytes, truncated headers, the running tour's \
             own data untagged, 65535 fragments, a fragment index beyond its count, a \
             length of 0xFFFFFFFF, untagged clock probes and echo requests). \"counted\" is \
             the growth of the member's lifetime rejection counters (`status --json`), \
             \"kernel\" what its socket dropped; together they must be every junk datagram."
        ),
    );
    let ring = Ring::start(bench, 3)?;
    ring.configure(bench, &["--msgcount", COUNT, "--window", "8"])?;
    let status = |bench: &mut Bench, ring: &Ring| -> Result<Value> {
        let run = ring.client(bench, &["status", "--json"], Duration::from_secs(30))?;
        serde_json::from_str(&run.stdout).context("status --json is not JSON")
    };
    let before = status(bench, &ring)?;
    let rss_before: Vec<u64> = ring.members.iter().map(|m| rss_kb(m.pid())).collect();
    let control = ring.coordinator.control.clone();
    let run = spawn_run(bench, &control)?;
    let started = Instant::now();
    let tour_id = loop {
        let now = status(bench, &ring)?;
        if let Some(id) = now["running_tour"].as_str() {
            break u64::from_str_radix(id, 16).context("running_tour is not hex")?;
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("the tour did not start within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let peers: Vec<String> = before["members"]
        .as_array()
        .context("status has no members")?
        .iter()
        .map(|m| m["peer_endpoint"].as_str().unwrap_or_default().to_owned())
        .collect();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let mut junk = stillepost_fuzz::Junk::new(tour_id);
    for i in 0..JUNK_PER_MEMBER {
        for peer in &peers {
            socket.send_to(&junk.datagram(), peer.as_str())?;
        }
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let blasted = started.elapsed();
    let out = run.wait_with_output()?;
    let ran = started.elapsed();
    let tour: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let after = status(bench, &ring)?;
    let rejected = |s: &Value, i: usize| -> u64 {
        stillepost_fuzz::REJECTED
            .iter()
            .map(|name| s["members"][i]["lifetime"][*name].as_u64().unwrap_or(0))
            .sum()
    };
    let mut table = Table::new(&[
        "member",
        "junk sent",
        "counted",
        "kernel",
        "all accounted for",
        "memory",
    ])
    .caption(format!(
        "The tour: {}, {} of {COUNT} messages received; the junk went out in its first \
         {:.1} s, the tour (and `run`) ended after {:.1} s.",
        tour["outcome"].as_str().unwrap_or("no result"),
        tour["messages_received"],
        blasted.as_secs_f64(),
        ran.as_secs_f64()
    ));
    for (i, member) in ring.members.iter().enumerate() {
        let counted = rejected(&after, i).saturating_sub(rejected(&before, i));
        let kernel = tour["members"][i]["socket_drops"].as_u64().unwrap_or(0);
        table.row(vec![
            i.to_string(),
            JUNK_PER_MEMBER.to_string(),
            counted.to_string(),
            kernel.to_string(),
            if counted + kernel == JUNK_PER_MEMBER {
                "yes".to_owned()
            } else {
                format!(
                    "no: {} missing",
                    JUNK_PER_MEMBER.saturating_sub(counted + kernel)
                )
            },
            format!("{} → {} kB", rss_before[i], rss_kb(member.pid())),
        ]);
    }
    section.tables = vec![table];
    section.commands = bench.commands_since(mark);
    Ok(section)
}

/// Coverage-guided fuzzing of every target for `seconds` each (`fuzz/run`), with what
/// AFL++ reports for each.
fn fuzz(bench: &mut Bench, seconds: u32) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new(
        "Fuzzing",
        format!(
            "AFL++ (through cargo-afl, on stable Rust) fuzzes each harness of the `stillepost-fuzz` crate for {seconds} s with coverage guidance, starting from its seeds: `datagrams` (a member's whole receive path, as a forwarder or the origin, with or without a ring key, GRO receives and fragments), `reassembly`, `control_data` (the kernel's control messages and source addresses), `stored` (the coordinator's result files, its kept ring, HdrHistogram bytes) and `heartbeats` (members' multicast announcements as the coordinator reads them). A crash is kept in fuzz/regressions and replayed by `cargo test` from then on; `cargo test` also runs property tests over the same harnesses (fuzz/tests)."
        ),
    );
    let script = Path::new("fuzz/run");
    if !script.exists() {
        bail!("fuzz/run is missing: run stillepost-bench from the workspace root");
    }
    let mut cmd = Command::new(script);
    cmd.arg(seconds.to_string());
    bench.record(&cmd);
    let finished =
        crate::process::run_bounded(&mut cmd, Duration::from_secs(u64::from(seconds) * 4 + 1200))?;
    let mut table = Table::new(&["target", "executions", "corpus", "edges", "crashes"]);
    for line in finished.stdout.lines() {
        // "fuzz/run: T: N executions, C inputs in the corpus, E edges, K crashes"
        let Some((target, figures)) = line
            .strip_prefix("fuzz/run: ")
            .and_then(|l| l.split_once(": "))
        else {
            continue;
        };
        let numbers: Vec<&str> = figures
            .split(", ")
            .filter_map(|f| f.split_whitespace().next())
            .collect();
        if let [execs, corpus, edges, crashes] = numbers.as_slice() {
            table.row(vec![
                format!("`{target}`"),
                (*execs).to_owned(),
                (*corpus).to_owned(),
                (*edges).to_owned(),
                (*crashes).to_owned(),
            ]);
        }
    }
    if !finished.status.success() {
        bail!(
            "fuzz/run failed ({}): {}",
            finished.status,
            finished.stderr.trim()
        );
    }
    section.tables = vec![table];
    section.commands = bench.commands_since(mark);
    Ok(section)
}

pub fn run(bench: &mut Bench, opts: &ReliabilityOpts) -> Result<Vec<Section>> {
    let mut sections = Vec::new();
    for part in &opts.parts {
        sections.push(match part {
            ReliabilityPart::Load => load(bench, opts)?,
            ReliabilityPart::Faults => faults(bench)?,
            ReliabilityPart::BadInput => junk_blast(bench)?,
            ReliabilityPart::Fuzz => fuzz(bench, opts.fuzz_seconds)?,
            ReliabilityPart::Limits => limits(bench)?,
        });
    }
    Ok(sections)
}
