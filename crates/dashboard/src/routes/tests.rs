//! The routes without a socket: the page, the event stream's headers and
//! first bytes, the token guard in front of every action.

use std::collections::BTreeMap;
use std::sync::Mutex;

use coyote_pool::Pool;
use futures::StreamExt;
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::{BoxFuture, Source};

/// Pipelines whose pause state is kept in memory, with the calls made
/// (the jobs plugin itself is exercised by the jobs crate's tests).
#[derive(Default)]
struct Pipelines {
    calls: Mutex<Vec<(String, bool)>>,
}

impl Source for Pipelines {
    fn pools(&self) -> BTreeMap<String, Pool> {
        BTreeMap::new()
    }

    fn pipelines(&self) -> Vec<serde_json::Value> {
        vec![serde_json::json!({"pipeline": "emails", "ready": true, "active": 3})]
    }

    fn set_paused<'a>(
        &'a self,
        pipeline: &'a str,
        pause: bool,
    ) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move {
            if pipeline != "emails" {
                return Err(ActionError::Failed(format!("no such pipeline: {pipeline}")));
            }
            self.calls
                .lock()
                .unwrap()
                .push((pipeline.to_owned(), pause));
            Ok(())
        })
    }
}

fn dashboard(token: &str) -> (Arc<Dashboard>, Arc<Pipelines>) {
    let source = Arc::new(Pipelines::default());
    let d = Dashboard::new(source.clone(), token, CancellationToken::new());
    (d, source)
}

fn request(method: &str, uri: &str, auth: Option<&str>) -> Request<()> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(()).unwrap()
}

async fn call(d: &Arc<Dashboard>, req: Request<()>) -> (StatusCode, String) {
    assert!(Dashboard::owns(req.uri().path()), "{}", req.uri());
    let answer = d.handle(req).await;
    let status = answer.status();
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn page_is_self_contained() {
    let (d, _) = dashboard("");
    let answer = d.handle(request("GET", "/dashboard", None)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(answer.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    let html = String::from_utf8_lossy(&body);
    assert!(html.contains("EventSource"), "fed over SSE");
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
    ] {
        assert!(!html.contains(external), "external asset {external:?}");
    }
    assert!(!Dashboard::owns("/health"));
    assert!(!Dashboard::owns("/dashboardx"));
    assert!(Dashboard::owns("/dashboard/"));
    assert_eq!(
        call(&d, request("GET", "/dashboard/nope", None)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&d, request("POST", "/dashboard", None)).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn events_stream_the_published_snapshot() {
    let (d, _) = dashboard("t");
    d.publish(&mut crate::Sampler::default());
    let answer = d.handle(request("GET", "/dashboard/events", None)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()[CONTENT_TYPE], "text/event-stream");
    assert_eq!(answer.headers()[CACHE_CONTROL], "no-cache");
    let mut body = answer.into_body().into_data_stream();
    let first = body.next().await.unwrap().unwrap();
    let first = String::from_utf8_lossy(&first);
    let data = first
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no data line in {first:?}"));
    let snapshot: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(snapshot["actions"], true);
    assert_eq!(snapshot["pipelines"][0]["pipeline"], "emails");
    assert_eq!(snapshot["pools"], serde_json::json!([]));
}

#[tokio::test]
async fn actions_are_off_without_a_token() {
    let (d, source) = dashboard("");
    for uri in [
        "/dashboard/api/reset?pool=http",
        "/dashboard/api/pause?pipeline=emails",
        "/dashboard/api/resume?pipeline=emails",
    ] {
        let (status, body) = call(&d, request("POST", uri, Some("Bearer anything"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {body}");
        assert!(body.contains("status.dashboard.token"), "{body}");
    }
    assert!(source.calls.lock().unwrap().is_empty());
    let (_, snapshot) = call(&d, request("GET", "/dashboard/api/snapshot", None)).await;
    assert!(snapshot.contains("\"actions\":false"), "{snapshot}");
}

#[tokio::test]
async fn actions_need_the_right_bearer_token() {
    let (d, source) = dashboard("s3cret");
    let pause = "/dashboard/api/pause?pipeline=emails";
    let answer = d.handle(request("POST", pause, None)).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(answer.headers().contains_key(WWW_AUTHENTICATE));
    assert_eq!(
        call(&d, request("POST", pause, Some("Bearer wrong")))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert!(
        source.calls.lock().unwrap().is_empty(),
        "refused calls do nothing"
    );
    assert_eq!(
        call(&d, request("GET", pause, Some("Bearer s3cret")))
            .await
            .0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (status, body) = call(&d, request("POST", pause, Some("Bearer s3cret"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resume = "/dashboard/api/resume?pipeline=emails";
    assert_eq!(
        call(&d, request("POST", resume, Some("Bearer s3cret")))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        *source.calls.lock().unwrap(),
        vec![("emails".to_owned(), true), ("emails".to_owned(), false)]
    );
    let (status, body) = call(
        &d,
        request(
            "POST",
            "/dashboard/api/reset?pool=nope",
            Some("Bearer s3cret"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        call(
            &d,
            request("POST", "/dashboard/api/reset", Some("Bearer s3cret"))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    let (status, body) = call(
        &d,
        request(
            "POST",
            "/dashboard/api/pause?pipeline=other",
            Some("Bearer s3cret"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
}
