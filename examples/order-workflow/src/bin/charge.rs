//! Step 2 of the order workflow: charges the order.

use serde_json::{json, Value};
use sls_rs_runtime::{Error, LambdaEvent};

async fn charge(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let total: f64 = event.payload["order"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["price"].as_f64())
        .sum();
    tracing::info!(total, "charged");
    Ok(json!({ "order": event.payload["order"], "charged": total }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(charge).await
}
