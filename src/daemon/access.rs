//! The API's tokens for this daemon: the configured ones (`DIALFLOW_ADMIN_TOKENS`,
//! `DIALFLOW_READ_TOKENS`, `api.tokens_file`), else an admin token the daemon makes and
//! keeps beside the store (mode 0600), where the local commands find it. Made tokens
//! are for one machine: a daemon listening beyond loopback with none configured
//! refuses to start rather than serve a token nobody set up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::http::auth::{Auth, TokenError, TokenSet, generated_token_file};

/// Why the API's tokens cannot be settled.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error(
        "the API listens on {0}, beyond this machine, and no token is configured: set DIALFLOW_ADMIN_TOKENS (and DIALFLOW_READ_TOKENS) or api.tokens_file, or listen on 127.0.0.1"
    )]
    Unprotected(SocketAddr),
}

/// Who may use the API served at `addr`.
pub(super) struct Access {
    pub(super) addr: SocketAddr,
    pub(super) auth: Auth,
    /// The file of the token the daemon made, if it made one (the daemon says where
    /// it is; never the token).
    pub(super) token_file: Option<PathBuf>,
}

/// Settled before anything starts, so a daemon that may not serve its API stops
/// before it dials.
pub(super) fn settle(
    config: &Config,
    store: &Path,
    addr: SocketAddr,
    given: Option<TokenSet>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Access, AccessError> {
    let configured = match given {
        Some(tokens) => tokens,
        None => TokenSet::configured(env, config.api.tokens_file.as_deref())?,
    };
    if !configured.is_empty() {
        return Ok(Access {
            addr,
            auth: Auth::new(configured),
            token_file: None,
        });
    }
    if !addr.ip().is_loopback() {
        return Err(AccessError::Unprotected(addr));
    }
    let file = generated_token_file(store);
    let made = TokenSet::generated(&file)?;
    Ok(Access {
        addr,
        auth: Auth::new(made),
        token_file: Some(file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_loopback_a_daemon_without_tokens_refuses_and_says_how_to_fix_it() {
        let config: Config =
            serde_saphyr::from_str("ari: {url: 'http://127.0.0.1:8088', user: u}\n").unwrap();
        let dir = std::env::temp_dir().join(format!("dialflow-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = dir.join("s.redb");
        let open: SocketAddr = "0.0.0.0:8099".parse().unwrap();
        let e = settle(&config, &store, open, None, |_| None).err().unwrap();
        assert!(e.to_string().contains("DIALFLOW_ADMIN_TOKENS"), "{e}");
        assert!(
            !generated_token_file(&store).exists(),
            "no token made for it"
        );
        let with_token = |k: &str| {
            (k == "DIALFLOW_ADMIN_TOKENS").then(|| "a-long-enough-admin-token-123".to_string())
        };
        let access = settle(&config, &store, open, None, with_token).unwrap();
        assert_eq!(access.token_file, None);
        let local: SocketAddr = "127.0.0.1:8099".parse().unwrap();
        let access = settle(&config, &store, local, None, |_| None).unwrap();
        assert_eq!(access.token_file, Some(generated_token_file(&store)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
