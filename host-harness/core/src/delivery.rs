//! THE delivery pipeline, used by the CLI, `serve` and the replay harness alike:
//! verify the delivery's credentials, then the provider's size limit, then let the
//! provider normalize it. The outcome is typed ([`DeliveryOutcome`]); each caller turns
//! it into its own answer (a JSON line, an HTTP status).
//!
//! `serve` runs the two steps apart ([`DeliveryPipeline::admit`], then
//! [`DeliveryPipeline::normalize`] against a staged view of its store) so that the
//! provider's storage writes commit together with the work the event queues.

use serde_json::Value;

use crate::engine::{CallContext, CallError, Provider};
use crate::integration::IntegrationConfig;
use crate::wit::latest::types::{Connection, IntegrationSettings, ProviderError, WebhookAuth};
use crate::wit::latest::webhooks::{Delivery, HandledDelivery};

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

/// What became of one delivery.
#[derive(Debug)]
pub enum DeliveryOutcome {
    /// The delivery's credentials are missing or wrong (the provider's reason).
    Rejected(String),
    /// The body is larger than the provider accepts; it was not passed on.
    TooLarge {
        /// The body's size, when it was read to the end.
        size: Option<u64>,
        /// The provider's (or the integration's) limit.
        limit: u64,
        /// Who sends the deliveries, for the message.
        provider: String,
    },
    /// The provider could not check the credentials (an error other than `unauthorized`).
    Unverified(ProviderError),
    /// Not a delivery the provider understands (its reason).
    Invalid(String),
    /// Normalized: an event, ignored with a reason, or a duplicate.
    Handled(Box<HandledDelivery>),
    /// The provider failed in another way (throttled, a storage error, …).
    Failed(ProviderError),
    /// The call did not return (a trap, the deadline, the memory limit).
    Trapped(CallError),
}

impl DeliveryOutcome {
    /// The reason of a refused delivery, for people.
    pub fn too_large_reason(size: Option<u64>, limit: u64, provider: &str) -> String {
        match size {
            Some(size) => {
                format!("the delivery body is {size} bytes; {provider} sends at most {limit}")
            }
            None => format!("the delivery is larger than {limit} bytes, the most {provider} sends"),
        }
    }
}

/// Everything needed to process deliveries for one integration.
#[derive(Debug, Clone)]
pub struct DeliveryPipeline {
    provider: Provider,
    settings: IntegrationSettings,
    webhook_auth: WebhookAuth,
    connection: Option<Connection>,
    max_delivery_bytes: u64,
    display_name: String,
}

impl DeliveryPipeline {
    /// The pipeline of `config`'s integration through `provider`.
    pub fn new(provider: &Provider, config: &IntegrationConfig) -> anyhow::Result<Self> {
        let info = config.provider_info(provider.info());
        Ok(Self {
            provider: provider.clone(),
            settings: config.settings(),
            webhook_auth: config.webhook_auth()?,
            connection: config.connection()?,
            max_delivery_bytes: info.max_delivery_bytes,
            display_name: info.display_name,
        })
    }

    /// The provider.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The integration's settings, as the provider receives them.
    pub fn settings(&self) -> &IntegrationSettings {
        &self.settings
    }

    /// The REST connection, when a credential is configured.
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// The largest body admitted.
    pub fn max_delivery_bytes(&self) -> u64 {
        self.max_delivery_bytes
    }

    /// Step one: the credentials (checked first, so an oversized forgery is a 401), then
    /// the size. `oversized` says the body was larger than [`Self::max_delivery_bytes`]
    /// and was not kept whole (`body` is then what was kept, possibly nothing).
    pub fn admit(
        &self,
        context: &CallContext,
        headers: &[(String, String)],
        body: &[u8],
        oversized: bool,
    ) -> Result<(), DeliveryOutcome> {
        match self
            .provider
            .verify_webhook(context, &self.webhook_auth, headers, body)
        {
            Ok(Ok(())) => {}
            Ok(Err(ProviderError::Unauthorized(reason))) => {
                return Err(DeliveryOutcome::Rejected(reason));
            }
            Ok(Err(other)) => return Err(DeliveryOutcome::Unverified(other)),
            Err(trap) => return Err(DeliveryOutcome::Trapped(trap)),
        }
        let size = u64::try_from(body.len()).unwrap_or(u64::MAX);
        if oversized || size > self.max_delivery_bytes {
            return Err(DeliveryOutcome::TooLarge {
                size: (!oversized).then_some(size),
                limit: self.max_delivery_bytes,
                provider: self.display_name.clone(),
            });
        }
        Ok(())
    }

    /// Step two: the provider normalizes an admitted delivery, reading and writing the
    /// integration's state through `context`'s store.
    pub fn normalize(&self, context: &CallContext, delivery: &Delivery) -> DeliveryOutcome {
        match self.provider.handle_delivery(
            context,
            &self.settings,
            self.connection.as_ref(),
            delivery,
        ) {
            Ok(Ok(handled)) => DeliveryOutcome::Handled(Box::new(handled)),
            Ok(Err(ProviderError::InvalidPayload(reason))) => DeliveryOutcome::Invalid(reason),
            Ok(Err(other)) => DeliveryOutcome::Failed(other),
            Err(trap) => DeliveryOutcome::Trapped(trap),
        }
    }

    /// Both steps, for one recorded or received delivery.
    pub fn process(&self, context: &CallContext, delivery: &RecordedDelivery) -> DeliveryOutcome {
        if let Err(refused) = self.admit(context, &delivery.headers, &delivery.body, false) {
            return refused;
        }
        self.normalize(
            context,
            &Delivery {
                headers: delivery.headers.clone(),
                body: delivery.body.clone(),
            },
        )
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
