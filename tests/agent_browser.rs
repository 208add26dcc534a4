//! The agent's page in a real browser (headless Chromium over WebDriver) against a
//! whole daemon dialing the simulator: agent ag0 logs in with their token at the
//! dashboard's address and is sent to their own page; logs in to the desk, gets ready,
//! and is put through to a customer with no reload (the lead's phone, columns and the
//! campaign's script show); hangs up from the page (long before the customer would),
//! closes the call with a disposition and notes from the wrap-up form, which the store
//! then holds; closes the next call with a callback at the time given in the form; and
//! takes a break; a supervisor then sees them on the dashboard and logs them out, which
//! their page shows; back on the desk, they dial a number typed on the page. Screenshots go where the dashboard's do (`common::browser`).

mod common;
use common::browser::{self, Driver, screenshot, until};
use common::dirs::TempDir;
use common::in_process::{InProcess, campaigns_daemon};
use common::{sim_config, sim_dialflow_config};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dialflow::config::{AgentReachMode, QueueConfig};
use dialflow::core::campaign::settings::{CampaignSettings, DialMode, DispositionSetting};
use dialflow::http::auth::Role;
use dialflow::load::{self, LoadOptions};
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server;
use dialflow::store::{NewAgent, NewLead, Store};
use fantoccini::{Client, Locator};

/// Slow enough that the customer (who hangs up 26 s after answering) is still on the
/// line when the page's Hang up is pressed.
const SPEED: f64 = 2.0;
const REPO: &str = env!("CARGO_MANIFEST_DIR");
const AG0: &str = "agent-browser-ag0-token-0123456789";
const PHONE: &str = "+989120000001";
const SCRIPT: &str = "Hello, this is Spring Offers calling about your plan.";

/// A progressive campaign of one customer who answers "yes", put through to agents,
/// closed with "no" (not interested) or a callback.
fn campaign(store: &Store) {
    let mut settings = CampaignSettings::for_scenario("call_centre");
    settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
    settings.mode = DialMode::Progressive;
    settings.safe_harbor.prompt = "goodby".into();
    settings.wrap_up = "30m".into();
    settings.script = SCRIPT.into();
    let disposition = |code: &str, label: &str, result: &str, callback| DispositionSetting {
        code: code.into(),
        label: label.into(),
        result: result.into(),
        callback,
        dnc: false,
    };
    settings.dispositions = vec![
        disposition("no", "Not interested", "not_interested", false),
        disposition("later", "Call back later", "unknown", true),
    ];
    store.create_campaign("spring", settings, 0).unwrap();
    let lead = NewLead {
        phone: number_for(PHONE, "yes").unwrap(),
        name: "Sara Ahmadi".into(),
        custom: BTreeMap::from([("plan".to_string(), "yearly".to_string())]),
        ..NewLead::default()
    };
    let second = NewLead {
        phone: number_for("+989120000002", "yes").unwrap(),
        name: "Reza Karimi".into(),
        ..NewLead::default()
    };
    store.import_leads("spring", &[lead, second], 0).unwrap();
}

/// The daemon on the simulator, agent ag0 (rung on `Local/ag0@sim-agents`) offline.
async fn daemon(dir: &TempDir) -> (server::SimHandle, Arc<Store>, InProcess) {
    let source = format!("{REPO}/scenarios/call_centre.yaml");
    let options = LoadOptions {
        prompts_dir: Some(format!("{REPO}/prompts").into()),
        ..LoadOptions::default()
    };
    let scenario = load::compile_file(source.as_ref(), &options)
        .scenario
        .unwrap();
    let sim = server::spawn(sim_config(&scenario, SPEED)).await.unwrap();
    dir.write(
        "scenarios/call_centre.yaml",
        &std::fs::read_to_string(&source).unwrap(),
    );
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let agent = NewAgent {
        id: "ag0".into(),
        name: "Agent Zero".into(),
        endpoint: "Local/ag0@sim-agents".into(),
        queues: vec!["sales".into()],
        campaigns: Vec::new(),
    };
    store.put_agent(agent, 0).unwrap();
    campaign(&store);
    let mut config = sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    config.scenarios = dir.join("scenarios");
    config.prompts = format!("{REPO}/prompts").into();
    let reach = AgentReachMode::Ring;
    config.queues = BTreeMap::from([("sales".to_string(), QueueConfig { reach })]);
    let daemon = campaigns_daemon(config, &store, SPEED, false);
    let daemon = InProcess::start_with_tokens(daemon, &[("ag0", Role::Agent, AG0)]).await;
    (sim, store, daemon)
}

