//! An alert's body written by the user (`alerts.template`), so an SMS gateway's or a
//! chat tool's HTTP API can be called directly: a MiniJinja template over the alert's
//! fields whose every `{{ value }}` is written as the inside of a JSON string (quotes,
//! backslashes and line breaks escaped), so a template like
//! `{"text": "{{ campaign }} paused: {{ reason }}"}` stays JSON whatever the reason says.

use minijinja::{Environment, Value};
use serde::Serialize;

/// What a template may use.
#[derive(Debug, Clone, Serialize)]
pub struct AlertFields<'a> {
    /// What raised it: `quota`, `breaker`, `paused`, `parked`, `unreachable`, `backlog`.
    pub kind: &'a str,
    /// The campaign, or empty for dialflow as a whole (Asterisk, the outbox).
    pub campaign: &'a str,
    /// The whole sentence (`campaign \`spring\` paused itself: …`).
    pub message: &'a str,
    /// Why, in a few words.
    pub reason: &'a str,
    /// When it was raised, RFC 3339.
    pub at: &'a str,
    /// How many more like it were held back by the rate limit since the last one sent.
    pub repeats: u64,
}

/// Why a template cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("line {line} of the template: {message}")]
    Syntax { line: usize, message: String },
    #[error("{0}")]
    Render(String),
    #[error(
        "does not make JSON ({0}); write the JSON around the {{{{ }}}} (values are escaped for inside a JSON string)"
    )]
    NotJson(serde_json::Error),
}

/// A checked template.
#[derive(Debug, Clone)]
pub struct AlertTemplate {
    source: String,
}

impl AlertTemplate {
    /// Compiles `source` and renders it once with awkward values (quotes, a line
    /// break), so a template that cannot make JSON is refused when the configuration
    /// is read, not when the first alert goes out.
    pub fn new(source: &str) -> Result<AlertTemplate, TemplateError> {
        environment()
            .template_from_str(source)
            .map_err(|e| TemplateError::Syntax {
                line: e.line().unwrap_or(1),
                message: e.detail().unwrap_or(&e.to_string()).to_string(),
            })?;
        let template = AlertTemplate {
            source: source.to_string(),
        };
        let awkward = AlertFields {
            kind: "paused",
            campaign: "spring \"A\"",
            message: "campaign `spring \"A\"` paused itself:\n\\ 10 failures",
            reason: "10 failures\tin a row",
            at: "2026-01-01T00:00:00Z",
            repeats: 3,
        };
        template.render(&awkward)?;
        Ok(template)
    }

    /// The body for `fields`: JSON, or why not.
    pub fn render(&self, fields: &AlertFields<'_>) -> Result<String, TemplateError> {
        let body = environment()
            .render_str(&self.source, Value::from_serialize(fields))
            .map_err(|e| TemplateError::Render(e.to_string()))?;
        serde_json::from_str::<serde_json::Value>(&body).map_err(TemplateError::NotJson)?;
        Ok(body)
    }
}

/// MiniJinja with every printed value escaped as the inside of a JSON string; nothing
/// (none, undefined) prints as nothing.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_formatter(|out, _state, value| {
        if value.is_none() || value.is_undefined() {
            return Ok(());
        }
        let text = match value.as_str() {
            Some(s) => s.to_string(),
            None => value.to_string(),
        };
        let quoted = serde_json::Value::String(text).to_string();
        out.write_str(&quoted[1..quoted.len() - 1])
            .map_err(minijinja::Error::from)
    });
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(reason: &'a str, message: &'a str) -> AlertFields<'a> {
        AlertFields {
            kind: "quota",
            campaign: "spring",
            message,
            reason,
            at: "2026-12-07T00:00:00.000Z",
            repeats: 2,
        }
    }

    #[test]
    fn values_are_escaped_for_inside_a_json_string() {
        let t = AlertTemplate::new(
            r#"{"to": "+989120000000", "text": "{{ campaign }} paused: {{ reason }}", "n": {{ repeats }}}"#,
        )
        .unwrap();
        let body = t
            .render(&fields("the \"STT\" said:\nno \\ quota", "m"))
            .unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["text"],
            "spring paused: the \"STT\" said:\nno \\ quota"
        );
        assert_eq!(json["n"], 2);
    }

    #[test]
    fn a_broken_template_is_refused_with_its_line() {
        let e = AlertTemplate::new("{\n\"text\": \"{{ campaign + }}\"\n}").unwrap_err();
        assert!(matches!(e, TemplateError::Syntax { line: 2, .. }), "{e:?}");
        let e = AlertTemplate::new("{\"text\": {{ campaign }}}").unwrap_err();
        assert!(matches!(e, TemplateError::NotJson(_)), "{e}");
        let e = AlertTemplate::new("{\"text\": \"{{ nosuch }}\"}").unwrap_err();
        assert!(matches!(e, TemplateError::Render(_)), "{e}");
    }
}
