//! Harnesses over every parser of untrusted bytes in Stillepost, one per fuzz target:
//!
//! - [`datagrams`]: the whole receive path of a member (header decoding, tags, the tour
//!   state machine, echo, probe and challenge answers, GRO splitting, fragment reassembly),
//!   as a forwarder or as the origin of a running tour, with or without a ring key;
//! - [`reassembly`]: fragment reassembly driven directly with any index, length and
//!   sequence;
//! - [`control_data`]: the readers of what the kernel writes for a receive (control
//!   messages, source addresses);
//! - [`stored`]: the coordinator's stored files (results, the kept ring) and the
//!   HdrHistogram bytes a result carries;
//! - [`heartbeats`]: members' multicast announcements as a coordinator reads them (the
//!   datagram's framing, its tag, the roster it updates).
//!
//! Each takes any bytes and panics only when a property is violated (a parser panicking,
//! or a datagram that ends in no count or in two): that is what AFL++ records as a crash.
//! `fuzz/afl` wraps them in AFL++'s persistent loop, `fuzz/run` fuzzes them, and
//! `tests/corpus.rs` replays the seeds and every kept crash (`fuzz/regressions`) under
//! `cargo test`.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use prost::Message as _;
use stillepost_control::announce::{AnnounceKey, Heartbeat, HeartbeatKind, Roster};
use stillepost_control::auth::Token;
use stillepost_control::proto::{StoredRing, TourResult};
use stillepost_control::store::ResultStore;
use stillepost_engine::auth::RingKey;
use stillepost_engine::counters::{CounterSet, MemberCounters};
use stillepost_engine::endpoint::{Endpoint, Offload, Receive, RingSetup, segments};
use stillepost_engine::fragment::{FragmentPlan, Reassembly};
use stillepost_engine::pool::Pool;
use stillepost_engine::tour::{RingPosition, TourConfig};
use stillepost_engine::wire::{
    CHALLENGE_LEN, HEADER_LEN, Header, Kind, MAX_DATAGRAM, PROBE_LEN, tagged,
};

/// The fuzz targets, by name (the names of fuzz/afl's binaries and of the corpus folders).
pub const TARGETS: [&str; 5] = [
    "datagrams",
    "reassembly",
    "control_data",
    "stored",
    "heartbeats",
];

/// Runs target `name` on `data`; `None` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> Option<()> {
    match name {
        "datagrams" => datagrams(data),
        "reassembly" => reassembly(data),
        "control_data" => control_data(data),
        "stored" => stored(data),
        "heartbeats" => heartbeats(data),
        _ => return None,
    }
    Some(())
}

/// Cases per property test over the harnesses: `STILLEPOST_FUZZ_CASES`, else 2000 (what
/// `cargo test` runs).
pub fn property_cases() -> u32 {
    std::env::var("STILLEPOST_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// The tour the harness's members are armed for.
pub const TOUR: u64 = 0x5eed_0000_0000_0001;
/// Messages of the harness's tour.
pub const COUNT: u32 = 100;
/// Message length of the harness's tour, unfragmented.
pub const MSG_LEN: u32 = 200;
/// Message length and largest datagram of the fragmented tour.
pub const FRAGMENTED: (u32, u32) = (3000, 1000);
/// Receive slot size: the largest datagram the harness hands to a member.
pub const SLOT: usize = 2048;

/// The previous member's address (datagrams "from the previous member" come from here).
pub fn prev() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5000))
}

/// A stranger's address.
pub fn stranger() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 9], 9))
}

/// Member `index` of 3 (0: the origin), armed for [`TOUR`]: [`COUNT`] messages of
/// [`MSG_LEN`] B in one datagram each, or of [`FRAGMENTED`] in fragments; forwarded as
/// they arrive, or with `hold` all held until the last one arrived.
pub fn member(index: u32, key: Option<RingKey>, fragmented: bool, hold: bool) -> Endpoint {
    let (msg_len, max_datagram) = if fragmented { FRAGMENTED } else { (MSG_LEN, 0) };
    let setup = RingSetup {
        position: RingPosition { index, ring_len: 3 },
        config: TourConfig {
            count: COUNT,
            msg_len,
            window: COUNT,
            forward_immediately: !hold,
            member_timeout_ns: 1_000_000_000,
            warmup: 0,
            interval_ns: 0,
            max_datagram,
            max_buffer_memory: 0,
        },
        next_peer: SocketAddr::from(([127, 0, 0, 1], 6000)),
        prev_peer: prev(),
        ring_key: key,
        echo_key: key.map(|k| k.echo_key()),
        dscp: 0,
    };
    let Ok(mut endpoint) = Endpoint::new(setup, Offload::default(), false) else {
        panic!("the harness's ring setup is refused");
    };
    // As a data plane does at configure: the queue, and the hold store when holding.
    endpoint.reserve(1, 1);
    assert!(
        endpoint.prepare(TOUR, 0),
        "the harness's member cannot be armed"
    );
    endpoint
}

