//! A tour result's histograms as the coordinator ships them (V2+DEFLATE bytes), decoded for
//! the reports and exports. Empty bytes mean a histogram that was not recorded (the
//! intended-send tour latency without `--rate`, a member that could not report); bytes
//! that do not decode are an error naming whose histogram they are, never zeros and never
//! left out.

use std::fmt;

use hdrhistogram::Histogram;
use stillepost_control::proto::TourResult;
use stillepost_engine::histogram::{HistogramCodecError, Summary};

/// Whose histogram a result's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The origin's tour latency, from each message's actual send.
    Tour,
    /// The origin's tour latency from each message's intended send (open loop, `--rate`).
    TourIntended,
    /// The one-way latency of hop `from`→`to`, as member `to` recorded it.
    Hop { from: u32, to: u32 },
    /// A member's residence time (arrival → forward).
    Residence { member: u32 },
    /// The IPDV (RFC 3393) of hop `from`→`to`'s latency.
    HopIpdv { from: u32, to: u32 },
    /// The IPDV of the tour latency at the origin.
    TourIpdv,
}

impl fmt::Display for Whose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Whose::Tour => write!(f, "the origin (member 0): its tour-latency histogram"),
            Whose::TourIntended => write!(
                f,
                "the origin (member 0): its tour-latency histogram from the intended sends"
            ),
            Whose::Hop { from, to } => write!(f, "hop {from}→{to}: its latency histogram"),
            Whose::Residence { member } => {
                write!(f, "member {member}: its residence histogram")
            }
            Whose::HopIpdv { from, to } => write!(f, "hop {from}→{to}: its IPDV histogram"),
            Whose::TourIpdv => write!(f, "the origin (member 0): its tour-latency IPDV histogram"),
        }
    }
}

impl Whose {
    /// The histogram's tag in the exports: `tour`, `tour-intended`, `hop-<i>-<j>`,
    /// `residence-<i>`.
    pub fn tag(&self) -> String {
        match self {
            Whose::Tour => "tour".to_string(),
            Whose::TourIntended => "tour-intended".to_string(),
            Whose::Hop { from, to } => format!("hop-{from}-{to}"),
            Whose::Residence { member } => format!("residence-{member}"),
            Whose::HopIpdv { from, to } => format!("hop-ipdv-{from}-{to}"),
            Whose::TourIpdv => "tour-ipdv".to_string(),
        }
    }
}

/// Every histogram of a result with whose it is, in the exports' order: the tour, the tour
/// from the intended sends, each hop, each forwarder's residence (the origin forwards
/// nothing, so its residence is not one).
pub fn every(result: &TourResult) -> impl Iterator<Item = (&[u8], Whose)> {
    let tour = [
        (result.tour_latency.as_slice(), Whose::Tour),
        (
            result.tour_latency_corrected.as_slice(),
            Whose::TourIntended,
        ),
    ];
    let hops = result.hops.iter().map(|h| {
        let whose = Whose::Hop {
            from: h.from,
            to: h.to,
        };
        (h.latency.as_slice(), whose)
    });
    let residences = result.members.iter().skip(1).map(|m| {
        let whose = Whose::Residence { member: m.index };
        (m.residence.as_slice(), whose)
    });
    tour.into_iter().chain(hops).chain(residences)
}

/// Histogram bytes in a result that are not a V2 HdrHistogram.
#[derive(Debug)]
pub struct UndecodableHistogram {
    /// Whose histogram it is.
    pub whose: Whose,
    /// What the decoder found wrong.
    pub cause: HistogramCodecError,
}

impl fmt::Display for UndecodableHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cannot be decoded: {}", self.whose, self.cause)
    }
}

// The cause is in the message, so it is not also a `source` (a cause chain would print it
// twice).
impl std::error::Error for UndecodableHistogram {}

/// One histogram of a result: `None` when its bytes are empty (not recorded).
pub fn decode(bytes: &[u8], whose: Whose) -> Result<Option<Histogram<u64>>, UndecodableHistogram> {
    if bytes.is_empty() {
        return Ok(None);
    }
    stillepost_engine::histogram::decode(bytes)
        .map(Some)
        .map_err(|cause| UndecodableHistogram { whose, cause })
}

/// A histogram's summary; all zeros when it was not recorded.
pub fn summary(bytes: &[u8], whose: Whose) -> Result<Summary, UndecodableHistogram> {
    Ok(decode(bytes, whose)?.map_or_else(Summary::default, |h| Summary::of(&h)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use stillepost_engine::histogram::{encode, new_histogram};

    /// Bytes that start like a V2+DEFLATE histogram and then stop.
    pub(crate) fn corrupt() -> Vec<u8> {
        let mut h = new_histogram();
        h.record(1_000).unwrap();
        let mut bytes = encode(&h).unwrap();
        bytes.truncate(10);
        bytes
    }

    #[test]
    fn empty_bytes_are_an_absent_histogram() {
        assert!(decode(&[], Whose::TourIntended).unwrap().is_none());
        assert_eq!(summary(&[], Whose::Tour).unwrap(), Summary::default());
    }

    #[test]
    fn recorded_bytes_decode() {
        let mut h = new_histogram();
        h.record(42_000).unwrap();
        let bytes = encode(&h).unwrap();
        let back = decode(&bytes, Whose::Hop { from: 0, to: 1 })
            .unwrap()
            .unwrap();
        assert_eq!(back, h);
        assert_eq!(summary(&bytes, Whose::Tour).unwrap(), Summary::of(&h));
    }

    #[test]
    fn corrupt_bytes_are_an_error_naming_whose_they_are() {
        let cases = [
            (
                Whose::Tour,
                "the origin (member 0): its tour-latency histogram cannot be decoded",
            ),
            (
                Whose::TourIntended,
                "the origin (member 0): its tour-latency histogram from the intended sends cannot be decoded",
            ),
            (
                Whose::Hop { from: 1, to: 2 },
                "hop 1→2: its latency histogram cannot be decoded",
            ),
            (
                Whose::Residence { member: 2 },
                "member 2: its residence histogram cannot be decoded",
            ),
        ];
        for (whose, named) in cases {
            let e = decode(&corrupt(), whose).unwrap_err();
            assert_eq!(e.whose, whose);
            assert_eq!(
                e.to_string(),
                format!(
                    "{named}: histogram bytes are not a valid V2 HdrHistogram encoding: {CAUSE}"
                )
            );
            assert_eq!(
                summary(&corrupt(), whose).unwrap_err().to_string(),
                e.to_string()
            );
        }
    }

    /// What hdrhistogram's decoder says about [`corrupt`]'s bytes.
    pub(crate) const CAUSE: &str =
        "IoError(Custom { kind: UnexpectedEof, error: \"incomplete deflate stream\" })";
}
