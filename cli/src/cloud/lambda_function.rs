//! A Lambda function: its configuration and code, published versions, the
//! `live` alias, reserved and provisioned concurrency. Every change waits until
//! Lambda reports the function ready, before and after (pacing is in the HTTP
//! client, see `rate`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use aws_sdk_lambda::error::SdkError;
pub use aws_sdk_lambda::types::ProvisionedConcurrencyStatusEnum;
use aws_sdk_lambda::types::{
    AliasRoutingConfiguration, ApplicationLogLevel, Architecture as LambdaArch, Environment,
    EphemeralStorage, FunctionCode, LastUpdateStatus, LogFormat, LoggingConfig, Runtime, State,
    SystemLogLevel, TracingConfig, TracingMode, VpcConfig,
};
use base64::Engine as _;
use tokio::time::Instant;

use super::create::{create_once, no_retries};
use super::{aws_error, emulator, Aws, Svc};
use crate::manifest::Architecture;
use crate::model::{same_owner, FunctionSpec, Props};

/// A function as it is in Lambda.
#[derive(Debug, Clone)]
pub struct FunctionLive {
    pub arn: String,
    /// Everything but the environment, which the caller fingerprints with the run's key.
    pub props: Props,
    pub env: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

fn arch(a: Architecture) -> LambdaArch {
    match a {
        Architecture::X86_64 => LambdaArch::X8664,
        Architecture::Arm64 => LambdaArch::Arm64,
    }
}

/// Lambda's CodeSha256 is the base64 of the zip's sha256; the state keeps hex.
pub fn code_sha_hex(base64_sha: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(base64_sha)
        .map(|raw| raw.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_else(|_| base64_sha.to_string())
}

/// Reads a function's configuration, tags and reserved concurrency in one call; `None` when absent.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<FunctionLive>> {
    let out = match aws.lambda.get_function().function_name(name).send().await {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(aws_error(
                &format!("reading Lambda function ({name})"),
                "lambda:GetFunction",
                e,
            ))
        }
    };
    let Some(cfg) = out.configuration else {
        return Ok(None);
    };
    let mut props = Props::new();
    props.insert(
        "memorySize".into(),
        cfg.memory_size.unwrap_or_default().to_string(),
    );
    props.insert(
        "timeout".into(),
        cfg.timeout.unwrap_or_default().to_string(),
    );
    let architecture = match cfg.architectures.as_deref() {
        Some([LambdaArch::Arm64, ..]) => "arm64",
        _ => "x86_64",
    };
    props.insert("architecture".into(), architecture.into());
    props.insert("role".into(), cfg.role.clone().unwrap_or_default());
    let tracing = cfg
        .tracing_config
        .and_then(|t| t.mode)
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "PassThrough".into());
    props.insert("tracing".into(), tracing);
    props.insert(
        "description".into(),
        cfg.description.clone().unwrap_or_default(),
    );
    let reserved = out
        .concurrency
        .and_then(|c| c.reserved_concurrent_executions)
        .map_or_else(|| "none".into(), |n| n.to_string());
    props.insert("reservedConcurrency".into(), reserved);
    props.insert(
        "code".into(),
        cfg.code_sha256
            .as_deref()
            .map(code_sha_hex)
            .unwrap_or_default(),
    );
    props.insert(
        "ephemeralStorageSize".into(),
        cfg.ephemeral_storage
            .as_ref()
            .map_or(crate::manifest::DEFAULT_EPHEMERAL_STORAGE as i32, |e| {
                e.size
            })
            .to_string(),
    );
    let layers: Vec<String> = cfg
        .layers
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| l.arn)
        .collect();
    props.insert("layers".into(), crate::model::layers_text(&layers));
    let (subnets, groups) = cfg.vpc_config.as_ref().map_or((vec![], vec![]), |v| {
        (v.subnet_ids().to_vec(), v.security_group_ids().to_vec())
    });
    crate::model::vpc_props(&mut props, &subnets, &groups);
    match &cfg.logging_config {
        // Lambda ignores levels with the Text format: whatever it reports then is no level.
        Some(l) if l.log_format().is_none_or(|f| *f == LogFormat::Text) => {
            crate::model::logging_props(&mut props, "Text", None, None)
        }
        // A level left out is Lambda's INFO.
        Some(l) => crate::model::logging_props(
            &mut props,
            l.log_format().map_or("Text", |f| f.as_str()),
            Some(l.application_log_level().map_or("INFO", |v| v.as_str())),
            Some(l.system_log_level().map_or("INFO", |v| v.as_str())),
        ),
        // An emulator that keeps no logging controls (moto): what sls-rs last set.
        None => {
            for key in ["logFormat", "applicationLogLevel", "systemLogLevel"] {
                props.insert(key.into(), crate::model::UNREPORTED.into());
            }
        }
    }
    let mut env = BTreeMap::new();
    for (k, v) in cfg
        .environment
        .and_then(|e| e.variables)
        .unwrap_or_default()
    {
        env.insert(k, v);
    }
    let tags: BTreeMap<String, String> = out.tags.unwrap_or_default().into_iter().collect();
    for (k, v) in &tags {
        props.insert(format!("tags.{k}"), v.clone());
    }
    Ok(Some(FunctionLive {
        arn: cfg.function_arn.unwrap_or_default(),
        props,
        env,
        tags,
    }))
}

fn environment(spec: &FunctionSpec) -> Environment {
    Environment::builder()
        .set_variables(Some(spec.environment.clone().into_iter().collect()))
        .build()
}

/// What Lambda does with the function in a recursive loop; `None` where the endpoint
/// (an emulator) keeps no such setting.
pub async fn read_recursion(aws: &Aws, name: &str) -> anyhow::Result<Option<String>> {
    match aws
        .lambda
        .get_function_recursion_config()
        .function_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.recursive_loop()
                .map_or(crate::model::RECURSION_DEFAULT, |r| r.as_str())
                .to_string(),
        )),
        Err(e) if emulator::lacks_api(aws, Svc::Lambda, &e) => Ok(None),
        Err(e) => Err(aws_error(
            &format!("reading the recursive loop setting of Lambda function ({name})"),
            "lambda:GetFunctionRecursionConfig",
            e,
        )),
    }
}

/// Sets what Lambda does with the function in a recursive loop; `false` where the
/// endpoint (an emulator) lacks the API.
pub async fn set_recursion(aws: &Aws, name: &str, setting: &str) -> anyhow::Result<bool> {
    let sent = super::retry_on_conflict(|| {
        aws.lambda
            .put_function_recursion_config()
            .function_name(name)
            .recursive_loop(aws_sdk_lambda::types::RecursiveLoop::from(setting))
            .send()
    })
    .await;
    match sent {
        Ok(_) => Ok(true),
        Err(e) if emulator::lacks_api(aws, Svc::Lambda, &e) => Ok(false),
        Err(e) => Err(aws_error(
            &format!("setting the recursive loop setting of Lambda function ({name})"),
            "lambda:PutFunctionRecursionConfig",
            e,
        )),
    }
}

/// The function's VPC; empty lists take it out of one (an update leaves out what it does not name).
fn vpc(spec: &FunctionSpec) -> VpcConfig {
    let (subnets, groups) = spec.vpc.as_ref().map_or((vec![], vec![]), |v| {
        (v.subnet_ids.clone(), v.security_group_ids.clone())
    });
    VpcConfig::builder()
        .set_subnet_ids(Some(subnets))
        .set_security_group_ids(Some(groups))
        .build()
}

fn logging(spec: &FunctionSpec) -> LoggingConfig {
    let l = &spec.logging;
    LoggingConfig::builder()
        .log_format(LogFormat::from(l.format))
        .set_application_log_level(l.application_level.map(ApplicationLogLevel::from))
        .set_system_log_level(l.system_level.map(SystemLogLevel::from))
        .build()
}

fn ephemeral_storage(spec: &FunctionSpec) -> EphemeralStorage {
    EphemeralStorage::builder()
        .size(spec.ephemeral_storage as i32)
        .build()
        .expect("size is set")
}

fn tracing(spec: &FunctionSpec) -> TracingConfig {
    TracingConfig::builder()
        .mode(if spec.tracing {
            TracingMode::Active
        } else {
            TracingMode::PassThrough
        })
        .build()
}

/// IAM is eventually consistent: a role created a moment ago may not be assumable yet.
fn is_role_propagation<E: aws_sdk_lambda::error::ProvideErrorMetadata>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    err.as_service_error()
        .is_some_and(super::is_iam_propagation)
}

