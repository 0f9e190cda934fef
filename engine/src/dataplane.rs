//! A member's data plane: one thread that owns the member's UDP peer socket, answers
//! echoes, and drives the member's [`TourMachine`] with datagrams and timestamps.
//!
//! This is the plain blocking-syscall backend: `recvfrom`/`sendto` on a blocking socket
//! with a short receive timeout so control commands are seen promptly. Everything a tour
//! needs (state machine, receive buffers, histogram) is allocated by the control plane at
//! configure time and handed to the thread; handling a datagram allocates nothing, takes
//! no lock and logs nothing.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use hdrhistogram::Histogram;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::tour::{ConfigError, Counters, Phase, RingPosition, TourConfig, TourMachine, Verdict};
use crate::wire::{HEADER_LEN, Header, Kind, MAX_DATAGRAM};

/// How long a blocking receive waits before the thread looks at its command queue again.
const RECV_POLL: Duration = Duration::from_millis(5);
/// How long a control call waits for the data-plane thread to answer (below the
/// control plane's 5 s call deadline).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(4);
/// Socket buffer size a member asks for at least.
const MIN_SOCKET_BUFFER: usize = 4 << 20;
/// Socket buffer size a member never asks beyond.
const MAX_SOCKET_BUFFER: usize = 1 << 30;
/// Memory a holding member may use for the `count` messages it holds.
pub const MAX_HOLD_MEMORY: u64 = 1 << 30;

/// Reads the system-wide monotonic clock (the same clock for every process on a host).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Faults injected into a member's data plane, for tests of loss handling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Silently discard every data datagram on arrival, as a black-hole link would.
    pub drop_data: bool,
}

/// Everything a member's data plane needs to take part in tours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSetup {
    /// This member's place in the ring.
    pub position: RingPosition,
    /// The tour parameters.
    pub config: TourConfig,
    /// Where this member sends: the next member's peer endpoint.
    pub next_peer: SocketAddr,
    /// Where this member's data comes from: the previous member's peer endpoint.
    pub prev_peer: SocketAddr,
}

/// What the data plane reports after it took a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigureReport {
    /// Receive buffer requested for the peer socket, bytes.
    pub rcvbuf_requested: usize,
    /// Receive buffer the kernel granted (as `getsockopt` reports it), bytes.
    pub rcvbuf_granted: usize,
    /// Send buffer the kernel granted, bytes.
    pub sndbuf_granted: usize,
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
    /// Data-plane counters outside the state machine.
    pub io: IoCounters,
}

/// Counters of the I/O layer for the current tour (reset when a tour is prepared).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// `sendto` calls that failed.
    pub send_errors: u64,
    /// `recvfrom` calls that failed other than by timing out.
    pub recv_errors: u64,
    /// Data datagrams from an address other than the previous member's.
    pub wrong_source: u64,
    /// Data datagrams discarded by an injected fault.
    pub injected_drops: u64,
    /// Echo requests answered.
    pub echoes: u64,
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

/// Why a data-plane call failed.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// The peer socket could not be created or bound.
    #[error("cannot bind the peer socket to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The data-plane thread could not be started.
    #[error("cannot start the data-plane thread: {0}")]
    Spawn(io::Error),
    /// The configuration was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Holding `count` messages would take too much memory.
    #[error(
        "forward-immediately false holds all msgcount messages in memory: {count} messages of {msg_len} B take {bytes} B of buffers, more than the {limit} B limit; lower --msgcount or --msgbytelen, or use --forward-immediately true"
    )]
    HoldMemory {
        /// Configured count.
        count: u32,
        /// Configured message length.
        msg_len: u32,
        /// Memory needed.
        bytes: u64,
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
    /// The data-plane thread did not answer in time or is gone.
    #[error("the data-plane thread did not answer within {0:?}; it may have crashed")]
    Unresponsive(Duration),
}

enum Command {
    Configure(
        Box<Session>,
        Sender<Result<ConfigureReport, DataPlaneError>>,
    ),
    Prepare(u64, Sender<Result<(), DataPlaneError>>),
    Start(u64, Sender<Result<(), DataPlaneError>>),
    End(u64, Sender<Result<TourReport, DataPlaneError>>),
    Shutdown,
}

/// The tour state a configured member's thread owns.
struct Session {
    setup: RingSetup,
    machine: TourMachine,
    next: SockAddr,
    /// Receive buffers; in hold mode one per message plus a spare.
    slots: Vec<Box<[u8]>>,
    /// Indexes of free slots (a stack).
    free: Vec<usize>,
    /// Indexes of held slots with their lengths, in arrival order.
    held: Vec<(usize, usize)>,
    /// The origin's buffer for new messages.
    send_buf: Box<[u8]>,
    rcvbuf_requested: usize,
    notified: bool,
}

