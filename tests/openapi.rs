//! The API's OpenAPI 3.1 document (`GET /api/openapi.json`) against the router that
//! serves it: the document needs a token; every operation it describes is served (a
//! request with a token that may call it (an admin's; an agent's under `/api/agent/`) never meets the router's own 404 or 405) and answers
//! as described (a documented status, content type and, for JSON, a body its schema
//! takes), and no other method of its paths is served; the HTTP API registers routes only through utoipa-axum's
//! `routes!`, which documents each one, so no route is served undocumented; and an
//! independent validator (PyPI's `openapi-spec-validator`, in a virtual environment
//! under `target/`) finds the document valid OpenAPI 3.1, and rejects it broken.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::dirs::{TempDir, rust_files};
use common::openapi::{Operation, operations, resolve};
use dialflow::desk::Desk;
use dialflow::http::auth::{Auth, Role, TokenSet};
use dialflow::http::{ApiState, router};
use dialflow::scenario_set::SharedScenarios;
use dialflow::store::{NewAgent, Store};
use serde_json::Value;

const ADMIN: &str = "openapi-test-admin-token-0123456789";

/// The routes open without a token.
const OPEN: &[&str] = &[
    "/",
    "/agent",
    "/api/login",
    "/api/logout",
    "/healthz",
    "/readyz",
];

const AGENT: &str = "openapi-test-agent-token-0123456789";

/// The API's clients: the admin's, and agent ali's for the routes under `/api/agent/`
/// (which take no other token).
struct Clients {
    admin: reqwest::Client,
    agent: reqwest::Client,
}

impl Clients {
    fn admin(&self) -> &reqwest::Client {
        &self.admin
    }

    /// The client that may call `path`.
    fn for_path(&self, path: &str) -> &reqwest::Client {
        if path.starts_with("/api/agent/") {
            &self.agent
        } else {
            &self.admin
        }
    }
}

/// The API on a port of its own, with a desk and agent ali, and its clients.
async fn serve(dir: &TempDir) -> (SocketAddr, Clients) {
    let tokens =
        TokenSet::given([("ops", Role::Admin, ADMIN), ("ali", Role::Agent, AGENT)]).unwrap();
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let ali = NewAgent {
        id: "ali".into(),
        name: "Ali".into(),
        endpoint: "PJSIP/ali".into(),
        queues: vec!["sales".into()],
        campaigns: Vec::new(),
    };
    store.put_agent(ali, 0).unwrap();
    let desk = Desk::open(Arc::clone(&store), Arc::new(|| 1_000)).unwrap();
    let state = ApiState::new(
        store,
        SharedScenarios::new(BTreeMap::new()),
        Auth::new(tokens),
    )
    .with_desk(desk);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let clients = Clients {
        admin: common::bearer_client(ADMIN),
        agent: common::bearer_client(AGENT),
    };
    (addr, clients)
}

