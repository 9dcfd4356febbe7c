//! Step 1 of the order workflow: checks the order.

use serde_json::{json, Value};
use sls_rs_runtime::{Error, LambdaEvent};

async fn validate(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let order = event.payload;
    let items = order["items"].as_array().map_or(0, Vec::len);
    if items == 0 {
        return Err("an order needs at least one item".into());
    }
    tracing::info!(items, "order valid");
    Ok(json!({ "order": order, "valid": true }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(validate).await
}
