//! The member core: owns the member's data plane and turns the coordinator's requests into
//! data-plane commands. The tonic service ([`crate::service::MemberService`]) only converts
//! protocol messages to calls on this core.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stillepost_engine::auth::{Psk, RingKey};
use stillepost_engine::counters::{MemberCounters, SocketCounters, Timestamping};
use stillepost_engine::dataplane::{
    Arm, ChallengeError, DataPlane, DataPlaneError, ProbeError, RingSetup, Started, TourReport,
};
use stillepost_engine::tour::{RingPosition, TourShape};

use crate::domain::{
    ClockEstimate, InfoDetail, MemberConfigured, MemberIdentity, MemberReport, MemberSetup,
    MemberState, MemberStats, Takeover,
};
use crate::ring::params_to_config;

/// Why a member refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// A field of the request is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// The member cannot tell its neighbours where to send.
    #[error(
        "the peer socket is bound to {bind}, and the coordinator reached this member over {seen:?}, which is no address of that family; start the member with --advertise <ip:port>"
    )]
    NoAdvertisableAddress {
        /// The peer socket's bind address.
        bind: SocketAddr,
        /// The local address the coordinator's connection arrived at.
        seen: Option<IpAddr>,
    },
    /// The data plane refused or failed.
    #[error(transparent)]
    DataPlane(#[from] DataPlaneError),
    /// The previous member's clock could not be probed.
    #[error(transparent)]
    ClockProbe(#[from] ProbeError),
    /// The next member did not answer the ring's challenge.
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    /// A tour was asked for before the next member answered the ring's challenge.
    #[error(
        "the next member at {next_peer} has not answered this ring's challenge, so no tour is sent there; configure the ring again (`stillepost configure`)"
    )]
    NextNotVerified {
        /// The next member's peer endpoint.
        next_peer: SocketAddr,
    },
    /// Another coordinator holds this member.
    #[error(
        "this member belongs to coordinator {owner} ({held}); configure with --force to take it over"
    )]
    Owned {
        /// The coordinator holding it.
        owner: String,
        /// Why it still holds it.
        held: Held,
    },
    /// A prepare for a configuration the member no longer has: someone configured it
    /// since.
    #[error(
        "this member was configured again (by coordinator {owner}) since this coordinator configured it: its configuration is number {current}, not {expected}; configure the ring again"
    )]
    Reconfigured {
        /// The configuration the caller made.
        expected: u64,
        /// The member's configuration now.
        current: u64,
        /// The coordinator that made it.
        owner: String,
    },
    /// A blocking task could not be run.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a coordinator still holds a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// A tour of its is armed or running here.
    Tour,
    /// Its lease has this long to run.
    Lease(Duration),
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::Tour => f.write_str("a tour of its is armed here"),
            Held::Lease(left) => write!(
                f,
                "its lease runs {} s more, renewed at each of its configures and tours",
                left.as_secs().max(1)
            ),
        }
    }
}

/// How long a member belongs to the coordinator that configured it, after its last
/// configure, prepare or end: another coordinator's configure is refused until then
/// (unless forced).
pub const OWNER_LEASE: Duration = Duration::from_secs(60);

/// Most clock probes a prepare may ask for.
const MAX_CLOCK_PROBES: u32 = 1024;

/// The most messages a tour records every timestamp of (16 B per message per member, sent
/// to the coordinator in one report).
pub const MAX_RECORDED_MESSAGES: u32 = 1_000_000;
/// Longest a member spends probing its previous member's clock (within the coordinator's
/// deadline for a prepare call).
const CLOCK_PROBE_BUDGET: Duration = Duration::from_secs(2);
/// Longest a member waits for its next member to answer the ring's challenge (within the
/// coordinator's deadline for the call).
const CHALLENGE_BUDGET: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Told {
    position: Option<RingPosition>,
    /// The previous member's peer endpoint, as configured.
    prev_peer: Option<SocketAddr>,
    /// The next member's peer endpoint, as configured.
    next_peer: Option<SocketAddr>,
    /// This configuration's ring key.
    ring_key: Option<RingKey>,
    /// Whether the next member answered this configuration's challenge.
    next_verified: bool,
    /// Receive buffer the tour needs and the kernel granted, bytes.
    rcvbuf: (u64, u64),
    /// Largest datagram of the tour and the MTU of the route to the next member (0: unknown).
    datagram: (u64, u32),
    /// Messages per tour, as configured.
    count: u32,
    /// Kernel counters and socket drops when the tour was armed.
    before: Option<(stillepost_tuning::drops::Reading, Option<u64>)>,
    /// Where the member stands.
    phase: MemberState,
    /// The coordinator that configured it, and when it last renewed its lease.
    owner: Option<(String, std::time::Instant)>,
    /// Configurations so far (this one's number).
    generation: u64,
}

