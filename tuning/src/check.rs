//! `stillepost tune`: every host setting that decides whether a tour of a given message
//! size and window drops datagrams or gains latency, read from the host, each with what it
//! should be for that workload and why.
//!
//! Everything is read below a `/proc/sys` root and a `/sys` root that tests replace with
//! directories of their own; docs/tuning.md explains each setting (the anchors named here).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::{TuningError, receive_buffer_needed};

/// IPv4 + UDP headers.
const IP_UDP_HEADERS: u64 = 28;
/// What a member's send buffer is at least (Stillepost asks for it with SO_SNDBUFFORCE).
const MIN_SEND_BUFFER: u64 = 4 << 20;
const PAGE: u64 = 4096;

/// Where a host's settings are read from.
#[derive(Debug, Clone)]
pub struct Host {
    proc_sys: PathBuf,
    sys: PathBuf,
    in_netns: bool,
}

impl Host {
    /// This host, as the calling process sees it (`/proc/sys`, `/sys`).
    pub fn live() -> Host {
        let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
        let in_netns = matches!((ns("self"), ns("1")), (Some(a), Some(b)) if a != b);
        Host {
            proc_sys: PathBuf::from("/proc/sys"),
            sys: PathBuf::from("/sys"),
            in_netns,
        }
    }

    /// A host read from copies of `/proc/sys` and `/sys` (tests); `in_netns` says whether
    /// the reader is inside a network namespace other than the host's.
    pub fn at(proc_sys: impl AsRef<Path>, sys: impl AsRef<Path>, in_netns: bool) -> Host {
        Host {
            proc_sys: proc_sys.as_ref().to_path_buf(),
            sys: sys.as_ref().to_path_buf(),
            in_netns,
        }
    }

    fn sysctl_path(&self, name: &str) -> PathBuf {
        self.proc_sys.join(name.replace('.', "/"))
    }

    fn read(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn numbers(&self, name: &str) -> Option<Vec<u64>> {
        let text = self.read(&self.sysctl_path(name))?;
        text.split_whitespace().map(|v| v.parse().ok()).collect()
    }

    /// The MTU a ring through this host most likely meets: the smallest of its interfaces
    /// other than loopback (loopback's when it has no other), with the interface's name.
    pub fn smallest_mtu(&self) -> Option<(String, u64)> {
        let mtus = self.mtus();
        let outside = mtus.iter().filter(|(name, _)| name != "lo");
        outside
            .clone()
            .min_by_key(|(_, mtu)| *mtu)
            .or_else(|| mtus.iter().min_by_key(|(_, mtu)| *mtu))
            .cloned()
    }

    /// The interfaces and their MTUs (`/sys/class/net/*/mtu`), by name.
    fn mtus(&self) -> Vec<(String, u64)> {
        let Ok(dir) = std::fs::read_dir(self.sys.join("class/net")) else {
            return Vec::new();
        };
        let mut out: Vec<(String, u64)> = dir
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let mtu = self.read(&e.path().join("mtu"))?.parse().ok()?;
                Some((name, mtu))
            })
            .collect();
        out.sort();
        out
    }
}

/// The tour a host is checked for, as the tour's own fragment plan has it (the engine's
/// `FragmentPlan`: `stillepost tune` and a configured member build it the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Bytes per message.
    pub msg_len: u64,
    /// Messages in flight.
    pub window: u64,
    /// MTU of the path between members.
    pub mtu: u64,
    /// The largest datagram a message travels in, header included.
    pub datagram: u64,
    /// Datagrams per message (1: a message is one datagram).
    pub datagrams: u64,
}

impl Workload {
    /// Frames each message becomes on the path: its datagrams, each in as many IP
    /// fragments as the MTU cuts it into (1 when it fits one frame).
    pub fn fragments(&self) -> u64 {
        self.datagrams
            .max(1)
            .saturating_mul(self.ip_fragments_per_datagram())
    }

    /// The datagrams messages travel in, bytes.
    pub fn datagram(&self) -> u64 {
        self.datagram
    }

    /// IP fragments each datagram becomes at the MTU (1: no IP fragmentation).
    pub fn ip_fragments_per_datagram(&self) -> u64 {
        let per_fragment = self.mtu.saturating_sub(20).max(8) / 8 * 8;
        if self.datagram + IP_UDP_HEADERS <= self.mtu {
            1
        } else {
            (self.datagram + 8).div_ceil(per_fragment)
        }
    }

    /// The `stillepost tune` flags that check a host for this workload.
    pub fn flags(&self) -> String {
        format!(
            "--msgbytelen {} --window {} --mtu {} --max-datagram {}",
            self.msg_len, self.window, self.mtu, self.datagram
        )
    }

