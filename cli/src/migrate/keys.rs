//! Plugins, `package:`, the runtime and handler spelling, and the keys sls-rs does
//! not need (Serverless Framework housekeeping) or does not support.

use super::tree;
use super::Cx;
use crate::manifest::node::{Node, Value};

/// What replaces each plugin.
fn plugin_replacement(name: &str) -> (bool, String) {
    match name {
        "serverless-rust" | "serverless-rust-plugin" => (false, "sls-rs builds Rust handlers itself (cargo-lambda); `sls-rs package` builds them".into()),
        "serverless-offline" => (false, "`sls-rs dev` serves the HTTP API and function URLs locally; `sls-rs invoke --local -f NAME` runs a handler once".into()),
        "serverless-step-functions" => (false, "state machines are `resources.stateMachines`".into()),
        "serverless-iam-roles-per-function" => (false, "every sls-rs function has its own role already; `iamRoleStatements` on a function is kept".into()),
        "serverless-pseudo-parameters" => (false, "`${aws:region}` and `${aws:accountId}` are built in".into()),
        "serverless-dotenv-plugin" => (true, "not supported: sls-rs reads `${env:…}` from the process environment only; load the .env file in the shell or CI".into()),
        other => (true, format!("`{other}` is not supported by sls-rs; check what it did and do it another way")),
    }
}

pub fn plugins(root: &mut Node, cx: &mut Cx) {
    let Some((k, v)) = tree::take(root, "plugins") else {
        return;
    };
    let list: Vec<Node> = match &v.value {
        Value::Seq(items) => items.clone(),
        Value::Map(_) => v
            .get("modules")
            .map(|m| tree::items(m).to_vec())
            .unwrap_or_default(),
        Value::Scalar { .. } => vec![v.clone()],
    };
    if list.is_empty() {
        cx.removed(&k, "plugins", "no plugins; removed");
    }
    for p in list {
        let name = p.as_str().unwrap_or_default().to_string();
        let (todo, why) = plugin_replacement(&name);
        let message = format!("plugin `{name}` removed: {why}");
        if todo {
            cx.todo(&p, "plugins", message);
        } else {
            cx.removed(&p, "plugins", message);
        }
    }
}

pub fn package(root: &mut Node, cx: &mut Cx) {
    if let Some((k, v)) = tree::take(root, "package") {
        note_package(&k, &v, "package", cx);
    }
    for (fname, f) in
        tree::entries_mut(tree::get_mut(root, "functions").unwrap_or(&mut tree::map(vec![])))
            .into_iter()
            .flatten()
    {
        let fname = fname.as_str().unwrap_or_default().to_string();
        if let Some((k, v)) = tree::take(f, "package") {
            note_package(&k, &v, &format!("functions.{fname}.package"), cx);
        }
    }
}

fn note_package(k: &Node, v: &Node, path: &str, cx: &mut Cx) {
    let fields: Vec<&str> = tree::entries(v)
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .collect();
    let artifact = if v.get("artifact").is_some() {
        "; `artifact` (a prebuilt zip) is replaced by the build of the function's cargo binary"
    } else {
        ""
    };
    cx.removed(k, path, format!("`package` ({}) removed: sls-rs builds one zip per function from its cargo binary, holding only the binary{artifact}", fields.join(", ")));
}

/// Whether the file says its handlers are Rust without `provider.runtime`: the
/// serverless-rust plugin is listed, or a Cargo.toml is beside the file.
pub fn says_rust(root: &Node, dir: &std::path::Path) -> bool {
    let plugins = root.get("plugins");
    let listed = plugins
        .map(|p| match &p.value {
            Value::Map(_) => p
                .get("modules")
                .map(tree::items)
                .unwrap_or_default()
                .to_vec(),
            Value::Seq(items) => items.clone(),
            Value::Scalar { .. } => vec![p.clone()],
        })
        .unwrap_or_default();
    listed.iter().any(|p| {
        matches!(
            p.as_str(),
            Some("serverless-rust" | "serverless-rust-plugin")
        )
    }) || dir.join("Cargo.toml").is_file()
}

