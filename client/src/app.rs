//! The client's commands, over the coordinator's gRPC API.

use std::fmt;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use stillepost_control::access::Credentials;
use stillepost_control::proto::coordinator_client::CoordinatorClient;
use stillepost_control::proto::{
    CancelTourRequest, ConfigureReply, ConfigureRequest, EchoKeyRequest, GetResultRequest,
    ListToursRequest, Outcome, PinRequest, Placement, ProbeRequest, RunTourReply, RunTourRequest,
    StatusReply, StatusRequest, TourParams, TourResult, TourSummary, WaitTourRequest,
};
use stillepost_control::ring::{
    ClusterSource, MAX_CONFIGURE_TIMEOUT_MS, cluster_source, default_window, validate_params,
};
use stillepost_control::rpc::{
    CALL_TIMEOUT, CONNECT_TIMEOUT, TlsTrouble, TokenChannel, call, describe, is_no_answer,
    lazy_channel, request, tls_trouble,
};
use stillepost_engine::auth::DatagramKey;

use crate::cli::{
    ConfigureArgs, LossArg, ProbeArgs, ProbeKind, RecordArgs, RunArgs, TourArgs, WindowArg,
};
use crate::report;

/// An error with the exit status it stands for (see `stillepost --help`).
#[derive(Debug)]
pub struct Failure {
    /// Process exit status.
    pub code: u8,
    /// What went wrong and what to do.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Exit status for invalid input.
pub const EXIT_INVALID: u8 = 2;
/// Exit status when the coordinator refused the token.
pub const EXIT_UNAUTHENTICATED: u8 = 5;
/// Exit status of a tour that lost messages or timed out (without `--accept-loss`).
pub const EXIT_LOSSY: u8 = 6;

/// What an exit status stands for, as `--json` errors name it (`error.kind`).
pub fn error_kind(exit_status: u8) -> &'static str {
    match exit_status {
        EXIT_INVALID => "invalid_input",
        3 => "busy",
        4 => "unreachable",
        EXIT_UNAUTHENTICATED => "unauthenticated",
        EXIT_LOSSY => "lossy",
        130 => "interrupted",
        _ => "failed",
    }
}

pub fn invalid(message: impl Into<String>) -> anyhow::Error {
    Failure {
        code: EXIT_INVALID,
        message: message.into(),
    }
    .into()
}

/// Turns a status from the coordinator into a failure with the right exit status; a
/// transport error means the coordinator itself could not be reached.
/// `tls` says whether the client spoke TLS.
fn from_status(coordinator: &str, tls: bool, status: tonic::Status) -> anyhow::Error {
    use tonic::Code;
    if let Some(trouble) = tls_trouble(&status, tls) {
        let hint = match trouble {
            TlsTrouble::PeerServesTls => {
                "if it serves TLS (its start line says so), pass --tls-ca <the CA that signed its certificate>"
            }
            TlsTrouble::PeerServesPlain => {
                "it does not serve TLS: drop --tls-ca, or start it with --tls-cert and --tls-key"
            }
            TlsTrouble::PeerCertificate => {
                "its certificate is not signed by the CA in --tls-ca, or does not name the address in --coordinator"
            }
            TlsTrouble::ClosedAfterHandshake => "it closed the connection: see its log",
        };
        return Failure {
            code: 4,
            message: format!(
                "cannot talk to the coordinator at {coordinator}: {}; {hint}",
                describe(&status)
            ),
        }
        .into();
    }
    let transport = std::error::Error::source(&status).is_some();
    let (code, message) = match status.code() {
        _ if is_no_answer(&status) => (
            4,
            format!(
                "the coordinator at {coordinator} did not answer in time: {}; is it stopped (SIGSTOP, a debugger) or its host overloaded?",
                describe(&status)
            ),
        ),
        Code::Unavailable | Code::DeadlineExceeded if transport || status.message().is_empty() => (
            4,
            format!(
                "cannot reach the coordinator at {coordinator}: {}; is `stillepostd coordinator` running there? (set it with --coordinator or STILLEPOST_COORDINATOR)",
                describe(&status)
            ),
        ),
        Code::Unimplemented => (
            EXIT_INVALID,
            format!(
                "{coordinator} answers gRPC but is not a coordinator (it has no Coordinator service: a member's --coord-bind port?): point --coordinator (or STILLEPOST_COORDINATOR) at `stillepostd coordinator`'s --client-bind address"
            ),
        ),
        Code::InvalidArgument => (EXIT_INVALID, describe(&status)),
        Code::Aborted => (3, describe(&status)),
        Code::Unauthenticated => (EXIT_UNAUTHENTICATED, describe(&status)),
        Code::Unavailable => (4, describe(&status)),
        _ => (1, describe(&status)),
    };
    Failure { code, message }.into()
}

/// A failed long-poll of a tour that the coordinator started: a coordinator that stopped
/// answering or went away mid-tour is said to be so (the connection worked a moment ago,
/// so a TLS hint would mislead); anything else as [`from_status`].
fn lost_coordinator(
    coordinator: &str,
    tls: bool,
    tour_id: u64,
    status: tonic::Status,
) -> anyhow::Error {
    let message = if is_no_answer(&status) {
        format!(
            "the coordinator at {coordinator} stopped answering while tour {tour_id:016x} ran: {}; is it stopped (SIGSTOP, a debugger) or its host overloaded? If it resumes, it finishes the tour: `stillepost report {tour_id:016x}`",
            describe(&status)
        )
    } else if std::error::Error::source(&status).is_some() {
        // A transport failure (refused, reset, a broken pipe), not an answer.
        format!(
            "the coordinator at {coordinator} went away while tour {tour_id:016x} ran: {}; the tour's result went with it. Started again with the same --data-dir, it takes up its ring: run the tour again",
            describe(&status)
        )
    } else {
        return from_status(coordinator, tls, status);
    };
    Failure { code: 4, message }.into()
}

