//! Intake: one delivery through the core's pipeline (verify, size, normalize) with the
//! provider's writes staged, the platform's decision, and one atomic commit of both.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use vcs_host::DeliveryOutcome;
use vcs_host::json::{action_name, decision_name, error_parts, kind_name};
use vcs_host::types::{Delivery, Event, Outcome, ProviderError};

use crate::job::jobs_for;
use crate::server::{Integration, Shared};
use crate::staged::StagedStorage;

/// How often a commit that lost a race is retried before the delivery is answered 503.
const MAX_COMMIT_ATTEMPTS: u32 = 5;

/// The answer to one delivery.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) outcome: &'static str,
    pub(crate) delivery_id: Option<String>,
    pub(crate) detail: String,
    pub(crate) queued: Vec<String>,
    pub(crate) retry_after: Option<u32>,
}

impl Answer {
    fn new(status: StatusCode, outcome: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            outcome,
            delivery_id: None,
            detail: detail.into(),
            queued: vec![],
            retry_after: None,
        }
    }
}

/// Answer one delivery for integration `id`; `provider` is the provider the URL names,
/// when it names one.
pub(crate) async fn answer_delivery(
    shared: &Arc<Shared>,
    id: &str,
    provider: Option<&str>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let integration = match shared.integration(id) {
        Some(integration) if provider.is_none_or(|p| p == integration.info.name) => integration,
        Some(integration) => {
            return Answer::new(
                StatusCode::NOT_FOUND,
                "unknown_integration",
                format!(
                    "the integration {id:?} is served by the provider {:?}, not {:?}: send its \
                     deliveries to /webhooks/{id}",
                    integration.info.name,
                    provider.unwrap_or_default()
                ),
            );
        }
        None => {
            return Answer::new(
                StatusCode::NOT_FOUND,
                "unknown_integration",
                format!("no integration called {id:?} is served here"),
            );
        }
    };
    let limit = usize::try_from(integration.info.max_delivery_bytes).unwrap_or(usize::MAX);
    let (body, too_large) = match read_body(body, limit).await {
        Ok(read) => read,
        Err(error) => {
            return Answer::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("cannot read the request body: {error}"),
            );
        }
    };
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Bounded: each delivery in flight holds a blocking thread and an instance.
    let permit =
        match tokio::time::timeout(Duration::from_secs(5), shared.intake_permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                let mut answer = Answer::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "too many deliveries in flight; retry shortly",
                );
                answer.retry_after = Some(5);
                return answer;
            }
        };
    let worker = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        intake(&worker, &integration, headers, body, too_large)
    })
    .await;
    drop(permit);
    match result {
        Ok(answer) => {
            if !answer.queued.is_empty() {
                shared.wake.notify_one();
            }
            answer
        }
        Err(join) => Answer::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error",
            format!("the delivery's processing thread failed: {join}"),
        ),
    }
}

/// Past this much (or twice the limit, when that is more), an oversized body is no longer
/// drained and the connection is dropped.
const MAX_DRAINED_BYTES: usize = 64 * 1024 * 1024;

/// The body, up to `limit` bytes (the provider's); `true` when it was larger. An
/// oversized body is read to its end (and thrown away) so that the sender, which writes
/// the whole body before reading, gets the 413 (or 401) instead of a broken pipe.
async fn read_body(mut body: Body, limit: usize) -> Result<(Vec<u8>, bool), String> {
    let drain_limit = MAX_DRAINED_BYTES.max(limit.saturating_mul(2));
    use http_body_util::BodyExt as _;
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen <= limit {
                kept.extend_from_slice(&data);
            } else if seen > drain_limit {
                break;
            }
        }
    }
    if seen > limit {
        return Ok((Vec::new(), true));
    }
    Ok((kept, false))
}

