//! `stillepost-bench`: side-by-side benchmarks of Stillepost against sockperf and between
//! its backends, and microbenchmarks of the sans-IO core. Every figure printed is measured
//! in this run; nothing is written to docs by hand.

mod backends;
mod bench;
mod doc;
mod host;
mod jumbo;
mod latency;
mod machine;
mod process;
mod report;
mod scaling;
mod sockperf;
mod stillepost;
mod throughput;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use stillepost_engine::wire::HEADER_LEN;

use crate::backends::BackendsOpts;
use crate::bench::{Bench, Setup};
use crate::doc::RunInfo;
use crate::latency::LatencyOpts;
use crate::report::Section;
use crate::scaling::ScalingOpts;
use crate::stillepost::Poll;
use crate::throughput::ThroughputOpts;

/// Benchmarks of Stillepost: against sockperf on 127.0.0.1 (latency, throughput), between
/// its backends, as the ring grows, and of its state machine alone.
///
/// Peer and Stillepost runs alternate in one invocation; every table gives the ratio
/// Stillepost / peer and every target PASS or MISS. Exit status: 0 when every benchmark ran,
/// whatever its verdicts; 1 when one could not run; 2 on a usage error.
#[derive(Debug, Parser)]
#[command(name = "stillepost-bench", version, about, long_about)]
struct Cli {
    /// The stillepost client binary [default: `stillepost` next to this executable]
    #[arg(long, global = true, value_name = "PATH")]
    stillepost: Option<PathBuf>,
    /// The sockperf binary [default: `sockperf` in PATH]
    #[arg(long, global = true, value_name = "PATH")]
    sockperf: Option<PathBuf>,
    /// If sockperf is missing, run `apt-get install -y sockperf` (only as root)
    #[arg(long, global = true)]
    install: bool,
    /// Longest one `stillepost local` run may take before it is killed, in seconds
    #[arg(long, global = true, value_name = "SECS", default_value_t = 300)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Cost of the tour state machine per datagram: decode, checks, bookkeeping and the
    /// in-place header rewrite a forwarder does, with no socket involved.
    Machine {
        /// Datagrams per measurement.
        #[arg(long, default_value_t = 1_000_000)]
        datagrams: u32,
        /// Message length in bytes.
        #[arg(long, default_value_t = HEADER_LEN as u32)]
        msg_len: u32,
        /// Measurements; the best is reported (the least disturbed by the machine).
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
    /// Latency: sockperf ping-pong (UDP, 64 B, RTT/2) against a 2-member ring with window 1
    /// (tour latency / 2), at p50, p99 and p99.9.
    Latency(LatencyArgs),
    /// Throughput: messages per second one member of a 2-member ring forwards against the
    /// rate a sockperf server receives in sockperf's throughput mode.
    Throughput(ThroughputArgs),
    /// The io_uring backend against the syscall backend on the latency (block) and
    /// throughput scenarios.
    Backends(BackendsArgs),
    /// Tour latency and cost per hop for growing rings (block mode, window 1).
    Scaling(ScalingArgs),
    /// Goodput of 1 MiB messages per hop of a 2-member ring against iperf3's UDP receiver
    /// goodput (`-l 65000`), then in 1472-byte datagrams with and without GSO/GRO against
    /// `iperf3 -l 1472`; with --write, puts its section into the report.
    Jumbo(JumboArgs),
    /// All of the above (latency in both poll modes, jumbo with its defaults); with --write,
    /// regenerates the report.
    All(AllArgs),
}

/// Poll modes for the latency benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PollChoice {
    /// sockperf with blocking sockets (its default), Stillepost with --poll block.
    Block,
    /// sockperf with --nonblocked (client and server), Stillepost with --poll spin.
    Spin,
    /// Block, then spin.
    Both,
}

impl PollChoice {
    fn modes(self) -> Vec<Poll> {
        match self {
            PollChoice::Block => vec![Poll::Block],
            PollChoice::Spin => vec![Poll::Spin],
            PollChoice::Both => vec![Poll::Block, Poll::Spin],
        }
    }
}

