//! The one TLS configuration every outgoing connection uses (ARI over https and wss, the
//! STT and LLM providers, webhooks): rustls on the ring provider, trusting the system's
//! root certificates plus, optionally, the CA of `tls.ca_file` (a PBX with a
//! certificate of its own). Also the one place a certificate failure is put into words
//! naming the host and the reason (unknown issuer, expired, name mismatch).
//!
//! The system's roots rather than a compiled-in copy of Mozilla's: they are the trust
//! ops already manage on the machine (a corporate CA added with `update-ca-certificates`,
//! a distrusted root removed by an OS update) without rebuilding dialflow; a private CA
//! that is not in them is what `tls.ca_file` is for.
//!
//! reqwest is built without a crypto provider of its own, so a `reqwest::Client::new()`
//! panics: every client is made from [`http_client_builder`], which also makes sure it
//! trusts `tls.ca_file`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};

/// Why the TLS configuration cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA file {}: {reason}", path.display())]
    CaFileUnreadable { path: PathBuf, reason: String },
    #[error("the CA file {} holds no PEM certificate", path.display())]
    CaFileEmpty { path: PathBuf },
    #[error("the CA file {} holds a certificate rustls refuses: {reason}", path.display())]
    CaFileRefused { path: PathBuf, reason: String },
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// The configuration for every client: the system's roots and those of `ca_file`.
/// Without a `ca_file` it is built once per process and shared.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    static SYSTEM_ONLY: OnceLock<Result<Arc<ClientConfig>, TlsError>> = OnceLock::new();
    match ca_file {
        None => SYSTEM_ONLY.get_or_init(|| build(None)).clone(),
        Some(path) => build(Some(path)),
    }
}

/// The certificates of a PEM file (what `tls.ca_file` holds), checked as the config does.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |reason: String| TlsError::CaFileUnreadable {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::CaFileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn build(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    if !system.errors.is_empty() {
        tracing::warn!(errors = ?system.errors, "some of the system's root certificates could not be read");
    }
    // A broken system certificate is skipped, as browsers do; ours must all be good.
    let (added, _ignored) = roots.add_parsable_certificates(system.certs);
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| TlsError::CaFileRefused {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
    } else if added == 0 {
        tracing::warn!(
            "the system has no root certificates (install ca-certificates): https will fail"
        );
    }
    // With no roots at all every handshake fails as an unknown issuer (and says so),
    // while plain http still works: no reason to refuse to start.
    // ring, not aws-lc-rs: no large C build on every machine. rustls deprecates it for
    // lacking post-quantum key exchange; X25519 and the classic suites remain.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A reqwest client builder that speaks TLS with `config`; the caller adds timeouts.
pub fn http_client_builder(config: &ClientConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(config.clone())
}

/// A reqwest client with `config` and nothing else (tests, one-off requests).
pub fn http_client(config: &ClientConfig) -> reqwest::Client {
    http_client_builder(config)
        .build()
        .expect("a reqwest client with a rustls config always builds")
}

/// A client trusting the system's roots only: for what has no configuration (tests, the
/// daemon's own API on loopback). What reads `dialflow.yaml` uses `http_client_builder`
/// with its `client_config`, so `tls.ca_file` is honoured.
pub fn system_http_client() -> reqwest::Client {
    let config = client_config(None).expect("the system-roots TLS configuration builds");
    http_client(&config)
}

/// A certificate the server showed that dialflow does not trust, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLS with {host}: {reason}")]
pub struct CertificateFailure {
    pub host: String,
    pub reason: CertificateReason,
}

/// Why a certificate was refused, in the words an operator acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateReason {
    #[error(
        "the certificate's issuer is unknown (not a trusted root: set tls.ca_file to the CA that signed it)"
    )]
    UnknownIssuer,
    #[error("the certificate has expired{}", since(.not_after))]
    Expired { not_after: Option<u64> },
    #[error("the certificate is not valid yet")]
    NotValidYet,
    #[error("the certificate does not match the name {host}{}", names(.presented))]
    NameMismatch {
        host: String,
        presented: Vec<String>,
    },
    #[error("the certificate was refused: {0}")]
    Other(String),
}

fn since(not_after: &Option<u64>) -> String {
    not_after
        .and_then(|s| jiff::Timestamp::from_second(s as i64).ok())
        .map(|t| format!(" (on {t})"))
        .unwrap_or_default()
}

fn names(presented: &[String]) -> String {
    match presented {
        [] => String::new(),
        names => format!(" (it is for {})", names.join(", ")),
    }
}

impl CertificateReason {
    fn of(error: &CertificateError, host: &str) -> Self {
        match error {
            CertificateError::UnknownIssuer => Self::UnknownIssuer,
            CertificateError::Expired => Self::Expired { not_after: None },
            CertificateError::ExpiredContext { not_after, .. } => Self::Expired {
                not_after: Some(not_after.as_secs()),
            },
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Self::NotValidYet
            }
            CertificateError::NotValidForName => Self::NameMismatch {
                host: host.to_string(),
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext { presented, .. } => Self::NameMismatch {
                host: host.to_string(),
                presented: presented.clone(),
            },
            other => Self::Other(other.to_string()),
        }
    }
}

/// The certificate failure somewhere in `error`'s chain of sources, if that is what it
/// is: reqwest, hyper and tungstenite wrap rustls's error in theirs and in an
/// `io::Error` (whose `source()` skips the error it holds, so it is opened by hand).
pub fn certificate_failure(
    host: &str,
    error: &(dyn std::error::Error + 'static),
) -> Option<CertificateFailure> {
    let mut next = Some(error);
    while let Some(error) = next {
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|e| e as &(dyn std::error::Error + 'static));
        if let Some(rustls::Error::InvalidCertificate(e)) = error.downcast_ref::<rustls::Error>() {
            return Some(CertificateFailure {
                host: host.to_string(),
                reason: CertificateReason::of(e, host),
            });
        }
        // An io::Error may hold another (hyper-util wraps tokio-rustls's so).
        next = inner.or_else(|| error.source());
    }
    None
}

/// `error` in words: the certificate failure when that is what it is, with the host,
/// else its own message with its sources (reqwest's says only "error sending request").
pub fn explain(host: &str, error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(failure) = certificate_failure(host, error) {
        return failure.to_string();
    }
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        let more = source.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        next = source.source();
    }
    text
}

/// A reqwest error in words, its host taken from the URL it was for.
pub fn explain_request(error: &reqwest::Error) -> String {
    let host = error.url().and_then(|u| u.host_str()).unwrap_or_default();
    explain(host, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_is_found_inside_an_io_error_and_named() {
        let rustls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls);
        // As reqwest's connector hands it over: an io::Error in an io::Error.
        let io = std::io::Error::other(inner);
        let failure = certificate_failure("pbx.example", &io).expect("found");
        assert_eq!(failure.reason, CertificateReason::UnknownIssuer);
        assert!(failure.to_string().starts_with("TLS with pbx.example: "));
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(certificate_failure("h", &plain), None);
        assert_eq!(explain("h", &plain), "refused");
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_refused_naming_it() {
        let missing = Path::new("/nonexistent/ca.pem");
        assert!(matches!(
            client_config(Some(missing)),
            Err(TlsError::CaFileUnreadable { .. })
        ));
        let empty = std::env::temp_dir().join(format!("dialflow-empty-ca-{}", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = read_ca_file(&empty).unwrap_err();
        let _ = std::fs::remove_file(&empty);
        assert_eq!(e, TlsError::CaFileEmpty { path: empty });
    }
}
