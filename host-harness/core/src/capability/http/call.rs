//! One call's side of the `http` import: the request budget and the backend.

use std::sync::Arc;

use super::{HttpBackend, HttpError, InboundResponse, OutboundRequest};

/// What a single provider call may send: at most `max_requests`, through `backend`.
pub struct CallHttp {
    backend: Arc<dyn HttpBackend>,
    integration: String,
    max_requests: u32,
    sent: u32,
}

impl CallHttp {
    /// A fresh budget for one call of `integration`.
    pub fn new(backend: Arc<dyn HttpBackend>, integration: &str, max_requests: u32) -> Self {
        Self {
            backend,
            integration: integration.to_owned(),
            max_requests,
            sent: 0,
        }
    }

    /// Send one request, unless the call has used up its budget.
    pub fn send(&mut self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        self.sent = self.sent.saturating_add(1);
        if self.sent > self.max_requests {
            return Err(HttpError::Denied(format!(
                "more than {} HTTP requests in one call",
                self.max_requests
            )));
        }
        self.backend.send(request).inspect_err(|error| {
            tracing::debug!(integration = %self.integration, url = %request.url, "outbound request failed: {error}");
        })
    }
}
