//! The syscall backend: `recvmmsg` and `sendmmsg` batches on the data-plane thread, over the
//! same buffer pool as the io_uring backend. Used where io_uring cannot start.
//!
//! Buffer ownership: a receive slot is taken from the pool for one `recvmmsg` call; after
//! the endpoint has handled what arrived in it, it is free again at once, unless the
//! endpoint holds it (hold mode) or a send out of it is queued, in which case it goes back
//! when the queued sends have gone out (`sendmmsg` copies the data), at the end of the
//! batch. The origin's send slots are written and sent within one call.

use std::os::fd::AsRawFd;

use super::{BufferOwner, Core, DataPlaneError, PollMode, Session, sys};
use crate::endpoint::{BufferId, Destination, Receive, Transmit};

/// Datagrams per `recvmmsg`/`sendmmsg` call.
const BATCH: usize = 32;

pub(super) struct Syscall {
    recv_hdrs: Vec<libc::mmsghdr>,
    recv_iovs: Vec<libc::iovec>,
    recv_names: Vec<libc::sockaddr_storage>,
    recv_controls: Vec<sys::ControlBuf>,
    recv_slots: Vec<u16>,
    send_hdrs: Vec<libc::mmsghdr>,
    send_iovs: Vec<libc::iovec>,
    /// The `UDP_SEGMENT` control message of each queued GSO send.
    send_controls: Vec<sys::GsoControl>,
    /// What each queued send is, to report its outcome to the endpoint.
    send_transmits: Vec<Transmit>,
    /// Sends queued in `send_hdrs`.
    queued: usize,
    /// Receive slots sent from, given back once every queued send is out.
    send_recycle: Vec<u16>,
    /// Whether each receive slot is in `send_recycle`.
    recycling: Vec<bool>,
}

impl Syscall {
    pub fn new() -> Syscall {
        Syscall {
            recv_hdrs: (0..BATCH).map(|_| sys::empty_mmsghdr()).collect(),
            recv_iovs: (0..BATCH).map(|_| sys::empty_iovec()).collect(),
            recv_names: (0..BATCH).map(|_| sys::empty_sockaddr_storage()).collect(),
            recv_controls: vec![sys::ControlBuf::default(); BATCH],
            recv_slots: Vec::with_capacity(BATCH),
            send_hdrs: (0..BATCH).map(|_| sys::empty_mmsghdr()).collect(),
            send_iovs: (0..BATCH).map(|_| sys::empty_iovec()).collect(),
            send_controls: vec![sys::GsoControl::new(0); BATCH],
            send_transmits: Vec::with_capacity(BATCH),
            queued: 0,
            send_recycle: Vec::new(),
            recycling: Vec::new(),
        }
    }

    pub fn run(mut self, mut core: Core) {
        let mut session = Box::new(Session::unconfigured(0, core.faults));
        self.size_for(&session);
        loop {
            if !core.drain_commands(&mut session, &mut self) {
                return;
            }
            let sending = self.origin_sends(&mut core, &mut session);
            // An open-loop origin's next message may be due sooner than the socket's receive
            // timeout: wait for the socket exactly that long, then receive what is there.
            let due_in = session
                .endpoint
                .machine()
                .and_then(|m| m.poll_timeout())
                .map(|deadline| deadline.saturating_sub(session.clock.now()))
                .filter(|&ns| ns < super::RECV_POLL.as_nanos() as u64);
            let flags = if sending || core.poll == PollMode::Spin {
                libc::MSG_DONTWAIT
            } else if let Some(ns) = due_in {
                sys::wait_readable(core.socket.as_raw_fd(), std::time::Duration::from_nanos(ns));
                libc::MSG_DONTWAIT
            } else {
                // Block (up to the socket's receive timeout) for the first datagram only.
                libc::MSG_WAITFORONE
            };
            self.receive_batch(&mut core, &mut session, flags);
            session.after_iteration(&core);
        }
    }

    /// Room to track every receive slot of `session` (allocated at configure time).
    fn size_for(&mut self, session: &Session) {
        let slots = session.pool.count() as usize;
        self.send_recycle = Vec::with_capacity(slots);
        self.recycling = vec![false; slots];
    }

