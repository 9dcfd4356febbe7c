//! The HTTP API (API Gateway HTTP API, payload 2.0, through lambda_http): items in
//! the `items` table, whose name `sls-rs deploy` injects (`SLS_RS_TABLE_ITEMS`).
//!
//! GET /items lists, POST /items creates (`{"title": "…"}`), GET, PUT and DELETE
//! /items/{id} read, replace and delete one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{run, service_fn, Body, Error, Request, RequestExt, Response};
use serde_json::{json, Value};
use sls_rs_runtime::{resource, ResourceKind};

type Item = HashMap<String, AttributeValue>;

fn reply(status: StatusCode, body: Value) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))?)
}

fn to_json(item: &Item) -> Value {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    json!({ "id": text("id"), "title": text("title") })
}

/// The `title` of a JSON request body, or the 400 response that says what is wrong.
fn title_of(request: &Request) -> Result<String, Result<Response<Body>, Error>> {
    let body: Value = serde_json::from_slice(request.body().as_ref()).map_err(|e| {
        reply(
            StatusCode::BAD_REQUEST,
            json!({ "error": format!("the body is not JSON: {e}") }),
        )
    })?;
    match body["title"].as_str() {
        Some(title) if !title.is_empty() => Ok(title.to_string()),
        _ => Err(reply(
            StatusCode::BAD_REQUEST,
            json!({ "error": "`title` is required" }),
        )),
    }
}

async fn handle(client: &Client, table: &str, request: Request) -> Result<Response<Body>, Error> {
    let id = request
        .path_parameters_ref()
        .and_then(|p| p.first("id"))
        .map(str::to_string);
    let method = request.method().clone();
    tracing::info!(%method, path = request.uri().path(), ?id, "request");
    let key = |id: &str| AttributeValue::S(id.to_string());
    match (method, id) {
        (Method::GET, None) => {
            let out = client.scan().table_name(table).limit(100).send().await?;
            let items: Vec<Value> = out.items().iter().map(to_json).collect();
            reply(StatusCode::OK, json!({ "items": items }))
        }
        (Method::POST, None) => {
            let title = match title_of(&request) {
                Ok(t) => t,
                Err(response) => return response,
            };
            // Lambda's request id is unique per invocation: a fine item id.
            let id = request
                .lambda_context_ref()
                .map(|c| c.request_id.clone())
                .unwrap_or_default();
            client
                .put_item()
                .table_name(table)
                .item("id", key(&id))
                .item("title", AttributeValue::S(title.clone()))
                .send()
                .await?;
            reply(StatusCode::CREATED, json!({ "id": id, "title": title }))
        }
        (Method::GET, Some(id)) => {
            let out = client
                .get_item()
                .table_name(table)
                .key("id", key(&id))
                .send()
                .await?;
            match out.item() {
                Some(item) => reply(StatusCode::OK, to_json(item)),
                None => reply(
                    StatusCode::NOT_FOUND,
                    json!({ "error": format!("no item {id}") }),
                ),
            }
        }
        (Method::PUT, Some(id)) => {
            let title = match title_of(&request) {
                Ok(t) => t,
                Err(response) => return response,
            };
            let put = client
                .put_item()
                .table_name(table)
                .item("id", key(&id))
                .item("title", AttributeValue::S(title.clone()))
                .condition_expression("attribute_exists(id)")
                .send()
                .await;
            match put {
                Ok(_) => reply(StatusCode::OK, json!({ "id": id, "title": title })),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    reply(
                        StatusCode::NOT_FOUND,
                        json!({ "error": format!("no item {id}") }),
                    )
                }
                Err(e) => Err(e.into()),
            }
        }
        (Method::DELETE, Some(id)) => {
            client
                .delete_item()
                .table_name(table)
                .key("id", key(&id))
                .send()
                .await?;
            Ok(Response::builder()
                .status(StatusCode::NO_CONTENT)
                .body(Body::Empty)?)
        }
        _ => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "error": "no such route" }),
        ),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::init_logging();
    let table = resource(ResourceKind::Table, "items")?;
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    run(service_fn(|request| handle(&client, &table, request))).await
}
