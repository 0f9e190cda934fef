//! `ring`: 4-member rings on bulk and latency workloads, with the members of the host
//! together on one core, spread over the cores, and placed by Stillepost's default.

use anyhow::Result;

use crate::bench::Bench;
use crate::latency::note_members;
use crate::report::{Section, Table, Target, Verdict, kilo_rate, median, ratio};
use crate::stillepost::{LocalRun, Poll, Tour};

/// Members of every ring of the benchmark.
pub const MEMBERS: u32 = 4;
/// The default placement may take at most this much longer than the better of the two.
pub const DEFAULT_LIMIT: f64 = 1.05;

/// One workload: `count` messages of `msg_len` B, `window` of them in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub count: u32,
    pub msg_len: u32,
    pub window: u32,
}

impl Workload {
    fn name(self) -> String {
        let in_flight = if self.window >= self.count {
            "all in flight".to_string()
        } else {
            format!("window {}", self.window)
        };
        format!(
            "{} × {} B, {in_flight}",
            thousands(self.count),
            thousands(self.msg_len)
        )
    }

    /// More than one message in flight: members can work at once.
    fn bulk(self) -> bool {
        self.window > 1
    }
}

/// The workloads the issue names.
pub const WORKLOADS: [Workload; 4] = [
    Workload {
        count: 1000,
        msg_len: 1000,
        window: 1000,
    },
    Workload {
        count: 100,
        msg_len: 60_000,
        window: 100,
    },
    Workload {
        count: 10_000,
        msg_len: 64,
        window: 10_000,
    },
    Workload {
        count: 1000,
        msg_len: 64,
        window: 1,
    },
];

/// The placements compared; `None` is the binary's default.
const PLACEMENTS: [(&str, Option<&str>); 3] = [
    ("together", Some("together")),
    ("spread", Some("spread")),
    ("default", None),
];

#[derive(Debug, Clone)]
pub struct RingOpts {
    pub rounds: u32,
    /// Tours measured per run (one more runs first as warm-up).
    pub tours: u32,
}

fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn about(opts: &RingOpts, cores: usize) -> String {
    format!(
        "`stillepost local` rings of {MEMBERS} members, `--poll block`, on each workload with \
         `--placement together` (every member on one core), `--placement spread` (over this \
         host's {cores} cores) and no `--placement` (Stillepost's default: together for one \
         message in flight, spread for more). A run is {tours} tours, the first one warm-up; \
         its figures are the medians over the other {measured}. The three placements \
         alternate within each workload (the first of them rotating), in each of {rounds} \
         rounds. The tables give each placement's fastest run, and the range of its runs' \
         times: runs of one configuration differ more than the tours of one run do, falling \
         into a fast and a slow mode (the slow one spending more CPU time per message on the \
         same work) in bursts of seconds that pass over every placement, so a median of runs \
         flips between the modes while the fastest run, the least disturbed, repeats. Time: \
         first send to last receive at the origin. Messages/s and bytes/s: messages (bytes) that went around the \
         ring per second. CPU per message: the members' data-plane threads' CPU time in the \
         tour (`cpu_ns` of the result: user and system time from the tour's arming to its \
         end, softirq work the kernel did in their context included) per message.",
        tours = opts.tours + 1,
        measured = opts.tours,
        rounds = opts.rounds,
    )
}

/// One run's figures: medians over its measured tours.
#[derive(Debug, Clone, Copy)]
struct Run {
    total_ns: f64,
    cpu_ns: f64,
}

fn run_of(tours: &[Tour]) -> Option<Run> {
    let measured: Vec<&Tour> = tours.iter().skip(1).filter(|t| t.complete()).collect();
    if measured.len() + 1 < tours.len() {
        return None;
    }
    let total: Vec<f64> = measured.iter().map(|t| t.total_ns as f64).collect();
    let cpu: Vec<f64> = measured.iter().map(|t| t.cpu_ns as f64).collect();
    Some(Run {
        total_ns: median(&total)?,
        cpu_ns: median(&cpu)?,
    })
}

/// The run that took the least time, with its CPU time.
fn fastest_run(runs: &[Run]) -> Option<Run> {
    runs.iter()
        .copied()
        .min_by(|a, b| a.total_ns.total_cmp(&b.total_ns))
}

