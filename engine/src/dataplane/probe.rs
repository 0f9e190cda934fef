//! Clock-offset probes between neighbours, NTP style: the prober sends a probe stamped
//! `t1`; the peer's data plane answers from its peer socket with its receive time `t2` and
//! answer time `t3`; the prober takes the answer's arrival `t4` (kernel timestamp where the
//! kernel gives one). Of at least the asked number of exchanges, the one with the smallest
//! round trip is kept: its offset is off by at most half that round trip, whatever the
//! asymmetry of the path, so half the minimum round trip is the error bound.
//!
//! Probes run on the control plane's thread before the tour is armed, from their own
//! socket bound to the member's peer address (its IP; the wildcard when the peer socket is
//! bound to one), to the previous member's peer socket: the link the hop's data crosses,
//! in the other direction, and back.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::{Clock, sys};
use crate::auth::DatagramKey;
use crate::wire::{Header, PROBE_LEN, ProbeTimes};

/// How long one probe waits for its answer before the next is sent.
const PROBE_WAIT: Duration = Duration::from_millis(20);

/// The outcome of probing a peer's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockEstimate {
    /// The peer's clock minus this member's, ns.
    pub offset_ns: i64,
    /// How far `offset_ns` can be from the truth: half the smallest round trip, ns.
    pub error_bound_ns: u64,
    /// The smallest round trip (responder's turnaround excluded), ns.
    pub min_rtt_ns: u64,
    /// Exchanges answered.
    pub samples: u32,
    /// Probes sent.
    pub sent: u32,
    /// Whether the answers' arrivals were kernel timestamps.
    pub kernel_stamped: bool,
}

/// Why the clock of a peer could not be estimated.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The probe socket could not be set up.
    #[error(
        "clock probes to {peer}: cannot open a socket on {local}: {cause}; check the member's --peer-bind address"
    )]
    Socket {
        /// The peer probed.
        peer: SocketAddr,
        /// The local address asked for.
        local: IpAddr,
        /// The OS error.
        cause: io::Error,
    },
    /// Probes could not be sent.
    #[error(
        "clock probes to {peer}: cannot send: {cause}; check that this member has a route to that peer endpoint (address family, --peer-bind)"
    )]
    Send {
        /// The peer probed.
        peer: SocketAddr,
        /// The last OS error.
        cause: io::Error,
    },
    /// No probe was answered.
    #[error(
        "clock probes to {peer}: none of {sent} probes was answered within {budget:?}; check that UDP from this member reaches that peer endpoint and its answers come back (firewall, routing: probes go against the ring's direction)"
    )]
    NoAnswer {
        /// The peer probed.
        peer: SocketAddr,
        /// Probes sent.
        sent: u32,
        /// Time spent.
        budget: Duration,
    },
}

/// Probes `peer` until `want` exchanges were answered (or 4 × `want` were sent, or `budget`
/// is spent) and returns the minimum-round-trip estimate. With a `key` (the ring's
/// datagram key) every probe carries its tag, and only answers with its tag count.
pub fn probe_clock(
    local: IpAddr,
    peer: SocketAddr,
    clock: Clock,
    want: u32,
    budget: Duration,
    key: Option<DatagramKey>,
) -> Result<ClockEstimate, ProbeError> {
    let socket_err = |cause| ProbeError::Socket { peer, local, cause };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0)).map_err(socket_err)?;
    socket
        .set_read_timeout(Some(PROBE_WAIT))
        .map_err(socket_err)?;
    let stamped = sys::enable_rx_timestamps(socket.as_raw_fd());
    let probe_id = clock.now() ^ (u64::from(std::process::id()) << 32) ^ u64::from(peer.port());
    let start = Instant::now();
    let mut best: Option<ProbeTimes> = None;
    let (mut samples, mut sent, mut all_kernel) = (0u32, 0u32, stamped);
    let mut send_error = None;
    let mut out = [0u8; PROBE_LEN];
    let mut buf = [0u8; 2 * PROBE_LEN];
    while samples < want && sent < want.saturating_mul(4) && start.elapsed() < budget {
        let seq = sent;
        sent += 1;
        let t1 = clock.now();
        Header::clock_probe(probe_id, seq, t1).encode(&mut out);
        if let Some(key) = &key {
            key.sign(&mut out);
        }
        if let Err(e) = socket.send_to(&out, peer) {
            send_error = Some(e);
            continue;
        }
        let wait_until = Instant::now() + PROBE_WAIT;
        while Instant::now() < wait_until {
            let Ok((len, kernel)) = sys::recv_stamped(socket.as_raw_fd(), &mut buf) else {
                break;
            };
            let t4 = match kernel {
                Some(wall) => clock.from_kernel(wall),
                None => {
                    all_kernel = false;
                    clock.now()
                }
            };
            let Some(answer) = buf.get(..len) else {
                continue;
            };
            if key.is_some_and(|key| !key.check(answer)) {
                continue; // not from a member of this ring
            }
            let Some((id, got_seq, t1, t2, t3)) = Header::probe_reply(answer) else {
                continue;
            };
            if id != probe_id || got_seq != seq {
                continue; // a late answer to an earlier probe: its t4 is not this one's
            }
            let times = ProbeTimes { t1, t2, t3, t4 };
            if !times.is_consistent() {
                break; // a clock stepped: this exchange measures nothing
            }
            samples += 1;
            if best.is_none_or(|b| times.rtt_ns() < b.rtt_ns()) {
                best = Some(times);
            }
            break;
        }
    }
    let best = match (best, send_error) {
        (Some(best), _) => best,
        (None, Some(source)) => {
            return Err(ProbeError::Send {
                peer,
                cause: source,
            });
        }
        (None, None) => {
            return Err(ProbeError::NoAnswer {
                peer,
                sent,
                budget: start.elapsed(),
            });
        }
    };
    Ok(ClockEstimate {
        offset_ns: best.offset_ns(),
        error_bound_ns: best.rtt_ns().div_ceil(2),
        min_rtt_ns: best.rtt_ns(),
        samples,
        sent,
        kernel_stamped: all_kernel,
    })
}
