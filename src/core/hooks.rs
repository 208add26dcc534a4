//! Rhai hooks: the sandboxed engine that compiles (and later runs) scenario hook scripts.
//!
//! Hooks are custom logic written by the people who own a scenario, so the engine is
//! locked down: no file or module access, bounded operations, call depth and sizes.
//! A hook is a pure function of the call's data; it returns an outcome name.

use rhai::{AST, Engine};

/// Upper bounds for one hook call; a script that hits one fails the hook (`failed` outcome).
pub const MAX_OPERATIONS: u64 = 100_000;
pub const MAX_CALL_LEVELS: usize = 32;
pub const MAX_STRING_SIZE: usize = 64 * 1024;
pub const MAX_ARRAY_SIZE: usize = 10_000;
pub const MAX_MAP_SIZE: usize = 10_000;

/// The engine every hook compiles and runs on.
pub fn engine() -> Engine {
    let mut engine = Engine::new();
    // Hooks have no console: printing would interleave with the daemon's logs.
    engine.on_print(|_| {}).on_debug(|_, _, _| {});
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(64, 32)
        .set_max_string_size(MAX_STRING_SIZE)
        .set_max_array_size(MAX_ARRAY_SIZE)
        .set_max_map_size(MAX_MAP_SIZE)
        .set_max_modules(0);
    engine
}

/// A script that failed to compile: 1-based line and column (when Rhai knows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
}

/// Compiles a hook script.
pub fn compile(engine: &Engine, source: &str) -> Result<AST, ScriptError> {
    engine.compile(source).map_err(|err| {
        let pos = err.position();
        ScriptError {
            line: pos.line().map(|l| l as u32),
            column: pos.position().map(|c| c as u32),
            message: err.err_type().to_string(),
        }
    })
}

/// The parameter counts of the functions named `function` in a compiled script.
pub fn function_arities(ast: &AST, function: &str) -> Vec<usize> {
    ast.iter_functions()
        .filter(|f| f.name == function)
        .map(|f| f.params.len())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_and_finds_functions() {
        let engine = engine();
        let ast = compile(
            &engine,
            "fn pick(ctx) { if ctx.intent == \"yes\" { \"hot\" } else { \"cold\" } }",
        )
        .unwrap();
        assert_eq!(function_arities(&ast, "pick"), vec![1]);
        assert!(function_arities(&ast, "other").is_empty());
        let err = compile(&engine, "fn pick(ctx) {\n  let x = ;\n}").unwrap_err();
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn runaway_scripts_are_stopped() {
        let engine = engine();
        let result = engine.eval::<i64>("let x = 0; loop { x += 1; }");
        assert!(result.is_err());
    }
}
