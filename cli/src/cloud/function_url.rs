//! A function URL on the `live` alias: its auth type, invoke mode and CORS. Who
//! may call a public (`NONE`) URL is the function's resource policy
//! (`lambda_permission`); an `AWS_IAM` one, the callers' own policies.

use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType, InvokeMode};

use super::{aws_error, has_code, Aws};
use crate::model::{url_cors_props, FunctionUrlSpec, Props, UrlCorsSpec, LIVE_ALIAS};

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

fn what(function: &str) -> String {
    format!("function URL ({function}:{LIVE_ALIAS})")
}

/// A URL as it is: its props and its address.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveUrl {
    pub props: Props,
    pub url: String,
}

/// The URL of the function's `live` alias; `None` when it, the alias or the function is missing.
pub async fn read(aws: &Aws, function: &str) -> anyhow::Result<Option<LiveUrl>> {
    let out = match aws
        .lambda
        .get_function_url_config()
        .function_name(function)
        .qualifier(LIVE_ALIAS)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(aws_error(&what(function), "lambda:GetFunctionUrlConfig", e)),
    };
    let mut props = Props::new();
    props.insert("authType".into(), out.auth_type.as_str().into());
    props.insert(
        "invokeMode".into(),
        // Left out by AWS for URLs made before streaming existed, which buffer.
        out.invoke_mode
            .as_ref()
            .map_or("BUFFERED", |m| m.as_str())
            .to_ascii_uppercase(),
    );
    let cors = out.cors.map(|c| UrlCorsSpec {
        allow_origins: c.allow_origins.unwrap_or_default(),
        allow_methods: c.allow_methods.unwrap_or_default(),
        allow_headers: c.allow_headers.unwrap_or_default(),
        expose_headers: c.expose_headers.unwrap_or_default(),
        allow_credentials: c.allow_credentials.unwrap_or(false),
        max_age: c.max_age.and_then(|n| u32::try_from(n).ok()),
    });
    // CORS cleared by an update is an empty `Cors`: no origin is allowed, as with none.
    let cors = cors.filter(|c| !c.allow_origins.is_empty());
    url_cors_props(&mut props, cors.as_ref());
    Ok(Some(LiveUrl {
        props,
        url: out.function_url,
    }))
}

/// `Cors` as Lambda takes it; an empty one clears what was set (an update leaves
/// out what it does not name).
fn cors(spec: Option<&UrlCorsSpec>) -> Cors {
    let Some(c) = spec else {
        return Cors::builder().build();
    };
    Cors::builder()
        .set_allow_origins(Some(c.allow_origins.clone()))
        .set_allow_methods(Some(c.allow_methods.clone()))
        .set_allow_headers(Some(c.allow_headers.clone()))
        .set_expose_headers(Some(c.expose_headers.clone()))
        .allow_credentials(c.allow_credentials)
        .set_max_age(c.max_age.map(|n| n as i32))
        .build()
}

/// Makes the URL the spec's, creating it when `create` (the plan found none);
/// returns its address.
pub async fn put(aws: &Aws, spec: &FunctionUrlSpec, create: bool) -> anyhow::Result<String> {
    let function = spec.function_name.as_str();
    let auth = FunctionUrlAuthType::from(spec.auth_type);
    let mode = InvokeMode::from(spec.invoke_mode);
    if create {
        // Not retried on a conflict: "FunctionUrlConfig exists" is one, and the update
        // below waits out a change in progress.
        let created = aws
            .lambda
            .create_function_url_config()
            .function_name(function)
            .qualifier(LIVE_ALIAS)
            .auth_type(auth.clone())
            .invoke_mode(mode.clone())
            .set_cors(spec.cors.as_ref().map(|c| cors(Some(c))))
            .send()
            .await;
        match created {
            Ok(out) => return Ok(out.function_url),
            // Made meanwhile (an answer lost, or another run), or the function busy: updated below.
            Err(e) if has_code(&e, &["ResourceConflictException"]) => {}
            Err(e) => {
                return Err(aws_error(
                    &what(function),
                    "lambda:CreateFunctionUrlConfig",
                    e,
                ))
            }
        }
    }
    let updated = super::retry_on_conflict(|| {
        aws.lambda
            .update_function_url_config()
            .function_name(function)
            .qualifier(LIVE_ALIAS)
            .auth_type(auth.clone())
            .invoke_mode(mode.clone())
            .cors(cors(spec.cors.as_ref()))
            .send()
    })
    .await
    .map_err(|e| aws_error(&what(function), "lambda:UpdateFunctionUrlConfig", e))?;
    Ok(updated.function_url)
}

/// Removes the URL; one already gone is fine.
pub async fn delete(aws: &Aws, function: &str) -> anyhow::Result<()> {
    let deleted = super::retry_on_conflict(|| {
        aws.lambda
            .delete_function_url_config()
            .function_name(function)
            .qualifier(LIVE_ALIAS)
            .send()
    })
    .await;
    match deleted {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(
            &what(function),
            "lambda:DeleteFunctionUrlConfig",
            e,
        )),
    }
}
