//! The campaign dialer: which lead to call next, when and how fast. It leases due leads
//! from the store (the attempt is on disk before its originate), paces each campaign
//! (and all of them against a distressed Asterisk), runs every call on the runtime, and
//! records each end with the lead's next step in one transaction.

mod agent_calls;
mod agents;
mod answer_rate;
pub mod deployment;
mod live_reports;
pub mod policy;
mod recovery;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::config::Config;
use crate::core::alerts::AlertKind;
use crate::core::call::{CallSetup, FailureReason, Lead};
use crate::core::campaign::failure_rate::{self, FailureRate, Tripped};
use crate::core::campaign::pacing::Pacer;
use crate::core::campaign::settings::DialMode;
use crate::core::scenario::Scenario;
use crate::desk::Desk;
use crate::metrics;
use crate::runtime::{AgentLink, CallOutcome, Runtime};
use crate::scenario_set::SharedScenarios;
use crate::store::campaigns::Transition;
use crate::store::{
    AttemptEnd, AttemptStart, CampaignRecord, CampaignState, ErrorKind, Finished, LeadState,
    Leased, NewAlert, Store, StoreError,
};
use deployment::{CampaignDialing, deployment};
use policy::CampaignPolicy;

/// How long the loop waits before trying a failed store step again.
const STORE_RETRY: Duration = Duration::from_millis(500);

/// How the dialer runs (the campaign-level limits are in each campaign's settings).
#[derive(Debug, Clone)]
pub struct DialerOptions {
    /// Most calls at once over all campaigns.
    pub max_concurrent: usize,
    /// How long a lease holds before another dialer may take the lead (campaign time).
    pub lease_ms: u64,
    /// Return once no campaign is running and no call is in flight.
    pub exit_when_idle: bool,
    /// How often campaigns are re-read from the store (real time).
    pub refresh: Duration,
}

impl Default for DialerOptions {
    fn default() -> Self {
        Self {
            max_concurrent: 100,
            lease_ms: 2 * 3_600_000,
            exit_when_idle: false,
            refresh: Duration::from_millis(500),
        }
    }
}

/// What the dialer tells whoever watches it (the CLI, the demo's progress bar).
#[derive(Debug, Clone)]
pub enum DialerEvent {
    /// An attempt ended and is recorded.
    Finished {
        attempt: Box<AttemptStart>,
        end: Box<AttemptEnd>,
        /// The lead's state after it: pending again (a retry), done, DNC.
        lead: Option<LeadState>,
    },
    /// A campaign changed state by itself (completed, paused by the breaker).
    CampaignChanged {
        name: String,
        state: CampaignState,
        reason: Option<String>,
    },
    /// An alert was raised and recorded.
    Alert { campaign: String, message: String },
    /// Attempts a previous run left open were closed at start.
    Recovered { attempts: usize },
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct DialerSummary {
    pub attempts: u64,
    pub recovered: usize,
}

/// What the daemon tells a running dialer.
#[derive(Debug)]
pub enum Signal {
    /// No new calls; return once the calls in flight have ended (and are recorded).
    Stop,
    /// Re-read the campaigns now (an operator changed one) instead of at the next
    /// periodic refresh.
    Refresh,
    /// Start no new call on any campaign until `Resume`; calls in flight go on.
    Hold,
    /// Dial again after `Hold`.
    Resume,
    /// An agent's own call (manual or preview), placed at the next round.
    AgentCall(crate::control::AgentCall),
}

/// A campaign as the dialer holds it while running.
struct Live {
    record: CampaignRecord,
    policy: Result<Arc<CampaignPolicy>, policy::SettingsError>,
    pacer: Pacer,
    in_flight: u32,
    failures_in_a_row: u32,
    /// The share of technical failures over the last two minutes.
    failure_rate: FailureRate,
    /// Do not ask the store for leads before this (nothing was due last time).
    quiet_until: Instant,
    /// When the store was last asked whether this campaign is done (throttles the check
    /// for a campaign outside its window, which never asks for leads).
    idle_checked: Option<Instant>,
    /// Its answer rate and drops, for the modes with agents.
    agents: agents::AgentPacing,
}

/// A call that ended, on its way to the store.
struct Completion {
    attempt: AttemptStart,
    outcome: CallOutcome,
    /// The scenario the call ran: its path's node ids are this version's (a reload
    /// since may have renamed or removed them).
    scenario: Arc<Scenario>,
    /// Campaign (wall) time and call-clock time when the call started.
    started_wall_ms: u64,
    started_call_ms: u64,
}

/// The dialer loop's state from one round to the next.
struct LoopState {
    campaigns: BTreeMap<String, Live>,
    /// When the campaigns were last read (`None`: read them now).
    refreshed: Option<Instant>,
    round_robin: usize,
    /// Ended calls not recorded yet.
    arrived: Vec<Completion>,
    /// A store that fails (disk full, …) must not end the loop: live calls still need
    /// their ends recorded. A failed step is logged and the store left alone until then.
    pause_until: Option<Instant>,
    stopping: bool,
    /// `Signal::Hold` is in force.
    held: bool,
    /// Agents' own calls asked for, placed at the next round.
    agent_calls: Vec<crate::control::AgentCall>,
    summary: DialerSummary,
}

impl LoopState {
    fn new(recovered: usize) -> Self {
        Self {
            campaigns: BTreeMap::new(),
            refreshed: None,
            round_robin: 0,
            arrived: Vec::new(),
            pause_until: None,
            stopping: false,
            held: false,
            agent_calls: Vec::new(),
            summary: DialerSummary {
                recovered,
                ..DialerSummary::default()
            },
        }
    }

