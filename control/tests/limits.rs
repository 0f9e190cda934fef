//! Requests are bounded: a ring of more than `MAX_RING_MEMBERS` is refused as invalid
//! before any member is reached, and a request larger than `MAX_REQUEST_BYTES` is refused
//! before the coordinator holds it; neither changes anything.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::sync::Arc;
use std::time::Duration;

use stillepost_control::access::{Credentials, Listen};
use stillepost_control::coordinator::{CoordinatorCore, RingSet};
use stillepost_control::proto::coordinator_client::CoordinatorClient;
use stillepost_control::proto::{ConfigureRequest, StatusRequest};
use stillepost_control::ring::MAX_RING_MEMBERS;
use stillepost_control::rpc::lazy_channel;
use stillepost_control::service::{MAX_REQUEST_BYTES, bind, serve_coordinator};
use support::small_tour;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_rings_and_requests_are_refused_and_change_nothing() {
    let listener = bind("test", "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve_coordinator(
        listener,
        RingSet::new(Arc::new(CoordinatorCore::new())),
        Listen::default(),
        std::future::pending(),
    ));
    let channel = lazy_channel(&addr, Duration::from_secs(3), &Credentials::default()).unwrap();
    let mut client = CoordinatorClient::new(channel).max_encoding_message_size(64 << 20);
    let configure = |cluster: Vec<String>| ConfigureRequest {
        cluster,
        params: Some(small_tour(10)),
        configure_timeout_ms: 5000,
        no_auth: false,
        force: false,
        ring_size: 0,
    };

    // Loopback endpoints where nothing listens (never contacted: the size is checked
    // first).
    let too_many: Vec<String> = (0..=MAX_RING_MEMBERS)
        .map(|i| format!("127.0.{}.{}:{}", i / 250, i % 250 + 1, 7001 + i))
        .collect();
    let status = client.configure(configure(too_many)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        status.message(),
        format!(
            "--cluster lists {} members; a ring has at most {MAX_RING_MEMBERS}",
            MAX_RING_MEMBERS + 1
        )
    );

    let huge = vec![format!("{}:7001", "a".repeat(MAX_REQUEST_BYTES))];
    let status = client.configure(configure(huge)).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");

    let after = client.status(StatusRequest {}).await.unwrap().into_inner();
    assert!(!after.configured);
    assert!(after.members.is_empty());
}
