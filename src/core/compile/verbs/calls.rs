//! The verbs about the line itself: `originate_operator`, `connect_agent` and `amd`.

use super::NodeState;
use crate::core::compile::Cx;
use crate::core::compile::names::is_file_name;
use crate::core::diagnostic::Code;
use crate::core::scenario::{AgentHold, Verb};
use crate::core::source::{AmdSrc, ConnectAgentSrc, OperatorSrc, S};

impl Cx<'_> {
    pub(super) fn originate_operator(
        &mut self,
        op: &S<OperatorSrc>,
        state: &mut NodeState,
    ) -> Verb {
        let o = &op.value;
        for (field, v) in [
            ("operator", Some(&o.operator)),
            ("caller_id", o.caller_id.as_ref()),
        ] {
            if let Some(v) = v
                && !is_file_name(&v.value)
            {
                self.error_help(
                    Code::BadName,
                    self.span(&v.referenced),
                    format!("`{field}` must be a logical name from dialflow's configuration, found `{}`", v.value),
                    "endpoints, trunks and caller ids live in dialflow.yaml so one scenario runs unchanged everywhere",
                );
            }
        }
        let hold = o
            .hold
            .as_ref()
            .map(|h| state.prompt(self, h, &op.referenced));
        let timeout_ms = self.duration("timeout", &o.timeout, 30_000, 1_000, 600_000);
        Verb::OriginateOperator {
            operator: o.operator.value.clone(),
            caller_id: o.caller_id.as_ref().map(|c| c.value.clone()),
            timeout_ms,
            hold,
        }
    }

    pub(super) fn connect_agent(
        &mut self,
        src: &S<ConnectAgentSrc>,
        state: &mut NodeState,
    ) -> Verb {
        let c = &src.value;
        self.check_queue(&c.queue);
        let hold = match (&c.hold, &c.music_on_hold) {
            (Some(_), Some(moh)) => {
                self.error(
                    Code::BadValue,
                    self.span(&moh.referenced),
                    "`hold` and `music_on_hold` both say what the customer hears: keep one",
                );
                AgentHold::Silence
            }
            (Some(h), None) => AgentHold::Prompt(state.prompt(self, h, &src.referenced)),
            (None, Some(moh)) if is_file_name(&moh.value) => AgentHold::Music(moh.value.clone()),
            (None, Some(moh)) => {
                self.error(
                    Code::BadName,
                    self.span(&moh.referenced),
                    format!("`{}` is not a music-on-hold class name", moh.value),
                );
                AgentHold::Silence
            }
            (None, None) => AgentHold::Silence,
        };
        let timeout_ms = self.duration("timeout", &c.timeout, 60_000, 1_000, 3_600_000);
        Verb::ConnectAgent {
            queue: c.queue.value.clone(),
            timeout_ms,
            hold,
        }
    }

    /// A queue must be one dialflow's configuration defines, when it is known.
    fn check_queue(&mut self, queue: &S<String>) {
        let Some(known) = self.queues() else { return };
        if known.contains(&queue.value) {
            return;
        }
        let listed = if known.is_empty() {
            "the configuration defines no queue (`queues:` in dialflow.yaml)".to_string()
        } else {
            let names: Vec<&str> = known.iter().map(String::as_str).collect();
            format!("the configured queues are {}", names.join(", "))
        };
        self.error_help(
            Code::UnknownQueue,
            self.span(&queue.referenced),
            format!("no queue named `{}`", queue.value),
            listed,
        );
    }

    pub(super) fn amd(&mut self, amd: &S<Option<AmdSrc>>) -> Verb {
        let timeout_ms = self.duration(
            "timeout",
            &amd.value.as_ref().and_then(|a| a.timeout.clone()),
            30_000,
            1_000,
            120_000,
        );
        Verb::Amd { timeout_ms }
    }
}
