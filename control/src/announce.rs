//! Members announcing themselves on a UDP multicast group, and the coordinator listening
//! (`stillepostd member --announce`, `stillepost configure --cluster discover`).
//!
//! A member sends a heartbeat every [`HEARTBEAT_INTERVAL`] and one saying it leaves when it
//! stops. A heartbeat carries the member's control address and port (for a member
//! listening on a wildcard, the address its heartbeats leave from), its name, a sequence
//! number and a tag: keyed BLAKE3 over everything before it, with a key derived from the
//! control plane's token (announcing needs one). A coordinator keeps the members whose
//! heartbeats carry a tag it can check and a sequence number above the last one it took
//! from that endpoint, so a host without the token cannot announce a member, and a
//! recorded heartbeat neither brings a member back nor names another address (the address
//! is inside the tag; the datagram's source address is never used). The sequence number is
//! the member's wall clock in ns (never less than the last one plus 1), so it keeps growing
//! across a member's restarts without the hosts' clocks being compared.
//!
//! Limits: the coordinator keeps what it heard in memory, so after it restarts a recorded
//! stream of a member's heartbeats (taken off the link) is accepted again until the member
//! announces anything newer; a member whose clock steps back across a restart is ignored
//! until its clock has passed its last sequence number (logged).
//!
//! Datagram (all integers big-endian):
//!
//! ```text
//! "SPAN" | version 1 | kind (0 alive, 1 leaving) | control port u16 | sequence u64
//!        | host length u8 | host (UTF-8) | name length u8 | name (UTF-8) | tag (16 bytes)
//! ```
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};

use crate::auth::Token;

/// Between two heartbeats of a member.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// A member heard within this long is discovered; a coordinator that starts listening
/// waits this long before its first answer, so that it has heard every member.
pub const DISCOVERY_WINDOW: Duration = Duration::from_secs(3);
/// Most endpoints a coordinator keeps per group: a flood of tagged heartbeats (from a
/// holder of the token) cannot make it hold more.
const MAX_HEARD: usize = 4 * crate::ring::MAX_RING_MEMBERS;
/// How many sources' ignored heartbeats are logged (each once), so that a noisy stranger
/// does not flood the log.
const MAX_WARNED: usize = 64;

const MAGIC: &[u8; 4] = b"SPAN";
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Magic, version, kind, port, sequence, the two lengths.
const FIXED_LEN: usize = 4 + 1 + 1 + 2 + 8 + 1 + 1;
/// The largest heartbeat (two 255-byte strings): one datagram on any path.
const MAX_LEN: usize = FIXED_LEN + 255 + 255 + TAG_LEN;

/// What a heartbeat says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatKind {
    /// The member runs and takes part.
    Alive,
    /// The member stops: leave it out from now on.
    Leaving,
}

/// One member's heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Alive or leaving.
    pub kind: HeartbeatKind,
    /// The member's control port.
    pub port: u16,
    /// Its control address (never empty: a coordinator refuses a heartbeat without one).
    pub host: String,
    /// Its name (`--name`).
    pub name: String,
    /// Grows with every heartbeat of the member, also across restarts.
    pub sequence: u64,
}

/// Why a heartbeat was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    /// Too short, too long or not a heartbeat at all.
    #[error("it is no Stillepost heartbeat")]
    Malformed,
    /// Of another version of this protocol.
    #[error("it is of heartbeat version {0}, this coordinator reads version {VERSION}")]
    Version(u8),
    /// The tag does not check with this coordinator's key.
    #[error("its tag does not match: the member has another token (or none) than this coordinator")]
    Tag,
    /// Its sequence number is not above the last one taken from this endpoint.
    #[error(
        "it is not newer than the last heartbeat from this endpoint: played back, or the member's clock stepped back across a restart (it is taken again once its clock passes the last one)"
    )]
    Replayed,
    /// Its control address is not an address a coordinator can reach.
    #[error("its control address '{0}' is no routable IP address")]
    BadHost(String),
}

/// The key heartbeats are tagged with, derived from the control plane's token.
#[derive(Clone)]
pub struct AnnounceKey([u8; 32]);

impl std::fmt::Debug for AnnounceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnnounceKey(***)")
    }
}

impl AnnounceKey {
    /// The key of `token`.
    pub fn new(token: &Token) -> AnnounceKey {
        const CONTEXT: &str = "stillepost 2026 member announcement v1";
        AnnounceKey(blake3::derive_key(CONTEXT, token.secret().as_bytes()))
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        let hash = blake3::keyed_hash(&self.0, body);
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&hash.as_bytes()[..TAG_LEN]);
        tag
    }
}

