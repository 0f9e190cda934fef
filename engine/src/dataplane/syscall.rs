//! The syscall backend: `recvmmsg` and `sendmmsg` batches on the data-plane thread, over the
//! same buffer pool as the io_uring backend. Used where io_uring cannot start.

use std::mem::MaybeUninit;

use super::{BufferOwner, Core, DataPlaneError, Dest, Held, PollMode, Sends, Session, sys};

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
    /// Sends queued in `send_hdrs`.
    queued: usize,
    /// Receive slots to give back once the queued sends are out.
    send_recycle: Vec<u16>,
}

fn zeroed<T>() -> T {
    // SAFETY: only used for plain C structs (mmsghdr, iovec, sockaddr_storage), for which
    // all-zero bytes are a valid value.
    unsafe { MaybeUninit::<T>::zeroed().assume_init() }
}

impl Syscall {
    pub fn new() -> Syscall {
        Syscall {
            recv_hdrs: (0..BATCH).map(|_| zeroed()).collect(),
            recv_iovs: (0..BATCH).map(|_| zeroed()).collect(),
            recv_names: (0..BATCH).map(|_| zeroed()).collect(),
            recv_controls: vec![sys::ControlBuf::default(); BATCH],
            recv_slots: Vec::with_capacity(BATCH),
            send_hdrs: (0..BATCH).map(|_| zeroed()).collect(),
            send_iovs: (0..BATCH).map(|_| zeroed()).collect(),
            send_controls: vec![sys::GsoControl::new(0); BATCH],
            queued: 0,
            send_recycle: Vec::with_capacity(2 * BATCH),
        }
    }

    pub fn run(mut self, mut core: Core) {
        let mut session = Box::new(Session::unconfigured(0, core.faults));
        loop {
            if !core.drain_commands(&mut session, &mut self) {
                return;
            }
            let sending = self.origin_sends(&mut core, &mut session);
            // An open-loop origin's next message may be due sooner than the socket's receive
            // timeout: wait for the socket exactly that long, then receive what is there.
            let due_in = session
                .machine
                .as_ref()
                .and_then(|m| m.poll_timeout())
                .map(|deadline| deadline.saturating_sub(session.clock.now()))
                .filter(|&ns| ns < super::RECV_POLL.as_nanos() as u64);
            let flags = if sending || core.poll == PollMode::Spin {
                libc::MSG_DONTWAIT
            } else if let Some(ns) = due_in {
                sys::wait_readable(
                    std::os::fd::AsRawFd::as_raw_fd(&core.socket),
                    std::time::Duration::from_nanos(ns),
                );
                libc::MSG_DONTWAIT
            } else {
                // Block (up to the socket's receive timeout) for the first datagram only.
                libc::MSG_WAITFORONE
            };
            self.receive_batch(&mut core, &mut session, flags);
            if let Some(machine) = session.machine.as_mut() {
                machine.handle_timeout(session.clock.now());
            }
            session.publish_progress(&core.progress);
            session.notify_if_finished(&core.progress, &core.finished);
        }
    }

