//! `quicksilver token issue`: mint a classic Mercure token or a 1.0 access token (protocol.md
//! C-CLI-1, C-CLI-2).

mod v1;

use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

use crate::auth::{now_seconds, Dialect};
use crate::config::{parse_duration, DEVELOPMENT_KEY};

/// `exp` of `--dev` tokens: 2100-01-01, as the reference hub's development tokens.
const DEV_EXPIRY: u64 = 4_102_444_800;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  quicksilver token issue --key-env JWT_KEY --publish 'https://example.com/books/{id}'
  quicksilver token issue --key-file secret.txt --subscribe '*' --ttl 24h
  quicksilver token issue --alg RS256 --key @private.pem --publish '*' --kid 2024-01
  quicksilver token issue --dev --pretty
  quicksilver token issue --dialect 1.0 --key-env JWT_KEY --iss https://auth.example.com \\
      --aud https://hub.example.com/.well-known/mercure \\
      --subscribe-urlpattern 'https://example.com/books/:id'
  quicksilver token issue --dialect 1.0 --dev")]
pub struct IssueArgs {
    /// Token format: `classic` (a `mercure` claim, understood by every Mercure hub and client
    /// library today) or `1.0` (an RFC 9068 access token, `typ: at+jwt`, with
    /// `authorization_details`; needs --iss and --aud unless --dev).
    #[arg(long, value_name = "DIALECT", default_value = "classic")]
    pub dialect: String,
    /// The signing key: the shared secret (HS256/384/512), a PEM private key, `@FILE` to read
    /// it from a file, or `@-` to read it from standard input. A key typed on the command line
    /// ends up in your shell history: prefer --key-file or --key-env.
    #[arg(long, value_name = "KEY", conflicts_with_all = ["key_file", "key_env"])]
    pub key: Option<String>,
    /// Read the signing key (secret or PEM private key) from this file.
    #[arg(long, value_name = "PATH", conflicts_with = "key_env")]
    pub key_file: Option<PathBuf>,
    /// Read the signing key from this environment variable.
    #[arg(long, value_name = "VARIABLE")]
    pub key_env: Option<String>,
    /// Signing algorithm: HS256 (default for a secret), HS384, HS512, RS256/384/512,
    /// PS256/384/512, ES256, ES384 or EdDSA. Required with a PEM key.
    #[arg(long, value_name = "ALG")]
    pub alg: Option<String>,
    /// Key id (`kid` header), for hubs that verify with a JWK Set.
    #[arg(long, value_name = "KID")]
    pub kid: Option<String>,
    /// Topic the token may publish to. Classic: an exact topic, a URI template or `*`; 1.0: an
    /// exact topic or `*` (`{"match": …}`). Repeatable.
    #[arg(long, value_name = "SELECTOR")]
    pub publish: Vec<String>,
    /// Topic whose private updates the token may receive, as for --publish. Repeatable.
    #[arg(long, value_name = "SELECTOR")]
    pub subscribe: Vec<String>,
    /// 1.0 only: a URL Pattern the token may publish to, e.g.
    /// `https://example.com/books/:id`; relative patterns resolve against the hub URL.
    /// Repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub publish_urlpattern: Vec<String>,
    /// 1.0 only: a URL Pattern whose private updates the token may receive. Repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub subscribe_urlpattern: Vec<String>,
    /// Any JSON value shown in subscription events: classic `mercure.payload`; 1.0 the
    /// `payload` of the subscribe grant.
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,
    /// Lifetime, e.g. 30m, 1h, 7d (default 1h). Classic: `0` makes a token that never
    /// expires; 1.0 tokens always expire.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// `iss` claim. Classic: ignored by the hub; 1.0: required, selects the hub's issuer.
    #[arg(long, value_name = "ISSUER")]
    pub iss: Option<String>,
    /// `aud` claim. Classic: ignored by the hub; 1.0: required, the hub's resource identifier
    /// (e.g. https://hub.example.com/.well-known/mercure).
    #[arg(long, value_name = "AUDIENCE")]
    pub aud: Option<String>,
    /// `sub` claim (1.0: default a random urn:uuid).
    #[arg(long, value_name = "SUBJECT")]
    pub sub: Option<String>,
    /// 1.0 only: `client_id` claim (default: the issuer).
    #[arg(long, value_name = "CLIENT")]
    pub client_id: Option<String>,
    /// Development token: the key is $MERCURE_PUBLISHER_JWT_KEY, else the public development
    /// secret; `*` publish and subscribe rights when no grant is given; expires in 2100
    /// unless --ttl is given; 1.0: iss https://localhost, aud
    /// https://localhost/.well-known/mercure unless given.
    #[arg(long)]
    pub dev: bool,
    /// Also print the decoded header and claims on standard error.
    #[arg(long)]
    pub pretty: bool,
}

