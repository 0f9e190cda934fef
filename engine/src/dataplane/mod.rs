//! A member's data plane: one thread, pinned to a core, that owns the member's UDP peer
//! socket and moves its datagrams and timestamps between the kernel and the member's
//! [`Endpoint`] (which answers echoes and probes and drives the [`TourMachine`]).
//!
//! Two backends run the thread's loop: [`uring`] (io_uring: multishot receive into a
//! provided-buffer ring, sends straight out of the receive buffer, one `io_uring_enter` per
//! loop iteration) and [`syscall`] (`recvmmsg`/`sendmmsg` batches over the same buffer
//! pool). `auto` picks io_uring and falls back to the syscall backend, saying why, when the
//! kernel or a seccomp filter refuses it. Everything a tour needs (state machine, buffer
//! pool, histogram) is allocated when the ring is configured; handling a datagram
//! allocates nothing, takes no lock and logs nothing.

mod challenge;
mod clock;
mod probe;
mod sys;
mod syscall;
mod uring;

/// The readers of what the kernel writes for a receive (control messages, source
/// addresses): untrusted bytes, public for the fuzzers (fuzz/).
pub use sys::{gro_segment_size, kernel_rx_ns, socket_addr};

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use hdrhistogram::Histogram;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::counters::{CounterSet as _, MemberCounters};

pub use crate::counters::IoCounters;
use crate::endpoint::Endpoint;
pub use crate::endpoint::{Offload, RingSetup};
use crate::pool::Pool;
use crate::tour::{ConfigError, Counters, Phase, TourMachine};
use crate::wire::HEADER_LEN;
pub use challenge::ChallengeError;
pub use clock::Clock;
pub use probe::{ClockEstimate, ProbeError};
pub use sys::{monotonic_ns, path_mtu};

/// How long a blocking receive waits before the syscall backend looks at its command
/// queue again (the io_uring backend is woken through an eventfd instead).
const RECV_POLL: Duration = Duration::from_millis(5);
/// How long a control call waits for the data-plane thread to answer (below the
/// control plane's 5 s call deadline).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(4);
/// Socket buffer size a member asks for at least.
const MIN_SOCKET_BUFFER: usize = 4 << 20;
/// Socket buffer size a member never asks beyond.
const MAX_SOCKET_BUFFER: usize = 1 << 30;
/// Most receive buffers one member has (io_uring buffer ids are 16 bits).
pub const MAX_BUFFERS: u32 = 32_768;
/// Receive buffers of a member that forwards immediately, unless the window needs fewer.
const DEFAULT_BUFFERS: u32 = 1024;
/// Buffers the origin uses for new messages in flight in the kernel.
const SEND_SLOTS: u32 = 256;
/// Payload room of a receive buffer when GRO is on: the largest UDP payload, rounded up.
const GRO_BUFFER: usize = 65_536;
/// Most receive buffers with GRO on (each 64 KiB).
const GRO_BUFFERS: u32 = 256;
/// Room before the payload in every receive buffer: io_uring's `recvmsg_out` header, the
/// source address and the control data (the kernel's receive timestamp).
const RECV_HEADROOM: usize =
    16 + std::mem::size_of::<libc::sockaddr_storage>() + sys::RX_CONTROL_LEN;

/// Which data-plane backend to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// io_uring, or the syscall backend when io_uring cannot start.
    #[default]
    Auto,
    /// io_uring only; fail when it cannot start.
    Uring,
    /// `recvmmsg`/`sendmmsg`.
    Syscall,
}

/// The backend a data plane actually runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// io_uring.
    Uring,
    /// `recvmmsg`/`sendmmsg`.
    Syscall,
}

impl Backend {
    /// The name results and logs use.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Uring => "uring",
            Backend::Syscall => "syscall",
        }
    }
}

/// How the data-plane thread waits for datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PollMode {
    /// Sleep in the kernel until something arrives (a core is shared).
    #[default]
    Block,
    /// Busy-poll without sleeping (the thread owns its core).
    Spin,
}

impl PollMode {
    /// The name results and logs use.
    pub fn name(self) -> &'static str {
        match self {
            PollMode::Block => "block",
            PollMode::Spin => "spin",
        }
    }
}

/// Faults injected into a member's data plane, for tests of loss handling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Silently discard every data datagram on arrival, as a black-hole link would.
    pub drop_data: bool,
    /// Make io_uring set-up fail as if the kernel refused it (EPERM).
    pub refuse_uring: bool,
    /// Use this many receive buffers instead of what the configuration calls for.
    pub buffers: Option<u32>,
    /// Shift the member's clock by this many ns, as if it ran on another host.
    pub clock_shift_ns: i64,
    /// Origin: once message number `.0` (from 0) has been sent, stop for `.1` ms, as a
    /// sender descheduled or paused by the garbage collector would.
    pub origin_stall: Option<(u32, u32)>,
    /// Give the peer socket this receive buffer (`SO_RCVBUF`) instead of what the tour
    /// needs, so that the kernel drops what does not fit.
    pub rcvbuf: Option<u32>,
    /// Make the kernel refuse every GSO send (EINVAL, as a device or path that cannot
    /// segment would), so that the member falls back to plain sends.
    pub refuse_gso: bool,
}

impl Faults {
    /// Origin: sleeps the injected stall if this batch of sends (the `sent` counter went
    /// from `before` to `after`) passed its message.
    pub(crate) fn stall_origin(&self, before: u64, after: u64) {
        if let Some((seq, ms)) = self.origin_stall
            && before <= u64::from(seq)
            && u64::from(seq) < after
        {
            std::thread::sleep(Duration::from_millis(u64::from(ms)));
        }
    }
}

/// How a data plane is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataPlaneOptions {
    /// Backend to run.
    pub backend: BackendChoice,
    /// How the thread waits.
    pub poll: PollMode,
    /// Core to pin the thread to.
    pub cpu: Option<usize>,
    /// io_uring: forward with zero-copy sends (`SendZc`) out of the receive buffers,
    /// registered as a fixed buffer.
    pub zerocopy: bool,
    /// Send and receive every datagram on its own: no UDP GSO (`UDP_SEGMENT`) and no GRO
    /// (`UDP_GRO`) for fragmented messages.
    pub no_offload: bool,
    /// Injected faults (testing).
    pub faults: Faults,
}

/// What the data plane reports after it took a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigureReport {
    /// Receive buffer requested for the peer socket, bytes.
    pub rcvbuf_requested: usize,
    /// Receive buffer the kernel granted (as `getsockopt` reports it), bytes.
    pub rcvbuf_granted: usize,
    /// Send buffer requested for the peer socket, bytes.
    pub sndbuf_requested: usize,
    /// Send buffer the kernel granted, bytes.
    pub sndbuf_granted: usize,
    /// Receive buffers in the pool.
    pub buffers: u32,
    /// The GSO segment size the member's sends carry (the tour's datagram), 0 when it
    /// sends every datagram on its own.
    pub gso_segment: usize,
    /// Whether the peer socket receives GRO-coalesced datagrams.
    pub gro: bool,
    /// The DSCP the peer socket marks its datagrams with, as the kernel reports it back.
    pub dscp: u8,
}

