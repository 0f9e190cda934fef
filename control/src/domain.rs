//! The control plane's domain types: what the coordinator and member cores work on. The
//! gRPC services translate them to and from the protocol (`crate::convert`); every JSON
//! and text name of a state is given here or by the engine's enum, once.

/// Where a member stands, as the coordinator reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemberState {
    /// Running, not configured.
    #[default]
    Idle,
    /// Has its ring position and tour parameters.
    Configured,
    /// Armed for a tour.
    Armed,
    /// Origin: the tour is running.
    InTour,
    /// The coordinator could not reach it.
    Unreachable,
}

impl MemberState {
    /// Every view's name of it.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Idle => "idle",
            MemberState::Configured => "configured",
            MemberState::Armed => "armed",
            MemberState::InTour => "in-tour",
            MemberState::Unreachable => "unreachable",
        }
    }
}

/// How a tour ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The origin got every message back.
    Complete,
    /// The origin gave up waiting after the member timeout.
    TimedOut,
    /// A member could not be reached or refused; the result is partial.
    Failed,
}

impl Outcome {
    /// Every view's name of it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::TimedOut => "timed_out",
            Outcome::Failed => "failed",
        }
    }
}
