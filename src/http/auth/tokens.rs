//! The API's bearer tokens: where they come from (the environment, a token file the
//! configuration names, or one the daemon makes for itself) and how a presented token
//! is checked. Only SHA-256 digests of the tokens are kept, and a presented token's
//! digest is compared with every known one in constant time (`subtle`), so neither the
//! memory of the process nor the time of an answer gives a token away.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every `GET`: campaigns, leads, attempts, status, metrics.
    Read,
    /// Everything, changes included.
    Admin,
    /// One agent's own routes (`/api/agent/…`, any method) and their own session, and
    /// nothing else: the token's name is the agent's id.
    Agent,
}

/// The environment variables holding tokens (several, comma-separated, so one can be
/// rotated without a gap).
pub const ADMIN_TOKENS_ENV: &str = "DIALFLOW_ADMIN_TOKENS";
pub const READ_TOKENS_ENV: &str = "DIALFLOW_READ_TOKENS";

/// Shorter tokens are refused: a guessable token is no lock.
pub const MIN_TOKEN_LEN: usize = 24;

/// Where the tokens in force came from (the daemon logs it, never the tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `DIALFLOW_ADMIN_TOKENS` / `DIALFLOW_READ_TOKENS`, and maybe a token file.
    Configured,
    /// None was configured: the daemon made an admin token and wrote it here (0600).
    Generated(PathBuf),
}

/// One known token: its name (for the log), its role, its digest.
#[derive(Clone)]
struct Known {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// The tokens the API accepts.
#[derive(Clone)]
pub struct TokenSet {
    known: Vec<Known>,
    origin: Origin,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names and roles only: never a token, nor its digest.
        let names: Vec<_> = self.known.iter().map(|k| (&k.name, k.role)).collect();
        f.debug_struct("TokenSet")
            .field("tokens", &names)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Why the tokens cannot be read or made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {path}: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error(
        "{place}: a token of {len} characters is too short (at least {MIN_TOKEN_LEN}; `dialflow token` makes one)"
    )]
    TooShort { place: String, len: usize },
    #[error("{place}: the token `{name}` is given twice")]
    Duplicate { place: String, name: String },
    #[error(
        "{place}: an agent token's name is the agent's id, and `{name}` is not one (letters, digits, `-`, `_`, `.`)"
    )]
    NotAnAgentId { place: String, name: String },
    #[error("cannot write the generated token to {path}: {source}")]
    WriteGenerated {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no randomness for a token: {0}")]
    Random(String),
}

/// One entry of a token file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    name: String,
    role: Role,
    token: String,
}

impl TokenSet {
    /// The configured tokens: the environment's (through `env`) and the token file's.
    /// Empty when none is configured.
    pub fn configured(
        env: impl Fn(&str) -> Option<String>,
        file: Option<&Path>,
    ) -> Result<TokenSet, TokenError> {
        let mut set = TokenSet {
            known: Vec::new(),
            origin: Origin::Configured,
        };
        for (var, role) in [
            (ADMIN_TOKENS_ENV, Role::Admin),
            (READ_TOKENS_ENV, Role::Read),
        ] {
            let value = env(var).unwrap_or_default();
            let tokens = value.split(',').map(str::trim).filter(|t| !t.is_empty());
            for (i, token) in tokens.enumerate() {
                set.add(format!("{var}[{i}]"), role, token, var)?;
            }
        }
        if let Some(path) = file {
            for entry in read_file(path)? {
                let place = format!("{} ({})", path.display(), entry.name);
                set.add(entry.name, entry.role, &entry.token, &place)?;
            }
        }
        Ok(set)
    }