    fn in_flight(&self) -> usize {
        self.campaigns.values().map(|l| l.in_flight as usize).sum()
    }

    /// A campaign's call was answered: its answer rate counts it now.
    fn answered(&mut self, answer: &crate::runtime::Answered) {
        let live = answer
            .campaign
            .as_deref()
            .and_then(|c| self.campaigns.get_mut(c));
        if let Some(live) = live {
            live.agents
                .answers
                .answered(&answer.attempt_id, answer.rang_ms);
        }
    }

    fn apply(&mut self, signal: Signal) {
        match signal {
            Signal::Stop => self.stopping = true,
            Signal::Refresh => self.refreshed = None,
            Signal::Hold => self.held = true,
            Signal::Resume => self.held = false,
            Signal::AgentCall(call) => self.agent_calls.push(call),
        }
    }
}

pub struct Dialer {
    store: Arc<Store>,
    runtime: Runtime,
    scenarios: SharedScenarios,
    config: Config,
    options: DialerOptions,
    events: Option<mpsc::UnboundedSender<DialerEvent>>,
    /// Where calls send the reports they make while on (set while `run` runs).
    live_reports: Option<crate::runtime::ReportSink>,
    /// Where calls tell of their customer's answer (set while `run` runs).
    answers: Option<crate::runtime::AnsweredSink>,
    /// The agents' desk, for campaigns whose mode has agents.
    desk: Option<Arc<Desk>>,
}

/// Whether a store error may pass if tried again (the disk, a lock), unlike a record
/// that cannot be read or an attempt the store does not know.
fn transient(e: &StoreError) -> bool {
    e.kind() == ErrorKind::Io
}

/// Whether a refused change only means the campaign changed since it was read (an
/// operator paused it, leads came in): a fault of the store (a failed task, the disk,
/// an unreadable record) is never taken for that, so it is reported, not passed over.
fn changed_meanwhile(e: &StoreError) -> bool {
    e.kind() == ErrorKind::Conflict
}

impl Dialer {
    /// `scenarios` by name (the file stem campaigns refer to); a new call takes the
    /// set as it is when the call starts.
    pub fn new(
        store: Arc<Store>,
        runtime: Runtime,
        scenarios: SharedScenarios,
        config: Config,
        options: DialerOptions,
    ) -> Self {
        Self {
            store,
            runtime,
            scenarios,
            config,
            options,
            events: None,
            live_reports: None,
            answers: None,
            desk: None,
        }
    }

    /// Connects calls to the agents of `desk` (campaigns with a mode that has agents).
    pub fn with_desk(mut self, desk: Arc<Desk>) -> Self {
        self.desk = Some(desk);
        self
    }

    /// Sends progress to `tx`.
    pub fn with_events(mut self, tx: mpsc::UnboundedSender<DialerEvent>) -> Self {
        self.events = Some(tx);
        self
    }

