//! Ring configuration shared by the client and the coordinator: defaults, validation of
//! the cluster list and of tour parameters, and conversion to the engine's types.
#![forbid(unsafe_code)]

use std::net::SocketAddr;

use stillepost_engine::tour::{ConfigError, TourConfig};

use crate::proto::TourParams;

/// Default message length, bytes (header included).
pub const DEFAULT_MSG_LEN: u32 = 1024;
/// Default messages per tour.
pub const DEFAULT_COUNT: u32 = 1000;
/// Default member timeout, ms: a tour whose messages stop arriving ends after this long.
pub const DEFAULT_MEMBER_TIMEOUT_MS: u64 = 10_000;
/// Default configure timeout, s.
pub const DEFAULT_CONFIGURE_TIMEOUT_S: u64 = 10;
/// Default most memory a member may set aside for a tour's buffers, bytes.
pub const DEFAULT_MAX_BUFFER_MEMORY: u64 = 1 << 30;
/// What a default window may have in flight: the receive buffer every member asks for at
/// least (each datagram charged its length plus the kernel's overhead).
const DEFAULT_IN_FLIGHT_BYTES: u64 = 4 << 20;

/// The window when `--window` is not given: all messages, unless they would overflow a
/// default receive buffer (large messages), then as many as fit, at least one. Hold mode
/// needs all.
pub fn default_window(msg_len: u32, count: u32, forward_immediately: bool) -> u32 {
    let per_message = stillepost_tuning::receive_buffer_needed(u64::from(msg_len), 1);
    let fit = (DEFAULT_IN_FLIGHT_BYTES / per_message.max(1)).max(1);
    if !forward_immediately || u64::from(count) <= fit {
        0
    } else {
        fit as u32
    }
}

/// The tour of a `stillepost configure` given no tour flag (and of a coordinator's
/// `--cluster`): 1000 messages of 1024 B, forwarded at once, the default window.
pub fn default_params() -> TourParams {
    TourParams {
        msg_len: DEFAULT_MSG_LEN,
        count: DEFAULT_COUNT,
        window: default_window(DEFAULT_MSG_LEN, DEFAULT_COUNT, true),
        forward_immediately: true,
        member_timeout_ms: DEFAULT_MEMBER_TIMEOUT_MS,
        warmup: 0,
        rate: 0.0,
        max_datagram: 0,
        max_buffer_memory: DEFAULT_MAX_BUFFER_MEMORY,
        whole_rate: 0,
        dscp: 0,
        placement: 0,
    }
}

/// Longest configure timeout accepted: one hour.
pub const MAX_CONFIGURE_TIMEOUT_MS: u64 = 3_600_000;
/// Most members a ring may have: a configure reaches all of them at once, so this bounds
/// what one request can make the coordinator hold (connections, tasks, replies).
pub const MAX_RING_MEMBERS: usize = 1024;
/// Most members a source (`file:`, `dns:`, `discover`) may name: more than a ring holds,
/// for `--ring-size` to split.
pub const MAX_SOURCE_MEMBERS: usize = 16 * MAX_RING_MEMBERS;

