//! Hot reload in a whole daemon (in this process, against the simulator): a refused
//! reload counted, alerted (once per window) and shown on the campaigns it leaves on a
//! stale version; 100 reloads (valid edits, broken edits, prompt changes) while 1,000
//! calls run, every call ending on the version it started with; hook scripts edited in
//! place, inside the scenarios folder and outside it, picked up by the watch; and hooks
//! that loop, recurse without end or throw taking their `failed` route in live calls.

mod common;
use common::dirs::TempDir;
use common::in_process::InProcess;
use common::panel::{self, Panel};
use common::{scenario, sim_config, sim_dialflow_config};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialflow::config::AlertsConfig;
use dialflow::control::{Control, ReloadError, Trigger};
use dialflow::core::alerts::AlertKind;
use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::daemon::{Daemon, Notice, Work};
use dialflow::load::LoadOptions;
use dialflow::runtime::clock::Clock;
use dialflow::scenario_set::{self, SharedScenarios};
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server::{self, SimHandle};
use dialflow::store::{CampaignState, NewLead, Store};
use serde_json::Value;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// How a test's daemon is set up.
struct Options {
    speed: f64,
    watch: bool,
    alerts: Option<AlertsConfig>,
    /// The prompts copied into the test's folder (so a test may change them).
    own_prompts: bool,
    max_concurrent: usize,
    /// Given to the daemon as the texts of the set it starts with.
    start_texts: bool,
    /// A file written after the set was compiled and before the daemon starts.
    edit_after_load: Option<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            speed: 25.0,
            watch: false,
            alerts: None,
            own_prompts: false,
            max_concurrent: 100,
            start_texts: false,
            edit_after_load: None,
        }
    }
}

/// A simulator, a store, a folder with the files given, and a daemon over them.
struct Setup {
    sim: SimHandle,
    store: Arc<Store>,
    dir: TempDir,
    /// The set the daemon serves (the same `ArcSwap`).
    served: SharedScenarios,
    daemon: InProcess,
    http: reqwest::Client,
}

async fn setup(label: &str, options: Options, files: &[(&str, String)]) -> Setup {
    let sim = server::spawn(sim_config(&scenario("salehi"), options.speed))
        .await
        .expect("the simulator starts");
    let dir = TempDir::new(label);
    for (path, text) in files {
        dir.write(path, text);
    }
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let mut config = sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    config.scenarios = dir.join("scenarios");
    config.watch = options.watch;
    config.alerts = options.alerts;
    config.max_concurrent = options.max_concurrent;
    config.prompts = if options.own_prompts {
        copy_prompts(&dir);
        dir.join("prompts")
    } else {
        format!("{REPO}/prompts").into()
    };
    let load = LoadOptions {
        prompts_dir: Some(config.prompts.clone()),
        no_environment: false,
        queues: None,
    };
    let loaded = scenario_set::load_folder(&config.scenarios, &load).unwrap();
    assert_eq!(loaded.failed().count(), 0, "the first set compiles");
    if let Some((path, text)) = &options.edit_after_load {
        dir.write(path, text);
    }
    let served = SharedScenarios::new(loaded.scenarios);
    let work = Work::Campaigns {
        store: Arc::clone(&store),
        scenarios: served.clone(),
        exit_when_idle: false,
    };
    let mut daemon = Daemon::new(config, work)
        .unwrap()
        .with_clock(Clock::new(options.speed))
        .with_load_options(load);
    if options.start_texts {
        daemon = daemon.with_start_texts(loaded.texts);
    }
    let daemon = InProcess::start(daemon).await;
    Setup {
        sim,
        store,
        dir,
        served,
        http: daemon.client(),
        daemon,
    }
}

fn copy_prompts(dir: &TempDir) {
    let to = dir.join("prompts/salehi");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(format!("{REPO}/prompts/salehi")).unwrap() {
        let from = entry.unwrap().path();
        std::fs::copy(&from, to.join(from.file_name().unwrap())).unwrap();
    }
}