    fn emit(&self, event: DialerEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    fn now_ms(&self) -> u64 {
        self.runtime.clock().wall_ms()
    }

    /// Runs until told to `Stop` (then lets the calls in flight finish and records
    /// them) or, with `exit_when_idle`, until nothing is running. Attempts a crash left
    /// open are closed first. A closed `signals` channel counts as `Stop`.
    pub async fn run(
        mut self,
        mut signals: mpsc::UnboundedReceiver<Signal>,
    ) -> Result<DialerSummary, StoreError> {
        let (sink, writer) = live_reports::spawn(Arc::clone(&self.store));
        self.live_reports = Some(sink);
        let (answers, mut answered) = mpsc::unbounded_channel();
        self.answers = Some(answers);
        let summary = self.run_loop(&mut signals, &mut answered).await;
        // Every call has ended: the writer finishes what they sent, then stops.
        self.live_reports = None;
        self.answers = None;
        let _ = writer.await;
        summary
    }

    async fn run_loop(
        &self,
        signals: &mut mpsc::UnboundedReceiver<Signal>,
        answered: &mut mpsc::UnboundedReceiver<crate::runtime::Answered>,
    ) -> Result<DialerSummary, StoreError> {
        let mut st = LoopState::new(self.recover().await?);
        if st.summary.recovered > 0 {
            self.emit(DialerEvent::Recovered {
                attempts: st.summary.recovered,
            });
        }
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Completion>();
        let mut signals_open = true;
        loop {
            if st.pause_until.is_none_or(|p| p <= Instant::now()) {
                st.pause_until = None;
                self.refresh_when_due(&mut st).await;
                while let Ok(c) = done_rx.try_recv() {
                    st.arrived.push(c);
                }
                self.record_arrived(&mut st).await;
            }
            if self.dial_round(&mut st, &done_tx).await.is_break() {
                break;
            }
            tokio::select! {
                c = done_rx.recv() => st.arrived.extend(c),
                Some(a) = answered.recv() => st.answered(&a),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                signal = signals.recv(), if signals_open => {
                    signals_open = signal.is_some();
                    st.apply(signal.unwrap_or(Signal::Stop));
                }
            }
        }
        Ok(st.summary)
    }

    /// Re-reads the campaigns when the refresh interval has passed (or one was asked).
    async fn refresh_when_due(&self, st: &mut LoopState) {
        if st
            .refreshed
            .is_some_and(|r| r.elapsed() < self.options.refresh)
        {
            return;
        }
        st.refreshed = Some(Instant::now());
        if let Err(e) = self.refresh(&mut st.campaigns).await {
            tracing::error!(error = %e, "cannot read campaigns from the store");
        }
    }

    /// Records the calls that ended; what fails is kept to try again (finishing is
    /// idempotent: a batch that failed half-way is simply recorded again).
    async fn record_arrived(&self, st: &mut LoopState) {
        if st.arrived.is_empty() {
            return;
        }
        match self.finish(&st.arrived, &mut st.campaigns).await {
            Ok(()) => {
                st.summary.attempts += st.arrived.len() as u64;
                st.arrived.clear();
            }
            Err(e) if st.arrived.len() > 1 && !transient(&e) => {
                // One bad item must not hold up every other call's end (and with them
                // the slots and a graceful stop): one at a time.
                tracing::error!(error = %e, calls = st.arrived.len(), "cannot record ended calls together; recording them one by one");
                let arrived = std::mem::take(&mut st.arrived);
                st.arrived = self
                    .finish_one_by_one(arrived, &mut st.campaigns, &mut st.summary)
                    .await;
                if !st.arrived.is_empty() {
                    st.pause_until = Some(Instant::now() + STORE_RETRY);
                }
            }
            Err(e) if !transient(&e) => {
                let c = st.arrived.remove(0);
                self.set_aside(c, &e, &mut st.campaigns);
            }
            Err(e) => {
                tracing::error!(error = %e, calls = st.arrived.len(), "cannot record ended calls; trying again");
                st.pause_until = Some(Instant::now() + STORE_RETRY);
            }
        }
    }

    /// Starts what may start now and completes idle campaigns; `Break` once the loop
    /// is done (stopped with nothing in flight, or idle with `exit_when_idle`).
    async fn dial_round(
        &self,
        st: &mut LoopState,
        done_tx: &mpsc::UnboundedSender<Completion>,
    ) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow;
        let nothing_on = |st: &LoopState| st.in_flight() == 0 && st.arrived.is_empty();
        if st.stopping {
            return if nothing_on(st) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            };
        }
        if st.pause_until.is_some() || st.held {
            return ControlFlow::Continue(());
        }
        let asked = std::mem::take(&mut st.agent_calls);
        self.agent_calls(asked, &mut st.campaigns, done_tx).await;
        let in_flight = st.in_flight();
        if let Err(e) = self
            .dial(&mut st.campaigns, in_flight, &mut st.round_robin, done_tx)
            .await
        {
            tracing::error!(error = %e, "cannot lease leads; trying again");
            st.pause_until = Some(Instant::now() + STORE_RETRY);
        }
        if let Err(e) = self.complete_idle(&mut st.campaigns).await {
            tracing::warn!(error = %e, "cannot complete idle campaigns");
        }
        let running = st
            .campaigns
            .values()
            .any(|l| l.record.state == CampaignState::Running);
        if self.options.exit_when_idle && !running && nothing_on(st) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Re-reads campaigns from the store, keeping each one's pacing and calls in flight.
    async fn refresh(&self, campaigns: &mut BTreeMap<String, Live>) -> Result<(), StoreError> {
        let store = Arc::clone(&self.store);
        let records = blocking(move || store.campaigns()).await?;
        for record in records {
            match campaigns.get_mut(&record.name) {
                Some(live) => {
                    if live.record.settings != record.settings {
                        live.policy = CampaignPolicy::compile(&record.settings).map(Arc::new);
                        if let Ok(p) = &live.policy {
                            live.pacer.set_limits(p.pacing);
                        }
                    }
                    live.record = record;
                }
                None => {
                    let policy = CampaignPolicy::compile(&record.settings).map(Arc::new);
                    let pacer = Pacer::new(policy.as_ref().map(|p| p.pacing).unwrap_or_default());
                    campaigns.insert(
                        record.name.clone(),
                        Live {
                            record,
                            policy,
                            pacer,
                            in_flight: 0,
                            failures_in_a_row: 0,
                            failure_rate: FailureRate::default(),
                            quiet_until: Instant::now(),
                            idle_checked: None,
                            agents: agents::AgentPacing::default(),
                        },
                    );
                }
            }
        }
        self.read_drops(campaigns).await?;
        // A running campaign that cannot run (bad settings, scenario missing) pauses.
        let broken: Vec<(String, String)> = campaigns
            .values()
            .filter(|l| l.record.state == CampaignState::Running)
            .filter_map(|l| {
                let problem = match &l.policy {
                    Err(e) => Some(format!("its settings are invalid: {e}")),
                    Ok(_) if !self.scenarios.contains(&l.record.settings.scenario) => {
                        Some(format!(
                            "its scenario `{}` is not loaded (missing or does not compile)",
                            l.record.settings.scenario
                        ))
                    }
                    Ok(_) => None,
                };
                problem.map(|p| (l.record.name.clone(), p))
            })
            .collect();
        for (name, problem) in broken {
            self.pause(campaigns, &name, AlertKind::Paused, problem)
                .await?;
        }
        Ok(())
    }

