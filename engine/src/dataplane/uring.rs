//! The io_uring backend.
//!
//! One ring per data-plane thread (single issuer, deferred task running). A multishot
//! `RecvMsgMulti` receives into a provided-buffer ring made of the session's receive pool;
//! a forwarded datagram is sent straight out of the buffer the kernel received it into, and
//! that buffer goes back to the kernel only when the send's completion has arrived. New
//! submissions are queued during the loop and submitted with one `io_uring_enter` per
//! iteration, which also waits (block mode) or only reaps (spin mode); a full submission
//! queue spills into a bounded backlog. The control plane wakes the thread through an
//! eventfd watched by a multishot poll.
//!
//! Operations are named by their `user_data`: the operation kind in the top byte, the
//! buffer, slot or GSO message index below. A GSO send is a `SendMsg` whose message (its
//! header, iovec and `UDP_SEGMENT` control message) stays in a preallocated slab until it
//! completes; one the kernel refuses goes again one datagram at a time. A receive buffer
//! may carry several datagrams (GRO) and so several sends: it goes back to the kernel when
//! the last of them completes.
//!
//! What to send is decided by the session's [`Endpoint`](crate::endpoint::Endpoint): this
//! backend hands it each receive and submits the [`Transmit`]s it polls; it reads no byte
//! of a datagram.
//!
//! # Invariants: who owns a buffer when
//!
//! - **Receive buffer `bid`** (a slot of `session.pool`) is owned by exactly one of:
//!   1. *the kernel*, from `BufRing::push` (at `give_buffers` or `recycle`) until a
//!      receive completion names it (`cqueue::buffer_select`); nothing here reads or
//!      writes it meanwhile;
//!   2. *the endpoint*, while `handle_receive` runs on it (hold mode copies what it holds
//!      into its hold store, so no buffer stays with it afterwards);
//!   3. *in-flight sends*: `recv_refs[bid]` counts the submitted sends out of it; the last
//!      completion (for `SendZc`, its notification) hands it back to the kernel. A
//!      refused GSO send's datagrams are submitted again before its reference is dropped.
//!
//!   A buffer is recycled exactly once: when `handle_receive` is done and no send
//!   references it.
//! - **The hold store** (the endpoint's, hold mode): written by the holds of a running
//!   tour, read by the sends of its flush (`BufferId::Held`, not counted: the flush is the
//!   tour's last write, and the next tour's holds come a control-plane round trip after
//!   every datagram of the flush came back to the origin); a new session waits for every
//!   send (`quiesce`).
//! - **Send slot `slot`** (of `session.send_pool`, the origin only) is free in the pool,
//!   or written by `Endpoint::fill_send_slot` and then referenced by `send_refs[slot]`
//!   until its last send completes.
//! - **GSO messages** (`gso_msgs`): an entry of `gso_free` is unused; a popped one is read
//!   by the kernel until its `OP_GSO` completion.
//! - **Addresses**: `session.next` is boxed and outlives every send to it; an answer's
//!   address lies in its receive buffer, referenced like the buffer itself.
//! - **Reconfiguration and shutdown** `quiesce` first: cancel the receive and reap until
//!   no operation is in flight, so no buffer, address or GSO message is freed under the
//!   kernel; if it does not get quiet in time, the session is leaked, never freed.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{BufRingEntry, Fd, Fixed, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{IoUring, Probe, cqueue, opcode, squeue};

use super::{BufferOwner, Core, DataPlaneError, PollMode, Session, sys};
use crate::endpoint::{BufferId, Destination, Receive, Transmit};
use crate::pool::Pool;

const OP_RECV: u64 = 1;
/// A send out of a receive buffer (a forward, an echo or probe reply); index = buffer id.
const OP_SEND_RECV_BUF: u64 = 2;
/// A send of a new message from the origin's send pool; index = slot.
const OP_SEND_NEW: u64 = 3;
const OP_WAKE: u64 = 4;
const OP_CANCEL: u64 = 5;
/// A zero-copy forward out of a receive buffer; index = buffer id. Its buffer returns to
/// the kernel with the notification completion, when the NIC no longer reads it.
const OP_SEND_ZC: u64 = 6;
/// A GSO send (`SendMsg` with `UDP_SEGMENT`); index = its message in the GSO slab.
const OP_GSO: u64 = 8;
/// A send out of the hold store (hold mode's flush).
const OP_SEND_HELD: u64 = 9;

/// The peer socket, registered as fixed file 0.
const SOCKET: Fixed = Fixed(0);

