//! Function events: REST API `http` events become HTTP API routes; `sqs`, `stream`,
//! `s3` and `schedule` take sls-rs's spelling; the rest are reported.

use super::resources::{reference_target, Kind};
use super::tree::{self, string};
use super::Cx;
use crate::manifest::node::{Node, Value};
use crate::manifest::CorsRule;

pub fn convert(root: &mut Node, cx: &mut Cx) {
    let Some(functions) = tree::get_mut(root, "functions") else {
        return;
    };
    // Each route's CORS rule, with where it was written and how it reads (to compare).
    let mut cors: Vec<(Node, Node, String)> = Vec::new();
    let mut said_payload = false;
    let mut new_buckets: Vec<(String, Node)> = Vec::new();
    for (fname, f) in tree::entries_mut(functions).into_iter().flatten() {
        let fname = fname.as_str().unwrap_or_default().to_string();
        let Some(events) = tree::get_mut(f, "events") else {
            continue;
        };
        let Value::Seq(items) = &mut events.value else {
            continue;
        };
        let old = std::mem::take(items);
        for (i, ev) in old.into_iter().enumerate() {
            let key = format!("functions.{fname}.events[{i}]");
            let Some((kind, body)) = tree::entries(&ev).first().cloned() else {
                items.push(ev);
                continue;
            };
            let kind_name = kind.as_str().unwrap_or_default().to_string();
            let key = format!("{key}.{kind_name}");
            let converted: Vec<Node> = match kind_name.as_str() {
                "http" => {
                    if !said_payload {
                        said_payload = true;
                        cx.changed(&kind, &key, "REST API `http` events become routes of the service's HTTP API (`httpApi`); the event a handler receives is API Gateway's payload format 2.0, not 1.0: handlers built on lambda_http read both unchanged, handlers that deserialize the 1.0 event (ApiGatewayProxyRequest) by hand must change to ApiGatewayV2httpRequest");
                    }
                    http(&kind, &body, &key, &mut cors, cx)
                        .into_iter()
                        .collect()
                }
                "httpApi" => http(&kind, &body, &key, &mut cors, cx)
                    .into_iter()
                    .collect(),
                "schedule" => schedule(&kind, &body, &key, cx),
                "sqs" => sqs(&kind, &body, &key, cx).into_iter().collect(),
                "stream" => stream(&kind, &body, &key, cx).into_iter().collect(),
                "s3" => s3(&kind, &body, &key, cx, &mut new_buckets)
                    .into_iter()
                    .collect(),
                other => {
                    cx.todo(&kind, &key, format!("`{other}` events are not supported by sls-rs (it triggers functions from httpApi, s3, schedule, sqs and stream events); removed: invoke the function another way (e.g. `permissions: [{{ function: {fname}, access: invoke }}]` from a function that receives it)"));
                    Vec::new()
                }
            };
            items.extend(converted);
        }
        if items.is_empty() {
            tree::take(f, "events");
        }
    }
    if let Some((_, rule, first)) = cors.first().cloned() {
        // The HTTP API has one CORS rule for every route: routes that differed cannot keep theirs.
        for (at, _, other) in &cors[1..] {
            if *other != first {
                cx.todo(at, "provider.httpApi.cors", "routes had different CORS rules; the HTTP API has one for every route (`provider.httpApi.cors`), set from the first route's: merge them there by hand");
                break;
            }
        }
        let provider = tree::child_map(root, "provider");
        let http_api = tree::child_map(provider, "httpApi");
        if http_api.get("cors").is_none() {
            tree::set(http_api, "cors", rule);
        }
    }
    if !new_buckets.is_empty() {
        let buckets = tree::child_map(tree::child_map(root, "resources"), "buckets");
        for (name, b) in new_buckets {
            if buckets.get(&name).is_none() {
                tree::set(buckets, &name, b);
            }
        }
    }
}

fn event(kind: &str, body: Node) -> Node {
    tree::map(vec![(kind, body)])
}

