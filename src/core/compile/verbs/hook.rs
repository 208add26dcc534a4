//! The `hook` verb, and the Rhai scripts of hooks (a `hook` node's, or a classify's
//! `post`): compiled once per file on one sandboxed engine, their errors placed in the
//! script file or in the scenario's inline `code:`.

use std::ops::Range;
use std::sync::Arc;

use super::{NodeCtx, NodeState};
use crate::core::compile::Cx;
use crate::core::compile::names::{did_you_mean, is_identifier, reserved_outcome_names};
use crate::core::diagnostic::{Code, Diagnostic, Severity, SourceText};
use crate::core::hooks;
use crate::core::scenario::{HookScript, Verb, VerbKind};
use crate::core::source::{HookSrc, S};

impl Cx<'_> {
    pub(super) fn hook(&mut self, ctx: &NodeCtx, hook: &S<HookSrc>, state: &mut NodeState) -> Verb {
        let h = &hook.value;
        let mut outcomes: Vec<String> = Vec::new();
        let declared: &[S<String>] = h.outcomes.as_ref().map_or(&[], |o| o.value.as_slice());
        let reserved = reserved_outcome_names(VerbKind::Hook);
        for o in declared {
            let bytes = self.span(&o.referenced);
            if !is_identifier(&o.value) || reserved.contains(&o.value) {
                let (last, others) = reserved.split_last().expect("`default` is reserved");
                let message = format!(
                    "hook outcome `{}` must be an identifier other than {} and {last}",
                    o.value,
                    others.join(", ")
                );
                self.error(Code::BadName, bytes, message);
            } else if outcomes.contains(&o.value) {
                self.error(
                    Code::DuplicateName,
                    bytes,
                    format!("hook outcome `{}` is listed twice", o.value),
                );
            } else {
                outcomes.push(o.value.clone());
            }
        }
        if declared.is_empty() {
            let at = h
                .outcomes
                .as_ref()
                .map_or(hook.referenced, |o| o.referenced);
            self.error(
                Code::BadValue,
                self.span(&at),
                "a hook needs at least one outcome (`outcomes: [...]`)",
            );
        }
        let (script, function) = self.hook_script(ctx, hook, state);
        Verb::Hook {
            script,
            function,
            outcomes,
        }
    }

    /// Compiles the Rhai script of a hook (file or inline) and checks its function.
    pub(super) fn hook_script(
        &mut self,
        ctx: &NodeCtx,
        hook: &S<HookSrc>,
        state: &mut NodeState,
    ) -> (Arc<HookScript>, String) {
        let h = &hook.value;
        let script = match (&h.script, &h.code) {
            (Some(path), None) => self.script_file(ctx, path, state),
            (None, Some(code)) => self.inline_script(ctx, code, state),
            (Some(_), Some(code)) => {
                self.error(
                    Code::YamlSchema,
                    self.span(&code.referenced),
                    "a hook has either `script` or `code`, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    Code::YamlSchema,
                    self.span(&hook.referenced),
                    "a hook needs `script: file.rhai` or inline `code:`",
                );
                None
            }
        };
        let function = h.function.value.clone();
        if let Some(script) = &script {
            self.check_hook_function(script, &h.function);
        }
        // Without the environment a script file is not read; keep an empty placeholder AST.
        let script = script.unwrap_or_else(|| {
            Arc::new(HookScript {
                origin: h
                    .script
                    .as_ref()
                    .map_or_else(|| "<inline>".into(), |s| s.value.clone()),
                ast: rhai::AST::empty(),
                engine: state.engine(),
            })
        });
        (script, function)
    }

    /// A hook's script file, compiled the first time a hook names it.
    fn script_file(
        &mut self,
        ctx: &NodeCtx,
        path: &S<String>,
        state: &mut NodeState,
    ) -> Option<Arc<HookScript>> {
        let key = path.value.clone();
        if let Some(done) = state.scripts.get(&key) {
            return done.clone();
        }
        let compiled = match ctx.env.scripts.get(&key) {
            Some(Ok(text)) => {
                let display = script_display_name(&self.src.name, &key);
                let script_src = SourceText::new(display.clone(), text.clone());
                match hooks::compile(&state.engine(), text) {
                    Ok(ast) => Some(Arc::new(HookScript {
                        origin: display,
                        ast,
                        engine: state.engine(),
                    })),
                    Err(err) => {
                        let offset =
                            script_src.offset_of(err.line.unwrap_or(1), err.column.unwrap_or(1));
                        let position = script_src.position(offset..offset + 1);
                        self.diags.push(Diagnostic {
                            severity: Severity::Error,
                            code: Code::HookSyntax,
                            file: display,
                            position,
                            message: format!("hook script does not compile: {}", err.message),
                            help: None,
                        });
                        self.extra_sources.push(script_src);
                        None
                    }
                }
            }
            Some(Err(why)) => {
                self.error(
                    Code::FileUnreadable,
                    self.span(&path.referenced),
                    format!("cannot read hook script `{key}`: {why}"),
                );
                None
            }
            None => None, // Environment checks are off: the script is not looked at.
        };
        state.scripts.insert(key, compiled.clone());
        compiled
    }

    /// A hook's inline `code:`.
    fn inline_script(
        &mut self,
        ctx: &NodeCtx,
        code: &S<String>,
        state: &mut NodeState,
    ) -> Option<Arc<HookScript>> {
        match hooks::compile(&state.engine(), &code.value) {
            Ok(ast) => Some(Arc::new(HookScript {
                origin: format!("<inline hook of node {}>", ctx.name.value),
                ast,
                engine: state.engine(),
            })),
            Err(err) => {
                let bytes = self.hook_code_position(code, err.line, err.column);
                self.error(
                    Code::HookSyntax,
                    bytes,
                    format!("hook code does not compile: {}", err.message),
                );
                None
            }
        }
    }

    /// The hook's function is defined in its script and takes the call's data.
    fn check_hook_function(&mut self, script: &HookScript, function: &S<String>) {
        let name = &function.value;
        let arities = hooks::function_arities(&script.ast, name);
        if arities.iter().any(|&a| a <= 1) {
            return;
        }
        let names: Vec<&str> = script.ast.iter_functions().map(|f| f.name).collect();
        let help = did_you_mean(name, names.iter().copied()).unwrap_or_else(|| {
            "define it as `fn name(ctx) { … }` returning an outcome name".into()
        });
        let msg = if arities.is_empty() {
            format!("hook function `{name}` is not defined in {}", script.origin)
        } else {
            format!(
                "hook function `{name}` must take one argument (the call's data), not {}",
                arities[0]
            )
        };
        self.push(
            Severity::Error,
            Code::HookMissingFunction,
            self.span(&function.referenced),
            msg,
            Some(help),
        );
    }

    /// Where a Rhai error inside inline `code:` is in the file: exact for plain,
    /// double-quoted (escapes walked) and block (`|`) scalars.
    fn hook_code_position(
        &self,
        code: &S<String>,
        line: Option<u32>,
        column: Option<u32>,
    ) -> Range<usize> {
        let whole = self.span(&code.referenced);
        let (Some(line), column) = (line, column.unwrap_or(1)) else {
            return whole;
        };
        let text = &self.src.text;
        let value = code.value.as_str();
        let within = SourceText::new("", value).offset_of(line, column);
        let at = |offset: usize| offset..(offset + 1).min(text.len()).max(offset);
        // Plain and single-line scalars appear verbatim.
        for start in [whole.start, whole.start + 1] {
            if text.get(start..start + value.len()) == Some(value) {
                return at(start + within);
            }
        }
        match text.as_bytes().get(whole.start) {
            Some(b'"') => {
                // Walk the quoted text: each escape is several source bytes for one char.
                let mut src_i = whole.start + 1;
                let mut val_i = 0;
                let bytes = text.as_bytes();
                while val_i < within && src_i < text.len() {
                    let step = if bytes[src_i] == b'\\' {
                        match bytes.get(src_i + 1) {
                            Some(b'x') => 4,
                            Some(b'u') => 6,
                            Some(b'U') => 10,
                            _ => 2,
                        }
                    } else {
                        text[src_i..].chars().next().map_or(1, char::len_utf8)
                    };
                    let produced = if bytes[src_i] == b'\\' { 1 } else { step };
                    src_i += step;
                    val_i += produced;
                }
                at(src_i)
            }
            Some(b'|' | b'>') => {
                let (scalar_line, _) = self.src.line_col(whole.start);
                self.block_position(scalar_line + 1, line, column)
            }
            _ => {
                // The span starts at the block's first content line.
                let (first_line, _) = self.src.line_col(whole.start);
                self.block_position(first_line, line, column)
            }
        }
    }

    /// Line `line`, column `column` of a block scalar whose content starts on `first_line`;
    /// columns count from the block's indentation.
    fn block_position(&self, first_line: u32, line: u32, column: u32) -> Range<usize> {
        let first = self.src.offset_of(first_line, 1);
        let indent = self.src.text[first..]
            .chars()
            .take_while(|c| *c == ' ')
            .count() as u32;
        let offset = self.src.offset_of(first_line + line - 1, indent + column);
        offset..(offset + 1).min(self.src.text.len()).max(offset)
    }
}

impl NodeState {
    /// The scenario's one hook engine, made when the first hook needs it.
    fn engine(&mut self) -> Arc<rhai::Engine> {
        self.engine
            .get_or_insert_with(|| Arc::new(hooks::engine()))
            .clone()
    }
}

/// A hook script's path as the user knows it: next to the scenario file.
fn script_display_name(scenario_file: &str, script: &str) -> String {
    match std::path::Path::new(scenario_file).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(script).display().to_string(),
        _ => script.to_string(),
    }
}