    /// Reads the drops so far of each running predictive campaign, for its cap.
    async fn read_drops(&self, campaigns: &mut BTreeMap<String, Live>) -> Result<(), StoreError> {
        let now = self.now_ms();
        for (name, live) in campaigns.iter_mut() {
            let predictive = live
                .policy
                .as_ref()
                .is_ok_and(|p| p.agents.mode == DialMode::Predictive);
            if !predictive || live.record.state != CampaignState::Running {
                continue;
            }
            let (store, name) = (Arc::clone(&self.store), name.clone());
            live.agents.drops = blocking(move || store.drop_window(&name, now)).await?;
        }
        Ok(())
    }

    /// Starts as many calls as the limits allow, campaigns served round-robin.
    async fn dial(
        &self,
        campaigns: &mut BTreeMap<String, Live>,
        in_flight: usize,
        round_robin: &mut usize,
        done_tx: &mpsc::UnboundedSender<Completion>,
    ) -> Result<(), StoreError> {
        if !self.runtime.is_connected() {
            return Ok(());
        }
        let pacing = self.runtime.pacing();
        let distress = pacing.distress;
        let mut free = self
            .options
            .max_concurrent
            .saturating_sub(in_flight)
            .min(usize::try_from(pacing.room()).unwrap_or(usize::MAX));
        if free == 0 {
            return Ok(());
        }
        let now = self.now_ms();
        // Each eligible campaign's allowance under its own pacing.
        let mut eligible: Vec<(String, u32)> = Vec::new();
        for (name, live) in campaigns.iter() {
            if live.record.state != CampaignState::Running || live.quiet_until > Instant::now() {
                continue;
            }
            let Ok(policy) = &live.policy else { continue };
            if policy.campaign_window(now).is_err() {
                continue;
            }
            let mut start = live.pacer.allowance(now, live.in_flight, &distress).start;
            let horizon = live.agents.horizon_ms();
            let staffing = self.desk.as_ref().map(|d| d.staffing_within(name, horizon));
            if let Some(cap) = live
                .agents
                .cap(&policy.agents, staffing, live.in_flight, now)
            {
                tracing::trace!(campaign = %name, start, cap, in_flight = live.in_flight, ?staffing, "agent pacing");
                start = start.min(cap);
            }
            if start > 0 {
                eligible.push((name.clone(), start));
            }
        }
        if eligible.is_empty() {
            return Ok(());
        }
        // Round-robin, one call at a time, so one campaign cannot take every free slot.
        let n = eligible.len();
        let mut grants = vec![0u32; n];
        *round_robin = (*round_robin + 1) % n;
        loop {
            let mut progressed = false;
            for i in 0..n {
                let k = (*round_robin + i) % n;
                if free > 0 && grants[k] < eligible[k].1 {
                    grants[k] += 1;
                    free -= 1;
                    progressed = true;
                }
            }
            if !progressed || free == 0 {
                break;
            }
        }
        for ((name, _), grant) in eligible.into_iter().zip(grants) {
            if grant == 0 {
                continue;
            }
            let Some(live) = campaigns.get_mut(&name) else {
                continue;
            };
            let Ok(policy) = live.policy.clone() else {
                continue;
            };
            let Some(scenario) = self.scenarios.get(&live.record.settings.scenario) else {
                continue;
            };
            let store = Arc::clone(&self.store);
            let (campaign, lease_ms) = (name.clone(), self.options.lease_ms);
            // Attempts name the scenario as campaigns do (its file stem), with its hash.
            let scenario_name = live.record.settings.scenario.clone();
            let hash = scenario.hash.to_string();
            let admission = Arc::clone(&policy);
            let desk = self.desk.clone();
            let leased = blocking(move || {
                store.lease(
                    &campaign,
                    now,
                    grant as usize,
                    lease_ms,
                    &scenario_name,
                    &hash,
                    |lead| {
                        agents::admit_callback(
                            admission.admit(lead, now),
                            lead,
                            desk.as_deref(),
                            now,
                        )
                    },
                )
            })
            .await?;
            if leased.len() < grant as usize {
                // Nothing more is due now: look again a little later.
                live.quiet_until = Instant::now() + Duration::from_millis(200);
            }
            for lease in leased {
                live.pacer.started(now);
                live.in_flight += 1;
                live.agents.answers.placed(&lease.attempt.id, now);
                // A callback a disposition kept for one agent goes to them alone.
                let agent = lease.lead.callback_agent.clone();
                let scenario = Arc::clone(&scenario);
                self.start_call(&live.record, &policy, scenario, lease, agent, done_tx);
            }
        }
        Ok(())
    }