    /// Origin: sends one batch of new messages if the window allows. Returns whether more
    /// are waiting to be sent.
    fn origin_sends(&mut self, core: &mut Core, session: &mut Session) -> bool {
        let Some(machine) = session.machine.as_mut() else {
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
        let stride = session.datagram;
        let slots = (session.send_pool.count() as usize).min(BATCH);
        let (next, next_len) = (session.next.as_ptr().cast(), session.next.len());
        for slot in 0..slots as u16 {
            let Some(total) = session.fill_send_slot(now, slot) else {
                break;
            };
            let chunk = super::send_chunk(core, total, stride);
            let base = session.send_pool.payload(slot).as_mut_ptr();
            for (offset, len) in sys::segments(0, total, chunk) {
                // SAFETY: offset + len <= total, which fill_send_slot wrote into this slot.
                let ptr = unsafe { base.add(offset) };
                self.queue(core, stride, ptr, len, next, next_len);
            }
        }
        self.send_all(core, stride);
        let Some(machine) = session.machine.as_mut() else {
            return false;
        };
        core.faults.stall_origin(before, machine.counters().sent);
        machine.wants_to_send(session.clock.now())
    }

    /// Queues one send: one datagram, or when `len` exceeds `stride` a GSO send of
    /// datagrams `stride` bytes apart; sends the batch when it is full (receive slots sent
    /// from are then given back by the caller, see `Sends::send`). `ptr` and `name` must stay valid
    /// until then (they point into the session's pools and address storage, or into
    /// `recv_names`).
    fn queue(
        &mut self,
        core: &mut Core,
        stride: usize,
        ptr: *mut u8,
        len: usize,
        name: *const libc::c_void,
        name_len: libc::socklen_t,
    ) {
        let i = self.queued;
        self.send_iovs[i] = libc::iovec {
            iov_base: ptr.cast(),
            iov_len: len,
        };
        let hdr = &mut self.send_hdrs[i].msg_hdr;
        hdr.msg_name = name.cast_mut();
        hdr.msg_namelen = name_len;
        hdr.msg_iov = &mut self.send_iovs[i];
        hdr.msg_iovlen = 1;
        if len > stride {
            self.send_controls[i] = sys::GsoControl::new(stride as u16);
            hdr.msg_control = self.send_controls[i].0.as_mut_ptr().cast();
            hdr.msg_controllen = sys::GSO_CONTROL_LEN;
        } else {
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
        }
        self.queued += 1;
        if self.queued == BATCH {
            self.send_all(core, stride);
        }
    }

    /// Sends everything queued (sendmmsg copies the data). A send the kernel refuses for
    /// GSO is sent again one datagram (`stride` bytes) at a time.
    fn send_all(&mut self, core: &mut Core, stride: usize) {
        let n = std::mem::take(&mut self.queued);
        let mut done = 0;
        while done < n {
            // SAFETY: send_hdrs[done..n] were set up by `queue` with iovecs and names that
            // point into the session's pools and address storage or into `recv_names`,
            // which outlive this call.
            let sent = unsafe {
                libc::sendmmsg(
                    std::os::fd::AsRawFd::as_raw_fd(&core.socket),
                    self.send_hdrs[done..n].as_mut_ptr(),
                    (n - done) as libc::c_uint,
                    0,
                )
            };
            if sent <= 0 {
                // The first datagram of the rest failed; deal with it and go on.
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                self.failed(core, done, errno, stride);
                done += 1;
            } else {
                let sent = sent as usize;
                core.io.gso_sends += self.send_iovs[done..done + sent]
                    .iter()
                    .filter(|iov| iov.iov_len > stride)
                    .count() as u64;
                done += sent;
            }
        }
    }

    /// Queued send `i` failed with `errno`: when the kernel refused GSO, its datagrams go
    /// again one by one; otherwise they are counted as lost sends.
    fn failed(&mut self, core: &mut Core, i: usize, errno: i32, stride: usize) {
        let iov = self.send_iovs[i];
        let datagrams = iov.iov_len.div_ceil(stride.max(1)).max(1) as u64;
        if !super::gso_refusal(errno, iov.iov_len, stride) {
            core.io.send_failed_n(errno, datagrams);
            return;
        }
        core.refuse_gso(errno);
        let hdr = self.send_hdrs[i].msg_hdr;
        for (offset, len) in sys::segments(0, iov.iov_len, stride) {
            // Plain sends: no control message.
            // SAFETY: the iovec and name are those of a queued send (see send_all);
            // offset + len <= iov_len.
            let rc = unsafe {
                libc::sendto(
                    std::os::fd::AsRawFd::as_raw_fd(&core.socket),
                    iov.iov_base.cast::<u8>().add(offset).cast(),
                    len,
                    0,
                    hdr.msg_name.cast(),
                    hdr.msg_namelen,
                )
            };
            if rc < 0 {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                core.io.send_failed(errno);
            }
        }
    }

    /// Sends what is queued and gives the receive slots sent from back to the pool.
    fn flush(&mut self, core: &mut Core, session: &mut Session) {
        self.send_all(core, session.datagram);
        for slot in self.send_recycle.drain(..) {
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
                std::os::fd::AsRawFd::as_raw_fd(&core.socket),
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
                core.io.recv_errors += 1;
            }
            0
        } else {
            got as usize
        };
        for i in 0..got {
            let slot = self.recv_slots[i];
            let len = self.recv_hdrs[i].msg_len as usize;
            let name_len = (self.recv_hdrs[i].msg_hdr.msg_namelen as usize)
                .min(std::mem::size_of::<libc::sockaddr_storage>());
            let name_ptr = (&self.recv_names[i] as *const libc::sockaddr_storage).cast::<u8>();
            // SAFETY: recv_names[i] is a live sockaddr_storage; the kernel wrote name_len
            // (at most its size) bytes of it.
            let name = unsafe { std::slice::from_raw_parts(name_ptr, name_len) };
            let source = sys::socket_addr(name);
            let control_len = self.recv_hdrs[i]
                .msg_hdr
                .msg_controllen
                .min(sys::RX_CONTROL_LEN);
            let control = &self.recv_controls[i].0[..control_len];
            let segment = sys::gro_segment_size(control);
            let now = session.clock.arrival_ns(control, &mut core.io);
            let received = super::Received {
                bid: slot,
                offset: session.pool.payload_offset(),
                len,
                segment,
                source,
                reply: Dest::Reply(name_ptr.cast(), name_len as libc::socklen_t),
                now,
            };
            let held = super::receive(core, session, self, received);
            // A slot sent from goes back after the flush; one held stays; others go now.
            if !held && self.send_recycle.last() != Some(&slot) {
                session.pool.put(slot);
            }
        }
        for &slot in &self.recv_slots[got..] {
            session.pool.put(slot);
        }
        self.flush(core, session);
    }
}

impl Sends for Syscall {
    fn send(
        &mut self,
        core: &mut Core,
        session: &mut Session,
        bid: u16,
        offset: usize,
        len: usize,
        dest: Dest,
    ) {
        let (name, name_len) = match dest {
            Dest::Next => (session.next.as_ptr().cast(), session.next.len()),
            Dest::Reply(name, len) => (name.cast(), len),
        };
        if self.send_recycle.last() != Some(&bid) {
            self.send_recycle.push(bid);
        }
        let ptr = session.pool.slot(bid)[offset..].as_mut_ptr();
        self.queue(core, session.datagram, ptr, len, name, name_len);
        if self.queued == 0 && self.send_recycle.len() > 1 {
            // The batch went out: its buffers are free again, except this one, whose
            // datagrams may not all be queued yet.
            let current = self.send_recycle.pop();
            for slot in self.send_recycle.drain(..) {
                session.pool.put(slot);
            }
            self.send_recycle.extend(current);
        }
    }
}

impl BufferOwner for Syscall {
    fn release(&mut self, session: &mut Session, held: &[Held]) {
        for h in held {
            session.pool.put(h.bid);
        }
    }

    fn replace_session(
        &mut self,
        _core: &mut Core,
        session: &mut Box<Session>,
        new: Box<Session>,
    ) -> Result<(), DataPlaneError> {
        // Nothing of the old session is in the kernel's hands between calls.
        *session = new;
        Ok(())
    }
}
