//! Prometheus metrics of both daemons and their HTTP endpoint: `/metrics`, `/healthz` and
//! `/readyz` (docs/monitoring.md).
//!
//! The coordinator's metrics are fed from every finished tour's result (per hop, per member,
//! per tour) and from its member health checks; a member's are read from its data plane at
//! each scrape. Counter names and help come from the one counter definition
//! (`stillepost_engine::counters`). The registry encodes OpenMetrics; a scraper that does
//! not ask for it (`Accept`) gets the Prometheus text format 0.0.4, which `promtool check
//! metrics` lints.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hdrhistogram::Histogram;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};
use stillepost_engine::counters::{CounterSet, HopCounters, MemberCounters, SocketCounters};

use crate::domain::Outcome;
use tokio::net::TcpListener;

use crate::proto;

/// Label pairs of one series.
type Labels = Vec<(&'static str, String)>;

/// Upper bounds of the latency histograms' buckets, seconds: 1 µs doubling to 8.39 s (24
/// buckets and +Inf), so links of a few microseconds are not all in the first bucket.
static LATENCY_BUCKETS: std::sync::LazyLock<Vec<f64>> =
    std::sync::LazyLock::new(|| (0..24).map(|k| 1e-6 * f64::from(1u32 << k)).collect());

/// A histogram of latencies in seconds with the buckets of [`LATENCY_BUCKETS`], fed a
/// whole HDR histogram (ns) at a time.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    inner: Arc<Mutex<Buckets>>,
}

#[derive(Debug)]
struct Buckets {
    /// Observations per bucket (not cumulative), the last one +Inf.
    counts: Vec<u64>,
    sum: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            inner: Arc::new(Mutex::new(Buckets {
                counts: vec![0; LATENCY_BUCKETS.len() + 1],
                sum: 0.0,
            })),
        }
    }
}