const SQ_ENTRIES: u32 = 1024;
const CQ_ENTRIES: u32 = 8192;
/// `IORING_ENTER_GETEVENTS`: run deferred task work and post completions.
const ENTER_GETEVENTS: u32 = 1;
/// Longest a blocked thread sleeps without a reason to wake (commands use the eventfd).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How long a reconfiguration waits for the old buffers to come back from the kernel.
const QUIESCE_TIMEOUT: Duration = Duration::from_secs(2);

fn user_data(op: u64, index: u16) -> u64 {
    (op << 56) | u64::from(index)
}

fn op_of(user_data: u64) -> (u64, u16) {
    (user_data >> 56, user_data as u16)
}

/// A GSO send in flight: the message the kernel reads, and the transmit it sends.
struct GsoMsg {
    hdr: libc::msghdr,
    iov: libc::iovec,
    control: sys::GsoControl,
    transmit: Transmit,
}

impl GsoMsg {
    fn empty() -> GsoMsg {
        GsoMsg {
            hdr: sys::empty_msghdr(),
            iov: sys::empty_iovec(),
            control: sys::GsoControl::new(0),
            transmit: plain_send(BufferId::Receive(0)),
        }
    }
}

/// What the endpoint needs to know of a plain send (one datagram) to take its outcome:
/// its buffer. (Plain sends are named by their buffer alone in their `user_data`.)
fn plain_send(buffer: BufferId) -> Transmit {
    Transmit {
        buffer,
        offset: 0,
        len: 0,
        segment_size: None,
        destination: Destination::Next,
    }
}

/// Where an answer to the receive just handed in goes: the source address the kernel
/// wrote into that receive's buffer, at `offset` of its slot.
#[derive(Debug, Clone, Copy)]
struct Reply {
    offset: usize,
    len: libc::socklen_t,
}

/// A provided-buffer ring: an array of buffer descriptors shared with the kernel.
struct BufRing {
    base: *mut BufRingEntry,
    entries: u16,
    tail: u16,
    bgid: u16,
    map_len: usize,
}

impl BufRing {
    /// Maps and registers a ring of `entries` (a power of two) descriptors as group `bgid`.
    fn new(ring: &IoUring, entries: u16, bgid: u16) -> io::Result<BufRing> {
        let map_len = usize::from(entries) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping; no pointer is read by mmap itself.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_ANONYMOUS | libc::MAP_PRIVATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `ptr` is a page-aligned mapping of `entries` descriptors that stays mapped
        // until `destroy` unregisters it first.
        let registered = unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(ptr as u64, entries, bgid, 0)
        };
        if let Err(e) = registered {
            // SAFETY: unmapping the mapping made above, which nothing else references.
            unsafe { libc::munmap(ptr, map_len) };
            return Err(e);
        }
        Ok(BufRing {
            base: ptr.cast(),
            entries,
            tail: 0,
            bgid,
            map_len,
        })
    }

    /// Adds a buffer at the tail (visible to the kernel after `publish`).
    ///
    /// # Safety
    ///
    /// `buf` is handed to the kernel, which writes a received datagram into it at any time
    /// until the buffer comes back in a receive completion: it must stay allocated, and
    /// neither be read nor written by anyone else, until then (or until the ring is
    /// unregistered).
    unsafe fn push(&mut self, buf: &mut [u8], bid: u16) {
        let (addr, len) = (buf.as_mut_ptr(), buf.len());
        let index = usize::from(self.tail & (self.entries - 1));
        // SAFETY: index < entries, inside the mapping; the kernel only reads descriptors
        // between its head and the published tail, and this one is past the tail.
        let entry = unsafe { &mut *self.base.add(index) };
        entry.set_addr(addr as u64);
        entry.set_len(len as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers pushed so far visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field lives inside the first descriptor of our mapping and is
        // u16-aligned; the kernel reads it concurrently, hence the atomic release store.
        let tail = unsafe { &*(BufRingEntry::tail(self.base).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
    }

    fn destroy(self, ring: &IoUring) {
        let _ = ring.submitter().unregister_buf_ring(self.bgid);
        // SAFETY: the kernel no longer references the ring (unregistered above, and no
        // receive using it is armed); nothing else points into the mapping.
        unsafe { libc::munmap(self.base.cast(), self.map_len) };
    }
}

pub(super) struct Uring {
    ring: IoUring,
    wake_fd: RawFd,
    msghdr: Box<libc::msghdr>,
    bufring: Option<BufRing>,
    next_bgid: u16,
    recv_armed: bool,
    wake_armed: bool,
    /// Buffers the kernel currently has for receiving.
    available: u32,
    /// Submitted operations whose completion has not arrived (sends, cancels).
    inflight: u32,
    backlog: VecDeque<squeue::Entry>,
    completions: Vec<(u64, i32, u32)>,
    initial: Option<Box<Session>>,
    /// Forward with `SendZc` from the receive pool, registered as fixed buffer 0.
    zerocopy: bool,
    fixed_registered: bool,
    /// Sends not yet completed out of each receive buffer (0 for a buffer the kernel or
    /// the endpoint has).
    recv_refs: Vec<u16>,
    /// Sends not yet completed out of each of the origin's send slots.
    send_refs: Vec<u16>,
    /// Messages of GSO sends (allocated at configuration; never moved while in use).
    gso_msgs: Box<[GsoMsg]>,
    /// Free entries of `gso_msgs`.
    gso_free: Vec<u16>,
}

/// What the kernel's io_uring switches say, for an io_uring_setup refused with EPERM
/// (empty otherwise): `kernel.io_uring_disabled` 2 refuses everyone, 1 everyone outside
/// `kernel.io_uring_group` (without CAP_SYS_ADMIN); a container's seccomp profile refuses
/// it too, whatever they say.
fn uring_disabled_hint(error: &io::Error) -> String {
    if error.raw_os_error() != Some(libc::EPERM) {
        return String::new();
    }
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string())
    };
    format!(
        " (kernel.io_uring_disabled = {}, kernel.io_uring_group = {}: 0 allows everyone, 1 only that group's members; or a seccomp profile refuses io_uring)",
        read("io_uring_disabled"),
        read("io_uring_group")
    )
}

