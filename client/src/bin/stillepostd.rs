//! `stillepostd`: the Stillepost daemon, as a coordinator or as a ring member.

use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{CommandFactory, Parser, Subcommand};
use stillepost_control::access::{DaemonAccess, DaemonAccessArgs, DaemonRole};
use stillepost_control::announce::Announcer;
use stillepost_control::coordinator::{CoordinatorCore, HealthOptions, MonitorOptions, RingSet};
use stillepost_control::manual::{self, CompletionsArgs, ManArgs};
use stillepost_control::member::MemberCore;
use stillepost_control::metrics::{Observed, bind_metrics, serve_metrics};
use stillepost_control::options::{BackendArg, PollArg, available_cores};
use stillepost_control::ring::{
    ClusterSource, DEFAULT_ANNOUNCE_GROUP, announce_group, cluster_source,
};
use stillepost_control::service::{bind, serve_coordinator, serve_member};
use stillepost_control::store::{
    DEFAULT_KEEP_DAYS, DEFAULT_KEEP_TOURS, ResultStore, Retention, default_data_dir,
};
use stillepost_engine::dataplane::{DataPlane, DataPlaneOptions, Faults};

/// The Stillepost daemon: run one coordinator per ring and one member per host (or per
/// core) that takes part in the ring.
#[derive(Debug, Parser)]
#[command(name = "stillepostd", version, about, long_about = None, after_help = ACROSS_HOSTS)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

const ACROSS_HOSTS: &str = "Across hosts, every daemon and the client need the same token (docs/security.md), e.g.:\n  stillepostd coordinator --client-bind 0.0.0.0:7000 --token-file token\n  stillepostd member --coord-bind 0.0.0.0:7001 --peer-bind 0.0.0.0:7101 --token-file token";

