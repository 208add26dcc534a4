//! The daemon: the one spine every running dialflow goes through (`dialflow run`, the
//! demo, the tests). In the shape of mini-redis's `server::run(listener, shutdown)`:
//! `run(daemon, shutdown)` takes what it was given (configuration, ARI endpoint, the
//! work, the API listener), starts the runtime, the work and the API, and drives them
//! from one loop over `Control` messages until the work is done. The OS signal
//! handler stays in the CLI: whatever future `shutdown` is, its end means
//! `Control::Shutdown`.

mod access;
mod address;
mod connect;
pub mod cpu;
pub mod files;
mod watch;
mod work;

pub use address::{address_file, served_address};
pub use connect::{Classification, connect, endpoint};
pub use work::Work;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ari::client::{AriEndpoint, AriError};
use crate::classify::metrics::Snapshot;
use crate::config::{Config, ConfigError};
use crate::control::{Control, Controller, ReloadError, Reloaded, Trigger};
use crate::delivery::Delivery;
use crate::desk::Desk;
use crate::dialer::DialerEvent;
use crate::load::LoadOptions;
use crate::runtime::clock::Clock;
use crate::runtime::{CallOutcome, Runtime};
use crate::scenario_set::StartTexts;
use crate::store::StoreError;
use work::{Running, WorkDone};

/// How long API requests in progress may take to finish once the daemon stops: a slow
/// upload or an export read by nobody must not hold the daemon up for ever.
const API_SHUTDOWN: Duration = Duration::from_secs(5);

/// How long a stopping daemon keeps delivering reports, so a run that ends leaves few
/// behind (those it leaves go at the next start).
const DELIVERY_DRAIN: Duration = Duration::from_secs(5);

/// What the daemon tells whoever watches it (the CLI prints it, the demo draws a
/// progress bar, tests assert on it).
#[derive(Debug, Clone)]
pub enum Notice {
    /// From the campaign dialer.
    Dialer(DialerEvent),
    /// A call of `Work::Calls` ended.
    Call(Box<CallOutcome>),
    /// The API is served at this address; with no token configured, the admin token
    /// the daemon made is in `token_file` (0600).
    Serving {
        addr: SocketAddr,
        token_file: Option<std::path::PathBuf>,
    },
    /// A shutdown began: no new calls; the live ones get `grace` to finish.
    Stopping { grace: Duration },
    /// The grace time is over: the calls still on are being hung up.
    GraceOver { live_calls: usize },
    /// A reload took effect, or changed nothing (and why).
    Reloaded(Result<Reloaded, Arc<ReloadError>>),
}

