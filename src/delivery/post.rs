//! One signed POST, as reports and alerts are both delivered: JSON, an
//! `Idempotency-Key`, the `Dialflow-Signature` when there is a secret; the answer read
//! as `core::delivery` judges it (status, `Retry-After`), with the start of its body;
//! and the retries until the receiver takes or refuses it.

use std::future::Future;

use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use tokio::sync::watch;

use super::sign::{IDEMPOTENCY_KEY, SIGNATURE, signature};
use super::worker::now_ms;
use crate::core::delivery::{Answer, Verdict, verdict};

/// How much of a refusing receiver's answer is kept.
const ANSWER_KEPT: usize = 2048;

/// Where a delivery goes.
pub(super) struct Target<'a> {
    pub client: &'a reqwest::Client,
    pub url: &'a str,
    pub secret: Option<&'a str>,
}

impl Target<'_> {
    /// POSTs `body` once: the receiver's answer, and the start of its body.
    pub async fn post(&self, key: &str, body: Vec<u8>) -> (Answer, String) {
        let mut request = self
            .client
            .post(self.url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(IDEMPOTENCY_KEY, key);
        if let Some(secret) = self.secret {
            request = request.header(SIGNATURE, signature(secret, now_ms() / 1000, &body));
        }
        let response = match request.body(body).send().await {
            Ok(response) => response,
            Err(e) => {
                let error = crate::tls::explain_request(&e);
                tracing::debug!(url = self.url, %error, "cannot be reached");
                return (Answer::Unreachable, String::new());
            }
        };
        let code = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut text = response.text().await.unwrap_or_default();
        if text.len() > ANSWER_KEPT {
            let cut = (0..=ANSWER_KEPT)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            text.truncate(cut);
        }
        (Answer::Status { code, retry_after }, text)
    }
}

/// Sends with `send` until the receiver takes it or refuses it for good, waiting
/// between tries as `core::delivery` says: the verdict (`Delivered` or `Park`) with the
/// last answer, or `None` when `stopped` changes first.
pub(super) async fn until_settled<F, Fut>(
    mut send: F,
    stopped: &mut watch::Receiver<bool>,
) -> Option<(Verdict, Answer, String)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = (Answer, String)>,
{
    let mut failures = 0u32;
    loop {
        let (answer, text) = send().await;
        let taken = matches!(
            answer,
            Answer::Status {
                code: 200..=299,
                ..
            }
        );
        failures += u32::from(!taken);
        let wait = match verdict(answer, failures, fastrand::f64()) {
            Verdict::Retry(after) => after,
            settled => return Some((settled, answer, text)),
        };
        tracing::debug!(?answer, ?wait, "not taken: trying again");
        tokio::select! {
            _ = stopped.changed() => return None,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