/// The access settings for a daemon listening on `addr` (given by `flag`); logs one
/// warning for an insecure non-loopback address.
fn resolve_access(
    args: &DaemonAccessArgs,
    role: DaemonRole,
    flag: &'static str,
    addr: SocketAddr,
) -> Result<DaemonAccess> {
    let access = args.resolve(role, flag, addr)?;
    if let Some(warning) = &access.warning {
        tracing::warn!("{warning}");
    }
    Ok(access)
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Print shell completions for stillepostd (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print stillepostd's man page (roff), or write one page per role with --out-dir.
    Man(ManArgs),
    /// Drive a ring: take `stillepost` client requests, configure members, run tours.
    Coordinator {
        /// Address the client API (gRPC) listens on, host:port.
        #[arg(long, default_value = "127.0.0.1:7000", value_name = "HOST:PORT")]
        client_bind: String,
        /// Directory where every tour's result is kept (one file per tour, written
        /// atomically); results survive a restart. Default: $XDG_STATE_HOME/stillepost or
        /// ~/.local/state/stillepost.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// Keep the newest N results on disk (pruned at start and after every tour;
        /// pinned ones, `stillepost pin`, always stay). 0 keeps all.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_KEEP_TOURS)]
        keep_tours: usize,
        /// Keep results for D days (pinned ones always stay). 0 keeps them for ever.
        #[arg(long, value_name = "D", default_value_t = DEFAULT_KEEP_DAYS)]
        keep_days: u32,
        /// Monitor mode: run a short tour of the configured ring about every DURATION
        /// (e.g. 10s; each interval varies at random by ±10 % so rings do not synchronise).
        /// Monitor tours feed the metrics (--metrics-bind) and `stillepost status`; they
        /// are kept in memory, not in the data directory. A `stillepost run` waits for the
        /// monitor tour in progress, then runs.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        monitor_interval: Option<std::time::Duration>,
        /// Messages per monitor tour (at most the ring's --msgcount), one in flight; the
        /// ring's other tour settings apply.
        #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        monitor_count: u32,
        /// How often the coordinator checks that every member answers (each check has this
        /// as its deadline). A member that stops answering is marked down; one that comes
        /// back restarted is configured into the ring again by the coordinator.
        #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
        health_interval: std::time::Duration,
        /// Serve Prometheus metrics at http://HOST:PORT/metrics, and /healthz and /readyz
        /// (docs/monitoring.md). A port alone binds loopback (127.0.0.1:PORT); give an
        /// address to let a Prometheus on another host scrape it.
        #[arg(long, value_name = "HOST:PORT|PORT")]
        metrics_bind: Option<String>,
        /// Configure this ring at start, with the tour of a `stillepost configure` given no
        /// tour flag: a source (dns:NAME:PORT, dns:NAME, file:PATH, discover[:GROUP:PORT])
        /// or a list of members' control endpoints, as `stillepost configure --cluster`
        /// takes them. Tried every 5 s until it works (members may start later); a client's
        /// configure replaces it. With --monitor-interval, monitoring then starts by itself.
        #[arg(long, value_name = "SOURCE|HOST:PORT,...", value_delimiter = ',')]
        cluster: Vec<String>,
        /// With --cluster: split the members (in the order of their names for a source)
        /// into rings of at most N, configured and run in parallel, each with its own
        /// results; status and metrics (label `ring`) name the ring.
        #[arg(long, value_name = "N", requires = "cluster", value_parser = clap::value_parser!(u32).range(2..=1024))]
        ring_size: Option<u32>,
        /// Resolve `--cluster dns:` sources with this DNS server (IP, or IP:PORT; port 53
        /// by default) instead of the host's resolver configuration (/etc/resolv.conf).
        #[arg(long, value_name = "IP[:PORT]", value_parser = parse_dns_server)]
        dns_server: Option<SocketAddr>,
        /// In monitor mode, ask the ring's source (file:, dns:, discover) for its members
        /// this often (default 30s), and configure the ring again when they changed
        /// (logging who joined and who left).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        resolve_interval: Option<std::time::Duration>,
        #[command(flatten)]
        access: DaemonAccessArgs,
    },
    /// Take part in a ring: a control endpoint for the coordinator and a UDP peer socket
    /// that forwards tour messages.
    Member {
        /// Address the control API (gRPC) for the coordinator listens on, host:port.
        #[arg(long, value_name = "HOST:PORT")]
        coord_bind: String,
        #[command(flatten)]
        access: DaemonAccessArgs,
        /// This member's name in metrics and status (default: the host's name; the
        /// coordinator adds the control endpoint to names that are not unique in a ring).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Announce this member on a UDP multicast group every second (its control port,
        /// address and name, tagged with the token), so that `configure --cluster discover`
        /// finds it; it says it leaves when it stops. The group defaults to
        /// 239.255.83.80:7090; heartbeats stay on the local link (hop limit 1).
        #[arg(
            long,
            value_name = "GROUP:PORT",
            num_args = 0..=1,
            default_missing_value = DEFAULT_ANNOUNCE_GROUP,
            value_parser = parse_group
        )]
        announce: Option<SocketAddr>,
        /// Serve Prometheus metrics of this member's data plane at http://HOST:PORT/metrics,
        /// and /healthz and /readyz. A port alone binds loopback (127.0.0.1:PORT).
        #[arg(long, value_name = "HOST:PORT|PORT")]
        metrics_bind: Option<String>,
        /// Address of the UDP peer socket that receives and forwards tour messages.
        /// Binding a wildcard address (0.0.0.0) advertises the address the coordinator
        /// reached this member at, never 0.0.0.0.
        #[arg(long, value_name = "HOST:PORT")]
        peer_bind: String,
        /// Peer endpoint to advertise to the ring instead (behind NAT, or on hosts with
        /// several addresses).
        #[arg(long, value_name = "IP:PORT")]
        advertise: Option<SocketAddr>,
        /// Data-plane backend.
        #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
        backend: BackendArg,
        /// How the data-plane thread waits for datagrams. `spin` needs a core of its own.
        #[arg(long, value_enum, default_value_t = PollArg::Block)]
        poll: PollArg,
        /// Core to pin the data-plane thread to, for good: configures leave it there.
        /// Default: it starts on the last core of this host, and every configure places it
        /// as the ring's --placement says (members of one host together on a core for one
        /// message in flight, spread over the cores for more; spinning members a core
        /// each).
        #[arg(long, value_name = "N")]
        cpu: Option<usize>,
        /// Forward with io_uring zero-copy sends straight out of the receive buffers
        /// (registered as a fixed buffer). Pays only for large datagrams leaving through a
        /// real NIC; on loopback and veth the kernel copies anyway (docs/architecture.md).
        #[arg(long)]
        zerocopy: bool,
        /// Send and receive every datagram on its own. By default a message of several
        /// datagrams goes out with UDP GSO (one send carries up to 64 of them, UDP_SEGMENT)
        /// and comes in with UDP GRO where the kernel offers them; a member falls back to
        /// plain sends by itself when the kernel refuses GSO (docs/architecture.md).
        #[arg(long)]
        no_offload: bool,
        /// Testing aid: silently discard every tour datagram this member receives.
        #[arg(long, hide = true)]
        fault_drop_data: bool,
        /// Testing aid: make io_uring set-up fail as if the kernel refused it.
        #[arg(long, hide = true)]
        fault_refuse_uring: bool,
        /// Testing aid: use this many receive buffers.
        #[arg(long, hide = true)]
        fault_buffers: Option<u32>,
        /// Testing aid: shift this member's clock by this many ns, as if it ran on another
        /// host (the coordinator then probes its clock offset).
        #[arg(long, hide = true, allow_negative_numbers = true, default_value_t = 0)]
        fault_clock_shift_ns: i64,
        /// Testing aid (origin): after sending message SEQ (from 0), stop sending for MS
        /// milliseconds, as a descheduled sender would.
        #[arg(long, hide = true, value_name = "SEQ:MS", value_parser = parse_stall)]
        fault_origin_stall: Option<(u32, u32)>,
        /// Testing aid: give the peer socket this receive buffer, whatever the tour needs.
        #[arg(long, hide = true, value_name = "BYTES")]
        fault_rcvbuf: Option<u32>,
        /// Testing aid: make the kernel refuse every GSO send (EINVAL), so that the member
        /// falls back to plain sends.
        #[arg(long, hide = true)]
        fault_refuse_gso: bool,
    },
}

