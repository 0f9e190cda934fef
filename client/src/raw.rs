//! Every message's timestamps, when a tour recorded them (`run --raw`, `run --interval`):
//! per message the time it left and arrived at each member, each on that member's clock,
//! and from them its hops (corrected by the hops' clock offsets), residences and tour
//! latency. Written as CSV or JSON lines (`--raw`, `report --format raw|raw-jsonl`), and
//! cut into periods of the origin's send times (`--interval`).

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, bail};
use hdrhistogram::Histogram;
use serde_json::json;
use stillepost_control::proto::TourResult;

/// One message's times, ns: `at[m] = [in, out]` on member m's clock (None where the member
/// has none), and what they make.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub seq: u32,
    pub warmup: bool,
    pub at: Vec<[Option<u64>; 2]>,
    /// Hop i → i+1 (the last one back to the origin), ns, with the hop's clock offset
    /// taken out; negative when the clocks disagree by more than the offset found.
    pub hops: Vec<Option<i64>>,
    /// Member m's residence (members 1..n), ns.
    pub residence: Vec<Option<u64>>,
    /// Back at the origin minus sent (one clock), ns.
    pub tour: Option<u64>,
}

/// The result's recorded timestamps, one entry per message in sequence order; an error
/// when the tour did not record them.
pub fn messages(result: &TourResult) -> Result<Vec<Message>> {
    let n = result.members.len();
    if n == 0 || result.members.iter().all(|m| m.stamps.is_empty()) {
        bail!(
            "tour {} did not record its messages' timestamps: run it with `stillepost run --raw <path>` or `--interval <duration>`",
            crate::report::tour_id(result.tour_id)
        );
    }
    let params = result.params.unwrap_or_default();
    let count = params.count as usize;
    let stamps: Vec<Vec<[Option<u64>; 2]>> = result
        .members
        .iter()
        .map(|m| {
            let mut per = vec![[None, None]; count];
            for (slot, chunk) in per.iter_mut().zip(m.stamps.chunks_exact(16)) {
                let word = |at: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&chunk[at..at + 8]);
                    Some(u64::from_le_bytes(b)).filter(|&v| v > 0)
                };
                *slot = [word(0), word(8)];
            }
            per
        })
        .collect();
    // The offset of each hop's receiver against its sender (0 on one clock or unprobed).
    let offset = |to: usize| {
        result
            .hops
            .iter()
            .find(|h| h.to as usize == to)
            .map_or(0, |h| h.offset_ns)
    };
    let diff =
        |later: Option<u64>, earlier: Option<u64>| Some(i128::from(later?) - i128::from(earlier?));
    Ok((0..count)
        .map(|seq| {
            let at: Vec<[Option<u64>; 2]> = stamps.iter().map(|s| s[seq]).collect();
            let hops = (0..n)
                .map(|from| {
                    let to = (from + 1) % n;
                    let d = diff(at[to][0], at[from][1])? - i128::from(offset(to));
                    i64::try_from(d).ok()
                })
                .collect();
            let residence = (1..n)
                .map(|m| diff(at[m][1], at[m][0]).and_then(|d| u64::try_from(d).ok()))
                .collect();
            let tour = diff(at[0][0], at[0][1]).and_then(|d| u64::try_from(d).ok());
            Message {
                seq: seq as u32,
                warmup: (seq as u32) < params.warmup,
                at,
                hops,
                residence,
                tour,
            }
        })
        .collect())
}

