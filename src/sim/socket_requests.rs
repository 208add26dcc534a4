//! ARI REST over the events WebSocket, as Asterisk 20.14, 21.9 and 22.4 serve it: a
//! `RESTRequest` text frame becomes the HTTP request it stands for (served by the same
//! handler, faults and all), and its answer goes back on the socket as a `RESTResponse`
//! event. Parameters may come in the `uri`'s query, in `query_strings`, or in a form or
//! JSON `message_body`, as Asterisk takes them; a recording's file is refused with 406,
//! as Asterisk sends nothing binary over the socket.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ari::{Route, paths};

/// Largest answer body put on the socket (a channel list of thousands fits).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// A `RESTRequest` message, as the ARI specification (`events.json`) gives it.
#[derive(Debug, Deserialize)]
struct RestRequest {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    transaction_id: String,
    #[serde(default)]
    request_id: String,
    method: String,
    uri: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    query_strings: Vec<Parameter>,
    #[serde(default)]
    message_body: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Parameter {
    name: String,
    value: String,
}

/// A request read off the socket, ready for the ARI handler, and what its answer echoes.
pub struct SocketRequest {
    pub http: Request,
    echo: Echo,
}

/// What every `RESTResponse` carries as an event: the application and when it was sent.
pub struct Stamp {
    pub application: String,
    pub timestamp: String,
}

/// What a `RESTResponse` repeats of its request.
pub struct Echo {
    transaction_id: String,
    request_id: String,
    uri: String,
}

/// Reads a text frame: the request, or the `RESTResponse` that refuses it at once (not
/// a request at all, or one that cannot go over the socket). `authorization` is what
/// the socket logged in with, so the request passes the handler's check as it.
pub fn read(text: &str, authorization: &str, stamp: &Stamp) -> Result<SocketRequest, String> {
    let request: RestRequest = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(e) => {
            let why = format!("Bad RESTRequest: {e}");
            return Err(refusal(&echo_of(text), 400, &why, stamp));
        }
    };
    let echo = Echo {
        transaction_id: request.transaction_id.clone(),
        request_id: request.request_id.clone(),
        uri: request.uri.clone(),
    };
    if request.kind != "RESTRequest" {
        return Err(refusal(&echo, 400, "type must be RESTRequest", stamp));
    }
    let target = target(&request);
    let path = target.split('?').next().unwrap_or_default();
    match Route::parse(&request.method, path) {
        Some(Route::StoredRecordingFile { .. }) => {
            return Err(refusal(&echo, 406, "Not Acceptable. Use HTTP GET", stamp));
        }
        Some(Route::Events) => return Err(refusal(&echo, 400, "Not a REST resource", stamp)),
        _ => {}
    }
    let mut http = Request::builder()
        .method(request.method.as_str())
        .uri(target.as_str())
        .header(header::AUTHORIZATION, authorization);
    if let Some(content_type) = &request.content_type {
        http = http.header(header::CONTENT_TYPE, content_type.as_str());
    }
    let body = Body::from(request.message_body.unwrap_or_default());
    match http.body(body) {
        Ok(http) => Ok(SocketRequest { http, echo }),
        Err(e) => Err(refusal(&echo, 400, &format!("Bad RESTRequest: {e}"), stamp)),
    }
}

/// The request's path under `/ari/`, its `uri`'s own query followed by `query_strings`
/// (the first occurrence of a name wins, as in Asterisk).
fn target(request: &RestRequest) -> String {
    let mut target = format!("{}{}", paths::PREFIX, request.uri.trim_start_matches('/'));
    if request.query_strings.is_empty() {
        return target;
    }
    target.push(if target.contains('?') { '&' } else { '?' });
    let start = target.len();
    let mut form = form_urlencoded::Serializer::for_suffix(target, start);
    for parameter in &request.query_strings {
        form.append_pair(&parameter.name, &parameter.value);
    }
    form.finish()
}

