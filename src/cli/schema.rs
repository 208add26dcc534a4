//! `dialflow schema`: print the JSON Schema of scenario files, for editors.

use std::process::ExitCode;

use clap::Args;

use crate::core::schema;

#[derive(Debug, Args)]
pub struct SchemaArgs {}

pub fn run(_args: &SchemaArgs) -> ExitCode {
    match serde_json::to_string_pretty(&schema::scenario_schema()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write the schema as JSON: {e}");
            ExitCode::FAILURE
        }
    }
}
