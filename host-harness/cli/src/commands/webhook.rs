//! `webhook`: deliveries in order against one store, one JSON outcome line each.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use vcs_host::json::outcome_line;
use vcs_host::{DeliveryPipeline, IntegrationConfig, RecordedDelivery};

use super::{Session, load_config};
use crate::Common;

fn warn_if_unauthenticated(config: &IntegrationConfig) {
    if config.webhook.is_none() {
        eprintln!(
            "host-harness: WARNING: no [webhook] credentials configured: deliveries are accepted \
             without authentication. Set the credentials the service sends (a user name and \
             password, or a signing secret) in [webhook]."
        );
    }
}

fn read_delivery(path: &Path, headers: &[(String, String)]) -> anyhow::Result<RecordedDelivery> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read delivery {}", path.display()))?;
    let mut delivery = RecordedDelivery::from_file_bytes(&bytes);
    for (name, value) in headers {
        delivery.set_header(name, value);
    }
    Ok(delivery)
}

fn parse_headers(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|h| {
            let (name, value) = h
                .split_once(':')
                .with_context(|| format!("header {h:?} is not `Name: value`"))?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// Process `files` in order; exit 0 when every delivery got its line.
pub fn run(common: &Common, headers: &[String], files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let config = load_config(common.config.as_deref())?;
    let headers = parse_headers(headers)?;
    // Read every file first: an unreadable file stops the harness before any output.
    let deliveries = files
        .iter()
        .map(|f| read_delivery(f, &headers))
        .collect::<anyhow::Result<Vec<_>>>()?;
    warn_if_unauthenticated(&config);
    let session = Session::open(common, &config)?;
    let pipeline = DeliveryPipeline::new(&session.provider, &config)?;
    for delivery in &deliveries {
        println!(
            "{}",
            outcome_line(&pipeline.process(&session.context, delivery))
        );
    }
    session.finish()?;
    Ok(ExitCode::SUCCESS)
}
