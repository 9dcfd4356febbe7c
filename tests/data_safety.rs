//! Data safety against the emulator: what deletes and replacements keep, what a
//! disruptive change needs, what rollback pins, what the state learns from AWS and
//! what `remove` finds without a state.

use crate::support;

use support::Svc;

use serde_json::Value;
use sls_rs::cloud::{s3_bucket, sqs_queue, Deleted};
use support::fixture::{alias_version, aws, Fixture};

fn retained(report: &Value) -> Vec<String> {
    report["retained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

async fn object_keys(aws: &sls_rs::cloud::Aws, bucket: &str) -> Vec<String> {
    let out = aws
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

async fn queue_exists(aws: &sls_rs::cloud::Aws, name: &str) -> bool {
    aws.sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .is_ok()
}

async fn send(aws: &sls_rs::cloud::Aws, queue: &str, body: &str) {
    let url = sqs_queue::url(aws, queue).await.unwrap().unwrap();
    let mut req = aws.sqs.send_message().queue_url(url).message_body(body);
    if queue.ends_with(".fifo") {
        req = req.message_group_id("g").message_deduplication_id(body);
    }
    req.send().await.unwrap();
}

/// An object written after any emptiness check (here: after the plan, right before the
/// delete) is never destroyed by an unforced delete: S3 refuses, the bucket is kept.
#[tokio::test]
async fn an_unforced_delete_never_destroys_objects_that_arrived_after_the_check() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new(
        "emptyrace",
        "resources:\n  buckets:\n    b: {}\n  queues:\n    q: {}\n    stay: {}\n",
    );
    let aws = aws().await;
    f.deploy();
    let bucket = format!("{}-test-b-{}-us-east-1", f.service, aws.account);
    let queue = format!("{}-test-q", f.service);
    // Empty when planned; an object arrives before the delete.
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key("late.txt")
        .body(b"late".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        s3_bucket::delete(&aws, &bucket, false).await.unwrap(),
        Deleted::KeptNotEmpty
    );
    assert_eq!(object_keys(&aws, &bucket).await, ["late.txt"]);
    send(&aws, &queue, "late").await;
    assert_eq!(
        sqs_queue::delete(&aws, &queue, false).await.unwrap(),
        Deleted::KeptNotEmpty
    );
    assert!(queue_exists(&aws, &queue).await);

    // Through deploy: both dropped from the manifest, both kept and listed as retained.
    f.write("resources:\n  queues:\n    stay: {}\n", &[]);
    let report = f.deploy();
    let kept = retained(&report);
    assert!(
        kept.iter()
            .any(|r| r.starts_with(&format!("S3 bucket {bucket}"))),
        "{kept:?}"
    );
    assert!(
        kept.iter()
            .any(|r| r.starts_with(&format!("SQS queue {queue} "))),
        "{kept:?}"
    );
    assert_eq!(object_keys(&aws, &bucket).await, ["late.txt"]);
    assert!(queue_exists(&aws, &queue).await);
    // Allowed, the same calls empty and delete.
    assert_eq!(
        s3_bucket::delete(&aws, &bucket, true).await.unwrap(),
        Deleted::Gone
    );
    assert_eq!(
        sqs_queue::delete(&aws, &queue, true).await.unwrap(),
        Deleted::Gone
    );
    assert!(!queue_exists(&aws, &queue).await);
    assert!(aws.s3.head_bucket().bucket(&bucket).send().await.is_err());
}

async fn state_of(aws: &sls_rs::cloud::Aws, f: &Fixture) -> sls_rs::engine::state::State {
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    sls_rs::engine::state::load(aws, &bucket, &f.service, "test")
        .await
        .unwrap()
        .expect("a state")
}

/// The queues the trigger of `function` reads, by ARN.
async fn mapping_sources(aws: &sls_rs::cloud::Aws, function: &str) -> Vec<String> {
    let out = aws
        .lambda
        .list_event_source_mappings()
        .function_name(format!(
            "arn:aws:lambda:us-east-1:{}:function:{function}:live",
            aws.account
        ))
        .send()
        .await
        .unwrap();
    out.event_source_mappings()
        .iter()
        .filter_map(|m| m.event_source_arn().map(str::to_string))
        .collect()
}

/// The plan shows `old` replaced by its FIFO twin.
fn assert_replaced_by_fifo(plan: &str, old: &str) {
    assert!(
        plan.lines().any(|l| l.starts_with("-/+")
            && l.contains(&format!("{old}.fifo"))
            && l.contains(&format!("replaces {old} "))),
        "{plan}"
    );
}

/// The deploy kept exactly one resource, the queue `queue`, because it holds data.
fn assert_kept_only_the_queue(report: &Value, queue: &str) {
    let kept = retained(report);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].starts_with(&format!("SQS queue {queue} (it holds data")),
        "{kept:?}"
    );
}

