//! Stillepost's control plane: the gRPC protocol (`proto/stillepost.proto`, compiled by
//! build.rs without `protoc`), the coordinator and member cores, and thin tonic services
//! over them. The `stillepostd` binary and `stillepost local` both run these.

/// Code generated from `proto/stillepost.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("stillepost.v1");
}

pub mod access;
pub mod announce;
pub mod assemble;
pub mod auth;
pub mod convert;
pub mod coordinator;
pub mod domain;
pub mod echo;
pub mod manual;
pub mod member;
pub mod metrics;
pub mod options;
pub mod ping;
pub mod placement;
pub mod process;
pub mod ring;
pub mod rpc;
pub mod service;
pub mod store;

/// The rule for tests that cannot run here, shared with the client's tests.
#[cfg(test)]
#[path = "../../client/tests/support/skip.rs"]
mod skip;
