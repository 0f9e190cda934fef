//! `stillepost local`: a coordinator and a ring of members inside this process, on
//! 127.0.0.1 with ports the kernel picks, driven through the same gRPC API as a cluster.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::json;
use stillepost_control::coordinator::CoordinatorCore;
use stillepost_control::member::MemberCore;
use stillepost_control::proto::ConfigureRequest;
use stillepost_control::ring::DEFAULT_CONFIGURE_TIMEOUT_S;
use stillepost_control::service::{bind, serve_coordinator, serve_member};
use stillepost_engine::dataplane::{DataPlane, Faults};
use tokio::sync::watch;

use crate::app::{Coordinator, emit, invalid, tour_failure, tour_params};
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
    let params = tour_params(&args.tour)?;
    let loopback: SocketAddr = "127.0.0.1:0".parse()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let mut cluster = Vec::new();
    let mut servers = Vec::new();
    for index in 0..args.members {
        let dataplane = DataPlane::spawn(loopback, Faults::default())
            .with_context(|| format!("starting member {index}'s data plane"))?;
        let listener = bind("member control", loopback).await?;
        cluster.push(listener.local_addr()?.to_string());
        let core = Arc::new(MemberCore::new(dataplane, None));
        servers.push(tokio::spawn(serve_member(listener, core, stopped())));
    }
    let listener = bind("coordinator", loopback).await?;
    let coordinator_addr = listener.local_addr()?.to_string();
    servers.push(tokio::spawn(serve_coordinator(
        listener,
        Arc::new(CoordinatorCore::new()),
        stopped(),
    )));

    let outcome = drive(&coordinator_addr, cluster, params, args, json_mode).await;
    let _ = stop_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    outcome
}

async fn drive(
    coordinator_addr: &str,
    cluster: Vec<String>,
    params: stillepost_control::proto::TourParams,
    args: &LocalArgs,
    json_mode: bool,
) -> Result<()> {
    let coord = Coordinator::connect(coordinator_addr)?;
    let configured = coord
        .configure(ConfigureRequest {
            cluster,
            params: Some(params),
            configure_timeout_ms: DEFAULT_CONFIGURE_TIMEOUT_S * 1000,
        })
        .await?;
    if !json_mode {
        print!("{}", report::configure_text(&configured));
        println!();
    }
    let mut results = Vec::with_capacity(args.tours as usize);
    let mut failure = Ok(());
    for _ in 0..args.tours {
        let result = coord.run_tour(|_, _, _| {}).await?;
        if !json_mode {
            println!("{}", report::tour_text(&result));
        }
        failure = tour_failure(&result);
        results.push(result);
        if failure.is_err() {
            break;
        }
    }
    if json_mode {
        emit(
            true,
            || {
                json!({
                    "ring": report::configure_json(&configured),
                    "tours": results.iter().map(report::tour_json).collect::<Vec<_>>(),
                })
            },
            String::new,
        );
    }
    failure
}