/// What is wrong with a cluster list. Positions are 1-based, as a user counts entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// No member at all.
    #[error("--cluster is empty: list the members' control endpoints, host:port,host:port,...")]
    Empty,
    /// An empty entry, as in `a:1,,b:2`.
    #[error("--cluster entry {position} is empty (two commas in a row, or a trailing comma?)")]
    EmptyEntry {
        /// 1-based position.
        position: usize,
    },
    /// Not `host:port`.
    #[error("--cluster entry {position} '{entry}' is not host:port: {reason}")]
    BadEndpoint {
        /// 1-based position.
        position: usize,
        /// The entry.
        entry: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// More members than a ring may have.
    #[error("--cluster lists {count} members; a ring has at most {MAX_RING_MEMBERS}")]
    TooMany {
        /// Members listed.
        count: usize,
    },
    /// More members than a source may name.
    #[error(
        "--cluster names {count} members; a source may name at most {MAX_SOURCE_MEMBERS}, split into rings of at most {MAX_RING_MEMBERS} with --ring-size"
    )]
    SourceTooMany {
        /// Members named.
        count: usize,
    },
    /// A source (`file:`) given together with other entries.
    #[error(
        "--cluster '{entry}' is a source of members and must stand alone: give either a source or a list of host:port"
    )]
    SourceNotAlone {
        /// The source entry.
        entry: String,
    },
    /// A `file:` source with no path.
    #[error("--cluster 'file:' names no file: give file:<path> (one endpoint per line)")]
    NoFile,
    /// A `dns:` source with no name.
    #[error(
        "--cluster 'dns:' names no DNS name: give dns:<name>:<port> (A/AAAA records) or dns:<name> (SRV records)"
    )]
    NoDnsName,
    /// A `dns:` or `discover:` source whose port or group is wrong.
    #[error("--cluster '{entry}': {reason}")]
    BadSource {
        /// The source entry.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A member file without a member.
    #[error(
        "{path} lists no member: one control endpoint (host:port) per line, # starts a comment"
    )]
    FileEmpty {
        /// The file, as given.
        path: String,
    },
    /// A bad line in a member file.
    #[error("{path} line {line}: {error}")]
    FileLine {
        /// The file, as given.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with its entry.
        error: Box<ClusterError>,
    },
    /// The same member listed twice.
    #[error(
        "--cluster lists '{entry}' twice (entries {first} and {second}); every member may appear once"
    )]
    Duplicate {
        /// The entry.
        entry: String,
        /// 1-based position of the first occurrence.
        first: usize,
        /// 1-based position of the second.
        second: usize,
    },
}

/// The multicast group and port members announce themselves on and a coordinator
/// listens to when `--announce`/`discover` name none: an administratively scoped IPv4
/// group (RFC 2365), so routers at the organisation's edge do not carry it.
pub const DEFAULT_ANNOUNCE_GROUP: &str = "239.255.83.80:7090";

/// Where a ring's members come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSource {
    /// A list of control endpoints, in ring order.
    List(Vec<String>),
    /// `file:<path>`: a file on the coordinator's host with one endpoint per line, read at
    /// every configure; the ring is in the order of the members' names.
    File(String),
    /// `dns:<name>[:<port>]`: with a port, every address the name resolves to (A/AAAA),
    /// each a member at that port; without, the name's SRV records (a member per record,
    /// at the record's port). Resolved by the coordinator at every configure.
    Dns {
        /// The name to resolve.
        name: String,
        /// The members' control port, when the name has A/AAAA records rather than SRV.
        port: Option<u16>,
    },
    /// `discover[:<group:port>]`: the members heard announcing themselves on this UDP
    /// multicast group in the last few seconds (`stillepostd member --announce`).
    Discover(SocketAddr),
}

impl ClusterSource {
    /// The `--cluster` value that names this source (a list: its entries joined by commas).
    pub fn entry(&self) -> String {
        match self {
            ClusterSource::List(list) => list.join(","),
            ClusterSource::File(path) => format!("file:{path}"),
            ClusterSource::Dns { name, port: None } => format!("dns:{name}"),
            ClusterSource::Dns {
                name,
                port: Some(port),
            } => format!("dns:{name}:{port}"),
            ClusterSource::Discover(group) => format!("discover:{group}"),
        }
    }
}

