//! Test support shared by the control plane's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use stillepost_control::access::Listen;
use stillepost_control::auth::Token;
use stillepost_control::member::MemberCore;
use stillepost_control::proto::TourParams;
use stillepost_control::service::{bind, serve_member};
use stillepost_engine::dataplane::{DataPlane, Faults};
use tokio::task::JoinHandle;

/// A member server task.
pub type Server = JoinHandle<Result<(), tonic::transport::Error>>;

/// `n` members in this process, each with a real UDP data plane and its gRPC service on
/// 127.0.0.1 (requiring `token`, if any): their control endpoints and server tasks.
pub async fn start_members(n: usize, token: Option<&Token>) -> (Vec<String>, Vec<Server>) {
    let mut controls = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..n {
        let dataplane =
            DataPlane::spawn("127.0.0.1:0".parse().unwrap(), Faults::default()).unwrap();
        let listener = bind("test", "127.0.0.1:0".parse().unwrap()).await.unwrap();
        controls.push(listener.local_addr().unwrap().to_string());
        let core = Arc::new(MemberCore::new(dataplane, None));
        servers.push(tokio::spawn(serve_member(
            listener,
            core,
            Listen::token_only(token.cloned()),
            std::future::pending(),
        )));
    }
    (controls, servers)
}

/// A short tour of `count` 200-byte messages, 8 in flight, that gives up after 2 s.
pub fn small_tour(count: u32) -> TourParams {
    TourParams {
        msg_len: 200,
        count,
        window: 8,
        forward_immediately: true,
        member_timeout_ms: 2000,
        warmup: 0,
        rate: 0.0,
        whole_rate: 0,
        dscp: 0,
        max_datagram: 0,
        max_buffer_memory: 0,
        placement: 0,
    }
}
