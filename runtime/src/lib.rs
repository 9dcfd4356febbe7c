//! What handlers deployed by sls-rs link: a thin layer over `lambda_runtime`.
//!
//! ```no_run
//! use sls_rs_runtime::{Error, LambdaEvent};
//!
//! async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
//!     tracing::info!(size = event.payload.to_string().len(), "received");
//!     Ok(event.payload)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     sls_rs_runtime::run(handler).await
//! }
//! ```
//!
//! [`run`] writes every `tracing` event as one JSON line carrying the request id
//! and the X-Ray trace id, so `sls-rs logs` and X-Ray line up; [`resource`] reads
//! the names of the service's resources that `sls-rs deploy` injects.
#![warn(missing_docs)]

mod log;
mod resources;

use std::future::Future;

use lambda_runtime::streaming::Body;
use lambda_runtime::IntoFunctionResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use lambda_runtime::{Context, Diagnostic, Error, LambdaEvent};
pub use log::{init_logging, JsonLogLayer};
pub use resources::{env_var_name, resource, MissingResource, ResourceKind, ENV_PREFIX};

/// Sets up JSON logging ([`init_logging`]) and runs `handler` for every invocation.
///
/// A handler may fail with [`Error`] (Lambda then reports the error's type as a Rust
/// type name) or with an error of its own that converts into a [`Diagnostic`], whose
/// `error_type` is what Lambda reports and what a Step Functions `Catch` matches.
pub async fn run<Req, Resp, F, Fut, E>(handler: F) -> Result<(), Error>
where
    F: FnMut(LambdaEvent<Req>) -> Fut,
    Fut: Future<Output = Result<Resp, E>>,
    E: Into<Diagnostic> + std::fmt::Debug,
    Req: DeserializeOwned,
    Resp: Serialize + IntoFunctionResponse<Resp, Body>,
{
    init_logging();
    lambda_runtime::run(lambda_runtime::service_fn(handler)).await
}