    /// Origin: writes and sends one batch of new messages if the window allows. Returns
    /// whether more are waiting to be sent.
    fn origin_sends(&mut self, core: &mut Core, session: &mut Session) -> bool {
        let Some(machine) = session.endpoint.machine() else {
            return false;
        };
        if !machine.may_send() {
            return false;
        }
        let now = session.clock.now();
        if !machine.wants_to_send(now) {
            return false;
        }
        let before = machine.counters().sent;
        let slots = (session.send_pool.count() as usize).min(BATCH);
        for slot in 0..slots as u16 {
            let buf = session.send_pool.payload(slot);
            if !session.endpoint.fill_send_slot(now, slot, buf) {
                break;
            }
        }
        self.flush(core, session);
        let Some(machine) = session.endpoint.machine() else {
            return false;
        };
        core.faults.stall_origin(before, machine.counters().sent);
        machine.wants_to_send(session.clock.now())
    }

    /// Queues what the endpoint has to send, sending each full batch. `reply` is the
    /// receive (index in the batch) whose source answers go to.
    fn transmit(&mut self, core: &mut Core, session: &mut Session, reply: Option<usize>) {
        if !session.endpoint.has_transmits() {
            return;
        }
        let now = session.clock.now();
        while let Some(t) = session.endpoint.poll_transmit(now, &mut session.pool) {
            let (name, name_len) = match t.destination {
                Destination::Next => (session.next.as_ptr().cast(), session.next.len()),
                Destination::Source => match reply {
                    Some(i) => (
                        (&self.recv_names[i] as *const libc::sockaddr_storage).cast(),
                        self.recv_hdrs[i].msg_hdr.msg_namelen,
                    ),
                    // Answers are polled right after their receive; nothing else has one.
                    None => continue,
                },
            };
            let data = match t.buffer {
                BufferId::Receive(bid) => {
                    if let Some(mark) = self.recycling.get_mut(usize::from(bid))
                        && !*mark
                    {
                        *mark = true;
                        self.send_recycle.push(bid);
                    }
                    session.pool.slot(bid)
                }
                BufferId::Send(slot) => session.send_pool.payload(slot),
                BufferId::Held => session.endpoint.hold_store().bytes_mut(),
            };
            let Some(data) = data.get_mut(t.offset..t.offset + t.len) else {
                continue;
            };
            // SAFETY: `data` lies in the session's pools or hold store and `name` in its address storage
            // or in `recv_names`; all of them stay in place, unchanged, until `send_all`
            // below or in `flush` has sent the batch (no receive and no command runs
            // before), and the receive slots sent from are only reused after that.
            unsafe { self.queue(t, data, name, name_len) };
            if self.queued == BATCH {
                self.send_all(core, session);
            }
        }
    }

    /// Queues one send of `data` to `name`: one datagram, or with the transmit's segment
    /// size a GSO send.
    ///
    /// # Safety
    ///
    /// `data` and the `name_len` bytes at `name` must stay valid and unmoved until the
    /// batch is sent by [`Syscall::send_all`]: the queued message keeps pointers to both.
    unsafe fn queue(
        &mut self,
        t: Transmit,
        data: &mut [u8],
        name: *const libc::c_void,
        name_len: libc::socklen_t,
    ) {
        let i = self.queued;
        self.send_iovs[i] = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let hdr = &mut self.send_hdrs[i].msg_hdr;
        hdr.msg_name = name.cast_mut();
        hdr.msg_namelen = name_len;
        hdr.msg_iov = &mut self.send_iovs[i];
        hdr.msg_iovlen = 1;
        match t.segment_size {
            Some(segment) => {
                self.send_controls[i] = sys::GsoControl::new(segment as u16);
                hdr.msg_control = self.send_controls[i].0.as_mut_ptr().cast();
                hdr.msg_controllen = sys::GSO_CONTROL_LEN;
            }
            None => {
                hdr.msg_control = std::ptr::null_mut();
                hdr.msg_controllen = 0;
            }
        }
        self.send_transmits.push(t);
        self.queued += 1;
    }

