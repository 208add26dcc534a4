//! The checks of a configuration's values once it is read: each problem is kept, with
//! its key, so all of them are reported together.

use std::time::Duration;

use super::{AlertTemplate, Config};

/// Whether a URL is one the HTTP clients can use.
fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

impl Config {
    /// Every problem with the values, as (key, what is wrong).
    pub(super) fn checks(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &'static str, message: String| {
            if !ok {
                problems.push((key, message));
            }
        };
        check(
            self.listen.is_empty() || self.listen.parse::<std::net::SocketAddr>().is_ok(),
            "listen",
            format!("`{}` is not an address like 127.0.0.1:8099", self.listen),
        );
        if let Some(url) = &self.alert_webhook {
            check(
                is_http(url),
                "alert_webhook",
                format!("`{url}` must start with http:// or https://"),
            );
        }
        if let Some(alerts) = &self.alerts {
            check(
                is_http(&alerts.url),
                "alerts.url",
                format!("`{}` must start with http:// or https://", alerts.url),
            );
            if let Some(Err(e)) = alerts.template.as_deref().map(AlertTemplate::new) {
                check(false, "alerts.template", e.to_string());
            }
            for (key, value) in [
                ("alerts.every", alerts.every),
                ("alerts.unreachable_after", alerts.unreachable_after),
                ("alerts.backlog_after", alerts.backlog_after),
                ("alerts.timeout", alerts.timeout),
            ] {
                check(value > Duration::ZERO, key, "leaves no time at all".into());
            }
        }
        if let Some(panel) = &self.panel {
            check(
                is_http(&panel.url),
                "panel.url",
                format!("`{}` must start with http:// or https://", panel.url),
            );
            check(
                panel.concurrency > 0,
                "panel.concurrency",
                "must be at least 1".into(),
            );
            check(
                panel.timeout > Duration::ZERO,
                "panel.timeout",
                "leaves no time at all".into(),
            );
            check(
                !panel.secret_env.is_empty(),
                "panel.secret_env",
                "must name an environment variable".into(),
            );
        }
        check(
            is_http(&self.ari.url),
            "ari.url",
            format!("`{}` must start with http:// or https://", self.ari.url),
        );
        check(
            !(self.ari.app.is_empty()
                || self
                    .ari
                    .app
                    .contains(|c: char| c.is_whitespace() || c == ',')),
            "ari.app",
            format!("`{}` is not a usable Stasis app name", self.ari.app),
        );
        check(
            self.dial.template.contains("{number}"),
            "dial.template",
            format!("`{}` has no {{number}} placeholder", self.dial.template),
        );
        check(
            self.dial
                .prefix
                .chars()
                .all(|c| c.is_ascii_digit() || c == '+'),
            "dial.prefix",
            format!("`{}` must be digits (or a leading +)", self.dial.prefix),
        );
        check(
            self.ari.max_connections > 0,
            "ari.max_connections",
            "must be at least 1".into(),
        );
        check(
            self.max_concurrent > 0,
            "max_concurrent",
            "must be at least 1".into(),
        );
        if let Some(path) = &self.tls.ca_file
            && let Err(e) = crate::tls::read_ca_file(path)
        {
            check(false, "tls.ca_file", e.to_string());
        }
        for (key, value) in [
            ("ari.timeout", self.ari.timeout),
            ("classify.timeout", self.classify.timeout),
        ] {
            check(value > Duration::ZERO, key, "leaves no time at all".into());
        }
        if let Some(problem) = self.agents.break_reasons_problem() {
            check(false, "agents.break_reasons", problem);
        }
        problems
    }
}
