//! Runs every night (an EventBridge schedule with a constant input naming the
//! report): counts the events of the last 24 hours in the `events` table
//! (`SLS_RS_TABLE_EVENTS`), which its role may only read.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_dynamodb::Client;
use serde_json::{json, Value};
use sls_rs_runtime::{resource, Error, LambdaEvent, ResourceKind};

const DAY_SECONDS: u64 = 24 * 60 * 60;

async fn report(client: &Client, table: &str, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let kind = event.payload["report"].as_str().unwrap_or("daily").to_string();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let since = now.saturating_sub(DAY_SECONDS);
    let (mut events, mut start) = (0i64, None);
    loop {
        let page = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .filter_expression("#at >= :since")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":since", AttributeValue::N(since.to_string()))
            .set_exclusive_start_key(start)
            .send()
            .await?;
        events += i64::from(page.count());
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    tracing::info!(%kind, events, since, "report");
    Ok(json!({ "report": kind, "table": table, "since": since, "events": events }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let table = resource(ResourceKind::Table, "events")?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    sls_rs_runtime::run(|event| report(&client, &table, event)).await
}