    /// Sends everything queued (sendmmsg copies the data) and tells the endpoint how each
    /// send went; a send that fails is reported and the rest go on.
    fn send_all(&mut self, core: &mut Core, session: &mut Session) {
        let n = std::mem::take(&mut self.queued);
        let mut done = 0;
        while done < n {
            // SAFETY: send_hdrs[done..n] were set up by `queue`, whose callers keep the
            // data and addresses they point at in place until this call has returned.
            let sent = unsafe {
                libc::sendmmsg(
                    core.socket.as_raw_fd(),
                    self.send_hdrs[done..n].as_mut_ptr(),
                    (n - done) as libc::c_uint,
                    0,
                )
            };
            if sent <= 0 {
                // The first of the rest failed; report it and go on.
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                session
                    .endpoint
                    .handle_send_result(&self.send_transmits[done], Err(errno));
                done += 1;
            } else {
                for t in &self.send_transmits[done..done + sent as usize] {
                    session.endpoint.handle_send_result(t, Ok(()));
                }
                done += sent as usize;
            }
        }
        self.send_transmits.clear();
    }

    /// Sends everything the endpoint has to send (including what it queues again after a
    /// refused GSO send), then gives the receive slots sent from back to the pool.
    fn flush(&mut self, core: &mut Core, session: &mut Session) {
        loop {
            self.transmit(core, session, None);
            if self.queued == 0 {
                break;
            }
            self.send_all(core, session);
        }
        for slot in self.send_recycle.drain(..) {
            if let Some(mark) = self.recycling.get_mut(usize::from(slot)) {
                *mark = false;
            }
            session.pool.put(slot);
        }
    }

    fn receive_batch(&mut self, core: &mut Core, session: &mut Session, flags: libc::c_int) {
        let room = session.pool.free_count().min(BATCH);
        if room == 0 {
            // Every buffer is held: cannot happen with count + 64 buffers, never spin on it.
            std::thread::sleep(super::RECV_POLL);
            return;
        }
        self.recv_slots.clear();
        for i in 0..room {
            let Some(slot) = session.pool.take() else {
                break;
            };
            self.recv_slots.push(slot);
            let buf = session.pool.payload(slot);
            self.recv_iovs[i] = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let hdr = &mut self.recv_hdrs[i].msg_hdr;
            hdr.msg_name = (&mut self.recv_names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.recv_iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = self.recv_controls[i].0.as_mut_ptr().cast();
            hdr.msg_controllen = sys::RX_CONTROL_LEN;
            hdr.msg_flags = 0;
        }
        let n = self.recv_slots.len();
        // SAFETY: recv_hdrs[..n] point at n iovecs into free pool slots, at n address buffers
        // and n control buffers of the sizes given; all live in self or the session beyond
        // this call.
        let got = unsafe {
            libc::recvmmsg(
                core.socket.as_raw_fd(),
                self.recv_hdrs.as_mut_ptr(),
                n as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        let got = if got < 0 {
            let err = std::io::Error::last_os_error();
            if !matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
            ) {
                session.endpoint.io_mut().recv_errors += 1;
            }
            0
        } else {
            got as usize
        };
        for i in 0..got {
            let slot = self.recv_slots[i];
            let hdr = &self.recv_hdrs[i];
            let name_len = (hdr.msg_hdr.msg_namelen as usize)
                .min(std::mem::size_of::<libc::sockaddr_storage>());
            let control_len = hdr.msg_hdr.msg_controllen.min(sys::RX_CONTROL_LEN);
            let control = &self.recv_controls[i].0[..control_len];
            let (now, kernel_stamp) = session.clock.arrival_ns(control);
            let rx = Receive {
                buffer: slot,
                offset: session.pool.payload_offset(),
                len: hdr.msg_len as usize,
                segment_size: sys::gro_segment_size(control),
                source: sys::sockaddr_storage_addr(&self.recv_names[i], name_len),
                now,
                kernel_stamp,
            };
            session.endpoint.handle_receive(rx, &mut session.pool);
            self.transmit(core, session, Some(i));
            // A slot sent from goes back after the flush; others go now.
            let recycling = self
                .recycling
                .get(usize::from(slot))
                .copied()
                .unwrap_or(false);
            if !recycling {
                session.pool.put(slot);
            }
        }
        for &slot in &self.recv_slots[got..] {
            session.pool.put(slot);
        }
        self.flush(core, session);
    }
}

impl BufferOwner for Syscall {
    fn replace_session(
        &mut self,
        _core: &mut Core,
        session: &mut Box<Session>,
        new: Box<Session>,
    ) -> Result<(), DataPlaneError> {
        // Nothing of the old session is in the kernel's hands between calls.
        *session = new;
        self.size_for(session);
        Ok(())
    }
}
