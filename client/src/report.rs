//! What the client prints: text for people, one JSON document for tools. The JSON keys are
//! part of Stillepost's interface (README.md lists them).

use std::fmt::Write as _;

use serde_json::{Value, json};
use stillepost_control::proto::{
    ConfigureReply, HopResult, MemberInfo, MemberTourStats, Placed, Placement, StatusReply,
    TourParams, TourReportState, TourResult, TourSummary,
};
use stillepost_engine::counters::CounterSet;
use stillepost_engine::histogram::Summary;

use std::time::Duration;

use stillepost_control::echo::Rtts;

use crate::cli::ProbeKind;
use crate::histogram::{UndecodableHistogram, Whose, summary};
use crate::table::{Align, Table, ranges, wrapped};

/// A tour id as users see it: 16 hex digits.
pub fn tour_id(id: u64) -> String {
    format!("{id:016x}")
}

/// Nanoseconds in the unit that reads best.
pub fn duration(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.3} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

fn params_text(p: &TourParams, members: usize) -> String {
    let mode = if p.forward_immediately {
        "forward-immediately"
    } else {
        "hold-then-forward"
    };
    let window = if p.window == 0 || p.window == p.count {
        "all in flight".to_string()
    } else {
        format!("window {}", p.window)
    };
    let warmup = if p.warmup > 0 {
        format!(" (the first {} warm-up, not recorded)", p.warmup)
    } else {
        String::new()
    };
    let fragments = if p.max_datagram > 0 && p.msg_len > p.max_datagram {
        format!(" in datagrams of at most {} B", p.max_datagram)
    } else {
        String::new()
    };
    let rate = if p.rate > 0.0 {
        format!(", open loop at {} msg/s", p.rate)
    } else {
        String::new()
    };
    let dscp = if p.dscp > 0 {
        format!(", DSCP {}", p.dscp)
    } else {
        String::new()
    };
    format!(
        "{}, {}{warmup} × {} B{fragments}, {mode}, {window}{rate}{dscp}, member timeout {} ms",
        plural(members as u64, "member"),
        plural(u64::from(p.count), "message"),
        p.msg_len,
        p.member_timeout_ms
    )
}

/// "1 member", "3 members": a count with its noun, in the singular when it is one.
pub fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn params_json(p: &TourParams) -> Value {
    json!({
        "msg_len": p.msg_len,
        "count": p.count,
        "window": if p.window == 0 { p.count } else { p.window },
        "forward_immediately": p.forward_immediately,
        "member_timeout_ms": p.member_timeout_ms,
        "warmup": p.warmup,
        // A whole rate as an integer (1000, not 1000.0), a fractional one as it is.
        "rate": (p.rate > 0.0).then(|| if p.rate.fract() == 0.0 && p.rate < 9e15 {
            json!(p.rate as u64)
        } else {
            json!(p.rate)
        }),
        "max_datagram": (p.max_datagram > 0).then_some(p.max_datagram),
        "dscp": p.dscp,
        "placement": placement_name(p.placement()),
    })
}

fn placement_name(p: Placement) -> &'static str {
    match p {
        Placement::Auto => "auto",
        Placement::Together => "together",
        Placement::Spread => "spread",
    }
}

/// The placement a configure chose, with each member's core, as JSON.
fn placed_json(placed: Option<&Placed>, cpus: impl Iterator<Item = i32>) -> Value {
    match placed {
        Some(p) => json!({
            "layout": placement_name(p.layout()),
            "reason": p.reason,
            "cpus": cpus.map(|c| (c >= 0).then_some(c)).collect::<Vec<_>>(),
        }),
        None => Value::Null,
    }
}

/// "spread on cores 1, 0, 1, 0 (why)": the placement and each member's core in ring
/// order; `None` when the coordinator did not say (a result from before placement).
fn placed_text(placed: Option<&Placed>, cpus: impl Iterator<Item = i32>) -> Option<String> {
    let p = placed?;
    let cores: Vec<String> = cpus
        .map(|c| if c >= 0 { c.to_string() } else { "any".into() })
        .collect();
    Some(format!(
        "{} on cores {} ({})",
        placement_name(p.layout()),
        cores.join(", "),
        p.reason
    ))
}

/// The origin's tour-latency summary; all zeros when the origin did not report one.
fn latency_summary(result: &TourResult) -> Result<Summary, UndecodableHistogram> {
    summary(&result.tour_latency, Whose::Tour)
}

/// A hop's latency summary.
fn hop_summary(h: &HopResult) -> Result<Summary, UndecodableHistogram> {
    summary(
        &h.latency,
        Whose::Hop {
            from: h.from,
            to: h.to,
        },
    )
}

/// A member's residence summary; all zeros when the member did not report one.
fn residence_summary(m: &MemberTourStats) -> Result<Summary, UndecodableHistogram> {
    summary(&m.residence, Whose::Residence { member: m.index })
}

/// A hop's IPDV summary (RFC 3393); all zeros when it was not recorded.
fn hop_ipdv(h: &HopResult) -> Result<Summary, UndecodableHistogram> {
    summary(
        &h.ipdv,
        Whose::HopIpdv {
            from: h.from,
            to: h.to,
        },
    )
}

/// The origin's IPDV summary of the tour latency; all zeros when not recorded.
fn tour_ipdv(result: &TourResult) -> Result<Summary, UndecodableHistogram> {
    summary(&result.tour_ipdv, Whose::TourIpdv)
}

/// The origin's summary of tour latency from the intended sends (open loop only).
fn intended_summary(result: &TourResult) -> Result<Summary, UndecodableHistogram> {
    summary(&result.tour_latency_corrected, Whose::TourIntended)
}

fn summary_json(s: &Summary) -> Value {
    json!({
        "min_ns": s.min_ns,
        "p50_ns": s.p50_ns,
        "p90_ns": s.p90_ns,
        "p99_ns": s.p99_ns,
        "p999_ns": s.p999_ns,
        "p9999_ns": s.p9999_ns,
        "max_ns": s.max_ns,
        "mean_ns": s.mean_ns,
        "stdev_ns": s.stdev_ns,
        "count": s.count,
    })
}

/// Sum of the hops' and forwarders' medians against the tour's median: how well the
/// per-hop figures add up to the tour. `None` unless every part has data: a sum with
/// parts missing would compare nothing.
fn consistency(result: &TourResult) -> Result<Option<(u64, u64, u64)>, UndecodableHistogram> {
    if result.hops.is_empty() || result.members.iter().any(|m| m.report_missing) {
        return Ok(None);
    }
    let tour = latency_summary(result)?;
    let mut parts = vec![tour];
    let mut hops = 0;
    for h in &result.hops {
        let s = hop_summary(h)?;
        hops += s.p50_ns;
        parts.push(s);
    }
    let mut residence = 0;
    for m in result.members.iter().skip(1) {
        let s = residence_summary(m)?;
        residence += s.p50_ns;
        parts.push(s);
    }
    if parts.iter().any(|s| s.count == 0) {
        return Ok(None);
    }
    Ok(Some((hops, residence, tour.p50_ns)))
}

/// Lost messages as a percentage of those sent; `None` when none were sent.
fn loss_percent(result: &TourResult) -> Option<f64> {
    share(result.lost, result.messages_sent)
}

/// `part` as a percentage of `whole`; `None` when `whole` is 0.
fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// A percentage with two decimals, or two significant digits below 0.01 %, so that a
/// small loss never reads as none: "3.00 %", "0.0014 %", "0 %".
fn percent(p: f64) -> String {
    if p == 0.0 {
        "0 %".to_owned()
    } else if p >= 0.01 {
        format!("{p:.2} %")
    } else {
        let decimals = (-p.log10()).ceil() as usize + 1;
        format!("{p:.decimals$} %")
    }
}

/// A rate with a decimal prefix, as iperf3 writes it: `rate(15.89e6, "bit/s")` is
/// "15.89 Mbit/s".
fn rate(per_second: f64, unit: &str) -> String {
    let (value, prefix) = if per_second >= 1e9 {
        (per_second / 1e9, "G")
    } else if per_second >= 1e6 {
        (per_second / 1e6, "M")
    } else if per_second >= 1e3 {
        (per_second / 1e3, "K")
    } else {
        (per_second, "")
    };
    format!("{value:.2} {prefix}{unit}")
}

/// A signed duration in the unit that reads best: "-2.763 s", "+0.50 µs".
fn signed_duration(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "+" };
    format!("{sign}{}", duration(ns.unsigned_abs()))
}

/// Whether a hop's clock offset is known: zero on one clock, else measured by probes.
fn clock_known(h: &HopResult) -> bool {
    h.same_clock || h.clock_samples > 0
}

/// The hop's clock column: how its offset is known and how well.
fn clock_text(h: &HopResult) -> String {
    if h.same_clock {
        "±0 same clock".to_string()
    } else if h.clock_samples > 0 {
        format!(
            "±{:.2} offset {:+.2} µs, {} probes",
            h.error_bound_ns as f64 / 1e3,
            h.offset_ns as f64 / 1e3,
            h.clock_samples
        )
    } else {
        "offset unknown (not probed)".to_string()
    }
}

