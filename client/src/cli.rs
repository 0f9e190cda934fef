//! Command-line interface: flags as the original Stillepost had them, with readable aliases.

use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};
use stillepost_control::access::ClientAccessArgs;
use stillepost_control::manual::{CompletionsArgs, ManArgs};
use stillepost_control::options::{BackendArg, PlacementArg, PollArg};
use stillepost_control::ring::{
    DEFAULT_CONFIGURE_TIMEOUT_S, DEFAULT_COUNT, DEFAULT_MAX_BUFFER_MEMORY,
    DEFAULT_MEMBER_TIMEOUT_MS, DEFAULT_MSG_LEN,
};

/// Stillepost measures the latency of a cluster network: UDP messages of a chosen length
/// travel `count` times around a ring of member daemons (stillepostd member), driven by a
/// coordinator (stillepostd coordinator).
///
/// Start with `stillepost local`, a whole ring inside this process on loopback.
#[derive(Debug, Parser)]
#[command(name = "stillepost", version, about, long_about, after_help = EXIT_CODES)]
pub struct Cli {
    /// The coordinator's client endpoint, host:port.
    #[arg(
        long,
        global = true,
        env = "STILLEPOST_COORDINATOR",
        default_value = "127.0.0.1:7000",
        value_name = "HOST:PORT"
    )]
    pub coordinator: String,

    #[command(flatten)]
    pub access: ClientAccessArgs,

    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit status: 0 success; 1 error (a member or the coordinator failed, a member did not answer); 2 invalid input; 3 ring busy; 4 coordinator or member unreachable; 5 the coordinator refused the token (missing or not its own); 6 the tour lost messages or timed out (its result is printed; --accept-loss makes that 0); 130 interrupted (a tour cancelled by Ctrl-C); 141 stdout closed by its reader.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configure the ring: its members (in ring order, the first is the origin) and the
    /// tours it runs.
    Configure(ConfigureArgs),
    /// Run one tour around the configured ring and print its result. Ctrl-C (or SIGTERM)
    /// cancels the tour and prints what it measured (exit 130); a second Ctrl-C leaves at
    /// once.
    #[command(visible_alias = "run")]
    Stillepost(RunArgs),
    /// End the running tour early: its partial result is kept, marked `cancelled`.
    Cancel(TourArg),
    /// Wait for a running tour (the one named, or whichever runs) and print its result, as
    /// `run` would have: reattach after leaving a `run`.
    Wait(WaitArgs),
    /// UDP echoes to each member's peer socket, answered by its data plane: round trips
    /// with min/avg/max/mdev, as ping gives them. Sent by the coordinator unless
    /// --from-client.
    EchoMembers(ProbeArgs),
    /// ICMP echo requests to each member host, like ping. Sent by the coordinator unless
    /// --from-client.
    PingSystems(ProbeArgs),
    /// Show the ring's configuration and every member's state.
    Status,
    /// Print shell completions for stillepost (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print stillepost's man page (roff), or write one page per subcommand with --out-dir.
    Man(ManArgs),
    /// Run a coordinator and a ring of members inside this process on 127.0.0.1 (free
    /// ports are chosen automatically), run tours and print their results.
    Local(LocalArgs),
    /// Export a finished tour's histograms in HdrHistogram's formats, as JSON or CSV, or
    /// plot them (SVG, PNG).
    Report(ReportArgs),
    /// List the finished tours the coordinator holds, oldest first: id, start time, ring,
    /// outcome, loss and tour latency p50/p99. Any unique prefix of an id names its tour
    /// wherever a tour id is taken. Monitor tours (the coordinator's --monitor-interval)
    /// are left out unless --monitor.
    Tours(ToursArgs),
    /// Keep a finished tour's result on the coordinator whatever its --keep-tours and
    /// --keep-days say (or, with --unpin, let it go again).
    Pin(PinArgs),
    /// Check this host's kernel settings for a tour of the given message size and window:
    /// each as `current → recommended (reason)`; docs/tuning.md explains them. Needs no
    /// coordinator.
    Tune(TuneArgs),
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The tour, with the flags `configure` takes (and its defaults): the message length,
    /// count, window and datagram size decide what the host must queue.
    #[command(flatten)]
    pub tour: TourArgs,
    /// MTU of the network between the members (9000 for jumbo frames). Default: the
    /// smallest MTU of this host's interfaces other than loopback.
    #[arg(long, value_name = "BYTES")]
    pub mtu: Option<u32>,
    /// Set every sysctl marked CHANGE (needs root; some are read-only in a network
    /// namespace or a container: set those on the host).
    #[arg(long, conflicts_with = "emit_sysctl_conf")]
    pub apply: bool,
    /// Print an /etc/sysctl.d file with the changes instead (latency-only ones commented).
    #[arg(long)]
    pub emit_sysctl_conf: bool,
    /// Read sysctls below this directory instead of /proc/sys (testing).
    #[arg(long, hide = true, default_value = "/proc/sys")]
    pub proc_sys_root: std::path::PathBuf,
    /// Read /sys below this directory instead (testing).
    #[arg(long, hide = true, default_value = "/sys")]
    pub sys_root: std::path::PathBuf,
    /// Behave as if inside a network namespace (testing).
    #[arg(long, hide = true)]
    pub assume_netns: bool,
}

