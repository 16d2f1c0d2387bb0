//! The HTTP routes: the webhook endpoints, `/healthz` and `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::activity::Activity;
use crate::intake::answer_delivery;
use crate::server::Shared;

/// `POST /webhooks/{integration}`; `POST /webhooks/{provider}/{integration}` too (the
/// route of hosts that served one provider, which existing subscriptions still call);
/// `GET /healthz`; `GET /metrics`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/webhooks/{integration}", post(webhook))
        .route(
            "/webhooks/{provider}/{integration}",
            post(webhook_of_provider),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        // The webhook reads (and bounds) its body itself; see `intake::read_body`.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

async fn webhook(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(&shared, &id, None, headers, body).await
}

async fn webhook_of_provider(
    State(shared): State<Arc<Shared>>,
    UrlPath((provider, id)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(&shared, &id, Some(&provider), headers, body).await
}

async fn respond(
    shared: &Arc<Shared>,
    id: &str,
    provider: Option<&str>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let answer = answer_delivery(shared, id, provider, headers, body).await;
    let label = if shared.integration(id).is_some() {
        id
    } else {
        "(unknown)"
    };
    shared
        .metrics
        .delivery(label, answer.outcome, started.elapsed());
    shared.emit(Activity::Answered {
        integration: id.to_owned(),
        status: answer.status.as_u16(),
        outcome: answer.outcome.to_string(),
        delivery_id: answer.delivery_id.clone(),
        detail: answer.detail.clone(),
        queued: answer.queued.clone(),
    });
    let mut body = serde_json::Map::new();
    body.insert("outcome".into(), json!(answer.outcome));
    if let Some(id) = &answer.delivery_id {
        body.insert("delivery_id".into(), json!(id));
    }
    if !answer.detail.is_empty() {
        body.insert("detail".into(), json!(answer.detail));
    }
    if !answer.queued.is_empty() {
        body.insert("queued".into(), json!(answer.queued));
    }
    let mut response = (answer.status, axum::Json(body)).into_response();
    if let Some(seconds) = answer.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let check = shared.clone();
    let storage = tokio::task::spawn_blocking(move || check.queue.pending().map(|k| k.len())).await;
    match storage {
        Ok(Ok(depth)) => (
            StatusCode::OK,
            axum::Json(
                json!({"status": "ok", "queue_depth": depth, "shutting_down": shared.stopping()}),
            ),
        )
            .into_response(),
        Ok(Err(error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "storage unavailable", "error": error.to_string()})),
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"status": "error", "error": error.to_string()})),
        )
            .into_response(),
    }
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}