/// Largest reply the client takes from the coordinator, bytes.
const MAX_RESULT_BYTES: usize = 256 << 20;

/// A tour as the user names it: 16 hex digits, or `latest` (`(0, true)`).
/// A tour as the user named it: `latest`, or its id (16 hex digits) or any unique prefix
/// of it. `Ok((0, true))` for `latest`; a full id as it is; a prefix matched against `ids`
/// (the tours the coordinator knows), which must hold exactly one id starting with it.
fn tour_ref(tour: &str, ids: impl FnOnce() -> Result<Vec<u64>>) -> Result<(u64, bool)> {
    if tour == "latest" {
        return Ok((0, true));
    }
    let not_an_id = || {
        invalid(format!(
            "'{tour}' is not a tour id (16 hex digits as `stillepost run` prints, or a unique prefix of one) or `latest`"
        ))
    };
    if tour.is_empty() || tour.len() > 16 || !tour.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_an_id());
    }
    if tour.len() == 16 {
        return u64::from_str_radix(tour, 16)
            .map(|id| (id, false))
            .map_err(|_| not_an_id());
    }
    let prefix = tour.to_ascii_lowercase();
    let mut matches: Vec<u64> = ids()?
        .into_iter()
        .filter(|id| report::tour_id(*id).starts_with(&prefix))
        .collect();
    matches.sort_unstable();
    matches.dedup();
    match matches.as_slice() {
        [id] => Ok((*id, false)),
        [] => Err(Failure {
            code: 1,
            message: format!(
                "no tour id starts with '{tour}': `stillepost tours` lists the tours this coordinator holds"
            ),
        }
        .into()),
        many => Err(invalid(format!(
            "'{tour}' is the start of {} tour ids ({}{}): give more digits",
            many.len(),
            many.iter()
                .take(5)
                .map(|id| report::tour_id(*id))
                .collect::<Vec<_>>()
                .join(", "),
            if many.len() > 5 { ", ..." } else { "" }
        ))),
    }
}

/// `pin`: keeps a stored result whatever the coordinator's retention, or lets it go again.
pub async fn pin(coord: &Coordinator, args: &crate::cli::PinArgs, json_mode: bool) -> Result<()> {
    let tour_id = coord.pin(&args.tour, !args.unpin).await?;
    let pinned = !args.unpin;
    emit(
        json_mode,
        || Ok(json!({ "tour_id": report::tour_id(tour_id), "pinned": pinned })),
        || {
            Ok(if pinned {
                format!(
                    "tour {}: pinned; the coordinator keeps it whatever --keep-tours and --keep-days say\n",
                    report::tour_id(tour_id)
                )
            } else {
                format!(
                    "tour {}: unpinned; it goes when --keep-tours or --keep-days say so\n",
                    report::tour_id(tour_id)
                )
            })
        },
    )?;
    Ok(())
}

/// A connection to the coordinator.
pub struct Coordinator {
    endpoint: String,
    /// Whether it is reached over TLS.
    tls: bool,
    client: CoordinatorClient<TokenChannel>,
}