/// How long to keep retrying a role that is not assumable yet, and how often.
const ROLE_PROPAGATION_DEADLINE: Duration = Duration::from_secs(90);

/// Creates the function from its artifact in the deployment bucket, adopting
/// one a crashed deploy left behind. Returns the ARN and, with `publish`, the
/// version CreateFunction published with it (one request less than publishing
/// after); an adopted function's newest version when it matches what was asked,
/// else none: the caller publishes it.
pub async fn create(
    aws: &Aws,
    name: &str,
    spec: &FunctionSpec,
    bucket: &str,
    publish: bool,
) -> anyhow::Result<(String, Option<String>)> {
    let deadline = Instant::now() + ROLE_PROPAGATION_DEADLINE;
    let mut delay = Duration::from_millis(500);
    loop {
        let code = FunctionCode::builder()
            .s3_bucket(bucket)
            .s3_key(&spec.code.s3_key)
            .build();
        let result = aws
            .lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role(&spec.role_arn)
            .code(code)
            .memory_size(spec.memory as i32)
            .timeout(spec.timeout as i32)
            .architectures(arch(spec.architecture))
            .description(&spec.description)
            .environment(environment(spec))
            .tracing_config(tracing(spec))
            .ephemeral_storage(ephemeral_storage(spec))
            .set_layers(Some(spec.layers.clone()))
            .logging_config(logging(spec))
            .vpc_config(vpc(spec))
            .set_tags(Some(spec.tags.clone().into_iter().collect()))
            .publish(publish)
            .send()
            .await;
        match result {
            Ok(out) => {
                // With Publish, the answer is version 1's, made with $LATEST from the
                // same code and configuration: both ready when it says so.
                let settled = created_ready(out.state.as_ref(), out.last_update_status.as_ref());
                if !settled {
                    wait_ready(aws, name).await?;
                }
                let version = out.version.filter(|v| publish && v != "$LATEST");
                // Published Pending like $LATEST: Active before an alias may move to it.
                if let Some(v) = version.as_ref().filter(|_| !settled) {
                    wait_ready_at(aws, name, Some(v)).await?;
                }
                let arn = out.function_arn.unwrap_or_default();
                // The unqualified ARN, as every other path records it.
                let arn = match &version {
                    Some(v) => arn
                        .strip_suffix(&format!(":{v}"))
                        .map_or(arn.clone(), str::to_string),
                    None => arn,
                };
                return Ok((arn, version));
            }
            Err(e) if is_role_propagation(&e) && Instant::now() < deadline => {
                super::wait::pause(delay).await;
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_conflict_exception()) =>
            {
                // Created by a deploy that died before recording it: bring it in line instead.
                let Some(live) = read(aws, name).await? else {
                    bail!("Lambda function ({name}) exists and vanished while being read; deploy again")
                };
                if !same_owner(|t| live.tags.get(t), |t| spec.tags.get(t)) {
                    bail!("creating Lambda function ({name}): a function of that name exists and is not this service's (no matching sls-rs tags)");
                }
                update_configuration(aws, name, spec).await?;
                update_code(aws, name, spec, bucket).await?;
                // Its version 1 when that create published one (an answer lost after
                // CreateFunction with Publish, retried by the SDK): one, not two.
                let version = match publish {
                    true => newest_if_latest(aws, name).await?,
                    false => None,
                };
                if let Some(v) = &version {
                    wait_ready_at(aws, name, Some(v)).await?;
                }
                return Ok((live.arn, version));
            }
            Err(e) => {
                return Err(aws_error(
                    &format!("creating Lambda function ({name})"),
                    "lambda:CreateFunction",
                    e,
                ))
            }
        }
    }
}

/// Memory, timeout, role, environment, tracing, description, `/tmp` size, layers.
pub async fn update_configuration(
    aws: &Aws,
    name: &str,
    spec: &FunctionSpec,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + ROLE_PROPAGATION_DEADLINE;
    let mut delay = Duration::from_millis(500);
    loop {
        wait_writable(aws, name).await?;
        let result = aws
            .lambda
            .update_function_configuration()
            .function_name(name)
            .role(&spec.role_arn)
            .memory_size(spec.memory as i32)
            .timeout(spec.timeout as i32)
            .description(&spec.description)
            .environment(environment(spec))
            .tracing_config(tracing(spec))
            .ephemeral_storage(ephemeral_storage(spec))
            .set_layers(Some(spec.layers.clone()))
            .logging_config(logging(spec))
            .vpc_config(vpc(spec))
            .send()
            .await;
        match result {
            Ok(out) if answered_ready(out.state.as_ref(), out.last_update_status.as_ref()) => {
                return Ok(())
            }
            Ok(_) => return wait_ready(aws, name).await,
            Err(e)
                if (is_role_propagation(&e)
                    || e.as_service_error()
                        .is_some_and(|s| s.is_resource_conflict_exception()))
                    && Instant::now() < deadline =>
            {
                super::wait::pause(delay).await;
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            Err(e) => {
                return Err(aws_error(
                    &format!("updating Lambda function configuration ({name})"),
                    "lambda:UpdateFunctionConfiguration",
                    e,
                ))
            }
        }
    }
}

/// New code (and architecture, which travels with the code).
pub async fn update_code(
    aws: &Aws,
    name: &str,
    spec: &FunctionSpec,
    bucket: &str,
) -> anyhow::Result<()> {
    wait_writable(aws, name).await?;
    let out = super::retry_on_conflict(|| {
        aws.lambda
            .update_function_code()
            .function_name(name)
            .s3_bucket(bucket)
            .s3_key(&spec.code.s3_key)
            .architectures(arch(spec.architecture))
            .publish(false)
            .send()
    })
    .await
    .map_err(|e| {
        aws_error(
            &format!("updating Lambda function code ({name})"),
            "lambda:UpdateFunctionCode",
            e,
        )
    })?;
    if answered_ready(out.state.as_ref(), out.last_update_status.as_ref()) {
        return Ok(());
    }
    wait_ready(aws, name).await
}

pub async fn set_reserved_concurrency(
    aws: &Aws,
    name: &str,
    reserved: Option<u32>,
) -> anyhow::Result<()> {
    match reserved {
        Some(n) => aws
            .lambda
            .put_function_concurrency()
            .function_name(name)
            .reserved_concurrent_executions(n as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                aws_error(
                    &format!("reserving concurrency of Lambda function ({name})"),
                    "lambda:PutFunctionConcurrency",
                    e,
                )
            }),
        None => aws
            .lambda
            .delete_function_concurrency()
            .function_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                aws_error(
                    &format!("releasing reserved concurrency of Lambda function ({name})"),
                    "lambda:DeleteFunctionConcurrency",
                    e,
                )
            }),
    }
}

/// Sets the function's tags, and removes `remove`: tags sls-rs set before that
/// the manifest dropped (never tags that other tools put there).
pub async fn set_tags(
    aws: &Aws,
    arn: &str,
    desired: &BTreeMap<String, String>,
    remove: &[String],
) -> anyhow::Result<()> {
    let stale = remove.to_vec();
    if !stale.is_empty() {
        aws.lambda
            .untag_resource()
            .resource(arn)
            .set_tag_keys(Some(stale))
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    &format!("untagging Lambda function ({arn})"),
                    "lambda:UntagResource",
                    e,
                )
            })?;
    }
    aws.lambda
        .tag_resource()
        .resource(arn)
        .set_tags(Some(desired.clone().into_iter().collect()))
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("tagging Lambda function ({arn})"),
                "lambda:TagResource",
                e,
            )
        })?;
    Ok(())
}

/// Publishes the current code and configuration as a new version, and waits until
/// that version is Active: an alias moved to a Pending version fails its invocations.
///
/// Lambda answers a PublishVersion with nothing changed since the newest version with
/// that version; so after a lost answer the newest version is taken when it is `$LATEST`
/// as it is now, rather than asking again (an emulator would publish a second one).
pub async fn publish_version(aws: &Aws, name: &str) -> anyhow::Result<String> {
    wait_ready(aws, name).await?;
    let out = create_once(
        || async {
            let out = super::retry_on_conflict(|| {
                aws.lambda
                    .publish_version()
                    .function_name(name)
                    .customize()
                    .config_override(no_retries!(aws_sdk_lambda))
                    .send()
            })
            .await?;
            let settled = answered_ready(out.state.as_ref(), out.last_update_status.as_ref());
            Ok(out.version.map(|v| (v, settled)))
        },
        || async { Ok(newest_if_latest(aws, name).await?.map(|v| Some((v, false)))) },
    )
    .await?
    .map_err(|e| {
        aws_error(
            &format!("publishing a version of Lambda function ({name})"),
            "lambda:PublishVersion",
            e,
        )
    })?;
    let (version, settled) =
        out.ok_or_else(|| anyhow::anyhow!("lambda:PublishVersion returned no version for {name}"))?;
    if !settled {
        wait_ready_at(aws, name, Some(&version)).await?;
    }
    Ok(version)
}

