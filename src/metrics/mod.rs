//! The process's Prometheus metrics: one registry (`global()`), the typed ways each
//! part of dialflow records into it, and `encode`, the text `/metrics` serves, written
//! by prometheus-client's Prometheus text encoder (format 0.0.4), never by hand.
//!
//! What the hot path records (ARI request and event-to-command latency) goes into
//! lock-free metrics of atomics (`lockfree`); per-call and per-campaign counters use
//! prometheus-client's `Family`, a read lock once per call. Values that are a state
//! rather than a count (live calls, Asterisk's distress, the outbox) are set by whoever
//! scrapes, from `Sample`, just before encoding.
//!
//! **Invariant:** label values have bounded cardinality: campaign, scenario, result and
//! status names, route templates, providers and outcomes the code names, agents' states
//! (breaks by their configured reasons) and agents' ids (the staff an admin adds, for
//! occupancy only). Never a phone number, an attempt, call, channel or recording id.
//! The KPIs' families (`Kpis`) are cleared and written whole at each scrape, so a
//! campaign completed or an agent who stopped working today leaves them.

pub mod lockfree;

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::core::campaign::pacing::{Distress, assess};
use lockfree::{AtomicHistogram, Shared, StaticFamily};

/// The `Content-Type` of what `encode` writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// ARI requests: from a loopback simulator's 100 µs to an overloaded Asterisk's seconds.
const ARI_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Event to command: the runtime's own reaction, tens of microseconds when well.
const REACTION_BOUNDS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5,
];
/// Classification: speech-to-text and LLM requests, up to their timeouts.
const CLASSIFY_BOUNDS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0];
/// Store commits: an fsync, from a fast SSD to a struggling disk.
const COMMIT_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// A campaign (`(numbers)` for calls dialed from the command line).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CampaignLabels {
    campaign: String,
}

/// How a call ended: the scenario's result and the status the panel is told.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    campaign: String,
    result: String,
    status: String,
}

/// A campaign's rate over a window of days: `today` (UTC) or `30d` (today included).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WindowLabels {
    campaign: String,
    window: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabel {
    agent: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EncodeLabelSet)]
struct ProviderErrorLabels {
    provider: &'static str,
    kind: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    trigger: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EncodeLabelSet)]
struct AreaLabel {
    area: &'static str,
}

type Seconds = Gauge<f64, AtomicU64>;

/// What a delivery attempt of a report came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The panel took it (2xx).
    Delivered,
    /// Not taken yet: it is tried again later.
    Retried,
    /// Refused for good: parked until an operator retries it.
    Parked,
}

impl DeliveryOutcome {
    fn label(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retried => "retried",
            DeliveryOutcome::Parked => "parked",
        }
    }
}

/// What is read, rather than counted, at each scrape.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Calls in progress (`Runtime::live_calls`); `None` without a runtime.
    pub live_calls: Option<usize>,
    pub connected: Option<bool>,
    /// What the pacer reads (`Runtime::distress`).
    pub distress: Option<Distress>,
    /// The most calls at once learned from strain, if any.
    pub ceiling: Option<u32>,
    pub outbox: Option<OutboxSample>,
    /// Agents and campaigns' KPIs; `None` leaves the last ones.
    pub kpis: Option<KpiSample>,
}

/// The agents' and campaigns' KPIs at a scrape, read from the desk and the store.
#[derive(Debug, Clone, Default)]
pub struct KpiSample {
    /// Agents by state name (`available`, `break:lunch`, …), a state nobody is in at 0.
    pub agents_by_state: Vec<(String, u64)>,
    pub campaigns: Vec<CampaignKpis>,
    /// Agent id → occupancy since the UTC day's start, for agents logged in today.
    pub occupancy_today: Vec<(String, f64)>,
}