/// A member's counters and histogram at the end of a tour.
#[derive(Debug, Clone)]
pub struct TourReport {
    /// The tour reported.
    pub tour_id: u64,
    /// Where the tour stood when it ended.
    pub phase: Phase,
    /// The state machine's counters.
    pub counters: Counters,
    /// Origin: first message sent (monotonic ns).
    pub first_send_ns: Option<u64>,
    /// Last distinct message received (monotonic ns).
    pub last_receive_ns: Option<u64>,
    /// Origin: tour latency per message.
    pub tour_latency: Histogram<u64>,
    /// Origin, open loop: tour latency from the intended send time.
    pub tour_latency_corrected: Histogram<u64>,
    /// Latency of the hop into this member, per message.
    pub hop_latency: Histogram<u64>,
    /// Forwarders: arrival → forward, per message.
    pub residence: Histogram<u64>,
    /// IPDV of the hop into this member (RFC 3393).
    pub hop_ipdv: Histogram<u64>,
    /// Origin: IPDV of the tour latency.
    pub tour_ipdv: Histogram<u64>,
    /// Every message's `[in, out]` timestamps, when the tour recorded them.
    pub stamps: Option<Stamps>,
    /// Hop latencies that came out negative (recorded as 0).
    pub negative_hops: u64,
    /// Data-plane counters outside the state machine.
    pub io: IoCounters,
    /// CPU time the data-plane thread used from the tour's arming to its end (user and
    /// system, softirq work the kernel did in its context included), ns.
    pub cpu_ns: u64,
    /// Times the data-plane thread was preempted (involuntary context switches) from the
    /// tour's arming to its end: another thread or a kernel worker took its core.
    pub preempted: u64,
}

/// Live progress of the current tour, readable from the control plane at any time.
#[derive(Debug, Default)]
pub struct Progress {
    /// Messages sent by the origin so far.
    pub sent: AtomicU64,
    /// Distinct messages received so far.
    pub received: AtomicU64,
    /// The last tour that finished on this member (origin), 0 if none.
    pub finished_tour: AtomicU64,
}

/// What to do about a bind to `addr` refused with `error`, for a port only privileged
/// processes may bind ("" for other failures): the port is below
/// `net.ipv4.ip_unprivileged_port_start`, so binding it needs CAP_NET_BIND_SERVICE.
pub fn bind_hint(addr: SocketAddr, error: &io::Error) -> String {
    if error.kind() != io::ErrorKind::PermissionDenied {
        return String::new();
    }
    let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|v| v.trim().parse::<u16>().ok())
        .unwrap_or(1024);
    if addr.port() >= start {
        return String::new();
    }
    format!(
        "; ports below {start} (net.ipv4.ip_unprivileged_port_start) need CAP_NET_BIND_SERVICE: choose a port from {start} up, or grant it"
    )
}

/// Why a data-plane call failed.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// The peer socket could not be created or bound.
    #[error("cannot bind the peer socket to {addr}: {cause}{}", bind_hint(*addr, cause))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        cause: io::Error,
    },
    /// The data-plane thread could not be started.
    #[error("cannot start the data-plane thread: {0}")]
    Spawn(io::Error),
    /// `--backend uring` was asked for and io_uring cannot start.
    #[error(
        "--backend uring: io_uring cannot start here: {0}; use --backend auto (falls back to the syscall backend) or --backend syscall"
    )]
    UringUnavailable(String),
    /// The thread could not be pinned to the core asked for.
    #[error(
        "--cpu {cpu}: cannot pin the data-plane thread to that core (this host has cores 0 to {last})"
    )]
    Pin {
        /// The core asked for.
        cpu: usize,
        /// The highest core id there is.
        last: usize,
    },
    /// The thread could not be moved to the core the ring's placement chose.
    #[error(
        "cannot place the data-plane thread on core {cpu}, which the ring's placement chose (this host has cores 0 to {last}); start the member with --cpu to fix its core"
    )]
    Place {
        /// The core the placement chose.
        cpu: usize,
        /// The highest core id there is.
        last: usize,
    },
    /// The configuration was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The tour's buffers would take more memory than allowed.
    #[error(
        "this tour needs {total} B of buffers on this member ({buffers} receive buffers of {slot} B, {send} B of send buffers and send times, {held} B to hold messages until the flush, a {rcvbuf} B socket receive buffer), more than --max-buffer-memory {limit} B; lower --window, --msgbytelen or (holding) --msgcount, or raise --max-buffer-memory"
    )]
    BufferMemory {
        /// Receive buffers in the pool.
        buffers: u32,
        /// Bytes per receive buffer.
        slot: u64,
        /// Bytes of send buffers and (origin) send times.
        send: u64,
        /// Hold mode: bytes of the hold store (every datagram of the tour).
        held: u64,
        /// Socket receive buffer asked for.
        rcvbuf: u64,
        /// All of it.
        total: u64,
        /// The limit.
        limit: u64,
    },
    /// A tour command arrived before any configuration.
    #[error("this member is not configured: run `stillepost configure` first")]
    NotConfigured,
    /// A command named another tour than the one armed.
    #[error("tour {asked:016x} is not the tour armed on this member ({armed:016x})")]
    WrongTour {
        /// The tour asked for.
        asked: u64,
        /// The tour armed.
        armed: u64,
    },
    /// Start was sent to a member that is not the origin.
    #[error("only the origin (member 0) starts a tour; this is member {index}")]
    NotOrigin {
        /// This member's index.
        index: u32,
    },
    /// The backend failed outside the hot path (set-up, registration).
    #[error("data plane: {0}")]
    Backend(String),
    /// The tour's own count, window or warm-up does not fit the configuration.
    #[error("{0}")]
    Shape(crate::tour::ShapeError),
    /// The data-plane thread did not answer in time or is gone.
    #[error("the data-plane thread did not answer within {0:?}; it may have crashed")]
    Unresponsive(Duration),
}

/// Every message's `[in, out]` timestamps of a tour that records them
/// ([`crate::tour::TourMachine::record_stamps`]).
pub type Stamps = Box<[[u64; 2]]>;

/// How to arm the data plane for one tour ([`DataPlane::prepare`]).
#[derive(Debug, Default)]
pub struct Arm {
    /// This member's clock minus the previous member's (see [`DataPlane::probe_clock`]):
    /// corrects the hop into this member.
    pub prev_clock_offset_ns: i64,
    /// Zeroed, one entry per message of the tour: the tour records every message's
    /// timestamps into it, returned with the tour's report.
    pub stamps: Option<Stamps>,
    /// The tour's own count, window and warm-up (`None`: the configuration's).
    pub shape: Option<crate::tour::TourShape>,
}

pub(crate) enum Command {
    /// A new session, and the core to pin the thread to first (the ring's placement).
    Configure(
        Box<Session>,
        Option<usize>,
        Sender<Result<ConfigureReport, DataPlaneError>>,
    ),
    Prepare(u64, Arm, Sender<Result<(), DataPlaneError>>),
    /// Every counter since the data plane started.
    Lifetime(Sender<Result<MemberCounters, DataPlaneError>>),
    Start(u64, Sender<Result<(), DataPlaneError>>),
    End(u64, Sender<Result<TourReport, DataPlaneError>>),
    Shutdown,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Command::Configure(..) => "Configure",
            Command::Prepare(..) => "Prepare",
            Command::Lifetime(..) => "Lifetime",
            Command::Start(..) => "Start",
            Command::End(..) => "End",
            Command::Shutdown => "Shutdown",
        })
    }
}

