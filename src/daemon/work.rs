//! What a daemon does with its runtime: dial the store's campaigns (the daemon
//! proper), or call a given list of numbers through one scenario (`run --scenario`).
//! Each kind is started here and steered by the daemon's loop through `Running`.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::address::AddressFile;
use super::{ApiTask, DaemonError, Notice, Notify};
use crate::config::Config;
use crate::control::{self, Controller, ReloadError, Reloaded, Trigger};
use crate::control::{AgentCall, AgentCallError};
use crate::core::scenario::Scenario;
use crate::desk::Desk;
use crate::dialer::{Dialer, DialerOptions, Signal};
use crate::load::LoadOptions;
use crate::runtime::Runtime;
use crate::runtime::batch::{self, Pace, PlannedCall};
use crate::scenario_set::{self, FolderLoad, SharedScenarios, StartTexts};
use crate::store::Store;

/// The daemon's work.
pub enum Work {
    /// Dial the store's running campaigns with the scenarios served (campaigns name
    /// them by file stem); `exit_when_idle` returns once nothing runs.
    Campaigns {
        store: Arc<Store>,
        scenarios: SharedScenarios,
        exit_when_idle: bool,
    },
    /// Place these calls through one scenario, at most `pace` at once, then return.
    Calls {
        scenario: Arc<Scenario>,
        calls: Vec<PlannedCall>,
        pace: Pace,
    },
}

/// What the work did once it returns.
#[derive(Debug, Default)]
pub(super) struct WorkDone {
    pub attempts: u64,
    pub recovered: usize,
    pub unfinished: usize,
    /// `Work::Calls`: the process's CPU time from when the batch starts placing calls
    /// to its last call's end.
    pub calls_cpu: Option<std::time::Duration>,
}

/// Started work: its task and how the loop steers it.
pub(super) struct Running {
    task: Option<JoinHandle<Result<WorkDone, DaemonError>>>,
    steer: Steer,
}

enum Steer {
    Dialer {
        signals: mpsc::UnboundedSender<Signal>,
        scenarios: SharedScenarios,
        folder: PathBuf,
        store: Arc<Store>,
    },
    Calls {
        stop: watch::Sender<bool>,
    },
}

impl Work {
    /// The store campaigns are dialed from (calls given on the command line have none).
    pub(super) fn store(&self) -> Option<Arc<Store>> {
        match self {
            Work::Campaigns { store, .. } => Some(Arc::clone(store)),
            _ => None,
        }
    }

    /// The API over the store, for campaign work (calls given on the command line
    /// have no store to serve).
    pub(super) fn serve_api(
        &self,
        listener: TcpListener,
        access: super::access::Access,
        runtime: &Runtime,
        controller: &Controller,
        notify: &Notify,
        agents: (
            Option<&Arc<crate::desk::Desk>>,
            &crate::config::AgentsConfig,
        ),
    ) -> Option<ApiTask> {
        let Work::Campaigns {
            store, scenarios, ..
        } = self
        else {
            return None;
        };
        let super::access::Access {
            addr,
            auth,
            token_file,
        } = access;
        // The file first: whoever hears the notice may look for it at once.
        let address = AddressFile::write(store.path(), addr);
        notify.send(Notice::Serving { addr, token_file });
        let (desk, agents) = agents;
        let mut state = crate::http::ApiState::new(Arc::clone(store), scenarios.clone(), auth)
            .with_control(controller.clone())
            .with_runtime(runtime.clone())
            .with_agents_config(agents.clone());
        if let Some(desk) = desk {
            // The agent API acts through the same desk as the calls.
            state = state.with_desk(Arc::clone(desk));
        }
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(crate::http::serve(listener, state, stop_rx));
        Some(ApiTask::new(stop, task, address))
    }

    pub(super) fn start(
        self,
        runtime: Runtime,
        config: Config,
        notify: Notify,
        desk: Option<Arc<Desk>>,
    ) -> Running {
        match self {
            Work::Campaigns {
                store,
                scenarios,
                exit_when_idle,
            } => {
                let campaigns = Campaigns {
                    store,
                    scenarios,
                    exit_when_idle,
                    desk,
                };
                start_dialer(runtime, config, notify, campaigns)
            }
            Work::Calls {
                scenario,
                calls,
                pace,
            } => start_calls(runtime, notify, scenario, calls, pace),
        }
    }
}

/// What campaign work runs with.
struct Campaigns {
    store: Arc<Store>,
    scenarios: SharedScenarios,
    exit_when_idle: bool,
    desk: Option<Arc<Desk>>,
}

fn start_dialer(runtime: Runtime, config: Config, notify: Notify, work: Campaigns) -> Running {
    let Campaigns {
        store,
        scenarios,
        exit_when_idle,
        desk,
    } = work;
    let store_for_versions = Arc::clone(&store);
    let (signals, signals_rx) = mpsc::unbounded_channel();
    let (events, mut events_rx) = mpsc::unbounded_channel();
    let forward = tokio::spawn(async move {
        while let Some(event) = events_rx.recv().await {
            notify.send(Notice::Dialer(event));
        }
    });
    let folder = config.scenarios.clone();
    let options = DialerOptions {
        max_concurrent: config.max_concurrent,
        exit_when_idle,
        ..DialerOptions::default()
    };
    let mut dialer =
        Dialer::new(store, runtime, scenarios.clone(), config, options).with_events(events);
    if let Some(desk) = desk {
        dialer = dialer.with_desk(desk);
    }
    let task = tokio::spawn(async move {
        let summary = dialer.run(signals_rx).await?;
        // The dialer is gone, and with it the events' sender: every notice is out.
        let _ = forward.await;
        Ok(WorkDone {
            attempts: summary.attempts,
            recovered: summary.recovered,
            unfinished: 0,
            calls_cpu: None,
        })
    });
    Running {
        task: Some(task),
        steer: Steer::Dialer {
            signals,
            scenarios,
            folder,
            store: Arc::clone(&store_for_versions),
        },
    }
}

