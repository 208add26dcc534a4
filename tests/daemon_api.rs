//! While `dialflow run` holds the store, the `campaign` commands go through its HTTP
//! API: list, create, start, pause, show, stop; and the API answers bad requests with
//! clear errors. Real processes: `dialflow sim`, `dialflow run`, the commands.

mod common;
use common::start_sim;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dialflow");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn dialflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = dialflow(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn campaign_commands_go_through_the_running_daemon() {
    let sim = start_sim("20");
    let sim_port = sim.port;
    let api_port = free_port();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("daemon-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    std::fs::write(
        dir.join("dialflow.yaml"),
        format!(
            "ari: {{url: \"http://127.0.0.1:{sim_port}\", user: dialflow, password: pw}}\n\
             dial: {{template: \"Local/{{number}}@sim-customers\"}}\n\
             operators: {{sales: \"Local/op-answer@sim-operators\"}}\n\
             scenarios: {repo}/scenarios\nprompts: {repo}/prompts\nstore: s.redb\n\
             listen: \"127.0.0.1:{api_port}\"\nshutdown_grace: 1s\n"
        ),
    )
    .unwrap();
    ok(
        &dir,
        &[
            "campaign",
            "create",
            "early",
            "--scenario",
            "salehi",
            "--window",
            "daily=00:00-24:00",
        ],
    );
    std::fs::write(dir.join("leads.csv"), "phone\n09121000002\n09121000102\n").unwrap();
    ok(&dir, &["leads", "import", "early", "leads.csv"]);

    let mut daemon = Proc(
        Command::new(BIN)
            .current_dir(&dir)
            .arg("run")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(api_port);

    // The store is held: these go through the API.
    let list = ok(&dir, &["campaign", "list"]);
    assert!(list.contains("early") && list.contains("draft"), "{list}");
    let created = ok(
        &dir,
        &[
            "campaign",
            "create",
            "late",
            "--scenario",
            "agrad",
            "--max-concurrent",
            "2",
        ],
    );
    assert!(
        created.contains("campaign `late` created (draft)"),
        "{created}"
    );
    let e = dialflow(&dir, &["campaign", "create", "late", "--scenario", "agrad"]);
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("exists already"));
    let e = dialflow(&dir, &["campaign", "pause", "early"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("is draft: cannot pause it"));
    assert!(ok(&dir, &["campaign", "start", "early"]).contains("is running"));

    // The daemon dials the campaign it was told to start and completes it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let show = ok(&dir, &["campaign", "show", "early"]);
        if show.contains("state     completed") {
            assert!(show.contains("attempts                 2"), "{show}");
            break;
        }
        assert!(Instant::now() < deadline, "not completed:\n{show}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Leads, DNC and attempts through the API too.
    std::fs::write(
        dir.join("more.csv"),
        "phone,name\n09121000302,Sara\n12,Bad\n09121000402,Ali\n",
    )
    .unwrap();
    let out = ok(&dir, &["leads", "import", "late", "more.csv"]);
    assert!(
        out.contains("2 lead(s) added, 0 duplicate(s) skipped, 1 row(s) rejected"),
        "{out}"
    );
    let errors = std::fs::read_to_string(dir.join("more.errors.csv")).unwrap();
    assert!(
        errors.contains("3,`12` is not a valid phone number"),
        "{errors}"
    );
    let leads = ok(&dir, &["leads", "list", "late"]);
    assert!(
        leads.contains("+989121000302") && leads.contains("Sara"),
        "{leads}"
    );
    let out = ok(
        &dir,
        &["leads", "cancel", "late", "--phone", "0912 100 0402"],
    );
    assert!(out.contains("1 pending lead(s) cancelled"), "{out}");
    let out = ok(&dir, &["dnc", "add", "09121000502", "--campaign", "late"]);
    assert!(out.contains("1 number(s) added"), "{out}");
    assert!(ok(&dir, &["dnc", "list", "--campaign", "late"]).contains("+989121000502"));
    let attempts = ok(&dir, &["attempts", "list", "early"]);
    assert_eq!(attempts.matches("not_interested").count(), 2, "{attempts}");
    let export = ok(&dir, &["attempts", "export", "early"]);
    assert!(
        export.starts_with("attempt,campaign,lead_id,phone"),
        "{export}"
    );
    assert_eq!(export.lines().count(), 3, "{export}");
    let out = ok(
        &dir,
        &["leads", "recycle", "early", "--result", "not_interested"],
    );
    assert!(out.contains("2 lead(s) back in the queue"), "{out}");

    let out = ok(
        &dir,
        &["campaign", "update", "late", "--max-per-second", "1"],
    );
    assert!(out.contains("campaign `late` updated"), "{out}");
    assert!(ok(&dir, &["campaign", "show", "late"]).contains("max_per_second: 1"));
    let out = ok(&dir, &["campaign", "stop", "late", "--cancel-pending"]);
    assert!(out.contains("campaign `late` is stopped"), "{out}");

    // Imports side by side each get their own upload: every lead lands.
    let files: Vec<String> = (0..3)
        .map(|f| {
            let name = format!("batch{f}.csv");
            let rows: String = (0..500)
                .map(|i| format!("0912{:07}\n", 2_000_000 + f * 1_000 + i))
                .collect();
            std::fs::write(dir.join(&name), format!("phone\n{rows}")).unwrap();
            name
        })
        .collect();
    let imports: Vec<Child> = files
        .iter()
        .map(|f| {
            Command::new(BIN)
                .current_dir(&dir)
                .args(["leads", "import", "early", f])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for import in imports {
        let out = import.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("500 lead(s) added, 0 duplicate(s)"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The error report may not overwrite the lead file, through the daemon either.
    let e = dialflow(
        &dir,
        &[
            "leads", "import", "early", "more.csv", "--errors", "more.csv",
        ],
    );
    assert!(!e.status.success());
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("cannot be the lead file itself"),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );
    assert!(
        std::fs::read_to_string(dir.join("more.csv"))
            .unwrap()
            .starts_with("phone,name")
    );
    // An archived campaign takes no leads: a conflict, named.
    ok(&dir, &["campaign", "archive", "late"]);
    let e = dialflow(&dir, &["leads", "import", "late", "more.csv"]);
    assert!(!e.status.success());
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(stderr.contains("archived"), "{stderr}");
    // No upload folder is left next to the store.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".dialflow-upload")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A name is checked before it becomes part of a URL: `early?x` is not `early`.
    let e = dialflow(&dir, &["campaign", "show", "early?x"]);
    assert!(!e.status.success());
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("is not a campaign name"),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );
    // An upload that stalls half-way does not hold the daemon up when it stops.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", api_port)).unwrap();
    std::io::Write::write_all(
        &mut stalled,
        b"POST /api/campaigns/early/leads HTTP/1.1\r\nhost: x\r\ncontent-type: text/csv\r\n\
          content-length: 1000000\r\n\r\nphone\n0912",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Stopped gracefully, the store is the commands' again.
    sigterm(&daemon.0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    drop(stalled);
    let list = ok(&dir, &["campaign", "list"]);
    assert!(
        list.contains("completed") && list.contains("archived"),
        "{list}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM through the `kill` program (std has no signal API).
fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