/// Adds every counter of a set to a JSON object, under its name.
fn with_counters(mut doc: Value, counters: &impl CounterSet) -> Value {
    if let Value::Object(map) = &mut doc {
        for (def, value) in counters.counters() {
            map.insert(def.name.to_string(), json!(value));
        }
    }
    doc
}

fn hop_json(h: &HopResult) -> Result<Value, UndecodableHistogram> {
    let doc = json!({
        "from": h.from,
        "to": h.to,
        "latency": summary_json(&hop_summary(h)?),
        "ipdv": (!h.ipdv.is_empty()).then(|| hop_ipdv(h).map(|s| summary_json(&s))).transpose()?,
        "same_clock": h.same_clock,
        "offset_ns": clock_known(h).then_some(h.offset_ns),
        "error_bound_ns": clock_known(h).then_some(h.error_bound_ns),
        "clock_samples": h.clock_samples,
        "timestamping": h.timestamping().name(),
    });
    Ok(with_counters(doc, &h.hop_counters()))
}

/// Messages per second and bytes per second over the tour's total time.
fn throughput(result: &TourResult) -> (f64, f64) {
    if result.total_ns == 0 {
        return (0.0, 0.0);
    }
    let secs = result.total_ns as f64 / 1e9;
    let msgs = result.messages_received as f64 / secs;
    let msg_len = result.params.map_or(0, |p| p.msg_len) as f64;
    (msgs, msgs * msg_len)
}

fn member_json(m: &MemberTourStats) -> Result<Value, UndecodableHistogram> {
    let doc = json!({
        "index": m.index,
        "peer_endpoint": m.peer_endpoint,
        "backend": m.backend().name(),
        "poll": m.poll().name(),
        "cpu": (m.cpu >= 0).then_some(m.cpu),
        "cpu_ns": m.cpu_ns,
        "preempted": m.preempted,
        "residence": summary_json(&residence_summary(m)?),
        "kernel_counters": m
            .kernel_counters
            .iter()
            .map(|c| (c.name.clone(), json!(c.delta)))
            .collect::<serde_json::Map<String, Value>>(),
        "drop_advice": m.drop_advice,
        "report_missing": m.report_missing,
    });
    Ok(with_counters(doc, &m.member_counters()))
}

/// A tour result as a JSON object.
pub fn tour_json(result: &TourResult) -> Result<Value, UndecodableHistogram> {
    let (msgs_per_s, bytes_per_s) = throughput(result);
    Ok(json!({
        "tour_id": tour_id(result.tour_id),
        "ring": (!result.ring.is_empty()).then_some(&result.ring),
        "outcome": result.outcome().name(),
        "error": if result.error.is_empty() { Value::Null } else { json!(result.error) },
        "started_unix_ms": result.started_unix_ms,
        "params": result.params.as_ref().map(params_json),
        "placed": placed_json(result.placed.as_ref(), result.members.iter().map(|m| m.cpu)),
        "cpu_ns": result.members.iter().map(|m| m.cpu_ns).sum::<u64>(),
        "preempted": result.members.iter().map(|m| m.preempted).sum::<u64>(),
        "total_ns": result.total_ns,
        "messages_sent": result.messages_sent,
        "messages_received": result.messages_received,
        "messages_unsent": result.messages_unsent,
        "lost": result.lost,
        "throughput_msgs_per_s": msgs_per_s,
        "throughput_bytes_per_s": bytes_per_s,
        "throughput_bits_per_s": bytes_per_s * 8.0,
        "loss_percent": loss_percent(result),
        "tour_latency": summary_json(&latency_summary(result)?),
        "tour_ipdv": (!result.tour_ipdv.is_empty())
            .then(|| tour_ipdv(result).map(|s| summary_json(&s)))
            .transpose()?,
        "tour_latency_corrected": if result.tour_latency_corrected.is_empty() {
            None
        } else {
            Some(summary_json(&intended_summary(result)?))
        },
        "hop_losses": result.hop_losses.iter().map(|h| json!({
            "from": h.from, "to": h.to, "lost": h.lost,
        })).collect::<Vec<_>>(),
        "hops": result.hops.iter().map(hop_json).collect::<Result<Vec<_>, _>>()?,
        "consistency": consistency(result)?.map(|(hops, residence, tour)| json!({
            "hops_p50_sum_ns": hops,
            "residence_p50_sum_ns": residence,
            "tour_p50_ns": tour,
            "difference_ns": tour as i64 - (hops + residence) as i64,
            "error_bounds_sum_ns": result.hops.iter().map(|h| h.error_bound_ns).sum::<u64>(),
        })),
        "members": result.members.iter().map(member_json).collect::<Result<Vec<_>, _>>()?,
    }))
}

fn endpoint(result: &TourResult, index: u32) -> &str {
    result
        .members
        .get(index as usize)
        .map_or("?", |m| m.peer_endpoint.as_str())
}

