//! The control plane in-process (cores behind real tonic services on loopback), and the
//! `stillepostd` binary's start-up errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use stillepost_control::coordinator::{CoordinatorCore, TourProgress};
use stillepost_control::domain::RingAuth;
use stillepost_control::member::MemberCore;
use stillepost_control::proto::{Outcome, TourParams};
use stillepost_control::service::{bind, serve_member};
use stillepost_engine::dataplane::{DataPlane, Faults};
use stillepost_engine::histogram::{Summary, decode};

fn stillepostd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stillepostd"))
        .args(args)
        .output()
        .expect("run stillepostd")
}

#[test]
fn a_taken_control_port_is_named_with_its_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = stillepostd(&[
        "member",
        "--coord-bind",
        &addr,
        "--peer-bind",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--coord-bind {addr}: cannot listen there")),
        "{err}"
    );
    let data_dir = std::env::temp_dir().join(format!("stillepost-daemon-{}", std::process::id()));
    let out = stillepostd(&[
        "coordinator",
        "--client-bind",
        &addr,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--client-bind {addr}: cannot listen there")),
        "{err}"
    );
}

#[test]
fn an_unresolvable_bind_address_is_named_with_its_flag() {
    let out = stillepostd(&[
        "member",
        "--coord-bind",
        "127.0.0.1:0",
        "--peer-bind",
        "no-such-host.invalid:7000",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--peer-bind 'no-such-host.invalid:7000' is not a host:port that resolves"),
        "{err}"
    );
}

/// Two members and a coordinator core in this process, over real gRPC and real UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cores_run_a_tour_in_process() {
    let mut cluster = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let dataplane =
            DataPlane::spawn("127.0.0.1:0".parse().unwrap(), Faults::default()).unwrap();
        let listener = bind("test", "127.0.0.1:0".parse().unwrap()).await.unwrap();
        cluster.push(listener.local_addr().unwrap().to_string());
        let core = Arc::new(MemberCore::new(dataplane, None));
        servers.push(tokio::spawn(serve_member(
            listener,
            core,
            std::future::pending(),
        )));
    }
    let coordinator = Arc::new(CoordinatorCore::new());
    let params = TourParams {
        msg_len: 200,
        count: 64,
        window: 8,
        forward_immediately: true,
        member_timeout_ms: 2000,
        warmup: 0,
        rate: 0,
        max_datagram: 0,
        max_buffer_memory: 0,
    };
    let reply = coordinator
        .configure(&cluster, Some(params), 5000, RingAuth::Keyed)
        .await
        .unwrap();
    assert_eq!(reply.members.len(), 2);
    assert_eq!(reply.members[1].control_endpoint, cluster[1]);

    let tour_id = coordinator.run_tour().await.unwrap();
    let result = loop {
        let reply = coordinator
            .wait_tour(tour_id, Duration::from_millis(500))
            .await
            .unwrap();
        if let TourProgress::Done(result) = reply {
            break result;
        }
    };
    assert_eq!(result.outcome(), Outcome::Complete);
    assert_eq!(result.messages_sent, 64);
    assert_eq!(result.messages_received, 64);
    assert_eq!(result.lost, 0);
    let latency = Summary::of(&decode(&result.tour_latency).unwrap());
    assert_eq!(latency.count, 64);
    assert!(latency.min_ns > 0 && latency.min_ns <= latency.max_ns);
    assert!(result.hop_losses.iter().all(|h| h.lost == 0));

    // A finished tour can be waited for again; an unknown one is named.
    assert!(matches!(
        coordinator
            .wait_tour(tour_id, Duration::ZERO)
            .await
            .unwrap(),
        TourProgress::Done(_)
    ));
    let err = coordinator.wait_tour(42, Duration::ZERO).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no tour 000000000000002a is known to this coordinator"
    );
    for server in servers {
        server.abort();
    }
}
