//! What guards and templates may read: the variables `set` nodes write (with the type
//! of what they write), and the scope expressions are type-checked in.

use std::collections::HashMap;

use super::Cx;
use super::names::{closest, is_identifier};
use super::parse::NodeEntry;
use crate::core::diagnostic::Code;
use crate::core::expr::{self, Scope, ScopeError, Type, VarPath};
use crate::core::scenario::{NodeId, ResultTable};
use crate::core::source::Scalar;

/// Variables set by `set` nodes, with the type their value has.
pub(super) struct VarTypes(HashMap<String, Type>);

/// The names a guard may mention, for type-checking it.
pub(super) struct GuardScope<'a> {
    pub(super) intents: &'a [String],
    pub(super) results: &'a ResultTable,
    pub(super) nodes: &'a HashMap<String, NodeId>,
    pub(super) vars: &'a VarTypes,
}

impl Scope for GuardScope<'_> {
    fn lookup(&self, path: &VarPath) -> Result<Type, ScopeError> {
        self.variable_type(path)
            .map_err(ScopeError::UnknownVariable)
    }

    fn check_literal(&self, path: &VarPath, literal: &str) -> Result<(), ScopeError> {
        match path.to_string().as_str() {
            "intent" if !self.intents.iter().any(|i| i == literal) => {
                let hint = closest(literal, self.intents.iter().map(String::as_str))
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                Err(ScopeError::UnknownIntent(format!(
                    "`{literal}` is not a declared intent (declared: {}){hint}",
                    self.intents.join(", ")
                )))
            }
            "result" if !self.results.knows(literal) => Err(ScopeError::UnknownResult(format!(
                "`{literal}` is not a known result"
            ))),
            "amd.status" if !["HUMAN", "MACHINE", "NOTSURE"].contains(&literal) => {
                Err(ScopeError::NeverHeld(format!(
                    "`{literal}` is not an AMD status (HUMAN, MACHINE, NOTSURE)"
                )))
            }
            _ => Ok(()),
        }
    }
}

impl GuardScope<'_> {
    /// The type of a variable, or the words saying why there is no such variable.
    fn variable_type(&self, path: &VarPath) -> Result<Type, String> {
        let parts: Vec<&str> = path.0.iter().map(String::as_str).collect();
        match parts.as_slice() {
            ["intent" | "transcript" | "digits" | "result"] => Ok(Type::Str),
            ["attempt"] => Ok(Type::Num),
            ["elapsed"] => Ok(Type::Duration),
            ["amd", "status" | "cause"] => Ok(Type::Str),
            ["lead", "name" | "phone" | "timezone"] => Ok(Type::Str),
            ["lead", "custom", _] => Ok(Type::Str),
            ["lead", other] => Err(match closest(other, ["name", "phone", "timezone"]) {
                Some(field) => {
                    format!("unknown lead field `lead.{other}`; did you mean `lead.{field}`?")
                }
                None => format!(
                    "unknown lead field `lead.{other}`: leads have name, phone and timezone; other columns are `lead.custom.{other}`"
                ),
            }),
            ["visits", node] => {
                if self.nodes.contains_key(*node) {
                    Ok(Type::Num)
                } else {
                    let hint = closest(node, self.nodes.keys().map(String::as_str))
                        .map(|c| format!(" (did you mean `visits.{c}`?)"))
                        .unwrap_or_default();
                    Err(format!("`visits.{node}` names no node{hint}"))
                }
            }
            ["vars", name] => self.vars.0.get(*name).cloned().ok_or_else(|| {
                let hint = closest(name, self.vars.0.keys().map(String::as_str))
                    .map(|c| format!(" (did you mean `vars.{c}`?)"))
                    .unwrap_or_default();
                format!("`vars.{name}` is never set by a `set` node{hint}")
            }),
            _ => {
                let known = [
                    "intent",
                    "transcript",
                    "digits",
                    "result",
                    "attempt",
                    "elapsed",
                    "amd.status",
                    "amd.cause",
                    "lead.name",
                    "lead.phone",
                    "lead.timezone",
                ];
                let hint = closest(&path.to_string(), known)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                Err(format!(
                    "unknown variable `{path}`{hint}; variables are intent, transcript, digits, result, attempt, elapsed, amd.*, lead.*, vars.* and visits.*"
                ))
            }
        }
    }
}

impl Cx<'_> {
    /// The variables set anywhere, with their types; a variable set to two types is an error.
    pub(super) fn collect_vars(&mut self, nodes: &[NodeEntry]) -> VarTypes {
        let mut vars: HashMap<String, Type> = HashMap::new();
        for entry in nodes {
            let Some(set) = entry.src.as_ref().and_then(|n| n.set.as_ref()) else {
                continue;
            };
            for (key, value) in &set.value.0 {
                let Some(name) = var_name(&key.value) else {
                    continue;
                };
                let ty = match &value.value {
                    Scalar::Num(_) => Type::Num,
                    Scalar::Bool(_) => Type::Bool,
                    Scalar::Str(s) => match expr::parse_template(s) {
                        Ok(t) => match t.single_expr() {
                            Some(e) => shallow_type(e),
                            None => Type::Str,
                        },
                        Err(_) => Type::Any,
                    },
                };
                match vars.get(name) {
                    Some(prev) if *prev != ty && *prev != Type::Any && ty != Type::Any => {
                        self.error(
                            Code::TypeMismatch,
                            self.span(&value.referenced),
                            format!(
                                "`vars.{name}` is set to a {ty} here but to a {prev} elsewhere"
                            ),
                        );
                    }
                    Some(Type::Any) | None => {
                        vars.insert(name.to_string(), ty);
                    }
                    Some(_) => {}
                }
            }
        }
        VarTypes(vars)
    }
}

/// The type of an expression as far as its shape tells, before variables are known:
/// comparisons are booleans, `len` a number, and so on.
fn shallow_type(e: &expr::Expr) -> Type {
    use expr::{ExprKind, Func};
    match &e.kind {
        ExprKind::Lit(v) => v.type_of(),
        ExprKind::Not(_)
        | ExprKind::And(..)
        | ExprKind::Or(..)
        | ExprKind::Cmp(..)
        | ExprKind::In { .. } => Type::Bool,
        ExprKind::Call(Func::Contains | Func::Matches, ..) => Type::Bool,
        ExprKind::Call(Func::Len, ..) => Type::Num,
        ExprKind::Call(Func::Lower, ..) => Type::Str,
        ExprKind::List(_) | ExprKind::Var(_) => Type::Any,
    }
}

/// The variable a `set` key writes (`offer` or `vars.offer`), if it is a valid name.
pub(super) fn var_name(key: &str) -> Option<&str> {
    let name = key.strip_prefix("vars.").unwrap_or(key);
    is_identifier(name).then_some(name)
}
