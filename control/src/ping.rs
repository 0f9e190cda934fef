//! ICMP echo for `stillepost ping-systems`: a few echo requests to one member host and a
//! summary like ping's (sent, received, loss, min/avg/max).
//!
//! Natively first: an unprivileged ICMP datagram socket (`socket(AF_INET, SOCK_DGRAM,
//! IPPROTO_ICMP)`, allowed to the groups in `net.ipv4.ping_group_range`), then a raw ICMP
//! socket (root or `CAP_NET_RAW`), and only if neither can be opened a `ping` binary found
//! on `PATH`, whose output is parsed. A host without `/bin/ping` works as long as one of
//! the sockets can be opened.
//!
//! The sockets come from surge-ping, which silently retries with the other socket type when
//! the one asked for cannot be opened. So each socket type is probed with socket2 first
//! (that gives the real error for the report), and the type surge-ping ended up with is
//! checked afterwards: the method named in a [`PingSummary`] is the one that ran.

use std::fmt;
use std::io::{self, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use surge_ping::{Client, Config, ICMP, IcmpPacket, PingIdentifier, PingSequence, SurgeError};

/// Method name reported for an unprivileged ICMP datagram socket.
pub const METHOD_DATAGRAM: &str = "icmp-datagram";
/// Method name reported for a raw ICMP socket.
pub const METHOD_RAW: &str = "icmp-raw";
/// Method name reported for the `ping` binary.
pub const METHOD_BINARY: &str = "ping-binary";

/// The sysctl that decides who may open an ICMP datagram socket (for IPv4 and IPv6).
const PING_GROUP_RANGE: &str = "net.ipv4.ping_group_range";
const PING_GROUP_RANGE_PATH: &str = "/proc/sys/net/ipv4/ping_group_range";

/// Echo payload size, as ping's default (56 bytes, 64 with the ICMP header).
const PAYLOAD: [u8; 56] = [0; 56];

/// How to send the echo requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Datagram socket, else raw socket, else the `ping` binary on `PATH`.
    #[default]
    Auto,
    /// Unprivileged ICMP datagram socket only (needs `net.ipv4.ping_group_range`).
    Datagram,
    /// Raw ICMP socket only (needs root or `CAP_NET_RAW`).
    Raw,
    /// The `ping` binary on `PATH` only.
    Binary,
}

impl Method {
    /// The name used on the command line: `auto`, `datagram`, `raw` or `binary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Datagram => "datagram",
            Method::Raw => "raw",
            Method::Binary => "binary",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = String;

    /// Accepts `auto`, `datagram`, `raw`, `binary` and the report names
    /// (`icmp-datagram`, `icmp-raw`, `ping-binary`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Method::Auto),
            "datagram" | "dgram" | METHOD_DATAGRAM => Ok(Method::Datagram),
            "raw" | METHOD_RAW => Ok(Method::Raw),
            "binary" | "ping" | METHOD_BINARY => Ok(Method::Binary),
            other => Err(format!(
                "unknown ping method {other:?}: expected auto, datagram, raw or binary"
            )),
        }
    }
}

/// What [`ping_host`] sends and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOptions {
    /// Echo requests per host (at least 1).
    pub count: u32,
    /// Time between two echo requests; a request does not wait for the previous reply.
    pub interval: Duration,
    /// How long to wait for each reply before counting it lost.
    pub timeout: Duration,
    /// How to send them.
    pub method: Method,
}

impl Default for PingOptions {
    fn default() -> Self {
        Self {
            count: 5,
            interval: Duration::from_millis(200),
            timeout: Duration::from_secs(1),
            method: Method::Auto,
        }
    }
}

/// The result for one host, like the closing lines of ping.
#[derive(Debug, Clone, PartialEq)]
pub struct PingSummary {
    /// The pinged address.
    pub host: String,
    /// The method that ran: `icmp-datagram`, `icmp-raw` or `ping-binary`.
    pub method: &'static str,
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received in time (duplicates not counted).
    pub received: u32,
    /// `100 * (sent - received) / sent`.
    pub loss_percent: f64,
    /// Shortest round-trip time in microseconds, `None` without a reply.
    pub min_us: Option<f64>,
    /// Mean round-trip time in microseconds, `None` without a reply.
    pub avg_us: Option<f64>,
    /// Longest round-trip time in microseconds, `None` without a reply.
    pub max_us: Option<f64>,
    /// Round-trip time of each request in order, `None` where no reply came. With the
    /// `ping` binary, only the replies whose lines could be read are filled in.
    pub rtts_us: Vec<Option<f64>>,
}

impl PingSummary {
    /// Summary from the round-trip time of each request (`None` for a lost one).
    fn from_rtts(host: IpAddr, method: &'static str, rtts_us: Vec<Option<f64>>) -> Self {
        let replies: Vec<f64> = rtts_us.iter().flatten().copied().collect();
        let received = count_u32(replies.len());
        let (min_us, avg_us, max_us) = if replies.is_empty() {
            (None, None, None)
        } else {
            let min = replies.iter().copied().fold(f64::INFINITY, f64::min);
            let max = replies.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let avg = replies.iter().sum::<f64>() / replies.len() as f64;
            (Some(min), Some(avg), Some(max))
        };
        let sent = count_u32(rtts_us.len());
        Self {
            host: host.to_string(),
            method,
            sent,
            received,
            loss_percent: loss_percent(sent, received),
            min_us,
            avg_us,
            max_us,
            rtts_us,
        }
    }

