//! Contract `vcs:provider@0.1.0` (`wit/since_v0.1.0/`): its bindings, its linker, and its
//! imports wired to the host's capabilities.
//!
//! One module per contract version, as Zed does per `since_v*` folder: a new version is a
//! new module beside this one, and components built against this one keep loading.

use wasmtime::component::{HasSelf, Linker};

use crate::capability::http::{HttpError, Method, OutboundRequest};
use crate::capability::log::Level;
use crate::capability::storage::StorageError;
use crate::engine::CallState;

#[allow(missing_docs, clippy::all)]
mod generated {
    wasmtime::component::bindgen!({
        world: "vcs-provider",
        path: "../../wit/since_v0.1.0",
    });
}

pub use generated::exports::vcs::provider::{auth, commands, comments, webhooks};
pub use generated::vcs::provider::types;
use generated::vcs::provider::{http as wit_http, log as wit_log, storage as wit_storage};
pub(crate) use generated::{VcsProvider, VcsProviderPre};

/// The oldest version of the `0.1` line this module links; any `0.1.x` component fits.
pub const MIN_VERSION: (u64, u64, u64) = (0, 1, 0);

/// The linker of this version: the granted WASI (the empty context of `CallState`), and
/// the world's imports.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::<CallState>::new(engine);
    crate::capability::wasi::add_to_linker(&mut linker, |state| &mut state.wasi)?;
    VcsProvider::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| state)?;
    Ok(linker)
}

impl types::Host for CallState {}

impl wit_http::Host for CallState {
    fn send(
        &mut self,
        request: wit_http::Request,
    ) -> Result<wit_http::Response, wit_http::HttpError> {
        let outbound = OutboundRequest {
            method: match request.method {
                wit_http::Method::Get => Method::Get,
                wit_http::Method::Head => Method::Head,
                wit_http::Method::Post => Method::Post,
                wit_http::Method::Put => Method::Put,
                wit_http::Method::Patch => Method::Patch,
                wit_http::Method::Delete => Method::Delete,
            },
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout: request
                .timeout_ms
                .map(|ms| std::time::Duration::from_millis(u64::from(ms))),
        };
        self.http
            .send(&outbound)
            .map(|response| wit_http::Response {
                status: response.status,
                headers: response.headers,
                body: response.body,
            })
            .map_err(|error| match error {
                HttpError::Denied(m) => wit_http::HttpError::Denied(m),
                HttpError::InvalidRequest(m) => wit_http::HttpError::InvalidRequest(m),
                HttpError::Timeout(m) => wit_http::HttpError::Timeout(m),
                HttpError::TooLarge(m) => wit_http::HttpError::TooLarge(m),
                HttpError::Connection(m) => wit_http::HttpError::Connection(m),
                HttpError::NoRecording(m) => wit_http::HttpError::NoRecording(m),
            })
    }
}

fn storage_error(error: StorageError) -> wit_storage::StorageError {
    match error {
        StorageError::TooLarge(m) => wit_storage::StorageError::TooLarge(m),
        StorageError::Unavailable(m) => wit_storage::StorageError::Unavailable(m),
    }
}

impl wit_storage::Host for CallState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, wit_storage::StorageError> {
        self.storage.get(&key).map_err(storage_error)
    }

    fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> Result<(), wit_storage::StorageError> {
        self.storage
            .set(&key, &value, ttl_seconds)
            .map_err(storage_error)
    }

    fn delete(&mut self, key: String) -> Result<bool, wit_storage::StorageError> {
        self.storage.delete(&key).map_err(storage_error)
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl_seconds: Option<u32>,
    ) -> Result<bool, wit_storage::StorageError> {
        self.storage
            .compare_and_swap(&key, expected.as_deref(), new.as_deref(), ttl_seconds)
            .map_err(storage_error)
    }
}

impl wit_log::Host for CallState {
    fn emit(&mut self, level: wit_log::Level, message: String, fields: Vec<(String, String)>) {
        let level = match level {
            wit_log::Level::Trace => Level::Trace,
            wit_log::Level::Debug => Level::Debug,
            wit_log::Level::Info => Level::Info,
            wit_log::Level::Warn => Level::Warn,
            wit_log::Level::Error => Level::Error,
        };
        self.log.emit(level, &message, &fields);
    }
}