/// The newest published version when its code and configuration are `$LATEST`'s.
async fn newest_if_latest(aws: &Aws, name: &str) -> anyhow::Result<Option<String>> {
    let mut versions = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .lambda
            .list_versions_by_function()
            .function_name(name)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    &format!("Lambda function ({name})"),
                    "lambda:ListVersionsByFunction",
                    e,
                )
            })?;
        marker = page.next_marker().map(str::to_string);
        versions.extend(page.versions.unwrap_or_default());
        if marker.is_none() {
            break;
        }
    }
    // What a version is made of, leaving out what differs between any two (ARN, dates, ids).
    let content = |c: &aws_sdk_lambda::types::FunctionConfiguration| {
        format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            c.code_sha256(),
            c.memory_size(),
            c.timeout(),
            c.role(),
            c.description(),
            c.environment()
                .and_then(|e| e.variables())
                .map(|v| v.iter().collect::<BTreeMap<_, _>>()),
            c.tracing_config().and_then(|t| t.mode()),
            c.architectures(),
            c.handler(),
            c.ephemeral_storage().map(|e| e.size()),
            c.layers()
                .iter()
                .filter_map(|l| l.arn())
                .collect::<Vec<_>>(),
            c.vpc_config()
                .map(|v| (v.subnet_ids(), v.security_group_ids())),
            c.logging_config().map(|l| (
                l.log_format(),
                l.application_log_level(),
                l.system_log_level()
            )),
        )
    };
    let latest = versions.iter().find(|v| v.version() == Some("$LATEST"));
    let newest = versions
        .iter()
        .filter_map(|v| Some((v.version()?.parse::<u64>().ok()?, v)))
        .max_by_key(|(n, _)| *n);
    Ok(match (latest, newest) {
        (Some(latest), Some((n, newest))) if content(latest) == content(newest) => {
            Some(n.to_string())
        }
        _ => None,
    })
}

/// The version an alias points at; `None` when the alias does not exist.
pub async fn read_alias(aws: &Aws, name: &str, alias: &str) -> anyhow::Result<Option<String>> {
    Ok(read_alias_routing(aws, name, alias)
        .await?
        .map(|(version, _)| version))
}

/// The environment of a published version (immutable once published); `None` when the
/// version is gone.
pub async fn read_version_environment(
    aws: &Aws,
    name: &str,
    version: &str,
) -> anyhow::Result<Option<BTreeMap<String, String>>> {
    Ok(read_version(aws, name, version).await?.map(|cfg| {
        cfg.environment
            .and_then(|e| e.variables)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }))
}

/// The role ARN a published version runs under; `None` when the version is gone.
pub async fn version_role(aws: &Aws, name: &str, version: &str) -> anyhow::Result<Option<String>> {
    Ok(read_version(aws, name, version)
        .await?
        .and_then(|cfg| cfg.role))
}

/// A qualified configuration (a version, or an alias resolved to its version); `None`
/// when it is gone. Through GetFunction, Lambda's 100/s API, rather than
/// GetFunctionConfiguration or GetAlias, which share the 15/s control plane with
/// every write of the deploy.
async fn read_version(
    aws: &Aws,
    name: &str,
    qualifier: &str,
) -> anyhow::Result<Option<aws_sdk_lambda::types::FunctionConfiguration>> {
    match aws
        .lambda
        .get_function()
        .function_name(name)
        .qualifier(qualifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.configuration),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error(
            &format!("reading {qualifier} of Lambda function ({name})"),
            "lambda:GetFunction",
            e,
        )),
    }
}

/// The version an alias points at and that version's environment, in one call;
/// `None` when the alias (or the function) does not exist.
pub async fn read_alias_target(
    aws: &Aws,
    name: &str,
    alias: &str,
) -> anyhow::Result<Option<(String, BTreeMap<String, String>)>> {
    Ok(read_version(aws, name, alias).await?.and_then(|cfg| {
        let env = cfg
            .environment
            .and_then(|e| e.variables)
            .unwrap_or_default()
            .into_iter()
            .collect();
        cfg.version.map(|v| (v, env))
    }))
}

/// Whether the alias is expected to exist: a new function has none, so creating it
/// first saves the UpdateAlias that would only answer "not found". Either guess is
/// corrected by AWS's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasExpected {
    Existing,
    New,
}

/// Points the alias at a version, creating it the first time.
pub async fn point_alias(
    aws: &Aws,
    name: &str,
    alias: &str,
    version: &str,
    expected: AliasExpected,
) -> anyhow::Result<()> {
    // Any weight a shift left on it goes: the alias serves `version` alone.
    let update = || async {
        super::retry_on_conflict(|| {
            aws.lambda
                .update_alias()
                .function_name(name)
                .name(alias)
                .function_version(version)
                .routing_config(AliasRoutingConfiguration::builder().build())
                .send()
        })
        .await
    };
    let failed = |e| {
        aws_error(
            &format!("moving alias {alias} of Lambda function ({name}) to version {version}"),
            "lambda:UpdateAlias",
            e,
        )
    };
    if expected == AliasExpected::Existing {
        match update().await {
            Ok(_) => return Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(failed(e)),
        }
    }
    let create = || {
        aws.lambda
            .create_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .send()
    };
    let create_failed = |e| {
        aws_error(
            &format!("creating alias {alias} of Lambda function ({name})"),
            "lambda:CreateAlias",
            e,
        )
    };
    match create().await {
        Ok(_) => Ok(()),
        // It exists: this run's own create whose answer was lost (the SDK's retry met
        // it), or a function expected new that a crashed deploy had aliased. The alias
        // of this service's function, so it only has to point at the version.
        Err(e) if super::has_code(&e, &["ResourceConflictException", "ConflictException"]) => {
            match read_alias_routing(aws, name, alias).await? {
                Some((at, weights)) if at == version && weights.is_empty() => Ok(()),
                Some(_) => update().await.map(|_| ()).map_err(failed),
                // No alias: the conflict was an update of the function in progress.
                None => super::retry_on_conflict(create)
                    .await
                    .map(|_| ())
                    .map_err(create_failed),
            }
        }
        Err(e) => Err(create_failed(e)),
    }
}

/// A traffic shift's step: the alias keeps `from` and sends `percent` of the
/// invocations to `to` (Lambda's weighted alias routing).
pub async fn shift_alias(
    aws: &Aws,
    name: &str,
    alias: &str,
    from: &str,
    to: &str,
    percent: u32,
) -> anyhow::Result<()> {
    let weights = AliasRoutingConfiguration::builder()
        .additional_version_weights(to, f64::from(percent) / 100.0)
        .build();
    super::retry_on_conflict(|| {
        aws.lambda
            .update_alias()
            .function_name(name)
            .name(alias)
            .function_version(from)
            .routing_config(weights.clone())
            .send()
    })
    .await
    .map(|_| ())
    .map_err(|e| {
        aws_error(
            &format!("shifting {percent}% of alias {alias} of Lambda function ({name}) from version {from} to {to}"),
            "lambda:UpdateAlias",
            e,
        )
    })
}

/// The alias's version and the weights of any other versions it routes to.
pub async fn read_alias_routing(
    aws: &Aws,
    name: &str,
    alias: &str,
) -> anyhow::Result<Option<(String, BTreeMap<String, f64>)>> {
    match aws
        .lambda
        .get_alias()
        .function_name(name)
        .name(alias)
        .send()
        .await
    {
        Ok(out) => {
            let weights = out
                .routing_config()
                .and_then(|r| r.additional_version_weights())
                .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
                .unwrap_or_default();
            Ok(out.function_version.map(|v| (v, weights)))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error(
            &format!("reading alias {alias} of Lambda function ({name})"),
            "lambda:GetAlias",
            e,
        )),
    }
}

/// What became of a provisioned concurrency request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// The endpoint (an emulator) does not implement the API.
    Unsupported,
}

