//! Round trips to the ring's members, measured as ping measures them: UDP echoes to each
//! member's peer socket, answered by its data plane (`echo-members`), and ICMP echoes to
//! each member host ([`crate::ping`], `ping-systems`). The coordinator runs them for a
//! client that reaches only it; `--from-client` runs them in the client.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use stillepost_engine::auth::DatagramKey;
use stillepost_engine::wire::{HEADER_LEN, Header, Kind};

/// How many probes, how far apart, and how long each waits for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Probes per target (at least 1).
    pub count: u32,
    /// From one round of probes to the next.
    pub interval: Duration,
    /// How long a probe waits for its answer before it counts as lost.
    pub timeout: Duration,
}

/// The method name of UDP echoes to members' peer sockets.
pub const METHOD_UDP_ECHO: &str = "udp-echo";

/// One target's round trips: a member's peer socket, or a member host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtts {
    /// The peer endpoint (echoes) or host address (pings).
    pub target: String,
    /// The members there, by ring index.
    pub members: Vec<u32>,
    /// How it was probed: `udp-echo`, `icmp-datagram`, `icmp-raw` or `ping-binary`.
    pub method: String,
    /// Each probe's round trip in order, `None` where no answer came in time.
    pub rtts_ns: Vec<Option<u64>>,
    /// Why the target could not be probed at all (nothing was sent).
    pub error: Option<String>,
}

impl Rtts {
    /// Probes sent.
    pub fn sent(&self) -> u32 {
        u32::try_from(self.rtts_ns.len()).unwrap_or(u32::MAX)
    }

    /// Answers received in time.
    pub fn received(&self) -> u32 {
        u32::try_from(self.rtts_ns.iter().flatten().count()).unwrap_or(u32::MAX)
    }

    /// `100 × (sent − received) / sent`; 0 when nothing was sent.
    pub fn loss_percent(&self) -> f64 {
        let (sent, received) = (self.sent(), self.received());
        if sent == 0 {
            0.0
        } else {
            f64::from(sent - received) * 100.0 / f64::from(sent)
        }
    }

    /// min, avg, max and mdev of the answered round trips, ns, as ping gives them (mdev:
    /// the population standard deviation); `None` without an answer.
    pub fn stats(&self) -> Option<RttStats> {
        let answered: Vec<u64> = self.rtts_ns.iter().flatten().copied().collect();
        let n = answered.len() as f64;
        let min = *answered.iter().min()?;
        let max = *answered.iter().max()?;
        let mean = answered.iter().map(|&v| v as f64).sum::<f64>() / n;
        let variance = answered
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        Some(RttStats {
            min_ns: min,
            avg_ns: mean.round() as u64,
            max_ns: max,
            mdev_ns: variance.sqrt().round() as u64,
        })
    }
}

/// Round-trip statistics, ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttStats {
    pub min_ns: u64,
    pub avg_ns: u64,
    pub max_ns: u64,
    pub mdev_ns: u64,
}

