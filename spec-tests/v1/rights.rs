//! B-AD-5, X-5 and the publish rows of §0.2: publish rights under 1.0 grants, and the same
//! publish requests answered per the token's dialect.

use serde_json::json;

use super::publish::{narrow, scope};
use super::{bearer, probe_v1, publish_as};
use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::send;
use crate::tokens::{matcher, mercure_detail, publish_claims};

/// B-AD-5: every topic of an update, canonical and alternates, public or private, needs a
/// `publish` grant (exact or URL pattern); otherwise 403 `insufficient_scope` and nothing is
/// dispatched. A `subscribe`-only entry grants no publishing.
#[tokio::test]
async fn b_ad_5_publish_needs_every_topic() {
    let hub = Hub::start_default().await;
    let a = uniq("b-ad-5-a");
    let books = uniq("b-ad-5-books");
    let c = uniq("b-ad-5-c");
    let token = hub.v1_publisher_token(json!([
        mercure_detail(&["subscribe"], vec![matcher("*", None)]),
        mercure_detail(
            &["publish"],
            vec![
                matcher(&a, None),
                matcher(&format!("{books}/:id"), Some("urlpattern"))
            ]
        ),
    ]));
    let mut p = probe_v1(&hub, None, &[("match", &a), ("match", &c)]).await;
    for fields in [
        vec![("topic", a.as_str())],
        vec![("topic", &format!("{books}/1"))],
        vec![("topic", a.as_str()), ("topic", &format!("{books}/2"))],
        vec![("topic", a.as_str()), ("private", "on")],
    ] {
        let r = publish_as(&hub, &token, &fields).await;
        assert_eq!(r.status, 200, "{fields:?}: {r:?}");
    }
    for fields in [
        vec![("topic", c.as_str())],
        vec![("topic", a.as_str()), ("topic", c.as_str())],
        vec![
            ("topic", c.as_str()),
            ("topic", a.as_str()),
            ("private", "on"),
        ],
        vec![("topic", &format!("{books}/1/2"))],
    ] {
        scope(
            &publish_as(&hub, &token, &fields).await,
            &format!("{fields:?}"),
        );
    }
    // The two accepted public updates carrying `a` (canonical, then alternate: B-PUB-2) arrive;
    // the private one and every refused one do not.
    let evs = p.drain(&hub).await;
    assert_eq!(evs.len(), 2, "only the public updates on a arrive: {evs:?}");
}

/// X-5, §0.2, X-11, A-AUTH-10, A-PUB-13, A-LIM-2: the same publish requests answered per the
/// token's dialect; without a usable token both answer 401 `Unauthorized\n` with the same
/// challenge.
#[tokio::test]
async fn x_5_publish_dialect_follows_token() {
    let hub = Hub::start_default().await;
    let t = uniq("x-5");
    let classic_none = hub.publisher_token(&json!({ "mercure": { "subscribe": ["*"] } }));
    let v1_none = hub.v1_publisher_token(json!([mercure_detail(
        &["subscribe"],
        vec![matcher("*", None)]
    )]));
    let r = publish_as(&hub, &classic_none, &[("topic", &t)]).await;
    asserts::unauthorized(&r);
    bearer(&r, Some("invalid_token"), None);
    scope(
        &publish_as(&hub, &v1_none, &[("topic", &t)]).await,
        "1.0 token without publish",
    );
    let classic_narrow = hub.publisher_token(&publish_claims(json!(["urn:only"])));
    let r = publish_as(&hub, &classic_narrow, &[("topic", &t)]).await;
    asserts::forbidden(&r);
    bearer(&r, Some("insufficient_scope"), None);
    scope(
        &publish_as(&hub, &narrow(&hub, &["urn:only"]), &[("topic", &t)]).await,
        "1.0 uncovered",
    );
    let classic_all = hub.publisher_token_all();
    let v1_all = hub.v1_publisher_token_all();
    let reserved = "https://example.com/.well-known/mercure/x";
    assert_eq!(
        publish_as(&hub, &classic_all, &[("topic", reserved)])
            .await
            .status,
        403
    );
    assert_eq!(
        publish_as(&hub, &v1_all, &[("topic", reserved)])
            .await
            .status,
        400
    );
    assert_eq!(
        publish_as(&hub, &classic_all, &[("topic", "*")])
            .await
            .status,
        200
    );
    assert_eq!(
        publish_as(&hub, &v1_all, &[("topic", "*")]).await.status,
        400
    );
    let hash = format!("#x-5-{}", uuid::Uuid::new_v4());
    assert_eq!(
        publish_as(&hub, &classic_all, &[("topic", &t), ("id", &hash)])
            .await
            .status,
        200
    );
    assert_eq!(
        publish_as(&hub, &v1_all, &[("topic", &t), ("id", "#x")])
            .await
            .status,
        400
    );
    // No usable token: the same answer in both dialects.
    let r = send(hub.pub_req(None, &[("topic", &t)])).await;
    asserts::unauthorized(&r);
    bearer(&r, None, None);
    let sig = v1_all.rsplit('.').next().unwrap_or_default().to_string();
    let forged = format!(
        "{}{}",
        &v1_all[..v1_all.len() - sig.len()],
        sig.chars().rev().collect::<String>()
    );
    for bad in [
        forged.as_str(),
        "not-a-token-not-a-token-not-a-token-not-a-token",
    ] {
        let r = publish_as(&hub, bad, &[("topic", &t)]).await;
        asserts::unauthorized(&r);
        bearer(&r, Some("invalid_token"), None);
    }
}