    /// The summary as ping prints it, without a trailing newline:
    ///
    /// ```text
    /// --- 127.0.0.1 ping statistics (icmp-datagram) ---
    /// 5 packets transmitted, 5 received, 0% packet loss
    /// rtt min/avg/max = 0.031/0.045/0.070 ms
    /// ```
    ///
    /// The last line is `no reply` when nothing came back.
    pub fn render(&self) -> String {
        let rtt = match (self.min_us, self.avg_us, self.max_us) {
            (Some(min), Some(avg), Some(max)) if self.received > 0 => format!(
                "rtt min/avg/max = {:.3}/{:.3}/{:.3} ms",
                min / 1000.0,
                avg / 1000.0,
                max / 1000.0
            ),
            _ => "no reply".to_owned(),
        };
        format!(
            "--- {} ping statistics ({}) ---\n{} packets transmitted, {} received, {}% packet loss\n{}",
            self.host,
            self.method,
            self.sent,
            self.received,
            format_percent(self.loss_percent),
            rtt
        )
    }
}

/// Why one method could not be used on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodFailure {
    /// `icmp-datagram`, `icmp-raw` or `ping-binary`.
    pub method: &'static str,
    /// What went wrong, e.g. the error from `socket(2)`.
    pub cause: String,
    /// What the user can do about it.
    pub remedy: String,
}

impl fmt::Display for MethodFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.method, self.cause, self.remedy)
    }
}

/// Why [`ping_host`] has no summary.
#[derive(Debug)]
pub enum PingError {
    /// The options cannot be used (a count of zero).
    InvalidOptions {
        /// What is wrong with them.
        reason: &'static str,
    },
    /// The method asked for, or with [`Method::Auto`] every method, cannot be used here.
    /// One entry per method tried, in the order tried.
    Unavailable {
        /// The host that was to be pinged.
        host: IpAddr,
        /// Each method tried and why it failed.
        attempts: Vec<MethodFailure>,
    },
    /// The socket was opened but not one echo request could be sent (e.g. no route).
    Send {
        /// The host that was to be pinged.
        host: IpAddr,
        /// The method whose socket was open.
        method: &'static str,
        /// The error of the last send.
        source: io::Error,
    },
}

impl fmt::Display for PingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingError::InvalidOptions { reason } => write!(f, "invalid ping options: {reason}"),
            PingError::Unavailable { host, attempts } => match attempts.as_slice() {
                [one] => write!(f, "cannot ping {host} with {one}"),
                _ => {
                    write!(f, "cannot ping {host}: no ping method works on this host")?;
                    for attempt in attempts {
                        write!(f, "\n  {attempt}")?;
                    }
                    Ok(())
                }
            },
            PingError::Send {
                host,
                method,
                source,
            } => write!(f, "cannot ping {host} ({method}): sending failed: {source}"),
        }
    }
}

impl std::error::Error for PingError {}

/// Sends `opts.count` ICMP echo requests to `addr` (IPv4 or IPv6) and summarises the
/// replies. With [`Method::Auto`] the first method that can be set up is used; a host that
/// does not answer is a summary with 100% loss, not an error.
pub async fn ping_host(addr: IpAddr, opts: &PingOptions) -> Result<PingSummary, PingError> {
    if opts.count == 0 {
        return Err(PingError::InvalidOptions {
            reason: "count must be at least 1",
        });
    }
    let order = attempt_order(opts.method);
    let mut attempts = Vec::with_capacity(order.len());
    for &method in order {
        let outcome = match method {
            Method::Binary => match find_on_path("ping") {
                Some(ping) => ping_with_binary(&ping, addr, opts).await,
                None => Outcome::Unavailable(no_ping_binary()),
            },
            Method::Datagram => ping_with_socket(SocketKind::Datagram, addr, opts).await,
            Method::Raw | Method::Auto => ping_with_socket(SocketKind::Raw, addr, opts).await,
        };
        match outcome {
            Outcome::Done(summary) => return Ok(summary),
            Outcome::Failed(error) => return Err(error),
            Outcome::Unavailable(failure) => attempts.push(failure),
        }
    }
    Err(PingError::Unavailable {
        host: addr,
        attempts,
    })
}

/// The methods tried, in order, for the method asked for.
fn attempt_order(method: Method) -> &'static [Method] {
    match method {
        Method::Auto => &[Method::Datagram, Method::Raw, Method::Binary],
        Method::Datagram => &[Method::Datagram],
        Method::Raw => &[Method::Raw],
        Method::Binary => &[Method::Binary],
    }
}

/// The binary method's failure where there is no `ping` to run.
fn no_ping_binary() -> MethodFailure {
    MethodFailure {
        method: METHOD_BINARY,
        cause: "no `ping` binary on PATH".to_owned(),
        remedy: BINARY_REMEDY.to_owned(),
    }
}

