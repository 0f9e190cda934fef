//! The coordinator core: configures the ring, runs tours one at a time, and assembles each
//! tour's result from the members' reports. The tonic service
//! ([`crate::service::CoordinatorService`]) only converts protocol messages to calls here.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use stillepost_engine::auth::{DatagramKey, RingKey};
use tokio::sync::{Notify, watch};
use tonic::Status;

use stillepost_engine::dataplane::PollMode;
use stillepost_engine::histogram::Summary;

use crate::access::Credentials;
use crate::assemble::{Seat, assemble_result};
use crate::domain::{
    ClockEstimate, MemberConfigured, MemberIdentity, MemberInfo, MemberReport, MemberSetup,
    MemberState, Outcome, RingAuth, RingConfigured, RingStatus, RunningProgress, Takeover,
    TourReportState,
};
use crate::echo::{ProbeOptions, Rtts};
use crate::metrics::CoordinatorMetrics;
use crate::placement;
use crate::proto::member_client::MemberClient;
use crate::proto::{self, TourParams};
use crate::ring::{
    ClusterError, ClusterSource, MAX_CONFIGURE_TIMEOUT_MS, cluster_source, datagram_for_mtu,
    fragment_size, params_to_config, validate_params,
};
use crate::rpc::{
    CALL_TIMEOUT, CONNECT_TIMEOUT, TlsTrouble, TokenChannel, call, describe, is_no_answer,
    is_unreachable, no_answer_cause, request, tls_trouble,
};
use crate::store::{ResultStore, Retention, StoreError};

mod ring_set;
mod sources;
mod watch_ring;

pub use ring_set::RingSet;
pub use watch_ring::{HealthOptions, MonitorOptions};

/// How long one long-poll of the origin waits before reporting progress.
const ORIGIN_POLL: Duration = Duration::from_millis(500);
/// How long a forwarder's liveness check during a tour may take.
const FORWARDER_CHECK: Duration = Duration::from_secs(1);
/// How long a member may leave the coordinator's calls unanswered during a tour that
/// makes no progress before the tour ends, naming it; the origin's long-poll gets this
/// long beyond its poll, too.
const SILENCE_LIMIT: Duration = Duration::from_secs(3);
/// Beyond the member timeout, how long the coordinator waits for an origin that reports
/// no progress and no end before it ends the tour itself.
const ORIGIN_GRACE: Duration = Duration::from_secs(5);
/// Origin polls in a row that may run out before the origin is called silent, as long as it
/// answers a check after each (the coordinator itself was stopped or descheduled).
const ORIGIN_RECHECKS: u32 = 3;
/// Clock probes a member answers to its previous member before the minimum-round-trip
/// sample is taken (DESIGN.md "Measurement": at least 32).
const CLOCK_PROBES: u32 = 32;
/// Results kept in memory.
const RESULTS_KEPT: usize = 256;

/// Results with every message's timestamps (`run --raw`: up to 16 B per message per member,
/// tens of MB each) kept in memory; older ones are served from the data directory, or
/// without one lose their timestamps.
const STAMPED_KEPT: usize = 4;
/// The first ring's label in metrics, and its name while the members form several rings.
pub const FIRST_RING: &str = "0";

/// Why the coordinator refused or failed a request. Each maps to one gRPC status code in
/// `crate::service` (`From<CoordError> for Status`), next to the member's errors.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// A request field is invalid; the text names it.
    #[error("{0}")]
    InvalidArgument(String),
    /// What went wrong in one of several rings (`--ring-size`).
    #[error("ring {ring}: {error}")]
    InRing {
        /// The ring's name.
        ring: String,
        /// What went wrong there.
        error: Box<CoordError>,
    },
    /// No ring has been configured yet.
    #[error(
        "the ring is not configured: run `stillepost configure --cluster <member,member,...>` first"
    )]
    NotConfigured,
    /// A tour (or a configuration) is in progress.
    #[error("ring busy: {0}; try again when it has finished")]
    Busy(String),
    /// A member could not be reached.
    #[error(
        "member {index} ({endpoint}) is unreachable: {cause}; check that `stillepostd member` runs there and that its --coord-bind address is reachable from the coordinator"
    )]
    MemberUnreachable {
        /// Ring index.
        index: usize,
        /// Control endpoint as configured.
        endpoint: String,
        /// What the transport said.
        cause: String,
    },
    /// A member that took the call but did not answer it in time.
    #[error(
        "member {index} ({endpoint}) did not answer {call} in time: {cause}; is `stillepostd member` there stopped (SIGSTOP, a debugger), hung, or its host overloaded?"
    )]
    MemberSilent {
        /// Ring index.
        index: usize,
        /// Control endpoint as configured.
        endpoint: String,
        /// The call.
        call: &'static str,
        /// What the transport said.
        cause: String,
    },
    /// An endpoint that answers gRPC but not as a member (the coordinator's own port, say).
    #[error(
        "member {index} ({endpoint}) is not a Stillepost member: it answers gRPC but not the member API ({cause}); is it the coordinator's own --client-bind, or another service? Give the members' --coord-bind endpoints"
    )]
    NotAMember {
        /// Ring index.
        index: usize,
        /// Control endpoint as configured.
        endpoint: String,
        /// What it answered.
        cause: String,
    },
    /// The coordinator and a member do not agree on TLS.
    #[error("member {index} ({endpoint}): {cause}; {hint}")]
    MemberTls {
        /// Ring index.
        index: usize,
        /// Control endpoint as configured.
        endpoint: String,
        /// What the transport said.
        cause: String,
        /// What to change.
        hint: &'static str,
    },
    /// A member refused the coordinator's token (or wanted one it does not have).
    #[error(
        "member {index} ({endpoint}) refused the coordinator's token: {cause}; start the coordinator and every member with the same token (--token-file or STILLEPOST_TOKEN)"
    )]
    MemberUnauthenticated {
        /// Ring index.
        index: usize,
        /// Control endpoint as configured.
        endpoint: String,
        /// The member's message.
        cause: String,
    },
    /// A member answered with an error.
    #[error("member {index} ({endpoint}) refused {call}: {cause}")]
    MemberRefused {
        /// Ring index.
        index: usize,
        /// Control endpoint as configured.
        endpoint: String,
        /// The call refused.
        call: &'static str,
        /// The member's message.
        cause: String,
    },
    /// Configuring took longer than the request allowed.
    #[error(
        "configuring the ring took longer than --timeout ({seconds} s); the ring is not configured"
    )]
    ConfigureTimeout {
        /// The timeout.
        seconds: f64,
    },
    /// No tour with that id is known.
    #[error("no tour {0:016x} is known to this coordinator")]
    UnknownTour(u64),
    /// A cancel when no tour runs (`None`), or when the one named has finished.
    #[error("{}", match .0 {
        Some(id) => format!("tour {id:016x} has already finished: `stillepost report {id:016x}` shows it"),
        None => "no tour is running".to_owned(),
    })]
    NotRunning(Option<u64>),
    /// `latest` was asked for before any tour finished.
    #[error("no tour has finished on this coordinator yet: run `stillepost run` first")]
    NoTourYet,
    /// The data directory failed.
    #[error("{0}")]
    Storage(String),
    /// A task of the coordinator's own failed (a bug, or the process shutting down).
    #[error("{0}")]
    Internal(String),
}

#[derive(Debug, Clone)]
struct RingMember {
    index: usize,
    control: String,
    client: MemberClient<TokenChannel>,
    info: MemberInfo,
    /// Its peer endpoint and the clock it reads.
    seat: Seat,
    /// The configuration this coordinator made on it (its number on the member).
    generation: u64,
    /// Its name in the ring (metrics label it so).
    name: String,
    /// Its process's random id when it was configured: another one means it restarted.
    instance_id: String,
}

impl RingMember {
    fn error(&self, call_name: &'static str, status: &Status) -> CoordError {
        member_error(self.index, &self.control, call_name, status)
    }
}

/// Whether a call failed because the member's process is gone: its control port refuses,
/// resets or closes connections (a transport failure, not an answer).
fn is_gone(status: &Status) -> bool {
    std::error::Error::source(status).is_some() && !is_no_answer(status)
}

/// Why a tour ended when member `m`'s process went away (`status`: how its port failed).
fn went_away(m: &RingMember, status: &Status) -> String {
    format!(
        "member {} ({}) went away during the tour: {}",
        m.index,
        m.control,
        describe(status)
    )
}

/// Why a tour ended when member `m` left the coordinator's calls unanswered for `silence`
/// while the tour stood still.
fn stopped_answering(m: &RingMember, silence: Duration) -> String {
    format!(
        "member {} ({}) stopped answering during the tour: no answer for {:.1} s while the tour made no progress; is the process stopped (SIGSTOP, a debugger) or hung, its host overloaded, or the network to it cut?",
        m.index,
        m.control,
        silence.as_secs_f64()
    )
}

