//! The store commands as ops use them: `campaign`, `leads`, `dnc`, `attempts`, with bad
//! input (settings, CSV files, numbers, time zones) answered by clear errors.

mod common;
use common::cli;
use common::dirs::TempDir;
use common::process::BIN;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh folder with the shipped scenarios; every command names the store `s.redb`.
struct Work(TempDir);

impl Work {
    fn new(name: &str) -> Work {
        let dir = TempDir::new(&format!("cli-campaign-{name}"));
        std::os::unix::fs::symlink(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"),
            dir.join("scenarios"),
        )
        .unwrap();
        Work(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        self.0.write(name, text)
    }

    fn with_store<'a>(args: &[&'a str]) -> Vec<&'a str> {
        args.iter().copied().chain(["--store", "s.redb"]).collect()
    }

    fn ok(&self, args: &[&str]) -> String {
        cli::ok(self.path(), &Self::with_store(args))
    }

    fn fails(&self, args: &[&str]) -> String {
        cli::fails(self.path(), &Self::with_store(args))
    }
}

#[test]
fn bad_settings_are_refused_naming_the_key() {
    let w = Work::new("settings");
    let e = w.fails(&[
        "campaign",
        "create",
        "c",
        "--scenario",
        "salehi",
        "--time-zone",
        "Mars/Olympus",
    ]);
    assert!(e.contains("time_zone") && e.contains("Mars/Olympus"), "{e}");
    let e = w.fails(&[
        "campaign",
        "create",
        "c",
        "--scenario",
        "salehi",
        "--window",
        "mon-fri=25:00-26:00",
    ]);
    assert!(e.contains("windows") && e.contains("25:00-26:00"), "{e}");
    let e = w.fails(&[
        "campaign",
        "create",
        "c",
        "--scenario",
        "salehi",
        "--region",
        "XX",
    ]);
    assert!(e.contains("region"), "{e}");
    let e = w.fails(&["campaign", "create", "c"]);
    assert!(e.contains("scenario: missing"), "{e}");
    w.file(
        "typo.yaml",
        "scenario: salehi\nwindow:\n  daily: [\"09:00-18:00\"]\n",
    );
    let e = w.fails(&["campaign", "create", "c", "--settings", "typo.yaml"]);
    assert!(e.contains("typo.yaml:2:1") && e.contains("window"), "{e}");
    w.file(
        "retry.yaml",
        "scenario: salehi\nretries:\n  busy: {after: soon, max: 2}\n",
    );
    let e = w.fails(&["campaign", "create", "c", "--settings", "retry.yaml"]);
    assert!(e.contains("retries.busy.after"), "{e}");
    let e = w.fails(&["campaign", "create", "bad name", "--scenario", "salehi"]);
    assert!(e.contains("not a campaign name"), "{e}");
    assert!(w.ok(&["campaign", "list"]).contains("no campaigns"));
}

