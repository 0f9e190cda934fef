//! gRPC plumbing shared by the coordinator and the client: deadlines on every call,
//! lazily connected channels that carry the token, and error text that keeps tonic's cause
//! chain.
#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use crate::access::Credentials;
use crate::auth::{AUTHORIZATION, Token};

/// Deadline for a short control call (info, configure, prepare, start, end).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline for establishing a TCP connection to a daemon.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// While a call is in flight, the caller pings the peer's HTTP/2 layer this often and
/// gives up on the connection when a ping goes unanswered for [`KEEPALIVE_ANSWER`]: a
/// stopped or hung peer (whose kernel still holds the connection open) is noticed in
/// seconds, not at the call's deadline.
pub const KEEPALIVE_PING: Duration = Duration::from_secs(1);
/// How long a keepalive ping may go unanswered.
pub const KEEPALIVE_ANSWER: Duration = Duration::from_secs(2);

/// A request carrying its deadline (sent as `grpc-timeout`, so the server gives up too).
pub fn request<T>(message: T, deadline: Duration) -> Request<T> {
    let mut req = Request::new(message);
    req.set_timeout(deadline);
    req
}

/// Runs a call with a client-side deadline as well, so a peer that accepts the connection
/// but never answers cannot hang the caller.
pub async fn call<T>(
    deadline: Duration,
    fut: impl Future<Output = Result<Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(deadline, fut).await {
        Ok(result) => result.map(Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {} ms",
            deadline.as_millis()
        ))),
    }
}

/// A channel whose every call carries the token, if there is one.
pub type TokenChannel = InterceptedService<Channel, AttachToken>;

/// Puts `authorization: Bearer <token>` on every outgoing call (nothing without a token).
/// The value is marked sensitive, so the HTTP layer's own `Debug` hides it too.
#[derive(Clone)]
pub struct AttachToken(Option<AsciiMetadataValue>);

impl std::fmt::Debug for AttachToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "AttachToken(***)"
        } else {
            "AttachToken(none)"
        })
    }
}

impl AttachToken {
    /// Attaches `token` to every call.
    pub fn new(token: Option<&Token>) -> AttachToken {
        // A token is visible ASCII by construction (`Token::parse`), so it always makes a
        // metadata value; should that ever fail, the call goes without and is refused.
        AttachToken(token.and_then(|t| {
            let mut value = AsciiMetadataValue::try_from(t.bearer()).ok()?;
            value.set_sensitive(true);
            Some(value)
        }))
    }
}

impl Interceptor for AttachToken {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            req.metadata_mut().insert(AUTHORIZATION, value.clone());
        }
        Ok(req)
    }
}

/// A channel to `addr` (host:port or ip:port) that connects on first use, over TLS when
/// the credentials say so, and carries their token on every call.
pub fn lazy_channel(
    addr: &str,
    connect_timeout: Duration,
    credentials: &Credentials,
) -> Result<TokenChannel, String> {
    let scheme = if credentials.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| format!("'{addr}' is not a valid endpoint: {e}"))?;
    if let Some(tls) = &credentials.tls {
        endpoint = endpoint
            .tls_config(tls.config())
            .map_err(|e| format!("'{addr}': cannot use TLS: {}", error_chain(&e)))?;
    }
    let channel = endpoint
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE_PING)
        .keep_alive_timeout(KEEPALIVE_ANSWER)
        .keep_alive_while_idle(false)
        .connect_lazy();
    Ok(InterceptedService::new(
        channel,
        AttachToken::new(credentials.token.as_ref()),
    ))
}

/// An error followed by its causes, each once ("transport error: invalid peer
/// certificate: UnknownIssuer").
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    with_causes(error.to_string(), error.source())
}

/// `text` followed by `source` and its causes, each that `text` does not hold yet.
fn with_causes(mut text: String, mut source: Option<&(dyn std::error::Error + 'static)>) -> String {
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The status message followed by its causes ("tcp connect error: Connection refused").
pub fn describe(status: &Status) -> String {
    let mut text = with_causes(
        status.message().to_string(),
        std::error::Error::source(status),
    );
    if text.is_empty() {
        text = format!("{:?}", status.code());
    }
    text
}

/// What a failed connection most likely tells about TLS, from its error text (rustls and
/// hyper give no codes for these; with TLS 1.3 a refused client certificate shows only as
/// a closed connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsTrouble {
    /// The caller spoke plain HTTP/2 and the peer answered with something else: it
    /// most likely serves TLS.
    PeerServesTls,
    /// The caller spoke TLS and the peer answered in plain text.
    PeerServesPlain,
    /// The peer's certificate did not verify against the caller's CA (or does not name
    /// the address dialed).
    PeerCertificate,
    /// The peer closed the connection after the TLS handshake: most likely it refused the
    /// caller's client certificate, or wanted one.
    ClosedAfterHandshake,
}

/// The TLS trouble a failed call shows, if any; `tls` says whether the caller spoke TLS.
pub fn tls_trouble(status: &Status, tls: bool) -> Option<TlsTrouble> {
    std::error::Error::source(status)?;
    let text = describe(status);
    let closed = [
        "connection closed",
        "broken pipe",
        "frame with invalid size",
    ]
    .iter()
    .any(|t| text.contains(t));
    if !tls {
        return closed.then_some(TlsTrouble::PeerServesTls);
    }
    if text.contains("InvalidContentType") {
        Some(TlsTrouble::PeerServesPlain)
    } else if text.contains("invalid peer certificate") {
        Some(TlsTrouble::PeerCertificate)
    } else if closed || text.contains("alert") {
        Some(TlsTrouble::ClosedAfterHandshake)
    } else {
        None
    }
}

/// Whether a status means the peer could not be reached at all (rather than refused).
pub fn is_unreachable(status: &Status) -> bool {
    status.code() == tonic::Code::Unavailable || is_no_answer(status)
}

/// Whether a call ended because its deadline passed without an answer: ours ([`call`]:
/// DeadlineExceeded) or tonic's own, from the request's timeout (Cancelled, "Timeout
/// expired"), or a connection closed because the peer left HTTP/2 pings unanswered
/// ([`KEEPALIVE_PING`]).
pub fn is_no_answer(status: &Status) -> bool {
    status.code() == tonic::Code::DeadlineExceeded
        || (status.code() == tonic::Code::Cancelled && status.message() == "Timeout expired")
        || (std::error::Error::source(status).is_some()
            && describe(status).contains("keep-alive timed out"))
}

/// Why a call that [`is_no_answer`] got no answer, in words: the peer left the
/// connection's keepalive pings unanswered, or the call's deadline passed.
pub fn no_answer_cause(status: &Status) -> &'static str {
    if std::error::Error::source(status).is_some()
        && describe(status).contains("keep-alive timed out")
    {
        "it left the connection's keepalive pings unanswered for 2 s"
    } else {
        "the call's deadline passed"
    }
}

/// Logs to stderr, filtered by `STILLEPOST_LOG` (tracing's env-filter syntax), else `default`;
/// in colour only on a terminal and without `NO_COLOR` (journald and log files get plain
/// lines).
pub fn init_logging(default: &str) {
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STILLEPOST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .init();
}

/// Whether to log in colour: on a terminal, unless `NO_COLOR` is set to anything but the
/// empty string (no-color.org).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The control plane's runtime: two workers are plenty for a handful of RPCs, and leave
/// the other cores to the data plane.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}
