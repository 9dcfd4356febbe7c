//! The todo API: one function serving every route of `/todos` (API Gateway
//! HTTP API, payload 2.0). It answers with the route it served and the table
//! it works on, whose name deploy injects (`SLS_RS_TABLE_TODOS`).

use serde_json::{json, Value};
use sls_rs_runtime::{resource, Error, LambdaEvent, ResourceKind};

async fn todos(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let table = resource(ResourceKind::Table, "todos")?;
    let route = event.payload["routeKey"].as_str().unwrap_or("$default").to_string();
    let id = event.payload["pathParameters"]["id"].as_str().map(str::to_string);
    tracing::info!(%route, ?id, %table, "request");
    let body = json!({ "route": route, "id": id, "table": table });
    Ok(json!({ "statusCode": 200, "headers": { "content-type": "application/json" }, "body": body.to_string() }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(todos).await
}