/// A tour result as text.
pub fn tour_text(result: &TourResult) -> Result<String, UndecodableHistogram> {
    let mut out = String::new();
    let members = result.members.len();
    let _ = writeln!(
        out,
        "tour {}{}: {}",
        tour_id(result.tour_id),
        if result.ring.is_empty() {
            String::new()
        } else {
            format!(" (ring {})", result.ring)
        },
        result.outcome().name().replace('_', " ")
    );
    if let Some(p) = &result.params {
        let _ = writeln!(out, "  ring          {}", params_text(p, members));
    }
    if let Some(placed) = placed_text(result.placed.as_ref(), result.members.iter().map(|m| m.cpu))
    {
        let _ = writeln!(out, "  placement     {placed}");
    }
    if !result.error.is_empty() {
        let _ = writeln!(out, "  error         {}", result.error);
    }
    let origin_missing = result.members.first().is_some_and(|o| o.report_missing);
    let cancelled = result.outcome() == stillepost_control::proto::Outcome::Cancelled;
    if origin_missing {
        let _ = writeln!(
            out,
            "  messages      unknown: the origin (member 0, {}) sent no report, so what it sent and got back, and the tour latency, are not known; the hops below are what the other members recorded",
            endpoint(result, 0)
        );
    } else {
        let _ = writeln!(
            out,
            "  messages      sent {}, received {}, {} {}{}",
            result.messages_sent,
            result.messages_received,
            if cancelled {
                "in flight when cancelled"
            } else {
                "lost"
            },
            result.lost,
            loss_percent(result)
                .filter(|_| !cancelled)
                .map_or(String::new(), |p| format!(" ({})", percent(p)))
        );
    }
    for m in result.members.iter().skip(1).filter(|m| m.report_missing) {
        let _ = writeln!(
            out,
            "  no report     member {} ({}): its counters and the hop into it are not known",
            m.index, m.peer_endpoint
        );
    }
    if result.messages_unsent > 0 {
        let _ = writeln!(
            out,
            "  unsent        {}: {}",
            result.messages_unsent,
            if cancelled {
                "the tour was cancelled before they were sent"
            } else {
                "the window stayed full of lost messages until the timeout"
            }
        );
    }
    if origin_missing {
        let _ = writeln!(
            out,
            "  total time    unknown (no origin report); throughput and tour latency too"
        );
    } else {
        let _ = writeln!(
            out,
            "  total time    {}  (first send to last receive at the origin)",
            duration(result.total_ns)
        );
        let (msgs, bytes) = throughput(result);
        let _ = writeln!(
            out,
            "  throughput    {} msg/s, {} of payload ({})",
            if msgs >= 100.0 {
                format!("{msgs:.0}")
            } else {
                format!("{msgs:.2}")
            },
            rate(bytes * 8.0, "bit/s"),
            rate(bytes, "B/s")
        );
    }
    let cpu_ns: u64 = result.members.iter().map(|m| m.cpu_ns).sum();
    if cpu_ns > 0 {
        let _ = writeln!(
            out,
            "  cpu time      {} in the members' data-plane threads{}",
            duration(cpu_ns),
            cpu_ns
                .checked_div(result.messages_sent)
                .map_or_else(String::new, |per| format!(
                    ", {} per message sent",
                    duration(per)
                ))
        );
        // Blocking members on a shared core preempt each other at every hop (the next one
        // wakes up): the count says something only of spinning members.
        let spinning = result
            .members
            .iter()
            .any(|m| m.poll() == stillepost_control::proto::PollMode::Spin);
        let preempted: u64 = result.members.iter().map(|m| m.preempted).sum();
        if spinning && preempted > 0 {
            let _ = writeln!(
                out,
                "  preempted     {preempted} times (another thread took a member's core: {})",
                result
                    .members
                    .iter()
                    .filter(|m| m.preempted > 0)
                    .map(|m| format!("member {} {}", m.index, m.preempted))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    latency_text(&mut out, result)?;
    if result.lost > 0 {
        let _ = writeln!(
            out,
            "  where {}:",
            match (cancelled, result.lost) {
                (true, 1) => "the message in flight was when the tour was cancelled".to_owned(),
                (true, n) => format!("the {n} messages in flight were when the tour was cancelled"),
                (false, 1) => "the lost message was last seen".to_owned(),
                (false, n) => format!("the {n} lost messages were last seen"),
            }
        );
        for hop in result.hop_losses.iter().filter(|h| h.lost > 0) {
            let _ = writeln!(
                out,
                "    hop {}→{} ({} → {}): {} sent, {}",
                hop.from,
                hop.to,
                endpoint(result, hop.from),
                endpoint(result, hop.to),
                hop.lost,
                if cancelled {
                    "not received yet"
                } else {
                    "never received"
                }
            );
        }
        let mut located: u64 = result.hop_losses.iter().map(|h| h.lost).sum();
        for m in &result.members {
            let counters = m.member_counters().tour;
            located += counters.held;
            if counters.held > 0 {
                let _ = writeln!(
                    out,
                    "    member {} ({}): {} held, still waiting for the rest of the tour",
                    m.index, m.peer_endpoint, counters.held
                );
            }
            if counters.stalled > 0 && m.index > 0 {
                located += counters.stalled;
                let longest = residence_summary(m)
                    .ok()
                    .filter(|s| s.count > 0)
                    .map_or(String::new(), |s| {
                        format!(", its longest residence {}", duration(s.max_ns))
                    });
                let _ = writeln!(
                    out,
                    "    member {} ({}): {} there longer than the member timeout before it forwarded {}: the member stalled (stopped, descheduled or swapped out){longest}",
                    m.index,
                    m.peer_endpoint,
                    if counters.stalled == 1 {
                        "1 stayed".to_owned()
                    } else {
                        format!("{} stayed", counters.stalled)
                    },
                    if counters.stalled == 1 { "it" } else { "them" },
                );
            }
        }
        if located < result.lost {
            let silent: Vec<String> = result
                .members
                .iter()
                .filter(|m| m.report_missing)
                .map(|m| format!("member {} ({})", m.index, m.peer_endpoint))
                .collect();
            let why = if silent.is_empty() {
                "the members' counters do not account for them".to_owned()
            } else {
                format!(
                    "held in {} or lost on a hop into or out of {}: {} sent no report",
                    silent.join(" or "),
                    if silent.len() == 1 { "it" } else { "them" },
                    if silent.len() == 1 { "it" } else { "they" },
                )
            };
            let _ = writeln!(out, "    {} not located: {why}", result.lost - located);
        }
    }
    for m in &result.members {
        let mut counters = m.member_counters();
        if result.lost > 0 {
            // Said above, where the lost messages were last seen.
            counters.tour.stalled = 0;
        }
        let noted = noted(&counters);
        if !noted.is_empty() {
            let _ = writeln!(
                out,
                "  member {} ({}): {}",
                m.index,
                m.peer_endpoint,
                noted.join(", ")
            );
        }
    }
    let offload: Vec<String> = result
        .members
        .iter()
        .filter_map(|m| {
            let io = m.member_counters().io;
            (io.gso_sends + io.gro_receives > 0).then(|| {
                format!(
                    "member {} {} GSO sends, {} GRO receives",
                    m.index, io.gso_sends, io.gro_receives
                )
            })
        })
        .collect();
    if !offload.is_empty() {
        let _ = writeln!(out, "  offload: {}", offload.join("; "));
    }
    let moved: Vec<&MemberTourStats> = result
        .members
        .iter()
        .filter(|m| !m.kernel_counters.is_empty() || !m.drop_advice.is_empty())
        .collect();
    if !moved.is_empty() {
        let _ = writeln!(
            out,
            "  kernel counters that moved during the tour (each member's network namespace):"
        );
        for m in moved {
            let counters: Vec<String> = m
                .kernel_counters
                .iter()
                .map(|c| format!("{} +{}", c.name, c.delta))
                .collect();
            let _ = writeln!(out, "    member {}: {}", m.index, counters.join(", "));
            for advice in &m.drop_advice {
                let _ = writeln!(out, "      {advice}");
            }
        }
    }
    Ok(out)
}

/// A percentile column: its heading, the samples it needs, its value in a summary.
type Percentile = (&'static str, u64, fn(&Summary) -> u64);

/// The percentiles of the text tables, each shown where at least one sample lies beyond
/// it: with fewer samples it is the largest value, which `max` already shows.
const PERCENTILES: [Percentile; 5] = [
    ("p50", 2, |s| s.p50_ns),
    ("p90", 10, |s| s.p90_ns),
    ("p99", 100, |s| s.p99_ns),
    ("p99.9", 1_000, |s| s.p999_ns),
    ("p99.99", 10_000, |s| s.p9999_ns),
];

/// One row of the latency table: its name, its summary or why it has none, and for a hop
/// its counters and clock.
struct LatencyRow<'a> {
    name: String,
    summary: Result<Summary, String>,
    hop: Option<&'a HopResult>,
    /// The row's IPDV (tour and hops), when recorded.
    ipdv: Option<Summary>,
}

/// A summary, or why there is none: a histogram without samples is "no data", never a
/// row of zeros.
fn measured(s: Summary, why_none: impl FnOnce() -> String) -> Result<Summary, String> {
    if s.count > 0 { Ok(s) } else { Err(why_none()) }
}

/// The tour's latency, then each hop's and each forwarder's residence, in one table in µs:
/// sample count, min, the percentiles the sample counts support, max, mean and standard
/// deviation, and for the hops their losses and clock; then how the parts add up to the
/// tour.
fn latency_text(out: &mut String, result: &TourResult) -> Result<(), UndecodableHistogram> {
    let silent = |index: u32| {
        result
            .members
            .get(index as usize)
            .is_some_and(|m| m.report_missing)
    };
    let mut rows = Vec::new();
    if !silent(0) {
        let corrected = !result.tour_latency_corrected.is_empty();
        rows.push(LatencyRow {
            name: if corrected { "tour sent" } else { "tour" }.to_owned(),
            summary: measured(latency_summary(result)?, || {
                "no data: no message came back".to_owned()
            }),
            hop: None,
            ipdv: Some(tour_ipdv(result)?).filter(|s| s.count > 0),
        });
        if corrected {
            rows.push(LatencyRow {
                name: "tour intended".to_owned(),
                summary: measured(intended_summary(result)?, || {
                    "no data: no message came back".to_owned()
                }),
                hop: None,
                ipdv: None,
            });
        }
    }
    for h in &result.hops {
        rows.push(LatencyRow {
            name: format!("hop {}→{}", h.from, h.to),
            summary: measured(hop_summary(h)?, || {
                if silent(h.to) {
                    format!("no data: member {} sent no report", h.to)
                } else {
                    "no data: no message crossed it".to_owned()
                }
            }),
            hop: Some(h),
            ipdv: Some(hop_ipdv(h)?).filter(|s| s.count > 0),
        });
    }
    let residence_from = rows.len();
    for m in result.members.iter().skip(1) {
        rows.push(LatencyRow {
            name: format!("member {}", m.index),
            summary: measured(residence_summary(m)?, || {
                if m.report_missing {
                    "no data: it sent no report".to_owned()
                } else if m.member_counters().tour.forwarded == 0 {
                    "no data: it forwarded no message".to_owned()
                } else {
                    "no data: its residence times were not recorded".to_owned()
                }
            }),
            hop: None,
            ipdv: None,
        });
    }
    if rows.is_empty() {
        return Ok(());
    }
    let counts = || {
        rows.iter()
            .filter_map(|r| r.summary.as_ref().ok())
            .map(|s| s.count)
    };
    let largest = counts().max().unwrap_or(0);
    let smallest = counts().min().unwrap_or(0);
    let shown: Vec<_> = PERCENTILES
        .iter()
        .filter(|(_, needs, _)| largest >= *needs)
        .collect();
    let hops = !result.hops.is_empty();
    // µs to two decimals, unless a median is 100 ms or more: then ms to three. (A stall's
    // maximum alone keeps µs, so that the typical values keep their digits.)
    let top = rows
        .iter()
        .filter_map(|r| r.summary.as_ref().ok())
        .map(|s| s.p50_ns)
        .max()
        .unwrap_or(0);
    let (heading, divisor, decimals) = if top >= 100_000_000 {
        ("latency (ms)", 1e6, 3)
    } else {
        ("latency (µs)", 1e3, 2)
    };
    let mut columns = vec![(heading, Align::Left), ("count", Align::Right)];
    columns.push(("min", Align::Right));
    columns.extend(shown.iter().map(|(name, _, _)| (*name, Align::Right)));
    columns.extend([
        ("max", Align::Right),
        ("mean", Align::Right),
        ("stdev", Align::Right),
    ]);
    let ipdv = rows.iter().any(|r| r.ipdv.is_some());
    if ipdv {
        columns.push(("ipdv", Align::Right));
    }
    if hops {
        columns.extend([
            ("lost", Align::Right),
            ("dup", Align::Right),
            ("reorder", Align::Right),
            ("clock error bound (µs)", Align::Left),
        ]);
    }
    let mut table = Table::new(columns);
    let value = |ns: u64| format!("{:.decimals$}", ns as f64 / divisor);
    for (i, row) in rows.iter().enumerate() {
        if i == residence_from {
            table.line("residence, arrival → forward:");
        }
        let mut cells = vec![row.name.clone()];
        match &row.summary {
            Ok(s) => {
                cells.push(s.count.to_string());
                cells.push(value(s.min_ns));
                for (_, needs, percentile) in &shown {
                    cells.push(if s.count >= *needs {
                        value(percentile(s))
                    } else {
                        "–".to_owned()
                    });
                }
                cells.extend([value(s.max_ns), value(s.mean_ns), value(s.stdev_ns)]);
                if ipdv {
                    cells.push(row.ipdv.map_or(String::new(), |i| value(i.mean_ns)));
                }
            }
            Err(why) => {
                cells.push("0".to_owned());
                cells.push(why.clone());
            }
        }
        if let (Some(h), Ok(_)) = (row.hop, &row.summary) {
            let c = h.hop_counters();
            cells.extend([
                c.lost.to_string(),
                c.duplicates.to_string(),
                c.reordered.to_string(),
                clock_text(h),
            ]);
        }
        if row.summary.is_err() {
            // The reason spans the columns after the count.
            let name = cells.remove(0);
            let count = cells.remove(0);
            table.note(vec![name, count], cells.remove(0));
        } else {
            table.row(cells);
        }
    }
    out.push_str(&table.render(2));
    if shown.len() < PERCENTILES.len()
        || PERCENTILES
            .iter()
            .any(|(_, n, _)| smallest < *n && largest >= *n)
    {
        let _ = writeln!(
            out,
            "  a percentile is shown where at least one sample lies beyond it (p99 from 100 samples, p99.9 from 1,000, p99.99 from 10,000); – marks a row with fewer"
        );
    }
    if ipdv {
        let _ = writeln!(
            out,
            "  ipdv: mean delay variation of messages with consecutive sequence numbers, |D(i) − D(i−1)| (RFC 3393); JSON has its percentiles"
        );
    }
    if !result.tour_latency_corrected.is_empty() && !silent(0) {
        let _ = writeln!(
            out,
            "  tour latency from the actual send (sent) and from the scheduled send (intended: corrected for coordinated omission)"
        );
    }
    match consistency(result)? {
        Some((hops, residence, tour)) => {
            let bounds: u64 = result.hops.iter().map(|h| h.error_bound_ns).sum();
            let _ = writeln!(
                out,
                "  hops + residence p50 {}, tour p50 {}: difference {} (clock bounds ±{})",
                duration(hops + residence),
                duration(tour),
                signed_duration(tour as i64 - (hops + residence) as i64),
                duration(bounds)
            );
        }
        None if hops => {
            let _ = writeln!(
                out,
                "  hops + residence against the tour: not compared, some hops or members have no data"
            );
        }
        None => {}
    }
    if hops {
        arrival_times(out, result);
    }
    let negative: u64 = result.hops.iter().map(|h| h.hop_counters().negative).sum();
    if negative > 0 {
        let _ = writeln!(
            out,
            "  {} came out negative (the clocks disagree by more than the offset found) and {} recorded as 0; see the error bounds",
            plural(negative, "hop latency").replace("latencys", "latencies"),
            if negative == 1 { "was" } else { "were" }
        );
    }
    Ok(())
}

/// Where each member's arrival times came from, grouped by source with the members in
/// ranges ("kernel-software at members 1–63; application at member 0").
fn arrival_times(out: &mut String, result: &TourResult) {
    let mut by_source: Vec<(&str, Vec<u32>)> = Vec::new();
    for h in &result.hops {
        let source = h.timestamping().name();
        match by_source.iter_mut().find(|(s, _)| *s == source) {
            Some((_, members)) => members.push(h.to),
            None => by_source.push((source, vec![h.to])),
        }
    }
    let groups: Vec<String> = by_source
        .iter_mut()
        .map(|(source, members)| {
            members.sort_unstable();
            format!(
                "{source} at {} {}",
                if members.len() == 1 {
                    "member"
                } else {
                    "members"
                },
                ranges(members)
            )
        })
        .collect();
    out.push_str(&wrapped("  arrival times: ", &groups, ';', 100));
}

fn member_info_json(m: &MemberInfo) -> Value {
    json!({
        "index": m.index,
        "control_endpoint": m.control_endpoint,
        "peer_endpoint": m.peer_endpoint,
        "state": m.state().name(),
        "error": if m.error.is_empty() { Value::Null } else { json!(m.error) },
        "backend": m.backend().name(),
        "poll": m.poll().name(),
        "cpu": (m.cpu >= 0).then_some(m.cpu),
        "rcvbuf_requested": m.rcvbuf_requested,
        "rcvbuf_granted": m.rcvbuf_granted,
        "sndbuf_requested": m.sndbuf_requested,
        "sndbuf_granted": m.sndbuf_granted,
        "gso_segment": (m.gso_segment > 0).then_some(m.gso_segment),
        "gro": m.gro,
        "warnings": m.warnings,
        "lifetime": with_counters(json!({}), &lifetime(m)),
        "name": m.name,
        "instance_id": m.instance_id,
        "last_seen_unix_ms": (m.last_seen_unix_ms > 0).then_some(m.last_seen_unix_ms),
        "last_tour": (m.last_tour() != TourReportState::Unspecified).then(|| m.last_tour().name()),
    })
}

/// Monitor mode's state as JSON.
fn monitor_json(m: &stillepost_control::proto::MonitorStatus) -> Value {
    json!({
        "interval_ms": m.interval_ms,
        "count": m.count,
        "tours": m.tours,
        "last_tour": (m.last_tour != 0).then(|| tour_id(m.last_tour)),
        "last_outcome": (m.last_unix_ms > 0).then(|| m.last_outcome().name()),
        "last_unix_ms": (m.last_unix_ms > 0).then_some(m.last_unix_ms),
        "last_error": (!m.last_error.is_empty()).then_some(&m.last_error),
    })
}

/// Monitor mode's state in a line, `now_ms` being now (ms since the epoch).
fn monitor_text(m: &stillepost_control::proto::MonitorStatus, now_ms: u64) -> String {
    let every = format!(
        "monitoring: a tour of {} messages every {}",
        m.count,
        seconds_text(m.interval_ms)
    );
    if m.last_unix_ms == 0 {
        return format!("{every}; no monitor tour yet");
    }
    let which = if m.last_tour != 0 {
        format!("monitor tour {}", tour_id(m.last_tour))
    } else {
        "monitor tour".to_string()
    };
    let outcome = if m.last_tour == 0 {
        "could not start".to_string()
    } else {
        m.last_outcome().name().replace('_', " ")
    };
    let error = if m.last_error.is_empty() {
        String::new()
    } else {
        format!(": {}", m.last_error)
    };
    format!(
        "{every}; last {which} {outcome} {} ago{error} ({} so far)",
        seconds_text(now_ms.saturating_sub(m.last_unix_ms)),
        m.tours
    )
}

/// A duration in ms as "2.5 s" (or "800 ms").
fn seconds_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1e3)
    }
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Every counter with words for the text report that moved ("1 message received again").
fn noted(counters: &stillepost_engine::counters::MemberCounters) -> Vec<String> {
    counters
        .counters()
        .filter(|(_, n)| *n > 0)
        .filter_map(|(def, n)| {
            let unit = if n == 1 {
                def.unit.singular()
            } else {
                def.unit.name()
            };
            Some(format!("{n} {unit} {}", def.note?))
        })
        .collect()
}

/// A member's counters since it started, as its last status said.
fn lifetime(m: &MemberInfo) -> stillepost_engine::counters::MemberCounters {
    stillepost_control::convert::counters_from_proto(&m.lifetime)
}

/// The members as a table; `now_ms` (ms since the epoch) dates when each last answered.
fn members_table(out: &mut String, members: &[MemberInfo], now_ms: u64) {
    let mut table = Table::new([
        ("member", Align::Right),
        ("name", Align::Left),
        ("control", Align::Left),
        ("peer", Align::Left),
        ("state", Align::Left),
        ("backend", Align::Left),
        ("poll", Align::Left),
        ("cpu", Align::Left),
    ]);
    for m in members {
        let cpu = if m.cpu >= 0 {
            m.cpu.to_string()
        } else {
            "any".to_string()
        };
        table.row(vec![
            m.index.to_string(),
            m.name.clone(),
            m.control_endpoint.clone(),
            m.peer_endpoint.clone(),
            m.state().name().to_owned(),
            m.backend().name().to_owned(),
            m.poll().name().to_owned(),
            cpu,
        ]);
        if !m.error.is_empty() {
            table.line(format!("        {}", m.error));
        }
        if m.last_seen_unix_ms > 0 {
            let last = match m.last_tour() {
                TourReportState::Unspecified => "",
                TourReportState::Reported => "; it reported on the last tour",
                TourReportState::Missing => {
                    "; it sent no report of the last tour (the tour's error says why)"
                }
            };
            table.line(format!(
                "        instance {}, last answered {} ago{last}",
                m.instance_id,
                seconds_text(now_ms.saturating_sub(m.last_seen_unix_ms))
            ));
        }
        if m.rcvbuf_requested > 0 {
            let offload = match (m.gso_segment, m.gro) {
                (0, false) => "none".to_string(),
                (0, true) => "GRO".to_string(),
                (segment, gro) => {
                    format!(
                        "GSO in {segment} B datagrams{}",
                        if gro { ", GRO" } else { "" }
                    )
                }
            };
            table.line(format!(
                "        socket buffers (asked → granted, which the kernel doubles): receive {} → {} B, send {} → {} B; offload: {offload}",
                m.rcvbuf_requested, m.rcvbuf_granted, m.sndbuf_requested, m.sndbuf_granted
            ));
        }
        for w in &m.warnings {
            table.line(format!("        warning: {w}"));
        }
    }
    out.push_str(&table.render(2));
}

/// The reply to `configure` as JSON (with several rings, each in `rings`).
pub fn configure_json(reply: &ConfigureReply) -> Value {
    let mut doc = json!({
        "params": reply.params.as_ref().map(params_json),
        "placed": placed_json(reply.placed.as_ref(), reply.members.iter().map(|m| m.cpu)),
        "source": (!reply.source.is_empty()).then_some(&reply.source),
        "members": reply.members.iter().map(member_info_json).collect::<Vec<_>>(),
    });
    if !reply.ring.is_empty() {
        doc["ring"] = json!(reply.ring);
    }
    if !reply.rings.is_empty() {
        doc["rings"] = json!(reply.rings.iter().map(configure_json).collect::<Vec<_>>());
    }
    doc
}

/// The reply to `configure` as text.
pub fn configure_text(reply: &ConfigureReply) -> String {
    let mut out = String::new();
    if !reply.rings.is_empty() {
        let _ = writeln!(
            out,
            "configured {} members in {} rings{}",
            reply.members.len(),
            reply.rings.len(),
            if reply.source.is_empty() {
                String::new()
            } else {
                format!(", from {}, split in the order of their names", reply.source)
            }
        );
        for ring in &reply.rings {
            let _ = write!(out, "ring {}: {}", ring.ring, configure_text(ring));
        }
        return out;
    }
    if let Some(p) = &reply.params {
        let _ = writeln!(
            out,
            "configured a ring of {}",
            params_text(p, reply.members.len())
        );
        if !reply.source.is_empty() {
            let _ = writeln!(
                out,
                "members from {}, in the order of their names",
                reply.source
            );
        }
    }
    if let Some(placed) = placed_text(reply.placed.as_ref(), reply.members.iter().map(|m| m.cpu)) {
        let _ = writeln!(out, "placement: {placed}");
    }
    members_table(&mut out, &reply.members, unix_now_ms());
    out
}

/// The reply to `status` as JSON (with several rings, each in `rings`).
pub fn status_json(coordinator: &str, reply: &StatusReply) -> Value {
    let mut doc = status_json_of(coordinator, reply);
    if !reply.ring.is_empty() {
        doc["ring"] = json!(reply.ring);
    }
    if !reply.rings.is_empty() {
        doc["rings"] = json!(
            reply
                .rings
                .iter()
                .map(|r| status_json(coordinator, r))
                .collect::<Vec<_>>()
        );
    }
    doc
}

fn status_json_of(coordinator: &str, reply: &StatusReply) -> Value {
    json!({
        "coordinator": coordinator,
        "configured": reply.configured,
        "params": reply.params.as_ref().map(params_json),
        "placed": placed_json(reply.placed.as_ref(), reply.members.iter().map(|m| m.cpu)),
        "running_tour": (reply.running_tour != 0).then(|| tour_id(reply.running_tour)),
        "progress": reply.progress.as_ref().map(|p| json!({
            "sent": p.sent,
            "received": p.received,
            "count": p.count,
            "elapsed_ms": p.elapsed_ms,
        })),
        "last_tour": (reply.last_tour != 0).then(|| tour_id(reply.last_tour)),
        "monitor": reply.monitor.as_ref().map(monitor_json),
        "source": (!reply.source.is_empty()).then_some(&reply.source),
        "members": reply.members.iter().map(member_info_json).collect::<Vec<_>>(),
    })
}

/// The reply to `status` as text.
pub fn status_text(coordinator: &str, reply: &StatusReply) -> String {
    status_text_at(coordinator, reply, unix_now_ms())
}

/// The reply to `status` as text at `now_ms` (ms since the epoch).
fn status_text_at(coordinator: &str, reply: &StatusReply, now_ms: u64) -> String {
    let mut out = String::new();
    if !reply.rings.is_empty() {
        let _ = writeln!(
            out,
            "coordinator {coordinator}: {} members in {} rings{}",
            reply.members.len(),
            reply.rings.len(),
            if reply.source.is_empty() {
                String::new()
            } else {
                format!(", from {}", reply.source)
            }
        );
        for ring in &reply.rings {
            let _ = write!(
                out,
                "ring {}: {}",
                ring.ring,
                status_text_at(coordinator, ring, now_ms)
            );
        }
        return out;
    }
    if !reply.configured {
        let _ = writeln!(
            out,
            "coordinator {coordinator}: no ring configured; run `stillepost configure --cluster ...`"
        );
        return out;
    }
    if let Some(p) = &reply.params {
        let _ = writeln!(
            out,
            "coordinator {coordinator}: ring of {}",
            params_text(p, reply.members.len())
        );
        if !reply.source.is_empty() {
            let _ = writeln!(
                out,
                "members from {}, in the order of their names",
                reply.source
            );
        }
        if let Some(placed) =
            placed_text(reply.placed.as_ref(), reply.members.iter().map(|m| m.cpu))
        {
            let _ = writeln!(out, "placement: {placed}");
        }
    }
    let running = if reply.running_tour != 0 {
        match &reply.progress {
            Some(p) => format!(
                "tour {} running for {:.1} s: {} of {} messages back, {} sent",
                tour_id(reply.running_tour),
                p.elapsed_ms as f64 / 1e3,
                p.received,
                p.count,
                p.sent
            ),
            None => format!("tour {} running", tour_id(reply.running_tour)),
        }
    } else {
        "no tour running".to_string()
    };
    let last = if reply.last_tour != 0 {
        format!("; last tour {}", tour_id(reply.last_tour))
    } else {
        String::new()
    };
    let _ = writeln!(out, "{running}{last}");
    if let Some(m) = &reply.monitor {
        let _ = writeln!(out, "{}", monitor_text(m, now_ms));
    }
    members_table(&mut out, &reply.members, now_ms);
    // What each member dropped or refused since it started, tours and between tours.
    for m in &reply.members {
        let noted = noted(&lifetime(m));
        if !noted.is_empty() {
            let _ = writeln!(
                out,
                "  member {} since it started: {}",
                m.index,
                noted.join(", ")
            );
        }
    }
    out
}

/// Probe results as JSON: `{"from", "members"|"hosts": [...]}`, every time in integer ns.
pub fn probe_json(kind: ProbeKind, from: &str, targets: &[Rtts]) -> Value {
    let entries: Vec<Value> = targets
        .iter()
        .map(|t| {
            let stats = t.stats();
            let mut doc = json!({
                "method": t.method,
                "sent": t.sent(),
                "received": t.received(),
                "loss_percent": t.loss_percent(),
                "min_ns": stats.map(|s| s.min_ns),
                "avg_ns": stats.map(|s| s.avg_ns),
                "max_ns": stats.map(|s| s.max_ns),
                "mdev_ns": stats.map(|s| s.mdev_ns),
                "rtts_ns": t.rtts_ns,
                "error": t.error,
            });
            match kind {
                ProbeKind::Echo => {
                    doc["index"] = json!(t.members.first());
                    doc["peer_endpoint"] = json!(t.target);
                }
                ProbeKind::Ping => {
                    doc["host"] = json!(t.target);
                    doc["members"] = json!(t.members);
                }
            }
            doc
        })
        .collect();
    let key = match kind {
        ProbeKind::Echo => "members",
        ProbeKind::Ping => "hosts",
    };
    json!({ "from": from, key: entries })
}

/// Probe results as ping prints them, one block per target: what was probed and how, the
/// counts and loss, and min/avg/max/mdev in ms (the unit ping and both commands use).
pub fn probe_text(kind: ProbeKind, from: &str, targets: &[Rtts], timeout: Duration) -> String {
    let mut out = format!(
        "{} from {from}\n",
        match kind {
            ProbeKind::Echo => "UDP echoes to each member's peer socket",
            ProbeKind::Ping => "ICMP echoes to each member host",
        }
    );
    for t in targets {
        let members: Vec<String> = t.members.iter().map(u32::to_string).collect();
        let who = match kind {
            ProbeKind::Echo => format!("member {} {}", members.join(", "), t.target),
            ProbeKind::Ping => format!(
                "{} {} on {}",
                if t.members.len() == 1 {
                    "member"
                } else {
                    "members"
                },
                members.join(", "),
                t.target
            ),
        };
        if let Some(error) = &t.error {
            let _ = writeln!(out, "--- {who} ---\nnot probed: {error}");
            continue;
        }
        let _ = writeln!(
            out,
            "--- {who} ({}) ---\n{} transmitted, {} received, {}% packet loss",
            t.method,
            plural(u64::from(t.sent()), "packet"),
            t.received(),
            format_percent(t.loss_percent())
        );
        let ms = |ns: u64| format!("{:.3}", ns as f64 / 1e6);
        match t.stats() {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
                    ms(s.min_ns),
                    ms(s.avg_ns),
                    ms(s.max_ns),
                    ms(s.mdev_ns)
                );
            }
            None => {
                let _ = writeln!(out, "no answer within {} ms", timeout.as_millis());
            }
        }
    }
    out
}

