//! serverless.yaml: finding it, parsing it with positions, resolving its
//! variables, typing it and validating it, all before anything touches AWS.

mod de;
mod diagnostic;
pub mod limits;
/// The positioned YAML tree (also read by `sls-rs migrate`).
pub mod node;
mod schema;
mod suggest;
pub mod summary;
mod usage;
mod validate;
/// The variable resolver (driven alone by the fuzz target `variables`).
pub mod vars;

#[cfg(test)]
mod mutation_tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Diagnostic, ManifestError};
pub use node::{KeyPath, Mark};
pub use schema::*;
pub use suggest::did_you_mean;
pub use validate::{
    bucket_name, check_schedule, parse_queue_arn, parse_table_arn, physical_name, role_name,
    scheduler_role_name, state_machine_role_name, ENV_PREFIX,
};
pub use vars::{ResourceRef, VarContext};

pub use usage::UsageError;

/// Lambda's defaults are too small for most services; these match Serverless Framework's.
pub const DEFAULT_MEMORY: u32 = 1024;
pub const DEFAULT_TIMEOUT: u32 = 6;
/// Lambda's own default `/tmp`, in MB.
pub const DEFAULT_EPHEMERAL_STORAGE: u32 = 512;
/// Lambda allows this many layers on a function.
pub const MAX_LAYERS: usize = 5;
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_STAGE: &str = "dev";

/// The file names looked for, in order, when `-c` is not given.
pub const FILE_NAMES: &[&str] = &["serverless.yaml", "serverless.yml"];

/// What the command line contributes to loading a manifest.
pub struct LoadOptions<'a> {
    /// `-c/--config`: a file, or a directory holding serverless.yaml.
    pub config: Option<&'a Path>,
    pub stage: Option<&'a str>,
    pub region: Option<&'a str>,
    /// Lookup for `${env:…}`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// A loaded, resolved and validated service.
#[derive(Debug, Clone)]
pub struct Service {
    pub file: PathBuf,
    /// The directory of the manifest: the root of the service's cargo workspace.
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub stage: String,
    pub region: String,
    /// An endpoint override for this stage (a local emulator).
    pub endpoint: Option<String>,
    pub profile: Option<String>,
    /// References to the service's own resources, resolved at plan time.
    pub refs: Vec<ResourceRef>,
    /// The text and the resolved tree, so later stages can point at a line too.
    source: Arc<(String, node::Node)>,
}

/// Finds the manifest: `-c` (file or directory) or serverless.yaml / serverless.yml in `cwd`.
pub fn find(config: Option<&Path>, cwd: &Path) -> Result<PathBuf, UsageError> {
    let dir = match config {
        Some(p) if p.is_dir() => p.to_path_buf(),
        Some(p) if p.is_file() => return Ok(p.to_path_buf()),
        Some(p) => {
            return Err(
                UsageError::new(format!("the manifest `{}` does not exist", p.display()))
                    .with_help("check the path given to -c/--config"),
            )
        }
        None => cwd.to_path_buf(),
    };
    FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            UsageError::new(format!(
                "no serverless.yaml or serverless.yml in {}",
                dir.display()
            ))
            .with_help("run sls-rs in the service's directory, or pass -c path/to/serverless.yaml")
        })
}

/// Reads, resolves and validates the manifest that `opts` points at.
pub fn load(opts: &LoadOptions, cwd: &Path) -> anyhow::Result<Service> {
    if let Some(stage) = opts.stage.filter(|s| !validate::is_stage_name(s)) {
        return Err(
            UsageError::new(format!("--stage `{stage}` is not a valid stage name"))
                .with_help(
                    "use letters, digits and hyphens (it is part of every AWS resource name)",
                )
                .into(),
        );
    }
    if let Some(region) = opts.region.filter(|r| !validate::is_region(r)) {
        return Err(
            UsageError::new(format!("--region `{region}` is not an AWS region"))
                .with_help("regions look like `us-east-1` or `eu-west-3`")
                .into(),
        );
    }
    let file = find(opts.config, cwd)?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| UsageError::new(format!("cannot read {}: {e}", file.display())))?;
    Ok(load_str(&file, &text, opts)?)
}