/// `runtime: rust` → provided.al2023; `handler: crate.bin` → `bin`; other runtimes reported.
/// `rust_plugin`: [`says_rust`], read before the plugins are removed.
pub fn runtime(root: &mut Node, cx: &mut Cx, rust_plugin: bool) {
    let provider_runtime = root
        .get("provider")
        .and_then(|p| p.get("runtime"))
        .and_then(Node::as_str)
        .map(str::to_string);
    if provider_runtime.is_none() && !rust_plugin {
        // Serverless Framework's default runtime is Node.js.
        let at = root
            .get("provider")
            .cloned()
            .unwrap_or_else(|| root.clone());
        cx.todo(&at, "provider.runtime", "no runtime: Serverless Framework runs the handlers on Node.js (and neither the serverless-rust plugin nor a Cargo.toml says they are Rust): sls-rs deploys Rust handlers built with cargo, so each function needs a Rust binary (a cargo `[[bin]]` named like its `handler`); runtime set to `provided.al2023`");
        tree::set(
            tree::child_map(root, "provider"),
            "runtime",
            tree::plain("provided.al2023"),
        );
    }
    if let Some(rt) = &provider_runtime {
        let provider = tree::get_mut(root, "provider").expect("has a runtime");
        let at = provider.get("runtime").expect("has a runtime").clone();
        match rt.as_str() {
            "provided.al2023" | "provided.al2" => {}
            "rust" | "provided" => {
                cx.changed(
                    &at,
                    "provider.runtime",
                    format!(
                        "`{rt}` → `provided.al2023` (sls-rs builds the Rust handlers with cargo)"
                    ),
                );
                tree::set(provider, "runtime", tree::plain("provided.al2023"));
            }
            other => {
                cx.todo(&at, "provider.runtime", format!("the handlers are {}: sls-rs deploys Rust handlers built with cargo, so each function needs a Rust binary (a cargo `[[bin]]` named like its `handler`); runtime set to `provided.al2023`", language(other)));
                tree::set(provider, "runtime", tree::plain("provided.al2023"));
            }
        }
    }
    let rust_service = match provider_runtime.as_deref() {
        None => rust_plugin,
        Some(r) => r == "rust" || r.starts_with("provided"),
    };
    let Some(functions) = tree::get_mut(root, "functions") else {
        return;
    };
    for (fname, f) in tree::entries_mut(functions).into_iter().flatten() {
        let fname = fname.as_str().unwrap_or_default().to_string();
        let mut rust = rust_service;
        if let Some((k, v)) = tree::take(f, "runtime") {
            let rt = v.as_str().unwrap_or_default();
            rust = rt == "rust" || rt.starts_with("provided");
            if rust {
                cx.removed(
                    &k,
                    format!("functions.{fname}.runtime"),
                    format!("`{rt}`: every function runs on the provider's `provided.al2023`"),
                );
            } else {
                cx.todo(
                    &k,
                    format!("functions.{fname}.runtime"),
                    format!(
                        "this function is {}: it needs a Rust binary; removed",
                        language(rt)
                    ),
                );
            }
        }
        let Some(handler) = f.get("handler").cloned() else {
            continue;
        };
        let Some(text) = handler.as_str() else {
            continue;
        };
        let bin = text.rsplit(['.', '/']).next().unwrap_or(text).to_string();
        let valid = !bin.is_empty()
            && bin
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if rust && text != bin && valid {
            cx.changed(
                &handler,
                format!("functions.{fname}.handler"),
                format!("`{text}` → `{bin}`: the handler is the cargo binary"),
            );
            tree::set(f, "handler", Node::scalar(bin, false, handler.mark));
        } else if !rust || !valid || text == "bootstrap" {
            let name = tree::kebab(&fname);
            cx.todo(&handler, format!("functions.{fname}.handler"), format!("`{text}` is not a cargo binary: write the handler in Rust as the binary `{name}` (set to that)"));
            tree::set(f, "handler", Node::scalar(name, false, handler.mark));
        }
    }
}

