//! A real browser for the web pages' tests: headless Chromium driven over WebDriver
//! (chromedriver, through fantoccini), killed with its test; screenshots to
//! `target/browser-screenshots/` (or `$DIALFLOW_SCREENSHOTS`, which CI keeps); a poll
//! of the page until it shows what a test waits for.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Whether the browser tests are asked to skip (`DIALFLOW_SKIP_BROWSER`), said so.
pub fn skipped() -> bool {
    let skip = std::env::var_os("DIALFLOW_SKIP_BROWSER").is_some();
    if skip {
        eprintln!("skipped: DIALFLOW_SKIP_BROWSER is set");
    }
    skip
}

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a port of its own, killed with the test.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub fn start() -> Driver {
        // chromedriver has no "port 0": a port the system just gave out is free enough
        // for the moment chromedriver takes to bind it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // A process group of its own: the browsers it starts go with it on drop.
        let child = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {CHROMEDRIVER} ({e}): apt-get install chromium chromium-driver")
            });
        Driver { child, port }
    }

    pub async fn client(&self) -> Client {
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--window-size=1400,1000"]
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{}", self.port))
                .await
            {
                Ok(client) => return client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no browser session through chromedriver: {e}"),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver and every Chromium it started, even after a failed test.
        if let Ok(group) = i32::try_from(self.child.id()) {
            // SAFETY: signals the process group this test started; nothing else.
            unsafe { libc::killpg(group, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

pub fn screenshots() -> PathBuf {
    let dir = std::env::var_os("DIALFLOW_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(REPO).join("target/browser-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until `check` gives `Some`, polling the page.
pub async fn until<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "the page never showed {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens `url` (a page that answers the login form without a session) and logs in with
/// `token` as a person would: typed into the form, then *Log in*.
pub async fn log_in(browser: &Client, url: &str, token: &str) {
    browser.goto(url).await.unwrap();
    let field = browser
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    field.send_keys(token).await.unwrap();
    let submit = browser.find(Locator::Id("submit")).await.unwrap();
    submit.click().await.unwrap();
}
