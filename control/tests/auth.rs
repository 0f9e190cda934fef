//! The control plane's token, over real gRPC on loopback: every RPC of both services
//! refuses a call without the token or with a wrong one, and the refusal changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::sync::Arc;
use std::time::Duration;

use stillepost_control::access::{Credentials, Listen};
use stillepost_control::auth::Token;
use stillepost_control::coordinator::{CoordinatorCore, RingSet};
use stillepost_control::proto::coordinator_client::CoordinatorClient;
use stillepost_control::proto::member_client::MemberClient;
use stillepost_control::proto::{
    ChallengeNextRequest, ConfigureRequest, EchoKeyRequest, GetResultRequest, InfoReply,
    InfoRequest, MemberConfigureRequest, MemberWaitRequest, Outcome, PinRequest, PrepareRequest,
    RunTourRequest, StatusReply, StatusRequest, TourRef, TourResult, WaitTourRequest,
};
use stillepost_control::rpc::{TokenChannel, lazy_channel};
use stillepost_control::service::{bind, serve_coordinator};
use support::{Server, small_tour, start_members};
use tonic::{Code, Status};

const RING_TOKEN: &str = "ring-token-4f1c9a";
const COORDINATOR_MISSING: &str =
    "this coordinator needs a token: pass --token-file or set STILLEPOST_TOKEN";
const COORDINATOR_WRONG: &str = "this coordinator refused the token: pass the coordinator's own token with --token-file or STILLEPOST_TOKEN";
const MEMBER_MISSING: &str = "this member needs a token: start the coordinator with the ring's token (--token-file or STILLEPOST_TOKEN)";
const MEMBER_WRONG: &str = "this member refused the token: start the coordinator with the same token as its members (--token-file or STILLEPOST_TOKEN)";

fn token(text: &str) -> Token {
    Token::parse(text, "test").unwrap()
}

/// Configures the whole ring.
fn whole_ring(ring: &Ring) -> ConfigureRequest {
    ConfigureRequest {
        cluster: ring.members.clone(),
        params: Some(small_tour(32)),
        configure_timeout_ms: 5000,
        no_auth: false,
        force: false,
        ring_size: 0,
    }
}

/// Two members and a coordinator in this process, each serving gRPC on 127.0.0.1 with
/// the ring's token; the coordinator sends it to the members.
struct Ring {
    coordinator: String,
    members: Vec<String>,
    servers: Vec<Server>,
}

