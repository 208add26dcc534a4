//! The pure core: scenario language, compiler and (later) the per-call interpreter.
//!
//! Nothing here does I/O or reads a clock: time and file contents arrive as arguments.
//! `tests/core_is_pure.rs` enforces it.

pub mod analysis;
pub mod call;
pub mod campaign;
pub mod compile;
pub mod diagnostic;
pub mod expr;
pub mod picture;
pub mod scenario;
pub mod source;
pub mod testcase;
