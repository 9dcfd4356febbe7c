//! Data safety against the emulator: what deletes and replacements keep, what a
//! disruptive change needs, what rollback pins, what the state learns from AWS and
//! what `remove` finds without a state.

mod support;

use serde_json::Value;
use sls_rs::cloud::{s3_bucket, sqs_queue, Deleted};
use support::fixture::{aws, Fixture};

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
    let f = Fixture::new(
        "emptyrace",
        "  f: { handler: f }\nresources:\n  buckets:\n    b: {}\n  queues:\n    q: {}\n",
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
    f.write("  f: { handler: f }\n", &[]);
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
