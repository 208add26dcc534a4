//! `dialflow token`: prints a new API token (32 random bytes), to put in
//! `DIALFLOW_ADMIN_TOKENS`, `DIALFLOW_READ_TOKENS` or a token file.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct TokenArgs {}

pub fn run(_args: &TokenArgs) -> ExitCode {
    match crate::http::auth::new_token() {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