/// What to do about `what` (io_uring's rings, or buffers to register) refused with
/// ENOMEM ("" for other errors): for a process without CAP_IPC_LOCK, that memory is locked
/// memory, counted against RLIMIT_MEMLOCK (per user).
fn memlock_hint(error: &io::Error, what: &str, zerocopy: bool) -> String {
    if error.raw_os_error() != Some(libc::ENOMEM) {
        return String::new();
    }
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits
                .lines()
                .find(|l| l.starts_with("Max locked memory"))?;
            let values: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
            Some(values.join(" / "))
        })
        .unwrap_or_else(|| "unknown".to_string());
    let zerocopy = if zerocopy {
        ", or leave out --zerocopy"
    } else {
        ""
    };
    format!(
        "; {what} exceed this user's locked-memory limit (RLIMIT_MEMLOCK, soft / hard: {limit} bytes): raise it (LimitMEMLOCK= in the member's systemd unit, ulimit -l) or grant CAP_IPC_LOCK{zerocopy}"
    )
}

impl Uring {
    /// Sets up the ring and checks what the loop needs; the error says what is missing.
    pub fn new(
        core: &Core,
        wake_fd: RawFd,
        options: super::DataPlaneOptions,
    ) -> Result<Uring, String> {
        if options.faults.refuse_uring {
            return Err(
                "io_uring_setup: Operation not permitted (os error 1) (injected for testing)"
                    .into(),
            );
        }
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
            .map_err(|e| {
                format!(
                    "io_uring_setup: {e}{}{}",
                    uring_disabled_hint(&e),
                    memlock_hint(&e, "the rings", false)
                )
            })?;
        // The socket as fixed file 0 and the ring's own fd registered: the kernel skips
        // two file-table lookups per operation and per enter.
        ring.submitter()
            .register_files(&[core.socket.as_raw_fd()])
            .map_err(|e| format!("registering the socket with io_uring: {e}"))?;
        let _ = ring.submitter().register_ring_fd();
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|e| format!("io_uring probe: {e}"))?;
        for (code, name) in [
            (opcode::RecvMsgMulti::CODE, "RecvMsg"),
            (opcode::Send::CODE, "Send"),
            (opcode::SendMsg::CODE, "SendMsg"),
            (opcode::PollAdd::CODE, "PollAdd"),
            (opcode::AsyncCancel::CODE, "AsyncCancel"),
        ] {
            if !probe.is_supported(code) {
                return Err(format!("the kernel's io_uring lacks the {name} operation"));
            }
        }
        if options.zerocopy && !probe.is_supported(opcode::SendZc::CODE) {
            return Err("the kernel's io_uring lacks the SendZc operation (--zerocopy)".into());
        }
        let mut msghdr = Box::new(sys::empty_msghdr());
        msghdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // Room for the kernel's receive timestamp (SO_TIMESTAMPING) in every buffer.
        msghdr.msg_controllen = sys::RX_CONTROL_LEN;
        let mut uring = Uring {
            ring,
            wake_fd,
            msghdr,
            bufring: None,
            next_bgid: 0,
            recv_armed: false,
            wake_armed: false,
            available: 0,
            inflight: 0,
            backlog: VecDeque::with_capacity(super::MAX_BUFFERS as usize + 1024),
            completions: Vec::with_capacity(CQ_ENTRIES as usize),
            initial: None,
            zerocopy: options.zerocopy,
            fixed_registered: false,
            recv_refs: Vec::new(),
            send_refs: Vec::new(),
            gso_msgs: Box::new([]),
            gso_free: Vec::new(),
        };
        // Provided-buffer rings (kernel 5.19+) are checked by registering the first one.
        let mut session = Box::new(Session::unconfigured(super::RECV_HEADROOM, options.faults));
        uring
            .give_buffers(&mut session)
            .map_err(|e| format!("registering a provided-buffer ring: {e}"))?;
        uring.initial = Some(session);
        Ok(uring)
    }

    pub fn run(mut self, mut core: Core) {
        let Some(mut session) = self.initial.take() else {
            return;
        };
        self.arm_wake();
        loop {
            if !core.drain_commands(&mut session, &mut self) {
                self.shutdown(session);
                return;
            }
            self.origin_sends(&core, &mut session);
            self.arm_recv();
            self.enter(&session, core.poll);
            self.complete_all(&mut session);
            session.after_iteration(&core);
        }
    }

    /// Queues a submission; spills into the backlog when the queue is full.
    fn push(&mut self, entry: squeue::Entry) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(entry);
            return;
        }
        // SAFETY: every entry queued here points at memory that stays valid until its
        // completion: pool buffers and addresses owned by the session (kept until the
        // ring is quiet, see `replace_session`) or by self (the receive msghdr, and the
        // GSO slab, replaced only in `give_buffers` once the ring is quiet).
        if unsafe { self.ring.submission().push(&entry) }.is_err() {
            self.backlog.push_back(entry);
        }
    }

    fn flush_backlog(&mut self) {
        while let Some(entry) = self.backlog.front() {
            // SAFETY: as in `push`: the entry's memory lives until its completion.
            if unsafe { self.ring.submission().push(entry) }.is_err() {
                return;
            }
            self.backlog.pop_front();
        }
    }

    fn arm_wake(&mut self) {
        if !self.wake_armed {
            let entry = opcode::PollAdd::new(Fd(self.wake_fd), libc::POLLIN as u32)
                .multi(true)
                .build()
                .user_data(user_data(OP_WAKE, 0));
            self.push(entry);
            self.wake_armed = true;
        }
    }

    /// (Re-)arms the multishot receive once the kernel has buffers for it.
    fn arm_recv(&mut self) {
        if self.recv_armed || self.available == 0 {
            return;
        }
        let Some(bufring) = self.bufring.as_ref() else {
            return;
        };
        let entry = opcode::RecvMsgMulti::new(SOCKET, &*self.msghdr, bufring.bgid)
            .build()
            .user_data(user_data(OP_RECV, 0));
        self.push(entry);
        self.recv_armed = true;
    }

    /// Submits everything queued and waits for completions: one `io_uring_enter`.
    fn enter(&mut self, session: &Session, poll: PollMode) {
        self.flush_backlog();
        let pending = self.ring.completion().len();
        let to_submit = self.ring.submission().len() as u32;
        if poll == PollMode::Spin || pending > 0 || !self.backlog.is_empty() {
            // SAFETY: a plain enter with no argument struct: submits the queued entries
            // and runs deferred task work, never blocking.
            let _ = unsafe {
                self.ring
                    .submitter()
                    .enter::<libc::sigset_t>(to_submit, 0, ENTER_GETEVENTS, None)
            };
            return;
        }
        let submitter = self.ring.submitter();
        // An overdue message with no free send slot waits for a send's completion, not for
        // its (past) due time.
        let deadline = session.endpoint.machine().and_then(|m| {
            if session.send_pool.free_count() == 0 {
                m.idle_deadline()
            } else {
                m.poll_timeout()
            }
        });
        // Errors here are ETIME (the wait ran out) and EINTR; the loop goes on either way.
        match deadline {
            // A forwarder has nothing to time: it sleeps until a completion or a wake-up.
            None => {
                let _ = submitter.submit_and_wait(1);
            }
            Some(deadline) => {
                let wait = Duration::from_nanos(deadline.saturating_sub(session.clock.now()))
                    .min(IDLE_WAIT);
                let ts = Timespec::from(wait);
                let _ = submitter.submit_with_args(1, &SubmitArgs::new().timespec(&ts));
            }
        }
    }

    fn complete_all(&mut self, session: &mut Session) {
        self.completions.clear();
        for cqe in self.ring.completion() {
            self.completions
                .push((cqe.user_data(), cqe.result(), cqe.flags()));
        }
        for i in 0..self.completions.len() {
            let (data, result, flags) = self.completions[i];
            self.complete(session, data, result, flags);
        }
        if let Some(bufring) = self.bufring.as_ref() {
            bufring.publish();
        }
    }

    /// Gives a receive buffer back to the kernel (visible at the next `publish`).
    fn recycle(&mut self, session: &mut Session, bid: u16) {
        self.recycle_in(&mut session.pool, bid);
    }

    /// Gives buffer `bid` of `pool` back to the kernel.
    fn recycle_in(&mut self, pool: &mut Pool, bid: u16) {
        if let Some(bufring) = self.bufring.as_mut() {
            // SAFETY: buffer `bid` came back from the kernel and nothing uses it any more:
            // the endpoint does not hold it and no send out of it is in flight (its
            // reference count is 0); the pool lives until the ring is quiet.
            unsafe { bufring.push(pool.slot(bid), bid) };
            self.available += 1;
        }
    }

    fn complete(&mut self, session: &mut Session, data: u64, result: i32, flags: u32) {
        let (op, index) = op_of(data);
        match op {
            OP_RECV => {
                if !cqueue::more(flags) {
                    self.recv_armed = false;
                }
                if result < 0 {
                    if result == -libc::ENOBUFS {
                        session.endpoint.io_mut().recv_no_buffers += 1;
                    } else if result != -libc::ECANCELED {
                        session.endpoint.io_mut().recv_errors += 1;
                    }
                    return;
                }
                let Some(bid) = cqueue::buffer_select(flags) else {
                    session.endpoint.io_mut().recv_errors += 1;
                    return;
                };
                self.available = self.available.saturating_sub(1);
                self.received(session, bid, result as usize);
            }
            OP_SEND_RECV_BUF => {
                self.inflight = self.inflight.saturating_sub(1);
                self.sent(session, plain_send(BufferId::Receive(index)), result);
            }
            OP_SEND_NEW => {
                self.inflight = self.inflight.saturating_sub(1);
                self.sent(session, plain_send(BufferId::Send(index)), result);
            }
            OP_SEND_HELD => {
                self.inflight = self.inflight.saturating_sub(1);
                self.sent(session, plain_send(BufferId::Held), result);
            }
            OP_GSO => {
                self.inflight = self.inflight.saturating_sub(1);
                if let Some(msg) = self.gso_msgs.get(usize::from(index)) {
                    let transmit = msg.transmit;
                    self.gso_free.push(index);
                    self.sent(session, transmit, result);
                }
            }
            OP_SEND_ZC => {
                let notification = cqueue::notif(flags);
                if !notification {
                    let t = plain_send(BufferId::Receive(index));
                    let outcome = if result < 0 { Err(-result) } else { Ok(()) };
                    session.endpoint.handle_send_result(&t, outcome);
                }
                // The buffer is free with the notification, or at once when none follows.
                if notification || !cqueue::more(flags) {
                    self.inflight = self.inflight.saturating_sub(1);
                    self.drop_ref(session, BufferId::Receive(index));
                }
            }
            OP_WAKE => {
                sys::drain_eventfd(self.wake_fd);
                if !cqueue::more(flags) {
                    self.wake_armed = false;
                    self.arm_wake();
                }
            }
            OP_CANCEL => self.inflight = self.inflight.saturating_sub(1),
            _ => {}
        }
    }

    /// Sends not yet completed out of `buf`.
    fn refs(&mut self, buf: BufferId) -> Option<&mut u16> {
        match buf {
            BufferId::Receive(bid) => self.recv_refs.get_mut(usize::from(bid)),
            BufferId::Send(slot) => self.send_refs.get_mut(usize::from(slot)),
            BufferId::Held => None,
        }
    }

    /// A send out of `buf` was queued.
    fn take_ref(&mut self, buf: BufferId) {
        if let Some(refs) = self.refs(buf) {
            *refs += 1;
        }
    }

    /// A send out of `buf` is done: when it was the last one, a receive buffer goes back
    /// to the kernel and a send slot to the pool.
    fn drop_ref(&mut self, session: &mut Session, buf: BufferId) {
        let Some(refs) = self.refs(buf) else {
            return;
        };
        *refs = refs.saturating_sub(1);
        if *refs == 0 {
            match buf {
                BufferId::Receive(bid) => self.recycle(session, bid),
                BufferId::Send(slot) => session.send_pool.put(slot),
                BufferId::Held => {}
            }
        }
    }

    /// A send completed with `result` (bytes or −errno): the endpoint takes its outcome;
    /// what it queues again (a refused GSO send, one datagram at a time) is submitted
    /// before the buffer's reference is dropped.
    fn sent(&mut self, session: &mut Session, transmit: Transmit, result: i32) {
        let outcome = if result < 0 { Err(-result) } else { Ok(()) };
        if session.endpoint.handle_send_result(&transmit, outcome) {
            self.transmit(session, None);
        }
        self.drop_ref(session, transmit.buffer);
    }

    /// Submits everything the endpoint has to send; `reply` locates the source address
    /// of the receive just handed in, for its answers.
    fn transmit(&mut self, session: &mut Session, reply: Option<Reply>) {
        if !session.endpoint.has_transmits() {
            return;
        }
        let now = session.clock.now();
        while let Some(t) = session.endpoint.poll_transmit(now, &mut session.pool) {
            self.submit(session, t, reply);
        }
    }

    /// Queues one transmit: a GSO `SendMsg` when it carries several datagrams, else a
    /// `Send` (a `SendZc` for forwards with `--zerocopy`). The buffer gains a reference
    /// until the send's completion.
    fn submit(&mut self, session: &mut Session, t: Transmit, reply: Option<Reply>) {
        let data = match t.buffer {
            BufferId::Receive(bid) => session.pool.slot(bid),
            BufferId::Send(slot) => session.send_pool.payload(slot),
            BufferId::Held => session.endpoint.hold_store().bytes_mut(),
        };
        let Some(data) = data.get_mut(t.offset..t.offset + t.len) else {
            return;
        };
        let ptr = data.as_mut_ptr();
        let (name, name_len): (*const libc::sockaddr, libc::socklen_t) = match t.destination {
            Destination::Next => (session.next.as_ptr().cast(), session.next.len()),
            Destination::Source => {
                let (Some(reply), BufferId::Receive(bid)) = (reply, t.buffer) else {
                    // Answers are submitted right after their receive; nothing else has one.
                    return;
                };
                let Some(name) = session.pool.slot(bid).get(reply.offset..) else {
                    return;
                };
                (name.as_ptr().cast(), reply.len)
            }
        };
        let entry = if let Some(segment) = t.segment_size {
            let Some(index) = self.gso_free.pop() else {
                // No GSO message free (cannot happen: one per buffer): count it as failed.
                session.endpoint.handle_send_result(&t, Err(libc::ENOBUFS));
                return;
            };
            let Some(msg) = self.gso_msgs.get_mut(usize::from(index)) else {
                return;
            };
            msg.transmit = t;
            msg.iov = libc::iovec {
                iov_base: ptr.cast(),
                iov_len: t.len,
            };
            msg.control = sys::GsoControl::new(segment as u16);
            msg.hdr.msg_name = name.cast_mut().cast();
            msg.hdr.msg_namelen = name_len;
            msg.hdr.msg_iov = &mut msg.iov;
            msg.hdr.msg_iovlen = 1;
            msg.hdr.msg_control = msg.control.0.as_mut_ptr().cast();
            msg.hdr.msg_controllen = sys::GSO_CONTROL_LEN;
            opcode::SendMsg::new(SOCKET, &msg.hdr)
                .build()
                .user_data(user_data(OP_GSO, index))
        } else {
            match t.buffer {
                BufferId::Receive(bid) if self.zerocopy && t.destination == Destination::Next => {
                    opcode::SendZc::new(SOCKET, ptr, t.len as u32)
                        .buf_index(Some(0))
                        .dest_addr(name)
                        .dest_addr_len(name_len)
                        .build()
                        .user_data(user_data(OP_SEND_ZC, bid))
                }
                BufferId::Receive(bid) => opcode::Send::new(SOCKET, ptr, t.len as u32)
                    .dest_addr(name)
                    .dest_addr_len(name_len)
                    .build()
                    .user_data(user_data(OP_SEND_RECV_BUF, bid)),
                BufferId::Send(slot) => opcode::Send::new(SOCKET, ptr, t.len as u32)
                    .dest_addr(name)
                    .dest_addr_len(name_len)
                    .build()
                    .user_data(user_data(OP_SEND_NEW, slot)),
                BufferId::Held => opcode::Send::new(SOCKET, ptr, t.len as u32)
                    .dest_addr(name)
                    .dest_addr_len(name_len)
                    .build()
                    .user_data(user_data(OP_SEND_HELD, 0)),
            }
        };
        self.take_ref(t.buffer);
        self.inflight += 1;
        self.push(entry);
    }

    /// A datagram arrived in buffer `bid` (`used` bytes of it, header and name included).
    fn received(&mut self, session: &mut Session, bid: u16, used: usize) {
        let slot = session.pool.slot(bid);
        let Some(out) = slot
            .get(..used)
            .and_then(|b| RecvMsgOut::parse(b, &self.msghdr).ok())
        else {
            session.endpoint.io_mut().recv_errors += 1;
            self.recycle(session, bid);
            return;
        };
        let base = slot.as_ptr() as usize;
        let reply = Reply {
            offset: out.name_data().as_ptr() as usize - base,
            len: out.incoming_name_len().min(self.msghdr.msg_namelen),
        };
        let (now, kernel_stamp) = session.clock.arrival_ns(out.control_data());
        let rx = Receive {
            buffer: bid,
            offset: out.payload_data().as_ptr() as usize - base,
            len: out.payload_data().len(),
            segment_size: sys::gro_segment_size(out.control_data()),
            source: sys::socket_addr(out.name_data()),
            now,
            kernel_stamp,
        };
        session.endpoint.handle_receive(rx, &mut session.pool);
        self.transmit(session, Some(reply));
        if self
            .recv_refs
            .get(usize::from(bid))
            .is_none_or(|&refs| refs == 0)
        {
            self.recycle(session, bid);
        }
    }

    /// Origin: writes new messages into free send slots while the window allows, and
    /// submits them.
    fn origin_sends(&mut self, core: &Core, session: &mut Session) {
        let Some(machine) = session.endpoint.machine() else {
            return;
        };
        if !machine.may_send() {
            return;
        }
        let now = session.clock.now();
        if !machine.wants_to_send(now) {
            return;
        }
        let before = machine.counters().sent;
        while let Some(slot) = session.send_pool.take() {
            let buf = session.send_pool.payload(slot);
            if !session.endpoint.fill_send_slot(now, slot, buf) {
                session.send_pool.put(slot);
                break;
            }
            self.transmit(session, None);
        }
        let Some(machine) = session.endpoint.machine() else {
            return;
        };
        if core.faults.origin_stall.is_some() {
            // The stalled message leaves before the stall, as in the syscall backend.
            self.flush_backlog();
            let _ = self.ring.submit();
            core.faults.stall_origin(before, machine.counters().sent);
        }
    }

    /// Hands the session's receive pool to the kernel as a new provided-buffer ring.
    fn give_buffers(&mut self, session: &mut Session) -> io::Result<()> {
        let count = session.pool.count();
        let entries = u16::try_from(count).map_err(|_| io::Error::other("too many buffers"))?;
        let bgid = self.next_bgid;
        self.next_bgid = self.next_bgid.wrapping_add(1);
        let mut bufring = BufRing::new(&self.ring, entries, bgid)?;
        for bid in 0..entries {
            // SAFETY: a new session's buffers, which nothing uses yet; the pool outlives
            // the registration (it is freed only after `quiesce` and `destroy`).
            unsafe { bufring.push(session.pool.slot(bid), bid) };
        }
        bufring.publish();
        self.bufring = Some(bufring);
        self.available = count;
        self.recv_refs = vec![0; count as usize];
        self.send_refs = vec![0; session.send_pool.count() as usize];
        let gso = if session.endpoint.gso_segment() > 0 {
            count + session.send_pool.count()
        } else {
            0
        };
        self.gso_msgs = (0..gso).map(|_| GsoMsg::empty()).collect();
        self.gso_free = (0..gso).rev().map(|i| i as u16).collect();
        if self.zerocopy {
            if self.fixed_registered {
                self.ring.submitter().unregister_buffers()?;
                self.fixed_registered = false;
            }
            let region = session.pool.region();
            // SAFETY: the region is the pool's one allocation, which outlives its
            // registration: the pool is only freed after `quiesce` and re-registration.
            unsafe { self.ring.submitter().register_buffers(&[region]) }.map_err(|e| {
                let hint = memlock_hint(&e, &format!("the {} B of buffers", region.iov_len), true);
                io::Error::new(e.kind(), format!("{e}{hint}"))
            })?;
            self.fixed_registered = true;
        }
        Ok(())
    }

    /// Cancels the receive and reaps completions until nothing submitted still uses the
    /// session's buffers (or the timeout passes).
    fn quiesce(&mut self, session: &mut Session) -> bool {
        if self.recv_armed {
            let entry = opcode::AsyncCancel::new(user_data(OP_RECV, 0))
                .build()
                .user_data(user_data(OP_CANCEL, 0));
            self.inflight += 1;
            self.push(entry);
        }
        let deadline = Instant::now() + QUIESCE_TIMEOUT;
        while (self.recv_armed || self.inflight > 0) && Instant::now() < deadline {
            self.flush_backlog();
            let ts = Timespec::from(Duration::from_millis(10));
            let args = SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            self.complete_all(session);
            // A receive that completed meanwhile re-arms nowhere: `arm_recv` is not called.
        }
        !self.recv_armed && self.inflight == 0
    }

    /// Stops every operation before the buffers go away. If the kernel does not give
    /// them back in time, they are leaked rather than freed under its feet.
    fn shutdown(&mut self, mut session: Box<Session>) {
        if self.quiesce(&mut session) {
            if let Some(bufring) = self.bufring.take() {
                bufring.destroy(&self.ring);
            }
        } else {
            Box::leak(session);
        }
    }
}