/// One campaign's rates; `None` where nothing was measured yet (no answered call, no
/// bridge), so no series is written rather than a made-up zero.
#[derive(Debug, Clone, Default)]
pub struct CampaignKpis {
    pub campaign: String,
    /// Drops per answered call today (UTC) and over the last 30 days.
    pub drop_rate_today: Option<f64>,
    pub drop_rate_30_days: Option<f64>,
    /// Mean seconds from the answer to the agent (ASA), over the campaign's calls.
    pub asa_seconds: Option<f64>,
    /// Mean seconds from the answer to the end of an answered call (AHT).
    pub aht_seconds: Option<f64>,
}

/// The report outbox at a scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxSample {
    pub pending: u64,
    pub parked: u64,
    /// How long the oldest waiting report has waited (zero when none waits).
    pub oldest_age: Duration,
}

/// Every metric dialflow keeps, registered once in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    calls_started: Family<CampaignLabels, Counter>,
    calls_ended: Family<EndLabels, Counter>,
    live_calls: Gauge,
    ari_requests: Shared<StaticFamily<RouteLabel, AtomicHistogram>>,
    event_to_command: Shared<AtomicHistogram>,
    reconnects: Counter,
    connected: Gauge,
    event_lag: Seconds,
    recent_event_lag: Seconds,
    rest_latency: Seconds,
    queue_wait: Seconds,
    prompt_stretch: Seconds,
    error_ratio: Seconds,
    pacing_factor: Seconds,
    pacing_ceiling: Gauge,
    classify_latency: Shared<StaticFamily<ProviderLabel, AtomicHistogram>>,
    classify_errors: Shared<StaticFamily<ProviderErrorLabels, Counter>>,
    outbox_pending: Gauge,
    outbox_parked: Gauge,
    outbox_oldest_age: Seconds,
    deliveries: Shared<StaticFamily<OutcomeLabel, Counter>>,
    reloads: Shared<StaticFamily<ReloadLabels, Counter>>,
    last_reload: Shared<StaticFamily<ResultLabel, Seconds>>,
    store_commits: Shared<StaticFamily<AreaLabel, AtomicHistogram>>,
    kpis: Kpis,
}

/// The KPI families, written whole from a `KpiSample` at each scrape.
#[derive(Debug, Default)]
struct Kpis {
    agents: Family<StateLabel, Gauge>,
    drop_ratio: Family<WindowLabels, Seconds>,
    asa: Family<CampaignLabels, Seconds>,
    aht: Family<CampaignLabels, Seconds>,
    occupancy: Family<AgentLabel, Seconds>,
}

/// The process's metrics. One registry per process, as Prometheus's client libraries
/// keep a default one: every part records without a handle being threaded to it, and a
/// process runs one daemon (tests that run several in one process compare counts
/// before and after, with names of their own).
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