pub fn run(bench: &mut Bench, opts: &RingOpts) -> Result<Section> {
    let mark = bench.mark();
    let cores = bench.host.cores;
    let mut section = Section::new(
        "Ring: placement of 4 members on bulk and latency workloads",
        about(opts, cores),
    );
    let mut all_tours = Vec::new();
    let mut left_out = Vec::new();
    let mut layouts: Vec<String> = Vec::new();
    for workload in WORKLOADS {
        let name = workload.name();
        // runs[placement] = figures per round
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); PLACEMENTS.len()];
        for round in 0..opts.rounds {
            for k in 0..PLACEMENTS.len() {
                let p = (k + round as usize) % PLACEMENTS.len();
                let (label, placement) = PLACEMENTS[p];
                eprintln!("[ring {name}] round {}/{}: {label}", round + 1, opts.rounds);
                let run = LocalRun {
                    members: MEMBERS,
                    msg_len: workload.msg_len,
                    count: workload.count,
                    window: workload.window,
                    tours: opts.tours + 1,
                    backend: None,
                    poll: Some(Poll::Block),
                    cpus: None,
                    placement,
                    extra: Vec::new(),
                };
                let result = bench.stillepost_local_tours(&run)?;
                left_out = result.left_out;
                match run_of(&result.tours) {
                    Some(figures) => runs[p].push(figures),
                    None => section.note(format!(
                        "{name}, {label}, round {}: a tour lost messages; the run does not count",
                        round + 1
                    )),
                }
                if placement.is_none()
                    && let Some(layout) = result.tours.last().and_then(|t| t.layout.clone())
                {
                    layouts.push(format!("{name}: {layout}"));
                }
                all_tours.extend(result.tours);
            }
        }
        let fastest: Vec<Option<Run>> = runs.iter().map(|r| fastest_run(r)).collect();
        let slowest: Vec<Option<f64>> = runs
            .iter()
            .map(|r| r.iter().map(|x| x.total_ns).reduce(f64::max))
            .collect();
        let best = fastest[..2]
            .iter()
            .flatten()
            .map(|r| r.total_ns)
            .reduce(f64::min);
        let mut table = Table::new(&[
            "placement",
            "time",
            "runs' times",
            "messages/s",
            "bytes/s",
            "CPU per message",
            "cores busy",
            "time vs better of together and spread",
        ])
        .caption(format!("{name}:"));
        for (((label, _), figures), slowest) in PLACEMENTS.iter().zip(&fastest).zip(&slowest) {
            let (Some(r), Some(high)) = (figures, slowest) else {
                let mut cells = vec![label.to_string()];
                cells.resize(8, "-".to_string());
                table.row(cells);
                continue;
            };
            let count = f64::from(workload.count);
            let per_s = count * 1e9 / r.total_ns;
            table.row(vec![
                label.to_string(),
                format!("{:.2} ms", r.total_ns / 1e6),
                format!("{:.2}–{:.2} ms", r.total_ns / 1e6, high / 1e6),
                kilo_rate(per_s),
                format!("{:.1} MB/s", per_s * f64::from(workload.msg_len) / 1e6),
                if r.cpu_ns > 0.0 {
                    format!("{:.2} µs", r.cpu_ns / count / 1e3)
                } else {
                    "-".into()
                },
                if r.cpu_ns > 0.0 {
                    format!("{:.2}", r.cpu_ns / r.total_ns)
                } else {
                    "-".into()
                },
                best.map_or_else(|| "-".into(), |b| ratio(r.total_ns / b)),
            ]);
        }
        section.tables.push(table);
        let default_vs_best = match (fastest[2], best) {
            (Some(d), Some(b)) => Some(d.total_ns / b),
            _ => None,
        };
        section.targets.push(Target {
            goal: format!("{name}: default within {DEFAULT_LIMIT}x of the better placement"),
            ratio: default_vs_best,
            verdict: default_vs_best
                .map_or(Verdict::NotRun, |r| Verdict::from_met(r <= DEFAULT_LIMIT)),
            note: None,
        });
        if workload.bulk() {
            let speedup = match (fastest[0], fastest[1]) {
                (Some(t), Some(s)) => Some(t.total_ns / s.total_ns),
                _ => None,
            };
            let ideal = cores.min(MEMBERS as usize) as f64;
            section.targets.push(Target {
                goal: format!(
                    "{name}: spread over {cores} cores at their speed-up ({ideal:.0}x together's speed; measured / {ideal:.0})"
                ),
                ratio: speedup.map(|s| s / ideal),
                verdict: speedup.map_or(Verdict::NotRun, |s| Verdict::from_met(s >= ideal)),
                note: speedup.map(|s| speedup_note(s, ideal, fastest[0], fastest[1])),
            });
        }
    }
    if !layouts.is_empty() {
        layouts.dedup();
        section.note(format!(
            "the default chose (as its results said): {}",
            layouts.join("; ")
        ));
    }
    note_members(
        &mut section,
        &all_tours,
        &left_out,
        &format!("; this machine has {cores} cores"),
    );
    section.commands = bench.commands_since(mark);
    Ok(section)
}