    /// These tokens (name, role, token): for a daemon embedded in a program that
    /// makes its own (the demo, tests).
    pub fn given<'a>(
        tokens: impl IntoIterator<Item = (&'a str, Role, &'a str)>,
    ) -> Result<TokenSet, TokenError> {
        let mut set = TokenSet {
            known: Vec::new(),
            origin: Origin::Configured,
        };
        for (name, role, token) in tokens {
            set.add(name.to_string(), role, token, name)?;
        }
        Ok(set)
    }

    /// The admin token kept in `file`, made and written there (mode 0600) if the file
    /// holds none: for a daemon no token was configured for.
    pub fn generated(file: &Path) -> Result<TokenSet, TokenError> {
        let token = match read_generated(file) {
            Some(token) => token,
            None => write_generated(file)?,
        };
        let mut set = TokenSet {
            known: Vec::new(),
            origin: Origin::Generated(file.to_path_buf()),
        };
        set.add("generated".into(), Role::Admin, &token, "generated")?;
        Ok(set)
    }

    fn add(
        &mut self,
        name: String,
        role: Role,
        token: &str,
        place: &str,
    ) -> Result<(), TokenError> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(TokenError::TooShort {
                place: place.to_string(),
                len: token.len(),
            });
        }
        if role == Role::Agent && !crate::core::agents::is_valid_id(&name) {
            return Err(TokenError::NotAnAgentId {
                place: place.to_string(),
                name,
            });
        }
        if self.known.iter().any(|k| k.name == name) {
            return Err(TokenError::Duplicate {
                place: place.to_string(),
                name,
            });
        }
        self.known.push(Known {
            name,
            role,
            digest: digest(token),
        });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The role and name of `presented`, if it is a known token. Every known token is
    /// compared, whichever matches, so the time taken says nothing about which.
    pub fn check(&self, presented: &str) -> Option<(Role, &str)> {
        let wanted = digest(presented);
        let mut found = None;
        for known in &self.known {
            if bool::from(known.digest.ct_eq(&wanted)) {
                found = Some((known.role, known.name.as_str()));
            }
        }
        found
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn read_file(path: &Path) -> Result<Vec<FileEntry>, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    warn_if_readable_by_others(path);
    serde_saphyr::from_str(&text).map_err(|e| TokenError::BadFile {
        path: path.to_path_buf(),
        // The parser's message, which names the line and column, without the excerpt
        // of the file it would quote (a token may stand on the next line).
        message: e.without_snippet().to_string(),
    })
}

/// A token file others can read is a leak in waiting: said, not refused, since some
/// deployments mount secrets 0644 inside a container nobody else enters.
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "the token file {} can be read by others than its owner: chmod 600 it",
            path.display()
        );
    }
}

/// A new token: 32 random bytes, URL-safe base64, after a prefix that secret
/// scanners and people recognise.
pub fn new_token() -> Result<String, TokenError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(format!(
        "dfa_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The token a previous start wrote, if the file holds one.
fn read_generated(path: &Path) -> Option<String> {
    let token = std::fs::read_to_string(path).ok()?.trim().to_string();
    (token.len() >= MIN_TOKEN_LEN && !token.contains(char::is_whitespace)).then_some(token)
}

/// Makes a token and writes it to `path`, readable by its owner only.
fn write_generated(path: &Path) -> Result<String, TokenError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let token = new_token()?;
    let failed = |source| TokenError::WriteGenerated {
        path: path.to_path_buf(),
        source,
    };
    // A file left with other modes (or by someone else) is replaced, not reused.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(e)),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    Ok(token)
}

/// Where the daemon holding `store` keeps the token it made (`data/dialflow.redb` →
/// `data/dialflow.redb.token`); the commands read it from there.
pub fn generated_token_file(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".token");
    PathBuf::from(name)
}

/// The token the commands send: `DIALFLOW_API_TOKEN`, else the one the daemon holding
/// `store` made.
pub fn command_token(env: impl Fn(&str) -> Option<String>, store: &Path) -> Option<String> {
    env(COMMAND_TOKEN_ENV)
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_string())
        .or_else(|| read_generated(&generated_token_file(store)))
}

