//! The ARI models against the spec (`../shared/ari-api-docs/`) and against what a real
//! Asterisk 22 sent (`../shared/ari-traces/`). Both folders are read in place, never copied.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use dialflow::ari::events::{self, Event};
use dialflow::ari::models::{
    Application, AsteriskInfo, AsteriskPing, Bridge, BuildInfo, CallerId, Channel, ChannelState,
    ConfigInfo, ContactInfo, DeviceState, DialplanCep, Endpoint, ErrorBody, LiveRecording, Mailbox,
    Peer, Playback, PlaybackState, RtpStat, SetId, StatusInfo, StoredRecording, SystemInfo,
    TextMessage, Variable,
};
use dialflow::ari::trace::{HttpExchange, TraceError, TraceLine, read_trace};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn shared(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(folder)
}

fn trace_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(shared("ari-traces"))
        .expect("../shared/ari-traces exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no traces found");
    files
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// Keys of `raw` (recursively, through objects and arrays) that `typed` lacks. A typed model
/// that drops a field Asterisk sends would silently lose information, so no key is exempt.
fn missing_keys(raw: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (raw, typed) {
        (Value::Object(raw), Value::Object(typed)) => {
            for (key, raw_value) in raw {
                let here = format!("{path}.{key}");
                match typed.get(key) {
                    Some(typed_value) => missing_keys(raw_value, typed_value, &here, out),
                    None => out.push(here),
                }
            }
        }
        (Value::Array(raw), Value::Array(typed)) => {
            if raw.len() != typed.len() {
                out.push(format!(
                    "{path} (array length {} vs {})",
                    raw.len(),
                    typed.len()
                ));
            }
            for (index, (raw, typed)) in raw.iter().zip(typed).enumerate() {
                missing_keys(raw, typed, &format!("{path}[{index}]"), out);
            }
        }
        (Value::Object(_) | Value::Array(_), _) => out.push(format!("{path} (shape changed)")),
        _ => {}
    }
}

fn assert_no_lost_keys(raw: &Value, typed: &impl Serialize, context: &str) {
    let typed = serde_json::to_value(typed).unwrap();
    let mut missing = Vec::new();
    missing_keys(raw, &typed, "", &mut missing);
    assert!(
        missing.is_empty(),
        "{context}: typed model lost {missing:?}"
    );
}

fn typed<T: DeserializeOwned + Serialize>(body: &Value, context: &str) {
    let model: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{context}: {e}\nbody: {body}"));
    assert_no_lost_keys(body, &model, context);
}

#[test]
fn every_trace_line_reads_and_every_event_is_typed_without_losing_fields() {
    let mut seen_types = BTreeSet::new();
    for path in trace_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&path).unwrap();
        let trace = read_trace(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(trace.meta.version, 1, "{name}");
        assert_eq!(trace.meta.app, "dialer", "{name}");
        assert!(trace.meta.asterisk.starts_with("22."), "{name}");
        assert_eq!(
            trace.meta.scenario,
            name.trim_end_matches(".jsonl"),
            "{name}: scenario names the file"
        );
        assert!(
            trace.meta.extra.is_empty(),
            "{name}: meta fields not modelled: {:?}",
            trace.meta.extra.keys()
        );
        assert_eq!(
            trace.lines.len(),
            text.lines().filter(|l| !l.trim().is_empty()).count() - 1,
            "{name}: every line after meta is kept"
        );

        for (index, line) in trace.lines.iter().enumerate() {
            let context = format!("{name}:{}", index + 2);
            let TraceLine::Event { event, raw, .. } = line else {
                continue;
            };
            assert!(event.is_known(), "{context}: not typed: {event:?}");
            assert_eq!(event.type_name(), raw["type"], "{context}");
            seen_types.insert(event.type_name().to_owned());
            assert_no_lost_keys(raw, event, &context);
            // The serialized form is the wire form, so it decodes back to the same event.
            let again = events::parse(&serde_json::to_string(event).unwrap());
            assert_eq!(&again, event, "{context}: round trip");
            // Read with the type first, as Asterisk writes it (the decoder's shortcut).
            let first = events::parse(&type_first(raw));
            assert_eq!(&first, event, "{context}: read type first");
            check_routing_helpers(event, raw, &context);
        }
    }
    for expected in [
        "StasisStart",
        "Dial",
        "PlaybackFinished",
        "RecordingFinished",
    ] {
        assert!(seen_types.contains(expected), "no {expected} in the traces");
    }
}

