//! Translation between the protocol's enums and the domain's, in one place. A proto enum's
//! `domain()` is `None` for UNSPECIFIED (and values this version does not know); its
//! `name()` is the domain enum's name, or "" when there is none.

use stillepost_engine::counters::Timestamping;
use stillepost_engine::dataplane::{Backend, PollMode};
use stillepost_engine::tour::Phase;

use crate::domain::{MemberState, Outcome};
use crate::proto;

/// Pairs each domain variant with its proto variant, both ways.
macro_rules! enum_map {
    ($proto:ident <=> $domain:ty { $($p:ident <=> $d:ident),+ $(,)? }) => {
        impl From<$domain> for proto::$proto {
            fn from(value: $domain) -> proto::$proto {
                match value {
                    $(<$domain>::$d => proto::$proto::$p,)+
                }
            }
        }

        impl proto::$proto {
            /// The domain's variant; `None` when unspecified.
            pub fn domain(self) -> Option<$domain> {
                match self {
                    $(proto::$proto::$p => Some(<$domain>::$d),)+
                    proto::$proto::Unspecified => None,
                }
            }
        }
    };
}

/// `name()` on proto enums whose domain enum has a name.
macro_rules! enum_name {
    ($($proto:ident),+) => {
        $(
            impl proto::$proto {
                /// The name every view uses ("" when unspecified).
                pub fn name(self) -> &'static str {
                    self.domain().map_or("", |d| d.name())
                }
            }
        )+
    };
}

enum_map!(MemberState <=> MemberState {
    Idle <=> Idle,
    Configured <=> Configured,
    Armed <=> Armed,
    InTour <=> InTour,
    Unreachable <=> Unreachable,
});
enum_map!(TourPhase <=> Phase {
    Idle <=> Idle,
    Armed <=> Armed,
    Running <=> Running,
    Complete <=> Complete,
    TimedOut <=> TimedOut,
});
enum_map!(Outcome <=> Outcome {
    Complete <=> Complete,
    TimedOut <=> TimedOut,
    Failed <=> Failed,
});
enum_map!(PollMode <=> PollMode {
    Block <=> Block,
    Spin <=> Spin,
});
enum_map!(Backend <=> Backend {
    Uring <=> Uring,
    Syscall <=> Syscall,
});
enum_map!(Timestamping <=> Timestamping {
    None <=> None,
    KernelSoftware <=> KernelSoftware,
    Application <=> Application,
    Mixed <=> Mixed,
});
enum_name!(MemberState, Outcome, PollMode, Backend, Timestamping);

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON and text names are the ones docs/reports.md lists, whichever way a state
    /// travels.
    #[test]
    fn proto_states_keep_their_names() {
        assert_eq!(
            proto::MemberState::from(MemberState::InTour).name(),
            "in-tour"
        );
        assert_eq!(proto::MemberState::Unreachable.name(), "unreachable");
        assert_eq!(proto::MemberState::Unspecified.name(), "");
        assert_eq!(proto::Outcome::TimedOut.name(), "timed_out");
        assert_eq!(proto::Outcome::Failed.name(), "failed");
        assert_eq!(proto::Outcome::Complete.name(), "complete");
        assert_eq!(proto::PollMode::Spin.name(), "spin");
        assert_eq!(proto::Backend::from(Backend::Uring).name(), "uring");
        assert_eq!(proto::Backend::Syscall.name(), "syscall");
        assert_eq!(
            proto::Timestamping::KernelSoftware.name(),
            "kernel-software"
        );
        assert_eq!(proto::Timestamping::Unspecified.domain(), None);
        assert_eq!(
            proto::TourPhase::from(Phase::TimedOut).domain(),
            Some(Phase::TimedOut)
        );
    }
}