/// Every count a datagram can end in: received, answered, or dropped and counted.
/// (Fragments are received into reassembly first; only whole messages count as received,
/// so this sum is exact only for unfragmented tours.)
pub fn accounted(endpoint: &Endpoint) -> u64 {
    let Some(machine) = endpoint.machine() else {
        return endpoint.io().echoes;
    };
    let counters = MemberCounters {
        tour: machine.counters().clone(),
        io: *endpoint.io(),
        socket: Default::default(),
    };
    [
        "received",
        "duplicates",
        "malformed",
        "stale",
        "wrong_hop",
        "unexpected_kind",
        "bad_tag",
        "wrong_source",
        "injected_drops",
        "rate_limited",
        "ignored",
    ]
    .iter()
    .map(|name| counters.counter(name).unwrap_or(0))
    .sum::<u64>()
        + endpoint.io().echoes
}

/// The readers a datagram meets before the state machine: none may panic.
fn parse_alone(datagram: &[u8]) {
    let decoded = Header::decode(datagram);
    assert!(
        datagram.len() <= MAX_DATAGRAM || decoded.is_err(),
        "a datagram of {} B decoded",
        datagram.len()
    );
    let _ = Header::probe_reply(datagram);
    let _ = Header::challenge_answer(datagram);
    let _ = Header::send_stamp(datagram);
    let _ = Kind::peek(datagram);
    let _ = tagged(datagram);
}

/// One receive the harness hands to a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The received bytes (at most [`SLOT`]).
    pub bytes: Vec<u8>,
    /// From the previous member (else from a stranger).
    pub from_prev: bool,
    /// Tagged before it is handed over (keyed rings only): with the echo key if it is an
    /// echo request, else with the datagram key.
    pub tag: bool,
    /// GRO: the bytes are datagrams of this size.
    pub segment_size: Option<usize>,
}

/// How [`datagrams`] reads its input: a mode byte, then arrivals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The ring has a key.
    pub keyed: bool,
    /// The member is the origin of a running tour (else forwarder 1).
    pub origin: bool,
    /// Messages travel in fragments.
    pub fragmented: bool,
    /// Members hold every message until the last one arrived (forward-immediately false).
    pub hold: bool,
    /// What arrives.
    pub arrivals: Vec<Arrival>,
}

impl Script {
    /// Reads a script from fuzz input: byte 0 holds the mode (bit 0 keyed, bit 1 origin,
    /// bit 2 fragmented, bit 3 hold); then each arrival is a flags byte (bit 0 from the previous
    /// member, bit 1 tagged, bit 2 GRO with segments of 8 × (1 + bits 3–7) B), a
    /// little-endian u16 length (taken modulo [`SLOT`] + 1) and that many bytes (fewer at
    /// the end of the input).
    pub fn parse(data: &[u8]) -> Script {
        let mode = data.first().copied().unwrap_or(0);
        let mut arrivals = Vec::new();
        let mut rest = data.get(1..).unwrap_or(&[]);
        while let [flags, lo, hi, tail @ ..] = rest {
            let len = usize::from(u16::from_le_bytes([*lo, *hi])) % (SLOT + 1);
            let len = len.min(tail.len());
            arrivals.push(Arrival {
                bytes: tail[..len].to_vec(),
                from_prev: flags & 1 != 0,
                tag: flags & 2 != 0,
                segment_size: (flags & 4 != 0).then(|| 8 * (1 + usize::from(flags >> 3))),
            });
            rest = &tail[len..];
        }
        Script {
            keyed: mode & 1 != 0,
            origin: mode & 2 != 0,
            fragmented: mode & 4 != 0,
            hold: mode & 8 != 0,
            arrivals,
        }
    }