/// `http: GET users/{id}` or its mapping → `httpApi: GET /users/{id}`.
fn http(
    kind: &Node,
    body: &Node,
    key: &str,
    cors: &mut Vec<(Node, Node, String)>,
    cx: &mut Cx,
) -> Option<Node> {
    let (method, path) = match &body.value {
        Value::Scalar { text, .. } => {
            let t = text.trim();
            if t == "*" || t == "$default" {
                ("*".to_string(), "$default".to_string())
            } else {
                let (m, p) = t.split_once(char::is_whitespace).unwrap_or((t, "/"));
                (m.to_string(), p.trim().to_string())
            }
        }
        Value::Map(entries) => {
            let mut method = None;
            let mut path = None;
            for (k, v) in entries {
                let name = k.as_str().unwrap_or_default();
                let sub = format!("{key}.{name}");
                match name {
                    "method" => method = v.as_str().map(str::to_string),
                    "path" => path = v.as_str().map(str::to_string),
                    "cors" => {
                        if !matches!(&v.value, Value::Scalar { .. }) || tree::is_true(v) {
                            cx.changed(k, &sub, "per-route CORS becomes the HTTP API's `provider.httpApi.cors` (answered by API Gateway for every route)");
                            let (rule, reads) = cors_rule(v);
                            cors.push((k.clone(), rule, reads));
                            if v.get("allowCredentials").is_some_and(tree::is_true) {
                                cx.todo(k, format!("{sub}.allowCredentials"), "sls-rs's HTTP API CORS does not allow credentials: browsers will not send cookies or read responses to credentialed requests; removed");
                            }
                        }
                    }
                    "private" if tree::is_true(v) => cx.todo(k, &sub, "`private: true` (an API key) has no HTTP API equivalent; the route is now public: check the key in the handler, or protect the route another way"),
                    "authorizer" => cx.todo(k, &sub, "the authorizer was not converted and the route is now public: sls-rs does not create authorizers yet; verify the token (JWT, Cognito) in the handler"),
                    "request" => {
                        if v.get("schemas").is_some() || v.get("schema").is_some() {
                            cx.todo(k, &sub, "request schema validation is not done by HTTP APIs; validate the body in the handler");
                        } else {
                            cx.removed(k, &sub, "request parameter declarations are not needed by HTTP APIs (every parameter is passed through)");
                        }
                    }
                    "integration" => {
                        let lambda_proxy = v.as_str().is_some_and(|i| matches!(i.to_ascii_lowercase().as_str(), "lambda-proxy" | "aws_proxy" | "aws-proxy"));
                        if lambda_proxy {
                            cx.removed(k, &sub, "a proxy integration is the only kind sls-rs makes");
                        } else {
                            cx.todo(k, &sub, "a non-proxy (`lambda`) integration with mapping templates has no HTTP API equivalent: the handler now receives the whole request");
                        }
                    }
                    "async" | "response" => cx.todo(k, &sub, format!("`{name}` (REST API integration settings) has no HTTP API equivalent; removed")),
                    "private" | "operationId" | "summary" | "description" | "documentation" => cx.removed(k, &sub, "documentation only; removed"),
                    other => cx.todo(k, &sub, format!("`{other}` was not converted; removed")),
                }
            }
            match (method, path) {
                (Some(m), Some(p)) => (m, p),
                (Some(m), None) => (m, "/".into()),
                _ => {
                    cx.todo(kind, key, "the route has no method or path; removed");
                    return None;
                }
            }
        }
        Value::Seq(_) => {
            cx.todo(kind, key, "not a route; removed");
            return None;
        }
    };
    let method = match method.to_ascii_uppercase().as_str() {
        "ANY" | "*" if path == "$default" => "*".to_string(),
        m => m.to_string(),
    };
    let path = if path == "$default" || path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let path = if path.len() > 1 {
        path.trim_end_matches('/').to_string()
    } else {
        path
    };
    let route = format!("{method} {path}");
    if kind.as_str() == Some("http") {
        cx.changed(kind, key, format!("→ httpApi: {route}"));
    }
    Some(event("httpApi", string(route)))
}

/// Serverless's `cors: true` or `{ origin(s), headers, allowCredentials, maxAge }`, and
/// how it reads (rules that read the same are the same).
fn cors_rule(v: &Node) -> (Node, String) {
    let defaults = CorsRule::allow_any_origin().allowed_headers;
    if !matches!(v.value, Value::Map(_)) {
        return (tree::plain("true"), format!("* {} ", defaults.join(",")));
    }
    let list = |n: Option<&Node>| -> Vec<Node> {
        match n.map(|n| &n.value) {
            Some(Value::Seq(items)) => items
                .iter()
                .filter_map(|i| i.as_str())
                .map(string)
                .collect(),
            Some(Value::Scalar { text, .. }) => vec![string(text.as_str())],
            _ => Vec::new(),
        }
    };
    let mut origins = list(v.get("origins"));
    origins.extend(list(v.get("origin")));
    if origins.is_empty() {
        origins.push(string("*"));
    }
    let mut entries = vec![
        ("allowedOrigins", tree::seq(origins)),
        ("allowedMethods", tree::seq(vec![string("*")])),
    ];
    let mut headers = list(v.get("headers"));
    if headers.is_empty() {
        // What Serverless Framework allows when a route names none (what `cors: true` allows).
        headers = defaults.iter().map(|h| string(h.as_str())).collect();
    }
    let text = |items: &[Node]| {
        items
            .iter()
            .filter_map(Node::as_str)
            .collect::<Vec<_>>()
            .join(",")
    };
    let age = v.get("maxAge").and_then(Node::as_str);
    let reads = format!(
        "{} {} {}",
        text(tree::items(&entries[0].1)),
        text(&headers),
        age.unwrap_or_default()
    );
    entries.push(("allowedHeaders", tree::seq(headers)));
    if let Some(age) = age {
        entries.push(("maxAge", tree::plain(age)));
    }
    (tree::map(entries), reads)
}

