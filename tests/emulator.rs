//! Round trips through the local AWS emulator with SDK clients built by
//! `sls_rs::cloud`, exactly as the product builds them.

use crate::support;

use support::Svc;

use aws_sdk_s3::primitives::ByteStream;

#[tokio::test]
async fn sts_names_the_account_and_s3_round_trips_with_conditional_writes() {
    if !support::needs(&[Svc::Sts, Svc::S3]) {
        return;
    }
    let emulator = support::emulator();
    let config = emulator.sdk_config().await;

    // Never assumed: moto says 123456789012, LocalStack 000000000000.
    let account = sls_rs::cloud::account_id(&config).await.unwrap();
    assert!(
        account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
        "account id {account:?}"
    );

    let s3 = sls_rs::cloud::s3(&config);
    let bucket = support::unique_service("s3");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("state.json")
        .body(ByteStream::from_static(b"{\"v\":1}"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("state.json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"{\"v\":1}"
    );

    // A create-only write: the primitive the deploy lock builds on.
    s3.put_object()
        .bucket(&bucket)
        .key("lock")
        .if_none_match("*")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .unwrap();
    let second = s3
        .put_object()
        .bucket(&bucket)
        .key("lock")
        .if_none_match("*")
        .body(ByteStream::from_static(b"b"))
        .send()
        .await;
    let err = second.expect_err("a second create-only write must fail");
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(
        status,
        Some(412),
        "expected 412 Precondition Failed, got {err:?}"
    );

    for key in ["state.json", "lock"] {
        s3.delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
}

#[tokio::test]
async fn a_failed_call_names_the_resource_operation_and_aws_message() {
    if !support::needs(&[Svc::S3]) {
        return;
    }
    let config = support::emulator().sdk_config().await;
    let s3 = sls_rs::cloud::s3(&config);
    let bucket = support::unique_service("missing");
    let err = s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("the bucket does not exist");
    let shown =
        sls_rs::cloud::aws_error(&format!("reading bucket ({bucket})"), "s3:HeadBucket", err)
            .to_string();
    assert!(
        shown.starts_with(&format!("reading bucket ({bucket}) (s3:HeadBucket): ")),
        "{shown}"
    );
    assert!(
        shown.to_lowercase().contains("not found") || shown.contains("404"),
        "{shown}"
    );
}

#[tokio::test]
async fn every_call_is_counted_and_told_read_from_write() {
    if !support::needs(&[Svc::Sts, Svc::S3]) {
        return;
    }
    let emulator = support::emulator();
    let aws = sls_rs::cloud::Aws::connect(&emulator.target())
        .await
        .unwrap();
    let bucket = support::unique_service("calls");
    aws.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    aws.s3.head_bucket().bucket(&bucket).send().await.unwrap();
    let calls = aws.calls.calls();
    assert_eq!(
        calls,
        ["sts:GetCallerIdentity", "s3:CreateBucket", "s3:HeadBucket"]
    );
    let summary = aws.calls.summary();
    assert_eq!((summary.reads, summary.writes), (2, 1));
    aws.s3.delete_bucket().bucket(&bucket).send().await.unwrap();
}

/// `localstack/localstack start` gives S3's object bodies a home in its own data dir
/// (removed by `stop`): LocalStack's fixed /tmp/localstack-s3-storage, shared by every
/// LocalStack on the host and left behind, is never used.
#[tokio::test]
async fn s3_object_bodies_are_not_left_in_the_hosts_shared_tmp() {
    if !support::needs(&[Svc::S3]) {
        return;
    }
    let config = support::emulator().sdk_config().await;
    let s3 = sls_rs::cloud::s3(&config);
    let bucket = support::unique_service("s3store");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from_static(b"body"))
        .send()
        .await
        .unwrap();
    let shared = std::path::Path::new("/tmp/localstack-s3-storage").join(&bucket);
    let leaked = shared.exists();
    s3.delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    assert!(!leaked, "{} holds the bucket's objects", shared.display());
}

/// An artifact is uploaded only where no object has its key (If-None-Match): one a
/// listing missed (another deploy uploaded it meanwhile) is taken as there, and no
/// upload replaces the bytes under a hash, as a stage's CI role may not.
#[tokio::test]
async fn an_artifact_is_never_replaced_under_its_hash() {
    if !support::needs(&[Svc::Sts, Svc::S3]) {
        return;
    }
    let aws = sls_rs::cloud::Aws::connect(&support::emulator().target())
        .await
        .unwrap();
    let bucket = support::unique_service("artifact");
    aws.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let dir = std::env::temp_dir().join(&bucket);
    std::fs::create_dir_all(&dir).unwrap();
    let zip = dir.join("f.zip");
    std::fs::write(&zip, b"the artifact").unwrap();
    let key = format!(
        "artifacts/{}.zip",
        sls_rs::build::sha256_hex(b"the artifact")
    );
    use sls_rs::cloud::deployment_bucket::upload_artifact;
    // `listed`: a listing said absent, so no HeadObject; the first upload writes it.
    assert!(upload_artifact(&aws, &bucket, &key, &zip, true)
        .await
        .unwrap());
    // Someone replaced it meanwhile (what the condition exists to stop), and a
    // listing missed it: the upload says it is there and leaves it alone.
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(b"other bytes".to_vec().into())
        .send()
        .await
        .unwrap();
    assert!(!upload_artifact(&aws, &bucket, &key, &zip, true)
        .await
        .unwrap());
    let body = aws
        .s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        body.body.collect().await.unwrap().into_bytes().as_ref(),
        b"other bytes"
    );
    std::fs::remove_dir_all(&dir).ok();
}