    /// The fuzz input that [`Script::parse`] reads back as this script.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![
            u8::from(self.keyed)
                | u8::from(self.origin) << 1
                | u8::from(self.fragmented) << 2
                | u8::from(self.hold) << 3,
        ];
        for a in &self.arrivals {
            let gro = a
                .segment_size
                .map_or(0, |s| 4 | (((s / 8).saturating_sub(1).min(31)) as u8) << 3);
            out.push(u8::from(a.from_prev) | u8::from(a.tag) << 1 | gro);
            out.extend_from_slice(&(a.bytes.len().min(SLOT) as u16).to_le_bytes());
            out.extend_from_slice(&a.bytes[..a.bytes.len().min(SLOT)]);
        }
        out
    }
}

/// The receive path: every arrival of the script goes to a member (the origin sends its
/// first messages first); nothing may panic, and in an unfragmented tour each datagram
/// ends in exactly one count.
pub fn datagrams(data: &[u8]) {
    let _ = run_script(&Script::parse(data));
}

/// [`datagrams`] on a script already read; returns the member, for its counters.
pub fn run_script(script: &Script) -> Endpoint {
    let key = script.keyed.then(|| RingKey::from_bytes([7; 32]));
    let mut endpoint = member(
        u32::from(!script.origin),
        key,
        script.fragmented,
        script.hold,
    );
    let mut pool = Pool::new(1, SLOT, 0);
    let mut now = 1_000;
    if script.origin {
        if let Some(machine) = endpoint.machine_mut() {
            machine.start(now);
        }
        let mut send = vec![0u8; MAX_DATAGRAM];
        for _ in 0..8 {
            if !endpoint.fill_send_slot(now, 0, &mut send) {
                break;
            }
            while let Some(t) = endpoint.poll_transmit(now, &mut pool) {
                endpoint.handle_send_result(&t, Ok(()));
            }
        }
    }
    for arrival in &script.arrivals {
        now += 1_000;
        let len = arrival.bytes.len().min(SLOT);
        let slot = pool.slot(0);
        slot[..len].copy_from_slice(&arrival.bytes[..len]);
        if arrival.tag
            && let Some(key) = key
        {
            // Echo requests carry the echo key's tag, everything else the datagram key's.
            if Kind::peek(&slot[..len]) == Some(Kind::EchoRequest) {
                key.echo_key().sign(&mut slot[..len]);
            } else {
                key.datagram_key().sign(&mut slot[..len]);
            }
        }
        // The datagrams of the receive, split as the endpoint splits a GRO receive.
        let stride = arrival.segment_size.filter(|&s| s < len).unwrap_or(len);
        let pieces: Vec<(usize, usize)> = segments(0, len, stride).collect();
        for &(at, n) in &pieces {
            parse_alone(&slot[at..at + n]);
        }
        let before = accounted(&endpoint);
        endpoint.handle_receive(
            Receive {
                buffer: 0,
                offset: 0,
                len,
                segment_size: arrival.segment_size,
                source: Some(if arrival.from_prev {
                    prev()
                } else {
                    stranger()
                }),
                now,
                kernel_stamp: false,
            },
            &mut pool,
        );
        if !script.fragmented {
            let expected = before + pieces.len() as u64;
            assert_eq!(
                accounted(&endpoint),
                expected,
                "a receive of {len} B (segments {:?}) was not counted once per datagram",
                arrival.segment_size
            );
        }
        while let Some(t) = endpoint.poll_transmit(now, &mut pool) {
            endpoint.handle_send_result(&t, Ok(()));
        }
    }
    endpoint
}

/// Fragment reassembly driven directly: bytes 0–3 the message length, 4–5 the largest
/// datagram, then fragments of 7 bytes each (sequence, index, length).
pub fn reassembly(data: &[u8]) {
    let word = |at: usize, n: usize| {
        let mut b = [0u8; 4];
        if let Some(s) = data.get(at..at + n) {
            b[..n].copy_from_slice(s);
        }
        u32::from_le_bytes(b)
    };
    let msg_len = word(0, 4) % 400_000;
    let max_datagram = word(4, 2);
    let Ok(plan) = FragmentPlan::new(msg_len, max_datagram) else {
        return;
    };
    let mut reassembly = Reassembly::new(plan, 8);
    for (i, f) in data.get(6..).unwrap_or(&[]).chunks_exact(7).enumerate() {
        let seq = u32::from(f[0]);
        let index = u32::from_le_bytes([f[1], f[2], f[3], 0]);
        let len = usize::from(u16::from_le_bytes([f[4], f[5]])) + usize::from(f[6]) * 65_536;
        let _ = reassembly.accept(seq, index, len, i as u64);
    }
    let _ = reassembly.incomplete();
}

