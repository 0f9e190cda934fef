//! `stillepost-bench`'s command line. Every value is range-checked by clap while parsing
//! (a bad one is a usage error, exit status 2), and the options several benchmarks take
//! are defined once and flattened into each.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, value_parser};
use stillepost_engine::tour::MAX_MESSAGE;
use stillepost_engine::wire::HEADER_LEN;

use crate::jumbo::{self, JumboOpts};
use crate::latency::LatencyOpts;
use crate::pair::PairOpts;
use crate::reliability::ReliabilityOpts;
use crate::ring::RingOpts;
use crate::scaling::ScalingOpts;
use crate::stillepost::Poll;
use crate::throughput::{MAX_MSG_LEN, MIN_MSG_LEN, ThroughputOpts};

/// The help heading of the options every subcommand takes.
const GLOBAL: &str = "Options of every benchmark";

/// Benchmarks of Stillepost: against sockperf on 127.0.0.1 (latency, throughput), between
/// its backends, as the ring grows, and of its state machine alone.
///
/// Peer and Stillepost runs alternate in one invocation; every table gives the ratio
/// Stillepost / peer and every target PASS or MISS. Exit status: 0 when every benchmark ran,
/// whatever its verdicts; 1 when one could not run; 2 on a usage error.
#[derive(Debug, Parser)]
#[command(name = "stillepost-bench", version, about, long_about)]
pub struct Cli {
    /// The stillepost client binary [default: `stillepost` next to this executable]
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL)]
    pub stillepost: Option<PathBuf>,
    /// The sockperf binary [default: `sockperf` in PATH]
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL)]
    pub sockperf: Option<PathBuf>,
    /// If sockperf is missing, run `apt-get install -y sockperf` (only as root)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub install: bool,
    /// Longest one `stillepost local` run may take before it is killed, in seconds
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        value_name = "SECS",
        default_value_t = 300,
        value_parser = value_parser!(u64).range(1..)
    )]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Cost of the tour state machine per datagram: decode, checks, bookkeeping and the
    /// in-place header rewrite a forwarder does, with no socket involved.
    Machine(MachineArgs),
    /// Latency: sockperf ping-pong (UDP, 64 B, RTT/2) against a 2-member ring with window 1
    /// (tour latency / 2), at p50, p99 and p99.9.
    Latency(LatencyArgs),
    /// Throughput: messages per second one member of a 2-member ring forwards against the
    /// rate a sockperf server receives in sockperf's throughput mode.
    Throughput(ThroughputArgs),
    /// The io_uring backend against the syscall backend on the latency (block) and
    /// throughput scenarios.
    Backends(BackendsArgs),
    /// What authentication costs: the default ring (tagged datagrams) against `--no-auth`,
    /// beside sockperf, on the latency (block) and throughput scenarios, and the tag's cost
    /// per datagram; with --write, puts its section into the report.
    Auth(AuthArgs),
    /// 4-member rings on bulk workloads (1000 × 1000 B, 100 × 60,000 B and 10,000 × 64 B,
    /// all in flight) and a latency one (1000 × 64 B, window 1), with the members together
    /// on one core, spread over the cores and placed by default: time, messages/s, bytes/s
    /// and CPU time per message.
    Ring(RingArgs),
    /// Tour latency and cost per hop for growing rings (block mode, window 1).
    Scaling(ScalingArgs),
    /// Faults, bad input and load against real stillepostd processes on 127.0.0.1 (time to
    /// report, memory and descriptors before and after, tours per second); with --write,
    /// makes docs/reliability.md.
    Reliability(ReliabilityArgs),
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
pub enum PollChoice {
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

/// How often every benchmark but `machine` and `ring` (which has `--ring-rounds`) repeats.
#[derive(Debug, Clone, Copy, Args)]
pub struct Rounds {
    /// Rounds; each runs every measurement of the benchmark once, Stillepost alternating
    /// with what it is compared against.
    #[arg(long, default_value_t = 3, value_parser = value_parser!(u32).range(1..))]
    pub rounds: u32,
}

/// How the peer tool (sockperf; iperf3 for jumbo) runs beside Stillepost.
#[derive(Debug, Clone, Copy, Args)]
pub struct Peer {
    /// Seconds per peer run (sockperf's or iperf3's -t).
    #[arg(long, default_value_t = 3, value_parser = value_parser!(u32).range(1..))]
    pub seconds: u32,
    /// Leave the peer unpinned. By default its client is pinned (taskset) to the core the
    /// origin reported and its server to member 1's, so both tools have the same placement.
    #[arg(long)]
    pub no_pin: bool,
}

/// Where the members run: latency and throughput.
#[derive(Debug, Clone, Args)]
pub struct Cpus {
    /// Cores for the members, comma-separated, passed to `stillepost local --cpus` (origin
    /// first). Default: Stillepost's own choice.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub cpus: Option<Vec<u32>>,
}

/// The throughput scenario's window and message sizes: throughput, backends and all.
#[derive(Debug, Clone, Args)]
pub struct Flow {
    /// Messages the origin keeps in flight in the throughput scenario.
    #[arg(long, default_value_t = 256, value_parser = value_parser!(u32).range(1..))]
    pub window: u32,
    /// Message sizes of the throughput scenario in bytes, comma-separated: from 64
    /// (Stillepost's header) to 65507 (the largest UDP payload on IPv4).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "64,1400",
        value_parser = value_parser!(u32).range(i64::from(MIN_MSG_LEN)..=i64::from(MAX_MSG_LEN))
    )]
    pub sizes: Vec<u32>,
}