fn resolve(flag: &str, value: &str) -> Result<SocketAddr> {
    value
        .to_socket_addrs()
        .with_context(|| format!("{flag} '{value}' is not a host:port that resolves"))?
        .next()
        .ok_or_else(|| anyhow!("{flag} '{value}' resolves to no address"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Parses a duration such as `10s` or `500ms` (at least 100 ms).
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("'{text}' is not a duration such as 10s or 500ms: {e}"))?;
    if d < std::time::Duration::from_millis(100) {
        return Err(format!(
            "'{text}' is shorter than the shortest interval, 100ms"
        ));
    }
    Ok(d)
}

/// `--resolve-interval`'s default.
const DEFAULT_RESOLVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// `--dns-server`: an IP, with port 53, or an IP and port.
fn parse_dns_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    text.parse().map_err(|_| {
        format!("'{text}' is not an IP address or IP:PORT, as in 10.96.0.10 or [fd00::a]:5353")
    })
}

/// `--announce`: a multicast group and port.
fn parse_group(text: &str) -> Result<SocketAddr, String> {
    announce_group(text)
}

/// `--metrics-bind`: a port alone is loopback's.
fn metrics_addr(value: &str) -> Result<SocketAddr> {
    match value.parse::<u16>() {
        Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => resolve("--metrics-bind", value),
    }
}

/// Binds `--metrics-bind` when given and serves it for `daemon` until `stop` fires.
async fn start_metrics<D: Observed>(
    value: Option<&str>,
    daemon: Arc<D>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<Option<SocketAddr>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let addr = metrics_addr(value)?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "--metrics-bind {addr}: /metrics has no token or TLS; anyone who reaches this address reads the ring's names, endpoints and measurements (docs/monitoring.md)"
        );
    }
    let listener = bind_metrics(addr).await?;
    let local = listener.local_addr()?;
    let stop = stopped(stop.clone());
    tokio::spawn(async move {
        if let Err(e) = serve_metrics(listener, daemon, stop).await {
            tracing::error!("the metrics endpoint failed: {e}");
        }
    });
    Ok(Some(local))
}

/// Completes once `stop` says so (or its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