pub(super) fn issue(args: &IssueArgs) -> anyhow::Result<()> {
    let dialect = dialect(args)?;
    let key = signing_key(args)?;
    let alg = algorithm(args.alg.as_deref(), &key)?;
    let mut header = Header::new(alg);
    header.kid = args.kid.clone();
    let claims = match dialect {
        Dialect::Classic => claims(args)?,
        Dialect::V1 => {
            // B-TOK-2: the RFC 9068 media type.
            header.typ = Some(v1::TYPE.to_owned());
            v1::claims(args)?
        }
    };
    let jws = sign(&header, &claims, &key)?;
    if args.pretty {
        eprintln!("{}", pretty(&header, &claims));
    }
    println!("{jws}");
    Ok(())
}

/// `--dialect`, and the flags that belong to the other dialect only.
fn dialect(args: &IssueArgs) -> anyhow::Result<Dialect> {
    match args.dialect.as_str() {
        "classic" => {}
        "1.0" => return Ok(Dialect::V1),
        other => bail!("unknown --dialect {other:?}; use classic or 1.0"),
    }
    if !args.publish_urlpattern.is_empty() || !args.subscribe_urlpattern.is_empty() {
        bail!("--publish-urlpattern and --subscribe-urlpattern belong to the 1.0 dialect: add --dialect 1.0");
    }
    if args.client_id.is_some() {
        bail!("--client-id belongs to the 1.0 dialect: add --dialect 1.0");
    }
    Ok(Dialect::Classic)
}

/// A signing key as given: a shared secret or a PEM private key.
pub(super) struct SigningKey {
    text: String,
}

impl SigningKey {
    pub(super) fn new(text: String) -> Self {
        Self { text }
    }

    pub(super) fn is_pem(&self) -> bool {
        self.text.trim_start().starts_with("-----BEGIN")
    }
}

fn signing_key(args: &IssueArgs) -> anyhow::Result<SigningKey> {
    let text = if let Some(key) = &args.key {
        key_argument(key)?
    } else if let Some(path) = &args.key_file {
        read_secret_file(path)?
    } else if let Some(name) = &args.key_env {
        std::env::var(name).with_context(|| format!("environment variable {name} is not set"))?
    } else if args.dev {
        std::env::var("MERCURE_PUBLISHER_JWT_KEY")
            .ok()
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| DEVELOPMENT_KEY.to_owned())
    } else {
        bail!(
            "a signing key is required: --key-file PATH, --key-env VARIABLE, --key KEY (or --dev)"
        );
    };
    if text.is_empty() {
        bail!("the signing key is empty");
    }
    Ok(SigningKey::new(text))
}

/// `--key`: `@-` is standard input, `@FILE` a file, anything else the key itself.
fn key_argument(value: &str) -> anyhow::Result<String> {
    match value.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the key from standard input")?;
            Ok(strip_newline(text))
        }
        Some(path) => read_secret_file(&PathBuf::from(path)),
        None => Ok(value.to_owned()),
    }
}

/// Reads a key file; one trailing line break (as editors add) is not part of a secret.
pub(super) fn read_secret_file(path: &PathBuf) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    Ok(strip_newline(text))
}

fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// The algorithm: `--alg`, else HS256 for a secret; a PEM key needs an explicit asymmetric one.
pub(super) fn algorithm(alg: Option<&str>, key: &SigningKey) -> anyhow::Result<Algorithm> {
    let Some(name) = alg else {
        if key.is_pem() {
            bail!("--alg is required with a PEM key (e.g. RS256, ES256 or EdDSA)");
        }
        return Ok(Algorithm::HS256);
    };
    let algorithm = Algorithm::from_str(name).map_err(|_| {
        anyhow!("unsupported --alg {name:?}; use HS256/384/512, RS256/384/512, PS256/384/512, ES256, ES384 or EdDSA")
    })?;
    match (is_hmac(algorithm), key.is_pem()) {
        (true, true) => bail!(
            "a PEM key cannot be used with {name}: give the shared secret, or an asymmetric --alg"
        ),
        (false, false) => bail!("--alg {name} needs a PEM private key (--key-file private.pem)"),
        _ => Ok(algorithm),
    }
}

pub(super) fn is_hmac(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    )
}