/// The tour state a data-plane thread owns: the protocol [`Endpoint`] and the buffers
/// the backend moves between the kernel and it.
pub(crate) struct Session {
    pub endpoint: Endpoint,
    /// The next member's address, at a stable place for the kernel to read.
    pub next: Box<SockAddr>,
    /// Receive buffers.
    pub pool: Pool,
    /// Origin: buffers for new messages while the kernel sends them; each holds up to
    /// `endpoint.send_batch()` consecutive datagrams of one message.
    pub send_pool: Pool,
    pub rcvbuf_requested: usize,
    pub notified: bool,
    /// The member's clock.
    pub clock: Clock,
}

impl Session {
    /// The session of a member that is not configured: a few small buffers for echoes.
    fn unconfigured(payload_offset: usize, faults: Faults) -> Session {
        Session {
            endpoint: Endpoint::unconfigured(faults.drop_data),
            next: Box::new(SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 9)))),
            pool: Pool::new(16, payload_offset + 2048, payload_offset),
            send_pool: Pool::new(0, 0, 0),
            rcvbuf_requested: MIN_SOCKET_BUFFER,
            notified: false,
            clock: Clock::new(faults.clock_shift_ns),
        }
    }

    /// Sizes and allocates the buffers a configured tour needs: receive buffers for what
    /// can be in flight (or held), send buffers for the origin's window, and the socket
    /// buffer to ask for; refuses what would exceed the tour's memory limit.
    fn new(
        setup: RingSetup,
        backend: Backend,
        faults: Faults,
        offload: Offload,
    ) -> Result<Session, DataPlaneError> {
        let mut endpoint = Endpoint::new(setup, offload, faults.drop_data)?;
        let cfg = setup.config;
        let hold = !cfg.forward_immediately && !setup.position.is_origin();
        let headroom = match backend {
            Backend::Uring => RECV_HEADROOM,
            Backend::Syscall => 0,
        };
        // A buffer a little longer than the longest datagram (a message, or its first
        // fragment), so a longer datagram shows as such.
        let datagram = endpoint.datagram();
        let fragments = cfg.plan()?.count();
        let payload = if endpoint.gro() {
            // A coalesced receive is at most one maximal UDP payload.
            GRO_BUFFER.max(datagram + 1)
        } else {
            (datagram + 1).max(HEADER_LEN * 4)
        };
        // Hold mode copies what it holds into the endpoint's hold store and frees the
        // buffer at once: it needs as many receive buffers as forwarding does.
        let wanted = if endpoint.gro() {
            // 64 KiB each: fewer, since one usually holds many datagrams; when they run
            // out, datagrams wait in the socket's receive buffer, which is sized for all.
            cfg.window
                .saturating_mul(fragments)
                .saturating_mul(2)
                .clamp(64, GRO_BUFFERS)
        } else {
            // Each datagram in flight may hold one buffer while the kernel receives it and
            // another while it is sent on: twice the window's datagrams, within bounds.
            cfg.window
                .saturating_mul(fragments)
                .saturating_mul(2)
                .clamp(256, DEFAULT_BUFFERS)
        };
        let buffers = faults
            .buffers
            .unwrap_or(wanted)
            .clamp(2, MAX_BUFFERS)
            .next_power_of_two();
        let in_flight = if hold { cfg.count } else { cfg.window };
        let needed = stillepost_tuning::receive_buffer_needed(
            datagram as u64,
            u64::from(in_flight) * u64::from(fragments),
        );
        let rcvbuf_requested = usize::try_from(needed)
            .unwrap_or(usize::MAX)
            .clamp(MIN_SOCKET_BUFFER, MAX_SOCKET_BUFFER);
        let send_batch = endpoint.send_batch();
        let send_slots = if setup.position.is_origin() {
            let per_message = fragments.div_ceil(send_batch as u32);
            cfg.window.saturating_mul(per_message).min(SEND_SLOTS)
        } else {
            0
        };
        let send_slot = send_batch * datagram;
        let slot = (headroom + payload) as u64;
        let send = u64::from(send_slots) * send_slot as u64
            + if setup.position.is_origin() {
                crate::tour::TourMachine::send_times_bytes(&cfg)
            } else {
                0
            };
        let held = endpoint.hold_bytes();
        let total = u64::from(buffers) * slot + send + held + rcvbuf_requested as u64;
        let limit = match cfg.max_buffer_memory {
            0 => crate::tour::DEFAULT_MAX_BUFFER_MEMORY,
            limit => limit,
        };
        if total > limit {
            return Err(DataPlaneError::BufferMemory {
                buffers,
                slot,
                send,
                held,
                rcvbuf: rcvbuf_requested as u64,
                total,
                limit,
            });
        }
        let mut send_pool = Pool::new(send_slots, send_slot, 0);
        for slot in 0..send_slots {
            for chunk in send_pool.payload(slot as u16).chunks_mut(datagram) {
                crate::wire::fill_payload(chunk);
            }
        }
        endpoint.reserve(buffers, send_slots);
        Ok(Session {
            endpoint,
            next: Box::new(SockAddr::from(setup.next_peer)),
            pool: Pool::new(buffers, headroom + payload, headroom),
            send_pool,
            rcvbuf_requested,
            notified: false,
            clock: Clock::new(faults.clock_shift_ns),
        })
    }

    /// Origin: tells the control plane once that the tour is over.
    fn notify_if_finished(&mut self, progress: &Progress, finished: &Sender<u64>) {
        if let Some(machine) = self.endpoint.machine()
            && machine.is_finished()
            && !self.notified
        {
            self.notified = true;
            let id = machine.tour_id();
            progress.finished_tour.store(id, Ordering::Release);
            let _ = finished.try_send(id);
        }
    }

    fn publish_progress(&self, progress: &Progress) {
        if let Some(machine) = self.endpoint.machine() {
            let c = machine.counters();
            progress.sent.store(c.sent, Ordering::Relaxed);
            progress.received.store(c.received, Ordering::Relaxed);
        }
    }

    fn armed(&mut self, tour_id: u64) -> Result<&mut TourMachine, DataPlaneError> {
        match self.endpoint.machine_mut() {
            None => Err(DataPlaneError::NotConfigured),
            Some(m) if m.tour_id() != tour_id => Err(DataPlaneError::WrongTour {
                asked: tour_id,
                armed: m.tour_id(),
            }),
            Some(m) => Ok(m),
        }
    }

    /// After a loop iteration: times the tour out when due and publishes its progress.
    fn after_iteration(&mut self, core: &Core) {
        let now = self.clock.now();
        if let Some(machine) = self.endpoint.machine_mut() {
            machine.handle_timeout(now);
        }
        self.publish_progress(&core.progress);
        self.notify_if_finished(&core.progress, &core.finished);
    }
}

