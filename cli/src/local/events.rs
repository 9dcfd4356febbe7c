//! Sample events for `invoke --event KIND`: built from the `aws_lambda_events`
//! types, filled in from the function's declared trigger (its route, bucket,
//! queue or table), so users don't hunt for JSON.

use aws_lambda_events::event::{apigw, dynamodb, eventbridge, s3, sqs};
use serde_json::{json, Value};

use crate::manifest::{Event, Function, Service};

pub const KINDS: &[&str] = &["apigw-http", "s3", "sqs", "schedule", "dynamodb-stream"];

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The declared trigger of `kind`, if the function has one.
fn trigger<'a>(f: &'a Function, kind: &str) -> Option<&'a Event> {
    f.events.iter().find(|e| {
        matches!(
            (kind, e),
            ("apigw-http", Event::HttpApi(_))
                | ("s3", Event::S3(_))
                | ("sqs", Event::Sqs(_))
                | ("schedule", Event::Schedule(_))
                | ("dynamodb-stream", Event::Stream(_))
        )
    })
}

/// A realistic event of `kind` for `function`, naming the resources deploy makes
/// in `account` (a bucket's name carries it), so it works against what is deployed.
pub fn sample(
    service: &Service,
    function: &str,
    kind: &str,
    account: &str,
) -> anyhow::Result<Value> {
    let f = &service.manifest.functions[function];
    let region = &service.region;
    let cx = crate::model::Context {
        account,
        region,
        partition: crate::cloud::partition(region),
        env_key: None,
        queue_url_base: "",
    };
    let names = crate::model::Names::new(service, &cx);
    let name =
        |resource: &str| format!("{}-{}-{resource}", service.manifest.service, service.stage);
    let event = trigger(f, kind);
    let value = match kind {
        "apigw-http" => {
            let (method, path) = match event {
                Some(Event::HttpApi(r)) if r.path != "$default" => (
                    if r.method == "ANY" || r.method == "*" {
                        "GET".to_string()
                    } else {
                        r.method.to_ascii_uppercase()
                    },
                    r.path.clone(),
                ),
                _ => ("GET".to_string(), "/".to_string()),
            };
            // Path parameters get a sample value.
            let raw_path: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "123" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let mut req = apigw::ApiGatewayV2httpRequest::default();
            req.version = Some("2.0".into());
            req.route_key = Some(format!("{method} {path}"));
            req.raw_path = Some(raw_path.clone());
            req.raw_query_string = Some(String::new());
            req.path_parameters = path
                .split('/')
                .filter_map(|seg| {
                    seg.strip_prefix('{')?
                        .strip_suffix('}')
                        .map(|p| (p.trim_end_matches('+').to_string(), "123".to_string()))
                })
                .collect();
            req.body = (method == "POST" || method == "PUT" || method == "PATCH")
                .then(|| r#"{"title":"example"}"#.to_string());
            let ctx = &mut req.request_context;
            ctx.route_key = req.route_key.clone();
            ctx.account_id = Some(account.into());
            ctx.stage = Some("$default".into());
            ctx.request_id = Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into());
            ctx.apiid = Some("a1b2c3d4e5".into());
            ctx.domain_name = Some(format!("a1b2c3d4e5.execute-api.{region}.amazonaws.com"));
            ctx.domain_prefix = Some("a1b2c3d4e5".into());
            ctx.time_epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            ctx.http.method = method.parse().unwrap_or_default();
            ctx.http.path = Some(raw_path);
            ctx.http.protocol = Some("HTTP/1.1".into());
            ctx.http.source_ip = Some("203.0.113.10".into());
            ctx.http.user_agent = Some("curl/8.5.0".into());
            let mut v = serde_json::to_value(&req)?;
            v["headers"] = json!({ "accept": "application/json", "content-type": "application/json", "host": format!("a1b2c3d4e5.execute-api.{region}.amazonaws.com") });
            v
        }
        "s3" => {
            let (bucket, key) = match event {
                Some(Event::S3(s)) => (
                    names.bucket(&s.bucket),
                    format!(
                        "{}example{}",
                        s.prefix.clone().unwrap_or_default(),
                        s.suffix.clone().unwrap_or_else(|| ".json".into())
                    ),
                ),
                _ => (
                    name("bucket").to_ascii_lowercase(),
                    "example.json".to_string(),
                ),
            };
            let mut record = s3::S3EventRecord::default();
            record.event_version = Some("2.1".into());
            record.event_source = Some("aws:s3".into());
            record.aws_region = Some(region.clone());
            record.event_name = Some("ObjectCreated:Put".into());
            record.s3.schema_version = Some("1.0".into());
            record.s3.bucket.name = Some(bucket.clone());
            record.s3.bucket.arn = Some(format!("{}:s3:::{bucket}", cx.partition));
            record.s3.object.key = Some(key);
            record.s3.object.size = Some(1024);
            record.s3.object.e_tag = Some("0123456789abcdef0123456789abcdef".into());
            record.s3.object.sequencer = Some("0A1B2C3D4E5F678901".into());
            let mut e = s3::S3Event::default();
            e.records = vec![record];
            let mut v = serde_json::to_value(&e)?;
            v["Records"][0]["eventTime"] = json!(now_rfc3339());
            v
        }
        "sqs" => {
            let queue = match event {
                Some(Event::Sqs(q)) => names.queue(&q.queue),
                _ => name("queue"),
            };
            let mut message = sqs::SqsMessage::default();
            message.message_id = Some("059f36b4-87a3-44ab-83d2-661975830a7d".into());
            message.receipt_handle = Some("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a".into());
            message.body = Some(r#"{"job":"example"}"#.into());
            message.md5_of_body = Some("e4e68fb7bd0e697a0ae8f1bb342846b3".into());
            message.attributes = [
                ("ApproximateReceiveCount", "1"),
                ("SentTimestamp", "1545082649183"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            message.event_source = Some("aws:sqs".into());
            // A declared queue's own ARN (an existing one may be another account's).
            message.event_source_arn = Some(match event {
                Some(Event::Sqs(q)) => names.queue_arn(&q.queue),
                _ => format!("{}:sqs:{region}:{account}:{queue}", cx.partition),
            });
            message.aws_region = Some(region.clone());
            let mut e = sqs::SqsEvent::default();
            e.records = vec![message];
            serde_json::to_value(&e)?
        }
        "schedule" => {
            let input = match event {
                Some(Event::Schedule(s)) => s.input.clone(),
                _ => None,
            };
            if let Some(input) = input {
                return Ok(input); // a constant input replaces the scheduled-event payload
            }
            let mut e: eventbridge::EventBridgeEvent<Value> =
                eventbridge::EventBridgeEvent::default();
            e.version = Some("0".into());
            e.id = Some("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa".into());
            e.detail_type = "Scheduled Event".into();
            e.source = "aws.events".into();
            e.account = Some(account.into());
            e.region = Some(region.clone());
            // The rule of the function's first schedule, the one `trigger` picked.
            e.resources = Some(vec![
                names.schedule_rule_arn(&names.schedule_rule(function, 0))
            ]);
            e.detail = json!({});
            let mut v = serde_json::to_value(&e)?;
            v["time"] = json!(now_rfc3339());
            v
        }
        "dynamodb-stream" => {
            let (table, keys) = match event {
                Some(Event::Stream(s)) => {
                    let t = service.manifest.resources.tables.get(&s.table);
                    let mut keys = serde_json::Map::new();
                    if let Some(t) = t {
                        for k in [t.partition_key.as_ref(), t.sort_key.as_ref()]
                            .into_iter()
                            .flatten()
                        {
                            let kind = format!("{:?}", k.kind);
                            let sample = if kind == "N" { "1700000000" } else { "example" };
                            keys.insert(k.name.clone(), json!({ kind: sample }));
                        }
                    }
                    (names.table(&s.table), keys)
                }
                _ => (
                    name("table"),
                    serde_json::Map::from_iter([("id".to_string(), json!({ "S": "example" }))]),
                ),
            };
            let mut record = dynamodb::EventRecord::default();
            record.aws_region = region.clone();
            record.event_id = "c4ca4238a0b923820dcc509a6f75849b".into();
            record.event_name = "INSERT".into();
            record.event_source = Some("aws:dynamodb".into());
            record.event_version = Some("1.1".into());
            record.event_source_arn = Some(format!(
                "{}:dynamodb:{region}:{account}:table/{table}/stream/2026-01-01T00:00:00.000",
                cx.partition
            ));
            record.change.sequence_number = Some("4421584500000000017450439091".into());
            record.change.size_bytes = 26;
            record.change.stream_view_type = Some(dynamodb::StreamViewType::NewAndOldImages);
            let mut e = dynamodb::Event::default();
            e.records = vec![record];
            let mut v = serde_json::to_value(&e)?;
            let mut image = keys.clone();
            image.insert("title".into(), json!({ "S": "example" }));
            v["Records"][0]["dynamodb"]["Keys"] = Value::Object(keys);
            v["Records"][0]["dynamodb"]["NewImage"] = Value::Object(image);
            v["Records"][0]["dynamodb"]["ApproximateCreationDateTime"] =
                json!(std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0));
            v
        }
        other => anyhow::bail!("unknown event kind `{other}`; one of: {}", KINDS.join(", ")),
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service {
        let yaml = "service: shop\nprovider: { name: aws, region: eu-west-1 }\nfunctions:\n  api:\n    handler: api\n    events:\n      - httpApi: POST /orders/{id}\n      - s3: { bucket: uploads, prefix: in/, suffix: .csv }\n      - sqs: jobs\n      - schedule: rate(1 hour)\n      - stream: { table: orders }\n  plain: { handler: plain }\nresources:\n  buckets: { uploads: {} }\n  queues: { jobs: {} }\n  tables:\n    orders: { partitionKey: { name: id, type: S }, sortKey: { name: at, type: N }, stream: NEW_AND_OLD_IMAGES }\n";
        let env = |_: &str| None;
        crate::manifest::load_str(
            std::path::Path::new("serverless.yaml"),
            yaml,
            &crate::manifest::LoadOptions {
                config: None,
                stage: None,
                region: None,
                env: &env,
            },
        )
        .unwrap()
    }

    #[test]
    fn events_follow_the_declared_trigger_and_read_back_as_their_types() {
        let s = service();
        let sample = |s: &Service, f: &str, kind: &str| sample(s, f, kind, "123456789012");
        let http = sample(&s, "api", "apigw-http").unwrap();
        assert_eq!(http["routeKey"], "POST /orders/{id}");
        assert_eq!(http["rawPath"], "/orders/123");
        assert_eq!(http["pathParameters"]["id"], "123");
        assert_eq!(http["requestContext"]["http"]["method"], "POST");
        let typed: apigw::ApiGatewayV2httpRequest = serde_json::from_value(http).unwrap();
        assert_eq!(typed.headers["content-type"], "application/json");

        let s3e = sample(&s, "api", "s3").unwrap();
        assert_eq!(
            s3e["Records"][0]["s3"]["bucket"]["name"], "shop-dev-uploads-123456789012-eu-west-1",
            "the name deploy gives the bucket"
        );
        assert_eq!(s3e["Records"][0]["s3"]["object"]["key"], "in/example.csv");
        serde_json::from_value::<s3::S3Event>(s3e).unwrap();

        let sqse = sample(&s, "api", "sqs").unwrap();
        assert_eq!(
            sqse["Records"][0]["eventSourceARN"],
            "arn:aws:sqs:eu-west-1:123456789012:shop-dev-jobs"
        );
        serde_json::from_value::<sqs::SqsEvent>(sqse).unwrap();

        let sched = sample(&s, "api", "schedule").unwrap();
        assert_eq!(sched["detail-type"], "Scheduled Event");
        assert_eq!(
            sched["resources"][0],
            "arn:aws:events:eu-west-1:123456789012:rule/shop-dev-api-schedule"
        );
        serde_json::from_value::<eventbridge::EventBridgeEvent>(sched).unwrap();

        let stream = sample(&s, "api", "dynamodb-stream").unwrap();
        assert_eq!(
            stream["Records"][0]["dynamodb"]["Keys"]["at"]["N"],
            "1700000000"
        );
        assert!(stream["Records"][0]["eventSourceARN"]
            .as_str()
            .unwrap()
            .contains("table/shop-dev-orders/stream/"));
        serde_json::from_value::<dynamodb::Event>(stream).unwrap();

        // Without a declared trigger of that kind, a generic one.
        assert_eq!(sample(&s, "plain", "apigw-http").unwrap()["rawPath"], "/");
    }
}
