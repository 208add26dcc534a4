//! Speech-to-text providers against real HTTP servers on loopback (and a real program):
//! success, slow, 500, quota refusals, malformed answers.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use dialflow::classify::stt::{SttError, SttProvider, Upload};

async fn server() -> String {
    let app = Router::new()
        .route(
            "/ok/v1/audio/transcriptions",
            post(|headers: HeaderMap, body: Bytes| async move {
                let text = String::from_utf8_lossy(&body);
                let multipart = headers
                    .get("content-type")
                    .is_some_and(|c| c.to_str().unwrap_or("").starts_with("multipart/form-data"));
                let fields = text.contains("name=\"model\"")
                    && text.contains("whisper-1")
                    && text.contains("name=\"file\"");
                let auth = headers
                    .get("authorization")
                    .is_some_and(|a| a == "Bearer k3y");
                if multipart && fields && auth && text.contains("RIFF") {
                    (StatusCode::OK, r#"{"text":" Yes, I am interested. "}"#)
                } else {
                    (StatusCode::BAD_REQUEST, r#"{"error":"bad upload"}"#)
                }
            }),
        )
        .route(
            "/slow/v1/audio/transcriptions",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                (StatusCode::OK, r#"{"text":"late"}"#)
            }),
        )
        .route(
            "/down/v1/audio/transcriptions",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded") }),
        )
        .route(
            "/quota/v1/audio/transcriptions",
            post(|| async {
                (
                    StatusCode::FORBIDDEN,
                    r#"{"error":{"message":"You exceeded your current quota"}}"#,
                )
            }),
        )
        .route(
            "/limited/v1/audio/transcriptions",
            post(|| async { (StatusCode::TOO_MANY_REQUESTS, "rate limit, retry later") }),
        )
        .route(
            "/garbage/v1/audio/transcriptions",
            post(|| async { (StatusCode::OK, "<html>oops</html>") }),
        )
        .route(
            "/vendor",
            post(|headers: HeaderMap, body: Bytes| async move {
                let wav = headers
                    .get("content-type")
                    .is_some_and(|c| c == "audio/wav")
                    && body.starts_with(b"RIFF");
                if wav {
                    (
                        StatusCode::OK,
                        r#"{"result":{"alternatives":[{"transcript":"بله"}]}}"#,
                    )
                } else {
                    (StatusCode::BAD_REQUEST, "{}")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn wav() -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
    for _ in 0..800 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    cursor.into_inner()
}

fn openai(base: &str, path: &str) -> SttProvider {
    SttProvider::OpenAi {
        base_url: format!("{base}/{path}"),
        model: "whisper-1".into(),
        api_key: Some("k3y".into()),
        language: Some("en".into()),
    }
}

#[tokio::test]
async fn openai_compatible_server() {
    let base = server().await;
    let http = dialflow::tls::system_http_client();
    let t = Duration::from_secs(1);
    assert_eq!(
        openai(&base, "ok")
            .transcribe(&http, wav(), t)
            .await
            .unwrap(),
        "Yes, I am interested."
    );
    assert!(
        matches!(openai(&base, "slow").transcribe(&http, wav(), t).await, Err(SttError::Failure(m)) if m.contains("within"))
    );
    assert!(
        matches!(openai(&base, "down").transcribe(&http, wav(), t).await, Err(SttError::Failure(m)) if m.contains("500"))
    );
    assert!(matches!(
        openai(&base, "quota").transcribe(&http, wav(), t).await,
        Err(SttError::Quota(_))
    ));
    assert!(matches!(
        openai(&base, "limited").transcribe(&http, wav(), t).await,
        Err(SttError::Failure(_))
    ));
    assert!(
        matches!(openai(&base, "garbage").transcribe(&http, wav(), t).await, Err(SttError::Failure(m)) if m.contains("not JSON"))
    );
}

#[tokio::test]
async fn generic_http_provider_with_a_json_path() {
    let base = server().await;
    let provider = SttProvider::Http {
        url: format!("{base}/vendor"),
        upload: Upload::Raw,
        transcript_path: "result.alternatives.0.transcript".into(),
        bearer: None,
    };
    let text = provider
        .transcribe(
            &dialflow::tls::system_http_client(),
            wav(),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(text, "بله");
}

#[tokio::test]
async fn local_program_provider() {
    let ok = SttProvider::Command {
        program: "sh".into(),
        args: vec![
            "-c".into(),
            "wc -c >/dev/null; echo ' no thank you '".into(),
        ],
    };
    let http = dialflow::tls::system_http_client();
    assert_eq!(
        ok.transcribe(&http, wav(), Duration::from_secs(5))
            .await
            .unwrap(),
        "no thank you"
    );
    let failing = SttProvider::Command {
        program: "sh".into(),
        args: vec!["-c".into(), "echo broken >&2; exit 3".into()],
    };
    let err = failing
        .transcribe(&http, wav(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SttError::Failure(m) if m.contains("broken")),
        "{err}"
    );
    let missing = SttProvider::Command {
        program: "/no/such/stt".into(),
        args: vec![],
    };
    assert!(
        matches!(missing.transcribe(&http, wav(), Duration::from_secs(5)).await, Err(SttError::Failure(m)) if m.contains("cannot start"))
    );
}
