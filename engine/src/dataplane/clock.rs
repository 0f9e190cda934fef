//! A member's clock: `CLOCK_MONOTONIC` (one clock for every process of a host), the
//! conversion of the kernel's receive timestamps (`CLOCK_REALTIME`) to it, and an optional
//! fixed shift that makes one host's members look like members of different hosts (to test
//! clock-offset estimation without a second machine).

use super::sys;

/// Reads the member's clock; copied wherever the data plane takes a timestamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    /// Added to every reading (fault injection; 0 otherwise).
    shift_ns: i64,
    /// `CLOCK_REALTIME − CLOCK_MONOTONIC` when last synchronised.
    realtime_lead_ns: i64,
    /// The wall clock when it was last synchronised, ns.
    synced_wall: u64,
}

/// How often, in wall-clock time seen in arrival stamps, the lead is measured again, so
/// that a step of the wall clock (NTP step, leap second) skews kernel timestamps for at
/// most this long.
const RESYNC_NS: u64 = 100_000_000;

impl Clock {
    /// A clock shifted by `shift_ns`, synchronised with the wall clock now.
    pub fn new(shift_ns: i64) -> Clock {
        let mut clock = Clock {
            shift_ns,
            realtime_lead_ns: 0,
            synced_wall: 0,
        };
        clock.resync();
        clock
    }

    /// Measures again how far the wall clock (in which the kernel stamps arrivals) leads the
    /// monotonic clock. Both run at the same, NTP-slewed rate, so the lead only changes when
    /// the wall clock is stepped; the data plane measures it again before every tour. The
    /// pair of readings with the shortest gap of three is kept.
    pub fn resync(&mut self) {
        let mut best = (u64::MAX, 0i64, 0u64);
        for _ in 0..3 {
            let a = sys::monotonic_ns();
            let wall = sys::realtime_ns();
            let b = sys::monotonic_ns();
            let gap = b.saturating_sub(a);
            if gap < best.0 {
                let mid = a + gap / 2;
                best = (gap, (wall as i64).wrapping_sub(mid as i64), wall);
            }
        }
        self.realtime_lead_ns = best.1;
        self.synced_wall = best.2;
    }

    /// Now, in ns.
    pub fn now(&self) -> u64 {
        sys::monotonic_ns().wrapping_add_signed(self.shift_ns)
    }

    /// A kernel receive timestamp (`CLOCK_REALTIME` ns) on this clock.
    pub fn from_kernel(&self, realtime_ns: u64) -> u64 {
        realtime_ns
            .wrapping_add_signed(self.realtime_lead_ns.wrapping_neg())
            .wrapping_add_signed(self.shift_ns)
    }

    /// When a datagram arrived: the kernel's receive timestamp in `control` (the receive's
    /// control data) if there is one, else now; and whether it was the kernel's. A stamp
    /// more than
    /// [`RESYNC_NS`] from the last synchronisation (time has passed, or the wall clock was
    /// stepped) measures the lead again first; otherwise no clock is read.
    pub fn arrival_ns(&mut self, control: &[u8]) -> (u64, bool) {
        match sys::kernel_rx_ns(control) {
            Some(wall) => {
                if wall.abs_diff(self.synced_wall) > RESYNC_NS {
                    self.resync();
                }
                (self.from_kernel(wall), true)
            }
            None => (self.now(), false),
        }
    }

    /// The injected shift, ns.
    pub fn shift_ns(&self) -> i64 {
        self.shift_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_timestamps_land_on_the_monotonic_clock() {
        for shift in [0i64, 5_000_000, -3_000_000] {
            let clock = Clock::new(shift);
            let before = clock.now();
            let converted = clock.from_kernel(sys::realtime_ns());
            let after = clock.now();
            // The conversion is exact up to the few µs the readings take (5 ms of slack for
            // a preempted test thread).
            assert!(
                converted + 5_000_000 >= before && converted <= after + 5_000_000,
                "shift {shift}: {before} ≤ {converted} ≤ {after}"
            );
            assert_eq!(clock.shift_ns(), shift);
        }
        let plain = Clock::new(0).now();
        let shifted = Clock::new(7_000_000).now();
        assert!(shifted >= plain + 7_000_000 && shifted < plain + 8_000_000);
    }
}