/// The ring sizes of the scaling scenario: scaling and all.
#[derive(Debug, Clone, Args)]
pub struct Rings {
    /// Ring sizes of the scaling scenario, comma-separated (2 members at least).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "2,4,8,16",
        value_parser = value_parser!(u32).range(2..)
    )]
    pub members: Vec<u32>,
}

/// Messages per tour of the latency and throughput scenarios, and the throughput
/// scenario's flow: backends and all.
#[derive(Debug, Clone, Args)]
pub struct Scenarios {
    /// Messages per tour in the latency scenario.
    #[arg(long, default_value_t = 100_000, value_parser = value_parser!(u32).range(1..))]
    pub latency_messages: u32,
    /// Messages per tour in the throughput scenario.
    #[arg(long, default_value_t = 200_000, value_parser = value_parser!(u32).range(1..))]
    pub throughput_messages: u32,
    #[command(flatten)]
    pub flow: Flow,
}

#[derive(Debug, Args)]
pub struct MachineArgs {
    /// Datagrams per measurement.
    #[arg(long, default_value_t = 1_000_000, value_parser = value_parser!(u32).range(1..))]
    pub datagrams: u32,
    /// Message length in bytes.
    #[arg(
        long,
        default_value_t = HEADER_LEN as u32,
        value_parser = value_parser!(u32).range(HEADER_LEN as i64..=i64::from(MAX_MESSAGE))
    )]
    pub msg_len: u32,
    /// Measurements; the best is reported (the least disturbed by the machine).
    #[arg(long, default_value_t = 5, value_parser = value_parser!(u32).range(1..))]
    pub runs: u32,
}

#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Poll mode to compare in.
    #[arg(long, value_enum, default_value_t = PollChoice::Both)]
    pub poll: PollChoice,
    #[command(flatten)]
    pub rounds: Rounds,
    #[command(flatten)]
    pub peer: Peer,
    /// Messages per Stillepost tour.
    #[arg(long, default_value_t = 100_000, value_parser = value_parser!(u32).range(1..))]
    pub messages: u32,
    #[command(flatten)]
    pub cpus: Cpus,
}

#[derive(Debug, Args)]
pub struct ThroughputArgs {
    #[command(flatten)]
    pub flow: Flow,
    #[command(flatten)]
    pub rounds: Rounds,
    #[command(flatten)]
    pub peer: Peer,
    /// Messages per Stillepost tour.
    #[arg(long, default_value_t = 200_000, value_parser = value_parser!(u32).range(1..))]
    pub messages: u32,
    #[command(flatten)]
    pub cpus: Cpus,
}