/// What every backend shares: the socket, the command queue and the fault injection.
pub(crate) struct Core {
    pub socket: Socket,
    pub commands: Receiver<Command>,
    pub finished: Sender<u64>,
    pub progress: Arc<Progress>,
    pub faults: Faults,
    pub poll: PollMode,
    /// Counters of the sessions and tours before the current counters began (folded in
    /// when a configure or a prepare starts them afresh).
    pub lifetime: MemberCounters,
    /// The thread's own wake-up: an End put off (`deferred`) wakes the loop again.
    pub wake: Arc<OwnedFd>,
    /// An End that came while datagrams waited in the socket: handled after them.
    pub deferred: Option<Command>,
    /// How many times in a row the End in `deferred` was put off.
    pub deferrals: u32,
    /// The core the thread is pinned to (`NO_CPU`: none), for the control plane to read.
    pub cpu: Arc<AtomicUsize>,
    /// The thread's CPU time when the current tour was armed, ns.
    pub armed_cpu_ns: u64,
    /// Times the thread had been preempted when the current tour was armed.
    pub armed_preemptions: u64,
}

/// `Core::cpu` of a thread pinned to no core.
const NO_CPU: usize = usize::MAX;

/// How many loop rounds an End waits at most for the datagrams the socket already holds
/// (a flood of foreign datagrams cannot hold a tour's end back for longer).
const MAX_END_DEFERRALS: u32 = 16;

/// What a backend must do when the core changes its session or buffers.
pub(crate) trait BufferOwner {
    /// `new` replaces the current session; the backend hands the kernel the new buffers
    /// once the old ones are no longer in use.
    fn replace_session(
        &mut self,
        core: &mut Core,
        session: &mut Box<Session>,
        new: Box<Session>,
    ) -> Result<(), DataPlaneError>;
}

impl Core {
    /// Handles every queued command; false when the thread must stop.
    ///
    /// An End is put off while datagrams wait in the peer socket (a member that stood still
    /// finds the last messages and the End together): the loop handles them first and
    /// takes the End up again, at most [`MAX_END_DEFERRALS`] rounds later, so that a tour
    /// ends with every datagram that had arrived before its end.
    pub fn drain_commands(
        &mut self,
        session: &mut Box<Session>,
        owner: &mut impl BufferOwner,
    ) -> bool {
        loop {
            let command = match self.deferred.take() {
                Some(command) => command,
                None => match self.commands.try_recv() {
                    Ok(command) => command,
                    Err(_) => return true,
                },
            };
            if let Command::End(..) = command {
                if self.deferrals < MAX_END_DEFERRALS
                    && sys::queued_bytes(self.socket.as_raw_fd()) > 0
                {
                    self.deferrals += 1;
                    self.deferred = Some(command);
                    sys::wake(&self.wake);
                    return true;
                }
                self.deferrals = 0;
            }
            if !self.handle_command(command, session, owner) {
                return false;
            }
        }
    }

    /// Marks every datagram the peer socket sends with the session's DSCP (IPv4 TOS and,
    /// on an IPv6 socket, the traffic class); returns what the kernel reports back.
    fn apply_dscp(&mut self, session: &Session) -> Result<u8, DataPlaneError> {
        let dscp = session.endpoint.setup().map_or(0, |s| s.dscp);
        let tos = u32::from(dscp) << 2;
        let failed = |e: std::io::Error| {
            DataPlaneError::Backend(format!(
                "cannot mark the peer socket's datagrams with DSCP {dscp} (TOS {tos:#04x}): {e}"
            ))
        };
        let ipv6 = self
            .socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a.is_ipv6());
        let granted = if ipv6 {
            self.socket.set_tclass_v6(tos).map_err(failed)?;
            self.socket.tclass_v6().map_err(failed)?
        } else {
            self.socket.set_tos_v4(tos).map_err(failed)?;
            self.socket.tos_v4().map_err(failed)?
        };
        Ok((granted >> 2) as u8)
    }

    /// Receives with GRO as the session wants it; returns whether it is on.
    fn apply_gro(&mut self, session: &Session) -> bool {
        let gro = session.endpoint.gro();
        sys::set_udp_gro(&self.socket, gro).is_ok() && gro
    }

    /// The session's counters since they last began afresh.
    fn current(session: &Session) -> MemberCounters {
        MemberCounters {
            tour: session
                .endpoint
                .machine()
                .map(|m| m.counters().clone())
                .unwrap_or_default(),
            io: *session.endpoint.io(),
            socket: Default::default(),
        }
    }

    fn handle_command(
        &mut self,
        command: Command,
        session: &mut Box<Session>,
        owner: &mut impl BufferOwner,
    ) -> bool {
        match command {
            Command::Lifetime(reply) => {
                let mut all = self.lifetime.clone();
                all.add(&Core::current(session));
                let _ = reply.send(Ok(all));
            }
            Command::Configure(mut new, cpu, reply) => {
                // Placed first, so that the new buffers' pages are faulted in by the
                // thread that uses them (on its memory node), before the tour's first
                // datagram rather than during it.
                if let Some(cpu) = cpu {
                    if let Err(e) = pin(cpu) {
                        let _ = reply.send(Err(match e {
                            DataPlaneError::Pin { cpu, last } => {
                                DataPlaneError::Place { cpu, last }
                            }
                            other => other,
                        }));
                        return true;
                    }
                    self.cpu.store(cpu, Ordering::Relaxed);
                }
                new.pool.touch_pages();
                new.send_pool.touch_pages();
                session.endpoint.release_held();
                let before = Core::current(session);
                let buffers = new.pool.count();
                let result = owner.replace_session(self, session, new).map(|()| {
                    // The old session's counters end with it.
                    self.lifetime.add(&before);
                    let mut report = self.size_socket_buffers(session.rcvbuf_requested);
                    report.buffers = buffers;
                    report.gso_segment = session.endpoint.gso_segment();
                    report.gro = self.apply_gro(session);
                    report
                });
                let result = result.and_then(|mut report| {
                    report.dscp = self.apply_dscp(session)?;
                    Ok(report)
                });
                let _ = reply.send(result);
            }
            Command::Prepare(tour_id, arm, reply) => {
                session.endpoint.release_held();
                if session.endpoint.machine().is_some() {
                    // The counters begin afresh for the tour: what they hold goes on record.
                    self.lifetime.add(&Core::current(session));
                }
                session.clock.resync();
                let result = if session.endpoint.prepare(tour_id, arm.prev_clock_offset_ns) {
                    match session.endpoint.machine_mut() {
                        Some(machine) => {
                            machine.record_stamps(arm.stamps);
                            arm.shape.map_or(Ok(()), |shape| {
                                machine.set_shape(shape).map_err(DataPlaneError::Shape)
                            })
                        }
                        None => Err(DataPlaneError::NotConfigured),
                    }
                } else {
                    Err(DataPlaneError::NotConfigured)
                };
                if result.is_ok() {
                    session.notified = false;
                    session.publish_progress(&self.progress);
                    self.armed_cpu_ns = sys::thread_cpu_ns();
                    self.armed_preemptions = sys::thread_preemptions();
                }
                let _ = reply.send(result);
            }
            Command::Start(tour_id, reply) => {
                let is_origin = session
                    .endpoint
                    .setup()
                    .is_some_and(|s| s.position.is_origin());
                let index = session.endpoint.setup().map_or(0, |s| s.position.index);
                let now = session.clock.now();
                let result = session.armed(tour_id).and_then(|machine| {
                    if !is_origin {
                        return Err(DataPlaneError::NotOrigin { index });
                    }
                    machine.start(now);
                    Ok(())
                });
                let _ = reply.send(result);
            }
            Command::End(tour_id, reply) => {
                // Before the report is made: the tour's CPU time, not the report's.
                let cpu_ns = sys::thread_cpu_ns().saturating_sub(self.armed_cpu_ns);
                let preempted = sys::thread_preemptions().saturating_sub(self.armed_preemptions);
                let io = *session.endpoint.io();
                let result = session.armed(tour_id).map(|machine| {
                    machine.end();
                    TourReport {
                        tour_id,
                        phase: machine.phase(),
                        counters: machine.counters().clone(),
                        first_send_ns: machine.first_send_ns(),
                        last_receive_ns: machine.last_receive_ns(),
                        tour_latency: machine.tour_latency().clone(),
                        tour_latency_corrected: machine.tour_latency_corrected().clone(),
                        hop_latency: machine.hop_latency().clone(),
                        residence: machine.residence().clone(),
                        hop_ipdv: machine.hop_ipdv().clone(),
                        tour_ipdv: machine.tour_ipdv().clone(),
                        stamps: machine.take_stamps(),
                        negative_hops: machine.negative_hops(),
                        io,
                        cpu_ns,
                        preempted,
                    }
                });
                session.endpoint.release_held();
                let _ = reply.send(result);
            }
            Command::Shutdown => return false,
        }
        true
    }

    /// Asks for socket buffers that hold what a tour can have in flight, both ways (what
    /// arrives at once may leave at once); with CAP_NET_ADMIN beyond `net.core.rmem_max`
    /// and `net.core.wmem_max` (`SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`).
    fn size_socket_buffers(&self, want: usize) -> ConfigureReport {
        // Never let the kernel IP-fragment a datagram: one that does not fit the route's
        // MTU is refused (EMSGSIZE, counted) instead.
        let _ = sys::set_dont_fragment(&self.socket);
        if let Some(tiny) = self.faults.rcvbuf {
            let _ = self.socket.set_recv_buffer_size(tiny as usize);
        } else if sys::set_buffer_force(&self.socket, libc::SO_RCVBUFFORCE, want).is_err() {
            let _ = self.socket.set_recv_buffer_size(want);
        }
        if sys::set_buffer_force(&self.socket, libc::SO_SNDBUFFORCE, want).is_err() {
            let _ = self.socket.set_send_buffer_size(want);
        }
        ConfigureReport {
            rcvbuf_requested: want,
            rcvbuf_granted: self.socket.recv_buffer_size().unwrap_or(0),
            sndbuf_requested: want,
            sndbuf_granted: self.socket.send_buffer_size().unwrap_or(0),
            buffers: 0,
            gso_segment: 0,
            gro: false,
            dscp: 0,
        }
    }
}