fn language(runtime: &str) -> String {
    let lang = match runtime.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == 'x')
    {
        "nodejs" => "Node.js",
        "python" => "Python",
        "java" => "Java",
        "dotnet" | "dotnetcore" => ".NET",
        "go" => "Go",
        "ruby" => "Ruby",
        _ => "",
    };
    if lang.is_empty() {
        format!("on the `{runtime}` runtime")
    } else {
        format!("{lang} (`{runtime}`)")
    }
}

/// Serverless Framework's keys that sls-rs does not need, and those it does not support.
pub fn housekeeping(root: &mut Node, cx: &mut Cx) {
    for key in [
        "app",
        "org",
        "tenant",
        "console",
        "dashboard",
        "useDotenv",
        "configValidationMode",
        "unresolvedVariablesNotificationMode",
        "deprecationNotificationMode",
        "disabledDeprecations",
        "variablesResolutionMode",
        "licenseKey",
    ] {
        if let Some((k, _)) = tree::take(root, key) {
            cx.removed(
                &k,
                key,
                "Serverless Framework setting; sls-rs does not use it",
            );
        }
    }
    if let Some(service) = tree::get_mut(root, "service") {
        if let Some(name) = service.get("name").cloned() {
            cx.changed(&name, "service", "`service: { name: … }` → `service: …`");
            *service = name;
        }
    }
    provider(root, cx);
    functions(root, cx);
    for (k, _) in tree::entries(root).to_vec() {
        let name = k.as_str().unwrap_or_default();
        if ![
            "service",
            "frameworkVersion",
            "provider",
            "stages",
            "functions",
            "resources",
            "custom",
        ]
        .contains(&name)
        {
            let why = if name == "layers" {
                "sls-rs does not publish layers: publish them another way (`aws lambda publish-layer-version`) and list their version ARNs in `provider.layers` or a function's `layers`; removed".to_string()
            } else {
                format!("`{name}` is not an sls-rs key; removed")
            };
            cx.todo(&k, name, why);
            tree::take(root, name);
        }
    }
}

/// A `layers` list with its version ARNs kept; a layer CloudFormation makes
/// (`Ref`, `Fn::ImportValue`) is left for a human, since sls-rs publishes none.
fn layer_arns(list: &Node, path: &str, cx: &mut Cx) -> Node {
    let mut kept = Vec::new();
    for (i, item) in tree::items(list).iter().enumerate() {
        if item.as_str().is_some() {
            kept.push(item.clone());
        } else {
            cx.todo(item, format!("{path}[{i}]"), "a layer made by CloudFormation: sls-rs does not publish layers; write the layer version ARN (`arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION`); removed");
        }
    }
    tree::seq(kept)
}

/// A `vpc:` whose ids are written out is kept (sls-rs reads the same keys); ids
/// CloudFormation makes (`Ref`, `Fn::ImportValue`) are left for a human. `false` stays.
fn vpc_kept(v: &Node, key: &Node, path: &str, cx: &mut Cx) -> bool {
    if v.as_str().is_some() {
        return true;
    }
    let written = ["subnetIds", "securityGroupIds"].iter().all(|k| {
        v.get(k)
            .is_some_and(|ids| tree::items(ids).iter().all(|id| id.as_str().is_some()))
    });
    if !written {
        cx.todo(
            key,
            path,
            "subnets or security groups made by CloudFormation (`Ref`, `Fn::ImportValue`): write their ids as `subnetIds` and `securityGroupIds`; removed",
        );
    }
    written
}