#[derive(Debug, Args)]
struct LatencyArgs {
    /// Poll mode to compare in.
    #[arg(long, value_enum, default_value_t = PollChoice::Both)]
    poll: PollChoice,
    /// Rounds; each runs Stillepost, then sockperf.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds per sockperf run (its -t).
    #[arg(long, default_value_t = 3)]
    seconds: u32,
    /// Messages per Stillepost tour.
    #[arg(long, default_value_t = 100_000)]
    messages: u32,
    /// Cores for the members, comma-separated, passed to `stillepost local --cpus` (origin
    /// first). Default: Stillepost's own choice.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    cpus: Option<Vec<u32>>,
    /// Leave sockperf unpinned. By default its client is pinned (taskset) to the core the
    /// origin reported and its server to member 1's, so both tools have the same placement.
    #[arg(long)]
    no_pin: bool,
}

#[derive(Debug, Args)]
struct JumboArgs {
    /// Message length in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    msg_len: u32,
    /// Messages per Stillepost tour.
    #[arg(long, default_value_t = 1000)]
    messages: u32,
    /// Messages the origin keeps in flight.
    #[arg(long, default_value_t = 1)]
    window: u32,
    /// Rounds; each runs Stillepost, then iperf3.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds per iperf3 run (its -t).
    #[arg(long, default_value_t = 3)]
    seconds: u32,
    /// Leave iperf3 unpinned.
    #[arg(long)]
    no_pin: bool,
    /// Put this section into that report (replacing an earlier jumbo section), e.g.
    /// docs/benchmarks.md.
    #[arg(long, value_name = "PATH")]
    write: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct ThroughputArgs {
    /// Message sizes in bytes, comma-separated (64 at least: Stillepost's header).
    #[arg(long, value_delimiter = ',', default_value = "64,1400")]
    sizes: Vec<u32>,
    /// Rounds; each runs Stillepost, then sockperf, per size.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds per sockperf run (its -t).
    #[arg(long, default_value_t = 3)]
    seconds: u32,
    /// Messages per Stillepost tour.
    #[arg(long, default_value_t = 200_000)]
    messages: u32,
    /// Messages the origin keeps in flight.
    #[arg(long, default_value_t = 256)]
    window: u32,
    /// Cores for the members, comma-separated, passed to `stillepost local --cpus` (origin
    /// first). Default: Stillepost's own choice.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    cpus: Option<Vec<u32>>,
    /// Leave sockperf unpinned. By default its client is pinned (taskset) to the core the
    /// origin reported and its server to member 1's, so both tools have the same placement.
    #[arg(long)]
    no_pin: bool,
}

#[derive(Debug, Args)]
struct BackendsArgs {
    /// Rounds; each runs both backends on every scenario.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Messages per tour in the latency scenario.
    #[arg(long, default_value_t = 100_000)]
    latency_messages: u32,
    /// Messages per tour in the throughput scenario.
    #[arg(long, default_value_t = 200_000)]
    throughput_messages: u32,
    /// Messages in flight in the throughput scenario.
    #[arg(long, default_value_t = 256)]
    window: u32,
    /// Message sizes of the throughput scenario, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,1400")]
    sizes: Vec<u32>,
}

#[derive(Debug, Args)]
struct ScalingArgs {
    /// Ring sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8,16")]
    members: Vec<u32>,
    /// Rounds; each runs every ring size.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Messages per tour.
    #[arg(long, default_value_t = 10_000)]
    messages: u32,
}

#[derive(Debug, Args)]
struct AllArgs {
    /// Write the report (Markdown) to this file, e.g. docs/benchmarks.md.
    #[arg(long, value_name = "PATH")]
    write: Option<PathBuf>,
    /// Rounds of every benchmark.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds per sockperf run.
    #[arg(long, default_value_t = 3)]
    seconds: u32,
    /// Messages per tour in the latency scenarios.
    #[arg(long, default_value_t = 100_000)]
    latency_messages: u32,
    /// Messages per tour in the throughput scenarios.
    #[arg(long, default_value_t = 200_000)]
    throughput_messages: u32,
    /// Messages per tour in the scaling scenario.
    #[arg(long, default_value_t = 10_000)]
    scaling_messages: u32,
    /// Messages in flight in the throughput scenarios.
    #[arg(long, default_value_t = 256)]
    window: u32,
    /// Message sizes of the throughput scenarios, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,1400")]
    sizes: Vec<u32>,
    /// Ring sizes of the scaling scenario, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8,16")]
    members: Vec<u32>,
    /// Leave sockperf unpinned (see `latency --no-pin`).
    #[arg(long)]
    no_pin: bool,
}

fn at_least_one(values: &[(&str, u32)]) -> Result<()> {
    for (flag, value) in values {
        if *value == 0 {
            bail!("{flag} must be at least 1");
        }
    }
    Ok(())
}

/// The bench's own command line, as reports show it.
fn invocation() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut cmd =
        std::process::Command::new(args.first().map_or("stillepost-bench", String::as_str));
    cmd.args(args.iter().skip(1));
    let line = process::command_line(&cmd);
    match std::env::current_dir() {
        Ok(cwd) => line.replace(&format!("{}/", cwd.display()), ""),
        Err(_) => line,
    }
}

