//! `stillepost`: the Stillepost client.

mod app;
mod cli;
mod export;
mod histogram;
mod local;
mod out;
mod plot;
mod raw;
mod report;
mod table;
mod tune;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use stillepost_control::manual;

use crate::app::{Coordinator, Failure};
use crate::cli::{Cli, Command, ProbeKind};

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Local(args) = &cli.command {
        return local::local(args, cli.json).await;
    }
    if let Command::Tune(args) = &cli.command {
        return tune::tune(args, cli.json);
    }
    if let Command::Completions(args) = &cli.command {
        let mut text = Vec::new();
        manual::completions(Cli::command(), "stillepost", args.shell, &mut text);
        return out::write(&text);
    }
    if let Command::Man(args) = &cli.command {
        return match &args.out_dir {
            None => out::write(&manual::man_page(Cli::command())?),
            Some(dir) => {
                let written = manual::man_pages(Cli::command(), dir).map_err(|e| {
                    anyhow::anyhow!("--out-dir {}: cannot write the pages: {e}", dir.display())
                })?;
                let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
                if cli.json {
                    out::document(serde_json::json!({ "written": names }))
                } else {
                    let lines: Vec<String> = names.iter().map(|n| format!("wrote {n}\n")).collect();
                    out::print(&lines.concat())
                }
            }
        };
    }
    let credentials = cli
        .access
        .resolve()
        .map_err(|e| app::invalid(e.to_string()))?;
    let coord = Coordinator::connect(&cli.coordinator, &credentials)?;
    match &cli.command {
        Command::Configure(args) => app::configure(&coord, args, cli.json).await,
        Command::Stillepost(args) => app::run(&coord, args, cli.json).await,
        Command::Cancel(args) => app::cancel(&coord, args, cli.json).await,
        Command::Wait(args) => app::wait(&coord, &args.tour, args.loss, cli.json).await,
        Command::EchoMembers(args) => app::probe(&coord, ProbeKind::Echo, args, cli.json).await,
        Command::PingSystems(args) => app::probe(&coord, ProbeKind::Ping, args, cli.json).await,
        Command::Status => app::status(&coord, cli.json).await,
        Command::Tours(args) => app::tours(&coord, args, cli.json).await,
        Command::Report(args) => app::report(&coord, args, cli.json).await,
        Command::Pin(args) => app::pin(&coord, args, cli.json).await,
        Command::Local(_) | Command::Tune(_) | Command::Completions(_) | Command::Man(_) => {
            unreachable!("handled above")
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Under --json a usage error is a document too (help and --version are not
            // errors).
            if e.use_stderr() && std::env::args_os().any(|a| a == "--json") {
                let text = e.render().to_string();
                let message = text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                out::json_error("invalid_input", message, app::EXIT_INVALID);
            }
            e.exit()
        }
    };
    let json = cli.json;
    stillepost_control::rpc::init_logging("warn");
    let runtime = match stillepost_control::rpc::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            out::eprint(&format!("error: cannot start the async runtime: {e}\n"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // Its reader went away: end quietly, as a filter does.
        Err(e) if out::is_closed(&e) => ExitCode::from(out::EXIT_CLOSED),
        Err(e) => {
            let code = e.downcast_ref::<Failure>().map_or(1, |f| f.code);
            if json {
                out::json_error(app::error_kind(code), &format!("{e:#}"), code);
            }
            out::eprint(&format!("error: {e:#}\n"));
            ExitCode::from(code)
        }
    }
}