/// Parses, resolves and validates manifest text; `file` is used for messages and the service directory.
pub fn load_str(file: &Path, text: &str, opts: &LoadOptions) -> Result<Service, ManifestError> {
    // Editors on Windows may start a file with a byte-order mark; it is not part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let fail = |d: Vec<Diagnostic>| ManifestError::new(file, text, d);
    let tree = node::parse(text).map_err(|d| fail(vec![d]))?;
    if let Some(d) = raw_cloudformation(&tree) {
        return Err(fail(vec![d]));
    }
    let intrinsics = cloudformation_functions(&tree);
    if !intrinsics.is_empty() {
        return Err(fail(intrinsics));
    }
    let ctx = VarContext {
        opt_stage: opts.stage,
        opt_region: opts.region,
        env: opts.env,
    };
    let stage = vars::effective_stage(&tree, &ctx).map_err(|d| fail(vec![d]))?;
    let resolution = vars::resolve(&tree, &ctx).map_err(|d| fail(vec![d]))?;
    let mut manifest: Manifest = de::from_node(&resolution.root).map_err(|d| fail(vec![d]))?;
    mark_secrets(&mut manifest);

    let stage_settings = manifest.stages.get(&stage);
    let region = opts
        .region
        .map(str::to_string)
        .or_else(|| stage_settings.and_then(|s| s.region.clone()))
        .or_else(|| manifest.provider.region.clone())
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let cx = validate::Context {
        tree: &resolution.root,
        stage: &stage,
        region: &region,
        refs: &resolution.refs,
        stage_from_flag: opts.stage.is_some(),
        region_from_flag: opts.region.is_some(),
    };
    let problems = validate::validate(&manifest, &cx);
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    // Absolute, because builds run child processes in other directories.
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    Ok(Service {
        file: file.to_path_buf(),
        dir,
        endpoint: stage_settings.and_then(|s| s.endpoint.clone()),
        profile: stage_settings
            .and_then(|s| s.profile.clone())
            .or_else(|| manifest.provider.profile.clone()),
        manifest,
        stage,
        region,
        refs: resolution.refs,
        source: Arc::new((text.to_string(), resolution.root)),
    })
}

/// Values under credential-like names are secret even without `secret: true`.
fn mark_secrets(m: &mut Manifest) {
    let envs = std::iter::once(&mut m.provider.environment)
        .chain(m.stages.values_mut().map(|s| &mut s.environment))
        .chain(m.functions.values_mut().map(|f| &mut f.environment));
    for env in envs {
        for (name, value) in env.iter_mut() {
            value.secret |= looks_secret(name);
        }
    }
}

/// A CloudFormation `resources:` block (`Resources`, `Outputs`…) would otherwise
/// read as a misspelt `resources` key; say plainly what to write instead.
fn raw_cloudformation(tree: &node::Node) -> Option<Diagnostic> {
    let resources = tree.get("resources")?;
    let key = [
        "Resources",
        "Outputs",
        "Conditions",
        "extensions",
        "AWSTemplateFormatVersion",
    ]
    .iter()
    .find_map(|k| resources.entry(k).map(|(key, _)| (*k, key)))?;
    let (name, node) = key;
    Some(
        Diagnostic::at(node.mark, node.width, format!("raw CloudFormation (`resources.{name}`) is not deployable by sls-rs"))
            .with_path(KeyPath::root().key("resources").key(name))
            .with_help(
                "sls-rs calls AWS APIs directly, without CloudFormation; declare DynamoDB tables under `resources.tables`, \
                 S3 buckets under `resources.buckets`, SQS queues under `resources.queues` and Step Functions under \
                 `resources.stateMachines` (see serverless.yaml.example)",
            ),
    )
}