    /// Bytes the kernel charges a receiving socket for one message: each frame's length
    /// plus its skb overhead.
    pub fn charged_per_message(&self) -> u64 {
        let frame = (self.datagram + IP_UDP_HEADERS).min(self.mtu);
        receive_buffer_needed(frame, self.fragments())
    }

    /// Receive buffer a member needs for `window` messages in flight.
    pub fn receive_buffer(&self) -> u64 {
        self.window.saturating_mul(self.charged_per_message())
    }

    /// Send buffer a member asks for: a window of messages may leave at once (the origin
    /// starting a tour, a forwarder passing a burst on), at least what Stillepost always
    /// asks for.
    pub fn send_buffer(&self) -> u64 {
        self.receive_buffer().max(MIN_SEND_BUFFER)
    }
}

/// What to do about one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Fine for this workload.
    Ok,
    /// Must change, or the tour may drop datagrams.
    Change,
    /// Worth changing for latency runs; tours work without it.
    Optional,
    /// Shown for information.
    Info,
    /// Cannot be read (or set) here; the text says why.
    Unavailable,
}

/// One setting checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Dotted sysctl name, or a `/sys` path for settings that are no sysctl.
    pub name: String,
    /// Whether `name` is a sysctl (`--apply` and `--emit-sysctl-conf` handle only those).
    pub sysctl: bool,
    /// Its value now, as the file holds it.
    pub current: Option<String>,
    /// The value recommended (for `Change` and `Optional`).
    pub recommended: Option<String>,
    /// Why.
    pub reason: String,
    /// Where docs/tuning.md explains it.
    pub anchor: &'static str,
    /// What to do.
    pub status: Status,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Checks every setting for `workload` on `host`.
pub fn check(host: &Host, w: Workload) -> Vec<Check> {
    let mut out = Vec::new();
    let rcv = w.receive_buffer();
    let snd = w.send_buffer();
    // A sysctl that must be at least `needed` (recommended: the next power of two).
    let at_least = |name: &str, needed: u64, anchor: &'static str, why: String| -> Check {
        let base = Check {
            name: name.to_string(),
            sysctl: true,
            current: None,
            recommended: None,
            reason: why,
            anchor,
            status: Status::Ok,
        };
        match host.numbers(name).and_then(|v| v.first().copied()) {
            None => unavailable(host, base),
            Some(current) if current >= needed => Check {
                current: Some(current.to_string()),
                ..base
            },
            Some(current) => Check {
                current: Some(current.to_string()),
                recommended: Some(needed.next_power_of_two().to_string()),
                status: Status::Change,
                ..base
            },
        }
    };
    out.push(at_least(
        "net.core.rmem_max",
        rcv,
        "rmem_max",
        format!(
            "a member queues up to {} messages of {} B ({} as the kernel charges them) in its receive buffer; unprivileged sockets get at most rmem_max",
            w.window,
            w.msg_len,
            mib(rcv)
        ),
    ));
    out.push(at_least(
        "net.core.wmem_max",
        snd,
        "wmem_max",
        format!(
            "a member may send {} messages of {} B at once ({} as the kernel charges them); a full send buffer makes sends wait (no loss, but a burst leaves late); unprivileged sockets get at most wmem_max",
            w.window,
            w.msg_len,
            mib(snd)
        ),
    ));
    for name in ["net.core.rmem_default", "net.core.wmem_default"] {
        let base = Check {
            name: name.to_string(),
            sysctl: true,
            current: None,
            recommended: None,
            reason: "Stillepost sizes its sockets itself; other tools (sockperf, iperf3) start from this".into(),
            anchor: "defaults",
            status: Status::Info,
        };
        out.push(match host.numbers(name) {
            Some(v) => Check {
                current: v.first().map(u64::to_string),
                ..base
            },
            None => unavailable(host, base),
        });
    }
    out.push(udp_mem(host, rcv + snd));
    let frames = w.window.saturating_mul(w.fragments());
    out.push(at_least(
        "net.core.netdev_max_backlog",
        frames.min(1 << 20),
        "netdev_max_backlog",
        format!(
            "up to {frames} frames of a window arrive back to back; each CPU queues at most this many before the stack takes them (loopback and veth queue here too)"
        ),
    ));
    out.push({
        let mut c = at_least(
            "net.core.netdev_budget",
            300,
            "netdev_budget",
            "frames one softirq round takes from the devices; the default 300 suits most rings"
                .into(),
        );
        if c.status == Status::Ok {
            c.status = Status::Info;
        }
        c
    });
    if w.ip_fragments_per_datagram() > 1 {
        let need = rcv.max(1 << 20);
        let high = at_least(
            "net.ipv4.ipfrag_high_thresh",
            need,
            "ipfrag",
            format!(
                "each {} B datagram is {} IP fragments at MTU {} (--max-datagram {} avoids them); the receiver reassembles up to {} at once, and drops fragments beyond this memory",
                w.datagram(),
                w.ip_fragments_per_datagram(),
                w.mtu,
                w.mtu.saturating_sub(IP_UDP_HEADERS),
                mib(rcv)
            ),
        );
        let high_value = high
            .recommended
            .as_deref()
            .or(high.current.as_deref())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(need);
        out.push(high);
        out.push(at_least(
            "net.ipv4.ipfrag_low_thresh",
            0,
            "ipfrag",
            format!(
                "keep it below ipfrag_high_thresh ({high_value}); unused since Linux 4.17, which evicts whole queues instead"
            ),
        ));
    } else {
        out.push(Check {
            name: "net.ipv4.ipfrag_high_thresh".into(),
            sysctl: true,
            current: host
                .numbers("net.ipv4.ipfrag_high_thresh")
                .and_then(|v| v.first().map(u64::to_string)),
            recommended: None,
            reason: format!(
                "datagrams of {} B fit one frame at MTU {}: no IP fragments to reassemble",
                w.datagram(),
                w.mtu
            ),
            anchor: "ipfrag",
            status: Status::Info,
        });
    }
    for name in ["net.core.busy_read", "net.core.busy_poll"] {
        let mut c = at_least(
            name,
            50,
            "busy_poll",
            "latency runs on a NIC with busy-poll support: the receive polls the device queue for 50 µs instead of waiting for its interrupt (costs CPU)".into(),
        );
        if c.status == Status::Change {
            c.status = Status::Optional;
            c.recommended = Some("50".into());
        }
        out.push(c);
    }
    for (name, mtu) in host.mtus() {
        let at = Workload { mtu, ..w };
        out.push(Check {
            name: format!("/sys/class/net/{name}/mtu"),
            sysctl: false,
            current: Some(mtu.to_string()),
            recommended: None,
            reason: format!(
                "a {} B message is {} frame{} on {name}",
                w.msg_len,
                at.fragments(),
                if at.fragments() == 1 { "" } else { "s" }
            ),
            anchor: "mtu",
            status: Status::Info,
        });
    }
    out.push(governor(host));
    out.push(isolation(host));
    out
}

