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
use crate::report::{Section, Table};

#[derive(Debug, Clone)]
pub struct ReliabilityOpts {
    /// Back-to-back tours of one message.
    pub tours: u32,
    /// Messages of the long tour.
    pub long_tour: u32,
    /// Members of the large ring.
    pub large_ring: u32,
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
    took: Duration,
    stdout: String,
    stderr: String,
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

fn faults(bench: &mut Bench) -> Result<Section> {
    let mark = bench.mark();
    let mut section = Section::new(
        "Faults",
        "A 3-member ring of `stillepostd` processes runs a tour of 200000 messages, window 1 \
         (member timeout 10 s); 1.5 s in, a member is signalled. Time to report is from the \
         signal to the end of `stillepost run`; after each fault the ring is restarted or \
         resumed and a tour of 100 messages shows whether it is usable again.",
    );
    let mut table = Table::new(&[
        "fault",
        "run exit",
        "time to report",
        "what it said",
        "afterwards",
    ]);
    let cases: [(&str, usize, libc::c_int); 4] = [
        ("SIGKILL of a forwarder mid-tour", 1, libc::SIGKILL),
        ("SIGKILL of the origin mid-tour", 0, libc::SIGKILL),
        ("SIGTERM of the origin mid-tour", 0, libc::SIGTERM),
        ("SIGSTOP of a forwarder mid-tour", 1, libc::SIGSTOP),
    ];
    for (name, victim, signal) in cases {
        eprintln!("[reliability faults] {name}");
        let mut ring = Ring::start(bench, 3)?;
        ring.configure(bench, &["--msgcount", "200000", "--window", "1"])?;
        let mut cmd = Command::new(&bench.stillepost.path);
        cmd.args(["--coordinator", &ring.coordinator.control, "run"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        bench.record(&cmd);
        let run = cmd.spawn().context("cannot start stillepost run")?;
        std::thread::sleep(Duration::from_millis(1500));
        ring.members[victim].signal(signal)?;
        let signalled = Instant::now();
        let out = run.wait_with_output()?;
        let took = signalled.elapsed();
        let said = String::from_utf8_lossy(&out.stderr)
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("")
            .chars()
            .take(160)
            .collect::<String>();
        // Bring the member back: resume a stopped one, restart a dead one.
        if signal == libc::SIGSTOP {
            ring.members[victim].signal(libc::SIGCONT)?;
        } else {
            let stillepostd = ring.stillepostd.clone();
            ring.members[victim] = start(
                bench,
                &stillepostd,
                &["member", "--peer-bind", "127.0.0.1:0"],
                "--coord-bind",
            )?;
        }
        ring.configure(bench, &["--msgcount", "100"])?;
        let after = ring.client(bench, &["run", "--json"], Duration::from_secs(60))?;
        let usable = tour_json(&after).map_or_else(
            || first_error(&after),
            |t| {
                format!(
                    "{}, {} of 100",
                    t["outcome"].as_str().unwrap_or("?"),
                    t["messages_received"]
                )
            },
        );
        table.row(vec![
            name.to_owned(),
            out.status.code().map_or("signal".into(), |c| c.to_string()),
            format!("{:.2} s", took.as_secs_f64()),
            format!("`{}`", said.replace('`', "'")),
            usable,
        ]);
    }

    // SIGTERM of an idle, configured member: how long it takes to exit.
    let ring = Ring::start(bench, 2)?;
    ring.configure(bench, &["--msgcount", "10"])?;
    let member = &ring.members[1];
    member.signal(libc::SIGTERM)?;
    let signalled = Instant::now();
    let pid = member.pid();
    while Path::new(&format!("/proc/{pid}/status")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/status"))
            .is_ok_and(|s| !s.contains("State:\tZ"))
        && signalled.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    table.row(vec![
        "SIGTERM of an idle, configured member".into(),
        "-".into(),
        format!("{:.0} ms to exit", signalled.elapsed().as_secs_f64() * 1e3),
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

pub fn run(bench: &mut Bench, opts: &ReliabilityOpts) -> Result<Vec<Section>> {
    Ok(vec![load(bench, opts)?, faults(bench)?, limits(bench)?])
}