fn schedule(kind: &Node, body: &Node, key: &str, cx: &mut Cx) -> Vec<Node> {
    let Value::Map(entries) = &body.value else {
        return vec![event("schedule", body.clone())];
    };
    let mut rates = Vec::new();
    let mut rest = Vec::new();
    for (k, v) in entries {
        let name = k.as_str().unwrap_or_default();
        match name {
            "rate" => match &v.value {
                Value::Seq(items) => rates.extend(items.iter().cloned()),
                _ => rates.push(v.clone()),
            },
            // Serverless Framework v4's `method: scheduler` and `timezone` are sls-rs's too.
            "enabled" | "input" | "method" | "timezone" => rest.push((k.clone(), v.clone())),
            "name" | "description" => cx.removed(
                k,
                format!("{key}.{name}"),
                "EventBridge rules are named by sls-rs; removed",
            ),
            other => cx.todo(
                k,
                format!("{key}.{other}"),
                format!("`{other}` is not supported on schedules; removed"),
            ),
        }
    }
    if rates.len() > 1 {
        cx.changed(
            kind,
            key,
            format!(
                "a list of {} rates becomes one schedule event each",
                rates.len()
            ),
        );
    }
    rates
        .into_iter()
        .map(|rate| {
            let mut body = body.clone();
            let mut e = vec![(tree::string("rate"), rate)];
            e.extend(rest.iter().cloned());
            body.value = Value::Map(e);
            event("schedule", body)
        })
        .collect()
}

/// The resource name an event's `arn` points at, when it is one of the service's own.
fn own(arn: &Node, want: Kind, cx: &Cx) -> Option<String> {
    let (target, _) = reference_target(arn, cx)?;
    (target.kind == want).then(|| target.name.clone())
}

fn sqs(kind: &Node, body: &Node, key: &str, cx: &mut Cx) -> Option<Node> {
    let (arn, settings): (&Node, &[(Node, Node)]) = match &body.value {
        Value::Map(e) => match body.get("arn") {
            Some(arn) => (arn, e),
            None => (body, &[]),
        },
        _ => (body, &[]),
    };
    let Some(queue) = own(arn, Kind::Queue, cx) else {
        cx.todo(kind, key, "the queue is not one of this file's `AWS::SQS::Queue` resources; removed: declare it under `resources.queues` as `NAME: { existing: <its ARN> }` (a queue sls-rs uses but never creates or deletes; one of this region) and write `sqs: NAME`");
        return None;
    };
    let mut out = vec![("queue", string(queue))];
    for (k, v) in settings {
        let name = k.as_str().unwrap_or_default();
        match name {
            "arn" => {}
            "batchSize"
            | "maximumBatchingWindow"
            | "functionResponseType"
            | "maximumConcurrency" => out.push((name, v.clone())),
            "enabled" | "filterPatterns" => cx.todo(
                k,
                format!("{key}.{name}"),
                format!("`{name}` is not supported on sqs events yet; removed"),
            ),
            other => cx.todo(
                k,
                format!("{key}.{other}"),
                format!("`{other}` was not converted; removed"),
            ),
        }
    }
    Some(if out.len() == 1 {
        event("sqs", out.pop().expect("one").1)
    } else {
        event("sqs", tree::map(out))
    })
}

