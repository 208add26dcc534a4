//! Crash safety with real processes: a campaign imported from CSV runs through
//! `dialflow run` against `dialflow sim`; dialflow is killed with SIGKILL in the middle
//! and started again. No attempt is dialled twice (the simulator logs every channel id
//! an originate asks for), no attempt is lost, and the campaign completes.

mod common;
use common::cli::ok as dialflow;
use common::dirs::TempDir;
use common::process::{BIN, Lines, Proc};
use common::start_sim;

use std::collections::{BTreeMap, HashSet};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A fresh working folder with dialflow.yaml, the campaign settings and the leads.
fn workspace(port: u16) -> TempDir {
    let dir = TempDir::new("crash");
    let repo = env!("CARGO_MANIFEST_DIR");
    dir.write(
        "dialflow.yaml",
        &format!(
            "ari:\n  url: http://127.0.0.1:{port}\n  user: dialflow\n  password: pw\n\
             dial:\n  template: \"Local/{{number}}@sim-customers\"\n\
             operators:\n  sales: \"Local/op-answer@sim-operators\"\n\
             scenarios: {repo}/scenarios\nprompts: {repo}/prompts\nstore: data/crash.redb\n\
             max_concurrent: 8\nshutdown_grace: 1s\nlisten: \"\"\n"
        ),
    );
    dir.write(
        "campaign.yaml",
        "scenario: salehi\n\
         windows: {daily: [\"00:00-24:00\"]}\n\
         pacing: {max_concurrent: 8, max_per_second: 4}\n\
         retries:\n\
         \x20 busy: {after: 1s, max: 1}\n\
         \x20 missed: {after: 1s, max: 1}\n\
         \x20 power_off: {after: 1s, max: 1}\n\
         \x20 \"failed:*\": {after: 1s, max: 2}\n",
    );
    // Forty leads; the last two digits pick the simulated customer (`yes`, `no`, `busy`…).
    let mut csv = String::from("phone,name,plan\n");
    for i in 0..40 {
        csv.push_str(&format!("0912100{i:02}{:02},Lead {i},gold\n", i % 20));
    }
    dir.write("leads.csv", &csv);
    dir
}

fn originates(port: u16) -> BTreeMap<String, u32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        dialflow::tls::system_http_client()
            .get(format!("http://127.0.0.1:{port}/sim/originates"))
            .basic_auth("dialflow", Some("pw"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn a_killed_dialer_never_redials_an_attempt_and_finishes_the_campaign() {
    let sim = start_sim("20");
    let port = sim.port;
    let work = workspace(port);
    let dir = work.path();
    dialflow(
        dir,
        &["campaign", "create", "crash", "--settings", "campaign.yaml"],
    );
    let imported = dialflow(dir, &["leads", "import", "crash", "leads.csv"]);
    assert!(imported.contains("40 lead(s) added"), "{imported}");
    dialflow(dir, &["campaign", "start", "crash"]);

    // First run: killed (SIGKILL, no goodbye) once a few calls have finished.
    let mut first = Proc::spawn(
        Command::new(BIN)
            .current_dir(dir)
            .args(["run", "--exit-when-idle"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let stdout = Lines::of(first.0.stdout.take().unwrap());
    for _ in 0..6 {
        stdout.until("crash\t", Duration::from_secs(60));
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    // Second run: recovers what the first left open, then finishes the campaign.
    let mut second = Proc::spawn(
        Command::new(BIN)
            .current_dir(dir)
            .args(["run", "--exit-when-idle"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let stderr = Lines::of(second.0.stderr.take().unwrap());
    let status = second.wait_exit(Duration::from_secs(240));
    assert!(status.success(), "the second run failed: {status}");
    let stderr = stderr.rest();
    assert!(
        stderr.contains("attempt(s) left open by the previous run"),
        "the restart closed the attempts the kill left open:\n{stderr}"
    );

    // Every attempt is recorded with an end, ids are unique, none was dialled twice.
    let export = dialflow(dir, &["attempts", "export", "crash"]);
    let mut reader = csv::Reader::from_reader(export.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id_col, ended_col, result_col, phone_col) =
        (col("attempt"), col("ended"), col("result"), col("phone"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let ids: HashSet<&str> = rows.iter().map(|r| &r[id_col]).collect();
    assert_eq!(ids.len(), rows.len(), "attempt ids are unique");
    assert!(
        rows.iter().all(|r| !r[ended_col].is_empty()),
        "every attempt has an end"
    );
    assert!(
        rows.iter().any(|r| &r[result_col] == "failed:interrupted"),
        "the calls live at the kill were closed as interrupted"
    );
    let phones: HashSet<&str> = rows.iter().map(|r| &r[phone_col]).collect();
    assert_eq!(phones.len(), 40, "every lead was attempted");

    let seen = originates(port);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "channels originated twice: {twice:?}");
    for id in seen.keys() {
        let attempt = id.split('-').next().unwrap();
        assert!(
            ids.contains(attempt),
            "the simulator saw {id}, whose attempt the store does not have"
        );
    }

    let campaigns = dialflow(dir, &["campaign", "list"]);
    assert!(
        campaigns
            .lines()
            .any(|l| l.starts_with("crash") && l.contains("completed")),
        "{campaigns}"
    );
}
