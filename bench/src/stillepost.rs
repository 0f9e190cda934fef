//! The `stillepost` client binary, run as `stillepost local … --json`: which flags it
//! accepts, the command line for a run, and the numbers taken from its JSON.

use std::fmt;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use serde::Deserialize;
use serde_json::Value;

/// Data-plane backend of the members (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Auto,
    Uring,
    Syscall,
}

/// How a member waits for datagrams (`--poll`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Poll {
    Block,
    Spin,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Uring => "uring",
            Backend::Syscall => "syscall",
        }
    }
}

impl Poll {
    pub fn name(self) -> &'static str {
        match self {
            Poll::Block => "block",
            Poll::Spin => "spin",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which of the newer `stillepost local` flags this binary accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub backend: bool,
    pub poll: bool,
    pub cpus: bool,
    /// `--placement together|spread|auto`.
    pub placement: bool,
    /// `--accept-loss`: a lossy tour exits 0 (the benches measure loss themselves).
    pub accept_loss: bool,
}

impl Capabilities {
    /// Reads them from the text of `stillepost local --help`.
    pub fn from_help(help: &str) -> Self {
        let has = |flag: &str| {
            help.split(|c: char| c.is_whitespace() || ",[]=".contains(c))
                .any(|word| word == flag)
        };
        Self {
            backend: has("--backend"),
            poll: has("--poll"),
            cpus: has("--cpus"),
            placement: has("--placement"),
            accept_loss: has("--accept-loss"),
        }
    }

    /// For reports: "--backend yes, --poll no, --cpus no".
    pub fn describe(self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        format!(
            "--backend {}, --poll {}, --cpus {}",
            yes(self.backend),
            yes(self.poll),
            yes(self.cpus)
        )
    }
}

/// One `stillepost local` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRun {
    pub members: u32,
    pub msg_len: u32,
    pub count: u32,
    pub window: u32,
    /// Tours run; all but the last warm the ring up and are not measured.
    pub tours: u32,
    pub backend: Option<Backend>,
    pub poll: Option<Poll>,
    pub cpus: Option<Vec<u32>>,
    /// `--placement`: together, spread or auto (`None`: the binary's default).
    pub placement: Option<&'static str>,
    /// More flags for `local`, passed as they are (`--max-datagram 1472`, `--no-offload`).
    pub extra: Vec<String>,
}

/// Arguments for a run, and the requested flags this binary does not accept (left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub args: Vec<String>,
    pub left_out: Vec<String>,
}

impl LocalRun {
    pub fn args(&self, caps: Capabilities) -> Args {
        let mut args: Vec<String> = vec![
            "local".into(),
            "--members".into(),
            self.members.to_string(),
            "--msgbytelen".into(),
            self.msg_len.to_string(),
            "--msgcount".into(),
            self.count.to_string(),
            "--window".into(),
            self.window.to_string(),
            "--tours".into(),
            self.tours.to_string(),
            "--json".into(),
        ];
        let mut left_out = Vec::new();
        let mut flag = |accepted: bool, name: &str, value: Option<String>| {
            let Some(value) = value else { return };
            if accepted {
                args.push(name.into());
                args.push(value);
            } else {
                left_out.push(format!("{name} {value}"));
            }
        };
        flag(
            caps.backend,
            "--backend",
            self.backend.map(|b| b.name().into()),
        );
        flag(caps.poll, "--poll", self.poll.map(|p| p.name().into()));
        flag(
            caps.cpus,
            "--cpus",
            self.cpus.as_ref().map(|cpus| join(cpus, ",")),
        );
        flag(
            caps.placement,
            "--placement",
            self.placement.map(str::to_string),
        );
        if caps.accept_loss {
            args.push("--accept-loss".into());
        }
        args.extend(self.extra.iter().cloned());
        Args { args, left_out }
    }
}

pub fn join<T: ToString>(items: &[T], separator: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

/// Tour latency at the origin (one clock), nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct TourLatency {
    pub min_ns: f64,
    pub p50_ns: f64,
    pub p90_ns: f64,
    pub p99_ns: f64,
    pub p999_ns: f64,
    pub max_ns: f64,
    pub mean_ns: f64,
    pub count: u64,
}

/// What one member says about itself in a tour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub index: u32,
    pub backend: Option<String>,
    pub poll: Option<String>,
    pub cpu: Option<String>,
    pub received: u64,
    pub forwarded: u64,
}