const RAW_REMEDY: &str = "run as root or grant CAP_NET_RAW (setcap cap_net_raw+ep on the binary)";
const BINARY_REMEDY: &str = "install ping (Debian: iputils-ping) or make one of the sockets work";

/// What one method came to.
enum Outcome {
    Done(PingSummary),
    /// Could not be set up: try the next method.
    Unavailable(MethodFailure),
    /// Set up, but failed in a way the next method would not fix.
    Failed(PingError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SocketKind {
    Datagram,
    Raw,
}

impl SocketKind {
    fn socket_type(self) -> Type {
        match self {
            SocketKind::Datagram => Type::DGRAM,
            SocketKind::Raw => Type::RAW,
        }
    }

    fn method(self) -> &'static str {
        match self {
            SocketKind::Datagram => METHOD_DATAGRAM,
            SocketKind::Raw => METHOD_RAW,
        }
    }

    fn failure(self, error: &io::Error) -> MethodFailure {
        match self {
            SocketKind::Datagram => MethodFailure {
                method: METHOD_DATAGRAM,
                cause: format!("ICMP datagram socket refused: {error}"),
                remedy: datagram_remedy(),
            },
            SocketKind::Raw => MethodFailure {
                method: METHOD_RAW,
                cause: format!("raw ICMP socket refused: {error}"),
                remedy: RAW_REMEDY.to_owned(),
            },
        }
    }
}

/// The advice for a refused datagram socket, with the sysctl's current value and this
/// process's group so that the user sees why.
fn datagram_remedy() -> String {
    let range = std::fs::read_to_string(PING_GROUP_RANGE_PATH)
        .map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unreadable".to_owned());
    let gid = effective_gid().map_or_else(|| "?".to_owned(), |gid| gid.to_string());
    format!(
        "this process (gid {gid}) must be inside {PING_GROUP_RANGE} (now \"{range}\"); \
         widen it, e.g. `sysctl -w {PING_GROUP_RANGE}=\"0 2147483647\"`"
    )
}

/// The effective group id, from `/proc/self/status` (the client does not link libc).
fn effective_gid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Gid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Opens a surge-ping client on exactly the socket type asked for.
fn open_client(kind: SocketKind, addr: IpAddr) -> io::Result<Client> {
    let (domain, protocol, icmp) = match addr {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, ICMP::V4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, ICMP::V6),
    };
    // surge-ping would fall back to the other type on its own; the probe gives the real error.
    drop(Socket::new(domain, kind.socket_type(), Some(protocol))?);
    let config = Config::builder()
        .kind(icmp)
        .sock_type_hint(kind.socket_type())
        .build();
    let client = Client::new(&config)?;
    if client.get_socket().get_type() != kind.socket_type() {
        return Err(io::Error::other(format!(
            "the {} socket could not be opened on the second try",
            kind.method()
        )));
    }
    Ok(client)
}

async fn ping_with_socket(kind: SocketKind, addr: IpAddr, opts: &PingOptions) -> Outcome {
    let client = match open_client(kind, addr) {
        Ok(client) => client,
        Err(error) => return Outcome::Unavailable(kind.failure(&error)),
    };
    // Raw sockets see every echo reply on the host; the identifier picks out ours. Datagram
    // sockets get their identifier from the kernel and ignore this one.
    let ident = PingIdentifier(rand::random::<u16>());
    let start = tokio::time::Instant::now();
    // Dropping the set aborts the probes, so cancelling ping_host leaves nothing behind.
    let mut probes = tokio::task::JoinSet::new();
    for index in 0..opts.count {
        // Each probe gets a Pinger, never a Client clone: surge-ping 0.8 marks the client
        // destroyed when any clone drops, which would fail every later request.
        let mut pinger = client.pinger(addr, ident).await;
        pinger.timeout(opts.timeout);
        let send_at = start
            .checked_add(opts.interval.saturating_mul(index))
            .unwrap_or(start);
        probes.spawn(async move {
            tokio::time::sleep_until(send_at).await;
            // Sequence numbers wrap like ping's; only a few are in flight at once.
            let sequence = PingSequence((index % (1 << 16)) as u16);
            // The round trip runs from before the send to the reply in this task, as
            // ping's does without kernel timestamps. (surge-ping starts its own clock
            // after its send call returns, so on loopback a reply the kernel delivered
            // during that call reads as 0.)
            let before_send = std::time::Instant::now();
            let result = pinger.ping(sequence, &PAYLOAD).await;
            (
                index,
                result.map(|(packet, _)| (packet, before_send.elapsed())),
            )
        });
    }

    let mut rtts_us = vec![None; opts.count as usize];
    let mut sent_any = false;
    let mut last_send_error = None;
    while let Some(joined) = probes.join_next().await {
        // A probe task that panicked counts as a lost request.
        let Ok((index, result)) = joined else {
            sent_any = true;
            continue;
        };
        match result {
            Ok((packet, rtt)) => {
                sent_any = true;
                if is_echo_reply(&packet)
                    && let Some(slot) = rtts_us.get_mut(index as usize)
                {
                    *slot = Some(rtt.as_nanos() as f64 / 1000.0);
                }
            }
            Err(SurgeError::IOError(error)) => last_send_error = Some(error),
            // Timeouts, and replies lost to a closed client, are lost requests.
            Err(_) => sent_any = true,
        }
    }
    match last_send_error {
        Some(source) if !sent_any => Outcome::Failed(PingError::Send {
            host: addr,
            method: kind.method(),
            source,
        }),
        _ => Outcome::Done(PingSummary::from_rtts(addr, kind.method(), rtts_us)),
    }
}

