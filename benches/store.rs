//! Store benchmarks: importing a CSV of leads (default 1,000,000 rows) end to end,
//! leasing and finishing attempts in dialer-sized batches, and restart recovery with
//! the whole campaign on disk. `cargo bench --bench store -- [ROWS]`.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::leads::import::import_file;
use dialflow::store::campaigns::Transition;
use dialflow::store::{Admission, AttemptEnd, Finished, LeadNext, Store};

fn main() {
    let rows: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("dialflow-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let csv = write_csv(&dir, rows);
    let db = dir.join("bench.redb");
    let now = 1_800_000_000_000u64;

    // Import: CSV parsing, E.164 normalisation, deduplication, batched commits.
    let store = Store::open(&db).unwrap();
    let mut settings = CampaignSettings::for_scenario("salehi");
    settings.max_attempts = 10;
    store.create_campaign("bench", settings, now).unwrap();
    let t = Instant::now();
    let report = import_file(
        &store,
        "bench",
        &csv,
        "IR",
        &dir.join("errors.csv"),
        || now,
        |_, _| {},
    )
    .unwrap();
    let import_s = t.elapsed().as_secs_f64();
    assert_eq!(report.added, rows, "every row imported");
    println!(
        "import      {rows} leads in {import_s:.1} s: {:.0} leads/s ({:.0} MB store)",
        rows as f64 / import_s,
        std::fs::metadata(&db).map_or(0.0, |m| m.len() as f64 / 1e6)
    );

    print_space(&store, rows);

    // Leasing: what the dialer does each tick, in batches of 100.
    store
        .transition("bench", Transition::Start, None, now)
        .unwrap();
    let to_lease = (rows / 10).clamp(1, 100_000) as usize;
    let mut leased = Vec::with_capacity(2 * to_lease);
    for batch_size in [100, 1000] {
        let t = Instant::now();
        let mut n = 0;
        while n < to_lease {
            let batch = store
                .lease(
                    "bench",
                    now,
                    batch_size,
                    3_600_000,
                    "salehi",
                    "hash",
                    |_| Admission::Dial,
                )
                .unwrap();
            assert!(!batch.is_empty());
            n += batch.len();
            leased.extend(batch);
        }
        let lease_s = t.elapsed().as_secs_f64();
        println!(
            "lease       {n} leases in {lease_s:.2} s: {:.0} leases/s (batches of {batch_size}, each one commit)",
            n as f64 / lease_s
        );
    }

    // Finishing: attempt end, lead's next step, outbox report, counters; batches of 100.
    let keep_open = 1_000.min(leased.len());
    let t = Instant::now();
    let to_finish = &leased[keep_open..];
    for chunk in to_finish.chunks(100) {
        let items: Vec<Finished> = chunk
            .iter()
            .map(|l| Finished {
                attempt_id: l.attempt.id.clone(),
                end: AttemptEnd {
                    result: "busy".into(),
                    status: "BUSY".into(),
                    ended_ms: now + 30_000,
                    ..AttemptEnd::default()
                },
                reports: vec![("BUSY".into(), "busy".into(), None)],
            })
            .collect();
        store
            .finish(&items, now + 30_000, |_, _| {
                LeadNext::RetryAt(now + 600_000)
            })
            .unwrap();
    }
    let finish_s = t.elapsed().as_secs_f64();
    println!(
        "finish      {} attempts in {finish_s:.2} s: {:.0} finishes/s (batches of 100)",
        to_finish.len(),
        to_finish.len() as f64 / finish_s
    );
    drop(store);

    // Restart: open the file and find the attempts a crash would have left open.
    let t = Instant::now();
    let store = Store::open(&db).unwrap();
    let open = store.open_attempts().unwrap();
    let counts = store.counts("bench").unwrap();
    let recover_s = t.elapsed().as_secs_f64();
    assert_eq!(open.len(), keep_open);
    println!(
        "recovery    open + find {} open attempts among {} leads: {:.0} ms",
        open.len(),
        counts["leads"],
        recover_s * 1000.0
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bytes per lead, the whole file and table by table.
fn print_space(store: &Store, rows: u64) {
    let space = store.space().unwrap();
    let per = |bytes: u64| bytes as f64 / rows.max(1) as f64;
    println!(
        "space       file {:.0} MB ({:.0} B/lead), pages in use {:.0} MB ({:.0} B/lead)",
        space.file_bytes as f64 / 1e6,
        per(space.file_bytes),
        space.allocated_bytes as f64 / 1e6,
        per(space.allocated_bytes)
    );
    for t in space.tables.iter().filter(|t| t.entries > 0) {
        println!(
            "  {:<18} {:>9} entries  stored {:>5.0} B/lead  metadata {:>4.0}  unused in pages {:>5.0}",
            t.name,
            t.entries,
            per(t.stored_bytes),
            per(t.metadata_bytes),
            per(t.fragmented_bytes)
        );
    }
}

/// `rows` distinct Iranian mobile numbers written the way people type them.
fn write_csv(dir: &std::path::Path, rows: u64) -> PathBuf {
    let path = dir.join("leads.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(w, "phone,name,time_zone,plan").unwrap();
    for i in 0..rows {
        let number = 1_000_000 + i;
        let written = match i % 3 {
            0 => format!("0912{number:07}"),
            1 => format!("+98 912 {number:07}"),
            _ => format!("0098912{number:07}"),
        };
        writeln!(w, "{written},Lead {i},Asia/Tehran,gold").unwrap();
    }
    w.flush().unwrap();
    path
}
