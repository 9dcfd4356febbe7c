//! An HTTP API handler (payload format 2.0): echoes the method and path.

use serde_json::{json, Value};
use sls_rs_runtime::{Error, LambdaEvent};

async fn api(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let http = &event.payload["requestContext"]["http"];
    let (method, path) = (http["method"].as_str().unwrap_or("?"), http["path"].as_str().unwrap_or("/"));
    tracing::info!(method, path, "request");
    Ok(json!({
        "statusCode": 200,
        "headers": { "content-type": "application/json" },
        "body": json!({ "method": method, "path": path }).to_string(),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(api).await
}
