//! While `dialflow run` holds the store, the `campaign` commands go through its HTTP
//! API: list, create, start, pause, show, stop; and the API answers bad requests with
//! clear errors. Real processes: `dialflow sim`, `dialflow run`, the commands.

mod common;
use common::cli::{dialflow, ok};
use common::dirs::TempDir;
use common::process::{BIN, Lines, Proc, url_address};
use common::start_sim;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `dialflow run` in `dir`, once its API answers: the process, its log, the API's address.
fn start_daemon(dir: &std::path::Path) -> (Proc, Lines, std::net::SocketAddr) {
    let mut daemon = Proc::spawn(
        Command::new(BIN)
            .current_dir(dir)
            .env("RUST_LOG", "debug")
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let stderr = Lines::of(daemon.0.stderr.take().unwrap());
    let api = url_address(&stderr.until("HTTP API on http://", Duration::from_secs(20)));
    (daemon, stderr, api)
}

#[test]
fn campaign_commands_go_through_the_running_daemon() {
    let sim = start_sim("20");
    let sim_port = sim.port;
    let work = TempDir::new("daemon-api");
    let dir = work.path();
    let repo = env!("CARGO_MANIFEST_DIR");
    std::fs::write(
        dir.join("dialflow.yaml"),
        format!(
            "ari: {{url: \"http://127.0.0.1:{sim_port}\", user: dialflow, password: pw}}\n\
             dial: {{template: \"Local/{{number}}@sim-customers\"}}\n\
             operators: {{sales: \"Local/op-answer@sim-operators\"}}\n\
             scenarios: {repo}/scenarios\nprompts: {repo}/prompts\nstore: s.redb\n\
             listen: \"127.0.0.1:0\"\nshutdown_grace: 1s\n"
        ),
    )
    .unwrap();
    ok(
        dir,
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
    ok(dir, &["leads", "import", "early", "leads.csv"]);

    // Its API on a port the system picks: the commands find it beside the store.
    let (mut daemon, stderr, api) = start_daemon(dir);
    stderr.drain();
    assert_eq!(
        std::fs::read_to_string(dir.join("s.redb.api"))
            .unwrap()
            .trim(),
        api.to_string()
    );

    // The store is held: these go through the API.
    let list = ok(dir, &["campaign", "list"]);
    assert!(list.contains("early") && list.contains("draft"), "{list}");
    let created = ok(
        dir,
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
    let e = dialflow(dir, &["campaign", "create", "late", "--scenario", "agrad"]);
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("exists already"));
    let e = dialflow(dir, &["campaign", "pause", "early"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("is draft: cannot pause it"));
    assert!(ok(dir, &["campaign", "start", "early"]).contains("is running"));

    // The daemon dials the campaign it was told to start and completes it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let show = ok(dir, &["campaign", "show", "early"]);
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
    let out = ok(dir, &["leads", "import", "late", "more.csv"]);
    assert!(
        out.contains("2 lead(s) added, 0 duplicate(s) skipped, 1 row(s) rejected"),
        "{out}"
    );
    let errors = std::fs::read_to_string(dir.join("more.errors.csv")).unwrap();
    assert!(
        errors.contains("3,`12` is not a valid phone number"),
        "{errors}"
    );
    let leads = ok(dir, &["leads", "list", "late"]);
    assert!(
        leads.contains("+989121000302") && leads.contains("Sara"),
        "{leads}"
    );
    let out = ok(
        dir,
        &["leads", "cancel", "late", "--phone", "0912 100 0402"],
    );
    assert!(out.contains("1 pending lead(s) cancelled"), "{out}");
    let out = ok(dir, &["dnc", "add", "09121000502", "--campaign", "late"]);
    assert!(out.contains("1 number(s) added"), "{out}");
    assert!(ok(dir, &["dnc", "list", "--campaign", "late"]).contains("+989121000502"));
    let attempts = ok(dir, &["attempts", "list", "early"]);
    assert_eq!(attempts.matches("not_interested").count(), 2, "{attempts}");
    let export = ok(dir, &["attempts", "export", "early"]);
    assert!(
        export.starts_with("attempt,campaign,lead_id,phone"),
        "{export}"
    );
    assert_eq!(export.lines().count(), 3, "{export}");
    let out = ok(
        dir,
        &["leads", "recycle", "early", "--result", "not_interested"],
    );
    assert!(out.contains("2 lead(s) back in the queue"), "{out}");

    let out = ok(
        dir,
        &["campaign", "update", "late", "--max-per-second", "1"],
    );
    assert!(out.contains("campaign `late` updated"), "{out}");
    assert!(ok(dir, &["campaign", "show", "late"]).contains("max_per_second: 1"));
    let out = ok(dir, &["campaign", "stop", "late", "--cancel-pending"]);
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
                .current_dir(dir)
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
        dir,
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
    ok(dir, &["campaign", "archive", "late"]);
    let e = dialflow(dir, &["leads", "import", "late", "more.csv"]);
    assert!(!e.status.success());
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(stderr.contains("archived"), "{stderr}");
    // No upload folder is left next to the store.
    let leftovers: Vec<_> = std::fs::read_dir(dir)
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
    let e = dialflow(dir, &["campaign", "show", "early?x"]);
    assert!(!e.status.success());
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("is not a campaign name"),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );
    // An upload that stalls half-way does not hold the daemon up when it stops.
    // (With the token the daemon made: without one it is refused before its body.)
    let token = std::fs::read_to_string(dir.join("s.redb.token")).unwrap();
    let mut stalled = std::net::TcpStream::connect(api).unwrap();
    std::io::Write::write_all(
        &mut stalled,
        format!(
            "POST /api/campaigns/early/leads HTTP/1.1\r\nhost: x\r\ncontent-type: text/csv\r\n\
             authorization: Bearer {}\r\ncontent-length: 1000000\r\n\r\nphone\n0912",
            token.trim()
        )
        .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Stopped gracefully, the store is the commands' again.
    daemon.sigterm();
    let status = daemon.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}");
    assert!(
        !dir.join("s.redb.api").exists(),
        "the address file goes with the API"
    );
    drop(stalled);
    let list = ok(dir, &["campaign", "list"]);
    assert!(
        list.contains("completed") && list.contains("archived"),
        "{list}"
    );
}

/// `dialflow reload` and SIGHUP reach a running `dialflow run` (with its watch off, so
/// only they reload): a good folder is served and its hashes printed; a broken file is
/// refused with its place (file:line:col), and the command fails.
#[test]
fn reload_command_and_sighup_reach_the_running_daemon() {
    let sim = start_sim("20");
    let work = TempDir::new("daemon-reload-cmd");
    let dir = work.path();
    let repo = env!("CARGO_MANIFEST_DIR");
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::copy(
        format!("{repo}/scenarios/salehi.yaml"),
        dir.join("scenarios/salehi.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("dialflow.yaml"),
        format!(
            "ari: {{url: \"http://127.0.0.1:{}\", user: dialflow, password: pw}}\n\
             dial: {{template: \"Local/{{number}}@sim-customers\"}}\n\
             scenarios: scenarios\nprompts: {repo}/prompts\nstore: s.redb\n\
             listen: \"127.0.0.1:0\"\nshutdown_grace: 1s\nwatch: false\n",
            sim.port
        ),
    )
    .unwrap();
    ok(dir, &["campaign", "create", "c", "--scenario", "salehi"]);
    // Without a daemon there is nothing to reload, and the command says so.
    let alone = dialflow(dir, &["reload"]);
    assert!(!alone.status.success());
    let said = String::from_utf8_lossy(&alone.stderr);
    assert!(said.contains("no `dialflow run` holds"), "{said}");

    let (mut daemon, stderr, _) = start_daemon(dir);

    let served = ok(dir, &["reload"]);
    assert!(served.starts_with("salehi\t"), "{served}");

    let broken =
        std::fs::read_to_string(format!("{repo}/tests/broken/02_unknown_field_promt.yaml"));
    std::fs::write(dir.join("scenarios/broken.yaml"), broken.unwrap()).unwrap();
    let refused = dialflow(dir, &["reload"]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("broken.yaml:10:7") && why.contains("promt"),
        "{why}"
    );

    // SIGHUP: the same reload, its outcome in the daemon's log (after the two above).
    stderr.until("reload failed", Duration::from_secs(20));
    std::fs::remove_file(dir.join("scenarios/broken.yaml")).unwrap();
    let edited = std::fs::read_to_string(dir.join("scenarios/salehi.yaml"))
        .unwrap()
        .replacen("description: >", "description: >\n  Edited for SIGHUP.", 1);
    std::fs::write(dir.join("scenarios/salehi.yaml"), &edited).unwrap();
    daemon.signal("HUP");
    let line = stderr.until("reloaded: ", Duration::from_secs(20));
    assert!(line.contains("1 scenario"), "{line}");

    // Two versions: the one served at start, and the edit SIGHUP loaded (the API's
    // reload changed nothing, so it added none); the hash leads to the exact text.
    let listed = ok(dir, &["scenarios", "show", "salehi", "--versions"]);
    let rows: Vec<&str> = listed
        .lines()
        .filter(|l| l.starts_with("salehi\t"))
        .collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(
        rows[0].ends_with("\tstart") && rows[1].ends_with("\tsignal"),
        "{listed}"
    );
    let hash = rows[1].split('\t').nth(2).unwrap();
    let text = ok(dir, &["scenarios", "text", hash]);
    assert!(
        text.contains("Edited for SIGHUP.") && text.contains(&edited[..200]),
        "{text}"
    );
    let latest = ok(dir, &["scenarios", "list"]);
    assert!(latest.contains(&format!("salehi\t2\t{hash}")), "{latest}");
    daemon.sigterm();
    let status = daemon.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}");
    // Its log, at debug level, over requests that carried it, never shows the token.
    let log = stderr.rest();
    let token = std::fs::read_to_string(dir.join("s.redb.token")).unwrap();
    assert!(!log.contains(token.trim()), "{log}");
    // With the daemon gone, the same history from the store itself.
    let local = ok(dir, &["scenarios", "show", "salehi", "--versions"]);
    assert_eq!(local, listed);
}