impl LatencyHistogram {
    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds every value recorded in `h` (ns).
    pub fn add(&self, h: &Histogram<u64>) {
        let mut b = self.lock();
        for v in h.iter_recorded() {
            let ns = h.median_equivalent(v.value_iterated_to());
            let seconds = ns as f64 / 1e9;
            let n = v.count_at_value();
            let i = LATENCY_BUCKETS.partition_point(|&bound| bound < seconds);
            b.counts[i] += n;
            b.sum += seconds * n as f64;
        }
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let b = self.lock();
        // Per bucket, not cumulative: the encoder adds them up; f64::MAX is its +Inf.
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .copied()
            .chain([f64::MAX])
            .zip(b.counts.iter().copied())
            .collect();
        let count = b.counts.iter().sum();
        encoder.encode_histogram::<NoLabelSet>(b.sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A gauge of seconds (or any fraction).
type SecondsGauge = Gauge<f64, AtomicU64>;

/// The names a tour's result is labelled with: member names by ring index.
pub type MemberNames = [String];

/// Which series exist for the ring's members and hops, so that those of members that left
/// can be removed.
#[derive(Debug, Default)]
struct Known {
    members: BTreeSet<String>,
    hops: BTreeSet<(String, String)>,
    /// Series per member with a second label (kernel counter, reject reason).
    member_series: HashMap<String, BTreeSet<Labels>>,
}

/// The coordinator's metrics.
#[derive(Debug)]
pub struct CoordinatorMetrics {
    registry: Registry,
    hop_latency: Family<Labels, LatencyHistogram>,
    tour_latency: LatencyHistogram,
    residence: Family<Labels, LatencyHistogram>,
    /// Per hop, every [`HopCounters`] counter, in definition order.
    hop_counters: Vec<Family<Labels, Counter>>,
    clock_offset: Family<Labels, SecondsGauge>,
    clock_bound: Family<Labels, SecondsGauge>,
    member_up: Family<Labels, Gauge>,
    kernel_drops: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    tours: Family<Labels, Counter>,
    tour_duration: SecondsGauge,
    last_tour: SecondsGauge,
    monitor_interval: SecondsGauge,
    ring_members: Gauge,
    known: Mutex<Known>,
    /// Held for writing while a tour is recorded and for reading while the registry is
    /// encoded: a scrape sees a tour's samples and its count together or not at all.
    recording: std::sync::RwLock<()>,
}

impl Default for CoordinatorMetrics {
    fn default() -> Self {
        CoordinatorMetrics::for_ring(crate::coordinator::FIRST_RING)
    }
}

impl CoordinatorMetrics {
    /// Every metric of the ring labelled `ring` (every series carries `ring="<label>"`),
    /// registered, at zero.
    pub fn for_ring(ring: &str) -> CoordinatorMetrics {
        let mut registry = Registry::with_prefix_and_labels(
            "stillepost",
            [(
                std::borrow::Cow::Borrowed("ring"),
                std::borrow::Cow::Owned(ring.to_string()),
            )]
            .into_iter(),
        );
        let hop_latency = Family::<Labels, LatencyHistogram>::default();
        registry.register_with_unit(
            "hop_latency",
            "One-way latency of a hop (arrival at member `to` minus the send at member `from`, corrected by their clock offset), per message",
            Unit::Seconds,
            hop_latency.clone(),
        );
        let tour_latency = LatencyHistogram::default();
        registry.register_with_unit(
            "tour_latency",
            "A message's time around the whole ring, measured by the origin on its own clock",
            Unit::Seconds,
            tour_latency.clone(),
        );
        let residence = Family::<Labels, LatencyHistogram>::default();
        registry.register_with_unit(
            "residence",
            "Time a message stays in a forwarding member, from its arrival to its forward",
            Unit::Seconds,
            residence.clone(),
        );
        let mut hop_counters = Vec::new();
        for def in HopCounters::DEFS {
            let family = Family::<Labels, Counter>::default();
            registry.register(
                format!("hop_messages_{}", def.name),
                def.help.trim_end_matches('.'),
                family.clone(),
            );
            hop_counters.push(family);
        }
        let clock_offset = Family::<Labels, SecondsGauge>::default();
        registry.register_with_unit(
            "hop_clock_offset",
            "Clock of member `to` minus clock of member `from`, as probed before the last tour (0 on one host)",
            Unit::Seconds,
            clock_offset.clone(),
        );
        let clock_bound = Family::<Labels, SecondsGauge>::default();
        registry.register_with_unit(
            "hop_clock_error_bound",
            "How far the hop's clock offset may be off (half the smallest probe round trip); the hop latency is exact to this much",
            Unit::Seconds,
            clock_bound.clone(),
        );
        let member_up = Family::<Labels, Gauge>::default();
        registry.register(
            "member_up",
            "Whether the member answered the coordinator's last health check (1) or not (0)",
            member_up.clone(),
        );
        let kernel_drops = Family::<Labels, Counter>::default();
        registry.register(
            "member_kernel_drops",
            "Packets the kernel of a member's host (network namespace) dropped during tours, by counter (/proc/net/snmp, softnet_stat, and socket_drops: the member's own peer socket)",
            kernel_drops.clone(),
        );
        let rejected = Family::<Labels, Counter>::default();
        registry.register(
            "member_datagrams_rejected",
            "Datagrams a member dropped during tours without forwarding or answering them, by reason (docs/reports.md lists the reasons)",
            rejected.clone(),
        );
        let tours = Family::<Labels, Counter>::default();
        registry.register(
            "tours",
            "Tours the coordinator ran (monitor tours and `stillepost run`), by outcome; a tour that could not start is counted as failed",
            tours.clone(),
        );
        let tour_duration = SecondsGauge::default();
        registry.register_with_unit(
            "tour_duration",
            "How long the last finished tour took, from its first send to its last receive at the origin",
            Unit::Seconds,
            tour_duration.clone(),
        );
        let last_tour = SecondsGauge::default();
        registry.register(
            "last_tour_timestamp_seconds",
            "When the last tour ended (or failed to start), Unix time",
            last_tour.clone(),
        );
        let monitor_interval = SecondsGauge::default();
        registry.register_with_unit(
            "monitor_interval",
            "The interval between monitor tours (--monitor-interval); 0 when monitoring is off",
            Unit::Seconds,
            monitor_interval.clone(),
        );
        let ring_members = Gauge::default();
        registry.register(
            "ring_members",
            "Members of the configured ring (0: none configured)",
            ring_members.clone(),
        );
        CoordinatorMetrics {
            registry,
            hop_latency,
            tour_latency,
            residence,
            hop_counters,
            clock_offset,
            clock_bound,
            member_up,
            kernel_drops,
            rejected,
            tours,
            tour_duration,
            last_tour,
            monitor_interval,
            ring_members,
            known: Mutex::new(Known::default()),
            recording: std::sync::RwLock::new(()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The encoded registry: OpenMetrics, or the Prometheus text format 0.0.4.
    pub fn encode(&self, openmetrics: bool) -> String {
        CoordinatorMetrics::encode_rings(&[self], openmetrics)
    }

    /// The registries of several rings as one exposition: every family once, with the
    /// samples of every ring (told apart by their `ring` label).
    pub fn encode_rings(rings: &[&CoordinatorMetrics], openmetrics: bool) -> String {
        let texts: Vec<String> = rings
            .iter()
            .map(|m| {
                let _recording = m.recording.read().unwrap_or_else(|p| p.into_inner());
                openmetrics_text(&m.registry)
            })
            .collect();
        let merged = merge_families(&texts);
        if openmetrics {
            merged
        } else {
            to_text_004(&merged)
        }
    }

    /// The monitor interval, seconds (0: off).
    pub fn set_monitor_interval(&self, seconds: f64) {
        self.monitor_interval.set(seconds);
    }

    /// A member answered a health check (`up`) or did not.
    pub fn set_up(&self, member: &str, up: bool) {
        self.member_up
            .get_or_create(&member_labels(member))
            .set(i64::from(up));
    }

    /// A ring of `names` was configured: the series of members and hops no longer in it
    /// are removed; every member starts up.
    pub fn ring_configured(&self, names: &MemberNames) {
        let n = names.len();
        self.ring_members.set(n as i64);
        let members: BTreeSet<String> = names.iter().cloned().collect();
        let hops: BTreeSet<(String, String)> = (0..n)
            .map(|i| (names[(i + n - 1) % n].clone(), names[i].clone()))
            .collect();
        let mut known = self.known();
        for gone in known.members.difference(&members) {
            let labels = member_labels(gone);
            self.member_up.remove(&labels);
            self.residence.remove(&labels);
            for series in known.member_series.get(gone).into_iter().flatten() {
                self.kernel_drops.remove(series);
                self.rejected.remove(series);
            }
        }
        for (from, to) in known.hops.difference(&hops) {
            let labels = hop_labels(from, to);
            self.hop_latency.remove(&labels);
            self.clock_offset.remove(&labels);
            self.clock_bound.remove(&labels);
            for family in &self.hop_counters {
                family.remove(&labels);
            }
        }
        known.member_series.retain(|m, _| members.contains(m));
        known.members = members;
        known.hops = hops;
        drop(known);
        for name in names {
            self.set_up(name, true);
        }
    }

    /// A tour could not start (a member did not prepare, the origin did not start).
    pub fn tour_not_started(&self, now_unix_s: f64) {
        self.tours
            .get_or_create(&outcome_labels(Outcome::Failed))
            .inc();
        self.last_tour.set(now_unix_s);
    }

    /// Adds a finished tour's result, its members named by `names` (by ring index).
    pub fn record_tour(&self, result: &proto::TourResult, outcome: Outcome, names: &MemberNames) {
        let _recording = self.recording.write().unwrap_or_else(|p| p.into_inner());
        let name = |index: u32| {
            names
                .get(index as usize)
                .cloned()
                .unwrap_or_else(|| format!("member-{index}"))
        };
        self.tour_duration.set(result.total_ns as f64 / 1e9);
        self.last_tour
            .set(result.started_unix_ms as f64 / 1e3 + result.total_ns as f64 / 1e9);
        if let Ok(h) = stillepost_engine::histogram::decode(&result.tour_latency) {
            self.tour_latency.add(&h);
        }
        let counters: Vec<Option<MemberCounters>> = result
            .members
            .iter()
            .map(|m| {
                (!m.report_missing)
                    .then(|| crate::convert::counters_from_proto::<MemberCounters>(&m.counters))
            })
            .collect();
        let mut known = self.known();
        for (m, c) in result.members.iter().zip(&counters) {
            let Some(c) = c else { continue };
            let member = name(m.index);
            if m.index != 0
                && let Ok(h) = stillepost_engine::histogram::decode(&m.residence)
            {
                self.residence
                    .get_or_create(&member_labels(&member))
                    .add(&h);
            }
            let series = known.member_series.entry(member.clone()).or_default();
            let drops = m
                .kernel_counters
                .iter()
                .map(|k| (k.name.as_str(), k.delta))
                .chain(c.socket.counters().map(|(d, v)| (d.name, v)));
            for (counter, delta) in drops {
                let labels = vec![("member", member.clone()), ("counter", counter.to_string())];
                self.kernel_drops.get_or_create(&labels).inc_by(delta);
                series.insert(labels);
            }
            for (def, value) in c.counters().filter(|(d, _)| d.rejected) {
                let labels = vec![("member", member.clone()), ("reason", def.name.to_string())];
                self.rejected.get_or_create(&labels).inc_by(value);
                series.insert(labels);
            }
        }
        drop(known);
        for hop in &result.hops {
            let labels = hop_labels(&name(hop.from), &name(hop.to));
            if let Ok(h) = stillepost_engine::histogram::decode(&hop.latency) {
                self.hop_latency.get_or_create(&labels).add(&h);
            }
            let reported = |index: u32| counters.get(index as usize).is_some_and(Option::is_some);
            if !reported(hop.from) || !reported(hop.to) {
                // A member without a report: its side of the hop is unknown, not zero.
                continue;
            }
            let values: HopCounters = crate::convert::counters_from_proto(&hop.counters);
            for (family, (_, value)) in self.hop_counters.iter().zip(values.counters()) {
                family.get_or_create(&labels).inc_by(value);
            }
            self.clock_offset
                .get_or_create(&labels)
                .set(hop.offset_ns as f64 / 1e9);
            self.clock_bound
                .get_or_create(&labels)
                .set(hop.error_bound_ns as f64 / 1e9);
        }
        self.tours.get_or_create(&outcome_labels(outcome)).inc();
    }
}

fn outcome_labels(outcome: Outcome) -> Labels {
    vec![("outcome", outcome.name().to_string())]
}

fn member_labels(member: &str) -> Labels {
    vec![("member", member.to_string())]
}

fn hop_labels(from: &str, to: &str) -> Labels {
    vec![("from", from.to_string()), ("to", to.to_string())]
}

/// Encodes `registry`: OpenMetrics as the library writes it, or the Prometheus text format
/// 0.0.4 (counters' TYPE lines name the `_total` samples, info metrics become gauges, no
/// UNIT and EOF lines).
fn encode(registry: &Registry, openmetrics: bool) -> String {
    let text = openmetrics_text(registry);
    if openmetrics {
        text
    } else {
        to_text_004(&text)
    }
}

/// `registry` in OpenMetrics, as the library writes it (empty if it cannot).
fn openmetrics_text(registry: &Registry) -> String {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        return String::new();
    }
    text
}

/// Several OpenMetrics expositions of the same families as one: each family's HELP, TYPE
/// and UNIT lines once (from the first text that has it), then its samples from every
/// text in order, families in the order they first appear, one EOF.
fn merge_families(texts: &[String]) -> String {
    if let [one] = texts {
        return one.clone();
    }
    let mut order: Vec<&str> = Vec::new();
    let mut families: HashMap<&str, (usize, Vec<&str>, Vec<&str>)> = HashMap::new();
    for (t, text) in texts.iter().enumerate() {
        let mut current: Option<&str> = None;
        for line in text.lines() {
            if line == "# EOF" {
                continue;
            }
            let meta = ["# HELP ", "# TYPE ", "# UNIT "]
                .into_iter()
                .find_map(|p| line.strip_prefix(p));
            if let Some(rest) = meta {
                let name = rest.split(' ').next().unwrap_or(rest);
                let family = families.entry(name).or_insert_with(|| {
                    order.push(name);
                    (t, Vec::new(), Vec::new())
                });
                if family.0 == t {
                    family.1.push(line);
                }
                current = Some(name);
            } else if let Some(family) = current.and_then(|name| families.get_mut(name)) {
                family.2.push(line);
            }
        }
    }
    let mut out = String::new();
    for name in order {
        if let Some((_, meta, samples)) = families.get(name) {
            for line in meta.iter().chain(samples) {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// OpenMetrics text as the Prometheus text format 0.0.4.
fn to_text_004(text: &str) -> String {
    // The sample suffix of every family the 0.0.4 format names differently.
    let renamed: HashMap<&str, &str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.rsplit_once(' '))
        .filter_map(|(name, kind)| match kind {
            "counter" => Some((name, "_total")),
            "info" => Some((name, "_info")),
            _ => None,
        })
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?.split_once(' ')?)));
        match descriptor {
            Some((prefix, (name, rest))) if renamed.contains_key(name) => {
                let rest = if prefix == "# TYPE " && rest == "info" {
                    "gauge"
                } else {
                    rest
                };
                out.push_str(&format!("{prefix}{name}{} {rest}\n", renamed[name]));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// What a member's `/metrics` shows, read from its data plane at the scrape.
#[derive(Debug, Clone)]
pub struct MemberSnapshot {
    /// Every counter since the member started.
    pub lifetime: MemberCounters,
    /// The peer socket's drops since it was opened (SO_MEMINFO), if the kernel tells.
    pub socket_drops: Option<u64>,
    /// The member's name, backend, poll mode and version.
    pub info: Vec<(&'static str, String)>,
    /// Whether its data-plane thread answered.
    pub running: bool,
}

/// A member's metrics as of `snap`.
pub fn encode_member(snap: &MemberSnapshot, openmetrics: bool) -> String {
    let mut registry = Registry::with_prefix("stillepost");
    // Every counter of the definition but the rejections (one family by reason below):
    // the reported ones and the data plane's own bookkeeping (echoes answered, how
    // arrivals were stamped).
    let counters = snap
        .lifetime
        .tour
        .counters()
        .chain(snap.lifetime.io.counters())
        .filter(|(d, _)| !d.rejected);
    for (def, value) in counters {
        registry.register(
            format!("dataplane_{}", def.name),
            format!(
                "{} ({}, since the member started)",
                def.help.trim_end_matches('.'),
                def.unit.name()
            ),
            ConstCounter::new(value),
        );
    }
    if let Some(drops) = snap.socket_drops {
        registry.register(
            format!("dataplane_{}", SocketCounters::DEFS[0].name),
            "Datagrams the member's peer socket dropped since it was opened (SO_MEMINFO): its receive buffer was full",
            ConstCounter::new(drops),
        );
    }
    let rejected = snap
        .lifetime
        .counters()
        .filter(|(d, _)| d.rejected)
        .map(|(d, v)| (vec![("reason", d.name.to_string())], v))
        .collect();
    registry.register(
        "dataplane_rejected",
        "Datagrams the member dropped without forwarding or answering them since it started, by reason (docs/reports.md)",
        ConstFamily(rejected),
    );
    registry.register(
        "dataplane_running",
        "Whether the data-plane thread answered this scrape (1) or not (0)",
        ConstGauge::new(i64::from(snap.running)),
    );
    registry.register(
        "dataplane",
        "The member: its name, data-plane backend, poll mode, core and version",
        Info::new(snap.info.clone()),
    );
    encode(&registry, openmetrics)
}

/// Constant counters by label set, encoded as one family.
#[derive(Debug)]
struct ConstFamily(Vec<(Labels, u64)>);

impl TypedMetric for ConstFamily {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ConstFamily {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, value) in &self.0 {
            let e = encoder.encode_family(labels)?;
            ConstCounter::new(*value).encode(e)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// What the HTTP endpoint asks its daemon.
pub trait Observed: Send + Sync + 'static {
    /// The metrics, encoded.
    fn metrics(&self, openmetrics: bool) -> impl Future<Output = String> + Send;
    /// Whether the daemon is ready (`Ok`) or why not.
    fn ready(&self) -> impl Future<Output = Result<String, String>> + Send;
}

/// Whether the request's `Accept` header asks for OpenMetrics.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

async fn metrics<D: Observed>(State(daemon): State<Arc<D>>, headers: HeaderMap) -> Response {
    let openmetrics = wants_openmetrics(&headers);
    let body = daemon.metrics(openmetrics).await;
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz<D: Observed>(State(daemon): State<Arc<D>>) -> Response {
    match daemon.ready().await {
        Ok(why) => (StatusCode::OK, format!("ready: {why}\n")).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

/// Binds the metrics endpoint (`--metrics-bind`); the error names the flag and address.
pub async fn bind_metrics(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "--metrics-bind {addr}: cannot listen there: {e}; choose a free port or another address"
        )
    })
}

/// Serves `/metrics`, `/healthz` and `/readyz` for `daemon` until `shutdown` completes.
pub async fn serve_metrics<D: Observed>(
    listener: TcpListener,
    daemon: Arc<D>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics::<D>))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<D>))
        .with_state(daemon);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_double_from_a_microsecond_to_about_eight_seconds() {
        let b = &*LATENCY_BUCKETS;
        assert_eq!(b.len(), 24);
        assert!((b[0] - 1e-6).abs() < 1e-12);
        assert!((b[23] - 8.388608).abs() < 1e-9);
        assert!(b.windows(2).all(|w| (w[1] / w[0] - 2.0).abs() < 1e-9));
    }

    #[test]
    fn an_hdr_histogram_lands_in_its_buckets() {
        let mut h = stillepost_engine::histogram::new_histogram();
        h.record_n(1_500, 3).unwrap(); // 1.5 µs: the 2 µs bucket
        h.record_n(3_000_000, 2).unwrap(); // 3 ms: the 4.096 ms bucket
        let m = LatencyHistogram::default();
        m.add(&h);
        let b = m.lock();
        assert_eq!(b.counts.iter().sum::<u64>(), 5);
        assert_eq!(b.counts[1], 3);
        assert_eq!(b.counts[12], 2, "{:?}", b.counts);
        assert!((b.sum - (3.0 * 1.5e-6 + 2.0 * 3e-3)).abs() < 1e-5);
    }

    #[test]
    fn the_text_format_names_counters_by_their_samples() {
        let m = CoordinatorMetrics::default();
        m.ring_configured(&["a".to_string(), "b".to_string()]);
        m.tour_not_started(1.0);
        let text = m.encode(false);
        assert!(
            text.contains("# TYPE stillepost_tours_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP stillepost_tours_total "), "{text}");
        assert!(text.contains("stillepost_tours_total{ring=\"0\",outcome=\"failed\"} 1\n"));
        assert!(text.contains("stillepost_member_up{ring=\"0\",member=\"a\"} 1\n"));
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
        let open = m.encode(true);
        assert!(open.ends_with("# EOF\n") && open.contains("# TYPE stillepost_tours counter"));
    }

    #[test]
    fn members_that_leave_lose_their_series() {
        let m = CoordinatorMetrics::default();
        m.ring_configured(&["a".to_string(), "b".to_string(), "c".to_string()]);
        m.ring_configured(&["a".to_string(), "b".to_string()]);
        let text = m.encode(false);
        assert!(
            text.contains("member=\"b\"") && !text.contains("member=\"c\""),
            "{text}"
        );
        assert!(text.contains("stillepost_ring_members{ring=\"0\"} 2\n"));
    }

    #[test]
    fn the_rings_of_one_coordinator_are_one_exposition() {
        let first = CoordinatorMetrics::default();
        let second = CoordinatorMetrics::for_ring("1");
        first.ring_configured(&["a".to_string(), "b".to_string()]);
        second.ring_configured(&["c".to_string(), "d".to_string(), "e".to_string()]);
        second.tour_not_started(1.0);
        for openmetrics in [false, true] {
            let text = CoordinatorMetrics::encode_rings(&[&first, &second], openmetrics);
            // Every family is described once, with the samples of both rings.
            for family in ["stillepost_ring_members", "stillepost_member_up"] {
                let help = format!("# HELP {family} ");
                assert_eq!(text.matches(&help).count(), 1, "{family}: {text}");
            }
            assert!(
                text.contains("stillepost_ring_members{ring=\"0\"} 2\n"),
                "{text}"
            );
            assert!(
                text.contains("stillepost_ring_members{ring=\"1\"} 3\n"),
                "{text}"
            );
            assert!(text.contains("stillepost_member_up{ring=\"1\",member=\"e\"} 1\n"));
            assert_eq!(text.matches("# EOF").count(), usize::from(openmetrics));
            // The samples of a family follow its description, before the next family's.
            let up = text.find("# HELP stillepost_member_up ").unwrap();
            let next = text[up + 1..]
                .find("# HELP ")
                .map_or(text.len(), |i| i + up + 1);
            assert!(
                text[up..next].contains("member=\"a\"") && text[up..next].contains("member=\"e\"")
            );
        }
    }
}
