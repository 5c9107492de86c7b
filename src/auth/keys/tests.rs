//! Algorithm pinning, key formats, startup errors and the verified-token cache's budget.

use super::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

const SECRET: &str = "a-long-enough-development-secret-for-tests";

fn sign(alg: Algorithm, key: &EncodingKey, claims: &serde_json::Value) -> String {
    encode(&Header::new(alg), claims, key).expect("sign")
}

fn hs256(claims: &serde_json::Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
        claims,
    )
}

#[test]
fn hs256_round_trip_reads_claims() {
    let verifier = Verifier::new(SECRET, "HS256").expect("verifier");
    let claims = verifier
        .verify(&hs256(&json!({"mercure": {"publish": ["*"]}, "aud": "x"})))
        .expect("valid");
    assert_eq!(claims.publish, Some(vec!["*".to_string()]));
}

#[test]
fn algorithm_is_pinned() {
    let verifier = Verifier::new(SECRET, "HS512").expect("verifier");
    assert!(matches!(
        verifier.verify(&hs256(&json!({}))),
        Err(TokenError::Invalid(_))
    ));
}

#[test]
fn wrong_key_and_alg_none_are_refused() {
    let verifier =
        Verifier::new("another-secret-another-secret-another", "HS256").expect("verifier");
    assert!(verifier.verify(&hs256(&json!({}))).is_err());
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdfX0.";
    let verifier = Verifier::new(SECRET, "HS256").expect("verifier");
    assert!(verifier.verify(none).is_err());
}

#[test]
fn pem_with_hmac_and_unknown_algorithms_are_startup_errors() {
    assert!(matches!(
        Verifier::new(
            "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----",
            "HS256"
        ),
        Err(KeyError::PemWithHmac(_))
    ));
    assert!(matches!(
        Verifier::new(SECRET, "none"),
        Err(KeyError::UnsupportedAlgorithm(_))
    ));
    assert!(matches!(Verifier::new("", "HS256"), Err(KeyError::Empty)));
    assert!(matches!(
        Verifier::new("/nonexistent/key.pem", "RS256"),
        Err(KeyError::Unreadable { .. })
    ));
}

/// R-TOKEN: a path to a PEM file with an HMAC algorithm is refused instead of the path's text
/// becoming the secret; a path to anything else stays a (strange but valid) secret.
#[test]
fn pem_file_path_with_hmac_is_refused() {
    let dir = std::env::temp_dir().join(format!("qs-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pem = dir.join("publisher.pem");
    std::fs::write(
        &pem,
        "\n-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n",
    )
    .expect("write");
    let pem = pem.to_str().expect("utf8 path");
    for alg in ["HS256", "HS384", "HS512"] {
        match Verifier::new(pem, alg) {
            Err(KeyError::PemFileWithHmac { path, alg: named }) => {
                assert_eq!((path.as_str(), named.as_str()), (pem, alg));
            }
            other => panic!("{alg}: {other:?}"),
        }
    }
    let text = dir.join("secret.txt");
    std::fs::write(&text, "not a key").expect("write");
    assert!(Verifier::new(text.to_str().expect("utf8"), "HS256").is_ok());
    assert!(Verifier::new(dir.to_str().expect("utf8"), "HS256").is_ok());
    assert!(Verifier::new("/nonexistent/key.pem", "HS256").is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

/// Generates a key pair with the `openssl` command.
fn openssl_pair(dir: &std::path::Path, name: &str, genpkey_args: &[&str]) -> (Vec<u8>, String) {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let run = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(output.status.success(), "openssl {args:?} failed");
    };
    let private_path = private.to_str().expect("utf8 path");
    let public_path = public.to_str().expect("utf8 path");
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey_args);
    args.extend_from_slice(&["-out", private_path]);
    run(&args);
    run(&["pkey", "-in", private_path, "-pubout", "-out", public_path]);
    (
        std::fs::read(&private).expect("key"),
        public_path.to_owned(),
    )
}

#[test]
fn asymmetric_keys_from_pem_files_and_inline() {
    let dir = std::env::temp_dir().join(format!("qs-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rsa: &[&str] = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
    let cases: [(&str, &[&str], Algorithm); 5] = [
        ("rsa", rsa, Algorithm::RS256),
        ("rsa-pss", rsa, Algorithm::PS384),
        (
            "ec256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Algorithm::ES256,
        ),
        (
            "ec384",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            Algorithm::ES384,
        ),
        ("ed", &["-algorithm", "ED25519"], Algorithm::EdDSA),
    ];
    for (name, args, alg) in cases {
        let (private, public_path) = openssl_pair(&dir, name, args);
        let encoding = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&private),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&private),
            _ => EncodingKey::from_rsa_pem(&private),
        }
        .expect("private key");
        let alg_name = format!("{alg:?}");
        let verifier = Verifier::new(&public_path, &alg_name).expect("verifier from file");
        let token = sign(alg, &encoding, &json!({"mercure": {"subscribe": ["x"]}}));
        let claims = verifier.verify(&token).expect("valid");
        assert_eq!(claims.subscribe, Some(vec!["x".into()]), "{name}");
        let inline = std::fs::read_to_string(&public_path).expect("pem");
        let inline_verifier = Verifier::new(&inline, &alg_name).expect("inline");
        assert!(inline_verifier.verify(&token).is_ok(), "{name}");
        // No algorithm confusion: an HMAC verifier refuses it.
        let hmac = Verifier::new(SECRET, "HS256").expect("hs");
        assert!(hmac.verify(&token).is_err(), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// R-BOUND: a flood of large distinct valid tokens keeps the verified-token cache within its
/// byte budget, and the token in use keeps its entry (no clearing all at once).
#[test]
fn a_flood_of_large_tokens_stays_in_the_cache_budget_and_the_token_in_use_survives() {
    let verifier = Verifier::new(SECRET, "HS256").expect("verifier");
    let in_use = hs256(&json!({"mercure": {"publish": ["https://example.com/in-use"]}}));
    verifier.verify(&in_use).expect("valid");
    let padding = "p".repeat(32 * 1024);
    for i in 0..1_500 {
        let token = hs256(&json!({"mercure": {"payload": format!("{i}{padding}")}}));
        verifier.verify(&token).expect("valid");
        if i % 50 == 0 {
            // An app reusing its token, as every publish of an app does.
            verifier.verify(&in_use).expect("valid");
        }
    }
    assert!(
        verifier.verified.bytes() <= verifier.verified.budget(),
        "{} bytes for a budget of {}",
        verifier.verified.bytes(),
        verifier.verified.budget()
    );
    assert!(
        verifier.verified.len() < 1_500,
        "older entries were evicted"
    );
    assert!(
        verifier.verified.read(in_use.as_str(), |_| ()).is_some(),
        "the token in use survived"
    );
}