fn provider(root: &mut Node, cx: &mut Cx) {
    let Some(p) = tree::get_mut(root, "provider") else {
        return;
    };
    let keep = [
        "name",
        "region",
        "stage",
        "profile",
        "runtime",
        "architecture",
        "memorySize",
        "timeout",
        "ephemeralStorageSize",
        "layers",
        "logRetentionInDays",
        "tracing",
        "environment",
        "tags",
        "iam",
        "httpApi",
        "deploymentBucket",
        "deploymentHistory",
        "vpc",
    ];
    for (k, v) in tree::entries(p).to_vec() {
        let name = k.as_str().unwrap_or_default().to_string();
        let path = format!("provider.{name}");
        match name.as_str() {
            "layers" => {
                let kept = layer_arns(&v, &path, cx);
                tree::set(p, "layers", kept);
            }
            "vpc" if !vpc_kept(&v, &k, &path, cx) => {
                tree::take(p, &name);
            }
            "deploymentBucket" => {
                let bucket_name = match &v.value {
                    Value::Scalar { .. } => Some(v.clone()),
                    _ => v.get("name").cloned(),
                };
                match bucket_name {
                    Some(b) => {
                        if tree::entries(&v).len() > 1 {
                            cx.removed(&k, &path, "only `name` is kept: sls-rs makes its deployment bucket versioned, private and encrypted");
                        }
                        tree::set(p, "deploymentBucket", tree::map(vec![("name", b)]));
                    }
                    None => {
                        cx.removed(&k, &path, "sls-rs keeps its state and artifacts in `sls-rs-deployments-{account}-{region}` unless `deploymentBucket.name` is given");
                        tree::take(p, &name);
                    }
                }
            }
            "stackTags" => {
                cx.changed(
                    &k,
                    &path,
                    "`stackTags` → `tags` (sls-rs has no stack; tags go on every resource)",
                );
                if p.get("tags").is_none() {
                    tree::rename(p, "stackTags", "tags");
                } else {
                    tree::take(p, &name);
                }
            }
            "tracing" => {
                let mut t = v.clone();
                if let Some(api) = tree::take(&mut t, "apiGateway") {
                    cx.removed(
                        &api.0,
                        "provider.tracing.apiGateway",
                        "HTTP APIs have no X-Ray tracing; removed",
                    );
                }
                tree::set(p, "tracing", t);
            }
            "httpApi" => {
                let mut h = v.clone();
                for (hk, _) in tree::entries(&v) {
                    let field = hk.as_str().unwrap_or_default();
                    match field {
                        "cors" => {}
                        "authorizers" => cx.todo(hk, "provider.httpApi.authorizers", "authorizers are not created by sls-rs yet; the routes that used them are public: verify tokens in the handlers"),
                        "payload" => cx.removed(hk, "provider.httpApi.payload", "sls-rs's HTTP API uses payload format 2.0"),
                        other => cx.removed(hk, format!("provider.httpApi.{other}"), "not supported; removed"),
                    }
                    if field != "cors" {
                        tree::take(&mut h, field);
                    }
                }
                tree::set(p, "httpApi", h);
            }
            "apiGateway" => {
                let sensitive = v.get("apiKeys").is_some() || v.get("usagePlan").is_some();
                let private = ["resourcePolicy", "vpcEndpointIds"]
                    .into_iter()
                    .find(|f| v.get(f).is_some());
                if let Some(field) = private {
                    cx.todo(&k, &path, format!("`{field}` restricts who can call the REST API (by IP, VPC endpoint or account); the HTTP API has no equivalent: the routes are now public; restrict them another way (an authorizer, a check in the handler) or do not deploy; removed"));
                } else if sensitive {
                    cx.todo(&k, &path, "API keys and usage plans are REST API features with no HTTP API equivalent: the routes are now public and unthrottled per key; removed");
                } else {
                    cx.removed(
                        &k,
                        &path,
                        "REST API settings do not apply to the HTTP API; removed",
                    );
                }
                tree::take(p, &name);
            }
            "apiKeys" | "usagePlan" | "resourcePolicy" | "vpcEndpointIds" => {
                cx.todo(&k, &path, format!("`{name}` (REST API) has no HTTP API equivalent: the routes are now public; removed"));
                tree::take(p, &name);
            }
            "endpointType"
                if !v.as_str().is_some_and(|t| {
                    t.eq_ignore_ascii_case("EDGE") || t.eq_ignore_ascii_case("REGIONAL")
                }) =>
            {
                cx.todo(&k, &path, format!("`{}`: a private REST API is reachable only from a VPC; the HTTP API is public, so the routes are now public: restrict them another way or do not deploy; removed", v.as_str().unwrap_or("…")));
                tree::take(p, &name);
            }
            "lambdaHashingVersion"
            | "versionFunctions"
            | "stackName"
            | "endpointType"
            | "apiName"
            | "logRetentionInDaysUntil"
            | "deploymentMethod"
            | "deploymentPrefix"
            | "shouldStartNameWithService"
            | "disableRollback"
            | "websocketsApiName"
            | "architectureDefault" => {
                let why = match name.as_str() {
                    "versionFunctions" => {
                        "sls-rs always publishes a version behind the `live` alias"
                    }
                    "lambdaHashingVersion" => "sls-rs hashes artifacts itself",
                    _ => "Serverless Framework setting; sls-rs does not use it",
                };
                cx.removed(&k, &path, why);
                tree::take(p, &name);
            }
            "iamRoleStatements"
            | "iamManagedPolicies"
            | "role"
            | "rolePermissionsBoundary"
            | "logs"
            | "kmsKeyArn"
            | "environmentVariables"
            | "eventBridge"
            | "cfnRole"
            | "notificationArns"
            | "ecr"
            | "alb"
            | "s3"
            | "layer" => {
                if name == "iamRoleStatements" {
                    continue; // converted by the IAM pass
                }
                cx.todo(
                    &k,
                    &path,
                    format!("`{name}` is not supported by sls-rs; removed"),
                );
                tree::take(p, &name);
            }
            other if !keep.contains(&other) => {
                cx.todo(
                    &k,
                    &path,
                    format!("`{other}` is not an sls-rs setting; removed"),
                );
                tree::take(p, &name);
            }
            _ => {}
        }
    }
}

