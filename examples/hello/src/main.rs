//! Answers `{"name": "…"}` with a greeting.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn hello(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let greeting = std::env::var("GREETING").unwrap_or_else(|_| "hello".to_string());
    let name = event.payload.get("name").and_then(Value::as_str).unwrap_or("world");
    Ok(json!({ "message": format!("{greeting}, {name}") }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(hello)).await
}