#[derive(Debug, Args)]
pub struct BackendsArgs {
    #[command(flatten)]
    pub rounds: Rounds,
    #[command(flatten)]
    pub scenarios: Scenarios,
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub rounds: Rounds,
    #[command(flatten)]
    pub peer: Peer,
    #[command(flatten)]
    pub scenarios: Scenarios,
    /// Put this section into that report (replacing an earlier one), e.g.
    /// docs/benchmarks.md.
    #[arg(long, value_name = "PATH")]
    pub write: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReliabilityArgs {
    /// Back-to-back tours of one message on a 4-member ring.
    #[arg(long, default_value_t = 10_000, value_parser = value_parser!(u32).range(1..))]
    pub tours: u32,
    /// Messages of the one long tour.
    #[arg(long, default_value_t = 1_000_000, value_parser = value_parser!(u32).range(1..))]
    pub long_tour: u32,
    /// Members of the large ring (`stillepost local`).
    #[arg(long, default_value_t = 64, value_parser = value_parser!(u32).range(2..))]
    pub large_ring: u32,
    /// Seconds of coverage-guided fuzzing per target (`fuzz/run`, which needs cargo-afl).
    #[arg(long, default_value_t = 120, value_parser = value_parser!(u32).range(1..))]
    pub fuzz_seconds: u32,
    /// Run only these parts (comma-separated); a report of some parts says which.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = ReliabilityPart::ALL)]
    pub only: Vec<ReliabilityPart>,
    /// Write the report (Markdown) to this file, e.g. docs/reliability.md.
    #[arg(long, value_name = "PATH")]
    pub write: Option<PathBuf>,
}

/// A part of the reliability report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReliabilityPart {
    /// Back-to-back tours, a long tour, a large ring.
    Load,
    /// Every process signalled before, during and after a tour.
    Faults,
    /// Junk datagrams at every member during a tour.
    BadInput,
    /// Coverage-guided fuzzing of every parser of untrusted bytes.
    Fuzz,
    /// The limits and what happens at each.
    Limits,
}

impl ReliabilityPart {
    pub const ALL: [ReliabilityPart; 5] = [
        ReliabilityPart::Load,
        ReliabilityPart::Faults,
        ReliabilityPart::BadInput,
        ReliabilityPart::Fuzz,
        ReliabilityPart::Limits,
    ];
}

