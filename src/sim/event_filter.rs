//! The simulator's per-application event type filter, as Asterisk 13.26 / 16.3 and later
//! keep it (`PUT /ari/applications/{app}/eventFilter`, applications.json): an allowed and
//! a disallowed list of event types, applied to every event sent to the application's
//! WebSockets.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Why a filter body was refused (Asterisk answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadFilter {
    #[error("`{list}` is not a JSON array")]
    NotAList { list: &'static str },
    #[error("`{list}` holds an entry without a type name: {entry}")]
    NoType { list: &'static str, entry: String },
}

/// Which event types an application is sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventFilter {
    allowed: Vec<String>,
    disallowed: Vec<String>,
}

impl EventFilter {
    /// Applies a `PUT …/eventFilter` whose body's keys were read into `params` (each
    /// list as its JSON text), by Asterisk's rules: an empty body empties both lists; a
    /// list given is replaced (an empty array empties it), one not given is kept; a body
    /// naming neither changes nothing. A bad body changes nothing either.
    pub fn update(&mut self, params: &BTreeMap<String, String>) -> Result<(), BadFilter> {
        let allowed = params.get("allowed").map(|t| types("allowed", t));
        let disallowed = params.get("disallowed").map(|t| types("disallowed", t));
        if allowed.is_none() && disallowed.is_none() {
            if params.is_empty() {
                *self = Self::default();
            }
            return Ok(());
        }
        let (allowed, disallowed) = (allowed.transpose()?, disallowed.transpose()?);
        if let Some(allowed) = allowed {
            self.allowed = allowed;
        }
        if let Some(disallowed) = disallowed {
            self.disallowed = disallowed;
        }
        Ok(())
    }

    /// Whether an event of type `kind` is sent: not disallowed (which wins over allowed),
    /// and allowed when an allowed list is set (an empty one allows everything).
    pub fn allows(&self, kind: &str) -> bool {
        let listed = |list: &[String]| list.iter().any(|t| t == kind);
        !listed(&self.disallowed) && (self.allowed.is_empty() || listed(&self.allowed))
    }

    /// The `Application` model Asterisk answers with, for `app`.
    pub fn application_json(&self, app: &str) -> Value {
        let objects =
            |list: &[String]| -> Vec<Value> { list.iter().map(|t| json!({ "type": t })).collect() };
        json!({
            "name": app,
            "channel_ids": [],
            "bridge_ids": [],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": objects(&self.allowed),
            "events_disallowed": objects(&self.disallowed),
        })
    }
}

/// The event types of one list (`[{"type": "StasisStart"}, …]`).
fn types(list: &'static str, text: &str) -> Result<Vec<String>, BadFilter> {
    let Ok(Value::Array(entries)) = serde_json::from_str::<Value>(text) else {
        return Err(BadFilter::NotAList { list });
    };
    entries
        .iter()
        .map(|entry| match entry.get("type") {
            Some(Value::String(kind)) if !kind.is_empty() => Ok(kind.clone()),
            _ => Err(BadFilter::NoType {
                list,
                entry: entry.to_string(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_allowed_list_lets_only_its_types_through() {
        let mut filter = EventFilter::default();
        assert!(filter.allows("ChannelVarset"), "no filter: everything");
        filter
            .update(&params(&[(
                "allowed",
                r#"[{"type":"StasisStart"},{"type":"StasisEnd"}]"#,
            )]))
            .unwrap();
        assert!(filter.allows("StasisStart") && filter.allows("StasisEnd"));
        assert!(!filter.allows("ChannelVarset"));
    }

    #[test]
    fn disallowed_wins_and_a_list_not_given_is_kept() {
        let mut filter = EventFilter::default();
        let both = r#"[{"type":"Dial"},{"type":"StasisStart"}]"#;
        filter.update(&params(&[("allowed", both)])).unwrap();
        filter
            .update(&params(&[("disallowed", r#"[{"type":"Dial"}]"#)]))
            .unwrap();
        assert!(!filter.allows("Dial"), "disallowed over allowed");
        assert!(filter.allows("StasisStart"), "the allowed list was kept");
        assert!(!filter.allows("ChannelVarset"));
        // An empty array empties its list only.
        filter.update(&params(&[("allowed", "[]")])).unwrap();
        assert!(filter.allows("ChannelVarset") && !filter.allows("Dial"));
        // A body naming neither list changes nothing; an empty body empties both.
        filter.update(&params(&[("other", "1")])).unwrap();
        assert!(!filter.allows("Dial"), "unchanged");
        filter.update(&params(&[])).unwrap();
        assert!(filter.allows("Dial"));
    }

    #[test]
    fn a_bad_body_is_refused_and_changes_nothing() {
        let mut filter = EventFilter::default();
        let allowed = r#"[{"type":"StasisStart"}]"#;
        filter.update(&params(&[("allowed", allowed)])).unwrap();
        let before = filter.clone();
        assert_eq!(
            filter.update(&params(&[("allowed", r#"{"type":"Dial"}"#)])),
            Err(BadFilter::NotAList { list: "allowed" })
        );
        assert!(matches!(
            filter.update(&params(&[
                ("allowed", "[]"),
                ("disallowed", r#"[{"kind":1}]"#)
            ])),
            Err(BadFilter::NoType {
                list: "disallowed",
                ..
            })
        ));
        assert!(matches!(
            filter.update(&params(&[("allowed", r#"[{"type":""}]"#)])),
            Err(BadFilter::NoType { .. })
        ));
        assert_eq!(filter, before);
        assert_eq!(
            filter.application_json("dialer")["events_allowed"],
            json!([{"type": "StasisStart"}])
        );
    }
}
