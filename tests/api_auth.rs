//! Who may use the API, over real HTTP on loopback: every route (each protected
//! operation of the API's OpenAPI document, and routes it does not have) refuses a
//! missing or wrong token (401, JSON, `WWW-Authenticate`), a read-only token may not
//! change anything (403, and nothing is half-applied), an agent's token may use the
//! routes under `/api/agent/` and nothing else, which no other token may (403 both
//! ways), the health probes are open, and
//! the dashboard's login trades a token for an HttpOnly SameSite=Strict cookie whose
//! changes need the session's CSRF token. No answer ever carries a token.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use common::cli::dialflow;
use common::dirs::TempDir;
use common::openapi::operations;
use dialflow::http::auth::{Auth, Role, TokenSet};
use dialflow::http::{ApiState, router};
use dialflow::scenario_set::SharedScenarios;
use dialflow::store::Store;
use reqwest::Method;
use serde_json::Value;

const ADMIN: &str = "auth-test-admin-token-0123456789";
const READ: &str = "auth-test-read-token-0123456789";
const AGENT: &str = "auth-test-agent-token-0123456789";

/// Requests the document does not describe: the router refuses them all the same.
const UNDOCUMENTED: &[(&str, &str)] = &[
    ("GET", "/api/no-such-route"),
    ("DELETE", "/api/campaigns/spring"),
    ("GET", "/api/agent/no-such-route"),
    ("POST", "/api/agent/no-such-route"),
];

/// A change a reader may not make and an admin may.
const CREATE: (&str, &str) = (
    "/api/campaigns",
    r#"{"name": "spring", "settings": {"scenario": "salehi"}}"#,
);

/// Every request the matrix sends: each operation of the API's OpenAPI document that
/// asks for credentials (its path filled in, its documented example as the body), so
/// a new route is in it without anyone listing it, and the undocumented ones.
fn requests() -> Vec<(String, String, String)> {
    let doc = serde_json::to_value(dialflow::http::openapi_document()).unwrap();
    let mut out: Vec<_> = operations(&doc)
        .into_iter()
        .filter(|op| op.secured)
        .map(|op| {
            (
                op.method,
                op.path,
                op.body.map(|(_, b)| b).unwrap_or_default(),
            )
        })
        .collect();
    assert!(out.len() >= 20, "{} protected operations", out.len());
    for (method, path) in UNDOCUMENTED {
        out.push((method.to_string(), path.to_string(), String::new()));
    }
    out
}

struct Api {
    addr: SocketAddr,
    http: reqwest::Client,
    store: Arc<Store>,
}

async fn serve(dir: &TempDir) -> Api {
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let tokens = TokenSet::given([
        ("ops", Role::Admin, ADMIN),
        ("grafana", Role::Read, READ),
        ("ali", Role::Agent, AGENT),
    ])
    .unwrap();
    let state = ApiState::new(
        Arc::clone(&store),
        SharedScenarios::new(BTreeMap::new()),
        Auth::new(tokens),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let tls = dialflow::tls::client_config(None).unwrap();
    let http = dialflow::tls::http_client_builder(&tls)
        // The cookie is the test's to carry, as the browser's is.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Api { addr, http, store }
}

/// A response's status, headers and body text.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Api {
    async fn send(&self, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.addr));
        if !body.is_empty() {
            let kind = if body.starts_with('{') {
                "application/json"
            } else {
                "text/csv"
            };
            request = request.header("content-type", kind).body(body.to_string());
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = common::body_text(response).await;
        for token in [ADMIN, READ, AGENT] {
            assert!(
                !text.contains(token),
                "{path}: a token in the answer: {text}"
            );
        }
        Answer {
            status,
            headers,
            text,
        }
    }
}