#[test]
fn a_campaign_from_csv_through_its_states() {
    let w = Work::new("states");
    let out = w.ok(&[
        "campaign",
        "create",
        "spring",
        "--scenario",
        "salehi",
        "--region",
        "IR",
        "--window",
        "sat-wed=09:00-13:00,16:00-20:00",
        "--time-zone",
        "Asia/Tehran",
    ]);
    assert!(out.contains("campaign `spring` created (draft)"), "{out}");
    w.file(
        "leads.csv",
        "phone;name;time_zone;plan\n\
         0912 123 4567;Sara;Asia/Tehran;gold\n\
         +98 912 123 4567;Sara again;;gold\n\
         12;Short;;x\n\
         0912abc4567;Letters;;x\n\
         09121234568;Zoned;Mars/Olympus;x\n\
         09121234569;Ali\n\
         09121234570;Reza;;silver\n",
    );
    let out = w.ok(&["leads", "import", "spring", "leads.csv"]);
    assert!(
        out.contains("2 lead(s) added, 1 duplicate(s) skipped, 4 row(s) rejected"),
        "{out}"
    );
    let errors = std::fs::read_to_string(w.path().join("leads.errors.csv")).unwrap();
    assert!(
        errors.starts_with("line,reason,phone,name,time_zone,plan\n"),
        "{errors}"
    );
    assert!(
        errors.contains("4,`12` is not a valid phone number for region IR"),
        "{errors}"
    );
    assert!(
        errors.contains("6,unknown time zone `Mars/Olympus`"),
        "{errors}"
    );
    assert!(
        errors.contains("7,\"2 fields, the header has 4\",09121234569,Ali"),
        "{errors}"
    );
    let list = w.ok(&["leads", "list", "spring"]);
    assert!(
        list.contains("+989121234567") && list.contains("Asia/Tehran"),
        "{list}"
    );

    let out = w.ok(&[
        "campaign",
        "update",
        "spring",
        "--max-concurrent",
        "3",
        "--max-per-second",
        "0.5",
    ]);
    assert!(out.contains("campaign `spring` updated (draft)"), "{out}");
    let e = w.fails(&[
        "campaign",
        "update",
        "spring",
        "--time-zone",
        "Mars/Olympus",
    ]);
    assert!(e.contains("time_zone"), "{e}");
    let show = w.ok(&["campaign", "show", "spring"]);
    assert!(
        show.contains("max_concurrent: 3") && show.contains("max_per_second: 0.5"),
        "{show}"
    );
    assert!(
        show.contains("time_zone: \"Asia/Tehran\""),
        "the failed update changed nothing: {show}"
    );
    let e = w.fails(&["campaign", "pause", "spring"]);
    assert!(
        e.contains("campaign `spring` is draft: cannot pause it"),
        "{e}"
    );
    assert!(
        w.ok(&["campaign", "start", "spring"])
            .contains("is running")
    );
    assert!(w.ok(&["campaign", "pause", "spring"]).contains("is paused"));
    let out = w.ok(&["campaign", "stop", "spring", "--cancel-pending"]);
    assert!(out.contains("2 pending lead(s) cancelled"), "{out}");
    let show = w.ok(&["campaign", "show", "spring"]);
    assert!(show.contains("state     stopped"), "{show}");
    assert!(show.contains("cancelled                2"), "{show}");
    assert!(
        w.ok(&["campaign", "archive", "spring"])
            .contains("is archived")
    );
    let e = w.fails(&["leads", "import", "spring", "leads.csv"]);
    assert!(e.contains("archived"), "{e}");
    let export = w.ok(&["attempts", "export", "spring"]);
    assert!(
        export.starts_with("attempt,campaign,lead_id,phone"),
        "{export}"
    );
    assert_eq!(export.lines().count(), 1, "no attempts yet");
    // Into a file: whole, or not at all.
    w.ok(&["attempts", "export", "spring", "-o", "out.csv"]);
    assert!(
        std::fs::read_to_string(w.path().join("out.csv"))
            .unwrap()
            .starts_with("attempt,campaign")
    );
    w.fails(&["attempts", "export", "nosuch", "-o", "none.csv"]);
    assert!(!w.path().join("none.csv").exists() && !w.path().join("none.csv.part").exists());
    assert!(!w.path().join("out.csv.part").exists());
}

#[test]
fn empty_and_headless_files_are_clear_errors() {
    let w = Work::new("empty");
    w.ok(&["campaign", "create", "c", "--scenario", "salehi"]);
    w.file("empty.csv", "");
    let e = w.fails(&["leads", "import", "c", "empty.csv"]);
    assert!(
        e.contains("empty.csv") && e.contains("the file is empty"),
        "{e}"
    );
    w.file("nophone.csv", "name,city\nSara,Tehran\n");
    let e = w.fails(&["leads", "import", "c", "nophone.csv"]);
    assert!(e.contains("no phone column"), "{e}");
    let e = w.fails(&["leads", "import", "c", "missing.csv"]);
    assert!(e.contains("missing.csv"), "{e}");
    let e = w.fails(&["leads", "import", "nosuch", "empty.csv"]);
    assert!(e.contains("no campaign named `nosuch`"), "{e}");
    w.file("self.csv", "phone\n09121234567\n");
    let e = w.fails(&["leads", "import", "c", "self.csv", "--errors", "self.csv"]);
    assert!(e.contains("cannot be the lead file itself"), "{e}");
    assert!(
        std::fs::read_to_string(w.path().join("self.csv"))
            .unwrap()
            .contains("0912")
    );
    w.file("header.csv", "phone,name\n");
    assert!(
        w.ok(&["leads", "import", "c", "header.csv"])
            .contains("0 lead(s) added")
    );
}

