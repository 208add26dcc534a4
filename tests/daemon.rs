//! A whole daemon in the test's process, started through `daemon::run` as `dialflow run`
//! starts it, its API on a port the system picked: the status it reports, a daemon-wide
//! pause that holds every new call until a resume, reloads that swap the scenarios in
//! whole or not at all, and the address file the commands find it by.

mod common;
use common::dirs::TempDir;
use common::in_process::InProcess;
use common::{scenario, sim_config, sim_dialflow_config};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialflow::control::Control;
use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::daemon::{Daemon, Notice, Work};
use dialflow::load::LoadOptions;
use dialflow::runtime::clock::Clock;
use dialflow::scenario_set::{self, SharedScenarios};
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server::{self, SimHandle};
use dialflow::store::{CampaignState, NewLead, Store};
use serde_json::Value;

const SPEED: f64 = 25.0;
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A simulator, a store and a scenarios folder holding `salehi`, and a daemon over
/// them with its API on port 0.
struct Setup {
    sim: SimHandle,
    store: Arc<Store>,
    dir: TempDir,
    daemon: InProcess,
    http: reqwest::Client,
}

async fn setup(label: &str) -> Setup {
    setup_watching(label, false).await
}

/// `setup`, with the daemon watching its scenario files (`watch`) or not.
async fn setup_watching(label: &str, watch: bool) -> Setup {
    // The simulator plays the prompts of both scenarios the tests serve.
    let mut sim_setup = sim_config(&scenario("salehi"), SPEED);
    sim_setup
        .prompts
        .extend(sim_config(&scenario("agrad"), SPEED).prompts);
    let sim = server::spawn(sim_setup)
        .await
        .expect("the simulator starts");
    let dir = TempDir::new(label);
    copy_scenario(&dir, "salehi");
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let mut config = sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    config.scenarios = dir.join("scenarios");
    config.watch = watch;
    config.prompts = format!("{REPO}/prompts").into();
    let options = LoadOptions {
        prompts_dir: Some(config.prompts.clone()),
        no_environment: false,
        queues: None,
    };
    let loaded = scenario_set::load_folder(&config.scenarios, &options).unwrap();
    let work = Work::Campaigns {
        store: Arc::clone(&store),
        scenarios: SharedScenarios::new(loaded.scenarios),
        exit_when_idle: false,
    };
    let daemon = Daemon::new(config, work)
        .unwrap()
        .with_clock(Clock::new(SPEED))
        .with_load_options(options);
    let daemon = InProcess::start(daemon).await;
    Setup {
        sim,
        store,
        dir,
        http: daemon.client(),
        daemon,
    }
}

fn copy_scenario(dir: &TempDir, name: &str) {
    let text = std::fs::read_to_string(format!("{REPO}/scenarios/{name}.yaml")).unwrap();
    dir.write(&format!("scenarios/{name}.yaml"), &text);
}