/// Echoes every member `opts.count` times, one round of all members every
/// `opts.interval`: each round sends to every member, then takes the answers as they come
/// for at most `opts.timeout`, so silent members cost one timeout per round, not one each.
/// Each round trip is from its own send to its own answer. With `key` (the ring's echo
/// key) requests carry its tag and only answers with its tag count. Blocking.
pub fn echo_members(
    peers: &[(u32, SocketAddr)],
    opts: &ProbeOptions,
    key: Option<DatagramKey>,
) -> Vec<Rtts> {
    let mut results: Vec<Rtts> = peers
        .iter()
        .map(|&(index, peer)| Rtts {
            target: peer.to_string(),
            members: vec![index],
            method: METHOD_UDP_ECHO.to_owned(),
            rtts_ns: Vec::with_capacity(opts.count as usize),
            error: None,
        })
        .collect();
    let sockets = [bind("0.0.0.0:0"), bind("[::]:0")];
    let base = u64::from(rand::random::<u32>()) << 24;
    let start = Instant::now();
    for round in 0..opts.count {
        // Sent this round: (member, echo id, when).
        let mut pending: Vec<(usize, u64, Instant)> = Vec::with_capacity(peers.len());
        for (i, (&(_, peer), result)) in peers.iter().zip(&mut results).enumerate() {
            if result.error.is_some() {
                continue;
            }
            let echo_id = base | u64::from(round) << 12 | i as u64;
            let sent = sockets[usize::from(!peer.is_ipv4())]
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|socket| send_echo(socket, peer, echo_id, key));
            match sent {
                Ok(at) => {
                    result.rtts_ns.push(None);
                    pending.push((i, echo_id, at));
                }
                // One member's failure is that member's result, not the end of the run.
                Err(e) => {
                    result.error = Some(e);
                    result.rtts_ns.clear();
                }
            }
        }
        let deadline = Instant::now() + opts.timeout;
        while !pending.is_empty() && Instant::now() < deadline {
            // Only the sockets with answers due; when both families are (a ring of IPv4
            // and IPv6 members), each waits 1 ms at a time so neither answer waits long.
            let due =
                [false, true].map(|v6| pending.iter().any(|&(i, _, _)| peers[i].1.is_ipv6() == v6));
            let turn = if due[0] && due[1] {
                Duration::from_millis(1)
            } else {
                opts.timeout
            };
            for (socket, _) in sockets.iter().zip(due).filter(|(_, due)| *due) {
                let Ok(socket) = socket else { continue };
                let Some((from, echo_id, at)) = receive_answer(socket, deadline, turn, key) else {
                    continue;
                };
                if let Some(k) = pending
                    .iter()
                    .position(|&(i, id, _)| id == echo_id && peers[i].1 == from)
                {
                    let (i, _, sent) = pending.swap_remove(k);
                    if let Some(slot) = results[i].rtts_ns.last_mut() {
                        *slot = Some(at.duration_since(sent).as_nanos() as u64);
                    }
                }
            }
        }
        if round + 1 < opts.count {
            let next = start + opts.interval.saturating_mul(round + 1);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
    results
}

fn bind(addr: &str) -> Result<UdpSocket, String> {
    UdpSocket::bind(addr).map_err(|e| format!("cannot bind a UDP socket on {addr}: {e}"))
}

/// Sends echo `echo_id` to `peer`; when it left.
fn send_echo(
    socket: &UdpSocket,
    peer: SocketAddr,
    echo_id: u64,
    key: Option<DatagramKey>,
) -> Result<Instant, String> {
    let mut out = [0u8; HEADER_LEN];
    Header::echo_request(echo_id).encode(&mut out);
    if let Some(key) = &key {
        key.sign(&mut out);
    }
    let at = Instant::now();
    socket
        .send_to(&out, peer)
        .map_err(|e| format!("cannot send an echo to {peer}: {e}"))?;
    Ok(at)
}

/// The next echo answer on `socket` (with the key's tag, when there is a key) before
/// `deadline`, waiting at most `turn` so that another socket gets its turn: its source,
/// echo id and arrival. Anything else, and a closed port's ICMP error, is skipped.
fn receive_answer(
    socket: &UdpSocket,
    deadline: Instant,
    turn: Duration,
    key: Option<DatagramKey>,
) -> Option<(SocketAddr, u64, Instant)> {
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        socket.set_read_timeout(Some(left.min(turn))).ok()?;
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                let at = Instant::now();
                let answer = &buf[..len];
                if key.is_none_or(|key| key.check(answer))
                    && let Ok(h) = Header::decode(answer)
                    && h.kind == Kind::EchoReply
                {
                    return Some((from, h.tour_id, at));
                }
            }
            // ICMP port unreachable from a closed port surfaces as ECONNREFUSED: no answer.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return None,
        }
    }
}