/// `Ref: X` and `Fn::GetAtt: [X, Arn]` written anywhere (an IAM statement, an environment
/// value) are CloudFormation's; name the variable that does the same here.
fn cloudformation_functions(tree: &node::Node) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    validate::walk(tree, &KeyPath::root(), &mut |n, path| {
        // `custom` is free-form (plugins' settings); sls-rs sends none of it anywhere.
        if path.0.first() == Some(&node::PathSeg::Key("custom".into())) {
            return false;
        }
        if let node::Value::Map(entries) = &n.value {
            for (key, _) in entries {
                let Some(name) = key
                    .as_str()
                    .filter(|k| *k == "Ref" || k.starts_with("Fn::"))
                else {
                    continue;
                };
                let instead = match name {
                    "Ref" => "`${table:NAME}` (a table's name), `${bucket:NAME}`, `${queue:NAME}` (a queue's URL), `${fn:NAME}`",
                    "Fn::GetAtt" => "`${table:NAME.arn}`, `${table:NAME.streamArn}`, `${bucket:NAME.arn}`, `${queue:NAME.arn}`, `${fn:NAME.arn}`, `${stateMachine:NAME.arn}`",
                    _ => "variables inside the string: `arn:aws:s3:::${bucket:NAME}/*`, `${table:NAME.arn}`, `${aws:region}`, `${aws:accountId}`",
                };
                found.push(
                    Diagnostic::at(key.mark, key.width, format!("`{name}` is a CloudFormation function, and sls-rs does not deploy through CloudFormation"))
                        .with_path(path.key(name))
                        .with_help(format!("refer to the service's own resources (declared under `resources.tables`, `buckets`, `queues`, `stateMachines`, and `functions`) with {instead}")),
                );
            }
        }
        true
    });
    found
}

impl Service {
    pub fn function_name(&self, name: &str) -> String {
        physical_name(&self.manifest.service, &self.stage, name)
    }

    /// A function's architecture: its own, else the provider's.
    pub fn architecture(&self, f: &Function) -> Architecture {
        f.architecture
            .unwrap_or(self.manifest.provider.architecture)
    }

    /// A problem found after loading (a handler that names no binary…), shown at its line.
    pub fn diagnostic(&self, path: &KeyPath, message: String, help: Option<String>) -> Diagnostic {
        let tree = &self.source.1;
        let (mark, width) = match tree.locate(&path.0) {
            Some(node) if node.as_str().is_some() => (node.mark, node.width),
            _ => tree.mark_of(&path.0),
        };
        let mut d = Diagnostic::at(mark, width, message).with_path(path.clone());
        d.help = help;
        d
    }

    pub fn source_text(&self) -> &str {
        &self.source.0
    }