/// The kernel's control data and source addresses for one receive.
pub fn control_data(data: &[u8]) {
    use stillepost_engine::dataplane::{gro_segment_size, kernel_rx_ns, socket_addr};
    let _ = kernel_rx_ns(data);
    if let Some(size) = gro_segment_size(data) {
        assert!(size > 0, "a GRO segment size of 0 was read");
    }
    let _ = socket_addr(data);
}

/// The key the harness's heartbeats are tagged with (a token of the fuzz ring's).
fn announce_key() -> &'static AnnounceKey {
    static KEY: OnceLock<AnnounceKey> = OnceLock::new();
    KEY.get_or_init(|| match Token::parse("fuzz-ring-token", "fuzz") {
        Ok(token) => AnnounceKey::new(&token),
        Err(e) => panic!("the harness's token: {e}"),
    })
}

/// A datagram on the announcement group, as a coordinator reads it. The first byte says
/// how the rest is used: as the datagram itself, or (odd) as the fields of a heartbeat
/// framed and tagged with the coordinator's key, so that the fuzzer reaches past the tag
/// into the roster. Every heartbeat that decodes encodes back to the same bytes; the roster
/// takes a datagram or refuses it, never panics, and keeps only endpoints that are
/// addresses.
pub fn heartbeats(data: &[u8]) {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    let key = announce_key();
    let datagram = if how & 1 == 0 {
        rest.to_vec()
    } else {
        let cut = usize::from(how >> 2).min(rest.len());
        let (host, name) = rest.split_at(cut);
        let port = u16::from_be_bytes([name.first().copied().unwrap_or(0), how]);
        Heartbeat {
            kind: if how & 2 == 0 {
                HeartbeatKind::Alive
            } else {
                HeartbeatKind::Leaving
            },
            port,
            host: String::from_utf8_lossy(host).into_owned(),
            name: String::from_utf8_lossy(name).into_owned(),
            sequence: u64::from(how),
        }
        .encode(key)
    };
    if let Ok(beat) = Heartbeat::decode(&datagram, key) {
        assert_eq!(
            beat.encode(key),
            datagram,
            "a heartbeat that does not encode back"
        );
    }
    let roster = Roster::new(SocketAddr::from(([239, 255, 83, 80], 7090)));
    if roster.take(&datagram, key).is_ok() {
        // The same datagram again is a replay.
        assert!(
            roster.take(&datagram, key).is_err(),
            "a heartbeat was taken twice"
        );
    }
    for member in roster.members() {
        let Ok(endpoint) = member.endpoint.parse::<SocketAddr>() else {
            panic!("a member endpoint that is no address: {}", member.endpoint);
        };
        let ip = endpoint.ip();
        assert!(
            !ip.is_unspecified() && !ip.is_loopback() && endpoint.port() != 0,
            "a member kept at an address no other host reaches: {endpoint}"
        );
    }
}

/// A store directory for this process, made once.
fn store() -> &'static (ResultStore, PathBuf) {
    static STORE: OnceLock<(ResultStore, PathBuf)> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("stillepost-fuzz-store-{}", std::process::id()));
        let Ok(store) = ResultStore::open(&dir) else {
            panic!("cannot make the store directory {}", dir.display());
        };
        (store, dir)
    })
}

/// Stored files of any content: a result file and the kept ring holding these bytes are
/// read as a result, a ring, or an error naming the file; the bytes as a histogram decode
/// or fail.
pub fn stored(data: &[u8]) {
    let (store, dir) = store();
    let file = dir.join("0000000000000001.pb");
    if std::fs::write(&file, data).is_err() || std::fs::write(dir.join("ring.pb"), data).is_err() {
        panic!("cannot write into {}", dir.display());
    }
    if let Err(e) = store.load(1) {
        assert!(
            e.to_string().contains("0000000000000001.pb"),
            "an error that does not name the file: {e}"
        );
    }
    let _ = store.load_ring();
    let _ = store.index();
    let _ = StoredRing::decode(data);
    let _ = TourResult::decode(data);
    let _ = stillepost_engine::histogram::decode(data);
}

