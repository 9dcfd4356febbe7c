//! For each text file uploaded to the `uploads` bucket under incoming/, writes a
//! JSON summary (bytes, lines, words) to the `reports` bucket under
//! summaries/<key>.json. Both names are injected by `sls-rs deploy`
//! (`SLS_RS_BUCKET_UPLOADS`, `SLS_RS_BUCKET_REPORTS`).

use aws_lambda_events::event::s3::S3Event;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use serde_json::{json, Value};
use sls_rs_runtime::{resource, Error, LambdaEvent, ResourceKind};

/// S3 event keys are URL-encoded, with `+` for a space.
fn decode_key(key: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn summary(key: &str, text: &str) -> Value {
    json!({
        "key": key,
        "bytes": text.len(),
        "lines": text.lines().count(),
        "words": text.split_whitespace().count(),
    })
}

async fn process(
    client: &Client,
    reports: &str,
    event: LambdaEvent<S3Event>,
) -> Result<Value, Error> {
    let mut written = Vec::new();
    for record in event.payload.records {
        let (Some(bucket), Some(key)) = (record.s3.bucket.name, record.s3.object.key) else {
            continue;
        };
        let key = decode_key(&key);
        let object = match client.get_object().bucket(&bucket).key(&key).send().await {
            Ok(o) => o,
            // Deleted between the upload and this invocation: nothing to summarise.
            // (S3 says NoSuchKey only to a role that may list the bucket; this one may
            // list only incoming/, so on AWS a vanished object is AccessDenied, an
            // error: the invocation fails and S3 retries it, never a silent skip.)
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                tracing::warn!(%bucket, %key, "the object is gone; skipped");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let bytes = object.body.collect().await?.into_bytes();
        let report = summary(&key, &String::from_utf8_lossy(&bytes));
        let target = format!("summaries/{key}.json");
        client
            .put_object()
            .bucket(reports)
            .key(&target)
            .content_type("application/json")
            .body(ByteStream::from(report.to_string().into_bytes()))
            .send()
            .await?;
        tracing::info!(%key, %target, "summarised");
        written.push(target);
    }
    Ok(json!({ "written": written }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let reports = resource(ResourceKind::Bucket, "reports")?;
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    sls_rs_runtime::run(|event| process(&client, &reports, event)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_and_summaries_counted() {
        assert_eq!(
            decode_key("incoming/my+file%21.txt"),
            "incoming/my file!.txt"
        );
        assert_eq!(decode_key("100%"), "100%");
        assert_eq!(summary("k", "one two\nthree\n")["words"], 3);
    }
}