fn functions(root: &mut Node, cx: &mut Cx) {
    let keep = [
        "handler",
        "description",
        "memorySize",
        "timeout",
        "ephemeralStorageSize",
        "layers",
        "architecture",
        "logRetentionInDays",
        "tracing",
        "provisionedConcurrency",
        "reservedConcurrency",
        "environment",
        "tags",
        "events",
        "permissions",
        "iamRoleStatements",
        // The same keys in Serverless Framework: authorizer, cors, invokeMode.
        "url",
    ];
    let Some(functions) = tree::get_mut(root, "functions") else {
        return;
    };
    for (fname, f) in tree::entries_mut(functions).into_iter().flatten() {
        let fname = fname.as_str().unwrap_or_default().to_string();
        for (k, v) in tree::entries(f).to_vec() {
            let name = k.as_str().unwrap_or_default().to_string();
            let path = format!("functions.{fname}.{name}");
            match name.as_str() {
                "name" => cx.removed(
                    &k,
                    &path,
                    format!(
                        "sls-rs names the function `{{service}}-{{stage}}-{fname}` (not `{}`)",
                        v.as_str().unwrap_or("…")
                    ),
                ),
                "tracing" if matches!(v.as_str(), Some("Active" | "PassThrough")) => {
                    let on = v.as_str() == Some("Active");
                    cx.changed(
                        &k,
                        &path,
                        format!("`{}` → `{on}`", v.as_str().unwrap_or_default()),
                    );
                    tree::set(f, "tracing", tree::plain(on.to_string()));
                    continue;
                }
                "layers" => {
                    let kept = layer_arns(&v, &path, cx);
                    tree::set(f, "layers", kept);
                    continue;
                }
                "vpc" if vpc_kept(&v, &k, &path, cx) => continue,
                "vpc" => {}
                "versionFunction" | "disableLogs" => cx.removed(
                    &k,
                    &path,
                    "Serverless Framework setting; sls-rs does not use it",
                ),
                other if keep.contains(&other) => continue,
                other => cx.todo(
                    &k,
                    &path,
                    format!("`{other}` is not supported on an sls-rs function; removed"),
                ),
            }
            tree::take(f, &name);
        }
    }
}