impl Setup {
    async fn get(&self, path: &str) -> Value {
        let response = self.http.get(self.daemon.url(path)).send().await.unwrap();
        assert!(response.status().is_success(), "GET {path}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str) -> (u16, Value) {
        let response = self.http.post(self.daemon.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// A campaign of `scenario` calling the given simulated customers (with custom
    /// fields), always open, in draft; lead `i`'s number is `+98912` and `i` in five
    /// digits, then the customer's two (`lead_index` reads it back).
    fn campaign(&self, name: &str, scenario: &str, leads: &[(&str, &[(&str, &str)])], rate: f64) {
        let mut settings = CampaignSettings::for_scenario(scenario);
        settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
        settings.pacing.max_per_second = rate;
        settings.pacing.max_concurrent = 1_000;
        let leads: Vec<NewLead> = leads
            .iter()
            .enumerate()
            .map(|(i, (customer, custom))| NewLead {
                phone: number_for(&format!("+98912{i:05}"), customer).unwrap(),
                custom: custom
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..NewLead::default()
            })
            .collect();
        self.store.create_campaign(name, settings, 0).unwrap();
        self.store.import_leads(name, &leads, 0).unwrap();
    }

    async fn start(&self, campaign: &str) {
        let (code, body) = self.post(&format!("/api/campaigns/{campaign}/start")).await;
        assert_eq!(code, 200, "{body}");
    }

    async fn wait_for(&self, campaign: &str, state: CampaignState, within: Duration) {
        let deadline = Instant::now() + within;
        while self.store.campaign(campaign).unwrap().state != state {
            assert!(
                Instant::now() < deadline,
                "`{campaign}` never became {state:?}: {:?}, {:?}",
                self.store.campaign(campaign).unwrap(),
                self.store.counts(campaign).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The results of a campaign's attempts, with the hash each started on.
    fn results(&self, campaign: &str) -> Vec<(String, String)> {
        self.store
            .attempts(campaign, 0, 10_000)
            .unwrap()
            .into_iter()
            .map(|a| {
                let end = a.end.expect("every attempt ended");
                (end.result, a.start.scenario_hash)
            })
            .collect()
    }

    async fn stop(self) {
        self.daemon.controller.send(Control::Shutdown).unwrap();
        self.daemon.stop().await;
        self.sim.shutdown().await;
    }
}

/// The index of the lead a number was made for by `Setup::campaign`.
fn lead_index(phone: &str) -> usize {
    phone[6..11]
        .parse()
        .expect("a number made by `Setup::campaign`")
}

fn salehi() -> String {
    std::fs::read_to_string(format!("{REPO}/scenarios/salehi.yaml")).unwrap()
}

/// Salehi broken: a route to a node that does not exist.
fn salehi_broken() -> String {
    salehi().replacen("next: listen", "next: nowhere", 1)
}

/// The alert bodies `receiver` has taken, once there are `n` (within 20 s).
async fn alerts_taken(receiver: &Panel, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "{n} alerts never came: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reload_is_counted_alerted_once_per_window_and_shown_on_its_campaign() {
    let receiver = Panel::start(Box::new(|_, _| None)).await;
    let mut alerts = AlertsConfig::new(receiver.url());
    alerts.secret = Some(panel::SECRET.into());
    let options = Options {
        alerts: Some(alerts),
        ..Options::default()
    };
    let s = setup(
        "reload-refused",
        options,
        &[("scenarios/salehi.yaml", salehi())],
    )
    .await;
    let (code, body) = s.post("/api/reload").await;
    assert_eq!(code, 200, "{body}");
    s.campaign("spring", "salehi", &[], 10.0);
    let view = s.get("/api/campaigns/spring").await;
    let good = view["scenario"]["hash"].as_str().unwrap().to_owned();
    assert!(good.starts_with(body["scenarios"]["salehi"].as_str().unwrap()));
    assert!(view["scenario"]["stale"].is_null(), "{view}");

    // Broken: refused, counted, timed, and the campaign says it runs the last good one.
    s.dir.write("scenarios/salehi.yaml", &salehi_broken());
    let (code, body) = s.post("/api/reload").await;
    assert_eq!(code, 422, "{body}");
    let status = s.get("/api/status").await;
    assert_eq!(status["reloads"]["succeeded"], 1, "{status}");
    assert_eq!(status["reloads"]["failed"], 1, "{status}");
    assert!(status["reloads"]["last_duration_ms"].as_f64().unwrap() > 0.0);
    let counts = s.daemon.controller.reload_counts();
    assert_eq!((counts.succeeded, counts.failed), (1, 1));
    let view = s.get("/api/campaigns/spring").await;
    let served = &view["scenario"];
    assert_eq!(
        served["hash"],
        good.as_str(),
        "the last good version serves"
    );
    assert_eq!(served["stale"]["why"], "does_not_compile", "{view}");
    assert_eq!(served["stale"]["hash"], good.as_str());
    let error = served["stale"]["error"].as_str().unwrap();
    assert!(error.contains("nowhere"), "{error}");

    // The alert, through the alert delivery.
    let sent = alerts_taken(&receiver, 1).await;
    assert_eq!(sent[0]["kind"], "reload", "{sent:?}");
    assert!(sent[0]["campaign"].is_null());
    let reason = sent[0]["reason"].as_str().unwrap();
    assert_eq!(reason, "salehi.yaml does not compile");

    // Refused again within the window: counted and kept, not sent again.
    let (code, _) = s.post("/api/reload").await;
    assert_eq!(code, 422);
    assert_eq!(s.daemon.controller.reload_counts().failed, 2);
    let kept = s.store.alerts(None).unwrap();
    let reload_alerts = kept
        .iter()
        .filter(|a| a.kind == Some(AlertKind::Reload))
        .count();
    assert_eq!(reload_alerts, 2, "{kept:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 1, "the rate limit holds it back");

    // `dialflow campaign show` through the daemon says so.
    let store = s.dir.join("s.redb");
    let store = store.to_str().unwrap();
    let shown = common::cli::ok_with_token(
        s.dir.path(),
        &["campaign", "show", "spring", "--store", store],
        &s.daemon.token,
    );
    assert!(shown.contains("STALE"), "{shown}");
    assert!(shown.contains(&good[..12]), "{shown}");
    assert!(shown.contains("nowhere"), "{shown}");

    // Gone: the last good version serves, and the campaign says why.
    std::fs::remove_file(s.dir.join("scenarios/salehi.yaml")).unwrap();
    let (code, body) = s.post("/api/reload").await;
    assert_eq!(code, 200, "{body}");
    let view = s.get("/api/campaigns/spring").await;
    assert_eq!(view["scenario"]["stale"]["why"], "file_gone", "{view}");
    assert_eq!(view["scenario"]["hash"], good.as_str());

    // Back as it was: current again.
    s.dir.write("scenarios/salehi.yaml", &salehi());
    let (code, _) = s.post("/api/reload").await;
    assert_eq!(code, 200);
    let view = s.get("/api/campaigns/spring").await;
    assert!(view["scenario"]["stale"].is_null(), "{view}");
    let status = s.get("/api/status").await;
    assert_eq!(status["reloads"]["succeeded"], 3, "{status}");
    s.stop().await;
}

/// Salehi as version `k`: its two last nodes renamed `say_yes_vK` and `goodbye_vK`, so
/// an attempt's path tells which version ran its end.
fn salehi_version(k: usize) -> String {
    salehi()
        .replace("say_yes", &format!("say_yes_v{k}"))
        .replace("goodbye", &format!("goodbye_v{k}"))
}

/// Which version a path's last node belongs to.
fn version_of(path: &[String]) -> Option<usize> {
    let last = path.last()?;
    let (_, k) = last.rsplit_once("_v")?;
    k.parse().ok()
}

/// What one reload of the load test changes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Change {
    /// The next version's text.
    Valid,
    /// A prompt's audio replaced (the text, and so the hash, unchanged).
    Prompt,
    /// A route to nowhere.
    Broken,
}

fn change(i: usize) -> Change {
    [Change::Valid, Change::Prompt, Change::Broken][i % 3]
}

/// Replaces `alo.wav` with the audio of `hello.wav` or `number.wav` by turns.
fn change_prompt(dir: &TempDir, i: usize) {
    let from = if i.is_multiple_of(2) {
        "hello"
    } else {
        "number"
    };
    let prompts = dir.join("prompts/salehi");
    let audio = std::fs::read(format!("{REPO}/prompts/salehi/{from}.wav")).unwrap();
    let temporary = prompts.join("alo.wav.tmp");
    std::fs::write(&temporary, audio).unwrap();
    std::fs::rename(&temporary, prompts.join("alo.wav")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_reloads_under_a_thousand_calls_lose_no_call_and_change_none() {
    const CALLS: usize = 1_000;
    const RELOADS: usize = 100;
    const SPEED: f64 = 4.0;
    // New calls a second, real time (the campaign's pacing counts in its own time,
    // `SPEED` times faster).
    const RATE: f64 = 60.0;
    // The reloads spread over most of the time the calls take to start.
    let every = Duration::from_secs_f64(0.7 * CALLS as f64 / RATE / RELOADS as f64);
    // At 4× real time a call lasts about 3 s: ~200 on the line at once, few enough
    // for Asterisk's (the simulator's) events to stay on time in a debug build, so the
    // back-off never holds new calls.
    let options = Options {
        speed: SPEED,
        own_prompts: true,
        max_concurrent: 1_000,
        ..Options::default()
    };
    let s = setup(
        "reload-load",
        options,
        &[("scenarios/salehi.yaml", salehi_version(0))],
    )
    .await;
    let customers: Vec<(&str, &[(&str, &str)])> = (0..CALLS)
        .map(|i| (if i.is_multiple_of(2) { "yes" } else { "no" }, &[][..]))
        .collect();
    s.campaign("load", "salehi", &customers, RATE / SPEED);
    let started = Instant::now();
    s.start("load").await;
    let mut hashes = vec![s.served.get("salehi").unwrap().hash.to_string()];
    let mut version = 0;
    // The reloads start once calls are on the line.
    while s.store.attempts("load", 0, 50).unwrap().len() < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = Instant::now();
    for i in 0..RELOADS {
        tokio::time::sleep_until((first + every * i as u32).into()).await;
        let what = change(i);
        let file = s.dir.join("scenarios/salehi.yaml");
        match what {
            Change::Valid => {
                version += 1;
                std::fs::write(&file, salehi_version(version)).unwrap();
            }
            Change::Prompt => change_prompt(&s.dir, i),
            Change::Broken => std::fs::write(
                &file,
                salehi_version(version).replacen("next: listen", "next: nowhere", 1),
            )
            .unwrap(),
        }
        let before = s.served.get("salehi").unwrap().hash.to_string();
        let outcome = s.daemon.controller.reload(Trigger::Api).await.unwrap();
        let now = s.served.get("salehi").unwrap().hash.to_string();
        match (what, outcome) {
            (Change::Valid, Ok(_)) => {
                assert_ne!(now, before, "reload {i}: the edit is served");
                hashes.push(now);
            }
            (Change::Prompt, Ok(_)) => assert_eq!(now, before, "reload {i}: same text"),
            (Change::Broken, Err(e)) => {
                let ReloadError::DoesNotCompile { failures, stale } = e.as_ref() else {
                    panic!("reload {i}: {e}");
                };
                assert_eq!(failures.len(), 1, "reload {i}: {e}");
                assert!(failures[0].0.ends_with("salehi.yaml"), "reload {i}: {e}");
                assert!(failures[0].1.contains("nowhere"), "reload {i}: {e}");
                assert_eq!(stale["salehi"].hash, before, "reload {i}");
                assert_eq!(now, before, "reload {i}: the old set keeps serving");
            }
            (what, outcome) => panic!("reload {i} ({what:?}): {outcome:?}"),
        }
    }
    let reloads_done = started.elapsed();
    let ended_by_then = s
        .store
        .attempts("load", 0, CALLS)
        .unwrap()
        .iter()
        .filter(|a| a.end.is_some())
        .count();
    eprintln!("{ended_by_then} calls had ended by the last reload");
    assert!(
        ended_by_then < CALLS * 9 / 10,
        "every call had ended before the last reload ({reloads_done:?} after the start): the reloads ran under no load"
    );
    s.wait_for("load", CampaignState::Completed, Duration::from_secs(60))
        .await;

    // No call lost or broken: one attempt per lead, each with its customer's result.
    let attempts = s.store.attempts("load", 0, 10 * CALLS).unwrap();
    assert_eq!(attempts.len(), CALLS, "one attempt per lead, none retried");
    let mut by_version = BTreeMap::<usize, usize>::new();
    for a in &attempts {
        let end = a.end.as_ref().expect("every attempt ended");
        let expected = if lead_index(&a.start.phone).is_multiple_of(2) {
            "connected_to_operator"
        } else {
            "not_interested"
        };
        assert_eq!(end.result, expected, "{} ({:?})", a.start.id, end.path);
        // It ended on the version it started with: its last node is that version's.
        let k = version_of(&end.path).unwrap_or_else(|| panic!("{:?}", end.path));
        assert_eq!(
            a.start.scenario_hash,
            hashes[k],
            "{} started on version {:?} and ended on version {k} ({:?})",
            a.start.id,
            hashes.iter().position(|h| *h == a.start.scenario_hash),
            end.path
        );
        *by_version.entry(k).or_default() += 1;
    }
    assert!(
        by_version.len() > hashes.len() / 2,
        "the calls ran many versions: {by_version:?}"
    );
    let counts = s.daemon.controller.reload_counts();
    assert_eq!(
        counts.failed,
        (0..RELOADS)
            .filter(|i| change(*i) == Change::Broken)
            .count() as u64
    );
    eprintln!(
        "{RELOADS} reloads in {reloads_done:?} under {CALLS} calls ({} versions served, calls per version {by_version:?}); all ended in {:?}",
        hashes.len(),
        started.elapsed()
    );
    s.stop().await;
}

/// A scenario whose hook is `code` (a function `pick(ctx)` returning `gold`, or not):
/// `gold` ends the call `connected_to_operator`; `failed` goes on to play a prompt and
/// ends `not_interested`.
fn hook_scenario(code: &str) -> String {
    let code = code.replace('\n', "\n        ");
    format!(
        r#"name: hooks
prompts: salehi
defaults: {{ hangup: end, failed: end }}
nodes:
  hello:
    play: hello
    next: pick
  pick:
    hook:
      function: pick
      outcomes: [gold]
      code: |
        {code}
    on:
      gold: {{ goto: end, result: connected_to_operator }}
      failed: sorry
  sorry:
    play: goodby
    next: {{ goto: end, result: not_interested }}
"#
    )
}

/// Hooks that misbehave, chosen by the lead's `kind`.
const MISBEHAVING: &str = r#"fn deeper(n) { deeper(n + 1) }
fn pick(ctx) {
  let kind = ctx.lead.custom.kind;
  if kind == "loop" { let x = 0; loop { x += 1; } }
  if kind == "recurse" { return deeper(0); }
  if kind == "throw" { throw "the hook gave up"; }
  if kind == "wrong" { return "platinum"; }
  "gold"
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_loops_recurses_or_throws_takes_its_failed_route_in_a_live_call() {
    // First, alone: each misbehaviour ends within the engine's limits, quickly.
    let compiled = dialflow::core::compile::compile(
        dialflow::core::diagnostic::SourceText::new("hooks.yaml", hook_scenario(MISBEHAVING)),
        &dialflow::core::compile::Environment::default(),
    );
    let hooks = compiled.scenario.expect("the hook scenario compiles");
    for kind in ["gold", "loop", "recurse", "throw", "wrong"] {
        let took = time_the_hook(&hooks, kind);
        assert!(
            took < Duration::from_secs(2),
            "the `{kind}` hook ran for {took:?}"
        );
    }

    // Then in live calls, among good ones: each goes on to its `failed` route.
    let s = setup(
        "reload-hook-failed",
        Options::default(),
        &[("scenarios/hooks.yaml", hook_scenario(MISBEHAVING))],
    )
    .await;
    let kinds = ["gold", "loop", "recurse", "throw", "wrong", "gold"];
    let custom: Vec<[(&str, &str); 1]> = kinds.iter().map(|k| [("kind", *k)]).collect();
    let leads: Vec<(&str, &[(&str, &str)])> = custom.iter().map(|c| ("yes", &c[..])).collect();
    s.campaign("hooks", "hooks", &leads, 20.0);
    s.start("hooks").await;
    s.wait_for("hooks", CampaignState::Completed, Duration::from_secs(30))
        .await;
    let attempts = s.store.attempts("hooks", 0, 100).unwrap();
    assert_eq!(attempts.len(), kinds.len());
    for a in &attempts {
        let end = a.end.as_ref().unwrap();
        let kind = kinds[lead_index(&a.start.phone)];
        let (result, path): (&str, &[&str]) = match kind {
            "gold" => ("connected_to_operator", &["hello", "pick"]),
            _ => ("not_interested", &["hello", "pick", "sorry"]),
        };
        assert_eq!(end.result, result, "{kind}: {end:?}");
        assert_eq!(end.path, path, "{kind}: {end:?}");
    }
    s.stop().await;
}

/// How long `scenario`'s call takes to get past its hook, for a lead of `kind`, run on
/// a thread of its own so a hook that never ends fails the test rather than hangs it.
fn time_the_hook(scenario: &Arc<dialflow::core::scenario::Scenario>, kind: &str) -> Duration {
    use dialflow::core::call::{CallMachine, CallSetup, Input, Lead, Millis};
    let (scenario, custom) = (Arc::clone(scenario), kind.to_owned());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lead = Lead::default();
        lead.custom.insert("kind".into(), custom);
        let setup = CallSetup {
            attempt_id: "a".into(),
            lead,
            attempt: 1,
            ring_timeout_ms: None,
            safe_harbor: None,
        };
        let mut machine = CallMachine::new(scenario, setup);
        machine.start(Millis(0));
        while machine.poll_command().is_some() {}
        machine.handle(
            Millis(10),
            Input::StasisStarted {
                channel: "a-c".into(),
                args: vec![],
            },
        );
        let playback = played(&mut machine).expect("hello plays").0;
        let started = Instant::now();
        let finished = Input::PlaybackFinished {
            playback,
            failed: false,
        };
        machine.handle(Millis(3_000), finished);
        let took = started.elapsed();
        let _ = tx.send((took, played(&mut machine).map(|p| p.1)));
    });
    let (took, next) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the hook ends (or the test fails rather than hangs)");
    let expected = (kind != "gold").then(|| "goodby".to_string());
    assert_eq!(next, expected, "`{kind}`: after the hook");
    took
}

/// The playback and prompt of the first `Play` the machine sends now, if any.
fn played(machine: &mut dialflow::core::call::CallMachine) -> Option<(String, String)> {
    use dialflow::core::call::Command;
    let mut play = None;
    while let Some(command) = machine.poll_command() {
        if let Command::Play {
            playback, prompt, ..
        } = command
        {
            play.get_or_insert((playback, prompt));
        }
    }
    play
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_records_the_texts_it_compiled_without_reading_the_folder_again() {
    let edited = salehi().replacen("description: >", "description: >\n  Edited.", 1);
    let options = Options {
        start_texts: true,
        edit_after_load: Some(("scenarios/salehi.yaml", edited)),
        ..Options::default()
    };
    let s = setup(
        "reload-start-texts",
        options,
        &[("scenarios/salehi.yaml", salehi())],
    )
    .await;
    let served = s.served.get("salehi").unwrap().hash.to_string();
    // Recorded in the background: the version served, with the text it was compiled
    // from (a second read of the folder would find the edit, and record nothing).
    let deadline = Instant::now() + Duration::from_secs(10);
    let version = loop {
        let versions = s.store.scenario_versions("salehi").unwrap();
        if let Some(v) = versions.into_iter().next() {
            break v;
        }
        assert!(Instant::now() < deadline, "no start version recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(version.trigger, "start");
    assert_eq!(version.hash, served);
    let text = s
        .store
        .version_text(&version.files[0].sha256)
        .unwrap()
        .unwrap();
    assert_eq!(
        text,
        salehi(),
        "the text the served version was compiled from"
    );
    s.stop().await;
}

/// Two hook nodes: `inner` (a script in the scenarios folder) says whether to go on,
/// `outer` (a script outside it) picks the result.
const TIERS: &str = r#"name: tiers
prompts: salehi
defaults: { hangup: end, failed: end }
nodes:
  inner:
    hook: { script: hooks/inner.rhai, function: pick, outcomes: [go, stop] }
    on:
      go: outer
      stop: { goto: end, result: not_interested }
  outer:
    hook: { script: ../shared/outer.rhai, function: pick, outcomes: [hot, cold] }
    on:
      hot: { goto: end, result: connected_to_operator }
      cold: { goto: end, result: unknown }
"#;

fn returns(word: &str) -> String {
    format!("fn pick(ctx) {{ \"{word}\" }}\n")
}

/// The next reload the daemon tells of within 10 s.
async fn next_reload(s: &mut Setup) -> Result<BTreeMap<String, String>, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let notice = tokio::time::timeout_at(deadline, s.daemon.notices.recv())
            .await
            .expect("a reload within 10 s")
            .expect("the daemon runs");
        if let Notice::Reloaded(outcome) = notice {
            return outcome
                .map(|r| r.scenarios.into_iter().collect())
                .map_err(|e| e.to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_scripts_edited_in_place_inside_and_outside_the_folder_are_picked_up() {
    let options = Options {
        watch: true,
        ..Options::default()
    };
    let mut s = setup(
        "reload-hooks",
        options,
        &[
            ("scenarios/tiers.yaml", TIERS.into()),
            ("scenarios/hooks/inner.rhai", returns("go")),
            ("shared/outer.rhai", returns("cold")),
        ],
    )
    .await;
    s.get("/api/status").await; // the watch is set once the API answers
    let mut hashes = BTreeSet::from([s.served.get("tiers").unwrap().hash.to_string()]);
    let mut phase = 0;
    let mut call = |s: &Setup| {
        phase += 1;
        let name = format!("p{phase}");
        s.campaign(&name, "tiers", &[("yes", &[])], 10.0);
        name
    };

    let first = call(&s);
    s.start(&first).await;
    s.wait_for(&first, CampaignState::Completed, Duration::from_secs(20))
        .await;
    assert_eq!(s.results(&first)[0].0, "unknown");

    // The script outside the folder, written in place (truncated, then written).
    std::fs::write(s.dir.join("shared/outer.rhai"), returns("hot")).unwrap();
    let reloaded = next_reload(&mut s).await.expect("it compiles");
    assert!(hashes.insert(s.served.get("tiers").unwrap().hash.to_string()));
    let second = call(&s);
    s.start(&second).await;
    s.wait_for(&second, CampaignState::Completed, Duration::from_secs(20))
        .await;
    let (result, hash) = &s.results(&second)[0];
    assert_eq!(result, "connected_to_operator");
    assert!(hash.starts_with(&reloaded["tiers"]), "{hash} ran");

    // The script inside the folder, in place too.
    std::fs::write(s.dir.join("scenarios/hooks/inner.rhai"), returns("stop")).unwrap();
    next_reload(&mut s).await.expect("it compiles");
    let last_good = s.served.get("tiers").unwrap().hash.to_string();
    assert!(hashes.insert(last_good.clone()));
    let third = call(&s);
    s.start(&third).await;
    s.wait_for(&third, CampaignState::Completed, Duration::from_secs(20))
        .await;
    assert_eq!(s.results(&third)[0].0, "not_interested");

    // A broken outside script is refused with its place; the last good set serves.
    std::fs::write(
        s.dir.join("shared/outer.rhai"),
        "fn pick(ctx) { let x = ; }",
    )
    .unwrap();
    let why = next_reload(&mut s).await.unwrap_err();
    assert!(why.contains("outer.rhai"), "{why}");
    assert_eq!(s.served.get("tiers").unwrap().hash.to_string(), last_good);
    s.stop().await;
}