    fn start_call(
        &self,
        record: &CampaignRecord,
        policy: &CampaignPolicy,
        scenario: Arc<Scenario>,
        lease: Leased,
        agent: Option<String>,
        done_tx: &mpsc::UnboundedSender<Completion>,
    ) {
        self.reserve_for(agent.as_deref(), &record.name, &scenario, &lease, policy);
        let dialing = CampaignDialing {
            prefix: record.settings.dial_prefix.as_deref(),
            caller_id: record.settings.caller_id.as_deref(),
        };
        let deployment = deployment(&self.config, dialing, &scenario, &lease.lead.phone);
        let setup = CallSetup {
            attempt_id: lease.attempt.id.clone(),
            lead: Lead {
                name: lease.lead.name.clone(),
                phone: lease.lead.phone.clone(),
                timezone: lease.lead.time_zone.clone().unwrap_or_default(),
                custom: lease.lead.custom.clone(),
            },
            attempt: lease.attempt.number,
            ring_timeout_ms: None,
            safe_harbor: policy.agents.safe_harbor.clone(),
        };
        metrics::global().call_started(&record.name);
        let runtime = self.runtime.clone();
        let done_tx = done_tx.clone();
        let started_wall_ms = self.now_ms();
        let started_call_ms = runtime.clock().now().0;
        let clock = runtime.clock();
        let options = crate::runtime::CallOptions {
            sink: self.live_reports.clone(),
            campaign: Some(record.name.clone()),
            answered: self.answers.clone(),
            agents: self.desk.as_ref().map(|desk| AgentLink {
                desk: Arc::clone(desk),
                wrap_up_ms: policy.wrap_up_ms,
                agent,
            }),
        };
        let ran = Arc::clone(&scenario);
        let call = tokio::spawn(async move {
            runtime
                .call_with(scenario, setup, deployment, options)
                .await
        });
        // A call task that panics (a bug) still ends its attempt, so the slot frees and
        // the campaign can complete.
        tokio::spawn(async move {
            let outcome = match call.await {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::error!(attempt = %lease.attempt.id, error = %e, "a call task failed");
                    CallOutcome {
                        attempt_id: lease.attempt.id.clone(),
                        summary: crate::core::call::Summary {
                            result: FailureReason::Internal.result(),
                            status: "FAILED".into(),
                            transcript: None,
                            answered_at: None,
                            ended_at: clock.now(),
                            path: Vec::new(),
                            facts: Default::default(),
                        },
                        reports: Vec::new(),
                        unknown_originates: 0,
                        channels: Vec::new(),
                    }
                }
            };
            let summary = &outcome.summary;
            metrics::global().call_ended(&lease.attempt.campaign, &summary.result, &summary.status);
            let _ = done_tx.send(Completion {
                attempt: lease.attempt,
                outcome,
                scenario: ran,
                started_wall_ms,
                started_call_ms,
            });
        });
    }

