//! Runs on the schedule: records a heartbeat item in the `events` table (name
//! injected by `sls-rs deploy` as `SLS_RS_TABLE_EVENTS`), expiring after a day.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::{json, Value};
use sls_rs_runtime::{resource, Error, LambdaEvent, ResourceKind};

async fn tick(client: &Client, table: &str, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let at = now.as_millis().to_string();
    let source = event.payload["source"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S("heartbeat".into()))
        .item("at", AttributeValue::N(at.clone()))
        .item("source", AttributeValue::S(source.clone()))
        .item(
            "expiresAt",
            AttributeValue::N((now.as_secs() + 86_400).to_string()),
        )
        .send()
        .await?;
    tracing::info!(%at, %source, "heartbeat recorded");
    Ok(json!({ "recorded": at }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let table = resource(ResourceKind::Table, "events")?;
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    sls_rs_runtime::run(|event| tick(&client, &table, event)).await
}
