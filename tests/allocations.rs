//! The run loop does not allocate per event and keeps no per-event or
//! per-loop records: allocations and peak heap memory stay flat as the
//! horizon, and with it the number of events, grows tenfold.
//!
//! This is its own test binary because it installs a counting global
//! allocator, which would count every other test's allocations too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use loopcap::config::{self, Source};
use loopcap::model;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not yet freed, and the most there have been.
static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn grow(bytes: usize) {
    let live = LIVE.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrink(bytes: usize) {
    LIVE.fetch_sub(bytes as u64, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        grow(new_size);
        shrink(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What simulating `model` to `duration` cost the heap.
struct Footprint {
    allocations: u64,
    /// The most bytes the run held at once, above what was live before it.
    peak_bytes: u64,
    events: u64,
}

fn footprint(model: &str, duration: &str) -> Footprint {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(model);
    let source = Source::read(&path).unwrap();
    let spec = config::load_model_with(&source, &[format!("duration={duration}")])
        .unwrap()
        .spec;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let live_before = LIVE.load(Ordering::Relaxed);
    PEAK.store(live_before, Ordering::Relaxed);
    let summary = model::simulate(&spec, false).unwrap().summary;
    Footprint {
        allocations: ALLOCATIONS.load(Ordering::Relaxed) - before,
        peak_bytes: PEAK.load(Ordering::Relaxed) - live_before,
        events: summary.events,
    }
}

// One test, not several: the counters are global and tests run in parallel.
#[test]
fn allocations_and_memory_do_not_grow_with_the_number_of_events() {
    for model in [
        "mmc.toml",
        "coding-agents-shared.toml",
        "research-agent-burst.toml",
    ] {
        let short = footprint(model, "1h");
        let long = footprint(model, "10h");
        assert!(
            long.events > 9 * short.events,
            "{model}: {} vs {} events",
            short.events,
            long.events
        );
        // Set-up allocations (histograms, streams, the summary) are the same;
        // slabs, the event heap and queues grow only to their peak size,
        // which a ten times longer run may raise by a few doublings.
        assert!(
            long.allocations < short.allocations + 64,
            "{model}: {} allocations for {} events, {} for {}",
            short.allocations,
            short.events,
            long.allocations,
            long.events
        );
        // The same in bytes: the peak (about 1.3 MB, mostly histograms)
        // moves by a few KiB at most, while keeping even 8 bytes per event
        // would add over 300 KiB for the tens of thousands of extra events.
        assert!(
            long.peak_bytes < short.peak_bytes + (64 << 10),
            "{model}: peak {} bytes for {} events, {} for {}",
            short.peak_bytes,
            short.events,
            long.peak_bytes,
            long.events
        );
    }
}