/// The variable the commands read their token from.
pub const COMMAND_TOKEN_ENV: &str = "DIALFLOW_API_TOKEN";

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-token-0123456789abcdef";
    const READ: &str = "read-token-0123456789abcdef";

    fn env(vars: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let vars = vars.to_vec();
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn tokens_from_the_environment_get_their_role_and_nothing_else_passes() {
        let set = TokenSet::configured(
            env(&[(ADMIN_TOKENS_ENV, ADMIN), (READ_TOKENS_ENV, READ)]),
            None,
        )
        .unwrap();
        assert_eq!(set.check(ADMIN).map(|c| c.0), Some(Role::Admin));
        assert_eq!(set.check(READ).map(|c| c.0), Some(Role::Read));
        assert_eq!(set.check("admin-token-0123456789abcdeF"), None);
        assert_eq!(set.check(""), None);
        let shown = format!("{set:?}");
        assert!(!shown.contains(ADMIN) && !shown.contains(READ), "{shown}");
    }

    #[test]
    fn several_tokens_in_a_variable_let_one_be_rotated() {
        let set = TokenSet::configured(
            env(&[(
                ADMIN_TOKENS_ENV,
                "old-token-0123456789abcdef , new-token-0123456789abcdef",
            )]),
            None,
        )
        .unwrap();
        assert!(set.check("old-token-0123456789abcdef").is_some());
        assert!(set.check("new-token-0123456789abcdef").is_some());
    }

    #[test]
    fn a_short_token_is_refused_naming_its_variable() {
        let e = TokenSet::configured(env(&[(READ_TOKENS_ENV, "secret")]), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "DIALFLOW_READ_TOKENS: a token of 6 characters is too short (at least 24; `dialflow token` makes one)"
        );
    }

    #[test]
    fn a_token_file_gives_names_and_roles_and_its_errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("dialflow-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tokens.yaml");
        std::fs::write(
            &file,
            format!("- name: grafana\n  role: read\n  token: {READ}\n- name: ops\n  role: admin\n  token: {ADMIN}\n"),
        )
        .unwrap();
        let set = TokenSet::configured(env(&[]), Some(&file)).unwrap();
        assert_eq!(set.check(READ), Some((Role::Read, "grafana")));
        assert_eq!(set.check(ADMIN), Some((Role::Admin, "ops")));
        let agent = "agent-token-0123456789abcdef";
        std::fs::write(
            &file,
            format!("- {{name: ali.r-7, role: agent, token: {agent}}}\n"),
        )
        .unwrap();
        let set = TokenSet::configured(env(&[]), Some(&file)).unwrap();
        assert_eq!(set.check(agent), Some((Role::Agent, "ali.r-7")));
        std::fs::write(
            &file,
            format!("- {{name: 'ali r', role: agent, token: {agent}}}\n"),
        )
        .unwrap();
        let e = TokenSet::configured(env(&[]), Some(&file))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`ali r` is not one"), "{e}");
        std::fs::write(
            &file,
            format!("- name: x\n  role: root\n  token: {ADMIN}\n"),
        )
        .unwrap();
        let e = TokenSet::configured(env(&[]), Some(&file))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tokens.yaml") && e.contains("line 2"), "{e}");
        assert!(!e.contains(ADMIN), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn with_none_configured_a_token_is_made_once_kept_0600_and_read_by_the_commands() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("dialflow-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = dir.join("s.redb");
        let file = generated_token_file(&store);
        let set = TokenSet::generated(&file).unwrap();
        assert_eq!(set.origin(), &Origin::Generated(file.clone()));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let token = command_token(env(&[]), &store).expect("the commands find it");
        assert!(token.starts_with("dfa_") && token.len() > 40, "{token}");
        assert_eq!(set.check(&token).map(|c| c.0), Some(Role::Admin));
        // A restart keeps it: scripts that read it go on working.
        let again = TokenSet::generated(&file).unwrap();
        assert!(again.check(&token).is_some());
        // A variable wins over the file.
        let mine = command_token(env(&[(COMMAND_TOKEN_ENV, ADMIN)]), &store);
        assert_eq!(mine.as_deref(), Some(ADMIN));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
