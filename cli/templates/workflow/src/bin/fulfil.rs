//! The workflow's second step: fulfils a validated order.

use serde_json::{json, Value};
use sls_rs_runtime::{Error, LambdaEvent};

async fn fulfil(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let order = event.payload;
    let id = order["orderId"].as_str().unwrap_or_default();
    tracing::info!(order = %id, items = %order["itemCount"], "fulfilled");
    Ok(json!({ "orderId": id, "status": "FULFILLED", "itemCount": order["itemCount"] }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(fulfil).await
}
