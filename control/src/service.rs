//! Thin tonic services: each RPC hands its message to a core and maps the core's error to
//! a status. No tour logic lives here. With a token, an interceptor refuses every call that
//! does not carry it before any RPC runs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use stillepost_engine::dataplane::DataPlaneError;
use stillepost_engine::tour::TourShape;
use tokio::net::TcpListener;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

use crate::access::{Listen, ServerTls};
use crate::auth::{AUTHORIZATION, AuthError, Token};
use crate::coordinator::{CoordError, RingSet};
use crate::domain::{InfoDetail, RingAuth, Takeover};
use crate::member::{MemberCore, MemberError};
use crate::proto;
use crate::proto::coordinator_server::{Coordinator, CoordinatorServer};
use crate::proto::member_server::{Member, MemberServer};

/// Longest a client's long-poll may ask to wait.
const MAX_WAIT: Duration = Duration::from_secs(10);

// The one map from the cores' errors to gRPC status codes, for both services.

/// The status code of a coordinator error (one ring's error: that of what went wrong there).
fn coord_code(e: &CoordError) -> Code {
    match e {
        CoordError::InRing { error, .. } => coord_code(error),
        CoordError::InvalidArgument(_) => Code::InvalidArgument,
        CoordError::NotConfigured => Code::FailedPrecondition,
        CoordError::Busy(_) => Code::Aborted,
        CoordError::MemberUnreachable { .. }
        | CoordError::MemberSilent { .. }
        | CoordError::MemberTls { .. }
        | CoordError::NotAMember { .. } => Code::Unavailable,
        CoordError::MemberRefused { .. } => Code::FailedPrecondition,
        CoordError::MemberUnauthenticated { .. } => Code::FailedPrecondition,
        CoordError::ConfigureTimeout { .. } => Code::Unavailable,
        CoordError::UnknownTour(_) | CoordError::NoTourYet => Code::NotFound,
        CoordError::NotRunning(_) => Code::FailedPrecondition,
        CoordError::Storage(_) | CoordError::Internal(_) => Code::Internal,
    }
}

impl From<CoordError> for Status {
    fn from(e: CoordError) -> Status {
        Status::new(coord_code(&e), e.to_string())
    }
}

impl From<MemberError> for Status {
    fn from(e: MemberError) -> Status {
        let code = match &e {
            MemberError::InvalidArgument(_) => Code::InvalidArgument,
            MemberError::NoAdvertisableAddress { .. } => Code::FailedPrecondition,
            MemberError::DataPlane(DataPlaneError::Shape(_)) => Code::InvalidArgument,
            MemberError::DataPlane(DataPlaneError::Unresponsive(_)) => Code::Internal,
            MemberError::DataPlane(_) => Code::FailedPrecondition,
            MemberError::ClockProbe(_) => Code::FailedPrecondition,
            MemberError::Challenge(_) => Code::FailedPrecondition,
            MemberError::NextNotVerified { .. } => Code::FailedPrecondition,
            MemberError::Owned { .. } | MemberError::Reconfigured { .. } => {
                Code::FailedPrecondition
            }
            MemberError::Internal(_) => Code::Internal,
        };
        Status::new(code, e.to_string())
    }
}

/// A refused call, from the daemon (`role`) that refused it: says what the caller must do.
fn unauthenticated(role: Role, e: AuthError) -> Status {
    let text = match (role, e) {
        (Role::Coordinator, AuthError::Missing) => {
            "this coordinator needs a token: pass --token-file or set STILLEPOST_TOKEN"
        }
        (Role::Coordinator, AuthError::Wrong) => {
            "this coordinator refused the token: pass the coordinator's own token with --token-file or STILLEPOST_TOKEN"
        }
        (Role::Member, AuthError::Missing) => {
            "this member needs a token: start the coordinator with the ring's token (--token-file or STILLEPOST_TOKEN)"
        }
        (Role::Member, AuthError::Wrong) => {
            "this member refused the token: start the coordinator with the same token as its members (--token-file or STILLEPOST_TOKEN)"
        }
    };
    Status::unauthenticated(text)
}