/// Signs `claims`; `header.alg` must suit `key` (see [`algorithm`]).
pub(super) fn sign(header: &Header, claims: &Value, key: &SigningKey) -> anyhow::Result<String> {
    let pem = key.text.as_bytes();
    let encoding = match header.alg {
        alg if is_hmac(alg) => EncodingKey::from_secret(pem),
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        _ => EncodingKey::from_rsa_pem(pem),
    }
    .map_err(|e| anyhow!("the key is not a valid key for {:?}: {e}", header.alg))?;
    jsonwebtoken::encode(header, claims, &encoding).map_err(|e| anyhow!("cannot sign: {e}"))
}

fn claims(args: &IssueArgs) -> anyhow::Result<Value> {
    let (publish, subscribe) = grants(args)?;
    let mut mercure = Map::new();
    if let Some(publish) = publish {
        mercure.insert("publish".into(), json!(publish));
    }
    if let Some(subscribe) = subscribe {
        mercure.insert("subscribe".into(), json!(subscribe));
    }
    if let Some(payload) = payload(args)? {
        mercure.insert("payload".into(), payload);
    }
    let mut claims = Map::new();
    claims.insert("mercure".into(), Value::Object(mercure));
    let now = now_seconds() as u64;
    claims.insert("iat".into(), json!(now));
    if let Some(exp) = expiry(args, now)? {
        claims.insert("exp".into(), json!(exp));
    }
    for (name, value) in [("iss", &args.iss), ("aud", &args.aud), ("sub", &args.sub)] {
        if let Some(value) = value {
            claims.insert(name.into(), json!(value));
        }
    }
    Ok(Value::Object(claims))
}

/// `--payload`, parsed as JSON.
fn payload(args: &IssueArgs) -> anyhow::Result<Option<Value>> {
    args.payload
        .as_deref()
        .map(|text| {
            serde_json::from_str(text).map_err(|e| anyhow!("--payload is not valid JSON: {e}"))
        })
        .transpose()
}

type Grants = (Option<Vec<String>>, Option<Vec<String>>);

fn grants(args: &IssueArgs) -> anyhow::Result<Grants> {
    let non_empty = |list: &Vec<String>| (!list.is_empty()).then(|| list.clone());
    match (non_empty(&args.publish), non_empty(&args.subscribe)) {
        (None, None) if args.dev => Ok((Some(vec!["*".into()]), Some(vec!["*".into()]))),
        (None, None) => bail!("give at least one --publish or --subscribe selector (or --dev)"),
        grants => Ok(grants),
    }
}

/// `exp`: now + `--ttl` (default 1h); none for `--ttl 0`; 2100-01-01 for `--dev` without `--ttl`.
fn expiry(args: &IssueArgs, now: u64) -> anyhow::Result<Option<u64>> {
    let ttl = match &args.ttl {
        None if args.dev => return Ok(Some(DEV_EXPIRY)),
        None => std::time::Duration::from_secs(3600),
        Some(text) => parse_ttl(text)?,
    };
    Ok((!ttl.is_zero()).then(|| now + ttl.as_secs().max(1)))
}

pub(super) fn parse_ttl(text: &str) -> anyhow::Result<std::time::Duration> {
    if text.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    parse_duration(text).map_err(|e| anyhow!("--ttl: {e}"))
}

fn pretty(header: &Header, claims: &Value) -> String {
    let header = serde_json::to_value(header).unwrap_or(Value::Null);
    format!(
        "header: {}\nclaims: {}",
        serde_json::to_string_pretty(&header).unwrap_or_default(),
        serde_json::to_string_pretty(claims).unwrap_or_default()
    )
}

/// A classic token for the CLI's own requests (`publish`, `subscribe`): one hour, HS* only.
pub(super) fn mint(
    secret: &str,
    alg: &str,
    publish: Option<&[String]>,
    subscribe: Option<&[String]>,
) -> anyhow::Result<String> {
    let key = SigningKey::new(secret.to_owned());
    let algorithm = Algorithm::from_str(alg)
        .ok()
        .filter(|a| is_hmac(*a) && !key.is_pem())
        .ok_or_else(|| {
            anyhow!("cannot mint a token with the configured {alg} key (only HS256/384/512 secrets): give --token or --token-file")
        })?;
    let mut mercure = Map::new();
    if let Some(publish) = publish {
        mercure.insert("publish".into(), json!(publish));
    }
    if let Some(subscribe) = subscribe {
        mercure.insert("subscribe".into(), json!(subscribe));
    }
    let now = now_seconds() as u64;
    let claims = json!({"mercure": mercure, "iat": now, "exp": now + 3600});
    sign(&Header::new(algorithm), &claims, &key)
}