impl Setup {
    async fn get(&self, path: &str) -> Value {
        let response = self.http.get(self.daemon.url(path)).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str) -> (u16, Value) {
        let response = self.http.post(self.daemon.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// A campaign dialing the given simulated customers, always open, in draft.
    fn campaign(&self, name: &str, scenario: &str, customers: &[&str]) {
        let mut settings = CampaignSettings::for_scenario(scenario);
        settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
        settings.pacing.max_per_second = 20.0;
        let leads: Vec<NewLead> = customers
            .iter()
            .enumerate()
            .map(|(i, c)| NewLead {
                phone: number_for(&format!("+98912{i:05}"), c).unwrap(),
                ..NewLead::default()
            })
            .collect();
        self.store.create_campaign(name, settings, 0).unwrap();
        self.store.import_leads(name, &leads, 0).unwrap();
    }

    async fn wait_for(&self, campaign: &str, state: CampaignState) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.store.campaign(campaign).unwrap().state != state {
            assert!(
                Instant::now() < deadline,
                "`{campaign}` never became {state:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_on_a_port_it_was_given_and_says_where_beside_the_store() {
    let s = setup("daemon-status").await;
    let status = s.get("/api/status").await;
    assert_eq!(status["dialing"], "on");
    let held = std::fs::canonicalize(s.dir.join("s.redb")).unwrap();
    assert_eq!(status["store"], held.display().to_string());
    let written = dialflow::daemon::served_address(&s.dir.join("s.redb"));
    assert_eq!(written, Some(s.daemon.api));

    let summary = s.daemon.stop().await;
    assert_eq!(summary.attempts, 0);
    assert_eq!(
        dialflow::daemon::served_address(&s.dir.join("s.redb")),
        None
    );
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_holds_every_new_call_until_a_resume() {
    let s = setup("daemon-pause").await;
    s.campaign("held", "salehi", &["yes", "no"]);
    let (code, body) = s.post("/api/dialing/pause").await;
    assert_eq!((code, &body["dialing"]), (200, &Value::from("paused")));
    assert_eq!(s.get("/api/status").await["dialing"], "paused");
    assert!(s.daemon.controller.is_paused());

    // Started while paused: the dialer is told at once, and still dials nobody.
    let (code, body) = s.post("/api/campaigns/held/start").await;
    assert_eq!(code, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.sim.originates_received(), 0, "a paused daemon dialled");
    assert_eq!(
        s.store.campaign("held").unwrap().state,
        CampaignState::Running
    );

    let (code, body) = s.post("/api/dialing/resume").await;
    assert_eq!((code, &body["dialing"]), (200, &Value::from("on")));
    s.wait_for("held", CampaignState::Completed).await;
    assert_eq!(s.sim.originates_received(), 2);
    let summary = s.daemon.stop().await;
    assert_eq!(summary.attempts, 2);
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_serves_a_folder_whole_or_changes_nothing() {
    let mut s = setup("daemon-reload").await;
    let (code, body) = s.post("/api/reload").await;
    assert_eq!(code, 200, "{body}");
    let salehi_hash = body["scenarios"]["salehi"].clone();
    assert!(salehi_hash.is_string(), "{body}");

    // `agrad` is not served yet: a campaign of it cannot start.
    s.campaign("later", "agrad", &["yes"]);
    let (code, body) = s.post("/api/campaigns/later/start").await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no scenario `agrad`"),
        "{body}"
    );

    // A folder with one broken file: nothing changes, and the answer says where.
    copy_scenario(&s.dir, "agrad");
    let broken =
        std::fs::read_to_string(format!("{REPO}/tests/broken/02_unknown_field_promt.yaml"));
    s.dir.write("scenarios/broken.yaml", &broken.unwrap());
    let (code, body) = s.post("/api/reload").await;
    assert_eq!(code, 422, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("broken.yaml") && error.contains("promt"),
        "{error}"
    );
    let (code, _) = s.post("/api/campaigns/later/start").await;
    assert_eq!(code, 400, "a refused reload served part of the folder");

    // Fixed: both served, the old one unchanged.
    std::fs::remove_file(s.dir.join("scenarios/broken.yaml")).unwrap();
    let (code, body) = s.post("/api/reload").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["scenarios"]["salehi"], salehi_hash);
    assert!(body["scenarios"]["agrad"].is_string(), "{body}");
    let (code, body) = s.post("/api/campaigns/later/start").await;
    assert_eq!(code, 200, "{body}");
    s.wait_for("later", CampaignState::Completed).await;

    // The watcher heard of each reload, the refused one with its reason.
    let mut reloads = Vec::new();
    while let Ok(notice) = s.daemon.notices.try_recv() {
        if let Notice::Reloaded(outcome) = notice {
            reloads.push(outcome.is_ok());
        }
    }
    assert_eq!(reloads, [true, false, true]);
    s.daemon.controller.send(Control::Shutdown).unwrap();
    let summary = s.daemon.stop().await;
    assert_eq!(summary.attempts, 1);
    s.sim.shutdown().await;
}

/// The next reload the daemon tells of within `within`: `Some(hashes by scenario)`
/// when it took effect, `Some(Err(why))` when refused, `None` when none came.
async fn next_reload(
    s: &mut Setup,
    within: Duration,
) -> Option<Result<BTreeMap<String, String>, String>> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let notice = tokio::time::timeout_at(deadline, s.daemon.notices.recv())
            .await
            .ok()??;
        if let Notice::Reloaded(outcome) = notice {
            return Some(
                outcome
                    .map(|r| r.scenarios.into_iter().collect())
                    .map_err(|e| e.to_string()),
            );
        }
    }
}

/// Saves `text` as `path` the way vim and VS Code do: a temporary file beside it,
/// renamed over the old one.
fn save_by_rename(path: &std::path::Path, text: &str) {
    let temporary = path.with_extension("yaml.tmp~");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn salehi_edited(description: &str) -> String {
    let text = std::fs::read_to_string(format!("{REPO}/scenarios/salehi.yaml")).unwrap();
    text.replacen(
        "description: >",
        &format!("description: >\n  {description}"),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_save_is_one_reload_and_a_broken_one_changes_nothing() {
    let mut s = setup_watching("daemon-watch", true).await;
    let (_, status) = s.post("/api/reload").await;
    let first = status["scenarios"]["salehi"].as_str().unwrap().to_owned();
    assert!(next_reload(&mut s, Duration::from_secs(5)).await.is_some());

    // Saved by write-and-rename: picked up once, with the new text's hash.
    let file = s.dir.join("scenarios/salehi.yaml");
    save_by_rename(&file, &salehi_edited("Edited once."));
    let reloaded = next_reload(&mut s, Duration::from_secs(10)).await;
    let hashes = reloaded
        .expect("the save is picked up")
        .expect("it compiles");
    assert_ne!(hashes["salehi"], first, "the new text is served");
    let quiet = next_reload(&mut s, Duration::from_secs(2)).await;
    assert!(quiet.is_none(), "one save, one reload: {quiet:?}");
    let versions = s.store.scenario_versions("salehi").unwrap();
    let last = versions.last().expect("versions are recorded");
    assert_eq!(last.trigger, "file_change", "{versions:?}");
    assert!(last.hash.starts_with(&hashes["salehi"]), "{versions:?}");
    let text = s
        .store
        .version_text(&last.files[0].sha256)
        .unwrap()
        .unwrap();
    assert!(
        text.contains("Edited once."),
        "the version keeps the text it ran"
    );
    let status = s.get("/api/status").await;
    assert_eq!(status["last_reload"]["trigger"], "file_change", "{status}");
    assert_eq!(status["last_reload"]["error"], Value::Null, "{status}");

    // A broken save: refused with its place, and the edited set keeps serving.
    let broken = salehi_edited("Broken.").replacen("next: listen", "next: nowhere", 1);
    save_by_rename(&file, &broken);
    let refused = next_reload(&mut s, Duration::from_secs(10)).await;
    let why = refused.expect("the save is picked up").unwrap_err();
    assert!(
        why.contains("salehi.yaml") && why.contains("nowhere"),
        "{why}"
    );
    let status = s.get("/api/status").await;
    let error = status["last_reload"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("nowhere"), "{status}");
    s.campaign("after", "salehi", &["yes"]);
    let (code, body) = s.post("/api/campaigns/after/start").await;
    assert_eq!(code, 200, "the last good set still serves: {body}");
    s.wait_for("after", CampaignState::Completed).await;
    // The call ran the edited version, as its attempt's hash says.
    let attempts = s.store.attempts("after", 0, 10).unwrap();
    assert!(
        attempts[0]
            .start
            .scenario_hash
            .starts_with(&hashes["salehi"]),
        "{} ran, {} served",
        attempts[0].start.scenario_hash,
        hashes["salehi"]
    );

    // The file removed: the last good version keeps serving, and the reload says so.
    std::fs::remove_file(&file).unwrap();
    let kept = next_reload(&mut s, Duration::from_secs(10)).await;
    let kept = kept.expect("the removal is seen").expect("nothing fails");
    assert_eq!(kept["salehi"], hashes["salehi"]);
    let status = s.get("/api/status").await;
    assert_eq!(
        status["last_reload"]["kept"],
        serde_json::json!(["salehi"]),
        "{status}"
    );

    s.daemon.controller.send(Control::Shutdown).unwrap();
    s.daemon.stop().await;
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_swapped_by_symlink_is_followed() {
    let mut s = setup_watching("daemon-swap", true).await;
    // The API answers once the watch is set.
    s.get("/api/status").await;
    // The served path becomes a symlink to a release folder, as a deploy lays it out.
    let release = |n: u32, description: &str| {
        s.dir.write(
            &format!("release-{n}/salehi.yaml"),
            &salehi_edited(description),
        );
        s.dir.join(&format!("release-{n}"))
    };
    let (one, two) = (release(1, "Release one."), release(2, "Release two."));
    let served = s.dir.join("scenarios");
    std::fs::remove_dir_all(&served).unwrap();
    std::os::unix::fs::symlink(&one, &served).unwrap();
    let to_one = next_reload(&mut s, Duration::from_secs(10)).await;
    let hash_one = to_one.expect("the swap is seen").unwrap()["salehi"].clone();

    // Swapped atomically (a new link renamed over the old), as `ln -sfn` deploys do.
    let link = s.dir.join("scenarios.new");
    std::os::unix::fs::symlink(&two, &link).unwrap();
    std::fs::rename(&link, &served).unwrap();
    let to_two = next_reload(&mut s, Duration::from_secs(10)).await;
    let hash_two = to_two.expect("the swap is seen").unwrap()["salehi"].clone();
    assert_ne!(hash_one, hash_two);

    // The watch followed the link: an edit in the new release is seen too.
    save_by_rename(
        &two.join("salehi.yaml"),
        &salehi_edited("Release two, fixed."),
    );
    let edited = next_reload(&mut s, Duration::from_secs(10)).await;
    assert_ne!(
        edited.expect("the edit is seen").unwrap()["salehi"],
        hash_two
    );

    s.daemon.controller.send(Control::Shutdown).unwrap();
    s.daemon.stop().await;
    s.sim.shutdown().await;
}
