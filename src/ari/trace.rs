//! Reader of ARI traces (`ari-traces/FORMAT.md`, version 1): one JSON object per line, a `meta`
//! line first, then the REST exchanges and WebSocket events of one recorded Stasis session.
//!
//! Traces are test fixtures and replay scripts, so the reader is strict about the envelope
//! (a broken line is an error naming its line number) and lenient about the events inside it:
//! an event that does not decode is kept as `Event::Malformed`/`Unknown` with its raw JSON, and
//! deciding whether that is acceptable is the caller's business.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use super::events::{self, Event};

/// The only trace format version this reader knows.
pub const TRACE_VERSION: u32 = 1;

/// A whole trace: its meta line and every later line, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub meta: TraceMeta,
    /// The lines after the meta line (`Http` and `Event` only), in the order they happened.
    pub lines: Vec<TraceLine>,
}

impl Trace {
    /// The events with their times, in order.
    pub fn events(&self) -> impl Iterator<Item = (f64, &Event)> {
        self.lines.iter().filter_map(|line| match line {
            TraceLine::Event { t_ms, event, .. } => Some((*t_ms, event)),
            _ => None,
        })
    }

    /// The REST exchanges, in order.
    pub fn http(&self) -> impl Iterator<Item = &HttpExchange> {
        self.lines.iter().filter_map(|line| match line {
            TraceLine::Http(exchange) => Some(exchange),
            _ => None,
        })
    }
}

/// One line of a trace.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceLine {
    Meta(TraceMeta),
    Http(HttpExchange),
    /// `raw` is the event exactly as Asterisk sent it, for checks the typed model cannot make.
    Event {
        t_ms: f64,
        event: Event,
        raw: Value,
    },
}

/// The first line of a trace: what was recorded, against what, and what should come of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceMeta {
    pub version: u32,
    /// Version of the Asterisk the trace was recorded against, e.g. `22.11.0-rc1`.
    pub asterisk: String,
    /// The Stasis application name the client registered.
    pub app: String,
    pub scenario: String,
    pub description: String,
    /// The `sim-customers` extension that played the customer, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The `sim-operators` extension that played the operator, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// What the customer said in each recording, in order (`""` for silence).
    #[serde(default)]
    pub said: Vec<String>,
    /// The internal result a scenario following the trace's flow must end with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_result: Option<String>,
    /// Fields a later recorder added; kept so nothing in a trace is silently lost.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A REST request and the response it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpExchange {
    /// When the request was sent; its response may have come after later events.
    pub t_ms: f64,
    pub request: HttpRequest,
    pub response: HttpResponse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    /// Path as sent, e.g. `/ari/channels/cust-1/play`, without scheme, host or query.
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// The JSON body, `None` when there was none.
    #[serde(default)]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    /// The parsed JSON body, a string when it was not JSON, `None` when there was none.
    #[serde(default)]
    pub body: Option<Value>,
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a trace could not be read. Line numbers count from 1.
#[derive(Debug, Error)]
pub enum TraceError {
    #[error("the trace is empty: it needs a meta line")]
    Empty,
    #[error("line {line}: not JSON: {source}")]
    NotJson {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line}: not a JSON object")]
    NotAnObject { line: usize },
    #[error("line {line}: no string `type` field")]
    NoType { line: usize },
    #[error("line {line}: unknown line type `{found}` (expected meta, http or event)")]
    UnknownType { line: usize, found: String },
    #[error("line {line}: the first line must be `meta`, found `{found}`")]
    MetaNotFirst { line: usize, found: String },
    #[error("line {line}: a second `meta` line")]
    DuplicateMeta { line: usize },
    #[error("line {line}: trace format version {found}, this reader knows {TRACE_VERSION}")]
    UnsupportedVersion { line: usize, found: u32 },
    #[error("line {line}: bad `{kind}` line: {source}")]
    BadLine {
        line: usize,
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl TraceError {
    /// The 1-based line the error is on; `None` for an empty trace.
    pub fn line(&self) -> Option<usize> {
        match self {
            TraceError::Empty => None,
            TraceError::NotJson { line, .. }
            | TraceError::NotAnObject { line }
            | TraceError::NoType { line }
            | TraceError::UnknownType { line, .. }
            | TraceError::MetaNotFirst { line, .. }
            | TraceError::DuplicateMeta { line }
            | TraceError::UnsupportedVersion { line, .. }
            | TraceError::BadLine { line, .. } => Some(*line),
        }
    }
}

/// Reads a whole trace. Blank lines are skipped (but counted, so line numbers match an editor).
pub fn read_trace(text: &str) -> Result<Trace, TraceError> {
    let mut meta = None;
    let mut lines = Vec::new();
    for (index, text) in text.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        match (parse_line(text, number)?, &meta) {
            (TraceLine::Meta(found), None) => meta = Some(found),
            (TraceLine::Meta(_), Some(_)) => {
                return Err(TraceError::DuplicateMeta { line: number });
            }
            (line, None) => {
                let found = match line {
                    TraceLine::Http(_) => "http",
                    _ => "event",
                };
                return Err(TraceError::MetaNotFirst {
                    line: number,
                    found: found.to_owned(),
                });
            }
            (line, Some(_)) => lines.push(line),
        }
    }
    let meta = meta.ok_or(TraceError::Empty)?;
    Ok(Trace { meta, lines })
}

/// Reads one line; `number` is only used in errors.
pub fn parse_line(text: &str, number: usize) -> Result<TraceLine, TraceError> {
    let value: Value = serde_json::from_str(text).map_err(|source| TraceError::NotJson {
        line: number,
        source,
    })?;
    let Value::Object(mut object) = value else {
        return Err(TraceError::NotAnObject { line: number });
    };
    // Removed so that `TraceMeta::extra` and the other shapes see only their own fields.
    let line_type = match object.remove("type") {
        Some(Value::String(line_type)) => line_type,
        _ => return Err(TraceError::NoType { line: number }),
    };
    let bad = |kind: &'static str| {
        move |source| TraceError::BadLine {
            line: number,
            kind,
            source,
        }
    };
    match line_type.as_str() {
        "meta" => {
            let meta: TraceMeta =
                serde_json::from_value(Value::Object(object)).map_err(bad("meta"))?;
            if meta.version != TRACE_VERSION {
                return Err(TraceError::UnsupportedVersion {
                    line: number,
                    found: meta.version,
                });
            }
            Ok(TraceLine::Meta(meta))
        }
        "http" => serde_json::from_value(Value::Object(object))
            .map(TraceLine::Http)
            .map_err(bad("http")),
        "event" => {
            let envelope: EventLine =
                serde_json::from_value(Value::Object(object)).map_err(bad("event"))?;
            let raw = Value::Object(envelope.event);
            Ok(TraceLine::Event {
                t_ms: envelope.t_ms,
                event: events::from_value(raw.clone()),
                raw,
            })
        }
        _ => Err(TraceError::UnknownType {
            line: number,
            found: line_type,
        }),
    }
}

#[derive(Deserialize)]
struct EventLine {
    t_ms: f64,
    /// An object is required here; whether it is a valid ARI event is `events`' business.
    event: Map<String, Value>,
}