/// The measured tour of a run (the last one in the JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Tour {
    pub tour_id: String,
    pub outcome: String,
    pub error: Option<String>,
    pub total_ns: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub lost: u64,
    pub latency: Option<TourLatency>,
    pub members: Vec<Member>,
    /// CPU time of the members' data-plane threads in the tour, ns (0: not reported).
    pub cpu_ns: u64,
    /// The placement the configure chose (`together`, `spread`), if reported.
    pub layout: Option<String>,
    /// Times the members' data-plane threads were preempted in the tour (0: not reported).
    pub preempted: u64,
}

impl Tour {
    pub fn complete(&self) -> bool {
        self.outcome == "complete" && self.lost == 0
    }

    /// Messages per second that went around the ring, so also those one member forwarded.
    pub fn messages_per_s(&self) -> Option<f64> {
        (self.total_ns > 0).then(|| self.messages_received as f64 * 1e9 / self.total_ns as f64)
    }

    pub fn latency(&self) -> Result<TourLatency> {
        self.latency
            .with_context(|| format!("tour {} has no latency figures", self.tour_id))
    }

    /// The distinct values of one member field, for "members ran: …" notes. `None` values
    /// (the key is absent) appear as "not reported".
    pub fn member_values(&self, field: fn(&Member) -> &Option<String>) -> Vec<String> {
        let mut values: Vec<String> = self
            .members
            .iter()
            .map(|member| {
                field(member)
                    .clone()
                    .unwrap_or_else(|| "not reported".into())
            })
            .collect();
        values.sort();
        values.dedup();
        values
    }
}

#[derive(Debug, Deserialize)]
struct LocalJson {
    tours: Vec<TourJson>,
}

#[derive(Debug, Deserialize)]
struct TourJson {
    tour_id: String,
    outcome: String,
    #[serde(default)]
    error: Option<String>,
    total_ns: u64,
    messages_sent: u64,
    messages_received: u64,
    lost: u64,
    #[serde(default)]
    tour_latency: Option<TourLatency>,
    #[serde(default)]
    members: Vec<MemberJson>,
    #[serde(default)]
    cpu_ns: u64,
    #[serde(default)]
    preempted: u64,
    #[serde(default)]
    placed: Option<PlacedJson>,
}

#[derive(Debug, Deserialize)]
struct PlacedJson {
    layout: String,
}

#[derive(Debug, Deserialize)]
struct MemberJson {
    index: u32,
    #[serde(default)]
    backend: Value,
    #[serde(default)]
    poll: Value,
    #[serde(default)]
    cpu: Value,
    #[serde(default)]
    received: u64,
    #[serde(default)]
    forwarded: u64,
}

/// A JSON scalar as text; absent or null is `None`.
fn scalar(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }
}

/// The last tour of a `stillepost local --json` document (earlier tours are warm-up).
pub fn parse_last_tour(json: &str) -> Result<Tour> {
    let Some(tour) = parse_tours(json)?.pop() else {
        bail!("stillepost printed no tours");
    };
    Ok(tour)
}

/// Every tour of a `stillepost local --json` document, in the order they ran.
pub fn parse_tours(json: &str) -> Result<Vec<Tour>> {
    let doc: LocalJson =
        serde_json::from_str(json).context("stillepost printed JSON that is not a tour result")?;
    Ok(doc.tours.into_iter().map(tour_of).collect())
}

