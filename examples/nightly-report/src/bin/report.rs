//! Runs every night: summarises the day (the schedule's constant input says
//! which report) from the `events` table (`SLS_RS_TABLE_EVENTS`).

use serde_json::{json, Value};
use sls_rs_runtime::{resource, Error, LambdaEvent, ResourceKind};

async fn report(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let table = resource(ResourceKind::Table, "events")?;
    let kind = event.payload["report"].as_str().unwrap_or("daily").to_string();
    tracing::info!(%kind, %table, "report");
    Ok(json!({ "report": kind, "table": table }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(report).await
}
