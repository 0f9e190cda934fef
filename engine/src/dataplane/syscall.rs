//! The syscall backend: `recvmmsg` and `sendmmsg` batches on the data-plane thread, over the
//! same buffer pool as the io_uring backend. Used where io_uring cannot start.

use std::mem::MaybeUninit;

use super::{BufferOwner, Core, DataPlaneError, Held, PollMode, Session, sys};
use crate::tour::Verdict;

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
            send_recycle: Vec::with_capacity(BATCH),
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
        let mut n = 0;
        let slots = (session.send_pool.count() as usize).min(BATCH);
        while n < slots {
            let buf = session.send_pool.payload(n as u16);
            let Some(len) = machine.poll_send(now, buf) else {
                break;
            };
            self.send_iovs[n] = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: len,
            };
            self.point_send(n, session.next.as_ptr().cast(), session.next.len());
            n += 1;
        }
        self.send_all(core, n);
        core.faults.stall_origin(before, machine.counters().sent);
        machine.wants_to_send(session.clock.now())
    }

    fn point_send(&mut self, i: usize, name: *const libc::c_void, name_len: libc::socklen_t) {
        let hdr = &mut self.send_hdrs[i].msg_hdr;
        hdr.msg_name = name.cast_mut();
        hdr.msg_namelen = name_len;
        hdr.msg_iov = &mut self.send_iovs[i];
        hdr.msg_iovlen = 1;
        hdr.msg_control = std::ptr::null_mut();
        hdr.msg_controllen = 0;
    }

    /// Sends the first `n` queued datagrams (sendmmsg copies them) and recycles their
    /// receive buffers.
    fn send_all(&mut self, core: &mut Core, n: usize) {
        let mut done = 0;
        while done < n {
            // SAFETY: send_hdrs[done..n] were set up by point_send with iovecs and names that
            // point into the session's pool and address storage, which outlive this call.
            let sent = unsafe {
                libc::sendmmsg(
                    std::os::fd::AsRawFd::as_raw_fd(&core.socket),
                    self.send_hdrs[done..n].as_mut_ptr(),
                    (n - done) as libc::c_uint,
                    0,
                )
            };
            if sent <= 0 {
                // The first datagram of the rest failed; count it and go on with the others.
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                core.io.send_failed(errno);
                done += 1;
            } else {
                done += sent as usize;
            }
        }
    }

    fn flush_forwards(&mut self, core: &mut Core, session: &mut Session, n: usize) {
        self.send_all(core, n);
        for slot in self.send_recycle.drain(..) {
            session.pool.put(slot);
        }
    }

    /// Queues a datagram lying in receive slot `slot` for sending; sends the batch when full.
    #[allow(clippy::too_many_arguments)]
    fn queue_forward(
        &mut self,
        core: &mut Core,
        session: &mut Session,
        queued: &mut usize,
        slot: u16,
        len: usize,
        name: *const libc::c_void,
        name_len: libc::socklen_t,
    ) {
        let buf = session.pool.payload(slot);
        self.send_iovs[*queued] = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        self.point_send(*queued, name, name_len);
        self.send_recycle.push(slot);
        *queued += 1;
        if *queued == BATCH {
            self.flush_forwards(core, session, *queued);
            *queued = 0;
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
        let mut queued = 0;
        for i in 0..got {
            let slot = self.recv_slots[i];
            let len = self.recv_hdrs[i].msg_len as usize;
            let name_len = self.recv_hdrs[i].msg_hdr.msg_namelen as usize;
            let name_ptr = (&self.recv_names[i] as *const libc::sockaddr_storage).cast::<u8>();
            // SAFETY: recv_names[i] is a live sockaddr_storage; the kernel wrote name_len
            // (at most its size) bytes of it.
            let name = unsafe {
                std::slice::from_raw_parts(
                    name_ptr,
                    name_len.min(std::mem::size_of::<libc::sockaddr_storage>()),
                )
            };
            let source = sys::socket_addr(name);
            let control_len = self.recv_hdrs[i]
                .msg_hdr
                .msg_controllen
                .min(sys::RX_CONTROL_LEN);
            let now = session
                .clock
                .arrival_ns(&self.recv_controls[i].0[..control_len], &mut core.io);
            let offset = session.pool.payload_offset();
            let verdict = session.admit(now, slot, offset, len, source, &mut core.io, &core.faults);
            match verdict {
                Some(Verdict::Forward) => {
                    session.stamp_send(slot, offset, len);
                    let (next, next_len) = (session.next.as_ptr().cast(), session.next.len());
                    self.queue_forward(core, session, &mut queued, slot, len, next, next_len);
                }
                Some(Verdict::EchoReply) => {
                    core.io.echoes += 1;
                    self.queue_forward(
                        core,
                        session,
                        &mut queued,
                        slot,
                        len,
                        name_ptr.cast(),
                        name_len as libc::socklen_t,
                    );
                }
                Some(Verdict::Hold) => session.held.push(Held {
                    bid: slot,
                    offset: session.pool.payload_offset() as u32,
                    len: len as u32,
                }),
                Some(Verdict::FlushHeld) => {
                    session.held.push(Held {
                        bid: slot,
                        offset: session.pool.payload_offset() as u32,
                        len: len as u32,
                    });
                    let (next, next_len) = (session.next.as_ptr().cast(), session.next.len());
                    for h in 0..session.held.len() {
                        let Held { bid, offset, len } = session.held[h];
                        session.stamp_send(bid, offset as usize, len as usize);
                        self.queue_forward(
                            core,
                            session,
                            &mut queued,
                            bid,
                            len as usize,
                            next,
                            next_len,
                        );
                    }
                    session.held.clear();
                }
                Some(Verdict::Arrived | Verdict::Dropped(_)) | None => session.pool.put(slot),
            }
        }
        for &slot in &self.recv_slots[got..] {
            session.pool.put(slot);
        }
        self.flush_forwards(core, session, queued);
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
