//! The ARI REST client: sends `translate::Request`s with a timeout and tells "not sent"
//! (safe to retry) from "outcome unknown" (it may have happened: never blindly retry an
//! originate after it).

use std::time::Duration;

use serde_json::Value;

use crate::ari::translate::Request;

/// Where Asterisk's ARI is and how to log in.
#[derive(Debug, Clone)]
pub struct AriEndpoint {
    /// e.g. `http://127.0.0.1:8088` (paths start with `/ari/`).
    pub base_url: String,
    pub user: String,
    pub password: String,
    pub app: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AriError {
    /// The request never reached Asterisk (connection refused, DNS): safe to retry.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request may have been carried out (timeout, connection lost mid-way).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// Asterisk answered with an error status.
    #[error("ARI answered {status}: {message}")]
    Refused { status: u16, message: String },
}

#[derive(Debug, Clone)]
pub struct AriClient {
    http: reqwest::Client,
    endpoint: AriEndpoint,
}

impl AriClient {
    pub fn new(endpoint: AriEndpoint, timeout: Duration) -> Result<Self, AriError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| AriError::NotSent(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { http, endpoint })
    }

    pub fn endpoint(&self) -> &AriEndpoint {
        &self.endpoint
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.base_url.trim_end_matches('/'))
    }

    /// Sends a request; the JSON body of a success, if any.
    pub async fn send(&self, request: &Request) -> Result<Option<Value>, AriError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| AriError::NotSent(format!("bad method {}: {e}", request.method)))?;
        let response = self
            .http
            .request(method, self.url(&request.path))
            .basic_auth(&self.endpoint.user, Some(&self.endpoint.password))
            .query(&request.query)
            .send()
            .await
            .map_err(classify_error)?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AriError::OutcomeUnknown(e.to_string()))?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = body
            .as_ref()
            .and_then(|b| b.get("message").or_else(|| b.get("error")))
            .and_then(Value::as_str)
            .unwrap_or_else(|| std::str::from_utf8(&bytes).unwrap_or(""))
            .to_string();
        Err(AriError::Refused { status, message })
    }

    /// GET returning raw bytes (a recording file), refusing bodies over `limit` bytes.
    pub async fn get_bytes(&self, path: &str, limit: usize) -> Result<Vec<u8>, AriError> {
        let response = self
            .http
            .get(self.url(path))
            .basic_auth(&self.endpoint.user, Some(&self.endpoint.password))
            .send()
            .await
            .map_err(classify_error)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(AriError::Refused {
                status,
                message: format!("GET {path}"),
            });
        }
        if response
            .content_length()
            .is_some_and(|l| l as usize > limit)
        {
            return Err(AriError::Refused {
                status: 413,
                message: format!("{path} is larger than {limit} bytes"),
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AriError::OutcomeUnknown(e.to_string()))?;
        if bytes.len() > limit {
            return Err(AriError::Refused {
                status: 413,
                message: format!("{path} is larger than {limit} bytes"),
            });
        }
        Ok(bytes.to_vec())
    }

    /// GET returning JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, AriError> {
        let request = Request {
            method: "GET",
            path: path.to_string(),
            query: Default::default(),
        };
        self.send(&request)
            .await?
            .ok_or_else(|| AriError::OutcomeUnknown(format!("GET {path}: no JSON body")))
    }

    /// Hangs up a channel (a 404 means it is gone already: fine).
    /// Hangs `channel` up, trying again with backoff (0.5 s doubling, `tries` in all)
    /// while the request is lost or Asterisk answers 5xx: a channel left up is a
    /// customer in silence and a trunk taken. Gone already counts as done.
    pub async fn hangup_surely(&self, channel: &str, tries: u32) -> Result<(), AriError> {
        let mut wait = std::time::Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            match self.hangup(channel).await {
                Ok(()) => return Ok(()),
                Err(AriError::Refused { status, message }) if status < 500 => {
                    return Err(AriError::Refused { status, message });
                }
                Err(e) if attempt >= tries => return Err(e),
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }

    pub async fn hangup(&self, channel: &str) -> Result<(), AriError> {
        let request = Request {
            method: "DELETE",
            path: format!("/ari/channels/{channel}"),
            query: Default::default(),
        };
        match self.send(&request).await {
            Ok(_) | Err(AriError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The channels Asterisk has now, as (id, state), for reconciling after a reconnect.
    pub async fn channels(&self) -> Result<Vec<(String, String)>, AriError> {
        let list = self.get_json("/ari/channels").await?;
        Ok(list
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| {
                        let id = c.get("id")?.as_str()?.to_string();
                        let state = c
                            .get("state")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        Some((id, state))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The events WebSocket URL.
    pub fn events_url(&self) -> String {
        let base = self.endpoint.base_url.trim_end_matches('/');
        let ws = base
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        // Percent-encoded: a password with `&`, `#`, `+` or `%` in it must log in here
        // as it does for REST.
        let api_key = format!("{}:{}", self.endpoint.user, self.endpoint.password);
        let query: String = reqwest::Url::parse_with_params(
            "ws://x/",
            [
                ("app", self.endpoint.app.as_str()),
                ("api_key", api_key.as_str()),
                ("subscribeAll", "false"),
            ],
        )
        .ok()
        .and_then(|u| u.query().map(str::to_string))
        .unwrap_or_default();
        format!("{ws}/ari/events?{query}")
    }
}

fn classify_error(e: reqwest::Error) -> AriError {
    if e.is_connect() || e.is_builder() {
        AriError::NotSent(e.to_string())
    } else {
        AriError::OutcomeUnknown(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_url_encodes_the_credentials() {
        let endpoint = AriEndpoint {
            base_url: "https://pbx.example:8089/".into(),
            user: "dialflow".into(),
            password: "a&b#c+d%e".into(),
            app: "dialflow".into(),
        };
        let client = AriClient::new(endpoint, std::time::Duration::from_secs(1)).unwrap();
        assert_eq!(
            client.events_url(),
            "wss://pbx.example:8089/ari/events?app=dialflow&api_key=dialflow%3Aa%26b%23c%2Bd%25e&subscribeAll=false"
        );
    }
}
