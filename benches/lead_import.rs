//! Benchmark: reading a generated lead file of a million rows (what an import of a big
//! campaign costs before the store), and phone normalisation alone.
//!
//! Run with `cargo bench --bench lead_import` (`-- ROWS` for another size). The file is
//! generated in memory: Iranian mobiles in the usual spellings, a name, a time zone on
//! every other row, two custom columns, and about 2 % bad rows.

use std::hint::black_box;
use std::time::Instant;

use dialflow::leads::{LeadReader, PhoneNormalizer};
use phonenumber::country::Id;

/// A deterministic generator, so every run reads the same file.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn phone(rng: &mut Lcg) -> String {
    let prefix = ["912", "935", "901", "919", "990", "921"][(rng.next() % 6) as usize];
    let rest = format!("{:07}", rng.next() % 10_000_000);
    match rng.next() % 100 {
        0..=49 => format!("0{prefix}{rest}"),
        50..=69 => format!("+98{prefix}{rest}"),
        70..=84 => format!("0{prefix} {} {}", &rest[..3], &rest[3..]),
        85..=97 => format!("0098-{prefix}-{}-{}", &rest[..3], &rest[3..]),
        98 => format!("{}", rng.next() % 1000),
        _ => format!("0{prefix}x{rest}"),
    }
}

fn generate(rows: usize) -> Vec<u8> {
    let mut rng = Lcg(7);
    let mut out = String::with_capacity(rows * 60);
    out.push_str("phone,name,tz,city,plan\n");
    for i in 0..rows {
        let tz = if i % 2 == 0 { "Asia/Tehran" } else { "" };
        let city = ["Tehran", "Shiraz", "Tabriz", "Mashhad"][i % 4];
        out.push_str(&format!(
            "{},Customer {i},{tz},{city},\"gold, yearly\"\n",
            phone(&mut rng)
        ));
    }
    out.into_bytes()
}

fn main() {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    println!("dialflow lead import benchmark ({rows} rows)");

    let start = Instant::now();
    let file = generate(rows);
    println!(
        "generate {:.1} MB                      {:>8.2} s",
        file.len() as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );

    let mut rng = Lcg(7);
    let sample: Vec<String> = (0..100_000).map(|_| phone(&mut rng)).collect();
    let phones = PhoneNormalizer::new(Id::IR);
    let start = Instant::now();
    let mut ok = 0;
    for raw in &sample {
        ok += phones.normalize(black_box(raw)).is_ok() as usize;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "PhoneNormalizer alone                  {:>8.0} numbers/s ({ok} valid of {})",
        sample.len() as f64 / secs,
        sample.len()
    );

    let start = Instant::now();
    let reader = LeadReader::new(&file[..], "IR").expect("header");
    let (mut leads, mut rejected) = (0usize, 0usize);
    for row in reader {
        match row.expect("in memory") {
            Ok(lead) => {
                black_box(&lead);
                leads += 1;
            }
            Err(_) => rejected += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "LeadReader, whole file                 {:>8.0} rows/s, {secs:.2} s ({leads} leads, {rejected} rejected)",
        rows as f64 / secs
    );
}