impl BufferOwner for Uring {
    fn replace_session(
        &mut self,
        _core: &mut Core,
        session: &mut Box<Session>,
        mut new: Box<Session>,
    ) -> Result<(), DataPlaneError> {
        if !self.quiesce(session) {
            return Err(DataPlaneError::Backend(
                "the kernel did not return the old receive buffers within 2 s; the member keeps its old configuration".into(),
            ));
        }
        if let Some(old) = self.bufring.take() {
            old.destroy(&self.ring);
        }
        if let Err(e) = self.give_buffers(&mut new) {
            // Keep receiving into the old buffers; the configuration is refused.
            let _ = self.give_buffers(session);
            return Err(DataPlaneError::Backend(format!(
                "registering the receive buffers with io_uring: {e}"
            )));
        }
        *session = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

    use std::net::{SocketAddr, UdpSocket};
    use std::time::Duration;

    use crate::dataplane::{
        Backend, BackendChoice, DataPlane, DataPlaneOptions, Faults, RingSetup,
    };
    use crate::tour::{Phase, RingPosition, TourConfig};
    use crate::wire::{HEADER_LEN, Header, Kind};

    fn uring(faults: Faults) -> DataPlane {
        let options = DataPlaneOptions {
            backend: BackendChoice::Uring,
            faults,
            ..DataPlaneOptions::default()
        };
        let dp = DataPlane::spawn_with(SocketAddr::from(([127, 0, 0, 1], 0)), options)
            .expect("io_uring must start here (kernel 6.x, no seccomp filter)");
        assert_eq!(dp.started().backend, Backend::Uring);
        dp
    }

    /// An echo request travels through the multishot receive, the endpoint and a `Send`
    /// whose address is the source the kernel wrote into the receive buffer.
    #[test]
    fn answers_an_echo_from_the_receive_buffer() {
        let dp = uring(Faults::default());
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // A ring without a key (loopback only) answers untagged echoes.
        let neighbour = client.local_addr().unwrap();
        dp.configure(super::super::testing::beside(neighbour, None), None)
            .unwrap();
        for id in 0..3u64 {
            let mut request = [0u8; HEADER_LEN];
            Header::echo_request(id).encode(&mut request);
            client.send_to(&request, dp.local_addr()).unwrap();
            let mut reply = [0u8; 2 * HEADER_LEN];
            let (n, from) = client.recv_from(&mut reply).unwrap();
            assert_eq!((n, from), (HEADER_LEN, dp.local_addr()));
            let h = Header::decode(&reply[..n]).unwrap();
            assert_eq!((h.kind, h.tour_id), (Kind::EchoReply, id));
        }
    }

    /// With two receive buffers, 2000 messages go round a two-member ring: each buffer
    /// goes back to the kernel when the forward out of it completes, or the ring would
    /// stall after two messages.
    #[test]
    fn buffers_return_to_the_kernel_when_their_send_completes() {
        let faults = Faults {
            buffers: Some(2),
            ..Faults::default()
        };
        let (origin, member) = (uring(faults), uring(faults));
        let config = TourConfig {
            count: 2000,
            msg_len: 64,
            window: 1,
            forward_immediately: true,
            member_timeout_ns: 5_000_000_000,
            warmup: 0,
            interval_ns: 0,
            max_datagram: 0,
            max_buffer_memory: 0,
        };
        for (index, dp, peer) in [
            (0, &origin, member.local_addr()),
            (1, &member, origin.local_addr()),
        ] {
            let report = dp
                .configure(
                    RingSetup {
                        position: RingPosition { index, ring_len: 2 },
                        config,
                        next_peer: peer,
                        prev_peer: peer,
                        ring_key: None,
                        echo_key: None,
                        dscp: 0,
                    },
                    None,
                )
                .unwrap();
            assert_eq!(report.buffers, 2);
            dp.prepare(3, crate::dataplane::Arm::default()).unwrap();
        }
        origin.start(3).unwrap();
        assert!(origin.wait_finished(3, Duration::from_secs(30)));
        let report = origin.end(3).unwrap();
        assert_eq!(report.phase, Phase::Complete);
        assert_eq!(report.counters.received, 2000);
        let forwarded = member.end(3).unwrap();
        assert_eq!(forwarded.counters.forwarded, 2000);
        assert_eq!(forwarded.io.send_errors, 0);
    }
}