/// A failed first call to a member: a TLS mismatch named as such, else as
/// [`member_error`]. `tls` says whether the coordinator spoke TLS to it.
fn first_call_error(index: usize, endpoint: &str, status: &Status, tls: bool) -> CoordError {
    if status.code() == tonic::Code::Unimplemented {
        return CoordError::NotAMember {
            index,
            endpoint: endpoint.to_string(),
            cause: describe(status),
        };
    }
    let Some(trouble) = tls_trouble(status, tls) else {
        return member_error(index, endpoint, "Info", status);
    };
    let hint = match trouble {
        TlsTrouble::PeerServesTls => {
            "if it serves TLS (its start line says so), start the coordinator with --tls-ca <the CA that signed the members' certificates>"
        }
        TlsTrouble::PeerServesPlain => {
            "it does not serve TLS: start it with --tls-cert and --tls-key, or the coordinator without --tls-ca"
        }
        TlsTrouble::PeerCertificate => {
            "its certificate is not signed by the coordinator's --tls-ca, or does not name the address given in --cluster"
        }
        TlsTrouble::ClosedAfterHandshake => {
            "if it requires client certificates (its start line says \"TLS with client certificates\"), start the coordinator with a --tls-cert and --tls-key signed by the member's --tls-ca"
        }
    };
    CoordError::MemberTls {
        index,
        endpoint: endpoint.to_string(),
        cause: describe(status),
        hint,
    }
}

fn member_error(
    index: usize,
    endpoint: &str,
    call_name: &'static str,
    status: &Status,
) -> CoordError {
    if status.code() == tonic::Code::Unauthenticated {
        CoordError::MemberUnauthenticated {
            index,
            endpoint: endpoint.to_string(),
            cause: describe(status),
        }
    } else if is_no_answer(status) {
        CoordError::MemberSilent {
            index,
            endpoint: endpoint.to_string(),
            call: call_name,
            cause: no_answer_cause(status).to_owned(),
        }
    } else if is_unreachable(status) {
        CoordError::MemberUnreachable {
            index,
            endpoint: endpoint.to_string(),
            cause: describe(status),
        }
    } else {
        CoordError::MemberRefused {
            index,
            endpoint: endpoint.to_string(),
            call: call_name,
            cause: describe(status),
        }
    }
}

#[derive(Debug)]
struct Ring {
    params: TourParams,
    members: Vec<RingMember>,
    /// The key echo requests to the members must carry (`None`: a ring without a key).
    echo_key: Option<DatagramKey>,
    /// Where its members came from (`file:<path>`), when not from a list.
    source: Option<String>,
    /// Where its configure placed the members' data-plane threads, and why.
    placed: Option<proto::Placed>,
}

impl Ring {
    /// Its members' names, by ring index.
    fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }
}

/// The ring a client asked for: what the coordinator configures again by itself when a
/// member restarted.
#[derive(Debug, Clone)]
struct Wanted {
    cluster: Vec<String>,
    params: TourParams,
    auth: RingAuth,
}

/// What a tour is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TourKind {
    /// A client's `run`; `record_stamps` records every message's timestamps.
    Run { record_stamps: bool },
    /// A monitor tour of this many messages (the coordinator's --monitor-interval).
    Monitor { count: u32 },
}

/// What the health checks know of a member.
#[derive(Debug, Clone, Default)]
struct Health {
    /// Whether the last check reached it.
    up: bool,
    /// When a check last reached it, ms since the epoch (0: not yet).
    last_seen_unix_ms: u64,
    /// Its process's id as of the last check that reached it.
    instance_id: String,
    /// Why the last check failed, when it did.
    error: Option<String>,
}

impl Ring {
    /// Checks every forwarder's control port once, during a tour. Returns the member that
    /// ends the tour now, with why: one whose port refuses, resets or closes connections
    /// (its process died), or one that has answered no check for [`SILENCE_LIMIT`] while
    /// the tour made no progress (a stopped or hung process: its kernel still accepts
    /// connections, so nothing is refused). `silent[i]` is when member i's run of
    /// unanswered checks began; `stalled_since` when the origin last reported progress.
    async fn check_forwarders(
        &self,
        silent: &mut [Option<Instant>],
        stalled_since: Instant,
    ) -> Option<(usize, String)> {
        let checks = join_all(self.members.iter().skip(1).map(|m| {
            let mut client = m.client.clone();
            async move {
                call(
                    FORWARDER_CHECK,
                    client.info(request(
                        proto::InfoRequest { liveness: true },
                        FORWARDER_CHECK,
                    )),
                )
                .await
                .err()
            }
        }))
        .await;
        let now = Instant::now();
        let mut verdict = None;
        for (m, failure) in self.members.iter().skip(1).zip(checks) {
            let since = &mut silent[m.index];
            match failure {
                None => *since = None,
                Some(status) if is_gone(&status) => {
                    verdict = verdict.or(Some((m.index, went_away(m, &status))));
                }
                Some(status) if is_no_answer(&status) => {
                    let began = *since.get_or_insert(now);
                    if now.duration_since(began.max(stalled_since)) >= SILENCE_LIMIT {
                        let why = stopped_answering(m, now.duration_since(began));
                        verdict = verdict.or(Some((m.index, why)));
                    }
                }
                // Refused for another reason (busy, unauthenticated): it answers.
                Some(_) => *since = None,
            }
        }
        verdict
    }

    /// Makes one tour call on every member at once, each with a deadline, except member
    /// `skip`, which stopped answering: its entry is `Err(why)` without a call.
    async fn on_every_member<T, Fut>(
        &self,
        call_name: &'static str,
        tour_id: u64,
        skip: Option<(usize, &str)>,
        make_call: impl Fn(MemberClient<TokenChannel>, tonic::Request<proto::TourRef>) -> Fut,
    ) -> Vec<Result<T, String>>
    where
        Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    {
        join_all(self.members.iter().map(|m| {
            let skipped = skip.filter(|(index, _)| *index == m.index);
            let fut = make_call(
                m.client.clone(),
                request(proto::TourRef { tour_id }, CALL_TIMEOUT),
            );
            async move {
                // Named once: the tour's error already says why (see assemble_result).
                if let Some((_, why)) = skipped {
                    return Err(why.to_owned());
                }
                call(CALL_TIMEOUT, fut)
                    .await
                    .map_err(|s| m.error(call_name, &s).to_string())
            }
        }))
        .await
    }
}

/// Where a tour stands, as a long-poll answers.
#[derive(Debug, Clone, PartialEq)]
pub enum TourProgress {
    /// It finished: its result.
    Done(Arc<proto::TourResult>),
    /// Still running: the origin's progress, and messages the tour sends in all.
    Running {
        /// Messages sent so far.
        sent: u64,
        /// Messages back so far.
        received: u64,
        /// Messages of the tour.
        count: u64,
    },
}

