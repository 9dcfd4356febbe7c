//! Service resources and triggers against the emulator, through the real binary,
//! read back with the SDK: create, read every configured property, change one
//! (in place), repair drift, remove, and keep data unless told otherwise.

use crate::support;

use support::Svc;

use serde_json::Value;
use support::fixture::{aws, lose_state, mutating, planned, Fixture};

/// A bucket's versioning status, as the raw answer says (moto's XML root differs from S3's).
async fn versioning(aws: &sls_rs::cloud::Aws, bucket: &str) -> String {
    match aws.s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(v) => v
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        Err(e) => {
            let body = e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .unwrap_or_default();
            let body = String::from_utf8_lossy(body);
            let status = body
                .split("<Status>")
                .nth(1)
                .and_then(|s| s.split('<').next());
            status.unwrap_or_default().to_string()
        }
    }
}

/// A function's resource policy on its `live` alias, as JSON text.
async fn live_policy(aws: &sls_rs::cloud::Aws, function: &str) -> String {
    let out = aws
        .lambda
        .get_policy()
        .function_name(function)
        .qualifier("live");
    out.send().await.unwrap().policy.unwrap()
}

fn policy(f: &Fixture, function: &str) -> Value {
    f.json(&["policy", "-f", function])
}

const DATA: &str = "  api:\n    handler: api\n    permissions:\n      - { table: todos, access: readwrite }\n      - { bucket: uploads, access: read, prefix: in/ }\n      - { queue: jobs, access: send }\nresources:\n  tables:\n    todos:\n      partitionKey: { name: id, type: S }\n      sortKey: { name: at, type: N }\n      ttl: expiresAt\n      pointInTimeRecovery: true\n      globalSecondaryIndexes:\n        - { name: byOwner, partitionKey: { name: owner, type: S } }\n      tags: { data: todos }\n  buckets:\n    uploads:\n      versioning: true\n      cors: [{ allowedOrigins: ['https://example.com'], allowedMethods: [GET, PUT], maxAge: 60 }]\n      lifecycle: { expireAfterDays: 7, prefix: tmp/ }\n  queues:\n    jobs:\n      visibilityTimeout: 45\n      messageRetentionPeriod: 86400\n      deadLetter: { maxReceiveCount: 4 }\n";

