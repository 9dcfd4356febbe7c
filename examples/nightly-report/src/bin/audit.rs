//! Reads the `events` table's stream: counts inserts, modifications, removals.

use serde_json::{json, Value};
use sls_rs_runtime::{Error, LambdaEvent};

async fn audit(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    for record in event.payload["Records"].as_array().into_iter().flatten() {
        let name = record["eventName"].as_str().unwrap_or("UNKNOWN").to_string();
        *counts.entry(name).or_default() += 1;
    }
    tracing::info!(?counts, "audited");
    Ok(json!(counts))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(audit).await
}