impl Heartbeat {
    /// The datagram, tagged with `key`. Host and name are cut to 255 bytes (at a character
    /// boundary).
    pub fn encode(&self, key: &AnnounceKey) -> Vec<u8> {
        let host = cut(&self.host);
        let name = cut(&self.name);
        let mut out = Vec::with_capacity(FIXED_LEN + host.len() + name.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(match self.kind {
            HeartbeatKind::Alive => 0,
            HeartbeatKind::Leaving => 1,
        });
        out.extend_from_slice(&self.port.to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        for text in [host, name] {
            out.push(text.len() as u8); // At most 255: cut.
            out.extend_from_slice(text.as_bytes());
        }
        let tag = key.tag(&out);
        out.extend_from_slice(&tag);
        out
    }

    /// Reads and checks a datagram.
    pub fn decode(datagram: &[u8], key: &AnnounceKey) -> Result<Heartbeat, HeartbeatError> {
        use HeartbeatError::Malformed;
        if datagram.len() < FIXED_LEN + TAG_LEN || datagram.len() > MAX_LEN {
            return Err(Malformed);
        }
        if &datagram[..4] != MAGIC {
            return Err(Malformed);
        }
        if datagram[4] != VERSION {
            return Err(HeartbeatError::Version(datagram[4]));
        }
        let (body, tag) = datagram.split_at(datagram.len() - TAG_LEN);
        if !constant_time_eq::constant_time_eq(&key.tag(body), tag) {
            return Err(HeartbeatError::Tag);
        }
        let kind = match body[5] {
            0 => HeartbeatKind::Alive,
            1 => HeartbeatKind::Leaving,
            _ => return Err(Malformed),
        };
        let port = u16::from_be_bytes([body[6], body[7]]);
        let mut sequence = [0; 8];
        sequence.copy_from_slice(&body[8..16]);
        let mut rest = &body[16..];
        let mut text = || -> Result<String, HeartbeatError> {
            let (&len, tail) = rest.split_first().ok_or(Malformed)?;
            let len = usize::from(len);
            let bytes = tail.get(..len).ok_or(Malformed)?;
            rest = &tail[len..];
            String::from_utf8(bytes.to_vec()).map_err(|_| Malformed)
        };
        let host = text()?;
        let name = text()?;
        if !rest.is_empty() || port == 0 {
            return Err(Malformed);
        }
        Ok(Heartbeat {
            kind,
            port,
            host,
            name,
            sequence: u64::from_be_bytes(sequence),
        })
    }
}

/// `text` cut to at most 255 bytes at a character boundary.
fn cut(text: &str) -> &str {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The wall clock in ns since 1970 (0 before it).
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// What to do when multicast to `group` has no route (in errors and warnings).
pub fn route_hint(group: &SocketAddr) -> String {
    format!(
        "multicast needs a route: a default route, or `ip route add {} dev <interface>`",
        if group.is_ipv4() {
            "224.0.0.0/4"
        } else {
            "ff00::/8"
        }
    )
}

/// An address a coordinator elsewhere can reach a member at: not a wildcard, loopback or
/// IPv6 link-local address (which would need the member's interface to be usable).
fn routable(ip: IpAddr) -> bool {
    !ip.is_unspecified()
        && !ip.is_loopback()
        && !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local())
}

fn unspecified(group: &SocketAddr) -> IpAddr {
    match group {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn udp_socket(group: &SocketAddr) -> std::io::Result<Socket> {
    let domain = Domain::for_address(*group);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if group.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A member's announcements: heartbeats every second until [`Announcer::leave`].
#[derive(Debug)]
pub struct Announcer {
    task: tokio::task::JoinHandle<()>,
    send: Arc<AnnounceSender>,
}

#[derive(Debug)]
struct AnnounceSender {
    socket: tokio::net::UdpSocket,
    group: SocketAddr,
    key: AnnounceKey,
    port: u16,
    host: String,
    name: String,
    sequence: Mutex<u64>,
}

impl AnnounceSender {
    async fn send(&self, kind: HeartbeatKind) -> std::io::Result<()> {
        let sequence = {
            let mut last = self.sequence.lock().unwrap_or_else(|p| p.into_inner());
            *last = now_ns().max(last.saturating_add(1));
            *last
        };
        let datagram = Heartbeat {
            kind,
            port: self.port,
            host: self.host.clone(),
            name: self.name.clone(),
            sequence,
        }
        .encode(&self.key);
        self.socket.send(&datagram).await.map(|_| ())
    }
}

impl Announcer {
    /// Starts announcing the member whose control API listens on `control`, named `name`,
    /// on `group` (hop limit 1: the local link), tagged with `token`. A member listening on
    /// a wildcard announces the address its heartbeats leave from. Must run inside a Tokio
    /// runtime.
    pub fn start(
        group: SocketAddr,
        control: SocketAddr,
        name: &str,
        token: &Token,
    ) -> Result<Announcer, String> {
        let unreachable = |host: IpAddr| {
            format!(
                "the control address {host} is not one a coordinator on another host can reach (loopback, link-local or a wildcard): give --coord-bind a routable address"
            )
        };
        if !control.ip().is_unspecified() && !routable(control.ip()) {
            return Err(unreachable(control.ip()));
        }
        // `[::]` takes IPv4 connections too; `0.0.0.0` or a specific address only its own.
        let dual_stack = control.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        if control.is_ipv4() != group.is_ipv4() && !dual_stack {
            return Err(format!(
                "the group {group} and the control address {} are of different IP versions: a coordinator hearing it could not reach the member; give --coord-bind an address of the group's version",
                control.ip()
            ));
        }
        let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
        let socket = udp_socket(&group).map_err(|e| io("making its socket", e))?;
        match group {
            SocketAddr::V4(_) => {
                socket
                    .set_multicast_ttl_v4(1)
                    .and_then(|()| socket.set_multicast_loop_v4(true))
                    .map_err(|e| io("setting its hop limit", e))?;
            }
            SocketAddr::V6(_) => {
                socket
                    .set_multicast_hops_v6(1)
                    .and_then(|()| socket.set_multicast_loop_v6(true))
                    .map_err(|e| io("setting its hop limit", e))?;
            }
        }
        socket
            .bind(&SocketAddr::new(unspecified(&group), 0).into())
            .map_err(|e| io("binding its socket", e))?;
        // Connected to the group, the socket has the source address the routing table
        // picks for it: the address a member on a wildcard is announced at.
        socket
            .connect(&group.into())
            .map_err(|e| format!("{} ({e})", route_hint(&group)))?;
        let host = if control.ip().is_unspecified() {
            socket
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .map(|a| a.ip())
                .ok_or_else(|| "cannot tell the address heartbeats leave from".to_string())?
        } else {
            control.ip()
        };
        if !routable(host) {
            return Err(unreachable(host));
        }
        let socket = tokio::net::UdpSocket::from_std(socket.into())
            .map_err(|e| io("registering its socket", e))?;
        let send = Arc::new(AnnounceSender {
            socket,
            group,
            key: AnnounceKey::new(token),
            port: control.port(),
            host: host.to_string(),
            name: name.to_string(),
            sequence: Mutex::new(0),
        });
        let task = tokio::spawn({
            let send = Arc::clone(&send);
            async move {
                let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
                let mut failing = false;
                loop {
                    tick.tick().await;
                    match send.send(HeartbeatKind::Alive).await {
                        Ok(()) if failing => {
                            tracing::info!("--announce {}: heartbeats go out again", send.group);
                            failing = false;
                        }
                        Ok(()) => {}
                        Err(e) if !failing => {
                            tracing::warn!(
                                "--announce {}: cannot send a heartbeat: {e} ({})",
                                send.group,
                                route_hint(&send.group)
                            );
                            failing = true;
                        }
                        Err(_) => {}
                    }
                }
            }
        });
        Ok(Announcer { task, send })
    }

    /// The control endpoint it announces.
    pub fn endpoint(&self) -> SocketAddr {
        SocketAddr::new(
            self.send
                .host
                .parse()
                .unwrap_or(unspecified(&self.send.group)),
            self.send.port,
        )
    }

    /// Stops the heartbeats and says that the member leaves.
    pub async fn leave(self) {
        self.task.abort();
        if let Err(e) = self.send.send(HeartbeatKind::Leaving).await {
            tracing::warn!(
                "--announce {}: cannot say that this member leaves: {e}",
                self.send.group
            );
        }
    }
}

/// One endpoint a coordinator heard.
#[derive(Debug, Clone)]
struct Heard {
    name: String,
    sequence: u64,
    at: Instant,
    left: bool,
}

/// What a coordinator heard on one group: per endpoint, the newest heartbeat's word.
#[derive(Debug)]
pub struct Roster {
    group: SocketAddr,
    heard: Mutex<HashMap<String, Heard>>,
}

/// A member a coordinator heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Its control endpoint, host:port.
    pub endpoint: String,
    /// Its name.
    pub name: String,
}

impl Roster {
    /// An empty roster of `group` (named in log lines).
    pub fn new(group: SocketAddr) -> Roster {
        Roster {
            group,
            heard: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a heartbeat, checked with `key`. Where it came from does not matter: the
    /// member's address is inside the tag.
    pub fn take(&self, datagram: &[u8], key: &AnnounceKey) -> Result<(), HeartbeatError> {
        let beat = Heartbeat::decode(datagram, key)?;
        let ip: IpAddr = match beat.host.parse() {
            Ok(ip) if routable(ip) => ip,
            _ => return Err(HeartbeatError::BadHost(beat.host)),
        };
        let endpoint = SocketAddr::new(ip, beat.port).to_string();
        let left = beat.kind == HeartbeatKind::Leaving;
        let mut heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(known) = heard.get(&endpoint) {
            if beat.sequence <= known.sequence {
                return Err(HeartbeatError::Replayed);
            }
            if left && !known.left {
                tracing::info!("discover {}: {} ({endpoint}) leaves", self.group, beat.name);
            }
        } else if heard.len() >= MAX_HEARD {
            heard.retain(|_, h| !h.left && now.duration_since(h.at) < DISCOVERY_WINDOW);
            if heard.len() >= MAX_HEARD {
                return Ok(()); // Full of live members; this one waits.
            }
        }
        heard.insert(
            endpoint,
            Heard {
                name: beat.name,
                sequence: beat.sequence,
                at: now,
                left,
            },
        );
        Ok(())
    }

    /// The members heard within the last [`DISCOVERY_WINDOW`] that did not say they leave,
    /// sorted by name, then endpoint.
    pub fn members(&self) -> Vec<Discovered> {
        let heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut members: Vec<Discovered> = heard
            .iter()
            .filter(|(_, h)| !h.left && now.duration_since(h.at) < DISCOVERY_WINDOW)
            .map(|(endpoint, h)| Discovered {
                endpoint: endpoint.clone(),
                name: h.name.clone(),
            })
            .collect();
        members.sort_by(|a, b| (&a.name, &a.endpoint).cmp(&(&b.name, &b.endpoint)));
        members
    }
}

/// A coordinator listening on one group: a task that fills a [`Roster`].
#[derive(Debug)]
pub struct Listener {
    roster: Arc<Roster>,
    started: Instant,
    ignored: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Joins `group` (on the interface the routing table picks for it) and keeps what
    /// heartbeats tagged with `key` say. Must run inside a Tokio runtime.
    pub fn start(group: SocketAddr, key: AnnounceKey) -> std::io::Result<Listener> {
        let socket = udp_socket(&group)?;
        // Other coordinators on this host may listen to the same group.
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        // Bound to the group, the socket receives that group's datagrams only.
        socket.bind(&group.into())?;
        match group.ip() {
            IpAddr::V4(ip) => socket.join_multicast_v4(&ip, &Ipv4Addr::UNSPECIFIED)?,
            IpAddr::V6(ip) => socket.join_multicast_v6(&ip, 0)?,
        }
        let socket = tokio::net::UdpSocket::from_std(socket.into())?;
        let roster = Arc::new(Roster::new(group));
        let ignored = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn({
            let roster = Arc::clone(&roster);
            let ignored = Arc::clone(&ignored);
            async move {
                let mut buf = vec![0; MAX_LEN + 1];
                let mut warned: Vec<IpAddr> = Vec::new();
                loop {
                    let (len, from) = match socket.recv_from(&mut buf).await {
                        Ok(got) => got,
                        Err(e) => {
                            tracing::warn!("discover {group}: receiving a heartbeat: {e}");
                            tokio::time::sleep(HEARTBEAT_INTERVAL).await;
                            continue;
                        }
                    };
                    if let Err(why) = roster.take(&buf[..len], &key) {
                        ignored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if warned.len() < MAX_WARNED && !warned.contains(&from.ip()) {
                            warned.push(from.ip());
                            tracing::warn!(
                                "discover {group}: ignored a heartbeat from {from}: {why} (logged once per source)"
                            );
                        }
                    }
                }
            }
        });
        Ok(Listener {
            roster,
            started: Instant::now(),
            ignored,
            task,
        })
    }

    /// Heartbeats ignored so far (malformed, wrong tag, played back).
    pub fn ignored(&self) -> u64 {
        self.ignored.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How long until it has listened for a whole [`DISCOVERY_WINDOW`].
    pub fn warming_up(&self) -> Duration {
        DISCOVERY_WINDOW.saturating_sub(self.started.elapsed())
    }

    /// The members heard: see [`Roster::members`].
    pub fn members(&self) -> Vec<Discovered> {
        self.roster.members()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> Token {
        Token::parse(text, "test").unwrap()
    }

    fn beat(kind: HeartbeatKind, sequence: u64) -> Heartbeat {
        Heartbeat {
            kind,
            port: 7001,
            host: "198.18.0.2".into(),
            name: "rack1-a".into(),
            sequence,
        }
    }

    #[test]
    fn a_heartbeat_reads_back_only_with_the_key_it_was_tagged_with() {
        let key = AnnounceKey::new(&token("s3cret"));
        let sent = beat(HeartbeatKind::Leaving, 42);
        let datagram = sent.encode(&key);
        assert_eq!(Heartbeat::decode(&datagram, &key), Ok(sent));
        let other = AnnounceKey::new(&token("other"));
        assert_eq!(
            Heartbeat::decode(&datagram, &other),
            Err(HeartbeatError::Tag)
        );
        // Any flipped bit fails the tag (or the framing); every cut is malformed.
        for i in 0..datagram.len() {
            let mut bad = datagram.clone();
            bad[i] ^= 1;
            assert!(Heartbeat::decode(&bad, &key).is_err(), "byte {i}");
        }
        for len in 0..datagram.len() {
            assert!(
                Heartbeat::decode(&datagram[..len], &key).is_err(),
                "length {len}"
            );
        }
        let mut version = datagram.clone();
        version[4] = 9;
        assert_eq!(
            Heartbeat::decode(&version, &key),
            Err(HeartbeatError::Version(9))
        );
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary() {
        let key = AnnounceKey::new(&token("t"));
        let sent = Heartbeat {
            name: "ü".repeat(200),
            ..beat(HeartbeatKind::Alive, 1)
        };
        let got = Heartbeat::decode(&sent.encode(&key), &key).unwrap();
        assert_eq!(got.name, "ü".repeat(127));
    }

    #[test]
    fn the_roster_keeps_the_newest_word_of_each_endpoint() {
        let key = AnnounceKey::new(&token("t"));
        let roster = Roster::new(crate::ring::DEFAULT_ANNOUNCE_GROUP.parse().unwrap());
        let take = |b: Heartbeat| roster.take(&b.encode(&key), &key);
        assert_eq!(take(beat(HeartbeatKind::Alive, 10)), Ok(()));
        assert_eq!(
            roster.members(),
            [Discovered {
                endpoint: "198.18.0.2:7001".into(),
                name: "rack1-a".into()
            }]
        );
        assert_eq!(
            take(beat(HeartbeatKind::Leaving, 10)),
            Err(HeartbeatError::Replayed)
        );
        assert_eq!(take(beat(HeartbeatKind::Leaving, 11)), Ok(()));
        assert!(roster.members().is_empty());
        // A played-back heartbeat from before it left does not bring it back.
        assert_eq!(
            take(beat(HeartbeatKind::Alive, 10)),
            Err(HeartbeatError::Replayed)
        );
        assert!(roster.members().is_empty());
        // A restarted member (a later sequence) is back.
        assert_eq!(take(beat(HeartbeatKind::Alive, 12)), Ok(()));
        let v6 = Heartbeat {
            host: "fd00::5".into(),
            name: "rack0-z".into(),
            ..beat(HeartbeatKind::Alive, 1)
        };
        assert_eq!(take(v6), Ok(()));
        let found: Vec<String> = roster.members().into_iter().map(|m| m.endpoint).collect();
        assert_eq!(found, ["[fd00::5]:7001", "198.18.0.2:7001"]);
        // No address, or one no other host reaches, is refused.
        for host in ["", "localhost", "127.0.0.1", "::1", "0.0.0.0", "fe80::1"] {
            let bad = Heartbeat {
                host: host.into(),
                ..beat(HeartbeatKind::Alive, 99)
            };
            assert_eq!(take(bad), Err(HeartbeatError::BadHost(host.into())));
        }
        // A wrong key is refused before anything is kept.
        let stranger = AnnounceKey::new(&token("x"));
        let datagram = beat(HeartbeatKind::Leaving, 99).encode(&stranger);
        assert_eq!(roster.take(&datagram, &key), Err(HeartbeatError::Tag));
        assert_eq!(roster.members().len(), 2);
    }
}