/// The document as the API serves it.
async fn fetch_document(addr: SocketAddr, client: &reqwest::Client) -> Value {
    let response = client
        .get(format!("http://{addr}/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// An answer: its status, content type (without parameters) and text.
struct Answer {
    status: u16,
    kind: String,
    text: String,
}

/// The answer to `method path` with the operation's body, if any.
async fn send(
    client: &reqwest::Client,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&(String, String)>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, format!("http://{addr}{path}"));
    if let Some((kind, text)) = body {
        request = request.header("content-type", kind).body(text.clone());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .to_string();
    let text = common::body_text(response).await;
    Answer { status, kind, text }
}

/// Whether an answer is the router's own: no such route, or not that method.
fn is_fallback(status: u16, text: &str) -> bool {
    let error = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    status == 405 || (status == 404 && error == "no such API endpoint")
}

#[tokio::test]
async fn the_document_is_served_to_a_token_only() {
    let dir = TempDir::new("openapi");
    let (addr, clients) = serve(&dir).await;
    let client = clients.admin();
    let tls = dialflow::tls::client_config(None).unwrap();
    let anonymous = dialflow::tls::http_client_builder(&tls)
        .build()
        .unwrap()
        .get(format!("http://{addr}/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let doc = fetch_document(addr, client).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let served = serde_json::to_value(dialflow::http::openapi_document()).unwrap();
    assert_eq!(doc, served, "the route serves `http::openapi_document()`");
}

/// The operations that give the others something to show, by id.
const SEED: &[&str] = &["create_campaign", "import_leads", "add_dnc"];

#[tokio::test]
async fn every_documented_operation_is_served_and_answers_as_documented() {
    let dir = TempDir::new("openapi");
    let (addr, clients) = serve(&dir).await;
    let client = clients.admin();
    let doc = fetch_document(addr, client).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 25, "{} operations", ops.len());
    for id in SEED {
        let op = ops.iter().find(|op| op.id == *id).unwrap();
        let client = clients.for_path(&op.path);
        let answer = send(client, addr, &op.method, &op.path, op.body.as_ref()).await;
        assert_eq!(answer.status, 200, "{id} with its example: {}", answer.text);
    }
    for op in &ops {
        let client = clients.for_path(&op.path);
        let answer = send(client, addr, &op.method, &op.path, op.body.as_ref()).await;
        assert!(
            !is_fallback(answer.status, &answer.text),
            "{} {} is documented but not served: {} {}",
            op.method,
            op.path,
            answer.status,
            answer.text
        );
        as_documented(&doc, op, &answer);
    }
    // The schemas really are checked, references and all.
    let lead = serde_json::json!([{"id": 1, "campaign": "spring", "phone": "+98", "created_ms": 1,
        "state": {"state": "waiting"}}]);
    let leads = &operation_of(&doc, ops.iter().find(|op| op.id == "list_leads").unwrap())["responses"]
        ["200"]["content"]["application/json"]["schema"];
    assert!(!schema_errors(&doc, leads, &lead).is_empty(), "{leads}");
}

/// Asserts that `answer` is one `op` documents: its status (or the default), its
/// content type, and for JSON a body its schema takes.
fn as_documented(doc: &Value, op: &Operation, answer: &Answer) {
    let what = format!("{} {} answered {}", op.method, op.path, answer.status);
    let responses = &operation_of(doc, op)["responses"];
    let response = responses
        .get(answer.status.to_string())
        .or_else(|| responses.get("default"))
        .unwrap_or_else(|| panic!("{what}, undocumented: {}", answer.text));
    let response = resolve(doc, response);
    let Some(content) = response["content"].as_object() else {
        assert!(answer.text.is_empty(), "{what}: a body, none documented");
        return;
    };
    let media = content
        .get(&answer.kind)
        .unwrap_or_else(|| panic!("{what} as {}, documented {:?}", answer.kind, content.keys()));
    if answer.kind == "application/json" {
        let body: Value = serde_json::from_str(&answer.text).unwrap();
        let errors = schema_errors(doc, &media["schema"], &body);
        assert!(errors.is_empty(), "{what}: {errors:#?}\n{body:#}");
    }
}

/// What `schema` (with the document's components) finds wrong with `value`.
fn schema_errors(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::draft202012::new(&root).expect("a JSON Schema");
    validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[tokio::test]
async fn no_other_method_of_a_documented_path_is_served() {
    let dir = TempDir::new("openapi");
    let (addr, clients) = serve(&dir).await;
    let client = clients.admin();
    let doc = fetch_document(addr, client).await;
    let ops = operations(&doc);
    let mut documented: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for op in &ops {
        documented.entry(&op.path).or_default().push(&op.method);
    }
    for (path, methods) in &documented {
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if methods.contains(&method) {
                continue;
            }
            let answer = send(clients.for_path(path), addr, method, path, None).await;
            assert_eq!(
                answer.status, 405,
                "{method} {path} is served but not documented: {}",
                answer.text
            );
        }
    }
}

#[tokio::test]
async fn the_document_says_which_operations_need_credentials_and_how_they_refuse() {
    let dir = TempDir::new("openapi");
    let (addr, clients) = serve(&dir).await;
    let client = clients.admin();
    let doc = fetch_document(addr, client).await;
    let ops = operations(&doc);
    let mut open: Vec<&str> = ops
        .iter()
        .filter(|op| !op.secured)
        .map(|op| op.template.as_str())
        .collect();
    open.sort_unstable();
    assert_eq!(open, OPEN, "only these are open");
    let ids: std::collections::BTreeSet<&str> = ops.iter().map(|op| op.id.as_str()).collect();
    assert_eq!(ids.len(), ops.len(), "operation ids are unique");
    for op in ops.iter().filter(|op| op.secured) {
        let responses = &operation_of(&doc, op)["responses"];
        assert!(
            responses.get("401").is_some(),
            "{} {}",
            op.method,
            op.template
        );
        // Any of them refuses some valid token: an agent's outside `/api/agent/`, the
        // others inside it, a reader's change.
        assert!(
            responses.get("403").is_some(),
            "{} {}",
            op.method,
            op.template
        );
        assert!(
            responses.get("default").is_some(),
            "{} {}: the `{{\"error\"}}` answer",
            op.method,
            op.template
        );
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["csrf"]["in"], "header");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]));
}

fn operation_of<'a>(doc: &'a Value, op: &Operation) -> &'a Value {
    &doc["paths"][&op.template][op.method.to_lowercase()]
}

