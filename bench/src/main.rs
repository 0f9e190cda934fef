//! `stillepost-bench`: side-by-side benchmarks of Stillepost against sockperf and between
//! its backends, and microbenchmarks of the sans-IO core. Every figure printed is measured
//! in this run; nothing is written to docs by hand.

mod auth;
mod backends;
mod bench;
mod cli;
mod doc;
mod host;
mod jumbo;
mod lab;
mod latency;
mod machine;
mod pair;
mod process;
mod reliability;
mod report;
mod ring;
mod scaling;
mod sockperf;
mod stillepost;
mod throughput;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use crate::bench::{Bench, Setup};
use crate::cli::{AllArgs, Cli, Command, JumboArgs};
use crate::doc::RunInfo;
use crate::report::Section;

/// The bench's own command line, as reports show it.
fn invocation() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut cmd =
        std::process::Command::new(args.first().map_or("stillepost-bench", String::as_str));
    cmd.args(args.iter().skip(1));
    let line = process::command_line(&cmd);
    match std::env::current_dir() {
        Ok(cwd) => line.replace(&format!("{}/", cwd.display()), ""),
        Err(_) => line,
    }
}

/// Runs one scenario; in `all` a failure becomes a section that says so.
fn or_failed(title: &str, result: Result<Vec<Section>>, failed: &mut bool) -> Vec<Section> {
    result.unwrap_or_else(|error| {
        eprintln!("{title} failed: {error:#}");
        *failed = true;
        let mut section = Section::new(format!("{title}: failed"), "");
        section.note(format!("error: {error:#}"));
        vec![section]
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    let setup = Setup {
        stillepost: cli.stillepost,
        sockperf: cli.sockperf,
        install: cli.install,
        timeout: Duration::from_secs(cli.timeout),
    };
    match cli.command {
        Command::Machine(args) => {
            machine::run(args.datagrams, args.msg_len, args.runs)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::All(args) => run_all(&args, &setup),
        Command::Latency(args) => run_single(&setup, |bench, _| latency::run(bench, &args.opts())),
        Command::Throughput(args) => run_single(&setup, |bench, _| {
            Ok(vec![throughput::run(bench, &args.opts())?])
        }),
        Command::Backends(args) => run_single(&setup, |bench, _| {
            Ok(vec![backends::run(bench, &args.opts())?])
        }),
        Command::Reliability(args) => run_reliability(&setup, &args),
        Command::Auth(args) => run_single(&setup, |bench, date| {
            let section = auth::run(bench, &args.opts())?;
            Ok(vec![written(section, args.write.as_deref(), date)?])
        }),
        Command::Ring(args) => run_single(&setup, |bench, _| {
            Ok(vec![ring::run(bench, &args.runs.opts())?])
        }),
        Command::Scaling(args) => run_single(&setup, |bench, _| {
            Ok(vec![scaling::run(bench, &args.opts())?])
        }),
        Command::Jumbo(args) => run_single(&setup, |bench, date| {
            Ok(vec![jumbo_section(bench, &args, date)?])
        }),
    }
}

/// Every benchmark, each failure a section that says so; with --write, the report.
fn run_all(all: &AllArgs, setup: &Setup) -> Result<ExitCode> {
    let mut bench = Bench::open(setup)?;
    let info_before = (host::now_utc(), host::load_average());
    let mut failed = false;
    let mut sections = Vec::new();
    sections.extend(or_failed(
        "Latency",
        latency::run(&mut bench, &all.latency()),
        &mut failed,
    ));
    sections.extend(or_failed(
        "Throughput",
        throughput::run(&mut bench, &all.throughput()).map(|s| vec![s]),
        &mut failed,
    ));
    sections.extend(or_failed(
        "Backends",
        backends::run(&mut bench, &all.backends()).map(|s| vec![s]),
        &mut failed,
    ));
    sections.extend(or_failed(
        "Authentication",
        auth::run(&mut bench, &all.backends()).map(|s| vec![s]),
        &mut failed,
    ));
    sections.extend(or_failed(
        "Ring",
        ring::run(&mut bench, &all.ring()).map(|s| vec![s]),
        &mut failed,
    ));
    sections.extend(or_failed(
        "Scaling",
        scaling::run(&mut bench, &all.scaling()).map(|s| vec![s]),
        &mut failed,
    ));
    sections.extend(or_failed(
        "Jumbo",
        jumbo::run(&mut bench, &all.jumbo()).map(|s| vec![s]),
        &mut failed,
    ));
    let info = RunInfo {
        invocation: invocation(),
        date: info_before.0,
        load_before: info_before.1,
        load_after: host::load_average(),
    };
    let text = doc::document(&bench, &info, &sections);
    print!("{text}");
    if let Some(path) = &all.write {
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One benchmark (`sections` runs it, given the bench and the run's date), printed for the
/// terminal.
fn run_single(
    setup: &Setup,
    sections: impl FnOnce(&mut Bench, &str) -> Result<Vec<Section>>,
) -> Result<ExitCode> {
    let date = host::now_utc();
    let load_before = host::load_average();
    let mut bench = Bench::open(setup)?;
    let sections = sections(&mut bench, &date)?;
    let info = RunInfo {
        invocation: invocation(),
        date,
        load_before,
        load_after: host::load_average(),
    };
    print!("{}", doc::terminal(&bench, &info, &sections));
    Ok(ExitCode::SUCCESS)
}

/// The reliability runs, printed; with --write, docs/reliability.md made of them.
fn run_reliability(setup: &Setup, args: &crate::cli::ReliabilityArgs) -> Result<ExitCode> {
    let date = host::now_utc();
    let mut bench = Bench::open(setup)?;
    let sections = reliability::run(&mut bench, &args.opts())?;
    let mut text = format!(
        "# Reliability\n\nGenerated by `{}` (run from the workspace root) on {date}. Every figure here was measured by that run; do not edit this file, run the command again. The tests behind each behaviour are client/tests/faults.rs, control/tests/ownership.rs, control/tests/limits.rs and the fuzz harnesses (fuzz/).\n\n",
        invocation()
    );
    for section in &sections {
        text.push_str(&section.to_markdown());
    }
    print!("{text}");
    if let Some(path) = &args.write {
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The jumbo benchmark; with --write, its section put into that report as well.
fn jumbo_section(bench: &mut Bench, args: &JumboArgs, date: &str) -> Result<Section> {
    let section = jumbo::run(bench, &args.opts())?;
    written(section, args.write.as_deref(), date)
}

/// A section run on its own; with `write`, put into that report too, saying which command
/// generated it and when.
fn written(mut section: Section, write: Option<&std::path::Path>, date: &str) -> Result<Section> {
    if let Some(path) = write {
        section.about = format!(
            "Generated by `{}` on {date} (this section only).\n\n{}",
            invocation(),
            section.about
        );
        doc::put_section(path, &section)?;
        eprintln!(
            "wrote the section \"{}\" into {}",
            section.title,
            path.display()
        );
    }
    Ok(section)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