/// Verify, normalize, decide and commit one delivery. Runs on a blocking thread.
fn intake(
    shared: &Shared,
    integration: &Integration,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    too_large: bool,
) -> Answer {
    let pipeline = &integration.pipeline;
    let context = integration.context(shared.storage.clone());
    if let Err(refused) = pipeline.admit(&context, &headers, &body, too_large) {
        return refusal(shared, refused);
    }
    let delivery = Delivery { headers, body };
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        let staged = Arc::new(StagedStorage::new(shared.storage.clone()));
        let (mut answer, jobs) = match pipeline
            .normalize(&context.with_storage(staged.clone()), &delivery)
        {
            DeliveryOutcome::Handled(handled) => {
                let delivery_id = handled.delivery_id.clone();
                let (mut answer, jobs) = match &handled.outcome {
                    Outcome::Event(event) => {
                        let jobs = jobs_for(pipeline.settings(), delivery_id.as_deref(), event);
                        let mut answer = Answer::new(StatusCode::OK, "event", event_summary(event));
                        if !jobs.is_empty() {
                            answer.status = StatusCode::ACCEPTED;
                            answer.outcome = "queued";
                        }
                        (answer, jobs)
                    }
                    Outcome::Ignored(reason) => (
                        Answer::new(StatusCode::OK, "ignored", reason.clone()),
                        vec![],
                    ),
                    Outcome::Duplicate => (
                        Answer::new(StatusCode::OK, "duplicate", "already received"),
                        vec![],
                    ),
                };
                answer.delivery_id = delivery_id;
                (answer, jobs)
            }
            DeliveryOutcome::Failed(ProviderError::RateLimited(limit)) => {
                let mut answer = Answer::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error",
                    format!(
                        "{} is rate limiting the provider: {}",
                        integration.info.display_name, limit.message
                    ),
                );
                answer.retry_after = Some(limit.retry_after_seconds.unwrap_or(30));
                return answer;
            }
            refused => return refusal(shared, refused),
        };
        let committed = staged.transaction().and_then(|mut txn| {
            let keys = shared.queue.enqueue_into(&mut txn, &jobs)?;
            Ok((shared.storage.commit(&txn)?, keys))
        });
        match committed {
            Ok((true, keys)) => {
                answer.queued = keys;
                return answer;
            }
            Ok((false, _)) => {
                // Another delivery changed what this one read (a racing redelivery, or
                // another process): run it again against the new state.
                shared.metrics.storage_conflict();
            }
            Err(error) => {
                let mut answer = Answer::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error",
                    format!("storage: {error}"),
                );
                answer.retry_after = Some(10);
                return answer;
            }
        }
    }
    let mut answer = Answer::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "error",
        "storage contention: the delivery raced others too often; retry",
    );
    answer.retry_after = Some(1);
    answer
}

/// The answer to a delivery the pipeline did not turn into an event.
fn refusal(shared: &Shared, outcome: DeliveryOutcome) -> Answer {
    match outcome {
        DeliveryOutcome::Rejected(reason) => {
            Answer::new(StatusCode::UNAUTHORIZED, "rejected", reason)
        }
        DeliveryOutcome::TooLarge {
            size,
            limit,
            provider,
        } => Answer::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            DeliveryOutcome::too_large_reason(size, limit, &provider),
        ),
        DeliveryOutcome::Invalid(reason) => Answer::new(StatusCode::BAD_REQUEST, "invalid", reason),
        DeliveryOutcome::Unverified(error) => {
            let (kind, message) = error_parts(&error);
            Answer::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "error",
                format!("verifying the delivery failed ({kind}): {message}"),
            )
        }
        DeliveryOutcome::Failed(error) => {
            let (kind, message) = error_parts(&error);
            Answer::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "error",
                format!("{kind}: {message}"),
            )
        }
        DeliveryOutcome::Trapped(trap) => {
            shared.metrics.trap(&trap);
            Answer::new(StatusCode::INTERNAL_SERVER_ERROR, "error", trap.to_string())
        }
        DeliveryOutcome::Handled(_) => Answer::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error",
            "a handled delivery was taken for a refusal",
        ),
    }
}

fn event_summary(event: &Event) -> String {
    let mut text = kind_name(event.kind).to_string();
    if let Some(action) = event.action {
        text = format!("{text} {}", action_name(action));
    }
    if let Some(pr) = &event.pull_request {
        text = format!("{text} #{}", pr.number);
    }
    if let Some(command) = &event.command {
        text = format!(
            "{text}: {} {} ({})",
            command.name,
            decision_name(command.decision),
            command.reason
        );
    }
    text
}