    /// The manifest as this run sees it: the effective stage and region filled in.
    pub fn resolved_manifest(&self) -> Manifest {
        let mut m = self.manifest.clone();
        m.provider.stage = Some(self.stage.clone());
        m.provider.region = Some(self.region.clone());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Service, ManifestError> {
        let env = |_: &str| None;
        load_str(
            Path::new("serverless.yaml"),
            yaml,
            &LoadOptions {
                config: None,
                stage: None,
                region: None,
                env: &env,
            },
        )
    }

    const MINIMAL: &str =
        "service: todo\nprovider:\n  name: aws\nfunctions:\n  hello:\n    handler: hello\n";

    #[test]
    fn a_minimal_service_gets_the_defaults() {
        let s = load(MINIMAL).unwrap();
        assert_eq!((s.stage.as_str(), s.region.as_str()), ("dev", "us-east-1"));
        assert_eq!(s.function_name("hello"), "todo-dev-hello");
        assert_eq!(s.manifest.provider.runtime, Runtime::ProvidedAl2023);
        assert_eq!(s.manifest.provider.architecture, Architecture::X86_64);
    }

    #[test]
    fn a_number_or_boolean_as_the_service_name_reads_as_the_name() {
        let s = load(&MINIMAL.replace("service: todo", "service: true")).unwrap();
        assert_eq!(s.function_name("hello"), "true-dev-hello");
        // Read as the name `2048`, then held to the naming rule like any name.
        let err = load(&MINIMAL.replace("service: todo", "service: 2048")).unwrap_err();
        assert_eq!(
            err.diagnostics[0].message,
            "`2048` is not a valid service name"
        );
    }

    #[test]
    fn raw_cloudformation_is_refused_with_the_alternative() {
        let err = load(&format!(
            "{MINIMAL}resources:\n  Resources:\n    T: {{ Type: AWS::DynamoDB::Table }}\n"
        ))
        .unwrap_err();
        let d = &err.diagnostics[0];
        assert_eq!(d.mark.line, 8);
        assert!(d.message.contains("raw CloudFormation"));
        assert!(d.help.as_deref().unwrap().contains("resources.tables"));
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let yaml = "service: todo\nprovider:\n  name: aws\n  memorySize: 64\n  timeout: 901\nfunctions:\n  hello:\n    handler: hello\n";
        let err = load(yaml).unwrap_err();
        let lines: Vec<usize> = err.diagnostics.iter().map(|d| d.mark.line).collect();
        assert_eq!(lines, vec![4, 5]);
    }

    #[test]
    fn a_secret_is_refused_anywhere_but_environment() {
        // Through a variable, into a tag and a state machine definition.
        let yaml = format!("{MINIMAL}    environment:\n      DSN: {{ value: 'postgres://u:p@h/db', secret: true }}\n    tags: {{ dsn: '${{self:functions.hello.environment.DSN.value}}' }}\nresources:\n  stateMachines:\n    flow:\n      definition: {{ StartAt: A, States: {{ A: {{ Type: Pass, Result: 'postgres://u:p@h/db', End: true }} }} }}\n");
        let err = load(&yaml).unwrap_err();
        let found: Vec<(usize, String)> = err
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.mark.line,
                    d.path.as_ref().map(ToString::to_string).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (9, "functions.hello.tags.dsn".to_string()),
                (
                    13,
                    "resources.stateMachines.flow.definition.States.A.Result".to_string()
                )
            ],
            "{err}"
        );
        assert!(err
            .diagnostics
            .iter()
            .all(|d| d.message.contains("`DSN`") && !d.message.contains("postgres://")));
        // In `custom`, for variables to read, and in every environment, it is where it belongs;
        // a short value is not looked for, and a plain ${env:} name is fine anywhere.
        let yaml = format!("custom:\n  dsn: ${{env:DB_PASSWORD, 'postgres://u:p@h/db'}}\n{MINIMAL}    description: 'prod ${{env:REGION_NAME, x}}'\n    environment:\n      DSN: ${{self:custom.dsn}}\n      PASSWORD: prod\n");
        load(&yaml).unwrap();
    }

    #[test]
    fn secrets_are_masked_when_shown() {
        let yaml = format!("{MINIMAL}    environment:\n      STRIPE_TOKEN: sk_live_1\n      DSN: {{ value: 'postgres://u:p@h/db', secret: true }}\n      LEVEL: info\n");
        let s = load(&yaml).unwrap();
        let shown = serde_json::to_string(&s.manifest).unwrap();
        assert!(
            !shown.contains("sk_live_1") && !shown.contains("postgres://"),
            "{shown}"
        );
        assert!(shown.contains("\"LEVEL\":\"info\""));
        assert_eq!(
            s.manifest.functions["hello"].environment["DSN"].value,
            "postgres://u:p@h/db"
        );
    }
}