/// Which source `entries` (the `--cluster` values) name: a source (`file:`, `dns:`,
/// `discover`) alone, or a list (checked by [`validate_cluster`]).
pub fn cluster_source(entries: &[String]) -> Result<ClusterSource, ClusterError> {
    let is_source = |e: &str| {
        e.starts_with("file:")
            || e.starts_with("dns:")
            || e == "discover"
            || e.starts_with("discover:")
    };
    let source = entries.iter().map(|e| e.trim()).find(|e| is_source(e));
    let Some(entry) = source else {
        return validate_cluster(entries).map(ClusterSource::List);
    };
    if entries.len() > 1 {
        return Err(ClusterError::SourceNotAlone {
            entry: entry.to_string(),
        });
    }
    let bad = |reason: String| ClusterError::BadSource {
        entry: entry.to_string(),
        reason,
    };
    if let Some(path) = entry.strip_prefix("file:") {
        return match path.trim() {
            "" => Err(ClusterError::NoFile),
            path => Ok(ClusterSource::File(path.to_string())),
        };
    }
    if let Some(rest) = entry.strip_prefix("dns:") {
        let (name, port) = match rest.rsplit_once(':') {
            None => (rest, None),
            Some((name, port)) => match port.parse::<u16>() {
                Ok(0) | Err(_) => {
                    return Err(bad(format!(
                        "'{port}' is not a port from 1 to 65535 (dns:<name>:<port>)"
                    )));
                }
                Ok(port) => (name, Some(port)),
            },
        };
        // A trailing dot stays: the name is then absolute, and no search domain applies.
        let name = name.trim();
        if name.trim_end_matches('.').is_empty() {
            return Err(ClusterError::NoDnsName);
        }
        if name.contains(':') || name.contains(char::is_whitespace) {
            return Err(bad(format!("'{name}' is not a DNS name")));
        }
        return Ok(ClusterSource::Dns {
            name: name.to_string(),
            port,
        });
    }
    let group = match entry.strip_prefix("discover").unwrap_or("") {
        "" => DEFAULT_ANNOUNCE_GROUP,
        rest => rest.trim_start_matches(':'),
    };
    announce_group(group)
        .map(ClusterSource::Discover)
        .map_err(bad)
}

/// Parses a multicast group and port (`239.255.83.80:7090`, `[ff05::5350]:7090`) as
/// `--announce` and `discover:` take them.
pub fn announce_group(text: &str) -> Result<SocketAddr, String> {
    let group: SocketAddr = text.parse().map_err(|_| {
        format!("'{text}' is not a multicast group and port, as in {DEFAULT_ANNOUNCE_GROUP}")
    })?;
    if !group.ip().is_multicast() {
        return Err(format!(
            "{} is no multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8); use a group such as {DEFAULT_ANNOUNCE_GROUP}",
            group.ip()
        ));
    }
    if group.port() == 0 {
        return Err(format!("{text}: port 0 is no port to announce on"));
    }
    if let SocketAddr::V6(v6) = group
        && v6.ip().segments()[0] & 0x000f <= 2
    {
        return Err(format!(
            "{} is an interface- or link-local IPv6 group, which needs an interface to be named; use a site-local group (ff05::/16), as in [ff05::5350]:7090",
            v6.ip()
        ));
    }
    Ok(group)
}

/// The endpoints a member file (`file:<path>`) lists: one per line, blank lines and
/// everything after `#` ignored, checked as a `--cluster` list is.
pub fn cluster_from_file(path: &str, text: &str) -> Result<Vec<String>, ClusterError> {
    let entries: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            (
                i + 1,
                line.split('#').next().unwrap_or("").trim().to_string(),
            )
        })
        .filter(|(_, entry)| !entry.is_empty())
        .collect();
    if entries.is_empty() {
        return Err(ClusterError::FileEmpty {
            path: path.to_string(),
        });
    }
    for (line, entry) in &entries {
        validate_cluster(std::slice::from_ref(entry)).map_err(|error| ClusterError::FileLine {
            path: path.to_string(),
            line: *line,
            error: Box::new(error),
        })?;
    }
    let all: Vec<String> = entries.into_iter().map(|(_, e)| e).collect();
    validate_source_members(&all)
}

/// Checks a cluster list's syntax and returns the trimmed entries (at most a ring's
/// worth). Name resolution and duplicates by address are checked by the coordinator,
/// which is where it matters.
pub fn validate_cluster(entries: &[String]) -> Result<Vec<String>, ClusterError> {
    validate_entries(entries, MAX_RING_MEMBERS)
}