/// Which daemon a service runs in, for the text of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Coordinator,
    Member,
}

/// Refuses every call that does not carry the daemon's token; lets every call through
/// when the daemon has none.
#[derive(Debug, Clone)]
pub struct RequireToken {
    token: Option<Token>,
    role: Role,
}

impl Interceptor for RequireToken {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.token else {
            return Ok(req);
        };
        let presented = req.metadata().get(AUTHORIZATION).map(|v| v.as_bytes());
        match token.check(presented) {
            Ok(()) => Ok(req),
            Err(e) => {
                tracing::debug!(peer = ?req.remote_addr(), "refused a call: {e}");
                Err(unauthenticated(self.role, e))
            }
        }
    }
}

/// The member's gRPC service.
#[derive(Debug, Clone)]
pub struct MemberService {
    core: Arc<MemberCore>,
}

impl MemberService {
    /// Serves `core`.
    pub fn new(core: Arc<MemberCore>) -> MemberService {
        MemberService { core }
    }
}

/// The local address a request arrived at: the member's address as the coordinator sees it.
fn seen_as<T>(req: &Request<T>) -> Option<IpAddr> {
    req.local_addr().map(|a| a.ip())
}

#[tonic::async_trait]
impl Member for MemberService {
    async fn info(
        &self,
        req: Request<proto::InfoRequest>,
    ) -> Result<Response<proto::InfoReply>, Status> {
        let detail = if req.get_ref().liveness {
            InfoDetail::Liveness
        } else {
            InfoDetail::Counters
        };
        Ok(Response::new(
            self.core.info(seen_as(&req), detail).await?.into(),
        ))
    }

    async fn configure(
        &self,
        req: Request<proto::MemberConfigureRequest>,
    ) -> Result<Response<proto::MemberConfigureReply>, Status> {
        let configured = self.core.configure(req.into_inner().into()).await?;
        Ok(Response::new(configured.into()))
    }

    async fn prepare(
        &self,
        req: Request<proto::PrepareRequest>,
    ) -> Result<Response<proto::PrepareReply>, Status> {
        let req = req.into_inner();
        let prev_clock = self
            .core
            .prepare(
                req.tour_id,
                req.generation,
                req.probe_prev_clock,
                req.clock_probes,
                req.record_stamps,
                req.shape.map(|s| TourShape {
                    count: s.count,
                    window: s.window,
                    warmup: s.warmup,
                }),
            )
            .await?;
        Ok(Response::new(proto::PrepareReply {
            prev_clock: prev_clock.map(Into::into),
        }))
    }

    async fn challenge_next(
        &self,
        _req: Request<proto::ChallengeNextRequest>,
    ) -> Result<Response<proto::Ack>, Status> {
        self.core.challenge_next().await?;
        Ok(Response::new(proto::Ack {}))
    }

    async fn start(&self, req: Request<proto::TourRef>) -> Result<Response<proto::Ack>, Status> {
        self.core.start(req.into_inner().tour_id).await?;
        Ok(Response::new(proto::Ack {}))
    }

    async fn wait(
        &self,
        req: Request<proto::MemberWaitRequest>,
    ) -> Result<Response<proto::MemberWaitReply>, Status> {
        let req = req.into_inner();
        let wait = Duration::from_millis(u64::from(req.wait_ms)).min(MAX_WAIT);
        let (done, sent, received) = self.core.wait(req.tour_id, wait).await?;
        Ok(Response::new(proto::MemberWaitReply {
            done,
            sent,
            received,
        }))
    }

    async fn end(
        &self,
        req: Request<proto::TourRef>,
    ) -> Result<Response<proto::MemberTourReport>, Status> {
        let seen = seen_as(&req);
        let report = self.core.end(req.into_inner().tour_id, seen).await?;
        Ok(Response::new(report.into()))
    }
}

/// The coordinator's gRPC service.
#[derive(Debug, Clone)]
pub struct CoordinatorService {
    rings: Arc<RingSet>,
}