/// Where a route could be registered without its documentation.
const UNDOCUMENTED_ROUTING: &[&str] = &[
    ".route(",
    ".route_service(",
    ".nest(",
    ".nest_service(",
    ".fallback_service(",
    "axum::routing",
];

#[test]
fn the_api_registers_its_routes_only_with_their_documentation() {
    let files = rust_files(Path::new("src/http"));
    assert!(!files.is_empty());
    let mut registrations = 0;
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            registrations += code.matches("routes!(").count();
            for word in UNDOCUMENTED_ROUTING {
                if code.contains(word) {
                    offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "register routes with `routes!`, which documents them:\n{}",
        offences.join("\n")
    );
    let doc = serde_json::to_value(dialflow::http::openapi_document()).unwrap();
    let paths = doc["paths"].as_object().unwrap().len();
    assert_eq!(
        registrations, paths,
        "one `routes!` per documented path (each registers one path)"
    );
}

#[test]
fn an_independent_validator_finds_the_document_valid_openapi_3_1() {
    let dir = TempDir::new("openapi-validate");
    let doc = serde_json::to_value(dialflow::http::openapi_document()).unwrap();
    let python = python_with_validator();
    let good = dir.join("openapi.json");
    std::fs::write(&good, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let (ok, said) = validate(&python, &good);
    assert!(ok, "the validator refused the document:\n{said}");
    assert!(said.contains("valid OpenAPI 3.1.0"), "{said}");

    // The validator really looks: the document without its `info`, or with a path
    // parameter made optional (OpenAPI wants every one required), is refused.
    let mut no_info = doc.clone();
    no_info.as_object_mut().unwrap().remove("info");
    refused(&python, &dir, &no_info, "info");
    let mut optional = doc.clone();
    optional["paths"]["/api/campaigns/{name}"]["get"]["parameters"][0]["required"] = false.into();
    refused(&python, &dir, &optional, "required");
}

/// Asserts that the validator refuses `broken`, naming `what`.
fn refused(python: &Path, dir: &TempDir, broken: &Value, what: &str) {
    let file = dir.join("broken.json");
    std::fs::write(&file, serde_json::to_vec(broken).unwrap()).unwrap();
    let (ok, said) = validate(python, &file);
    assert!(!ok, "the validator took a broken document:\n{said}");
    assert!(said.contains("invalid:") && said.contains(what), "{said}");
}

/// The validator's script: exit 0 and say so for a valid 3.1 document, else list
/// every error and exit 1.
const VALIDATE: &str = r#"
import json, sys
from openapi_spec_validator import OpenAPIV31SpecValidator
spec = json.load(open(sys.argv[1]))
try:
    errors = [
        "/".join(map(str, e.absolute_path)) + ": " + e.message
        for e in OpenAPIV31SpecValidator(spec).iter_errors()
    ]
except Exception as e:  # a reference to nowhere, say: invalid too
    errors = [repr(e)]
for e in errors:
    print("invalid:", e)
if errors:
    sys.exit(1)
print("valid OpenAPI", spec["openapi"])
"#;

/// Whether `python` finds `file` valid, and what it said.
fn validate(python: &Path, file: &Path) -> (bool, String) {
    let out = Command::new(python)
        .args(["-c", VALIDATE])
        .arg(file)
        .output()
        .expect("the venv's python runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// The validator's package, pinned to a minor version (its checks are what it knows).
const VALIDATOR: &str = "openapi-spec-validator==0.9.*";

/// A Python with the validator, in a virtual environment under `target/` (made once;
/// needs `python3` with `venv`, which `.ci/run` installs).
fn python_with_validator() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("openapi-validator-venv");
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import openapi_spec_validator"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready(&python) {
        run_ok(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        );
        run_ok(Command::new(venv.join("bin/pip")).args(["install", "-q", VALIDATOR]));
    }
    assert!(ready(&python), "no {VALIDATOR} in {}", venv.display());
    python
}

fn run_ok(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