/// An event's text with `type` as its first key, as Asterisk sends it (serde_json's
/// maps sort their keys, so `type` would otherwise come late).
fn type_first(raw: &Value) -> String {
    let mut rest = raw.as_object().unwrap().clone();
    let kind = rest.remove("type").unwrap();
    let rest = serde_json::to_string(&rest).unwrap();
    let tail = rest.strip_prefix('{').unwrap();
    let separator = if tail == "}" { "" } else { "," };
    format!("{{\"type\":{kind}{separator}{tail}")
}

/// The helpers a router uses must agree with the raw JSON.
fn check_routing_helpers(event: &Event, raw: &Value, context: &str) {
    let channel = if raw["type"] == "Dial" {
        &raw["peer"]["id"]
    } else {
        &raw["channel"]["id"]
    };
    assert_eq!(
        event.channel_id(),
        channel.as_str(),
        "{context}: channel_id"
    );
    assert_eq!(
        event.bridge_id(),
        raw["bridge"]["id"].as_str(),
        "{context}: bridge_id"
    );
    assert_eq!(
        event.playback_id(),
        raw["playback"]["id"].as_str(),
        "{context}: playback_id"
    );
    assert_eq!(
        event.recording_name(),
        raw["recording"]["name"].as_str(),
        "{context}: recording_name"
    );
    assert_eq!(
        event.application(),
        raw["application"].as_str(),
        "{context}"
    );
    assert_eq!(event.timestamp(), raw["timestamp"].as_str(), "{context}");
}

/// What a successful response body to a request is, decided by method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Body {
    Channel,
    Channels,
    Bridge,
    Bridges,
    Playback,
    LiveRecording,
    StoredRecording,
    StoredRecordings,
    Variable,
    RtpStat,
    /// `GET /recordings/stored/{name}/file`: WAV bytes, which the recorder logs as `{bytes: N}`.
    File,
    /// 204 answers: hangup, continue, addChannel, stopping a playback, …
    Nothing,
}

fn body_kind(method: &str, path: &str) -> Body {
    let Some(rest) = path.strip_prefix("/ari/") else {
        panic!("path outside /ari: {path}");
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["channels"]) => Body::Channels,
        // `POST /channels/{id}` originates with an id; create and externalMedia fit too.
        ("POST", ["channels"] | ["channels", _] | ["channels", _, "snoop", ..])
        | ("GET", ["channels", _]) => Body::Channel,
        ("GET", ["channels", _, "variable"]) => Body::Variable,
        ("GET", ["channels", _, "rtp_statistics"]) => Body::RtpStat,
        ("POST", ["channels" | "bridges", _, "play", ..]) | ("GET", ["playbacks", _]) => {
            Body::Playback
        }
        ("POST", ["channels" | "bridges", _, "record"]) | ("GET", ["recordings", "live", _]) => {
            Body::LiveRecording
        }
        ("GET", ["recordings", "stored"]) => Body::StoredRecordings,
        ("GET", ["recordings", "stored", _]) | ("POST", ["recordings", "stored", _, "copy"]) => {
            Body::StoredRecording
        }
        ("GET", ["recordings", "stored", _, "file"]) => Body::File,
        ("GET", ["bridges"]) => Body::Bridges,
        ("POST", ["bridges"] | ["bridges", _]) | ("GET", ["bridges", _]) => Body::Bridge,
        _ => Body::Nothing,
    }
}

fn check_body(exchange: &HttpExchange, context: &str) -> Option<Body> {
    let request = &exchange.request;
    let response = &exchange.response;
    let body = response.body.as_ref();
    if !response.is_success() {
        let body = body.unwrap_or_else(|| panic!("{context}: error without a body"));
        let error: ErrorBody = serde_json::from_value(body.clone()).unwrap();
        assert!(error.text().is_some(), "{context}: error body {body}");
        assert_no_lost_keys(body, &error, context);
        return None;
    }
    let kind = body_kind(&request.method, &request.path);
    let Some(body) = body else {
        assert_eq!(kind, Body::Nothing, "{context}: no body where one belongs");
        return Some(kind);
    };
    match kind {
        Body::Channel => typed::<Channel>(body, context),
        Body::Channels => typed::<Vec<Channel>>(body, context),
        Body::Bridge => typed::<Bridge>(body, context),
        Body::Bridges => typed::<Vec<Bridge>>(body, context),
        Body::Playback => typed::<Playback>(body, context),
        Body::LiveRecording => typed::<LiveRecording>(body, context),
        Body::StoredRecording => typed::<StoredRecording>(body, context),
        Body::StoredRecordings => typed::<Vec<StoredRecording>>(body, context),
        Body::Variable => typed::<Variable>(body, context),
        Body::RtpStat => typed::<RtpStat>(body, context),
        Body::File => assert!(body["bytes"].is_u64(), "{context}: {body}"),
        Body::Nothing => panic!(
            "{context}: {} {} answered a body no model is chosen for: {body}",
            request.method, request.path
        ),
    }
    Some(kind)
}

