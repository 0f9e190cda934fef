//! Several rings driven by one coordinator (`configure --ring-size <n>`): the members, in
//! the order of their names for a source, are split into rings of at most n, each a
//! [`CoordinatorCore`] of its own (the first is the coordinator's own core), configured
//! and run in parallel, each with its own results, health checks, monitor tours and
//! metrics (labelled `ring="<name>"`). With one ring, everything goes to the first core as
//! before. The client's calls come here; calls naming a tour go to the ring that ran it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;

use super::watch_ring::{HealthOptions, MonitorOptions, START_RETRY};
use super::{CoordError, CoordinatorCore, TourProgress};
use crate::domain::{RingAuth, RingConfigured, RingStatus, Takeover};
use crate::echo::{ProbeOptions, Rtts};
use crate::metrics::{CoordinatorMetrics, Observed};
use crate::proto::{self, TourParams};
use crate::ring::{ClusterError, ClusterSource, MAX_RING_MEMBERS, cluster_source};

/// The shortest ring a `--ring-size` may ask for.
pub const MIN_RING_SIZE: u32 = 2;

/// How long a configure the coordinator starts by itself may take.
const OWN_CONFIGURE_TIMEOUT_MS: u64 = 30_000;
/// Members asked for their names at once when a source is split.
const NAMES_PARALLEL: usize = 256;

/// `entries` in order, cut into as few rings of at most `size` as there must be, of sizes
/// that differ by one at most (7 by 3: 3, 2, 2).
fn balanced_chunks(entries: &[String], size: usize) -> Vec<Vec<String>> {
    let rings = entries.len().div_ceil(size.max(1)).max(1);
    let (base, extra) = (entries.len() / rings, entries.len() % rings);
    let mut out = Vec::with_capacity(rings);
    let mut at = 0;
    for i in 0..rings {
        let n = base + usize::from(i < extra);
        out.push(entries[at..at + n].to_vec());
        at += n;
    }
    out
}

/// What the last configure asked for.
#[derive(Debug, Clone, PartialEq)]
struct Asked {
    cluster: Vec<String>,
    params: TourParams,
    auth: RingAuth,
    /// 0: one ring.
    ring_size: u32,
}

/// The rings of one coordinator.
#[derive(Debug)]
pub struct RingSet {
    /// Every ring made so far, the first being the coordinator's own core; those past
    /// `in_use` have no ring (the members form fewer rings now).
    rings: Mutex<Vec<Arc<CoordinatorCore>>>,
    in_use: Mutex<usize>,
    asked: Mutex<Option<Asked>>,
    /// Held while the rings are configured: one configure of the set at a time.
    configuring: tokio::sync::Mutex<()>,
    /// What every ring runs by itself, for rings made later.
    health: Mutex<Option<HealthOptions>>,
    monitor: Mutex<Option<MonitorOptions>>,
}

impl RingSet {
    /// The rings of the coordinator whose own core is `first` (one ring until a configure
    /// asks for more).
    pub fn new(first: Arc<CoordinatorCore>) -> Arc<RingSet> {
        Arc::new(RingSet {
            rings: Mutex::new(vec![first]),
            in_use: Mutex::new(1),
            asked: Mutex::new(None),
            configuring: tokio::sync::Mutex::new(()),
            health: Mutex::new(None),
            monitor: Mutex::new(None),
        })
    }