#[test]
fn dnc_lists_take_normalised_numbers() {
    let w = Work::new("dnc");
    w.ok(&["campaign", "create", "c", "--scenario", "salehi"]);
    let out = w.ok(&["dnc", "add", "0912 123 4567", "+989121234567"]);
    assert!(
        out.contains("1 number(s) added (1 already listed)"),
        "{out}"
    );
    let e = w.fails(&["dnc", "add", "12"]);
    assert!(e.contains("`12`"), "{e}");
    w.file(
        "dnc.txt",
        "phone\n09121230000\nnot a number\n\n09121230001\n",
    );
    let out = w.ok(&["dnc", "import", "dnc.txt", "--campaign", "c"]);
    assert!(
        out.contains("2 number(s) added, 1 line(s) rejected"),
        "{out}"
    );
    assert!(w.ok(&["dnc", "list"]).contains("+989121234567"));
    assert!(
        w.ok(&["dnc", "list", "--campaign", "c"])
            .contains("+989121230001")
    );
    let e = w.fails(&["dnc", "add", "09121234567", "--campaign", "nosuch"]);
    assert!(e.contains("no campaign named"), "{e}");
    // A campaign's list reads numbers in the campaign's region, as its leads are.
    w.ok(&[
        "campaign",
        "create",
        "us",
        "--scenario",
        "salehi",
        "--region",
        "US",
    ]);
    w.ok(&["dnc", "add", "(415) 555-2671", "--campaign", "us"]);
    // The phone column is found by its header, wherever it stands.
    w.file(
        "us.csv",
        "id,name,phone\n7,Ann,415 555 0100\n8,Bob,not a number\n",
    );
    let out = w.ok(&["dnc", "import", "us.csv", "--campaign", "us"]);
    assert!(
        out.contains("1 number(s) added, 1 line(s) rejected"),
        "{out}"
    );
    let list = w.ok(&["dnc", "list", "--campaign", "us"]);
    assert!(
        list.contains("+14155552671") && list.contains("+14155550100"),
        "{list}"
    );
    w.file("nophone.csv", "id,name\n7,Ann\n");
    let e = w.fails(&["dnc", "import", "nophone.csv"]);
    assert!(e.contains("names no phone column"), "{e}");
}

#[test]
fn store_commands_need_no_ari_password_and_find_the_store_from_any_folder() {
    let w = Work::new("config");
    w.file(
        "dialflow.yaml",
        "ari: {url: \"http://127.0.0.1:1\", user: u}\nstore: data/s.redb\n",
    );
    let config = w.path().join("dialflow.yaml");
    let elsewhere = std::env::temp_dir();
    let command = |args: &[&str]| {
        Command::new(BIN)
            .current_dir(&elsewhere)
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("DIALFLOW_ARI_PASSWORD")
            .env_remove("DIALFLOW_STORE")
            .output()
            .unwrap()
    };
    // Nothing there yet: a read says so and creates nothing.
    let out = command(&["campaign", "list"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no store at"), "{stderr}");
    assert!(!w.path().join("data").exists());
    // A create makes it, next to the configuration, without the ARI password.
    let out = command(&["campaign", "create", "spring", "--scenario", "salehi"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(w.path().join("data/s.redb").exists());
    let out = command(&["campaign", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("spring"));
}

#[test]
fn a_listing_piped_into_head_stops_quietly() {
    use std::io::Read as _;
    let w = Work::new("pipe");
    w.ok(&["campaign", "create", "c", "--scenario", "salehi"]);
    let rows: String = (0..4_000)
        .map(|i| format!("0912{:07},Lead number {i}\n", 3_000_000 + i))
        .collect();
    w.file("many.csv", &format!("phone,name\n{rows}"));
    w.ok(&["leads", "import", "c", "many.csv"]);
    let mut child = Command::new(BIN)
        .current_dir(w.path())
        .args([
            "leads", "list", "c", "--limit", "10000", "--store", "s.redb",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little, then go away like `head -1`.
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

#[test]
fn a_campaign_starts_with_its_scenario_as_yaml_or_yml_and_not_without_it() {
    let dir = TempDir::new("cli-campaign-yml");
    let salehi = std::fs::read_to_string(format!(
        "{}/scenarios/salehi.yaml",
        env!("CARGO_MANIFEST_DIR")
    ));
    dir.write("scenarios/short.yml", &salehi.unwrap());
    cli::ok(
        dir.path(),
        &Work::with_store(&["campaign", "create", "a", "--scenario", "short"]),
    );
    let out = cli::ok(dir.path(), &Work::with_store(&["campaign", "start", "a"]));
    assert!(out.contains("is running"), "{out}");

    let created = cli::dialflow(
        dir.path(),
        &Work::with_store(&["campaign", "create", "b", "--scenario", "gone"]),
    );
    let warning = String::from_utf8_lossy(&created.stderr);
    assert!(
        warning.contains("gone.yaml does not exist yet"),
        "{warning}"
    );
    let e = cli::fails(dir.path(), &Work::with_store(&["campaign", "start", "b"]));
    assert!(
        e.contains("its scenario") && e.contains("gone.yaml does not exist"),
        "{e}"
    );
}