impl CoordinatorService {
    /// Serves `rings`.
    pub fn new(rings: Arc<RingSet>) -> CoordinatorService {
        CoordinatorService { rings }
    }

    fn probe_reply(&self, targets: &[crate::echo::Rtts]) -> proto::ProbeReply {
        proto::ProbeReply {
            from: self.rings.first().probe_origin(),
            targets: targets.iter().map(crate::convert::rtts_to_proto).collect(),
        }
    }
}

#[tonic::async_trait]
impl Coordinator for CoordinatorService {
    async fn configure(
        &self,
        req: Request<proto::ConfigureRequest>,
    ) -> Result<Response<proto::ConfigureReply>, Status> {
        let req = req.into_inner();
        let ring = self
            .rings
            .configure(
                &req.cluster,
                req.params,
                req.configure_timeout_ms,
                (
                    if req.no_auth {
                        RingAuth::Off
                    } else {
                        RingAuth::Keyed
                    },
                    if req.force {
                        Takeover::Force
                    } else {
                        Takeover::Respect
                    },
                ),
                req.ring_size,
            )
            .await?;
        Ok(Response::new(ring.into()))
    }

    async fn run_tour(
        &self,
        req: Request<proto::RunTourRequest>,
    ) -> Result<Response<proto::RunTourReply>, Status> {
        let tours = self.rings.run_tour(req.into_inner().record_stamps).await?;
        Ok(Response::new(proto::RunTourReply {
            tour_id: tours.first().map_or(0, |(_, id)| *id),
            rings: if tours.len() > 1 {
                tours
                    .into_iter()
                    .map(|(ring, tour_id)| proto::RingTour { ring, tour_id })
                    .collect()
            } else {
                Vec::new()
            },
        }))
    }

    async fn wait_tour(
        &self,
        req: Request<proto::WaitTourRequest>,
    ) -> Result<Response<proto::WaitTourReply>, Status> {
        let req = req.into_inner();
        let wait = Duration::from_millis(u64::from(req.wait_ms)).min(MAX_WAIT);
        Ok(Response::new(
            self.rings.wait_tour(req.tour_id, wait).await?.into(),
        ))
    }

    async fn status(
        &self,
        _req: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusReply>, Status> {
        Ok(Response::new(self.rings.status().await.into()))
    }

    async fn get_result(
        &self,
        req: Request<proto::GetResultRequest>,
    ) -> Result<Response<proto::TourResult>, Status> {
        let req = req.into_inner();
        let id = (!req.latest).then_some(req.tour_id);
        Ok(Response::new(self.rings.result(id).await?))
    }

    async fn pin(
        &self,
        req: Request<proto::PinRequest>,
    ) -> Result<Response<proto::PinReply>, Status> {
        let req = req.into_inner();
        let id = (!req.latest).then_some(req.tour_id);
        let tour_id = self.rings.pin(id, req.pinned).await?;
        Ok(Response::new(proto::PinReply {
            tour_id,
            pinned: req.pinned,
        }))
    }

    async fn cancel_tour(
        &self,
        req: Request<proto::CancelTourRequest>,
    ) -> Result<Response<proto::CancelTourReply>, Status> {
        let id = req.into_inner().tour_id;
        let tour_id = self.rings.cancel((id != 0).then_some(id))?;
        Ok(Response::new(proto::CancelTourReply { tour_id }))
    }

    async fn echo_members(
        &self,
        req: Request<proto::ProbeRequest>,
    ) -> Result<Response<proto::ProbeReply>, Status> {
        let opts = probe_options(&req.into_inner())?;
        let targets = self.rings.echo_members(opts).await?;
        Ok(Response::new(self.probe_reply(&targets)))
    }

    async fn ping_systems(
        &self,
        req: Request<proto::ProbeRequest>,
    ) -> Result<Response<proto::ProbeReply>, Status> {
        let opts = probe_options(&req.into_inner())?;
        let targets = self.rings.ping_systems(opts).await?;
        Ok(Response::new(self.probe_reply(&targets)))
    }

    async fn list_tours(
        &self,
        _req: Request<proto::ListToursRequest>,
    ) -> Result<Response<proto::ListToursReply>, Status> {
        let tours = self.rings.tours().await?;
        Ok(Response::new(proto::ListToursReply { tours }))
    }

    async fn echo_key(
        &self,
        _req: Request<proto::EchoKeyRequest>,
    ) -> Result<Response<proto::EchoKeyReply>, Status> {
        let key = self.rings.echo_key()?;
        Ok(Response::new(proto::EchoKeyReply {
            key: key.map(|k| k.as_bytes().to_vec()).unwrap_or_default(),
        }))
    }
}

/// Binds a TCP listener for a gRPC server, naming the flag and address on failure.
pub async fn bind(flag: &str, addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = stillepost_engine::dataplane::bind_hint(addr, &e);
        std::io::Error::new(
            e.kind(),
            format!("{flag} {addr}: cannot listen there: {e}{hint}"),
        )
    })
}

