//! sockperf, the peer: finding it, and reading what its client and server print.
//!
//! Everything sockperf 3.7 prints goes to stdout, with ANSI colour codes around some
//! lines. Latency lines are in microseconds and, unless `--full-rtt` is given, are half
//! the round trip ("Summary: Latency is …"; with `--full-rtt`: "Summary: Round trip is …").

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The message printed wherever sockperf is needed and absent.
pub const MISSING: &str = "sockperf not found: apt-get install sockperf";

/// Latency of one `sockperf ping-pong` run, RTT/2 in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PingPong {
    pub observations: u64,
    pub dropped: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

/// What a `sockperf throughput` client reports: messages it sent and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sent {
    pub messages: u64,
    pub seconds: f64,
}

/// Removes ANSI escape sequences (`ESC [ … letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

/// The text after `prefix` on the first line (of colour-free `text`) that contains it.
fn after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.find(prefix).map(|at| line[at + prefix.len()..].trim()))
}

fn first_number<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|word| !word.is_empty())
        .and_then(|word| word.parse().ok())
}

/// Parses the output of `sockperf ping-pong` (without `--full-rtt`).
pub fn parse_ping_pong(output: &str) -> Result<PingPong> {
    let text = strip_ansi(output);
    if text.contains("Summary: Round trip is") {
        bail!("sockperf printed round-trip times (--full-rtt); expected RTT/2");
    }
    if !text.contains("Summary: Latency is") {
        bail!(
            "no latency summary in the sockperf ping-pong output:\n{}",
            crate::process::tail(&text, 8)
        );
    }
    let mut p50 = None;
    let mut p99 = None;
    let mut p999 = None;
    for line in text.lines() {
        let Some(rest) = line
            .find("---> percentile ")
            .map(|at| &line[at + "---> percentile ".len()..])
        else {
            continue;
        };
        let Some((rank, value)) = rest.split_once('=') else {
            continue;
        };
        let value: f64 = value
            .trim()
            .parse()
            .with_context(|| format!("bad percentile line {line:?}"))?;
        match rank.trim() {
            "50.000" => p50 = Some(value),
            "99.000" => p99 = Some(value),
            "99.900" => p999 = Some(value),
            _ => {}
        }
    }
    let observations = text
        .lines()
        .find(|line| line.contains("observations"))
        .and_then(|line| after(line, "Total "))
        .and_then(first_number)
        .context("no \"Total N observations\" line")?;
    let dropped = after(&text, "# dropped messages =")
        .and_then(first_number)
        .context("no dropped-messages line")?;
    let max_us = after(&text, "---> <MAX> observation =")
        .and_then(first_number)
        .context("no <MAX> line")?;
    match (p50, p99, p999) {
        (Some(p50_us), Some(p99_us), Some(p999_us)) => Ok(PingPong {
            observations,
            dropped,
            p50_us,
            p99_us,
            p999_us,
            max_us,
        }),
        _ => bail!("sockperf did not print the 50, 99 and 99.9 percentiles"),
    }
}

/// Parses a `sockperf throughput` client's "Total of N messages sent in T sec".
pub fn parse_throughput_client(output: &str) -> Result<Sent> {
    let text = strip_ansi(output);
    let rest = after(&text, "Total of ").context("no \"Total of N messages sent\" line")?;
    let (messages, seconds) = rest
        .split_once(" messages sent in ")
        .context("unexpected \"Total of\" line")?;
    let messages = messages.trim().parse().context("bad sent count")?;
    let seconds: f64 = first_number(seconds).context("bad run time")?;
    if seconds <= 0.0 {
        bail!("sockperf reports a run time of {seconds} s");
    }
    Ok(Sent { messages, seconds })
}

/// Parses the count a sockperf server prints when it ends on SIGINT: "Total N messages
/// received and handled" (every message since it started, warm-up ones included).
pub fn parse_server_received(output: &str) -> Result<u64> {
    let text = strip_ansi(output);
    text.lines()
        .filter(|line| line.contains("messages received and handled"))
        .find_map(|line| after(line, "Total ").and_then(first_number))
        .with_context(|| {
            format!(
                "no \"Total N messages received and handled\" in the sockperf server output:\n{}",
                crate::process::tail(&text, 8)
            )
        })
}

/// The version from `sockperf --version` ("sockperf, version 3.7-no.git").
pub fn parse_version(output: &str) -> Option<String> {
    after(&strip_ansi(output), "version ")
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

/// Whether `/proc/net/udp` text shows a socket bound to 127.0.0.1:`port`.
pub fn udp_bound(proc_net_udp: &str, port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    proc_net_udp
        .lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(1) == Some(wanted.as_str()))
}

/// An executable named `name` in `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCKING: &str = include_str!("../testdata/sockperf-ping-pong-block.txt");
    const NONBLOCKED: &str = include_str!("../testdata/sockperf-ping-pong-nonblocked.txt");
    const THROUGHPUT: &str = include_str!("../testdata/sockperf-throughput-client-64.txt");
    const SERVER: &str = include_str!("../testdata/sockperf-server-after-sigint-64.txt");
    const PROC_NET_UDP: &str = include_str!("../testdata/proc-net-udp.txt");

    #[test]
    fn colour_codes_are_removed() {
        assert_eq!(
            strip_ansi("sockperf: \u{1b}[2;35m====> avg-latency=6.385\u{1b}[0m"),
            "sockperf: ====> avg-latency=6.385"
        );
    }

    #[test]
    fn ping_pong_percentiles_are_read_in_microseconds() {
        assert_eq!(
            parse_ping_pong(BLOCKING).unwrap(),
            PingPong {
                observations: 199_216,
                dropped: 0,
                p50_us: 5.833,
                p99_us: 9.353,
                p999_us: 36.103,
                max_us: 2497.751,
            }
        );
        assert_eq!(
            parse_ping_pong(NONBLOCKED).unwrap(),
            PingPong {
                observations: 104_969,
                dropped: 0,
                p50_us: 6.684,
                p99_us: 25.672,
                p999_us: 1815.076,
                max_us: 4384.402,
            }
        );
    }

    #[test]
    fn round_trip_output_and_truncated_output_are_refused() {
        let full_rtt = BLOCKING.replace("Summary: Latency is", "Summary: Round trip is");
        assert!(
            parse_ping_pong(&full_rtt)
                .unwrap_err()
                .to_string()
                .contains("--full-rtt")
        );
        let truncated: String = BLOCKING
            .lines()
            .filter(|line| !line.contains("percentile 99.900"))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(
            parse_ping_pong(&truncated).unwrap_err().to_string(),
            "sockperf did not print the 50, 99 and 99.9 percentiles"
        );
        assert!(parse_ping_pong("sockperf: ERROR: connect failed").is_err());
    }

    #[test]
    fn throughput_client_and_server_counts() {
        assert_eq!(
            parse_throughput_client(THROUGHPUT).unwrap(),
            Sent {
                messages: 800_063,
                seconds: 3.001,
            }
        );
        assert_eq!(parse_server_received(SERVER).unwrap(), 784_969);
        assert!(parse_server_received(BLOCKING).is_err());
    }

    #[test]
    fn version() {
        let output = "sockperf, version 3.7-no.git\n   compiled 2021-08-23 12:14:23\n";
        assert_eq!(parse_version(output).as_deref(), Some("3.7-no.git"));
    }

    #[test]
    fn bound_udp_ports_are_found_in_proc_net_udp() {
        assert!(udp_bound(PROC_NET_UDP, 11112));
        assert!(!udp_bound(PROC_NET_UDP, 11111));
    }
}