impl Session {
    fn new(setup: RingSetup) -> Result<Session, DataPlaneError> {
        let machine = TourMachine::new(setup.position, setup.config)?;
        let cfg = setup.config;
        let hold = !cfg.forward_immediately && !setup.position.is_origin();
        let (slot_count, slot_len) = if hold {
            // One slot per held message plus a spare, each a little longer than a message
            // so that a longer datagram is seen as such.
            (
                cfg.count as usize + 1,
                (cfg.msg_len as usize + 1).max(HEADER_LEN * 4),
            )
        } else {
            (1, MAX_DATAGRAM + 1)
        };
        let bytes = slot_count as u64 * slot_len as u64;
        if hold && bytes > MAX_HOLD_MEMORY {
            return Err(DataPlaneError::HoldMemory {
                count: cfg.count,
                msg_len: cfg.msg_len,
                bytes,
                limit: MAX_HOLD_MEMORY,
            });
        }
        let slots: Vec<Box<[u8]>> = (0..slot_count)
            .map(|_| vec![0u8; slot_len].into_boxed_slice())
            .collect();
        let in_flight = if hold { cfg.count } else { cfg.window };
        let needed =
            stillepost_tuning::receive_buffer_needed(u64::from(cfg.msg_len), u64::from(in_flight));
        let rcvbuf_requested = usize::try_from(needed)
            .unwrap_or(usize::MAX)
            .clamp(MIN_SOCKET_BUFFER, MAX_SOCKET_BUFFER);
        Ok(Session {
            setup,
            machine,
            next: SockAddr::from(setup.next_peer),
            free: (0..slot_count).rev().collect(),
            held: Vec::with_capacity(slot_count),
            slots,
            send_buf: vec![0u8; cfg.msg_len as usize].into_boxed_slice(),
            rcvbuf_requested,
            notified: false,
        })
    }

    fn release_held(&mut self) {
        for (slot, _) in self.held.drain(..) {
            self.free.push(slot);
        }
    }
}

/// Handle to a member's data-plane thread. Dropping it stops the thread.
#[derive(Debug)]
pub struct DataPlane {
    commands: Sender<Command>,
    finished: Receiver<u64>,
    progress: Arc<Progress>,
    local_addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Configure(..) => "Configure",
            Command::Prepare(..) => "Prepare",
            Command::Start(..) => "Start",
            Command::End(..) => "End",
            Command::Shutdown => "Shutdown",
        })
    }
}