/// Asserts what a reader's, an agent's and (on the agent routes) an admin's token get
/// for one request: each is let through or refused (403) by the route's kind alone,
/// but for the caller's own session, which every role reads.
async fn by_role(api: &Api, method: &str, path: &str, body: &str) {
    let what = format!("{method} {path}");
    let as_token = |token: &str| [("authorization", bearer(token))];
    let send = |token: &str| {
        let headers = as_token(token);
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api.send(method, path, body, &headers).await
        }
    };
    let agent = send(AGENT).await;
    let read = send(READ).await;
    if path.starts_with("/api/agent/") {
        assert!(
            ![401, 403].contains(&agent.status),
            "{what}: {}",
            agent.text
        );
        for answer in [read, send(ADMIN).await] {
            assert_eq!(answer.status, 403, "{what}: {}", answer.text);
            assert!(
                error_of(&answer).contains("the agent's own token"),
                "{what}"
            );
        }
        return;
    }
    if what == "GET /api/session" {
        // Every role reads its own session: the agent's page needs its CSRF token.
        for answer in [agent, read] {
            assert_eq!(answer.status, 200, "{what}: {}", answer.text);
        }
        return;
    }
    assert_eq!(agent.status, 403, "{what}: {}", agent.text);
    assert!(error_of(&agent).contains("/api/agent/"), "{what}");
    if method == "GET" {
        assert!(
            ![401, 403].contains(&read.status),
            "a reader may {what}: {}",
            read.text
        );
    } else {
        assert_eq!(read.status, 403, "{what}: {}", read.text);
        assert!(error_of(&read).contains("admin token"), "{what}");
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn error_of(answer: &Answer) -> String {
    let body: Value =
        serde_json::from_str(&answer.text).unwrap_or_else(|_| panic!("not JSON: {}", answer.text));
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_string()
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_wrong_token_a_reader_s_change_and_the_wrong_role() {
    let dir = TempDir::new("api-auth");
    let api = serve(&dir).await;
    let wrong = bearer("auth-test-wrong-token-0123456789");
    for (method, path, body) in &requests() {
        for headers in [
            vec![],
            vec![("authorization", wrong.as_str())],
            vec![("authorization", "Basic b3BzOm9wcw==")],
        ] {
            let answer = api.send(method, path, body, &headers).await;
            assert_eq!(
                answer.status, 401,
                "{method} {path} {headers:?}: {}",
                answer.text
            );
            assert_eq!(
                answer.headers["www-authenticate"], "Bearer realm=\"dialflow\"",
                "{method} {path}"
            );
            assert!(error_of(&answer).contains("token"), "{method} {path}");
        }
        by_role(&api, method, path, body).await;
    }
    // Nothing a refused request carried was applied.
    assert!(api.store.campaigns().unwrap().is_empty());
    assert!(
        api.store
            .dnc_list(&dialflow::store::DncScope::Global)
            .unwrap()
            .is_empty()
    );
    // The admin may do what the reader may not.
    let admin = bearer(ADMIN);
    let (path, body) = CREATE;
    let answer = api
        .send("POST", path, body, &[("authorization", &admin)])
        .await;
    assert!(answer.status < 300, "{}", answer.text);
    assert_eq!(api.store.campaigns().unwrap().len(), 1);
}

#[tokio::test]
async fn the_live_stream_and_the_dashboard_page_want_a_session() {
    let dir = TempDir::new("api-auth");
    let api = serve(&dir).await;
    let stream = api.send("GET", "/api/stream", "", &[]).await;
    assert_eq!(stream.status, 401);
    let page = api.send("GET", "/", "", &[]).await;
    assert_eq!(page.status, 401, "no page without a session");
    assert!(
        page.text.contains("id=\"token\""),
        "the login form: {}",
        page.text
    );
    assert!(!page.text.contains("Live calls"));
    let login = api
        .send(
            "POST",
            "/api/login",
            &format!(r#"{{"token": "{READ}"}}"#),
            &[],
        )
        .await;
    let (cookie, _) = set_cookie(&login);
    let page = api
        .send("GET", "/", "", &[("cookie", cookie.as_str())])
        .await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Live calls"));
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

/// `GET path`, with the session `cookie` if any.
async fn page(api: &Api, path: &str, cookie: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
    api.send("GET", path, "", &headers).await
}

/// The session cookie a token's login gives.
async fn session_of(api: &Api, token: &str) -> String {
    let body = format!(r#"{{"token": "{token}"}}"#);
    let login = api.send("POST", "/api/login", &body, &[]).await;
    assert_eq!(login.status, 200, "{}", login.text);
    set_cookie(&login).0
}

#[tokio::test]
async fn the_agent_page_is_an_agent_s_and_the_dashboard_is_not() {
    let dir = TempDir::new("api-auth");
    let api = serve(&dir).await;
    let agent = session_of(&api, AGENT).await;
    let reader = session_of(&api, READ).await;
    let mine = page(&api, "/agent", Some(&agent)).await;
    assert_eq!(mine.status, 200);
    assert!(mine.text.contains("Wrap-up"), "the agent's page");
    assert!(
        mine.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    // No session or a reader's: the login form.
    for cookie in [None, Some(reader.as_str())] {
        let answer = page(&api, "/agent", cookie).await;
        assert_eq!(answer.status, 401);
        assert!(answer.text.contains("id=\"token\""), "the login form");
    }
    // An agent at the dashboard is sent to their page.
    let sent = page(&api, "/", Some(&agent)).await;
    assert_eq!(sent.status, 303);
    assert_eq!(sent.headers["location"], "/agent");
    // Their page's CSRF token comes from their own session, which they may read.
    let session = page(&api, "/api/session", Some(&agent)).await;
    assert_eq!(session.status, 200, "{}", session.text);
    assert!(session.text.contains("\"csrf\""), "{}", session.text);
}

#[tokio::test]
async fn the_health_probes_are_open() {
    let dir = TempDir::new("api-auth");
    let api = serve(&dir).await;
    for path in ["/healthz", "/readyz"] {
        let answer = api.send("GET", path, "", &[]).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
}

/// `name=value` of the `Set-Cookie` answer, and its attributes.
fn set_cookie(answer: &Answer) -> (String, String) {
    let cookie = answer.headers["set-cookie"].to_str().unwrap().to_string();
    let pair = cookie.split(';').next().unwrap().trim().to_string();
    (pair, cookie)
}

#[tokio::test]
async fn a_dashboard_session_is_an_httponly_strict_cookie_whose_changes_need_csrf() {
    let dir = TempDir::new("api-auth");
    let api = serve(&dir).await;
    let refused = api
        .send(
            "POST",
            "/api/login",
            r#"{"token": "nope-nope-nope-nope-nope-nope"}"#,
            &[],
        )
        .await;
    assert_eq!(refused.status, 401);
    assert!(!refused.headers.contains_key("set-cookie"));

    let login = format!(r#"{{"token": "{ADMIN}"}}"#);
    let answer = api.send("POST", "/api/login", &login, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let (cookie, whole) = set_cookie(&answer);
    assert!(
        whole.contains("HttpOnly") && whole.contains("SameSite=Strict"),
        "{whole}"
    );
    assert!(whole.contains("Path=/"), "{whole}");
    let session: Value = serde_json::from_str(&answer.text).unwrap();
    assert_eq!(session["role"], "admin");
    let csrf = session["csrf"].as_str().unwrap().to_string();
    assert!(
        !cookie.contains(&csrf),
        "the CSRF token is not the session id"
    );

    let with_cookie = [("cookie", cookie.as_str())];
    let shown = api.send("GET", "/api/session", "", &with_cookie).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    let shown: Value = serde_json::from_str(&shown.text).unwrap();
    assert_eq!(
        shown["csrf"],
        csrf.as_str(),
        "a reloaded page gets it again"
    );
    assert_eq!(
        api.send("GET", "/api/campaigns", "", &with_cookie)
            .await
            .status,
        200
    );

    let (path, body) = CREATE;
    let forged = api.send("POST", path, body, &with_cookie).await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert!(error_of(&forged).contains("X-CSRF-Token"));
    let wrong = [("cookie", cookie.as_str()), ("x-csrf-token", "not-it")];
    assert_eq!(api.send("POST", path, body, &wrong).await.status, 403);
    assert!(api.store.campaigns().unwrap().is_empty(), "nothing applied");
    let right = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let made = api.send("POST", path, body, &right).await;
    assert!(made.status < 300, "{}", made.text);
    assert_eq!(api.store.campaigns().unwrap().len(), 1);

    let out = api.send("POST", "/api/logout", "", &with_cookie).await;
    assert_eq!(out.status, 204);
    let (cleared, _) = set_cookie(&out);
    assert_eq!(cleared, "dialflow_session=");
    let after = api.send("GET", "/api/campaigns", "", &with_cookie).await;
    assert_eq!(after.status, 401);
    assert!(error_of(&after).contains("log in again"));
    // Logging out again, or without a session at all, is a 401 like any other route's.
    assert_eq!(
        api.send("POST", "/api/logout", "", &with_cookie)
            .await
            .status,
        401
    );
    assert_eq!(api.send("POST", "/api/logout", "", &[]).await.status, 401);
}

#[tokio::test]
async fn a_reader_s_session_may_read_but_not_change() {
    let dir = TempDir::new("api-auth");
    let api = serve(&dir).await;
    let answer = api
        .send(
            "POST",
            "/api/login",
            &format!(r#"{{"token": "{READ}"}}"#),
            &[],
        )
        .await;
    let (cookie, _) = set_cookie(&answer);
    let csrf = serde_json::from_str::<Value>(&answer.text).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    let headers = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    assert_eq!(
        api.send("GET", "/api/status", "", &headers).await.status,
        200
    );
    let (path, body) = CREATE;
    assert_eq!(api.send("POST", path, body, &headers).await.status, 403);
}

#[tokio::test]
async fn an_agent_s_session_is_for_the_agent_routes_its_changes_with_csrf() {
    let dir = TempDir::new("api-auth");
    let api = serve(&dir).await;
    let login = format!(r#"{{"token": "{AGENT}"}}"#);
    let answer = api.send("POST", "/api/login", &login, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let session: Value = serde_json::from_str(&answer.text).unwrap();
    assert_eq!(
        (&session["role"], &session["name"]),
        (&"agent".into(), &"ali".into())
    );
    let csrf = session["csrf"].as_str().unwrap().to_string();
    let (cookie, _) = set_cookie(&answer);
    let bare = [("cookie", cookie.as_str())];
    let with_csrf = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let status = api.send("GET", "/api/status", "", &with_csrf).await;
    assert_eq!(status.status, 403, "{}", status.text);
    let page = api.send("GET", "/", "", &bare).await;
    assert_eq!(
        page.status, 303,
        "the dashboard is not an agent's: their page is"
    );
    let path = "/api/agent/no-such-route";
    let forged = api.send("POST", path, "{}", &bare).await;
    assert!(
        error_of(&forged).contains("X-CSRF-Token"),
        "{}",
        forged.text
    );
    let right = api.send("POST", path, "{}", &with_csrf).await;
    assert_eq!(
        right.status, 404,
        "let through, to no route: {}",
        right.text
    );
}

#[test]
fn the_daemon_refuses_to_listen_beyond_loopback_without_tokens_and_otherwise_makes_one() {
    let dir = TempDir::new("api-auth-daemon");
    let config = "ari: {url: 'http://127.0.0.1:9', user: u, password: p}\n\
                  store: s.redb\nscenarios: scenarios\nlisten: 0.0.0.0:0\n";
    dir.write("dialflow.yaml", config);
    dir.write("scenarios/.keep", "");
    let run = dialflow(dir.path(), &["run", "--exit-when-idle"]);
    assert!(!run.status.success());
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(
        said.contains("beyond this machine") && said.contains("DIALFLOW_ADMIN_TOKENS"),
        "{said}"
    );
    assert!(
        !dir.join("s.redb.token").exists(),
        "no token made for an open port"
    );
}

#[test]
fn dialflow_token_makes_a_long_random_token_each_time() {
    let dir = TempDir::new("api-auth-token");
    let one = common::cli::ok(dir.path(), &["token"]);
    let two = common::cli::ok(dir.path(), &["token"]);
    assert_ne!(one, two);
    let one = one.trim();
    assert!(one.starts_with("dfa_") && one.len() >= 40, "{one}");
    TokenSet::given([("made", Role::Read, one)]).expect("a token the daemon takes");
}
