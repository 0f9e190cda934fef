//! `stillepost report`: a stored tour's histograms in the formats HdrHistogram's tools read.
//!
//! - `hgrm`: the percentile distribution exactly as HdrHistogram's
//!   `outputPercentileDistribution` prints it (Java's format, ticks per half distance 5).
//! - `hlog`: an HdrHistogram interval log, one tagged V2+DEFLATE histogram per line.
//! - `csv`: one row per histogram per percentile step of the same iteration.
//! - `json`: the whole result with the histograms as base64 V2+DEFLATE.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use serde_json::json;
use stillepost_control::proto::TourResult;
use stillepost_engine::histogram::HISTOGRAM_SIGFIG;

use crate::histogram::{decode, every};

/// A result's recorded histograms with their tags (`tour` for the origin's tour latency);
/// one that was not recorded is left out, one that cannot be decoded is an error.
pub fn histograms(result: &TourResult) -> Result<Vec<(String, Histogram<u64>)>> {
    let mut all = Vec::new();
    for (bytes, whose) in every(result) {
        if let Some(h) = decode(bytes, whose)
            .with_context(|| format!("tour {}", crate::report::tour_id(result.tour_id)))?
        {
            all.push((whose.tag(), h));
        }
    }
    Ok(all)
}

/// One step of HdrHistogram's percentile iteration: the highest value equivalent to the
/// bucket reached, the percentile level iterated to, and the count up to that bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub value: u64,
    pub percentile: f64,
    pub total: u64,
}

/// HdrHistogram's `PercentileIterator` (Java), step for step: levels advance in ticks that
/// halve with each half of the remaining distance to 100 %, a bucket yields a step for
/// every level its cumulative percentile reaches, and one last step is at 100 %. Ported
/// rather than taken from the Rust crate's `iter_quantiles`, whose quantile arithmetic
/// differs from Java's by an ulp at some levels and so picks another bucket there.
pub fn percentile_steps(h: &Histogram<u64>, ticks_per_half_distance: u32) -> Vec<Step> {
    let n = h.len();
    let mut steps = Vec::new();
    if n == 0 {
        return steps;
    }
    let mut level = 0.0_f64;
    let mut total = 0u64;
    let mut last_value = 0;
    for v in h.iter_recorded() {
        total += v.count_at_value();
        last_value = h.highest_equivalent(v.value_iterated_to());
        loop {
            let current = (100.0 * total as f64) / n as f64;
            if current < level {
                break;
            }
            steps.push(Step {
                value: last_value,
                percentile: level,
                total,
            });
            let halvings = ((100.0 / (100.0 - level)).ln() / 2f64.ln()) as i64 + 1;
            let ticks = i64::from(ticks_per_half_distance) * 2f64.powf(halvings as f64) as i64;
            level += 100.0 / ticks as f64;
            // Java's iterator stops stepping within a bucket once every value is counted,
            // then adds the final 100 % step.
            if total == n {
                break;
            }
        }
    }
    steps.push(Step {
        value: last_value,
        percentile: 100.0,
        total: n,
    });
    steps
}

/// HdrHistogram's percentile distribution text for one histogram, values divided by
/// `scale` (1000 prints microseconds for nanosecond histograms), exactly as Java's
/// `outputPercentileDistribution` prints it.
pub fn hgrm(h: &Histogram<u64>, scale: f64) -> String {
    let digits = usize::from(HISTOGRAM_SIGFIG);
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for step in percentile_steps(h, 5) {
        let value = step.value as f64 / scale;
        let quantile = step.percentile / 100.0;
        let total = step.total;
        if step.percentile != 100.0 {
            let _ = writeln!(
                out,
                "{value:>12.digits$} {quantile:>2.12} {total:>10} {:>14.2}",
                1.0 / (1.0 - quantile)
            );
        } else {
            let _ = writeln!(out, "{value:>12.digits$} {quantile:>2.12} {total:>10}");
        }
    }
    let mean = if h.is_empty() { 0.0 } else { h.mean() / scale };
    let stdev = if h.is_empty() { 0.0 } else { h.stdev() / scale };
    let max = h.max() as f64 / scale;
    let _ = writeln!(
        out,
        "#[Mean    = {mean:>12.digits$}, StdDeviation   = {stdev:>12.digits$}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:>12.digits$}, Total count    = {:>12}]",
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_bucket_count(h)
    );
    out
}