/// Seeds for target `name`: valid inputs that reach deep (a tour's own datagrams, a real
/// fragment sequence, real control messages, a stored result), for AFL++ to start from.
pub fn seeds(name: &str) -> Vec<(String, Vec<u8>)> {
    match name {
        "datagrams" => datagram_seeds(),
        "reassembly" => {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&3000u32.to_le_bytes());
            bytes.extend_from_slice(&1000u16.to_le_bytes());
            for index in 0..4u32 {
                bytes.push(1);
                bytes.extend_from_slice(&index.to_le_bytes()[..3]);
                bytes.extend_from_slice(&1000u16.to_le_bytes());
                bytes.push(0);
            }
            vec![("fragments".into(), bytes)]
        }
        "control_data" => {
            let mut stamp = cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPING, &[0; 48]);
            stamp[16..24].copy_from_slice(&12i64.to_ne_bytes());
            let gro = cmsg(libc::SOL_UDP, libc::UDP_GRO, &1400i32.to_ne_bytes());
            let mut both = gro.clone();
            both.extend_from_slice(&stamp);
            vec![
                ("timestamp".into(), stamp),
                ("gro".into(), gro),
                ("both".into(), both),
            ]
        }
        "heartbeats" => {
            let key = announce_key();
            let beat = |kind, host: &str| {
                let mut bytes = vec![0];
                bytes.extend(
                    Heartbeat {
                        kind,
                        port: 7001,
                        host: host.into(),
                        name: "rack1-a".into(),
                        sequence: 1_764_000_000_000_000_000,
                    }
                    .encode(key),
                );
                bytes
            };
            // Framed mode (an odd first byte): the host, then the name, from the input.
            let framed = |how: u8, host: &str, name: &str| {
                let mut bytes = vec![how];
                bytes.extend_from_slice(host.as_bytes());
                bytes.extend_from_slice(name.as_bytes());
                bytes
            };
            vec![
                ("alive".into(), beat(HeartbeatKind::Alive, "198.18.0.1")),
                ("leaving".into(), beat(HeartbeatKind::Leaving, "198.18.0.2")),
                ("alive-v6".into(), beat(HeartbeatKind::Alive, "fd00::5")),
                // 10 host bytes ("198.18.0.1" is 10 long: how >> 2 == 10).
                ("framed".into(), framed(41, "198.18.0.1", "rack1-a")),
                ("framed-leaving".into(), framed(43, "198.18.0.1", "rack1-b")),
            ]
        }
        "stored" => {
            let result = TourResult {
                tour_id: 1,
                messages_sent: 10,
                error: "x".into(),
                ..Default::default()
            };
            vec![
                ("result".into(), result.encode_to_vec()),
                ("ring".into(), StoredRing::default().encode_to_vec()),
            ]
        }
        _ => Vec::new(),
    }
}

/// A control message as the kernel lays it out: length (usize), level, type, data,
/// padded to 8 bytes.
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

/// A datagram of the harness's tour: message `seq`, `hop`, sent at `at`.
pub fn tour_datagram(seq: u32, hop: u16, at: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    Header {
        kind: Kind::Data,
        flags: 0,
        tour_id: TOUR,
        seq,
        frag_index: 0,
        frag_count: 1,
        msg_len: MSG_LEN,
        hop,
        prev_send_ns: at,
        origin_send_ns: at,
    }
    .encode(&mut bytes);
    bytes
}

