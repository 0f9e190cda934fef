//! The challenge a member sends its next member before any tour: a fresh nonce to the next
//! member's peer endpoint, which only a member given the ring key can answer, from that
//! very endpoint (answered by its data plane, see `crate::endpoint`). A peer endpoint that
//! is not a member of this ring gets the challenge and nothing else.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::auth::RingKey;
use crate::wire::{CHALLENGE_LEN, Header};

/// How long one challenge waits for its answer before it is sent again.
const CHALLENGE_WAIT: Duration = Duration::from_millis(200);

/// Why the next member did not prove it is a member of the ring.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    /// The challenge socket could not be set up.
    #[error(
        "challenging the next member at {peer}: cannot open a socket on {local}: {cause}; check the member's --peer-bind address"
    )]
    Socket {
        /// The next member's peer endpoint.
        peer: SocketAddr,
        /// The local address asked for.
        local: IpAddr,
        /// The OS error.
        cause: io::Error,
    },
    /// No correct answer came back.
    #[error(
        "the next member's peer endpoint {peer} did not answer the ring's challenge ({sent} sent within {waited:?}, {wrong} wrong answers): it is not a member of this ring (or its --psk-file differs from this member's), or UDP does not pass between the two; no tour is sent there"
    )]
    NoAnswer {
        /// The next member's peer endpoint.
        peer: SocketAddr,
        /// Challenges sent.
        sent: u32,
        /// Answers that came back wrong (another source, another nonce, a wrong tag).
        wrong: u32,
        /// Time spent.
        waited: Duration,
    },
}

/// Challenges the member at `peer`, ring index `index`, with `nonce` until it answers
/// with the ring key's tag from that very address, or `budget` is spent.
pub fn challenge_next(
    local: IpAddr,
    peer: SocketAddr,
    key: &RingKey,
    index: u32,
    nonce: u64,
    budget: Duration,
) -> Result<(), ChallengeError> {
    let socket_err = |cause| ChallengeError::Socket { peer, local, cause };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0)).map_err(socket_err)?;
    socket
        .set_read_timeout(Some(CHALLENGE_WAIT))
        .map_err(socket_err)?;
    let mut challenge = [0u8; CHALLENGE_LEN];
    Header::challenge(nonce).encode(&mut challenge);
    let start = Instant::now();
    let (mut sent, mut wrong) = (0u32, 0u32);
    let mut buf = [0u8; 2 * CHALLENGE_LEN];
    while start.elapsed() < budget {
        if socket.send_to(&challenge, peer).is_ok() {
            sent += 1;
        }
        let wait_until = Instant::now() + CHALLENGE_WAIT;
        while Instant::now() < wait_until {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                break;
            };
            let answer = buf.get(..len).and_then(Header::challenge_answer);
            match answer {
                Some((got, tag))
                    if from == peer
                        && got == nonce
                        && key.verify_challenge_answer(nonce, index, tag) =>
                {
                    return Ok(());
                }
                _ => wrong += 1,
            }
        }
    }
    Err(ChallengeError::NoAnswer {
        peer,
        sent,
        wrong,
        waited: start.elapsed(),
    })
}