impl DataPlane {
    /// Binds the peer socket and starts the data-plane thread.
    pub fn spawn(bind: SocketAddr, faults: Faults) -> Result<DataPlane, DataPlaneError> {
        let bind_err = |source| DataPlaneError::Bind { addr: bind, source };
        let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))
            .map_err(bind_err)?;
        socket.bind(&SockAddr::from(bind)).map_err(bind_err)?;
        socket.set_read_timeout(Some(RECV_POLL)).map_err(bind_err)?;
        let local_addr = socket
            .local_addr()
            .map_err(bind_err)?
            .as_socket()
            .ok_or_else(|| bind_err(io::Error::other("bound address is not an IP socket")))?;
        let (commands, command_rx) = bounded(16);
        let (finished_tx, finished) = bounded(16);
        let progress = Arc::new(Progress::default());
        let worker = Worker {
            socket,
            commands: command_rx,
            finished: finished_tx,
            progress: Arc::clone(&progress),
            session: None,
            io: IoCounters::default(),
            faults,
            echo_buf: vec![0u8; MAX_DATAGRAM + 1].into_boxed_slice(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("dataplane-{}", local_addr.port()))
            .spawn(move || worker.run())
            .map_err(DataPlaneError::Spawn)?;
        Ok(DataPlane {
            commands,
            finished,
            progress,
            local_addr,
            thread: Some(thread),
        })
    }

    /// The address the peer socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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
        let deadline = std::time::Instant::now() + COMMAND_TIMEOUT;
        let (tx, rx) = bounded(1);
        self.commands
            .send_deadline(make(tx), deadline)
            .map_err(|_| DataPlaneError::Unresponsive(COMMAND_TIMEOUT))?;
        rx.recv_deadline(deadline)
            .map_err(|_| DataPlaneError::Unresponsive(COMMAND_TIMEOUT))?
    }

    /// Takes a ring configuration: allocates the tour's buffers here, on the caller's
    /// thread, then hands them to the data plane, which sizes the socket buffers.
    pub fn configure(&self, setup: RingSetup) -> Result<ConfigureReport, DataPlaneError> {
        let session = Box::new(Session::new(setup)?);
        self.call(|tx| Command::Configure(session, tx))
    }

    /// Arms the data plane for a tour.
    pub fn prepare(&self, tour_id: u64) -> Result<(), DataPlaneError> {
        self.call(|tx| Command::Prepare(tour_id, tx))
    }

    /// Origin: starts sending the armed tour.
    pub fn start(&self, tour_id: u64) -> Result<(), DataPlaneError> {
        self.call(|tx| Command::Start(tour_id, tx))
    }

    /// Origin: waits up to `wait` for the tour to finish; true when it has.
    pub fn wait_finished(&self, tour_id: u64, wait: Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if self.progress.finished_tour.load(Ordering::Acquire) == tour_id {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.finished.recv_timeout(left) {
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
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    socket: Socket,
    commands: Receiver<Command>,
    finished: Sender<u64>,
    progress: Arc<Progress>,
    session: Option<Box<Session>>,
    io: IoCounters,
    faults: Faults,
    /// Receive buffer used while no ring is configured (echoes only).
    echo_buf: Box<[u8]>,
}

fn recv_from(socket: &Socket, buf: &mut [u8], flags: libc::c_int) -> io::Result<(usize, SockAddr)> {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and the slice is initialised; the
    // kernel only writes initialised bytes into it, so it stays a valid `[u8]`.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
    socket.recv_from_with_flags(uninit, flags)
}

impl Worker {
    fn run(mut self) {
        loop {
            while let Ok(command) = self.commands.try_recv() {
                if !self.handle_command(command) {
                    return;
                }
            }
            let sending = self.origin_step();
            let flags = if sending { libc::MSG_DONTWAIT } else { 0 };
            self.receive_one(flags);
        }
    }

    /// Origin: sends one new message if the window allows, checks the timeout, and
    /// notifies the control plane when the tour is over. Returns whether more is to send.
    fn origin_step(&mut self) -> bool {
        let Some(s) = self.session.as_deref_mut() else {
            return false;
        };
        let now = monotonic_ns();
        if let Some(len) = s.machine.poll_send(now, &mut s.send_buf) {
            if self.socket.send_to(&s.send_buf[..len], &s.next).is_err() {
                self.io.send_errors += 1;
            }
            self.progress
                .sent
                .store(s.machine.counters().sent, Ordering::Relaxed);
        }
        s.machine.handle_timeout(now);
        if s.machine.is_finished() && !s.notified {
            s.notified = true;
            let id = s.machine.tour_id();
            self.progress.finished_tour.store(id, Ordering::Release);
            let _ = self.finished.try_send(id);
        }
        s.machine.wants_to_send()
    }

    fn receive_one(&mut self, flags: libc::c_int) {
        let Some(s) = self.session.as_deref_mut() else {
            self.receive_unconfigured(flags);
            return;
        };
        let Some(&slot) = s.free.last() else {
            // Every slot is held: cannot happen with count + 1 slots, but never spin on it.
            std::thread::sleep(RECV_POLL);
            return;
        };
        let (len, source) = match recv_from(&self.socket, &mut s.slots[slot], flags) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return;
            }
            Err(_) => {
                self.io.recv_errors += 1;
                return;
            }
        };
        let now = monotonic_ns();
        let datagram = &mut s.slots[slot][..len];
        let is_data = datagram.len() > 5 && datagram[5] == Kind::Data as u8;
        if is_data {
            if self.faults.drop_data {
                self.io.injected_drops += 1;
                return;
            }
            if source.as_socket() != Some(s.setup.prev_peer) {
                self.io.wrong_source += 1;
                return;
            }
        }
        match s.machine.handle_datagram(now, datagram) {
            Verdict::Forward => {
                if self.socket.send_to(datagram, &s.next).is_err() {
                    self.io.send_errors += 1;
                }
            }
            Verdict::Hold => {
                s.free.pop();
                s.held.push((slot, len));
            }
            Verdict::FlushHeld => {
                s.free.pop();
                s.held.push((slot, len));
                for i in 0..s.held.len() {
                    let (held_slot, held_len) = s.held[i];
                    let buf = &mut s.slots[held_slot][..held_len];
                    Header::set_prev_send_ns(buf, monotonic_ns());
                    if self.socket.send_to(buf, &s.next).is_err() {
                        self.io.send_errors += 1;
                    }
                }
                s.release_held();
            }
            Verdict::EchoReply => {
                if self.socket.send_to(datagram, &source).is_ok() {
                    self.io.echoes += 1;
                } else {
                    self.io.send_errors += 1;
                }
            }
            Verdict::Arrived | Verdict::Dropped(_) => {}
        }
        self.progress
            .received
            .store(s.machine.counters().received, Ordering::Relaxed);
    }

    /// Before the first configuration the peer socket answers echoes and nothing else.
    fn receive_unconfigured(&mut self, flags: libc::c_int) {
        let Ok((len, source)) = recv_from(&self.socket, &mut self.echo_buf, flags) else {
            return;
        };
        let datagram = &mut self.echo_buf[..len];
        if matches!(Header::decode(datagram), Ok(h) if h.kind == Kind::EchoRequest) {
            Header::make_echo_reply(datagram);
            if self.socket.send_to(datagram, &source).is_ok() {
                self.io.echoes += 1;
            }
        }
    }

    fn handle_command(&mut self, command: Command) -> bool {
        match command {
            Command::Configure(session, reply) => {
                let report = self.size_socket_buffers(session.rcvbuf_requested);
                self.session = Some(session);
                let _ = reply.send(Ok(report));
            }
            Command::Prepare(tour_id, reply) => {
                let result = match self.session.as_deref_mut() {
                    None => Err(DataPlaneError::NotConfigured),
                    Some(s) => {
                        s.release_held();
                        s.machine.prepare(tour_id);
                        s.notified = false;
                        self.io = IoCounters::default();
                        self.progress.sent.store(0, Ordering::Relaxed);
                        self.progress.received.store(0, Ordering::Relaxed);
                        Ok(())
                    }
                };
                let _ = reply.send(result);
            }
            Command::Start(tour_id, reply) => {
                let result = session_for(&mut self.session, tour_id).and_then(|s| {
                    if !s.setup.position.is_origin() {
                        return Err(DataPlaneError::NotOrigin {
                            index: s.setup.position.index,
                        });
                    }
                    s.machine.start(monotonic_ns());
                    Ok(())
                });
                let _ = reply.send(result);
            }
            Command::End(tour_id, reply) => {
                let io = self.io;
                let result = session_for(&mut self.session, tour_id).map(|s| {
                    s.machine.end();
                    s.release_held();
                    TourReport {
                        tour_id,
                        phase: s.machine.phase(),
                        counters: s.machine.counters().clone(),
                        first_send_ns: s.machine.first_send_ns(),
                        last_receive_ns: s.machine.last_receive_ns(),
                        tour_latency: s.machine.tour_latency().clone(),
                        io,
                    }
                });
                let _ = reply.send(result);
            }
            Command::Shutdown => return false,
        }
        true
    }

    /// Asks for socket buffers that hold what a tour can have in flight; with
    /// CAP_NET_ADMIN beyond `net.core.rmem_max` (`SO_RCVBUFFORCE`).
    fn size_socket_buffers(&self, want: usize) -> ConfigureReport {
        let forced = set_buffer_force(&self.socket, libc::SO_RCVBUFFORCE, want).is_ok();
        if !forced {
            let _ = self.socket.set_recv_buffer_size(want);
        }
        if set_buffer_force(&self.socket, libc::SO_SNDBUFFORCE, MIN_SOCKET_BUFFER).is_err() {
            let _ = self.socket.set_send_buffer_size(MIN_SOCKET_BUFFER);
        }
        ConfigureReport {
            rcvbuf_requested: want,
            rcvbuf_granted: self.socket.recv_buffer_size().unwrap_or(0),
            sndbuf_granted: self.socket.send_buffer_size().unwrap_or(0),
        }
    }
}

/// The session armed for `tour_id`, or why there is none.
fn session_for(
    session: &mut Option<Box<Session>>,
    tour_id: u64,
) -> Result<&mut Session, DataPlaneError> {
    match session.as_deref_mut() {
        None => Err(DataPlaneError::NotConfigured),
        Some(s) if s.machine.tour_id() != tour_id => Err(DataPlaneError::WrongTour {
            asked: tour_id,
            armed: s.machine.tour_id(),
        }),
        Some(s) => Ok(s),
    }
}

fn set_buffer_force(socket: &Socket, option: libc::c_int, bytes: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the fd is a live socket owned by `socket`; the option value points at a
    // c_int that outlives the call, and its size is passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
