//! The `webhooks` interface: service-hook deliveries to normalized events, changed files.

use crate::bindings::exports::vcs::provider::webhooks::{
    ChangeSource, ChangedFilesPage, Delivery, HandledDelivery,
};
use crate::bindings::vcs::provider::types::{Connection, IntegrationSettings};
use crate::error::{Result, unsupported};
use crate::host::Host;

/// Turn one service-hook delivery into an event.
pub fn handle_delivery(
    _host: &impl Host,
    _settings: &IntegrationSettings,
    _connection: Option<&Connection>,
    _delivery: &Delivery,
) -> Result<HandledDelivery> {
    Err(unsupported("parsing service-hook deliveries"))
}

/// List the changed files of a pull request or a commit range.
pub fn changed_files(
    _host: &impl Host,
    _connection: &Connection,
    _source: &ChangeSource,
    _cursor: Option<&str>,
) -> Result<ChangedFilesPage> {
    Err(unsupported("listing changed files"))
}
