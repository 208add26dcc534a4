//! The pure core: the scenario language and its compiler, the per-call interpreter
//! (`call`), the campaign rules (`campaign`) and the sandboxed hook engine (`hooks`).
//!
//! Nothing here does I/O or reads a clock: time and file contents arrive as arguments.
//! `tests/core_is_pure.rs` enforces it, and `tests/module_layers.rs` that the core
//! imports nothing from outside itself.

pub mod agent_time;
pub mod agents;
pub mod alerts;
pub mod analysis;
pub mod call;
pub mod campaign;
pub mod compile;
pub mod delivery;
pub mod diagnostic;
pub mod expr;
pub mod hooks;
pub mod picture;
pub mod scenario;
pub mod schema;
pub mod source;
pub mod testcase;