/// A setting that could not be read: absent in this network namespace, or on this kernel.
fn unavailable(host: &Host, base: Check) -> Check {
    let why = if host.in_netns {
        "not visible in this network namespace: check and set it on the host (the initial namespace)"
    } else {
        "not readable on this kernel"
    };
    Check {
        reason: format!("{why}; {}", base.reason),
        status: Status::Unavailable,
        ..base
    }
}

/// `net.ipv4.udp_mem` (pages: min, pressure, max) against what a member's sockets queue.
/// For UDP the first value is the one that drops: UDP has no memory-pressure state, so once
/// all UDP sockets of the host hold more than `min` pages, a socket past its first
/// `udp_rmem_min` bytes cannot grow (`__sk_mem_raise_allocated`) and the datagram is
/// dropped (`RcvbufErrors`/`MemErrors`).
fn udp_mem(host: &Host, bytes: u64) -> Check {
    let need_pages = (2 * bytes).div_ceil(PAGE);
    let base = Check {
        name: "net.ipv4.udp_mem".into(),
        sysctl: true,
        current: None,
        recommended: None,
        reason: format!(
            "pages all UDP sockets of the host may hold (min, pressure, max); UDP drops once the total passes min, and a member alone may queue {}",
            mib(bytes)
        ),
        anchor: "udp_mem",
        status: Status::Ok,
    };
    let Some(v) = host.numbers("net.ipv4.udp_mem").filter(|v| v.len() == 3) else {
        return unavailable(host, base);
    };
    let current = Some(format!("{} {} {}", v[0], v[1], v[2]));
    if v[0] >= need_pages {
        return Check { current, ..base };
    }
    // Keep min ≤ pressure ≤ max.
    let min = need_pages;
    let pressure = v[1].max(min);
    let max = v[2].max(pressure);
    Check {
        current,
        recommended: Some(format!("{min} {pressure} {max}")),
        status: Status::Change,
        ..base
    }
}