/// Checks the members a source named as [`validate_cluster`] does, allowing up to
/// [`MAX_SOURCE_MEMBERS`] (for `--ring-size` to split).
pub fn validate_source_members(entries: &[String]) -> Result<Vec<String>, ClusterError> {
    validate_entries(entries, MAX_SOURCE_MEMBERS)
}

fn validate_entries(entries: &[String], max: usize) -> Result<Vec<String>, ClusterError> {
    if entries.is_empty() {
        return Err(ClusterError::Empty);
    }
    if entries.len() > max {
        let count = entries.len();
        return Err(if max == MAX_RING_MEMBERS {
            ClusterError::TooMany { count }
        } else {
            ClusterError::SourceTooMany { count }
        });
    }
    let mut seen: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(entries.len());
    let mut out: Vec<String> = Vec::with_capacity(entries.len());
    for (i, raw) in entries.iter().enumerate() {
        let position = i + 1;
        let entry = raw.trim();
        if entry.is_empty() {
            return Err(ClusterError::EmptyEntry { position });
        }
        let bad = |reason| ClusterError::BadEndpoint {
            position,
            entry: entry.to_string(),
            reason,
        };
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or_else(|| bad("the port is missing"))?;
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(bad(
                "an IPv6 address needs brackets around it, as in [::1]:7001 or [fd00::5]:7001",
            ));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        match port.parse::<u16>() {
            Ok(0) => return Err(bad("port 0 is not a port a member listens on")),
            Ok(_) => {}
            Err(_) => return Err(bad("the port is not a number from 1 to 65535")),
        }
        if let Some(first) = seen.insert(entry.to_ascii_lowercase(), position) {
            return Err(ClusterError::Duplicate {
                entry: entry.to_string(),
                first,
                second: position,
            });
        }
        out.push(entry.to_string());
    }
    Ok(out)
}

/// The engine's tour configuration for protocol parameters (window 0 = all at once).
pub fn params_to_config(params: &TourParams) -> TourConfig {
    TourConfig {
        count: params.count,
        msg_len: params.msg_len,
        window: if params.window == 0 {
            params.count
        } else {
            params.window
        },
        forward_immediately: params.forward_immediately,
        member_timeout_ns: params.member_timeout_ms.saturating_mul(1_000_000),
        warmup: params.warmup,
        interval_ns: rate_interval_ns(params.rate),
        max_datagram: params.max_datagram,
        max_buffer_memory: params.max_buffer_memory,
    }
}

/// The largest datagram a path of `mtu` bytes carries without IP fragmentation (IPv4: 28
/// bytes of IP and UDP headers, IPv6: 48); `None` when the MTU cannot carry one.
pub fn datagram_for_mtu(mtu: u32, ipv4: bool) -> Option<u32> {
    let headers = if ipv4 { 28 } else { 48 };
    (mtu > headers).then(|| mtu - headers)
}

/// The `--max-datagram` a tour gets by default on a path of `mtu` bytes: what the MTU
/// carries when a message does not fit it (0 when it does, or when the MTU carries more
/// than a datagram can hold). The coordinator applies it with the smallest route MTU on
/// the ring, `stillepost tune` with the host's.
pub fn default_max_datagram(msg_len: u32, mtu: u32, ipv4: bool) -> u32 {
    datagram_for_mtu(mtu, ipv4)
        .and_then(|fit| fragment_size(msg_len, fit))
        .unwrap_or(0)
}

/// The datagram size messages of `msg_len` bytes must be cut to when a path carries at
/// most `fit`-byte datagrams: `fit`, or `None` when a message fits it (or `fit` is more
/// than a datagram can hold anyway).
pub fn fragment_size(msg_len: u32, fit: u32) -> Option<u32> {
    (fit < msg_len && (fit as usize) < stillepost_engine::wire::MAX_DATAGRAM).then_some(fit)
}