fn datagram_seeds() -> Vec<(String, Vec<u8>)> {
    let arrival = |bytes: Vec<u8>, tag| Arrival {
        bytes,
        from_prev: true,
        tag,
        segment_size: None,
    };
    let forwarder = |keyed| Script {
        keyed,
        origin: false,
        fragmented: false,
        hold: false,
        arrivals: (0..3)
            .map(|seq| arrival(tour_datagram(seq, 0, 500, MSG_LEN as usize), keyed))
            .collect(),
    };
    let origin = Script {
        keyed: false,
        origin: true,
        fragmented: false,
        hold: false,
        arrivals: (0..3)
            .map(|seq| arrival(tour_datagram(seq, 2, 900, MSG_LEN as usize), false))
            .collect(),
    };
    let mut probe = vec![0u8; PROBE_LEN];
    Header::clock_probe(9, 1, 100).encode(&mut probe);
    let mut echo = vec![0u8; HEADER_LEN];
    Header::echo_request(5).encode(&mut echo);
    let mut challenge = vec![0u8; CHALLENGE_LEN];
    Header::challenge(77).encode(&mut challenge);
    let answers = Script {
        keyed: true,
        origin: false,
        fragmented: false,
        hold: false,
        arrivals: vec![
            arrival(probe, true),
            arrival(echo, true),
            arrival(challenge, false),
        ],
    };
    let plan = FragmentPlan::new(FRAGMENTED.0, FRAGMENTED.1)
        .unwrap_or_else(|e| panic!("the harness's fragment plan is refused: {e}"));
    let fragmented = Script {
        keyed: false,
        origin: false,
        fragmented: true,
        hold: false,
        arrivals: (0..plan.count())
            .map(|index| {
                let mut bytes = vec![0u8; plan.datagram_len(index)];
                Header {
                    kind: Kind::Data,
                    flags: 0,
                    tour_id: TOUR,
                    seq: 0,
                    frag_index: index,
                    frag_count: plan.count(),
                    msg_len: FRAGMENTED.0,
                    hop: 0,
                    prev_send_ns: 500,
                    origin_send_ns: 500,
                }
                .encode(&mut bytes);
                arrival(bytes, false)
            })
            .collect(),
    };
    let gro = Script {
        keyed: false,
        origin: false,
        fragmented: false,
        hold: false,
        arrivals: vec![Arrival {
            bytes: [
                tour_datagram(0, 0, 500, MSG_LEN as usize),
                tour_datagram(1, 0, 500, MSG_LEN as usize),
            ]
            .concat(),
            from_prev: true,
            tag: false,
            segment_size: Some(MSG_LEN as usize),
        }],
    };
    let held = |script: &Script| Script {
        hold: true,
        ..script.clone()
    };
    let (hold, hold_fragmented) = (held(&forwarder(false)), held(&fragmented));
    [
        ("hold", hold),
        ("hold-fragmented", hold_fragmented),
        ("forwarder", forwarder(false)),
        ("forwarder-keyed", forwarder(true)),
        ("origin", origin),
        ("answers", answers),
        ("fragmented", fragmented),
        ("gro", gro),
    ]
    .into_iter()
    .map(|(name, script)| (name.to_owned(), script.to_bytes()))
    .collect()
}

/// The member counters a datagram that is not a message of the tour ends in (rejected,
/// or answered as an echo or challenge): what a junk blast must be found in, from a
/// member's lifetime counters (`status --json`, `members[].lifetime`).
pub const REJECTED: [&str; 11] = [
    "malformed",
    "stale",
    "wrong_hop",
    "unexpected_kind",
    "duplicates",
    "duplicate_fragments",
    "bad_tag",
    "wrong_source",
    "rate_limited",
    "ignored",
    "echoes",
];

/// Junk a hostile sender aims at a member during tour `tour_id`, eight kinds in turn:
/// random bytes, truncated headers, the tour's own data untagged, 65535 fragments, a
/// fragment index beyond its count, a length of 0xFFFFFFFF, clock probes and echo requests
/// without the ring's tag. Deterministic (xorshift from a fixed seed), so runs compare.
#[derive(Debug, Clone)]
pub struct Junk {
    tour_id: u64,
    seed: u64,
    sent: u64,
}

impl Junk {
    /// Junk for tour `tour_id`.
    pub fn new(tour_id: u64) -> Junk {
        Junk {
            tour_id,
            seed: 0x9e37_79b9_7f4a_7c15,
            sent: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    /// The next junk datagram.
    pub fn datagram(&mut self) -> Vec<u8> {
        let i = self.sent;
        self.sent += 1;
        let r = self.next();
        let tour_id = self.tour_id;
        let header = |kind, seq, frag_index, frag_count, msg_len| Header {
            kind,
            flags: 0,
            tour_id,
            seq,
            frag_index,
            frag_count,
            msg_len,
            hop: (r % 4) as u16,
            prev_send_ns: r,
            origin_send_ns: 1,
        };
        let mut bytes = vec![0u8; 200];
        match i % 8 {
            0 => {
                for b in bytes.iter_mut() {
                    *b = self.next() as u8;
                }
            }
            1 => bytes.truncate((r % HEADER_LEN as u64) as usize),
            2 => header(Kind::Data, 0, 0, 1, 200).encode(&mut bytes),
            3 => header(Kind::Data, (r % 30_000) as u32, 0, 65_535, 200).encode(&mut bytes),
            4 => header(Kind::Data, 7, 9, 3, 200).encode(&mut bytes),
            5 => header(Kind::Data, 7, 0, 1, u32::MAX).encode(&mut bytes),
            6 => Header::clock_probe(r, 0, r).encode(&mut bytes[..PROBE_LEN]),
            _ => {
                bytes.truncate(HEADER_LEN);
                Header::echo_request(r).encode(&mut bytes);
            }
        }
        bytes
    }
}