fn governor(host: &Host) -> Check {
    let path = host
        .sys
        .join("devices/system/cpu/cpu0/cpufreq/scaling_governor");
    let base = Check {
        name: "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor".into(),
        sysctl: false,
        current: None,
        recommended: None,
        reason: "latency runs: a core that changes frequency changes every hop's time; `performance` keeps it at its highest".into(),
        anchor: "cpu",
        status: Status::Ok,
    };
    match host.read(&path) {
        None => Check {
            reason: "no cpufreq here (a VM, or a fixed frequency): nothing to set".into(),
            status: Status::Unavailable,
            ..base
        },
        Some(g) if g == "performance" => Check {
            current: Some(g),
            ..base
        },
        Some(g) => Check {
            current: Some(g),
            recommended: Some("performance".into()),
            status: Status::Optional,
            ..base
        },
    }
}

fn isolation(host: &Host) -> Check {
    let current = host.read(&host.sys.join("devices/system/cpu/isolated"));
    let none = current.as_deref().is_none_or(str::is_empty);
    Check {
        name: "/sys/devices/system/cpu/isolated".into(),
        sysctl: false,
        current: current.map(|c| if c.is_empty() { "none".into() } else { c }),
        recommended: none.then(|| "the members' cores".into()),
        reason: "latency runs: cores kept free of other tasks and timer ticks (isolcpus=, nohz_full= on the kernel command line), then `stillepostd member --cpu` on one of them".into(),
        anchor: "cpu",
        status: if none { Status::Optional } else { Status::Ok },
    }
}

/// The text `stillepost tune` prints: one line per setting.
pub fn render(w: Workload, checks: &[Check]) -> String {
    let datagrams = if w.datagrams > 1 {
        format!("{} datagrams of at most {} B", w.datagrams, w.datagram)
    } else {
        "one datagram".to_owned()
    };
    let mut out = format!(
        "for {} B messages ({datagrams}), window {}, MTU {}: each message is {} frame{}, a member queues up to {}\n",
        w.msg_len,
        w.window,
        w.mtu,
        w.fragments(),
        if w.fragments() == 1 { "" } else { "s" },
        mib(w.receive_buffer())
    );
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Change => "CHANGE",
            Status::Optional => "latency",
            Status::Info => "info",
            Status::Unavailable => "n/a",
        };
        let value = match (&c.current, &c.recommended) {
            (Some(now), Some(to)) => format!("{now} → {to}"),
            (Some(now), None) => now.clone(),
            (None, Some(to)) => format!("? → {to}"),
            (None, None) => "-".into(),
        };
        let _ = writeln!(
            out,
            "  {status:<8}{:<30} {value}\n            {} (docs/tuning.md#{})",
            c.name, c.reason, c.anchor
        );
    }
    let changes = checks.iter().filter(|c| c.status == Status::Change).count();
    let _ = writeln!(
        out,
        "{changes} setting{} to change; `stillepost tune --apply` sets the sysctls (root or CAP_NET_ADMIN), `--emit-sysctl-conf` prints them for /etc/sysctl.d",
        if changes == 1 { "" } else { "s" }
    );
    out
}

/// An `/etc/sysctl.d` file with every sysctl to change (and the optional ones, commented).
pub fn sysctl_conf(w: Workload, checks: &[Check]) -> String {
    let mut out = format!(
        "# /etc/sysctl.d/90-stillepost.conf: written by `stillepost tune {} --emit-sysctl-conf`\n# Load with: sysctl --system\n",
        w.flags()
    );
    for c in checks.iter().filter(|c| c.sysctl) {
        let Some(value) = &c.recommended else {
            continue;
        };
        let comment = if c.status == Status::Optional {
            "# "
        } else {
            ""
        };
        let _ = writeln!(out, "# {}\n{comment}{} = {value}", c.reason, c.name);
    }
    out
}

/// Writes every sysctl marked `Change` (needs root or CAP_NET_ADMIN). Returns what it set;
/// when some cannot be set, tries the rest and names every one that failed.
pub fn apply(host: &Host, checks: &[Check]) -> Result<Vec<String>, TuningError> {
    let mut set = Vec::new();
    let mut failed = Vec::new();
    for c in checks
        .iter()
        .filter(|c| c.sysctl && c.status == Status::Change)
    {
        let Some(value) = &c.recommended else {
            continue;
        };
        let path = host.sysctl_path(&c.name);
        match std::fs::write(&path, format!("{value}\n")) {
            Ok(()) => set.push(format!("{} = {value}", c.name)),
            Err(e) => failed.push(format!("{} ({}): {e}", c.name, path.display())),
        }
    }
    if failed.is_empty() {
        Ok(set)
    } else {
        Err(TuningError::Apply { failed, set })
    }
}