/// The workload `stillepost tune` and a configured member check a host for: the tour's
/// own fragment plan (its datagram size and datagrams per message) on a path of `mtu`.
pub fn workload(config: &TourConfig, mtu: u32) -> Result<stillepost_tuning::Workload, ConfigError> {
    let plan = config.plan()?;
    Ok(stillepost_tuning::Workload {
        msg_len: u64::from(config.msg_len),
        window: u64::from(config.window),
        mtu: u64::from(mtu),
        datagram: plan.datagram_len(0) as u64,
        datagrams: u64::from(plan.count()),
    })
}

/// The send interval of an open-loop tour at `rate` messages per second (0: closed loop),
/// rounded to the ns. Rates above 1e9/s round to a 1 ns interval.
pub fn rate_interval_ns(rate: f64) -> u64 {
    if rate > 0.0 && rate.is_finite() {
        // `as` saturates: a rate of 1e-300/s is an interval of u64::MAX ns.
        ((1e9 / rate).round() as u64).max(1)
    } else {
        0
    }
}

/// Validates tour parameters; the message names the flag at fault.
pub fn validate_params(params: &TourParams) -> Result<(), ConfigError> {
    if params.dscp > 63 {
        return Err(ConfigError::Dscp { dscp: params.dscp });
    }
    if !(params.rate >= 0.0 && params.rate.is_finite()) {
        return Err(ConfigError::Rate {
            rate: params.rate.to_string(),
        });
    }
    params_to_config(params).validate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_file_is_a_source_that_stands_alone() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            cluster_source(&list(&[" file:/etc/members "])),
            Ok(ClusterSource::File("/etc/members".into()))
        );
        assert_eq!(
            cluster_source(&list(&["a:1", "b:2"])),
            Ok(ClusterSource::List(list(&["a:1", "b:2"])))
        );
        assert!(matches!(
            cluster_source(&list(&["file:/x", "a:1"])),
            Err(ClusterError::SourceNotAlone { .. })
        ));
        assert_eq!(cluster_source(&list(&["file:"])), Err(ClusterError::NoFile));
        assert_eq!(
            cluster_source(&list(&["dns:members.ring.test:7001"])),
            Ok(ClusterSource::Dns {
                name: "members.ring.test".into(),
                port: Some(7001)
            })
        );
        let srv = cluster_source(&list(&["dns:_control._tcp.members.ring.test."])).unwrap();
        assert_eq!(
            srv,
            ClusterSource::Dns {
                name: "_control._tcp.members.ring.test.".into(),
                port: None
            }
        );
        assert_eq!(srv.entry(), "dns:_control._tcp.members.ring.test.");
        assert_eq!(
            cluster_source(&list(&["dns:"])),
            Err(ClusterError::NoDnsName)
        );
        assert!(matches!(
            cluster_source(&list(&["dns:a.test:0"])),
            Err(ClusterError::BadSource { .. })
        ));
        let default = cluster_source(&list(&["discover"])).unwrap();
        assert_eq!(
            default.entry(),
            format!("discover:{DEFAULT_ANNOUNCE_GROUP}")
        );
        assert_eq!(
            cluster_source(&list(&["discover:[ff05::5350]:7090"])),
            Ok(ClusterSource::Discover(
                "[ff05::5350]:7090".parse().unwrap()
            ))
        );
        let err = cluster_source(&list(&["discover:[ff02::5350]:7090"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("link-local IPv6 group"), "{err}");
        let err = cluster_source(&list(&["discover:10.0.0.1:7090"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("10.0.0.1 is no multicast address"), "{err}");
        let text = "# members\n\na:7001   # rack 1\n [::1]:7001\n";
        assert_eq!(
            cluster_from_file("m", text),
            Ok(list(&["a:7001", "[::1]:7001"]))
        );
        assert_eq!(
            cluster_from_file("m", "# none\n"),
            Err(ClusterError::FileEmpty { path: "m".into() })
        );
        let err = cluster_from_file("m", "a:1\nb\n").unwrap_err().to_string();
        assert!(
            err.starts_with("m line 2: ") && err.contains("port is missing"),
            "{err}"
        );
        assert!(matches!(
            cluster_from_file("m", "a:1\na:1\n"),
            Err(ClusterError::Duplicate { .. })
        ));
    }

    fn list(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    /// Fractional rates give their interval to the ns; a rate that is no number of
    /// messages per second is refused naming the flag, never run as a closed loop.
    #[test]
    fn rates_may_be_fractional() {
        assert_eq!(rate_interval_ns(0.5), 2_000_000_000);
        assert_eq!(rate_interval_ns(3.0), 333_333_333);
        assert_eq!(rate_interval_ns(1000.0), 1_000_000);
        assert_eq!(rate_interval_ns(2e9), 1);
        assert_eq!(rate_interval_ns(0.0), 0);
        let params = |rate: f64| TourParams {
            msg_len: 64,
            count: 10,
            member_timeout_ms: 10_000,
            rate,
            ..TourParams::default()
        };
        assert_eq!(validate_params(&params(0.5)), Ok(()));
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let err = validate_params(&params(bad)).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("rate {bad} is out of range")),
                "{err}"
            );
        }
        // One message every 20 s with a 10 s member timeout would end the tour.
        assert!(matches!(
            validate_params(&params(0.05)),
            Err(ConfigError::RateSlowerThanTimeout { .. })
        ));
    }

    #[test]
    fn cluster_validation_names_the_entry() {
        assert_eq!(
            validate_cluster(&list(&[" a:1", "[::1]:2", "b.example:3 "])),
            Ok(list(&["a:1", "[::1]:2", "b.example:3"]))
        );
        assert_eq!(validate_cluster(&[]), Err(ClusterError::Empty));
        assert_eq!(
            validate_cluster(&list(&["a:1", " ", "b:2"])),
            Err(ClusterError::EmptyEntry { position: 2 })
        );
        assert_eq!(
            validate_cluster(&list(&["a:1", "b:2", "A:1"])),
            Err(ClusterError::Duplicate {
                entry: "A:1".into(),
                first: 1,
                second: 3
            })
        );
        assert!(matches!(
            validate_cluster(&list(&["a"])),
            Err(ClusterError::BadEndpoint {
                position: 1,
                reason: "the port is missing",
                ..
            })
        ));
        assert!(matches!(
            validate_cluster(&list(&["a:1", "b:x"])),
            Err(ClusterError::BadEndpoint { position: 2, .. })
        ));
        assert!(matches!(
            validate_cluster(&list(&[":1"])),
            Err(ClusterError::BadEndpoint {
                reason: "the host is missing",
                ..
            })
        ));
        assert_eq!(
            validate_cluster(&list(&["a:1", "::1:17001"]))
                .unwrap_err()
                .to_string(),
            "--cluster entry 2 '::1:17001' is not host:port: an IPv6 address needs brackets around it, as in [::1]:7001 or [fd00::5]:7001"
        );
        let many: Vec<String> = (1..=MAX_RING_MEMBERS + 1)
            .map(|i| format!("h{i}:7001"))
            .collect();
        assert_eq!(
            validate_cluster(&many),
            Err(ClusterError::TooMany { count: 1025 })
        );
        // A source may name more, for --ring-size to split.
        assert_eq!(validate_source_members(&many).map(|v| v.len()), Ok(1025));
        let too_many: Vec<String> = (1..=MAX_SOURCE_MEMBERS + 1)
            .map(|i| format!("h{i}:7001"))
            .collect();
        assert_eq!(
            validate_source_members(&too_many),
            Err(ClusterError::SourceTooMany {
                count: MAX_SOURCE_MEMBERS + 1
            })
        );
        assert_eq!(
            validate_cluster(&many[..MAX_RING_MEMBERS]).map(|v| v.len()),
            Ok(1024)
        );
    }
}