    /// Records ended calls in one transaction, then applies the circuit breaker.
    async fn finish(
        &self,
        completions: &[Completion],
        campaigns: &mut BTreeMap<String, Live>,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        let policies: HashMap<String, Arc<CampaignPolicy>> = campaigns
            .iter()
            .filter_map(|(n, l)| l.policy.as_ref().ok().map(|p| (n.clone(), Arc::clone(p))))
            .collect();
        let items: Vec<Finished> = completions
            .iter()
            .map(|c| {
                let keep = campaigns
                    .get(&c.attempt.campaign)
                    .is_none_or(|l| l.record.settings.keep_transcripts);
                self.finished(c, keep)
            })
            .collect();
        let store = Arc::clone(&self.store);
        let recorded = items.clone();
        let updated = blocking(move || {
            store.finish(&recorded, now, |lead, end| {
                match policies.get(&lead.campaign) {
                    Some(p) => p.next(lead, end, now),
                    None => crate::store::LeadNext::Done,
                }
            })
        })
        .await?;
        let states: HashMap<u64, LeadState> =
            updated.into_iter().map(|l| (l.id, l.state)).collect();
        for (c, item) in completions.iter().zip(items) {
            let campaign = c.attempt.campaign.clone();
            let result = item.end.result.clone();
            self.emit(DialerEvent::Finished {
                lead: states.get(&c.attempt.lead_id).cloned(),
                attempt: Box::new(c.attempt.clone()),
                end: Box::new(item.end),
            });
            let Some(live) = campaigns.get_mut(&campaign) else {
                continue;
            };
            live.in_flight = live.in_flight.saturating_sub(1);
            let rang = |at: crate::core::call::Millis| at.0.saturating_sub(c.started_call_ms);
            let answered = c.outcome.summary.answered_at.map(rang);
            live.agents.answers.ended(&c.attempt.id, answered, now);
            let trip = breaker(live, &result, now);
            if let Some((kind, reason)) = trip
                && live.record.state == CampaignState::Running
            {
                // The ends are recorded already: a pause that fails is only logged.
                if let Err(e) = self.pause(campaigns, &campaign, kind, reason).await {
                    tracing::error!(campaign = %campaign, error = %e, "cannot pause the campaign");
                }
            }
        }
        Ok(())
    }

    /// Records `completions` one at a time: what is recorded counts, what the store
    /// refuses for good (an unreadable record, an unknown attempt) is set aside; what
    /// fails for a passing reason is returned, to try again.
    async fn finish_one_by_one(
        &self,
        completions: Vec<Completion>,
        campaigns: &mut BTreeMap<String, Live>,
        summary: &mut DialerSummary,
    ) -> Vec<Completion> {
        let mut again = Vec::new();
        for c in completions {
            match self.finish(std::slice::from_ref(&c), campaigns).await {
                Ok(()) => summary.attempts += 1,
                Err(e) if transient(&e) => again.push(c),
                Err(e) => self.set_aside(c, &e, campaigns),
            }
        }
        again
    }

    /// Gives up recording one call's end: logged with all there is to know, and its
    /// slot freed. Its attempt stays open, so the next start's recovery closes it.
    fn set_aside(&self, c: Completion, e: &StoreError, campaigns: &mut BTreeMap<String, Live>) {
        tracing::error!(
            attempt = %c.attempt.id,
            campaign = %c.attempt.campaign,
            result = %c.outcome.summary.result,
            error = %e,
            "cannot record this call's end: set aside"
        );
        if let Some(live) = campaigns.get_mut(&c.attempt.campaign) {
            live.in_flight = live.in_flight.saturating_sub(1);
            live.agents
                .answers
                .ended(&c.attempt.id, None, self.now_ms());
        }
    }

    /// The record of an ended call.
    fn finished(&self, c: &Completion, keep_transcript: bool) -> Finished {
        let summary = &c.outcome.summary;
        let wall = |call_ms: u64| {
            c.started_wall_ms
                .saturating_add(call_ms.saturating_sub(c.started_call_ms))
        };
        let path = summary
            .path
            .iter()
            .map(|step| c.scenario.node(step.node).name.clone())
            .collect();
        let transcript = |t: &Option<String>| if keep_transcript { t.clone() } else { None };
        Finished {
            attempt_id: c.attempt.id.clone(),
            end: AttemptEnd {
                result: summary.result.clone(),
                status: summary.status.clone(),
                channels: c.outcome.channels.clone(),
                path,
                answered_ms: summary.answered_at.map(|a| wall(a.0)),
                ended_ms: wall(summary.ended_at.0),
                transcript: transcript(&summary.transcript),
                note: None,
                amd_status: summary.facts.amd_status.clone(),
                amd_cause: summary.facts.amd_cause.clone(),
                digits: summary.facts.digits.clone(),
                agent: summary.facts.agent.clone(),
                agent_bridged_ms: summary.facts.agent_bridged_at.map(|a| wall(a.0)),
                dropped: summary.facts.dropped,
                // `Store::finish` records what was reported, live reports included.
                reported: Vec::new(),
            },
            reports: c
                .outcome
                .reports
                .iter()
                .map(|r| {
                    (
                        r.status.clone(),
                        r.result.clone(),
                        transcript(&r.transcript),
                    )
                })
                .collect(),
        }
    }

