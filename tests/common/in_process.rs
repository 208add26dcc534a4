//! A whole daemon in the test's own process, through `daemon::run` like `dialflow run`,
//! its API on a port the system picked (no bind-then-drop `free_port()`, which races
//! with other tests).

use std::net::SocketAddr;
use std::sync::Arc;

use dialflow::config::Config;
use dialflow::control::Controller;
use dialflow::daemon::{self, Daemon, DaemonError, Notice, Summary, Work};
use dialflow::http::auth;
use dialflow::load::LoadOptions;
use dialflow::runtime::clock::Clock;
use dialflow::scenario_set::{self, SharedScenarios};
use dialflow::store::Store;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A running daemon, and what a test steers and watches it with.
pub struct InProcess {
    pub api: SocketAddr,
    /// The API's admin token.
    pub token: String,
    pub controller: Controller,
    pub notices: mpsc::UnboundedReceiver<Notice>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<Summary, DaemonError>>,
}

impl InProcess {
    /// Runs `daemon` with its API on `127.0.0.1:0`, and an admin token of its own.
    pub async fn start(daemon: Daemon) -> InProcess {
        InProcess::start_with_tokens(daemon, &[]).await
    }

    /// `start`, the API also taking `more` tokens (name, role, token): agents' own.
    pub async fn start_with_tokens(daemon: Daemon, more: &[(&str, auth::Role, &str)]) -> InProcess {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let (tx, notices) = mpsc::unbounded_channel();
        let token = auth::new_token().unwrap();
        let admin = ("test", auth::Role::Admin, token.as_str());
        let tokens =
            auth::TokenSet::given(std::iter::once(admin).chain(more.iter().copied())).unwrap();
        let daemon = daemon
            .with_api(listener)
            .with_tokens(tokens)
            .with_notices(tx);
        let api = daemon.api_addr().expect("the API is bound");
        let controller = daemon.controller();
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon::run(daemon, async {
            let _ = stop.await;
        }));
        InProcess {
            api,
            token,
            controller,
            notices,
            shutdown: Some(shutdown),
            task,
        }
    }

    /// The API's URL for `path` (`/api/status`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    /// An HTTP client sending the admin token.
    pub fn client(&self) -> reqwest::Client {
        super::bearer_client(&self.token)
    }

    /// Shuts the daemon down (as SIGTERM does) and waits for its summary.
    pub async fn stop(mut self) -> Summary {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task
            .await
            .expect("the daemon's task")
            .expect("the daemon ran")
    }
}

/// A daemon dialing `store`'s campaigns with the scenarios of `config.scenarios` (its
/// prompts checked in `config.prompts`), on a clock `speed` times faster than real.
pub fn campaigns_daemon(
    config: Config,
    store: &Arc<Store>,
    speed: f64,
    exit_when_idle: bool,
) -> Daemon {
    let options = LoadOptions {
        prompts_dir: Some(config.prompts.clone()),
        no_environment: false,
        queues: None,
    };
    let loaded = scenario_set::load_folder(&config.scenarios, &options).unwrap();
    let work = Work::Campaigns {
        store: Arc::clone(store),
        scenarios: SharedScenarios::new(loaded.scenarios),
        exit_when_idle,
    };
    Daemon::new(config, work)
        .unwrap()
        .with_clock(Clock::new(speed))
        .with_load_options(options)
}