/// Export formats of `stillepost report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// The text report `stillepost run` prints.
    Text,
    /// Every message's timestamps as CSV (a tour run with --raw or --interval).
    Raw,
    /// The same as JSON lines.
    RawJsonl,
    /// HdrHistogram percentile distribution (outputPercentileDistribution), one per histogram.
    Hgrm,
    /// HdrHistogram interval log, one tagged histogram per line (base64 V2+DEFLATE).
    Hlog,
    /// The whole result, histograms included (docs/reports.md).
    Json,
    /// One row per histogram per percentile step.
    Csv,
    /// Percentile plot (latency against percentile on a log scale of 1/(1-percentile), as
    /// HdrHistogram plots are drawn), one labelled line per histogram: tour, each hop,
    /// each member's residence.
    Svg,
    /// The same plot as a PNG image; written to stdout only when that is not a terminal.
    Png,
}

/// How a tour that lost messages ends the program.
#[derive(Debug, Clone, Copy, Args)]
pub struct LossArg {
    /// Exit 0 for a tour that lost messages or timed out (its result says so either way);
    /// without it such a tour exits 6, so scripts notice.
    #[arg(long)]
    pub accept_loss: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub loss: LossArg,
    #[command(flatten)]
    pub record: RecordArgs,
}

/// Every message's timestamps, recorded by every member during the tour (tours of at most
/// 1,000,000 messages; 16 B per message per member).
#[derive(Debug, Clone, Default, Args)]
pub struct RecordArgs {
    /// Write every message's timestamps per member, hop latencies, residences and tour
    /// latency to this file: CSV, or JSON lines when it ends in .jsonl (docs/reports.md).
    #[arg(long, value_name = "PATH")]
    pub raw: Option<std::path::PathBuf>,
    /// Show the tour's latency per period of this length (by the origin's send time), p50
    /// and p99 per period: 100ms, 1s, ... `report --format hlog --interval` writes the
    /// periods as an HdrHistogram interval log.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,
}

impl RecordArgs {
    /// Whether the tour must record every message's timestamps.
    pub fn records(&self) -> bool {
        self.raw.is_some() || self.interval.is_some()
    }
}

/// A duration as people write it: 100ms, 2s, 1m.
fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("an interval of 0 cuts nothing: give one such as 100ms or 1s".to_owned()),
        Err(e) => Err(format!(
            "'{text}' is no duration ({e}): give one such as 100ms or 1s"
        )),
    }
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub tour: TourArg,
    #[command(flatten)]
    pub loss: LossArg,
}

