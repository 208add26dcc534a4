//! Turning a recorded answer into an intent: speech-to-text, then an intent classifier.
//!
//! `Pipeline` is the real thing (`pipeline.rs`): the recording fetched from ARI, its
//! voice measured (a silent one is `empty` and never reaches a provider), a
//! speech-to-text provider, then word rules or an LLM for the intent. `Simulated` asks the simulated PBX
//! what its customer said. Quota refusals become `Quota` (the campaign pauses); other
//! speech-to-text failures fail the call; an LLM that fails falls back to the rules.

pub mod llm;
pub mod metrics;
mod pipeline;
pub mod rules;
pub mod stt;
pub mod voice;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ari::client::{AriClient, AriError, MAX_RECORDING_BYTES};
use crate::core::call::{Classification, FailureReason};
use crate::core::scenario::IntentRule;

/// Where intents come from once there is a transcript.
#[derive(Debug, Clone)]
pub enum IntentProvider {
    Rules,
    Llm(llm::LlmIntent),
}

/// How a call's recordings are classified.
#[derive(Debug, Clone)]
pub enum Classifier {
    /// Fetch the recording from ARI, transcribe it, find the intent.
    Pipeline {
        client: AriClient,
        http: reqwest::Client,
        stt: stt::SttProvider,
        intent: IntentProvider,
        /// The whole budget for one classification.
        timeout: Duration,
        /// Keep recordings on the Asterisk after classifying (else they are deleted).
        keep_recordings: bool,
        metrics: std::sync::Arc<metrics::ClassifyMetrics>,
    },
    /// Transcripts from the simulated PBX (`GET /sim/recordings/{name}/transcript`),
    /// intents from the word rules.
    Simulated {
        client: AriClient,
        timeout: Duration,
    },
}

impl Classifier {
    /// Classifies one recording into one of `intents`; `lead` is the customer's data
    /// (given to an LLM as data, never as instructions).
    pub async fn classify(
        &self,
        recording: &str,
        intents: &[String],
        scenario_rules: &[IntentRule],
        lead: &BTreeMap<String, String>,
    ) -> Classification {
        self.classify_audio(recording, None, intents, scenario_rules, lead)
            .await
    }

    /// `classify`, with the recording's file when the caller has it already (the
    /// runtime fetched it to hear whether the customer spoke): it is not fetched again.
    pub async fn classify_audio(
        &self,
        recording: &str,
        audio: Option<std::sync::Arc<[u8]>>,
        intents: &[String],
        scenario_rules: &[IntentRule],
        lead: &BTreeMap<String, String>,
    ) -> Classification {
        match self {
            Classifier::Pipeline {
                client,
                http,
                stt,
                intent,
                timeout,
                keep_recordings,
                metrics,
            } => {
                let pipeline = pipeline::Pipeline {
                    client,
                    http,
                    stt,
                    intent,
                    timeout: *timeout,
                    keep_recordings: *keep_recordings,
                    metrics,
                };
                let request = pipeline::Request {
                    recording,
                    audio,
                    intents,
                    scenario_rules,
                    lead,
                };
                pipeline.classify(request).await
            }
            Classifier::Simulated { client, timeout } => {
                simulated(client, *timeout, recording, audio, intents, scenario_rules).await
            }
        }
    }
}

/// The simulated provider: the file fetched as a real provider would (it proves the
/// recording exists and is within the size limit) and its voice measured as the
/// pipeline does (silence is `empty`, never asked about), then the simulator asked what
/// was said.
async fn simulated(
    client: &AriClient,
    timeout: Duration,
    recording: &str,
    audio: Option<std::sync::Arc<[u8]>>,
    intents: &[String],
    scenario_rules: &[IntentRule],
) -> Classification {
    let fetched = match audio {
        Some(audio) => Ok(Ok(audio.to_vec())),
        None => {
            tokio::time::timeout(
                timeout,
                client.recording_file(recording, MAX_RECORDING_BYTES),
            )
            .await
        }
    };
    let wav = match fetched {
        Ok(Ok(wav)) => wav,
        Ok(Err(AriError::Refused {
            status: 404 | 413, ..
        })) => {
            return Classification::failed(FailureReason::Recording);
        }
        Ok(Err(_)) | Err(_) => {
            return Classification::failed(FailureReason::SttFailure);
        }
    };
    if matches!(voice::is_silent(&wav), Ok(true)) {
        return Classification::Empty;
    }
    let answer = tokio::time::timeout(timeout, client.sim_transcript(recording)).await;
    let transcript = match answer {
        Ok(Ok(transcript)) => transcript,
        Ok(Err(AriError::Refused { status: 404, .. })) => {
            return Classification::failed(FailureReason::Recording);
        }
        Ok(Err(_)) | Err(_) => {
            return Classification::failed(FailureReason::SttFailure);
        }
    };
    rules::classify_with(&transcript, intents, scenario_rules)
}

impl Classifier {
    /// The metrics of a pipeline classifier (the simulated one keeps none).
    pub fn metrics(&self) -> Option<metrics::Snapshot> {
        match self {
            Classifier::Pipeline { metrics, .. } => Some(metrics.snapshot()),
            Classifier::Simulated { .. } => None,
        }
    }

    /// The classifier a configuration describes; API keys come from the environment
    /// (`DIALFLOW_STT_API_KEY`, `DIALFLOW_LLM_API_KEY`).
    pub fn from_config(
        config: &crate::config::ClassifyConfig,
        client: AriClient,
        tls: &rustls::ClientConfig,
        timeout: Duration,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Classifier, SetupError> {
        use crate::config::{IntentConfig, SttConfig};
        let stt = match &config.stt {
            SttConfig::Simulated => return Ok(Classifier::Simulated { client, timeout }),
            SttConfig::Openai {
                base_url,
                model,
                language,
            } => stt::SttProvider::OpenAi {
                base_url: base_url.clone(),
                model: model.clone(),
                api_key: env("DIALFLOW_STT_API_KEY"),
                language: language.clone(),
            },
            SttConfig::Http {
                url,
                upload,
                field,
                transcript_path,
            } => stt::SttProvider::Http {
                url: url.clone(),
                upload: if *upload == crate::config::Upload::Raw {
                    stt::Upload::Raw
                } else {
                    stt::Upload::Multipart {
                        field: field.clone(),
                    }
                },
                transcript_path: transcript_path.clone(),
                bearer: env("DIALFLOW_STT_API_KEY"),
            },
            SttConfig::Command { program, args } => stt::SttProvider::Command {
                program: program.clone(),
                args: args.clone(),
            },
        };
        let intent = match &config.intent {
            IntentConfig::Rules => IntentProvider::Rules,
            IntentConfig::Llm { base_url, model } => IntentProvider::Llm(llm::LlmIntent {
                base_url: base_url.clone(),
                model: model.clone(),
                api_key: env("DIALFLOW_LLM_API_KEY"),
            }),
        };
        let http = crate::tls::http_client_builder(tls)
            .timeout(timeout)
            .build()
            .map_err(SetupError::HttpClient)?;
        Ok(Classifier::Pipeline {
            client,
            http,
            stt,
            intent,
            timeout,
            keep_recordings: config.keep_recordings,
            metrics: Default::default(),
        })
    }
}

/// Why the classifier a configuration describes cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot build the classifier's HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}
