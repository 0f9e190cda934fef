//! Where the members' data-plane threads run: the coordinator places the members of each
//! host on its cores from the tour's shape, at configure (a tour never moves a thread).
//!
//! With one message in flight only one member works at a time, and waking a thread on
//! the core that is already awake costs less than an interrupt to another core: the
//! members of a host share one core (together). With more in flight (a window, or a
//! message in several datagrams forwarded as they arrive) several members have work at
//! once: they spread over the host's cores. Spinning members always get a core each.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use stillepost_engine::dataplane::PollMode;
use stillepost_engine::tour::TourConfig;

use crate::proto::Placement;

/// How the members of a host share its cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One core for all of them.
    Together,
    /// Over the host's cores, round-robin in ring order.
    Spread,
}

impl Layout {
    pub fn placement(self) -> Placement {
        match self {
            Layout::Together => Placement::Together,
            Layout::Spread => Placement::Spread,
        }
    }
}

/// A member as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// Its host (boot id; empty: unknown, a host of its own).
    pub host_id: String,
    pub poll: PollMode,
    /// Cores its data-plane thread may be placed on (empty: it cannot be placed).
    pub cores: Vec<usize>,
    /// The core it was given with `--cpu` (kept), or where it runs now.
    pub cpu: Option<usize>,
    /// Its core was given with `--cpu`.
    pub fixed: bool,
}

/// Where every member goes, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub layout: Layout,
    pub reason: String,
    /// Per member in ring order: the core to pin it to (`None`: leave it where it is).
    pub cores: Vec<Option<usize>>,
}

/// Whether a tour keeps more than one member busy at once: more than one message in
/// flight, or a message in several datagrams (each member forwards a fragment as it
/// arrives, so the next one works on it meanwhile). The reason says which.
pub fn layout_for(config: &TourConfig) -> (Layout, String) {
    let datagrams = config.plan().map_or(1, |plan| plan.count());
    if config.window > 1 {
        (
            Layout::Spread,
            format!(
                "{} messages of {} B in flight keep several members busy at once",
                config.window, config.msg_len
            ),
        )
    } else if datagrams > 1 {
        (
            Layout::Spread,
            format!(
                "each message travels in {datagrams} datagrams, forwarded as they arrive: several members are busy at once"
            ),
        )
    } else {
        (
            Layout::Together,
            "one message in flight: one member works at a time, and a wake-up on its own core costs less than one across cores".to_string(),
        )
    }
}

/// Places the members: the layout `asked` (or the one the tour's shape calls for), each
/// host's members on that host's cores. Members with `--cpu` keep their core; spinning
/// members get a core each, the highest free ones first (core 0 takes the host's
/// interrupts and, in `stillepost local`, the control plane); spread members leave the
/// lowest core to the control plane when the host has a core more than they need.
pub fn plan(asked: Placement, config: &TourConfig, seats: &[Seat]) -> Plan {
    let (layout, reason) = match asked {
        Placement::Together => (Layout::Together, "--placement together".to_string()),
        Placement::Spread => (Layout::Spread, "--placement spread".to_string()),
        Placement::Auto => layout_for(config),
    };
    let mut cores: Vec<Option<usize>> = seats
        .iter()
        .map(|s| s.fixed.then_some(s.cpu).flatten())
        .collect();
    // Members of a host, in ring order; a member without a host id is a host of its own.
    let mut hosts: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
    for (i, seat) in seats.iter().enumerate() {
        let key = if seat.host_id.is_empty() {
            ("", i)
        } else {
            (seat.host_id.as_str(), 0)
        };
        hosts.entry(key).or_default().push(i);
    }
    for members in hosts.values() {
        place_host(layout, seats, members, &mut cores);
    }
    let spinners = seats
        .iter()
        .any(|s| !s.fixed && s.poll == PollMode::Spin && !s.cores.is_empty());
    Plan {
        layout,
        reason: if spinners {
            format!("{reason}; spinning members get a core each")
        } else {
            reason
        },
        cores,
    }
}

