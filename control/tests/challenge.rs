//! No reflection: a member sends tours only to a next member that answered the ring's
//! challenge on its peer endpoint. A fake member service that advertises a plain UDP
//! socket as its peer endpoint (a victim's address, say) and lies on every call gets the
//! ring refused, and that socket receives nothing but challenges.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use stillepost_control::access::Listen;
use stillepost_control::coordinator::CoordinatorCore;
use stillepost_control::domain::{RingAuth, Takeover};
use stillepost_control::member::{MemberCore, MemberError};
use stillepost_control::proto::member_server::{Member, MemberServer};
use stillepost_control::proto::{self, TourParams};
use stillepost_control::service::{bind, serve_member};
use stillepost_engine::dataplane::{DataPlane, Faults};
use stillepost_engine::wire::{CHALLENGE_LEN, FLAG_ANSWER, Header, Kind};
use tonic::{Request, Response, Status};

/// A member service that says yes to everything and advertises `peer` as its peer
/// endpoint, which no Stillepost data plane serves.
struct FakeMember {
    peer: SocketAddr,
}

#[tonic::async_trait]
impl Member for FakeMember {
    async fn info(
        &self,
        _: Request<proto::InfoRequest>,
    ) -> Result<Response<proto::InfoReply>, Status> {
        Ok(Response::new(proto::InfoReply {
            peer_endpoint: self.peer.to_string(),
            host_id: "fake-host".into(),
            clock_id: "fake-clock".into(),
            cpu: -1,
            ..Default::default()
        }))
    }

    async fn configure(
        &self,
        _: Request<proto::MemberConfigureRequest>,
    ) -> Result<Response<proto::MemberConfigureReply>, Status> {
        Ok(Response::new(proto::MemberConfigureReply::default()))
    }

    async fn prepare(
        &self,
        _: Request<proto::PrepareRequest>,
    ) -> Result<Response<proto::PrepareReply>, Status> {
        Ok(Response::new(proto::PrepareReply::default()))
    }

    async fn challenge_next(
        &self,
        _: Request<proto::ChallengeNextRequest>,
    ) -> Result<Response<proto::Ack>, Status> {
        Ok(Response::new(proto::Ack {}))
    }

    async fn start(&self, _: Request<proto::TourRef>) -> Result<Response<proto::Ack>, Status> {
        Ok(Response::new(proto::Ack {}))
    }

    async fn wait(
        &self,
        _: Request<proto::MemberWaitRequest>,
    ) -> Result<Response<proto::MemberWaitReply>, Status> {
        Ok(Response::new(proto::MemberWaitReply::default()))
    }

    async fn end(
        &self,
        _: Request<proto::TourRef>,
    ) -> Result<Response<proto::MemberTourReport>, Status> {
        Ok(Response::new(proto::MemberTourReport::default()))
    }
}

async fn real_member() -> (String, Arc<MemberCore>) {
    let dataplane = DataPlane::spawn("127.0.0.1:0".parse().unwrap(), Faults::default()).unwrap();
    let listener = bind("test", "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let control = listener.local_addr().unwrap().to_string();
    let core = Arc::new(MemberCore::new(dataplane, None));
    tokio::spawn(serve_member(
        listener,
        Arc::clone(&core),
        Listen::default(),
        std::future::pending(),
    ));
    (control, core)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fake_member_gets_the_ring_refused_and_only_challenges() {
    // The "victim": a plain UDP socket that counts what reaches it.
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let victim_addr = victim.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let counting = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 70_000];
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = victim.recv(&mut buf) {
                    got.push(buf[..n].to_vec());
                }
            }
            got
        })
    };

    let fake_listener = bind("test", "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let fake_control = fake_listener.local_addr().unwrap().to_string();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MemberServer::new(FakeMember { peer: victim_addr }))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(fake_listener)),
    );
    let (first, first_core) = real_member().await;
    let (third, _third_core) = real_member().await;

    // Member 0 sends to the fake's "peer endpoint": it must be challenged and refused.
    let coordinator = Arc::new(CoordinatorCore::new());
    let params = TourParams {
        msg_len: 1000,
        count: 100,
        window: 100,
        forward_immediately: true,
        member_timeout_ms: 1000,
        warmup: 0,
        rate: 0.0,
        whole_rate: 0,
        dscp: 0,
        max_datagram: 0,
        max_buffer_memory: 0,
        placement: 0,
    };
    let cluster = vec![first.clone(), fake_control, third];
    let err = coordinator
        .configure(
            &cluster,
            Some(params),
            10_000,
            RingAuth::Keyed,
            Takeover::Respect,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("member 0 ({first}) refused ChallengeNext")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "the next member's peer endpoint {victim_addr} did not answer the ring's challenge"
        )),
        "{err}"
    );
    // No tour can run on the refused ring, and member 0 will not be prepared for one.
    let refused = coordinator.run_tour(false).await.unwrap_err().to_string();
    assert!(
        refused.starts_with("the ring is not configured"),
        "{refused}"
    );
    // (Its first configuration: number 1.)
    match first_core.prepare(7, 1, false, 0, false, None).await {
        Err(MemberError::NextNotVerified { next_peer }) => assert_eq!(next_peer, victim_addr),
        other => panic!("member 0 prepared for a tour to an unverified peer: {other:?}"),
    }

    stop.store(true, Ordering::Relaxed);
    let got = counting.join().unwrap();
    assert!(
        !got.is_empty(),
        "member 0 challenged the fake's peer endpoint"
    );
    for datagram in &got {
        let header = Header::decode(datagram).unwrap();
        assert_eq!(
            (datagram.len(), header.kind, header.flags & FLAG_ANSWER),
            (CHALLENGE_LEN, Kind::Handshake, 0),
            "the fake's peer endpoint got something other than a challenge"
        );
    }
}

