//! Sending an alert to the configured webhook: JSON `{campaign, message, at}`, tried a
//! few times with a growing pause. The alert is in the store already, so a webhook that
//! stays down loses nothing ops can still see (`campaign show`).

use std::path::PathBuf;
use std::time::Duration;

/// Attempts before giving up on one alert.
const TRIES: u32 = 4;

/// Posts the alert in the background, trusting `tls.ca_file` as every client does.
pub fn send(url: String, ca_file: Option<PathBuf>, campaign: String, message: String, at_ms: u64) {
    let at = jiff::Timestamp::from_millisecond(i64::try_from(at_ms).unwrap_or(i64::MAX))
        .map(|t| t.to_string())
        .unwrap_or_default();
    let body = serde_json::json!({ "campaign": campaign, "message": message, "at": at });
    tokio::spawn(async move {
        let client = match crate::tls::client_config(ca_file.as_deref()) {
            Ok(tls) => crate::tls::http_client(&tls),
            Err(e) => return tracing::error!(%url, error = %e, "alert not sent"),
        };
        for attempt in 1..=TRIES {
            let sent = client
                .post(&url)
                .json(&body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => {
                    tracing::warn!(%url, status = %r.status(), attempt, "alert webhook refused")
                }
                Err(e) => {
                    let error = crate::tls::explain_request(&e);
                    tracing::warn!(%url, %error, attempt, "alert webhook unreachable")
                }
            }
            tokio::time::sleep(Duration::from_secs(u64::from(attempt) * 2)).await;
        }
        tracing::error!(%url, %campaign, "alert not delivered; it is kept in the store");
    });
}
