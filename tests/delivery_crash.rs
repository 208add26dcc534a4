//! Reports survive a crash: `dialflow run` against `dialflow sim` as real processes,
//! the panel refusing every report (503) so they pile up in the outbox; dialflow is
//! killed with SIGKILL, the panel comes back, and a second run delivers every report
//! (the calls the kill interrupted included), any redelivery with the same key and body.

mod common;
use common::cli::ok as dialflow;
use common::panel::Panel;
use common::process::{BIN, Lines, Proc};
use common::start_sim;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn reports_pending_at_a_sigkill_are_delivered_after_the_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let down = Arc::new(AtomicBool::new(true));
    let refusing = Arc::clone(&down);
    let panel = rt.block_on(Panel::start(Box::new(move |_, _| {
        refusing.load(Ordering::SeqCst).then(|| (503, Vec::new()))
    })));
    let sim = start_sim("20");
    let work = common::dirs::TempDir::new("delivery-crash");
    let dir = work.path();
    let repo = env!("CARGO_MANIFEST_DIR");
    work.write(
        "dialflow.yaml",
        &format!(
            "ari:\n  url: http://127.0.0.1:{}\n  user: dialflow\n  password: pw\n\
             dial:\n  template: \"Local/{{number}}@sim-customers\"\n\
             operators:\n  sales: \"Local/op-answer@sim-operators\"\n\
             scenarios: {repo}/scenarios\nprompts: {repo}/prompts\nstore: data/s.redb\n\
             max_concurrent: 6\nshutdown_grace: 1s\nlisten: \"\"\n\
             panel:\n  url: {}\n  secret_env: DELIVERY_CRASH_TEST_SECRET\n",
            sim.port,
            panel.url()
        ),
    );
    work.write(
        "campaign.yaml",
        "scenario: salehi\nwindows: {daily: [\"00:00-24:00\"]}\n\
         pacing: {max_concurrent: 6, max_per_second: 4}\nmax_attempts: 1\n",
    );
    let mut csv = String::from("phone\n");
    for i in 0..16 {
        csv.push_str(&format!("0912200{i:02}{:02}\n", i % 20));
    }
    work.write("leads.csv", &csv);
    dialflow(
        dir,
        &[
            "campaign",
            "create",
            "reports",
            "--settings",
            "campaign.yaml",
        ],
    );
    dialflow(dir, &["leads", "import", "reports", "leads.csv"]);
    dialflow(dir, &["campaign", "start", "reports"]);

    let run = || {
        Proc::spawn(
            Command::new(BIN)
                .current_dir(dir)
                .env("DELIVERY_CRASH_TEST_SECRET", "s")
                .args(["run", "--exit-when-idle"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        )
    };
    let mut first = run();
    let stdout = Lines::of(first.0.stdout.take().unwrap());
    for _ in 0..6 {
        stdout.until("reports\t", Duration::from_secs(60));
    }
    assert!(!panel.received().is_empty(), "reports were being offered");
    assert!(panel.taken().is_empty(), "the panel took none yet");
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    down.store(false, Ordering::SeqCst);
    let mut second = run();
    let _drained = Lines::of(second.0.stdout.take().unwrap());
    let status = second.wait_exit(Duration::from_secs(240));
    assert!(status.success(), "the second run failed: {status}");

    let export = dialflow(dir, &["attempts", "export", "reports"]);
    let mut reader = csv::Reader::from_reader(export.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id, status_col, result) = (col("attempt"), col("status"), col("result"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 16);
    assert!(
        rows.iter().any(|r| &r[result] == "failed:interrupted"),
        "the kill interrupted calls"
    );
    let taken = panel.taken();
    for r in &rows {
        let key = format!("{}:{}", &r[id], &r[status_col]);
        assert!(taken.contains_key(&key), "{key} never reached the panel");
    }
    for r in panel.received() {
        let kept = taken
            .get(&r.key)
            .unwrap_or_else(|| panic!("{} was lost", r.key));
        assert_eq!(kept.json(), r.json(), "a redelivery of {} changed", r.key);
    }
}
