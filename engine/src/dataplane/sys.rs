//! The few raw system calls the backends need beyond what socket2 and io-uring wrap.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use socket2::Socket;

/// Reads the system-wide monotonic clock (the same clock for every process on a host).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Reads the wall clock (`CLOCK_REALTIME`), the clock kernel receive timestamps are in.
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// CPU time the calling thread used so far (`CLOCK_THREAD_CPUTIME_ID`), ns.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Times the calling thread was preempted so far: involuntary context switches
/// (`getrusage(RUSAGE_THREAD)`'s `ru_nivcsw`), 0 if the kernel does not say.
pub fn thread_preemptions() -> u64 {
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_THREAD reads the caller's own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    if rc == 0 {
        u64::try_from(usage.ru_nivcsw).unwrap_or(0)
    } else {
        0
    }
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clocks used here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CMSG_SPACE(len)`: the room one control message with `len` bytes of data takes.
const fn cmsg_space(len: usize) -> usize {
    // SAFETY: CMSG_SPACE is arithmetic on its argument; it reads no memory.
    (unsafe { libc::CMSG_SPACE(len as libc::c_uint) }) as usize
}

/// `CMSG_LEN(len)`: the `cmsg_len` of a control message with `len` bytes of data.
const fn cmsg_len(len: usize) -> usize {
    // SAFETY: CMSG_LEN is arithmetic on its argument; it reads no memory.
    (unsafe { libc::CMSG_LEN(len as libc::c_uint) }) as usize
}

/// Room for the control data of one receive: one `SCM_TIMESTAMPING` message (three
/// timespecs) and one `UDP_GRO` message (an int), with room to spare.
pub const RX_CONTROL_LEN: usize = cmsg_space(3 * std::mem::size_of::<libc::timespec>())
    + cmsg_space(std::mem::size_of::<libc::c_int>())
    + 8;

/// `UDP_SEGMENT` (linux/udp.h; not exported by libc for glibc targets): the segment size
/// of UDP GSO, as a socket option or per send.
const UDP_SEGMENT: libc::c_int = 103;
/// `UDP_GRO` (linux/udp.h): deliver coalesced datagrams as one, with their segment size in
/// a control message of the same name.
const UDP_GRO: libc::c_int = 104;
/// `SO_NO_CHECK` (asm-generic/socket.h): send without UDP checksums, with which the
/// kernel refuses every GSO send (EINVAL); used only to inject that refusal in tests.
const SO_NO_CHECK: libc::c_int = 11;

/// Control-data room for one receive, aligned as `cmsghdr` needs.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct ControlBuf(pub [u8; RX_CONTROL_LEN]);

impl Default for ControlBuf {
    fn default() -> ControlBuf {
        ControlBuf([0; RX_CONTROL_LEN])
    }
}

/// Asks the kernel to timestamp every datagram this socket receives, in software, and to
/// hand the timestamp over with the datagram (`SO_TIMESTAMPING`, read back with
/// [`kernel_rx_ns`]). False when the kernel refuses.
pub fn enable_rx_timestamps(fd: libc::c_int) -> bool {
    let flags =
        (libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE) as libc::c_int;
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags).is_ok()
}

/// The data of the first control message of `level`/`kind` in the control data the kernel
/// wrote for one receive. Reads the bytes as the kernel lays them out (`cmsghdr`: length
/// as usize, level, type, then data, each message 8-byte aligned) and never trusts a
/// length beyond the buffer: a length that lies ends the search with `None`.
pub(crate) fn find_cmsg(control: &[u8], level: libc::c_int, kind: libc::c_int) -> Option<&[u8]> {
    const HDR: usize = cmsg_len(0);
    const LEN: usize = std::mem::offset_of!(libc::cmsghdr, cmsg_len);
    const LEVEL: usize = std::mem::offset_of!(libc::cmsghdr, cmsg_level);
    const TYPE: usize = std::mem::offset_of!(libc::cmsghdr, cmsg_type);
    let mut at = 0;
    while at + HDR <= control.len() {
        let len = usize::from_ne_bytes(control.get(at + LEN..at + LEN + 8)?.try_into().ok()?);
        let found_level =
            i32::from_ne_bytes(control.get(at + LEVEL..at + LEVEL + 4)?.try_into().ok()?);
        let found_kind =
            i32::from_ne_bytes(control.get(at + TYPE..at + TYPE + 4)?.try_into().ok()?);
        let end = at.checked_add(len)?;
        if len < HDR || end > control.len() {
            return None;
        }
        if found_level == level && found_kind == kind {
            return control.get(at + HDR..end);
        }
        at = at.checked_add(cmsg_space(len - HDR))?;
    }
    None
}

/// The software receive timestamp (`CLOCK_REALTIME` ns) in the control data the kernel
/// wrote for one datagram, if there is one.
pub fn kernel_rx_ns(control: &[u8]) -> Option<u64> {
    // ts[0], the software timestamp: seconds and nanoseconds as two i64.
    let data = find_cmsg(control, libc::SOL_SOCKET, libc::SCM_TIMESTAMPING)?;
    let sec = i64::from_ne_bytes(data.get(0..8)?.try_into().ok()?);
    let nsec = i64::from_ne_bytes(data.get(8..16)?.try_into().ok()?);
    if sec <= 0 && nsec <= 0 {
        return None;
    }
    Some(
        (sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(nsec as u64),
    )
}

/// The segment size of a receive that GRO coalesced from several datagrams (`UDP_GRO`
/// control message): the received bytes are datagrams of this size, the last one possibly
/// shorter. `None` for a single datagram.
pub fn gro_segment_size(control: &[u8]) -> Option<usize> {
    let data = find_cmsg(control, libc::SOL_UDP, UDP_GRO)?;
    let size = i32::from_ne_bytes(data.get(0..4)?.try_into().ok()?);
    usize::try_from(size).ok().filter(|&s| s > 0)
}

/// The control data of one GSO send: a `UDP_SEGMENT` control message with a u16. The
/// send's bytes leave as datagrams of `segment` bytes, the last one possibly shorter.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct GsoControl(pub [u8; GSO_CONTROL_LEN]);

/// Length of [`GsoControl`]: `CMSG_SPACE(2)`.
pub const GSO_CONTROL_LEN: usize = cmsg_space(2);

impl GsoControl {
    pub fn new(segment: u16) -> GsoControl {
        let mut out = [0u8; GSO_CONTROL_LEN];
        let header = CmsgHeader {
            len: cmsg_len(2),
            level: libc::SOL_UDP,
            kind: UDP_SEGMENT,
        };
        let data = header.write(&mut out);
        data[..2].copy_from_slice(&segment.to_ne_bytes());
        GsoControl(out)
    }
}

/// A `cmsghdr`, written field by field at the offsets of the C struct.
struct CmsgHeader {
    /// `cmsg_len`: `CMSG_LEN` of the data.
    len: usize,
    level: libc::c_int,
    kind: libc::c_int,
}

impl CmsgHeader {
    /// Writes the header at the start of `out` (aligned as `cmsghdr` needs) and returns
    /// the room after it for the data.
    fn write(self, out: &mut [u8]) -> &mut [u8] {
        const LEN: usize = std::mem::offset_of!(libc::cmsghdr, cmsg_len);
        const LEVEL: usize = std::mem::offset_of!(libc::cmsghdr, cmsg_level);
        const TYPE: usize = std::mem::offset_of!(libc::cmsghdr, cmsg_type);
        out[LEN..LEN + std::mem::size_of::<usize>()].copy_from_slice(&self.len.to_ne_bytes());
        out[LEVEL..LEVEL + 4].copy_from_slice(&self.level.to_ne_bytes());
        out[TYPE..TYPE + 4].copy_from_slice(&self.kind.to_ne_bytes());
        &mut out[cmsg_len(0)..]
    }
}

/// An empty `msghdr`: no name, no data, no control.
pub fn empty_msghdr() -> libc::msghdr {
    libc::msghdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: std::ptr::null_mut(),
        msg_iovlen: 0,
        msg_control: std::ptr::null_mut(),
        msg_controllen: 0,
        msg_flags: 0,
    }
}

/// An empty `mmsghdr` for `recvmmsg`/`sendmmsg`.
pub fn empty_mmsghdr() -> libc::mmsghdr {
    libc::mmsghdr {
        msg_hdr: empty_msghdr(),
        msg_len: 0,
    }
}

/// An empty `iovec`.
pub fn empty_iovec() -> libc::iovec {
    libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }
}

/// A zeroed `sockaddr_storage` for the kernel to write a source address into.
pub fn empty_sockaddr_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain bytes (a family and padding); all-zero is a valid
    // value (AF_UNSPEC).
    unsafe { std::mem::zeroed() }
}

/// The socket address in the first `len` bytes of `storage` (as the kernel wrote it).
pub fn sockaddr_storage_addr(storage: &libc::sockaddr_storage, len: usize) -> Option<SocketAddr> {
    let len = len.min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `storage` is a live, initialised sockaddr_storage of at least `len` bytes;
    // the slice borrows it for no longer than `storage` itself.
    let bytes = unsafe {
        std::slice::from_raw_parts((storage as *const libc::sockaddr_storage).cast::<u8>(), len)
    };
    socket_addr(bytes)
}

/// Sets the socket's UDP GSO segment size (`UDP_SEGMENT`; 0 turns it off): from then on
/// one send of more than `size` bytes leaves as datagrams of `size` bytes, the last one
/// possibly shorter, and a send of at most `size` bytes as one datagram. (Members give the
/// segment size with each send instead, [`GsoControl`]; this probes whether the kernel
/// has GSO.)
pub fn set_udp_segment(socket: &Socket, size: usize) -> io::Result<()> {
    let size = libc::c_int::try_from(size).map_err(|_| io::Error::other("segment too large"))?;
    setsockopt_int(socket.as_raw_fd(), libc::SOL_UDP, UDP_SEGMENT, size)
}

/// Turns UDP GRO on or off for the socket (`UDP_GRO`).
pub fn set_udp_gro(socket: &Socket, on: bool) -> io::Result<()> {
    setsockopt_int(
        socket.as_raw_fd(),
        libc::SOL_UDP,
        UDP_GRO,
        libc::c_int::from(on),
    )
}

/// Sends without UDP checksums (`SO_NO_CHECK`), with which the kernel refuses GSO sends
/// (EINVAL): the fault that tests the fallback to plain sends.
pub fn refuse_gso(socket: &Socket) -> io::Result<()> {
    setsockopt_int(socket.as_raw_fd(), libc::SOL_SOCKET, SO_NO_CHECK, 1)
}

/// Receives one datagram into `buf` (blocking up to the socket's receive timeout) with its
/// kernel receive timestamp (`CLOCK_REALTIME` ns) if the socket has them enabled.
pub fn recv_stamped(fd: libc::c_int, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    let (n, control, control_len) = recv_with_control(fd, buf)?;
    Ok((n, kernel_rx_ns(&control.0[..control_len])))
}

/// Receives one datagram (or one GRO-coalesced run of them) into `buf` with the control
/// data the kernel wrote: bytes received, the control buffer and its used length.
pub fn recv_with_control(
    fd: libc::c_int,
    buf: &mut [u8],
) -> io::Result<(usize, ControlBuf, usize)> {
    let mut control = ControlBuf::default();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg = empty_msghdr();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = RX_CONTROL_LEN;
    // SAFETY: `msg` describes the live buffers above; the kernel writes within their sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let control_len = msg.msg_controllen.min(RX_CONTROL_LEN);
    Ok((n as usize, control, control_len))
}

/// Waits up to `wait` for `fd` to become readable (`ppoll`, ns resolution).
pub fn wait_readable(fd: libc::c_int, wait: std::time::Duration) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: wait.as_secs() as libc::time_t,
        tv_nsec: wait.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one live pollfd and a live timespec; no signal mask. A failure (EINTR) only
    // ends the wait early, which the caller's loop tolerates.
    unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
}

/// Makes the calling thread's timed waits end as close to their deadline as the kernel
/// can (`PR_SET_TIMERSLACK` 1 ns instead of the default 50 µs): an open-loop origin sends
/// on a schedule.
pub fn tight_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer; it only affects this thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// Sets Don't-Fragment on a UDP socket (`IP_PMTUDISC_DO`, and for IPv6 sockets
/// `IPV6_PMTUDISC_DO` too): a datagram larger than the route's MTU fails with EMSGSIZE.
pub fn set_dont_fragment(socket: &Socket) -> io::Result<()> {
    match socket.domain()? {
        socket2::Domain::IPV6 => setsockopt_int(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DO,
        ),
        _ => setsockopt_int(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DO,
        ),
    }
}

/// Sets an integer socket option.
fn setsockopt_int(
    fd: libc::c_int,
    level: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` is a live socket of the caller's; the value points at a c_int that
    // outlives the call, and its size is passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
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