/// Largest request a daemon decodes, bytes: its requests are small (a configure of the
/// largest ring is some 50 KB), so anything far larger is refused before it is held.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// How often a daemon pings an HTTP/2 connection, and how long it waits for the answer
/// before it closes the connection (a peer that vanished).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections are closed (gracefully: callers reconnect) after this long, so that none,
/// idle or not, holds a daemon's resources for ever.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(600);
const MAX_CONNECTION_AGE_GRACE: Duration = Duration::from_secs(60);
/// Calls in flight on one connection.
const CALLS_PER_CONNECTION: usize = 64;

/// A server builder with the daemons' connection limits, over TLS when `tls` is set.
fn server(tls: Option<&ServerTls>) -> Result<Server, tonic::transport::Error> {
    let builder = Server::builder()
        .tcp_keepalive(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .max_connection_age(MAX_CONNECTION_AGE)
        .max_connection_age_grace(MAX_CONNECTION_AGE_GRACE)
        .concurrency_limit_per_connection(CALLS_PER_CONNECTION);
    match tls {
        Some(tls) => builder.tls_config(tls.config()),
        None => Ok(builder),
    }
}

/// Serves the member service on `listener` until `shutdown` completes; only to calls that
/// carry `listen`'s token if it has one, over TLS if it has that.
pub async fn serve_member(
    listener: TcpListener,
    core: Arc<MemberCore>,
    listen: Listen,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let require = RequireToken {
        token: listen.token,
        role: Role::Member,
    };
    server(listen.tls.as_ref())?
        .add_service(InterceptedService::new(
            MemberServer::new(MemberService::new(core))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
            require,
        ))
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

/// Serves the coordinator service on `listener` until `shutdown` completes; only to calls
/// that carry `listen`'s token if it has one, over TLS if it has that. (The core holds the
/// credentials it uses with members.)
pub async fn serve_coordinator(
    listener: TcpListener,
    rings: Arc<RingSet>,
    listen: Listen,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let require = RequireToken {
        token: listen.token,
        role: Role::Coordinator,
    };
    server(listen.tls.as_ref())?
        .add_service(InterceptedService::new(
            CoordinatorServer::new(CoordinatorService::new(rings))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
            require,
        ))
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

/// The probes a request asks for, within bounds: a coordinator does not echo or ping
/// without end for a client.
fn probe_options(req: &proto::ProbeRequest) -> Result<crate::echo::ProbeOptions, Status> {
    if !(1..=1000).contains(&req.count) {
        return Err(Status::invalid_argument(format!(
            "count {} is out of range: 1 to 1000 probes per target",
            req.count
        )));
    }
    if !(1..=60_000).contains(&req.timeout_ms) || req.interval_ms > 60_000 {
        return Err(Status::invalid_argument(format!(
            "timeout {} ms or interval {} ms is out of range: a timeout of 1 to 60000 ms, an interval of at most 60000 ms",
            req.timeout_ms, req.interval_ms
        )));
    }
    Ok(crate::echo::ProbeOptions {
        count: req.count,
        interval: std::time::Duration::from_millis(req.interval_ms),
        timeout: std::time::Duration::from_millis(req.timeout_ms),
    })
}