/// Whether a packet matched to one of our requests is an echo reply and not an error about
/// the request (destination unreachable, time exceeded), which ping counts as lost.
fn is_echo_reply(packet: &IcmpPacket) -> bool {
    match packet {
        IcmpPacket::V4(packet) => packet.get_icmp_type().0 == 0,
        IcmpPacket::V6(packet) => packet.get_icmpv6_type().0 == 129,
    }
}

/// The first executable file called `name` in a directory on `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Kills the child if it is still running when dropped (the caller gave up waiting).
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads a child's pipe to the end on a blocking thread.
fn read_pipe<R: Read + Send + 'static>(
    pipe: Option<R>,
) -> Option<tokio::task::JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    })
}

async fn collect(reader: Option<tokio::task::JoinHandle<Vec<u8>>>) -> String {
    match reader {
        Some(reader) => String::from_utf8_lossy(&reader.await.unwrap_or_default()).into_owned(),
        None => String::new(),
    }
}

/// Runs `ping` (iputils or busybox) and parses its output.
async fn ping_with_binary(ping: &Path, addr: IpAddr, opts: &PingOptions) -> Outcome {
    let failure = |cause: String| {
        Outcome::Unavailable(MethodFailure {
            method: METHOD_BINARY,
            cause,
            remedy: format!(
                "see why with `{} -c 1 {addr}`; without CAP_NET_RAW it needs \
                 {PING_GROUP_RANGE} as well (a binary with file capabilities cannot \
                 start in a process whose capability bounding set lacks CAP_NET_RAW, \
                 or with no_new_privs)",
                ping.display()
            ),
        })
    };
    // Both take whole seconds for -W and -w; the deadline lets ping print its summary
    // itself even when nothing answers.
    let wait_secs = opts.timeout.as_secs_f64().ceil().max(1.0);
    let sending = opts.interval.as_secs_f64() * f64::from(opts.count.saturating_sub(1));
    let deadline_secs = (sending + wait_secs).ceil() + 1.0;
    let mut command = Command::new(ping);
    command
        .arg(if addr.is_ipv4() { "-4" } else { "-6" })
        .args(["-c", &opts.count.to_string()])
        .args(["-i", &format!("{:.3}", opts.interval.as_secs_f64())])
        .args(["-W", &format!("{wait_secs:.0}")])
        .args(["-w", &format!("{deadline_secs:.0}")])
        .arg(addr.to_string())
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => return failure(format!("cannot run {}: {error}", ping.display())),
    };
    let stdout = read_pipe(child.stdout.take());
    let stderr = read_pipe(child.stderr.take());
    let mut guard = ChildGuard(Some(child));

    // Our own bound in case ping ignores -w; tokio's process support is not enabled here,
    // so the child is polled.
    let give_up = tokio::time::Instant::now() + Duration::from_secs_f64(deadline_secs + 2.0);
    let status = loop {
        let Some(child) = guard.0.as_mut() else {
            break None;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                guard.0 = None;
                break Some(status);
            }
            Ok(None) if tokio::time::Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(None) | Err(_) => {
                drop(guard.0.take());
                break None;
            }
        }
    };
    let stdout = collect(stdout).await;
    let stderr = collect(stderr).await;

    match parse_ping_output(&stdout) {
        Some(report) => Outcome::Done(report.into_summary(addr)),
        None => {
            let status =
                status.map_or_else(|| "killed after its deadline".to_owned(), |s| s.to_string());
            // One line, so that the report of every attempt keeps one line each.
            let said = stderr
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" | ");
            failure(if said.is_empty() {
                format!("{} gave no summary ({status})", ping.display())
            } else {
                format!("{} gave no summary ({status}): {said}", ping.display())
            })
        }
    }
}

/// What a `ping` binary printed, in its units (milliseconds).
#[derive(Debug, Clone, PartialEq)]
struct BinaryReport {
    sent: u32,
    received: u32,
    min_ms: Option<f64>,
    avg_ms: Option<f64>,
    max_ms: Option<f64>,
    rtts_ms: Vec<Option<f64>>,
}

impl BinaryReport {
    fn into_summary(self, addr: IpAddr) -> PingSummary {
        let us = |ms: Option<f64>| ms.map(|ms| ms * 1000.0);
        PingSummary {
            host: addr.to_string(),
            method: METHOD_BINARY,
            sent: self.sent,
            received: self.received,
            loss_percent: loss_percent(self.sent, self.received),
            min_us: us(self.min_ms),
            avg_us: us(self.avg_ms),
            max_us: us(self.max_ms),
            rtts_us: self.rtts_ms.into_iter().map(us).collect(),
        }
    }
}

