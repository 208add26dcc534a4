//! The prompt pass: every prompt a node plays is a file of the scenario's prompt set.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use serde_saphyr::Location;

use super::names::{did_you_mean, is_file_name};
use super::{Cx, Environment};
use crate::core::diagnostic::{Code, Severity};

impl Cx<'_> {
    /// Every prompt the scenario plays, checked against the prompt set when the
    /// environment is known; the audio length of each that was read.
    pub(super) fn check_prompts(
        &mut self,
        set: &str,
        set_loc: &Location,
        refs: &[(String, Range<usize>)],
        env: &Environment,
    ) -> BTreeMap<String, Option<u64>> {
        let mut prompts: BTreeMap<String, Option<u64>> = BTreeMap::new();
        for (name, bytes) in refs {
            if !is_file_name(name) {
                self.error(Code::BadName, bytes.clone(), format!("prompt name `{name}` must be a file name without folder (letters, digits, `_`, `-`)"));
                continue;
            }
            prompts.insert(name.clone(), None);
        }
        let Some(catalog) = &env.prompts else {
            return prompts;
        };
        if !catalog.exists {
            self.error_help(
                Code::MissingPromptSet,
                self.span(set_loc),
                format!("prompt set `{set}` not found: there is no folder {}", catalog.dir),
                "create the folder with the scenario's WAV prompts, or check without the environment (--no-environment)",
            );
            return prompts;
        }
        let mut reported: HashSet<&str> = HashSet::new();
        for (name, bytes) in refs {
            if !prompts.contains_key(name) {
                continue;
            }
            match catalog.files.get(name) {
                Some(Ok(ms)) => {
                    prompts.insert(name.clone(), Some(*ms));
                }
                Some(Err(why)) => {
                    if reported.insert(name) {
                        self.error(
                            Code::BadPromptAudio,
                            bytes.clone(),
                            format!("prompt `{name}` is unusable: {why}"),
                        );
                    }
                }
                None => {
                    let help = did_you_mean(name, catalog.files.keys().map(String::as_str));
                    self.push(
                        Severity::Error,
                        Code::UnknownPrompt,
                        bytes.clone(),
                        format!(
                            "unknown prompt `{name}`: no file {}/{name}.wav",
                            catalog.dir
                        ),
                        help,
                    );
                }
            }
        }
        prompts
    }
}