#[test]
fn every_rest_body_fits_the_model_of_its_resource() {
    let mut kinds = BTreeMap::new();
    for path in trace_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let trace = read_trace(&fs::read_to_string(&path).unwrap()).unwrap();
        for (index, exchange) in trace.http().enumerate() {
            let context = format!(
                "{name}: http #{index} {} {}",
                exchange.request.method, exchange.request.path
            );
            if let Some(kind) = check_body(exchange, &context) {
                *kinds.entry(kind).or_insert(0) += 1;
            }
        }
    }
    for kind in [
        Body::Channel,
        Body::Bridge,
        Body::Playback,
        Body::LiveRecording,
    ] {
        assert!(kinds.contains_key(&kind), "no {kind:?} body in the traces");
    }
}

#[test]
fn originate_answer_is_a_down_channel() {
    let text = fs::read_to_string(shared("ari-traces").join("busy.jsonl")).unwrap();
    let trace = read_trace(&text).unwrap();
    let originate = trace.http().next().unwrap();
    let channel: Channel =
        serde_json::from_value(originate.response.body.clone().unwrap()).unwrap();
    assert_eq!(channel.state, ChannelState::Down);
    assert_eq!(channel.id, originate.request.query["channelId"]);
    assert_eq!(channel.dialplan.priority, 1);
}

/// All models of every spec file, by id.
fn spec_models() -> BTreeMap<String, Value> {
    let mut models = BTreeMap::new();
    for entry in fs::read_dir(shared("ari-api-docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json")
            && let Some(Value::Object(found)) = read_json(&path).get("models")
        {
            models.extend(found.clone());
        }
    }
    models
}

/// Event models: those listed in `Event.subTypes` (how these docs say it) or carrying
/// `"extends": "Event"` (how older Swagger docs say it).
fn spec_event_types(models: &BTreeMap<String, Value>) -> BTreeSet<String> {
    let mut types: BTreeSet<String> = models["Event"]["subTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    types.extend(
        models
            .iter()
            .filter(|(_, model)| model["extends"] == "Event")
            .map(|(id, _)| id.clone()),
    );
    types
}

/// Messages on the socket that are not events: the other subtypes of `Message`.
fn spec_message_types(models: &BTreeMap<String, Value>) -> BTreeSet<String> {
    models["Message"]["subTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .filter(|t| t != "Event")
        .collect()
}

#[test]
fn every_event_model_of_the_spec_has_a_variant_and_back() {
    let models = spec_models();
    let events = spec_event_types(&models);
    assert!(events.len() > 40, "Event subtypes not found: {events:?}");
    let mut spec: BTreeSet<String> = events;
    spec.extend(spec_message_types(&models));
    let ours: BTreeSet<String> = Event::KNOWN_TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        ours.len(),
        Event::KNOWN_TYPES.len(),
        "duplicates in KNOWN_TYPES"
    );
    let missing: Vec<_> = spec.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&spec).collect();
    assert!(
        missing.is_empty(),
        "spec types without a variant: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "variants the spec does not define: {extra:?}"
    );
}

/// A value of spec type `ty`, with every optional field too when `full`.
fn sample(ty: &str, property: &Value, models: &BTreeMap<String, Value>, full: bool) -> Value {
    if let Some(inner) = ty.strip_prefix("List[").and_then(|t| t.strip_suffix(']')) {
        return json!([sample(inner, &Value::Null, models, full)]);
    }
    match ty {
        "string" => match property["allowableValues"]["values"].get(0) {
            Some(first) => first.clone(),
            None => json!("x"),
        },
        "int" | "long" => json!(7),
        "double" => json!(1.5),
        "boolean" => json!(true),
        "Date" => json!("2026-11-21T21:29:41.430+0000"),
        "object" => json!({"key": "value"}),
        model => model_sample(model, models, full),
    }
}

