//! `echo-members`: one UDP echo to each member's peer socket, answered by its data plane.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use stillepost_engine::auth::DatagramKey;
use stillepost_engine::wire::{HEADER_LEN, Header, Kind};

/// One member's answer (or silence).
#[derive(Debug, Clone)]
pub struct EchoResult {
    pub index: u32,
    pub peer: SocketAddr,
    pub echo_id: u64,
    pub rtt: Option<Duration>,
    /// Why the echo could not even be sent or received.
    pub error: Option<String>,
}

impl EchoResult {
    pub fn to_json(&self) -> Value {
        json!({
            "index": self.index,
            "peer_endpoint": self.peer.to_string(),
            "echo_id": self.echo_id,
            "answered": self.rtt.is_some(),
            "rtt_ns": self.rtt.map(|d| d.as_nanos() as u64),
            "error": self.error,
        })
    }

    pub fn to_text(&self, timeout: Duration) -> String {
        if let Some(error) = &self.error {
            return format!(
                "member {} {}: echo {} FAILED: {error}",
                self.index, self.peer, self.echo_id
            );
        }
        match self.rtt {
            Some(rtt) => format!(
                "member {} {}: echo {} rtt {}",
                self.index,
                self.peer,
                self.echo_id,
                crate::report::duration(rtt.as_nanos() as u64)
            ),
            None => format!(
                "member {} {}: echo {} NO ANSWER within {} ms",
                self.index,
                self.peer,
                self.echo_id,
                timeout.as_millis()
            ),
        }
    }
}

/// Echoes each member in turn, so one member's answer never delays another's timing.
/// With `key` (the ring's echo key, from the coordinator) requests carry its tag and only
/// answers with its tag count.
pub fn echo_all(
    peers: &[(u32, SocketAddr)],
    timeout: Duration,
    key: Option<DatagramKey>,
) -> Result<Vec<EchoResult>> {
    let base = u64::from(rand::random::<u32>()) << 8;
    let mut v4 = None;
    let mut v6 = None;
    let mut results = Vec::with_capacity(peers.len());
    for (i, &(index, peer)) in peers.iter().enumerate() {
        let slot = if peer.is_ipv4() { &mut v4 } else { &mut v6 };
        if slot.is_none() {
            let bind: SocketAddr = if peer.is_ipv4() {
                "0.0.0.0:0".parse()?
            } else {
                "[::]:0".parse()?
            };
            *slot = Some(
                UdpSocket::bind(bind)
                    .with_context(|| format!("cannot bind a UDP socket on {bind}"))?,
            );
        }
        let Some(socket) = slot.as_ref() else {
            continue;
        };
        let echo_id = base | (i as u64 + 1);
        // One member's failure is that member's line, not the end of the command.
        let (rtt, error) = match echo_one(socket, peer, echo_id, timeout, key) {
            Ok(rtt) => (rtt, None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        results.push(EchoResult {
            index,
            peer,
            echo_id,
            rtt,
            error,
        });
    }
    Ok(results)
}

fn echo_one(
    socket: &UdpSocket,
    peer: SocketAddr,
    echo_id: u64,
    timeout: Duration,
    key: Option<DatagramKey>,
) -> Result<Option<Duration>> {
    let header = Header::echo_request(echo_id);
    let mut out = [0u8; HEADER_LEN];
    header.encode(&mut out);
    if let Some(key) = &key {
        key.sign(&mut out);
    }
    let mut buf = [0u8; 2048];
    let sent_at = Instant::now();
    socket
        .send_to(&out, peer)
        .with_context(|| format!("cannot send an echo to {peer}"))?;
    let deadline = sent_at + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                let rtt = sent_at.elapsed();
                // Only this member's answer to this echo, with the key's tag, counts;
                // anything else is ignored.
                let answer = &buf[..len];
                if from == peer
                    && key.is_none_or(|key| key.check(answer))
                    && matches!(Header::decode(answer), Ok(h) if h.kind == Kind::EchoReply && h.tour_id == echo_id)
                {
                    return Ok(Some(rtt));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            // ICMP port unreachable from a closed port surfaces as ECONNREFUSED: no answer.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e).with_context(|| format!("receiving the echo from {peer}")),
        }
    }
}