/// What a running tour has reported so far.
#[derive(Debug, Clone)]
enum TourState {
    Running { sent: u64, received: u64 },
    Done(Arc<proto::TourResult>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    Configuring,
    Tour(u64),
}

/// A tour in progress: what the origin reports, when it started, how to end it early.
#[derive(Debug, Clone)]
struct Running {
    progress: watch::Receiver<TourState>,
    started: Instant,
    cancel: Arc<Notify>,
    /// Messages the tour sends.
    count: u32,
}

#[derive(Debug, Default)]
struct State {
    ring: Option<Arc<Ring>>,
    busy: Option<Busy>,
    running: HashMap<u64, Running>,
    results: HashMap<u64, Arc<proto::TourResult>>,
    order: VecDeque<u64>,
    /// The last finished tour a client ran (monitor tours are in `monitor`).
    last_tour: u64,
    /// The ring the last configure asked for.
    wanted: Option<Wanted>,
    /// Whether the health checks are configuring `wanted` again (a member restarted) and
    /// keep trying until it works.
    recovering: bool,
    /// Per member by ring index, what the health checks found.
    health: Vec<Health>,
    /// Per member by ring index, how it fared in the last tour.
    last_member_tours: Vec<Option<TourReportState>>,
    /// The monitor tour running now.
    monitor_tour: Option<u64>,
    /// Monitor mode's state, when it is on.
    monitor: Option<crate::domain::MonitorStatus>,
    /// `run` requests waiting for a monitor tour to end (monitoring starts none meanwhile).
    run_waiting: usize,
    /// With several rings: at most this many members per ring (the first ring keeps it
    /// with its configuration, so that it is not taken up alone after a restart).
    ring_size: u32,
}

/// Keeps the timestamps of only the `keep` newest results that have them in memory: an
/// older one is dropped from memory when `on_disk` (its stored copy serves it), else its
/// copy in memory loses its timestamps.
fn evict_stamps(
    order: &VecDeque<u64>,
    results: &mut HashMap<u64, Arc<proto::TourResult>>,
    keep: usize,
    on_disk: bool,
) {
    let stamped = |r: &proto::TourResult| r.members.iter().any(|m| !m.stamps.is_empty());
    let old: Vec<u64> = order
        .iter()
        .rev()
        .filter(|id| results.get(id).is_some_and(|r| stamped(r)))
        .skip(keep)
        .copied()
        .collect();
    for id in old {
        if on_disk {
            results.remove(&id);
        } else if let Some(r) = results.get_mut(&id) {
            let mut lighter = proto::TourResult::clone(r);
            for m in &mut lighter.members {
                m.stamps.clear();
            }
            *r = Arc::new(lighter);
        }
    }
}

/// A tour started, as its task drives it.
#[derive(Debug)]
struct TourRun {
    ring: Arc<Ring>,
    tour_id: u64,
    /// The ring's parameters with the tour's own count, window and warm-up.
    params: TourParams,
    monitor: bool,
    started_unix_ms: u64,
}

/// A monitor tour's count, window and warm-up on a ring configured with `params`: `count`
/// messages (at most the configured count), one in flight (all of them when members hold
/// every message before forwarding), the configured warm-up when it leaves messages to
/// record, else none.
fn monitor_shape(params: &TourParams, count: u32) -> stillepost_engine::tour::TourShape {
    let count = count.clamp(1, params.count.max(1));
    stillepost_engine::tour::TourShape {
        count,
        window: if params.forward_immediately { 1 } else { count },
        warmup: if params.warmup < count {
            params.warmup
        } else {
            0
        },
    }
}

/// Every member's name in the ring: its own (`names`, by index) where that is unique,
/// else its own and its control endpoint (`cluster`), so that metrics label each apart.
fn ring_names(names: &[&str], cluster: &[String]) -> Vec<String> {
    names
        .iter()
        .zip(cluster)
        .map(|(&name, entry)| {
            let name = if name.is_empty() { "member" } else { name };
            if names.iter().filter(|&&other| other == name).count() > 1 {
                format!("{name}/{entry}")
            } else {
                name.to_string()
            }
        })
        .collect()
}

/// The ring's members by index with their peer endpoints, and the ring's echo key.
type ProbeTargets = (Vec<(u32, SocketAddr)>, Option<DatagramKey>);

/// A finished tour in a few numbers. A tour-latency histogram that does not decode sums up
/// as no samples (`stillepost report` names the damage).
fn summarize(result: &proto::TourResult) -> proto::TourSummary {
    let latency = stillepost_engine::histogram::decode(&result.tour_latency)
        .map(|h| Summary::of(&h))
        .unwrap_or_default();
    proto::TourSummary {
        tour_id: result.tour_id,
        started_unix_ms: result.started_unix_ms,
        members: result.members.len() as u32,
        params: result.params,
        outcome: result.outcome,
        messages_sent: result.messages_sent,
        messages_received: result.messages_received,
        lost: result.lost,
        latency_count: latency.count,
        p50_ns: latency.p50_ns,
        p99_ns: latency.p99_ns,
        pinned: false,
        monitor: result.monitor,
    }
}

/// A client of a member's control service that takes a tour report with every message's
/// timestamps (16 B per message, up to [`crate::member::MAX_RECORDED_MESSAGES`]).
fn member_client(channel: TokenChannel) -> MemberClient<TokenChannel> {
    MemberClient::new(channel).max_decoding_message_size(64 << 20)
}

/// Now, in ms since the epoch.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A fresh coordinator id: the host's name and 8 random hex digits, so an operator can
/// tell which coordinator holds a member.
fn new_id() -> String {
    let host = crate::member::host_name().unwrap_or_else(|| "coordinator".to_string());
    format!("{host}-{:08x}", rand::random::<u32>())
}

/// The coordinator: one ring, one tour at a time.
#[derive(Debug)]
pub struct CoordinatorCore {
    state: Mutex<State>,
    store: Option<ResultStore>,
    /// The token every call to a member carries, and TLS to reach it.
    member_credentials: Credentials,
    /// This coordinator's id (random per process): members belong to it once it
    /// configured them, until its lease runs out.
    id: String,
    /// Which stored results it keeps.
    retention: Retention,
    /// Its Prometheus metrics.
    metrics: Arc<CoordinatorMetrics>,
    /// The DNS server `dns:` sources are resolved with (None: the system's).
    dns_server: Option<SocketAddr>,
    /// The multicast groups it listens on for `discover` sources, each from its first use.
    listeners: Mutex<HashMap<SocketAddr, Arc<crate::announce::Listener>>>,
    /// Its ring's label in metrics ("0" for the first), and in results and replies while
    /// the members form several rings.
    label: String,
    /// Keeps its ring in the data directory (the first ring; the others are configured
    /// again through the first).
    keeps_ring: bool,
    /// Not in use (the members form fewer rings now): its health checks, monitor tours and
    /// source following do nothing until the ring set uses it again.
    retired: std::sync::atomic::AtomicBool,
}

impl Default for CoordinatorCore {
    fn default() -> Self {
        CoordinatorCore {
            state: Mutex::default(),
            store: None,
            member_credentials: Credentials::default(),
            id: String::new(),
            retention: Retention::default(),
            metrics: Arc::default(),
            dns_server: None,
            listeners: Mutex::default(),
            label: FIRST_RING.to_string(),
            keeps_ring: true,
            retired: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// Clears the busy mark when a configuration or tour set-up ends early.
struct BusyGuard<'a> {
    core: &'a CoordinatorCore,
    armed: bool,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.core.lock().busy = None;
        }
    }
}

fn busy_text(busy: Busy) -> String {
    match busy {
        Busy::Configuring => "the ring is being configured".to_string(),
        Busy::Tour(id) => format!("tour {id:016x} is running"),
    }
}

impl CoordinatorCore {
    /// A coordinator with no ring that keeps results in memory only.
    pub fn new() -> CoordinatorCore {
        CoordinatorCore {
            id: new_id(),
            ..CoordinatorCore::default()
        }
    }

    /// The same coordinator, keeping the stored results `retention` says (pruned now and
    /// after every tour); returns it with the tours removed now.
    pub fn with_retention(
        self,
        retention: Retention,
    ) -> Result<(CoordinatorCore, Vec<u64>), StoreError> {
        let removed = match &self.store {
            Some(store) => store.prune(retention, unix_ms())?,
            None => Vec::new(),
        };
        Ok((CoordinatorCore { retention, ..self }, removed))
    }

    /// Pins (or unpins) a stored result: the latest (`tour_id` None) or a given one.
    pub async fn pin(&self, tour_id: Option<u64>, pinned: bool) -> Result<u64, CoordError> {
        let id = match tour_id {
            Some(id) => id,
            None => match self.lock().last_tour {
                0 => return Err(CoordError::NoTourYet),
                id => id,
            },
        };
        let Some(store) = self.store.clone() else {
            return Err(CoordError::InvalidArgument(
                "this coordinator keeps no results on disk, so there is nothing to pin".into(),
            ));
        };
        let found = tokio::task::spawn_blocking(move || store.pin(id, pinned))
            .await
            .map_err(|e| CoordError::Storage(e.to_string()))?
            .map_err(|e| CoordError::Storage(e.to_string()))?;
        if found {
            Ok(id)
        } else {
            Err(CoordError::UnknownTour(id))
        }
    }

    /// This coordinator's id, as members name it when it holds them.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A coordinator that keeps every result in `store` too, and knows the tours a
    /// previous run of it finished.
    pub fn with_store(store: ResultStore) -> Result<CoordinatorCore, StoreError> {
        let last_tour = store.index()?.last().map_or(0, |&(_, id)| id);
        // The same id across restarts: members stay this coordinator's.
        let id = store.coordinator_id(new_id)?;
        let core = CoordinatorCore {
            state: Mutex::new(State {
                last_tour,
                ..State::default()
            }),
            store: Some(store),
            id,
            ..CoordinatorCore::default()
        };
        Ok(core)
    }

