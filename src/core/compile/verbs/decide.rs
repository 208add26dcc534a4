//! The verbs that decide where the call goes: `classify` (what the customer said),
//! `branch` (guards over the call's variables) and `set` (variables for later guards).

use serde_saphyr::Spanned;

use super::{NodeCtx, NodeState};
use crate::core::compile::Cx;
use crate::core::compile::names::did_you_mean;
use crate::core::compile::scope::var_name;
use crate::core::diagnostic::{Code, Severity};
use crate::core::expr::{self, Expr, ExprError, ExprErrorKind, ExprKind, Type, Value, VarPath};
use crate::core::scenario::{Case, NodeId, Verb};
use crate::core::source::{CaseSrc, ClassifySrc, OrderedMap, S, Scalar};

impl Cx<'_> {
    pub(super) fn classify(
        &mut self,
        ctx: &NodeCtx,
        classify: &S<Option<ClassifySrc>>,
        state: &mut NodeState,
    ) -> Verb {
        let c = classify.value.as_ref();
        let recording = self.recording(ctx, c.and_then(|c| c.recording.as_ref()));
        let filler = c
            .and_then(|c| c.filler.as_ref())
            .map(|f| state.prompt(self, f, &classify.referenced));
        let timeout_ms = self.duration(
            "timeout",
            &c.and_then(|c| c.timeout.clone()),
            10_000,
            500,
            120_000,
        );
        let post = match c.and_then(|c| c.post.as_ref()) {
            Some(hook) => {
                if let Some(o) = &hook.value.outcomes {
                    self.error(
                        Code::BadValue,
                        self.span(&o.referenced),
                        "a classify `post` hook returns an intent name; it has no `outcomes`",
                    );
                }
                Some(self.hook_script(ctx, hook, state))
            }
            None => None,
        };
        Verb::Classify {
            recording,
            filler,
            timeout_ms,
            post,
        }
    }

    /// The `record` node whose recording a classify hears (the latest one when unnamed).
    fn recording(&mut self, ctx: &NodeCtx, named: Option<&S<String>>) -> Option<NodeId> {
        let Some(r) = named else {
            if ctx.record_nodes.is_empty() {
                let node_name = ctx.name.value.as_str();
                self.error(
                    Code::UnknownRecording,
                    self.span(&ctx.name.referenced),
                    format!(
                        "node `{node_name}` classifies a recording, but no `record` node makes one"
                    ),
                );
            }
            return None;
        };
        if ctx.record_nodes.contains(r.value.as_str()) {
            return ctx.ids.get(&r.value).copied();
        }
        let help = did_you_mean(&r.value, ctx.record_nodes.iter().copied());
        let msg = if ctx.ids.contains_key(&r.value) {
            format!(
                "`{}` is not a `record` node, so it makes no recording",
                r.value
            )
        } else {
            format!("no `record` node is called `{}`", r.value)
        };
        self.push(
            Severity::Error,
            Code::UnknownRecording,
            self.span(&r.referenced),
            msg,
            help,
        );
        None
    }

    pub(super) fn branch(&mut self, ctx: &NodeCtx, branch: &S<Vec<S<CaseSrc>>>) -> Verb {
        if branch.value.is_empty() {
            self.error(
                Code::BadValue,
                self.span(&branch.referenced),
                "`branch` needs at least one `when:` case",
            );
        }
        let cases = branch
            .value
            .iter()
            .map(|case| self.case(ctx, case))
            .collect();
        Verb::Branch { cases }
    }

    /// One `when:` case: its guard parsed and type-checked as a boolean.
    fn case(&mut self, ctx: &NodeCtx, case: &S<CaseSrc>) -> Case {
        let when = &case.value.when;
        let guard = match expr::parse_guard(&when.value) {
            Ok(mut guard) => {
                let mut errors = Vec::new();
                let ty = expr::check(&mut guard, ctx.scope, &mut errors);
                if let Some(ty) = ty
                    && ty != Type::Bool
                    && ty != Type::Any
                {
                    errors.push(ExprError {
                        span: 0..when.value.len(),
                        message: format!(
                            "a `when:` guard must be true or false, but this is a {ty}"
                        ),
                        kind: ExprErrorKind::TypeMismatch,
                    });
                }
                self.expr_errors(when, &case.referenced, errors);
                guard
            }
            Err(err) => {
                self.expr_errors(when, &case.referenced, vec![err]);
                // The error discards the scenario; a case that never holds keeps the
                // cases numbered as written, so the routes pass checks each one's route.
                Expr {
                    kind: ExprKind::Lit(Value::Bool(false)),
                    span: 0..0,
                }
            }
        };
        Case {
            source: when.value.clone(),
            guard,
        }
    }

    pub(super) fn set(&mut self, ctx: &NodeCtx, set: &S<OrderedMap<S<Scalar>>>) -> Verb {
        let mut assignments = Vec::new();
        if set.value.0.is_empty() {
            self.error(
                Code::BadValue,
                self.span(&set.referenced),
                "`set` needs at least one variable",
            );
        }
        for (key, value) in &set.value.0 {
            let Some(name) = var_name(&key.value) else {
                self.error(Code::BadName, self.span(&key.referenced), format!("`{}` cannot be set: `set` writes variables such as `offer` (read back as `vars.offer`)", key.value));
                continue;
            };
            let text = match &value.value {
                Scalar::Str(s) => s.clone(),
                other => format!("{{{{ {other} }}}}"),
            };
            let scalar = Spanned {
                value: text.clone(),
                referenced: value.referenced,
                defined: value.defined,
            };
            match expr::parse_template(&text) {
                Ok(mut template) => {
                    let mut errors = Vec::new();
                    for part in &mut template.parts {
                        if let expr::TemplatePart::Expr(e) = part {
                            expr::check(e, ctx.scope, &mut errors);
                        }
                    }
                    self.expr_errors(&scalar, &value.referenced, errors);
                    assignments.push((VarPath(vec!["vars".into(), name.to_string()]), template));
                }
                Err(err) => self.expr_errors(&scalar, &value.referenced, vec![err]),
            }
        }
        Verb::Set { assignments }
    }
}
