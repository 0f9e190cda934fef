//! What a member counts during a tour, and how it took its arrival times.
#![forbid(unsafe_code)]

/// How a member's arrival times were taken during a tour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamping {
    /// Nothing arrived.
    None,
    /// Every arrival carried the kernel's software receive timestamp.
    KernelSoftware,
    /// No arrival had a kernel timestamp: the data plane read the clock itself.
    Application,
    /// Some arrivals had the kernel's timestamp, some did not.
    Mixed,
}

impl Timestamping {
    /// Every view's name of it (results, JSON, text reports).
    pub fn name(self) -> &'static str {
        match self {
            Timestamping::None => "none",
            Timestamping::KernelSoftware => "kernel-software",
            Timestamping::Application => "application",
            Timestamping::Mixed => "mixed",
        }
    }

    /// From the number of arrivals stamped by the kernel and by the application.
    pub fn from_stamps(kernel: u64, application: u64) -> Timestamping {
        match (kernel, application) {
            (0, 0) => Timestamping::None,
            (_, 0) => Timestamping::KernelSoftware,
            (0, _) => Timestamping::Application,
            _ => Timestamping::Mixed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamping_follows_the_stamps_counted() {
        assert_eq!(Timestamping::from_stamps(0, 0), Timestamping::None);
        assert_eq!(
            Timestamping::from_stamps(5, 0),
            Timestamping::KernelSoftware
        );
        assert_eq!(Timestamping::from_stamps(0, 5), Timestamping::Application);
        assert_eq!(Timestamping::from_stamps(1, 4), Timestamping::Mixed);
        assert_eq!(Timestamping::KernelSoftware.name(), "kernel-software");
        assert_eq!(Timestamping::Application.name(), "application");
        assert_eq!(Timestamping::Mixed.name(), "mixed");
        assert_eq!(Timestamping::None.name(), "none");
    }
}