fn tour_of(tour: TourJson) -> Tour {
    Tour {
        tour_id: tour.tour_id,
        outcome: tour.outcome,
        error: tour.error,
        total_ns: tour.total_ns,
        messages_sent: tour.messages_sent,
        messages_received: tour.messages_received,
        lost: tour.lost,
        latency: tour.tour_latency,
        members: tour
            .members
            .into_iter()
            .map(|member| Member {
                index: member.index,
                backend: scalar(member.backend),
                poll: scalar(member.poll),
                cpu: scalar(member.cpu),
                received: member.received,
                forwarded: member.forwarded,
            })
            .collect(),
        cpu_ns: tour.cpu_ns,
        preempted: tour.preempted,
        layout: tour.placed.map(|p| p.layout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_TOURS: &str = include_str!("../testdata/stillepost-local-2-members-2-tours.json");
    const URING_BLOCK: &str = include_str!("../testdata/stillepost-local-uring-block-2-tours.json");
    const HELP: &str = include_str!("../testdata/stillepost-local-help.txt");
    const HELP_WITH_BACKEND: &str =
        include_str!("../testdata/stillepost-local-help-with-backend.txt");

    #[test]
    fn the_last_tour_is_the_measured_one() {
        let tour = parse_last_tour(TWO_TOURS).unwrap();
        assert_eq!(tour.tour_id, "9995de2f2eaee736");
        assert_eq!(tour.outcome, "complete");
        assert!(tour.complete());
        assert_eq!(
            (tour.messages_sent, tour.messages_received, tour.lost),
            (300, 300, 0)
        );
        assert_eq!(tour.total_ns, 8_430_057);
        let latency = tour.latency().unwrap();
        assert_eq!(
            (
                latency.p50_ns,
                latency.p99_ns,
                latency.p999_ns,
                latency.count
            ),
            (12_359.0, 43_807.0, 4_427_775.0, 300)
        );
        assert_eq!(
            tour.members,
            vec![
                Member {
                    index: 0,
                    backend: Some("syscall".into()),
                    poll: None,
                    cpu: None,
                    received: 300,
                    forwarded: 0,
                },
                Member {
                    index: 1,
                    backend: Some("syscall".into()),
                    poll: None,
                    cpu: None,
                    received: 300,
                    forwarded: 300,
                },
            ]
        );
        assert_eq!(tour.member_values(|m| &m.poll), vec!["not reported"]);
        let rate = tour.messages_per_s().unwrap();
        assert!((rate - 300.0 * 1e9 / 8_430_057.0).abs() < 1e-6);
    }

    #[test]
    fn backend_poll_and_cpu_of_each_member_are_read() {
        let tour = parse_last_tour(URING_BLOCK).unwrap();
        assert_eq!(tour.tour_id, "ea05e3b21cc6493b");
        assert_eq!(tour.member_values(|m| &m.backend), vec!["uring"]);
        assert_eq!(tour.member_values(|m| &m.poll), vec!["block"]);
        assert_eq!(tour.member_values(|m| &m.cpu), vec!["1"]);
        assert_eq!(tour.latency().unwrap().p50_ns, 16_479.0);
    }

    #[test]
    fn a_lossy_tour_is_not_complete_and_empty_output_is_an_error() {
        let mut doc: Value = serde_json::from_str(TWO_TOURS).unwrap();
        doc["tours"][1]["lost"] = 3.into();
        doc["tours"][1]["outcome"] = "timed_out".into();
        doc["tours"][1]["tour_latency"] = Value::Null;
        let tour = parse_last_tour(&doc.to_string()).unwrap();
        assert!(!tour.complete());
        assert!(tour.latency().is_err());
        assert_eq!(
            parse_last_tour(r#"{"ring": {}, "tours": []}"#)
                .unwrap_err()
                .to_string(),
            "stillepost printed no tours"
        );
        assert!(parse_last_tour("error: unexpected argument").is_err());
    }

    #[test]
    fn capabilities_come_from_the_help_text() {
        let today = Capabilities::from_help(HELP);
        assert_eq!(
            today,
            Capabilities {
                backend: false,
                poll: false,
                cpus: false,
                placement: false,
                accept_loss: false,
            }
        );
        assert_eq!(
            Capabilities::from_help(HELP_WITH_BACKEND),
            Capabilities {
                backend: true,
                poll: true,
                cpus: true,
                placement: false,
                accept_loss: false,
            }
        );
    }

    #[test]
    fn flags_the_binary_lacks_are_left_out_and_named() {
        let run = LocalRun {
            members: 2,
            msg_len: 64,
            count: 1000,
            window: 1,
            tours: 2,
            backend: Some(Backend::Uring),
            poll: Some(Poll::Spin),
            cpus: Some(vec![0, 1]),
            placement: None,
            extra: Vec::new(),
        };
        let none = Capabilities {
            backend: false,
            poll: false,
            cpus: false,
            placement: false,
            accept_loss: false,
        };
        let args = run.args(none);
        assert_eq!(
            args.args.join(" "),
            "local --members 2 --msgbytelen 64 --msgcount 1000 --window 1 --tours 2 --json"
        );
        assert_eq!(
            args.left_out,
            vec!["--backend uring", "--poll spin", "--cpus 0,1"]
        );
        let all = Capabilities {
            backend: true,
            poll: true,
            cpus: true,
            placement: true,
            accept_loss: true,
        };
        let args = run.args(all);
        assert!(
            args.args
                .join(" ")
                .ends_with("--json --backend uring --poll spin --cpus 0,1 --accept-loss")
        );
        assert!(args.left_out.is_empty());
    }
}