/// Why the daemon could not run (or stopped on an error).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("classification: {0}")]
    Classify(crate::classify::SetupError),
    #[error("ARI: {0}")]
    Ari(#[from] AriError),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("report delivery: {0}")]
    Delivery(#[from] crate::delivery::DeliveryError),
    #[error("API access: {0}")]
    Access(#[from] access::AccessError),
    #[error("agents' desk: {0}")]
    Desk(#[from] crate::desk::DeskError),
    #[error("the {0} task failed: {1}")]
    Task(&'static str, String),
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Attempts recorded (campaigns) or calls that ended (`Work::Calls`).
    pub attempts: u64,
    /// Attempts a previous run left open, closed at start.
    pub recovered: usize,
    /// `Work::Calls`: calls that never ended (a shutdown came first).
    pub unfinished: usize,
    /// Classification latency and errors (none for the simulated classifier).
    pub classify: Option<Snapshot>,
    /// How long Asterisk's distress slowed and held new originates, and why.
    pub backoff: crate::runtime::backoff::BackoffMetrics,
    /// `Work::Calls`: the process's CPU time over the calls, from when the batch
    /// starts placing them to its last call's end (start-up and shutdown left out).
    pub calls_cpu: Option<Duration>,
}

/// Everything a daemon is given before it runs.
pub struct Daemon {
    config: Config,
    ari: AriEndpoint,
    clock: Clock,
    classification: Classification,
    work: Work,
    /// A runtime the caller started, used instead of connecting.
    runtime: Option<Runtime>,
    api: Option<TcpListener>,
    /// The API's tokens, when the caller gives them (else the configured ones).
    tokens: Option<crate::http::auth::TokenSet>,
    /// The agents' desk, when the caller opened it (else one over the work's store).
    desk: Option<Arc<Desk>>,
    load_options: LoadOptions,
    notices: Option<mpsc::UnboundedSender<Notice>>,
    controller: Controller,
    control: mpsc::UnboundedReceiver<Control>,
    /// The texts the served set was compiled from, when the caller kept them.
    start_texts: Option<StartTexts>,
}

impl Daemon {
    /// A daemon doing `work` against the configuration's Asterisk, in real time, with
    /// the configured classifier and no API.
    pub fn new(config: Config, work: Work) -> Result<Daemon, DaemonError> {
        let ari = endpoint(&config)?;
        let (controller, control) = Controller::new();
        let load_options = load_options(&config);
        Ok(Daemon {
            config,
            ari,
            clock: Clock::new(1.0),
            classification: Classification::Configured,
            work,
            runtime: None,
            api: None,
            tokens: None,
            desk: None,
            load_options,
            notices: None,
            controller,
            control,
            start_texts: None,
        })
    }

    /// Serves the HTTP API on `listener` (bound by the caller: port 0 in tests).
    pub fn with_api(mut self, listener: TcpListener) -> Self {
        self.api = Some(listener);
        self
    }

    /// The API accepts these tokens instead of the configured ones (the demo makes
    /// its own and prints it; tests do the same).
    pub fn with_tokens(mut self, tokens: crate::http::auth::TokenSet) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Runs calls on `clock` (compressed time for the demo and tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs on a runtime the caller connected (and stops), instead of connecting to
    /// the endpoint: for tests that watch or steer the runtime itself (its live calls,
    /// its health). Clock and classification are then the runtime's.
    pub fn on_runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    pub fn with_classification(mut self, classification: Classification) -> Self {
        self.classification = classification;
        self
    }

    /// How a reload compiles the scenarios folder.
    pub fn with_load_options(mut self, options: LoadOptions) -> Self {
        self.load_options = options;
        self
    }

    /// The texts the scenarios served at start were compiled from
    /// (`FolderLoad::texts`): recorded as their first versions as they are, rather
    /// than read and compiled again.
    pub fn with_start_texts(mut self, texts: StartTexts) -> Self {
        self.start_texts = Some(texts);
        self
    }

    /// Uses `desk` for the agents (the demo and tests keep a handle to act as agents);
    /// it must be over the work's store.
    pub fn with_desk(mut self, desk: Arc<Desk>) -> Self {
        self.desk = Some(desk);
        self
    }

    /// Sends what happens to `tx`.
    pub fn with_notices(mut self, tx: mpsc::UnboundedSender<Notice>) -> Self {
        self.notices = Some(tx);
        self
    }

    /// Where the API will answer, once running.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// A handle to send this daemon control messages, before or while it runs.
    pub fn controller(&self) -> Controller {
        self.controller.clone()
    }
}

/// Runs the daemon until its work is done: `Work::Calls` all ended, campaigns idle
/// with `exit_when_idle`, or a shutdown (`shutdown` completing, or
/// `Control::Shutdown`) carried through its grace time.
pub async fn run(
    daemon: Daemon,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    let Daemon {
        config,
        ari,
        clock,
        classification,
        work,
        runtime,
        api,
        tokens,
        desk,
        load_options,
        notices,
        controller,
        control,
        start_texts,
    } = daemon;
    let access = match (&api, work.store()) {
        (Some(listener), Some(store)) => {
            let addr = listener
                .local_addr()
                .map_err(|e| DaemonError::Task("API", e.to_string()))?;
            Some(access::settle(&config, store.path(), addr, tokens, |k| {
                std::env::var(k).ok()
            })?)
        }
        _ => None,
    };
    let (runtime, tasks) = match runtime {
        Some(runtime) => (runtime, None),
        None => {
            let (runtime, tasks) = connect(&config, ari, clock, classification).await?;
            (runtime, Some(tasks))
        }
    };
    let ca_file = config.tls.ca_file.as_deref();
    let (alerts, watch) = match (&config.alerts, work.store()) {
        (Some(alerts), Some(store)) => (
            Some(Delivery::start_alerts(
                Arc::clone(&store),
                alerts.clone(),
                ca_file,
            )?),
            Some(watch::Watch::new(store, alerts)),
        ),
        _ => (None, None),
    };
    let delivery = match (&config.panel, work.store()) {
        (Some(panel), Some(store)) => Some(Delivery::start(store, panel.clone(), ca_file)?),
        _ => None,
    };
    let desk = open_desk(desk, &work, &runtime)?;
    let wrap_ups = desk.as_ref().map(Desk::watch_wrap_ups);
    let legs = desk
        .as_ref()
        .and_then(|d| nailed_legs(&config, d, &runtime));
    let notify = Notify(notices);
    // Before the API: once it answers, an edit is seen.
    let file_watch = watch_files(&config, &work, &controller);
    let api = match (api, access) {
        (Some(listener), Some(access)) => {
            let agents = (desk.as_ref(), &config.agents);
            work.serve_api(listener, access, &runtime, &controller, &notify, agents)
        }
        _ => None,
    };
    let grace = config.shutdown_grace_ms();
    let running = work.start(runtime.clone(), config, notify.clone(), desk);
    running.record_start_versions(&load_options, start_texts);
    let mut main = MainLoop {
        runtime: runtime.clone(),
        running,
        controller: controller.clone(),
        notify,
        load_options,
        grace: Duration::from_millis(grace),
        stopping: false,
        grace_timer: None,
        watch,
    };
    let done = main.run(control, shutdown).await;
    if let Some(file_watch) = file_watch {
        file_watch.stop();
    }
    if let Some(api) = api {
        api.stop().await;
    }
    if let Some(tasks) = tasks {
        tasks.stop().await;
    }
    for task in [wrap_ups, legs].into_iter().flatten() {
        task.abort();
    }
    if let Some(delivery) = delivery {
        delivery.stop(DELIVERY_DRAIN).await;
    }
    if let Some(alerts) = alerts {
        alerts.stop(DELIVERY_DRAIN).await;
    }
    let done = done?;
    Ok(Summary {
        attempts: done.attempts,
        recovered: done.recovered,
        unfinished: done.unfinished,
        classify: runtime.classify_metrics(),
        backoff: runtime.backoff_metrics(),
        calls_cpu: done.calls_cpu,
    })
}

/// What a running dialflow compiles scenarios with: the configuration's prompts, and
/// its queues for `connect_agent`'s check.
pub fn load_options(config: &Config) -> LoadOptions {
    LoadOptions {
        prompts_dir: Some(config.prompts.clone()),
        no_environment: false,
        queues: Some(config.queues.keys().cloned().collect()),
    }
}

/// The agents' desk of campaign work: the caller's, or one opened over the store on
/// the runtime's wall clock (a demo's compressed time included).
fn open_desk(
    given: Option<Arc<Desk>>,
    work: &Work,
    runtime: &Runtime,
) -> Result<Option<Arc<Desk>>, DaemonError> {
    if given.is_some() {
        return Ok(given);
    }
    let Some(store) = work.store() else {
        return Ok(None);
    };
    let clock = runtime.clock();
    Ok(Some(Desk::open(store, Arc::new(move || clock.wall_ms()))?))
}

/// With a nailed queue configured: the desk told which, and the agents' legs kept up.
fn nailed_legs(
    config: &Config,
    desk: &Arc<Desk>,
    runtime: &Runtime,
) -> Option<tokio::task::JoinHandle<()>> {
    let nailed: std::collections::BTreeSet<String> = config
        .queues
        .iter()
        .filter(|(_, q)| q.reach == crate::config::AgentReachMode::Nailed)
        .map(|(name, _)| name.clone())
        .collect();
    if nailed.is_empty() {
        return None;
    }
    desk.set_nailed_queues(nailed);
    let setup = crate::runtime::nailed::LegSetup {
        app: config.ari.app.clone(),
        formats: config.dial.formats.clone(),
        endpoints: config.operators.clone(),
    };
    Some(runtime.keep_nailed_legs(Arc::clone(desk), setup))
}

/// The watch on the scenario files, for campaign work with `watch` on (calls given on
/// the command line serve one file, not a folder). A watch that cannot start is
/// logged, not fatal: SIGHUP and the API still reload.
fn watch_files(config: &Config, work: &Work, controller: &Controller) -> Option<files::FileWatch> {
    if !config.watch || work.store().is_none() {
        return None;
    }
    let folders = [config.scenarios.clone(), config.prompts.clone()];
    let scripts_of = Some(config.scenarios.clone());
    match files::start(&folders, scripts_of, controller.clone()) {
        Ok(watch) => Some(watch),
        Err(e) => {
            tracing::error!(error = %e, "scenario files are not watched: reload with SIGHUP or `dialflow reload`");
            None
        }
    }
}

/// Sends notices to the watcher, if any.
#[derive(Clone)]
pub(crate) struct Notify(Option<mpsc::UnboundedSender<Notice>>);

impl Notify {
    pub(crate) fn send(&self, notice: Notice) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(notice);
        }
    }
}

/// What the loop waits on besides control messages.
enum Event {
    Control(Control),
    GraceOver,
    /// Time to look for troubles that have lasted (`watch`).
    Watch,
}

/// The daemon's loop: every outside request arrives as a `Control` and is handled in
/// `handle`, one at a time, as in rust-analyzer's main loop.
struct MainLoop {
    runtime: Runtime,
    running: Running,
    controller: Controller,
    notify: Notify,
    load_options: LoadOptions,
    grace: Duration,
    stopping: bool,
    grace_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// With alerts and a store: Asterisk unreachable, the backlog's age.
    watch: Option<watch::Watch>,
}

impl MainLoop {
    async fn run(
        &mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<WorkDone, DaemonError> {
        let mut shutdown = pin!(shutdown);
        let mut shutdown_seen = false;
        let mut work: JoinHandle<Result<WorkDone, DaemonError>> = self.running.take_task();
        let mut look = tokio::time::interval(watch::EVERY);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                () = &mut shutdown, if !shutdown_seen => {
                    shutdown_seen = true;
                    Event::Control(Control::Shutdown)
                }
                Some(c) = control.recv() => Event::Control(c),
                () = grace_over(&mut self.grace_timer), if self.grace_timer.is_some() => Event::GraceOver,
                _ = look.tick(), if self.watch.is_some() => Event::Watch,
                done = &mut work => {
                    return done.map_err(|e| DaemonError::Task("work", e.to_string()))?;
                }
            };
            self.handle(event).await;
        }
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Watch => {
                if let Some(watch) = &mut self.watch {
                    watch.check(&self.runtime).await;
                }
            }
            Event::Control(Control::Shutdown) => self.shut_down(),
            Event::GraceOver => {
                self.grace_timer = None;
                let live_calls = self.runtime.live_calls();
                self.notify.send(Notice::GraceOver { live_calls });
                self.runtime.shutdown_calls();
            }
            Event::Control(Control::CampaignsChanged) => self.running.refresh(),
            Event::Control(Control::AgentCall(call)) => {
                self.running.agent_call(call, self.stopping)
            }
            Event::Control(Control::Pause) => self.running.hold(true),
            Event::Control(Control::Resume) => self.running.hold(false),
            Event::Control(Control::Reload { trigger, reply }) => {
                let outcome = self.reload(trigger).await;
                self.notify.send(Notice::Reloaded(outcome.clone()));
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
        }
    }

    /// Reloads the scenarios folder; logs, counts and times the outcome, and raises
    /// an alert when it was refused.
    async fn reload(&mut self, trigger: Trigger) -> Result<Reloaded, Arc<ReloadError>> {
        let started = std::time::Instant::now();
        let outcome = self
            .running
            .reload(&self.load_options, trigger)
            .await
            .map_err(Arc::new);
        self.controller
            .record_reload(trigger, &outcome, started.elapsed());
        match &outcome {
            Ok(r) => tracing::info!(?trigger, scenarios = ?r.scenarios, "scenarios reloaded"),
            Err(e) => {
                tracing::error!(?trigger, error = %e, "reload refused: the scenarios served are unchanged");
                if let Some(store) = self.running.store() {
                    let now = self.runtime.clock().wall_ms();
                    watch::reload_refused(&store, trigger, e, now).await;
                }
            }
        }
        outcome
    }

    /// No new calls; the live ones get the grace time (once: a second request changes
    /// nothing).
    fn shut_down(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.notify.send(Notice::Stopping { grace: self.grace });
        self.running.stop();
        self.grace_timer = Some(Box::pin(tokio::time::sleep(self.grace)));
    }
}

async fn grace_over(timer: &mut Option<Pin<Box<tokio::time::Sleep>>>) {
    match timer {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The API task, and how to stop it.
struct ApiTask {
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    /// Removed once the API has stopped.
    _address: Option<address::AddressFile>,
}

impl ApiTask {
    fn new(
        stop: tokio::sync::watch::Sender<bool>,
        task: JoinHandle<std::io::Result<()>>,
        address: Option<address::AddressFile>,
    ) -> Self {
        Self {
            stop,
            task,
            _address: address,
        }
    }

    /// Lets requests in progress finish, for `API_SHUTDOWN` at most.
    async fn stop(mut self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(API_SHUTDOWN, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("HTTP requests still open after {API_SHUTDOWN:?}: closing them");
            self.task.abort();
        }
    }
}