    /// Pauses a campaign by itself and alerts (in the same transaction, so the alert
    /// goes out through the alert delivery).
    async fn pause(
        &self,
        campaigns: &mut BTreeMap<String, Live>,
        name: &str,
        kind: AlertKind,
        reason: String,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        let store = Arc::clone(&self.store);
        let (n, r) = (name.to_string(), reason.clone());
        let paused = blocking(move || {
            // The state may have changed since the last refresh (an operator paused or
            // stopped it): then there is nothing to pause.
            let message = format!("campaign `{n}` paused itself: {r}");
            let alert = NewAlert {
                kind,
                campaign: &n,
                reason: &r,
                message: &message,
            };
            let record = match store.transition_with_alert(
                &n,
                Transition::Pause,
                Some(r.clone()),
                Some(alert),
                now,
            ) {
                Ok(record) => record,
                Err(StoreError::BadTransition { .. }) => return store.campaign(&n).map(Err),
                Err(e) => return Err(e),
            };
            Ok(Ok(record))
        })
        .await?;
        let record = match paused {
            Ok(record) => record,
            Err(current) => {
                if let Some(live) = campaigns.get_mut(name) {
                    live.record = current;
                }
                return Ok(());
            }
        };
        let message = format!("campaign `{name}` paused itself: {reason}");
        tracing::error!(campaign = name, %reason, "campaign paused itself");
        self.emit(DialerEvent::Alert {
            campaign: name.into(),
            message,
        });
        self.emit(DialerEvent::CampaignChanged {
            name: name.into(),
            state: record.state,
            reason: record.reason.clone(),
        });
        if let Some(live) = campaigns.get_mut(name) {
            live.record = record;
        }
        Ok(())
    }