/// Parses the output of iputils or busybox ping; `None` without a statistics line.
///
/// iputils: `5 packets transmitted, 5 received, 0% packet loss, time 813ms` and
/// `rtt min/avg/max/mdev = 0.030/0.086/0.272/0.092 ms`, replies numbered from 1 as
/// `icmp_seq=1`. busybox: `5 packets transmitted, 5 packets received, 0% packet loss` and
/// `round-trip min/avg/max = 0.043/0.059/0.067 ms`, replies numbered from 0 as `seq=0`.
fn parse_ping_output(text: &str) -> Option<BinaryReport> {
    let mut counts = None;
    let (mut min_ms, mut avg_ms, mut max_ms) = (None, None, None);
    let mut replies = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.contains("packets transmitted") {
            counts = parse_counts(line);
        } else if let Some(rest) = line
            .strip_prefix("rtt ")
            .or_else(|| line.strip_prefix("round-trip "))
        {
            let Some((names, values)) = rest.split_once('=') else {
                continue;
            };
            let values = values.trim().trim_end_matches("ms").trim();
            for (name, value) in names.trim().split('/').zip(values.split('/')) {
                let value = value.trim().parse::<f64>().ok();
                match name {
                    "min" => min_ms = value,
                    "avg" => avg_ms = value,
                    "max" => max_ms = value,
                    _ => {}
                }
            }
        } else if let Some(reply) = parse_reply(line) {
            replies.push(reply);
        }
    }
    let (sent, received) = counts?;
    let mut rtts_ms = vec![None; sent as usize];
    for (index, rtt) in replies {
        if let Some(slot) = rtts_ms.get_mut(index) {
            *slot = Some(rtt);
        }
    }
    Some(BinaryReport {
        sent,
        received,
        min_ms,
        avg_ms,
        max_ms,
        rtts_ms,
    })
}

/// `(sent, received)` from `N packets transmitted, M received, ...` (iputils, which may add
/// `+E errors`) or `N packets transmitted, M packets received, ...` (busybox).
fn parse_counts(line: &str) -> Option<(u32, u32)> {
    let mut sent = None;
    let mut received = None;
    for part in line.split(',').map(str::trim) {
        let number = part.split_whitespace().next().and_then(|n| n.parse().ok());
        if part.ends_with("transmitted") {
            sent = number;
        } else if part.ends_with("received") {
            received = number;
        }
    }
    Some((sent?, received?))
}

/// `(request index, rtt in ms)` from a reply line: iputils `... icmp_seq=1 ttl=64 time=0.272
/// ms` counts from 1, busybox `... seq=0 ttl=64 time=0.043 ms` from 0. Duplicates are skipped.
fn parse_reply(line: &str) -> Option<(usize, f64)> {
    if !line.contains("bytes from") || line.contains("DUP!") {
        return None;
    }
    let mut sequence = None;
    let mut rtt = None;
    for field in line.split_whitespace() {
        if let Some(n) = field.strip_prefix("icmp_seq=") {
            sequence = n.parse::<usize>().ok().and_then(|n| n.checked_sub(1));
        } else if let Some(n) = field.strip_prefix("seq=") {
            sequence = n.parse::<usize>().ok();
        } else if let Some(t) = field.strip_prefix("time=") {
            rtt = t.trim_end_matches("ms").parse::<f64>().ok();
        }
    }
    Some((sequence?, rtt?))
}

fn loss_percent(sent: u32, received: u32) -> f64 {
    if sent == 0 {
        0.0
    } else {
        f64::from(sent.saturating_sub(received)) * 100.0 / f64::from(sent)
    }
}

