//! Reads the `events` table's stream: counts inserts, modifications and removals
//! (a removal by TTL is a REMOVE whose userIdentity is DynamoDB's).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sls_rs_runtime::{Error, LambdaEvent};

async fn audit(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let mut counts = BTreeMap::<String, u32>::new();
    for record in event.payload["Records"].as_array().into_iter().flatten() {
        let name = record["eventName"]
            .as_str()
            .unwrap_or("UNKNOWN")
            .to_string();
        *counts.entry(name).or_default() += 1;
    }
    tracing::info!(?counts, "audited");
    Ok(json!(counts))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(audit).await
}
