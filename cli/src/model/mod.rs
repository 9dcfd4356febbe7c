//! The desired resource graph of a service: from the resolved manifest and the
//! package manifest, the resources deploy must make exist, with stable logical
//! ids, deterministic physical names, flat properties to diff, and dependencies.
//! Pure: no AWS call happens here (the account id is an input).

mod iam;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::build::{self, PackageManifest};
use crate::manifest::{Architecture, Service, DEFAULT_MEMORY, DEFAULT_TIMEOUT};

pub use iam::{function_policy, lambda_trust_policy, INLINE_POLICY_NAME};

/// The alias every trigger and provisioned concurrency targets; cutover moves it.
pub const LIVE_ALIAS: &str = "live";

/// Tags that mark a resource as sls-rs's, so a crashed deploy can adopt it safely.
pub const TAG_SERVICE: &str = "sls-rs:service";
pub const TAG_STAGE: &str = "sls-rs:stage";

/// Whether two resources' tags name the same service and stage: how sls-rs
/// tells a resource of its own (left by a deploy that died before recording it)
/// from someone else's of the same name.
pub fn same_owner<'a, 'b>(
    a: impl Fn(&str) -> Option<&'a String>,
    b: impl Fn(&str) -> Option<&'b String>,
) -> bool {
    [TAG_SERVICE, TAG_STAGE]
        .iter()
        .all(|t| a(t).is_some() && a(t) == b(t))
}

/// `role/hello`, `logGroup/hello`, `function/hello`: stable across deploys, keys of the state.
pub type LogicalId = String;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Role,
    LogGroup,
    Function,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Role => "role",
            Kind::LogGroup => "logGroup",
            Kind::Function => "function",
        }
    }

    /// What users read in plans and errors.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Role => "IAM role",
            Kind::LogGroup => "log group",
            Kind::Function => "Lambda function",
        }
    }
}

pub fn logical_id(kind: Kind, name: &str) -> LogicalId {
    format!("{}/{name}", kind.as_str())
}

/// Flat, comparable properties: `memorySize` → `256`, `env.LOG_LEVEL` → a hash.
pub type Props = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub id: LogicalId,
    /// The function (manifest key) the resource belongs to.
    pub function: String,
    pub kind: Kind,
    pub physical: String,
    pub spec: Spec,
    /// Logical ids that must exist first.
    pub depends_on: Vec<LogicalId>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    Role(RoleSpec),
    LogGroup(LogGroupSpec),
    Function(Box<FunctionSpec>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RoleSpec {
    pub trust: serde_json::Value,
    pub policy: serde_json::Value,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogGroupSpec {
    pub retention_days: Option<u32>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FunctionSpec {
    pub role_name: String,
    pub role_arn: String,
    pub memory: u32,
    pub timeout: u32,
    pub architecture: Architecture,
    pub description: String,
    pub environment: BTreeMap<String, String>,
    /// The state's salt for environment fingerprints.
    pub env_salt: String,
    pub tags: BTreeMap<String, String>,
    pub tracing: bool,
    pub reserved_concurrency: Option<u32>,
    pub provisioned_concurrency: Option<u32>,
    pub log_group: String,
    pub code: Code,
}

/// A zip to deploy: local for upload, content-addressed in the deployment bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Code {
    pub sha256: String,
    pub size: u64,
    pub local_path: std::path::PathBuf,
    pub s3_key: String,
}

/// The deployment bucket key of an artifact: its content hash, so an upload
/// happens once per distinct zip, whatever the service or stage.
pub fn artifact_key(sha256: &str) -> String {
    format!("artifacts/{sha256}.zip")
}

/// Environment values are never stored or shown: a hash tells a change. It is
/// salted with a random value kept in the (private) state, so a stored hash
/// cannot be tested against a list of likely passwords.
pub fn fingerprint(salt: &str, value: &str) -> String {
    format!(
        "sha256:{}",
        &build::sha256_hex(format!("{salt}\0{value}").as_bytes())[..32]
    )
}

impl Resource {
    /// The properties compared against the state and the live configuration.
    pub fn props(&self) -> Props {
        match &self.spec {
            Spec::Role(r) => role_props(&r.trust, &r.policy, &r.tags),
            Spec::LogGroup(l) => log_group_props(l.retention_days, &l.tags),
            Spec::Function(f) => f.props(),
        }
    }
}

pub fn role_props(
    trust: &serde_json::Value,
    policy: &serde_json::Value,
    tags: &BTreeMap<String, String>,
) -> Props {
    let mut p = Props::new();
    p.insert("trustPolicy".into(), trust.to_string());
    p.insert("policy".into(), policy.to_string());
    tag_props(&mut p, tags);
    p
}

/// Log group tags are set at creation only; retention is what is kept in line.
pub fn log_group_props(retention: Option<u32>, _tags: &BTreeMap<String, String>) -> Props {
    let mut p = Props::new();
    p.insert(
        "retentionInDays".into(),
        retention.map_or_else(|| "never expire".into(), |d| d.to_string()),
    );
    p
}

fn tag_props(p: &mut Props, tags: &BTreeMap<String, String>) {
    for (k, v) in tags {
        p.insert(format!("tags.{k}"), v.clone());
    }
}

impl FunctionSpec {
    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert("memorySize".into(), self.memory.to_string());
        p.insert("timeout".into(), self.timeout.to_string());
        p.insert(
            "architecture".into(),
            build::arch_name(self.architecture).into(),
        );
        p.insert("role".into(), self.role_arn.clone());
        p.insert(
            "tracing".into(),
            if self.tracing {
                "Active"
            } else {
                "PassThrough"
            }
            .into(),
        );
        p.insert("description".into(), self.description.clone());
        p.insert(
            "reservedConcurrency".into(),
            self.reserved_concurrency
                .map_or_else(|| "none".into(), |n| n.to_string()),
        );
        p.insert("code".into(), self.code.sha256.clone());
        for (k, v) in &self.environment {
            p.insert(format!("env.{k}"), fingerprint(&self.env_salt, v));
        }
        tag_props(&mut p, &self.tags);
        p
    }
}

/// What deploy is told beyond the manifest: where it deploys.
pub struct Context<'a> {
    pub account: &'a str,
    pub region: &'a str,
    /// The S3 partition-aware prefix of ARNs, `arn:aws`.
    pub partition: &'a str,
    /// The state's salt for environment fingerprints.
    pub env_salt: &'a str,
}

