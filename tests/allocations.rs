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
    measure(&spec, false)
}

/// What simulating `spec` cost the heap, keeping its time series (as
/// `run --out` does) when `timeseries`.
fn measure(spec: &model::ModelSpec, timeseries: bool) -> Footprint {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let live_before = LIVE.load(Ordering::Relaxed);
    PEAK.store(live_before, Ordering::Relaxed);
    let summary = model::simulate(spec, timeseries).unwrap().summary;
    Footprint {
        allocations: ALLOCATIONS.load(Ordering::Relaxed) - before,
        peak_bytes: PEAK.load(Ordering::Relaxed) - live_before,
        events: summary.events,
    }
}

// One test, not several: the counters are global and tests run in parallel.
#[test]
fn heap_memory() {
    allocations_and_memory_do_not_grow_with_the_number_of_events();
    the_estimate_before_a_run_bounds_its_peak_closely();
}

fn allocations_and_memory_do_not_grow_with_the_number_of_events() {
    for model in [
        "mmc.toml",
        "coding-agents-shared.toml",
        "research-agent-burst.toml",
        // A fault's verdict is worked out bin by bin, not from a kept series.
        "metastable.toml",
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

/// `model` with `set`, as loaded: its spec and its estimated memory.
fn loaded(model: &str, set: &[&str]) -> config::LoadedModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(model);
    config::load_model_with(&Source::read(&path).unwrap(), set).unwrap()
}

/// For models whose memory is dominated, in turn, by users, open arrivals,
/// a fan-out width, user classes, a lane queue, windows, a fault's recovery
/// bins, a time series and replicas, and for every shipped model, each run
/// keeping its time series as `run --out` does, the estimate made before
/// the run is compared with the heap the run really took at its peak.
fn the_estimate_before_a_run_bounds_its_peak_closely() {
    let classes = {
        let mut text = String::from(
            "name = \"many classes\"\nseed = 1\nduration = \"10m\"\n\
             [agents.a]\nsteps = 1\ninput_tokens = 100\noutput_tokens = 10\nmax_output_tokens = 100\n\
             [capacity]\nkind = \"reserved\"\nlanes = 4\ntime_to_first_token = \"1s\"\n",
        );
        for c in 0..200 {
            text.push_str(&format!(
                "[[workload]]\nname = \"c{c}\"\nagent = \"a\"\narrivals = {{ process = \"poisson\", per_min = 0.5 }}\n"
            ));
        }
        let source = Source {
            name: "classes".into(),
            text,
            base_dir: ".".into(),
        };
        config::load_model_with(&source, &[] as &[&str]).unwrap()
    };
    let mut cases = vec![
        (
            "users",
            loaded(
                "coding-agents-shared.toml",
                &[
                    "workload.developers.users=100000",
                    "duration=20m",
                    "warmup=0s",
                ],
            ),
        ),
        (
            "arrivals",
            loaded(
                "mmc.toml",
                &[
                    "workload.customers.arrivals.per_min=1200000",
                    "capacity.lanes=40000",
                    "duration=2m",
                    "warmup=0s",
                ],
            ),
        ),
        (
            "fan-out",
            loaded(
                "research-agent-burst.toml",
                &[
                    "agents.research.fan_out.width=100000",
                    "duration=5m",
                    "warmup=0s",
                ],
            ),
        ),
        ("classes", classes),
        // 60 loops a minute of 36 calls on 4 one-second lanes: the loops
        // waiting grow by 0.89 a second (they were counted as 36 calls
        // each, 35 times too many: the run took 0.05 of the estimate).
        (
            "lane queue",
            loaded(
                "mmc.toml",
                &[
                    "workload.customers.arrivals.per_min=60",
                    "agents.one-call.steps=36",
                    "capacity.lanes=4",
                    "duration=6h",
                    "warmup=0s",
                ],
            ),
        ),
        // Windows: each holds a latency histogram.
        (
            "windows",
            loaded(
                "mmc.toml",
                &[
                    "duration=10m",
                    "warmup=0s",
                    &format!(
                        "window=[{}]",
                        (0..100)
                            .map(|i| format!(
                                "{{ name = \"w{i}\", at = \"{}s\", for = \"1s\" }}",
                                i % 500
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ],
            ),
        ),
        // A fault's recovery held over bins of 20 ms: 15,000 of them.
        (
            "recovery bins",
            loaded(
                "metastable.toml",
                &["timeseries_bin=20ms", "duration=40m", "warmup=0s"],
            ),
        ),
        // A time series of 360,000 bins of 10 ms, kept as for --out.
        (
            "time series",
            loaded(
                "mmc.toml",
                &[
                    "timeseries_bin=10ms",
                    "duration=1h",
                    "warmup=0s",
                    "workload.customers.arrivals.per_min=60",
                ],
            ),
        ),
        // 5,000 replicas, all warm from the start.
        (
            "replicas",
            loaded(
                "self-hosted-vllm.toml",
                &[
                    "capacity.min_replicas=5000",
                    "capacity.max_replicas=5000",
                    "capacity.initial_replicas=5000",
                    "capacity.autoscale.interval=1h",
                    "duration=31m",
                    "warmup=30m",
                ],
            ),
        ),
    ];
    let shipped: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".toml"))
            .collect();
    for name in &shipped {
        cases.push((name.as_str(), loaded(name, &[])));
    }
    // The estimate bounds the peak (slabs grow by doubling, the event list
    // by chunks, and 2 MiB is held whatever the model) and is at most four
    // times it, plus that fixed 2 MiB. A need left out or counted twice
    // falls outside: the windows, the recovery bins and the replicas were
    // left out (a run took 20,000 windows' 2.7 GB against an estimate of
    // 257 KiB), and a lane queue's loops were counted once a step (20
    // times the peak).
    let base = loopcap::model::estimate::footprint::FIXED_BYTES;
    for (name, model) in cases {
        let estimate = model.memory.with_timeseries.0 as f64;
        let peak = measure(&model.spec, true).peak_bytes as f64;
        assert!(
            peak <= estimate && estimate <= 4.0 * peak + base,
            "{name}: estimated {estimate} bytes, the run took {peak} at its peak"
        );
    }
}
