//! Crash safety with real processes: a campaign imported from CSV runs through
//! `dialflow run` against `dialflow sim`; dialflow is killed with SIGKILL in the middle
//! and started again. No attempt is dialled twice (the simulator logs every channel id
//! an originate asks for), no attempt is lost, and the campaign completes.

mod common;
use common::start_sim;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dialflow");

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh working folder with dialflow.yaml, the campaign settings and the leads.
fn workspace(port: u16) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crash-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    std::fs::write(
        dir.join("dialflow.yaml"),
        format!(
            "ari:\n  url: http://127.0.0.1:{port}\n  user: dialflow\n  password: pw\n\
             dial:\n  template: \"Local/{{number}}@sim-customers\"\n\
             operators:\n  sales: \"Local/op-answer@sim-operators\"\n\
             scenarios: {repo}/scenarios\nprompts: {repo}/prompts\nstore: data/crash.redb\n\
             max_concurrent: 8\nshutdown_grace: 1s\nlisten: \"\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("campaign.yaml"),
        "scenario: salehi\n\
         windows: {daily: [\"00:00-24:00\"]}\n\
         pacing: {max_concurrent: 8, max_per_second: 4}\n\
         retries:\n\
         \x20 busy: {after: 1s, max: 1}\n\
         \x20 missed: {after: 1s, max: 1}\n\
         \x20 power_off: {after: 1s, max: 1}\n\
         \x20 \"failed:*\": {after: 1s, max: 2}\n",
    )
    .unwrap();
    // Forty leads; the last two digits pick the simulated customer (`yes`, `no`, `busy`…).
    let mut csv = String::from("phone,name,plan\n");
    for i in 0..40 {
        csv.push_str(&format!("0912100{i:02}{:02},Lead {i},gold\n", i % 20));
    }
    std::fs::write(dir.join("leads.csv"), csv).unwrap();
    dir
}

fn dialflow(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("dialflow runs");
    assert!(
        out.status.success(),
        "dialflow {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn originates(port: u16) -> BTreeMap<String, u32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
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
    let dir = workspace(port);
    dialflow(
        &dir,
        &["campaign", "create", "crash", "--settings", "campaign.yaml"],
    );
    let imported = dialflow(&dir, &["leads", "import", "crash", "leads.csv"]);
    assert!(imported.contains("40 lead(s) added"), "{imported}");
    dialflow(&dir, &["campaign", "start", "crash"]);

    // First run: killed (SIGKILL, no goodbye) once a few calls have finished.
    let mut first = Proc(
        Command::new(BIN)
            .current_dir(&dir)
            .args(["run", "--exit-when-idle"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = first.0.stdout.take().unwrap();
    let mut finished_before_kill = 0;
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().starts_with("crash\t") {
            finished_before_kill += 1;
        }
        if finished_before_kill == 6 {
            break;
        }
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    assert_eq!(finished_before_kill, 6, "the first run finished some calls");

    // Second run: recovers what the first left open, then finishes the campaign.
    let second = Command::new(BIN)
        .current_dir(&dir)
        .args(["run", "--exit-when-idle"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let second = Proc(second);
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut second = second;
    loop {
        if let Some(status) = second.0.try_wait().unwrap() {
            assert!(status.success(), "the second run failed: {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the campaign did not finish after the restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("attempt(s) left open by the previous run"),
        "the restart closed the attempts the kill left open:\n{stderr}"
    );

    // Every attempt is recorded with an end, ids are unique, none was dialled twice.
    let export = dialflow(&dir, &["attempts", "export", "crash"]);
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

    let campaigns = dialflow(&dir, &["campaign", "list"]);
    assert!(
        campaigns
            .lines()
            .any(|l| l.starts_with("crash") && l.contains("completed")),
        "{campaigns}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