    /// Another ring of this coordinator (`--ring-size`), labelled `label`: the same id,
    /// credentials, result store and retention, a state and metrics of its own; it does not
    /// keep its ring in the data directory.
    pub(crate) fn another_ring(&self, label: &str) -> CoordinatorCore {
        CoordinatorCore {
            state: Mutex::new(State::default()),
            store: self.store.clone(),
            member_credentials: self.member_credentials.clone(),
            id: self.id.clone(),
            retention: self.retention,
            metrics: Arc::new(CoordinatorMetrics::for_ring(label)),
            dns_server: self.dns_server,
            listeners: Mutex::default(),
            label: label.to_string(),
            keeps_ring: false,
            retired: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the ring set does not use this ring now.
    pub(crate) fn retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The ring set uses this ring again.
    pub(crate) fn reuse(&self) {
        self.retired
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// The identity of its ring as configured now (changes with every configure that
    /// reached its members; None without a ring).
    pub(crate) fn ring_identity(&self) -> Option<usize> {
        self.lock().ring.as_ref().map(|r| Arc::as_ptr(r) as usize)
    }

    /// Its ring's name in replies and results while the members form several rings: the
    /// second ring and after always are one of several, the first while it has a ring size.
    pub(crate) fn ring_name(&self) -> Option<String> {
        let split = !self.keeps_ring || self.lock().ring_size > 0;
        split.then(|| self.label.clone())
    }

    /// Its ring's label ("0" for the first ring).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Leaves its ring (the members now form fewer rings): no ring, nothing to configure
    /// again, no series in the metrics.
    pub(crate) fn forget_ring(&self) {
        self.retired
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // A tour still running on it ends now (its result is kept as cancelled).
        let _ = self.cancel(None);
        {
            let mut state = self.lock();
            state.ring = None;
            state.wanted = None;
            state.recovering = false;
        }
        self.ring_changed();
    }

    /// Its metrics.
    pub(crate) fn metrics(&self) -> &CoordinatorMetrics {
        &self.metrics
    }

    /// The same coordinator, resolving `dns:` sources with this server (IP and port)
    /// rather than the system's resolver configuration.
    pub fn with_dns_server(self, server: Option<SocketAddr>) -> CoordinatorCore {
        CoordinatorCore {
            dns_server: server,
            ..self
        }
    }

    /// The same coordinator, reaching its members with `credentials` (the ring shares one
    /// token: the coordinator's own).
    pub fn with_member_credentials(self, credentials: Credentials) -> CoordinatorCore {
        CoordinatorCore {
            member_credentials: credentials,
            ..self
        }
    }

    /// The key echo requests to the configured ring's members must carry (`None`: a ring
    /// configured without a key, whose members answer untagged echoes).
    pub fn echo_key(&self) -> Result<Option<DatagramKey>, CoordError> {
        let ring = self.lock().ring.clone().ok_or(CoordError::NotConfigured)?;
        Ok(ring.echo_key)
    }

    /// A finished tour's result: the latest (`tour_id` None) or a given one.
    pub async fn result(&self, tour_id: Option<u64>) -> Result<proto::TourResult, CoordError> {
        let id = match tour_id {
            Some(id) => id,
            None => match self.lock().last_tour {
                0 => return Err(CoordError::NoTourYet),
                id => id,
            },
        };
        if let Some(result) = self.lock().results.get(&id) {
            return Ok(proto::TourResult::clone(result));
        }
        let Some(store) = self.store.clone() else {
            return Err(CoordError::UnknownTour(id));
        };
        tokio::task::spawn_blocking(move || store.load(id))
            .await
            .map_err(|e| CoordError::Storage(e.to_string()))?
            .map_err(|e| CoordError::Storage(e.to_string()))?
            .ok_or(CoordError::UnknownTour(id))
    }

    /// The configured ring's members with their peer endpoints, and its echo key.
    fn probe_targets(&self) -> Result<ProbeTargets, CoordError> {
        let ring = self.lock().ring.clone().ok_or(CoordError::NotConfigured)?;
        let peers = ring
            .members
            .iter()
            .filter_map(|m| {
                let peer = m.seat.peer_endpoint.parse().ok()?;
                Some((m.index as u32, peer))
            })
            .collect();
        Ok((peers, ring.echo_key))
    }

    /// UDP echoes from here to every member's peer socket, as `echo-members` sends them.
    pub async fn echo_members(&self, opts: ProbeOptions) -> Result<Vec<Rtts>, CoordError> {
        let (peers, key) = self.probe_targets()?;
        tokio::task::spawn_blocking(move || crate::echo::echo_members(&peers, &opts, key))
            .await
            .map_err(|e| CoordError::Internal(format!("the echo task failed: {e}")))
    }

    /// ICMP echoes from here to every member host, as `ping-systems` sends them.
    pub async fn ping_systems(&self, opts: ProbeOptions) -> Result<Vec<Rtts>, CoordError> {
        let (peers, _) = self.probe_targets()?;
        Ok(crate::echo::ping_systems(&peers, &opts).await)
    }

    /// Where this coordinator's probes come from, as results name it: its id (which
    /// holds its host's name).
    pub fn probe_origin(&self) -> String {
        format!("coordinator {}", self.id)
    }

    /// Every finished tour this coordinator holds, in memory or in its data directory,
    /// summed up, oldest first.
    pub async fn tours(&self) -> Result<Vec<proto::TourSummary>, CoordError> {
        let in_memory: Vec<Arc<proto::TourResult>> = {
            let state = self.lock();
            state
                .order
                .iter()
                .filter_map(|id| state.results.get(id).cloned())
                .collect()
        };
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut tours: HashMap<u64, proto::TourSummary> = in_memory
                .iter()
                .map(|r| (r.tour_id, summarize(r)))
                .collect();
            if let Some(store) = store {
                for result in store.all()? {
                    let mut summary = summarize(&result);
                    summary.pinned = store.is_pinned(result.tour_id);
                    tours.insert(result.tour_id, summary);
                }
            }
            let mut tours: Vec<proto::TourSummary> = tours.into_values().collect();
            tours.sort_unstable_by_key(|t| (t.started_unix_ms, t.tour_id));
            Ok(tours)
        })
        .await
        .map_err(|e| CoordError::Storage(e.to_string()))?
        .map_err(|e: StoreError| CoordError::Storage(e.to_string()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_busy(&self, what: Busy) -> Result<BusyGuard<'_>, CoordError> {
        let mut state = self.lock();
        if let Some(busy) = state.busy {
            return Err(CoordError::Busy(busy_text(busy)));
        }
        state.busy = Some(what);
        Ok(BusyGuard {
            core: self,
            armed: true,
        })
    }

    /// Configures the ring: validates, resolves and reaches every member in parallel,
    /// then tells each its position, neighbours and the tour parameters. The whole of it
    /// runs within the request's configure timeout.
    pub async fn configure(
        &self,
        cluster: &[String],
        params: Option<TourParams>,
        configure_timeout_ms: u64,
        auth: RingAuth,
        takeover: Takeover,
    ) -> Result<RingConfigured, CoordError> {
        let wanted_cluster = cluster.to_vec();
        let invalid = |e: ClusterError| CoordError::InvalidArgument(e.to_string());
        let source = cluster_source(cluster).map_err(invalid)?;
        let params =
            params.ok_or_else(|| CoordError::InvalidArgument("params are missing".into()))?;
        validate_params(&params).map_err(|e| CoordError::InvalidArgument(e.to_string()))?;
        if configure_timeout_ms == 0 || configure_timeout_ms > MAX_CONFIGURE_TIMEOUT_MS {
            return Err(CoordError::InvalidArgument(format!(
                "--timeout must be from 1 to {} s",
                MAX_CONFIGURE_TIMEOUT_MS / 1000
            )));
        }
        let timeout = Duration::from_millis(configure_timeout_ms);
        // Asking a source (DNS, discovery) counts against the configure timeout too.
        let deadline = tokio::time::Instant::now() + timeout;
        let too_late = || CoordError::ConfigureTimeout {
            seconds: timeout.as_secs_f64(),
        };
        let asked = source.clone();
        let (cluster, source) = tokio::time::timeout_at(deadline, self.members_of(source))
            .await
            .map_err(|_| too_late())??;
        if cluster.len() > crate::ring::MAX_RING_MEMBERS {
            return Err(CoordError::InvalidArgument(format!(
                "--cluster {} names {} members; a ring has at most {}: split them into rings with --ring-size",
                asked.entry(),
                cluster.len(),
                crate::ring::MAX_RING_MEMBERS
            )));
        }
        let _busy = self.mark_busy(Busy::Configuring)?;
        let before = self.lock().ring.clone();
        {
            let mut state = self.lock();
            state.wanted = Some(Wanted {
                cluster: wanted_cluster,
                params,
                auth,
            });
            state.recovering = false;
        }
        // Members get what is left of the deadline, never more than the coordinator waits.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let result = match tokio::time::timeout_at(
            deadline,
            self.configure_members(&cluster, params, left, (auth, takeover, source)),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(too_late()),
        };
        // A configure that failed before any member changed leaves the ring (and its
        // health and metrics) as it was.
        let after = self.lock().ring.clone();
        let changed = match (&before, &after) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, None) => false,
            _ => true,
        };
        if changed {
            self.persist_ring().await;
            self.ring_changed();
        }
        // A source's listener stays as long as the ring is asked from it; a ring of the
        // ring set, configured from a list of its share, leaves the set's listener alone.
        if result.is_ok() && !matches!(asked, ClusterSource::List(_)) {
            self.keep_listener_of(&asked);
        }
        result
    }

    /// After a configure (or a restore): health and metrics follow the ring as it is now.
    fn ring_changed(&self) {
        let mut state = self.lock();
        let names = state.ring.as_ref().map(|r| r.names()).unwrap_or_default();
        let now = unix_ms();
        state.health = state.ring.as_ref().map_or_else(Vec::new, |r| {
            r.members
                .iter()
                .map(|m| Health {
                    up: true,
                    last_seen_unix_ms: now,
                    instance_id: m.instance_id.clone(),
                    error: None,
                })
                .collect()
        });
        state.last_member_tours = vec![None; names.len()];
        drop(state);
        self.metrics.ring_configured(&names);
    }

    /// Keeps the ring as it is now (configured or not) in the data directory.
    async fn persist_ring(&self) {
        let Some(store) = self.store.clone().filter(|_| self.keeps_ring) else {
            return;
        };
        let ring_size = self.lock().ring_size;
        let stored = self.lock().ring.as_ref().map(|ring| proto::StoredRing {
            coordinator_id: self.id.clone(),
            params: Some(ring.params),
            echo_key: ring
                .echo_key
                .map(|k| k.as_bytes().to_vec())
                .unwrap_or_default(),
            members: ring
                .members
                .iter()
                .map(|m| proto::StoredMember {
                    info: Some(m.info.clone().into()),
                    clock_id: m.seat.clock_id.clone(),
                    generation: m.generation,
                })
                .collect(),
            source: ring.source.clone().unwrap_or_default(),
            ring_size,
            placed: ring.placed.clone(),
        });
        match tokio::task::spawn_blocking(move || store.save_ring(stored.as_ref())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("keeping the ring's configuration: {e}"),
            Err(e) => tracing::error!("keeping the ring's configuration failed: {e}"),
        }
    }

    /// Takes up the ring kept in the data directory when every member still has the
    /// configuration this coordinator made (checked with each member); returns how many
    /// members it has, `Ok(0)` when none was kept, or why it was not taken up (the kept
    /// ring is then forgotten).
    pub async fn restore_ring(&self) -> Result<usize, String> {
        let Some(store) = self.store.clone() else {
            return Ok(0);
        };
        let loaded = tokio::task::spawn_blocking({
            let store = store.clone();
            move || store.load_ring()
        })
        .await
        .map_err(|e| e.to_string())?;
        let stored = match loaded {
            Ok(Some(stored)) => stored,
            Ok(None) => return Ok(0),
            Err(e) => return Err(e.to_string()),
        };
        let restored = self.check_stored_ring(stored).await;
        match restored {
            Ok(ring) => {
                let n = ring.members.len();
                {
                    let mut state = self.lock();
                    state.wanted = Some(Wanted {
                        // The source, asked again from now on; or the members as listed.
                        cluster: match &ring.source {
                            Some(source) => vec![source.clone()],
                            None => ring.members.iter().map(|m| m.control.clone()).collect(),
                        },
                        params: ring.params,
                        auth: if ring.echo_key.is_some() {
                            RingAuth::Keyed
                        } else {
                            RingAuth::Off
                        },
                    });
                    state.ring = Some(Arc::new(ring));
                }
                self.ring_changed();
                Ok(n)
            }
            Err(why) => {
                let _ = tokio::task::spawn_blocking(move || store.save_ring(None)).await;
                Err(why)
            }
        }
    }