fn model_sample(id: &str, models: &BTreeMap<String, Value>, full: bool) -> Value {
    let model = models
        .get(id)
        .unwrap_or_else(|| panic!("spec type {id} is not a model"));
    let mut object = serde_json::Map::new();
    if let Some(properties) = model["properties"].as_object() {
        for (name, property) in properties {
            if full || property["required"] == true {
                let ty = property["type"].as_str().unwrap();
                object.insert(name.clone(), sample(ty, property, models, full));
            }
        }
    }
    Value::Object(object)
}

/// An event as the spec describes it: `Message` and `Event` fields plus its own.
fn event_sample(id: &str, models: &BTreeMap<String, Value>, full: bool) -> Value {
    let mut object = serde_json::Map::new();
    let mut parents = vec!["Message"];
    if spec_event_types(models).contains(id) {
        parents.push("Event");
    }
    for parent in parents.into_iter().chain([id]) {
        if let Value::Object(fields) = model_sample(parent, models, full) {
            object.extend(fields);
        }
    }
    object.insert("type".into(), json!(id));
    Value::Object(object)
}

#[test]
fn every_event_the_spec_describes_parses_with_and_without_its_optional_fields() {
    let models = spec_models();
    for &type_name in Event::KNOWN_TYPES {
        for full in [true, false] {
            let raw = event_sample(type_name, &models, full);
            let event = events::from_value(raw.clone());
            let context = format!("{type_name} (optional fields: {full})");
            assert!(event.is_known(), "{context}: {event:?}");
            assert_eq!(event.type_name(), type_name, "{context}");
            assert_no_lost_keys(&raw, &event, &context);
            assert_eq!(
                serde_json::to_value(&event).unwrap(),
                raw,
                "{context}: serializes back to what was parsed"
            );
        }
    }
}

/// Deserializes a body into one model and checks that no key is lost.
type Check = fn(&Value, &str);

#[test]
fn every_resource_model_the_spec_describes_parses_with_and_without_its_optional_fields() {
    let models = spec_models();
    let checks: &[(&str, Check)] = &[
        ("Channel", typed::<Channel>),
        ("CallerID", typed::<CallerId>),
        ("DialplanCEP", typed::<DialplanCep>),
        ("RTPstat", typed::<RtpStat>),
        ("Variable", typed::<Variable>),
        ("Bridge", typed::<Bridge>),
        ("Playback", typed::<Playback>),
        ("LiveRecording", typed::<LiveRecording>),
        ("StoredRecording", typed::<StoredRecording>),
        ("Endpoint", typed::<Endpoint>),
        ("TextMessage", typed::<TextMessage>),
        ("DeviceState", typed::<DeviceState>),
        ("Mailbox", typed::<Mailbox>),
        ("ContactInfo", typed::<ContactInfo>),
        ("Peer", typed::<Peer>),
        ("Application", typed::<Application>),
        ("AsteriskInfo", typed::<AsteriskInfo>),
        ("AsteriskPing", typed::<AsteriskPing>),
        ("BuildInfo", typed::<BuildInfo>),
        ("SystemInfo", typed::<SystemInfo>),
        ("ConfigInfo", typed::<ConfigInfo>),
        ("SetId", typed::<SetId>),
        ("StatusInfo", typed::<StatusInfo>),
    ];
    for (id, check) in checks {
        for full in [true, false] {
            let raw = model_sample(id, &models, full);
            check(&raw, &format!("{id} (optional fields: {full})"));
        }
    }
}

#[test]
fn values_the_spec_does_not_list_survive_a_round_trip() {
    let playback = json!({
        "id": "p", "media_uri": "sound:x", "target_uri": "channel:c", "state": "paused-ish"
    });
    let parsed: Playback = serde_json::from_value(playback.clone()).unwrap();
    assert_eq!(parsed.state, PlaybackState::Other("paused-ish".into()));
    assert_eq!(serde_json::to_value(&parsed).unwrap(), playback);

    let mut channel = model_sample("Channel", &spec_models(), false);
    channel["state"] = json!("Dialing Offhook");
    channel["added_in_asterisk_99"] = json!({"anything": [1, 2]});
    let parsed: Channel = serde_json::from_value(channel).unwrap();
    assert_eq!(parsed.state, ChannelState::DialingOffhook);
    assert_eq!(parsed.state.to_string(), "Dialing Offhook");
}