fn histograms<K: Copy + Eq>(bounds: &'static [f64]) -> Shared<StaticFamily<K, AtomicHistogram>> {
    Shared::new(StaticFamily::new(move || AtomicHistogram::new(bounds)))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics in a registry of its own (the benchmark's and tests').
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("dialflow"),
            calls_started: Family::default(),
            calls_ended: Family::default(),
            live_calls: Gauge::default(),
            ari_requests: histograms(ARI_BOUNDS),
            event_to_command: Shared::new(AtomicHistogram::new(REACTION_BOUNDS)),
            reconnects: Counter::default(),
            connected: Gauge::default(),
            event_lag: Seconds::default(),
            recent_event_lag: Seconds::default(),
            rest_latency: Seconds::default(),
            queue_wait: Seconds::default(),
            prompt_stretch: Seconds::default(),
            error_ratio: Seconds::default(),
            pacing_factor: Seconds::default(),
            pacing_ceiling: Gauge::default(),
            classify_latency: histograms(CLASSIFY_BOUNDS),
            classify_errors: Shared::new(StaticFamily::new(Counter::default)),
            outbox_pending: Gauge::default(),
            outbox_parked: Gauge::default(),
            outbox_oldest_age: Seconds::default(),
            deliveries: Shared::new(StaticFamily::new(Counter::default)),
            reloads: Shared::new(StaticFamily::new(Counter::default)),
            last_reload: Shared::new(StaticFamily::new(Seconds::default)),
            store_commits: histograms(COMMIT_BOUNDS),
            kpis: Kpis::default(),
        };
        m.register_calls();
        m.register_asterisk();
        m.register_work();
        m.register_kpis();
        m
    }

    fn register_kpis(&mut self) {
        let (r, k) = (&mut self.registry, &self.kpis);
        r.register("agents", "Agents by state now", k.agents.clone());
        r.register(
            "campaign_drop_ratio",
            "Drops per answered call, by campaign, today (UTC) and over 30 days",
            k.drop_ratio.clone(),
        );
        r.register(
            "campaign_asa_seconds",
            "Mean time from the answer to an agent (ASA), by campaign, over its calls",
            k.asa.clone(),
        );
        r.register(
            "campaign_aht_seconds",
            "Mean time from the answer to the end of answered calls (AHT), by campaign",
            k.aht.clone(),
        );
        r.register(
            "agent_occupancy_ratio",
            "Share of logged-in time on calls and wrap-ups since the UTC day began, by agent",
            k.occupancy.clone(),
        );
    }

    fn register_calls(&mut self) {
        let r = &mut self.registry;
        r.register(
            "calls_started",
            "Calls started, by campaign",
            self.calls_started.clone(),
        );
        r.register(
            "calls_ended",
            "Calls ended, by campaign, scenario result and the status the panel is told",
            self.calls_ended.clone(),
        );
        r.register("live_calls", "Calls in progress", self.live_calls.clone());
        r.register(
            "ari_request_duration_seconds",
            "ARI REST requests' round trips (after any wait for a connection), by route template",
            self.ari_requests.clone(),
        );
        r.register(
            "event_to_command_seconds",
            "From an ARI event's arrival to the first request the call sent because of it",
            self.event_to_command.clone(),
        );
    }

    fn register_asterisk(&mut self) {
        let r = &mut self.registry;
        r.register(
            "event_stream_reconnects",
            "Times the ARI event WebSocket was connected again after a loss",
            self.reconnects.clone(),
        );
        r.register(
            "event_stream_connected",
            "1 while the ARI event WebSocket is up",
            self.connected.clone(),
        );
        let signals = [
            (
                "distress_event_lag_seconds",
                "Smoothed lag of ARI events behind their own timestamps",
                &self.event_lag,
            ),
            (
                "distress_recent_event_lag_seconds",
                "Lag of the last few ARI events",
                &self.recent_event_lag,
            ),
            (
                "distress_rest_latency_seconds",
                "Smoothed round trip of ARI REST requests",
                &self.rest_latency,
            ),
            (
                "distress_queue_wait_seconds",
                "Smoothed wait for a free ARI connection",
                &self.queue_wait,
            ),
            (
                "distress_prompt_stretch_seconds",
                "How much longer than their audio prompts took",
                &self.prompt_stretch,
            ),
            (
                "distress_error_ratio",
                "Share of ARI requests that failed, 0 to 1",
                &self.error_ratio,
            ),
            (
                "pacing_factor",
                "Share of the configured limits the pacer uses now, 0 (held) to 1",
                &self.pacing_factor,
            ),
        ];
        for (name, help, gauge) in signals {
            r.register(name, help, gauge.clone());
        }
        r.register(
            "pacing_ceiling_calls",
            "Most calls at once learned from Asterisk's first strain (0: none learned)",
            self.pacing_ceiling.clone(),
        );
    }

    fn register_work(&mut self) {
        let r = &mut self.registry;
        r.register(
            "classify_duration_seconds",
            "Classification steps' time, by provider (fetch, stt:…, intent:llm)",
            self.classify_latency.clone(),
        );
        r.register(
            "classify_errors",
            "Classification errors, by provider and kind",
            self.classify_errors.clone(),
        );
        r.register(
            "outbox_pending_reports",
            "Reports waiting for the panel",
            self.outbox_pending.clone(),
        );
        r.register(
            "outbox_parked_reports",
            "Reports the panel refused for good, parked",
            self.outbox_parked.clone(),
        );
        r.register(
            "outbox_oldest_age_seconds",
            "How long the oldest waiting report has waited (0: none waits)",
            self.outbox_oldest_age.clone(),
        );
        r.register(
            "report_deliveries",
            "Report delivery attempts, by outcome (delivered, retried, parked)",
            self.deliveries.clone(),
        );
        r.register(
            "reloads",
            "Scenario reloads, by trigger and result (ok, failed)",
            self.reloads.clone(),
        );
        r.register(
            "last_reload_timestamp_seconds",
            "Unix time of the latest reload, by result",
            self.last_reload.clone(),
        );
        r.register(
            "store_commit_duration_seconds",
            "Store write transactions' commits, by area",
            self.store_commits.clone(),
        );
    }

    /// A call started for `campaign`.
    pub fn call_started(&self, campaign: &str) {
        let labels = CampaignLabels {
            campaign: campaign.to_string(),
        };
        self.calls_started.get_or_create(&labels).inc();
    }

    /// A call of `campaign` ended with the scenario's `result` and the panel `status`.
    pub fn call_ended(&self, campaign: &str, result: &str, status: &str) {
        let labels = EndLabels {
            campaign: campaign.to_string(),
            result: result.to_string(),
            status: status.to_string(),
        };
        self.calls_ended.get_or_create(&labels).inc();
    }

    /// One ARI request on `route` (a template, `POST /channels/{id}/play`) took `took`.
    pub fn ari_request(&self, route: &'static str, took: Duration) {
        if let Some(h) = self.ari_requests.get(RouteLabel { route }) {
            h.observe(took);
        }
    }

    /// From an event's arrival to the first request it caused.
    pub fn event_to_command(&self, took: Duration) {
        self.event_to_command.observe(took);
    }

    /// The event WebSocket is connected again after a loss.
    pub fn reconnected(&self) {
        self.reconnects.inc();
    }

    /// One classification step of `provider` took `took`.
    pub fn classified(&self, provider: &'static str, took: Duration) {
        if let Some(h) = self.classify_latency.get(ProviderLabel { provider }) {
            h.observe(took);
        }
    }

    /// A classification error of `kind` (`stt_failure`, `llm_quota`, …) at `provider`.
    pub fn classify_error(&self, provider: &'static str, kind: &'static str) {
        if let Some(c) = self
            .classify_errors
            .get(ProviderErrorLabels { provider, kind })
        {
            c.inc();
        }
    }

    /// `count` reports' delivery attempts came to `outcome`.
    pub fn delivered(&self, outcome: DeliveryOutcome, count: u64) {
        let label = OutcomeLabel {
            outcome: outcome.label(),
        };
        if let Some(c) = self.deliveries.get(label) {
            c.inc_by(count);
        }
    }

    /// A reload ran, set off by `trigger`; `at` is its Unix time in seconds.
    pub fn reloaded(&self, trigger: &'static str, ok: bool, at_unix_s: f64) {
        let result = if ok { "ok" } else { "failed" };
        if let Some(c) = self.reloads.get(ReloadLabels { trigger, result }) {
            c.inc();
        }
        if let Some(g) = self.last_reload.get(ResultLabel { result }) {
            g.set(at_unix_s);
        }
    }

    /// A store write transaction of `area` (`dialing`, `outbox`, …) took `took` to commit.
    pub fn store_commit(&self, area: &'static str, took: Duration) {
        if let Some(h) = self.store_commits.get(AreaLabel { area }) {
            h.observe(took);
        }
    }

    /// Sets what is read rather than counted; parts absent from `sample` keep their value.
    pub fn set_sample(&self, sample: &Sample) {
        if let Some(n) = sample.live_calls {
            self.live_calls.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        if let Some(up) = sample.connected {
            self.connected.set(i64::from(up));
        }
        if let Some(d) = &sample.distress {
            self.set_distress(d, sample.ceiling);
        }
        if let Some(k) = &sample.kpis {
            self.kpis.set(k);
        }
        if let Some(o) = sample.outbox {
            self.outbox_pending
                .set(i64::try_from(o.pending).unwrap_or(i64::MAX));
            self.outbox_parked
                .set(i64::try_from(o.parked).unwrap_or(i64::MAX));
            self.outbox_oldest_age.set(o.oldest_age.as_secs_f64());
        }
    }

    fn set_distress(&self, d: &Distress, ceiling: Option<u32>) {
        let ms = |v: u64| v as f64 / 1000.0;
        self.event_lag.set(ms(d.event_lag_ms));
        self.recent_event_lag.set(ms(d.recent_event_lag_ms));
        self.rest_latency.set(ms(d.rest_latency_ms));
        self.queue_wait.set(ms(d.queue_wait_ms));
        self.prompt_stretch.set(ms(d.prompt_stretch_ms));
        self.error_ratio.set(d.error_ratio);
        // The same function the pacer applies, so the figure is the one it acts on.
        self.pacing_factor.set(assess(d).factor);
        self.pacing_ceiling.set(i64::from(ceiling.unwrap_or(0)));
    }

    /// Everything in the Prometheus text format (0.0.4).
    pub fn encode(&self) -> Result<String, MetricsError> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .map_err(|_| MetricsError::Encode)?;
        Ok(text)
    }
}

