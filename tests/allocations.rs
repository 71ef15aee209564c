//! The run loop does not allocate per event: allocations stay flat as the
//! horizon, and with it the number of events, grows tenfold.
//!
//! This is its own test binary because it installs a counting global
//! allocator, which would count every other test's allocations too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use loopcap::config::{self, Override, Source};
use loopcap::model;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made while simulating `model` to `duration`, and its events.
fn allocations(model: &str, duration: &str) -> (u64, u64) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(model);
    let source = Source::read(&path).unwrap();
    let set = Override::parse(&format!("duration={duration}")).unwrap();
    let spec = config::load_model(&source, &[set]).unwrap().spec;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let summary = model::simulate(&spec, false).summary;
    (ALLOCATIONS.load(Ordering::Relaxed) - before, summary.events)
}

#[test]
fn allocations_do_not_grow_with_the_number_of_events() {
    for model in [
        "mmc.toml",
        "coding-agents-shared.toml",
        "research-agent-burst.toml",
    ] {
        let (short, short_events) = allocations(model, "1h");
        let (long, long_events) = allocations(model, "10h");
        assert!(
            long_events > 9 * short_events,
            "{model}: {short_events} vs {long_events} events"
        );
        // Set-up allocations (histograms, streams, the summary) are the same;
        // slabs, the event heap and queues grow only to their peak size,
        // which a ten times longer run may raise by a few doublings.
        assert!(
            long < short + 64,
            "{model}: {short} allocations for {short_events} events, {long} for {long_events}"
        );
    }
}