async fn run(cli: Cli) -> Result<()> {
    // One signal stops every server of the daemon.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    match cli.role {
        Role::Completions(args) => {
            let mut text = Vec::new();
            manual::completions(Cli::command(), "stillepostd", args.shell, &mut text);
            write_stdout(&text)?;
        }
        Role::Man(args) => match &args.out_dir {
            None => write_stdout(&manual::man_page(Cli::command())?)?,
            Some(dir) => {
                for page in manual::man_pages(Cli::command(), dir).with_context(|| {
                    format!("--out-dir {}: cannot write the pages", dir.display())
                })? {
                    say(format_args!("wrote {}", page.display()));
                }
            }
        },
        Role::Coordinator {
            client_bind,
            data_dir,
            keep_tours,
            keep_days,
            monitor_interval,
            monitor_count,
            health_interval,
            metrics_bind,
            dns_server,
            resolve_interval,
            cluster,
            ring_size,
            access,
        } => {
            let addr = resolve("--client-bind", &client_bind)?;
            let access = resolve_access(&access, DaemonRole::Coordinator, "--client-bind", addr)?;
            if !cluster.is_empty() {
                let source = cluster_source(&cluster).map_err(|e| anyhow!("{e}"))?;
                if matches!(source, ClusterSource::Discover(_)) && access.members.token.is_none() {
                    bail!(
                        "--cluster {}: discovery needs the ring's token (--token-file or STILLEPOST_TOKEN): members' heartbeats are tagged with it",
                        source.entry()
                    );
                }
            }
            let data_dir = data_dir.unwrap_or_else(default_data_dir);
            let store = ResultStore::open(&data_dir)?;
            let retention = Retention {
                keep_tours,
                keep_days,
            };
            let (core, removed) = CoordinatorCore::with_store(store)?
                .with_member_credentials(access.members)
                .with_dns_server(dns_server)
                .with_retention(retention)?;
            if !removed.is_empty() {
                tracing::info!(
                    "removed {} stored results past --keep-tours {keep_tours} / --keep-days {keep_days}",
                    removed.len()
                );
            }
            match core.restore_ring().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    "took up the ring of {n} members configured before the restart (each still has its configuration)"
                ),
                Err(why) => tracing::warn!(
                    "the ring configured before the restart is not taken up: {why}; configure it again"
                ),
            }
            let listener = bind("--client-bind", addr).await?;
            let local = listener.local_addr()?;
            let rings = RingSet::new(Arc::new(core));
            let metrics = start_metrics(metrics_bind.as_deref(), Arc::clone(&rings), &stop).await?;
            rings.start_health(HealthOptions {
                interval: health_interval,
            });
            if monitor_interval.is_none() && resolve_interval.is_some() {
                tracing::warn!(
                    "--resolve-interval applies in monitor mode only (--monitor-interval); without it the ring's source is asked at each configure"
                );
            }
            if let Some(interval) = monitor_interval {
                rings.start_monitor(MonitorOptions {
                    interval,
                    count: monitor_count,
                    resolve_interval: resolve_interval.unwrap_or(DEFAULT_RESOLVE_INTERVAL),
                });
            }
            if !cluster.is_empty() {
                rings.configure_at_start(
                    cluster.iter().map(|e| e.trim().to_string()).collect(),
                    ring_size.unwrap_or(0),
                );
            }
            say(format_args!(
                "stillepostd coordinator: listening for clients on {local} ({}), results in {}{}{}",
                access.listen.describe(),
                data_dir.display(),
                metrics.map_or_else(String::new, |m| format!(", metrics on http://{m}/metrics")),
                monitor_interval.map_or_else(String::new, |i| format!(
                    ", a monitor tour of {monitor_count} messages every {}",
                    humantime::format_duration(i)
                )),
            ));
            tracing::info!(%local, "coordinator ready");
            serve_coordinator(listener, rings, access.listen, stopped(stop))
                .await
                .context("the coordinator's gRPC server failed")?;
        }
        Role::Member {
            coord_bind,
            name,
            announce,
            metrics_bind,
            access,
            peer_bind,
            advertise,
            backend,
            poll,
            cpu,
            zerocopy,
            no_offload,
            fault_drop_data,
            fault_refuse_uring,
            fault_buffers,
            fault_clock_shift_ns,
            fault_origin_stall,
            fault_rcvbuf,
            fault_refuse_gso,
        } => {
            let control_addr = resolve("--coord-bind", &coord_bind)?;
            let access = resolve_access(&access, DaemonRole::Member, "--coord-bind", control_addr)?;
            let peer_addr = resolve("--peer-bind", &peer_bind)?;
            let options = DataPlaneOptions {
                backend: backend.into(),
                poll: poll.into(),
                cpu: cpu.or_else(|| available_cores().last().copied()),
                zerocopy,
                no_offload,
                faults: Faults {
                    drop_data: fault_drop_data,
                    refuse_uring: fault_refuse_uring,
                    buffers: fault_buffers,
                    clock_shift_ns: fault_clock_shift_ns,
                    origin_stall: fault_origin_stall,
                    rcvbuf: fault_rcvbuf,
                    refuse_gso: fault_refuse_gso,
                },
            };
            let dataplane = DataPlane::spawn_with(peer_addr, options)?;
            let started = dataplane.started();
            let peer_local = dataplane.local_addr();
            let listener = bind("--coord-bind", control_addr).await?;
            let local = listener.local_addr()?;
            if fault_drop_data {
                tracing::warn!("fault injection: every tour datagram will be dropped");
            }
            let fallback = dataplane.fallback_reason().map(str::to_string);
            let mut core = MemberCore::new(dataplane, advertise).with_psk(access.psk);
            if cpu.is_some() {
                core = core.with_fixed_cpu();
            }
            if let Some(name) = name {
                core = core.with_name(name);
            }
            let core = Arc::new(core);
            let metrics = start_metrics(metrics_bind.as_deref(), Arc::clone(&core), &stop).await?;
            say(format_args!(
                "stillepostd member: control on {local} ({}), peer socket on {peer_local}, backend {}, poll {}, cpu {}, name {}{}",
                access.listen.describe(),
                started.backend.name(),
                started.poll.name(),
                started.cpu.map_or("any".to_string(), |c| c.to_string()),
                core.name(),
                metrics.map_or_else(String::new, |m| format!(", metrics on http://{m}/metrics")),
            ));
            if let Some(reason) = fallback {
                say(format_args!(
                    "stillepostd member: io_uring cannot start ({reason}); running the syscall backend"
                ));
            }
            let announcer = match announce {
                Some(group) => {
                    let token = access.listen.token.as_ref().ok_or_else(|| {
                        anyhow!(
                            "--announce {group} needs the ring's token (--token-file or STILLEPOST_TOKEN): heartbeats are tagged with it, so that a coordinator can tell them from a stranger's"
                        )
                    })?;
                    let announcer = Announcer::start(group, local, core.name(), token)
                        .map_err(|why| anyhow!("--announce {group}: {why}"))?;
                    say(format_args!(
                        "stillepostd member: announcing {} as {} on {group} every second",
                        announcer.endpoint(),
                        core.name()
                    ));
                    Some(announcer)
                }
                None => None,
            };
            tracing::info!(control = %local, peer = %peer_local, "member ready");
            let served = serve_member(listener, core, access.listen, stopped(stop)).await;
            if let Some(announcer) = announcer {
                announcer.leave().await;
            }
            served.context("the member's gRPC server failed")?;
        }
    }
    Ok(())
}

/// Writes generated text (completions, a man page) to stdout; a reader that closed it
/// early is not an error.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Prints a line on stdout (where the daemon says where it listens), ignoring failure: a
/// daemon whose stdout reader went away keeps serving (its log goes to stderr).
fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    stillepost_control::rpc::init_logging("info");
    match stillepost_control::process::raise_fd_limit() {
        Ok((before, after)) if after > before => {
            tracing::debug!(
                before,
                after,
                "raised the open-file limit to its hard limit"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot raise the open-file limit (RLIMIT_NOFILE): {e}"),
    }
    let runtime = match stillepost_control::rpc::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Parses `--fault-origin-stall SEQ:MS`.
fn parse_stall(text: &str) -> Result<(u32, u32), String> {
    let (seq, ms) = text
        .split_once(':')
        .ok_or_else(|| format!("'{text}' is not SEQ:MS (for example 100:50)"))?;
    let number = |what: &str, v: &str| {
        v.parse::<u32>()
            .map_err(|e| format!("{what} '{v}' in '{text}' is not a number: {e}"))
    };
    Ok((number("SEQ", seq)?, number("MS", ms)?))
}
