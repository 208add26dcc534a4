//! Benchmark: the call interpreter alone. Inputs recorded from simulated calls (Salehi's
//! happy path, Agrad with an operator) are fed to fresh `CallMachine`s on one thread;
//! prints inputs handled per second and heap allocations per call.
//!
//! Run with `cargo bench --bench interpreter`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dialflow::core::call::{CallMachine, CallSetup, Input, Lead, Millis};
use dialflow::core::scenario::Scenario;
use dialflow::load::{self, LoadOptions};
use dialflow::replay::{Entry, scripted};

/// Counts allocations so the benchmark can report them per call.
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

fn recorded_inputs(scenario: &Arc<Scenario>, case: &str) -> Vec<(Millis, Input)> {
    let case = scenario
        .tests
        .iter()
        .find(|c| c.name == case)
        .expect("test case");
    let log = scripted::run(scenario, case).expect("runs");
    log.entries
        .into_iter()
        .filter_map(|(at, e)| match e {
            Entry::Input(i) => Some((at, i)),
            _ => None,
        })
        .collect()
}

fn one_call(scenario: &Arc<Scenario>, inputs: &[(Millis, Input)]) -> usize {
    let setup = CallSetup {
        attempt_id: "t1".into(),
        lead: Lead::default(),
        attempt: 1,
        ring_timeout_ms: None,
        safe_harbor: None,
    };
    let mut machine = CallMachine::new(Arc::clone(scenario), setup);
    machine.start(Millis(0));
    let mut commands = 0;
    while machine.poll_command().is_some() {
        commands += 1;
    }
    for (at, input) in inputs {
        machine.handle(*at, input.clone());
        while let Some(c) = machine.poll_command() {
            black_box(&c);
            commands += 1;
        }
    }
    assert!(machine.is_finished());
    commands
}

fn bench(label: &str, scenario: &Arc<Scenario>, case: &str) {
    let inputs = recorded_inputs(scenario, case);
    // Cloning the inputs is part of the loop; measure it alone to subtract it.
    for _ in 0..1000 {
        one_call(scenario, &inputs);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let commands = one_call(scenario, &inputs);
    let per_call = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let clone_allocs = {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for (_, i) in &inputs {
            black_box(i.clone());
        }
        ALLOCATIONS.load(Ordering::Relaxed) - before
    };
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            black_box(one_call(scenario, &inputs));
        }
        calls += 100;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let handled = calls * inputs.len() as u64;
    println!(
        "{label:<28} {:>6} inputs/call {:>4} commands/call  {:>10.0} inputs/s  {:>8.0} calls/s  {:>4} allocations/call (+{clone_allocs} to clone the inputs)",
        inputs.len(),
        commands,
        handled as f64 / elapsed,
        calls as f64 / elapsed,
        per_call - clone_allocs,
    );
}

fn main() {
    let load = |name: &str| {
        load::compile_file(
            &Path::new("scenarios").join(format!("{name}.yaml")),
            &LoadOptions::default(),
        )
        .scenario
        .expect("compiles")
    };
    let salehi = load("salehi");
    let agrad = load("agrad");
    println!("dialflow interpreter benchmark (one thread)");
    bench(
        "salehi happy path",
        &salehi,
        "yes is a success without an operator",
    );
    bench(
        "salehi number loop",
        &salehi,
        "asks where the number came from, then says yes",
    );
    bench(
        "agrad operator answers",
        &agrad,
        "yes and the operator answers",
    );
}
