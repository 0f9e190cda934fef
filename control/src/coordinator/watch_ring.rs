//! The coordinator watching its ring by itself: monitor tours every interval, member
//! health checks (with the ring configured again when a member restarted), readiness and
//! metrics (docs/monitoring.md).

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;

use super::{Busy, CoordError, CoordinatorCore, Health, TourKind, TourState, Wanted, unix_ms};
use crate::domain::{MemberIdentity, MonitorStatus, Outcome, Takeover};
use crate::metrics::Observed;
use crate::proto;
use crate::ring::{ClusterSource, cluster_source};
use crate::rpc::{call, describe, request};

/// How monitor mode runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorOptions {
    /// Between two monitor tours' starts (each drawn ±[`MONITOR_JITTER`] around it).
    pub interval: Duration,
    /// Messages per monitor tour (at most the configured count).
    pub count: u32,
    /// How often the ring's source (file:, dns:, discover) is asked for its members; the
    /// ring is configured again when they changed.
    pub resolve_interval: Duration,
}

/// How member health is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthOptions {
    /// Between two rounds of checks; also each check's deadline.
    pub interval: Duration,
}

/// How far a monitor interval varies at random, as a fraction of it, so that the rings of
/// many coordinators do not synchronise.
pub const MONITOR_JITTER: f64 = 0.1;

/// How long a configure the health checks start may take.
const RECONFIGURE_TIMEOUT_MS: u64 = 30_000;

/// Between two attempts of the configure `--cluster` asks for at start.
pub(super) const START_RETRY: Duration = Duration::from_secs(5);

/// Keeps `run_waiting` raised while a `run` waits for a monitor tour.
pub(super) struct Waiting<'a>(&'a CoordinatorCore);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.run_waiting = state.run_waiting.saturating_sub(1);
    }
}