#[derive(Debug, Args)]
pub struct TourArg {
    /// The tour's id (16 hex digits, or a unique prefix); without it, the tour running now.
    #[arg(value_name = "TOUR-ID")]
    pub tour: Option<String>,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// The tour: its 16-hex-digit id, or `latest`.
    #[arg(value_name = "TOUR-ID|latest")]
    pub tour: String,
    /// Unpin it instead.
    #[arg(long)]
    pub unpin: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The tour: its id (16 hex digits, or a unique prefix), or `latest`.
    #[arg(value_name = "TOUR-ID|latest")]
    pub tour: String,
    /// Output format [default: hgrm; json under --json].
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub out: Option<std::path::PathBuf>,
    /// hgrm, svg and png: the unit latencies are printed or plotted in.
    #[arg(long, value_enum, default_value_t = Unit::Us)]
    pub unit: Unit,
    /// hlog: one interval per period of this length (by the origin's send time), for a tour
    /// run with --raw or --interval.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// svg and png: a log-scaled latency axis, so that p50 stays readable when the max is
    /// hundreds of times larger.
    #[arg(long)]
    pub log_y: bool,
    /// hgrm: the tour's latency histogram (the default: an hgrm file holds one histogram,
    /// as HdrHistogram's plotters and parsers read it).
    #[arg(long = "tour", group = "histogram")]
    pub tour_histogram: bool,
    /// hgrm: the latency histogram of hop I (from member I to the next).
    #[arg(long, value_name = "I", group = "histogram")]
    pub hop: Option<u32>,
    /// hgrm: member M's residence histogram (arrival to forward).
    #[arg(long, value_name = "M", group = "histogram")]
    pub residence: Option<u32>,
    /// hgrm: every histogram of the tour, each into its own file in DIR named after what
    /// it holds (<tour-id>-tour.hgrm, <tour-id>-hop-0-1.hgrm, <tour-id>-residence-1.hgrm,
    /// ...); the files written are listed on stdout.
    #[arg(long, value_name = "DIR", group = "histogram", conflicts_with = "out")]
    pub out_dir: Option<std::path::PathBuf>,
}

/// Units of the hgrm value column and of the plots' latency axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Unit {
    /// Nanoseconds.
    Ns,
    /// Microseconds (HdrHistogram's plotter's usual unit).
    Us,
    /// Milliseconds.
    Ms,
}

impl Unit {
    /// Nanoseconds per unit.
    pub fn scale(self) -> f64 {
        match self {
            Unit::Ns => 1.0,
            Unit::Us => 1_000.0,
            Unit::Ms => 1_000_000.0,
        }
    }
}

/// Tour parameters shared by `configure` and `local`.
#[derive(Debug, Clone, Args)]
pub struct TourArgs {
    /// Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message
    /// longer than one datagram (--max-datagram, default 65507 B) travels as fragments.
    #[arg(long = "msgbytelen", visible_alias = "msg-len", default_value_t = DEFAULT_MSG_LEN, value_name = "BYTES")]
    pub msg_len: u32,
    /// Messages sent around the ring per tour.
    #[arg(long = "msgcount", visible_alias = "count", default_value_t = DEFAULT_COUNT, value_name = "N")]
    pub count: u32,
    /// Forward each message as soon as it arrives (true), or wait until all msgcount
    /// messages have arrived and then send them (false).
    #[arg(long, action = ArgAction::Set, default_value_t = true, value_name = "BOOL")]
    pub forward_immediately: bool,
    /// Messages the origin keeps in flight: a number, or `all` (every msgcount message at
    /// once, the original tool's behaviour). Default: all, unless that is more than a 4 MiB
    /// receive buffer holds (large messages); then as many as it holds. 1 is ping-pong
    /// around the ring. Must be all with --forward-immediately false.
    #[arg(long, value_name = "N|all", value_parser = parse_window)]
    pub window: Option<WindowArg>,
    /// How long the origin waits for the next message before it ends a tour and
    /// reports what is missing, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_MEMBER_TIMEOUT_MS, value_name = "MS")]
    pub member_timeout: u64,
    /// The first N messages travel like the others but are not recorded (warm caches,
    /// settled clocks).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub warmup: u32,
    /// Open loop: the origin sends this many messages per second on a fixed schedule
    /// (within the window) instead of as fast as the window allows. Tour latency is then
    /// also measured from each message's scheduled send time, which counts the time a
    /// message waited for a stalled sender (coordinated omission); both are reported.
    /// Fractions are allowed: 0.5 sends one message every 2 s.
    #[arg(long, value_name = "MSGS_PER_S", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Largest datagram a message travels in, the 64-byte header included (at most 65507):
    /// a longer message is split into fragments of at most this size, which members forward
    /// as they arrive. Default: what the smallest route MTU on the ring carries (members
    /// report theirs), so that no link IP-fragments a datagram.
    #[arg(long, value_name = "BYTES")]
    pub max_datagram: Option<u32>,
    /// DSCP every member marks its datagrams with, to measure a QoS class: 0 to 63, or a
    /// name (ef, af11 to af43, cs0 to cs7, be). The IPv4 TOS and IPv6 traffic class are
    /// dscp × 4.
    #[arg(long, value_name = "DSCP", value_parser = parse_dscp, default_value = "0")]
    pub dscp: u32,
    /// Most memory a member may set aside for the tour's buffers (receive and send pools
    /// and its socket receive buffer), bytes; configure refuses a tour that needs more,
    /// with the numbers.
    #[arg(long, default_value_t = DEFAULT_MAX_BUFFER_MEMORY, value_name = "BYTES")]
    pub max_buffer_memory: u64,
    /// Where the members of a host run their data-plane threads, chosen at configure:
    /// `together` on one core (a wake-up on the same core costs less than one across
    /// cores), `spread` over the host's cores (members with messages to move work at
    /// once), `auto` from the tour's shape: together for one message in flight (window 1,
    /// one datagram per message), spread for more. Spinning members always get a core
    /// each; members started with --cpu keep theirs. configure and every result say
    /// which placement was chosen and why.
    #[arg(long, value_enum, default_value_t = PlacementArg::Auto)]
    pub placement: PlacementArg,
}