/// Cores online on this host (`_SC_NPROCESSORS_ONLN`), whatever the caller's affinity.
pub fn online_cpus() -> usize {
    // SAFETY: sysconf takes no pointers; a negative answer means unknown.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Datagrams the kernel dropped on this socket since it was created (`SO_MEMINFO`'s
/// `SK_MEMINFO_DROPS`: receive buffer full, or memory refused).
pub fn socket_drops(fd: libc::c_int) -> Option<u64> {
    /// `SO_MEMINFO` in Linux's asm-generic socket options (not exported by libc).
    const SO_MEMINFO: libc::c_int = 55;
    let mut info = [0u32; 9];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: the fd is a live socket; `info` and `len` are live and `len` holds the size of
    // `info`, which the kernel fills up to.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (rc == 0).then(|| u64::from(info[libc::SK_MEMINFO_DROPS as usize]))
}

/// The MTU of the route to `peer` (`IP_MTU`/`IPV6_MTU` on a socket connected to it; no
/// datagram is sent).
pub fn path_mtu(peer: std::net::SocketAddr) -> io::Result<u32> {
    let bind: std::net::SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = std::net::UdpSocket::bind(bind)?;
    socket.connect(peer)?;
    let (level, option) = if peer.is_ipv4() {
        (libc::IPPROTO_IP, libc::IP_MTU)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_MTU)
    };
    let mut mtu: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the fd is a live connected socket; `mtu` and `len` are live and `len` holds
    // the size of `mtu`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            option,
            (&mut mtu as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(mtu).map_err(|_| io::Error::other("negative MTU"))
}

/// Sets `SO_RCVBUFFORCE`/`SO_SNDBUFFORCE` (needs CAP_NET_ADMIN).
pub fn set_buffer_force(socket: &Socket, option: libc::c_int, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    setsockopt_int(socket.as_raw_fd(), libc::SOL_SOCKET, option, value)
}

/// A non-blocking eventfd the control plane writes to wake the data-plane thread.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a negative return is an error.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to the eventfd's counter, waking a reader.
pub fn wake(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an eventfd we own; a failure (counter
    // saturated) still leaves it readable, which is all a wake-up needs.
    unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

/// Bytes waiting in a socket's receive queue (`FIONREAD`: for UDP, the next datagram's
/// length); 0 when none, or when the kernel does not say.
pub fn queued_bytes(fd: libc::c_int) -> usize {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into the live `queued`; the fd is a live socket.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
    if rc == 0 {
        usize::try_from(queued).unwrap_or(0)
    } else {
        0
    }
}

/// Empties the eventfd's counter.
pub fn drain_eventfd(fd: libc::c_int) {
    let mut value: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64; the fd is non-blocking.
    unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
}

/// Reads an IPv4 or IPv6 socket address the kernel wrote as raw bytes.
pub fn socket_addr(raw: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*raw.first()?, *raw.get(1)?]);
    let port = u16::from_be_bytes([*raw.get(2)?, *raw.get(3)?]);
    match libc::c_int::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = raw.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_be_bytes(raw.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = raw.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(raw.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use socket2::SockAddr;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("STILLEPOST_FUZZ_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2000)
        ))]

        /// Control data as the kernel writes it is untrusted input too: any bytes, and
        /// control messages with any lengths, levels and types, are read without panicking
        /// and without reading past the buffer.
        #[test]
        fn control_data_of_any_shape_is_read_safely(
            messages in proptest::collection::vec(
                (any::<u64>(), prop_oneof![Just(libc::SOL_SOCKET), any::<i32>()],
                 prop_oneof![Just(libc::SCM_TIMESTAMPING), any::<i32>()],
                 proptest::collection::vec(any::<u8>(), 0..64)),
                0..6,
            ),
            tail in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut control = Vec::new();
            for (len, level, kind, data) in messages {
                control.extend_from_slice(&(len as usize).to_ne_bytes());
                control.extend_from_slice(&level.to_ne_bytes());
                control.extend_from_slice(&kind.to_ne_bytes());
                control.extend_from_slice(&data);
            }
            control.extend_from_slice(&tail);
            let _ = kernel_rx_ns(&control);
            let _ = find_cmsg(&control, libc::SOL_SOCKET, libc::SCM_TIMESTAMPING);
            if let Some(data) = find_cmsg(&control, libc::SOL_UDP, libc::UDP_GRO) {
                prop_assert!(data.len() <= control.len());
            }
        }
    }

    #[test]
    fn reads_kernel_socket_addresses() {
        for addr in ["127.0.0.1:7101", "[::1]:7102", "10.1.2.3:65535"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let raw = SockAddr::from(addr);
            // SAFETY: `as_ptr` points at `len` initialised bytes of the sockaddr.
            let bytes = unsafe {
                std::slice::from_raw_parts(raw.as_ptr().cast::<u8>(), raw.len() as usize)
            };
            assert_eq!(socket_addr(bytes), Some(addr));
        }
        assert_eq!(socket_addr(&[0, 0]), None);
    }

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let len = 16 + data.len();
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(data);
        out.resize(len.next_multiple_of(8), 0);
        out
    }

    #[test]
    fn reads_the_software_receive_timestamp() {
        let mut ts = Vec::new();
        for v in [12i64, 345, 0, 0, 0, 0] {
            ts.extend_from_slice(&v.to_ne_bytes());
        }
        let stamping = cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPING, &ts);
        assert_eq!(kernel_rx_ns(&stamping), Some(12_000_000_345));
        // After another control message, too.
        let mut both = cmsg(libc::SOL_IP, libc::IP_TTL, &[64, 0, 0, 0]);
        both.extend_from_slice(&stamping);
        assert_eq!(kernel_rx_ns(&both), Some(12_000_000_345));
        // No timestamp, an empty one, or lengths that lie.
        assert_eq!(kernel_rx_ns(&[]), None);
        assert_eq!(
            kernel_rx_ns(&cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPING, &[0; 48])),
            None
        );
        let mut lying = stamping.clone();
        lying[..8].copy_from_slice(&4096usize.to_ne_bytes());
        assert_eq!(kernel_rx_ns(&lying), None);
        assert_eq!(kernel_rx_ns(&stamping[..20]), None);
    }

    #[test]
    fn reads_the_gro_segment_size() {
        let gro = cmsg(libc::SOL_UDP, UDP_GRO, &1472i32.to_ne_bytes());
        assert_eq!(gro_segment_size(&gro), Some(1472));
        // Next to a timestamp, in either order; the timestamp is still found.
        let mut ts = Vec::new();
        for v in [12i64, 345, 0, 0, 0, 0] {
            ts.extend_from_slice(&v.to_ne_bytes());
        }
        let mut both = cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPING, &ts);
        both.extend_from_slice(&gro);
        assert!(both.len() <= RX_CONTROL_LEN);
        assert_eq!(gro_segment_size(&both), Some(1472));
        assert_eq!(kernel_rx_ns(&both), Some(12_000_000_345));
        // None without one, with a size of 0 or below, or with a length that lies.
        assert_eq!(gro_segment_size(&both[..64]), None);
        assert_eq!(
            gro_segment_size(&cmsg(libc::SOL_UDP, UDP_GRO, &0i32.to_ne_bytes())),
            None
        );
        assert_eq!(
            gro_segment_size(&cmsg(libc::SOL_UDP, UDP_GRO, &(-5i32).to_ne_bytes())),
            None
        );
        let mut lying = gro.clone();
        lying[..8].copy_from_slice(&4096usize.to_ne_bytes());
        assert_eq!(gro_segment_size(&lying), None);
        assert_eq!(
            gro_segment_size(&cmsg(libc::SOL_UDP, UDP_GRO, &[1, 2])),
            None
        );
    }

    /// Three datagrams in one GSO send: a GRO socket gets them as one receive with the
    /// segment size; a plain socket gets three datagrams; a send of more segments than
    /// the kernel takes fails with EINVAL.
    #[test]
    fn gso_sends_segments_and_gro_receives_them_whole() {
        let tx = Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        tx.bind(&SockAddr::from(
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        ))
        .unwrap();
        set_udp_segment(&tx, 1000).unwrap();
        let message: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        let timeout = Some(std::time::Duration::from_secs(5));

        let gro = Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        gro.bind(&SockAddr::from(
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        ))
        .unwrap();
        gro.set_read_timeout(timeout).unwrap();
        set_udp_gro(&gro, true).unwrap();
        tx.send_to(&message, &gro.local_addr().unwrap()).unwrap();
        let mut buf = vec![0u8; 65_536];
        let (n, control, control_len) = recv_with_control(gro.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(n, 2500);
        assert_eq!(&buf[..n], &message[..]);
        assert_eq!(gro_segment_size(&control.0[..control_len]), Some(1000));

        let plain = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        plain.set_read_timeout(timeout).unwrap();
        tx.send_to(&message, &SockAddr::from(plain.local_addr().unwrap()))
            .unwrap();
        for (offset, len) in crate::endpoint::segments(0, 2500, 1000) {
            let (n, control, control_len) = recv_with_control(plain.as_raw_fd(), &mut buf).unwrap();
            assert_eq!(&buf[..n], &message[offset..offset + len]);
            assert_eq!(gro_segment_size(&control.0[..control_len]), None);
        }

        let to_plain = SockAddr::from(plain.local_addr().unwrap());
        // The segment size given with the send instead of on the socket.
        set_udp_segment(&tx, 0).unwrap();
        send_gso(&tx, &message, 1000, &to_plain).unwrap();
        for (offset, len) in crate::endpoint::segments(0, 2500, 1000) {
            let n = plain.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &message[offset..offset + len]);
        }
        // 200 segments: beyond UDP_MAX_SEGMENTS (64, or 128 since Linux 6.9).
        set_udp_segment(&tx, 10).unwrap();
        let err = tx.send_to(&message[..2000], &to_plain).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        // Without checksums the kernel refuses every send while a segment size is set,
        // until it is cleared.
        set_udp_segment(&tx, 1000).unwrap();
        refuse_gso(&tx).unwrap();
        for len in [2500, 1000] {
            let err = tx.send_to(&message[..len], &to_plain).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        }
        set_udp_segment(&tx, 0).unwrap();
        tx.send_to(&message[..1000], &to_plain).unwrap();
        assert_eq!(plain.recv(&mut buf).unwrap(), 1000);
        // With the segment size per send, only the GSO sends are refused.
        let err = send_gso(&tx, &message, 1000, &to_plain).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        tx.send_to(&message[..1000], &to_plain).unwrap();
        assert_eq!(plain.recv(&mut buf).unwrap(), 1000);
    }

    fn send_gso(tx: &Socket, data: &[u8], segment: u16, to: &SockAddr) -> io::Result<usize> {
        let mut control = GsoControl::new(segment);
        let mut iov = libc::iovec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: data.len(),
        };
        // SAFETY: all-zero is a valid msghdr; the pointers set below point at live values
        // of the sizes given, which outlive the call.
        let mut msg = empty_msghdr();
        msg.msg_name = to.as_ptr().cast_mut().cast();
        msg.msg_namelen = to.len();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = GSO_CONTROL_LEN;
        // SAFETY: `msg` describes the live buffers above.
        let n = unsafe { libc::sendmsg(tx.as_raw_fd(), &msg, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    #[test]
    fn path_mtu_of_loopback_is_the_loopback_mtu() {
        let lo: u32 = std::fs::read_to_string("/sys/class/net/lo/mtu")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // IPv4 routes report at most IP_MAX_MTU (65535) even on a 65536-byte loopback.
        assert_eq!(
            path_mtu("127.0.0.1:9".parse().unwrap()).unwrap(),
            lo.min(65_535)
        );
    }

    #[test]
    fn a_socket_gets_kernel_receive_timestamps() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(enable_rx_timestamps(rx.as_raw_fd()));
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = realtime_ns();
        // The kernel may switch timestamping on from deferred work: allow a few datagrams.
        let mut stamp = None;
        for _ in 0..50 {
            tx.send_to(b"stamp me", rx.local_addr().unwrap()).unwrap();
            let mut buf = [0u8; 64];
            let (n, got) = recv_stamped(rx.as_raw_fd(), &mut buf).unwrap();
            assert_eq!(&buf[..n], b"stamp me");
            if got.is_some() {
                stamp = got;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let stamp = stamp.expect("a software receive timestamp");
        assert!(
            stamp >= before && stamp <= realtime_ns(),
            "{before} {stamp}"
        );
    }
}
