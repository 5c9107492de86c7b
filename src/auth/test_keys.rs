//! Key material and claims shared by the unit tests of `auth` (and of `settings`).

/// An Ed25519 private key (PKCS#8 PEM).
pub(super) const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIFtJMuNQd7pfzFKS580OhJm+YEnfyWzBC8aZEaitqBAV
-----END PRIVATE KEY-----
";
/// The `x` of the public key of `ED_PRIVATE`.
pub(super) const ED_X: &str = "J3AYhvoFsy3v5vm5Ut6StqIydVWuKBbARvEW0WYYyBA";

/// The claims of a valid 1.0 access token of `iss` for `aud`, granting publish and subscribe on
/// one exact topic, expiring in ten minutes.
pub(crate) fn access_token_claims(iss: &str, aud: &str) -> serde_json::Value {
    serde_json::json!({
        "iss": iss,
        "aud": aud,
        "exp": super::now_seconds() + 600.0,
        "authorization_details": [{
            "type": super::grants::MERCURE_DETAIL_TYPE,
            "actions": ["publish", "subscribe"],
            "topics": [{"match": "https://example.com/books/1"}],
        }],
    })
}