#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// Members' control endpoints (their --coord-bind), in ring order, comma-separated; or
    /// a source the coordinator asks at every configure (and, in monitor mode, every
    /// --resolve-interval), the ring then in the order of the members' names (--name).
    ///
    /// file:PATH: a file on the coordinator's host, one endpoint per line, # comments.
    ///
    /// dns:NAME:PORT: every address of NAME's A/AAAA records, at PORT (a Kubernetes headless
    /// Service of the member DaemonSet). dns:NAME: NAME's SRV records (e.g.
    /// _control._tcp.members.ns.svc.cluster.local).
    ///
    /// discover[:GROUP:PORT]: members heard on a multicast group in the last 3 s
    /// (`stillepostd member --announce`; default group 239.255.83.80:7090; LANs only).
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        value_name = "HOST:PORT,...|SOURCE"
    )]
    pub cluster: Vec<String>,
    #[command(flatten)]
    pub tour: TourArgs,
    /// How long configuring may take (reaching every member), in seconds.
    #[arg(long, default_value_t = DEFAULT_CONFIGURE_TIMEOUT_S, value_name = "S")]
    pub timeout: u64,
    /// Split the members into rings of at most N (in the order given, or of their names
    /// for a source, so a ring per rack or zone when names sort that way), configured and
    /// run in parallel: `run` runs every ring at once and reports each ring's tour;
    /// `status` and the metrics (label `ring`) name the ring.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=1024))]
    pub ring_size: Option<u32>,
    /// Take the members over even while another coordinator holds them. A member belongs
    /// to the coordinator that configured it while a tour of its is armed and for 60 s
    /// after its last configure or tour; other coordinators' configures are refused,
    /// naming it. The coordinator that loses them is told at its next tour.
    #[arg(long)]
    pub force: bool,
}

impl ConfigureArgs {
    /// The cluster entries, split at commas here rather than by clap, so that an empty
    /// entry (`a:1,,b:2` or a trailing comma) is reported instead of silently dropped.
    pub fn cluster_entries(&self) -> Vec<String> {
        self.cluster
            .iter()
            .flat_map(|list| list.split(','))
            .map(str::to_string)
            .collect()
    }
}

/// What `echo-members` and `ping-systems` probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// UDP echoes to every member's peer socket, answered by its data plane.
    Echo,
    /// ICMP echoes to every member host.
    Ping,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Probes per target.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub count: u32,
    /// From one round of probes to the next, in milliseconds.
    #[arg(long, default_value_t = 200, value_name = "MS")]
    pub interval: u64,
    /// How long to wait for each answer, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub timeout: u64,
    /// Send the probes from this client instead of from the coordinator (the default, as
    /// the original does: it reaches the members where a client behind a port-forward or
    /// a bastion cannot).
    #[arg(long)]
    pub from_client: bool,
}

