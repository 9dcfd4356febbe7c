//! Called by S3 for every image uploaded under `incoming/` of the `uploads`
//! bucket: writes a JPEG thumbnail (at most 128×128, aspect kept) to `small/`
//! of the `thumbnails` bucket (`SLS_RS_BUCKET_THUMBNAILS`). Its role may read
//! only `incoming/` and write only `small/`: `sls-rs policy -f thumbnail`.

use std::io::Cursor;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use serde_json::{json, Value};
use sls_rs_runtime::{resource, Error, LambdaEvent, ResourceKind};

const SIZE: u32 = 128;

/// S3 event keys are URL-encoded, with `+` for spaces.
fn decode_key(key: &str) -> String {
    let bytes = key.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn thumbnail(client: &Client, target: &str, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let mut written = Vec::new();
    for record in event.payload["Records"].as_array().into_iter().flatten() {
        let bucket = record["s3"]["bucket"]["name"].as_str().unwrap_or_default();
        let key = decode_key(record["s3"]["object"]["key"].as_str().unwrap_or_default());
        let object = client.get_object().bucket(bucket).key(&key).send().await?;
        let bytes = object.body.collect().await?.into_bytes();
        let image = image::load_from_memory(&bytes)?;
        let small = image.thumbnail(SIZE, SIZE).to_rgb8();
        let mut jpeg = Cursor::new(Vec::new());
        small.write_to(&mut jpeg, image::ImageFormat::Jpeg)?;
        let name = key.rsplit('/').next().unwrap_or(&key);
        let out = format!("small/{name}");
        client
            .put_object()
            .bucket(target)
            .key(&out)
            .content_type("image/jpeg")
            .body(ByteStream::from(jpeg.into_inner()))
            .send()
            .await?;
        tracing::info!(%key, %out, width = small.width(), height = small.height(), "thumbnail written");
        written.push(json!({ "key": out, "width": small.width(), "height": small.height() }));
    }
    Ok(json!({ "bucket": target, "written": written }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let target = resource(ResourceKind::Bucket, "thumbnails")?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // Emulators serve buckets by path, not by subdomain.
    let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let s3 = aws_sdk_s3::config::Builder::from(&config).force_path_style(path_style).build();
    let client = Client::from_conf(s3);
    sls_rs_runtime::run(|event| thumbnail(&client, &target, event)).await
}