fn cell<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// The messages as CSV: `seq`, `warmup`, every member's times (`m0_out_ns` the origin's
/// send, `m<i>_in_ns`/`m<i>_out_ns` each forwarder's, `m0_in_ns` back at the origin), then
/// `hop_<i>_<j>_ns`, `residence_<i>_ns` and `tour_ns`; an empty cell where there is none.
pub fn csv(result: &TourResult) -> Result<String> {
    let messages = messages(result)?;
    let n = result.members.len();
    let mut header = vec![
        "seq".to_owned(),
        "warmup".to_owned(),
        "m0_out_ns".to_owned(),
    ];
    for m in 1..n {
        header.push(format!("m{m}_in_ns"));
        header.push(format!("m{m}_out_ns"));
    }
    header.push("m0_in_ns".to_owned());
    header.extend((0..n).map(|i| format!("hop_{i}_{}_ns", (i + 1) % n)));
    header.extend((1..n).map(|m| format!("residence_{m}_ns")));
    header.push("tour_ns".to_owned());
    let mut out = header.join(",") + "\n";
    for msg in &messages {
        let mut row = vec![msg.seq.to_string(), u8::from(msg.warmup).to_string()];
        row.push(cell(msg.at[0][1]));
        for m in 1..n {
            row.push(cell(msg.at[m][0]));
            row.push(cell(msg.at[m][1]));
        }
        row.push(cell(msg.at[0][0]));
        row.extend(msg.hops.iter().map(|v| cell(*v)));
        row.extend(msg.residence.iter().map(|v| cell(*v)));
        row.push(cell(msg.tour));
        let _ = writeln!(out, "{}", row.join(","));
    }
    Ok(out)
}

/// The messages as JSON lines, one object per message: `seq`, `warmup`, `members`
/// (`[{member, in_ns, out_ns}]`), `hops_ns`, `residence_ns` (members 1..n) and `tour_ns`;
/// null where there is none.
pub fn jsonl(result: &TourResult) -> Result<String> {
    let mut out = String::new();
    for msg in messages(result)? {
        let members: Vec<_> = msg
            .at
            .iter()
            .enumerate()
            .map(|(m, [i, o])| json!({ "member": m, "in_ns": i, "out_ns": o }))
            .collect();
        let line = json!({
            "seq": msg.seq,
            "warmup": msg.warmup,
            "members": members,
            "hops_ns": msg.hops,
            "residence_ns": msg.residence,
            "tour_ns": msg.tour,
        });
        let _ = writeln!(out, "{line}");
    }
    Ok(out)
}

/// One period of the origin's send times: the messages sent in it and their histograms.
pub struct Period {
    /// Its start after the first send.
    pub start: Duration,
    /// Messages sent in it (warm-up ones left out), and of those, back at the origin.
    pub sent: u64,
    pub back: u64,
    /// `tour`, `hop-<i>-<j>` and `residence-<m>` histograms of its messages, as the
    /// exports tag them (hops below 0 recorded as 0).
    pub histograms: Vec<(String, Histogram<u64>)>,
}

