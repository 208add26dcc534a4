//! The HTTP API over real HTTP on loopback: every refusal is `{"error": "..."}` with
//! the status its cause calls for (a caller's mistake a 4xx naming what was wrong, a
//! fault of the store a 500), whether a handler or an extractor refuses.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use common::dirs::TempDir;

use dialflow::http::auth::{Auth, Role, TokenSet};
use dialflow::http::{ApiState, router};
use dialflow::scenario_set::SharedScenarios;
use dialflow::store::Store;

const ADMIN: &str = "http-api-admin-token-0123456789";

/// The API on a port of its own, serving `store` (no daemon behind it).
async fn serve(store: Store) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tokens = TokenSet::given([("admin", Role::Admin, ADMIN)]).unwrap();
    let state = ApiState::new(
        Arc::new(store),
        SharedScenarios::new(BTreeMap::new()),
        Auth::new(tokens),
    );
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    addr
}

/// The API, and a client sending its admin token.
async fn api(dir: &Path) -> (SocketAddr, reqwest::Client) {
    let store = Store::open(&dir.join("dialflow.redb")).unwrap();
    (serve(store).await, admin_client())
}

fn admin_client() -> reqwest::Client {
    common::bearer_client(ADMIN)
}

/// The status and the `error` message of a refusal (the test fails if the body is not
/// the documented shape).
async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    assert_eq!(
        kind.as_deref(),
        Some("application/json"),
        "{status}: {text}"
    );
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    let message = body["error"].as_str().unwrap_or_else(|| panic!("{text}"));
    (status, message.to_string())
}

const NEW_CAMPAIGN: &str = r#"{"name": "spring", "settings": {"scenario": "salehi"}}"#;

async fn create(client: &reqwest::Client, addr: SocketAddr, body: &str) -> reqwest::Response {
    client
        .post(format!("http://{addr}/api/campaigns"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn store_refusals_answer_with_their_kinds_status() {
    let dir = TempDir::new("http-api");
    let (addr, client) = api(dir.path()).await;
    assert_eq!(create(&client, addr, NEW_CAMPAIGN).await.status(), 200);

    let bad_name = r#"{"name": "no spaces", "settings": {"scenario": "salehi"}}"#;
    let (status, message) = refusal(create(&client, addr, bad_name).await).await;
    assert_eq!(status, 400, "{message}");
    assert!(
        message.contains("`no spaces` is not a campaign name"),
        "{message}"
    );

    let (status, message) = refusal(create(&client, addr, NEW_CAMPAIGN).await).await;
    assert_eq!(
        (status, message.as_str()),
        (409, "a campaign named `spring` exists already")
    );

    let paused = client
        .post(format!("http://{addr}/api/campaigns/spring/pause"))
        .send()
        .await
        .unwrap();
    let (status, message) = refusal(paused).await;
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("cannot pause"), "{message}");

    let missing = client
        .get(format!("http://{addr}/api/campaigns/autumn"))
        .send()
        .await
        .unwrap();
    let (status, message) = refusal(missing).await;
    assert_eq!(
        (status, message.as_str()),
        (404, "no campaign named `autumn`")
    );
}

/// A campaign record no dialflow could have written: reading it is a fault of the
/// store, not of the request.
fn corrupt_a_campaign(file: &Path) {
    drop(Store::open(file).unwrap());
    let db = redb::Database::open(file).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let table: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("campaigns");
        let mut campaigns = tx.open_table(table).unwrap();
        campaigns.insert("spring", b"{not json".as_slice()).unwrap();
    }
    tx.commit().unwrap();
}

#[tokio::test]
async fn a_fault_of_the_store_is_a_500_never_a_400() {
    let dir = TempDir::new("http-api");
    let file = dir.path().join("dialflow.redb");
    corrupt_a_campaign(&file);
    let addr = serve(Store::open(&file).unwrap()).await;
    let client = admin_client();
    for path in ["/api/campaigns", "/api/campaigns/spring"] {
        let response = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        let (status, message) = refusal(response).await;
        assert_eq!(status, 500, "{path}: {message}");
        assert!(
            message.contains("a record in `campaigns` cannot be read"),
            "{path}: {message}"
        );
    }
}

#[tokio::test]
async fn a_body_the_api_cannot_take_is_refused_in_json_naming_the_fault() {
    let dir = TempDir::new("http-api");
    let (addr, client) = api(dir.path()).await;

    let (status, message) = refusal(create(&client, addr, r#"{"name": "spr"#).await).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("EOF"), "malformed JSON: {message}");

    let (status, message) = refusal(create(&client, addr, r#"{"settings": {}}"#).await).await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("missing field `name`"), "{message}");

    let wrong_type = r#"{"name": "spring", "settings": {"max_attempts": "three"}}"#;
    let (status, message) = refusal(create(&client, addr, wrong_type).await).await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("max_attempts"), "{message}");

    let plain = client
        .post(format!("http://{addr}/api/campaigns"))
        .header("content-type", "text/plain")
        .body(NEW_CAMPAIGN)
        .send()
        .await
        .unwrap();
    let (status, message) = refusal(plain).await;
    assert_eq!(status, 415, "{message}");
    assert!(
        message.contains("Content-Type: application/json"),
        "{message}"
    );
}

#[tokio::test]
async fn a_query_or_path_the_api_cannot_take_is_refused_in_json() {
    let dir = TempDir::new("http-api");
    let (addr, client) = api(dir.path()).await;
    assert_eq!(create(&client, addr, NEW_CAMPAIGN).await.status(), 200);
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();

    let (status, message) =
        refusal(get("/api/campaigns/spring/leads?limit=many").await.unwrap()).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("limit"), "{message}");

    let stop = client
        .post(format!(
            "http://{addr}/api/campaigns/spring/stop?cancel_pending=maybe"
        ))
        .send()
        .await
        .unwrap();
    let (status, message) = refusal(stop).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("cancel_pending"), "{message}");

    // Not UTF-8 once decoded.
    let (status, message) = refusal(get("/api/campaigns/%FF").await.unwrap()).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("UTF-8"), "{message}");

    let (status, _) = refusal(get("/api/nothing").await.unwrap()).await;
    assert_eq!(status, 404);
    let delete = client
        .delete(format!("http://{addr}/api/campaigns"))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(delete).await.0, 405);
}