impl ReliabilityArgs {
    pub fn opts(&self) -> ReliabilityOpts {
        ReliabilityOpts {
            tours: self.tours,
            long_tour: self.long_tour,
            large_ring: self.large_ring,
            fuzz_seconds: self.fuzz_seconds,
            parts: self.only.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ScalingArgs {
    #[command(flatten)]
    pub rings: Rings,
    #[command(flatten)]
    pub rounds: Rounds,
    /// Messages per tour.
    #[arg(long, default_value_t = 10_000, value_parser = value_parser!(u32).range(1..))]
    pub messages: u32,
}

#[derive(Debug, Args)]
pub struct RingArgs {
    #[command(flatten)]
    pub runs: RingRuns,
}

/// Rounds and tours of the ring benchmark: ring and all.
#[derive(Debug, Clone, Copy, Args)]
pub struct RingRuns {
    /// Rounds of the ring benchmark; each runs every workload once in every placement. Runs
    /// of one configuration differ more from one another than the tours of a run do, so
    /// the ring takes more rounds than the other benchmarks (`--rounds` does not apply to
    /// it) and reports each placement's fastest run.
    #[arg(long, default_value_t = 9, value_parser = value_parser!(u32).range(1..))]
    pub ring_rounds: u32,
    /// Tours measured per `stillepost local` run of the ring benchmark (one more runs
    /// first, as warm-up); a run's figures are their medians.
    #[arg(long, default_value_t = 10, value_parser = value_parser!(u32).range(1..))]
    pub ring_tours: u32,
}

impl RingRuns {
    pub fn opts(self) -> RingOpts {
        RingOpts {
            rounds: self.ring_rounds,
            tours: self.ring_tours,
        }
    }
}

#[derive(Debug, Args)]
pub struct JumboArgs {
    /// Message length in bytes.
    #[arg(
        long,
        default_value_t = jumbo::MSG_LEN,
        value_parser = value_parser!(u32).range(HEADER_LEN as i64..=i64::from(MAX_MESSAGE))
    )]
    pub msg_len: u32,
    /// Messages per Stillepost tour.
    #[arg(long, default_value_t = jumbo::MESSAGES, value_parser = value_parser!(u32).range(1..))]
    pub messages: u32,
    /// Messages the origin keeps in flight.
    #[arg(long, default_value_t = jumbo::WINDOW, value_parser = value_parser!(u32).range(1..))]
    pub window: u32,
    #[command(flatten)]
    pub rounds: Rounds,
    #[command(flatten)]
    pub peer: Peer,
    /// Put this section into that report (replacing an earlier jumbo section), e.g.
    /// docs/benchmarks.md.
    #[arg(long, value_name = "PATH")]
    pub write: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AllArgs {
    /// Write the report (Markdown) to this file, e.g. docs/benchmarks.md.
    #[arg(long, value_name = "PATH")]
    pub write: Option<PathBuf>,
    #[command(flatten)]
    pub rounds: Rounds,
    #[command(flatten)]
    pub peer: Peer,
    #[command(flatten)]
    pub scenarios: Scenarios,
    /// Messages per tour in the scaling scenario.
    #[arg(long, default_value_t = 10_000, value_parser = value_parser!(u32).range(1..))]
    pub scaling_messages: u32,
    #[command(flatten)]
    pub rings: Rings,
    #[command(flatten)]
    pub ring: RingRuns,
}

impl LatencyArgs {
    pub fn opts(&self) -> LatencyOpts {
        latency_opts(self.poll, self.rounds, self.peer, self.messages, &self.cpus)
    }
}

impl ThroughputArgs {
    pub fn opts(&self) -> ThroughputOpts {
        throughput_opts(
            &self.flow,
            self.rounds,
            self.peer,
            self.messages,
            &self.cpus,
        )
    }
}

impl BackendsArgs {
    /// The backends run no peer: sockperf's settings do not matter to them.
    pub fn opts(&self) -> PairOpts {
        let peer = Peer {
            seconds: 3,
            no_pin: false,
        };
        pair_opts(self.rounds, &self.scenarios, peer)
    }
}

impl AuthArgs {
    pub fn opts(&self) -> PairOpts {
        pair_opts(self.rounds, &self.scenarios, self.peer)
    }
}

impl ScalingArgs {
    pub fn opts(&self) -> ScalingOpts {
        scaling_opts(&self.rings, self.rounds, self.messages)
    }
}

impl JumboArgs {
    pub fn opts(&self) -> JumboOpts {
        JumboOpts {
            msg_len: self.msg_len,
            messages: self.messages,
            window: self.window,
            rounds: self.rounds.rounds,
            seconds: self.peer.seconds,
            no_pin: self.peer.no_pin,
        }
    }
}

/// The benchmarks `all` runs, each with `all`'s options.
impl AllArgs {
    pub fn latency(&self) -> LatencyOpts {
        let messages = self.scenarios.latency_messages;
        latency_opts(
            PollChoice::Both,
            self.rounds,
            self.peer,
            messages,
            &Cpus { cpus: None },
        )
    }

    pub fn throughput(&self) -> ThroughputOpts {
        let messages = self.scenarios.throughput_messages;
        let cpus = Cpus { cpus: None };
        throughput_opts(
            &self.scenarios.flow,
            self.rounds,
            self.peer,
            messages,
            &cpus,
        )
    }

    pub fn backends(&self) -> PairOpts {
        pair_opts(self.rounds, &self.scenarios, self.peer)
    }

    pub fn ring(&self) -> RingOpts {
        self.ring.opts()
    }

    pub fn scaling(&self) -> ScalingOpts {
        scaling_opts(&self.rings, self.rounds, self.scaling_messages)
    }

    /// Jumbo with its own defaults for the message, count and window.
    pub fn jumbo(&self) -> JumboOpts {
        JumboOpts {
            msg_len: jumbo::MSG_LEN,
            messages: jumbo::MESSAGES,
            window: jumbo::WINDOW,
            rounds: self.rounds.rounds,
            seconds: self.peer.seconds,
            no_pin: self.peer.no_pin,
        }
    }
}

fn latency_opts(
    poll: PollChoice,
    rounds: Rounds,
    peer: Peer,
    messages: u32,
    cpus: &Cpus,
) -> LatencyOpts {
    LatencyOpts {
        modes: poll.modes(),
        rounds: rounds.rounds,
        seconds: peer.seconds,
        messages,
        cpus: cpus.cpus.clone(),
        no_pin: peer.no_pin,
    }
}

fn throughput_opts(
    flow: &Flow,
    rounds: Rounds,
    peer: Peer,
    messages: u32,
    cpus: &Cpus,
) -> ThroughputOpts {
    ThroughputOpts {
        sizes: flow.sizes.clone(),
        rounds: rounds.rounds,
        seconds: peer.seconds,
        messages,
        window: flow.window,
        cpus: cpus.cpus.clone(),
        no_pin: peer.no_pin,
    }
}

fn scaling_opts(rings: &Rings, rounds: Rounds, messages: u32) -> ScalingOpts {
    ScalingOpts {
        members: rings.members.clone(),
        rounds: rounds.rounds,
        messages,
    }
}

fn pair_opts(rounds: Rounds, scenarios: &Scenarios, peer: Peer) -> PairOpts {
    PairOpts {
        rounds: rounds.rounds,
        latency_messages: scenarios.latency_messages,
        throughput_messages: scenarios.throughput_messages,
        window: scenarios.flow.window,
        sizes: scenarios.flow.sizes.clone(),
        seconds: peer.seconds,
        no_pin: peer.no_pin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("stillepost-bench").chain(args.iter().copied()))
    }

    /// The message clap refuses `args` with.
    fn refusal(args: &[&str]) -> String {
        let error = parse(args).unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::ValueValidation,
            "{args:?}: {error}"
        );
        error.to_string()
    }

