//! Data-plane options as `stillepostd member` and `stillepost local` take them.
#![forbid(unsafe_code)]

use clap::ValueEnum;
use stillepost_engine::dataplane::{BackendChoice, PollMode};

use crate::proto::Placement;

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum BackendArg {
    /// io_uring, or the syscall backend (with one log line saying why) when io_uring
    /// cannot start; with --poll spin the syscall backend, which answers a spinning poll
    /// sooner (about 1 µs per hop on loopback, docs/architecture.md).
    #[default]
    Auto,
    /// io_uring only: refuse to start without it.
    Uring,
    /// recvmmsg/sendmmsg batches.
    Syscall,
}

impl From<BackendArg> for BackendChoice {
    fn from(arg: BackendArg) -> BackendChoice {
        match arg {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Uring => BackendChoice::Uring,
            BackendArg::Syscall => BackendChoice::Syscall,
        }
    }
}

/// `--poll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum PollArg {
    /// Sleep in the kernel until a datagram arrives; cores can be shared.
    #[default]
    Block,
    /// Busy-poll on a core of its own: lowest latency, one core fully used.
    Spin,
}

impl From<PollArg> for PollMode {
    fn from(arg: PollArg) -> PollMode {
        match arg {
            PollArg::Block => PollMode::Block,
            PollArg::Spin => PollMode::Spin,
        }
    }
}

/// `--placement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum PlacementArg {
    /// From the tour's shape: together for one message in flight (window 1, one datagram
    /// per message), spread for more.
    #[default]
    Auto,
    /// Every member of a host on one core.
    Together,
    /// A host's members over its cores (leaving the lowest to the control plane when
    /// there is one to spare).
    Spread,
}

impl From<PlacementArg> for Placement {
    fn from(arg: PlacementArg) -> Placement {
        match arg {
            PlacementArg::Auto => Placement::Auto,
            PlacementArg::Together => Placement::Together,
            PlacementArg::Spread => Placement::Spread,
        }
    }
}

/// The cores this process may run on.
pub fn available_cores() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    ids
}