impl Kpis {
    /// Replaces every series with `k`'s.
    fn set(&self, k: &KpiSample) {
        self.agents.clear();
        for (state, n) in &k.agents_by_state {
            let label = StateLabel {
                state: state.clone(),
            };
            self.agents
                .get_or_create(&label)
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        for family in [&self.asa, &self.aht] {
            family.clear();
        }
        self.drop_ratio.clear();
        for c in &k.campaigns {
            let campaign = || CampaignLabels {
                campaign: c.campaign.clone(),
            };
            let windows = [("today", c.drop_rate_today), ("30d", c.drop_rate_30_days)];
            for (window, rate) in windows {
                if let Some(rate) = rate {
                    let campaign = c.campaign.clone();
                    let label = WindowLabels { campaign, window };
                    self.drop_ratio.get_or_create(&label).set(rate);
                }
            }
            if let Some(asa) = c.asa_seconds {
                self.asa.get_or_create(&campaign()).set(asa);
            }
            if let Some(aht) = c.aht_seconds {
                self.aht.get_or_create(&campaign()).set(aht);
            }
        }
        self.occupancy.clear();
        for (agent, occupancy) in &k.occupancy_today {
            let label = AgentLabel {
                agent: agent.clone(),
            };
            self.occupancy.get_or_create(&label).set(*occupancy);
        }
    }
}

/// The metrics could not be written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot encode the metrics")]
    Encode,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_recorded_is_encoded_with_its_labels() {
        let m = Metrics::new();
        m.call_started("spring");
        m.call_ended("spring", "interested", "SUCCESS");
        m.ari_request("POST /channels/{id}/play", Duration::from_micros(700));
        m.reloaded("api", false, 1_700_000_000.5);
        m.set_sample(&Sample {
            live_calls: Some(3),
            outbox: Some(OutboxSample {
                pending: 2,
                parked: 1,
                oldest_age: Duration::from_millis(1500),
            }),
            ..Sample::default()
        });
        let text = m.encode().unwrap();
        for line in [
            "dialflow_calls_started_total{campaign=\"spring\"} 1",
            "dialflow_calls_ended_total{campaign=\"spring\",result=\"interested\",status=\"SUCCESS\"} 1",
            "dialflow_ari_request_duration_seconds_bucket{route=\"POST /channels/{id}/play\",le=\"0.0005\"} 0",
            "dialflow_ari_request_duration_seconds_bucket{route=\"POST /channels/{id}/play\",le=\"0.001\"} 1",
            "dialflow_ari_request_duration_seconds_count{route=\"POST /channels/{id}/play\"} 1",
            "dialflow_reloads_total{trigger=\"api\",result=\"failed\"} 1",
            "dialflow_last_reload_timestamp_seconds{result=\"failed\"} 1700000000.5",
            "dialflow_live_calls 3",
            "dialflow_outbox_oldest_age_seconds 1.5",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
    }
}