/// Places the members of one host (indices into `seats`), leaving fixed ones alone.
fn place_host(layout: Layout, seats: &[Seat], members: &[usize], cores: &mut [Option<usize>]) {
    let movable = |poll: PollMode| {
        members.iter().copied().filter(move |&i| {
            !seats[i].fixed && seats[i].poll == poll && !seats[i].cores.is_empty()
        })
    };
    // Members that stay where they are: given a core with --cpu, or unable to say which
    // cores they may use (an older member); they hold the core they report.
    let stays = |i: usize| seats[i].fixed || seats[i].cores.is_empty();
    // Cores spinning members hold: theirs alone.
    let mut spinning: Vec<usize> = members
        .iter()
        .filter(|&&i| stays(i) && seats[i].poll == PollMode::Spin)
        .filter_map(|&i| seats[i].cpu)
        .collect();
    // Cores other members stay on: a spinner shares them only if it must.
    let given: Vec<usize> = members
        .iter()
        .filter(|&&i| stays(i))
        .filter_map(|&i| seats[i].cpu)
        .collect();
    for i in movable(PollMode::Spin).collect::<Vec<_>>() {
        // The highest core no other member holds, else the highest no other spinning
        // member holds; with none left, the highest (the coordinator's spinning check
        // then names the two that share it).
        let own = || seats[i].cores.iter().rev();
        let core = own()
            .find(|c| !spinning.contains(c) && !given.contains(c))
            .or_else(|| own().find(|c| !spinning.contains(c)))
            .or(seats[i].cores.last())
            .copied();
        if let Some(core) = core {
            spinning.push(core);
        }
        cores[i] = core;
    }
    let blocking: Vec<usize> = movable(PollMode::Block).collect();
    for (k, &i) in blocking.iter().enumerate() {
        let own = &seats[i].cores;
        let mut free: Vec<usize> = own
            .iter()
            .rev()
            .copied()
            .filter(|c| !spinning.contains(c))
            .collect();
        if free.is_empty() {
            // Every core spins: share the lowest, where the control plane runs anyway.
            free = vec![own[0]];
        }
        cores[i] = Some(match layout {
            Layout::Together => free[0],
            Layout::Spread => {
                let used = if free.len() > blocking.len() {
                    &free[..blocking.len()]
                } else {
                    &free[..]
                };
                used[k % used.len()]
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::TourParams;
    use crate::ring::params_to_config;

    fn config(msg_len: u32, count: u32, window: u32) -> TourConfig {
        params_to_config(&TourParams {
            msg_len,
            count,
            window,
            forward_immediately: true,
            member_timeout_ms: 1000,
            ..TourParams::default()
        })
    }

    fn seat(host: &str, poll: PollMode, cores: usize) -> Seat {
        Seat {
            host_id: host.to_string(),
            poll,
            cores: (0..cores).collect(),
            cpu: None,
            fixed: false,
        }
    }

    fn ring(members: usize, cores: usize) -> Vec<Seat> {
        (0..members)
            .map(|_| seat("h", PollMode::Block, cores))
            .collect()
    }

    fn placed(plan: &Plan) -> Vec<Option<usize>> {
        plan.cores.clone()
    }

    #[test]
    fn window_one_puts_a_hosts_members_together() {
        let plan = plan(Placement::Auto, &config(64, 1000, 1), &ring(4, 2));
        assert_eq!(plan.layout, Layout::Together);
        assert_eq!(placed(&plan), vec![Some(1); 4]);
        assert!(
            plan.reason.contains("one message in flight"),
            "{}",
            plan.reason
        );
        // On one core there is nowhere else to go.
        let plan = super::plan(Placement::Auto, &config(64, 1000, 1), &ring(3, 1));
        assert_eq!(placed(&plan), vec![Some(0); 3]);
    }

    #[test]
    fn messages_in_flight_spread_the_members_over_the_cores() {
        // Two cores for four members: every core works, alternating in ring order.
        let plan = plan(Placement::Auto, &config(1000, 1000, 1000), &ring(4, 2));
        assert_eq!(plan.layout, Layout::Spread);
        assert_eq!(placed(&plan), vec![Some(1), Some(0), Some(1), Some(0)]);
        assert!(plan.reason.contains("1000 messages of 1000 B in flight"));
        // Eight cores for four: the highest four, core 0 left to the control plane.
        let plan = super::plan(Placement::Auto, &config(64, 10_000, 10_000), &ring(4, 8));
        assert_eq!(placed(&plan), vec![Some(7), Some(6), Some(5), Some(4)]);
        // Four cores for four: all of them.
        let plan = super::plan(Placement::Auto, &config(64, 10_000, 10_000), &ring(4, 4));
        assert_eq!(placed(&plan), vec![Some(3), Some(2), Some(1), Some(0)]);
    }

    #[test]
    fn a_message_in_several_datagrams_spreads_even_at_window_one() {
        let mut shape = config(60_000, 100, 1);
        shape.max_datagram = 1472;
        let plan = plan(Placement::Auto, &shape, &ring(4, 2));
        assert_eq!(plan.layout, Layout::Spread);
        assert!(plan.reason.contains("datagrams"), "{}", plan.reason);
        // In one datagram (loopback's MTU) it is one message in flight.
        let plan = super::plan(Placement::Auto, &config(60_000, 100, 1), &ring(4, 2));
        assert_eq!(plan.layout, Layout::Together);
    }

    #[test]
    fn the_asked_placement_wins_over_the_shape() {
        let plan = plan(Placement::Spread, &config(64, 1000, 1), &ring(2, 2));
        assert_eq!(
            (plan.layout, placed(&plan)),
            (Layout::Spread, vec![Some(1), Some(0)])
        );
        assert_eq!(plan.reason, "--placement spread");
        let plan = super::plan(Placement::Together, &config(64, 1000, 1000), &ring(2, 2));
        assert_eq!(
            (plan.layout, placed(&plan)),
            (Layout::Together, vec![Some(1), Some(1)])
        );
    }

    #[test]
    fn each_host_is_placed_on_its_own_cores() {
        let mut seats = ring(2, 2);
        seats.extend((0..2).map(|_| seat("other", PollMode::Block, 4)));
        seats.push(seat("", PollMode::Block, 2));
        seats.push(seat("", PollMode::Block, 2));
        let plan = plan(Placement::Auto, &config(1000, 1000, 1000), &seats);
        assert_eq!(
            placed(&plan),
            vec![Some(1), Some(0), Some(3), Some(2), Some(1), Some(1)]
        );
    }

    #[test]
    fn members_given_a_core_keep_it_and_spinners_get_a_core_each() {
        let mut seats = ring(4, 4);
        seats[0].fixed = true;
        seats[0].cpu = Some(3);
        seats[0].poll = PollMode::Spin;
        seats[1].poll = PollMode::Spin;
        seats[2].poll = PollMode::Spin;
        // Window 1: the blocking member takes the highest core no spinner holds.
        let plan = plan(Placement::Auto, &config(64, 1000, 1), &seats);
        assert_eq!(placed(&plan), vec![Some(3), Some(2), Some(1), Some(0)]);
        assert!(
            plan.reason.ends_with("; spinning members get a core each"),
            "{}",
            plan.reason
        );
        // A fixed blocking member keeps its core, and the spinner goes elsewhere.
        let mut seats = ring(2, 2);
        seats[0].fixed = true;
        seats[0].cpu = Some(1);
        seats[1].poll = PollMode::Spin;
        let plan = super::plan(Placement::Auto, &config(64, 1000, 1), &seats);
        assert_eq!(placed(&plan), vec![Some(1), Some(0)]);
    }

    #[test]
    fn members_that_cannot_be_placed_are_left_alone_and_avoided() {
        let mut seats = ring(2, 2);
        seats[1].cores.clear();
        let plan = plan(Placement::Auto, &config(64, 1000, 1000), &seats);
        assert_eq!(placed(&plan), vec![Some(1), None]);
        // An older spinning member on core 2 that cannot be placed: the new spinner and
        // the blocking member keep off its core.
        let mut seats = ring(3, 3);
        seats[0].cores.clear();
        seats[0].cpu = Some(2);
        seats[0].poll = PollMode::Spin;
        seats[1].poll = PollMode::Spin;
        let plan = super::plan(Placement::Auto, &config(64, 1000, 1), &seats);
        assert_eq!(placed(&plan), vec![None, Some(1), Some(0)]);
    }
}