#[tokio::test]
async fn tables_buckets_and_queues_are_deployed_updated_in_place_repaired_and_kept() {
    if !support::needs(&[Svc::Lambda, Svc::DynamoDb, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("data", DATA);
    let aws = aws().await;
    let report = f.deploy();
    assert_eq!(
        report["plan"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] == "create")
            .count(),
        7,
        "{report}"
    );
    let table = format!("{}-test-todos", f.service);

    // The table: keys, on-demand billing, the index, TTL, point-in-time recovery, tags.
    let t = aws
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<(String, String)> = t
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [("id".into(), "HASH".into()), ("at".into(), "RANGE".into())]
    );
    assert_eq!(
        t.billing_mode_summary()
            .unwrap()
            .billing_mode()
            .unwrap()
            .as_str(),
        "PAY_PER_REQUEST"
    );
    assert_eq!(
        t.global_secondary_indexes()[0].index_name(),
        Some("byOwner")
    );
    let ttl = aws
        .dynamodb
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().unwrap().attribute_name(),
        Some("expiresAt")
    );
    let backups = aws
        .dynamodb
        .describe_continuous_backups()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        backups
            .continuous_backups_description()
            .unwrap()
            .point_in_time_recovery_description()
            .unwrap()
            .point_in_time_recovery_status()
            .unwrap()
            .as_str(),
        "ENABLED"
    );
    let tags = aws
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(t.table_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "data" && t.value() == "todos"));
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "sls-rs:service" && t.value() == f.service));

    // The bucket: account and region in its name, versioning, encryption, public access blocked, CORS, lifecycle.
    let bucket = format!("{}-test-uploads-{}-us-east-1", f.service, aws.account).to_lowercase();
    assert_eq!(versioning(&aws, &bucket).await, "Enabled");
    let enc = aws
        .s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .as_str(),
        "AES256"
    );
    let block = aws
        .s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (block.block_public_acls(), block.restrict_public_buckets()),
        (Some(true), Some(true))
    );
    let cors = aws
        .s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(cors.cors_rules()[0].allowed_methods(), ["GET", "PUT"]);
    assert_eq!(cors.cors_rules()[0].max_age_seconds(), Some(60));
    let lifecycle = aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(lifecycle.rules()[0].expiration().unwrap().days(), Some(7));

    // The queue and its dead-letter queue.
    let queue = format!("{}-test-jobs", f.service);
    let url = aws
        .sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    use aws_sdk_sqs::types::QueueAttributeName as Q;
    assert_eq!(attrs[&Q::VisibilityTimeout], "45");
    assert_eq!(attrs[&Q::MessageRetentionPeriod], "86400");
    let redrive: Value = serde_json::from_str(&attrs[&Q::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        format!("arn:aws:sqs:us-east-1:{}:{queue}-dlq", aws.account)
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "4"
    );

    // The function knows their names, and its role may use exactly them.
    let config = aws
        .lambda
        .get_function_configuration()
        .function_name(f.name("api"))
        .send()
        .await
        .unwrap();
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env["SLS_RS_TABLE_TODOS"], table);
    assert_eq!(env["SLS_RS_BUCKET_UPLOADS"], bucket);
    assert!(
        env["SLS_RS_QUEUE_JOBS"].ends_with(&format!("/{}/{queue}", aws.account)),
        "{}",
        env["SLS_RS_QUEUE_JOBS"]
    );
    let role = aws
        .iam
        .get_role_policy()
        .role_name(f.role("api"))
        .policy_name("sls-rs")
        .send()
        .await
        .unwrap();
    let text = sls_rs::cloud::iam_role::decode_policy(role.policy_document()).to_string();
    assert!(
        text.contains("dynamodb") && text.contains(&table) && text.contains("byOwner"),
        "{text}"
    );
    assert_eq!(policy(&f, "api")["Statement"][2]["Sid"], "TableTodosRead");

    // Nothing changed: nothing is written.
    let again = f.deploy();
    assert!(again["deployment"].is_null(), "{again}");

    // One property each, changed in place: a new index, no TTL, a longer visibility timeout, no CORS.
    let changed = DATA
        .replace("        - { name: byOwner, partitionKey: { name: owner, type: S } }\n", "        - { name: byOwner, partitionKey: { name: owner, type: S } }\n        - { name: byDay, partitionKey: { name: day, type: S }, projection: KEYS_ONLY }\n")
        .replace("      ttl: expiresAt\n", "")
        .replace("visibilityTimeout: 45", "visibilityTimeout: 90")
        .replace("      cors: [{ allowedOrigins: ['https://example.com'], allowedMethods: [GET, PUT], maxAge: 60 }]\n", "");
    f.write(&changed, &[]);
    let report = f.deploy();
    let calls = mutating(&report);
    assert!(
        calls.contains(&"dynamodb:UpdateTable".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"dynamodb:UpdateTimeToLive".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"sqs:SetQueueAttributes".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"s3:DeleteBucketCors".to_string()),
        "{calls:?}"
    );
    for never in [
        "dynamodb:CreateTable",
        "dynamodb:DeleteTable",
        "s3:CreateBucket",
        "sqs:CreateQueue",
        "sqs:DeleteQueue",
    ] {
        assert!(!calls.contains(&never.to_string()), "{never} in {calls:?}");
    }
    let t = aws
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(t.global_secondary_indexes().len(), 2);
    assert!(f.deploy()["deployment"].is_null(), "the update converged");

    // Drift: a console edit of the queue shows in the plan and is repaired.
    aws.sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(Q::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap();
    let plan = f.json(&["plan"]);
    let drift = planned(&plan, "queue/jobs");
    assert_eq!(drift["drift"], serde_json::json!(["visibilityTimeout"]));
    f.deploy();
    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(Q::VisibilityTimeout)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs[&Q::VisibilityTimeout], "90");

    // A key schema change would need a new table: refused, nothing touched.
    f.write(
        &changed.replace(
            "partitionKey: { name: id, type: S }",
            "partitionKey: { name: pk, type: S }",
        ),
        &[],
    );
    let (out, _, stderr) = support::run(f.command(&["deploy"]).arg("--json"));
    assert!(!out.status.success());
    assert!(
        stderr.contains("`partitionKey` cannot change in place (id:S → pk:S)"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");

    // Remove keeps the table and the bucket holding an object; the empty queues go.
    f.write(&changed, &[]);
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key("in/a.txt")
        .body(b"data".to_vec().into())
        .send()
        .await
        .unwrap();
    let removed = f.json(&["remove"]);
    let retained: Vec<&str> = removed["retained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(retained.len(), 2, "{retained:?}");
    assert!(
        retained[0].starts_with(&format!("DynamoDB table {table}"))
            || retained[1].starts_with(&format!("DynamoDB table {table}"))
    );
    assert!(
        aws.dynamodb
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .is_ok(),
        "the table is kept"
    );
    assert!(
        aws.s3.head_bucket().bucket(&bucket).send().await.is_ok(),
        "the bucket with data is kept"
    );
    assert!(
        aws.sqs
            .get_queue_url()
            .queue_name(&queue)
            .send()
            .await
            .is_err(),
        "the empty queue is deleted"
    );

    // Deploying again adopts what was kept (its tags say it is ours); --force then deletes it all.
    f.deploy();
    let removed = f.json(&["remove", "--force"]);
    assert_eq!(removed["retained"], serde_json::json!([]));
    assert!(aws
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .is_err());
    assert!(aws.s3.head_bucket().bucket(&bucket).send().await.is_err());
}

#[tokio::test]
async fn a_dropped_table_is_kept_unless_its_deletion_policy_says_delete() {
    if !support::needs(&[Svc::Lambda, Svc::DynamoDb, Svc::HttpApi, Svc::Sqs]) {
        return;
    }
    let tables = "resources:\n  tables:\n    keep: { partitionKey: { name: id, type: S } }\n    scratch: { partitionKey: { name: id, type: S }, deletionPolicy: delete }\n";
    let f = Fixture::new("drop", &format!("  f: {{ handler: f }}\n{tables}"));
    let aws = aws().await;
    f.deploy();
    f.write("  f: { handler: f }\n", &[]);
    let report = f.deploy();
    let retained = report["retained"].as_array().unwrap();
    assert_eq!(retained.len(), 1, "{report}");
    assert!(retained[0]
        .as_str()
        .unwrap()
        .contains(&format!("{}-test-keep", f.service)));
    assert!(aws
        .dynamodb
        .describe_table()
        .table_name(format!("{}-test-keep", f.service))
        .send()
        .await
        .is_ok());
    assert!(aws
        .dynamodb
        .describe_table()
        .table_name(format!("{}-test-scratch", f.service))
        .send()
        .await
        .is_err());
    assert!(
        f.deploy()["deployment"].is_null(),
        "the kept table is no longer the service's to manage"
    );
    f.json(&["remove", "--force"]);
}

const EVENTS: &str = "  api:\n    handler: api\n    events:\n      - httpApi: GET /items/{id}\n      - httpApi: ANY /items\n  catchall:\n    handler: catchall\n    events:\n      - httpApi: '*'\n  worker:\n    handler: worker\n    timeout: 10\n    events:\n      - sqs: { queue: jobs, batchSize: 5, maximumBatchingWindow: 2, functionResponseType: ReportBatchItemFailures }\n      - stream: { table: events, startingPosition: TRIM_HORIZON, batchSize: 20, filterPatterns: [{ eventName: [INSERT] }] }\n      - schedule: { rate: rate(5 minutes), input: { job: sweep } }\n      - s3: { bucket: uploads, events: ['s3:ObjectCreated:*'], prefix: in/, suffix: .csv }\nresources:\n  tables:\n    events: { partitionKey: { name: id, type: S }, stream: NEW_IMAGE, deletionPolicy: delete }\n  buckets:\n    uploads: { deletionPolicy: delete }\n  queues:\n    jobs: { visibilityTimeout: 60 }\n";

#[tokio::test]
async fn every_trigger_targets_the_live_alias_and_is_updated_in_place() {
    if !support::needs(&[Svc::Lambda, Svc::HttpApi, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("events", EVENTS);
    let aws = aws().await;
    let report = f.deploy();
    let endpoint = report["endpoint"].as_str().unwrap_or_default().to_string();
    assert!(endpoint.starts_with("https://"), "{report}");
    // The emulator's URL cannot be called: deploy and info say so, and what to run instead.
    assert_eq!(report["endpointNotServed"], true, "{report}");
    let (_, info, _) = support::run(&mut f.command(&["info"]));
    let line = info
        .lines()
        .find(|l| l.starts_with("HTTP API: "))
        .unwrap_or_default();
    assert!(
        line.contains(&endpoint)
            && line.contains("serves no HTTP API")
            && line.contains("invoke --local"),
        "{info}"
    );
    let alias = |fname: &str| {
        format!(
            "arn:aws:lambda:us-east-1:{}:function:{}:live",
            aws.account,
            f.name(fname)
        )
    };

    // HTTP API: routes, Lambda proxy integrations (payload 2.0) on the aliases, its own permission.
    let api = aws
        .apigw
        .get_apis()
        .send()
        .await
        .unwrap()
        .items
        .unwrap()
        .into_iter()
        .find(|a| a.name() == Some(&format!("{}-test", f.service)))
        .unwrap();
    let api_id = api.api_id().unwrap().to_string();
    let routes = aws
        .apigw
        .get_routes()
        .api_id(&api_id)
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    let mut keys: Vec<&str> = routes.iter().filter_map(|r| r.route_key()).collect();
    keys.sort();
    assert_eq!(keys, ["$default", "ANY /items", "GET /items/{id}"]);
    let integrations = aws
        .apigw
        .get_integrations()
        .api_id(&api_id)
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert!(integrations
        .iter()
        .all(|i| i.payload_format_version() == Some("2.0")));
    assert!(integrations
        .iter()
        .any(|i| i.integration_uri() == Some(alias("api").as_str())));
    let stages = aws
        .apigw
        .get_stages()
        .api_id(&api_id)
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(stages[0].stage_name(), Some("$default"));
    let policy = live_policy(&aws, &f.name("api")).await;
    assert!(
        policy.contains(&format!(
            "arn:aws:execute-api:us-east-1:{}:{api_id}/*",
            aws.account
        )),
        "{policy}"
    );

    // S3 notification, scoped permission with the source account.
    let bucket = format!("{}-test-uploads-{}-us-east-1", f.service, aws.account).to_lowercase();
    let n = aws
        .s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let lambda = &n.lambda_function_configurations()[0];
    assert_eq!(lambda.lambda_function_arn(), alias("worker"));
    let rules: Vec<String> = lambda
        .filter()
        .unwrap()
        .key()
        .unwrap()
        .filter_rules()
        .iter()
        .map(|r| {
            format!(
                "{}={}",
                r.name().unwrap().as_str().to_lowercase(),
                r.value().unwrap()
            )
        })
        .collect();
    assert_eq!(rules, ["prefix=in/", "suffix=.csv"]);
    let worker_policy = live_policy(&aws, &f.name("worker")).await;
    assert!(
        worker_policy.contains(&format!("arn:aws:s3:::{bucket}"))
            && worker_policy.contains(&aws.account)
    );

    // Schedule: a rule on the alias with its constant input.
    let rule = format!("{}-schedule", f.name("worker"));
    let described = aws.events.describe_rule().name(&rule).send().await.unwrap();
    assert_eq!(described.schedule_expression(), Some("rate(5 minutes)"));
    let targets = aws
        .events
        .list_targets_by_rule()
        .rule(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(targets.targets()[0].arn(), alias("worker"));
    assert_eq!(targets.targets()[0].input(), Some(r#"{"job":"sweep"}"#));
    assert!(worker_policy.contains(&format!("rule/{rule}")));

    // SQS and stream mappings on the alias.
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name(alias("worker"))
        .send()
        .await
        .unwrap()
        .event_source_mappings
        .unwrap();
    assert_eq!(mappings.len(), 2);
    let sqs = mappings
        .iter()
        .find(|m| m.event_source_arn().unwrap().contains(":sqs:"))
        .unwrap();
    assert_eq!(
        (sqs.batch_size(), sqs.maximum_batching_window_in_seconds()),
        (Some(5), Some(2))
    );
    assert_eq!(
        sqs.function_response_types()[0].as_str(),
        "ReportBatchItemFailures"
    );
    let stream = mappings
        .iter()
        .find(|m| m.event_source_arn().unwrap().contains("/stream/"))
        .unwrap();
    assert_eq!(stream.batch_size(), Some(20));
    assert_eq!(stream.starting_position().unwrap().as_str(), "TRIM_HORIZON");
    assert!(stream.filter_criteria().unwrap().filters()[0]
        .pattern()
        .unwrap()
        .contains("INSERT"));

    assert!(
        f.deploy()["deployment"].is_null(),
        "a redeploy changes nothing"
    );

    // One property each, in place: batch size, schedule state.
    f.write(
        &EVENTS.replace("batchSize: 5", "batchSize: 8").replace(
            "rate: rate(5 minutes),",
            "rate: rate(5 minutes), enabled: false,",
        ),
        &[],
    );
    let calls = mutating(&f.deploy());
    assert!(
        calls.contains(&"lambda:UpdateEventSourceMapping".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"eventbridge:PutRule".to_string()),
        "{calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("Create") || c.contains("Delete")),
        "{calls:?}"
    );
    let sqs = aws
        .lambda
        .get_event_source_mapping()
        .uuid(sqs.uuid().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(sqs.batch_size(), Some(8));
    assert_eq!(
        aws.events
            .describe_rule()
            .name(&rule)
            .send()
            .await
            .unwrap()
            .state()
            .unwrap()
            .as_str(),
        "DISABLED"
    );

    // Drift: a route deleted behind sls-rs's back comes back.
    let route = routes
        .iter()
        .find(|r| r.route_key() == Some("ANY /items"))
        .unwrap();
    aws.apigw
        .delete_route()
        .api_id(&api_id)
        .route_id(route.route_id().unwrap())
        .send()
        .await
        .unwrap();
    f.deploy();
    let routes = aws
        .apigw
        .get_routes()
        .api_id(&api_id)
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(routes.len(), 3);

    // Dropping the HTTP events removes the routes, the API and its permission.
    f.write(
        &EVENTS
            .replace(
                "    events:\n      - httpApi: GET /items/{id}\n      - httpApi: ANY /items\n",
                "",
            )
            .replace("    events:\n      - httpApi: '*'\n", ""),
        &[],
    );
    f.deploy();
    assert!(
        aws.apigw.get_api().api_id(&api_id).send().await.is_err(),
        "the API is deleted"
    );

    f.json(&["remove"]);
    assert!(aws.events.describe_rule().name(&rule).send().await.is_err());
    let left = aws
        .lambda
        .list_event_source_mappings()
        .function_name(alias("worker"))
        .send()
        .await
        .unwrap()
        .event_source_mappings
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_state_machine_calls_live_aliases_with_its_own_role_logs_and_tracing() {
    if !support::needs(&[Svc::Lambda, Svc::StepFunctions]) {
        return;
    }
    let machine = "  a: { handler: a }\n  b: { handler: b }\nresources:\n  stateMachines:\n    flow:\n      type: EXPRESS\n      definition:\n        StartAt: A\n        States:\n          A: { Type: Task, Resource: '${fn:a}', End: true }\n";
    let f = Fixture::new("states", machine);
    let aws = aws().await;
    f.deploy();
    let arn = format!(
        "arn:aws:states:us-east-1:{}:stateMachine:{}-test-flow",
        aws.account, f.service
    );
    let sm = aws
        .sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(
        sm.definition()
            .contains(&format!("function:{}:live", f.name("a"))),
        "{}",
        sm.definition()
    );
    assert_eq!(sm.r#type().as_str(), "EXPRESS");
    let logging = sm.logging_configuration().unwrap();
    assert_eq!(logging.level().unwrap().as_str(), "ALL");
    let group = logging.destinations()[0]
        .cloud_watch_logs_log_group()
        .unwrap()
        .log_group_arn()
        .unwrap();
    assert!(
        group.contains(&format!("/aws/vendedlogs/states/{}-test-flow", f.service)),
        "{group}"
    );
    let role = format!("{}-test-flow-states-us-east-1", f.service);
    assert!(sm.role_arn().ends_with(&role));
    let doc = aws
        .iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("sls-rs")
        .send()
        .await
        .unwrap();
    let text = sls_rs::cloud::iam_role::decode_policy(doc.policy_document()).to_string();
    assert!(
        text.contains(&format!("{}:live", f.name("a"))) && !text.contains(&f.name("b")),
        "{text}"
    );

    // The definition changes in place.
    f.write(&machine.replace("'${fn:a}'", "'${fn:b}'"), &[]);
    let calls = mutating(&f.deploy());
    assert!(
        calls.contains(&"sfn:UpdateStateMachine".to_string()),
        "{calls:?}"
    );
    let sm = aws
        .sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(sm
        .definition()
        .contains(&format!("function:{}:live", f.name("b"))));
    assert!(f.deploy()["deployment"].is_null());

    f.json(&["remove"]);
    assert!(aws
        .sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .is_err());
    assert!(aws.iam.get_role().role_name(&role).send().await.is_err());
}

/// Every example, built for real (cargo-lambda and zig, one shared target
/// directory so their common dependencies build once), deploys to the emulator
/// in one run although the first answer to every write is lost (the SDK's retry
/// meets its own write), redeploys with no change, and is removed with its data.
#[test]
fn every_example_deploys_and_redeploys_without_changes() {
    if !support::needs(&[
        Svc::Lambda,
        Svc::DynamoDb,
        Svc::HttpApi,
        Svc::Sqs,
        Svc::StepFunctions,
    ]) {
        return;
    }
    let root = support::repo_root();
    let endpoint = &support::emulator().endpoint;
    let mut examples: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("serverless.yaml").is_file())
        .collect();
    examples.sort();
    assert!(examples.len() >= 5, "{examples:?}");
    for dir in examples {
        // Queue URLs (which a definition may hold) carry the endpoint: every deploy
        // of an example goes through its proxy, so the redeploy compares like with like.
        let proxy = support::Realism::start(&["--lose-first-write"]);
        let run_at = |endpoint: &str, args: &[&str]| {
            let mut cmd = support::sls_rs();
            cmd.args(args)
                .arg("--json")
                .arg("-c")
                .arg(&dir)
                .env("SLS_RS_ENDPOINT", endpoint);
            // Unoptimised, beside the templates' builds: what this checks is behaviour,
            // and optimised builds of five examples were most of CI's time (`package`'s
            // own tests of examples/hello build as users do).
            support::handler_builds(&mut cmd);
            let (out, stdout, stderr) = support::run(&mut cmd);
            assert!(
                out.status.success(),
                "`sls-rs {}` of {} failed:\n{stderr}",
                args.join(" "),
                dir.display()
            );
            serde_json::from_str::<Value>(&stdout).unwrap()
        };
        let first = run_at(&proxy.endpoint, &["deploy"]);
        assert!(
            first["warnings"].as_array().unwrap().is_empty(),
            "{}: {}",
            dir.display(),
            first["warnings"]
        );
        let again = run_at(&proxy.endpoint, &["deploy"]);
        assert!(
            again["deployment"].is_null(),
            "{} changed on a redeploy: {}",
            dir.display(),
            again["plan"]
        );
        assert_eq!(again["apiCalls"]["writes"], 0, "{}", dir.display());
        if dir.ends_with("todo-api") {
            todo_api_crud(&dir, endpoint);
        }
        if dir.ends_with("thumbnails") {
            thumbnails_resize(&dir, endpoint);
        }
        if dir.ends_with("nightly-report") {
            nightly_report_counts(&dir, endpoint);
        }
        let removed = run_at(endpoint, &["remove", "--force"]);
        assert_eq!(removed["retained"], serde_json::json!([]));
    }
}

/// A console edit of a queue (visibility timeout 7 s) and of a state machine (one Pass state).
async fn edit_queue_and_state_machine(aws: &sls_rs::cloud::Aws, queue: &str, machine: &str) {
    let url = sls_rs::cloud::sqs_queue::url(aws, queue)
        .await
        .unwrap()
        .unwrap();
    aws.sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "7",
        )
        .send()
        .await
        .unwrap();
    aws.sfn
        .update_state_machine()
        .state_machine_arn(machine)
        .definition(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#)
        .send()
        .await
        .unwrap();
}

/// The plan's drifted resources (`--json`), each with its drifted fields, sorted.
fn drifted(plan: &Value) -> Vec<(String, Vec<String>)> {
    let mut drifted: Vec<(String, Vec<String>)> = plan["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["drift"].as_array().unwrap().is_empty())
        .map(|c| {
            let fields = c["drift"].as_array().unwrap();
            let fields = fields.iter().map(|d| d.as_str().unwrap().to_string());
            (c["id"].as_str().unwrap().to_string(), fields.collect())
        })
        .collect();
    drifted.sort();
    drifted
}

#[tokio::test]
async fn console_edits_of_every_kind_show_as_drift_and_are_repaired() {
    if !support::needs(&[Svc::Lambda, Svc::DynamoDb, Svc::Sqs, Svc::StepFunctions]) {
        return;
    }
    let manifest = "  worker:\n    handler: worker\n    timeout: 10\n    events:\n      - sqs: { queue: jobs, batchSize: 5 }\n      - schedule: rate(1 hour)\n      - s3: { bucket: uploads, prefix: in/ }\nresources:\n  tables:\n    todos: { partitionKey: { name: id, type: S }, pointInTimeRecovery: true, deletionPolicy: delete }\n  buckets:\n    uploads: { cors: [{ allowedOrigins: ['*'], allowedMethods: [GET] }], deletionPolicy: delete }\n  queues:\n    jobs: { visibilityTimeout: 30 }\n  stateMachines:\n    flow:\n      definition: { StartAt: A, States: { A: { Type: Task, Resource: '${fn:worker}', End: true } } }\n";
    let f = Fixture::new("drift", manifest);
    let aws = aws().await;
    f.deploy();
    let table = format!("{}-test-todos", f.service);
    let bucket = format!("{}-test-uploads-{}-us-east-1", f.service, aws.account).to_lowercase();
    let queue = format!("{}-test-jobs", f.service);
    let machine = format!(
        "arn:aws:states:us-east-1:{}:stateMachine:{}-test-flow",
        aws.account, f.service
    );
    let rule = format!("{}-schedule", f.name("worker"));
    let alias = format!(
        "arn:aws:lambda:us-east-1:{}:function:{}:live",
        aws.account,
        f.name("worker")
    );

    // Someone edits every kind in the console.
    let pitr = aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(false)
        .build()
        .unwrap();
    aws.dynamodb
        .update_continuous_backups()
        .table_name(&table)
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
        .unwrap();
    aws.s3
        .delete_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    edit_queue_and_state_machine(&aws, &queue, &machine).await;
    aws.events.disable_rule().name(&rule).send().await.unwrap();
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name(&alias)
        .send()
        .await
        .unwrap()
        .event_source_mappings
        .unwrap();
    aws.lambda
        .update_event_source_mapping()
        .uuid(mappings[0].uuid().unwrap())
        .batch_size(1)
        .enabled(false)
        .send()
        .await
        .unwrap();

    let plan = f.json(&["plan"]);
    let drifted = drifted(&plan);
    let expect = |id: &str, field: &str| {
        assert!(
            drifted
                .iter()
                .any(|(i, f)| i == id && f.iter().any(|x| x == field)),
            "{id} {field} not reported as drift in {drifted:?}"
        );
    };
    expect("table/todos", "pointInTimeRecovery");
    expect("bucket/uploads", "cors");
    expect("queue/jobs", "visibilityTimeout");
    expect("stateMachine/flow", "definition");
    expect("rule/worker.0", "state");
    expect("eventSourceMapping/worker.sqs.jobs", "batchSize");
    expect("eventSourceMapping/worker.sqs.jobs", "enabled");

    // One deploy repairs all of it, and then there is nothing left to do.
    f.deploy();
    assert!(f.deploy()["deployment"].is_null(), "repaired");
    let backups = aws
        .dynamodb
        .describe_continuous_backups()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let status = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|d| d.point_in_time_recovery_status())
        .unwrap();
    assert_eq!(status.as_str(), "ENABLED");
    assert!(aws
        .s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .is_ok());
    let state = aws.events.describe_rule().name(&rule).send().await.unwrap();
    assert_eq!(state.state().unwrap().as_str(), "ENABLED");
    let mapping = aws
        .lambda
        .get_event_source_mapping()
        .uuid(mappings[0].uuid().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(mapping.state(), Some("Enabled"), "the trigger polls again");
    let sm = aws
        .sfn
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert!(sm.definition().contains(&alias));
    f.json(&["remove", "--force"]);
}

#[tokio::test]
async fn a_table_switches_billing_renames_its_ttl_and_changes_its_deletion_policy_in_place() {
    if !support::needs(&[Svc::Lambda, Svc::DynamoDb]) {
        return;
    }
    let table_yaml = |billing: &str, ttl: &str, policy: &str| {
        format!("  f: {{ handler: f }}\nresources:\n  tables:\n    t:\n      partitionKey: {{ name: id, type: S }}\n{billing}      ttl: {ttl}\n      deletionPolicy: {policy}\n      globalSecondaryIndexes: [{{ name: byOwner, partitionKey: {{ name: owner, type: S }} }}]\n")
    };
    let f = Fixture::new("billing", &table_yaml("", "expiresAt", "retain"));
    let aws = aws().await;
    f.deploy();
    let table = format!("{}-test-t", f.service);

    // On-demand to provisioned: one UpdateTable, the index kept, its capacity set.
    let provisioned = "      billingMode: PROVISIONED\n      capacity: { read: 4, write: 3 }\n";
    f.write(&table_yaml(provisioned, "expiresAt", "retain"), &[]);
    let calls = mutating(&f.deploy());
    assert_eq!(calls, ["dynamodb:UpdateTable"], "{calls:?}");
    let t = aws
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let gsi = &t.global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), Some("byOwner"));
    let pt = gsi.provisioned_throughput().unwrap();
    assert_eq!(
        (pt.read_capacity_units(), pt.write_capacity_units()),
        (Some(4), Some(3))
    );
    assert!(
        f.deploy()["deployment"].is_null(),
        "a provisioned table converges"
    );

    // TTL moves to another attribute: the old one off, the new one on.
    f.write(&table_yaml(provisioned, "validUntil", "retain"), &[]);
    let calls = mutating(&f.deploy());
    assert_eq!(
        calls,
        ["dynamodb:UpdateTimeToLive", "dynamodb:UpdateTimeToLive"]
    );
    let ttl = aws
        .dynamodb
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().unwrap().attribute_name(),
        Some("validUntil")
    );

    // deletionPolicy changes touch nothing in AWS but are recorded: remove now deletes the table.
    f.write(&table_yaml(provisioned, "validUntil", "delete"), &[]);
    let report = f.deploy();
    assert!(mutating(&report).is_empty(), "{report}");
    assert!(!report["deployment"].is_null());
    let removed = f.json(&["remove"]);
    assert_eq!(removed["retained"], serde_json::json!([]));
    assert!(aws
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn remove_finds_data_resources_a_deploy_died_before_recording() {
    if !support::needs(&[Svc::Lambda, Svc::DynamoDb, Svc::Sqs]) {
        return;
    }
    let manifest = "  f: { handler: f }\nresources:\n  tables:\n    t: { partitionKey: { name: id, type: S }, deletionPolicy: delete }\n  queues:\n    q: { deadLetter: { maxReceiveCount: 2 } }\n";
    let f = Fixture::new("orphans", manifest);
    let aws = aws().await;
    f.deploy();
    support::fixture::lose_state(&aws, &f, "us-east-1").await;
    let removed = f.json(&["remove"]);
    let removed: Vec<&str> = removed["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        removed.iter().any(|r| r.starts_with("DynamoDB table")),
        "{removed:?}"
    );
    assert_eq!(
        removed
            .iter()
            .filter(|r| r.starts_with("SQS queue"))
            .count(),
        2,
        "{removed:?}"
    );
    let table = format!("{}-test-t", f.service);
    assert!(aws
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .is_err());
    let queue = format!("{}-test-q-dlq", f.service);
    assert!(aws
        .sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .is_err());
}

/// The test above without a function or a table (LocalStack without Docker serves it):
/// with the state lost, remove finds the bucket, the queues, the state machine, its role
/// and its log group by their names and tags, and leaves nothing.
#[tokio::test]
async fn remove_finds_buckets_queues_and_state_machines_a_deploy_died_before_recording() {
    if !support::needs(support::RESOURCE_SERVICES) {
        return;
    }
    let f = Fixture::new("orphansnofn", NO_FUNCTIONS);
    let aws = aws().await;
    f.deploy();
    let deployed = support::fixture::live_resources(&aws, &f).await;
    assert_eq!(deployed.len(), 6, "{deployed:?}");
    support::fixture::lose_state(&aws, &f, "us-east-1").await;
    let removed = f.json(&["remove"]);
    let removed: Vec<&str> = removed["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for kind in ["S3 bucket", "state machine", "IAM role", "log group"] {
        assert_eq!(
            removed.iter().filter(|r| r.starts_with(kind)).count(),
            1,
            "{kind}: {removed:?}"
        );
    }
    assert_eq!(
        removed
            .iter()
            .filter(|r| r.starts_with("SQS queue"))
            .count(),
        2,
        "{removed:?}"
    );
    assert_eq!(
        support::fixture::live_resources(&aws, &f).await,
        Vec::<String>::new()
    );
}

/// The todo-api handler, run here by `invoke --local` against the deployed table
/// in the emulator: create, list, read, update, delete, then a miss.
fn todo_api_crud(dir: &std::path::Path, endpoint: &str) {
    let invoke = |events: &[Value]| -> Vec<Value> {
        let mut cmd = support::sls_rs();
        cmd.args(["invoke", "--local", "-f", "todos", "--json", "-c"])
            .arg(dir)
            .env("SLS_RS_ENDPOINT", endpoint)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        support::handler_builds(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let lines: String = events.iter().map(|e| format!("{e}\n")).collect();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), lines.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .map(|l| {
                let doc: Value = serde_json::from_str(l).unwrap();
                let response = &doc["response"];
                let body = response["body"].as_str().unwrap_or("null");
                serde_json::json!({ "status": response["statusCode"], "body": serde_json::from_str::<Value>(body).unwrap() })
            })
            .collect()
    };
    let request = |route: &str, id: Option<&str>, body: Option<Value>| {
        serde_json::json!({
            "routeKey": route,
            "pathParameters": id.map(|id| serde_json::json!({ "id": id })),
            "body": body.map(|b| b.to_string()),
        })
    };
    let created = invoke(&[request(
        "POST /todos",
        None,
        Some(serde_json::json!({ "title": "ship it", "owner": "ann" })),
    )]);
    assert_eq!(created[0]["status"], 201, "{created:?}");
    let created_id = created[0]["body"]["id"].as_str().unwrap().to_string();
    let id = Some(created_id.as_str());
    let rest = invoke(&[
        request("GET /todos", None, None),
        request("GET /todos/{id}", id, None),
        request(
            "PUT /todos/{id}",
            id,
            Some(serde_json::json!({ "done": true })),
        ),
        request("DELETE /todos/{id}", id, None),
        request("GET /todos/{id}", id, None),
        request(
            "PUT /todos/{id}",
            id,
            Some(serde_json::json!({ "done": false })),
        ),
    ]);
    let statuses: Vec<&Value> = rest.iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses, [200, 200, 200, 204, 404, 404], "{rest:?}");
    assert!(rest[0]["body"]["todos"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == created_id.as_str()));
    assert_eq!(rest[1]["body"]["title"], "ship it");
    assert_eq!(rest[2]["body"]["done"], true);
}

/// A `width`×`height` RGB PNG, written by hand (stored deflate blocks) so the
/// test needs no image library.
fn png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            raw.extend([(x % 256) as u8, (y % 256) as u8, 128]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend(len.to_le_bytes());
        zlib.extend((!len).to_le_bytes());
        zlib.extend(*block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut typed = kind.to_vec();
        typed.extend(data);
        out.extend(&typed);
        out.extend(crc32(&typed).to_be_bytes());
    };
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    chunk(b"IHDR", &header);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    out
}

/// The thumbnails handler, run here by `invoke --local` on an S3 event for an
/// image uploaded to the deployed `uploads` bucket: the thumbnail lands in `thumbnails`.
fn thumbnails_resize(dir: &std::path::Path, endpoint: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let uploads = format!("thumbnails-local-uploads-{}-us-east-1", aws.account);
    let thumbnails = format!("thumbnails-local-thumbnails-{}-us-east-1", aws.account);
    runtime.block_on(async {
        let put = aws
            .s3
            .put_object()
            .bucket(&uploads)
            .key("incoming/big cat.jpg");
        put.body(png(300, 200).into()).send().await.unwrap();
    });
    let event = serde_json::json!({ "Records": [{ "s3": {
        "bucket": { "name": uploads },
        "object": { "key": "incoming/big+cat.jpg" }
    } }] });
    let mut cmd = support::sls_rs();
    cmd.args(["invoke", "--local", "-f", "thumbnail", "--json", "--data"])
        .arg(event.to_string())
        .arg("-c")
        .arg(dir)
        .env("SLS_RS_ENDPOINT", endpoint);
    support::handler_builds(&mut cmd);
    let (out, stdout, stderr) = support::run(&mut cmd);
    assert!(out.status.success(), "{stderr}{stdout}");
    let doc: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let written = &doc["response"]["written"][0];
    assert_eq!(written["key"], "small/big cat.jpg", "{doc}");
    assert_eq!(
        (written["width"].as_u64(), written["height"].as_u64()),
        (Some(128), Some(85))
    );
    let jpeg = runtime.block_on(async {
        let object = aws
            .s3
            .get_object()
            .bucket(&thumbnails)
            .key("small/big cat.jpg")
            .send()
            .await
            .unwrap();
        object.body.collect().await.unwrap().into_bytes()
    });
    assert_eq!(&jpeg[..2], [0xFF, 0xD8], "a JPEG");
    // Emptied so `remove --force` has nothing surprising to do.
    runtime.block_on(async {
        aws.s3
            .delete_object()
            .bucket(&uploads)
            .key("incoming/big cat.jpg")
            .send()
            .await
            .unwrap();
    });
}

/// The nightly report, run here by `invoke --local` with the schedule's input,
/// counts the last day's events of the deployed table.
fn nightly_report_counts(dir: &std::path::Path, endpoint: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    runtime.block_on(async {
        for (pk, at) in [("a", now - 60), ("b", now - 3 * 24 * 3600)] {
            let put = aws
                .dynamodb
                .put_item()
                .table_name("nightly-report-local-events");
            put.item("pk", AttributeValue::S(pk.into()))
                .item("at", AttributeValue::N(at.to_string()))
                .send()
                .await
                .unwrap();
        }
    });
    let mut cmd = support::sls_rs();
    cmd.args([
        "invoke",
        "--local",
        "-f",
        "report",
        "--json",
        "--data",
        r#"{"report":"daily"}"#,
        "-c",
    ])
    .arg(dir)
    .env("SLS_RS_ENDPOINT", endpoint);
    support::handler_builds(&mut cmd);
    let (out, stdout, stderr) = support::run(&mut cmd);
    assert!(out.status.success(), "{stderr}{stdout}");
    let doc: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(doc["response"]["events"], 1, "{doc}");
    assert_eq!(doc["response"]["report"], "daily");
}

/// A service of buckets, queues and a state machine of Pass and Wait states: what
/// LocalStack serves without Docker, so it runs on both emulators.
const NO_FUNCTIONS: &str = "resources:\n  buckets:\n    files:\n      versioning: true\n      cors: [{ allowedOrigins: ['https://example.com'], allowedMethods: [GET, PUT], maxAge: 60 }]\n      lifecycle: { expireAfterDays: 7, prefix: tmp/ }\n      deletionPolicy: delete\n  queues:\n    jobs: { visibilityTimeout: 45, messageRetentionPeriod: 86400, deadLetter: { maxReceiveCount: 4 } }\n  stateMachines:\n    flow:\n      definition:\n        StartAt: Prepare\n        States:\n          Prepare: { Type: Pass, Result: { ready: true }, Next: Pause }\n          Pause: { Type: Wait, Seconds: 1, End: true }\n";

/// `Fixture::new` with state machines traced (`provider.tracing.stepFunctions`).
fn traced(test: &str, functions: &str) -> Fixture {
    let f = Fixture::new(test, functions);
    let path = f.dir.join("serverless.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "tracing: { lambda: true }",
        "tracing: { lambda: true, stepFunctions: true }",
        1,
    );
    std::fs::write(path, text).unwrap();
    f
}

async fn queue_attributes(
    aws: &sls_rs::cloud::Aws,
    queue: &str,
) -> std::collections::HashMap<String, String> {
    let url = aws
        .sqs
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .unwrap();
    aws.sqs
        .get_queue_attributes()
        .queue_url(url.queue_url().unwrap())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), v))
        .collect()
}

async fn retention(aws: &sls_rs::cloud::Aws, group: &str) -> Option<i32> {
    aws.logs
        .describe_log_groups()
        .log_group_name_prefix(group)
        .send()
        .await
        .unwrap()
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(group))
        .and_then(|g| g.retention_in_days())
}

#[tokio::test]
async fn a_service_without_functions_deploys_redeploys_repairs_drift_and_is_removed() {
    if !support::needs(support::RESOURCE_SERVICES) {
        return;
    }
    let f = traced("nofunctions", NO_FUNCTIONS);
    let aws = aws().await;
    let report = f.deploy();
    assert_eq!(report["deployment"]["status"], "succeeded", "{report}");
    let bucket = format!("{}-test-files-{}-us-east-1", f.service, aws.account);
    let queue = format!("{}-test-jobs", f.service);
    let machine = format!(
        "arn:aws:states:us-east-1:{}:stateMachine:{}-test-flow",
        aws.account, f.service
    );
    let role = format!("{}-test-flow-states-us-east-1", f.service);
    let group = format!("/aws/vendedlogs/states/{}-test-flow", f.service);
    let mut expected = vec![
        format!("bucket:{bucket}"),
        format!("logGroup:{group}"),
        format!("queue:{queue}"),
        format!("queue:{queue}-dlq"),
        format!("role:{role}"),
        format!("stateMachine:{}-test-flow", f.service),
    ];
    expected.sort();
    assert_eq!(support::fixture::live_resources(&aws, &f).await, expected);
    assert_eq!(
        support::fixture::recorded_resources(&aws, &f).await,
        expected
    );

    // Every configured property, read back.
    assert_eq!(versioning(&aws, &bucket).await, "Enabled");
    let cors = aws
        .s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let rule = &cors.cors_rules()[0];
    assert_eq!(rule.allowed_origins(), ["https://example.com"]);
    assert_eq!(rule.allowed_methods(), ["GET", "PUT"]);
    assert_eq!(rule.max_age_seconds(), Some(60));
    let lifecycle = aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let ours = lifecycle
        .rules()
        .iter()
        .find(|r| r.id() == Some("sls-rs-expiry"))
        .expect("our expiry rule");
    assert_eq!(ours.expiration().and_then(|e| e.days()), Some(7));
    assert_eq!(ours.filter().and_then(|f| f.prefix()), Some("tmp/"));
    let attrs = queue_attributes(&aws, &queue).await;
    assert_eq!(attrs["VisibilityTimeout"], "45");
    assert_eq!(attrs["MessageRetentionPeriod"], "86400");
    let redrive: Value = serde_json::from_str(&attrs["RedrivePolicy"]).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        format!("arn:aws:sqs:us-east-1:{}:{queue}-dlq", aws.account)
    );
    assert_eq!(redrive["maxReceiveCount"].to_string(), "4");
    let sm = aws
        .sfn
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert!(sm.definition().contains("\"Pause\""), "{}", sm.definition());
    assert_eq!(sm.r#type().as_str(), "STANDARD");
    assert!(sm.role_arn().ends_with(&format!(":role/{role}")));
    let logging = sm.logging_configuration().unwrap();
    assert_eq!(logging.level().unwrap().as_str(), "ALL");
    let target = logging.destinations()[0]
        .cloud_watch_logs_log_group()
        .unwrap()
        .log_group_arn()
        .unwrap();
    assert!(target.contains(&format!(":log-group:{group}")), "{target}");
    // Tracing is on; LocalStack leaves the (optional) field out of its answer.
    match sm.tracing_configuration() {
        Some(t) => assert!(t.enabled(), "{t:?}"),
        None => assert_eq!(support::kind(), support::Kind::LocalStack),
    }
    assert_eq!(retention(&aws, &group).await, Some(7));
    // It runs: Pass, then Wait, then done.
    let execution = aws
        .sfn
        .start_execution()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        let d = aws
            .sfn
            .describe_execution()
            .execution_arn(execution.execution_arn())
            .send()
            .await
            .unwrap();
        if d.status().as_str() != "RUNNING" || std::time::Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(status.status().as_str(), "SUCCEEDED", "{status:?}");
    assert!(
        status.output().unwrap_or_default().contains("ready"),
        "the Pass state's result: {status:?}"
    );
    let trust = aws
        .iam
        .get_role()
        .role_name(&role)
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .assume_role_policy_document
        .unwrap();
    let trust = sls_rs::cloud::iam_role::decode_policy(&trust);
    assert_eq!(
        trust["Statement"][0]["Condition"],
        serde_json::json!({
            "StringEquals": { "aws:SourceAccount": aws.account },
            "ArnLike": { "aws:SourceArn": machine }
        }),
        "{trust:#}"
    );
    let policy = aws
        .iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("sls-rs")
        .send()
        .await
        .unwrap();
    let policy = sls_rs::cloud::iam_role::decode_policy(policy.policy_document()).to_string();
    assert!(
        policy.contains("logs:CreateLogDelivery") && policy.contains("xray:PutTraceSegments"),
        "{policy}"
    );

    // Unchanged: not one write.
    let again = f.deploy();
    assert!(again["deployment"].is_null(), "{again}");
    assert_eq!(mutating(&again), Vec::<String>::new());

    // Someone edits each of them through the SDK (the console's API).
    aws.s3
        .delete_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    aws.s3
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    edit_queue_and_state_machine(&aws, &queue, &machine).await;
    aws.logs
        .put_retention_policy()
        .log_group_name(&group)
        .retention_in_days(30)
        .send()
        .await
        .unwrap();
    aws.iam
        .put_role_policy()
        .role_name(&role)
        .policy_name("sls-rs")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();

    let plan = f.json(&["plan"]);
    let drifted = drifted(&plan);
    let mut want = vec![
        (
            "bucket/files".to_string(),
            vec!["cors".to_string(), "versioning".to_string()],
        ),
        (
            "logGroup/stateMachine.flow".to_string(),
            vec!["retentionInDays".to_string()],
        ),
        (
            "queue/jobs".to_string(),
            vec!["visibilityTimeout".to_string()],
        ),
        (
            "role/stateMachine.flow".to_string(),
            vec!["policy".to_string()],
        ),
        (
            "stateMachine/flow".to_string(),
            vec!["definition".to_string()],
        ),
    ];
    want.sort();
    assert_eq!(drifted, want, "{plan}");

    // One deploy repairs all of it; the next has nothing to do.
    assert_eq!(f.deploy()["deployment"]["status"], "succeeded");
    let after = f.deploy();
    assert!(after["deployment"].is_null(), "repaired: {after}");
    assert_eq!(versioning(&aws, &bucket).await, "Enabled");
    assert!(aws
        .s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .is_ok());
    assert_eq!(
        queue_attributes(&aws, &queue).await["VisibilityTimeout"],
        "45"
    );
    assert_eq!(retention(&aws, &group).await, Some(7));
    let sm = aws
        .sfn
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert!(sm.definition().contains("\"Pause\""), "{}", sm.definition());

    // Remove leaves nothing of the service, data resources included (deletionPolicy, empty).
    let removed = f.json(&["remove"]);
    assert_eq!(removed["retained"], serde_json::json!([]), "{removed}");
    assert_eq!(
        support::fixture::live_resources(&aws, &f).await,
        Vec::<String>::new()
    );
    assert_eq!(
        support::fixture::recorded_resources(&aws, &f).await,
        Vec::<String>::new()
    );
}

/// A layer version published on the emulator, as another team would: sls-rs only references it.
async fn publish_layer(aws: &sls_rs::cloud::Aws, name: &str) -> String {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("extensions/hello", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"#!/bin/sh\n").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let content = aws_sdk_lambda::types::LayerVersionContentInput::builder()
        .zip_file(aws_sdk_lambda::primitives::Blob::new(bytes))
        .build();
    aws.lambda
        .publish_layer_version()
        .layer_name(name)
        .content(content)
        .send()
        .await
        .unwrap()
        .layer_version_arn
        .unwrap()
}

async fn layers_and_storage(aws: &sls_rs::cloud::Aws, function: &str) -> (Vec<String>, i32) {
    let c = aws
        .lambda
        .get_function_configuration()
        .function_name(function)
        // What the `live` alias serves: the published version, not $LATEST.
        .qualifier("live")
        .send()
        .await
        .unwrap();
    let layers = c
        .layers()
        .iter()
        .filter_map(|l| l.arn())
        .map(str::to_string)
        .collect();
    (layers, c.ephemeral_storage().map_or(512, |e| e.size()))
}

#[tokio::test(flavor = "multi_thread")]
async fn layers_and_tmp_size_are_deployed_read_back_repaired_and_changed() {
    if !support::needs(&[Svc::Lambda, Svc::Iam]) {
        return;
    }
    let aws = aws().await;
    let otel = publish_layer(&aws, &support::unique_service("otel")).await;
    let certs = publish_layer(&aws, &support::unique_service("certs")).await;
    let f = Fixture::new(
        "layers",
        &format!(
            "  api:\n    handler: api\n    ephemeralStorageSize: 2048\n    layers: [{otel}]\n"
        ),
    );
    f.deploy();
    let name = f.name("api");
    assert_eq!(
        layers_and_storage(&aws, &name).await,
        (vec![otel.clone()], 2048)
    );

    // Someone takes the layer off in the console: drift, repaired by the next deploy.
    aws.lambda
        .update_function_configuration()
        .function_name(&name)
        .set_layers(Some(vec![]))
        .send()
        .await
        .unwrap();
    let plan = f.json(&["plan"]);
    assert!(
        drifted(&plan).contains(&("function/api".to_string(), vec!["layers".to_string()])),
        "{:?}",
        drifted(&plan)
    );
    f.deploy();
    assert_eq!(
        layers_and_storage(&aws, &name).await.0,
        std::slice::from_ref(&otel)
    );
    assert!(f.deploy()["deployment"].is_null(), "repaired");

    // A second layer, in order (a later layer's files win), published as a new version.
    f.write(
        &format!("  api:\n    handler: api\n    ephemeralStorageSize: 2048\n    layers: [{otel}, {certs}]\n"),
        &[],
    );
    let plan = f.json(&["plan"]);
    let change = planned(&plan, "function/api");
    assert_eq!(change["publish"], true, "{change}");
    f.deploy();
    assert_eq!(
        layers_and_storage(&aws, &name).await.0,
        [otel.clone(), certs.clone()]
    );

    // `layers: []` takes them all off.
    f.write(
        "  api:\n    handler: api\n    ephemeralStorageSize: 2048\n    layers: []\n",
        &[],
    );
    f.deploy();
    assert!(layers_and_storage(&aws, &name).await.0.is_empty());

    // The deployer's policy may read the layers the manifest names, any version of them.
    f.write(
        &format!("  api:\n    handler: api\n    layers: [{certs}]\n"),
        &[],
    );
    let policy = f.json(&["policy", "--deployer"]);
    let statement = policy["permissions"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "Layers")
        .unwrap_or_else(|| panic!("{policy}"));
    assert_eq!(
        statement["Action"],
        serde_json::json!(["lambda:GetLayerVersion"])
    );
    let any_version = format!("{}:*", certs.rsplit_once(':').unwrap().0);
    assert_eq!(statement["Resource"], serde_json::json!([any_version]));
    f.json(&["remove", "--force"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sqs_triggers_concurrency_limit_is_set_read_back_repaired_and_lifted() {
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::Sqs]) {
        return;
    }
    let manifest = |limit: &str| {
        format!("  worker:\n    handler: worker\n    events:\n      - sqs: {{ queue: jobs{limit} }}\nresources:\n  queues:\n    jobs: {{ deletionPolicy: delete }}\n")
    };
    let f = Fixture::new("sqs-concurrency", &manifest(", maximumConcurrency: 5"));
    let aws = aws().await;
    f.deploy();
    let alias = format!(
        "arn:aws:lambda:us-east-1:{}:function:{}:live",
        aws.account,
        f.name("worker")
    );
    let mapping = || async {
        aws.lambda
            .list_event_source_mappings()
            .function_name(&alias)
            .send()
            .await
            .unwrap()
            .event_source_mappings
            .unwrap()
            .remove(0)
    };
    let limit = |m: &aws_sdk_lambda::types::EventSourceMappingConfiguration| {
        m.scaling_config().and_then(|s| s.maximum_concurrency())
    };
    let m = mapping().await;
    assert_eq!(limit(&m), Some(5));

    // Raised in the console: drift, put back by the next deploy.
    aws.lambda
        .update_event_source_mapping()
        .uuid(m.uuid().unwrap())
        .scaling_config(
            aws_sdk_lambda::types::ScalingConfig::builder()
                .maximum_concurrency(500)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plan = f.json(&["plan"]);
    assert!(
        drifted(&plan).contains(&(
            "eventSourceMapping/worker.sqs.jobs".to_string(),
            vec!["maximumConcurrency".to_string()]
        )),
        "{:?}",
        drifted(&plan)
    );
    f.deploy();
    assert_eq!(limit(&mapping().await), Some(5));

    // Dropped from the manifest: the limit is lifted, in place (same mapping).
    f.write(&manifest(""), &[]);
    f.deploy();
    let after = mapping().await;
    assert_eq!(after.uuid(), m.uuid());
    assert_eq!(limit(&after), None);
    assert!(f.deploy()["deployment"].is_null());
    f.json(&["remove", "--force"]);
}

/// The `live` alias's resource policy: each statement's Sid and what it allows.
async fn alias_statements(aws: &sls_rs::cloud::Aws, function: &str) -> Vec<serde_json::Value> {
    let policy = match aws
        .lambda
        .get_policy()
        .function_name(function)
        .qualifier("live")
        .send()
        .await
    {
        Ok(p) => p.policy.unwrap_or_default(),
        // No policy at all: no statement.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            String::new()
        }
        Err(e) => panic!("GetPolicy of {function}: {e:?}"),
    };
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap_or_default();
    policy["Statement"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_url_is_made_public_with_both_statements_repaired_made_iam_only_and_removed() {
    if !support::needs(&[Svc::Lambda, Svc::Iam]) {
        return;
    }
    let manifest = |url: &str| format!("  api:\n    handler: api\n{url}");
    let public =
        "    url:\n      cors: { allowedOrigins: ['https://app.example.com'], maxAge: 300 }\n";
    let f = Fixture::new("function-url", &manifest(public));
    let aws = aws().await;
    let report = f.deploy();
    let name = f.name("api");
    let config = || async {
        aws.lambda
            .get_function_url_config()
            .function_name(&name)
            .qualifier("live")
            .send()
            .await
    };
    let live = config().await.unwrap();
    assert_eq!(live.auth_type().as_str(), "NONE");
    assert_eq!(report["urls"]["api"], live.function_url(), "{report}");
    let cors = live.cors().unwrap();
    assert_eq!(cors.allow_origins(), ["https://app.example.com"]);
    assert_eq!(cors.max_age(), Some(300));
    // Public: anyone may call the URL, and invoke the function only through it.
    let statements = alias_statements(&aws, &name).await;
    let sid_of = |prefix: &str| {
        statements
            .iter()
            .find(|s| s["Sid"].as_str().is_some_and(|sid| sid.starts_with(prefix)))
            .cloned()
            .unwrap_or_else(|| panic!("no {prefix} in {statements:?}"))
    };
    // The conditions as AWS writes them, or as moto keeps the request's keys.
    let condition = |s: &serde_json::Value, test: &str, key: &str, raw: &str| {
        let aws_form = s["Condition"][test][key].clone();
        if aws_form.is_null() {
            s[raw].clone()
        } else {
            aws_form
        }
    };
    let url = sid_of("sls-rs-url__");
    assert_eq!(url["Action"], "lambda:InvokeFunctionUrl", "{url}");
    assert_eq!(url["Principal"], "*", "{url}");
    assert_eq!(
        condition(
            &url,
            "StringEquals",
            "lambda:FunctionUrlAuthType",
            "FunctionUrlAuthType"
        ),
        "NONE",
        "{url}"
    );
    let via = sid_of("sls-rs-url-invoke__");
    assert_eq!(via["Action"], "lambda:InvokeFunction", "{via}");
    let only_via_url = condition(
        &via,
        "Bool",
        "lambda:InvokedViaFunctionUrl",
        "InvokedViaFunctionUrl",
    );
    assert!(
        only_via_url == true || only_via_url == "true",
        "anyone may invoke it, not only through the URL: {via}"
    );
    let info = f.json(&["info"]);
    assert_eq!(info["functions"][0]["url"], live.function_url(), "{info}");
    // `sls-rs policy` shows who may call it: anyone, through the URL only.
    let shown = f.json(&["policy"]);
    let public = shown["publicUrls"]["api"].as_array().unwrap();
    assert_eq!(public.len(), 2, "{shown}");
    assert_eq!(
        public[1]["Condition"]["Bool"]["lambda:InvokedViaFunctionUrl"],
        "true"
    );
    assert!(f.deploy()["deployment"].is_null(), "nothing to change");

    // Switched to IAM in the console: drift, put back by the next deploy.
    aws.lambda
        .update_function_url_config()
        .function_name(&name)
        .qualifier("live")
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    let plan = f.json(&["plan"]);
    assert!(
        drifted(&plan).contains(&("functionUrl/api".to_string(), vec!["authType".to_string()])),
        "{:?}",
        drifted(&plan)
    );
    f.deploy();
    assert_eq!(config().await.unwrap().auth_type().as_str(), "NONE");

    // The deployer may make and change URLs, of this stage's functions only.
    let policy = f.json(&["policy", "--deployer"]);
    let statement = policy["permissions"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "FunctionUrls")
        .unwrap_or_else(|| panic!("{policy}"));
    assert_eq!(
        statement["Action"],
        serde_json::json!([
            "lambda:CreateFunctionUrlConfig",
            "lambda:UpdateFunctionUrlConfig"
        ])
    );
    assert_eq!(
        statement["Resource"],
        serde_json::json!([format!(
            "arn:aws:lambda:us-east-1:{}:function:{}-*",
            aws.account,
            name.trim_end_matches("-api")
        )])
    );

    // IAM-only: the same URL, and the public statements go.
    let iam = "    url:\n      authorizer: aws_iam\n      cors: { allowedOrigins: ['https://app.example.com'], maxAge: 300 }\n";
    f.write(&manifest(iam), &[]);
    f.deploy();
    let after = config().await.unwrap();
    assert_eq!(after.auth_type().as_str(), "AWS_IAM");
    assert_eq!(after.function_url(), live.function_url());
    let left: Vec<_> = alias_statements(&aws, &name)
        .await
        .into_iter()
        .filter_map(|s| s["Sid"].as_str().map(String::from))
        .filter(|sid| sid.starts_with("sls-rs-url"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(f.deploy()["deployment"].is_null(), "nothing to change");

    // Dropped from the manifest: the URL is deleted with it.
    f.write(&manifest(""), &[]);
    f.deploy();
    let gone = config().await.unwrap_err();
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "the URL is gone: {gone:?}"
    );
    f.json(&["remove", "--force"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vpc_is_deployed_read_back_repaired_and_left_with_its_network_interface_rights() {
    if !support::needs(&[Svc::Lambda, Svc::Iam]) {
        return;
    }
    let manifest = |groups: &str| {
        format!("  api:\n    handler: api\n    vpc:\n      subnetIds: [subnet-0a1b2c3d, subnet-0e1f2a3b]\n      securityGroupIds: [{groups}]\n  public:\n    handler: public\n")
    };
    let f = Fixture::new("vpc", &manifest("sg-0c1d2e3f"));
    let aws = aws().await;
    // Validate says what a VPC costs a function: no AWS API without a NAT or endpoints.
    let validated = f.json(&["validate"]);
    let warning = validated["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("(api)") && warning.contains("NAT gateway or VPC endpoints"),
        "{validated}"
    );
    f.deploy();
    let config = |name: String| {
        let aws = &aws;
        async move {
            let c = aws
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .unwrap();
            c.vpc_config()
                .map(|v| {
                    let mut subnets = v.subnet_ids().to_vec();
                    subnets.sort();
                    (subnets, v.security_group_ids().to_vec())
                })
                .filter(|(s, _)| !s.is_empty())
        }
    };
    assert_eq!(
        config(f.name("api")).await,
        Some((
            vec!["subnet-0a1b2c3d".to_string(), "subnet-0e1f2a3b".to_string()],
            vec!["sg-0c1d2e3f".to_string()]
        ))
    );
    assert_eq!(config(f.name("public")).await, None);
    // Its role may make network interfaces in those subnets only; the other's, none.
    let policy = f.json(&["policy"]);
    let statements = policy["functions"]["api"]["Statement"].as_array().unwrap();
    let create = statements
        .iter()
        .find(|s| s["Sid"] == "VpcCreateNetworkInterfaces")
        .unwrap_or_else(|| panic!("{policy}"));
    let resources = create["Resource"].to_string();
    // Any account's subnet of that id: a subnet shared through RAM is its owner's.
    assert!(
        resources.contains("arn:aws:ec2:us-east-1:*:subnet/subnet-0a1b2c3d")
            && resources.contains("security-group/sg-0c1d2e3f")
            && resources.contains(&format!(
                "arn:aws:ec2:us-east-1:{}:network-interface/*",
                aws.account
            )),
        "{create}"
    );
    assert!(!policy["functions"]["public"].to_string().contains("ec2:"));
    let deployer = f.json(&["policy", "--deployer"]);
    assert!(
        deployer.to_string().contains("ec2:DescribeSubnets"),
        "{deployer}"
    );

    // Another security group set in the console: drift, put back.
    aws.lambda
        .update_function_configuration()
        .function_name(f.name("api"))
        .vpc_config(
            aws_sdk_lambda::types::VpcConfig::builder()
                .subnet_ids("subnet-0a1b2c3d")
                .security_group_ids("sg-0badc0de")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plan = f.json(&["plan"]);
    let drift = drifted(&plan);
    assert!(
        drift.iter().any(|(id, fields)| id == "function/api"
            && fields.contains(&"vpc.securityGroupIds".to_string())),
        "{drift:?}"
    );
    f.deploy();
    assert_eq!(
        config(f.name("api")).await.map(|(_, g)| g),
        Some(vec!["sg-0c1d2e3f".to_string()])
    );
    assert!(f.deploy()["deployment"].is_null(), "repaired");
    f.json(&["remove", "--force"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduler_schedule_runs_in_its_time_zone_with_a_role_that_invokes_only_its_alias() {
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::Scheduler, Svc::EventBridge]) {
        return;
    }
    let manifest = |schedule: &str| {
        format!("  nightly:\n    handler: nightly\n    events:\n      - schedule: {schedule}\n")
    };
    let scheduled =
        "{ rate: cron(0 3 * * ? *), method: scheduler, timezone: Europe/Paris, input: { job: report } }";
    let f = Fixture::new("scheduler", &manifest(scheduled));
    let aws = aws().await;
    f.deploy();
    let name = format!("{}-schedule", f.name("nightly"));
    let alias = format!(
        "arn:aws:lambda:us-east-1:{}:function:{}:live",
        aws.account,
        f.name("nightly")
    );
    let schedule = aws
        .scheduler
        .get_schedule()
        .name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(schedule.schedule_expression(), Some("cron(0 3 * * ? *)"));
    assert_eq!(
        schedule.schedule_expression_timezone(),
        Some("Europe/Paris")
    );
    let target = schedule.target().unwrap();
    assert_eq!(target.arn(), alias);
    let input: serde_json::Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(input["job"], "report");
    // Its own role: only the scheduler may assume it, only to invoke that alias.
    let role = target.role_arn().rsplit('/').next().unwrap().to_string();
    assert!(role.ends_with("-sched-us-east-1"), "{role}");
    let shown = f.json(&["policy"]);
    assert_eq!(
        shown["schedulerRoles"][&role]["policy"]["Statement"][0]["Resource"],
        serde_json::json!([alias]),
        "{shown}"
    );
    let trust = aws.iam.get_role().role_name(&role).send().await.unwrap();
    let trust = sls_rs::cloud::iam_role::decode_policy(
        trust.role().unwrap().assume_role_policy_document().unwrap(),
    );
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"], "scheduler.amazonaws.com",
        "{trust}"
    );
    // Scheduler names the schedule group as the source: scoped to one, as AWS documents.
    assert_eq!(
        trust["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        format!(
            "arn:aws:scheduler:us-east-1:{}:schedule-group/default",
            aws.account
        ),
        "{trust}"
    );
    let inline = aws
        .iam
        .get_role_policy()
        .role_name(&role)
        .policy_name(sls_rs::model::INLINE_POLICY_NAME)
        .send()
        .await
        .unwrap();
    let inline = sls_rs::cloud::iam_role::decode_policy(inline.policy_document());
    assert_eq!(
        inline["Statement"][0]["Resource"],
        serde_json::json!([alias]),
        "{inline}"
    );
    assert!(f.deploy()["deployment"].is_null(), "nothing to change");

    // Moved to UTC in the console: drift, put back.
    aws.scheduler
        .update_schedule()
        .name(&name)
        .schedule_expression("cron(0 3 * * ? *)")
        .flexible_time_window(
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .target(target.clone())
        .send()
        .await
        .unwrap();
    let plan = f.json(&["plan"]);
    assert!(
        drifted(&plan).contains(&(
            "schedule/nightly.0".to_string(),
            vec!["timezone".to_string()]
        )),
        "{:?}",
        drifted(&plan)
    );
    f.deploy();
    let again = aws
        .scheduler
        .get_schedule()
        .name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(again.schedule_expression_timezone(), Some("Europe/Paris"));

    // Back to an EventBridge rule: the schedule and its role go, a rule comes.
    f.write(&manifest("rate(1 day)"), &[]);
    f.deploy();
    let gone = aws
        .scheduler
        .get_schedule()
        .name(&name)
        .send()
        .await
        .unwrap_err();
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{gone:?}"
    );
    assert!(aws.iam.get_role().role_name(&role).send().await.is_err());
    aws.events.describe_rule().name(&name).send().await.unwrap();
    f.json(&["remove", "--force"]);
}

/// Another team's table, bucket and queue, declared `existing:`: named exactly by grants,
/// events and references, never part of the plan, left as they were by `remove`.
#[tokio::test(flavor = "multi_thread")]
async fn existing_tables_buckets_and_queues_are_used_by_name_and_never_touched_and_a_bucket_may_be_named(
) {
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::S3, Svc::Sqs, Svc::DynamoDb]) {
        return;
    }
    let aws = aws().await;
    // Another team's bucket, queue and table (with its stream), made outside sls-rs.
    let theirs = support::unique_service("theirs").to_ascii_lowercase();
    aws.s3.create_bucket().bucket(&theirs).send().await.unwrap();
    let queue_url = aws
        .sqs
        .create_queue()
        .queue_name(&theirs)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        StreamSpecification, StreamViewType,
    };
    let table = aws
        .dynamodb
        .create_table()
        .table_name(&theirs)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .table_description
        .unwrap();
    let stream = table.latest_stream_arn.unwrap();
    let table_arn = table.table_arn.unwrap();
    let named = format!("{theirs}-thumbs");
    let manifest = format!(
        "  worker:\n    handler: worker\n    environment: {{ UPLOADS: '${{bucket:uploads}}', INBOX: '${{queue:inbox}}', LEDGER: '${{table:ledger}}' }}\n    events:\n      - sqs: inbox\n      - stream: {{ table: ledger }}\n    permissions:\n      - {{ bucket: uploads, access: read }}\n      - {{ bucket: thumbs, access: write }}\n      - {{ table: ledger, access: read }}\nresources:\n  tables:\n    ledger: {{ existing: '{table_arn}' }}\n  buckets:\n    uploads: {{ existing: {theirs} }}\n    thumbs: {{ name: {named}, deletionPolicy: delete }}\n  queues:\n    inbox: {{ existing: {theirs} }}\n"
    );
    let f = Fixture::new("existing", &manifest);
    let report = f.deploy();
    let ids: Vec<&str> = report["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        !ids.contains(&"bucket/uploads")
            && !ids.contains(&"queue/inbox")
            && !ids.contains(&"table/ledger"),
        "existing resources are not the service's: {ids:?}"
    );
    // The named bucket is made under its name.
    aws.s3.head_bucket().bucket(&named).send().await.unwrap();
    // References and grants name the existing ones exactly.
    let config = aws
        .lambda
        .get_function_configuration()
        .function_name(f.name("worker"))
        .send()
        .await
        .unwrap();
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env["UPLOADS"], theirs);
    assert_eq!(env["INBOX"], queue_url);
    assert_eq!(env["LEDGER"], theirs);
    let policy = f.json(&["policy"]).to_string();
    assert!(
        policy.contains(&format!("arn:aws:s3:::{theirs}/*"))
            && policy.contains(&format!("arn:aws:s3:::{named}/*"))
            && policy.contains(&format!("arn:aws:sqs:us-east-1:{}:{theirs}", aws.account))
            && policy.contains(&format!("\"{table_arn}\""))
            && policy.contains(&format!("{table_arn}/index/*"))
            && policy.contains(&format!("{table_arn}/stream/*")),
        "{policy}"
    );
    let deployer = f.json(&["policy", "--deployer"]).to_string();
    assert!(deployer.contains("ExistingTableStreams"), "{deployer}");
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name(format!(
            "arn:aws:lambda:us-east-1:{}:function:{}:live",
            aws.account,
            f.name("worker")
        ))
        .send()
        .await
        .unwrap();
    let mut sources: Vec<&str> = mappings
        .event_source_mappings()
        .iter()
        .filter_map(|m| m.event_source_arn())
        .collect();
    sources.sort();
    let queue_arn = format!("arn:aws:sqs:us-east-1:{}:{theirs}", aws.account);
    let mut expected = vec![stream.as_str(), queue_arn.as_str()];
    expected.sort();
    assert_eq!(sources, expected, "the queue and the table's own stream");
    assert!(f.deploy()["deployment"].is_null(), "nothing to change");

    // Removing the service leaves the existing ones as they were; its own bucket goes.
    f.json(&["remove", "--force"]);
    aws.s3.head_bucket().bucket(&theirs).send().await.unwrap();
    aws.sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .send()
        .await
        .unwrap();
    let kept = aws
        .dynamodb
        .describe_table()
        .table_name(&theirs)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(kept.latest_stream_arn(), Some(stream.as_str()));
    assert!(aws.s3.head_bucket().bucket(&named).send().await.is_err());
    aws.dynamodb
        .delete_table()
        .table_name(&theirs)
        .send()
        .await
        .unwrap();
}

/// A queue and a table sls-rs made, then declared `existing:` under their names (the
/// service lets go of them): released from the state, never deleted, by deploy or remove.
#[tokio::test(flavor = "multi_thread")]
async fn a_queue_and_a_table_made_by_sls_rs_then_declared_existing_are_released_not_deleted() {
    if !support::needs(&[Svc::Sqs, Svc::DynamoDb]) {
        return;
    }
    let f = Fixture::new(
        "release",
        "resources:\n  queues:\n    inbox: { deletionPolicy: delete }\n  tables:\n    ledger: { partitionKey: { name: id, type: S }, deletionPolicy: delete }\n",
    );
    f.deploy();
    let aws = aws().await;
    let name = f.name("inbox");
    let table = f.name("ledger");
    let url = aws
        .sqs
        .get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    f.write(
        &format!("resources:\n  queues:\n    inbox: {{ existing: {name} }}\n  tables:\n    ledger: {{ existing: {table} }}\n"),
        &[],
    );
    let plan = f.json(&["plan"]);
    for id in ["queue/inbox", "table/ledger"] {
        let change = planned(&plan, id);
        assert_eq!(change["release"], true, "{change}");
    }
    let report = f.deploy();
    assert!(
        report["retained"].to_string().contains("released"),
        "{report}"
    );
    let still = || async {
        aws.sqs
            .get_queue_attributes()
            .queue_url(&url)
            .send()
            .await
            .unwrap();
        aws.dynamodb
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .unwrap();
    };
    still().await;
    assert!(f.deploy()["deployment"].is_null(), "nothing left to change");
    f.json(&["remove", "--force"]);
    still().await;
    aws.dynamodb
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}

/// Provisioned-concurrency auto scaling: the scalable target on the `live` alias with
/// its bounds and a target-tracking policy on Lambda's utilisation, read back, a
/// console edit shown as drift and repaired, changed in place, and deregistered when
/// the manifest goes back to a fixed number (moto keeps no provisioned concurrency
/// itself: the plan's part, leaving the scaler's number be, is a unit test of plan).
#[tokio::test(flavor = "multi_thread")]
async fn provisioned_concurrency_auto_scaling_is_registered_on_the_alias_repaired_and_removed() {
    use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::AutoScaling]) {
        return;
    }
    let manifest =
        |pc: &str| format!("  api:\n    handler: api\n    provisionedConcurrency: {pc}\n");
    let f = Fixture::new(
        "pc-scaling",
        &manifest("{ min: 2, max: 10, targetUtilization: 0.6 }"),
    );
    let aws = aws().await;
    f.deploy();
    let id = format!("function:{}:live", f.name("api"));
    let target = || async {
        let out = aws
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Lambda)
            .resource_ids(&id)
            .send()
            .await
            .unwrap();
        out.scalable_targets().first().map(|t| {
            (
                t.min_capacity(),
                t.max_capacity(),
                t.scalable_dimension().clone(),
            )
        })
    };
    let policy = || async {
        let out = aws
            .autoscaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Lambda)
            .resource_id(&id)
            .send()
            .await
            .unwrap();
        out.scaling_policies()
            .iter()
            .map(|p| {
                let c = p.target_tracking_scaling_policy_configuration().unwrap();
                (
                    p.policy_name().to_string(),
                    c.target_value(),
                    c.predefined_metric_specification()
                        .map(|m| m.predefined_metric_type().as_str().to_string()),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        target().await,
        Some((
            2,
            10,
            ScalableDimension::LambdaFunctionProvisionedConcurrency
        ))
    );
    assert_eq!(
        policy().await,
        [(
            "sls-rs-utilization".to_string(),
            0.6,
            Some("LambdaProvisionedConcurrencyUtilization".to_string())
        )]
    );
    assert!(f.deploy()["deployment"].is_null(), "nothing to change");

    // A console edit of the bounds: drift, and repaired.
    aws.autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Lambda)
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .resource_id(&id)
        .min_capacity(1)
        .max_capacity(50)
        .send()
        .await
        .unwrap();
    let plan = f.json(&["plan"]);
    assert_eq!(
        drifted(&plan),
        [(
            "provisionedScaling/api".to_string(),
            vec!["maxCapacity".to_string(), "minCapacity".to_string()]
        )],
        "{plan}"
    );
    f.deploy();
    assert_eq!(target().await.map(|t| (t.0, t.1)), Some((2, 10)));

    // Changed in the manifest: changed in place.
    f.write(
        &manifest("{ min: 3, max: 12, targetUtilization: 0.75 }"),
        &[],
    );
    f.deploy();
    assert_eq!(target().await.map(|t| (t.0, t.1)), Some((3, 12)));
    assert_eq!(policy().await[0].1, 0.75);

    // The deployer may register targets only for a service that scales.
    let deployer = f.json(&["policy", "--deployer"]);
    let sids: Vec<&str> = deployer["permissions"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    for sid in [
        "ProvisionedScaling",
        "ProvisionedScalingAlarms",
        "ProvisionedScalingRole",
    ] {
        assert!(sids.contains(&sid), "{sid} in {sids:?}");
    }

    // A fixed number again: the target (and its policy) is deregistered.
    f.write(&manifest("3"), &[]);
    f.deploy();
    assert_eq!(target().await, None);
    assert!(policy().await.is_empty());

    // Scaling again, and the state lost: remove finds the target on the function's alias.
    f.write(&manifest("{ min: 1, max: 4 }"), &[]);
    f.deploy();
    assert_eq!(target().await.map(|t| (t.0, t.1)), Some((1, 4)));
    lose_state(&aws, &f, "us-east-1").await;
    let report = f.json(&["remove", "--force"]);
    assert_eq!(target().await, None, "{report}");
    assert!(policy().await.is_empty());
}