/// `0`, `20`, `66.7`: whole numbers without a fraction, others to one decimal.
fn format_percent(percent: f64) -> String {
    let rounded = (percent * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    use crate::skip::skip;

    /// `ping -c 5 -i 0.2 -W 1 -w 3 127.0.0.1`, iputils 20221126 (Debian 12).
    const IPUTILS_OK: &str = "\
PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.272 ms
64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.051 ms
64 bytes from 127.0.0.1: icmp_seq=3 ttl=64 time=0.042 ms
64 bytes from 127.0.0.1: icmp_seq=4 ttl=64 time=0.038 ms
64 bytes from 127.0.0.1: icmp_seq=5 ttl=64 time=0.030 ms

--- 127.0.0.1 ping statistics ---
5 packets transmitted, 5 received, 0% packet loss, time 813ms
rtt min/avg/max/mdev = 0.030/0.086/0.272/0.092 ms
";

    /// The same with the first three requests unanswered (icmp_echo_ignore_all in a netns).
    const IPUTILS_LOSS: &str = "\
PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
64 bytes from 127.0.0.1: icmp_seq=4 ttl=64 time=0.045 ms
64 bytes from 127.0.0.1: icmp_seq=5 ttl=64 time=0.044 ms

--- 127.0.0.1 ping statistics ---
5 packets transmitted, 2 received, 60% packet loss, time 818ms
rtt min/avg/max/mdev = 0.044/0.044/0.045/0.000 ms
";

    const IPUTILS_NONE: &str = "\
PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.

--- 127.0.0.1 ping statistics ---
3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 408ms

";

    /// `busybox ping -c 5 -W 1 127.0.0.1`, busybox 1.35.0 (Debian 12), request 0 unanswered.
    const BUSYBOX_LOSS: &str = "\
PING 127.0.0.1 (127.0.0.1): 56 data bytes
64 bytes from 127.0.0.1: seq=1 ttl=64 time=0.063 ms
64 bytes from 127.0.0.1: seq=2 ttl=64 time=0.108 ms
64 bytes from 127.0.0.1: seq=3 ttl=64 time=0.065 ms
64 bytes from 127.0.0.1: seq=4 ttl=64 time=0.073 ms

--- 127.0.0.1 ping statistics ---
5 packets transmitted, 4 packets received, 20% packet loss
round-trip min/avg/max = 0.063/0.077/0.108 ms
";

    const BUSYBOX_IPV6_NONE: &str = "\
PING ::1 (::1): 56 data bytes

--- ::1 ping statistics ---
3 packets transmitted, 0 packets received, 100% packet loss
";

    #[test]
    fn parses_iputils_summary_and_replies() {
        let report = parse_ping_output(IPUTILS_OK).unwrap();
        assert_eq!(
            report,
            BinaryReport {
                sent: 5,
                received: 5,
                min_ms: Some(0.030),
                avg_ms: Some(0.086),
                max_ms: Some(0.272),
                rtts_ms: vec![
                    Some(0.272),
                    Some(0.051),
                    Some(0.042),
                    Some(0.038),
                    Some(0.030)
                ],
            }
        );
    }

    #[test]
    fn parses_iputils_with_loss() {
        let report = parse_ping_output(IPUTILS_LOSS).unwrap();
        assert_eq!((report.sent, report.received), (5, 2));
        assert_eq!(
            (report.min_ms, report.avg_ms, report.max_ms),
            (Some(0.044), Some(0.044), Some(0.045))
        );
        assert_eq!(
            report.rtts_ms,
            vec![None, None, None, Some(0.045), Some(0.044)]
        );
        let summary = report.into_summary(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(summary.loss_percent, 60.0);
        assert_eq!(summary.max_us, Some(45.0));
    }

    #[test]
    fn parses_iputils_without_reply_and_with_errors() {
        let report = parse_ping_output(IPUTILS_NONE).unwrap();
        assert_eq!(
            report,
            BinaryReport {
                sent: 3,
                received: 0,
                min_ms: None,
                avg_ms: None,
                max_ms: None,
                rtts_ms: vec![None, None, None],
            }
        );
    }

    #[test]
    fn parses_busybox_summary_and_replies() {
        let report = parse_ping_output(BUSYBOX_LOSS).unwrap();
        assert_eq!(
            report,
            BinaryReport {
                sent: 5,
                received: 4,
                min_ms: Some(0.063),
                avg_ms: Some(0.077),
                max_ms: Some(0.108),
                rtts_ms: vec![None, Some(0.063), Some(0.108), Some(0.065), Some(0.073)],
            }
        );
        let summary = report.into_summary(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(summary.loss_percent, 20.0);
        assert_eq!(summary.method, "ping-binary");
    }

    #[test]
    fn parses_busybox_without_reply() {
        let summary = parse_ping_output(BUSYBOX_IPV6_NONE)
            .unwrap()
            .into_summary(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(
            summary.render(),
            "--- ::1 ping statistics (ping-binary) ---\n\
             3 packets transmitted, 0 received, 100% packet loss\n\
             no reply"
        );
    }

    #[test]
    fn output_without_statistics_is_not_a_report() {
        assert_eq!(parse_ping_output(""), None);
        assert_eq!(
            parse_ping_output("ping: connect: Network is unreachable\n"),
            None
        );
    }

    #[test]
    fn renders_like_ping() {
        let summary = PingSummary::from_rtts(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            METHOD_DATAGRAM,
            vec![Some(31.0), Some(45.0), Some(70.0), Some(40.0), Some(39.0)],
        );
        assert_eq!(
            summary.render(),
            "--- 127.0.0.1 ping statistics (icmp-datagram) ---\n\
             5 packets transmitted, 5 received, 0% packet loss\n\
             rtt min/avg/max = 0.031/0.045/0.070 ms"
        );
    }

    #[test]
    fn renders_partial_loss_with_one_decimal() {
        let summary = PingSummary::from_rtts(
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            METHOD_RAW,
            vec![None, Some(1500.0), None],
        );
        assert_eq!((summary.sent, summary.received), (3, 1));
        assert_eq!(
            summary.render(),
            "--- ::1 ping statistics (icmp-raw) ---\n\
             3 packets transmitted, 1 received, 66.7% packet loss\n\
             rtt min/avg/max = 1.500/1.500/1.500 ms"
        );
    }

    #[test]
    fn method_names_parse() {
        for method in [Method::Auto, Method::Datagram, Method::Raw, Method::Binary] {
            assert_eq!(method.as_str().parse::<Method>(), Ok(method));
        }
        assert_eq!("icmp-raw".parse::<Method>(), Ok(Method::Raw));
        assert!("icmp".parse::<Method>().is_err());
    }

    #[tokio::test]
    async fn zero_count_is_refused() {
        let opts = PingOptions {
            count: 0,
            ..PingOptions::default()
        };
        let error = ping_host(IpAddr::V4(Ipv4Addr::LOCALHOST), &opts)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid ping options: count must be at least 1"
        );
    }

    fn can_open(kind: SocketKind, addr: IpAddr) -> bool {
        let (domain, protocol) = match addr {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
        };
        Socket::new(domain, kind.socket_type(), Some(protocol)).is_ok()
    }

    fn ipv6_loopback_configured() -> bool {
        std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
    }

    fn assert_all_replied(summary: &PingSummary, host: &str, method: &str) {
        assert_eq!(summary.host, host);
        assert_eq!(summary.method, method);
        assert_eq!((summary.sent, summary.received), (5, 5), "{summary:?}");
        assert_eq!(summary.loss_percent, 0.0);
        assert_eq!(summary.rtts_us.len(), 5);
        assert!(summary.rtts_us.iter().all(Option::is_some), "{summary:?}");
        let (min, avg, max) = (
            summary.min_us.unwrap(),
            summary.avg_us.unwrap(),
            summary.max_us.unwrap(),
        );
        assert!(0.0 < min && min <= avg && avg <= max, "{summary:?}");
        // Loopback answers within a millisecond or so; a second would be a broken timer.
        assert!(max < 1_000_000.0, "{summary:?}");
    }

    /// The method Auto must pick here: datagram where this process may open one, else raw.
    /// On the multi-threaded runtime, as in the client.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auto_pings_ipv4_loopback() {
        let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let expected = if can_open(SocketKind::Datagram, addr) {
            METHOD_DATAGRAM
        } else if can_open(SocketKind::Raw, addr) {
            METHOD_RAW
        } else {
            return skip(&format!(
                "neither ICMP socket can be opened here (not root, outside {PING_GROUP_RANGE})"
            ));
        };
        let summary = ping_host(addr, &PingOptions::default()).await.unwrap();
        assert_all_replied(&summary, "127.0.0.1", expected);
    }

    #[tokio::test]
    async fn auto_pings_ipv6_loopback() {
        let addr = IpAddr::V6(Ipv6Addr::LOCALHOST);
        if !ipv6_loopback_configured() {
            return skip("::1 is not configured (IPv6 is off on lo)");
        }
        let expected = if can_open(SocketKind::Datagram, addr) {
            METHOD_DATAGRAM
        } else if can_open(SocketKind::Raw, addr) {
            METHOD_RAW
        } else {
            return skip(&format!(
                "neither ICMPv6 socket can be opened here (not root, outside {PING_GROUP_RANGE})"
            ));
        };
        let summary = ping_host(addr, &PingOptions::default()).await.unwrap();
        assert_all_replied(&summary, "::1", expected);
    }

    #[tokio::test]
    async fn raw_pings_loopback_when_privileged() {
        let mut addrs = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        if ipv6_loopback_configured() {
            addrs.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        }
        let opts = PingOptions {
            method: Method::Raw,
            ..PingOptions::default()
        };
        for addr in addrs {
            let result = ping_host(addr, &opts).await;
            if can_open(SocketKind::Raw, addr) {
                assert_all_replied(&result.unwrap(), &addr.to_string(), METHOD_RAW);
            } else {
                let message = result.unwrap_err().to_string();
                assert!(message.contains("CAP_NET_RAW"), "{message}");
                assert!(message.starts_with(&format!("cannot ping {addr} with icmp-raw: ")));
            }
        }
    }

    /// Never falls back to raw, even as root: either a datagram socket ran or the error
    /// names the sysctl that refused it.
    #[tokio::test]
    async fn datagram_pings_loopback_or_names_the_sysctl() {
        let mut addrs = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        if ipv6_loopback_configured() {
            addrs.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        }
        let opts = PingOptions {
            method: Method::Datagram,
            ..PingOptions::default()
        };
        for addr in addrs {
            let result = ping_host(addr, &opts).await;
            if can_open(SocketKind::Datagram, addr) {
                assert_all_replied(&result.unwrap(), &addr.to_string(), METHOD_DATAGRAM);
            } else {
                let error = result.unwrap_err();
                let message = error.to_string();
                assert!(
                    message.starts_with(&format!(
                        "cannot ping {addr} with icmp-datagram: ICMP datagram socket refused: "
                    )),
                    "{message}"
                );
                assert!(message.contains("net.ipv4.ping_group_range"), "{message}");
                assert!(
                    matches!(error, PingError::Unavailable { ref attempts, .. } if attempts.len() == 1)
                );
            }
        }
    }

    /// Where no method works, the error lists all three in order (e.g. run as a user
    /// outside ping_group_range, without CAP_NET_RAW, on a host without ping). The error is
    /// built from the failure each method reports when it cannot be set up, in Auto's
    /// order, so the test runs on every host, whichever methods work there.
    #[test]
    fn auto_error_names_every_attempt() {
        let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let attempts: Vec<MethodFailure> = attempt_order(Method::Auto)
            .iter()
            .map(|method| match method {
                // socket(2)'s errors for a group outside the range and a missing capability.
                Method::Datagram => SocketKind::Datagram.failure(&io::Error::from_raw_os_error(13)),
                Method::Raw | Method::Auto => {
                    SocketKind::Raw.failure(&io::Error::from_raw_os_error(1))
                }
                Method::Binary => no_ping_binary(),
            })
            .collect();
        let methods: Vec<_> = attempts.iter().map(|a| a.method).collect();
        assert_eq!(methods, [METHOD_DATAGRAM, METHOD_RAW, METHOD_BINARY]);
        let error = PingError::Unavailable {
            host: addr,
            attempts,
        };
        let message = error.to_string();
        assert_eq!(
            message,
            format!(
                "cannot ping 127.0.0.1: no ping method works on this host\n  \
                 icmp-datagram: ICMP datagram socket refused: Permission denied (os error 13); {}\n  \
                 icmp-raw: raw ICMP socket refused: Operation not permitted (os error 1); \
                 run as root or grant CAP_NET_RAW (setcap cap_net_raw+ep on the binary)\n  \
                 ping-binary: no `ping` binary on PATH; \
                 install ping (Debian: iputils-ping) or make one of the sockets work",
                datagram_remedy()
            )
        );
        assert!(
            message.starts_with(
                "cannot ping 127.0.0.1: no ping method works on this host\n  icmp-datagram: "
            ),
            "{message}"
        );
        assert!(message.contains("net.ipv4.ping_group_range"), "{message}");
        assert!(message.contains("CAP_NET_RAW"), "{message}");
        assert!(message.contains("no `ping` binary on PATH"), "{message}");
    }

    /// A stand-in `ping` printing iputils' output, to test running and reading the binary
    /// without depending on one being installed.
    fn fake_ping(dir: &Path, stdout: &str, stderr: &str, exit: i32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        let script = dir.join("ping");
        let args_file = dir.join("args");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" > '{}'\ncat <<'EOF'\n{stdout}EOF\necho '{stderr}' >&2\nexit {exit}\n",
                args_file.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    fn scratch_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("stillepost-ping-{}-{name}", std::process::id()))
    }

    #[tokio::test]
    async fn runs_a_ping_binary_and_reads_its_summary() {
        let dir = scratch_dir("ok");
        let ping = fake_ping(&dir, IPUTILS_OK, "", 0);
        let outcome = ping_with_binary(
            &ping,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            &PingOptions::default(),
        )
        .await;
        let args = std::fs::read_to_string(dir.join("args")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(args, "-4 -c 5 -i 0.200 -W 1 -w 3 127.0.0.1\n");
        let Outcome::Done(summary) = outcome else {
            panic!("no summary");
        };
        assert_eq!(
            summary.render(),
            "--- 127.0.0.1 ping statistics (ping-binary) ---\n\
             5 packets transmitted, 5 received, 0% packet loss\n\
             rtt min/avg/max = 0.030/0.086/0.272 ms"
        );
        assert_eq!(summary.rtts_us.len(), 5);
    }

    #[tokio::test]
    async fn a_ping_binary_without_summary_is_unavailable_with_its_stderr() {
        let dir = scratch_dir("fail");
        let stderr = "ping: socket: Operation not permitted\nping: => missing cap_net_raw+p capability or setuid?";
        let ping = fake_ping(&dir, "", stderr, 2);
        let outcome = ping_with_binary(
            &ping,
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            &PingOptions::default(),
        )
        .await;
        std::fs::remove_dir_all(&dir).unwrap();
        let Outcome::Unavailable(failure) = outcome else {
            panic!("expected a failure");
        };
        assert_eq!(failure.method, METHOD_BINARY);
        assert_eq!(
            failure.cause,
            format!(
                "{} gave no summary (exit status: 2): ping: socket: Operation not permitted \
                 | ping: => missing cap_net_raw+p capability or setuid?",
                ping.display()
            )
        );
        assert_eq!(
            failure.remedy,
            format!(
                "see why with `{} -c 1 ::1`; without CAP_NET_RAW it needs \
                 net.ipv4.ping_group_range as well (a binary with file capabilities \
                 cannot start in a process whose capability bounding set lacks \
                 CAP_NET_RAW, or with no_new_privs)",
                ping.display()
            )
        );
    }

    /// Runs a real ping binary if one is on PATH or named by STILLEPOST_TEST_PING.
    #[tokio::test]
    async fn real_ping_binary_pings_loopback() {
        let Some(ping) = std::env::var_os("STILLEPOST_TEST_PING")
            .map(PathBuf::from)
            .or_else(|| find_on_path("ping"))
        else {
            return skip(
                "no ping binary on PATH (Debian: iputils-ping) and STILLEPOST_TEST_PING unset",
            );
        };
        let outcome = ping_with_binary(
            &ping,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            &PingOptions::default(),
        )
        .await;
        let Outcome::Done(summary) = outcome else {
            panic!("{} did not ping 127.0.0.1", ping.display());
        };
        assert_all_replied(&summary, "127.0.0.1", METHOD_BINARY);
    }
}
