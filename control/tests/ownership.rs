//! A member belongs to one coordinator at a time: another coordinator's configure is
//! refused, naming the holder, while the holder's lease runs or a tour of its is armed;
//! `--force` takes the member over, and the coordinator that lost it is told at its next
//! tour instead of running a tour on a ring that is no longer its own. Coordinators and
//! members run in this process (real data planes on 127.0.0.1).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use stillepost_control::access::Listen;
use stillepost_control::coordinator::{CoordinatorCore, TourProgress};
use stillepost_control::domain::{RingAuth, Takeover};
use stillepost_control::member::MemberCore;
use stillepost_control::proto::{Outcome, TourParams};
use stillepost_control::service::{bind, serve_member};
use stillepost_engine::dataplane::{DataPlane, Faults};
use support::small_tour;

/// How long a member here belongs to the coordinator that configured it.
const LEASE: Duration = Duration::from_millis(1500);

/// Two members with a short lease: their control endpoints.
async fn members() -> Vec<String> {
    let mut cluster = Vec::new();
    for _ in 0..2 {
        let dataplane =
            DataPlane::spawn("127.0.0.1:0".parse().unwrap(), Faults::default()).unwrap();
        let listener = bind("test", "127.0.0.1:0".parse().unwrap()).await.unwrap();
        cluster.push(listener.local_addr().unwrap().to_string());
        let core = Arc::new(MemberCore::new(dataplane, None).with_lease(LEASE));
        tokio::spawn(serve_member(
            listener,
            core,
            Listen::default(),
            std::future::pending(),
        ));
    }
    cluster
}

async fn configure(
    coordinator: &CoordinatorCore,
    cluster: &[String],
    params: TourParams,
    takeover: Takeover,
) -> Result<(), String> {
    coordinator
        .configure(cluster, Some(params), 5000, RingAuth::Keyed, takeover)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Runs a tour to its end and returns its outcome and messages received.
async fn tour(coordinator: &Arc<CoordinatorCore>) -> (Outcome, u64) {
    let id = coordinator.run_tour(false).await.unwrap();
    loop {
        if let TourProgress::Done(result) = coordinator
            .wait_tour(id, Duration::from_secs(1))
            .await
            .unwrap()
        {
            return (result.outcome(), result.messages_received);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_belongs_to_one_coordinator_at_a_time() {
    let cluster = members().await;
    let a = Arc::new(CoordinatorCore::new());
    let b = Arc::new(CoordinatorCore::new());
    assert_ne!(a.id(), b.id());
    configure(&a, &cluster, small_tour(32), Takeover::Respect)
        .await
        .unwrap();

    // B is refused while A's lease runs, and told whose the members are.
    let started = Instant::now();
    let refused = configure(&b, &cluster, small_tour(32), Takeover::Respect)
        .await
        .unwrap_err();
    assert!(
        refused.contains(&format!("member 0 ({})", cluster[0])),
        "{refused}"
    );
    assert!(
        refused.contains(&format!(
            "this member belongs to coordinator {} (its lease runs",
            a.id()
        )),
        "{refused}"
    );
    assert!(refused.contains("configure with --force"), "{refused}");
    assert!(started.elapsed() < LEASE, "the refusal came at once");
    // A's ring is untouched: its tours run.
    assert_eq!(tour(&a).await, (Outcome::Complete, 32));

    // B forces: the members are B's now, and A learns it at its next tour.
    configure(&b, &cluster, small_tour(32), Takeover::Force)
        .await
        .unwrap();
    let lost = a.run_tour(false).await.unwrap_err().to_string();
    assert!(
        lost.contains(&format!("configured again (by coordinator {})", b.id())),
        "{lost}"
    );
    assert!(lost.contains("configure the ring again"), "{lost}");
    assert_eq!(tour(&b).await, (Outcome::Complete, 32));

    // While a tour of B's is armed, A is refused even after B's lease ran out: a tour at
    // 400 messages per second takes longer than the lease.
    let slow = TourParams {
        count: 1000,
        rate: 400.0,
        whole_rate: 0,
        dscp: 0,
        window: 1000,
        ..small_tour(1000)
    };
    configure(&b, &cluster, slow, Takeover::Respect)
        .await
        .unwrap();
    let id = b.run_tour(false).await.unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(300)).await;
    let refused = configure(&a, &cluster, small_tour(32), Takeover::Respect)
        .await
        .unwrap_err();
    assert!(
        refused.contains(&format!(
            "this member belongs to coordinator {} (a tour of its is armed here)",
            b.id()
        )),
        "{refused}"
    );
    loop {
        if let TourProgress::Done(result) = b.wait_tour(id, Duration::from_secs(1)).await.unwrap() {
            assert_eq!(result.outcome(), Outcome::Complete);
            break;
        }
    }

    // Once B's lease ran out with no tour armed, A configures without forcing.
    tokio::time::sleep(LEASE + Duration::from_millis(200)).await;
    configure(&a, &cluster, small_tour(32), Takeover::Respect)
        .await
        .unwrap();
    assert_eq!(tour(&a).await, (Outcome::Complete, 32));
}
