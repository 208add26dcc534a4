//! Sending an alert to the configured webhook: JSON `{campaign, message, at}`, tried a
//! few times with a growing pause. The alert is in the store already, so a webhook that
//! stays down loses nothing ops can still see (`campaign show`).

use std::time::Duration;

/// Attempts before giving up on one alert.
const TRIES: u32 = 4;

/// Posts the alert in the background.
pub fn send(url: String, campaign: String, message: String, at_ms: u64) {
    let at = jiff::Timestamp::from_millisecond(i64::try_from(at_ms).unwrap_or(i64::MAX))
        .map(|t| t.to_string())
        .unwrap_or_default();
    let body = serde_json::json!({ "campaign": campaign, "message": message, "at": at });
    tokio::spawn(async move {
        let client = reqwest::Client::new();
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
                Err(e) => tracing::warn!(%url, error = %e, attempt, "alert webhook unreachable"),
            }
            tokio::time::sleep(Duration::from_secs(u64::from(attempt) * 2)).await;
        }
        tracing::error!(%url, %campaign, "alert not delivered; it is kept in the store");
    });
}
