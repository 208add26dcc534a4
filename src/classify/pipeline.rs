//! The real classification: the recording fetched from ARI, its voice measured (silence
//! is `empty` with no provider request), speech-to-text with one retry, then the intent
//! from the word rules or an LLM, all within one time budget.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::ClassifyMetrics;
use super::{IntentProvider, llm, rules, stt, voice};
use crate::ari::client::{AriClient, MAX_RECORDING_BYTES};
use crate::core::call::{Classification, FailureReason};
use crate::core::scenario::IntentRule;

/// One classification's view of a `Classifier::Pipeline`.
pub(super) struct Pipeline<'a> {
    pub client: &'a AriClient,
    pub http: &'a reqwest::Client,
    pub stt: &'a stt::SttProvider,
    pub intent: &'a IntentProvider,
    pub timeout: Duration,
    pub keep_recordings: bool,
    pub metrics: &'a ClassifyMetrics,
}

/// What one recording is to be classified into.
pub(super) struct Request<'a> {
    pub recording: &'a str,
    pub audio: Option<Arc<[u8]>>,
    pub intents: &'a [String],
    pub scenario_rules: &'a [IntentRule],
    pub lead: &'a BTreeMap<String, String>,
}

impl Pipeline<'_> {
    pub async fn classify(&self, request: Request<'_>) -> Classification {
        let started = Instant::now();
        let recording = request.recording;
        let wav = match self.fetch(recording, request.audio.clone()).await {
            Some(wav) => wav,
            None => {
                self.metrics.error("fetch", "recording");
                return Classification::failed(FailureReason::Recording);
            }
        };
        self.metrics.observe("fetch", started.elapsed());
        if self.is_silent(recording, &wav) {
            // Nothing to transcribe: a recogniser fed silence answers noise ("oh"), which
            // would turn a silent customer's `empty` into `unknown`, and costs a request.
            self.metrics.silence_skipped();
            self.delete(recording).await;
            return Classification::Empty;
        }
        let transcript = self.transcribe(wav, started).await;
        self.delete(recording).await;
        let transcript = match transcript {
            Ok(t) => t,
            Err(stt::SttError::Quota(m)) => {
                self.metrics.error(self.stt.kind(), "stt_quota");
                tracing::error!(%recording, message = %m, "speech-to-text quota refused");
                return Classification::quota(FailureReason::SttQuota);
            }
            Err(stt::SttError::Failure(m)) => {
                self.metrics.error(self.stt.kind(), "stt_failure");
                tracing::warn!(%recording, message = %m, "speech-to-text failed");
                return Classification::failed(FailureReason::SttFailure);
            }
        };
        if transcript.trim().is_empty() {
            return Classification::Empty;
        }
        self.intent_of(&request, transcript, started).await
    }

    fn left(&self, started: Instant) -> Duration {
        self.timeout.saturating_sub(started.elapsed())
    }

    /// The recording's file: the one the runtime fetched already, else from ARI.
    async fn fetch(&self, recording: &str, audio: Option<Arc<[u8]>>) -> Option<Vec<u8>> {
        if let Some(audio) = audio {
            return Some(audio.to_vec());
        }
        let fetched = tokio::time::timeout(
            self.timeout,
            self.client.recording_file(recording, MAX_RECORDING_BYTES),
        )
        .await;
        match fetched {
            Ok(Ok(wav)) => Some(wav),
            Ok(Err(e)) => {
                tracing::warn!(%recording, error = %e, "cannot fetch the recording");
                None
            }
            Err(_) => {
                tracing::warn!(%recording, "fetching the recording timed out");
                None
            }
        }
    }

    /// Whether the recording holds no voice. A file that is not 16-bit PCM WAV is not
    /// silence: the provider may read formats we cannot, so it decides.
    fn is_silent(&self, recording: &str, wav: &[u8]) -> bool {
        match voice::is_silent(wav) {
            Ok(silent) => silent,
            Err(e) => {
                tracing::info!(%recording, error = %e, "cannot measure the voice: the provider decides");
                false
            }
        }
    }

    /// Speech-to-text, with one retry for a failure (not a quota refusal) while the
    /// budget allows: a provider's transient 5xx should not cost a customer's answer.
    async fn transcribe(&self, wav: Vec<u8>, started: Instant) -> Result<String, stt::SttError> {
        let mut transcript = Err(stt::SttError::Failure("not tried".into()));
        for attempt in 0..2 {
            if attempt > 0 && self.left(started) < Duration::from_millis(500) {
                break;
            }
            let stt_started = Instant::now();
            transcript = self
                .stt
                .transcribe(self.http, wav.clone(), self.left(started))
                .await;
            self.metrics.observe(self.stt.kind(), stt_started.elapsed());
            if !matches!(transcript, Err(stt::SttError::Failure(_))) {
                break;
            }
            if attempt == 0 {
                self.metrics.error(self.stt.kind(), "stt_retry");
            }
        }
        transcript
    }

    async fn delete(&self, recording: &str) {
        if !self.keep_recordings
            && let Err(e) = self.client.delete_recording(recording).await
        {
            tracing::debug!(%recording, error = %e, "could not delete the recording");
        }
    }

    /// The intent of a transcript: the rules, or an LLM that falls back to them.
    async fn intent_of(
        &self,
        request: &Request<'_>,
        transcript: String,
        started: Instant,
    ) -> Classification {
        let (recording, intents, rules) =
            (request.recording, request.intents, request.scenario_rules);
        let model = match self.intent {
            IntentProvider::Rules => return rules::classify_with(&transcript, intents, rules),
            IntentProvider::Llm(model) => model,
        };
        let llm_started = Instant::now();
        let answer = model
            .classify(
                self.http,
                &transcript,
                intents,
                request.lead,
                self.left(started),
            )
            .await;
        self.metrics.observe("intent:llm", llm_started.elapsed());
        match answer {
            Ok(intent) => Classification::Intent { intent, transcript },
            Err(llm::LlmError::Quota(m)) => {
                self.metrics.error("intent:llm", "llm_quota");
                tracing::error!(%recording, message = %m, "intent classifier quota refused");
                Classification::quota(FailureReason::LlmQuota)
            }
            Err(llm::LlmError::Failure(m)) => {
                // The transcript is good; the rules still know yes from no.
                self.metrics.error("intent:llm", "llm_fallback");
                tracing::warn!(%recording, message = %m, "intent classifier failed: using the rules");
                rules::classify_with(&transcript, intents, rules)
            }
        }
    }
}