impl CoordinatorCore {
    /// Waits for the monitor tour running now, if one is, up to its member timeout and the
    /// grace after it; monitoring starts no new tour until the returned guard is dropped.
    pub(super) async fn wait_for_monitor_tour(&self) -> Result<Waiting<'_>, CoordError> {
        let (waiting, found) = {
            let mut state = self.lock();
            state.run_waiting += 1;
            let found = match (state.busy, state.monitor_tour) {
                (Some(Busy::Tour(id)), Some(monitor)) if id == monitor => {
                    let patience = state.ring.as_ref().map_or(Duration::ZERO, |r| {
                        Duration::from_millis(r.params.member_timeout_ms)
                    });
                    state
                        .running
                        .get(&id)
                        .map(|r| (id, r.progress.clone(), patience))
                }
                _ => None,
            };
            (Waiting(self), found)
        };
        let Some((id, mut rx, patience)) = found else {
            return Ok(waiting);
        };
        // The tour task ends a tour whose origin went quiet this long after the member
        // timeout, then asks every member for its report.
        let bound =
            patience + super::ORIGIN_GRACE + super::SILENCE_LIMIT + crate::rpc::CALL_TIMEOUT;
        tracing::info!("a run waits for monitor tour {id:016x} to end");
        let done = tokio::time::timeout(bound, async {
            loop {
                if matches!(&*rx.borrow_and_update(), TourState::Done(_)) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        match done {
            Ok(()) => Ok(waiting),
            Err(_) => Err(CoordError::Busy(format!(
                "monitor tour {id:016x} is still running after {:.0} s",
                bound.as_secs_f64()
            ))),
        }
    }

    /// Starts monitor mode: a tour of `opts.count` messages about every `opts.interval`,
    /// while a ring is configured and no other tour or configure runs. Runs until the
    /// process ends.
    pub fn start_monitor(self: &Arc<Self>, opts: MonitorOptions) {
        self.metrics
            .set_monitor_interval(opts.interval.as_secs_f64());
        self.lock().monitor = Some(MonitorStatus {
            interval_ms: opts.interval.as_millis() as u64,
            count: opts.count,
            ..MonitorStatus::default()
        });
        let core = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let jitter = 1.0 + MONITOR_JITTER * (2.0 * rand::random::<f64>() - 1.0);
                let next = tokio::time::Instant::now() + opts.interval.mul_f64(jitter);
                core.monitor_once(opts.count).await;
                tokio::time::sleep_until(next).await;
            }
        });
        let core = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(opts.resolve_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // The first tick is now: the ring was just configured.
            loop {
                tick.tick().await;
                core.follow_source().await;
            }
        });
    }

    /// Asks the source of the ring last asked for (file:, dns:, discover) for its members
    /// and configures the ring again when they are not the ring's, logging who joined and
    /// who left. Nothing while the ring is busy, or for a ring given as a list.
    async fn follow_source(&self) {
        if self.retired() {
            return;
        }
        let (wanted, ring) = {
            let state = self.lock();
            if state.busy.is_some() || state.run_waiting > 0 {
                return;
            }
            (state.wanted.clone(), state.ring.clone())
        };
        let Some(wanted) = wanted else { return };
        // No ring yet: whoever asked for one (a client, or --cluster at start) is still
        // trying; following it would only race them.
        if ring.is_none() {
            return;
        }
        let source = match cluster_source(&wanted.cluster) {
            Ok(ClusterSource::List(_)) | Err(_) => return,
            Ok(source) => source,
        };
        let entry = source.entry();
        let now = match self.members_of(source).await {
            Ok((members, _)) => members,
            Err(e) => {
                tracing::warn!(
                    "asking {entry} for the ring's members: {e}; the ring stays as it is"
                );
                return;
            }
        };
        let before: Vec<String> = ring
            .map(|r| r.members.iter().map(|m| m.control.clone()).collect())
            .unwrap_or_default();
        let joined: Vec<&String> = now.iter().filter(|e| !before.contains(e)).collect();
        let left: Vec<&String> = before.iter().filter(|e| !now.contains(e)).collect();
        if joined.is_empty() && left.is_empty() {
            return;
        }
        let list = |v: &[&String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
            }
        };
        let why = format!(
            "the members of {entry} changed: joined {}; left {}",
            list(&joined),
            list(&left)
        );
        tracing::info!("{why}: configuring the ring again");
        self.configure_again(&why).await;
    }

    /// Runs one monitor tour to its end, unless the ring is busy or not configured.
    async fn monitor_once(self: &Arc<Self>, count: u32) {
        if self.retired() {
            return;
        }
        {
            let state = self.lock();
            if state.ring.is_none() || state.busy.is_some() || state.run_waiting > 0 {
                return;
            }
        }
        match self.start_tour(TourKind::Monitor { count }).await {
            Ok(id) => {
                // The tour task records it; wait for it so tours do not overlap intervals.
                let _ = self.wait_tour(id, Duration::from_secs(24 * 3600)).await;
                if let Some(m) = &mut self.lock().monitor {
                    m.tours += 1;
                    if m.last_outcome != Some(Outcome::Complete) {
                        tracing::warn!(
                            "monitor tour {id:016x}: {}{}",
                            m.last_outcome.map_or("", Outcome::name),
                            m.last_error
                                .as_deref()
                                .map_or_else(String::new, |e| format!(": {e}"))
                        );
                    }
                }
            }
            // Taken by a client in between: not a failure of the ring.
            Err(CoordError::Busy(_) | CoordError::NotConfigured) => {}
            Err(e) => {
                let now = unix_ms();
                self.metrics.tour_not_started(now as f64 / 1e3);
                let text = e.to_string();
                let mut state = self.lock();
                if let Some(m) = &mut state.monitor {
                    if m.last_error.as_deref() != Some(text.as_str()) {
                        tracing::warn!("a monitor tour could not start: {text}");
                    }
                    m.tours += 1;
                    m.last_tour = None;
                    m.last_outcome = Some(Outcome::Failed);
                    m.last_unix_ms = now;
                    m.last_error = Some(text);
                }
            }
        }
    }

    /// Starts the member health checks: every `opts.interval` between tours each ring
    /// member is asked for its identity, with that interval as the deadline. A member that stops
    /// answering is marked down (metrics, status, log); one that answers with a new
    /// instance id restarted and lost its configuration, and the ring is configured again
    /// as it was asked for. Runs until the process ends.
    pub fn start_health(self: &Arc<Self>, opts: HealthOptions) {
        let core = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(opts.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                core.check_health(opts.interval).await;
            }
        });
    }

    /// One round of health checks. None while a tour runs: the tour's own checks watch its
    /// members then (`Ring::check_forwarders`), and a member the tour stalls answers what
    /// arrived before our calls, not after.
    async fn check_health(self: &Arc<Self>, deadline: Duration) {
        if self.retired() {
            return;
        }
        let (ring, recovering) = {
            let state = self.lock();
            if matches!(state.busy, Some(Busy::Tour(_))) {
                return;
            }
            (state.ring.clone(), state.recovering)
        };
        let Some(ring) = ring else {
            if recovering {
                self.configure_again("the last attempt failed").await;
            }
            return;
        };
        let answers = join_all(ring.members.iter().map(|m| {
            let mut client = m.client.clone();
            async move {
                call(
                    deadline,
                    // Whether it answers, as which instance: its data plane is left alone.
                    client.info(request(proto::InfoRequest { liveness: true }, deadline)),
                )
                .await
                .map(MemberIdentity::from)
            }
        }))
        .await;
        let now = unix_ms();
        let mut restarted = Vec::new();
        {
            let mut state = self.lock();
            // A configure in between made another ring: its own checks follow.
            if !state.ring.as_ref().is_some_and(|r| Arc::ptr_eq(r, &ring)) {
                return;
            }
            if state.health.len() != ring.members.len() {
                state.health = vec![Health::default(); ring.members.len()];
            }
            for (m, answer) in ring.members.iter().zip(answers) {
                let health = &mut state.health[m.index];
                let was_up = health.up;
                match answer {
                    Ok(identity) => {
                        if !was_up {
                            tracing::info!(
                                "member {} ({}, {}) answers health checks again",
                                m.index,
                                m.name,
                                m.control
                            );
                        }
                        health.up = true;
                        health.error = None;
                        health.last_seen_unix_ms = now;
                        if identity.instance_id != m.instance_id {
                            restarted.push(format!(
                                "member {} ({}, {}) restarted (instance {} → {})",
                                m.index, m.name, m.control, m.instance_id, identity.instance_id
                            ));
                        }
                        health.instance_id = identity.instance_id;
                    }
                    Err(status) => {
                        let why = describe(&status);
                        if was_up {
                            tracing::warn!(
                                "member {} ({}, {}) does not answer health checks: {why}",
                                m.index,
                                m.name,
                                m.control
                            );
                        }
                        health.up = false;
                        health.error = Some(why);
                    }
                }
                self.metrics.set_up(&m.name, health.up);
            }
        }
        if !restarted.is_empty() {
            let why = restarted.join("; ");
            tracing::warn!("{why}: configuring the ring again");
            self.lock().recovering = true;
            self.configure_again(&why).await;
        }
    }

    /// Configures the ring last asked for again (a member restarted); leaves `recovering`
    /// set until it works, so the next health round tries again.
    async fn configure_again(&self, why: &str) {
        let wanted: Option<Wanted> = self.lock().wanted.clone();
        let Some(wanted) = wanted else { return };
        let result = self
            .configure(
                &wanted.cluster,
                Some(wanted.params),
                RECONFIGURE_TIMEOUT_MS,
                wanted.auth,
                Takeover::Respect,
            )
            .await;
        match result {
            Ok(ring) => tracing::info!(
                "configured the ring of {} members again ({why})",
                ring.members.len()
            ),
            // Busy: a tour or a client's configure; the next round tries again.
            Err(e) => {
                tracing::warn!("configuring the ring again ({why}) failed: {e}; trying again");
                self.lock().recovering = true;
            }
        }
    }

    /// Whether the coordinator is ready: a ring is configured and every member answered
    /// its last health check.
    pub fn ready(&self) -> Result<String, String> {
        let state = self.lock();
        let ring = state.ring.as_ref().ok_or("no ring is configured")?;
        let down: Vec<String> = ring
            .members
            .iter()
            .filter(|m| state.health.get(m.index).is_some_and(|h| !h.up))
            .map(|m| {
                let why = state
                    .health
                    .get(m.index)
                    .and_then(|h| h.error.clone())
                    .unwrap_or_default();
                format!(
                    "member {} ({}, {}) is down: {why}",
                    m.index, m.name, m.control
                )
            })
            .collect();
        if down.is_empty() {
            Ok(format!(
                "a ring of {} members, all answering",
                ring.members.len()
            ))
        } else {
            Err(down.join("; "))
        }
    }
}

impl Observed for CoordinatorCore {
    async fn metrics(&self, openmetrics: bool) -> String {
        self.metrics.encode(openmetrics)
    }

    async fn ready(&self) -> Result<String, String> {
        CoordinatorCore::ready(self)
    }
}