/// Runs one scenario; in `all` a failure becomes a section that says so.
fn or_failed(title: &str, result: Result<Vec<Section>>, failed: &mut bool) -> Vec<Section> {
    result.unwrap_or_else(|error| {
        eprintln!("{title} failed: {error:#}");
        *failed = true;
        let mut section = Section::new(format!("{title}: failed"), "");
        section.note(format!("error: {error:#}"));
        vec![section]
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    let setup = Setup {
        stillepost: cli.stillepost,
        sockperf: cli.sockperf,
        install: cli.install,
        timeout: Duration::from_secs(cli.timeout),
    };
    let all = match cli.command {
        Command::Machine {
            datagrams,
            msg_len,
            runs,
        } => {
            machine::run(datagrams, msg_len, runs)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::All(all) => all,
        single => return run_single(single, &setup),
    };
    at_least_one(&[
        ("--rounds", all.rounds),
        ("--seconds", all.seconds),
        ("--latency-messages", all.latency_messages),
        ("--throughput-messages", all.throughput_messages),
        ("--scaling-messages", all.scaling_messages),
        ("--window", all.window),
    ])?;
    throughput::check_sizes(&all.sizes)?;
    let mut bench = Bench::open(&setup)?;
    let info_before = (host::now_utc(), host::load_average());
    let mut failed = false;
    let mut sections = Vec::new();
    let latency = LatencyOpts {
        modes: PollChoice::Both.modes(),
        rounds: all.rounds,
        seconds: all.seconds,
        messages: all.latency_messages,
        cpus: None,
        no_pin: all.no_pin,
    };
    sections.extend(or_failed(
        "Latency",
        latency::run(&mut bench, &latency),
        &mut failed,
    ));
    let throughput = ThroughputOpts {
        sizes: all.sizes.clone(),
        rounds: all.rounds,
        seconds: all.seconds,
        messages: all.throughput_messages,
        window: all.window,
        cpus: None,
        no_pin: all.no_pin,
    };
    sections.extend(or_failed(
        "Throughput",
        throughput::run(&mut bench, &throughput).map(|s| vec![s]),
        &mut failed,
    ));
    let backends = BackendsOpts {
        rounds: all.rounds,
        latency_messages: all.latency_messages,
        throughput_messages: all.throughput_messages,
        window: all.window,
        sizes: all.sizes,
    };
    sections.extend(or_failed(
        "Backends",
        backends::run(&mut bench, &backends).map(|s| vec![s]),
        &mut failed,
    ));
    let scaling = ScalingOpts {
        members: all.members,
        rounds: all.rounds,
        messages: all.scaling_messages,
    };
    sections.extend(or_failed(
        "Scaling",
        scaling::run(&mut bench, &scaling).map(|s| vec![s]),
        &mut failed,
    ));
    let jumbo = jumbo::JumboOpts {
        msg_len: 1 << 20,
        messages: 1000,
        window: 1,
        rounds: all.rounds,
        seconds: all.seconds,
        no_pin: all.no_pin,
    };
    sections.extend(or_failed(
        "Jumbo",
        jumbo::run(&mut bench, &jumbo).map(|s| vec![s]),
        &mut failed,
    ));
    let info = RunInfo {
        invocation: invocation(),
        date: info_before.0,
        load_before: info_before.1,
        load_after: host::load_average(),
    };
    let text = doc::document(&bench, &info, &sections);
    print!("{text}");
    if let Some(path) = &all.write {
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn run_single(command: Command, setup: &Setup) -> Result<ExitCode> {
    let date = host::now_utc();
    let load_before = host::load_average();
    let mut bench;
    let sections = match command {
        Command::Latency(args) => {
            at_least_one(&[
                ("--rounds", args.rounds),
                ("--seconds", args.seconds),
                ("--messages", args.messages),
            ])?;
            bench = Bench::open(setup)?;
            let opts = LatencyOpts {
                modes: args.poll.modes(),
                rounds: args.rounds,
                seconds: args.seconds,
                messages: args.messages,
                cpus: args.cpus,
                no_pin: args.no_pin,
            };
            latency::run(&mut bench, &opts)?
        }
        Command::Throughput(args) => {
            at_least_one(&[
                ("--rounds", args.rounds),
                ("--seconds", args.seconds),
                ("--messages", args.messages),
                ("--window", args.window),
            ])?;
            throughput::check_sizes(&args.sizes)?;
            bench = Bench::open(setup)?;
            let opts = ThroughputOpts {
                sizes: args.sizes,
                rounds: args.rounds,
                seconds: args.seconds,
                messages: args.messages,
                window: args.window,
                cpus: args.cpus,
                no_pin: args.no_pin,
            };
            vec![throughput::run(&mut bench, &opts)?]
        }
        Command::Backends(args) => {
            at_least_one(&[
                ("--rounds", args.rounds),
                ("--latency-messages", args.latency_messages),
                ("--throughput-messages", args.throughput_messages),
                ("--window", args.window),
            ])?;
            throughput::check_sizes(&args.sizes)?;
            bench = Bench::open(setup)?;
            let opts = BackendsOpts {
                rounds: args.rounds,
                latency_messages: args.latency_messages,
                throughput_messages: args.throughput_messages,
                window: args.window,
                sizes: args.sizes,
            };
            vec![backends::run(&mut bench, &opts)?]
        }
        Command::Scaling(args) => {
            at_least_one(&[("--rounds", args.rounds), ("--messages", args.messages)])?;
            bench = Bench::open(setup)?;
            let opts = ScalingOpts {
                members: args.members,
                rounds: args.rounds,
                messages: args.messages,
            };
            vec![scaling::run(&mut bench, &opts)?]
        }
        Command::Jumbo(args) => {
            at_least_one(&[
                ("--rounds", args.rounds),
                ("--seconds", args.seconds),
                ("--messages", args.messages),
                ("--window", args.window),
            ])?;
            bench = Bench::open(setup)?;
            let opts = jumbo::JumboOpts {
                msg_len: args.msg_len,
                messages: args.messages,
                window: args.window,
                rounds: args.rounds,
                seconds: args.seconds,
                no_pin: args.no_pin,
            };
            let mut section = jumbo::run(&mut bench, &opts)?;
            if let Some(path) = &args.write {
                section.about = format!(
                    "Generated by `{}` on {date} (this section only).\n\n{}",
                    invocation(),
                    section.about
                );
                doc::put_section(path, &section)?;
                eprintln!("wrote the jumbo section into {}", path.display());
            }
            vec![section]
        }
        Command::Machine { .. } | Command::All(_) => bail!("not a single benchmark"),
    };
    let info = RunInfo {
        invocation: invocation(),
        date,
        load_before,
        load_after: host::load_average(),
    };
    print!("{}", doc::terminal(&bench, &info, &sections));
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_as_documented() {
        let cli = Cli::try_parse_from([
            "stillepost-bench",
            "latency",
            "--poll",
            "spin",
            "--rounds",
            "1",
            "--cpus",
            "0,1",
            "--stillepost",
            "/x/stillepost",
        ])
        .unwrap();
        assert_eq!(cli.stillepost, Some(PathBuf::from("/x/stillepost")));
        let Command::Latency(args) = cli.command else {
            panic!("not latency");
        };
        assert_eq!(args.poll, PollChoice::Spin);
        assert_eq!(args.cpus, Some(vec![0, 1]));
        assert_eq!(args.messages, 100_000);

        let cli = Cli::try_parse_from(["stillepost-bench", "all", "--write", "docs/benchmarks.md"])
            .unwrap();
        let Command::All(args) = cli.command else {
            panic!("not all");
        };
        assert_eq!(args.write, Some(PathBuf::from("docs/benchmarks.md")));
        assert_eq!(args.sizes, vec![64, 1400]);
        assert_eq!(args.members, vec![2, 4, 8, 16]);
    }
}
