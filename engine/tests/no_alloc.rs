//! The data plane allocates nothing per datagram: a counting global allocator watches the
//! steady state of a 10,000-message tour around a 2-member ring with a ring key (every
//! datagram tagged and checked), on each backend, with one-datagram messages and with
//! messages of five datagrams (sent with GSO, received with GRO).
//!
//! This file holds one test so that no other test allocates while it counts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stillepost_engine::auth::RingKey;
use stillepost_engine::dataplane::{
    Arm, Backend, BackendChoice, DataPlane, DataPlaneOptions, RingSetup, TourReport,
};
use stillepost_engine::tour::{RingPosition, TourConfig};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const COUNT: u32 = 10_000;

/// Runs one tour of COUNT messages of `msg_len` bytes in datagrams of at most
/// `max_datagram`, one in flight, and returns the allocations counted between message
/// 1,000 and message 9,000 arriving back at the origin, with the origin's report.
fn steady_state_allocations(
    backend: BackendChoice,
    msg_len: u32,
    max_datagram: u32,
) -> (Backend, u64, TourReport) {
    let options = DataPlaneOptions {
        backend,
        ..DataPlaneOptions::default()
    };
    let any = "127.0.0.1:0".parse().unwrap();
    let at_start = ALLOCATIONS.load(Ordering::SeqCst);
    let origin = DataPlane::spawn_with(any, options).unwrap();
    let member = DataPlane::spawn_with(any, options).unwrap();
    let config = TourConfig {
        count: COUNT,
        msg_len,
        window: 1,
        forward_immediately: true,
        member_timeout_ns: 5_000_000_000,
        warmup: 0,
        interval_ns: 0,
        max_datagram,
        max_buffer_memory: 0,
    };
    for (index, dp, next, prev) in [
        (0, &origin, member.local_addr(), member.local_addr()),
        (1, &member, origin.local_addr(), origin.local_addr()),
    ] {
        dp.configure(
            RingSetup {
                position: RingPosition { index, ring_len: 2 },
                config,
                next_peer: next,
                prev_peer: prev,
                // As the coordinator configures a ring: every tour datagram is tagged.
                ring_key: Some(RingKey::from_bytes([5; 32])),
                echo_key: Some(RingKey::from_bytes([5; 32]).echo_key()),
                dscp: 0,
            },
            None,
        )
        .unwrap();
        // Every message's timestamps recorded too (`run --raw`): into a buffer given here.
        let stamps = vec![[0u64; 2]; COUNT as usize].into_boxed_slice();
        // With the tour's shape given, as a monitor tour is prepared.
        let arm = Arm {
            prev_clock_offset_ns: 1_000,
            stamps: Some(stamps),
            shape: Some(config.shape()),
        };
        dp.prepare(7, arm).unwrap();
    }
    // The counter sees the data plane: configuring allocates the pools.
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > at_start);
    origin.start(7).unwrap();

    // Watch the origin's progress with loads and sleeps only: nothing here allocates.
    let received = || origin.progress().received.load(Ordering::Relaxed);
    let wait_for = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while received() < n {
            assert!(
                Instant::now() < deadline,
                "the tour stalled at {}",
                received()
            );
            std::thread::sleep(Duration::from_micros(100));
        }
    };
    wait_for(1_000);
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    wait_for(9_000);
    let after = ALLOCATIONS.load(Ordering::SeqCst);

    assert!(origin.wait_finished(7, Duration::from_secs(30)));
    let report = origin.end(7).unwrap();
    assert_eq!(report.counters.received, u64::from(COUNT));
    // The origin recorded when it sent every message and when it came back.
    let stamps = report.stamps.as_deref().unwrap();
    assert!(stamps.iter().all(|[back, sent]| *sent > 0 && back >= sent));
    (origin.started().backend, after - before, report)
}

#[test]
fn no_allocation_per_datagram_on_either_backend() {
    for (choice, expected) in [
        (BackendChoice::Uring, Backend::Uring),
        (BackendChoice::Syscall, Backend::Syscall),
    ] {
        for (msg_len, max_datagram) in [(64, 0), (7000, 1472)] {
            let (backend, allocations, report) =
                steady_state_allocations(choice, msg_len, max_datagram);
            assert_eq!(backend, expected);
            assert_eq!(
                allocations, 0,
                "{backend:?}, {msg_len} B messages: {allocations} allocations while 8,000 messages made their tour"
            );
            if max_datagram > 0 {
                // Each message left the origin with one GSO send and came back (the
                // member forwarding it with one send too) as one GRO receive.
                assert_eq!(report.io.gso_sends, u64::from(COUNT), "{backend:?}");
                assert_eq!(report.io.gro_receives, u64::from(COUNT), "{backend:?}");
                assert_eq!(report.io.gso_refused, 0);
            }
            assert_eq!(report.io.bad_tag, 0, "{backend:?}: every tag checked out");
        }
    }
}