#[cfg(test)]
mod spelling_tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<Diagnostic> {
        let env = |_: &str| None;
        let opts = LoadOptions {
            config: None,
            stage: None,
            region: None,
            env: &env,
        };
        match load_str(Path::new("serverless.yaml"), yaml, &opts) {
            Ok(_) => Vec::new(),
            Err(e) => e.diagnostics,
        }
    }

    const HEAD: &str = "service: todo\nprovider:\n  name: aws\n";

    /// Every typed position given the wrong shape: the message says what is expected in
    /// manifest words, never a Rust type (`expected struct CorsRule`).
    #[test]
    fn no_message_names_a_rust_type() {
        let f = "functions:\n  hello:\n    handler: hello\n";
        let cases = [
            "- a\n- b\n".to_string(),
            "service: todo\nprovider: [aws]\n".to_string(),
            format!("{HEAD}functions:\n  hello: [x]\n"),
            format!("{HEAD}{f}    events:\n      - [httpApi]\n"),
            format!("{HEAD}{f}    events:\n      - httpApi: [GET]\n"),
            format!("{HEAD}{f}    events:\n      - s3: photos\n"),
            format!("{HEAD}{f}    permissions:\n      - table\n"),
            format!("{HEAD}{f}    architecture: [arm64]\n"),
            format!("{HEAD}  httpApi:\n    cors: [x]\n{f}"),
            format!("{HEAD}  httpApi: [x]\n{f}"),
            format!("{HEAD}  tracing: [x]\n{f}"),
            format!("{HEAD}  iam: [x]\n{f}"),
            format!("{HEAD}  iam:\n    role: x\n{f}"),
            format!("{HEAD}  iam:\n    role:\n      statements: [x]\n{f}"),
            format!("{HEAD}  deploymentBucket: [x]\n{f}"),
            format!("{HEAD}stages:\n  dev: [x]\n{f}"),
            format!("{HEAD}{f}resources: [x]\n"),
            format!("{HEAD}{f}resources:\n  tables:\n    t: [x]\n"),
            format!("{HEAD}{f}resources:\n  tables:\n    t:\n      partitionKey: id\n"),
            format!("{HEAD}{f}resources:\n  tables:\n    t:\n      partitionKey: {{ name: id, type: S }}\n      capacity: 5\n"),
            format!("{HEAD}{f}resources:\n  tables:\n    t:\n      partitionKey: {{ name: id, type: S }}\n      globalSecondaryIndexes: [x]\n"),
            format!("{HEAD}{f}resources:\n  buckets:\n    b:\n      cors: [x]\n"),
            format!("{HEAD}{f}resources:\n  buckets:\n    b:\n      lifecycle: 3\n"),
            format!("{HEAD}{f}resources:\n  queues:\n    q:\n      deadLetter: 3\n"),
            format!("{HEAD}{f}resources:\n  stateMachines:\n    m: [x]\n"),
            format!("{HEAD}{f}resources:\n  stateMachines:\n    m:\n      definition: {{}}\n      type: [x]\n"),
            format!("{HEAD}{f}resources:\n  tables:\n    t:\n      partitionKey: {{ name: id, type: [S] }}\n"),
            format!("{HEAD}{f}    environment: [x]\n"),
            format!("{HEAD}{f}    environment:\n      A: [x]\n"),
            format!("{HEAD}{f}    tags: [x]\n"),
            format!("{HEAD}{f}    events: {{ x: 1 }}\n"),
            format!("{HEAD}{f}    memorySize: [1]\n"),
            format!("{HEAD}1: x\n{f}"),
        ];
        let rust_words = [
            "struct",
            "enum",
            "variant",
            "sequence",
            "a map",
            "unit",
            "identifier",
            "u32",
            "i64",
            "Option",
            "String",
        ];
        for case in cases {
            let found = problems(&case);
            assert!(!found.is_empty(), "expected a problem in:\n{case}");
            for d in found {
                let shown = format!("{} {}", d.message, d.help.as_deref().unwrap_or_default())
                    .replace("a mapping", "");
                assert!(
                    !rust_words.iter().any(|w| shown.contains(w)),
                    "{shown}\n--- in ---\n{case}"
                );
            }
        }
    }
}