#[test]
fn unknown_and_malformed_input_never_panics() {
    let future = json!({"type": "FutureEvent", "x": 1});
    match events::parse(&future.to_string()) {
        Event::Unknown { event_type, raw } => {
            assert_eq!(event_type, "FutureEvent");
            assert_eq!(raw, future);
        }
        other => panic!("expected Unknown, got {other:?}"),
    }

    let wrong_shape = r#"{"type":"StasisStart","channel":42}"#;
    match events::parse(wrong_shape) {
        Event::Malformed {
            event_type,
            raw,
            error,
        } => {
            assert_eq!(event_type.as_deref(), Some("StasisStart"));
            assert_eq!(raw, wrong_shape);
            assert!(error.contains("StasisStart"), "{error}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }

    for text in [
        "not json",
        "{}",
        "",
        "[1,2]",
        "null",
        r#"{"type":7}"#,
        r#"{"type":"StasisStart"}"#,
        r#"{"type":"Dial","application":"a","timestamp":"t","dialstatus":"BUSY"}"#,
        r#"{"type":"PlaybackFinished","application":"a","timestamp":"t","playback":{"id":1}}"#,
        "{\"type\":\"StasisStart\"",
    ] {
        let event = events::parse(text);
        assert!(
            matches!(&event, Event::Malformed { raw, .. } if raw == text),
            "{text:?} gave {event:?}"
        );
        assert!(!event.is_known());
        assert_eq!(event.channel_id(), None);
        // Serializing a bad message must not panic either.
        serde_json::to_string(&event).unwrap();
    }

    // from_value has no text to keep, so it keeps the value re-serialized.
    match events::from_value(json!({})) {
        Event::Malformed {
            event_type: None,
            raw,
            ..
        } => assert_eq!(raw, "{}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn events_deserialize_inside_other_types() {
    let events: Vec<Event> =
        serde_json::from_str(r#"[{"type":"FutureEvent"}, {"type":"StasisEnd"}]"#).unwrap();
    assert!(matches!(events[0], Event::Unknown { .. }));
    assert!(matches!(events[1], Event::Malformed { .. }));
}

#[test]
fn trace_errors_name_the_line() {
    let meta =
        r#"{"type":"meta","version":1,"asterisk":"22","app":"a","scenario":"s","description":"d"}"#;
    let event = r#"{"type":"event","t_ms":1.5,"event":{"type":"FutureEvent"}}"#;
    let http = r#"{"type":"http","t_ms":2,"request":{"method":"DELETE","path":"/ari/channels/x","query":{},"body":null},"response":{"status":204,"body":null}}"#;

    let trace = read_trace(&format!("{meta}\n\n{event}\n{http}\n")).unwrap();
    assert_eq!(trace.lines.len(), 2);
    assert_eq!(trace.meta.customer, None);
    assert!(trace.meta.said.is_empty());
    assert!(
        matches!(&trace.lines[0], TraceLine::Event { t_ms, event: Event::Unknown { .. }, .. } if *t_ms == 1.5)
    );
    assert_eq!(trace.http().next().unwrap().response.status, 204);

    let extra = meta.replace("\"d\"", "\"d\",\"recorded_by\":\"me\"");
    let trace = read_trace(&extra).unwrap();
    assert_eq!(trace.meta.extra["recorded_by"], "me");

    let cases: &[(String, Option<usize>, &str)] = &[
        (String::new(), None, "empty"),
        (format!("{event}\n{meta}"), Some(1), "must be `meta`"),
        (format!("{meta}\n{event}\nnot json"), Some(3), "not JSON"),
        (format!("{meta}\n[1]"), Some(2), "not a JSON object"),
        (
            format!("{meta}\n{{\"t_ms\":1}}"),
            Some(2),
            "no string `type`",
        ),
        (
            format!("{meta}\n{{\"type\":\"note\"}}"),
            Some(2),
            "unknown line type `note`",
        ),
        (format!("{meta}\n{meta}"), Some(2), "second `meta`"),
        (
            meta.replace("\"version\":1", "\"version\":2"),
            Some(1),
            "version 2",
        ),
        (
            meta.replace(",\"app\":\"a\"", ""),
            Some(1),
            "bad `meta` line",
        ),
        (
            format!("{meta}\n{}", http.replace("204", "\"ok\"")),
            Some(2),
            "bad `http` line",
        ),
        (
            format!(
                "{meta}\n{}",
                event.replace("{\"type\":\"FutureEvent\"}", "3")
            ),
            Some(2),
            "bad `event` line",
        ),
    ];
    for (text, line, message) in cases {
        let error: TraceError = read_trace(text).expect_err(text);
        assert_eq!(error.line(), *line, "{text}: {error}");
        let shown = error.to_string();
        assert!(shown.contains(message), "{text}: {shown}");
        if let Some(line) = line {
            assert!(shown.starts_with(&format!("line {line}: ")), "{shown}");
        }
    }
}