impl Drop for Ring {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

async fn start_ring(member_token: Option<Token>) -> Ring {
    let (members, mut servers) = start_members(2, Some(&token(RING_TOKEN))).await;
    let listener = bind("test", "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let coordinator = listener.local_addr().unwrap().to_string();
    let core = Arc::new(
        CoordinatorCore::new().with_member_credentials(Credentials::token_only(member_token)),
    );
    servers.push(tokio::spawn(serve_coordinator(
        listener,
        RingSet::new(core),
        Listen::token_only(Some(token(RING_TOKEN))),
        std::future::pending(),
    )));
    Ring {
        coordinator,
        members,
        servers,
    }
}

fn channel(addr: &str, token: Option<&Token>) -> TokenChannel {
    lazy_channel(
        addr,
        Duration::from_secs(3),
        &Credentials::token_only(token.cloned()),
    )
    .unwrap()
}

fn coordinator(ring: &Ring, with: Option<&Token>) -> CoordinatorClient<TokenChannel> {
    CoordinatorClient::new(channel(&ring.coordinator, with))
}

fn member(addr: &str, with: Option<&Token>) -> MemberClient<TokenChannel> {
    MemberClient::new(channel(addr, with))
}

/// Configures the ring and runs one tour with the right token; returns that tour's id.
async fn configure_and_tour(ring: &Ring) -> u64 {
    let mut client = coordinator(ring, Some(&token(RING_TOKEN)));
    client.configure(whole_ring(ring)).await.unwrap();
    run_tour(ring).await
}

/// Runs one tour with the right token; asserts it completed, returns its id.
async fn run_tour(ring: &Ring) -> u64 {
    let mut client = coordinator(ring, Some(&token(RING_TOKEN)));
    let tour_id = client
        .run_tour(RunTourRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tour_id;
    loop {
        let reply = client
            .wait_tour(WaitTourRequest {
                tour_id,
                wait_ms: 500,
            })
            .await
            .unwrap()
            .into_inner();
        if reply.done {
            let result = reply.result.unwrap();
            assert_eq!(result.outcome(), Outcome::Complete);
            assert_eq!(result.messages_received, 32);
            return tour_id;
        }
    }
}

/// What a client with the token sees of the coordinator: its status and latest result.
async fn coordinator_state(ring: &Ring) -> (StatusReply, TourResult) {
    let mut client = coordinator(ring, Some(&token(RING_TOKEN)));
    let status = client.status(StatusRequest {}).await.unwrap().into_inner();
    let latest = client
        .get_result(GetResultRequest {
            tour_id: 0,
            latest: true,
        })
        .await
        .unwrap()
        .into_inner();
    (status, latest)
}

async fn member_infos(ring: &Ring) -> Vec<InfoReply> {
    let mut infos = Vec::new();
    for addr in &ring.members {
        let mut client = member(addr, Some(&token(RING_TOKEN)));
        infos.push(
            client
                .info(InfoRequest::default())
                .await
                .unwrap()
                .into_inner(),
        );
    }
    infos
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(rpc: &str, result: Result<T, Status>, message: &str) {
    let status = result.expect_err(rpc);
    assert_eq!(status.code(), Code::Unauthenticated, "{rpc}: {status:?}");
    assert_eq!(status.message(), message, "{rpc}");
}

/// Every coordinator RPC, without a token and with a wrong one: `Unauthenticated`, and
/// the status and the latest result stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_coordinator_rpc_refuses_a_missing_or_wrong_token_and_changes_nothing() {
    let ring = start_ring(Some(token(RING_TOKEN))).await;
    let tour_id = configure_and_tour(&ring).await;
    let before = coordinator_state(&ring).await;
    assert!(before.0.configured);
    assert_eq!(before.0.last_tour, tour_id);
    assert_eq!(before.0.members.len(), 2);

    let wrong = token("ring-token-4f1c9b");
    for (with, message) in [
        (None, COORDINATOR_MISSING),
        (Some(&wrong), COORDINATOR_WRONG),
    ] {
        let mut client = coordinator(&ring, with);
        let one_member = ConfigureRequest {
            cluster: vec![ring.members[1].clone()],
            params: Some(small_tour(32)),
            configure_timeout_ms: 5000,
            no_auth: false,
            force: false,
            ring_size: 0,
        };
        assert_refused("Configure", client.configure(one_member).await, message);
        assert_refused(
            "RunTour",
            client.run_tour(RunTourRequest::default()).await,
            message,
        );
        let wait = WaitTourRequest {
            tour_id,
            wait_ms: 0,
        };
        assert_refused("WaitTour", client.wait_tour(wait).await, message);
        assert_refused("Status", client.status(StatusRequest {}).await, message);
        let latest = GetResultRequest {
            tour_id: 0,
            latest: true,
        };
        assert_refused("GetResult", client.get_result(latest).await, message);
        assert_refused("EchoKey", client.echo_key(EchoKeyRequest {}).await, message);
        let pin = PinRequest {
            tour_id,
            latest: false,
            pinned: true,
        };
        assert_refused("Pin", client.pin(pin).await, message);
    }
    assert_eq!(coordinator_state(&ring).await, before);
    // With the token, the echo key is the one the members check echoes against.
    let key = coordinator(&ring, Some(&token(RING_TOKEN)))
        .echo_key(EchoKeyRequest {})
        .await
        .unwrap()
        .into_inner()
        .key;
    assert_eq!(key.len(), 16);
}

/// Every member RPC, without a token and with a wrong one: `Unauthenticated`, and the
/// member's Info stays as it was; the ring then still runs a tour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_rpc_refuses_a_missing_or_wrong_token_and_changes_nothing() {
    let ring = start_ring(Some(token(RING_TOKEN))).await;
    let tour_id = configure_and_tour(&ring).await;
    let before = member_infos(&ring).await;
    assert_eq!((before[0].index, before[0].ring_len), (0, 2));
    assert_eq!((before[1].index, before[1].ring_len), (1, 2));

    let wrong = token("ring-token-4f1c9b");
    for (with, message) in [(None, MEMBER_MISSING), (Some(&wrong), MEMBER_WRONG)] {
        for (index, addr) in ring.members.iter().enumerate() {
            let mut client = member(addr, with);
            assert_refused("Info", client.info(InfoRequest::default()).await, message);
            let alone = MemberConfigureRequest {
                index: 0,
                ring_len: 1,
                next_peer: before[index].peer_endpoint.clone(),
                prev_peer: before[index].peer_endpoint.clone(),
                params: Some(small_tour(32)),
                ring_key: vec![7; 32],
                ..MemberConfigureRequest::default()
            };
            assert_refused("Configure", client.configure(alone).await, message);
            let prepare = PrepareRequest {
                tour_id: 99,
                probe_prev_clock: false,
                clock_probes: 0,
                record_stamps: false,
                generation: 1,
                shape: None,
            };
            assert_refused("Prepare", client.prepare(prepare).await, message);
            let challenge = client.challenge_next(ChallengeNextRequest {}).await;
            assert_refused("ChallengeNext", challenge, message);
            assert_refused(
                "Start",
                client.start(TourRef { tour_id: 99 }).await,
                message,
            );
            let wait = MemberWaitRequest {
                tour_id: 99,
                wait_ms: 0,
            };
            assert_refused("Wait", client.wait(wait).await, message);
            assert_refused("End", client.end(TourRef { tour_id }).await, message);
        }
    }
    assert_eq!(member_infos(&ring).await, before);

    // The coordinator, with the token, still drives the same ring to a complete tour.
    assert_ne!(run_tour(&ring).await, tour_id);
}

/// A coordinator without the members' token, or with another one, cannot configure them:
/// configure names the member and what to do, and the members stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_without_the_members_token_cannot_configure_them() {
    for (member_token, cause) in [
        (None, MEMBER_MISSING),
        (Some(token("another-token")), MEMBER_WRONG),
    ] {
        let ring = start_ring(member_token).await;
        let before = member_infos(&ring).await;
        let err = coordinator(&ring, Some(&token(RING_TOKEN)))
            .configure(whole_ring(&ring))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        assert_eq!(
            err.message(),
            format!(
                "member 0 ({}) refused the coordinator's token: {cause}; start the coordinator and every member with the same token (--token-file or STILLEPOST_TOKEN)",
                ring.members[0]
            )
        );
        assert_eq!(member_infos(&ring).await, before);
    }
}
