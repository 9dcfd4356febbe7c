//! Called by S3 for every image uploaded under `incoming/`; names the thumbnail
//! it writes to the `thumbnails` bucket (`SLS_RS_BUCKET_THUMBNAILS`).

use serde_json::{json, Value};
use sls_rs_runtime::{resource, Error, LambdaEvent, ResourceKind};

async fn thumbnail(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let target = resource(ResourceKind::Bucket, "thumbnails")?;
    let mut written = Vec::new();
    for record in event.payload["Records"].as_array().into_iter().flatten() {
        let key = record["s3"]["object"]["key"].as_str().unwrap_or_default();
        let name = key.rsplit('/').next().unwrap_or(key);
        let out = format!("small/{name}");
        tracing::info!(%key, bucket = %target, %out, "thumbnail");
        written.push(out);
    }
    Ok(json!({ "bucket": target, "written": written }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(thumbnail).await
}