/// A member: its data plane and what it was told.
#[derive(Debug)]
pub struct MemberCore {
    dataplane: Arc<DataPlane>,
    advertise: Option<SocketAddr>,
    /// The pre-shared key (`--psk-file`) mixed into every configuration's ring key.
    psk: Option<Psk>,
    /// How long it belongs to the coordinator that configured it.
    lease: Duration,
    state: Mutex<Told>,
    /// Its name (`--name`, default the host's name).
    name: String,
    /// Random per process: a coordinator tells a restarted member by a new one.
    instance_id: String,
    /// Cores a configure may place the data-plane thread on (this process's affinity).
    cores: Vec<usize>,
    /// The data-plane thread's core was given (`--cpu`): configures leave it there.
    cpu_fixed: bool,
}

fn lock(state: &Mutex<Told>) -> std::sync::MutexGuard<'_, Told> {
    // A panic while holding this lock leaves plain data behind; carry on with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemberCore {
    /// Wraps a running data plane. `advertise` overrides the peer endpoint the member
    /// tells the coordinator.
    pub fn new(dataplane: DataPlane, advertise: Option<SocketAddr>) -> MemberCore {
        MemberCore {
            dataplane: Arc::new(dataplane),
            advertise,
            psk: None,
            lease: OWNER_LEASE,
            state: Mutex::new(Told::default()),
            name: host_name().unwrap_or_else(|| "member".to_string()),
            instance_id: format!("{:016x}", rand::random::<u64>()),
            cores: crate::options::available_cores(),
            cpu_fixed: false,
        }
    }

    /// The same member with its data-plane thread's core given by the operator (`--cpu`):
    /// the coordinator's placement leaves it there.
    pub fn with_fixed_cpu(self) -> MemberCore {
        MemberCore {
            cpu_fixed: true,
            ..self
        }
    }

    /// The same member named `name` (metrics and status label it so).
    pub fn with_name(self, name: String) -> MemberCore {
        MemberCore { name, ..self }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same member with another owner lease (tests shorten it).
    pub fn with_lease(self, lease: Duration) -> MemberCore {
        MemberCore { lease, ..self }
    }

    /// Refuses a configure by a coordinator other than the one holding this member, unless
    /// forced: while a tour of the holder's is armed, or its lease runs.
    fn check_owner(&self, state: &Told, setup: &MemberSetup) -> Result<(), MemberError> {
        let Some((owner, renewed)) = &state.owner else {
            return Ok(());
        };
        if *owner == setup.coordinator_id || setup.takeover == Takeover::Force {
            return Ok(());
        }
        let held = if matches!(state.phase, MemberState::Armed | MemberState::InTour) {
            Held::Tour
        } else {
            match self.lease.checked_sub(renewed.elapsed()) {
                Some(left) if !left.is_zero() => Held::Lease(left),
                _ => return Ok(()),
            }
        };
        Err(MemberError::Owned {
            owner: owner.clone(),
            held,
        })
    }

    /// The same member, mixing `psk` into every ring key it is given: it then answers
    /// challenges and tags datagrams only as members with the same pre-shared key do.
    pub fn with_psk(self, psk: Option<Psk>) -> MemberCore {
        MemberCore { psk, ..self }
    }

    /// The peer socket's bound address.
    pub fn peer_bind(&self) -> SocketAddr {
        self.dataplane.local_addr()
    }

    /// The endpoint neighbours must send to. A socket bound to a wildcard address is
    /// advertised with the address the coordinator reached this member at (`seen`),
    /// which is on the cluster's network; never as `0.0.0.0`.
    pub fn peer_endpoint(&self, seen: Option<IpAddr>) -> Result<SocketAddr, MemberError> {
        if let Some(addr) = self.advertise {
            return Ok(addr);
        }
        let bind = self.dataplane.local_addr();
        if !bind.ip().is_unspecified() {
            return Ok(bind);
        }
        match seen.map(|ip| ip.to_canonical()) {
            Some(ip) if ip.is_ipv4() == bind.is_ipv4() && !ip.is_unspecified() => {
                Ok(SocketAddr::new(ip, bind.port()))
            }
            other => Err(MemberError::NoAdvertisableAddress { bind, seen: other }),
        }
    }

    /// The member's identity and state.
    pub async fn info(
        &self,
        seen: Option<IpAddr>,
        detail: InfoDetail,
    ) -> Result<MemberIdentity, MemberError> {
        let peer = self.peer_endpoint(seen)?;
        // A round trip to the data-plane thread (answered between two datagrams), off the
        // async workers like every other data-plane call; a liveness check leaves it alone.
        let lifetime = match detail {
            InfoDetail::Counters => self.blocking(DataPlane::lifetime).await?,
            InfoDetail::Liveness => MemberCounters::default(),
        };
        let state = lock(&self.state);
        let (index, ring_len) = state.position.map_or((0, 0), |p| (p.index, p.ring_len));
        let started = self.dataplane.started();
        Ok(MemberIdentity {
            peer_endpoint: peer.to_string(),
            state: Some(state.phase),
            backend: Some(started.backend),
            poll: Some(started.poll),
            cpu: started.cpu,
            cores: self.cores.clone(),
            cpu_fixed: self.cpu_fixed,
            index,
            ring_len,
            version: env!("CARGO_PKG_VERSION").to_string(),
            host_id: host_id(),
            clock_id: self.clock_id(),
            fallback_reason: self.dataplane.fallback_reason().map(str::to_string),
            lifetime,
            generation: state.generation,
            owner: state
                .owner
                .as_ref()
                .map_or_else(String::new, |(owner, _)| owner.clone()),
            name: self.name.clone(),
            instance_id: self.instance_id.clone(),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&DataPlane) -> Result<T, DataPlaneError> + Send + 'static,
    ) -> Result<T, MemberError> {
        let dataplane = Arc::clone(&self.dataplane);
        tokio::task::spawn_blocking(move || f(&dataplane))
            .await
            .map_err(|e| MemberError::Internal(e.to_string()))?
            .map_err(MemberError::from)
    }

    /// Takes a ring position, neighbours and tour parameters.
    pub async fn configure(&self, req: MemberSetup) -> Result<MemberConfigured, MemberError> {
        let parse = |field: &str, value: &str| {
            value.parse::<SocketAddr>().map_err(|e| {
                MemberError::InvalidArgument(format!("{field} '{value}' is not an ip:port: {e}"))
            })
        };
        let next_peer = parse("next_peer", &req.next_peer)?;
        let prev_peer = parse("prev_peer", &req.prev_peer)?;
        self.check_owner(&lock(&self.state), &req)?;
        if req.ring_key.is_none()
            && let Some(peer) = [next_peer, prev_peer]
                .into_iter()
                .find(|peer| !peer.ip().is_loopback())
        {
            return Err(MemberError::InvalidArgument(format!(
                "a configure without a ring key (--no-auth) is for rings on one host's loopback only, and the neighbour {peer} is not; use a coordinator that sends a ring key"
            )));
        }
        let params = req
            .params
            .ok_or_else(|| MemberError::InvalidArgument("params are missing".into()))?;
        crate::ring::validate_params(&params)
            .map_err(|e| MemberError::InvalidArgument(e.to_string()))?;
        let config = params_to_config(&params);
        if req.ring_len == 0 || req.index >= req.ring_len {
            return Err(MemberError::InvalidArgument(format!(
                "index {} is not a position in a ring of {}",
                req.index, req.ring_len
            )));
        }
        let position = RingPosition {
            index: req.index,
            ring_len: req.ring_len,
        };
        // The ring key as this member uses it (mixed with its pre-shared key, if any); the
        // echo key comes from the coordinator's key alone, as clients get it from there.
        let ring_key = req
            .ring_key
            .map(|key| self.psk.map_or(key, |psk| key.with_psk(&psk)));
        let setup = RingSetup {
            position,
            config,
            next_peer,
            prev_peer,
            ring_key,
            echo_key: req.ring_key.map(|key| key.echo_key()),
            // Validated with the parameters: at most 63.
            dscp: u8::try_from(params.dscp).unwrap_or(0),
        };
        // The ring's placement, unless --cpu fixed the core.
        let cpu = req.cpu.filter(|_| !self.cpu_fixed);
        if let Some(cpu) = cpu
            && !self.cores.contains(&cpu)
        {
            return Err(MemberError::InvalidArgument(format!(
                "cannot place the data-plane thread on core {cpu}: this member may use cores {:?}",
                self.cores
            )));
        }
        let report = self.blocking(move |dp| dp.configure(setup, cpu)).await?;
        let mut warnings = Vec::new();
        if let Some(reason) = self.dataplane.fallback_reason() {
            warnings.push(format!(
                "io_uring cannot start ({reason}); this member runs the syscall backend"
            ));
        }
        let sysctls = stillepost_tuning::Sysctls::default();
        warnings.extend(buffer_warning(
            "receive",
            (report.rcvbuf_requested, report.rcvbuf_granted),
            "a burst of messages may be dropped",
            || stillepost_tuning::advise_rmem_max(&sysctls, report.rcvbuf_requested as u64),
        ));
        warnings.extend(buffer_warning(
            "send",
            (report.sndbuf_requested, report.sndbuf_granted),
            "a burst of messages waits for room to leave",
            || stillepost_tuning::advise_wmem_max(&sysctls, report.sndbuf_requested as u64),
        ));
        // The same host check as `stillepost tune`, for this tour: every setting to change.
        let path_mtu = stillepost_engine::dataplane::path_mtu(next_peer).ok();
        let mtu = path_mtu.unwrap_or(1500);
        // Holding tours have window = count (validated, like the fragment plan: the data
        // plane took this configuration).
        let workload = crate::ring::workload(&config, mtu)
            .map_err(|e| MemberError::InvalidArgument(e.to_string()))?;
        // rmem_max and wmem_max are left to the socket-buffer warnings above, which have
        // what this socket asked for and got (and are silent when it got it, e.g. as root).
        for c in stillepost_tuning::check(&stillepost_tuning::Host::live(), workload) {
            if c.status == stillepost_tuning::Status::Change
                && c.name != "net.core.rmem_max"
                && c.name != "net.core.wmem_max"
            {
                warnings.push(format!(
                    "{}: {} → {} ({}); see docs/tuning.md#{} or run `stillepost tune {}` on this host",
                    c.name,
                    c.current.as_deref().unwrap_or("?"),
                    c.recommended.as_deref().unwrap_or("?"),
                    c.reason,
                    c.anchor,
                    workload.flags(),
                ));
            }
        }
        let mut state = lock(&self.state);
        state.position = Some(position);
        state.prev_peer = Some(prev_peer);
        state.next_peer = Some(next_peer);
        state.ring_key = ring_key;
        // Without a key (a loopback ring, checked above) there is no challenge to pass.
        state.next_verified = req.ring_key.is_none();
        state.rcvbuf = (report.rcvbuf_requested as u64, report.rcvbuf_granted as u64);
        state.datagram = (workload.datagram(), path_mtu.unwrap_or(0));
        state.count = config.count;
        state.phase = MemberState::Configured;
        state.owner = Some((req.coordinator_id, std::time::Instant::now()));
        state.generation += 1;
        Ok(MemberConfigured {
            generation: state.generation,
            cpu: self.dataplane.cpu(),
            rcvbuf_requested: report.rcvbuf_requested as u64,
            rcvbuf_granted: report.rcvbuf_granted as u64,
            sndbuf_granted: report.sndbuf_granted as u64,
            sndbuf_requested: report.sndbuf_requested as u64,
            gso_segment: report.gso_segment as u32,
            gro: report.gro,
            warnings,
            path_mtu: path_mtu.unwrap_or(0),
        })
    }

    /// The clock this member reads: the host's monotonic clock (its boot id), shifted when
    /// a clock shift is injected for testing.
    fn clock_id(&self) -> String {
        match self.dataplane.clock_shift_ns() {
            0 => host_id(),
            shift => format!("{}{shift:+}ns", host_id()),
        }
    }

    /// Challenges the next member with a fresh nonce under this configuration's ring key;
    /// only after it answered from its peer endpoint is this member prepared for tours.
    pub async fn challenge_next(&self) -> Result<(), MemberError> {
        let (next_peer, key, next_index) = {
            let state = lock(&self.state);
            let (Some(next_peer), Some(position)) = (state.next_peer, state.position) else {
                return Err(MemberError::DataPlane(DataPlaneError::NotConfigured));
            };
            let Some(key) = state.ring_key else {
                return Err(MemberError::InvalidArgument(
                    "this ring was configured without a ring key, so the next member cannot be challenged; use a coordinator of this version".into(),
                ));
            };
            (next_peer, key, (position.index + 1) % position.ring_len)
        };
        let nonce: u64 = rand::random();
        let dataplane = Arc::clone(&self.dataplane);
        tokio::task::spawn_blocking(move || {
            dataplane.challenge_next(next_peer, &key, next_index, nonce, CHALLENGE_BUDGET)
        })
        .await
        .map_err(|e| MemberError::Internal(e.to_string()))??;
        let mut state = lock(&self.state);
        // A configure that came meanwhile needs its own challenge.
        if state.next_peer == Some(next_peer) && state.ring_key == Some(key) {
            state.next_verified = true;
        }
        Ok(())
    }

    /// Probes the previous member's clock when asked, then arms the data plane for a tour
    /// with the hop into this member corrected by the offset found.
    pub async fn prepare(
        &self,
        tour_id: u64,
        generation: u64,
        probe_prev_clock: bool,
        clock_probes: u32,
        record_stamps: bool,
        shape: Option<TourShape>,
    ) -> Result<Option<ClockEstimate>, MemberError> {
        let count = {
            let mut state = lock(&self.state);
            if generation != state.generation {
                return Err(MemberError::Reconfigured {
                    expected: generation,
                    current: state.generation,
                    owner: state
                        .owner
                        .as_ref()
                        .map_or_else(String::new, |(o, _)| o.clone()),
                });
            }
            if let Some((_, renewed)) = &mut state.owner {
                *renewed = std::time::Instant::now();
            }
            if let Some(next_peer) = state.next_peer
                && !state.next_verified
            {
                return Err(MemberError::NextNotVerified { next_peer });
            }
            shape.map_or(state.count, |s| s.count)
        };
        if record_stamps && count > MAX_RECORDED_MESSAGES {
            return Err(MemberError::InvalidArgument(format!(
                "recording every message's timestamps is for tours of at most {MAX_RECORDED_MESSAGES} messages; this one has {count}"
            )));
        }
        let prev_clock = if probe_prev_clock {
            let (prev, key) = {
                let state = lock(&self.state);
                let prev = state
                    .prev_peer
                    .ok_or(MemberError::DataPlane(DataPlaneError::NotConfigured))?;
                (prev, state.ring_key.map(|k| k.datagram_key()))
            };
            let probes = clock_probes.clamp(1, MAX_CLOCK_PROBES);
            let dataplane = Arc::clone(&self.dataplane);
            let estimate = tokio::task::spawn_blocking(move || {
                dataplane.probe_clock(prev, probes, CLOCK_PROBE_BUDGET, key)
            })
            .await
            .map_err(|e| MemberError::Internal(e.to_string()))??;
            // The estimate is the previous member's clock minus this one's.
            Some(ClockEstimate {
                offset_ns: estimate.offset_ns.saturating_neg(),
                error_bound_ns: estimate.error_bound_ns,
                min_rtt_ns: estimate.min_rtt_ns,
                samples: estimate.samples,
                sent: estimate.sent,
                timestamping: Some(if estimate.kernel_stamped {
                    Timestamping::KernelSoftware
                } else {
                    Timestamping::Application
                }),
            })
        } else {
            None
        };
        let offset = prev_clock.as_ref().map_or(0, |c| c.offset_ns);
        // Allocated here, not on the data path: 16 B per message.
        let stamps = record_stamps.then(|| vec![[0u64; 2]; count as usize].into_boxed_slice());
        let arm = Arm {
            prev_clock_offset_ns: offset,
            stamps,
            shape,
        };
        self.blocking(move |dp| dp.prepare(tour_id, arm)).await?;
        let before = (
            stillepost_tuning::drops::read_counters(std::path::Path::new("/proc")),
            self.dataplane.socket_drops(),
        );
        let mut state = lock(&self.state);
        state.phase = MemberState::Armed;
        state.before = Some(before);
        drop(state);
        Ok(prev_clock)
    }

    /// Origin: starts sending.
    pub async fn start(&self, tour_id: u64) -> Result<(), MemberError> {
        self.blocking(move |dp| dp.start(tour_id)).await?;
        lock(&self.state).phase = MemberState::InTour;
        Ok(())
    }

    /// Origin: waits up to `wait` for the tour to finish. Returns (done, sent, received).
    pub async fn wait(
        &self,
        tour_id: u64,
        wait: Duration,
    ) -> Result<(bool, u64, u64), MemberError> {
        let done = self
            .blocking(move |dp| Ok(dp.wait_finished(tour_id, wait)))
            .await?;
        let progress = self.dataplane.progress();
        use std::sync::atomic::Ordering::Relaxed;
        Ok((
            done,
            progress.sent.load(Relaxed),
            progress.received.load(Relaxed),
        ))
    }

    /// Ends the tour here and returns this member's report.
    pub async fn end(
        &self,
        tour_id: u64,
        seen: Option<IpAddr>,
    ) -> Result<MemberReport, MemberError> {
        let report = self.blocking(move |dp| dp.end(tour_id)).await?;
        let after = (
            stillepost_tuning::drops::read_counters(std::path::Path::new("/proc")),
            self.dataplane.socket_drops(),
        );
        let peer = self.peer_endpoint(seen)?;
        let mut state = lock(&self.state);
        state.phase = MemberState::Configured;
        if let Some((_, renewed)) = &mut state.owner {
            *renewed = std::time::Instant::now();
        }
        let index = state.position.map_or(0, |p| p.index);
        let mut reply = report_of(&report, index, peer.to_string(), self.dataplane.started())?;
        if let Some(before) = state.before.take() {
            let stats = &mut reply.stats;
            let moved = stillepost_tuning::drops::moved(&before.0, &after.0);
            let socket_drops = match (before.1, after.1) {
                (Some(b), Some(a)) => a.saturating_sub(b),
                _ => 0,
            };
            stats.counters.socket.socket_drops = socket_drops;
            stats.drop_advice = drop_advice(index, &moved, socket_drops, state.rcvbuf);
            let send_too_big = stats.counters.io.send_too_big;
            if send_too_big > 0 {
                let (datagram, mtu) = state.datagram;
                stats.drop_advice.push(format!(
                    "member {index}: {send_too_big} sends refused with EMSGSIZE: datagrams of {datagram} B do not fit the route MTU {mtu} to the next member; lower --max-datagram to {} or leave it out (the ring's smallest MTU sets it)",
                    mtu.saturating_sub(28)
                ));
            }
            stats.kernel_counters = moved;
        }
        Ok(reply)
    }
}

/// What to change, for the kernel counters that moved during a tour on member `index`.
/// The socket's own drop counter says whether this member's receive buffer overflowed
/// (the snmp counters are shared by every socket of the network namespace).
fn drop_advice(
    index: u32,
    moved: &[(String, u64)],
    socket_drops: u64,
    (needed, granted): (u64, u64),
) -> Vec<String> {
    let delta = |name: &str| moved.iter().find(|(n, _)| n == name).map_or(0, |(_, d)| *d);
    let mut advice = Vec::new();
    if socket_drops > 0 {
        let rcvbuf = delta("Udp RcvbufErrors");
        let fix = if granted < needed {
            format!(
                "its receive buffer holds {granted} B but the tour can have {needed} B in flight: raise net.core.rmem_max to {} (or give the member CAP_NET_ADMIN, which sets its buffer past the limit), see docs/tuning.md#rmem_max",
                needed.next_power_of_two()
            )
        } else {
            format!(
                "its receive buffer ({granted} B) filled although it holds what the tour can have in flight: the member fell behind; see docs/tuning.md#netdev_max_backlog and #cpu"
            )
        };
        advice.push(format!(
            "member {index}: its peer socket dropped {socket_drops} datagrams (RcvbufErrors +{rcvbuf}): {fix}"
        ));
    }
    let mut more = |name: &str, text: &str| {
        let d = delta(name);
        if d > 0 {
            advice.push(format!("member {index}: {name} +{d}: {text}"));
        }
    };
    more(
        "Udp MemErrors",
        "all UDP sockets of the host passed net.ipv4.udp_mem: raise its first value, see docs/tuning.md#udp_mem",
    );
    more(
        "Udp SndbufErrors",
        "a send found the send buffer full: raise net.core.wmem_max, see docs/tuning.md#wmem_max",
    );
    more(
        "Ip ReasmFails",
        "IP fragments were dropped before their datagram was whole: raise net.ipv4.ipfrag_high_thresh, see docs/tuning.md#ipfrag",
    );
    more(
        "softnet dropped",
        "a CPU's input queue was full: raise net.core.netdev_max_backlog, see docs/tuning.md#netdev_max_backlog",
    );
    advice
}

/// A data-plane tour report as the member reports it (the kernel's counters are added
/// by `end`).
fn report_of(
    report: &TourReport,
    index: u32,
    peer: String,
    started: Started,
) -> Result<MemberReport, MemberError> {
    let encode = |h| {
        stillepost_engine::histogram::encode(h).map_err(|e| MemberError::Internal(e.to_string()))
    };
    let tour_latency_corrected = if report.tour_latency_corrected.is_empty() {
        Vec::new()
    } else {
        encode(&report.tour_latency_corrected)?
    };
    Ok(MemberReport {
        tour_id: report.tour_id,
        phase: Some(report.phase),
        stats: MemberStats {
            index,
            peer_endpoint: peer,
            counters: MemberCounters {
                tour: report.counters.clone(),
                io: report.io,
                socket: SocketCounters::default(),
            },
            backend: Some(started.backend),
            poll: Some(started.poll),
            cpu: started.cpu,
            cpu_ns: report.cpu_ns,
            preempted: report.preempted,
            residence: encode(&report.residence)?,
            stamps: report.stamps.as_deref().map_or_else(Vec::new, |s| {
                s.iter()
                    .flat_map(|[i, o]| i.to_le_bytes().into_iter().chain(o.to_le_bytes()))
                    .collect()
            }),
            kernel_counters: Vec::new(),
            drop_advice: Vec::new(),
            report_missing: false,
        },
        first_send_ns: report.first_send_ns.unwrap_or(0),
        last_receive_ns: report.last_receive_ns.unwrap_or(0),
        tour_latency: encode(&report.tour_latency)?,
        tour_latency_corrected,
        hop_latency: encode(&report.hop_latency)?,
        hop_ipdv: encode(&report.hop_ipdv)?,
        tour_ipdv: encode(&report.tour_ipdv)?,
        negative_hops: report.negative_hops,
        timestamping: Some(report.io.timestamping()),
    })
}

/// The warning for a socket buffer the kernel granted less of than was asked for
/// (`requested`, `granted`), with what that means and the sysctl to raise.
fn buffer_warning(
    which: &str,
    (requested, granted): (usize, usize),
    effect: &str,
    advice: impl FnOnce() -> Result<Option<stillepost_tuning::Advice>, stillepost_tuning::TuningError>,
) -> Option<String> {
    if granted >= requested {
        return None;
    }
    let mut text = format!(
        "peer socket {which} buffer: asked for {requested} B, the kernel granted {granted} B; {effect}"
    );
    match advice() {
        Ok(Some(advice)) => text.push_str(&format!("; {advice}")),
        Ok(None) => {}
        Err(e) => text.push_str(&format!("; {e}")),
    }
    text.push_str(
        "; or give the member CAP_NET_ADMIN (e.g. AmbientCapabilities=CAP_NET_ADMIN in its systemd unit), with which it sets its buffers past the limit",
    );
    Some(text)
}

/// This host's name (`None` when it has none): the default member name, part of a
/// coordinator's id, and where a client's probes came from.
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// This host's boot id: members that report the same one run on the same machine (network
/// namespaces included) and share its cores.
pub fn host_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl crate::metrics::Observed for MemberCore {
    async fn metrics(&self, openmetrics: bool) -> String {
        let lifetime = self.blocking(DataPlane::lifetime).await;
        let started = self.dataplane.started();
        let snap = crate::metrics::MemberSnapshot {
            running: lifetime.is_ok(),
            lifetime: lifetime.unwrap_or_default(),
            socket_drops: self.dataplane.socket_drops(),
            info: vec![
                ("name", self.name.clone()),
                ("backend", started.backend.name().to_string()),
                ("poll", started.poll.name().to_string()),
                (
                    "cpu",
                    started.cpu.map_or("any".to_string(), |c| c.to_string()),
                ),
                ("version", env!("CARGO_PKG_VERSION").to_string()),
            ],
        };
        crate::metrics::encode_member(&snap, openmetrics)
    }

    async fn ready(&self) -> Result<String, String> {
        match self.blocking(DataPlane::lifetime).await {
            Ok(_) => Ok(format!(
                "the data plane runs ({} backend)",
                self.dataplane.started().backend.name()
            )),
            Err(e) => Err(format!("the data plane does not answer: {e}")),
        }
    }
}