/// The text of the element `id`, once it shows one.
async fn text(browser: &Client, id: &str) -> Option<String> {
    let element = browser.find(Locator::Id(id)).await.ok()?;
    element.text().await.ok()
}

/// Waits for the state badge to read `state` (`available`, `break: lunch`…).
async fn state_shows(browser: &Client, state: &str) {
    until(
        &format!("the state {state}"),
        Duration::from_secs(30),
        || async { text(browser, "state").await.filter(|t| t == state) },
    )
    .await;
}

async fn click(browser: &Client, id: &str) {
    let button = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("#{id}:not([hidden])")))
        .await
        .unwrap_or_else(|e| panic!("no visible #{id}: {e}"));
    button.click().await.unwrap();
}

/// ag0's state as the desk has it, asked with their token.
async fn desk_state(daemon: &InProcess) -> String {
    let me: serde_json::Value = common::bearer_client(AG0)
        .get(daemon.url("/api/agent/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["state"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_works_a_call_from_their_page_and_its_disposition_reaches_the_store() {
    if browser::skipped() {
        return;
    }
    let dir = TempDir::new("agent-browser");
    let (_sim, store, daemon) = daemon(&dir).await;
    let driver = Driver::start();
    let browser = driver.client().await;

    // The token logs in on the login page, and the agent lands on their own page.
    browser::log_in(&browser, &daemon.url("/"), AG0).await;
    until("the agent's page", Duration::from_secs(20), || async {
        text(&browser, "who").await.filter(|t| t == "Agent Zero")
    })
    .await;
    state_shows(&browser, "offline").await;
    let url = browser.current_url().await.unwrap();
    assert_eq!(url.path(), "/agent", "sent to the agent's page");
    screenshot(&browser, "agent-1-offline").await;

    click(&browser, "login").await;
    state_shows(&browser, "break: not_ready").await;
    click(&browser, "ready").await;
    state_shows(&browser, "available").await;
    assert_eq!(desk_state(&daemon).await, "available");

    // The call comes to the page by itself: its lead, its script.
    let started = daemon
        .client()
        .post(daemon.url("/api/campaigns/spring/start"))
        .send()
        .await
        .unwrap();
    assert!(started.status().is_success());
    state_shows(&browser, "on_call").await;
    let phone = until("the lead's phone", Duration::from_secs(20), || async {
        text(&browser, "lead-phone").await.filter(|t| t != "—")
    })
    .await;
    assert!(phone.starts_with("+98912"), "{phone}");
    assert_eq!(
        text(&browser, "lead-name").await.as_deref(),
        Some("Sara Ahmadi")
    );
    assert_eq!(text(&browser, "script").await.as_deref(), Some(SCRIPT));
    let custom = text(&browser, "custom").await.unwrap_or_default();
    assert!(
        custom.contains("plan") && custom.contains("yearly"),
        "{custom}"
    );
    screenshot(&browser, "agent-2-on-call").await;

    // Hang up, then the wrap-up form: the campaign's dispositions, notes.
    // The customer would hang up 13 s after answering: the page's ends the call at once.
    click(&browser, "hangup").await;
    until("the wrap-up at once", Duration::from_secs(3), || async {
        text(&browser, "state").await.filter(|t| t == "wrap_up")
    })
    .await;
    assert_eq!(text(&browser, "error").await.as_deref(), Some(""));
    let labels = until("the dispositions", Duration::from_secs(20), || async {
        text(&browser, "code")
            .await
            .filter(|t| t.contains("Not interested"))
    })
    .await;
    assert!(labels.contains("Call back later"), "{labels}");
    // A callback asks for its time; the other does not.
    let code = browser.find(Locator::Id("code")).await.unwrap();
    code.select_by_value("later").await.unwrap();
    let callback = browser.find(Locator::Id("callback-fields")).await.unwrap();
    assert!(callback.is_displayed().await.unwrap());
    code.select_by_value("no").await.unwrap();
    assert!(!callback.is_displayed().await.unwrap());
    browser
        .find(Locator::Id("notes"))
        .await
        .unwrap()
        .send_keys("asked us not to call again")
        .await
        .unwrap();
    screenshot(&browser, "agent-3-wrap-up").await;
    click(&browser, "submit-disposition").await;
    // (The next call may come at once: the store, not the page, says it was taken.)
    let first = until(
        "the disposition in the store",
        Duration::from_secs(20),
        || async {
            let attempts = store.attempts("spring", 0, 10).ok()?;
            attempts
                .iter()
                .find_map(|a| store.disposition(&a.start.id).ok().flatten())
        },
    )
    .await;
    assert_eq!(
        (first.code.as_str(), first.notes.as_deref()),
        ("no", Some("asked us not to call again"))
    );

    // The next call (the second lead), closed with a callback at the time given.
    until("the second call", Duration::from_secs(30), || async {
        text(&browser, "lead-name")
            .await
            .filter(|t| t == "Reza Karimi")
    })
    .await;
    state_shows(&browser, "on_call").await;
    click(&browser, "hangup").await;
    state_shows(&browser, "wrap_up").await;
    until(
        "the dispositions again",
        Duration::from_secs(20),
        || async {
            text(&browser, "code")
                .await
                .filter(|t| t.contains("Call back later"))
        },
    )
    .await;
    let code = browser.find(Locator::Id("code")).await.unwrap();
    let chosen = code.prop("value").await.unwrap();
    assert_eq!(chosen.as_deref(), Some(""), "nothing chosen for the agent");
    code.select_by_value("later").await.unwrap();
    let at = "2031-05-06T07:08";
    let set = "document.getElementById('callback-at').value = arguments[0];";
    browser
        .execute(set, vec![serde_json::json!(at)])
        .await
        .unwrap();
    let for_me = browser.find(Locator::Id("callback-for-me")).await.unwrap();
    for_me.click().await.unwrap();
    click(&browser, "submit-disposition").await;
    state_shows(&browser, "available").await;
    // The time as the browser's own zone reads it, as the page sent it.
    let read = "return new Date(arguments[0]).getTime();";
    let expected = browser
        .execute(read, vec![serde_json::json!(at)])
        .await
        .unwrap();
    let callback = store
        .attempts("spring", 0, 10)
        .unwrap()
        .iter()
        .filter_map(|a| store.disposition(&a.start.id).unwrap())
        .find(|d| d.code == "later")
        .expect("the callback disposition");
    assert_eq!(callback.callback_at_ms, expected.as_u64());
    assert_eq!(callback.callback_agent.as_deref(), Some("ag0"));
    assert!(
        browser
            .find(Locator::Id("no-call"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );

    // A break, with a reason from the configured list.
    let reason = browser.find(Locator::Id("break-reason")).await.unwrap();
    reason.select_by_value("training").await.unwrap();
    click(&browser, "break").await;
    state_shows(&browser, "break: training").await;
    assert_eq!(desk_state(&daemon).await, "break:training");
    screenshot(&browser, "agent-4-break").await;

    // A supervisor (an admin's session, in a browser of their own) sees the agent on
    // the dashboard and logs them out; the agent's page follows by itself.
    let supervisor = driver.client().await;
    browser::log_in(&supervisor, &daemon.url("/"), &daemon.token).await;
    let row = "tr[data-agent='ag0'] .agent-state";
    until(
        "the agent on the dashboard",
        Duration::from_secs(20),
        || async {
            let state = supervisor.find(Locator::Css(row)).await.ok()?;
            state.text().await.ok().filter(|t| t == "break:training")
        },
    )
    .await;
    screenshot(&supervisor, "agent-5-supervisor").await;
    // (The table is redrawn with each snapshot: a button found may be gone at its click.)
    let logout = "tr[data-agent='ag0'] button[data-action='logout']";
    until("the log-out clicked", Duration::from_secs(10), || async {
        let button = supervisor.find(Locator::Css(logout)).await.ok()?;
        button.click().await.ok()
    })
    .await;
    state_shows(&browser, "offline").await;
    assert_eq!(desk_state(&daemon).await, "offline");

    // Back on the desk, the agent dials a number a customer gave them: the call is put
    // through to them like any other.
    click(&browser, "login").await;
    click(&browser, "ready").await;
    state_shows(&browser, "available").await;
    // Typed nationally with spaces, as a customer gives it; E.164 in the campaign's
    // region (IR) on the page.
    let typed = number_for("0912 000 01", "yes").unwrap();
    let e164 = format!("+98{}", typed.replace(' ', "").trim_start_matches('0'));
    let number = browser.find(Locator::Id("dial-number")).await.unwrap();
    number.send_keys(&typed).await.unwrap();
    click(&browser, "dial-call").await;
    state_shows(&browser, "on_call").await;
    until(
        "the typed number's call",
        Duration::from_secs(20),
        || async { text(&browser, "lead-phone").await.filter(|t| *t == e164) },
    )
    .await;
    screenshot(&browser, "agent-6-manual").await;
    click(&browser, "hangup").await;
    state_shows(&browser, "wrap_up").await;
    let code = browser.find(Locator::Id("code")).await.unwrap();
    code.select_by_value("no").await.unwrap();
    click(&browser, "submit-disposition").await;
    state_shows(&browser, "available").await;
    daemon.stop().await;
}