/// Provisioned concurrency on the alias (`None` removes it). Does not wait: see
/// [`wait_provisioned_ready`].
pub async fn set_provisioned_concurrency(
    aws: &Aws,
    name: &str,
    alias: &str,
    instances: Option<u32>,
) -> anyhow::Result<Applied> {
    let what = format!("provisioned concurrency of Lambda function ({name}:{alias})");
    match instances {
        Some(n) => {
            let sent = super::retry_on_conflict(|| {
                aws.lambda
                    .put_provisioned_concurrency_config()
                    .function_name(name)
                    .qualifier(alias)
                    .provisioned_concurrent_executions(n as i32)
                    .send()
            })
            .await;
            match sent {
                Ok(_) => Ok(Applied::Done),
                Err(e) if emulator::lacks_api(aws, Svc::Lambda, &e) => Ok(Applied::Unsupported),
                Err(e) => Err(aws_error(
                    &what,
                    "lambda:PutProvisionedConcurrencyConfig",
                    e,
                )),
            }
        }
        None => {
            let sent = super::retry_on_conflict(|| {
                aws.lambda
                    .delete_provisioned_concurrency_config()
                    .function_name(name)
                    .qualifier(alias)
                    .send()
            })
            .await;
            match sent {
                Ok(_) => Ok(Applied::Done),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    Ok(Applied::Done)
                }
                Err(e) if emulator::lacks_api(aws, Svc::Lambda, &e) => Ok(Applied::Unsupported),
                Err(e) => Err(aws_error(
                    &what,
                    "lambda:DeleteProvisionedConcurrencyConfig",
                    e,
                )),
            }
        }
    }
}

/// Provisioned concurrency as Lambda reports it on an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provisioned {
    /// The endpoint (an emulator) does not implement the API: nothing is known.
    Unsupported,
    /// None configured (or no such alias).
    Off,
    On {
        requested: u32,
        allocated: u32,
        status: ProvisionedConcurrencyStatusEnum,
        /// Why it failed, in AWS's words.
        reason: Option<String>,
    },
}

impl Provisioned {
    /// The instances in force or on their way; a FAILED configuration provides none.
    pub fn effective(&self) -> Option<u32> {
        match self {
            Provisioned::On {
                requested, status, ..
            } if *status != ProvisionedConcurrencyStatusEnum::Failed => Some(*requested),
            _ => None,
        }
    }
}

/// Reads the provisioned concurrency configured on an alias.
pub async fn read_provisioned_concurrency(
    aws: &Aws,
    name: &str,
    alias: &str,
) -> anyhow::Result<Provisioned> {
    let sent = aws
        .lambda
        .get_provisioned_concurrency_config()
        .function_name(name)
        .qualifier(alias)
        .send()
        .await;
    match sent {
        Ok(out) => Ok(Provisioned::On {
            requested: out
                .requested_provisioned_concurrent_executions()
                .unwrap_or_default()
                .max(0) as u32,
            allocated: out
                .allocated_provisioned_concurrent_executions()
                .unwrap_or_default()
                .max(0) as u32,
            status: out
                .status()
                .cloned()
                .unwrap_or(ProvisionedConcurrencyStatusEnum::InProgress),
            reason: out.status_reason().map(str::to_string),
        }),
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_provisioned_concurrency_config_not_found_exception()
                    || s.is_resource_not_found_exception()
            }) =>
        {
            Ok(Provisioned::Off)
        }
        Err(e) if emulator::lacks_api(aws, Svc::Lambda, &e) => Ok(Provisioned::Unsupported),
        Err(e) => Err(aws_error(
            &format!("reading provisioned concurrency of Lambda function ({name}:{alias})"),
            "lambda:GetProvisionedConcurrencyConfig",
            e,
        )),
    }
}

/// How long provisioned concurrency may take to become READY: AWS can take minutes.
/// `SLS_RS_PC_TIMEOUT` (`90s`, `20m`) overrides it.
pub fn provisioned_timeout() -> Duration {
    super::duration_var("SLS_RS_PC_TIMEOUT").unwrap_or(Duration::from_secs(15 * 60))
}

/// Waits until the alias's provisioned concurrency is READY. FAILED is an error
/// naming the function and AWS's reason; none configured (or an emulator without
/// the API) has nothing to wait for.
pub async fn wait_provisioned_ready(
    aws: &Aws,
    name: &str,
    alias: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_secs(1);
    loop {
        let (requested, allocated) = match read_provisioned_concurrency(aws, name, alias).await? {
            Provisioned::Unsupported | Provisioned::Off => return Ok(()),
            Provisioned::On {
                status: ProvisionedConcurrencyStatusEnum::Ready,
                ..
            } => return Ok(()),
            Provisioned::On {
                status: ProvisionedConcurrencyStatusEnum::Failed,
                reason,
                ..
            } => bail!(
                "provisioned concurrency of Lambda function ({name}:{alias}) FAILED: {}",
                reason.as_deref().unwrap_or("AWS gave no reason")
            ),
            // IN_PROGRESS, or a status this SDK does not know yet.
            Provisioned::On {
                requested,
                allocated,
                ..
            } => (requested, allocated),
        };
        if Instant::now() >= deadline {
            bail!(
                "timed out after {}s waiting for provisioned concurrency of Lambda function ({name}:{alias}) to be READY ({allocated} of {requested} instances allocated); AWS carries on provisioning (`sls-rs info` shows its status); SLS_RS_PC_TIMEOUT (e.g. 30m) waits longer",
                timeout.as_secs()
            );
        }
        super::wait::pause(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

/// Deletes the function with all its versions and aliases; a missing one is already deleted.
pub async fn delete(aws: &Aws, name: &str) -> anyhow::Result<()> {
    match aws
        .lambda
        .delete_function()
        .function_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_error(
            &format!("deleting Lambda function ({name})"),
            "lambda:DeleteFunction",
            e,
        )),
    }
}

/// Deletes one published version. `false` when Lambda keeps it because an alias
/// still points at it (ResourceConflictException); a missing one is already gone.
pub async fn delete_version(aws: &Aws, name: &str, version: &str) -> anyhow::Result<bool> {
    match aws
        .lambda
        .delete_function()
        .function_name(name)
        .qualifier(version)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(true)
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_conflict_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(aws_error(
            &format!("deleting version {version} of Lambda function ({name})"),
            "lambda:DeleteFunction",
            e,
        )),
    }
}

/// The names of the account's functions starting with a prefix (for checks and `remove`).
pub async fn list_names(aws: &Aws, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pages = aws.lambda.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| aws_error("listing Lambda functions", "lambda:ListFunctions", e))?;
        names.extend(
            page.functions
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.function_name)
                .filter(|n| n.starts_with(prefix)),
        );
    }
    Ok(names)
}

/// GetFunctions one ListFunctions page is worth: a page (up to 50 functions) costs
/// a request of the 15/s control plane, a GetFunction one of its own 100/s.
pub const GETS_PER_LIST_PAGE: usize = 7;

/// Which of `names` exist, from ListFunctions: for a service whose functions the
/// state does not record (a first deploy, a plan of a new stage), one listing
/// answers "absent" for all of them where a read each would ask one at a time.
/// The listing covers the whole account, so it stops, answering `None` (read each
/// instead), once its pages would cost more than the reads they replace, and when
/// the credentials may not list.
pub async fn existing(
    aws: &Aws,
    names: &std::collections::BTreeSet<String>,
) -> anyhow::Result<Option<std::collections::BTreeSet<String>>> {
    if names.len() <= GETS_PER_LIST_PAGE {
        return Ok(None);
    }
    let mut found = std::collections::BTreeSet::new();
    let (mut marker, mut pages): (Option<String>, usize) = (None, 0);
    loop {
        pages += 1;
        let out = match aws
            .lambda
            .list_functions()
            .max_items(50)
            .set_marker(marker.take())
            .send()
            .await
        {
            Ok(out) => out,
            // ListFunctions takes no resource ARN: a deployer policy scoped to the
            // service's functions may not allow it. Each is read by name instead.
            Err(e)
                if super::has_code(&e, &["AccessDenied", "AccessDeniedException"])
                    || emulator::lacks_api(aws, Svc::Lambda, &e) =>
            {
                return Ok(None)
            }
            Err(e) => {
                return Err(aws_error(
                    "listing Lambda functions",
                    "lambda:ListFunctions",
                    e,
                ))
            }
        };
        found.extend(
            out.functions
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.function_name)
                .filter(|n| names.contains(n)),
        );
        marker = out.next_marker.filter(|m| !m.is_empty());
        if marker.is_none() {
            return Ok(Some(found));
        }
        if pages * GETS_PER_LIST_PAGE >= names.len() {
            return Ok(None);
        }
    }
}

/// What an invocation returned.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub status: i32,
    /// `Unhandled` or `Handled` when the function failed.
    pub function_error: Option<String>,
    pub payload: Vec<u8>,
    /// The last 4 KB of the invocation's log, decoded (when asked for).
    pub log_tail: Option<String>,
    pub executed_version: Option<String>,
}