    fn all(&self) -> Vec<Arc<CoordinatorCore>> {
        self.rings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The rings in use, the first first.
    fn in_use(&self) -> Vec<Arc<CoordinatorCore>> {
        let n = *self.in_use.lock().unwrap_or_else(|p| p.into_inner());
        let mut rings = self.all();
        rings.truncate(n.max(1));
        rings
    }

    /// The coordinator's own core: the first ring.
    pub fn first(&self) -> Arc<CoordinatorCore> {
        Arc::clone(&self.all()[0])
    }

    /// Starts the health checks of every ring, now and made later.
    pub fn start_health(&self, opts: HealthOptions) {
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = Some(opts);
        for ring in self.all() {
            ring.start_health(opts);
        }
    }

    /// Starts monitor mode on every ring, now and made later, and the task that follows a
    /// split source.
    pub fn start_monitor(self: &Arc<Self>, opts: MonitorOptions) {
        *self.monitor.lock().unwrap_or_else(|p| p.into_inner()) = Some(opts);
        for ring in self.all() {
            ring.start_monitor(opts);
        }
        let set = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(opts.resolve_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                set.follow_split_source().await;
            }
        });
    }

    /// Ring `index` (0 is the first), made with the health checks and monitoring the
    /// others run when it does not exist yet.
    fn ring(&self, index: usize) -> Arc<CoordinatorCore> {
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        while rings.len() <= index {
            let label = rings.len().to_string();
            let ring = Arc::new(rings[0].another_ring(&label));
            if let Some(opts) = *self.health.lock().unwrap_or_else(|p| p.into_inner()) {
                ring.start_health(opts);
            }
            if let Some(opts) = *self.monitor.lock().unwrap_or_else(|p| p.into_inner()) {
                ring.start_monitor(opts);
            }
            rings.push(ring);
        }
        Arc::clone(&rings[index])
    }

    /// Configures the members `cluster` names: one ring (`ring_size` 0), or rings of at
    /// most `ring_size` members in their order (by name for a source), configured in
    /// parallel within one configure timeout. One configure of the set at a time.
    ///
    /// A configure that fails before any member changed leaves the rings as they were. One
    /// that fails after (a ring refused, a member went away) leaves no ring configured, so
    /// that no member is in two rings; the request stays asked for, so that monitor mode
    /// and `--cluster` at start try it again.
    pub async fn configure(
        &self,
        cluster: &[String],
        params: Option<TourParams>,
        configure_timeout_ms: u64,
        (auth, takeover): (RingAuth, Takeover),
        ring_size: u32,
    ) -> Result<RingConfigured, CoordError> {
        // Two configures of the set at once would each configure some of the rings.
        let Ok(_configuring) = self.configuring.try_lock() else {
            return Err(CoordError::Busy("the rings are being configured".into()));
        };
        self.configure_locked(
            cluster,
            params,
            configure_timeout_ms,
            (auth, takeover),
            ring_size,
        )
        .await
    }

    async fn configure_locked(
        &self,
        cluster: &[String],
        params: Option<TourParams>,
        configure_timeout_ms: u64,
        (auth, takeover): (RingAuth, Takeover),
        ring_size: u32,
    ) -> Result<RingConfigured, CoordError> {
        let all = self.all();
        let before: Vec<Option<usize>> = all.iter().map(|r| r.ring_identity()).collect();
        let asked = params.map(|params| Asked {
            cluster: cluster.to_vec(),
            params,
            auth,
            ring_size,
        });
        // Monitor tours in progress end first, and none starts while the rings change.
        let in_use = self.in_use();
        let _waiting = join_all(in_use.iter().map(|r| r.wait_for_monitor_tour())).await;
        let result = if ring_size == 0 {
            self.configure_one(cluster, params, configure_timeout_ms, (auth, takeover))
                .await
        } else {
            self.configure_split(
                cluster,
                params,
                configure_timeout_ms,
                (auth, takeover),
                ring_size,
            )
            .await
        };
        let touched = all
            .iter()
            .zip(&before)
            .any(|(r, b)| r.ring_identity() != *b);
        match &result {
            Ok(_) => *self.asked.lock().unwrap_or_else(|p| p.into_inner()) = asked,
            Err(_) if touched => {
                tracing::warn!(
                    "configuring the rings failed after members changed: no ring is configured until a configure works"
                );
                for ring in self.all() {
                    ring.forget_ring();
                }
                let first = self.first();
                first.reuse();
                first.set_ring_size(0);
                *self.in_use.lock().unwrap_or_else(|p| p.into_inner()) = 1;
                *self.asked.lock().unwrap_or_else(|p| p.into_inner()) = asked;
            }
            Err(_) => {}
        }
        result
    }

    /// One ring: the first core, as before there were several.
    async fn configure_one(
        &self,
        cluster: &[String],
        params: Option<TourParams>,
        configure_timeout_ms: u64,
        (auth, takeover): (RingAuth, Takeover),
    ) -> Result<RingConfigured, CoordError> {
        let first = self.first();
        let ring_size = first.ring_size();
        first.set_ring_size(0);
        let configured = first
            .configure(cluster, params, configure_timeout_ms, auth, takeover)
            .await;
        if configured.is_ok() {
            self.use_rings(1);
        } else {
            // Nothing changed (or the caller forgets every ring): as it was.
            first.set_ring_size(ring_size);
        }
        configured
    }

    /// Several rings of at most `ring_size` members.
    async fn configure_split(
        &self,
        cluster: &[String],
        params: Option<TourParams>,
        configure_timeout_ms: u64,
        (auth, takeover): (RingAuth, Takeover),
        ring_size: u32,
    ) -> Result<RingConfigured, CoordError> {
        if ring_size < MIN_RING_SIZE || ring_size as usize > MAX_RING_MEMBERS {
            return Err(CoordError::InvalidArgument(format!(
                "--ring-size {ring_size} is out of range: a ring has from {MIN_RING_SIZE} to {MAX_RING_MEMBERS} members"
            )));
        }
        let params =
            params.ok_or_else(|| CoordError::InvalidArgument("params are missing".into()))?;
        crate::ring::validate_params(&params)
            .map_err(|e| CoordError::InvalidArgument(e.to_string()))?;
        if configure_timeout_ms == 0 || configure_timeout_ms > crate::ring::MAX_CONFIGURE_TIMEOUT_MS
        {
            return Err(CoordError::InvalidArgument(format!(
                "--timeout must be from 1 to {} s",
                crate::ring::MAX_CONFIGURE_TIMEOUT_MS / 1000
            )));
        }
        let timeout = Duration::from_millis(configure_timeout_ms);
        let deadline = tokio::time::Instant::now() + timeout;
        let too_late = || CoordError::ConfigureTimeout {
            seconds: timeout.as_secs_f64(),
        };
        let source = cluster_source(cluster)
            .map_err(|e: ClusterError| CoordError::InvalidArgument(e.to_string()))?;
        let ordered_by_name = !matches!(source, ClusterSource::List(_));
        let first = self.first();
        // Who the members are (a source asked now), and in which order they split.
        let (mut entries, source_text) =
            tokio::time::timeout_at(deadline, first.members_of(source.clone()))
                .await
                .map_err(|_| too_late())??;
        if ordered_by_name {
            let mut names = Vec::with_capacity(entries.len());
            for chunk in entries.chunks(NAMES_PARALLEL) {
                let asked = first.member_names(chunk, timeout);
                names.extend(
                    tokio::time::timeout_at(deadline, asked)
                        .await
                        .map_err(|_| too_late())??,
                );
            }
            let mut order: Vec<(String, String)> = names.into_iter().zip(entries).collect();
            order.sort();
            entries = order.into_iter().map(|(_, entry)| entry).collect();
        }
        let chunks = balanced_chunks(&entries, ring_size as usize);
        let rings: Vec<Arc<CoordinatorCore>> = (0..chunks.len()).map(|i| self.ring(i)).collect();
        for ring in &rings {
            ring.reuse();
        }
        first.set_ring_size(ring_size);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let left_ms = (left.as_millis() as u64).max(1);
        let configured = join_all(rings.iter().zip(&chunks).map(|(ring, chunk)| async move {
            ring.configure(chunk, Some(params), left_ms, auth, takeover)
                .await
                .map_err(|error| CoordError::InRing {
                    ring: ring.label().to_string(),
                    error: Box::new(error),
                })
        }))
        .await;
        let mut replies = Vec::with_capacity(configured.len());
        for reply in configured {
            replies.push(reply?);
        }
        self.use_rings(chunks.len());
        // The set's source keeps its listener (each ring was configured from a list).
        first.keep_listener_of(&source);
        tracing::info!(
            "configured {} rings of at most {ring_size} members{}",
            replies.len(),
            source_text
                .as_deref()
                .map_or_else(String::new, |s| format!(" from {s}"))
        );
        Ok(RingConfigured {
            members: replies.iter().flat_map(|r| r.members.clone()).collect(),
            params: replies.first().map_or(params, |r| r.params),
            source: source_text,
            name: None,
            // The first ring's; each ring's own is in `rings` (their datagram sizes, and so
            // their layouts, may differ with their route MTUs).
            placed: replies.first().and_then(|r| r.placed.clone()),
            rings: replies,
        })
    }

    /// From now on `n` rings are in use; the others leave their rings.
    fn use_rings(&self, n: usize) {
        *self.in_use.lock().unwrap_or_else(|p| p.into_inner()) = n.max(1);
        for ring in self.all().iter().skip(n.max(1)) {
            ring.forget_ring();
        }
    }

    /// Starts a tour on every ring in use, all at once; each ring's name and tour id.
    pub async fn run_tour(&self, record_stamps: bool) -> Result<Vec<(String, u64)>, CoordError> {
        let rings = self.in_use();
        if let [only] = rings.as_slice() {
            let id = only.run_tour(record_stamps).await?;
            return Ok(vec![(only.label().to_string(), id)]);
        }
        let started = join_all(rings.iter().map(|ring| async move {
            ring.run_tour(record_stamps)
                .await
                .map(|id| (ring.label().to_string(), id))
                .map_err(|error| CoordError::InRing {
                    ring: ring.label().to_string(),
                    error: Box::new(error),
                })
        }))
        .await;
        if let Some(Err(_)) = started.iter().find(|s| s.is_err()) {
            // One ring could not start: the others' tours end too, so that a run is all
            // rings or none.
            for (ring, started) in rings.iter().zip(&started) {
                if let Ok((_, id)) = started {
                    let _ = ring.cancel(Some(*id));
                }
            }
        }
        started.into_iter().collect()
    }

    /// The ring that ran or runs tour `id` (the first when none holds it in memory: the
    /// stored results are every ring's).
    fn ring_of(&self, id: u64) -> Arc<CoordinatorCore> {
        self.all()
            .into_iter()
            .find(|ring| ring.has_tour(id))
            .unwrap_or_else(|| self.first())
    }

    /// Waits up to `wait` for tour `id` to end.
    pub async fn wait_tour(&self, id: u64, wait: Duration) -> Result<TourProgress, CoordError> {
        self.ring_of(id).wait_tour(id, wait).await
    }

    /// A finished tour's result: a given one, or the first ring's latest.
    pub async fn result(&self, id: Option<u64>) -> Result<proto::TourResult, CoordError> {
        match id {
            Some(id) => self.ring_of(id).result(Some(id)).await,
            None => self.first().result(None).await,
        }
    }

    /// Pins (or unpins) a stored result.
    pub async fn pin(&self, id: Option<u64>, pinned: bool) -> Result<u64, CoordError> {
        match id {
            Some(id) => self.ring_of(id).pin(Some(id), pinned).await,
            None => self.first().pin(None, pinned).await,
        }
    }

    /// Ends tour `id` early; without one, the tour running on every ring that runs one.
    /// Returns the (first) tour's id.
    pub fn cancel(&self, id: Option<u64>) -> Result<u64, CoordError> {
        if let Some(id) = id {
            return self.ring_of(id).cancel(Some(id));
        }
        let running: Vec<Arc<CoordinatorCore>> = self
            .in_use()
            .into_iter()
            .filter(|ring| ring.tour_running())
            .collect();
        let mut first_id = None;
        for ring in running {
            if let Ok(id) = ring.cancel(None) {
                first_id.get_or_insert(id);
            }
        }
        match first_id {
            Some(id) => Ok(id),
            None => self.first().cancel(None),
        }
    }

    /// The status: the first ring's, or with several rings every ring's.
    pub async fn status(&self) -> RingStatus {
        let rings = self.in_use();
        if let [only] = rings.as_slice() {
            return only.status().await;
        }
        let statuses = join_all(rings.iter().map(|ring| ring.status())).await;
        let source = self
            .asked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|a| cluster_source(&a.cluster).ok())
            .filter(|s| !matches!(s, ClusterSource::List(_)))
            .map(|s| s.entry());
        let first = statuses.first().cloned().unwrap_or_default();
        let params = statuses
            .iter()
            .find_map(|s| s.ring.as_ref().map(|r| r.params));
        RingStatus {
            ring: params.map(|params| RingConfigured {
                members: statuses
                    .iter()
                    .filter_map(|s| s.ring.as_ref())
                    .flat_map(|r| r.members.clone())
                    .collect(),
                params,
                source,
                name: None,
                rings: Vec::new(),
                placed: statuses
                    .iter()
                    .find_map(|s| s.ring.as_ref().and_then(|r| r.placed.clone())),
            }),
            running_tour: first.running_tour,
            last_tour: first.last_tour,
            progress: None,
            monitor: first.monitor.clone(),
            name: None,
            rings: statuses,
        }
    }

    /// Every finished tour of every ring, oldest first.
    pub async fn tours(&self) -> Result<Vec<proto::TourSummary>, CoordError> {
        let mut tours: Vec<proto::TourSummary> = Vec::new();
        for listed in join_all(self.all().iter().map(|ring| ring.tours())).await {
            for tour in listed? {
                if !tours.iter().any(|t| t.tour_id == tour.tour_id) {
                    tours.push(tour);
                }
            }
        }
        tours.sort_unstable_by_key(|t| (t.started_unix_ms, t.tour_id));
        Ok(tours)
    }

    /// UDP echoes to every member of every ring in use, the rings probed at once.
    pub async fn echo_members(&self, opts: ProbeOptions) -> Result<Vec<Rtts>, CoordError> {
        let rings = self.in_use();
        let probed = join_all(rings.iter().map(|ring| ring.echo_members(opts))).await;
        Ok(probed.into_iter().collect::<Result<Vec<_>, _>>()?.concat())
    }

    /// ICMP echoes to every member host of every ring in use, the rings probed at once.
    pub async fn ping_systems(&self, opts: ProbeOptions) -> Result<Vec<Rtts>, CoordError> {
        let rings = self.in_use();
        let probed = join_all(rings.iter().map(|ring| ring.ping_systems(opts))).await;
        Ok(probed.into_iter().collect::<Result<Vec<_>, _>>()?.concat())
    }

    /// The key echo requests to the ring's members must carry; refused with several rings
    /// (each has its own key): echoes from the client go to one ring's members only.
    pub fn echo_key(&self) -> Result<Option<stillepost_engine::auth::DatagramKey>, CoordError> {
        if self.in_use().len() > 1 {
            return Err(CoordError::InvalidArgument(
                "echo-members --from-client reaches one ring's members, and the members form several rings (--ring-size): run it without --from-client, from the coordinator".into(),
            ));
        }
        self.first().echo_key()
    }

    /// Configures the members `cluster` names as `stillepostd coordinator --cluster`
    /// asks, with the default tour: at once and then every [`START_RETRY`] until it
    /// works (members may start after the coordinator), unless a client configured
    /// something else meanwhile, or the ring taken up after a restart is already this one.
    pub fn configure_at_start(self: &Arc<Self>, cluster: Vec<String>, ring_size: u32) {
        // Sources compare as they are written out (`discover` is `discover:<default>`).
        let canonical = |c: &[String]| cluster_source(c).ok().map(|s| s.entry());
        let asked = canonical(&cluster);
        if ring_size == 0 && asked.is_some() && self.first().wanted_entry() == asked {
            tracing::info!(
                "--cluster {}: the ring taken up after the restart is this one",
                cluster.join(",")
            );
            return;
        }
        let set = Arc::clone(self);
        tokio::spawn(async move {
            let what = cluster.join(",");
            let params = crate::ring::default_params();
            let ours = Asked {
                cluster: cluster.clone(),
                params,
                auth: RingAuth::Keyed,
                ring_size,
            };
            let mut last_error = String::new();
            loop {
                let other = set
                    .asked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .is_some_and(|a| *a != ours);
                if other {
                    tracing::info!(
                        "--cluster {what}: a client configured something else; not trying again"
                    );
                    return;
                }
                let result = set
                    .configure(
                        &cluster,
                        Some(params),
                        OWN_CONFIGURE_TIMEOUT_MS,
                        (RingAuth::Keyed, Takeover::Respect),
                        ring_size,
                    )
                    .await;
                match result {
                    Ok(ring) => {
                        tracing::info!(
                            "--cluster {what}: configured {} members{}",
                            ring.members.len(),
                            match ring.rings.len() {
                                0 => String::new(),
                                n => format!(" in {n} rings"),
                            }
                        );
                        return;
                    }
                    Err(e) => {
                        let text = e.to_string();
                        // The same trouble again (counts in it may have moved): logged once.
                        let kind: String = text.chars().filter(|c| !c.is_ascii_digit()).collect();
                        if kind != last_error {
                            tracing::warn!(
                                "--cluster {what}: cannot configure yet: {text}; trying again every {} s",
                                START_RETRY.as_secs()
                            );
                            last_error = kind;
                        }
                    }
                }
                tokio::time::sleep(START_RETRY).await;
            }
        });
    }

    /// Several rings from a source (monitor mode): asks the source again and configures
    /// the rings again when its members are not theirs, logging who joined and who left.
    async fn follow_split_source(&self) {
        // A client's configure in progress wins; one after this takes the lock in turn.
        let Ok(_configuring) = self.configuring.try_lock() else {
            return;
        };
        let asked = self.asked.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(asked) = asked.filter(|a| a.ring_size > 0) else {
            return;
        };
        let source = match cluster_source(&asked.cluster) {
            Ok(ClusterSource::List(_)) | Err(_) => return,
            Ok(source) => source,
        };
        let rings = self.in_use();
        if rings.iter().any(|ring| ring.busy()) {
            return;
        }
        let entry = source.entry();
        let now = match self.first().members_of(source).await {
            Ok((members, _)) => members,
            Err(e) => {
                tracing::warn!(
                    "asking {entry} for the rings' members: {e}; the rings stay as they are"
                );
                return;
            }
        };
        let before: Vec<String> = rings.iter().flat_map(|r| r.member_endpoints()).collect();
        let joined: Vec<&String> = now.iter().filter(|e| !before.contains(e)).collect();
        let left: Vec<&String> = before.iter().filter(|e| !now.contains(e)).collect();
        if joined.is_empty() && left.is_empty() {
            return;
        }
        let list = |v: &[&String]| match v {
            [] => "none".to_string(),
            v => v.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "),
        };
        tracing::info!(
            "the members of {entry} changed: joined {}; left {}: configuring the rings again",
            list(&joined),
            list(&left)
        );
        if let Err(e) = self
            .configure_locked(
                &asked.cluster,
                Some(asked.params),
                OWN_CONFIGURE_TIMEOUT_MS,
                (asked.auth, Takeover::Respect),
                asked.ring_size,
            )
            .await
        {
            tracing::warn!("configuring the rings of {entry} again failed: {e}; trying again");
        }
    }
}

impl Observed for RingSet {
    async fn metrics(&self, openmetrics: bool) -> String {
        // Rings not in use now are left out (their last tour would look overdue).
        let rings = self.in_use();
        let metrics: Vec<&CoordinatorMetrics> = rings.iter().map(|r| r.metrics()).collect();
        CoordinatorMetrics::encode_rings(&metrics, openmetrics)
    }

    async fn ready(&self) -> Result<String, String> {
        let rings = self.in_use();
        if let [only] = rings.as_slice() {
            return only.ready();
        }
        let mut down = Vec::new();
        let mut members = 0;
        for ring in &rings {
            match ring.ready() {
                Ok(_) => members += ring.member_endpoints().len(),
                Err(why) => down.push(format!("ring {}: {why}", ring.label())),
            }
        }
        if down.is_empty() {
            Ok(format!(
                "{} rings of {members} members, all answering",
                rings.len()
            ))
        } else {
            Err(down.join("; "))
        }
    }
}
