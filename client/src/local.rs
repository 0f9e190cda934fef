//! `stillepost local`: a coordinator and a ring of members inside this process, on
//! 127.0.0.1 with ports the kernel picks, driven through the same gRPC API as a cluster.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde_json::json;
use stillepost_control::access::{Credentials, Listen};
use stillepost_control::auth::Token;
use stillepost_control::coordinator::{CoordinatorCore, RingSet};
use stillepost_control::member::MemberCore;
use stillepost_control::options::{PlacementArg, PollArg, available_cores};
use stillepost_control::proto::ConfigureRequest;
use stillepost_control::ring::DEFAULT_CONFIGURE_TIMEOUT_S;
use stillepost_control::service::{bind, serve_coordinator, serve_member};
use stillepost_engine::dataplane::{DataPlane, DataPlaneOptions, Faults, PollMode};
use tokio::sync::watch;

use crate::app::{
    Coordinator, EXIT_LOSSY, Failure, emit, invalid, result_json, result_text, tour_failure,
    tour_params, write_raw,
};
use crate::cli::LocalArgs;
use crate::report;

/// Most members `local` starts: each is a thread and a socket on this host.
const MAX_LOCAL_MEMBERS: u32 = 64;

pub async fn local(args: &LocalArgs, json_mode: bool) -> Result<()> {
    if args.members == 0 || args.members > MAX_LOCAL_MEMBERS {
        return Err(invalid(format!(
            "--members {} is out of range: a local ring has 1 to {MAX_LOCAL_MEMBERS} members",
            args.members
        )));
    }
    if args.tours == 0 {
        return Err(invalid("--tours must be at least 1"));
    }
    if args.record.raw.is_some() && args.tours > 1 {
        return Err(invalid(format!(
            "--raw writes one tour's messages to one file, and --tours {} runs several: give --tours 1",
            args.tours
        )));
    }
    let params = tour_params(&args.tour)?;
    let (poll, cpus) = plan_cores(args)?;
    // Cores given with --cpus stay; otherwise the configure places the members.
    let fixed = !args.cpus.is_empty();
    let loopback: SocketAddr = "127.0.0.1:0".parse()?;
    // Loopback needs no token, but other users of this host could reach the ring's ports
    // while it runs: a random one, known only to this process, keeps them out.
    let token = Token::random();
    let credentials = Credentials::token_only(Some(token.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let mut cluster = Vec::new();
    let mut servers = Vec::new();
    for (index, cpu) in cpus.iter().enumerate() {
        let options = DataPlaneOptions {
            backend: args.backend.into(),
            poll,
            cpu: Some(*cpu),
            zerocopy: args.zerocopy,
            no_offload: args.no_offload,
            faults: Faults::default(),
        };
        let dataplane = DataPlane::spawn_with(loopback, options)
            .with_context(|| format!("starting member {index}'s data plane"))?;
        if index == 0
            && let Some(reason) = dataplane.fallback_reason()
        {
            crate::out::eprint(&format!(
                "note: io_uring cannot start ({reason}); the members run the syscall backend\n"
            ));
        }
        let listener = bind("member control", loopback).await?;
        cluster.push(listener.local_addr()?.to_string());
        let mut core = MemberCore::new(dataplane, None);
        if fixed {
            core = core.with_fixed_cpu();
        }
        let core = Arc::new(core);
        servers.push(tokio::spawn(serve_member(
            listener,
            core,
            Listen::token_only(Some(token.clone())),
            stopped(),
        )));
    }
    let listener = bind("coordinator", loopback).await?;
    let coordinator_addr = listener.local_addr()?.to_string();
    servers.push(tokio::spawn(serve_coordinator(
        listener,
        RingSet::new(Arc::new(
            CoordinatorCore::new().with_member_credentials(credentials.clone()),
        )),
        Listen::token_only(Some(token.clone())),
        stopped(),
    )));

    let outcome = drive(
        &coordinator_addr,
        &credentials,
        cluster,
        params,
        args,
        json_mode,
    )
    .await;
    let _ = stop_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    outcome
}

async fn drive(
    coordinator_addr: &str,
    credentials: &Credentials,
    cluster: Vec<String>,
    params: stillepost_control::proto::TourParams,
    args: &LocalArgs,
    json_mode: bool,
) -> Result<()> {
    let coord = Coordinator::connect(coordinator_addr, credentials)?;
    let configured = coord
        .configure(ConfigureRequest {
            cluster,
            params: Some(params),
            configure_timeout_ms: DEFAULT_CONFIGURE_TIMEOUT_S * 1000,
            no_auth: args.no_auth,
            // Its members are its own, made for this run.
            force: false,
            ring_size: 0,
        })
        .await?;
    if !json_mode {
        crate::out::print(&format!("{}\n", report::configure_text(&configured)))?;
    }
    let mut results = Vec::with_capacity(args.tours as usize);
    let mut failure = Ok(());
    for _ in 0..args.tours {
        let result = coord.run_tour(!json_mode, args.record.records()).await?;
        if !json_mode {
            crate::out::print(&format!("{}\n", result_text(&result, &args.record)?))?;
        }
        write_raw(&result, &args.record)?;
        let ended = tour_failure(&result, args.loss);
        results.push(result);
        match ended {
            // A lossy tour is said at the end; the next tours still run.
            Err(e)
                if e.downcast_ref::<Failure>()
                    .is_some_and(|f| f.code == EXIT_LOSSY) =>
            {
                if failure.is_ok() {
                    failure = Err(e);
                }
            }
            Err(e) => {
                failure = Err(e);
                break;
            }
            Ok(()) => {}
        }
    }
    if json_mode {
        emit(
            true,
            || {
                Ok(json!({
                    "ring": report::configure_json(&configured),
                    "tours": results
                        .iter()
                        .map(|r| result_json(r, &args.record))
                        .collect::<Result<Vec<_>>>()?,
                }))
            },
            || Ok(String::new()),
        )?;
    }
    failure
}

/// Chooses each member's core to start on (the configure then places members not given
/// --cpus), and the poll mode the host allows: spinning members need a core each, so with
/// fewer cores than members `local` blocks instead, and says so.
fn plan_cores(args: &LocalArgs) -> Result<(PollMode, Vec<usize>)> {
    let n = args.members as usize;
    let cores = available_cores();
    if cores.is_empty() {
        return Err(anyhow::anyhow!(
            "cannot read which cores this process may use"
        ));
    }
    if !args.cpus.is_empty() {
        if args.tour.placement != PlacementArg::Auto {
            return Err(invalid(format!(
                "--placement {} has nothing to place: --cpus gives every member its core; give one of the two",
                args.tour
                    .placement
                    .to_possible_value()
                    .map_or_else(String::new, |v| v.get_name().to_string())
            )));
        }
        let cpus: Vec<usize> = match args.cpus.len() {
            1 => vec![args.cpus[0]; n],
            len if len == n => args.cpus.clone(),
            len => {
                return Err(invalid(format!(
                    "--cpus lists {len} cores for {n} members: give one per member, or one for all"
                )));
            }
        };
        if let Some(bad) = cpus.iter().find(|c| !cores.contains(c)) {
            return Err(invalid(format!(
                "--cpus {bad}: this process may use cores {cores:?} only"
            )));
        }
        if args.poll == PollArg::Spin {
            for (i, a) in cpus.iter().enumerate() {
                if let Some(j) = cpus[i + 1..].iter().position(|b| b == a) {
                    return Err(invalid(format!(
                        "--cpus gives core {a} to members {i} and {}: spinning members need a core each; use --poll block to share cores",
                        i + 1 + j
                    )));
                }
            }
        }
        return Ok((args.poll.into(), cpus));
    }
    if args.poll == PollArg::Spin {
        if n <= cores.len() {
            return Ok((PollMode::Spin, cores[cores.len() - n..].to_vec()));
        }
        crate::out::eprint(&format!(
            "note: --poll spin needs a core per member, and this host has {} cores for {n} members: running in block mode\n",
            cores.len()
        ));
    }
    // Spread the members over the cores, sparing core 0 for the control plane when there
    // is more than one.
    let spare: &[usize] = if cores.len() > 1 { &cores[1..] } else { &cores };
    Ok((
        PollMode::Block,
        (0..n).map(|i| spare[i % spare.len()]).collect(),
    ))
}