/// Invokes a function synchronously.
pub async fn invoke(
    aws: &Aws,
    name: &str,
    qualifier: &str,
    payload: Vec<u8>,
    with_log: bool,
    client_context: Option<&str>,
) -> anyhow::Result<Invocation> {
    let mut call = aws
        .lambda
        .invoke()
        .function_name(name)
        .qualifier(qualifier)
        .payload(aws_smithy_types::Blob::new(payload));
    if with_log {
        call = call.log_type(aws_sdk_lambda::types::LogType::Tail);
    }
    if let Some(cc) = client_context {
        // Lambda takes the client context base64-encoded.
        call = call.client_context(base64::engine::general_purpose::STANDARD.encode(cc));
    }
    let out = call.send().await.map_err(|e| {
        aws_error(
            &format!("invoking Lambda function ({name}:{qualifier})"),
            "lambda:Invoke",
            e,
        )
    })?;
    let log_tail = out.log_result.as_deref().map(|b64| {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(|raw| String::from_utf8_lossy(&raw).into_owned())
            .unwrap_or_else(|_| b64.to_string())
    });
    Ok(Invocation {
        status: out.status_code,
        function_error: out.function_error,
        payload: out.payload.map(|b| b.into_inner()).unwrap_or_default(),
        log_tail,
        executed_version: out.executed_version,
    })
}

/// How long a function may take to become ready after a change.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Waits until Lambda reports the function ready for the next change; after this
/// run's own write, a failed update is an error with AWS's reason.
pub async fn wait_ready(aws: &Aws, name: &str) -> anyhow::Result<()> {
    wait_ready_at(aws, name, None).await
}

/// Waits, before a write that replaces the configuration or the code, only while an
/// update is in progress: a last update that failed on its own (InsufficientRolePermissions,
/// EniLimitExceeded, …) is what this write repairs, not a reason to refuse it.
async fn wait_writable(aws: &Aws, name: &str) -> anyhow::Result<()> {
    wait_until(aws, name, None, true).await
}

async fn wait_ready_at(aws: &Aws, name: &str, version: Option<&str>) -> anyhow::Result<()> {
    wait_until(aws, name, version, false).await
}

