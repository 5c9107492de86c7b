//! Shared assertions on error responses.

use crate::http::Resp;

/// 401 `Unauthorized\n` in plain text with nosniff (A-AUTH-17).
#[track_caller]
pub fn unauthorized(r: &Resp) {
    r.expect(401, "Unauthorized\n");
    plain_text(r);
}

/// 403 `Forbidden\n` in plain text with nosniff (A-AUTH-10, A-AUTH-17).
#[track_caller]
pub fn forbidden(r: &Resp) {
    r.expect(403, "Forbidden\n");
    plain_text(r);
}

/// `Content-Type: text/plain; charset=utf-8` and `X-Content-Type-Options: nosniff`.
#[track_caller]
pub fn plain_text(r: &Resp) {
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8"),
        "{r:?}"
    );
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{r:?}"
    );
}

/// The `WWW-Authenticate` challenge is `Bearer` with the given `error` auth-param
/// (`None` = bare challenge, no `error`). A `resource_metadata` param is tolerated.
#[track_caller]
pub fn challenge(r: &Resp, error: Option<&str>) {
    let values: Vec<_> = r.headers.get_all("www-authenticate").iter().collect();
    assert_eq!(values.len(), 1, "expected one WWW-Authenticate: {r:?}");
    let v = values[0].to_str().expect("ascii challenge");
    let (scheme, params) = v.split_once(' ').unwrap_or((v, ""));
    assert_eq!(scheme, "Bearer", "challenge {v:?}");
    let found = params.split(',').map(str::trim).find_map(|p| {
        p.strip_prefix("error=")
            .map(|e| e.trim_matches('"').to_string())
    });
    assert_eq!(found.as_deref(), error, "challenge {v:?}");
    for p in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let name = p.split('=').next().unwrap_or_default();
        assert!(
            ["error", "resource_metadata", "error_description", "realm"].contains(&name),
            "unexpected challenge parameter in {v:?}"
        );
    }
}

/// The C-HDR-1 security headers.
#[track_caller]
pub fn security_headers(headers: &reqwest::header::HeaderMap, what: &str) {
    let expected = [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("x-xss-protection", "1; mode=block"),
        ("content-security-policy", "default-src 'self'"),
    ];
    for (name, value) in expected {
        let got = headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<non-ascii>"));
        assert_eq!(got, Some(value), "{name} on {what}: {headers:?}");
    }
}
