//! Consumes the `shipments` queue; reports failed messages one by one
//! (ReportBatchItemFailures) so one bad message does not retry the batch.

use serde_json::{json, Value};
use sls_rs_runtime::{Error, LambdaEvent};

async fn ship(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let mut failures = Vec::new();
    for record in event.payload["Records"].as_array().into_iter().flatten() {
        let id = record["messageId"].as_str().unwrap_or_default();
        match serde_json::from_str::<Value>(record["body"].as_str().unwrap_or_default()) {
            Ok(order) => tracing::info!(%id, order = %order["order"]["id"], "shipping"),
            Err(_) => failures.push(json!({ "itemIdentifier": id })),
        }
    }
    Ok(json!({ "batchItemFailures": failures }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(ship).await
}
