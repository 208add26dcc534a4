//! The headers that make a delivery safe to receive: an `Idempotency-Key` that is the
//! same on every delivery of one report (per attempt and status, so a redelivery after
//! a crash carries it too), and a signature in the manner of Stripe's: HMAC-SHA256 over
//! `"{timestamp}.{body}"`, sent as `Dialflow-Signature: t={timestamp},v1={hex}`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const SIGNATURE: &str = "Dialflow-Signature";

/// One report's key: its attempt and status (one report per status per call).
pub fn idempotency_key(attempt: &str, status: &str) -> String {
    format!("{attempt}:{status}")
}

/// The signature header's value for `body` sent at `unix_seconds`.
pub fn signature(secret: &str, unix_seconds: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("t={unix_seconds},v1={}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_names_its_time_and_covers_time_and_body() {
        let header = signature("k", 1_700_000_000, b"{}");
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(header, signature("k", 1_700_000_000, b"{ }"));
        assert_ne!(header[16..], signature("k", 1_700_000_001, b"{}")[16..]);
        assert_ne!(header, signature("j", 1_700_000_000, b"{}"));
    }
}