impl ProbeArgs {
    /// The probes asked for; errors name the flag.
    pub fn options(&self) -> anyhow::Result<stillepost_control::echo::ProbeOptions> {
        if !(1..=1000).contains(&self.count) {
            return Err(crate::app::invalid(format!(
                "--count {} is out of range: 1 to 1000 probes per target",
                self.count
            )));
        }
        if !(1..=60_000).contains(&self.timeout) {
            return Err(crate::app::invalid(format!(
                "--timeout {} is out of range: 1 to 60000 ms",
                self.timeout
            )));
        }
        if self.interval > 60_000 {
            return Err(crate::app::invalid(format!(
                "--interval {} is out of range: at most 60000 ms",
                self.interval
            )));
        }
        Ok(stillepost_control::echo::ProbeOptions {
            count: self.count,
            interval: Duration::from_millis(self.interval),
            timeout: Duration::from_millis(self.timeout),
        })
    }
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Members in the ring.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub members: u32,
    #[command(flatten)]
    pub tour: TourArgs,
    /// Tours to run.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub tours: u32,
    #[command(flatten)]
    pub loss: LossArg,
    #[command(flatten)]
    pub record: RecordArgs,
    /// Data-plane backend of every member.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// How members' data-plane threads wait. `spin` needs a core per member; on a host
    /// with fewer cores `local` runs in block mode and says so.
    #[arg(long, value_enum, default_value_t = PollArg::Block)]
    pub poll: PollArg,
    /// Cores for the members' data-plane threads, one per member in ring order (a
    /// single value applies to all), kept whatever the tour. Default: placed at configure
    /// as --placement says.
    #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
    pub cpus: Vec<usize>,
    /// Forward with io_uring zero-copy sends (see `stillepostd member --help`).
    #[arg(long)]
    pub zerocopy: bool,
    /// Send and receive every datagram on its own, without UDP GSO and GRO (see
    /// `stillepostd member --help`).
    #[arg(long)]
    pub no_offload: bool,
    /// No ring key: members neither challenge each other nor tag their datagrams
    /// (docs/wire-format.md), to measure what authentication costs. For this loopback ring
    /// only; a configure of other members always carries a key.
    #[arg(long)]
    pub no_auth: bool,
}

/// `--window`: a number of messages, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowArg {
    /// Every message at once.
    All,
    /// This many in flight.
    Messages(u32),
}

fn parse_window(text: &str) -> Result<WindowArg, String> {
    if text == "all" {
        return Ok(WindowArg::All);
    }
    text.parse()
        .map(WindowArg::Messages)
        .map_err(|e| format!("'{text}' is neither a number of messages nor `all`: {e}"))
}

/// `--rate`: a positive, finite number of messages per second.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        Ok(_) => Err(format!(
            "{text} is out of range: give a positive number of messages per second (0.5 is one every 2 s), or omit --rate for a closed loop"
        )),
        Err(_) => Err(format!(
            "'{text}' is not a number of messages per second (such as 1000 or 0.5)"
        )),
    }
}

/// `--dscp`: a number from 0 to 63, or the name of a standard class (RFC 2474, 2597, 3246).
fn parse_dscp(text: &str) -> Result<u32, String> {
    let name = text.to_ascii_lowercase();
    let named = match name.as_str() {
        "be" | "default" => Some(0),
        "ef" => Some(46),
        _ => None,
    }
    .or_else(|| {
        let class = |n: &str| n.parse::<u32>().ok();
        if let Some(n) = name.strip_prefix("cs").and_then(class) {
            (n <= 7).then_some(n << 3)
        } else if let Some(rest) = name.strip_prefix("af") {
            let mut digits = rest.chars().filter_map(|c| c.to_digit(10));
            match (digits.next(), digits.next(), rest.len()) {
                (Some(c @ 1..=4), Some(d @ 1..=3), 2) => Some((c << 3) | (d << 1)),
                _ => None,
            }
        } else {
            None
        }
    });
    if let Some(dscp) = named {
        return Ok(dscp);
    }
    match text.parse::<u32>() {
        Ok(dscp) if dscp <= 63 => Ok(dscp),
        Ok(_) => Err(format!(
            "{text} is out of range: 0 to 63 (46 is EF, 34 AF41, 8 CS1, 0 best effort)"
        )),
        Err(_) => Err(format!(
            "'{text}' is no DSCP: give 0 to 63 or a name (ef, af11 to af43, cs0 to cs7, be)"
        )),
    }
}

/// `stillepost tours`.
#[derive(Debug, Args)]
pub struct ToursArgs {
    /// List monitor tours too (the coordinator keeps its newest in memory).
    #[arg(long)]
    pub monitor: bool,
}