    /// Running campaigns with nothing in flight and nothing left to dial complete.
    async fn complete_idle(
        &self,
        campaigns: &mut BTreeMap<String, Live>,
    ) -> Result<(), StoreError> {
        // Nothing in flight, and either nothing was due at the last lease or the
        // campaign is outside its window (then it does not lease, and a campaign whose
        // last lead finished at closing time must still complete).
        let now_wall = self.now_ms();
        let candidates: Vec<String> = campaigns
            .values_mut()
            .filter(|l| l.record.state == CampaignState::Running && l.in_flight == 0)
            .filter(|l| {
                let closed = l
                    .policy
                    .as_ref()
                    .is_ok_and(|p| p.campaign_window(now_wall).is_err());
                l.quiet_until > Instant::now() || closed
            })
            .filter_map(|l| {
                if l.idle_checked
                    .is_some_and(|t| t.elapsed() < Duration::from_millis(500))
                {
                    return None;
                }
                l.idle_checked = Some(Instant::now());
                Some(l.record.name.clone())
            })
            .collect();
        for name in candidates {
            let store = Arc::clone(&self.store);
            let now = self.now_ms();
            let n = name.clone();
            let completed = blocking(move || {
                if store.has_work(&n)? {
                    return Ok(None);
                }
                match store.transition(&n, Transition::Complete, None, now) {
                    Ok(record) => Ok(Some(record)),
                    // Changed meanwhile (paused by an operator, leads added): not idle.
                    Err(e) if changed_meanwhile(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
            if let Some(record) = completed {
                self.emit(DialerEvent::CampaignChanged {
                    name: name.clone(),
                    state: record.state,
                    reason: None,
                });
                if let Some(live) = campaigns.get_mut(&name) {
                    live.record = record;
                }
            }
        }
        Ok(())
    }
}

/// The circuit breaker: a quota refusal pauses at once; so do too many technical
/// failures in a row, and half the calls failing over two minutes
/// (`core::campaign::failure_rate`). Returns what tripped it and why.
fn breaker(live: &mut Live, result: &str, now_ms: u64) -> Option<(AlertKind, String)> {
    let ours = FailureReason::of_result(result);
    if ours.is_some_and(FailureReason::is_quota) {
        return Some((
            AlertKind::Quota,
            format!(
                "a classification provider refused for quota ({result}); top up and start the campaign again"
            ),
        ));
    }
    if ours.is_some_and(FailureReason::is_ours) {
        // Ours, not Asterisk's or a provider's: a stop or a crash of dialflow itself.
        return None;
    }
    let failed = FailureReason::is_failure_result(result);
    if let Some(Tripped { failed, calls }) = live.failure_rate.record(now_ms, failed) {
        live.failures_in_a_row = 0;
        return Some((
            AlertKind::Breaker,
            format!(
                "{failed} of the last {calls} calls failed within {} s (the last: {result})",
                failure_rate::WINDOW_MS / 1000
            ),
        ));
    }
    if failed {
        live.failures_in_a_row += 1;
        let limit = live.record.settings.max_consecutive_failures;
        if limit > 0 && live.failures_in_a_row >= limit {
            live.failures_in_a_row = 0;
            return Some((
                AlertKind::Breaker,
                format!("{limit} technical failures in a row (the last: {result})"),
            ));
        }
    } else {
        live.failures_in_a_row = 0;
    }
    None
}

/// Runs a store operation on the blocking pool (redb commits wait for the disk).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(StoreError::TaskFailed)?
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_fault_of_the_store_is_neither_a_race_nor_retried_unless_it_may_pass() {
        use super::{StoreError, changed_meanwhile, transient};
        let panicked = tokio::spawn(async { panic!("boom") }).await.unwrap_err();
        let faults = [
            StoreError::TaskFailed(panicked),
            StoreError::Corrupt {
                table: "campaigns",
                message: "not JSON".into(),
            },
            StoreError::Db(redb::StorageError::Io(std::io::Error::other("disk")).into()),
        ];
        for e in &faults {
            assert!(!changed_meanwhile(e), "{e}");
        }
        assert!(transient(&faults[2]), "the disk may come back");
        assert!(!transient(&faults[0]) && !transient(&faults[1]));
        for race in [
            StoreError::StillHasWork("spring".into()),
            StoreError::BadTransition {
                name: "spring".into(),
                state: crate::store::CampaignState::Paused,
                action: "complete",
            },
        ] {
            assert!(changed_meanwhile(&race), "{race}");
            assert!(!transient(&race), "{race}");
        }
    }

    use super::*;
    use crate::core::campaign::settings::CampaignSettings;

    fn record(settings: CampaignSettings) -> CampaignRecord {
        CampaignRecord {
            name: "c".into(),
            settings,
            state: CampaignState::Running,
            reason: None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn live(max_failures: u32) -> Live {
        let mut settings = CampaignSettings::for_scenario("salehi");
        settings.max_consecutive_failures = max_failures;
        Live {
            record: record(settings),
            policy: Err(policy::SettingsError {
                key: "unused".into(),
                message: String::new(),
            }),
            pacer: Pacer::new(Default::default()),
            in_flight: 0,
            failures_in_a_row: 0,
            failure_rate: FailureRate::default(),
            quiet_until: Instant::now(),
            idle_checked: None,
            agents: agents::AgentPacing::default(),
        }
    }

    #[test]
    fn either_quota_refusal_trips_the_breaker_at_once() {
        for result in ["failed:stt_quota", "failed:llm_quota"] {
            let (kind, reason) = breaker(&mut live(10), result, 0).expect("trips");
            assert_eq!(kind, AlertKind::Quota);
            assert!(reason.contains(result), "{reason}");
        }
    }

    #[test]
    fn technical_failures_trip_it_only_in_a_row() {
        // Calls far apart, so the failure share over two minutes never decides.
        const APART: u64 = 3 * 60_000;
        let mut l = live(3);
        assert!(breaker(&mut l, "failed:originate", APART).is_none());
        assert!(breaker(&mut l, "failed:recording", 2 * APART).is_none());
        assert!(
            breaker(&mut l, "busy", 3 * APART).is_none(),
            "a customer's result resets the count"
        );
        assert!(breaker(&mut l, "failed:originate", 4 * APART).is_none());
        assert!(breaker(&mut l, "failed:originate", 5 * APART).is_none());
        let (kind, reason) =
            breaker(&mut l, "failed:stt_failure", 6 * APART).expect("the third in a row");
        assert_eq!(kind, AlertKind::Breaker);
        assert!(
            reason.starts_with("3 technical failures in a row"),
            "{reason}"
        );
        assert!(
            breaker(&mut live(0), "failed:x", 7 * APART).is_none(),
            "0 turns it off"
        );
        let mut l = live(1);
        assert!(
            breaker(&mut l, "failed:shutdown", 8 * APART).is_none(),
            "our own stop"
        );
        assert!(
            breaker(&mut l, "failed:interrupted", 9 * APART).is_none(),
            "our own crash"
        );
    }

    #[test]
    fn a_provider_failing_every_other_call_pauses_the_campaign() {
        // Never two failures in a row, so the in-a-row limit of 10 never trips; the
        // share does, once five calls have ended within two minutes.
        let mut l = live(10);
        let results = ["connected_to_operator", "failed:stt_failure"];
        let trip = (0..20u64).find_map(|i| {
            breaker(&mut l, results[(i % 2) as usize], i * 5_000).map(|(_, r)| (i, r))
        });
        let (at, reason) = trip.expect("the share trips it");
        assert_eq!(at, 5, "the sixth call: 3 of 6 failed");
        assert!(
            reason.starts_with("3 of the last 6 calls failed within 120 s"),
            "{reason}"
        );
    }
}
