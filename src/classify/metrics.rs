//! Classification metrics: latency per provider, errors by kind and the silent
//! recordings no provider was asked about, for ops and `/metrics`
//! (which gets each observation as it is made, in `crate::metrics`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Counts shared by every classification of a classifier.
#[derive(Debug, Default)]
pub struct ClassifyMetrics {
    inner: Mutex<Snapshot>,
}

/// Latency of one provider.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Latency {
    pub count: u64,
    pub total_ms: u64,
    pub max_ms: u64,
}

impl Latency {
    pub fn mean_ms(&self) -> u64 {
        self.total_ms.checked_div(self.count).unwrap_or(0)
    }
}

/// A copy of the metrics at one moment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `fetch`, `stt:openai`, `stt:http`, `stt:command`, `intent:llm`, …
    pub latency: BTreeMap<&'static str, Latency>,
    /// `recording`, `stt_failure`, `stt_quota`, `llm_quota`, `llm_fallback`.
    pub errors: BTreeMap<&'static str, u64>,
    /// Recordings without voice, classified `empty` with no speech-to-text request: the
    /// requests (and hallucinated intents) saved.
    pub silent_skipped: u64,
}

impl ClassifyMetrics {
    pub fn observe(&self, provider: &'static str, took: Duration) {
        crate::metrics::global().classified(provider, took);
        if let Ok(mut m) = self.inner.lock() {
            let l = m.latency.entry(provider).or_default();
            let ms = took.as_millis() as u64;
            l.count += 1;
            l.total_ms += ms;
            l.max_ms = l.max_ms.max(ms);
        }
    }

    /// An error of `kind` at `provider` (the step it happened in, as `observe` names it).
    pub fn error(&self, provider: &'static str, kind: &'static str) {
        crate::metrics::global().classify_error(provider, kind);
        if let Ok(mut m) = self.inner.lock() {
            *m.errors.entry(kind).or_default() += 1;
        }
    }

    pub fn silence_skipped(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.silent_skipped += 1;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.inner.lock().map(|m| m.clone()).unwrap_or_default()
    }
}
