//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, through fantoccini) against a whole daemon dialing the simulator.
//! It logs in with a token, sees live calls appear and the counts change without a
//! reload, and presses pause, which the store then shows. Screenshots go to
//! `target/browser-screenshots/` (or `$DIALFLOW_SCREENSHOTS`), which CI keeps.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without
//! them the test fails saying so, unless `DIALFLOW_SKIP_BROWSER=1` asks to skip it.

mod common;
use common::browser::{self, Driver, screenshot, until};
use common::dirs::TempDir;
use common::in_process::{InProcess, campaigns_daemon};
use common::{scenario, sim_config, sim_dialflow_config};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server;
use dialflow::store::campaigns::Transition;
use dialflow::store::{CampaignState, NewLead, Store};
use fantoccini::{Client, Locator};

const SPEED: f64 = 10.0;
const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// The number in the campaign row's cell `count`.
async fn count(browser: &Client, campaign: &str, count: &str) -> Option<u64> {
    let css = format!("tr[data-campaign='{campaign}'] td[data-count='{count}']");
    let cell = browser.find(Locator::Css(&css)).await.ok()?;
    cell.text().await.ok()?.trim().parse().ok()
}

fn leads(n: usize) -> Vec<NewLead> {
    let mix = ["yes", "no", "number", "unknown"];
    (0..n)
        .map(|i| NewLead {
            phone: number_for(&format!("+98912{i:05}"), mix[i % mix.len()]).unwrap(),
            name: format!("Lead {i}"),
            ..NewLead::default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_calls_live_and_its_pause_reaches_the_store() {
    if browser::skipped() {
        return;
    }
    let salehi = scenario("salehi");
    let sim = server::spawn(sim_config(&salehi, SPEED)).await.unwrap();
    let dir = TempDir::new("dashboard-browser");
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let mut config = sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    config.scenarios = format!("{REPO}/scenarios").into();
    config.prompts = format!("{REPO}/prompts").into();
    let mut settings = CampaignSettings::for_scenario("salehi");
    settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
    settings.pacing.max_concurrent = 8;
    settings.pacing.max_per_second = 2.0;
    store.create_campaign("spring", settings, 0).unwrap();
    store.import_leads("spring", &leads(400), 0).unwrap();
    store
        .transition("spring", Transition::Start, None, 0)
        .unwrap();
    let daemon = InProcess::start(campaigns_daemon(config, &store, SPEED, false)).await;

    let driver = Driver::start();
    let browser = driver.client().await;
    browser::log_in(&browser, &daemon.url("/"), &daemon.token).await;

    // Live calls appear, and the counts move, with no reload of the page.
    let first = until(
        "the campaign's dialed count",
        Duration::from_secs(20),
        || count(&browser, "spring", "attempts"),
    )
    .await;
    until("a live call", Duration::from_secs(20), || async {
        let calls = browser.find_all(Locator::Css("#calls .call")).await.ok()?;
        (!calls.is_empty()).then_some(())
    })
    .await;
    screenshot(&browser, "2-live").await;
    // The KPIs: every customer here answers, and a yes is the scenario's success.
    let kpi = |name: &'static str| {
        let browser = &browser;
        async move {
            let css = format!("tr[data-campaign='spring'] td[data-kpi='{name}']");
            browser
                .find(Locator::Css(&css))
                .await
                .ok()?
                .text()
                .await
                .ok()
        }
    };
    until("the answer rate", Duration::from_secs(20), || async {
        kpi("answer_rate").await.filter(|t| t == "100.0 %")
    })
    .await;
    // (Each read again until it shows: the table is redrawn under the reader.)
    for (name, shows) in [
        ("success_rate", " %"),
        ("aht", " s"),
        ("classification", " ms"),
    ] {
        until(name, Duration::from_secs(20), || async {
            kpi(name)
                .await
                .filter(|t| t.ends_with(shows) && !t.starts_with("0.0 "))
        })
        .await;
    }
    let later = until(
        "the dialed count rising",
        Duration::from_secs(30),
        || async {
            count(&browser, "spring", "attempts")
                .await
                .filter(|n| *n > first)
        },
    )
    .await;
    assert!(later > first);

    // The flow: its picture, and its route counts rising as calls go on.
    browser.goto(&daemon.url("/#/flow/salehi")).await.unwrap();
    let routes = || async {
        let cells = browser
            .find_all(Locator::Css("#flow-routes .route-count"))
            .await
            .ok()?;
        let mut sum = 0u64;
        for cell in cells {
            sum += cell.text().await.ok()?.trim().parse::<u64>().ok()?;
        }
        Some(sum)
    };
    let before = until(
        "the flow's route counts",
        Duration::from_secs(15),
        || async { routes().await.filter(|n| *n > 0) },
    )
    .await;
    let svg = browser
        .find(Locator::Css("#flow-picture svg"))
        .await
        .unwrap();
    let drawn = svg.html(false).await.unwrap();
    assert!(drawn.contains("hello"), "the picture names the nodes");
    until(
        "the flow's counts rising",
        Duration::from_secs(30),
        || async { routes().await.filter(|n| *n > before) },
    )
    .await;
    screenshot(&browser, "2b-flow").await;
    browser.goto(&daemon.url("/")).await.unwrap();

    // Pause: the button's request reaches the store.
    browser
        .wait()
        .for_element(Locator::Css(
            "tr[data-campaign='spring'] button[data-action='pause']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.campaign("spring").unwrap().state != CampaignState::Paused {
        assert!(
            Instant::now() < deadline,
            "the pause never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until("the paused state", Duration::from_secs(10), || async {
        let cell = browser
            .find(Locator::Css("tr[data-campaign='spring'] .state"))
            .await
            .ok()?;
        (cell.text().await.ok()? == "paused").then_some(())
    })
    .await;
    screenshot(&browser, "3-paused").await;

    // The campaign's lead table: its leads with their latest attempts.
    browser
        .goto(&daemon.url("/#/campaign/spring"))
        .await
        .unwrap();
    until(
        "a lead with its outcome",
        Duration::from_secs(15),
        || async {
            let cells = browser
                .find_all(Locator::Css("#leads tbody td"))
                .await
                .ok()?;
            for cell in cells {
                if cell.text().await.ok()?.contains(" · CONNECTED") {
                    return Some(());
                }
            }
            None
        },
    )
    .await;
    // A CSV with bad rows: the counts, and the rejected rows to download.
    let csv = dir.join("more.csv");
    std::fs::write(
        &csv,
        "phone,name\n09123334444,Good\nnot-a-number,Bad\n,Empty\n",
    )
    .unwrap();
    let input = browser.find(Locator::Id("import-file")).await.unwrap();
    input.send_keys(csv.to_str().unwrap()).await.unwrap();
    let said = until("the import's report", Duration::from_secs(15), || async {
        let text = browser
            .find(Locator::Id("import-result"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("rejected").then_some(text)
    })
    .await;
    assert!(
        said.starts_with("1 added, 0 duplicates, 2 rejected"),
        "{said}"
    );
    let errors = browser.find(Locator::Id("import-errors")).await.unwrap();
    assert_eq!(
        errors.attr("download").await.unwrap().as_deref(),
        Some("rejected-rows.csv")
    );
    assert_eq!(store.counts("spring").unwrap()["leads"], 401);
    screenshot(&browser, "4-campaign").await;
    browser.close().await.unwrap();
    drop(driver);
    daemon.stop().await;
    sim.shutdown().await;
}