/// What the measured CPU time says limits spreading: the cores it kept busy, and how much
/// more CPU a message took spread than together, which bounds the speed-up at
/// cores × (CPU together / CPU spread).
fn speedup_note(speedup: f64, ideal: f64, together: Option<Run>, spread: Option<Run>) -> String {
    let mut note = format!("spread is {speedup:.2}x as fast as together");
    if let (Some(t), Some(s)) = (together, spread)
        && t.cpu_ns > 0.0
        && s.cpu_ns > 0.0
    {
        let busy = s.cpu_ns / s.total_ns;
        let cost = s.cpu_ns / t.cpu_ns;
        note.push_str(&format!(
            "; spread, the data planes kept {busy:.2} of {ideal:.0} cores busy and took {cost:.2}x together's CPU per message (wake-ups and cache lines crossing cores), which bounds the speed-up at {:.2}x",
            ideal / cost
        ));
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_named_as_the_issue_names_them() {
        let names: Vec<String> = WORKLOADS.iter().map(|w| w.name()).collect();
        assert_eq!(
            names,
            vec![
                "1,000 × 1,000 B, all in flight",
                "100 × 60,000 B, all in flight",
                "10,000 × 64 B, all in flight",
                "1,000 × 64 B, window 1",
            ]
        );
        assert_eq!(
            WORKLOADS.iter().map(|w| w.bulk()).collect::<Vec<_>>(),
            vec![true, true, true, false]
        );
    }

    fn tour(total_ns: u64, cpu_ns: u64, lost: u64) -> Tour {
        Tour {
            tour_id: "t".into(),
            outcome: "complete".into(),
            error: None,
            total_ns,
            messages_sent: 10,
            messages_received: 10 - lost,
            lost,
            latency: None,
            members: Vec::new(),
            cpu_ns,
            layout: None,
            preempted: 0,
        }
    }

    #[test]
    fn the_speedup_note_gives_the_bound_the_cpu_time_sets() {
        let together = Run {
            total_ns: 200.0,
            cpu_ns: 200.0,
        };
        let spread = Run {
            total_ns: 125.0,
            cpu_ns: 250.0,
        };
        let note = speedup_note(1.6, 2.0, Some(together), Some(spread));
        assert_eq!(
            note,
            "spread is 1.60x as fast as together; spread, the data planes kept 2.00 of 2 cores busy and took 1.25x together's CPU per message (wake-ups and cache lines crossing cores), which bounds the speed-up at 1.60x"
        );
        assert_eq!(
            speedup_note(1.6, 2.0, None, Some(spread)),
            "spread is 1.60x as fast as together"
        );
    }

    #[test]
    fn a_placement_is_its_fastest_run() {
        let run = |total_ns, cpu_ns| Run { total_ns, cpu_ns };
        let fastest = fastest_run(&[run(110.0, 21.0), run(91.0, 18.0), run(109.0, 20.0)]).unwrap();
        assert_eq!((fastest.total_ns, fastest.cpu_ns), (91.0, 18.0));
        assert!(fastest_run(&[]).is_none());
    }

    #[test]
    fn a_run_is_the_median_of_its_tours_after_the_first() {
        let run = run_of(&[
            tour(100, 9, 0),
            tour(30, 3, 0),
            tour(10, 1, 0),
            tour(20, 2, 0),
        ])
        .unwrap();
        assert_eq!((run.total_ns, run.cpu_ns), (20.0, 2.0));
        // A lossy measured tour spoils the run; a lossy warm-up does not.
        assert!(run_of(&[tour(100, 9, 0), tour(30, 3, 2)]).is_none());
        assert!(run_of(&[tour(100, 9, 1), tour(30, 3, 0)]).is_some());
        assert!(run_of(&[tour(100, 9, 0)]).is_none());
    }
}