impl Coordinator {
    /// A connection that brings `credentials` to every call.
    pub fn connect(endpoint: &str, credentials: &Credentials) -> Result<Coordinator> {
        let channel = lazy_channel(endpoint, CONNECT_TIMEOUT, credentials)
            .map_err(|e| invalid(format!("--coordinator {e}")))?;
        Ok(Coordinator {
            endpoint: endpoint.to_string(),
            tls: credentials.tls.is_some(),
            // A result carries a histogram per member and hop: a ring of the largest size
            // needs far more than tonic's default 4 MiB.
            client: CoordinatorClient::new(channel).max_decoding_message_size(MAX_RESULT_BYTES),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub async fn configure(&self, req: ConfigureRequest) -> Result<ConfigureReply> {
        let deadline = Duration::from_millis(req.configure_timeout_ms) + CALL_TIMEOUT * 2;
        call(
            deadline,
            self.client.clone().configure(request(req, deadline)),
        )
        .await
        .map_err(|s| from_status(&self.endpoint, self.tls, s))
    }

    /// The key echo requests to the ring's members must carry (`None`: a ring without a
    /// key).
    pub async fn echo_key(&self) -> Result<Option<DatagramKey>> {
        let reply = call(
            CALL_TIMEOUT,
            self.client
                .clone()
                .echo_key(request(EchoKeyRequest {}, CALL_TIMEOUT)),
        )
        .await
        .map_err(|s| from_status(&self.endpoint, self.tls, s))?;
        if reply.key.is_empty() {
            return Ok(None);
        }
        DatagramKey::from_slice(&reply.key).map(Some).ok_or_else(|| {
            Failure {
                code: 1,
                message: format!(
                    "the coordinator at {} sent an echo key of {} bytes, not 16: is it of another version?",
                    self.endpoint,
                    reply.key.len()
                ),
            }
            .into()
        })
    }

    pub async fn result(&self, tour: &str) -> Result<TourResult> {
        let (tour_id, latest) = self.resolve(tour, false).await?;
        let req = GetResultRequest { tour_id, latest };
        call(
            CALL_TIMEOUT,
            self.client.clone().get_result(request(req, CALL_TIMEOUT)),
        )
        .await
        .map_err(|s| from_status(&self.endpoint, self.tls, s))
    }

    /// Pins (or unpins) a stored result; returns the tour's id.
    pub async fn pin(&self, tour: &str, pinned: bool) -> Result<u64> {
        let (tour_id, latest) = self.resolve(tour, false).await?;
        let req = PinRequest {
            tour_id,
            latest,
            pinned,
        };
        call(
            CALL_TIMEOUT,
            self.client.clone().pin(request(req, CALL_TIMEOUT)),
        )
        .await
        .map(|reply| reply.tour_id)
        .map_err(|s| from_status(&self.endpoint, self.tls, s))
    }

    /// The tour `tour` names (see [`tour_ref`]): a prefix is matched against the finished
    /// tours the coordinator holds and, with `running`, the tour running now.
    async fn resolve(&self, tour: &str, running: bool) -> Result<(u64, bool)> {
        let known = if tour.len() < 16 && tour != "latest" {
            let mut ids: Vec<u64> = self.tours().await?.iter().map(|t| t.tour_id).collect();
            if running {
                ids.extend(Some(self.status().await?.running_tour).filter(|&id| id != 0));
            }
            Some(ids)
        } else {
            None
        };
        tour_ref(tour, || Ok(known.unwrap_or_default()))
    }

    /// Echoes or pings sent by the coordinator: where from, and each target's round trips.
    pub async fn probe(
        &self,
        kind: ProbeKind,
        opts: &stillepost_control::echo::ProbeOptions,
    ) -> Result<(String, Vec<stillepost_control::echo::Rtts>)> {
        let req = ProbeRequest {
            count: opts.count,
            interval_ms: opts.interval.as_millis() as u64,
            timeout_ms: opts.timeout.as_millis() as u64,
        };
        // Every round of probes waits at most the timeout for all its answers.
        let deadline = CALL_TIMEOUT + (opts.interval + opts.timeout).saturating_mul(opts.count);
        let mut client = self.client.clone();
        let reply = match kind {
            ProbeKind::Echo => call(deadline, client.echo_members(request(req, deadline))).await,
            ProbeKind::Ping => call(deadline, client.ping_systems(request(req, deadline))).await,
        }
        .map_err(|s| from_status(&self.endpoint, self.tls, s))?;
        let targets = reply
            .targets
            .iter()
            .map(stillepost_control::convert::rtts_from_proto)
            .collect();
        Ok((reply.from, targets))
    }

    /// The finished tours the coordinator holds, oldest first.
    pub async fn tours(&self) -> Result<Vec<TourSummary>> {
        call(
            CALL_TIMEOUT,
            self.client
                .clone()
                .list_tours(request(ListToursRequest {}, CALL_TIMEOUT)),
        )
        .await
        .map(|reply| reply.tours)
        .map_err(|s| from_status(&self.endpoint, self.tls, s))
    }

    pub async fn status(&self) -> Result<StatusReply> {
        // The coordinator asks every member in parallel, each with CALL_TIMEOUT.
        let deadline = CALL_TIMEOUT * 2;
        call(
            deadline,
            self.client
                .clone()
                .status(request(StatusRequest {}, deadline)),
        )
        .await
        .map_err(|s| from_status(&self.endpoint, self.tls, s))
    }

    /// Runs one tour and waits for its result (long-polling, each call with a deadline).
    /// With `progress`, a tour still running after a second shows a progress bar on stderr
    /// (when stderr is a terminal).
    pub async fn run_tour(&self, progress: bool, record_stamps: bool) -> Result<TourResult> {
        let tour_id = self.start_tour(record_stamps).await?.tour_id;
        Ok(self.wait_for(tour_id, progress, false).await?.0)
    }

    /// Starts a tour (with several rings, one on each): its id, and every ring's.
    pub async fn start_tour(&self, record_stamps: bool) -> Result<RunTourReply> {
        // Preparing members and starting the origin take up to two member calls.
        let deadline = CALL_TIMEOUT * 3;
        call(
            deadline,
            self.client
                .clone()
                .run_tour(request(RunTourRequest { record_stamps }, deadline)),
        )
        .await
        .map_err(|s| from_status(&self.endpoint, self.tls, s))
    }

    /// Ends tour `tour_id` (`None`: the running one) early; its id.
    pub async fn cancel(&self, tour_id: Option<u64>) -> Result<u64> {
        let req = CancelTourRequest {
            tour_id: tour_id.unwrap_or(0),
        };
        Ok(call(
            CALL_TIMEOUT,
            self.client.clone().cancel_tour(request(req, CALL_TIMEOUT)),
        )
        .await
        .map_err(|s| from_status(&self.endpoint, self.tls, s))?
        .tour_id)
    }

    /// Waits for tour `tour_id` to end and returns its result (long-polling, each call
    /// with a deadline), with a progress bar as [`Coordinator::run_tour`] says. With
    /// `cancel_on_signal`, the first SIGINT or SIGTERM cancels the tour (the result then
    /// follows, marked cancelled, and the flag returned is true) and a second one leaves
    /// at once (exit 130).
    pub async fn wait_for(
        &self,
        tour_id: u64,
        progress: bool,
        cancel_on_signal: bool,
    ) -> Result<(TourResult, bool)> {
        let mut signals = if cancel_on_signal {
            Some(Interrupts::new()?)
        } else {
            None
        };
        let mut interrupted = false;
        let started = std::time::Instant::now();
        let show_bar = progress && std::io::stderr().is_terminal();
        let wait = Duration::from_millis(if show_bar { 250 } else { 1000 });
        let mut bar: Option<ProgressBar> = None;
        loop {
            let deadline = wait + CALL_TIMEOUT;
            let mut client = self.client.clone();
            let poll = call(
                deadline,
                client.wait_tour(request(
                    WaitTourRequest {
                        tour_id,
                        wait_ms: wait.as_millis() as u32,
                    },
                    deadline,
                )),
            );
            let polled = match &mut signals {
                Some(signals) => tokio::select! {
                    polled = poll => polled,
                    () = signals.next() => {
                        if interrupted {
                            return Err(Failure {
                                code: 130,
                                message: format!(
                                    "left tour {tour_id:016x} without waiting for its result: `stillepost wait {tour_id:016x}` or `stillepost report {tour_id:016x}` shows it"
                                ),
                            }
                            .into());
                        }
                        interrupted = true;
                        let note = format!(
                            "cancelling tour {tour_id:016x} (Ctrl-C again to leave without waiting)\n"
                        );
                        match &bar {
                            Some(bar) => bar.suspend(|| crate::out::eprint(&note)),
                            None => crate::out::eprint(&note),
                        }
                        // A tour that ended meanwhile cannot be cancelled: its result
                        // comes with the next poll.
                        let _ = self.cancel(Some(tour_id)).await;
                        continue;
                    }
                },
                None => poll.await,
            };
            let reply =
                polled.map_err(|s| lost_coordinator(&self.endpoint, self.tls, tour_id, s))?;
            if reply.done {
                if let Some(bar) = bar.take() {
                    bar.finish_and_clear();
                }
                let result = reply.result.ok_or_else(|| {
                    anyhow::anyhow!(
                        "the coordinator reported tour {tour_id:016x} done without a result"
                    )
                })?;
                return Ok((result, interrupted));
            }
            if show_bar && bar.is_none() && started.elapsed() >= Duration::from_secs(1) {
                bar = Some(progress_bar(tour_id, reply.count));
            }
            if let Some(bar) = &bar {
                bar.set_position(reply.received);
                bar.set_message(format!("sent {}", reply.sent));
            }
        }
    }
}

/// SIGINT and SIGTERM, as a stream of "one arrived".
struct Interrupts {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new() -> Result<Interrupts> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Interrupts {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Validates tour flags into protocol parameters; errors name the flag.
pub fn tour_params(args: &TourArgs) -> Result<TourParams> {
    let window = match args.window {
        Some(WindowArg::Messages(0)) => {
            return Err(invalid(
                "--window 0 is out of range: at least 1 message must be in flight (--window all sends every message at once)",
            ));
        }
        Some(WindowArg::Messages(n)) => n,
        Some(WindowArg::All) => 0,
        None => default_window(args.msg_len, args.count, args.forward_immediately),
    };
    let params = TourParams {
        msg_len: args.msg_len,
        count: args.count,
        window,
        forward_immediately: args.forward_immediately,
        member_timeout_ms: args.member_timeout,
        warmup: args.warmup,
        rate: args.rate.unwrap_or(0.0),
        max_datagram: args.max_datagram.unwrap_or(0),
        max_buffer_memory: args.max_buffer_memory,
        whole_rate: 0,
        dscp: args.dscp,
        placement: Placement::from(args.placement).into(),
    };
    validate_params(&params).map_err(|e| invalid(format!("--{e}")))?;
    Ok(params)
}

/// Validates `configure` flags into a request.
pub fn configure_request(args: &ConfigureArgs) -> Result<ConfigureRequest> {
    // A source (file:) is read by the coordinator, on its host.
    let cluster =
        match cluster_source(&args.cluster_entries()).map_err(|e| invalid(e.to_string()))? {
            ClusterSource::List(list) => list,
            source => vec![source.entry()],
        };
    if args.timeout == 0 || args.timeout.saturating_mul(1000) > MAX_CONFIGURE_TIMEOUT_MS {
        return Err(invalid(format!(
            "--timeout must be from 1 to {} s",
            MAX_CONFIGURE_TIMEOUT_MS / 1000
        )));
    }
    Ok(ConfigureRequest {
        cluster,
        params: Some(tour_params(&args.tour)?),
        configure_timeout_ms: args.timeout.saturating_mul(1000),
        // Rings configured with `configure` are always authenticated.
        no_auth: false,
        force: args.force,
        ring_size: args.ring_size.unwrap_or(0),
    })
}

/// Prints one JSON document or text; nothing when the one asked for cannot be made.
pub fn emit(
    json_mode: bool,
    value: impl FnOnce() -> Result<Value>,
    text: impl FnOnce() -> Result<String>,
) -> Result<()> {
    if json_mode {
        crate::out::document(value()?)
    } else {
        crate::out::print(&text()?)
    }
}

pub async fn configure(coord: &Coordinator, args: &ConfigureArgs, json_mode: bool) -> Result<()> {
    let req = configure_request(args)?;
    let reply = coord.configure(req).await?;
    emit(
        json_mode,
        || Ok(report::configure_json(&reply)),
        || Ok(report::configure_text(&reply)),
    )?;
    Ok(())
}

/// A bar of messages back at the origin out of the tour's count.
fn progress_bar(tour_id: u64, count: u64) -> ProgressBar {
    let bar = ProgressBar::new(count);
    let style = ProgressStyle::with_template(
        "tour {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} back at the origin, {per_sec}, ETA {eta}, {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(format!("{tour_id:016x}"));
    bar
}

pub async fn run(coord: &Coordinator, args: &RunArgs, json_mode: bool) -> Result<()> {
    let started = coord.start_tour(args.record.records()).await?;
    if started.rings.len() > 1 {
        return print_ring_tours(coord, &started.rings, args.loss, &args.record, json_mode).await;
    }
    print_tour(coord, started.tour_id, args.loss, &args.record, json_mode).await
}

/// Waits for the tours of several rings, started together, and prints each ring's
/// result: text one after the other, JSON as `{"rings": [...]}`. The first Ctrl-C (or
/// SIGTERM) cancels every ring's tour, whose results then follow; a second one leaves at
/// once. `--raw` writes each ring's timestamps beside the file it names,
/// `<stem>.ring<N>.<ext>`. The exit status is the worst of the rings' (a failed tour over
/// a lossy one), or 130 when the tours were cancelled.
async fn print_ring_tours(
    coord: &Coordinator,
    tours: &[stillepost_control::proto::RingTour],
    loss: LossArg,
    record: &RecordArgs,
    json_mode: bool,
) -> Result<()> {
    let mut signals = Interrupts::new()?;
    let waits = futures::future::join_all(
        tours
            .iter()
            .map(|tour| coord.wait_for(tour.tour_id, false, false)),
    );
    tokio::pin!(waits);
    let mut interrupted = false;
    let waited = loop {
        tokio::select! {
            done = &mut waits => break done,
            () = signals.next() => {
                if interrupted {
                    return Err(Failure {
                        code: 130,
                        message: format!(
                            "left the tours of {} rings without waiting for their results: `stillepost tours` lists them",
                            tours.len()
                        ),
                    }
                    .into());
                }
                interrupted = true;
                crate::out::eprint(&format!(
                    "cancelling the tours of {} rings (Ctrl-C again to leave without waiting)\n",
                    tours.len()
                ));
                let _ = coord.cancel(None).await;
            }
        }
    };
    let results = waited
        .into_iter()
        .map(|w| w.map(|(result, _)| result))
        .collect::<Result<Vec<_>>>()?;
    emit(
        json_mode,
        || {
            let rings = results
                .iter()
                .map(|r| result_json(r, record))
                .collect::<Result<Vec<_>>>()?;
            Ok(serde_json::json!({ "rings": rings }))
        },
        || {
            let texts = results
                .iter()
                .map(|r| result_text(r, record))
                .collect::<Result<Vec<_>>>()?;
            Ok(texts.join("\n"))
        },
    )?;
    if let Some(path) = &record.raw {
        for result in &results {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("stamps");
            let name = match path.extension().and_then(|e| e.to_str()) {
                Some(ext) => format!("{stem}.ring{}.{ext}", result.ring),
                None => format!("{stem}.ring{}", result.ring),
            };
            let one = RecordArgs {
                raw: Some(path.with_file_name(name)),
                ..record.clone()
            };
            write_raw(result, &one)?;
        }
    }
    if interrupted && results.iter().any(|r| r.outcome() == Outcome::Cancelled) {
        return Err(Failure {
            code: 130,
            message: format!("the tours of {} rings cancelled", results.len()),
        }
        .into());
    }
    // The worst of the rings: a failed tour (1) over a lossy one.
    let mut failures: Vec<anyhow::Error> = results
        .iter()
        .filter_map(|r| tour_failure(r, loss).err())
        .collect();
    let failed = failures
        .iter()
        .position(|e| e.downcast_ref::<Failure>().is_some_and(|f| f.code == 1));
    match failed {
        Some(i) => Err(failures.swap_remove(i)),
        None => failures.into_iter().next().map_or(Ok(()), Err),
    }
}

/// Waits for tour `tour_id` (cancelling it on Ctrl-C) and prints its result.
async fn print_tour(
    coord: &Coordinator,
    tour_id: u64,
    loss: LossArg,
    record: &RecordArgs,
    json_mode: bool,
) -> Result<()> {
    let (result, interrupted) = coord.wait_for(tour_id, !json_mode, true).await?;
    print_result(&result, record, json_mode)?;
    if interrupted && result.outcome() == Outcome::Cancelled {
        return Err(Failure {
            code: 130,
            message: format!("tour {} cancelled", report::tour_id(tour_id)),
        }
        .into());
    }
    tour_failure(&result, loss)
}

/// Prints a tour's result (with `--interval`, its latency per period), and writes its
/// messages' timestamps where `--raw` says.
pub fn print_result(result: &TourResult, record: &RecordArgs, json_mode: bool) -> Result<()> {
    emit(
        json_mode,
        || result_json(result, record),
        || result_text(result, record),
    )?;
    write_raw(result, record)
}

/// A tour's result as JSON, with `intervals` when `--interval` asks for them.
pub fn result_json(result: &TourResult, record: &RecordArgs) -> Result<Value> {
    let mut doc = report::tour_json(result)?;
    if let Some(interval) = record.interval {
        doc["intervals"] = report::periods_json(interval, &crate::raw::periods(result, interval)?);
    }
    Ok(doc)
}

/// A tour's result as text, with its latency per period when `--interval` asks for it.
pub fn result_text(result: &TourResult, record: &RecordArgs) -> Result<String> {
    let mut text = report::tour_text(result)?;
    if let Some(interval) = record.interval {
        text.push_str(&report::periods_text(
            interval,
            &crate::raw::periods(result, interval)?,
        ));
    }
    Ok(text)
}

/// Writes the tour's messages' timestamps where `--raw` says (CSV, or JSON lines for a
/// `.jsonl` file).
pub fn write_raw(result: &TourResult, record: &RecordArgs) -> Result<()> {
    if let Some(path) = &record.raw {
        let body = if path.extension().is_some_and(|e| e == "jsonl") {
            crate::raw::jsonl(result)?
        } else {
            crate::raw::csv(result)?
        };
        std::fs::write(path, &body)
            .with_context(|| format!("--raw {}: cannot write it", path.display()))?;
        crate::out::eprint(&format!(
            "wrote every message's timestamps of tour {} to {}\n",
            report::tour_id(result.tour_id),
            path.display()
        ));
    }
    Ok(())
}

/// A running tour as the user named it (16 hex digits or a unique prefix).
async fn running_tour_id(coord: &Coordinator, tour: &str) -> Result<u64> {
    match coord.resolve(tour, true).await? {
        (_, true) => Err(invalid(
            "`latest` names a finished tour; give the running tour's id, or none for the tour running now",
        )),
        (id, false) => Ok(id),
    }
}

/// `cancel`: ends the running tour (or the one named) and says what it had measured.
pub async fn cancel(
    coord: &Coordinator,
    args: &crate::cli::TourArg,
    json_mode: bool,
) -> Result<()> {
    let id = match args.tour.as_deref() {
        Some(tour) => Some(running_tour_id(coord, tour).await?),
        None => None,
    };
    let tour_id = coord.cancel(id).await?;
    let (result, _) = coord.wait_for(tour_id, false, false).await?;
    emit(
        json_mode,
        || Ok(report::tour_json(&result)?),
        || {
            Ok(format!(
                "tour {} {}: {} of {} messages had come back; `stillepost report {}` exports it\n",
                report::tour_id(tour_id),
                result.outcome().name(),
                result.messages_received,
                result.messages_sent,
                report::tour_id(tour_id)
            ))
        },
    )
}

/// `wait`: reattaches to a running tour and prints its result as `run` does.
pub async fn wait(
    coord: &Coordinator,
    args: &crate::cli::TourArg,
    loss: LossArg,
    json_mode: bool,
) -> Result<()> {
    let tour_id = match args.tour.as_deref() {
        Some(tour) => running_tour_id(coord, tour).await?,
        None => match coord.status().await?.running_tour {
            0 => {
                return Err(Failure {
                    code: 1,
                    message: "no tour is running: `stillepost report latest` shows the last one"
                        .into(),
                }
                .into());
            }
            id => id,
        },
    };
    print_tour(coord, tour_id, loss, &RecordArgs::default(), json_mode).await
}

/// How a finished tour ends the program: a failed tour exits 1; one that lost messages or
/// timed out exits 6 unless `--accept-loss`; a complete one, or a cancelled one, 0.
pub fn tour_failure(result: &TourResult, loss: LossArg) -> Result<()> {
    let id = report::tour_id(result.tour_id);
    let lossy = match result.outcome() {
        Outcome::Failed => {
            return Err(Failure {
                code: 1,
                message: format!("tour {id} failed: {}", result.error),
            }
            .into());
        }
        Outcome::Cancelled => return Ok(()),
        Outcome::TimedOut => true,
        Outcome::Complete | Outcome::Unspecified => result.lost > 0,
    };
    if lossy && !loss.accept_loss {
        return Err(Failure {
            code: EXIT_LOSSY,
            message: format!(
                "tour {id} {}: {} of {} messages came back ({} lost); --accept-loss exits 0 for such a tour",
                if result.outcome() == Outcome::TimedOut {
                    "timed out"
                } else {
                    "lost messages"
                },
                result.messages_received,
                result.messages_sent,
                result.lost
            ),
        }
        .into());
    }
    Ok(())
}

/// `tours`: the finished tours the coordinator holds.
pub async fn tours(
    coord: &Coordinator,
    args: &crate::cli::ToursArgs,
    json_mode: bool,
) -> Result<()> {
    let all = coord.tours().await?;
    let monitor_tours = all.iter().filter(|t| t.monitor).count();
    let tours: Vec<TourSummary> = all
        .into_iter()
        .filter(|t| args.monitor || !t.monitor)
        .collect();
    let left_out = if args.monitor { 0 } else { monitor_tours };
    emit(
        json_mode,
        || Ok(report::tours_json(&tours)),
        || Ok(report::tours_text(&tours, left_out)),
    )?;
    Ok(())
}

pub async fn status(coord: &Coordinator, json_mode: bool) -> Result<()> {
    let reply = coord.status().await?;
    emit(
        json_mode,
        || Ok(report::status_json(coord.endpoint(), &reply)),
        || Ok(report::status_text(coord.endpoint(), &reply)),
    )?;
    Ok(())
}

/// The configured members' peer endpoints, from the coordinator.
async fn member_peers(coord: &Coordinator) -> Result<Vec<(u32, SocketAddr)>> {
    let reply = coord.status().await?;
    if !reply.configured {
        return Err(Failure {
            code: 1,
            message: "the ring is not configured: run `stillepost configure --cluster <member,member,...>` first".into(),
        }
        .into());
    }
    reply
        .members
        .iter()
        .map(|m| {
            m.peer_endpoint
                .parse()
                .map(|addr| (m.index, addr))
                .with_context(|| {
                    format!(
                        "member {} advertised '{}', which is no ip:port",
                        m.index, m.peer_endpoint
                    )
                })
        })
        .collect()
}

/// `echo-members` and `ping-systems`: the probes the coordinator sends (by default), or
/// this client (`--from-client`), printed as ping prints them.
pub async fn probe(
    coord: &Coordinator,
    kind: ProbeKind,
    args: &ProbeArgs,
    json_mode: bool,
) -> Result<()> {
    let opts = args.options()?;
    let (from, targets) = if args.from_client {
        let peers = member_peers(coord).await?;
        let targets = match kind {
            ProbeKind::Echo => {
                let key = coord.echo_key().await?;
                tokio::task::spawn_blocking(move || {
                    stillepost_control::echo::echo_members(&peers, &opts, key)
                })
                .await
                .context("the echo task failed")?
            }
            ProbeKind::Ping => stillepost_control::echo::ping_systems(&peers, &opts).await,
        };
        (format!("this client ({})", local_host()), targets)
    } else {
        coord.probe(kind, &opts).await?
    };
    emit(
        json_mode,
        || Ok(report::probe_json(kind, &from, &targets)),
        || Ok(report::probe_text(kind, &from, &targets, opts.timeout)),
    )?;
    let silent: Vec<String> = targets
        .iter()
        .filter(|t| t.received() == 0)
        .map(|t| t.target.clone())
        .collect();
    if !silent.is_empty() {
        return Err(Failure {
            code: 1,
            message: format!(
                "{} of {} {} did not answer: {}",
                silent.len(),
                targets.len(),
                match kind {
                    ProbeKind::Echo => "members",
                    ProbeKind::Ping => "hosts",
                },
                silent.join(", ")
            ),
        }
        .into());
    }
    Ok(())
}

/// This host's name, for where probes came from.
fn local_host() -> String {
    stillepost_control::member::host_name().unwrap_or_else(|| "this host".to_owned())
}

pub async fn report(
    coord: &Coordinator,
    args: &crate::cli::ReportArgs,
    json_mode: bool,
) -> Result<()> {
    use std::io::IsTerminal;

    use crate::cli::ReportFormat;
    let format = match (args.format, json_mode) {
        (None, false) => ReportFormat::Hgrm,
        (None | Some(ReportFormat::Json), true) => ReportFormat::Json,
        (Some(format), false) => format,
        (Some(format), true) => {
            return Err(invalid(format!(
                "--json asks for JSON and --format for {}: drop one",
                format!("{format:?}").to_lowercase()
            )));
        }
    };
    if format != ReportFormat::Hgrm
        && (args.tour_histogram
            || args.hop.is_some()
            || args.residence.is_some()
            || args.out_dir.is_some())
    {
        return Err(invalid(
            "--tour, --hop, --residence and --out-dir choose hgrm files (one histogram each); the other formats hold every histogram",
        ));
    }
    if args.interval.is_some() && format != ReportFormat::Hlog {
        return Err(invalid(
            "--interval cuts an interval log into periods: use it with --format hlog",
        ));
    }
    if args.log_y && !matches!(format, ReportFormat::Svg | ReportFormat::Png) {
        return Err(invalid(
            "--log-y scales a plot's latency axis: use it with --format svg or png",
        ));
    }
    // Refused before asking the coordinator: a PNG would only garble the terminal.
    if format == ReportFormat::Png && args.out.is_none() && std::io::stdout().is_terminal() {
        return Err(invalid(
            "--format png writes a binary image: pass --out FILE.png, or redirect stdout to a file or pipe",
        ));
    }
    let result = coord.result(&args.tour).await?;
    let bytes = match format {
        ReportFormat::Hgrm => {
            let histograms = crate::export::histograms(&result)?;
            let id = report::tour_id(result.tour_id);
            if let Some(dir) = &args.out_dir {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("--out-dir {}: cannot make it", dir.display()))?;
                let mut written = String::new();
                for (tag, h) in &histograms {
                    let path = dir.join(format!("{id}-{tag}.hgrm"));
                    std::fs::write(&path, crate::export::hgrm(h, args.unit.scale()))
                        .with_context(|| format!("--out-dir: cannot write {}", path.display()))?;
                    written.push_str(&format!("{}\n", path.display()));
                }
                return crate::out::print(&written);
            }
            let (wanted, what) = match (args.hop, args.residence) {
                (Some(i), _) => (format!("hop-{i}-"), format!("hop {i}")),
                (_, Some(m)) => (format!("residence-{m}"), format!("member {m}'s residence")),
                _ => ("tour".to_owned(), "the tour's latency".to_owned()),
            };
            let chosen = args.tour_histogram || args.hop.is_some() || args.residence.is_some();
            let tags: Vec<&str> = histograms.iter().map(|(t, _)| t.as_str()).collect();
            let found = histograms.iter().find(|(tag, _)| {
                tag == &wanted || (wanted.ends_with('-') && tag.starts_with(&wanted))
            });
            let (tag, h) = match (found, histograms.first()) {
                (Some(found), _) => found,
                // A partial result (the origin sent no report) has no tour histogram: the
                // default export gives the first one it has, and says so.
                (None, Some(first)) if !chosen => {
                    crate::out::eprint(&format!(
                        "note: tour {id} has no tour latency (its origin sent no report); this is {}; it has {}\n",
                        first.0,
                        tags.join(", ")
                    ));
                    first
                }
                _ => {
                    return Err(invalid(format!(
                        "tour {id} has no histogram of {what}; it has {}",
                        if tags.is_empty() {
                            "none".to_owned()
                        } else {
                            tags.join(", ")
                        }
                    )));
                }
            };
            let others = histograms.len().saturating_sub(1);
            if !chosen && tag == "tour" && others > 0 && std::io::stderr().is_terminal() {
                crate::out::eprint(&format!(
                    "note: the tour's latency; --hop I, --residence M or --out-dir DIR for the other {others} histograms\n"
                ));
            }
            crate::export::hgrm(h, args.unit.scale()).into_bytes()
        }
        ReportFormat::Text => report::tour_text(&result)?.into_bytes(),
        ReportFormat::Raw => crate::raw::csv(&result)?.into_bytes(),
        ReportFormat::RawJsonl => crate::raw::jsonl(&result)?.into_bytes(),
        ReportFormat::Hlog => match args.interval {
            Some(interval) => crate::export::hlog_periods(&result, interval)?.into_bytes(),
            None => crate::export::hlog(&result)?.into_bytes(),
        },
        ReportFormat::Csv => crate::export::csv(&result)?.into_bytes(),
        ReportFormat::Json => {
            (serde_json::to_string_pretty(&crate::export::json_doc(&result)?)? + "\n").into_bytes()
        }
        ReportFormat::Svg => crate::plot::svg(&result, args.unit, args.log_y)?.into_bytes(),
        ReportFormat::Png => crate::plot::png(&result, args.unit, args.log_y)?,
    };
    match &args.out {
        Some(path) => std::fs::write(path, bytes)
            .with_context(|| format!("--out {}: cannot write the report", path.display()))?,
        None => crate::out::write(&bytes)?,
    }
    Ok(())
}

#[cfg(test)]
mod window_tests {
    use super::*;
    use clap::Parser;

    fn params(args: &[&str]) -> Result<TourParams> {
        let mut all = vec!["stillepost", "local"];
        all.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(all)?.command {
            crate::cli::Command::Local(local) => tour_params(&local.tour),
            _ => unreachable!("parsed as local"),
        }
    }

    /// `--dscp` takes 0 to 63 or a class name; anything else is refused saying what to
    /// give.
    #[test]
    fn dscp_takes_numbers_and_class_names() {
        for (given, dscp) in [
            ("0", 0),
            ("46", 46),
            ("ef", 46),
            ("EF", 46),
            ("af41", 34),
            ("af11", 10),
            ("af43", 38),
            ("cs1", 8),
            ("cs7", 56),
            ("be", 0),
        ] {
            assert_eq!(params(&["--dscp", given]).unwrap().dscp, dscp, "{given}");
        }
        assert_eq!(params(&[]).unwrap().dscp, 0);
        for bad in ["64", "af51", "cs8", "af4", "gold"] {
            let err = params(&["--dscp", bad]).unwrap_err().to_string();
            assert!(
                err.contains("out of range") || err.contains("is no DSCP"),
                "{bad}: {err}"
            );
        }
    }

    /// `--rate` takes fractions; what is not a positive number is refused saying what to
    /// give.
    #[test]
    fn rates_may_be_fractional() {
        assert_eq!(params(&["--rate", "0.5"]).unwrap().rate, 0.5);
        assert_eq!(params(&["--rate", "2500"]).unwrap().rate, 2500.0);
        assert_eq!(params(&[]).unwrap().rate, 0.0);
        let refused = |rate: &str| params(&["--rate", rate]).unwrap_err().to_string();
        assert!(
            refused("0").contains("0 is out of range: give a positive number of messages per second (0.5 is one every 2 s)"),
            "{}",
            refused("0")
        );
        let negative = params(&["--rate=-3"]).unwrap_err().to_string();
        assert!(negative.contains("-3 is out of range"), "{negative}");
        assert!(
            refused("abc")
                .contains("'abc' is not a number of messages per second (such as 1000 or 0.5)"),
            "{}",
            refused("abc")
        );
        // Slower than one message per member timeout (10 s by default).
        assert!(
            refused("0.05").contains("raise --rate or --member-timeout"),
            "{}",
            refused("0.05")
        );
    }

    #[test]
    fn a_configure_without_tour_flags_is_the_shared_default_tour() {
        assert_eq!(
            params(&[]).unwrap(),
            stillepost_control::ring::default_params()
        );
    }

    #[test]
    fn the_default_window_keeps_large_messages_within_a_default_buffer() {
        // 1000 × 1 KiB fit 4 MiB: all at once, as the original tool.
        assert_eq!(params(&[]).unwrap().window, 0);
        // 2000 × 65000 B do not: as many as 4 MiB holds, each charged 65000 + 1024 B.
        assert_eq!(default_window(65_000, 2000, true), 63);
        assert_eq!(
            params(&["--msgbytelen", "65000", "--msgcount", "2000"])
                .unwrap()
                .window,
            63
        );
        // Explicit choices win; hold mode needs all.
        let all = [
            "--msgbytelen",
            "65000",
            "--msgcount",
            "2000",
            "--window",
            "all",
        ];
        assert_eq!(params(&all).unwrap().window, 0);
        assert_eq!(default_window(65_000, 2000, false), 0);
        assert_eq!(default_window(65_000, 5, true), 0, "5 messages fit");
        let err = params(&["--window", "0"]).unwrap_err().to_string();
        assert!(
            err.contains("--window all sends every message at once"),
            "{err}"
        );
        assert!(params(&["--window", "some"]).is_err());
    }
}

#[cfg(test)]
mod tour_ref_tests {
    use super::*;

    const IDS: [u64; 3] = [
        0x6032_b3c3_0000_0001,
        0x6032_b3c3_0000_0002,
        0x7a00_0000_0000_0000,
    ];

    fn named(tour: &str) -> Result<(u64, bool), String> {
        tour_ref(tour, || Ok(IDS.to_vec())).map_err(|e| e.to_string())
    }

    /// A unique prefix names its tour, a full id needs no list, and a prefix of several
    /// or of none is an error naming them, never a zero-padded guess.
    #[test]
    fn ids_are_named_by_any_unique_prefix() {
        assert_eq!(named("latest"), Ok((0, true)));
        assert_eq!(named("7"), Ok((IDS[2], false)));
        assert!(
            named("6032B3C30000000")
                .unwrap_err()
                .contains("is the start of 2 tour ids")
        );
        assert_eq!(named("7A"), Ok((IDS[2], false)));
        assert_eq!(named("6032b3c300000002"), Ok((IDS[1], false)));
        let full = tour_ref("00000000000000ff", || panic!("a full id needs no list"));
        assert_eq!(full.unwrap(), (0xff, false));
        assert_eq!(
            named("6032b3c3").unwrap_err(),
            "'6032b3c3' is the start of 2 tour ids (6032b3c300000001, 6032b3c300000002): give more digits"
        );
        assert_eq!(
            named("6032b3c4").unwrap_err(),
            "no tour id starts with '6032b3c4': `stillepost tours` lists the tours this coordinator holds"
        );
        for bad in ["", "yesterday", "6032b3c3000000010", "-1"] {
            assert!(
                named(bad).unwrap_err().contains("is not a tour id"),
                "{bad}: {:?}",
                named(bad)
            );
        }
    }
}
