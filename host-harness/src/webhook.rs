//! The delivery pipeline of `host-harness webhook` and `replay`: verify the delivery's
//! credentials, then let the provider normalize it, and express the result as one
//! outcome line of the JSON contract. `serve` makes the same two calls, with the
//! provider's storage writes staged so they commit together with the queued work.

use serde_json::Value;

use crate::bindings::exports::vcs::provider::webhooks::{Delivery, Outcome};
use crate::bindings::vcs::provider::types::{
    Connection, IntegrationSettings, ProviderError, WebhookAuth,
};
use crate::contract;
use crate::engine::{CallContext, Provider};

/// Azure DevOps never sends more than 2 MB; larger bodies are refused before the guest.
pub const MAX_DELIVERY_BYTES: usize = 2 * 1024 * 1024;

/// A delivery as received or recorded: headers and raw body bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedDelivery {
    /// Request headers, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl RecordedDelivery {
    /// Read a delivery file: either a recorded delivery
    /// `{"headers": {"Name": "value"}, "body": <object or string>}` or a raw service-hook
    /// body (taken byte for byte, with a JSON content type).
    pub fn from_file_bytes(bytes: &[u8]) -> Self {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) {
            let recorded = map.len() == 2
                && map.get("headers").is_some_and(Value::is_object)
                && map
                    .get("body")
                    .is_some_and(|b| b.is_object() || b.is_string());
            if recorded {
                let headers = map
                    .get("headers")
                    .and_then(Value::as_object)
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| {
                                let value =
                                    v.as_str().map_or_else(|| v.to_string(), str::to_string);
                                (k.clone(), value)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let body = match map.get("body") {
                    Some(Value::String(text)) => text.as_bytes().to_vec(),
                    Some(other) => serde_json::to_vec(other).unwrap_or_default(),
                    None => Vec::new(),
                };
                return Self { headers, body };
            }
        }
        Self {
            headers: vec![(
                "Content-Type".to_string(),
                "application/json; charset=utf-8".to_string(),
            )],
            body: bytes.to_vec(),
        }
    }

    /// Add or replace a header (case-insensitive name), as `-H` does.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }
}

/// Everything needed to process deliveries for one integration.
#[derive(Debug, Clone)]
pub struct DeliveryPipeline {
    /// The provider component.
    pub provider: Provider,
    /// Capabilities of each call (integration namespace, HTTP, storage).
    pub context: CallContext,
    /// The integration's settings.
    pub settings: IntegrationSettings,
    /// What deliveries must carry.
    pub webhook_auth: WebhookAuth,
    /// REST connection, when a credential is configured.
    pub connection: Option<Connection>,
}

impl DeliveryPipeline {
    /// Process one delivery into one outcome line. Never fails: every failure is a line.
    pub fn process(&self, delivery: &RecordedDelivery) -> Value {
        let verified = self.provider.call(&self.context, |p, store| {
            p.vcs_provider_auth().call_verify_webhook(
                store,
                &self.webhook_auth,
                &delivery.headers,
                &delivery.body,
            )
        });
        match verified {
            Ok(Ok(())) => {}
            Ok(Err(ProviderError::Unauthorized(reason))) => {
                return contract::rejected_line(&reason);
            }
            Ok(Err(other)) => {
                let (kind, message) = contract::error_parts(&other);
                return contract::error_line(&format!(
                    "verifying the delivery failed ({kind}): {message}"
                ));
            }
            Err(trap) => return contract::error_line(&trap.to_string()),
        }
        if delivery.body.len() > MAX_DELIVERY_BYTES {
            return contract::invalid_line(&format!(
                "the delivery body is {} bytes; Azure DevOps sends at most {MAX_DELIVERY_BYTES}",
                delivery.body.len()
            ));
        }
        let wit_delivery = Delivery {
            headers: delivery.headers.clone(),
            body: delivery.body.clone(),
        };
        let handled = self.provider.call(&self.context, |p, store| {
            p.vcs_provider_webhooks().call_handle_delivery(
                store,
                &self.settings,
                self.connection.as_ref(),
                &wit_delivery,
            )
        });
        match handled {
            Ok(Ok(handled)) => {
                let id = handled.delivery_id.as_deref();
                match &handled.outcome {
                    Outcome::Event(event) => contract::event_line(id, event),
                    Outcome::Ignored(reason) => contract::ignored_line(id, reason),
                    Outcome::Duplicate => contract::duplicate_line(id),
                }
            }
            Ok(Err(ProviderError::InvalidPayload(reason))) => contract::invalid_line(&reason),
            Ok(Err(other)) => {
                let (kind, message) = contract::error_parts(&other);
                contract::error_line(&format!("{kind}: {message}"))
            }
            Err(trap) => contract::error_line(&trap.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_and_raw_deliveries_are_told_apart() {
        let recorded = RecordedDelivery::from_file_bytes(
            br#"{"headers": {"Authorization": "Basic abc", "X-Count": 3}, "body": {"eventType": "git.push"}}"#,
        );
        assert_eq!(
            recorded.headers,
            vec![
                ("Authorization".to_string(), "Basic abc".to_string()),
                ("X-Count".to_string(), "3".to_string()),
            ]
        );
        assert_eq!(recorded.body, br#"{"eventType":"git.push"}"#);

        let as_string =
            RecordedDelivery::from_file_bytes(br#"{"headers": {}, "body": "not json"}"#);
        assert_eq!(as_string.body, b"not json");

        // A raw body that happens to have a `headers` key among others stays raw.
        let raw_bytes = br#"{"eventType": "git.push", "headers": {}, "body": "x"}"#;
        let raw = RecordedDelivery::from_file_bytes(raw_bytes);
        assert_eq!(raw.body, raw_bytes);
        let garbage = RecordedDelivery::from_file_bytes(b"\xff\xfe not json");
        assert_eq!(garbage.body, b"\xff\xfe not json");

        let mut d = raw;
        d.set_header("content-type", "text/plain");
        assert_eq!(
            d.headers,
            vec![("content-type".to_string(), "text/plain".to_string())]
        );
    }
}
