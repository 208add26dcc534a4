//! Turning a recorded answer into an intent: speech-to-text, then an intent classifier.
//!
//! Today: the simulated PBX's provider (it knows what its customer said) and the word
//! rules every provider falls back to. Real speech-to-text and LLM providers plug in as
//! further `Classifier` variants.

pub mod rules;
pub mod stt;

use std::time::Duration;

use serde_json::Value;

use crate::core::call::Classification;
use crate::runtime::rest::{AriClient, AriError};

/// How a call's recordings are classified.
#[derive(Debug, Clone)]
pub enum Classifier {
    /// Transcripts from the simulated PBX (`GET /sim/recordings/{name}/transcript`),
    /// intents from the word rules.
    Simulated {
        client: AriClient,
        timeout: Duration,
    },
}

impl Classifier {
    pub async fn classify(&self, recording: &str, intents: &[String]) -> Classification {
        match self {
            Classifier::Simulated { client, timeout } => {
                // Fetch the file as a real provider would (it proves the recording exists
                // and is within the size limit), then ask the simulator what was said.
                let file = format!("/ari/recordings/stored/{recording}/file");
                match tokio::time::timeout(
                    *timeout,
                    client.get_bytes(&file, crate::runtime::MAX_RECORDING_BYTES),
                )
                .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(AriError::Refused {
                        status: 404 | 413, ..
                    })) => {
                        return Classification::Failed {
                            reason: "recording".into(),
                        };
                    }
                    Ok(Err(_)) | Err(_) => {
                        return Classification::Failed {
                            reason: "stt_failure".into(),
                        };
                    }
                }
                let path = format!("/sim/recordings/{recording}/transcript");
                let answer = tokio::time::timeout(*timeout, client.get_json(&path)).await;
                let transcript = match answer {
                    Ok(Ok(body)) => body
                        .get("transcript")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    Ok(Err(AriError::Refused { status: 404, .. })) => {
                        return Classification::Failed {
                            reason: "recording".into(),
                        };
                    }
                    Ok(Err(_)) | Err(_) => {
                        return Classification::Failed {
                            reason: "stt_failure".into(),
                        };
                    }
                };
                rules::classify(&transcript, intents)
            }
        }
    }
}