/// Waits until `$LATEST` (or a published version) is Active with its last update
/// Successful. Polls GetFunction, whose own limit (100/s) is not the 15/s the rest
/// of Lambda's control plane shares.
async fn wait_until(
    aws: &Aws,
    name: &str,
    version: Option<&str>,
    overwriting: bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut delay = Duration::from_millis(250);
    let what = match version {
        Some(v) => format!("version {v} of Lambda function ({name})"),
        None => format!("Lambda function ({name})"),
    };
    loop {
        let out = aws
            .lambda
            .get_function()
            .function_name(name)
            .set_qualifier(version.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    &format!("reading the state of {what}"),
                    "lambda:GetFunction",
                    e,
                )
            })?;
        let cfg = out
            .configuration
            .unwrap_or_else(|| aws_sdk_lambda::types::FunctionConfiguration::builder().build());
        match ready(cfg.state.as_ref(), cfg.last_update_status.as_ref()) {
            Ready::Failed => bail!("{what} failed: {}", cfg.state_reason.unwrap_or_default()),
            Ready::UpdateFailed if overwriting => return Ok(()),
            Ready::UpdateFailed => bail!(
                "updating {what} failed: {}",
                cfg.last_update_status_reason.unwrap_or_default()
            ),
            Ready::Yes => return Ok(()),
            Ready::NotYet => {}
        }
        if Instant::now() >= deadline {
            bail!("timed out after {}s waiting for {what} to become ready; look at it in the console, then deploy again", READY_TIMEOUT.as_secs());
        }
        super::wait::pause(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Whether a function accepts the next change.
#[derive(Debug, PartialEq, Eq)]
enum Ready {
    Yes,
    NotYet,
    Failed,
    UpdateFailed,
}

/// Whether a write's own answer already says the function (or the version) is ready:
/// Active with its last update Successful, said explicitly. Lambda answers a create or
/// an update Pending or InProgress, then a poll is needed; an emulator that applies
/// at once says so, and a poll would only repeat it.
fn answered_ready(state: Option<&State>, update: Option<&LastUpdateStatus>) -> bool {
    matches!(
        (state, update),
        (Some(State::Active), Some(LastUpdateStatus::Successful))
    )
}

/// The same for a create's answer, which has no update to report: Active is enough.
fn created_ready(state: Option<&State>, update: Option<&LastUpdateStatus>) -> bool {
    matches!(
        (state, update),
        (
            Some(State::Active),
            None | Some(LastUpdateStatus::Successful)
        )
    )
}

/// Every (State, LastUpdateStatus) Lambda reports, and what it means for the next change.
fn ready(state: Option<&State>, update: Option<&LastUpdateStatus>) -> Ready {
    match (state, update) {
        (Some(State::Failed), _) => Ready::Failed,
        (_, Some(LastUpdateStatus::Failed)) => Ready::UpdateFailed,
        (Some(State::Pending), _) | (_, Some(LastUpdateStatus::InProgress)) => Ready::NotYet,
        // Active, Inactive (woken by the next invoke), or an emulator that reports nothing.
        _ => Ready::Yes,
    }
}

#[cfg(test)]
mod tests {
    //! Provisioned concurrency and the alias, against mocked responses: no emulator serves them all.
    use super::*;
    use aws_sdk_lambda::operation::create_alias::CreateAliasOutput;
    use aws_sdk_lambda::operation::put_provisioned_concurrency_config::PutProvisionedConcurrencyConfigOutput;
    use aws_sdk_lambda::operation::update_alias::UpdateAliasError;
    use aws_sdk_lambda::types::error::ResourceNotFoundException;
    use aws_sdk_lambda::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn html_404() -> Response {
        Response::new(
            StatusCode::try_from(404).unwrap(),
            SdkBody::from("<!doctype html><title>404 Not Found</title>"),
        )
    }

    #[tokio::test]
    async fn provisioned_concurrency_is_set_on_the_alias() {
        let put = mock!(Client::put_provisioned_concurrency_config)
            .match_requests(|r| {
                r.function_name() == Some("shop-dev-f")
                    && r.qualifier() == Some("live")
                    && r.provisioned_concurrent_executions() == Some(2)
            })
            .then_output(|| PutProvisionedConcurrencyConfigOutput::builder().build());
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&put]), None);
        assert_eq!(
            set_provisioned_concurrency(&aws, "shop-dev-f", "live", Some(2))
                .await
                .unwrap(),
            Applied::Done
        );
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_emulator_without_the_api_is_a_warning_but_aws_saying_404_is_an_error() {
        let put = mock!(Client::put_provisioned_concurrency_config).then_http_response(html_404);
        let emulator = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, [&put]),
            Some("http://127.0.0.1:5000"),
        );
        assert_eq!(
            set_provisioned_concurrency(&emulator, "f", "live", Some(1))
                .await
                .unwrap(),
            Applied::Unsupported
        );

        let put = mock!(Client::put_provisioned_concurrency_config).then_http_response(html_404);
        let real = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&put]), None);
        let err = set_provisioned_concurrency(&real, "f", "live", Some(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("provisioned concurrency of Lambda function (f:live) (lambda:PutProvisionedConcurrencyConfig): "), "{err}");
    }

    /// An emulator (or a proxy in front of one) that implements the API: its own
    /// not-found is an error like AWS's, never "unsupported".
    #[tokio::test]
    async fn an_emulators_typed_404_is_an_error_not_a_missing_api() {
        let typed_404 = || {
            Response::new(
                StatusCode::try_from(404).unwrap(),
                SdkBody::from(
                    r#"{"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:f:live"}"#,
                ),
            )
        };
        let put = mock!(Client::put_provisioned_concurrency_config).then_http_response(move || {
            let mut r = typed_404();
            r.headers_mut()
                .insert("x-amzn-errortype", "ResourceNotFoundException");
            r
        });
        let emulator = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, [&put]),
            Some("http://127.0.0.1:5000"),
        );
        let err = set_provisioned_concurrency(&emulator, "f", "live", Some(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("Function not found"), "{err}");
    }

    fn pc(status: ProvisionedConcurrencyStatusEnum, allocated: i32, reason: Option<&str>) -> aws_sdk_lambda::operation::get_provisioned_concurrency_config::GetProvisionedConcurrencyConfigOutput{
        aws_sdk_lambda::operation::get_provisioned_concurrency_config::GetProvisionedConcurrencyConfigOutput::builder()
            .requested_provisioned_concurrent_executions(2)
            .allocated_provisioned_concurrent_executions(allocated)
            .status(status)
            .set_status_reason(reason.map(str::to_string))
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn deploy_waits_for_provisioned_concurrency_to_be_ready() {
        let get = mock!(Client::get_provisioned_concurrency_config)
            .match_requests(|r| r.function_name() == Some("f") && r.qualifier() == Some("live"))
            .sequence()
            .output(|| pc(ProvisionedConcurrencyStatusEnum::InProgress, 0, None))
            .times(3)
            .output(|| pc(ProvisionedConcurrencyStatusEnum::Ready, 2, None))
            .build();
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&get]), None);
        let start = Instant::now();
        wait_provisioned_ready(&aws, "f", "live", Duration::from_secs(600))
            .await
            .unwrap();
        assert_eq!(get.num_calls(), 4, "polled until READY");
        // Backing off: 1 + 2 + 4 s.
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn failed_provisioned_concurrency_names_the_function_and_aws_reason() {
        let get = mock!(Client::get_provisioned_concurrency_config)
            .sequence()
            .output(|| pc(ProvisionedConcurrencyStatusEnum::InProgress, 0, None))
            .output(|| {
                pc(
                    ProvisionedConcurrencyStatusEnum::Failed,
                    0,
                    Some("FUNCTION_ERROR_INIT_FAILURE: the init phase timed out"),
                )
            })
            .build();
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&get]), None);
        let err = wait_provisioned_ready(&aws, "shop-dev-f", "live", Duration::from_secs(600))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "provisioned concurrency of Lambda function (shop-dev-f:live) FAILED: FUNCTION_ERROR_INIT_FAILURE: the init phase timed out"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn provisioned_concurrency_never_ready_times_out_saying_what_to_do() {
        let get = mock!(Client::get_provisioned_concurrency_config)
            .sequence()
            .output(|| pc(ProvisionedConcurrencyStatusEnum::InProgress, 1, None))
            .repeatedly()
            .build();
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&get]), None);
        let start = Instant::now();
        let err = wait_provisioned_ready(&aws, "f", "live", Duration::from_secs(60))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            start.elapsed() >= Duration::from_secs(60) && start.elapsed() < Duration::from_secs(61)
        );
        assert!(
            err.contains("timed out after 60s")
                && err.contains("(1 of 2 instances allocated)")
                && err.contains("SLS_RS_PC_TIMEOUT"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn provisioned_concurrency_is_read_back_and_an_emulator_without_the_api_says_unsupported()
    {
        let get = mock!(Client::get_provisioned_concurrency_config)
            .then_output(|| pc(ProvisionedConcurrencyStatusEnum::Failed, 0, Some("no")));
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&get]), None);
        let read = read_provisioned_concurrency(&aws, "f", "live")
            .await
            .unwrap();
        assert!(
            matches!(read, Provisioned::On { requested: 2, .. }),
            "{read:?}"
        );
        assert_eq!(
            read.effective(),
            None,
            "a FAILED configuration provides nothing"
        );

        let none = mock!(Client::get_provisioned_concurrency_config).then_error(|| {
            aws_sdk_lambda::operation::get_provisioned_concurrency_config::GetProvisionedConcurrencyConfigError::ProvisionedConcurrencyConfigNotFoundException(
                aws_sdk_lambda::types::error::ProvisionedConcurrencyConfigNotFoundException::builder().build(),
            )
        });
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&none]), None);
        assert_eq!(
            read_provisioned_concurrency(&aws, "f", "live")
                .await
                .unwrap(),
            Provisioned::Off
        );

        let get = mock!(Client::get_provisioned_concurrency_config)
            .sequence()
            .http_response(html_404)
            .times(2)
            .build();
        let emulator = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, [&get]),
            Some("http://127.0.0.1:5000"),
        );
        assert_eq!(
            read_provisioned_concurrency(&emulator, "f", "live")
                .await
                .unwrap(),
            Provisioned::Unsupported
        );
        wait_provisioned_ready(&emulator, "f", "live", Duration::from_secs(1))
            .await
            .unwrap();
        let get = mock!(Client::get_provisioned_concurrency_config).then_http_response(html_404);
        let real = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&get]), None);
        assert!(read_provisioned_concurrency(&real, "f", "live")
            .await
            .is_err());
    }

    #[tokio::test]
    async fn removing_absent_provisioned_concurrency_is_done() {
        let delete = mock!(Client::delete_provisioned_concurrency_config).then_error(|| {
            aws_sdk_lambda::operation::delete_provisioned_concurrency_config::DeleteProvisionedConcurrencyConfigError::ResourceNotFoundException(
                ResourceNotFoundException::builder().build(),
            )
        });
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&delete]), None);
        assert_eq!(
            set_provisioned_concurrency(&aws, "f", "live", None)
                .await
                .unwrap(),
            Applied::Done
        );
    }

    fn function(
        state: State,
        update: LastUpdateStatus,
    ) -> impl Fn() -> aws_sdk_lambda::operation::get_function::GetFunctionOutput {
        move || {
            aws_sdk_lambda::operation::get_function::GetFunctionOutput::builder()
                .configuration(
                    aws_sdk_lambda::types::FunctionConfiguration::builder()
                        .state(state.clone())
                        .last_update_status(update.clone())
                        .build(),
                )
                .build()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_write_reaches_a_function_before_it_is_active_and_its_last_update_successful() {
        use aws_sdk_lambda::operation::create_function::CreateFunctionOutput;
        use aws_sdk_lambda::operation::publish_version::PublishVersionOutput;
        use aws_sdk_lambda::operation::update_function_code::UpdateFunctionCodeOutput;
        use LastUpdateStatus::{InProgress, Successful};
        use State::{Active, Pending};
        // Sequential: each write is answered only after the reads before it said ready.
        let create = mock!(Client::create_function).then_output(|| {
            CreateFunctionOutput::builder()
                .function_arn("arn:f")
                .build()
        });
        let created = mock!(Client::get_function)
            .sequence()
            .output(function(Pending, InProgress))
            .times(2)
            .output(function(Active, Successful))
            .build();
        let before_code = mock!(Client::get_function).then_output(function(Active, Successful));
        let code = mock!(Client::update_function_code)
            .then_output(|| UpdateFunctionCodeOutput::builder().build());
        let updating = mock!(Client::get_function)
            .sequence()
            .output(function(Active, InProgress))
            .times(2)
            .output(function(Active, Successful))
            .build();
        let before_publish = mock!(Client::get_function).then_output(function(Active, Successful));
        let publish = mock!(Client::publish_version)
            .then_output(|| PublishVersionOutput::builder().version("1").build());
        let version = mock!(Client::get_function)
            .match_requests(|r| r.qualifier() == Some("1"))
            .sequence()
            .output(function(Pending, InProgress))
            .output(function(Active, Successful))
            .build();
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [
                    &create,
                    &created,
                    &before_code,
                    &code,
                    &updating,
                    &before_publish,
                    &publish,
                    &version
                ]
            ),
            None,
        );
        let spec = crate::model::tests::function_spec();
        super::create(&aws, "f", &spec, "bucket", false)
            .await
            .unwrap();
        update_code(&aws, "f", &spec, "bucket").await.unwrap();
        assert_eq!(publish_version(&aws, "f").await.unwrap(), "1");
        assert_eq!(
            (
                created.num_calls(),
                updating.num_calls(),
                version.num_calls()
            ),
            (3, 3, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_function_whose_last_update_failed_is_repaired_by_the_next_deploy() {
        use aws_sdk_lambda::operation::update_function_code::UpdateFunctionCodeOutput;
        use aws_sdk_lambda::operation::update_function_configuration::UpdateFunctionConfigurationOutput;
        // An update of an earlier deploy failed after Lambda accepted it.
        let failed = || {
            aws_sdk_lambda::operation::get_function::GetFunctionOutput::builder()
                .configuration(
                    aws_sdk_lambda::types::FunctionConfiguration::builder()
                        .state(State::Active)
                        .last_update_status(LastUpdateStatus::Failed)
                        .last_update_status_reason("The function's execution role does not have permissions to call CreateNetworkInterface on EC2")
                        .last_update_status_reason_code(
                            aws_sdk_lambda::types::LastUpdateStatusReasonCode::InsufficientRolePermissions,
                        )
                        .build(),
                )
                .build()
        };
        let before = mock!(Client::get_function).then_output(failed);
        let update = mock!(Client::update_function_configuration)
            .then_output(|| UpdateFunctionConfigurationOutput::builder().build());
        let repaired = mock!(Client::get_function)
            .sequence()
            .output(function(State::Active, LastUpdateStatus::InProgress))
            .output(function(State::Active, LastUpdateStatus::Successful))
            .build();
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&before, &update, &repaired]
            ),
            None,
        );
        let spec = crate::model::tests::function_spec();
        update_configuration(&aws, "f", &spec).await.unwrap();
        assert_eq!(update.num_calls(), 1, "the update is sent");
        assert_eq!(repaired.num_calls(), 2, "and waited for");

        // The code, likewise; but this run's own write failing is an error with AWS's reason.
        let before = mock!(Client::get_function).then_output(failed);
        let code = mock!(Client::update_function_code)
            .then_output(|| UpdateFunctionCodeOutput::builder().build());
        let after = mock!(Client::get_function).then_output(failed);
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&before, &code, &after]
            ),
            None,
        );
        let err = update_code(&aws, "f", &spec, "bucket")
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(code.num_calls(), 1, "the code is sent");
        assert_eq!(
            err,
            "updating Lambda function (f) failed: The function's execution role does not have permissions to call CreateNetworkInterface on EC2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_refused_because_an_update_is_in_progress_is_retried() {
        use aws_sdk_lambda::operation::update_function_code::{
            UpdateFunctionCodeError, UpdateFunctionCodeOutput,
        };
        let get = mock!(Client::get_function)
            .sequence()
            .output(function(State::Active, LastUpdateStatus::Successful))
            .repeatedly()
            .build();
        let code = mock!(Client::update_function_code)
            .sequence()
            .error(|| {
                UpdateFunctionCodeError::ResourceConflictException(
                    aws_sdk_lambda::types::error::ResourceConflictException::builder()
                        .meta(
                            aws_smithy_types::error::ErrorMetadata::builder()
                                .code("ResourceConflictException")
                                .message("The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:f")
                                .build(),
                        )
                        .build(),
                )
            })
            .output(|| UpdateFunctionCodeOutput::builder().build())
            .build();
        let aws = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&get, &code]),
            None,
        );
        let spec = crate::model::tests::function_spec();
        update_code(&aws, "f", &spec, "bucket").await.unwrap();
        assert_eq!(code.num_calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn tracing_turned_on_waits_out_the_role_policy_reaching_lambda() {
        use aws_sdk_lambda::operation::update_function_configuration::{
            UpdateFunctionConfigurationError, UpdateFunctionConfigurationOutput,
        };
        let get = mock!(Client::get_function)
            .sequence()
            .output(function(State::Active, LastUpdateStatus::Successful))
            .repeatedly()
            .build();
        // What Lambda says while the role's new xray:PutTraceSegments has not reached it.
        let update = mock!(Client::update_function_configuration)
            .match_requests(|r| {
                r.tracing_config().and_then(|t| t.mode()) == Some(&TracingMode::Active)
            })
            .sequence()
            .error(|| {
                UpdateFunctionConfigurationError::InvalidParameterValueException(
                    aws_sdk_lambda::types::error::InvalidParameterValueException::builder()
                        .meta(
                            aws_smithy_types::error::ErrorMetadata::builder()
                                .code("InvalidParameterValueException")
                                .message("The provided execution role does not have permissions to call PutTraceSegments on XRAY")
                                .build(),
                        )
                        .build(),
                )
            })
            .times(3)
            .output(|| UpdateFunctionConfigurationOutput::builder().build())
            .build();
        let aws = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&get, &update]),
            None,
        );
        let mut spec = crate::model::tests::function_spec();
        spec.tracing = true;
        update_configuration(&aws, "f", &spec).await.unwrap();
        assert_eq!(
            update.num_calls(),
            4,
            "the configuration update is retried, not the deploy failed"
        );
    }

    /// moto keeps `/tmp`'s size from CreateFunction but ignores it in an update:
    /// that the update carries it, with the layers in order, is checked here.
    #[tokio::test(start_paused = true)]
    async fn a_configuration_update_carries_the_tmp_size_and_the_layers_in_order() {
        use aws_sdk_lambda::operation::update_function_configuration::UpdateFunctionConfigurationOutput;
        let get = mock!(Client::get_function)
            .sequence()
            .output(function(State::Active, LastUpdateStatus::Successful))
            .repeatedly()
            .build();
        let layers = vec![
            "arn:aws:lambda:us-east-1:123456789012:layer:otel:3".to_string(),
            "arn:aws:lambda:us-east-1:123456789012:layer:certs:1".to_string(),
        ];
        let expected = layers.clone();
        let update = mock!(Client::update_function_configuration)
            .match_requests(move |r| {
                r.ephemeral_storage().map(|e| e.size()) == Some(4096)
                    && r.layers() == expected.as_slice()
            })
            .then_output(|| UpdateFunctionConfigurationOutput::builder().build());
        let aws = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&get, &update]),
            None,
        );
        let mut spec = crate::model::tests::function_spec();
        spec.ephemeral_storage = 4096;
        spec.layers = layers;
        update_configuration(&aws, "f", &spec).await.unwrap();
        assert_eq!(update.num_calls(), 1);
    }

    /// moto keeps no logging controls and has no recursion API: what is sent and
    /// read is checked against mocked answers.
    #[tokio::test(start_paused = true)]
    async fn logging_controls_are_sent_and_read_back_as_lambda_names_them() {
        use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
        use aws_sdk_lambda::operation::update_function_configuration::UpdateFunctionConfigurationOutput;
        use aws_sdk_lambda::types::FunctionConfiguration;
        let get = mock!(Client::get_function)
            .sequence()
            .output(function(State::Active, LastUpdateStatus::Successful))
            .repeatedly()
            .build();
        let update = mock!(Client::update_function_configuration)
            .match_requests(|r| {
                r.logging_config().is_some_and(|l| {
                    l.log_format() == Some(&LogFormat::Json)
                        && l.application_log_level() == Some(&ApplicationLogLevel::Warn)
                        && l.system_log_level() == Some(&SystemLogLevel::Info)
                })
            })
            .then_output(|| UpdateFunctionConfigurationOutput::builder().build());
        let aws = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&get, &update]),
            None,
        );
        let mut spec = crate::model::tests::function_spec();
        spec.logging = crate::model::LoggingSpec {
            format: "JSON",
            application_level: Some("WARN"),
            system_level: Some("INFO"),
        };
        update_configuration(&aws, "f", &spec).await.unwrap();
        assert_eq!(update.num_calls(), 1);

        // Read back: Lambda's answer as props equal to the spec's; none (moto) is unreported.
        let answer = |logging: Option<LoggingConfig>| {
            let configuration = FunctionConfiguration::builder()
                .function_arn("arn:aws:lambda:us-east-1:123456789012:function:f")
                .set_logging_config(logging)
                .build();
            mock!(Client::get_function).then_output(move || {
                GetFunctionOutput::builder()
                    .configuration(configuration.clone())
                    .build()
            })
        };
        let json = answer(Some(logging(&spec)));
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&json]), None);
        let live = read(&aws, "f").await.unwrap().unwrap().props;
        let wanted = spec.props();
        for key in ["logFormat", "applicationLogLevel", "systemLogLevel"] {
            assert_eq!(live[key], wanted[key], "{key}");
        }
        // AWS's own shapes: Text with its log group and no level, JSON with the levels
        // left out (Lambda's INFO), and Text still carrying levels (ignored by Lambda).
        let text = answer(Some(
            LoggingConfig::builder()
                .log_format(LogFormat::Text)
                .log_group("/aws/lambda/f")
                .build(),
        ));
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&text]), None);
        let live = read(&aws, "f").await.unwrap().unwrap().props;
        let text_spec = crate::model::tests::function_spec().props();
        for key in ["logFormat", "applicationLogLevel", "systemLogLevel"] {
            assert_eq!(live[key], text_spec[key], "{key}");
        }
        let json = answer(Some(
            LoggingConfig::builder()
                .log_format(LogFormat::Json)
                .log_group("/aws/lambda/f")
                .build(),
        ));
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&json]), None);
        let live = read(&aws, "f").await.unwrap().unwrap().props;
        assert_eq!(
            (
                live["applicationLogLevel"].as_str(),
                live["systemLogLevel"].as_str()
            ),
            ("INFO", "INFO")
        );
        let stale = answer(Some(
            LoggingConfig::builder()
                .log_format(LogFormat::Text)
                .application_log_level(ApplicationLogLevel::Debug)
                .build(),
        ));
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&stale]), None);
        let live = read(&aws, "f").await.unwrap().unwrap().props;
        assert_eq!(live["applicationLogLevel"], "none");
        let none = answer(None);
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&none]), None);
        let live = read(&aws, "f").await.unwrap().unwrap().props;
        assert_eq!(live["logFormat"], crate::model::UNREPORTED);
    }

    #[tokio::test(start_paused = true)]
    async fn the_recursive_loop_setting_is_put_and_read() {
        use aws_sdk_lambda::operation::get_function_recursion_config::GetFunctionRecursionConfigOutput;
        use aws_sdk_lambda::operation::put_function_recursion_config::PutFunctionRecursionConfigOutput;
        use aws_sdk_lambda::types::RecursiveLoop;
        let put = mock!(Client::put_function_recursion_config)
            .match_requests(|r| r.recursive_loop() == Some(&RecursiveLoop::Allow))
            .then_output(|| PutFunctionRecursionConfigOutput::builder().build());
        let get = mock!(Client::get_function_recursion_config).then_output(|| {
            GetFunctionRecursionConfigOutput::builder()
                .recursive_loop(RecursiveLoop::Allow)
                .build()
        });
        let aws = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&put, &get]),
            None,
        );
        assert!(set_recursion(&aws, "f", "Allow").await.unwrap());
        assert_eq!(put.num_calls(), 1);
        assert_eq!(
            read_recursion(&aws, "f").await.unwrap().as_deref(),
            Some("Allow")
        );
    }

    #[test]
    fn every_state_and_last_update_status_is_read() {
        use LastUpdateStatus as U;
        assert_eq!(ready(Some(&State::Pending), None), Ready::NotYet);
        assert_eq!(
            ready(Some(&State::Active), Some(&U::InProgress)),
            Ready::NotYet
        );
        assert_eq!(
            ready(Some(&State::Active), Some(&U::Successful)),
            Ready::Yes
        );
        assert_eq!(
            ready(Some(&State::Inactive), Some(&U::Successful)),
            Ready::Yes
        );
        assert_eq!(ready(Some(&State::Failed), None), Ready::Failed);
        assert_eq!(
            ready(Some(&State::Active), Some(&U::Failed)),
            Ready::UpdateFailed
        );
        assert_eq!(
            ready(None, None),
            Ready::Yes,
            "an emulator that reports nothing"
        );
    }

    #[tokio::test]
    async fn the_alias_is_created_the_first_time_and_moved_afterwards() {
        let update_missing = mock!(Client::update_alias).then_error(|| {
            UpdateAliasError::ResourceNotFoundException(
                ResourceNotFoundException::builder().build(),
            )
        });
        let create = mock!(Client::create_alias)
            .match_requests(|r| r.name() == Some("live") && r.function_version() == Some("1"))
            .then_output(|| CreateAliasOutput::builder().function_version("1").build());
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&update_missing, &create]
            ),
            None,
        );
        point_alias(&aws, "f", "live", "1", AliasExpected::Existing)
            .await
            .unwrap();
        assert_eq!((update_missing.num_calls(), create.num_calls()), (1, 1));

        let update = mock!(Client::update_alias)
            .match_requests(|r| r.function_version() == Some("2"))
            .then_output(|| {
                aws_sdk_lambda::operation::update_alias::UpdateAliasOutput::builder()
                    .function_version("2")
                    .build()
            });
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&update]), None);
        point_alias(&aws, "f", "live", "2", AliasExpected::Existing)
            .await
            .unwrap();
        assert_eq!(update.num_calls(), 1);
    }

    /// A new function's alias is created at once; a conflict that is an update of the
    /// function in progress (no alias to be found) is waited out and the create sent again.
    #[tokio::test]
    async fn a_new_functions_alias_is_created_first_and_a_busy_function_waited_for() {
        use aws_sdk_lambda::operation::create_alias::CreateAliasError;
        use aws_sdk_lambda::types::error::ResourceConflictException;
        let busy = || {
            CreateAliasError::ResourceConflictException(
                ResourceConflictException::builder()
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("ResourceConflictException")
                            .message("The operation cannot be performed at this time. An update is in progress for resource: f")
                            .build(),
                    )
                    .build(),
            )
        };
        let first = mock!(Client::create_alias).then_error(busy);
        let no_alias = mock!(Client::get_alias).then_error(|| {
            aws_sdk_lambda::operation::get_alias::GetAliasError::ResourceNotFoundException(
                ResourceNotFoundException::builder().build(),
            )
        });
        let still_busy = mock!(Client::create_alias).then_error(busy);
        let created = mock!(Client::create_alias)
            .match_requests(|r| r.name() == Some("live") && r.function_version() == Some("1"))
            .then_output(|| CreateAliasOutput::builder().function_version("1").build());
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&first, &no_alias, &still_busy, &created]
            ),
            None,
        );
        point_alias(&aws, "f", "live", "1", AliasExpected::New)
            .await
            .unwrap();
        assert_eq!(
            (
                first.num_calls(),
                no_alias.num_calls(),
                still_busy.num_calls(),
                created.num_calls()
            ),
            (1, 1, 1, 1),
            "no UpdateAlias before the create"
        );
    }

    #[tokio::test]
    async fn an_alias_whose_creation_answer_was_lost_is_found_in_place() {
        // CreateAlias was carried out, its answer lost; the SDK's retry met the alias.
        let update_missing = mock!(Client::update_alias).then_error(|| {
            UpdateAliasError::ResourceNotFoundException(
                ResourceNotFoundException::builder().build(),
            )
        });
        let conflict = mock!(Client::create_alias).then_error(|| {
            aws_sdk_lambda::operation::create_alias::CreateAliasError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("ResourceConflictException")
                    .message("Alias already exists: arn:aws:lambda:us-east-1:123456789012:function:f:live")
                    .build(),
            )
        });
        let get = mock!(Client::get_alias).then_output(|| {
            aws_sdk_lambda::operation::get_alias::GetAliasOutput::builder()
                .function_version("1")
                .build()
        });
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&update_missing, &conflict, &get]
            ),
            None,
        );
        point_alias(&aws, "f", "live", "1", AliasExpected::Existing)
            .await
            .unwrap();
        assert_eq!(
            (
                update_missing.num_calls(),
                conflict.num_calls(),
                get.num_calls()
            ),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn an_invocation_returns_the_payload_the_function_error_and_the_decoded_log() {
        use aws_sdk_lambda::operation::invoke::InvokeOutput;
        let invoke_rule = mock!(Client::invoke)
            .match_requests(|r| {
                r.qualifier() == Some("live") && r.log_type().map(|l| l.as_str()) == Some("Tail")
            })
            .then_output(|| {
                InvokeOutput::builder()
                    .status_code(200)
                    .function_error("Unhandled")
                    .payload(aws_smithy_types::Blob::new(
                        r#"{"errorType":"Panic","errorMessage":"boom"}"#,
                    ))
                    .log_result(
                        base64::engine::general_purpose::STANDARD
                            .encode("START RequestId: 1\nboom\n"),
                    )
                    .executed_version("3")
                    .build()
            });
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&invoke_rule]), None);
        let got = invoke(&aws, "f", "live", b"{}".to_vec(), true, None)
            .await
            .unwrap();
        assert_eq!(got.function_error.as_deref(), Some("Unhandled"));
        assert_eq!(got.log_tail.as_deref(), Some("START RequestId: 1\nboom\n"));
        assert_eq!(got.executed_version.as_deref(), Some("3"));
        assert!(String::from_utf8(got.payload).unwrap().contains("boom"));
    }

    #[test]
    fn code_sha256_converts_from_lambdas_base64_to_hex() {
        assert_eq!(
            code_sha_hex("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
    /// Lambda answers a create Pending and an update InProgress: those are polled. An
    /// answer that says Active (and Successful, for an update) needs no poll; one that
    /// says nothing is polled, never taken for ready.
    #[test]
    fn only_an_answer_that_says_ready_spares_the_poll() {
        use LastUpdateStatus::{Failed, InProgress, Successful};
        assert!(!created_ready(Some(&State::Pending), None));
        assert!(created_ready(Some(&State::Active), None));
        assert!(created_ready(Some(&State::Active), Some(&Successful)));
        assert!(!created_ready(None, None));
        assert!(!created_ready(Some(&State::Failed), None));
        assert!(!answered_ready(Some(&State::Active), Some(&InProgress)));
        assert!(!answered_ready(Some(&State::Active), Some(&Failed)));
        assert!(!answered_ready(Some(&State::Active), None));
        assert!(!answered_ready(None, None));
        assert!(answered_ready(Some(&State::Active), Some(&Successful)));
    }
}