/// Forged tour datagrams (right magic, tour id, sequence and hop; no tag, or a wrong one)
/// sent at every member of a running three-member ring from another socket: the tour's
/// result is exact (nothing lost, nothing duplicated) and every member counts exactly the
/// forgeries it got as `bad_tag`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_datagrams_during_a_tour_are_counted_and_change_nothing() {
    use stillepost_control::coordinator::TourProgress;
    use stillepost_control::proto::Outcome;
    use stillepost_engine::wire::{write_message, write_tag};

    const FORGERIES: u64 = 40;
    let mut cluster = Vec::new();
    for _ in 0..3 {
        cluster.push(real_member().await.0);
    }
    let coordinator = Arc::new(CoordinatorCore::new());
    let params = TourParams {
        msg_len: 200,
        count: 300,
        window: 300,
        forward_immediately: true,
        member_timeout_ms: 2000,
        warmup: 0,
        rate: 1000.0,
        whole_rate: 0,
        dscp: 0,
        max_datagram: 0,
        max_buffer_memory: 0,
        placement: 0,
    };
    let ring = coordinator
        .configure(
            &cluster,
            Some(params),
            10_000,
            RingAuth::Keyed,
            Takeover::Respect,
        )
        .await
        .unwrap();
    let peers: Vec<SocketAddr> = ring
        .members
        .iter()
        .map(|m| m.peer_endpoint.parse().unwrap())
        .collect();
    let tour_id = coordinator.run_tour(false).await.unwrap();
    // The tour runs for 300 ms (300 messages at 1000/s); the forgeries arrive meanwhile.
    let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let wrong_key = stillepost_engine::auth::RingKey::from_bytes([1; 32]).datagram_key();
    for (index, peer) in peers.iter().enumerate() {
        for n in 0..FORGERIES {
            let mut bytes = vec![0u8; 200];
            let header = Header {
                kind: Kind::Data,
                flags: 0,
                tour_id,
                seq: n as u32,
                frag_index: 0,
                frag_count: 1,
                msg_len: 200,
                hop: ((index + 2) % 3) as u16,
                prev_send_ns: 1,
                origin_send_ns: 1,
            };
            write_message(&mut bytes, &header);
            if n % 2 == 1 {
                write_tag(&mut bytes, |covered| wrong_key.tag(covered));
            }
            forger.send_to(&bytes, peer).unwrap();
        }
    }
    let result = loop {
        if let TourProgress::Done(result) = coordinator
            .wait_tour(tour_id, Duration::from_millis(500))
            .await
            .unwrap()
        {
            break result;
        }
    };
    assert_eq!(result.outcome(), Outcome::Complete);
    assert_eq!(
        (result.messages_sent, result.messages_received, result.lost),
        (300, 300, 0)
    );
    for member in &result.members {
        let counters = member.member_counters();
        assert_eq!(counters.io.bad_tag, FORGERIES, "member {}", member.index);
        assert_eq!(
            (
                counters.tour.duplicates,
                counters.tour.malformed,
                counters.tour.stale
            ),
            (0, 0, 0),
            "member {}",
            member.index
        );
    }
}

/// Authentication can be turned off only for a ring on loopback: the coordinator refuses
/// `no_auth` when a member advertises another address (before any member is configured,
/// so nothing is sent anywhere), and a member refuses a configure without a ring key whose
/// neighbours are not on loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_off_only_on_loopback() {
    use stillepost_control::domain::MemberSetup;
    // Members that advertise addresses of the benchmarking range (198.18.0.0/15), as on a
    // cluster network; nothing is ever sent there.
    let mut cluster = Vec::new();
    let mut cores = Vec::new();
    for host in 1..=2u8 {
        let dataplane =
            DataPlane::spawn("127.0.0.1:0".parse().unwrap(), Faults::default()).unwrap();
        let listener = bind("test", "127.0.0.1:0".parse().unwrap()).await.unwrap();
        cluster.push(listener.local_addr().unwrap().to_string());
        let advertised = SocketAddr::from(([198, 18, 0, host], 7101));
        let core = Arc::new(MemberCore::new(dataplane, Some(advertised)));
        tokio::spawn(serve_member(
            listener,
            Arc::clone(&core),
            Listen::default(),
            std::future::pending(),
        ));
        cores.push(core);
    }
    let elsewhere: SocketAddr = "198.18.0.1:7101".parse().unwrap();
    let params = TourParams {
        msg_len: 64,
        count: 10,
        window: 1,
        forward_immediately: true,
        member_timeout_ms: 1000,
        warmup: 0,
        rate: 0.0,
        whole_rate: 0,
        dscp: 0,
        max_datagram: 0,
        max_buffer_memory: 0,
        placement: 0,
    };
    let coordinator = CoordinatorCore::new();
    let err = coordinator
        .configure(
            &cluster,
            Some(params),
            5000,
            RingAuth::Off,
            Takeover::Respect,
        )
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "--no-auth: member 0 ({}) has the peer endpoint {elsewhere}, which is no loopback address; authentication can be turned off only for a ring on one host's loopback",
            cluster[0]
        )
    );
    let keyless = MemberSetup {
        index: 0,
        ring_len: 2,
        next_peer: elsewhere.to_string(),
        prev_peer: "127.0.0.1:9".into(),
        params: Some(params),
        ring_key: None,
        ..MemberSetup::default()
    };
    let err = cores[1].configure(keyless).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "a configure without a ring key (--no-auth) is for rings on one host's loopback only, and the neighbour {elsewhere} is not; use a coordinator that sends a ring key"
        )
    );
}
