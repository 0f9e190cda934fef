//! HDR histograms as Stillepost records and ships them: nanoseconds, 3 significant digits,
//! bounded to one hour, serialized as V2+DEFLATE for the control plane.
#![forbid(unsafe_code)]

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Largest latency a histogram records exactly: one hour. Larger values saturate.
pub const HISTOGRAM_MAX_NS: u64 = 3_600_000_000_000;
/// Significant decimal digits every histogram keeps.
pub const HISTOGRAM_SIGFIG: u8 = 3;

/// A histogram with Stillepost's bounds, fully allocated: recording never reallocates.
pub fn new_histogram() -> Histogram<u64> {
    #[allow(clippy::expect_used)]
    // The bounds are constants hdrhistogram accepts (low ≥ 1, high ≥ 2 × low, sigfig ≤ 5).
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, HISTOGRAM_SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// Why histogram bytes from the control plane could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HistogramCodecError {
    /// Serialization failed (only on an I/O error writing to memory).
    #[error("serializing a histogram failed: {0}")]
    Serialize(String),
    /// The bytes are not a V2 (optionally DEFLATE) histogram.
    #[error("histogram bytes are not a valid V2 HdrHistogram encoding: {0}")]
    Deserialize(String),
}

/// Serializes as V2+DEFLATE, the compressed encoding HdrHistogram's logs use.
pub fn encode(histogram: &Histogram<u64>) -> Result<Vec<u8>, HistogramCodecError> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut out)
        .map_err(|e| HistogramCodecError::Serialize(format!("{e:?}")))?;
    Ok(out)
}

/// Reads a V2 or V2+DEFLATE histogram.
pub fn decode(bytes: &[u8]) -> Result<Histogram<u64>, HistogramCodecError> {
    let mut cursor = bytes;
    Deserializer::new()
        .deserialize(&mut cursor)
        .map_err(|e| HistogramCodecError::Deserialize(format!("{e:?}")))
}

/// The percentiles every Stillepost summary reports, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Recorded values.
    pub count: u64,
    /// Smallest value.
    pub min_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// 99.99th percentile.
    pub p9999_ns: u64,
    /// Largest value.
    pub max_ns: u64,
    /// Arithmetic mean, rounded to the nanosecond.
    pub mean_ns: u64,
    /// Standard deviation (of the population), rounded to the nanosecond.
    pub stdev_ns: u64,
}

impl Summary {
    /// Summarizes a histogram; all zeros when it is empty.
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            min_ns: h.min(),
            p50_ns: h.value_at_quantile(0.50),
            p90_ns: h.value_at_quantile(0.90),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            p9999_ns: h.value_at_quantile(0.9999),
            max_ns: h.max(),
            mean_ns: h.mean().round() as u64,
            stdev_ns: h.stdev().round() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_summary() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back, h);
        let s = Summary::of(&back);
        assert_eq!(s.count, 1000);
        assert_eq!(s.min_ns, 1000);
        assert!(h.equivalent(s.p50_ns, 500_000));
        assert!(h.equivalent(s.max_ns, 1_000_000));
        assert!(decode(b"not a histogram").is_err());
    }
}