/// The recorded messages (warm-up left out) in periods of `interval` by the origin's send
/// time, from the first send; periods without a send are kept (empty), so time stays
/// regular.
pub fn periods(result: &TourResult, interval: Duration) -> Result<Vec<Period>> {
    if interval.is_zero() {
        bail!("--interval must be longer than 0");
    }
    let messages = messages(result)?;
    let n = result.members.len();
    let Some(first) = messages.iter().filter_map(|m| m.at[0][1]).min() else {
        return Ok(Vec::new());
    };
    let step = interval.as_nanos().max(1);
    let index = |sent: u64| (u128::from(sent - first) / step) as usize;
    let last = messages
        .iter()
        .filter_map(|m| m.at[0][1])
        .map(index)
        .max()
        .unwrap_or(0);
    if last >= 100_000 {
        bail!(
            "--interval {} cuts this tour into {} periods; give a longer one (at most 100000 periods)",
            humantime::format_duration(interval),
            last + 1
        );
    }
    let mut tags = vec!["tour".to_owned()];
    tags.extend((0..n).map(|i| format!("hop-{i}-{}", (i + 1) % n)));
    tags.extend((1..n).map(|m| format!("residence-{m}")));
    let mut periods: Vec<Period> = (0..=last)
        .map(|k| Period {
            start: interval.saturating_mul(k as u32),
            sent: 0,
            back: 0,
            histograms: tags
                .iter()
                .map(|t| (t.clone(), stillepost_engine::histogram::new_histogram()))
                .collect(),
        })
        .collect();
    for msg in messages.iter().filter(|m| !m.warmup) {
        let Some(sent) = msg.at[0][1] else { continue };
        let p = &mut periods[index(sent)];
        p.sent += 1;
        let values = std::iter::once(msg.tour.map(|t| t as i64))
            .chain(msg.hops.iter().copied())
            .chain(msg.residence.iter().map(|r| r.map(|v| v as i64)));
        for ((_, h), v) in p.histograms.iter_mut().zip(values) {
            if let Some(v) = v {
                h.saturating_record(v.max(0) as u64);
            }
        }
        if msg.tour.is_some() {
            p.back += 1;
        }
    }
    Ok(periods)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stillepost_control::proto::{HopResult, MemberTourStats, TourParams};

    fn stamps(pairs: &[[u64; 2]]) -> Vec<u8> {
        pairs
            .iter()
            .flat_map(|[i, o]| i.to_le_bytes().into_iter().chain(o.to_le_bytes()))
            .collect()
    }

    /// Two members on two clocks (member 1 is 1,000 ns ahead, as probed), three messages,
    /// the third lost between them.
    fn recorded() -> TourResult {
        TourResult {
            tour_id: 7,
            params: Some(TourParams {
                count: 3,
                warmup: 1,
                ..Default::default()
            }),
            members: vec![
                MemberTourStats {
                    index: 0,
                    stamps: stamps(&[[10_500, 10_000], [20_700, 20_000], [0, 30_000]]),
                    ..Default::default()
                },
                MemberTourStats {
                    index: 1,
                    stamps: stamps(&[[11_200, 11_300], [21_300, 21_400], [0, 0]]),
                    ..Default::default()
                },
            ],
            hops: vec![
                HopResult {
                    from: 0,
                    to: 1,
                    offset_ns: 1_000,
                    ..Default::default()
                },
                HopResult {
                    from: 1,
                    to: 0,
                    offset_ns: -1_000,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn each_message_gets_its_hops_residences_and_tour() {
        let m = messages(&recorded()).unwrap();
        assert_eq!(m.len(), 3);
        assert!(m[0].warmup && !m[1].warmup);
        // Hop 0→1: 11,200 − 10,000 − 1,000; hop 1→0: 10,500 − 11,300 + 1,000.
        assert_eq!(m[0].hops, [Some(200), Some(200)]);
        assert_eq!(m[0].residence, [Some(100)]);
        assert_eq!(m[0].tour, Some(500));
        assert_eq!(m[1].hops, [Some(300), Some(300)]);
        assert_eq!(m[2].hops, [None, None]);
        assert_eq!(m[2].tour, None);
        assert_eq!(
            csv(&recorded()).unwrap(),
            "seq,warmup,m0_out_ns,m1_in_ns,m1_out_ns,m0_in_ns,hop_0_1_ns,hop_1_0_ns,residence_1_ns,tour_ns\n\
             0,1,10000,11200,11300,10500,200,200,100,500\n\
             1,0,20000,21300,21400,20700,300,300,100,700\n\
             2,0,30000,,,,,,,\n"
        );
        let lines: Vec<serde_json::Value> = jsonl(&recorded())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[1]["tour_ns"], 700);
        assert_eq!(lines[2]["hops_ns"], json!([null, null]));
        assert_eq!(lines[1]["members"][1]["in_ns"], 21_300);
    }

    /// Periods follow the origin's sends; warm-up messages and messages that never came
    /// back count where they belong.
    #[test]
    fn periods_cut_by_send_time() {
        let p = periods(&recorded(), Duration::from_nanos(10_000)).unwrap();
        // Sends at 10,000 (warm-up), 20,000 and 30,000: periods 0, 1 and 2.
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].sent, p[1].sent, p[2].sent), (0, 1, 1));
        assert_eq!((p[1].back, p[2].back), (1, 0));
        assert_eq!(p[1].histograms[0].0, "tour");
        assert_eq!(p[1].histograms[0].1.max(), 700);
        assert_eq!(p[2].histograms[0].1.len(), 0);
        assert_eq!(p[1].start, Duration::from_nanos(10_000));
        let unrecorded = TourResult {
            members: vec![MemberTourStats::default()],
            ..recorded()
        };
        assert!(
            messages(&unrecorded)
                .unwrap_err()
                .to_string()
                .contains("did not record its messages' timestamps")
        );
    }
}