/// How the data-plane thread came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The backend it runs.
    pub backend: Backend,
    /// How it waits.
    pub poll: PollMode,
    /// The core it is pinned to, if any.
    pub cpu: Option<usize>,
}

/// Handle to a member's data-plane thread. Dropping it stops the thread.
#[derive(Debug)]
pub struct DataPlane {
    commands: Sender<Command>,
    wake: Arc<OwnedFd>,
    finished: Receiver<u64>,
    progress: Arc<Progress>,
    local_addr: SocketAddr,
    /// The peer socket, shared with the data-plane thread, for reading its counters.
    stats_socket: Socket,
    started: Started,
    /// Why `auto` did not run io_uring, if it did not.
    fallback_reason: Option<String>,
    faults: Faults,
    offload: Offload,
    /// The core the thread is pinned to now (`NO_CPU`: none); a placement changes it.
    cpu: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl DataPlane {
    /// Binds the peer socket and starts the data-plane thread with the default options.
    pub fn spawn(bind: SocketAddr, faults: Faults) -> Result<DataPlane, DataPlaneError> {
        DataPlane::spawn_with(
            bind,
            DataPlaneOptions {
                faults,
                ..DataPlaneOptions::default()
            },
        )
    }

    /// Binds the peer socket, starts the data-plane thread on its core and brings up the
    /// backend asked for (falling back from io_uring to syscalls with `auto`).
    pub fn spawn_with(
        bind: SocketAddr,
        options: DataPlaneOptions,
    ) -> Result<DataPlane, DataPlaneError> {
        let bind_err = |cause| DataPlaneError::Bind { addr: bind, cause };
        let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))
            .map_err(bind_err)?;
        socket.bind(&SockAddr::from(bind)).map_err(bind_err)?;
        socket.set_read_timeout(Some(RECV_POLL)).map_err(bind_err)?;
        // Without kernel timestamps, arrival times are read by the data plane (reported).
        let _ = sys::enable_rx_timestamps(socket.as_raw_fd());
        // What the kernel offers for segmentation offload (set per configuration).
        let offload = if options.no_offload {
            Offload::default()
        } else {
            Offload {
                gso: sys::set_udp_segment(&socket, 1200)
                    .and_then(|()| sys::set_udp_segment(&socket, 0))
                    .is_ok(),
                gro: sys::set_udp_gro(&socket, true)
                    .and_then(|()| sys::set_udp_gro(&socket, false))
                    .is_ok(),
            }
        };
        if options.faults.refuse_gso {
            sys::refuse_gso(&socket).map_err(bind_err)?;
        }
        let local_addr = socket
            .local_addr()
            .map_err(bind_err)?
            .as_socket()
            .ok_or_else(|| bind_err(io::Error::other("bound address is not an IP socket")))?;
        let stats_socket = socket.try_clone().map_err(bind_err)?;
        let wake = Arc::new(sys::eventfd().map_err(DataPlaneError::Spawn)?);
        let (commands, command_rx) = bounded(16);
        let (finished_tx, finished) = bounded(16);
        let (started_tx, started_rx) = bounded(1);
        let progress = Arc::new(Progress::default());
        let core = Core {
            socket,
            commands: command_rx,
            finished: finished_tx,
            progress: Arc::clone(&progress),
            faults: options.faults,
            poll: options.poll,
            lifetime: MemberCounters::default(),
            wake: Arc::clone(&wake),
            deferred: None,
            deferrals: 0,
            cpu: Arc::new(AtomicUsize::new(NO_CPU)),
            armed_cpu_ns: 0,
            armed_preemptions: 0,
        };
        let cpu = Arc::clone(&core.cpu);
        let thread_wake = Arc::clone(&wake);
        let thread = std::thread::Builder::new()
            .name(format!("dataplane-{}", local_addr.port()))
            .spawn(move || run_thread(core, options, thread_wake, started_tx))
            .map_err(DataPlaneError::Spawn)?;
        let (started, fallback_reason) = match started_rx.recv_timeout(COMMAND_TIMEOUT) {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => return Err(DataPlaneError::Unresponsive(COMMAND_TIMEOUT)),
        };
        Ok(DataPlane {
            commands,
            wake,
            finished,
            progress,
            local_addr,
            stats_socket,
            started,
            fallback_reason,
            faults: options.faults,
            offload,
            cpu,
            thread: Some(thread),
        })
    }

    /// The address the peer socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Backend and poll mode the thread started with, and the core it runs on now.
    pub fn started(&self) -> Started {
        Started {
            cpu: self.cpu(),
            ..self.started
        }
    }

    /// The core the thread is pinned to now: where it started, or where the last
    /// [`configure`](DataPlane::configure) placed it.
    pub fn cpu(&self) -> Option<usize> {
        Some(self.cpu.load(Ordering::Relaxed)).filter(|&cpu| cpu != NO_CPU)
    }

    /// The segmentation offload this member uses for fragmented messages.
    pub fn offload(&self) -> Offload {
        self.offload
    }

    /// Why `--backend auto` runs the syscall backend, when it does.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// Datagrams the kernel dropped on the peer socket so far (`SO_MEMINFO`), if it says.
    pub fn socket_drops(&self) -> Option<u64> {
        sys::socket_drops(self.stats_socket.as_raw_fd())
    }

    /// The clock shift injected for testing (0 normally).
    pub fn clock_shift_ns(&self) -> i64 {
        self.faults.clock_shift_ns
    }

    /// Live progress counters of the current tour.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    fn call<T>(
        &self,
        make: impl FnOnce(Sender<Result<T, DataPlaneError>>) -> Command,
    ) -> Result<T, DataPlaneError> {
        // One deadline for the whole exchange, shorter than the gRPC call that waits on it.
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let (tx, rx) = bounded(1);
        self.commands
            .send_deadline(make(tx), deadline)
            .map_err(|_| DataPlaneError::Unresponsive(COMMAND_TIMEOUT))?;
        sys::wake(&self.wake);
        rx.recv_deadline(deadline)
            .map_err(|_| DataPlaneError::Unresponsive(COMMAND_TIMEOUT))?
    }

    /// Takes a ring configuration: allocates the tour's buffers here, on the caller's
    /// thread, then hands them to the data plane, which pins itself to `cpu` if given (the
    /// ring's placement: a configure, never a tour, moves the thread), faults the buffers'
    /// pages in, gives them to the kernel and sizes the socket buffers.
    pub fn configure(
        &self,
        setup: RingSetup,
        cpu: Option<usize>,
    ) -> Result<ConfigureReport, DataPlaneError> {
        let session = Box::new(Session::new(
            setup,
            self.started.backend,
            self.faults,
            self.offload,
        )?);
        self.call(|tx| Command::Configure(session, cpu, tx))
    }

    /// Arms the data plane for a tour, as `arm` says.
    pub fn prepare(&self, tour_id: u64, arm: Arm) -> Result<(), DataPlaneError> {
        self.call(|tx| Command::Prepare(tour_id, arm, tx))
    }

    /// Estimates the clock offset to `peer` (another member's peer endpoint) with `probes`
    /// NTP-style exchanges from a socket on this member's address, answered by the peer's
    /// data plane; see [`probe::probe_clock`]. Blocks for at most `budget`.
    pub fn probe_clock(
        &self,
        peer: SocketAddr,
        probes: u32,
        budget: Duration,
        key: Option<crate::auth::DatagramKey>,
    ) -> Result<ClockEstimate, ProbeError> {
        probe::probe_clock(
            self.local_addr.ip(),
            peer,
            Clock::new(self.faults.clock_shift_ns),
            probes,
            budget,
            key,
        )
    }

    /// Challenges the next member (ring index `index`, peer endpoint `peer`) with `nonce`
    /// from a socket on this member's address, until it answers with `key`'s tag from
    /// that endpoint or `budget` is spent; see [`challenge::challenge_next`].
    pub fn challenge_next(
        &self,
        peer: SocketAddr,
        key: &crate::auth::RingKey,
        index: u32,
        nonce: u64,
        budget: Duration,
    ) -> Result<(), ChallengeError> {
        challenge::challenge_next(self.local_addr.ip(), peer, key, index, nonce, budget)
    }

    /// Origin: starts sending the armed tour.
    pub fn start(&self, tour_id: u64) -> Result<(), DataPlaneError> {
        self.call(|tx| Command::Start(tour_id, tx))
    }

    /// Origin: waits up to `wait` for the tour to finish; true when it has.
    pub fn wait_finished(&self, tour_id: u64, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if self.progress.finished_tour.load(Ordering::Acquire) == tour_id {
                return true;
            }
            match self.finished.recv_deadline(deadline) {
                Ok(id) if id == tour_id => return true,
                Ok(_) => continue,
                Err(_) => return self.progress.finished_tour.load(Ordering::Acquire) == tour_id,
            }
        }
    }

    /// Ends the tour on this member and returns its report.
    pub fn end(&self, tour_id: u64) -> Result<TourReport, DataPlaneError> {
        self.call(|tx| Command::End(tour_id, tx))
    }

    /// Every counter since this data plane started: every tour's and what arrived between
    /// tours (the kernel's socket counters are per tour and not in here).
    pub fn lifetime(&self) -> Result<MemberCounters, DataPlaneError> {
        self.call(Command::Lifetime)
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        sys::wake(&self.wake);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type StartReply = Result<(Started, Option<String>), DataPlaneError>;

/// Pins the calling thread to `cpu`: any online core, also one outside this process's
/// affinity mask (an isolated core, isolcpus=, is left out of the mask but may be asked
/// for explicitly).
fn pin(cpu: usize) -> Result<(), DataPlaneError> {
    let online = sys::online_cpus();
    let last = online.saturating_sub(1);
    if cpu >= online || !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        return Err(DataPlaneError::Pin { cpu, last });
    }
    Ok(())
}

