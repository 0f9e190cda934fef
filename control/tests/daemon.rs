//! The control plane in-process: the coordinator and member cores behind real tonic
//! services on loopback. (The `stillepostd` binary's own tests are in the `stillepost`
//! package, which builds it: client/tests/stillepostd.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::sync::Arc;
use std::time::Duration;

use stillepost_control::coordinator::{CoordinatorCore, TourProgress};
use stillepost_control::domain::{RingAuth, Takeover};
use stillepost_control::proto::Outcome;
use stillepost_engine::histogram::{Summary, decode};
use support::{small_tour, start_members};

/// Two members and a coordinator core in this process, over real gRPC and real UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cores_run_a_tour_in_process() {
    let (cluster, servers) = start_members(2, None).await;
    let coordinator = Arc::new(CoordinatorCore::new());
    let params = small_tour(64);
    let reply = coordinator
        .configure(
            &cluster,
            Some(params),
            5000,
            RingAuth::Keyed,
            Takeover::Respect,
        )
        .await
        .unwrap();
    assert_eq!(reply.members.len(), 2);
    assert_eq!(reply.members[1].control_endpoint, cluster[1]);

    let tour_id = coordinator.run_tour(false).await.unwrap();
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
