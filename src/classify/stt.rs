//! Speech-to-text providers: an OpenAI-compatible `/v1/audio/transcriptions` server, a
//! generic HTTP service (multipart or raw WAV, transcript at a JSON path), or a local
//! program (WAV on stdin, transcript on stdout).
//!
//! A refusal for quota or balance is told apart from other failures: it pauses the
//! campaign (`failed:stt_quota`), where a failure only fails the call (`failed:stt_failure`).

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// How a provider failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SttError {
    /// HTTP 403 or 429 about quota, balance or credit: stop dialing until someone pays.
    #[error("quota: {0}")]
    Quota(String),
    /// Anything else: timeouts, 5xx, unreadable answers, a program that failed.
    #[error("{0}")]
    Failure(String),
}

/// How the generic HTTP provider sends the audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// `multipart/form-data` with the WAV in this field.
    Multipart { field: String },
    /// The WAV as the request body (`audio/wav`).
    Raw,
}

#[derive(Debug, Clone)]
pub enum SttProvider {
    /// Any server speaking OpenAI's `POST {base_url}/v1/audio/transcriptions`.
    OpenAi {
        base_url: String,
        model: String,
        api_key: Option<String>,
        language: Option<String>,
    },
    /// A vendor's HTTP API: where to send, how, and the dotted JSON path of the transcript
    /// (`result.text`, `alternatives.0.transcript`).
    Http {
        url: String,
        upload: Upload,
        transcript_path: String,
        bearer: Option<String>,
    },
    /// A local program: WAV on stdin, transcript on stdout.
    Command { program: String, args: Vec<String> },
}

impl SttProvider {
    /// The provider's kind, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SttProvider::OpenAi { .. } => "stt:openai",
            SttProvider::Http { .. } => "stt:http",
            SttProvider::Command { .. } => "stt:command",
        }
    }

    /// Transcribes one WAV recording within `timeout`.
    pub async fn transcribe(
        &self,
        http: &reqwest::Client,
        wav: Vec<u8>,
        timeout: Duration,
    ) -> Result<String, SttError> {
        match tokio::time::timeout(timeout, self.transcribe_inner(http, wav)).await {
            Ok(result) => result,
            Err(_) => Err(SttError::Failure(format!(
                "no transcript within {timeout:?}"
            ))),
        }
    }

    async fn transcribe_inner(
        &self,
        http: &reqwest::Client,
        wav: Vec<u8>,
    ) -> Result<String, SttError> {
        match self {
            SttProvider::OpenAi {
                base_url,
                model,
                api_key,
                language,
            } => {
                let part = reqwest::multipart::Part::bytes(wav)
                    .file_name("answer.wav")
                    .mime_str("audio/wav")
                    .map_err(|e| SttError::Failure(e.to_string()))?;
                let mut form = reqwest::multipart::Form::new()
                    .part("file", part)
                    .text("model", model.clone());
                if let Some(language) = language {
                    form = form.text("language", language.clone());
                }
                let url = format!("{}/v1/audio/transcriptions", base_url.trim_end_matches('/'));
                let mut request = http.post(url).multipart(form);
                if let Some(key) = api_key {
                    request = request.bearer_auth(key);
                }
                let body = send(request).await?;
                text_at(&body, "text")
            }
            SttProvider::Http {
                url,
                upload,
                transcript_path,
                bearer,
            } => {
                let mut request = match upload {
                    Upload::Multipart { field } => {
                        let part = reqwest::multipart::Part::bytes(wav)
                            .file_name("answer.wav")
                            .mime_str("audio/wav")
                            .map_err(|e| SttError::Failure(e.to_string()))?;
                        http.post(url)
                            .multipart(reqwest::multipart::Form::new().part(field.clone(), part))
                    }
                    Upload::Raw => http.post(url).header("content-type", "audio/wav").body(wav),
                };
                if let Some(token) = bearer {
                    request = request.bearer_auth(token);
                }
                let body = send(request).await?;
                text_at(&body, transcript_path)
            }
            SttProvider::Command { program, args } => {
                let mut child = tokio::process::Command::new(program)
                    .args(args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| SttError::Failure(format!("cannot start `{program}`: {e}")))?;
                if let Some(mut stdin) = child.stdin.take() {
                    // A program that stops reading early closes the pipe; its exit status
                    // and output below say whether that was a failure.
                    if let Err(e) = stdin.write_all(&wav).await
                        && e.kind() != std::io::ErrorKind::BrokenPipe
                    {
                        return Err(SttError::Failure(format!("`{program}`: {e}")));
                    }
                }
                let out = child
                    .wait_with_output()
                    .await
                    .map_err(|e| SttError::Failure(format!("`{program}`: {e}")))?;
                if !out.status.success() {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    return Err(SttError::Failure(format!(
                        "`{program}` exited with {}: {}",
                        out.status,
                        stderr.trim()
                    )));
                }
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
            }
        }
    }
}

/// Sends a request; the JSON body of a success, or the error it means.
async fn send(request: reqwest::RequestBuilder) -> Result<Value, SttError> {
    let response = request.send().await.map_err(|e| {
        let why = crate::tls::explain_request(&e);
        SttError::Failure(format!("request failed: {why}"))
    })?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| SttError::Failure(format!("reading the answer: {e}")))?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&text).map_err(|e| {
            SttError::Failure(format!("the answer is not JSON ({e}): {}", snippet(&text)))
        });
    }
    if is_quota(status, &text) {
        return Err(SttError::Quota(format!(
            "HTTP {status}: {}",
            snippet(&text)
        )));
    }
    Err(SttError::Failure(format!(
        "HTTP {status}: {}",
        snippet(&text)
    )))
}

/// HTTP 403 or 429 that speaks of quota, balance, credit or billing. A 429 rate limit
/// without such words is a (retryable) failure, not a reason to pause a campaign.
pub fn is_quota(status: u16, body: &str) -> bool {
    if !matches!(status, 403 | 429) {
        return false;
    }
    let body = body.to_lowercase();
    [
        "quota",
        "balance",
        "credit",
        "billing",
        "insufficient",
        "exceeded your",
        "payment",
    ]
    .iter()
    .any(|w| body.contains(w))
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() > 200 {
        format!("{}…", t.chars().take(200).collect::<String>())
    } else {
        t.to_string()
    }
}

/// The string at a dotted path (`result.text`, `alternatives.0.transcript`).
pub fn text_at(body: &Value, path: &str) -> Result<String, SttError> {
    let mut at = body;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        at = match part.parse::<usize>() {
            Ok(i) if at.is_array() => &at[i],
            _ => &at[part],
        };
    }
    at.as_str().map(|s| s.trim().to_string()).ok_or_else(|| {
        SttError::Failure(format!(
            "no transcript at `{path}` in {}",
            snippet(&body.to_string())
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_quota_from_other_refusals() {
        assert!(is_quota(
            403,
            r#"{"error":{"message":"You exceeded your current quota"}}"#
        ));
        assert!(is_quota(429, "insufficient balance"));
        assert!(!is_quota(429, "rate limit reached, retry in 2s"));
        assert!(!is_quota(500, "quota"));
    }

    #[test]
    fn finds_transcripts_at_paths() {
        let v: Value =
            serde_json::from_str(r#"{"result":{"alternatives":[{"transcript":" hi "}]}}"#).unwrap();
        assert_eq!(
            text_at(&v, "result.alternatives.0.transcript").unwrap(),
            "hi"
        );
        assert!(text_at(&v, "result.text").is_err());
    }
}
