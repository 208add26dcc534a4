//! The verbs about the line itself: `originate_operator` and `amd`.

use super::NodeState;
use crate::core::compile::Cx;
use crate::core::compile::names::is_file_name;
use crate::core::diagnostic::Code;
use crate::core::scenario::Verb;
use crate::core::source::{AmdSrc, OperatorSrc, S};

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
