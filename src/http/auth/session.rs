//! Browser sessions: the dashboard trades a token for a session id in an HttpOnly,
//! SameSite=Strict cookie, so no script on the page ever holds the token. Each session
//! has its own CSRF token, which a change sent with the cookie must carry in the
//! `X-CSRF-Token` header: a custom header no other site can make a browser send.
//! Sessions live in memory (a restart logs everyone out), at most `MAX_SESSIONS` of
//! them, each for `SESSION_TTL`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::tokens::{Role, TokenError, new_token};

/// The cookie's name.
pub const COOKIE: &str = "dialflow_session";
/// The header a cookie-authenticated change must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts from its login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// More logins than this push the oldest session out, so a flood of logins cannot
/// grow the daemon's memory.
pub const MAX_SESSIONS: usize = 1_000;

/// One logged-in browser.
#[derive(Clone)]
pub struct Session {
    pub role: Role,
    /// The name of the token it logged in with (for the log).
    pub token_name: String,
    pub csrf: String,
    expires: Instant,
}

/// The sessions, keyed by the SHA-256 of their id (the id itself is only in the cookie).
#[derive(Default)]
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// Opens a session; its id (for the cookie) and the session.
    pub fn open(&self, role: Role, token_name: &str) -> Result<(String, Session), TokenError> {
        let id = new_token()?;
        let session = Session {
            role,
            token_name: token_name.to_string(),
            csrf: new_token()?,
            expires: Instant::now() + SESSION_TTL,
        };
        let mut sessions = self.lock();
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(digest(&id), session.clone());
        Ok((id, session))
    }

    /// The live session of cookie value `id`.
    pub fn find(&self, id: &str) -> Option<Session> {
        let sessions = self.lock();
        let session = sessions.get(&digest(id))?;
        (session.expires > Instant::now()).then(|| session.clone())
    }

    /// Ends the session of `id` (logout).
    pub fn close(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// Never poisoned: nothing panics while holding it.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.by_digest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Session {
    /// Whether `presented` is this session's CSRF token (in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        self.csrf.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_only_until_it_is_closed() {
        let sessions = Sessions::default();
        let (id, session) = sessions.open(Role::Read, "grafana").unwrap();
        assert_ne!(id, session.csrf);
        let found = sessions.find(&id).expect("found");
        assert_eq!(found.role, Role::Read);
        assert!(found.csrf_matches(&session.csrf));
        assert!(!found.csrf_matches("other"));
        assert!(sessions.find(&session.csrf).is_none());
        sessions.close(&id);
        assert!(sessions.find(&id).is_none());
    }

    #[test]
    fn logins_past_the_cap_push_the_oldest_out() {
        let sessions = Sessions::default();
        let (first, _) = sessions.open(Role::Admin, "a").unwrap();
        for _ in 0..MAX_SESSIONS {
            sessions.open(Role::Admin, "a").unwrap();
        }
        assert!(sessions.find(&first).is_none());
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
    }
}