impl SocketRequest {
    /// The HTTP request, and what its answer must echo.
    pub fn into_parts(self) -> (Request, Echo) {
        (self.http, self.echo)
    }
}

/// The `RESTResponse` text carrying `response`, the handler's answer to the request
/// `echo` came with.
pub async fn answer(echo: Echo, response: Response, stamp: &Stamp) -> String {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
        .await
        .unwrap_or_default();
    let body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
    response_text(&echo, status, body, stamp)
}

fn refusal(echo: &Echo, status: u16, message: &str, stamp: &Stamp) -> String {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({ "message": message }).to_string();
    response_text(echo, status, Some(body), stamp)
}

/// The ids of a request too broken to read whole, so its refusal still finds it.
fn echo_of(text: &str) -> Echo {
    let value: Value = serde_json::from_str(text).unwrap_or_default();
    let field = |name: &str| value[name].as_str().unwrap_or_default().to_string();
    Echo {
        transaction_id: field("transaction_id"),
        request_id: field("request_id"),
        uri: field("uri"),
    }
}

/// A `RESTResponse`, its fields in Asterisk's order (`type` first, as in every event).
#[derive(Serialize)]
struct RestResponse<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: &'a str,
    transaction_id: &'a str,
    request_id: &'a str,
    status_code: u16,
    reason_phrase: &'static str,
    uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_body: Option<String>,
    application: &'a str,
}

fn response_text(echo: &Echo, status: StatusCode, body: Option<String>, stamp: &Stamp) -> String {
    let answer = RestResponse {
        kind: "RESTResponse",
        timestamp: &stamp.timestamp,
        transaction_id: &echo.transaction_id,
        request_id: &echo.request_id,
        status_code: status.as_u16(),
        reason_phrase: status.canonical_reason().unwrap_or(""),
        uri: &echo.uri,
        content_type: body.as_ref().map(|_| "application/json"),
        message_body: body,
        application: &stamp.application,
    };
    serde_json::to_string(&answer).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            application: "dialflow".into(),
            timestamp: "2026-12-07T10:00:00.000+0000".into(),
        }
    }

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn parameters_from_the_uri_and_the_list_both_reach_the_path() {
        let text = r#"{"type":"RESTRequest","request_id":"1","method":"POST",
            "uri":"channels/c1/play/p1?lang=en",
            "query_strings":[{"name":"media","value":"sound:a b&c"}]}"#;
        let request = read(text, "Basic x", &stamp()).ok().unwrap();
        assert_eq!(request.http.method(), "POST");
        assert_eq!(
            request.http.uri().to_string(),
            format!(
                "{}?lang=en&media=sound%3Aa+b%26c",
                paths::channel_play("c1", "p1")
            )
        );
    }

    #[test]
    fn a_recording_file_is_refused_as_binary() {
        let text = r#"{"type":"RESTRequest","request_id":"9","method":"GET","uri":"recordings/stored/r1/file"}"#;
        let refused = read(text, "Basic x", &stamp()).err().unwrap();
        assert!(
            refused.starts_with(r#"{"type":"RESTResponse""#),
            "{refused}"
        );
        let refused = parsed(&refused);
        assert_eq!(refused["request_id"], "9");
        assert_eq!(refused["status_code"], 406);
    }

    #[test]
    fn an_unreadable_request_is_refused_with_its_id() {
        let refused = parsed(
            &read(
                r#"{"type":"RESTRequest","request_id":"4","uri":"channels"}"#,
                "",
                &stamp(),
            )
            .err()
            .unwrap(),
        );
        assert_eq!(
            (
                refused["request_id"].as_str(),
                refused["status_code"].as_u64()
            ),
            (Some("4"), Some(400))
        );
        let message: Value =
            serde_json::from_str(refused["message_body"].as_str().unwrap()).unwrap();
        assert!(
            message["message"].as_str().unwrap().contains("method"),
            "{message}"
        );
    }
}
