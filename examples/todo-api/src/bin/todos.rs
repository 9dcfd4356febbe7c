//! The todo API: one function serving every route of `/todos` (API Gateway
//! HTTP API, payload 2.0) over the `todos` table, whose name deploy injects
//! (`SLS_RS_TABLE_TODOS`). The role may do exactly these item operations on
//! exactly that table: `sls-rs policy -f todos` shows it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::{json, Value};
use sls_rs_runtime::{resource, Error, LambdaEvent, ResourceKind};

type Item = HashMap<String, AttributeValue>;

/// An HTTP response in API Gateway's payload 2.0 shape.
fn reply(status: u16, body: Value) -> Value {
    json!({
        "statusCode": status,
        "headers": { "content-type": "application/json" },
        "body": body.to_string(),
    })
}

fn todo_of(item: &Item) -> Value {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    json!({
        "id": text("id"),
        "title": text("title"),
        "owner": text("owner"),
        "done": item.get("done").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
    })
}

/// The request body as JSON (API Gateway may base64-encode it; this API takes JSON text).
fn body_of(event: &Value) -> Result<Value, Value> {
    let text = event["body"].as_str().unwrap_or("{}");
    serde_json::from_str(text).map_err(|e| reply(400, json!({ "error": format!("the body is not JSON: {e}") })))
}

async fn todos(client: &Client, table: &str, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let request = event.payload;
    let route = request["routeKey"].as_str().unwrap_or_default();
    let id = request["pathParameters"]["id"].as_str().map(str::to_string);
    tracing::info!(%route, ?id, "request");
    let key = |id: &str| ("id".to_string(), AttributeValue::S(id.to_string()));
    Ok(match (route, id) {
        ("GET /todos", _) => {
            let out = client.scan().table_name(table).limit(100).send().await?;
            let items: Vec<Value> = out.items().iter().map(todo_of).collect();
            reply(200, json!({ "todos": items }))
        }
        ("POST /todos", _) => {
            let body = match body_of(&request) {
                Ok(b) => b,
                Err(response) => return Ok(response),
            };
            let Some(title) = body["title"].as_str() else {
                return Ok(reply(400, json!({ "error": "`title` is required" })));
            };
            // The request id is unique per invocation: a fine todo id.
            let id = event.context.request_id.clone();
            let mut item: Item = [
                key(&id),
                ("title".into(), AttributeValue::S(title.into())),
                ("done".into(), AttributeValue::Bool(false)),
            ]
            .into();
            if let Some(owner) = body["owner"].as_str() {
                item.insert("owner".into(), AttributeValue::S(owner.into()));
            }
            client.put_item().table_name(table).set_item(Some(item.clone())).send().await?;
            reply(201, todo_of(&item))
        }
        ("GET /todos/{id}", Some(id)) => {
            let out = client.get_item().table_name(table).key("id", AttributeValue::S(id)).send().await?;
            match out.item() {
                Some(item) => reply(200, todo_of(item)),
                None => reply(404, json!({ "error": "no such todo" })),
            }
        }
        ("PUT /todos/{id}", Some(id)) => {
            let body = match body_of(&request) {
                Ok(b) => b,
                Err(response) => return Ok(response),
            };
            let title = body["title"].as_str().map(str::to_string);
            let done = body["done"].as_bool();
            let mut sets = Vec::new();
            let mut update = client
                .update_item()
                .table_name(table)
                .key("id", AttributeValue::S(id))
                .condition_expression("attribute_exists(id)")
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
            if let Some(title) = title {
                sets.push("title = :title");
                update = update.expression_attribute_values(":title", AttributeValue::S(title));
            }
            if let Some(done) = done {
                sets.push("done = :done");
                update = update.expression_attribute_values(":done", AttributeValue::Bool(done));
            }
            if sets.is_empty() {
                return Ok(reply(400, json!({ "error": "nothing to update: give `title` or `done`" })));
            }
            match update.update_expression(format!("SET {}", sets.join(", "))).send().await {
                Ok(out) => reply(200, todo_of(out.attributes().unwrap_or(&Item::new()))),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                    reply(404, json!({ "error": "no such todo" }))
                }
                Err(e) => return Err(e.into()),
            }
        }
        ("DELETE /todos/{id}", Some(id)) => {
            client.delete_item().table_name(table).key("id", AttributeValue::S(id)).send().await?;
            reply(204, Value::Null)
        }
        _ => reply(404, json!({ "error": format!("no route {route}") })),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let table = resource(ResourceKind::Table, "todos")?;
    // Lambda's credentials and region, or AWS_ENDPOINT_URL's emulator under `invoke --local`.
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    sls_rs_runtime::run(|event| todos(&client, &table, event)).await
}