/// The data-plane thread: pins itself, brings up its backend, reports, and loops.
fn run_thread(
    core: Core,
    options: DataPlaneOptions,
    wake: Arc<OwnedFd>,
    started: Sender<StartReply>,
) {
    if let Some(cpu) = options.cpu {
        if let Err(e) = pin(cpu) {
            let _ = started.send(Err(e));
            return;
        }
        core.cpu.store(cpu, Ordering::Relaxed);
    }
    sys::tight_timer_slack();
    let report = |backend| Started {
        backend,
        poll: options.poll,
        cpu: options.cpu,
    };
    // `auto` with `--poll spin` runs the syscall backend (not a fallback: no warning).
    let spin_syscalls = options.backend == BackendChoice::Auto
        && options.poll == PollMode::Spin
        && !options.zerocopy;
    let uring = match options.backend {
        BackendChoice::Syscall if options.zerocopy => {
            let _ = started.send(Err(DataPlaneError::Backend(
                "--zerocopy needs the io_uring backend, not --backend syscall".into(),
            )));
            return;
        }
        BackendChoice::Syscall => Err("--backend syscall".to_string()),
        // Spinning, the syscall backend forwards sooner: a `recvmmsg` that finds the
        // datagram and a `sendmmsg` of it, where io_uring runs the receive as task work
        // inside one `io_uring_enter` and submits the send in the next, about 1 µs more
        // per hop on loopback (docs/architecture.md, "Poll modes and cores").
        BackendChoice::Auto if spin_syscalls => Err("--poll spin".to_string()),
        _ => uring::Uring::new(&core, wake.as_raw_fd(), options),
    };
    match (uring, options.backend) {
        (Ok(backend), _) => {
            let _ = started.send(Ok((report(Backend::Uring), None)));
            backend.run(core);
        }
        (Err(reason), BackendChoice::Uring) => {
            let _ = started.send(Err(DataPlaneError::UringUnavailable(reason)));
        }
        (Err(reason), choice) => {
            let fallback = (choice == BackendChoice::Auto && !spin_syscalls).then(|| {
                tracing::warn!(
                    peer = ?core.socket.local_addr().ok().and_then(|a| a.as_socket()),
                    "io_uring cannot start ({reason}); using the syscall backend"
                );
                reason
            });
            let _ = started.send(Ok((report(Backend::Syscall), fallback)));
            syscall::Syscall::new().run(core);
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("endpoint", &self.endpoint)
            .field("buffers", &self.pool.count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

    use super::*;
    use crate::tour::{RingPosition, TourConfig};

    fn config(count: u32, msg_len: u32, window: u32, forward_immediately: bool) -> TourConfig {
        TourConfig {
            count,
            msg_len,
            window,
            forward_immediately,
            member_timeout_ns: 1_000_000_000,
            warmup: 0,
            interval_ns: 0,
            max_datagram: 0,
            max_buffer_memory: 0,
        }
    }

    fn setup(index: u32, config: TourConfig) -> RingSetup {
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        RingSetup {
            position: RingPosition { index, ring_len: 3 },
            config,
            next_peer: addr,
            prev_peer: addr,
            ring_key: None,
            echo_key: None,
            dscp: 0,
        }
    }

    const BOTH: Offload = Offload {
        gso: true,
        gro: true,
    };

    /// Buffers are sized for what a tour can have in flight: twice the window's datagrams
    /// within [256, 1024] when forwarding, every message plus 64 when holding, 64 KiB GRO
    /// buffers for fragmented messages; the origin gets send slots for its window, and a
    /// tour over the memory limit is refused with its numbers.
    #[test]
    fn sessions_size_their_buffers_for_the_tour() {
        let s = Session::new(
            setup(0, config(10, 64, 1, true)),
            Backend::Syscall,
            Faults::default(),
            BOTH,
        )
        .unwrap();
        assert_eq!((s.pool.count(), s.send_pool.count()), (256, 1));
        assert_eq!(s.rcvbuf_requested, MIN_SOCKET_BUFFER);
        assert_eq!(
            s.endpoint.gso_segment(),
            0,
            "one datagram per message: no GSO"
        );

        let s = Session::new(
            setup(1, config(1000, 64, 1000, false)),
            Backend::Uring,
            Faults::default(),
            BOTH,
        )
        .unwrap();
        assert_eq!(
            s.pool.count(),
            DEFAULT_BUFFERS,
            "twice the 1000 in flight, at most the default: holding copies out of them"
        );
        assert_eq!(s.endpoint.hold_bytes(), 64_000, "every message of the tour");
        assert_eq!(s.send_pool.count(), 0, "only the origin sends new messages");
        assert_eq!(s.pool.payload_offset(), RECV_HEADROOM);

        let fragmented = TourConfig {
            max_datagram: 1472,
            ..config(10, 7000, 1, true)
        };
        let mut s = Session::new(
            setup(0, fragmented),
            Backend::Syscall,
            Faults::default(),
            BOTH,
        )
        .unwrap();
        assert_eq!((s.endpoint.gso_segment(), s.endpoint.gro()), (1472, true));
        assert_eq!(
            s.endpoint.send_batch(),
            44,
            "65507 / 1472 datagrams per GSO send"
        );
        assert_eq!(s.pool.count(), 64);
        assert_eq!(s.pool.slot(0).len(), GRO_BUFFER);
        let s = Session::new(
            setup(0, fragmented),
            Backend::Syscall,
            Faults::default(),
            Offload::default(),
        )
        .unwrap();
        assert_eq!(
            (
                s.endpoint.gso_segment(),
                s.endpoint.gro(),
                s.endpoint.send_batch()
            ),
            (0, false, 1)
        );

        let tight = TourConfig {
            max_buffer_memory: 1 << 20,
            ..config(10, 64, 1, true)
        };
        let err =
            Session::new(setup(0, tight), Backend::Syscall, Faults::default(), BOTH).unwrap_err();
        assert!(
            matches!(
                err,
                DataPlaneError::BufferMemory {
                    buffers: 256,
                    limit: 1_048_576,
                    ..
                }
            ),
            "{err}"
        );
        // Holding takes any count and size that fits the memory limit: more messages than
        // a member has receive buffers, and messages of several datagrams.
        let s = Session::new(
            setup(1, config(200_000, 64, 200_000, false)),
            Backend::Syscall,
            Faults::default(),
            BOTH,
        )
        .unwrap();
        assert_eq!(s.endpoint.hold_bytes(), 200_000 * 64);
        let large = TourConfig {
            max_datagram: 1472,
            ..config(10, 100_000, 10, false)
        };
        let s = Session::new(setup(1, large), Backend::Syscall, Faults::default(), BOTH).unwrap();
        assert_eq!(s.endpoint.hold_bytes(), 10 * 71 * 1472, "71 fragments each");
        // Beyond it, the error states what holding takes.
        let err = Session::new(
            setup(1, config(100_000, 65_507, 100_000, false)),
            Backend::Syscall,
            Faults::default(),
            BOTH,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                DataPlaneError::BufferMemory {
                    held: 6_550_700_000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("6550700000 B to hold messages until the flush"),
            "{err}"
        );
    }

    /// Commands are checked against the member's state: nothing before a configuration,
    /// only the origin starts, and only the armed tour is started or ended.
    #[test]
    fn commands_name_what_is_wrong() {
        for backend in [BackendChoice::Syscall, BackendChoice::Uring] {
            let options = DataPlaneOptions {
                backend,
                ..DataPlaneOptions::default()
            };
            let dp = DataPlane::spawn_with(SocketAddr::from(([127, 0, 0, 1], 0)), options).unwrap();
            assert!(matches!(
                dp.prepare(1, Arm::default()),
                Err(DataPlaneError::NotConfigured)
            ));
            assert!(matches!(dp.start(1), Err(DataPlaneError::NotConfigured)));
            let addr = dp.local_addr();
            let forwarder = RingSetup {
                next_peer: addr,
                prev_peer: addr,
                ring_key: None,
                ..setup(1, config(10, 64, 10, true))
            };
            dp.configure(forwarder, None).unwrap();
            dp.prepare(7, Arm::default()).unwrap();
            assert!(matches!(
                dp.start(7),
                Err(DataPlaneError::NotOrigin { index: 1 })
            ));
            assert!(matches!(
                dp.end(8),
                Err(DataPlaneError::WrongTour { asked: 8, armed: 7 })
            ));
            // Ending an armed tour that never started leaves the member idle.
            let report = dp.end(7).unwrap();
            assert_eq!((report.tour_id, report.phase), (7, Phase::Idle));
        }
    }
}

/// What the backends' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use std::net::SocketAddr;

    use crate::auth::RingKey;
    use crate::endpoint::RingSetup;
    use crate::tour::{RingPosition, TourConfig};

    /// Member 1 of a ring of 2 whose neighbour (previous and next) is `neighbour`, e.g. a
    /// test's socket, configured with `ring_key` (and its echo key) for one 64 B message.
    pub fn beside(neighbour: SocketAddr, ring_key: Option<RingKey>) -> RingSetup {
        RingSetup {
            position: RingPosition {
                index: 1,
                ring_len: 2,
            },
            config: TourConfig {
                count: 1,
                msg_len: 64,
                window: 1,
                forward_immediately: true,
                member_timeout_ns: 1_000_000_000,
                warmup: 0,
                interval_ns: 0,
                max_datagram: 0,
                max_buffer_memory: 0,
            },
            next_peer: neighbour,
            prev_peer: neighbour,
            ring_key,
            echo_key: ring_key.map(|k| k.echo_key()),
            dscp: 0,
        }
    }
}

#[cfg(test)]
mod answer_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

    use std::net::UdpSocket;

    use super::*;
    use crate::endpoint::{ANSWER_BURST, ANSWER_RATE};
    use crate::wire::Header;

    /// Everything the client socket got back until nothing came for `wait`: each answer's
    /// size, and when the last one arrived.
    fn answers(client: &UdpSocket, wait: Duration) -> (Vec<usize>, Instant) {
        client.set_read_timeout(Some(wait)).unwrap();
        let mut got = Vec::new();
        let mut last = Instant::now();
        let mut buf = [0u8; 2048];
        while let Ok(n) = client.recv(&mut buf) {
            got.push(n);
            last = Instant::now();
        }
        (got, last)
    }

    /// With a DSCP configured, on both backends, what the member sends carries it on the
    /// wire: its answer to an echo, received with IP_RECVTOS, has TOS `dscp << 2`, and the
    /// configure report says what the kernel set.
    #[test]
    fn datagrams_carry_the_configured_dscp() {
        use std::os::fd::AsRawFd;

        use crate::auth::RingKey;
        use crate::wire::HEADER_LEN;
        let key = RingKey::from_bytes([4; 32]);
        for backend in [BackendChoice::Syscall, BackendChoice::Uring] {
            let options = DataPlaneOptions {
                backend,
                ..DataPlaneOptions::default()
            };
            let dp = DataPlane::spawn_with(SocketAddr::from(([127, 0, 0, 1], 0)), options).unwrap();
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            client.connect(dp.local_addr()).unwrap();
            socket2::SockRef::from(&client)
                .set_recv_tos_v4(true)
                .unwrap();
            let setup = RingSetup {
                dscp: 46,
                ..testing::beside(client.local_addr().unwrap(), Some(key))
            };
            let report = dp.configure(setup, None).unwrap();
            assert_eq!(report.dscp, 46, "{backend:?}");
            let mut echo = vec![0u8; HEADER_LEN];
            Header::echo_request(9).encode(&mut echo);
            key.echo_key().sign(&mut echo);
            client.send(&echo).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut buf = [0u8; 2048];
            let (n, control, len) = sys::recv_with_control(client.as_raw_fd(), &mut buf).unwrap();
            assert_eq!(n, HEADER_LEN, "{backend:?}: the echo's answer");
            let tos = sys::find_cmsg(&control.0[..len], libc::IPPROTO_IP, libc::IP_TOS)
                .and_then(|d| d.first().copied());
            assert_eq!(tos, Some(46 << 2), "{backend:?}: TOS of the answer");
        }
    }

    /// Over a real socket, on both backends, a configured member with a ring key whose
    /// neighbours both live at the client's address: echoes, clock probes and challenges
    /// of every size get an answer no larger than themselves (those of their own size
    /// only), and a burst from one address is answered up to the limit (plus what the
    /// rate refills meanwhile).
    #[test]
    fn answers_are_no_larger_than_requests_and_limited_per_source() {
        use crate::auth::RingKey;
        use crate::wire::{CHALLENGE_LEN, HEADER_LEN, PROBE_LEN};
        let key = RingKey::from_bytes([3; 32]);
        for backend in [BackendChoice::Syscall, BackendChoice::Uring] {
            let options = DataPlaneOptions {
                backend,
                ..DataPlaneOptions::default()
            };
            let dp = DataPlane::spawn_with(SocketAddr::from(([127, 0, 0, 1], 0)), options).unwrap();
            let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
            socket.set_recv_buffer_size(4 << 20).unwrap();
            socket
                .bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))
                .unwrap();
            let client: UdpSocket = socket.into();
            client.connect(dp.local_addr()).unwrap();
            let neighbour = client.local_addr().unwrap();
            dp.configure(testing::beside(neighbour, Some(key)), None)
                .unwrap();
            let mut sent = 0;
            let requests = [
                (Header::echo_request(1), HEADER_LEN, Some(key.echo_key())),
                (
                    Header::clock_probe(2, 0, 7),
                    PROBE_LEN,
                    Some(key.datagram_key()),
                ),
                (Header::challenge(3), CHALLENGE_LEN, None),
            ];
            for (header, size, tag) in requests {
                for len in [size, size + 1, 1000] {
                    let mut request = vec![0u8; len];
                    header.encode(&mut request);
                    if let Some(tag) = tag {
                        tag.sign(&mut request);
                    }
                    client.send(&request).unwrap();
                    sent += len;
                }
            }
            let (got, _) = answers(&client, Duration::from_millis(300));
            assert_eq!(
                got,
                vec![HEADER_LEN, PROBE_LEN, CHALLENGE_LEN],
                "{backend:?}"
            );
            assert!(got.iter().sum::<usize>() <= sent);

            let mut echo = vec![0u8; HEADER_LEN];
            Header::echo_request(3).encode(&mut echo);
            key.echo_key().sign(&mut echo);
            let drops_before = dp.socket_drops().unwrap();
            let start = Instant::now();
            for _ in 0..2 * ANSWER_BURST {
                client.send(&echo).unwrap();
            }
            let (got, last) = answers(&client, Duration::from_millis(300));
            // Requests the kernel dropped before the member saw them (its socket is small
            // before a configuration) cannot be answered.
            let arrived =
                2 * ANSWER_BURST as usize - (dp.socket_drops().unwrap() - drops_before) as usize;
            // The bucket refills while the burst is handled, until the last answer left.
            let handled = last.duration_since(start).as_secs_f64();
            let refilled = (handled * ANSWER_RATE as f64) as usize + 1;
            // The 300 ms waited above refilled the two answers given then.
            let burst = ANSWER_BURST as usize;
            assert!(
                got.len() >= burst.min(arrived) && got.len() <= burst + refilled,
                "{backend:?}: {} answers to {arrived} echoes, limit {burst} + {refilled}",
                got.len(),
            );
            assert!(got.iter().all(|&n| n == HEADER_LEN));
        }
    }
}
