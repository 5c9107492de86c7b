//! Key material shared by the unit tests of `auth`.

/// An Ed25519 private key (PKCS#8 PEM).
pub(super) const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIFtJMuNQd7pfzFKS580OhJm+YEnfyWzBC8aZEaitqBAV
-----END PRIVATE KEY-----
";
/// The `x` of the public key of `ED_PRIVATE`.
pub(super) const ED_X: &str = "J3AYhvoFsy3v5vm5Ut6StqIydVWuKBbARvEW0WYYyBA";