    async fn check_stored_ring(&self, stored: proto::StoredRing) -> Result<Ring, String> {
        if stored.coordinator_id != self.id {
            return Err(format!(
                "it was configured by coordinator {}, not this one ({})",
                stored.coordinator_id, self.id
            ));
        }
        if stored.ring_size > 0 {
            return Err(format!(
                "it was the first of several rings of at most {} members (--ring-size), which are configured again together (`stillepost configure --ring-size`, or the coordinator's --cluster with --ring-size)",
                stored.ring_size
            ));
        }
        let params = stored.params.ok_or("it has no tour parameters")?;
        let credentials = &self.member_credentials;
        let id = &self.id;
        let members = join_all(stored.members.into_iter().map(|m| async move {
            let info = MemberInfo::from(m.info.unwrap_or_default());
            let control = info.control_endpoint.clone();
            let index = info.index;
            let channel = crate::rpc::lazy_channel(&control, CONNECT_TIMEOUT, credentials)?;
            let mut client = member_client(channel);
            let now = call(
                CALL_TIMEOUT,
                client.info(request(proto::InfoRequest::default(), CALL_TIMEOUT)),
            )
            .await
            .map(MemberIdentity::from)
            .map_err(|s| format!("member {index} ({control}) did not answer: {}", describe(&s)))?;
            if now.generation != m.generation || now.owner != *id {
                return Err(format!(
                    "member {index} ({control}) was configured again or restarted since (its configuration is number {} by '{}', this coordinator made number {})",
                    now.generation, now.owner, m.generation
                ));
            }
            Ok(RingMember {
                index: index as usize,
                control,
                client,
                seat: Seat {
                    peer_endpoint: info.peer_endpoint.clone(),
                    clock_id: m.clock_id,
                },
                generation: m.generation,
                name: info.name.clone(),
                instance_id: now.instance_id,
                info,
            })
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, String>>()?;
        Ok(Ring {
            params,
            members,
            echo_key: DatagramKey::from_slice(&stored.echo_key),
            // A source this version cannot read is dropped: the ring is then its members.
            source: (!stored.source.is_empty())
                .then(|| stored.source.clone())
                .filter(|source| match cluster_source(std::slice::from_ref(source)) {
                    Ok(ClusterSource::List(_)) | Err(_) => {
                        tracing::warn!(
                            "the kept ring names the source '{source}', which is none; it goes on as the list of its members"
                        );
                        false
                    }
                    Ok(_) => true,
                }),
            placed: stored.placed.clone(),
        })
    }

    /// Reaches member `index` at `entry` and asks who it is and where its peer socket is.
    /// The channel is made from the entry as given, so every address it resolves to is
    /// tried.
    async fn reach(
        &self,
        index: usize,
        entry: &str,
        deadline: Duration,
    ) -> Result<(MemberClient<TokenChannel>, MemberIdentity, SocketAddr), CoordError> {
        let credentials = &self.member_credentials;
        let channel = crate::rpc::lazy_channel(entry, CONNECT_TIMEOUT.min(deadline), credentials)
            .map_err(CoordError::InvalidArgument)?;
        let mut client = member_client(channel);
        let info = call(
            deadline,
            client.info(request(proto::InfoRequest::default(), deadline)),
        )
        .await
        .map(MemberIdentity::from)
        .map_err(|s| first_call_error(index, entry, &s, credentials.tls.is_some()))?;
        let peer: SocketAddr =
            info.peer_endpoint
                .parse()
                .map_err(|_| CoordError::MemberRefused {
                    index,
                    endpoint: entry.to_string(),
                    call: "Info",
                    cause: format!(
                        "it advertised '{}', which is no ip:port",
                        info.peer_endpoint
                    ),
                })?;
        Ok((client, info, peer))
    }

    /// The names of the members at `entries` (each asked once, all at once).
    pub(crate) async fn member_names(
        &self,
        entries: &[String],
        deadline: Duration,
    ) -> Result<Vec<String>, CoordError> {
        join_all(
            entries
                .iter()
                .enumerate()
                .map(|(index, entry)| self.reach(index, entry, deadline)),
        )
        .await
        .into_iter()
        .map(|reached| reached.map(|(_, info, _)| info.name))
        .collect()
    }

    /// Whether this ring ran or runs tour `id` (in memory: a stored one may be any
    /// ring's).
    pub(crate) fn has_tour(&self, id: u64) -> bool {
        let state = self.lock();
        state.running.contains_key(&id) || state.results.contains_key(&id)
    }

    /// Whether a tour or a configure runs on this ring now.
    pub(crate) fn busy(&self) -> bool {
        self.lock().busy.is_some()
    }

    /// The `--cluster` value of the ring last asked for, as a source writes it out (None
    /// without one).
    pub(crate) fn wanted_entry(&self) -> Option<String> {
        let wanted = self.lock().wanted.clone()?;
        cluster_source(&wanted.cluster).ok().map(|s| s.entry())
    }

    /// Whether a tour runs on this ring now.
    pub(crate) fn tour_running(&self) -> bool {
        matches!(self.lock().busy, Some(Busy::Tour(_)))
    }

    /// The control endpoints of its ring's members (none without a ring).
    pub(crate) fn member_endpoints(&self) -> Vec<String> {
        self.lock()
            .ring
            .as_ref()
            .map(|r| r.members.iter().map(|m| m.control.clone()).collect())
            .unwrap_or_default()
    }

    /// With several rings, how many members each has at most (kept with the first ring's
    /// configuration); 0 for one ring.
    pub(crate) fn set_ring_size(&self, ring_size: u32) {
        self.lock().ring_size = ring_size;
    }

    /// What [`CoordinatorCore::set_ring_size`] set.
    pub(crate) fn ring_size(&self) -> u32 {
        self.lock().ring_size
    }

    async fn configure_members(
        &self,
        cluster: &[String],
        mut params: TourParams,
        deadline: Duration,
        (auth, takeover, source): (RingAuth, Takeover, Option<String>),
    ) -> Result<RingConfigured, CoordError> {
        // Resolve every entry; the same member under two names is a duplicate too.
        let resolved = join_all(cluster.iter().map(|entry| resolve(entry))).await;
        let mut addrs: Vec<Vec<SocketAddr>> = Vec::with_capacity(cluster.len());
        for (i, (entry, found)) in cluster.iter().zip(resolved).enumerate() {
            let found = found.map_err(|cause| {
                CoordError::InvalidArgument(format!(
                    "--cluster entry {} '{entry}': cannot resolve the host: {cause}",
                    i + 1
                ))
            })?;
            let same = addrs
                .iter()
                .position(|earlier| earlier.iter().any(|a| found.contains(a)));
            if let Some(first) = same {
                return Err(CoordError::InvalidArgument(format!(
                    "--cluster entries {} '{}' and {} '{entry}' are the same member ({})",
                    first + 1,
                    cluster[first],
                    i + 1,
                    found[0]
                )));
            }
            addrs.push(found);
        }

        // Reach every member and learn its peer endpoint, all at once.
        let infos = join_all(
            cluster
                .iter()
                .enumerate()
                .map(|(index, entry)| self.reach(index, entry, deadline)),
        )
        .await;
        let mut reached = Vec::with_capacity(infos.len());
        for info in infos {
            reached.push(info?);
        }
        // Members from a source form the ring in the order of their names (then
        // endpoints), so that it does not reshuffle when one joins or leaves.
        let cluster: Vec<String> = if source.is_some() {
            let mut order: Vec<usize> = (0..reached.len()).collect();
            order.sort_by(|&a, &b| {
                (reached[a].1.name.as_str(), cluster[a].as_str())
                    .cmp(&(reached[b].1.name.as_str(), cluster[b].as_str()))
            });
            let mut slots: Vec<Option<_>> = reached.into_iter().map(Some).collect();
            reached = order.iter().filter_map(|&i| slots[i].take()).collect();
            order.iter().map(|&i| cluster[i].clone()).collect()
        } else {
            cluster.to_vec()
        };
        let cluster = cluster.as_slice();
        check_reachable_peers(cluster, reached.iter().map(|(_, _, peer)| *peer))?;
        if auth == RingAuth::Off
            && let Some((index, (_, _, peer))) = reached
                .iter()
                .enumerate()
                .find(|(_, (_, _, peer))| !peer.ip().is_loopback())
        {
            return Err(CoordError::InvalidArgument(format!(
                "--no-auth: member {index} ({}) has the peer endpoint {peer}, which is no loopback address; authentication can be turned off only for a ring on one host's loopback",
                cluster[index]
            )));
        }
        // Where each member's data-plane thread goes (members of one host learn of each
        // other here, by their host ids): from the tour's shape, as configured.
        let seats: Vec<placement::Seat> = reached
            .iter()
            .map(|(_, info, _)| placement::Seat {
                host_id: info.host_id.clone(),
                poll: info.poll.unwrap_or(PollMode::Block),
                cores: info.cores.clone(),
                cpu: info.cpu,
                fixed: info.cpu_fixed,
            })
            .collect();
        let place = |params: &proto::TourParams| {
            placement::plan(params.placement(), &params_to_config(params), &seats)
        };
        let mut plan = place(&params);
        let placed_infos: Vec<MemberIdentity> = reached
            .iter()
            .zip(&plan.cores)
            .map(|((_, info, _), core)| MemberIdentity {
                cpu: core.or(info.cpu),
                ..info.clone()
            })
            .collect();
        check_spinning_cores(cluster, placed_infos.iter())?;

        // From here members change their configuration: the old ring is gone, whatever
        // happens next.
        self.lock().ring = None;
        let n = reached.len();
        // A fresh key for this configuration: members answer their previous member's
        // challenge with it and tag their datagrams with a key derived from it.
        let ring_key = match auth {
            RingAuth::Keyed => Some(RingKey::from_bytes(rand::random())),
            RingAuth::Off => None,
        };
        let configure_all = |params: proto::TourParams, cores: &[Option<usize>]| {
            join_all(reached.iter().enumerate().map(|(index, (client, _, _))| {
                let mut client = client.clone();
                let setup = MemberSetup {
                    index: index as u32,
                    ring_len: n as u32,
                    next_peer: reached[(index + 1) % n].2.to_string(),
                    prev_peer: reached[(index + n - 1) % n].2.to_string(),
                    params: Some(params),
                    ring_key,
                    coordinator_id: self.id.clone(),
                    takeover,
                    cpu: cores.get(index).copied().flatten(),
                };
                let msg = proto::MemberConfigureRequest::from(setup);
                let entry = &cluster[index];
                async move {
                    call(deadline, client.configure(request(msg, deadline)))
                        .await
                        .map(MemberConfigured::from)
                        .map_err(|s| member_error(index, entry, "Configure", &s))
                }
            }))
        };
        let mut configured = configure_all(params, &plan.cores).await;
        // Without --max-datagram, messages go in datagrams that fit the smallest MTU on the
        // ring (fragments are forwarded as they are, so every link must carry them): the
        // members report their route's MTU, and a ring with a smaller one than the message
        // needs is configured again with that datagram size.
        if params.max_datagram == 0 {
            let fit = configured
                .iter()
                .zip(&reached)
                .filter_map(|(reply, (_, _, peer))| {
                    datagram_for_mtu(reply.as_ref().ok()?.path_mtu, peer.is_ipv4())
                })
                .min();
            if let Some(fit) = fit.and_then(|fit| fragment_size(params.msg_len, fit)) {
                params.max_datagram = fit;
                validate_params(&params).map_err(|e| {
                    CoordError::InvalidArgument(format!(
                        "{e} (the datagram size {fit} B comes from the smallest route MTU on the ring; give --max-datagram to choose another)"
                    ))
                })?;
                // Fragments may call for another placement than whole messages did.
                plan = place(&params);
                configured = configure_all(params, &plan.cores).await;
            }
        }

        let names = ring_names(
            &reached
                .iter()
                .map(|(_, info, _)| info.name.as_str())
                .collect::<Vec<_>>(),
            cluster,
        );
        let mut members = Vec::with_capacity(n);
        for (index, (((client, info, peer), reply), name)) in
            reached.into_iter().zip(configured).zip(names).enumerate()
        {
            let reply = reply?;
            let seat = Seat {
                peer_endpoint: peer.to_string(),
                clock_id: info.clock_id.clone(),
            };
            members.push(RingMember {
                index,
                control: cluster[index].clone(),
                client,
                seat,
                generation: reply.generation,
                name: name.clone(),
                instance_id: info.instance_id.clone(),
                info: MemberInfo {
                    index: index as u32,
                    control_endpoint: cluster[index].clone(),
                    peer_endpoint: peer.to_string(),
                    state: Some(MemberState::Configured),
                    error: None,
                    backend: info.backend,
                    poll: info.poll,
                    cpu: reply.cpu.or(info.cpu),
                    configured: reply,
                    lifetime: info.lifetime.clone(),
                    name,
                    instance_id: info.instance_id.clone(),
                    // Health checks fill these in for `status`.
                    last_seen_unix_ms: 0,
                    last_tour: None,
                },
            });
        }
        // Every member proves its next member is a member of this ring, on that member's
        // peer endpoint, before the ring may run a tour (without a key there is nothing to
        // prove it with: loopback rings only, checked above).
        let keyed = ring_key.is_some();
        let challenges = join_all(members.iter().filter(|_| keyed).map(|m| {
            let mut client = m.client.clone();
            let (index, entry) = (m.index, &m.control);
            async move {
                call(
                    deadline,
                    client.challenge_next(request(proto::ChallengeNextRequest {}, deadline)),
                )
                .await
                .map_err(|s| member_error(index, entry, "ChallengeNext", &s))
            }
        }))
        .await;
        for challenge in challenges {
            challenge?;
        }
        let placed = Some(proto::Placed {
            layout: plan.layout.placement().into(),
            reason: plan.reason,
        });
        let reply = RingConfigured {
            members: members.iter().map(|m| m.info.clone()).collect(),
            params,
            source: source.clone(),
            name: self.ring_name(),
            rings: Vec::new(),
            placed: placed.clone(),
        };
        self.lock().ring = Some(Arc::new(Ring {
            params,
            members,
            echo_key: ring_key.map(|k| k.echo_key()),
            source,
            placed,
        }));
        Ok(reply)
    }

    /// Prepares every member, starts the tour at the origin and returns its id; the tour
    /// then runs on its own task. Refused while another tour runs. With `record_stamps`
    /// every member records every message's timestamps (tours of at most
    /// [`crate::member::MAX_RECORDED_MESSAGES`] messages).
    ///
    /// A monitor tour running now is waited for first (up to its member timeout and the
    /// coordinator's grace after it); monitoring starts no tour while a `run` waits.
    pub async fn run_tour(self: &Arc<Self>, record_stamps: bool) -> Result<u64, CoordError> {
        let _waiting = self.wait_for_monitor_tour().await?;
        self.start_tour(TourKind::Run { record_stamps }).await
    }

    /// Prepares every member, starts a tour of `kind` at the origin and returns its id.
    async fn start_tour(self: &Arc<Self>, kind: TourKind) -> Result<u64, CoordError> {
        let record_stamps = matches!(
            kind,
            TourKind::Run {
                record_stamps: true
            }
        );
        // Ring and busy mark under one lock: a configure cannot slip in between.
        let (ring, tour_id, mut busy, shape) = {
            let mut state = self.lock();
            if let Some(busy) = state.busy {
                return Err(CoordError::Busy(busy_text(busy)));
            }
            let ring = state.ring.clone().ok_or(CoordError::NotConfigured)?;
            let shape = match kind {
                TourKind::Run { .. } => None,
                TourKind::Monitor { count } => Some(monitor_shape(&ring.params, count)),
            };
            if record_stamps && ring.params.count > crate::member::MAX_RECORDED_MESSAGES {
                return Err(CoordError::InvalidArgument(format!(
                    "recording every message's timestamps (--raw, --interval) is for tours of at most {} messages; this ring's tours have {} (configure a smaller --msgcount)",
                    crate::member::MAX_RECORDED_MESSAGES,
                    ring.params.count
                )));
            }
            let tour_id = loop {
                let id: u64 = rand::random();
                if id != 0 && !state.results.contains_key(&id) {
                    break id;
                }
            };
            state.busy = Some(Busy::Tour(tour_id));
            if let TourKind::Monitor { .. } = kind {
                state.monitor_tour = Some(tour_id);
            }
            let guard = BusyGuard {
                core: self,
                armed: true,
            };
            (ring, tour_id, guard, shape)
        };
        let started_unix_ms = unix_ms();

        // Members whose previous member reads another clock probe it first.
        let n = ring.members.len();
        let prepared = join_all(ring.members.iter().map(|m| {
            let prev = &ring.members[(m.index + n - 1) % n];
            let msg = proto::PrepareRequest {
                tour_id,
                generation: m.generation,
                probe_prev_clock: !prev.seat.same_clock(&m.seat),
                clock_probes: CLOCK_PROBES,
                record_stamps,
                shape: shape.map(|s| proto::TourShape {
                    count: s.count,
                    window: s.window,
                    warmup: s.warmup,
                }),
            };
            let mut client = m.client.clone();
            async move {
                call(CALL_TIMEOUT, client.prepare(request(msg, CALL_TIMEOUT)))
                    .await
                    .map_err(|s| m.error("Prepare", &s))
            }
        }))
        .await;
        let mut clocks = Vec::with_capacity(n);
        for p in prepared {
            clocks.push(p?.prev_clock.map(ClockEstimate::from));
        }
        let origin = &ring.members[0];
        call(
            CALL_TIMEOUT,
            origin
                .client
                .clone()
                .start(request(proto::TourRef { tour_id }, CALL_TIMEOUT)),
        )
        .await
        .map_err(|s| origin.error("Start", &s))?;

        let (tx, rx) = watch::channel(TourState::Running {
            sent: 0,
            received: 0,
        });
        let cancel = Arc::new(Notify::new());
        self.lock().running.insert(
            tour_id,
            Running {
                progress: rx,
                started: Instant::now(),
                cancel: Arc::clone(&cancel),
                count: shape.map_or(ring.params.count, |s| s.count),
            },
        );
        // The tour task owns the busy mark from here on.
        busy.armed = false;
        let core = Arc::clone(self);
        let mut params = ring.params;
        if let Some(shape) = shape {
            params.count = shape.count;
            params.window = shape.window;
            params.warmup = shape.warmup;
        }
        let tour = TourRun {
            ring,
            tour_id,
            params,
            monitor: shape.is_some(),
            started_unix_ms,
        };
        tokio::spawn(async move { core.drive_tour(tour, clocks, tx, cancel).await });
        Ok(tour_id)
    }

    async fn drive_tour(
        self: Arc<Self>,
        tour: TourRun,
        clocks: Vec<Option<ClockEstimate>>,
        progress: watch::Sender<TourState>,
        cancel: Arc<Notify>,
    ) {
        let TourRun {
            ring,
            tour_id,
            params,
            monitor,
            started_unix_ms,
        } = tour;
        let origin = &ring.members[0];
        let patience = Duration::from_millis(ring.params.member_timeout_ms) + ORIGIN_GRACE;
        let mut last = (0, 0);
        let mut last_change = Instant::now();
        let mut silent: Vec<Option<Instant>> = vec![None; ring.members.len()];
        let mut error = None;
        // A member that stopped answering: not asked for its report.
        let mut unanswered: Option<(usize, String)> = None;
        let mut cancelled = false;
        // Origin polls in a row that ran out although the origin answered a check after.
        let mut silent_polls = 0;
        loop {
            let wait = proto::MemberWaitRequest {
                tour_id,
                wait_ms: ORIGIN_POLL.as_millis() as u32,
            };
            let deadline = ORIGIN_POLL + SILENCE_LIMIT;
            let mut client = origin.client.clone();
            let poll = call(deadline, client.wait(request(wait, deadline)));
            let polled = tokio::select! {
                polled = poll => polled,
                () = cancel.notified() => {
                    cancelled = true;
                    break;
                }
            };
            match polled {
                Ok(reply) => {
                    silent_polls = 0;
                    if reply.done {
                        break;
                    }
                    let now = (reply.sent, reply.received);
                    if now != last {
                        last = now;
                        last_change = Instant::now();
                        let _ = progress.send(TourState::Running {
                            sent: now.0,
                            received: now.1,
                        });
                    } else if last_change.elapsed() > patience {
                        // The origin should have timed out by itself; end the tour anyway.
                        break;
                    }
                    // A forwarder that went away (its process died: its control port
                    // refuses or resets connections) or stopped answering while the tour
                    // stands still ends the tour now, named, rather than after the member
                    // timeout.
                    if let Some((index, why)) =
                        ring.check_forwarders(&mut silent, last_change).await
                    {
                        error = Some(why.clone());
                        unanswered = Some((index, why));
                        break;
                    }
                }
                Err(status) if is_no_answer(&status) => {
                    // The poll's deadline also runs out when this process was the one
                    // that stood still (stopped, descheduled): ask the origin once more
                    // before blaming it, a few times at most.
                    if silent_polls < ORIGIN_RECHECKS
                        && call(
                            FORWARDER_CHECK,
                            origin.client.clone().info(request(
                                proto::InfoRequest { liveness: true },
                                FORWARDER_CHECK,
                            )),
                        )
                        .await
                        .is_ok()
                    {
                        silent_polls += 1;
                        continue;
                    }
                    let why = stopped_answering(origin, deadline);
                    error = Some(why.clone());
                    unanswered = Some((0, why));
                    break;
                }
                Err(status) if is_gone(&status) => {
                    let why = went_away(origin, &status);
                    error = Some(why.clone());
                    unanswered = Some((0, why));
                    break;
                }
                Err(status) => {
                    error = Some(origin.error("Wait", &status).to_string());
                    break;
                }
            }
        }

        let skip = unanswered
            .as_ref()
            .map(|(index, why)| (*index, why.as_str()));
        let reports = ring
            .on_every_member("End", tour_id, skip, |mut client, req| async move {
                client.end(req).await
            })
            .await;
        let seats: Vec<Seat> = ring.members.iter().map(|m| m.seat.clone()).collect();
        let reports = reports
            .into_iter()
            .map(|r| r.map(MemberReport::from))
            .collect();
        let mut assembled = assemble_result(
            tour_id,
            params,
            &seats,
            reports,
            error,
            started_unix_ms,
            &clocks,
        );
        if cancelled && assembled.outcome != Outcome::Failed {
            assembled.outcome = Outcome::Cancelled;
        }
        let outcome = assembled.outcome;
        let member_tours: Vec<Option<TourReportState>> = assembled
            .members
            .iter()
            .map(|m| {
                Some(if m.report_missing {
                    TourReportState::Missing
                } else {
                    TourReportState::Reported
                })
            })
            .collect();
        let mut result = proto::TourResult::from(assembled);
        result.monitor = monitor;
        result.ring = self.ring_name().unwrap_or_default();
        result.placed = ring.placed.clone();
        let result = Arc::new(result);
        self.metrics.record_tour(&result, outcome, &ring.names());
        // Monitor tours feed the metrics and stay in memory; only a client's go on disk.
        if let Some(store) = self.store.clone().filter(|_| !monitor) {
            let to_save = Arc::clone(&result);
            let retention = self.retention;
            let saved = tokio::task::spawn_blocking(move || {
                store.save(&to_save)?;
                store.prune(retention, unix_ms())
            })
            .await;
            match saved {
                Ok(Ok(removed)) if !removed.is_empty() => tracing::debug!(
                    "removed {} stored results past the retention (--keep-tours {}, --keep-days {})",
                    removed.len(),
                    retention.keep_tours,
                    retention.keep_days
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("tour {tour_id:016x}: {e}"),
                Err(e) => tracing::error!("tour {tour_id:016x}: saving the result failed: {e}"),
            }
        }
        let mut state = self.lock();
        state.results.insert(tour_id, Arc::clone(&result));
        state.order.push_back(tour_id);
        while state.order.len() > RESULTS_KEPT {
            if let Some(old) = state.order.pop_front() {
                state.results.remove(&old);
            }
        }
        let State { order, results, .. } = &mut *state;
        evict_stamps(order, results, STAMPED_KEPT, self.store.is_some());
        state.running.remove(&tour_id);
        if monitor {
            state.monitor_tour = None;
            if let Some(m) = &mut state.monitor {
                m.last_tour = Some(tour_id);
                m.last_outcome = Some(outcome);
                m.last_unix_ms = unix_ms();
                m.last_error = crate::convert::some_text(result.error.clone());
            }
        } else {
            state.last_tour = tour_id;
        }
        if state.ring.as_ref().is_some_and(|r| Arc::ptr_eq(r, &ring)) {
            state.last_member_tours = member_tours;
        }
        state.busy = None;
        drop(state);
        let _ = progress.send(TourState::Done(result));
    }

    /// Ends tour `tour_id` (`None`: the running one) early: the tour task stops polling,
    /// asks every member for its report and keeps the result as cancelled. Returns the
    /// tour's id at once; the result follows through [`CoordinatorCore::wait_tour`].
    pub fn cancel(&self, tour_id: Option<u64>) -> Result<u64, CoordError> {
        let state = self.lock();
        let id = match (tour_id, state.busy) {
            (Some(id), _) => id,
            (None, Some(Busy::Tour(id))) => id,
            (None, _) => return Err(CoordError::NotRunning(None)),
        };
        match state.running.get(&id) {
            Some(running) => {
                running.cancel.notify_one();
                Ok(id)
            }
            None if state.results.contains_key(&id) => Err(CoordError::NotRunning(Some(id))),
            None => Err(CoordError::UnknownTour(id)),
        }
    }

    /// Waits up to `wait` for a tour to end. Returns its result when it has, else progress.
    pub async fn wait_tour(
        &self,
        tour_id: u64,
        wait: Duration,
    ) -> Result<TourProgress, CoordError> {
        let (mut rx, count) = {
            let state = self.lock();
            if let Some(result) = state.results.get(&tour_id) {
                return Ok(TourProgress::Done(Arc::clone(result)));
            }
            state
                .running
                .get(&tour_id)
                .map(|r| (r.progress.clone(), u64::from(r.count)))
                .ok_or(CoordError::UnknownTour(tour_id))?
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let current = rx.borrow_and_update().clone();
            match current {
                TourState::Done(result) => return Ok(TourProgress::Done(result)),
                TourState::Running { sent, received } => {
                    let changed = tokio::time::timeout_at(deadline, rx.changed()).await;
                    match changed {
                        Ok(Ok(())) => continue,
                        // Sender gone: the result is stored; look it up.
                        Ok(Err(_)) => {
                            let state = self.lock();
                            return state
                                .results
                                .get(&tour_id)
                                .map(|r| TourProgress::Done(Arc::clone(r)))
                                .ok_or(CoordError::UnknownTour(tour_id));
                        }
                        Err(_) => {
                            return Ok(TourProgress::Running {
                                sent,
                                received,
                                count,
                            });
                        }
                    }
                }
            }
        }
    }

    /// The ring's configuration and every member's live state (asked in parallel).
    pub async fn status(&self) -> RingStatus {
        let (ring, running_tour, last_tour, progress, health, member_tours, monitor) = {
            let state = self.lock();
            let running = match state.busy {
                Some(Busy::Tour(id)) => Some(id),
                _ => None,
            };
            let last = (state.last_tour != 0).then_some(state.last_tour);
            let progress = running.and_then(|id| state.running.get(&id)).and_then(|r| {
                match &*r.progress.borrow() {
                    TourState::Running { sent, received } => Some(RunningProgress {
                        sent: *sent,
                        received: *received,
                        count: u64::from(r.count),
                        elapsed_ms: r.started.elapsed().as_millis() as u64,
                    }),
                    TourState::Done(_) => None,
                }
            });
            (
                state.ring.clone(),
                running,
                last,
                progress,
                state.health.clone(),
                state.last_member_tours.clone(),
                state.monitor.clone(),
            )
        };
        let Some(ring) = ring else {
            return RingStatus {
                ring: None,
                running_tour,
                last_tour,
                progress,
                monitor,
                name: self.ring_name(),
                rings: Vec::new(),
            };
        };
        // While a tour runs the members are asked whether they answer only, not for their
        // counters: that would interrupt their data planes mid-tour.
        let liveness = running_tour.is_some();
        let members = join_all(ring.members.iter().map(|m| {
            let mut client = m.client.clone();
            let health = health.get(m.index).cloned().unwrap_or_default();
            let last = member_tours.get(m.index).copied().flatten();
            async move {
                let mut info = m.info.clone();
                info.last_seen_unix_ms = health.last_seen_unix_ms;
                info.instance_id = health.instance_id;
                info.last_tour = last;
                match call(
                    CALL_TIMEOUT,
                    client.info(request(proto::InfoRequest { liveness }, CALL_TIMEOUT)),
                )
                .await
                {
                    Ok(reply) => {
                        let reply = MemberIdentity::from(reply);
                        info.state = reply.state;
                        info.backend = reply.backend;
                        info.poll = reply.poll;
                        info.cpu = reply.cpu;
                        if !liveness {
                            info.lifetime = reply.lifetime;
                        }
                        if reply.instance_id != m.instance_id {
                            info.error = Some(format!(
                                "it restarted (instance {} at configure, {} now); the coordinator configures the ring again",
                                m.instance_id, reply.instance_id
                            ));
                        }
                        info.instance_id = reply.instance_id;
                    }
                    Err(status) => {
                        info.state = Some(MemberState::Unreachable);
                        info.error = Some(describe(&status));
                    }
                }
                info
            }
        }))
        .await;
        RingStatus {
            ring: Some(RingConfigured {
                members,
                params: ring.params,
                source: ring.source.clone(),
                name: self.ring_name(),
                rings: Vec::new(),
                placed: ring.placed.clone(),
            }),
            running_tour,
            last_tour,
            progress,
            monitor,
            name: self.ring_name(),
            rings: Vec::new(),
        }
    }
}

async fn resolve(entry: &str) -> Result<Vec<SocketAddr>, String> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host(entry)
        .await
        .map_err(|e| e.to_string())?
        .collect();
    if found.is_empty() {
        return Err("no address found".to_string());
    }
    Ok(found)
}

/// A ring that mixes loopback and other peer endpoints cannot work: members on other hosts
/// would send to their own loopback. Refuse it, naming the member.
fn check_reachable_peers(
    cluster: &[String],
    peers: impl Iterator<Item = SocketAddr>,
) -> Result<(), CoordError> {
    let peers: Vec<SocketAddr> = peers.collect();
    let remote = peers.iter().position(|p| !p.ip().is_loopback());
    let local = peers.iter().position(|p| p.ip().is_loopback());
    if let (Some(remote), Some(local)) = (remote, local) {
        return Err(CoordError::InvalidArgument(format!(
            "member {local} ({}) advertises the loopback endpoint {}, which member {remote} ({}, peer {}) cannot reach; list every member by an address of the cluster network, or start member {local} with --advertise",
            cluster[local], peers[local], cluster[remote], peers[remote]
        )));
    }
    Ok(())
}

/// Two spinning members on one core would take turns instead of polling: refuse that.
/// Members share cores when they report the same host id; an unpinned spinning member may
/// run on any core, so it shares with every other spinning member of its host.
fn check_spinning_cores<'a>(
    cluster: &[String],
    infos: impl Iterator<Item = &'a MemberIdentity>,
) -> Result<(), CoordError> {
    let infos: Vec<&MemberIdentity> = infos.collect();
    for (i, a) in infos.iter().enumerate() {
        for (j, b) in infos.iter().enumerate().skip(i + 1) {
            let same_host = !a.host_id.is_empty() && a.host_id == b.host_id;
            let both_spin = a.poll == Some(PollMode::Spin) && b.poll == Some(PollMode::Spin);
            let same_core = a.cpu.is_none() || b.cpu.is_none() || a.cpu == b.cpu;
            if same_host && both_spin && same_core {
                let core = |cpu: Option<usize>| match cpu {
                    None => "no fixed core".to_string(),
                    Some(cpu) => format!("core {cpu}"),
                };
                // Placed by the coordinator, they share a core only when the host has too
                // few for its spinning members.
                let remedy = if a.cpu_fixed
                    || b.cpu_fixed
                    || a.cores.is_empty()
                    || b.cores.is_empty()
                {
                    "start them with different --cpu values, or with --poll block".to_string()
                } else {
                    format!(
                        "their host has too few cores (cores {:?}) for a core per spinning member; run fewer spinning members there, or start some with --poll block",
                        a.cores
                    )
                };
                return Err(CoordError::InvalidArgument(format!(
                    "members {i} ({}, {}) and {j} ({}, {}) both spin on the same host and could share a core: a spinning member needs a core of its own; {remedy}",
                    cluster[i],
                    core(a.cpu),
                    cluster[j],
                    core(b.cpu)
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the newest results with timestamps keep them in memory: with a data directory
    /// older ones leave memory (the store serves them), without one they lose the
    /// timestamps; results without timestamps stay as they are.
    #[test]
    fn only_the_newest_timestamps_stay_in_memory() {
        let result = |id: u64, stamped: bool| {
            Arc::new(proto::TourResult {
                tour_id: id,
                members: vec![proto::MemberTourStats {
                    stamps: if stamped { vec![1; 16] } else { Vec::new() },
                    ..Default::default()
                }],
                ..Default::default()
            })
        };
        for on_disk in [true, false] {
            let order: VecDeque<u64> = (1..=6).collect();
            let mut results: HashMap<u64, Arc<proto::TourResult>> =
                order.iter().map(|&id| (id, result(id, id != 5))).collect();
            evict_stamps(&order, &mut results, 2, on_disk);
            let has = |id: u64| results.get(&id).map(|r| !r.members[0].stamps.is_empty());
            // Stamped: 1, 2, 3, 4, 6; the newest two (6, 4) keep theirs; 5 had none.
            assert_eq!(
                (has(6), has(4), has(5)),
                (Some(true), Some(true), Some(false))
            );
            for id in 1..=3 {
                assert_eq!(has(id), if on_disk { None } else { Some(false) }, "{id}");
            }
        }
    }

    #[test]
    fn a_ring_mixing_loopback_and_remote_peers_is_refused() {
        let cluster = vec!["a:7001".to_string(), "b:7001".to_string()];
        let peers = |list: &[&str]| {
            list.iter()
                .map(|p| p.parse::<SocketAddr>().unwrap())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert!(check_reachable_peers(&cluster, peers(&["127.0.0.1:1", "127.0.0.1:2"])).is_ok());
        assert!(check_reachable_peers(&cluster, peers(&["10.0.0.1:1", "10.0.0.2:2"])).is_ok());
        let err = check_reachable_peers(&cluster, peers(&["10.0.0.1:1", "127.0.0.1:2"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("member 1 (b:7001) advertises the loopback endpoint 127.0.0.1:2, which member 0 (a:7001, peer 10.0.0.1:1) cannot reach"),
            "{err}"
        );
    }
    #[test]
    fn two_spinning_members_that_could_share_a_core_are_refused() {
        let cluster: Vec<String> = ["a:7001", "b:7001", "c:7001"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let member = |host: &str, poll: PollMode, cpu: Option<usize>| MemberIdentity {
            host_id: host.to_string(),
            poll: Some(poll),
            cpu,
            ..MemberIdentity::default()
        };
        let check = |members: &[MemberIdentity]| {
            check_spinning_cores(&cluster, members.iter()).map_err(|e| e.to_string())
        };
        // Other cores, other hosts, or a member that blocks: fine.
        let fine = [
            [
                member("h1", PollMode::Spin, Some(1)),
                member("h1", PollMode::Spin, Some(2)),
                member("h1", PollMode::Block, Some(1)),
            ],
            [
                member("h1", PollMode::Spin, None),
                member("h2", PollMode::Spin, None),
                member("h3", PollMode::Spin, Some(1)),
            ],
        ];
        for members in &fine {
            assert_eq!(check(members), Ok(()));
        }
        let err = check(&[
            member("h1", PollMode::Block, Some(1)),
            member("h1", PollMode::Spin, Some(3)),
            member("h1", PollMode::Spin, None),
        ])
        .unwrap_err();
        assert!(
            err.starts_with(
                "members 1 (b:7001, core 3) and 2 (c:7001, no fixed core) both spin on the same host and could share a core"
            ),
            "{err}"
        );
        assert!(err.ends_with("start them with different --cpu values, or with --poll block"));
        // Placed on one core because the host has too few: said so, with its cores.
        let placed = |cpu| MemberIdentity {
            cores: vec![0],
            ..member("h1", PollMode::Spin, Some(cpu))
        };
        let err = check(&[placed(0), placed(0)]).unwrap_err();
        assert!(
            err.ends_with("their host has too few cores (cores [0]) for a core per spinning member; run fewer spinning members there, or start some with --poll block"),
            "{err}"
        );
    }
}
