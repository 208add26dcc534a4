//! Benchmark: compiling the shipped scenarios (what a hot reload costs) and drawing them.
//!
//! Run with `cargo bench --bench compile`. Prints the mean time per compile for each
//! scenario with and without the environment checks (prompt WAV headers).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use dialflow::core::compile::{Environment, compile};
use dialflow::core::diagnostic::SourceText;
use dialflow::core::picture;
use dialflow::load::{self, LoadOptions};

fn measure(label: &str, mut f: impl FnMut()) -> Duration {
    // Warm up, then run for about a second.
    for _ in 0..20 {
        f();
    }
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        f();
        runs += 1;
    }
    let mean = start.elapsed() / runs;
    println!(
        "{label:<44} {:>10.1} µs/iter  ({runs} iterations)",
        mean.as_secs_f64() * 1e6
    );
    mean
}

fn main() {
    println!("dialflow compile benchmark");
    for name in ["salehi", "agrad", "reminder"] {
        let path = Path::new("scenarios").join(format!("{name}.yaml"));
        let text = std::fs::read_to_string(&path).expect("shipped scenario");
        let pure = measure(&format!("compile {name} (no environment)"), || {
            let compiled = compile(
                SourceText::new(path.display().to_string(), text.clone()),
                &Environment::default(),
            );
            black_box(compiled.scenario.expect("compiles"));
        });
        let with_env = measure(&format!("compile {name} (with prompt files)"), || {
            black_box(
                load::compile_file(&path, &LoadOptions::default())
                    .scenario
                    .expect("compiles"),
            );
        });
        let scenario = load::compile_file(&path, &LoadOptions::default())
            .scenario
            .expect("compiles");
        measure(&format!("mermaid {name}"), || {
            black_box(picture::mermaid(&scenario));
        });
        println!(
            "{:<44} {:>10.2}x",
            format!("  environment cost ratio for {name}"),
            with_env.as_secs_f64() / pure.as_secs_f64()
        );
    }
}