/// Pings every member host `opts.count` times (members sharing a host share one result),
/// all hosts at once.
pub async fn ping_systems(peers: &[(u32, SocketAddr)], opts: &ProbeOptions) -> Vec<Rtts> {
    let mut hosts: Vec<(IpAddr, Vec<u32>)> = Vec::new();
    for &(index, addr) in peers {
        match hosts.iter_mut().find(|(ip, _)| *ip == addr.ip()) {
            Some((_, members)) => members.push(index),
            None => hosts.push((addr.ip(), vec![index])),
        }
    }
    let ping = crate::ping::PingOptions {
        count: opts.count,
        interval: opts.interval,
        timeout: opts.timeout,
        ..crate::ping::PingOptions::default()
    };
    let summaries = futures::future::join_all(
        hosts
            .iter()
            .map(|(ip, _)| crate::ping::ping_host(*ip, &ping)),
    )
    .await;
    hosts
        .into_iter()
        .zip(summaries)
        .map(|((ip, members), summary)| match summary {
            Ok(s) => Rtts {
                target: ip.to_string(),
                members,
                method: s.method.to_owned(),
                rtts_ns: s
                    .rtts_us
                    .iter()
                    .map(|v| v.map(|us| (us * 1000.0).round() as u64))
                    .collect(),
                error: None,
            },
            Err(e) => Rtts {
                target: ip.to_string(),
                members,
                method: String::new(),
                rtts_ns: Vec::new(),
                error: Some(e.to_string()),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtts(values: &[Option<u64>]) -> Rtts {
        Rtts {
            target: "127.0.0.1:7101".into(),
            members: vec![1],
            method: METHOD_UDP_ECHO.into(),
            rtts_ns: values.to_vec(),
            error: None,
        }
    }

    /// min/avg/max/mdev as ping computes them (mdev: population standard deviation), over
    /// the answered probes only; loss over all.
    #[test]
    fn statistics_are_pings() {
        let r = rtts(&[Some(30_000), None, Some(86_000), Some(42_000), Some(38_000)]);
        assert_eq!((r.sent(), r.received()), (5, 4));
        assert_eq!(r.loss_percent(), 20.0);
        assert_eq!(
            r.stats(),
            Some(RttStats {
                min_ns: 30_000,
                avg_ns: 49_000,
                max_ns: 86_000,
                // mean 49 µs; deviations −19, 37, −7, −11: √((361+1369+49+121)/4) µs
                mdev_ns: 21_794,
            })
        );
        assert_eq!(rtts(&[None, None]).stats(), None);
        assert_eq!(rtts(&[None, None]).loss_percent(), 100.0);
    }

    /// A member that answers is timed every round; a closed port is a lost probe each time,
    /// not an error; the echo id never shows.
    #[test]
    fn echoes_time_each_round_and_count_silence() {
        let answering = UdpSocket::bind("127.0.0.1:0").unwrap();
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let peers = [
            (0, answering.local_addr().unwrap()),
            (1, silent.local_addr().unwrap()),
        ];
        let reflector = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            for _ in 0..3 {
                let (len, from) = answering.recv_from(&mut buf).unwrap();
                let mut h = Header::decode(&buf[..len]).unwrap();
                h.kind = Kind::EchoReply;
                h.encode(&mut buf[..len]);
                answering.send_to(&buf[..len], from).unwrap();
            }
        });
        let opts = ProbeOptions {
            count: 3,
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(100),
        };
        let results = echo_members(&peers, &opts, None);
        reflector.join().unwrap();
        assert_eq!(results[0].received(), 3, "{:?}", results[0]);
        assert_eq!((results[1].sent(), results[1].received()), (3, 0));
        assert_eq!(results[1].error, None);
        assert_eq!(results[1].members, [1]);
        assert!(results.iter().all(|r| r.method == METHOD_UDP_ECHO));
    }

    /// Silent members cost one timeout per round together, not one each.
    #[test]
    fn silent_members_share_a_rounds_timeout() {
        let silent: Vec<UdpSocket> = (0..4)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let peers: Vec<(u32, SocketAddr)> = silent
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u32, s.local_addr().unwrap()))
            .collect();
        let opts = ProbeOptions {
            count: 2,
            interval: Duration::from_millis(1),
            timeout: Duration::from_millis(100),
        };
        let started = Instant::now();
        let results = echo_members(&peers, &opts, None);
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(400),
            "4 silent members × 2 rounds took {took:?}"
        );
        assert!(results.iter().all(|r| r.sent() == 2 && r.received() == 0));
    }
}
