//! One call through a scenario: the pure interpreter and its inputs and commands.

mod failure;
mod io;
mod machine;
pub mod pre_answer;

pub use failure::{FAILED_PREFIX, FailureReason, UnknownFailureReason};
pub use io::*;
pub use machine::CallMachine;