/// A loss percentage as ping writes it: whole numbers bare, else up to three decimals.
fn format_percent(percent: f64) -> String {
    if percent.fract() == 0.0 {
        format!("{percent:.0}")
    } else {
        format!("{percent:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// The tour's latency per period as JSON: `[{start_ns, sent, back, tour: {summary}}]`.
pub fn periods_json(interval: Duration, periods: &[crate::raw::Period]) -> Value {
    json!({
        "interval_ns": interval.as_nanos() as u64,
        "periods": periods.iter().map(|p| json!({
            "start_ns": p.start.as_nanos() as u64,
            "sent": p.sent,
            "back": p.back,
            "tour": p.histograms.first().map(|(_, h)| summary_json(&Summary::of(h))),
        })).collect::<Vec<_>>(),
    })
}

/// The tour's latency per period as a table: start, messages sent and back, p50, p99 and
/// max (p99 where the period has 100 samples).
pub fn periods_text(interval: Duration, periods: &[crate::raw::Period]) -> String {
    let mut table = Table::new([
        ("from", Align::Right),
        ("sent", Align::Right),
        ("back", Align::Right),
        ("tour p50", Align::Right),
        ("p99", Align::Right),
        ("max", Align::Right),
    ]);
    for p in periods {
        let s = p
            .histograms
            .first()
            .map(|(_, h)| Summary::of(h))
            .unwrap_or_default();
        let (p50, p99, max) = if s.count == 0 {
            ("–".to_owned(), "–".to_owned(), "–".to_owned())
        } else {
            (
                duration(s.p50_ns),
                if s.count >= 100 {
                    duration(s.p99_ns)
                } else {
                    "–".to_owned()
                },
                duration(s.max_ns),
            )
        };
        table.row(vec![
            format!("{:.3} s", p.start.as_secs_f64()),
            p.sent.to_string(),
            p.back.to_string(),
            p50,
            p99,
            max,
        ]);
    }
    format!(
        "  tour latency per {} of the origin's sends (p99 from 100 samples):\n{}",
        humantime::format_duration(interval),
        table.render(4)
    )
}

/// A start time as RFC 3339 in UTC, to the second.
fn started(unix_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The stored tours as JSON: `{"tours": [...]}`, oldest first.
pub fn tours_json(tours: &[TourSummary]) -> Value {
    json!({
        "tours": tours.iter().map(|t| {
            let latency = t.latency_count > 0;
            json!({
                "tour_id": tour_id(t.tour_id),
                "started_unix_ms": t.started_unix_ms,
                "started": started(t.started_unix_ms),
                "members": t.members,
                "params": t.params.as_ref().map(params_json),
                "outcome": t.outcome().name(),
                "messages_sent": t.messages_sent,
                "messages_received": t.messages_received,
                "lost": t.lost,
                "latency_count": t.latency_count,
                "p50_ns": latency.then_some(t.p50_ns),
                "p99_ns": (t.latency_count >= 100).then_some(t.p99_ns),
                "pinned": t.pinned,
                "monitor": t.monitor,
            })
        }).collect::<Vec<_>>(),
    })
}

/// The stored tours as a table, oldest first; `monitor_left_out` monitor tours are not in
/// `tours` (`stillepost tours --monitor` lists them).
pub fn tours_text(tours: &[TourSummary], monitor_left_out: usize) -> String {
    let left_out = match monitor_left_out {
        0 => String::new(),
        n => format!(
            "{} not listed: `stillepost tours --monitor` lists them\n",
            plural(n as u64, "monitor tour")
        ),
    };
    if tours.is_empty() {
        return format!(
            "no finished tours on this coordinator yet: `stillepost run` runs one\n{left_out}"
        );
    }
    let mut table = Table::new([
        ("tour", Align::Left),
        ("started (UTC)", Align::Left),
        ("ring", Align::Left),
        ("outcome", Align::Left),
        ("lost", Align::Right),
        ("p50", Align::Right),
        ("p99", Align::Right),
        ("", Align::Left),
    ]);
    for t in tours {
        let ring = match &t.params {
            Some(p) => format!(
                "{} × {} × {} B",
                plural(u64::from(t.members), "member"),
                p.count,
                p.msg_len
            ),
            None => plural(u64::from(t.members), "member"),
        };
        let lost = match (t.lost, t.messages_sent) {
            (0, _) => "0".to_owned(),
            (n, _) if t.outcome() == stillepost_control::proto::Outcome::Cancelled => {
                format!("{n} in flight")
            }
            (lost, sent) => match share(lost, sent) {
                Some(p) => format!("{lost} ({})", percent(p)),
                None => lost.to_string(),
            },
        };
        table.row(vec![
            tour_id(t.tour_id),
            started(t.started_unix_ms)
                .replace('T', " ")
                .replace('Z', ""),
            ring,
            t.outcome().name().replace('_', " "),
            lost,
            if t.latency_count > 0 {
                duration(t.p50_ns)
            } else {
                "–".to_owned()
            },
            if t.latency_count >= 100 {
                duration(t.p99_ns)
            } else {
                "–".to_owned()
            },
            [(t.pinned, "pinned"), (t.monitor, "monitor")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, what)| *what)
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    let mut out = table.render(0);
    out.push_str(&format!(
        "{}; p99 needs 100 samples; `stillepost report <id>` shows one (any unique prefix of its id will do)\n",
        plural(tours.len() as u64, "tour")
    ));
    out.push_str(&left_out);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use stillepost_control::convert::counters_to_proto;
    use stillepost_control::proto::{
        Backend, HopLoss, HopResult, MemberState, Outcome, PollMode, Timestamping,
    };
    use stillepost_engine::counters::{Counters, HopCounters, MemberCounters};
    use stillepost_engine::histogram::{encode, new_histogram};

    fn member(index: u32, counters: Counters) -> MemberTourStats {
        MemberTourStats {
            index,
            peer_endpoint: format!("10.0.0.{}:7101", index + 1),
            counters: counters_to_proto(&MemberCounters {
                tour: counters,
                ..MemberCounters::default()
            }),
            backend: Backend::Uring.into(),
            poll: PollMode::Block.into(),
            cpu: 1,
            cpu_ns: 250_000 + u64::from(index) * 10_000,
            preempted: u64::from(index % 2) * 3,
            ..Default::default()
        }
    }

    /// A tour of 100 messages around 3 members in which hop 1→2 lost 3 and member 2 saw
    /// one duplicate; latencies 100..=196 µs.
    pub(crate) fn lossy_tour() -> TourResult {
        let mut h = new_histogram();
        for i in 0..97u64 {
            h.record(100_000 + i * 1_000).unwrap();
        }
        let origin = member(
            0,
            Counters {
                sent: 100,
                received: 97,
                ..Counters::default()
            },
        );
        let mut m2 = member(
            2,
            Counters {
                received: 97,
                forwarded: 97,
                duplicates: 1,
                ..Counters::default()
            },
        );
        // Hops of 30..=126 µs, residences of 2..=98 µs (hop 0→1 carries all 100 messages).
        let spread = |base: u64, n: u64| {
            let mut h = new_histogram();
            for i in 0..n {
                h.record(base + i * 1_000).unwrap();
            }
            encode(&h).unwrap()
        };
        let mut m1 = member(
            1,
            Counters {
                received: 100,
                forwarded: 100,
                ..Counters::default()
            },
        );
        let spread_at = |base: u64, step: u64, n: u64| {
            let mut h = new_histogram();
            for i in 0..n {
                h.record(base + i * step).unwrap();
            }
            encode(&h).unwrap()
        };
        m1.residence = spread(2_000, 100);
        m2.residence = spread(2_000, 97);
        let hop = |from: u32, to: u32, n: u64| HopResult {
            from,
            to,
            latency: spread(30_000, n),
            // Every consecutive pair 1 µs apart.
            ipdv: spread_at(1_000, 0, n - 1),
            counters: counters_to_proto(&HopCounters::default()),
            timestamping: Timestamping::KernelSoftware.into(),
            ..Default::default()
        };
        // 0→1 between two hosts, probed; 1→2 on one host; 2→0 not probed.
        let hops = vec![
            HopResult {
                offset_ns: 50_000_580,
                error_bound_ns: 3_550,
                clock_samples: 32,
                ..hop(0, 1, 100)
            },
            HopResult {
                counters: counters_to_proto(&HopCounters {
                    lost: 3,
                    duplicates: 1,
                    ..HopCounters::default()
                }),
                same_clock: true,
                ..hop(1, 2, 97)
            },
            HopResult {
                timestamping: Timestamping::Application.into(),
                counters: counters_to_proto(&HopCounters {
                    negative: 2,
                    ..HopCounters::default()
                }),
                ..hop(2, 0, 97)
            },
        ];
        TourResult {
            monitor: false,
            ring: String::new(),
            placed: Some(Placed {
                layout: Placement::Spread.into(),
                reason: "100 messages of 512 B in flight keep several members busy at once".into(),
            }),
            tour_id: 0x00c0_ffee_0000_0001,
            params: Some(TourParams {
                msg_len: 512,
                count: 100,
                window: 0,
                forward_immediately: true,
                member_timeout_ms: 2000,
                warmup: 10,
                rate: 4000.0,
                max_datagram: 0,
                max_buffer_memory: 0,
                whole_rate: 0,
                dscp: 0,
                placement: Placement::Auto.into(),
            }),
            outcome: Outcome::TimedOut.into(),
            error: String::new(),
            total_ns: 25_000_000,
            messages_sent: 100,
            messages_unsent: 0,
            messages_received: 97,
            lost: 3,
            tour_latency: encode(&h).unwrap(),
            members: vec![origin, m1, m2],
            hop_losses: vec![
                HopLoss {
                    from: 0,
                    to: 1,
                    lost: 0,
                },
                HopLoss {
                    from: 1,
                    to: 2,
                    lost: 3,
                },
                HopLoss {
                    from: 2,
                    to: 0,
                    lost: 0,
                },
            ],
            started_unix_ms: 1_795_000_000_000,
            hops,
            // Open loop: from the schedule, the last messages waited 2 ms more.
            tour_latency_corrected: spread(100_000, 97),
            tour_ipdv: spread_at(1_000, 0, 96),
        }
    }

    /// A complete tour of `count` messages around `members` members (on two hosts, the
    /// upper half probed), hop latencies spread from `base_ns` in steps of `step_ns`;
    /// member 0 timestamps in the application, the others in the kernel.
    fn ring_tour(members: u32, count: u64, base_ns: u64, step_ns: u64) -> TourResult {
        let spread = |base: u64| {
            let mut h = new_histogram();
            for i in 0..count {
                h.record(base + i * step_ns).unwrap();
            }
            encode(&h).unwrap()
        };
        let n = u64::from(members);
        let counters = |index: u32| Counters {
            sent: if index == 0 { count } else { 0 },
            received: count,
            forwarded: if index == 0 { 0 } else { count },
            ..Counters::default()
        };
        let mut ring: Vec<MemberTourStats> = (0..members)
            .map(|i| MemberTourStats {
                residence: if i == 0 {
                    Vec::new()
                } else {
                    spread(base_ns / 10)
                },
                ..member(i, counters(i))
            })
            .collect();
        for m in &mut ring {
            m.peer_endpoint = format!("10.0.{}.{}:7101", m.index / 200, m.index % 200 + 1);
        }
        let hops = (1..=members)
            .map(|k| {
                let to = k % members;
                let from = (to + members - 1) % members;
                let probed = from < members / 2 && to >= members / 2;
                HopResult {
                    from,
                    to,
                    latency: spread(base_ns),
                    ipdv: Vec::new(),
                    counters: counters_to_proto(&HopCounters::default()),
                    timestamping: if to == 0 {
                        Timestamping::Application
                    } else {
                        Timestamping::KernelSoftware
                    }
                    .into(),
                    same_clock: !probed,
                    offset_ns: if probed { 12_345 } else { 0 },
                    error_bound_ns: if probed { 2_500 } else { 0 },
                    clock_samples: if probed { 16 } else { 0 },
                }
            })
            .collect();
        TourResult {
            tour_id: 0x00c0_ffee_0000_0000 | u64::from(members),
            params: Some(TourParams {
                msg_len: 1024,
                count: count as u32,
                window: 1,
                forward_immediately: true,
                member_timeout_ms: 10_000,
                ..Default::default()
            }),
            outcome: Outcome::Complete.into(),
            total_ns: count * n * (base_ns + base_ns / 10 + step_ns * count / 2),
            messages_sent: count,
            messages_received: count,
            tour_latency: spread(n * (base_ns + base_ns / 10)),
            hop_losses: (0..members)
                .map(|from| HopLoss {
                    from,
                    to: (from + 1) % members,
                    lost: 0,
                })
                .collect(),
            members: ring,
            hops,
            started_unix_ms: 1_795_000_000_000,
            ..Default::default()
        }
    }

    /// Rings of 1, 12 and 64 members, and latencies over a second: every column as wide as
    /// its widest value, members in order, long lists wrapped, percentiles only where
    /// the sample count supports them.
    #[test]
    fn tour_tables_are_pinned_for_every_ring_size() {
        insta::assert_snapshot!(
            "one_member",
            tour_text(&ring_tour(1, 1_000, 20_000, 7)).unwrap()
        );
        insta::assert_snapshot!(
            "twelve_members",
            tour_text(&ring_tour(12, 20_000, 35_000, 1)).unwrap()
        );
        insta::assert_snapshot!(
            "sixty_four_members",
            tour_text(&ring_tour(64, 100, 40_000, 100)).unwrap()
        );
        insta::assert_snapshot!(
            "over_a_second",
            tour_text(&ring_tour(3, 50, 1_200_000_000, 30_000_000)).unwrap()
        );
    }

    /// No line of a tour's text runs past the table: the tables are as wide as their
    /// content and lists wrap at 100 characters.
    #[test]
    fn lists_wrap_and_columns_never_touch() {
        let text = tour_text(&ring_tour(64, 100, 40_000, 100)).unwrap();
        let arrival = text
            .lines()
            .skip_while(|l| !l.starts_with("  arrival times: "))
            .take_while(|l| l.starts_with("  arrival times: ") || l.starts_with("     "))
            .collect::<Vec<_>>();
        assert!(!arrival.is_empty(), "{text}");
        assert!(arrival.iter().all(|l| l.chars().count() <= 100), "{text}");
        // Hops in ring order, numerically: 9→10 comes before 10→11.
        let nine = text.find("hop 9→10 ").unwrap();
        let ten = text.find("hop 10→11 ").unwrap();
        assert!(nine < ten, "{text}");
        // Values of seconds in µs still stand apart from their neighbours.
        let text = tour_text(&ring_tour(3, 50, 1_200_000_000, 30_000_000)).unwrap();
        let row = text.lines().find(|l| l.starts_with("  hop 0→1 ")).unwrap();
        assert!(text.contains("  latency (ms) "), "{text}");
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            (cells[2], cells[3]),
            ("50", "1199.571"),
            "count and a min of 1.2 s in their own cells: {row}"
        );
    }

    #[test]
    fn tour_text_is_pinned() {
        insta::assert_snapshot!(tour_text(&lossy_tour()).unwrap());
    }

    /// Spinning members' preemptions are said, each member's; blocking members' are not
    /// (on a shared core the next member's wake-up preempts at every hop).
    #[test]
    fn preemptions_of_spinning_members_are_said() {
        let mut result = lossy_tour();
        let text = tour_text(&result).unwrap();
        assert!(!text.contains("preempted"), "{text}");
        for m in &mut result.members {
            m.poll = PollMode::Spin.into();
        }
        let text = tour_text(&result).unwrap();
        assert!(
            text.contains(
                "  preempted     3 times (another thread took a member's core: member 1 3)\n"
            ),
            "{text}"
        );
    }

    /// Lost messages on hops whose members sent no report are said to be not located,
    /// naming those members, rather than left without a line.
    #[test]
    fn losses_on_hops_of_silent_members_are_said_to_be_unlocated() {
        let mut result = lossy_tour();
        result.members[2].report_missing = true;
        result.hop_losses.retain(|h| h.from != 2 && h.to != 2);
        let text = tour_text(&result).unwrap();
        assert!(
            text.contains(&format!(
                "  where the 3 lost messages were last seen:\n    3 not located: held in member 2 ({}) or lost on a hop into or out of it: it sent no report\n",
                result.members[2].peer_endpoint
            )),
            "{text}"
        );
        assert!(text.contains("  no report     member 2 ("), "{text}");
        // Every loss located: no such line.
        assert!(!tour_text(&lossy_tour()).unwrap().contains("not located"));
    }

    #[test]
    fn tour_json_is_pinned() {
        insta::assert_snapshot!(
            serde_json::to_string_pretty(&tour_json(&lossy_tour()).unwrap()).unwrap()
        );
    }

    /// Text and JSON alike: a histogram that cannot be decoded is an error naming whose it
    /// is, never a row of zeros.
    #[test]
    fn a_corrupt_histogram_is_an_error_naming_whose_it_is() {
        type Spoil = fn(&mut TourResult);
        let cases: [(Spoil, &str); 4] = [
            (
                |t| t.hops[1].latency = crate::histogram::tests::corrupt(),
                "hop 1→2: its latency histogram",
            ),
            (
                |t| t.members[2].residence = crate::histogram::tests::corrupt(),
                "member 2: its residence histogram",
            ),
            (
                |t| t.tour_latency = crate::histogram::tests::corrupt(),
                "the origin (member 0): its tour-latency histogram",
            ),
            (
                |t| t.tour_latency_corrected = crate::histogram::tests::corrupt(),
                "the origin (member 0): its tour-latency histogram from the intended sends",
            ),
        ];
        for (spoil, whose) in cases {
            let mut tour = lossy_tour();
            spoil(&mut tour);
            let expected = format!(
                "{whose} cannot be decoded: histogram bytes are not a valid V2 HdrHistogram encoding: {}",
                crate::histogram::tests::CAUSE
            );
            assert_eq!(tour_text(&tour).unwrap_err().to_string(), expected);
            assert_eq!(tour_json(&tour).unwrap_err().to_string(), expected);
        }
    }

    /// Histograms that were not recorded (no `--rate`; a member that could not report) are
    /// no error: the text and JSON leave out the intended-send row and show the member's
    /// residence as not measured.
    #[test]
    fn absent_histograms_are_not_errors() {
        let mut tour = lossy_tour();
        tour.tour_latency_corrected.clear();
        tour.members[2].residence.clear();
        let text = tour_text(&tour).unwrap();
        assert!(!text.contains("intended"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("  member 2 ")
                && l.ends_with(" 0  no data: its residence times were not recorded")),
            "{text}"
        );
        let json = tour_json(&tour).unwrap();
        assert_eq!(json["tour_latency_corrected"], Value::Null);
        assert_eq!(json["members"][2]["residence"]["count"], 0);
    }

    /// "Now" in the status snapshots, ms since the epoch.
    const NOW_MS: u64 = 1_796_000_000_000;

    #[test]
    fn status_text_is_pinned() {
        let reply = StatusReply {
            configured: true,
            placed: lossy_tour().placed,
            ring: String::new(),
            rings: Vec::new(),
            params: lossy_tour().params,
            source: "file:/etc/stillepost/members".into(),
            monitor: Some(stillepost_control::proto::MonitorStatus {
                interval_ms: 10_000,
                count: 100,
                last_tour: 0x00c0_ffee_0000_0003,
                last_outcome: Outcome::TimedOut.into(),
                last_unix_ms: NOW_MS - 4_200,
                last_error: String::new(),
                tours: 118,
            }),
            members: vec![
                MemberInfo {
                    index: 0,
                    name: "node1".into(),
                    instance_id: "9d1c5a7e02b14f3a".into(),
                    last_seen_unix_ms: NOW_MS - 800,
                    last_tour: TourReportState::Reported.into(),
                    control_endpoint: "node1:7001".into(),
                    peer_endpoint: "10.0.0.1:7101".into(),
                    state: MemberState::Configured.into(),
                    backend: Backend::Uring.into(),
                    poll: PollMode::Spin.into(),
                    cpu: 3,
                    ..Default::default()
                },
                MemberInfo {
                    index: 1,
                    control_endpoint: "node2:7001".into(),
                    peer_endpoint: "10.0.0.2:7101".into(),
                    state: MemberState::Unreachable.into(),
                    error: "tcp connect error: Connection refused (os error 111)".into(),
                    backend: Backend::Syscall.into(),
                    poll: PollMode::Block.into(),
                    cpu: -1,
                    ..Default::default()
                },
            ],
            running_tour: 0x00c0_ffee_0000_0002,
            last_tour: 0x00c0_ffee_0000_0001,
            progress: Some(stillepost_control::proto::RunningProgress {
                sent: 1500,
                received: 1499,
                count: 2_000_000,
                elapsed_ms: 12_345,
            }),
        };
        insta::assert_snapshot!(status_text_at("127.0.0.1:7000", &reply, NOW_MS));
        let mut idle = reply.clone();
        idle.monitor = Some(stillepost_control::proto::MonitorStatus {
            interval_ms: 500,
            count: 100,
            ..Default::default()
        });
        assert!(
            status_text_at("c", &idle, NOW_MS)
                .contains("monitoring: a tour of 100 messages every 500 ms; no monitor tour yet\n")
        );
    }

    /// Every counter with words for the text report is named on its member's line, in
    /// definition order; counters without words (sent, gso_sends, ...) are not.
    #[test]
    fn a_members_moved_counters_share_one_line() {
        let mut tour = lossy_tour();
        let mut c = tour.members[1].member_counters();
        c.tour.stale = 2;
        c.io.wrong_source = 1;
        c.io.gso_refused = 1;
        c.io.gso_sends = 9;
        c.socket.socket_drops = 5;
        tour.members[1].counters = counters_to_proto(&c);
        let text = tour_text(&tour).unwrap();
        assert!(
            text.contains(
                "\n  member 1 (10.0.0.2:7101): 2 datagrams from another tour, 1 datagram from an unexpected source, 1 send of several datagrams (GSO) refused by the kernel (sent again one datagram at a time), 5 datagrams dropped by the kernel at the peer socket\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n  member 2 (10.0.0.3:7101): 1 message received again\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  offload: member 1 9 GSO sends, 0 GRO receives\n"),
            "{text}"
        );
        let json = tour_json(&tour).unwrap();
        assert_eq!(json["members"][1]["socket_drops"], 5);
        assert_eq!(json["members"][1]["stale"], 2);
        assert_eq!(json["members"][1]["gso_sends"], 9);
        assert_eq!(json["hops"][2]["negative"], 2);
    }

    #[test]
    fn tours_text_is_pinned() {
        let complete = lossy_tour();
        let mut tours = vec![
            TourSummary {
                tour_id: 0x6032_b3c3_0000_0001,
                started_unix_ms: 1_795_000_000_000,
                members: 3,
                params: complete.params,
                outcome: Outcome::Complete.into(),
                messages_sent: 100,
                messages_received: 100,
                lost: 0,
                latency_count: 100,
                p50_ns: 148_090,
                p99_ns: 196_090,
                pinned: true,
                monitor: false,
            },
            TourSummary {
                tour_id: 0x6032_b3c3_0000_0002,
                started_unix_ms: 1_795_000_060_500,
                outcome: Outcome::TimedOut.into(),
                messages_received: 0,
                lost: 100,
                latency_count: 0,
                pinned: false,
                ..TourSummary::default()
            },
        ];
        tours[1].members = 12;
        tours[1].messages_sent = 100;
        tours[1].params = complete.params;
        tours[1].monitor = true;
        insta::assert_snapshot!(tours_text(&tours, 3));
        let json = tours_json(&tours);
        assert_eq!(json["tours"][0]["started"], "2026-11-18T11:06:40Z");
        assert_eq!(json["tours"][0]["p99_ns"], 196_090);
        assert_eq!(json["tours"][1]["p50_ns"], Value::Null);
        assert_eq!(json["tours"][1]["outcome"], "timed_out");
    }

    /// A whole rate is an integer in JSON, a fractional one a number; none is null.
    #[test]
    fn rates_read_as_numbers() {
        let mut p = lossy_tour().params.unwrap();
        assert!(params_json(&p)["rate"].is_u64());
        assert_eq!(params_json(&p)["rate"], 4000);
        p.rate = 0.5;
        assert_eq!(params_json(&p)["rate"], 0.5);
        assert!(params_text(&p, 3).contains(", open loop at 0.5 msg/s,"));
        p.rate = 0.0;
        assert_eq!(params_json(&p)["rate"], Value::Null);
        assert!(!params_text(&p, 3).contains("open loop"));
    }

    #[test]
    fn percentages_never_hide_a_small_loss() {
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(3.0), "3.00 %");
        assert_eq!(percent(100.0), "100.00 %");
        assert_eq!(percent(1.0 / 73_546.0 * 100.0), "0.0014 %");
        assert_eq!(percent(0.005), "0.0050 %");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(999), "999 ns");
        assert_eq!(duration(45_120), "45.12 µs");
        assert_eq!(duration(12_345_678), "12.346 ms");
        assert_eq!(duration(2_500_000_000), "2.500 s");
    }
}