/// Features that are declared but that this version does not deploy yet.
pub fn not_yet_deployed(service: &Service) -> Vec<String> {
    let m = &service.manifest;
    let mut out = Vec::new();
    for (name, f) in &m.functions {
        if !f.events.is_empty() {
            out.push(format!("functions.{name}.events"));
        }
        if !f.permissions.is_empty() {
            out.push(format!("functions.{name}.permissions"));
        }
    }
    let r = &m.resources;
    for (section, empty) in [
        ("resources.tables", r.tables.is_empty()),
        ("resources.buckets", r.buckets.is_empty()),
        ("resources.queues", r.queues.is_empty()),
        ("resources.stateMachines", r.state_machines.is_empty()),
    ] {
        if !empty {
            out.push(section.to_string());
        }
    }
    out
}

/// The desired resources of a service, in a stable order.
/// `package_root` is where the package's artifact paths start (the service directory).
pub fn desired(
    service: &Service,
    package: &PackageManifest,
    package_root: &std::path::Path,
    cx: &Context,
) -> anyhow::Result<Vec<Resource>> {
    let m = &service.manifest;
    let mut out = Vec::new();
    let base_tags = |own: &indexmap::IndexMap<String, String>| {
        let mut tags: BTreeMap<String, String> = m
            .provider
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        tags.insert(TAG_SERVICE.into(), m.service.clone());
        tags.insert(TAG_STAGE.into(), service.stage.clone());
        tags
    };
    for (key, f) in &m.functions {
        let name = service.function_name(key);
        let artifact = package.functions.get(key).ok_or_else(|| {
            anyhow::anyhow!(
                "the package has no artifact for function `{key}`; run `sls-rs package` again"
            )
        })?;
        let tracing = f.tracing.unwrap_or(m.provider.tracing.lambda);
        let log_group = format!("/aws/lambda/{name}");
        let role_id = logical_id(Kind::Role, key);
        let log_id = logical_id(Kind::LogGroup, key);
        let tags = base_tags(&f.tags);

        let policy = function_policy(service, f, &log_group, tracing, cx);
        out.push(Resource {
            id: role_id.clone(),
            function: key.clone(),
            kind: Kind::Role,
            physical: name.clone(),
            spec: Spec::Role(RoleSpec {
                trust: lambda_trust_policy(),
                policy,
                tags: tags.clone(),
            }),
            depends_on: vec![],
        });
        out.push(Resource {
            id: log_id.clone(),
            function: key.clone(),
            kind: Kind::LogGroup,
            physical: log_group.clone(),
            spec: Spec::LogGroup(LogGroupSpec {
                retention_days: f.log_retention_in_days.or(m.provider.log_retention_in_days),
                tags: tags.clone(),
            }),
            depends_on: vec![],
        });
        let environment: BTreeMap<String, String> = m
            .environment_of(&service.stage, f)
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect();
        out.push(Resource {
            id: logical_id(Kind::Function, key),
            function: key.clone(),
            kind: Kind::Function,
            physical: name.clone(),
            spec: Spec::Function(Box::new(FunctionSpec {
                role_name: name.clone(),
                role_arn: format!("{}:iam::{}:role/{name}", cx.partition, cx.account),
                memory: f
                    .memory_size
                    .or(m.provider.memory_size)
                    .unwrap_or(DEFAULT_MEMORY),
                timeout: f.timeout.or(m.provider.timeout).unwrap_or(DEFAULT_TIMEOUT),
                architecture: service.architecture(f),
                description: f.description.clone().unwrap_or_default(),
                environment,
                env_salt: cx.env_salt.to_string(),
                tags,
                tracing,
                reserved_concurrency: f.reserved_concurrency,
                provisioned_concurrency: f.provisioned_concurrency.filter(|n| *n > 0),
                log_group,
                code: Code {
                    sha256: artifact.sha256.clone(),
                    size: artifact.size,
                    local_path: package_root.join(&artifact.path),
                    s3_key: artifact_key(&artifact.sha256),
                },
            })),
            depends_on: vec![role_id, log_id],
        });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::build::Artifact;
    use crate::manifest::{load_str, LoadOptions};

    pub(crate) fn service(yaml: &str) -> Service {
        let env = |_: &str| None;
        load_str(
            std::path::Path::new("/srv/app/serverless.yaml"),
            yaml,
            &LoadOptions {
                config: None,
                stage: None,
                region: None,
                env: &env,
            },
        )
        .unwrap()
    }

    pub(crate) fn package_for(s: &Service) -> PackageManifest {
        let functions = s
            .manifest
            .functions
            .iter()
            .map(|(k, f)| {
                let artifact = Artifact {
                    handler: f.handler.clone(),
                    architecture: s.architecture(f),
                    path: format!(".sls-rs/{k}.zip").into(),
                    sha256: format!("{:0>64}", k.len()),
                    size: 10,
                    binary_sha256: String::new(),
                    binary_size: 0,
                };
                (k.clone(), artifact)
            })
            .collect();
        PackageManifest {
            service: s.manifest.service.clone(),
            functions,
        }
    }

    const CX: Context = Context {
        account: "123456789012",
        region: "us-east-1",
        partition: "arn:aws",
        env_salt: "salt",
    };

    #[test]
    fn each_function_gets_its_own_role_log_group_and_function() {
        let s = service("service: shop\nprovider:\n  name: aws\n  memorySize: 256\n  logRetentionInDays: 14\n  environment: { A: '1' }\n  tags: { team: core }\nfunctions:\n  checkout:\n    handler: checkout\n    timeout: 9\n    environment: { B: '2' }\n  refund: { handler: refund, architecture: arm64 }\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let ids: Vec<&str> = resources.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "role/checkout",
                "logGroup/checkout",
                "function/checkout",
                "role/refund",
                "logGroup/refund",
                "function/refund"
            ]
        );
        let Spec::Function(f) = &resources[2].spec else {
            panic!()
        };
        assert_eq!(resources[2].physical, "shop-dev-checkout");
        assert_eq!((f.memory, f.timeout), (256, 9));
        assert_eq!(
            f.role_arn,
            "arn:aws:iam::123456789012:role/shop-dev-checkout"
        );
        assert_eq!(f.environment.len(), 2);
        assert_eq!(f.tags["team"], "core");
        assert_eq!(f.tags[TAG_SERVICE], "shop");
        assert_eq!(f.code.s3_key, format!("artifacts/{}.zip", f.code.sha256));
        assert_eq!(
            resources[2].depends_on,
            ["role/checkout", "logGroup/checkout"]
        );
        let Spec::LogGroup(l) = &resources[1].spec else {
            panic!()
        };
        assert_eq!(l.retention_days, Some(14));
        assert_eq!(resources[1].physical, "/aws/lambda/shop-dev-checkout");
    }

    #[test]
    fn environment_values_never_appear_in_props() {
        let s = service("service: shop\nprovider: { name: aws }\nfunctions:\n  f:\n    handler: f\n    environment: { TOKEN: { value: hunter2, secret: true } }\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let props = resources[2].props();
        assert!(props["env.TOKEN"].starts_with("sha256:"));
        assert!(!format!("{props:?}").contains("hunter2"));
    }
}
