//! The debugging UI (protocol.md C.7): a static single-page app embedded in the binary, served at
//! `/.well-known/mercure/ui/` and `/.well-known/mercure/debug/` when `ui = true`, plus its
//! configuration document (C-UI-4). Everything comes from the hub itself, so the page works
//! offline under the unchanged `default-src 'self'` policy (C-HDR-2).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use super::respond;
use crate::settings::{PlaygroundKey, Settings};

/// The classic UI path (C-UI-1).
pub(super) const UI_PATH: &str = "/.well-known/mercure/ui";
/// The 1.0 path of the same UI (C-UI-1).
pub(super) const DEBUG_PATH: &str = "/.well-known/mercure/debug";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../ui/index.html"),
    },
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../ui/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/app.js"),
    },
    Asset {
        name: "sse.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/sse.js"),
    },
    Asset {
        name: "jwt.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/jwt.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../ui/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../ui/favicon.svg"),
    },
];

/// Answers every request under the two UI prefixes.
pub(super) fn handle(request: &HttpRequest, settings: &Settings) -> HttpResponse {
    let path = request.uri().path();
    let Some(rest) = path
        .strip_prefix(UI_PATH)
        .or_else(|| path.strip_prefix(DEBUG_PATH))
    else {
        return respond::not_found();
    };
    // `/.well-known/mercure/uifoo` is not ours.
    let name = match rest {
        "" => return redirect_to_slash(request),
        _ => match rest.strip_prefix('/') {
            Some(name) => name,
            None => return respond::not_found(),
        },
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .finish();
    }
    if name == "config.json" {
        return config(settings);
    }
    if name == "playground-token" {
        return playground_token(settings);
    }
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => serve(request, asset),
        None => respond::not_found(),
    }
}

/// `/.well-known/mercure/ui` → `/.well-known/mercure/ui/`, keeping the query string.
fn redirect_to_slash(request: &HttpRequest) -> HttpResponse {
    let mut location = format!("{}/", request.uri().path());
    if let Some(query) = request.uri().query() {
        location.push('?');
        location.push_str(query);
    }
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// C-UI-4: what the page needs to know about the hub (with the 1.0 cookie name, B-AUTH-5). No
/// secret is ever part of it.
fn config(settings: &Settings) -> HttpResponse {
    let body = serde_json::json!({
        "playground": settings.features.demo,
        "anonymous": settings.auth.anonymous,
        "subscriptions": settings.features.subscriptions,
        "cookieName": settings.auth.cookie_name,
        // B-AUTH-5: the cookie a 1.0 token is stored in.
        "v1CookieName": super::metadata::v1_cookie_name(&settings.auth.cookie_name),
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.to_string())
}

/// How long a playground token lasts: a development session, not a deployment.
const PLAYGROUND_TOKEN_LIFETIME_SECS: f64 = 3600.0;

/// C-UI-4: in playground mode only, an all-access development token (publish and subscribe on
/// every topic), signed with the publisher's shared secret. 404 otherwise, as for any path the
/// hub does not serve.
fn playground_token(settings: &Settings) -> HttpResponse {
    let Some(key) = settings.features.playground_key.as_ref() else {
        return respond::not_found();
    };
    match sign_playground_token(key) {
        Ok(token) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(token),
        Err(error) => {
            tracing::warn!(%error, "cannot sign the playground token");
            respond::not_found()
        }
    }
}

fn sign_playground_token(key: &PlaygroundKey) -> Result<String, jsonwebtoken::errors::Error> {
    let alg = match key.alg.as_str() {
        "HS384" => jsonwebtoken::Algorithm::HS384,
        "HS512" => jsonwebtoken::Algorithm::HS512,
        _ => jsonwebtoken::Algorithm::HS256,
    };
    let exp = (crate::auth::now_seconds() + PLAYGROUND_TOKEN_LIFETIME_SECS).floor();
    let claims = serde_json::json!({
        "mercure": {"publish": ["*"], "subscribe": ["*"]},
        "exp": exp,
    });
    let secret = jsonwebtoken::EncodingKey::from_secret(key.secret.as_bytes())?;
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &secret)
}

fn serve(request: &HttpRequest, asset: &Asset) -> HttpResponse {
    let etag = format!("\"{:016x}\"", fnv1a(asset.body));
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let status = if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, etag));
    if fresh {
        return response.finish();
    }
    response.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    ));
    response.body(asset.body)
}

/// A content hash for the `ETag`: the assets change only with the binary.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_body_and_a_type() {
        for asset in ASSETS {
            assert!(!asset.body.is_empty(), "{}", asset.name);
            assert!(!asset.content_type.is_empty(), "{}", asset.name);
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!page.contains(attribute), "{attribute}");
        }
        assert!(!page.contains("<script>"), "inline scripts break the CSP");
        assert!(!page.contains("style="), "inline styles break the CSP");
    }

    fn asset(name: &str) -> &'static str {
        let asset = ASSETS.iter().find(|a| a.name == name).expect(name);
        std::str::from_utf8(asset.body).unwrap()
    }

    // C-UI-2 with issue #19: the page offers the three selector kinds (B-MT: `match`,
    // `match_urlpattern`), sends the cursor in the kind's own dialect (B-HIST-2), signs and
    // decodes 1.0 tokens (`at+jwt`, `authorization_details`) and stores them in the 1.0 cookie
    // (B-AUTH-5).
    #[test]
    fn the_page_offers_the_1_0_parameters() {
        let page = asset("index.html");
        for (id, kind) in [
            ("topic", "topic"),
            ("match", "match"),
            ("urlpattern", "match_urlpattern"),
        ] {
            let radio = format!("name=\"selector\" id=\"sel-{id}\" value=\"{kind}\"");
            assert!(page.contains(&radio), "selector kind {kind}");
        }
        assert!(
            page.contains("<option value=\"1.0\">"),
            "a 1.0 token can be signed"
        );
        let app = asset("app.js");
        assert!(app.contains("url.searchParams.append(kind, topic)"));
        assert!(app.contains("'last_event_id'") && app.contains("'lastEventID'"));
        assert!(app.contains("v1CookieName"));
        let jwt = asset("jwt.js");
        assert!(jwt.contains("at+jwt") && jwt.contains("authorization_details"));
    }
}
