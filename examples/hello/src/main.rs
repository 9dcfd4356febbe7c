//! Answers `{"name": "…"}` with a greeting.

use serde::{Deserialize, Serialize};
use sls_rs_runtime::{Error, LambdaEvent};

#[derive(Deserialize)]
struct Request {
    name: Option<String>,
}

#[derive(Serialize)]
struct Response {
    message: String,
}

async fn hello(event: LambdaEvent<Request>) -> Result<Response, Error> {
    let greeting = std::env::var("GREETING").unwrap_or_else(|_| "hello".to_string());
    let name = event.payload.name.unwrap_or_else(|| "world".to_string());
    tracing::info!(%name, "greeting");
    Ok(Response { message: format!("{greeting}, {name}") })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(hello).await
}
