//! `stillepost`: the Stillepost client.

mod app;
mod cli;
mod echo;
mod export;
mod histogram;
mod local;
mod ping;
mod plot;
mod report;
mod tune;

/// The rule for tests that cannot run here, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/support/skip.rs"]
mod skip;

use std::process::ExitCode;

use clap::Parser;

use crate::app::{Coordinator, Failure};
use crate::cli::{Cli, Command};

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Local(args) = &cli.command {
        return local::local(args, cli.json).await;
    }
    if let Command::Tune(args) = &cli.command {
        return tune::tune(args, cli.json);
    }
    let credentials = cli
        .access
        .resolve()
        .map_err(|e| app::invalid(e.to_string()))?;
    let coord = Coordinator::connect(&cli.coordinator, &credentials)?;
    match &cli.command {
        Command::Configure(args) => app::configure(&coord, args, cli.json).await,
        Command::Stillepost => app::run(&coord, cli.json).await,
        Command::EchoMembers(args) => app::echo_members(&coord, args, cli.json).await,
        Command::PingSystems(args) => app::ping_systems(&coord, args, cli.json).await,
        Command::Status => app::status(&coord, cli.json).await,
        Command::Report(args) => app::report(&coord, args).await,
        Command::Pin(args) => app::pin(&coord, args, cli.json).await,
        Command::Local(_) | Command::Tune(_) => unreachable!("handled above"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    stillepost_control::rpc::init_logging("warn");
    let runtime = match stillepost_control::rpc::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(e.downcast_ref::<Failure>().map_or(1, |f| f.code))
        }
    }
}
