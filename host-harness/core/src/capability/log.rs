//! The `log` import: provider log lines into the host's `tracing`, under a per-call
//! budget, clipped, and with secret-looking fields redacted.

use crate::limits::Limits;

/// Severity of a provider's log line (the WIT `level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Fine-grained detail.
    Trace,
    /// Diagnostic detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something a person may want to look at.
    Warn,
    /// Something failed.
    Error,
}

/// One call's side of the `log` import.
pub struct CallLog {
    integration: String,
    max_lines: u32,
    max_line_bytes: usize,
    lines: u32,
}

impl CallLog {
    /// A fresh budget for one call of `integration`.
    pub fn new(integration: &str, limits: &Limits) -> Self {
        Self {
            integration: integration.to_owned(),
            max_lines: limits.max_log_lines_per_call,
            max_line_bytes: limits.max_log_line_bytes,
            lines: 0,
        }
    }

    /// Emit one line under the target `provider`, or drop it past the budget (saying
    /// so once).
    pub fn emit(&mut self, level: Level, message: &str, fields: &[(String, String)]) {
        self.lines = self.lines.saturating_add(1);
        if self.lines > self.max_lines {
            if self.lines == self.max_lines.saturating_add(1) {
                tracing::warn!(integration = %self.integration, "provider log budget exhausted; further lines dropped");
            }
            return;
        }
        let message = clip(message, self.max_line_bytes);
        let fields: String = fields
            .iter()
            .map(|(k, v)| {
                // Providers must not log secrets; the host does not rely on it.
                if looks_secret(k) {
                    format!(" {k}=[redacted]")
                } else {
                    format!(" {k}={}", clip(v, 256))
                }
            })
            .collect();
        let integration = self.integration.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "provider", integration, "{message}{fields}"),
            Level::Debug => tracing::debug!(target: "provider", integration, "{message}{fields}"),
            Level::Info => tracing::info!(target: "provider", integration, "{message}{fields}"),
            Level::Warn => tracing::warn!(target: "provider", integration, "{message}{fields}"),
            Level::Error => tracing::error!(target: "provider", integration, "{message}{fields}"),
        }
    }
}

/// Field names whose values the host never writes to its logs.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "authorization",
        "cookie",
        "credential",
        "code_verifier",
    ]
    .iter()
    .any(|word| name.contains(word))
}

fn clip(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.get(..cut).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_log_fields_are_recognized() {
        for name in [
            "access_token",
            "Authorization",
            "client_secret",
            "PASSWORD",
            "code_verifier",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["url", "retry_after", "key", "delivery_id"] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn clipping_respects_char_boundaries() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