fn orders(fifo: bool) -> String {
    format!("  f:\n    handler: f\n    events: [{{ sqs: orders }}]\nresources:\n  queues:\n    orders: {{ fifo: {fifo}, deadLetter: {{ maxReceiveCount: 2 }} }}\n")
}

/// A queue switched to FIFO changes its name: a replacement. The new queue, its new
/// dead-letter queue and a trigger on them are made; the old ones go like dropped
/// resources: the old queue holding a message is kept and listed, the rest deleted.
#[tokio::test]
async fn a_queue_switched_to_fifo_is_replaced_and_the_old_one_kept_while_it_holds_messages() {
    if !support::needs(&[Svc::Lambda, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("fifoswitch", &orders(false));
    let aws = aws().await;
    f.deploy();
    let old = format!("{}-test-orders", f.service);
    let old_dlq = format!("{}-test-orders-dlq", f.service);
    // A message the trigger has not received yet (moto's trigger consumes a visible one at once).
    let url = sqs_queue::url(&aws, &old).await.unwrap().unwrap();
    aws.sqs
        .send_message()
        .queue_url(url)
        .message_body("order 1")
        .delay_seconds(900)
        .send()
        .await
        .unwrap();

    f.write(&orders(true), &[]);
    let (out, plan, _) = support::run(&mut f.command(&["plan"]));
    assert!(out.status.success());
    assert_replaced_by_fifo(&plan, &old);
    let report = f.deploy();
    assert_kept_only_the_queue(&report, &old);
    assert!(
        queue_exists(&aws, &old).await,
        "the old queue and its message stay"
    );
    assert!(
        !queue_exists(&aws, &old_dlq).await,
        "the empty old dead-letter queue goes"
    );
    assert!(queue_exists(&aws, &format!("{old}.fifo")).await);
    assert!(queue_exists(&aws, &format!("{old_dlq}.fifo")).await);
    // The trigger reads the new queue only; the old mapping is gone.
    let sources = mapping_sources(&aws, &f.name("f")).await;
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert!(sources[0].ends_with(&format!(":{old}.fifo")), "{sources:?}");
    // The state knows the new ones and nothing of the old (the retained queue is listed instead).
    let state = state_of(&aws, &f).await;
    assert_eq!(
        state.resources["queue/orders"].physical,
        format!("{old}.fifo")
    );
    assert_eq!(
        state.resources["queue/orders-dlq"].physical,
        format!("{old_dlq}.fifo")
    );
    assert!(
        state.resources.keys().all(|k| !k.contains("#replaced")),
        "{:?}",
        state.resources.keys()
    );
    // And the next deploy has nothing to do.
    let again = f.deploy();
    assert!(again["deployment"].is_null(), "{again}");
}

#[tokio::test]
async fn an_empty_queue_switched_to_fifo_is_replaced_and_the_old_one_and_its_dead_letter_queue_deleted(
) {
    if !support::needs(&[Svc::Lambda, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("fifoempty", &orders(false));
    let aws = aws().await;
    f.deploy();
    let old = format!("{}-test-orders", f.service);
    f.write(&orders(true), &[]);
    let report = f.deploy();
    assert!(retained(&report).is_empty(), "{report}");
    assert!(!queue_exists(&aws, &old).await);
    assert!(!queue_exists(&aws, &format!("{old}-dlq")).await);
    assert!(queue_exists(&aws, &format!("{old}.fifo")).await);
    let sources = mapping_sources(&aws, &f.name("f")).await;
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert!(sources[0].ends_with(".fifo"), "{sources:?}");
}

/// The queues of `orders`, without the function: what LocalStack serves without Docker.
fn queues_only(fifo: bool) -> String {
    format!("resources:\n  queues:\n    orders: {{ fifo: {fifo}, deadLetter: {{ maxReceiveCount: 2 }} }}\n    audit: {{ fifo: {fifo}, deadLetter: {{ maxReceiveCount: 2 }} }}\n")
}

/// The replacements above with no trigger in the way: of two queues switched to FIFO in
/// one deploy, the one holding a message is kept and listed; the empty one goes, and
/// both old dead-letter queues with it.
#[tokio::test]
async fn queues_switched_to_fifo_without_a_trigger_are_replaced_keeping_the_one_holding_messages() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("fifonofn", &queues_only(false));
    let aws = aws().await;
    f.deploy();
    let orders = format!("{}-test-orders", f.service);
    let audit = format!("{}-test-audit", f.service);
    send(&aws, &orders, "order 1").await;

    f.write(&queues_only(true), &[]);
    let (out, plan, _) = support::run(&mut f.command(&["plan"]));
    assert!(out.status.success());
    assert_replaced_by_fifo(&plan, &orders);
    assert_replaced_by_fifo(&plan, &audit);
    let report = f.deploy();
    assert_kept_only_the_queue(&report, &orders);
    assert!(
        queue_exists(&aws, &orders).await,
        "the queue holding a message stays"
    );
    for gone in [
        format!("{orders}-dlq"),
        audit.clone(),
        format!("{audit}-dlq"),
    ] {
        assert!(!queue_exists(&aws, &gone).await, "{gone} is deleted");
    }
    for new in [&orders, &audit] {
        assert!(queue_exists(&aws, &format!("{new}.fifo")).await);
        assert!(queue_exists(&aws, &format!("{new}-dlq.fifo")).await);
    }
    let state = state_of(&aws, &f).await;
    assert_eq!(
        state.resources["queue/orders-dlq"].physical,
        format!("{orders}-dlq.fifo")
    );
    assert!(
        state.resources.keys().all(|k| !k.contains("#replaced")),
        "{:?}",
        state.resources.keys()
    );
    let again = f.deploy();
    assert!(again["deployment"].is_null(), "{again}");
    // The kept queue is no longer the service's: remove leaves it, with its message.
    f.json(&["remove", "--force"]);
    assert!(queue_exists(&aws, &orders).await);
    assert!(!queue_exists(&aws, &format!("{orders}.fifo")).await);
    assert_eq!(
        sqs_queue::delete(&aws, &orders, true).await.unwrap(),
        Deleted::Gone
    );
}

async fn index_key(aws: &sls_rs::cloud::Aws, table: &str) -> String {
    let t = aws
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    t.global_secondary_indexes()
        .iter()
        .flat_map(|g| g.key_schema())
        .map(|k| k.attribute_name().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// An index whose keys change is dropped and built again while live code queries it:
/// deploy refuses it (exit 2, nothing touched) unless `--allow-disruption` is given,
/// and says which table and why. (A stream's new view type is refused the same way,
/// see the plan's tests; moto cannot enable a table's stream a second time.)
#[tokio::test]
async fn a_disruptive_table_change_needs_allow_disruption() {
    if !support::needs(&[Svc::Lambda, Svc::DynamoDb]) {
        return;
    }
    let manifest = |key: &str| {
        format!("  f: {{ handler: f }}\nresources:\n  tables:\n    t:\n      partitionKey: {{ name: id, type: S }}\n      globalSecondaryIndexes:\n        - {{ name: byOwner, partitionKey: {{ name: {key}, type: S }} }}\n")
    };
    let f = Fixture::new("disrupt", &manifest("owner"));
    let aws = aws().await;
    f.deploy();
    let table = format!("{}-test-t", f.service);
    let history = state_of(&aws, &f).await.deployments.len();

    f.write(&manifest("team"), &[]);
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "DynamoDB table {table}: index byOwner changes (owner:S - ALL → team:S - ALL): it is deleted and built again"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert!(stderr.contains("--allow-disruption"), "{stderr}");
    assert_eq!(index_key(&aws, &table).await, "owner");
    assert_eq!(
        state_of(&aws, &f).await.deployments.len(),
        history,
        "no deployment recorded"
    );

    let report = f.json(&["deploy", "--allow-disruption"]);
    assert_eq!(report["deployment"]["status"], "succeeded", "{report}");
    assert_eq!(index_key(&aws, &table).await, "team");
}

/// After a rollback, a deploy moves only the functions that changed: the others stay on
/// their rolled-back version until `--unpin`.
#[tokio::test]
async fn a_rollback_pins_what_it_moved_until_the_function_changes_or_unpin() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    const AB: &str = "  a: { handler: a }\n  b: { handler: b }\n";
    let f = Fixture::new("pins", AB);
    let aws = aws().await;
    f.deploy();
    f.write(AB, &[("a", "v2"), ("b", "v2")]);
    f.deploy();
    let back = f.json(&["rollback"]);
    assert_eq!(back["moved"]["b"], serde_json::json!(["2", "1"]));
    let state = state_of(&aws, &f).await;
    assert!(state.resources["function/a"].pinned && state.resources["function/b"].pinned);

    // Only a changes: a gets version 3 and goes live; b stays on 1.
    f.write(AB, &[("a", "v3"), ("b", "v2")]);
    let (out, plan, _) = support::run(&mut f.command(&["plan"]));
    assert!(out.status.success());
    assert!(plan.contains("pinned by rollback"), "{plan}");
    assert!(plan.contains("b at version 1"), "{plan}");
    let report = f.deploy();
    assert_eq!(
        report["deployment"]["functions"],
        serde_json::json!({ "a": "3", "b": "1" }),
        "{report}"
    );
    assert_eq!(
        alias_version(&aws, &f.name("a")).await.as_deref(),
        Some("3")
    );
    assert_eq!(
        alias_version(&aws, &f.name("b")).await.as_deref(),
        Some("1")
    );
    let state = state_of(&aws, &f).await;
    assert!(!state.resources["function/a"].pinned);
    assert!(state.resources["function/b"].pinned);
    // An unchanged redeploy leaves it so.
    assert!(f.deploy()["deployment"].is_null());
    assert_eq!(
        alias_version(&aws, &f.name("b")).await.as_deref(),
        Some("1")
    );

    // A name that is no function is the user's mistake; `--unpin b` moves b.
    let (out, _, stderr) = support::run(&mut f.command(&["deploy", "--unpin", "c"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let report = f.json(&["deploy", "--unpin", "b"]);
    assert_eq!(
        report["deployment"]["functions"],
        serde_json::json!({ "a": "3", "b": "2" }),
        "{report}"
    );
    assert_eq!(
        alias_version(&aws, &f.name("b")).await.as_deref(),
        Some("2")
    );
    assert!(!state_of(&aws, &f).await.resources["function/b"].pinned);
}

/// A run killed between UpdateAlias and its state save leaves `live` recorded wrong:
/// the next deploy records what AWS says, and rollback goes back from there.
#[tokio::test]
async fn the_state_records_the_live_version_aws_reports() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    const A: &str = "  a: { handler: a }\n";
    let f = Fixture::new("aliasread", A);
    let aws = aws().await;
    f.deploy();
    f.write(A, &[("a", "v2")]);
    f.deploy();
    // As a kill right after UpdateAlias(2) leaves it: AWS at 2, the state still at 1.
    let mut state = state_of(&aws, &f).await;
    state.resources.get_mut("function/a").unwrap().live = Some("1".into());
    // The killed run's record is still open.
    state.deployments.last_mut().unwrap().status = "in progress".into();
    support::fixture::put_stage_object(&aws, &f, "state.json", serde_json::to_vec(&state).unwrap())
        .await;

    let (out, _, stderr) = support::run(&mut f.command(&["plan"]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("points at version 2, the state said 1"),
        "{stderr}"
    );
    // Nothing to change in AWS; the killed run's record is closed.
    let report = f.deploy();
    assert!(
        support::fixture::mutating(&report).is_empty(),
        "nothing to change in AWS: {report}"
    );
    assert_eq!(report["deployment"]["status"], "succeeded", "{report}");
    assert_eq!(
        state_of(&aws, &f).await.resources["function/a"]
            .live
            .as_deref(),
        Some("2")
    );
    let info = f.json(&["info"]);
    assert_eq!(info["functions"][0]["liveVersion"], "2");

    // Moved behind sls-rs's back again: rollback starts from what AWS says (2 → 1), not the state.
    state.resources.get_mut("function/a").unwrap().live = Some("1".into());
    support::fixture::put_stage_object(&aws, &f, "state.json", serde_json::to_vec(&state).unwrap())
        .await;
    let back = f.json(&["rollback"]);
    assert_eq!(back["moved"]["a"], serde_json::json!(["2", "1"]), "{back}");
    assert_eq!(
        alias_version(&aws, &f.name("a")).await.as_deref(),
        Some("1")
    );
}

/// With its state lost, `remove` still finds the service's triggers by their names and
/// tags: the HTTP API, schedule rules, event source mappings (they outlive their
/// function) and the notifications on a bucket it keeps.
#[tokio::test]
async fn remove_after_a_lost_state_finds_every_trigger() {
    if !support::needs(&[Svc::Lambda, Svc::HttpApi, Svc::Sqs]) {
        return;
    }
    let manifest = "  f:\n    handler: f\n    events:\n      - httpApi: GET /items\n      - schedule: { rate: rate(5 minutes) }\n      - sqs: jobs\n      - s3: { bucket: uploads, events: ['s3:ObjectCreated:*'] }\nresources:\n  buckets:\n    uploads: {}\n  queues:\n    jobs: {}\n";
    let f = Fixture::new("lostremove", manifest);
    let aws = aws().await;
    f.deploy();
    let function = f.name("f");
    let alias = format!(
        "arn:aws:lambda:us-east-1:{}:function:{function}:live",
        aws.account
    );
    let bucket = format!("{}-test-uploads-{}-us-east-1", f.service, aws.account);
    let api = format!("{}-test", f.service);
    let rule = format!("{function}-schedule");
    // Everything is there, and the bucket holds an object, so it is kept.
    assert_eq!(mapping_sources(&aws, &function).await.len(), 1);
    assert!(aws.events.describe_rule().name(&rule).send().await.is_ok());
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key("in/a.csv")
        .body(b"a".to_vec().into())
        .send()
        .await
        .unwrap();
    let state_bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    aws.s3
        .delete_object()
        .bucket(&state_bucket)
        .key(sls_rs::engine::state::state_key(&f.service, "test"))
        .send()
        .await
        .unwrap();

    let report = f.json(&["remove"]);
    let removed: Vec<&str> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for kind in [
        "HTTP API",
        "event source mapping",
        "bucket notification",
        "schedule rule",
    ] {
        assert!(
            removed.iter().any(|r| r.starts_with(kind)),
            "{kind}: {removed:?}"
        );
    }
    assert!(
        retained(&report).iter().any(|r| r.contains(&bucket)),
        "{report}"
    );
    // Nothing of the service's is left but the bucket it keeps, without its triggers.
    let apis = aws.apigw.get_apis().send().await.unwrap();
    assert!(apis.items().iter().all(|a| a.name() != Some(api.as_str())));
    assert!(aws.events.describe_rule().name(&rule).send().await.is_err());
    assert!(mapping_sources(&aws, &function).await.is_empty());
    // (moto answers an empty configuration with a root the SDK rejects: read through the adapter.)
    let notifications = sls_rs::cloud::bucket_notification::read(&aws, &bucket).await;
    assert_eq!(notifications.unwrap(), None);
    assert!(!queue_exists(&aws, &format!("{}-test-jobs", f.service)).await);
    let list = aws
        .lambda
        .list_event_source_mappings()
        .send()
        .await
        .unwrap();
    assert!(
        list.event_source_mappings()
            .iter()
            .all(|m| !m.function_arn().unwrap_or_default().contains(&function)),
        "{alias}"
    );
}