fn stream(kind: &Node, body: &Node, key: &str, cx: &mut Cx) -> Option<Node> {
    let arn = body.get("arn").unwrap_or(body);
    if body
        .get("type")
        .and_then(Node::as_str)
        .is_some_and(|t| t != "dynamodb")
    {
        cx.todo(
            kind,
            key,
            "Kinesis streams are not supported by sls-rs; removed",
        );
        return None;
    }
    let Some(table) = own(arn, Kind::Table, cx) else {
        cx.todo(kind, key, "the stream is not one of this file's `AWS::DynamoDB::Table` resources; removed: declare its table under `resources.tables` as `NAME: { existing: <the table's ARN, the stream's without /stream/…> }` (a table sls-rs uses but never creates or deletes; one of this region) and write `stream: { table: NAME }`");
        return None;
    };
    let mut out = vec![("table", string(table))];
    // `stream: !GetAtt T.StreamArn` is the ARN itself, not settings.
    let settings = if body.get("arn").is_some() {
        tree::entries(body)
    } else {
        &[]
    };
    for (k, v) in settings {
        let name = k.as_str().unwrap_or_default();
        match name {
            "arn" | "type" => {}
            "startingPosition" | "batchSize" | "maximumBatchingWindow" => {
                out.push((name, v.clone()))
            }
            "filterPatterns" => {
                let patterns = tree::items(v)
                    .iter()
                    .map(|p| p.get("pattern").unwrap_or(p).clone())
                    .collect();
                out.push((name, tree::seq(patterns)));
            }
            "enabled" if tree::is_true(v) => {}
            other => cx.todo(
                k,
                format!("{key}.{other}"),
                format!("`{other}` is not supported on stream events; removed"),
            ),
        }
    }
    // Serverless Framework's defaults, which are not Lambda's (nor sls-rs's: LATEST, 100).
    let mut defaults = Vec::new();
    for (name, value) in [("startingPosition", "TRIM_HORIZON"), ("batchSize", "10")] {
        if !settings.iter().any(|(k, _)| k.as_str() == Some(name)) {
            out.push((name, tree::plain(value)));
            defaults.push(format!("`{name}: {value}`"));
        }
    }
    if !defaults.is_empty() {
        cx.changed(
            kind,
            key,
            format!(
                "{} written: Serverless Framework's default, not sls-rs's",
                defaults.join(" and ")
            ),
        );
    }
    Some(event("stream", tree::map(out)))
}

fn s3(
    kind: &Node,
    body: &Node,
    key: &str,
    cx: &mut Cx,
    new_buckets: &mut Vec<(String, Node)>,
) -> Option<Node> {
    let bucket = body.get("bucket").unwrap_or(body);
    let name = match own(bucket, Kind::Bucket, cx) {
        Some(name) => name,
        None if body.get("existing").is_some_and(tree::is_true) => {
            cx.todo(kind, key, "`existing: true`: sls-rs triggers functions from its own `resources.buckets` only; removed");
            return None;
        }
        None => {
            // Serverless creates the bucket an s3 event names: so does sls-rs, under resources.buckets.
            let Some(text) = bucket.as_str() else {
                cx.todo(kind, key, "the bucket could not be read; removed");
                return None;
            };
            let mut name = text.to_string();
            while let Some(start) = name.find("${") {
                let end = name[start..]
                    .find('}')
                    .map_or(name.len(), |e| start + e + 1);
                name.replace_range(start..end, "");
            }
            let mut name = tree::kebab(&name);
            if name.is_empty() {
                name = "bucket".into();
            }
            if !new_buckets.iter().any(|(n, _)| *n == name) {
                new_buckets.push((name.clone(), tree::map(vec![])));
                cx.changed(bucket, key, format!("the bucket `{text}` this event creates is declared as `resources.buckets.{name}` (named `{{service}}-{{stage}}-{name}-{{account}}-{{region}}`)"));
            }
            name
        }
    };
    let mut out = vec![("bucket", string(name))];
    for (k, v) in tree::entries(body) {
        let field = k.as_str().unwrap_or_default();
        match field {
            "bucket" | "existing" => {}
            "event" => out.push(("events", tree::seq(vec![v.clone()]))),
            "rules" => {
                for rule in tree::items(v) {
                    for (rk, rv) in tree::entries(rule) {
                        match rk.as_str() {
                            Some(r @ ("prefix" | "suffix")) => out.push((
                                if r == "prefix" { "prefix" } else { "suffix" },
                                rv.clone(),
                            )),
                            _ => cx.todo(
                                rk,
                                format!("{key}.rules"),
                                "only prefix and suffix rules are supported; removed",
                            ),
                        }
                    }
                }
            }
            "forceDeploy" => {}
            other => cx.todo(
                k,
                format!("{key}.{other}"),
                format!("`{other}` was not converted; removed"),
            ),
        }
    }
    Some(event("s3", tree::map(out)))
}