    const SUBCOMMANDS: [&str; 10] = [
        "machine",
        "latency",
        "throughput",
        "backends",
        "auth",
        "ring",
        "reliability",
        "scaling",
        "jumbo",
        "all",
    ];

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_as_documented() {
        let cli = parse(&[
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
        assert_eq!(args.cpus.cpus, Some(vec![0, 1]));
        assert_eq!(args.messages, 100_000);
        let opts = args.opts();
        assert_eq!(opts.modes, [Poll::Spin]);
        assert_eq!((opts.rounds, opts.seconds, opts.no_pin), (1, 3, false));

        let cli = parse(&["all", "--write", "docs/benchmarks.md"]).unwrap();
        let Command::All(args) = cli.command else {
            panic!("not all");
        };
        assert_eq!(args.write, Some(PathBuf::from("docs/benchmarks.md")));
        assert_eq!(args.scenarios.flow.sizes, vec![64, 1400]);
        assert_eq!(args.rings.members, vec![2, 4, 8, 16]);
    }

    /// `all` runs every benchmark with its own options where they share a flag, and jumbo
    /// with jumbo's defaults.
    #[test]
    fn all_passes_its_options_to_every_benchmark() {
        let cli = parse(&[
            "all",
            "--rounds",
            "2",
            "--seconds",
            "4",
            "--no-pin",
            "--latency-messages",
            "5",
            "--throughput-messages",
            "6",
            "--scaling-messages",
            "7",
            "--window",
            "8",
            "--sizes",
            "100",
            "--members",
            "3",
        ])
        .unwrap();
        let Command::All(all) = cli.command else {
            panic!("not all");
        };
        let latency = all.latency();
        assert_eq!(latency.modes, [Poll::Block, Poll::Spin]);
        assert_eq!(
            (
                latency.rounds,
                latency.seconds,
                latency.messages,
                latency.cpus,
                latency.no_pin
            ),
            (2, 4, 5, None, true)
        );
        let t = all.throughput();
        assert_eq!(
            (
                t.sizes, t.rounds, t.seconds, t.messages, t.window, t.cpus, t.no_pin
            ),
            (vec![100], 2, 4, 6, 8, None, true)
        );
        let b = all.backends();
        assert_eq!(
            (
                b.rounds,
                b.latency_messages,
                b.throughput_messages,
                b.window,
                b.sizes,
                b.seconds,
                b.no_pin
            ),
            (2, 5, 6, 8, vec![100], 4, true)
        );
        let s = all.scaling();
        assert_eq!((s.members, s.rounds, s.messages), (vec![3], 2, 7));
        let j = all.jumbo();
        assert_eq!(
            (
                j.msg_len, j.messages, j.window, j.rounds, j.seconds, j.no_pin
            ),
            (1 << 20, 1000, 1, 2, 4, true)
        );
        // The same defaults as `jumbo` alone.
        let Command::Jumbo(alone) = parse(&["jumbo"]).unwrap().command else {
            panic!("not jumbo");
        };
        let alone = alone.opts();
        assert_eq!(
            (alone.msg_len, alone.messages, alone.window),
            (j.msg_len, j.messages, j.window)
        );
    }

    /// Every count is at least 1: clap refuses 0 with the flag and the range.
    #[test]
    fn zero_is_refused_where_a_count_must_be_positive() {
        let cases: &[(&str, &[&str])] = &[
            ("machine", &["--datagrams", "--runs"]),
            ("latency", &["--rounds", "--seconds", "--messages"]),
            (
                "throughput",
                &["--rounds", "--seconds", "--messages", "--window"],
            ),
            (
                "backends",
                &[
                    "--rounds",
                    "--latency-messages",
                    "--throughput-messages",
                    "--window",
                ],
            ),
            (
                "auth",
                &[
                    "--rounds",
                    "--seconds",
                    "--latency-messages",
                    "--throughput-messages",
                    "--window",
                ],
            ),
            ("scaling", &["--rounds", "--messages"]),
            (
                "jumbo",
                &["--rounds", "--seconds", "--messages", "--window"],
            ),
            (
                "all",
                &[
                    "--rounds",
                    "--seconds",
                    "--latency-messages",
                    "--throughput-messages",
                    "--scaling-messages",
                    "--window",
                ],
            ),
        ];
        for (subcommand, flags) in cases {
            for flag in *flags {
                let message = refusal(&[subcommand, flag, "0"]);
                assert!(
                    message.starts_with(&format!("error: invalid value '0' for '{flag} <")),
                    "{subcommand} {flag}: {message}"
                );
                assert!(
                    message.contains("0 is not in 1..=4294967295"),
                    "{subcommand} {flag}: {message}"
                );
            }
            // Global, so after any subcommand.
            assert!(refusal(&[subcommand, "--timeout", "0"]).contains("0 is not in 1.."));
        }
    }

    /// Message sizes fit Stillepost's header and one UDP datagram (moved here from
    /// throughput's own check, which clap's range replaced).
    #[test]
    fn sizes_must_fit_a_header_and_a_datagram() {
        for subcommand in ["throughput", "backends", "auth", "all"] {
            let cli = parse(&[subcommand, "--sizes", "64,1400,65507"]).unwrap();
            let sizes = match cli.command {
                Command::Throughput(args) => args.flow.sizes,
                Command::Backends(args) => args.scenarios.flow.sizes,
                Command::Auth(args) => args.scenarios.flow.sizes,
                Command::All(args) => args.scenarios.flow.sizes,
                _ => panic!("{subcommand}"),
            };
            assert_eq!(sizes, [64, 1400, 65_507]);
            assert_eq!(
                refusal(&[subcommand, "--sizes", "64,14"]).lines().next(),
                Some("error: invalid value '14' for '--sizes <SIZES>': 14 is not in 64..=65507")
            );
            assert!(
                refusal(&[subcommand, "--sizes", "65508"]).contains("65508 is not in 64..=65507")
            );
            // No size at all is no list.
            assert!(parse(&[subcommand, "--sizes", ""]).is_err());
            assert!(parse(&[subcommand, "--sizes"]).is_err());
        }
    }

    #[test]
    fn rings_have_two_members_at_least() {
        for subcommand in ["scaling", "all"] {
            assert_eq!(
                refusal(&[subcommand, "--members", "2,1"]).lines().next(),
                Some(
                    "error: invalid value '1' for '--members <MEMBERS>': 1 is not in 2..=4294967295"
                )
            );
        }
    }

    #[test]
    fn messages_need_a_header_and_fit_the_engine() {
        for subcommand in ["machine", "jumbo"] {
            assert!(
                refusal(&[subcommand, "--msg-len", "63"]).contains("63 is not in 64..=67108864")
            );
            assert!(parse(&[subcommand, "--msg-len", "67108864"]).is_ok());
            assert!(parse(&[subcommand, "--msg-len", "67108865"]).is_err());
        }
    }

    /// The shared option types appear, with the same help, on every subcommand that takes
    /// them, and every subcommand has the global options.
    #[test]
    fn shared_options_appear_on_every_subcommand() {
        let shared: &[(&str, &[&str])] = &[
            // Every benchmark but machine.
            (
                "--rounds",
                &[
                    "latency",
                    "throughput",
                    "backends",
                    "auth",
                    "scaling",
                    "jumbo",
                    "all",
                ],
            ),
            (
                "--seconds",
                &["latency", "throughput", "auth", "jumbo", "all"],
            ),
            (
                "--no-pin",
                &["latency", "throughput", "auth", "jumbo", "all"],
            ),
            ("--cpus", &["latency", "throughput"]),
            (
                "--window",
                &["throughput", "backends", "auth", "jumbo", "all"],
            ),
            ("--sizes", &["throughput", "backends", "auth", "all"]),
            ("--latency-messages", &["backends", "auth", "all"]),
            ("--throughput-messages", &["backends", "auth", "all"]),
            ("--members", &["scaling", "all"]),
            ("--ring-rounds", &["ring", "all"]),
            ("--ring-tours", &["ring", "all"]),
        ];
        let mut cli = Cli::command();
        cli.build();
        for subcommand in SUBCOMMANDS {
            let command = cli.find_subcommand(subcommand).unwrap();
            let longs: Vec<String> = command
                .get_arguments()
                .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
                .collect();
            for global in ["--stillepost", "--sockperf", "--install", "--timeout"] {
                assert!(longs.iter().any(|l| l == global), "{subcommand} {global}");
            }
            for (flag, on) in shared {
                assert_eq!(
                    longs.iter().any(|l| l == flag),
                    on.contains(&subcommand),
                    "{subcommand} {flag}"
                );
            }
            let help = command.clone().render_long_help().to_string();
            assert!(help.contains("Options of every benchmark:"), "{help}");
        }
        // One definition: the help of --rounds and --seconds is the same everywhere.
        for flag in ["rounds", "seconds", "no-pin"] {
            let helps: Vec<String> = SUBCOMMANDS
                .iter()
                .filter_map(|s| {
                    cli.find_subcommand(s)
                        .unwrap()
                        .get_arguments()
                        .find(|a| a.get_long() == Some(flag))
                        .and_then(|a| a.get_help().map(ToString::to_string))
                })
                .collect();
            assert!(helps.len() >= 4, "{flag}");
            assert!(helps.iter().all(|h| *h == helps[0]), "{flag}: {helps:?}");
        }
    }
}
