//! Stillepost's engine: the wire codec, the sans-IO tour state machine and HDR recording
//! (pure, `#![forbid(unsafe_code)]` per module), and the data-plane backend that moves
//! bytes and timestamps between the member's peer socket and that state machine.
//!
//! See `docs/architecture.md` and `docs/wire-format.md` in the repository.

pub mod auth;
pub mod counters;
pub mod dataplane;
pub mod endpoint;
pub mod fragment;
pub mod histogram;
pub mod pool;
pub mod tour;
pub mod wire;