/// HdrHistogram's `subBucketCount`: the power of two that holds 2 × 10^digits.
fn sub_bucket_count(h: &Histogram<u64>) -> u64 {
    (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two()
}

/// An HdrHistogram interval log of the result's histograms, one line per tag; the interval
/// is the tour (start = its wall-clock start, length = its total time).
pub fn hlog(result: &TourResult) -> Result<String> {
    let whole = histograms(result)?;
    let lines: Vec<(Duration, Duration, &str, &Histogram<u64>)> = whole
        .iter()
        .map(|(tag, h)| {
            (
                Duration::ZERO,
                Duration::from_nanos(result.total_ns),
                tag.as_str(),
                h,
            )
        })
        .collect();
    interval_log(result, &lines)
}

/// The result's recorded messages as an interval log with one interval per period of
/// `interval` (by the origin's send time): for each period, a `tour`, `hop-<i>-<j>` and
/// `residence-<m>` histogram of the messages sent in it (periods without values have no
/// line).
pub fn hlog_periods(result: &TourResult, interval: Duration) -> Result<String> {
    let periods = crate::raw::periods(result, interval)?;
    let lines: Vec<(Duration, Duration, &str, &Histogram<u64>)> = periods
        .iter()
        .flat_map(|p| {
            p.histograms
                .iter()
                .filter(|(_, h)| !h.is_empty())
                .map(move |(tag, h)| (p.start, interval, tag.as_str(), h))
        })
        .collect();
    interval_log(result, &lines)
}

/// An interval log of `(start, length, tag, histogram)` lines, values in ns.
fn interval_log(
    result: &TourResult,
    lines: &[(Duration, Duration, &str, &Histogram<u64>)],
) -> Result<String> {
    let mut bytes = Vec::new();
    let start = UNIX_EPOCH + Duration::from_millis(result.started_unix_ms);
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment("[Histogram log format version 1.3]")
            .add_comment(&format!(
                "Logged with stillepost {}: tour {:016x}, values in nanoseconds",
                env!("CARGO_PKG_VERSION"),
                result.tour_id
            ))
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1_000_000.0)
            .begin_log_with(&mut bytes, &mut serializer)
            .context("starting the interval log")?;
        for &(start, length, tag, h) in lines {
            let tag = Tag::new(tag).context("a histogram tag with a comma or space")?;
            writer
                .write_histogram(h, start, length, Some(tag))
                .map_err(|e| anyhow::anyhow!("writing a histogram to the log: {e:?}"))?;
        }
    }
    let log = String::from_utf8(bytes).context("the interval log is not text")?;
    // HdrHistogram's writers put the column legend between the header and the intervals.
    let header_len: usize = log
        .lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| line.len() + 1)
        .sum();
    Ok(format!(
        "{}{LEGEND}\n{}",
        &log[..header_len],
        &log[header_len..]
    ))
}

const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// One row per histogram per percentile step: `histogram,percentile,value_ns,total_count`.
pub fn csv(result: &TourResult) -> Result<String> {
    let mut out = String::from("histogram,percentile,value_ns,total_count\n");
    for (tag, h) in histograms(result)? {
        if h.is_empty() {
            continue;
        }
        for step in percentile_steps(&h, 5) {
            let _ = writeln!(
                out,
                "{tag},{:.12},{},{}",
                step.percentile, step.value, step.total
            );
        }
    }
    Ok(out)
}

/// The whole result as JSON, with every histogram as base64 V2+DEFLATE.
pub fn json_doc(result: &TourResult) -> Result<serde_json::Value> {
    use base64::Engine as _;
    // The histograms first: a corrupt one is named with its tour.
    let histograms = histograms(result)?;
    let mut doc = crate::out::versioned(crate::report::tour_json(result)?);
    let mut encoded = Vec::new();
    for (tag, h) in histograms {
        let bytes = stillepost_engine::histogram::encode(&h)?;
        encoded.push(json!({
            "tag": tag,
            "unit": "ns",
            "hdr_v2_deflate_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        }));
    }
    doc["histograms"] = json!(encoded);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::histogram::tests::{CAUSE, corrupt};
    use crate::report::tests::lossy_tour;

    fn tags(result: &TourResult) -> Vec<String> {
        histograms(result)
            .unwrap()
            .into_iter()
            .map(|(tag, _)| tag)
            .collect()
    }

    #[test]
    fn every_recorded_histogram_is_exported() {
        assert_eq!(
            tags(&lossy_tour()),
            [
                "tour",
                "tour-intended",
                "hop-0-1",
                "hop-1-2",
                "hop-2-0",
                "residence-1",
                "residence-2"
            ]
        );
    }

    /// Not recorded: no `--rate`, a member that could not report, an origin that could not.
    #[test]
    fn absent_histograms_are_left_out() {
        let mut tour = lossy_tour();
        tour.tour_latency.clear();
        tour.tour_latency_corrected.clear();
        tour.members[1].residence.clear();
        assert_eq!(
            tags(&tour),
            ["hop-0-1", "hop-1-2", "hop-2-0", "residence-2"]
        );
    }

    /// Every export goes through `histograms`: a corrupt one fails it, naming whose it is,
    /// instead of leaving it out.
    #[test]
    fn a_corrupt_histogram_fails_every_export_naming_whose_it_is() {
        type Spoil = fn(&mut TourResult);
        let cases: [(Spoil, &str); 3] = [
            (
                |t| t.hops[2].latency = corrupt(),
                "hop 2→0: its latency histogram",
            ),
            (
                |t| t.members[1].residence = corrupt(),
                "member 1: its residence histogram",
            ),
            (
                |t| t.tour_latency = corrupt(),
                "the origin (member 0): its tour-latency histogram",
            ),
        ];
        for (spoil, whose) in cases {
            let mut tour = lossy_tour();
            spoil(&mut tour);
            let expected = format!(
                "tour 00c0ffee00000001: {whose} cannot be decoded: histogram bytes are not a valid V2 HdrHistogram encoding: {CAUSE}"
            );
            let errors = [
                histograms(&tour).map(|_| ()).unwrap_err(),
                hlog(&tour).map(|_| ()).unwrap_err(),
                csv(&tour).map(|_| ()).unwrap_err(),
                json_doc(&tour).map(|_| ()).unwrap_err(),
                crate::plot::svg(&tour, crate::cli::Unit::Us, false)
                    .map(|_| ())
                    .unwrap_err(),
            ];
            for e in errors {
                assert_eq!(format!("{e:#}"), expected);
            }
        }
    }
}
