//! One call through a scenario: the pure interpreter and its inputs and commands.

mod io;
mod machine;
pub mod pre_answer;

pub use io::*;
pub use machine::CallMachine;