fn start_calls(
    runtime: Runtime,
    notify: Notify,
    scenario: Arc<Scenario>,
    calls: Vec<PlannedCall>,
    pace: Pace,
) -> Running {
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let total = calls.len();
        let cpu_before = super::cpu::process_cpu();
        let ended = batch::run_all(&runtime, scenario, calls, pace, stop_rx, |outcome| {
            notify.send(Notice::Call(Box::new(outcome.clone())));
        })
        .await
        .len();
        let calls_cpu = super::cpu::process_cpu()
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        Ok(WorkDone {
            attempts: ended as u64,
            recovered: 0,
            unfinished: total - ended,
            calls_cpu,
        })
    });
    Running {
        task: Some(task),
        steer: Steer::Calls { stop },
    }
}

impl Running {
    /// The work's task, for the loop to wait on (once).
    pub(super) fn take_task(&mut self) -> JoinHandle<Result<WorkDone, DaemonError>> {
        self.task
            .take()
            .unwrap_or_else(|| tokio::spawn(async { Ok(WorkDone::default()) }))
    }

    fn signal(&self, signal: Signal) {
        if let Steer::Dialer { signals, .. } = &self.steer {
            let _ = signals.send(signal);
        }
    }

    /// An agent's own call, for the dialer; refused at once without one, or while
    /// stopping.
    pub(super) fn agent_call(&self, call: AgentCall, stopping: bool) {
        let refusal = match &self.steer {
            _ if stopping => AgentCallError::Stopping,
            Steer::Dialer { signals, .. } => match signals.send(Signal::AgentCall(call)) {
                Ok(()) => return,
                Err(mpsc::error::SendError(Signal::AgentCall(call))) => {
                    let _ = call.reply.send(Err(AgentCallError::Stopping));
                    return;
                }
                Err(_) => return,
            },
            Steer::Calls { .. } => AgentCallError::NoDialer,
        };
        let _ = call.reply.send(Err(refusal));
    }

    /// No new calls; the work returns once the calls on the line have ended.
    pub(super) fn stop(&self) {
        match &self.steer {
            Steer::Dialer { signals, .. } => {
                let _ = signals.send(Signal::Stop);
            }
            Steer::Calls { stop } => {
                let _ = stop.send(true);
            }
        }
    }

    /// The store campaigns are dialed from (none for calls given on the command line).
    pub(super) fn store(&self) -> Option<Arc<Store>> {
        match &self.steer {
            Steer::Dialer { store, .. } => Some(Arc::clone(store)),
            Steer::Calls { .. } => None,
        }
    }

    pub(super) fn refresh(&self) {
        self.signal(Signal::Refresh);
    }

    /// Holds (or resumes) new calls. Calls given on the command line are not held:
    /// they are a test of a deployment, stopped with a shutdown.
    pub(super) fn hold(&self, hold: bool) {
        self.signal(if hold { Signal::Hold } else { Signal::Resume });
    }

    /// Records the scenarios served at start as versions (trigger `start`), in the
    /// background. With the texts the caller compiled them from (`start_texts`), those
    /// are recorded; without, the folder is read again for them, and a scenario whose
    /// file changed since it was loaded is left for the reload that change brings.
    pub(super) fn record_start_versions(
        &self,
        options: &LoadOptions,
        start_texts: Option<StartTexts>,
    ) {
        let Steer::Dialer {
            scenarios,
            folder,
            store,
            ..
        } = &self.steer
        else {
            return;
        };
        let (served, folder, store) = (scenarios.current(), folder.clone(), Arc::clone(store));
        let options = options.clone();
        tokio::spawn(async move {
            let mut loaded = match start_texts {
                Some(texts) => FolderLoad {
                    scenarios: served.as_ref().clone(),
                    texts,
                    reports: Vec::new(),
                },
                None => {
                    let loading = move || scenario_set::load_folder(&folder, &options);
                    let Ok(Ok(loaded)) = tokio::task::spawn_blocking(loading).await else {
                        return;
                    };
                    loaded
                }
            };
            loaded
                .scenarios
                .retain(|name, s| served.get(name).is_some_and(|now| now.hash == s.hash));
            control::record_versions(&store, &loaded, Trigger::Start).await;
        });
    }

    pub(super) async fn reload(
        &self,
        options: &LoadOptions,
        trigger: Trigger,
    ) -> Result<Reloaded, ReloadError> {
        match &self.steer {
            Steer::Dialer {
                scenarios,
                folder,
                store,
                ..
            } => {
                let versions = Some((store, trigger));
                let reloaded = control::reload(folder, options, scenarios, versions).await?;
                // Campaigns paused for a missing scenario may find it now.
                self.refresh();
                Ok(reloaded)
            }
            Steer::Calls { .. } => Err(ReloadError::NoFolder),
        }
    }
}
