//! Loading scenarios from disk: finds the files, reads the prompt set and hook scripts
//! a scenario names, and hands everything to the pure compiler.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::core::compile::{
    self, Compiled, Environment, PromptCatalog, PromptUnusable, ScriptUnreadable,
};
use crate::core::diagnostic::{Code, Diagnostic, Severity, SourceText};

/// Where to look for prompt sets, and whether to look at all.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Root of the prompt sets (`<dir>/<set>/<prompt>.wav`). When `None`, the `prompts`
    /// folder beside the scenario's folder is used (`scenarios/../prompts`), else `./prompts`.
    pub prompts_dir: Option<PathBuf>,
    /// Skip every check that reads files other than the scenario (like `vector validate
    /// --no-environment`): prompt files and hook scripts.
    pub no_environment: bool,
    /// The agent queues the configuration defines, for `connect_agent`'s check; `None`
    /// when no configuration is known (then any queue name passes).
    pub queues: Option<BTreeSet<String>>,
}

/// The sample rate dialflow's prompts must have (what Asterisk plays without transcoding).
pub const PROMPT_SAMPLE_RATE: u32 = 8000;

/// Compiles one scenario file with its environment.
pub fn compile_file(path: &Path, options: &LoadOptions) -> Compiled {
    compile_file_keeping_texts(path, options).0
}

/// A file a scenario was compiled from, as it was read: the scenario's own text or a
/// hook script's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileText {
    pub path: String,
    pub text: String,
}

/// `compile_file`, with the texts it compiled (the scenario first, then its readable
/// hook scripts): what a version of the scenario keeps, read once, so they are exactly
/// what the compiled scenario's hash covers.
pub fn compile_file_keeping_texts(path: &Path, options: &LoadOptions) -> (Compiled, Vec<FileText>) {
    let name = path.display().to_string();
    let text = match fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                return (
                    unreadable(name, "the file is not UTF-8 text".into()),
                    vec![],
                );
            }
        },
        Err(err) => return (unreadable(name, err.to_string()), vec![]),
    };
    let env = environment(path, &text, options);
    let scenario_dir = path.parent().unwrap_or(Path::new("."));
    let mut texts = vec![FileText {
        path: name.clone(),
        text: text.clone(),
    }];
    texts.extend(env.scripts.iter().filter_map(|(script, body)| {
        let text = body.as_ref().ok()?.clone();
        let path = scenario_dir.join(script).display().to_string();
        Some(FileText { path, text })
    }));
    (compile::compile(SourceText::new(name, text), &env), texts)
}

fn unreadable(name: String, why: String) -> Compiled {
    let source = SourceText::new(name.clone(), String::new());
    Compiled {
        scenario: None,
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            code: Code::FileUnreadable,
            file: name.clone(),
            position: source.position(0..0),
            message: format!("cannot read {name}: {why}"),
            help: None,
        }],
        sources: vec![source],
    }
}

/// Reads what the scenario refers to: its prompt set and its hook scripts.
pub fn environment(path: &Path, text: &str, options: &LoadOptions) -> Environment {
    if options.no_environment {
        return Environment {
            queues: options.queues.clone(),
            ..Environment::default()
        };
    }
    let refs = compile::references(text);
    let scenario_dir = path.parent().unwrap_or(Path::new("."));
    let mut env = Environment::default();
    if let Some(set) = &refs.prompt_set {
        let root = options
            .prompts_dir
            .clone()
            .unwrap_or_else(|| default_prompts_dir(scenario_dir));
        env.prompts = Some(read_prompt_set(&root.join(set)));
    }
    let mut scripts = BTreeMap::new();
    for script in refs.scripts {
        let file = scenario_dir.join(&script);
        let body = fs::read_to_string(&file).map_err(|e| ScriptUnreadable {
            path: file.display().to_string(),
            reason: e.to_string(),
        });
        scripts.insert(script, body);
    }
    env.scripts = scripts;
    env.queues = options.queues.clone();
    env
}

fn default_prompts_dir(scenario_dir: &Path) -> PathBuf {
    let beside = scenario_dir.join("..").join("prompts");
    if beside.is_dir() {
        beside
    } else {
        PathBuf::from("prompts")
    }
}

/// Lists a prompt set's WAV files with their lengths.
pub fn read_prompt_set(dir: &Path) -> PromptCatalog {
    let mut catalog = PromptCatalog {
        dir: dir.display().to_string(),
        exists: dir.is_dir(),
        files: BTreeMap::new(),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return catalog;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("wav") {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        catalog
            .files
            .insert(stem.to_string(), prompt_length_ms(&path));
    }
    catalog
}

/// The length of a prompt in milliseconds, or why Asterisk could not play it as is.
pub fn prompt_length_ms(path: &Path) -> Result<u64, PromptUnusable> {
    let reader = hound::WavReader::open(path).map_err(|e| PromptUnusable::NotWav(e.to_string()))?;
    let spec = reader.spec();
    if spec.sample_rate != PROMPT_SAMPLE_RATE || spec.channels != 1 || spec.bits_per_sample != 16 {
        return Err(PromptUnusable::WrongFormat {
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            bits_per_sample: spec.bits_per_sample,
        });
    }
    Ok(u64::from(reader.duration()) * 1000 / u64::from(spec.sample_rate))
}

/// Why the scenario files under a path cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioFilesError {
    #[error("cannot list {}: {source}", path.display())]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no such file or folder", .0.display())]
    Missing(PathBuf),
}

/// Scenario files under the given paths: files as they are, folders searched for
/// `*.yaml`/`*.yml` (sorted, so output is stable).
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioFilesError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = fs::read_dir(path)
                .map_err(|source| ScenarioFilesError::List {
                    path: path.clone(),
                    source,
                })?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .filter(|p| !p.to_string_lossy().ends_with(".test.yaml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(ScenarioFilesError::Missing(path.clone()));
        }
    }
    Ok(files)
}
