//! Checks that need the whole typed manifest: ranges, names and their AWS
//! length limits, references between functions, events and resources. Every
//! problem is collected (not just the first), each at the line it is about.

use std::collections::HashMap;

use indexmap::IndexMap;

use super::diagnostic::Diagnostic;
use super::node::{KeyPath, Node, PathSeg, Value};
use super::schema::*;
use super::suggest::did_you_mean;
use super::vars::{ResourceRef, RESOURCE_KINDS};

/// Environment variable names Lambda sets itself and refuses in a configuration.
/// The prefix of the variables sls-rs injects (the names of the service's
/// resources): `sls_rs_runtime::ENV_PREFIX`, which a test in sls-rs holds equal
/// (this crate stays free of the runtime's dependencies for its fuzz build).
pub const ENV_PREFIX: &str = "SLS_RS_";

const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
];

/// The retention periods CloudWatch Logs accepts.
const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

const HTTP_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// Lambda's limit on the total size of a function's environment variables.
const ENV_BYTES_LIMIT: usize = 4096;

/// The longest physical names AWS accepts, by kind.
const FUNCTION_NAME_MAX: usize = 64;
const QUEUE_NAME_MAX: usize = 80;
const STATE_MACHINE_NAME_MAX: usize = 80;
const BUCKET_NAME_MAX: usize = 63;
const ROLE_NAME_MAX: usize = 64;
const RULE_NAME_MAX: usize = 64;

/// `{service}-{stage}-{name}`: the physical name of a resource.
pub fn physical_name(service: &str, stage: &str, name: &str) -> String {
    format!("{service}-{stage}-{name}")
}

/// IAM is global: a function's role carries the region, so the same stage
/// deployed to two regions has two roles, each with its own region's ARNs.
pub fn role_name(service: &str, stage: &str, function: &str, region: &str) -> String {
    format!("{}-{region}", physical_name(service, stage, function))
}

/// The role EventBridge Scheduler assumes to invoke one function, region-unique like its own.
pub fn scheduler_role_name(service: &str, stage: &str, function: &str, region: &str) -> String {
    format!("{}-sched-{region}", physical_name(service, stage, function))
}

/// The role Step Functions assumes for one state machine, region-unique like a function's.
pub fn state_machine_role_name(service: &str, stage: &str, name: &str, region: &str) -> String {
    format!("{}-states-{region}", physical_name(service, stage, name))
}

/// Buckets are global across accounts, so their names also carry the account id
/// (12 digits) and the region, and S3 wants them lowercase.
pub fn bucket_name(service: &str, stage: &str, name: &str, account: &str, region: &str) -> String {
    format!("{service}-{stage}-{name}-{account}-{region}").to_ascii_lowercase()
}

pub struct Context<'a> {
    pub tree: &'a Node,
    pub stage: &'a str,
    pub region: &'a str,
    pub refs: &'a [ResourceRef],
    /// The stage and region came from --stage / --region (checked as flags, not here).
    pub stage_from_flag: bool,
    pub region_from_flag: bool,
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:REST` → (region, account, rest), with a
/// 12-digit account and a region.
fn parse_arn<'a>(arn: &'a str, service: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some(svc), Some(region), Some(account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let valid = svc == service
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    valid.then_some((region, account, rest))
}

/// `arn:PARTITION:sqs:REGION:ACCOUNT:NAME` → (region, account, name).
pub fn parse_queue_arn(arn: &str) -> Option<(&str, &str, &str)> {
    parse_arn(arn, "sqs").filter(|(_, _, name)| !name.is_empty())
}

/// `arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME` → (region, account, name).
pub fn parse_table_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let (region, account, rest) = parse_arn(arn, "dynamodb")?;
    let name = rest.strip_prefix("table/").filter(|n| is_table_name(n))?;
    Some((region, account, name))
}

/// DynamoDB's table names: 3 to 255 letters, digits, `_`, `-` and `.`.
fn is_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// An IANA time zone name as EventBridge Scheduler takes it: `UTC`, `Japan`,
/// `EST5EDT`, `Area/Place`, of letters, digits, `_`, `-`, `+` (its own list is
/// checked by AWS).
fn is_time_zone(zone: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    zone.len() <= 50
        && zone.starts_with(|c: char| c.is_ascii_alphabetic())
        && zone.split('/').all(ok)
}

/// S3's naming rules for a bucket sls-rs is given by name.
fn check_bucket_name(name: &str) -> Result<(), &'static str> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=BUCKET_NAME_MAX).contains(&name.len()) {
        Err("it must be 3 to 63 characters long")
    } else if !name.chars().all(ok_char) {
        Err("only lowercase letters, digits, dots and hyphens are allowed")
    } else if !edge(name.chars().next()) || !edge(name.chars().last()) {
        Err("it must start and end with a letter or digit")
    } else if name.contains("..") {
        Err("two dots in a row are not allowed")
    } else {
        Ok(())
    }
}

pub fn validate(m: &Manifest, cx: &Context) -> Vec<Diagnostic> {
    let mut v = Checker {
        tree: cx.tree,
        diags: Vec::new(),
    };
    let root = KeyPath::root();
    v.service(m, cx);
    v.provider(&m.provider, &root.key("provider"));
    if let Some(layers) = &m.provider.layers {
        v.layers(layers, &root.key("provider").key("layers"), cx.region);
    }
    for (stage, settings) in &m.stages {
        let p = root.key("stages").key(stage);
        if let Some(endpoint) = &settings.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                v.value(
                    &p.key("endpoint"),
                    format!("`{endpoint}` is not an endpoint URL"),
                    Some("write it as `http://127.0.0.1:5000`"),
                );
            }
        }
        if let Some(region) = &settings.region {
            v.region(region, &p.key("region"));
        }
        v.environment(&settings.environment, &p.key("environment"));
    }
    let mut routes: HashMap<(String, String), (String, String)> = HashMap::new();
    for (name, f) in &m.functions {
        v.function(
            m,
            cx,
            name,
            f,
            &root.key("functions").key(name),
            &mut routes,
        );
    }
    v.resources(m, cx);
    v.role_collisions(m, cx);
    v.references(m, cx.refs);
    v.secrets_elsewhere(m);
    v.control_characters();
    v.diags
}

/// The first character AWS refuses or mangles in a name or value: NUL and the other
/// control characters (tabs and line breaks are text).
fn control_character(text: &str) -> Option<char> {
    text.chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Secret values shorter than this are not looked for outside `environment`: a
/// short value (`prod`, `1`) turns up in names by chance, and is no real secret.
const SECRET_MIN_LEN: usize = 8;

/// The sections whose values are never sent anywhere but a function's environment
/// (`custom` holds values for variables to read).
fn holds_secrets(path: &[PathSeg]) -> bool {
    let key = |i: usize| match path.get(i) {
        Some(PathSeg::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    match key(0) {
        Some("custom") => true,
        Some("provider") => key(1) == Some("environment"),
        Some("stages") | Some("functions") => key(2) == Some("environment"),
        _ => false,
    }
}

/// The names `${env:NAME…}` expressions in `text` read.
fn env_names(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("${env:").map(move |(i, m)| {
        let rest = text[i + m.len()..].trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

struct Checker<'a> {
    tree: &'a Node,
    diags: Vec<Diagnostic>,
}

/// Calls `visit` on every node with its path, depth first; `visit` returns whether to go inside.
pub(super) fn walk(node: &Node, path: &KeyPath, visit: &mut dyn FnMut(&Node, &KeyPath) -> bool) {
    if !visit(node, path) {
        return;
    }
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                if let Some(k) = k.as_str() {
                    walk(v, &path.key(k), visit);
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &path.index(i), visit);
            }
        }
        Value::Scalar { .. } => {}
    }
}

/// Whether a stage name can be part of AWS resource names.
pub fn is_stage_name(s: &str) -> bool {
    is_name(s, &['-'])
}

/// Whether a string has the shape of an AWS region (`us-east-1`, `ap-southeast-2`).
pub fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

fn is_name(s: &str, extra: &[char]) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

impl Checker<'_> {
    /// A secret may go into a function's environment and nowhere else. Elsewhere it
    /// would be sent to AWS in clear where far more principals can read it than a
    /// function's configuration (a schedule's input, a description, tags, a state
    /// machine's definition), shown in the plan's field changes, and kept in the
    /// state, so it is refused here rather than masked after the fact.
    /// Secret: an environment value marked `secret: true` or named like a credential,
    /// and any `${env:NAME}` whose NAME looks like a credential.
    fn secrets_elsewhere(&mut self, m: &Manifest) {
        let envs = std::iter::once(&m.provider.environment)
            .chain(m.stages.values().map(|s| &s.environment))
            .chain(m.functions.values().map(|f| &f.environment));
        let secrets: Vec<(&str, &str)> = envs
            .flat_map(|env| env.iter())
            .filter(|(_, v)| v.secret && v.value.len() >= SECRET_MIN_LEN)
            .map(|(k, v)| (k.as_str(), v.value.as_str()))
            .collect();
        let mut found = Vec::new();
        walk(self.tree, &KeyPath::root(), &mut |node, path| {
            if holds_secrets(&path.0) {
                return false;
            }
            if let Some(name) = node
                .origin
                .as_deref()
                .into_iter()
                .flat_map(env_names)
                .find(|n| looks_secret(n))
            {
                found.push((
                    path.clone(),
                    format!("`${{env:{name}}}`, a secret by its name,"),
                ));
            } else if let Some(text) = node.as_str() {
                if let Some((name, _)) = secrets.iter().find(|(_, v)| text.contains(v)) {
                    found.push((
                        path.clone(),
                        format!("the value of the secret environment variable `{name}`"),
                    ));
                }
            }
            true
        });
        for (path, what) in found {
            self.value(
                &path,
                format!("{what} is used outside `environment`; sls-rs keeps secrets out of sight only in a function's environment"),
                Some("pass it to the function through `environment` and read it there; a schedule's input, a description, tags and definitions are readable by anyone who can list them"),
            );
        }
    }

    /// Keys and values sent to AWS hold no control character (`custom` is never sent).
    fn control_characters(&mut self) {
        let mut found = Vec::new();
        walk(self.tree, &KeyPath::root(), &mut |node, path| {
            if path.0.first() == Some(&PathSeg::Key("custom".into())) {
                return false;
            }
            let keys = match &node.value {
                Value::Map(entries) => entries.iter().filter_map(|(k, _)| k.as_str()).collect(),
                _ => Vec::new(),
            };
            for key in keys {
                if let Some(c) = control_character(key) {
                    found.push((path.key(key), c, true));
                }
            }
            if let Some(c) = node.as_str().and_then(control_character) {
                found.push((path.clone(), c, false));
            }
            true
        });
        for (path, c, is_key) in found {
            let what = if is_key { "key" } else { "value" };
            let message = format!(
                "the {what} holds the control character U+{:04X}, which AWS refuses or mangles",
                c as u32
            );
            let help = Some("remove it; in a double-quoted string, an escape such as `\\0` or `\\x01` writes one");
            if is_key {
                self.key(&path, message, help);
            } else {
                self.value(&path, message, help);
            }
        }
    }

    /// A problem with the value at `path` (the caret goes under the value).
    fn value(&mut self, path: &KeyPath, message: String, help: Option<&str>) {
        let (mark, width) = match self.tree.locate(&path.0) {
            Some(node)
                if !matches!(
                    node.value,
                    super::node::Value::Map(_) | super::node::Value::Seq(_)
                ) =>
            {
                (node.mark, node.width)
            }
            _ => self.tree.mark_of(&path.0),
        };
        self.push(
            Diagnostic::at(mark, width, message).with_path(path.clone()),
            help,
        );
    }

    /// A problem with the key at the end of `path` (the caret goes under the key).
    fn key(&mut self, path: &KeyPath, message: String, help: Option<&str>) {
        let (mark, width) = self.tree.mark_of(&path.0);
        self.push(
            Diagnostic::at(mark, width, message).with_path(path.clone()),
            help,
        );
    }

    fn push(&mut self, mut d: Diagnostic, help: Option<&str>) {
        d.help = help.map(str::to_string);
        self.diags.push(d);
    }

    /// Layer version ARNs: at most five, each once, each in the functions' region
    /// (Lambda refuses a layer of another region).
    fn layers(&mut self, layers: &[String], path: &KeyPath, region: &str) {
        if layers.len() > crate::MAX_LAYERS {
            self.value(
                path,
                format!(
                    "{} layers: Lambda allows at most {} on a function",
                    layers.len(),
                    crate::MAX_LAYERS
                ),
                None,
            );
        }
        // The layer's name (its ARN without the version): Lambda takes one version of each.
        let mut names: Vec<String> = Vec::new();
        for (i, arn) in layers.iter().enumerate() {
            let at = path.index(i);
            // The account may be `${aws:accountId}`, known at deploy time.
            let text = arn.replace("${aws:accountId}", "000000000000");
            let parts: Vec<&str> = text.split(':').collect();
            let well_formed = parts.len() == 8
                && text.len() <= 140
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == "lambda"
                && is_region(parts[3])
                && parts[4].len() == 12
                && parts[4].bytes().all(|b| b.is_ascii_digit())
                && parts[5] == "layer"
                && !parts[6].is_empty()
                && is_name(parts[6], &['-', '_'])
                && !parts[7].is_empty()
                && parts[7].bytes().all(|b| b.is_ascii_digit())
                && parts[7].parse::<u64>().is_ok_and(|v| v >= 1);
            if !well_formed {
                self.value(
                    &at,
                    format!("`{arn}` is not a layer version ARN"),
                    Some("a layer version ARN looks like `arn:aws:lambda:us-east-1:123456789012:layer:my-layer:3` (with its version, at most 140 characters)"),
                );
            } else if parts[3] != region {
                self.value(
                    &at,
                    format!("the layer is in `{}`, the function in `{region}`", parts[3]),
                    Some("Lambda takes layers of the function's own region only: publish the layer there too"),
                );
            }
            let name = arn
                .rsplit_once(':')
                .map_or(arn.as_str(), |(n, _)| n)
                .to_string();
            if well_formed && names.contains(&name) {
                self.value(
                    &at,
                    format!("`{name}` is listed twice"),
                    Some("Lambda takes one version of a layer on a function"),
                );
            }
            names.push(name);
        }
    }

    /// `provisionedConcurrency: { min, max, targetUtilization }`.
    fn provisioned_scaling(&mut self, s: &crate::ProvisionedScaling, path: &KeyPath) {
        if s.min == 0 {
            self.value(
                &path.key("min"),
                "the minimum is 0: with no instance provisioned there is no utilisation to track, so the scaler would never add one".into(),
                Some("at least 1; for no provisioned concurrency, leave `provisionedConcurrency` out"),
            );
        }
        if s.max < s.min {
            self.value(
                &path.key("max"),
                format!("the maximum {} is below the minimum {}", s.max, s.min),
                None,
            );
        } else if s.max == s.min {
            self.value(
                &path.key("max"),
                format!(
                    "the maximum equals the minimum ({}): there is nothing to scale",
                    s.min
                ),
                Some("write `provisionedConcurrency: N` for a fixed number"),
            );
        }
        let t = s.target_utilization;
        if !(0.1..=0.9).contains(&t) || ((t * 100.0).round() - t * 100.0).abs() > 1e-6 {
            self.value(
                &path.key("targetUtilization"),
                format!("{t} is not a share between 0.1 and 0.9 with at most two decimals"),
                Some("the share of provisioned instances busy that the scaler keeps to; 0.7 is AWS's suggested start"),
            );
        }
    }

    /// A function URL's CORS, within what `CreateFunctionUrlConfig` accepts.
    fn url_cors(&mut self, cors: &crate::UrlCors, path: &KeyPath) {
        const METHODS: [&str; 7] = ["GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"];
        let lists = [
            ("allowedOrigins", &cors.allowed_origins, 100, 253),
            ("allowedMethods", &cors.allowed_methods, 6, 6),
            ("allowedHeaders", &cors.allowed_headers, 100, 1024),
            (
                "exposedResponseHeaders",
                &cors.exposed_response_headers,
                100,
                1024,
            ),
        ];
        for (key, list, most, longest) in lists {
            let at = path.key(key);
            if list.is_empty() && matches!(key, "allowedOrigins" | "allowedMethods") {
                self.value(
                    &at,
                    "an empty list allows nothing: list at least one, or drop `cors`".into(),
                    None,
                );
            }
            if list.len() > most {
                self.value(
                    &at,
                    format!(
                        "{} entries: a function URL allows at most {most}",
                        list.len()
                    ),
                    None,
                );
            }
            for (i, item) in list.iter().enumerate() {
                if key == "allowedMethods" && !METHODS.contains(&item.as_str()) {
                    self.value(
                        &at.index(i),
                        format!("`{item}` is not a method a function URL allows"),
                        Some("use GET, PUT, HEAD, POST, PATCH, DELETE or `*` (OPTIONS is answered by Lambda)"),
                    );
                } else if item.is_empty() || item.chars().count() > longest {
                    self.value(
                        &at.index(i),
                        format!("expected 1 to {longest} characters"),
                        None,
                    );
                }
            }
        }
        self.range(cors.max_age, &path.key("maxAge"), 0, 86400, "seconds");
        if cors.allow_credentials && cors.allowed_origins.iter().any(|o| o == "*") {
            self.value(
                &path.key("allowCredentials"),
                "credentials cannot be allowed to any origin: browsers refuse `*` with credentials"
                    .into(),
                Some("list the origins under `allowedOrigins`"),
            );
        }
    }

    /// Subnet and security group ids as EC2 writes them, within Lambda's limits.
    fn vpc(&mut self, vpc: &crate::Vpc, path: &KeyPath) {
        let lists = [
            ("subnetIds", &vpc.subnet_ids, "subnet-", 16),
            ("securityGroupIds", &vpc.security_group_ids, "sg-", 5),
        ];
        for (key, ids, prefix, most) in lists {
            let at = path.key(key);
            if ids.is_empty() {
                self.value(
                    &at,
                    format!("a function in a VPC needs at least one (Lambda allows 1 to {most})"),
                    None,
                );
            } else if ids.len() > most {
                self.value(
                    &at,
                    format!("{} ids: Lambda allows at most {most}", ids.len()),
                    None,
                );
            }
            for (i, id) in ids.iter().enumerate() {
                let hex = id.strip_prefix(prefix).unwrap_or_default();
                if hex.is_empty() || hex.len() > 17 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    self.value(
                        &at.index(i),
                        format!("`{id}` is not an id of this kind"),
                        Some(&format!("expected `{prefix}` and hexadecimal digits, e.g. `{prefix}0a1b2c3d4e5f60718`")),
                    );
                }
            }
        }
    }

    /// Whether the function's scheduler role name (`…-sched-{region}`) fits IAM's limit.
    fn scheduler_role(&mut self, m: &Manifest, cx: &Context, name: &str, path: &KeyPath) {
        let role = scheduler_role_name(&m.service, cx.stage, name, cx.region);
        if role.len() > ROLE_NAME_MAX {
            self.key(
                path,
                format!("the role EventBridge Scheduler would invoke this function with, `{role}`, would be {} characters long; IAM allows {ROLE_NAME_MAX}", role.len()),
                Some("shorten the service, stage or function name, or use `method: eventBus`"),
            );
        }
    }

    /// IAM role names are built from names the user picks: function `x`'s scheduler role
    /// (`…-x-sched-{region}`) is function `x-sched`'s own. Two roles of one name would
    /// take turns at its trust and policy.
    fn role_collisions(&mut self, m: &Manifest, cx: &Context) {
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut roles: Vec<(String, String, KeyPath)> = Vec::new();
        for (name, f) in &m.functions {
            let at = KeyPath::root().key("functions").key(name);
            roles.push((
                role_name(&m.service, cx.stage, name, cx.region),
                format!("function `{name}`"),
                at.clone(),
            ));
            let scheduled = f.events.iter().any(
                |e| matches!(e, Event::Schedule(s) if s.method == crate::ScheduleMethod::Scheduler),
            );
            if scheduled {
                roles.push((
                    scheduler_role_name(&m.service, cx.stage, name, cx.region),
                    format!("function `{name}`'s schedules"),
                    at,
                ));
            }
        }
        for name in m.resources.state_machines.keys() {
            let at = KeyPath::root()
                .key("resources")
                .key("stateMachines")
                .key(name);
            roles.push((
                state_machine_role_name(&m.service, cx.stage, name, cx.region),
                format!("state machine `{name}`"),
                at,
            ));
        }
        for (role, owner, at) in roles {
            if let Some(first) = seen.get(&role) {
                self.key(
                    &at,
                    format!("the IAM role of {owner}, `{role}`, is also the role of {first}"),
                    Some("rename one of them"),
                );
            } else {
                seen.insert(role, owner);
            }
        }
    }

    /// An existing resource is used as it is: a setting beside `existing` (one of
    /// `set`, the keys whose value is not the default) would be ignored.
    fn only_existing(&mut self, path: &KeyPath, kind: &str, set: &[&str]) {
        for key in set {
            self.key(
                &path.key(key),
                format!("`{key}` cannot be set on an existing {kind}: sls-rs never changes it"),
                Some("keep only `existing`, or drop it to have sls-rs make and own the resource"),
            );
        }
    }

    /// A table of another owner: only `existing`, a table name or ARN; a `stream` event
    /// on it needs it in the stage's region (Lambda reads streams of its own region; one
    /// of another account needs its owner's resource-based policies, checked by AWS).
    fn existing_table(
        &mut self,
        m: &Manifest,
        cx: &Context,
        name: &str,
        t: &crate::Table,
        existing: &str,
        p: &KeyPath,
    ) {
        // Its key is still a `${table:…}` address.
        self.resource_name(name, p, &['-', '_', '.'], 0, 255, "DynamoDB");
        let set: Vec<&str> = [
            ("partitionKey", t.partition_key.is_some()),
            ("sortKey", t.sort_key.is_some()),
            ("billingMode", t.billing_mode != BillingMode::default()),
            ("capacity", t.capacity.is_some()),
            ("stream", t.stream.is_some()),
            ("ttl", t.ttl.is_some()),
            ("pointInTimeRecovery", t.point_in_time_recovery),
            (
                "globalSecondaryIndexes",
                !t.global_secondary_indexes.is_empty(),
            ),
            (
                "deletionPolicy",
                t.deletion_policy != crate::DeletionPolicy::default(),
            ),
            ("tags", !t.tags.is_empty()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        self.only_existing(p, "table", &set);
        let arn = parse_table_arn(existing);
        if arn.is_none() && (existing.starts_with("arn:") || !is_table_name(existing)) {
            self.value(
                &p.key("existing"),
                format!("`{existing}` is neither a table name nor a table ARN"),
                Some("a name of this account and region (3 to 255 letters, digits, `_`, `-`, `.`), or `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`"),
            );
            return;
        }
        let streamed = m.functions.values().any(|f| {
            f.events
                .iter()
                .any(|e| matches!(e, Event::Stream(s) if s.table == name))
        });
        if let Some((region, _, _)) = arn.filter(|(region, _, _)| streamed && *region != cx.region)
        {
            self.value(
                &p.key("existing"),
                format!("the table is in {region}, and a stream event needs one of the stage's region ({})", cx.region),
                Some("Lambda reads streams of its own region only; deploy the stage to that region, or read the table with `permissions: [{ table: …, access: read }]` instead"),
            );
        }
    }

    /// A canary or linear shift needs its step and interval; all at once has neither.
    fn deployment(&mut self, d: &crate::Deployment, path: &KeyPath) {
        if d.strategy == crate::Strategy::AllAtOnce {
            for (key, set) in [
                ("percent", d.percent.is_some()),
                ("interval", d.interval.is_some()),
                ("alarms", !d.alarms.is_empty()),
            ] {
                if set {
                    self.key(
                        &path.key(key),
                        format!(
                            "`{key}` applies to a canary or linear deployment, not all-at-once"
                        ),
                        Some("remove it, or set `strategy: canary` or `strategy: linear`"),
                    );
                }
            }
            return;
        }
        match d.percent {
            None => self.key(
                path,
                "a canary or linear deployment needs `percent`: the share of traffic a step moves"
                    .into(),
                Some("add `percent: 10`"),
            ),
            Some(_) => self.range(d.percent, &path.key("percent"), 1, 99, "percent"),
        }
        match &d.interval {
            None => self.key(
                path,
                "a canary or linear deployment needs `interval`: the time between steps".into(),
                Some("add `interval: 5m`"),
            ),
            Some(text) => {
                if let Err(why) = crate::parse_interval(text) {
                    self.value(
                        &path.key("interval"),
                        format!("`{text}` is not an interval: {why}"),
                        None,
                    );
                }
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut built: Vec<crate::AlarmMetric> = Vec::new();
        for (i, alarm) in d.alarms.iter().enumerate() {
            let at = path.key("alarms").index(i);
            let alarm = match alarm {
                crate::Alarm::Named(name) => name,
                crate::Alarm::BuiltIn(b) => {
                    let set = b.set();
                    if set.len() != 1 {
                        self.value(
                            &at,
                            "an alarm sls-rs makes is one key: `errors`, `p99Duration` or `throttles`".into(),
                            Some("write each on its own line: `- errors: 0`, `- p99Duration: 800ms`"),
                        );
                    }
                    for (metric, threshold) in set {
                        let key = at.key(metric.key());
                        if let Err(why) = &threshold {
                            self.value(&key, format!("not a duration: {why}"), None);
                        } else if built.contains(&metric) {
                            self.key(&key, format!("`{}` is listed twice", metric.key()), None);
                        }
                        built.push(metric);
                    }
                    continue;
                }
            };
            if alarm.is_empty() || alarm.len() > 255 {
                self.value(
                    &at,
                    "a CloudWatch alarm name is 1 to 255 characters".into(),
                    None,
                );
            } else if alarm.starts_with("arn:") {
                self.value(
                    &at,
                    format!("`{alarm}` is an ARN: alarms are named here, as CloudWatch knows them in the stage's region"),
                    Some("write the alarm's name, the part after `:alarm:`"),
                );
            } else if seen.contains(&alarm.as_str()) {
                self.value(&at, format!("the alarm `{alarm}` is listed twice"), None);
            }
            seen.push(alarm);
        }
    }

    /// Lambda takes log levels only with the JSON format.
    fn logs(&mut self, logs: &crate::Logs, path: &KeyPath) {
        if logs.format == crate::LogFormat::Json {
            return;
        }
        for (key, set) in [
            ("applicationLevel", logs.application_level.is_some()),
            ("systemLevel", logs.system_level.is_some()),
        ] {
            if set {
                self.key(
                    &path.key(key),
                    format!("`{key}` needs `format: JSON`: Lambda filters by level only JSON lines"),
                    Some("add `format: JSON` (the runtime crate writes JSON lines), or remove the level"),
                );
            }
        }
    }

    fn range(&mut self, value: Option<u32>, path: &KeyPath, min: u32, max: u32, unit: &str) {
        if let Some(n) = value {
            if n < min || n > max {
                self.value(
                    path,
                    format!("{n} is out of range: expected {min} to {max} {unit}"),
                    None,
                );
            }
        }
    }

    fn service(&mut self, m: &Manifest, cx: &Context) {
        let root = KeyPath::root();
        if !m.service.starts_with(|c: char| c.is_ascii_alphabetic()) || !is_name(&m.service, &['-'])
        {
            self.value(
                &root.key("service"),
                format!("`{}` is not a valid service name", m.service),
                Some("use letters, digits and hyphens, starting with a letter (it prefixes every AWS resource name)"),
            );
        }
        if !cx.stage_from_flag && !is_stage_name(cx.stage) {
            let at = root.key("provider").key("stage");
            self.value(
                &at,
                format!("the stage `{}` is not a valid stage name", cx.stage),
                Some("use letters, digits and hyphens (it is part of every AWS resource name)"),
            );
        }
        if !cx.region_from_flag {
            self.region(cx.region, &root.key("provider").key("region"));
        }
    }

    fn region(&mut self, region: &str, path: &KeyPath) {
        if !is_region(region) {
            self.value(
                path,
                format!("`{region}` is not an AWS region"),
                Some("regions look like `us-east-1` or `eu-west-3`"),
            );
        }
    }

    fn provider(&mut self, p: &Provider, path: &KeyPath) {
        self.range(p.memory_size, &path.key("memorySize"), 128, 10240, "MB");
        self.range(p.timeout, &path.key("timeout"), 1, 900, "seconds");
        self.range(
            p.ephemeral_storage_size,
            &path.key("ephemeralStorageSize"),
            512,
            10240,
            "MB",
        );
        self.retention(p.log_retention_in_days, &path.key("logRetentionInDays"));
        if let Some(logs) = &p.logs {
            self.logs(logs, &path.key("logs"));
        }
        if let Some(d) = &p.deployment {
            self.deployment(d, &path.key("deployment"));
        }
        if let Some(vpc) = &p.vpc {
            self.vpc(vpc, &path.key("vpc"));
        }
        self.environment(&p.environment, &path.key("environment"));
        self.tags(&p.tags, &path.key("tags"));
        self.range(
            p.deployment_history,
            &path.key("deploymentHistory"),
            1,
            1000,
            "deployments",
        );
        if let Some(b) = &p.deployment_bucket {
            if let Err(why) = check_bucket_name(&b.name) {
                self.value(
                    &path.key("deploymentBucket").key("name"),
                    format!("`{}` is not a valid S3 bucket name: {why}", b.name),
                    Some("3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"),
                );
            }
        }
    }

    fn retention(&mut self, days: Option<u32>, path: &KeyPath) {
        if let Some(d) = days {
            if !LOG_RETENTION_DAYS.contains(&d) {
                let allowed: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
                self.value(
                    path,
                    format!("CloudWatch Logs does not accept a retention of {d} days"),
                    Some(&format!("use one of {}", allowed.join(", "))),
                );
            }
        }
    }

    fn environment(&mut self, env: &IndexMap<String, EnvValue>, path: &KeyPath) {
        for name in env.keys() {
            let p = path.key(name);
            if !name.starts_with(|c: char| c.is_ascii_alphabetic()) || !is_name(name, &['_']) {
                self.key(
                    &p,
                    format!("`{name}` is not a valid environment variable name"),
                    Some("use letters, digits and underscores, starting with a letter"),
                );
            } else if RESERVED_ENV.contains(&name.as_str()) {
                self.key(
                    &p,
                    format!("`{name}` is reserved: Lambda sets it itself"),
                    Some("choose another name"),
                );
            } else if name.starts_with(ENV_PREFIX) {
                self.key(
                    &p,
                    format!("`{name}` is reserved: sls-rs sets `{}*` variables itself", ENV_PREFIX),
                    Some("choose another name; the names of the service's resources are injected for you"),
                );
            }
        }
    }

    fn tags(&mut self, tags: &IndexMap<String, String>, path: &KeyPath) {
        for (k, val) in tags {
            let p = path.key(k);
            if k.to_ascii_lowercase().starts_with("aws:") {
                self.key(
                    &p,
                    format!("the tag `{k}` uses the `aws:` prefix, which AWS reserves"),
                    None,
                );
            } else if k.chars().count() > 128 {
                self.key(&p, "tag keys are at most 128 characters".into(), None);
            }
            if val.chars().count() > 256 {
                self.value(&p, "tag values are at most 256 characters".into(), None);
            }
        }
    }

    fn function(
        &mut self,
        m: &Manifest,
        cx: &Context,
        name: &str,
        f: &Function,
        path: &KeyPath,
        routes: &mut HashMap<(String, String), (String, String)>,
    ) {
        if !is_name(name, &['-', '_']) {
            self.key(
                path,
                format!("`{name}` is not a valid function name"),
                Some("use letters, digits, hyphens and underscores"),
            );
        }
        let full = physical_name(&m.service, cx.stage, name);
        if full.len() > FUNCTION_NAME_MAX {
            let help = format!("Lambda allows {FUNCTION_NAME_MAX} characters; shorten the service, stage or function name");
            self.key(
                path,
                format!(
                    "the function name `{full}` is {} characters long",
                    full.len()
                ),
                Some(&help),
            );
        } else {
            let role = role_name(&m.service, cx.stage, name, cx.region);
            if role.len() > ROLE_NAME_MAX {
                self.key(
                    path,
                    format!("the function's IAM role, `{role}`, would be {} characters long; IAM allows {ROLE_NAME_MAX}", role.len()),
                    Some("IAM roles are global, so the name carries the region; shorten the service, stage or function name"),
                );
            }
        }
        if !is_name(&f.handler, &['-', '_']) {
            self.value(
                &path.key("handler"),
                format!("`{}` is not a cargo binary name", f.handler),
                Some("name a `[[bin]]` of the service's Cargo workspace, e.g. `create-todo`"),
            );
        }
        self.range(f.memory_size, &path.key("memorySize"), 128, 10240, "MB");
        self.range(f.timeout, &path.key("timeout"), 1, 900, "seconds");
        self.range(
            f.ephemeral_storage_size,
            &path.key("ephemeralStorageSize"),
            512,
            10240,
            "MB",
        );
        if let Some(layers) = &f.layers {
            self.layers(layers, &path.key("layers"), cx.region);
        }
        self.retention(f.log_retention_in_days, &path.key("logRetentionInDays"));
        if let Some(logs) = &f.logs {
            self.logs(logs, &path.key("logs"));
        }
        if let Some(Some(vpc)) = &f.vpc {
            self.vpc(vpc, &path.key("vpc"));
        }
        if f.tenant_isolation.is_some() {
            self.key(
                &path.key("tenantIsolation"),
                "sls-rs does not support tenant isolation yet: a tenant-isolated function is invoked with a tenant id, which none of its triggers pass (AWS allows no function URL, provisioned concurrency or event source mapping on one), and the mode cannot change after creation".into(),
                Some("remove it; README's \"What sls-rs does not do yet\" says what support would take"),
            );
        }
        if f.capacity_provider.is_some() {
            self.key(
                &path.key("capacityProvider"),
                "sls-rs does not support Lambda Managed Instances yet: they need a capacity provider (EC2 instances in your VPC, with its own role and scaling) that sls-rs does not create or manage".into(),
                Some("remove it to run on Lambda's default compute; README's \"What sls-rs does not do yet\" says more"),
            );
        }
        if let Some(cors) = f.url.as_ref().and_then(|u| u.cors.as_ref()) {
            self.url_cors(cors, &path.key("url").key("cors"));
        }
        if let Some(d) = &f.deployment {
            self.deployment(d, &path.key("deployment"));
        }
        let gradual = m
            .deployment_of(f)
            .is_some_and(|d| d.strategy != crate::Strategy::AllAtOnce);
        if gradual && f.provisioned_concurrency.is_some() {
            self.key(
                &path.key("provisionedConcurrency"),
                format!("function `{name}` shifts its traffic gradually (`deployment`), and sls-rs does not yet shift a function with provisioned concurrency: it lives on the `live` alias, and Lambda refuses provisioned concurrency on an alias that splits its traffic (\"Alias with weights can not be used with Provisioned Concurrency\"); it would have to move to the two versions for the shift"),
                Some("give this function `deployment: { strategy: all-at-once }`, or drop its provisionedConcurrency"),
            );
        }
        if let Some(scaling) = f.provisioned_concurrency.and_then(|p| p.scaling()) {
            self.provisioned_scaling(&scaling, &path.key("provisionedConcurrency"));
        }
        if let (Some(pc), Some(rc)) = (f.provisioned_concurrency, f.reserved_concurrency) {
            let (at, what) = match pc {
                crate::ProvisionedConcurrency::Fixed(_) => (
                    path.key("provisionedConcurrency"),
                    "provisioned concurrency",
                ),
                crate::ProvisionedConcurrency::Scaling(_) => (
                    path.key("provisionedConcurrency").key("max"),
                    "the provisioned-concurrency maximum",
                ),
            };
            let pc = pc.max();
            if pc > rc {
                self.value(
                    &at,
                    format!("{what} {pc} exceeds the reserved concurrency {rc}"),
                    Some("Lambda cannot keep more instances warm than the function may run"),
                );
            }
        }
        self.environment(&f.environment, &path.key("environment"));
        self.tags(&f.tags, &path.key("tags"));
        self.environment_size(m, cx, f, path);
        let mut schedules = 0;
        for (i, event) in f.events.iter().enumerate() {
            self.event(m, name, f, event, &path.key("events").index(i), routes);
            if matches!(event, Event::Schedule(s) if s.method == crate::ScheduleMethod::Scheduler) {
                self.scheduler_role(m, cx, name, &path.key("events").index(i));
            }
            if matches!(event, Event::Schedule(_)) {
                // The rule is named after the function: `{function}-schedule[-N]`.
                let rule = format!(
                    "{}-schedule{}",
                    physical_name(&m.service, cx.stage, name),
                    if schedules == 0 {
                        String::new()
                    } else {
                        format!("-{}", schedules + 1)
                    }
                );
                if rule.len() > RULE_NAME_MAX {
                    self.key(
                        &path.key("events").index(i),
                        format!("the EventBridge rule of this schedule, `{rule}`, would be {} characters long; AWS allows {RULE_NAME_MAX}", rule.len()),
                        Some("shorten the service, stage or function name"),
                    );
                }
                schedules += 1;
            }
        }
        for (i, grant) in f.permissions.iter().enumerate() {
            self.permission(m, grant, &path.key("permissions").index(i));
        }
    }

    fn environment_size(&mut self, m: &Manifest, cx: &Context, f: &Function, path: &KeyPath) {
        let merged = m.environment_of(cx.stage, f);
        let bytes: usize = merged.iter().map(|(k, v)| k.len() + v.value.len()).sum();
        if bytes > ENV_BYTES_LIMIT {
            self.key(
                path,
                format!("the environment of this function is {bytes} bytes; Lambda allows {ENV_BYTES_LIMIT}"),
                Some("keep large values in S3 or a parameter store and pass their names"),
            );
        }
    }

    fn declared<'m, T>(
        &mut self,
        kind: &str,
        name: &str,
        pool: &'m IndexMap<String, T>,
        path: &KeyPath,
        section: &str,
    ) -> Option<&'m T> {
        if let Some(found) = pool.get(name) {
            return Some(found);
        }
        let help = match did_you_mean(name, pool.keys().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None if pool.is_empty() => format!("declare it under `{section}`"),
            None => format!(
                "declared under `{section}`: {}",
                pool.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        self.value(
            path,
            format!("no {kind} named `{name}` is declared"),
            Some(&help),
        );
        None
    }

    fn event(
        &mut self,
        m: &Manifest,
        fn_name: &str,
        f: &Function,
        event: &Event,
        path: &KeyPath,
        routes: &mut HashMap<(String, String), (String, String)>,
    ) {
        match event {
            Event::HttpApi(route) => {
                let p = path.key("httpApi");
                let method = route.method.to_ascii_uppercase();
                if route.path == "$default" {
                    if method != "*" && method != "ANY" {
                        self.value(
                            &p,
                            "the `$default` route takes every method: write `httpApi: '*'`".into(),
                            None,
                        );
                    }
                } else if !HTTP_METHODS.contains(&method.as_str()) {
                    let help = format!("use one of {}", HTTP_METHODS.join(", "));
                    self.value(
                        &p,
                        format!("`{}` is not an HTTP method", route.method),
                        Some(&help),
                    );
                    return;
                } else if let Err(why) = check_route_path(&route.path) {
                    self.value(
                        &p,
                        why,
                        Some("paths look like `/todos/{id}` or `/files/{proxy+}`"),
                    );
                    return;
                }
                let key = (method.replace('*', "ANY"), normalize_route(&route.path));
                let shown = format!("{} {}", route.method, route.path);
                if let Some((other_fn, other_shown)) = routes.get(&key) {
                    let message = format!("the route `{shown}` is also handled by function `{other_fn}` (`{other_shown}`)");
                    self.value(&p, message, Some("each method and path goes to one function; API Gateway treats `{id}` and `{todoId}` in the same place as one route"));
                } else {
                    routes.insert(key, (fn_name.to_string(), shown));
                }
            }
            Event::S3(s3) => {
                let p = path.key("s3");
                let bucket = self.declared(
                    "bucket",
                    &s3.bucket,
                    &m.resources.buckets,
                    &p.key("bucket"),
                    "resources.buckets",
                );
                if bucket.is_some_and(|b| b.existing.is_some()) {
                    self.value(
                        &p.key("bucket"),
                        format!("`{}` is an existing bucket: sls-rs would replace its whole notification configuration, which its owner writes", s3.bucket),
                        Some("have the bucket's owner send the events (an S3 notification to this function's `live` alias), or let sls-rs make the bucket"),
                    );
                }
                for (i, e) in s3.events.iter().enumerate() {
                    if !e.starts_with("s3:") {
                        self.value(
                            &p.key("events").index(i),
                            format!("`{e}` is not an S3 event type"),
                            Some("e.g. `s3:ObjectCreated:*` or `s3:ObjectRemoved:Delete`"),
                        );
                    }
                }
            }
            Event::Schedule(s) => {
                let p = path.key("schedule");
                if let Some(zone) = &s.timezone {
                    if s.method != crate::ScheduleMethod::Scheduler {
                        self.key(
                            &p.key("timezone"),
                            "a time zone needs `method: scheduler`: EventBridge rules run in UTC"
                                .into(),
                            Some("add `method: scheduler`, or write the cron expression in UTC"),
                        );
                    } else if !is_time_zone(zone) {
                        self.value(
                            &p.key("timezone"),
                            format!("`{zone}` is not a time zone name"),
                            Some(
                                "an IANA name such as `Europe/Paris`, `America/New_York` or `UTC`",
                            ),
                        );
                    }
                }
                if let Err(why) = check_schedule(&s.rate) {
                    let at = if self.tree.locate(&p.key("rate").0).is_some() {
                        p.key("rate")
                    } else {
                        p
                    };
                    self.value(
                        &at,
                        why,
                        Some("write `rate(5 minutes)`, `rate(1 hour)` or `cron(0 12 * * ? *)`"),
                    );
                }
            }
            Event::Sqs(sqs) => {
                let p = path.key("sqs");
                let at = if self.tree.locate(&p.key("queue").0).is_some() {
                    p.key("queue")
                } else {
                    p.clone()
                };
                if let Some(queue) = self.declared(
                    "queue",
                    &sqs.queue,
                    &m.resources.queues,
                    &at,
                    "resources.queues",
                ) {
                    // An existing queue is FIFO by its name, as SQS requires.
                    let fifo = match &queue.existing {
                        Some(existing) => existing.ends_with(".fifo"),
                        None => queue.fifo,
                    };
                    let max_batch = if fifo { 10 } else { 10000 };
                    self.range(
                        sqs.batch_size,
                        &p.key("batchSize"),
                        1,
                        max_batch,
                        "messages",
                    );
                    if sqs.batch_size.unwrap_or(10) > 10
                        && sqs.maximum_batching_window.unwrap_or(0) == 0
                    {
                        self.value(&p.key("batchSize"), "a batch size above 10 needs `maximumBatchingWindow` of at least 1 second".into(), None);
                    }
                    let function_timeout = f
                        .timeout
                        .or(m.provider.timeout)
                        .unwrap_or(crate::DEFAULT_TIMEOUT);
                    // An existing queue's timeout is its owner's, unknown here (Lambda checks it).
                    let visibility = queue.visibility_timeout.unwrap_or(30);
                    if queue.existing.is_none() && visibility < function_timeout {
                        let at = KeyPath::root()
                            .key("resources")
                            .key("queues")
                            .key(&sqs.queue);
                        self.key(
                            &at,
                            format!("the visibility timeout of `{}` ({visibility} s) is shorter than the timeout of `{fn_name}` ({function_timeout} s)", sqs.queue),
                            Some("Lambda refuses such a trigger: raise `visibilityTimeout` (AWS advises six times the function timeout)"),
                        );
                    }
                }
                self.range(
                    sqs.maximum_batching_window,
                    &p.key("maximumBatchingWindow"),
                    0,
                    300,
                    "seconds",
                );
                self.range(
                    sqs.maximum_concurrency,
                    &p.key("maximumConcurrency"),
                    2,
                    1000,
                    "concurrent invocations",
                );
            }
            Event::Stream(stream) => {
                let p = path.key("stream");
                if let Some(table) = self.declared(
                    "table",
                    &stream.table,
                    &m.resources.tables,
                    &p.key("table"),
                    "resources.tables",
                ) {
                    // An existing table's stream is its owner's: found at deploy.
                    if table.existing.is_none() && table.stream.is_none() {
                        let help = format!(
                            "add `stream: NEW_AND_OLD_IMAGES` to resources.tables.{}",
                            stream.table
                        );
                        self.value(
                            &p.key("table"),
                            format!("the table `{}` has no stream", stream.table),
                            Some(&help),
                        );
                    }
                }
                self.range(stream.batch_size, &p.key("batchSize"), 1, 10000, "records");
                self.range(
                    stream.maximum_batching_window,
                    &p.key("maximumBatchingWindow"),
                    0,
                    300,
                    "seconds",
                );
            }
        }
    }

    fn permission(&mut self, m: &Manifest, grant: &Permission, path: &KeyPath) {
        let targets: Vec<(&str, &String)> = [
            ("table", &grant.table),
            ("bucket", &grant.bucket),
            ("queue", &grant.queue),
            ("stateMachine", &grant.state_machine),
            ("function", &grant.function),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let [(kind, name)] = targets.as_slice() else {
            let message = if targets.is_empty() {
                "a permission names no resource".to_string()
            } else {
                format!(
                    "a permission names {} resources: {}",
                    targets.len(),
                    targets
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            self.value(
                path,
                message,
                Some("write one grant per resource, e.g. `{ table: todos, access: read }`"),
            );
            return;
        };
        let (allowed, found): (&[Access], bool) = match *kind {
            "table" => (
                &[Access::Read, Access::Write, Access::Readwrite],
                self.declared(
                    "table",
                    name,
                    &m.resources.tables,
                    &path.key("table"),
                    "resources.tables",
                )
                .is_some(),
            ),
            "bucket" => (
                &[Access::Read, Access::Write, Access::Readwrite],
                self.declared(
                    "bucket",
                    name,
                    &m.resources.buckets,
                    &path.key("bucket"),
                    "resources.buckets",
                )
                .is_some(),
            ),
            "queue" => (
                &[Access::Send, Access::Consume],
                self.declared(
                    "queue",
                    name,
                    &m.resources.queues,
                    &path.key("queue"),
                    "resources.queues",
                )
                .is_some(),
            ),
            "stateMachine" => (
                &[Access::Start],
                self.declared(
                    "state machine",
                    name,
                    &m.resources.state_machines,
                    &path.key("stateMachine"),
                    "resources.stateMachines",
                )
                .is_some(),
            ),
            _ => (
                &[Access::Invoke],
                self.declared(
                    "function",
                    name,
                    &m.functions,
                    &path.key("function"),
                    "functions",
                )
                .is_some(),
            ),
        };
        if found && !allowed.contains(&grant.access) {
            let list: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
            let help = format!("for a {kind}, access is one of: {}", list.join(", "));
            self.value(
                &path.key("access"),
                format!(
                    "`{}` access does not apply to a {kind}",
                    grant.access.as_str()
                ),
                Some(&help),
            );
        }
        if grant.prefix.is_some() && *kind != "bucket" {
            self.key(
                &path.key("prefix"),
                "`prefix` applies to bucket grants only".into(),
                None,
            );
        }
    }

    fn resources(&mut self, m: &Manifest, cx: &Context) {
        let root = KeyPath::root().key("resources");
        for (name, t) in &m.resources.tables {
            let p = root.key("tables").key(name);
            if let Some(existing) = &t.existing {
                self.existing_table(m, cx, name, t, existing, &p);
                continue;
            }
            self.resource_name(
                name,
                &p,
                &['-', '_', '.'],
                physical_name(&m.service, cx.stage, name).len(),
                255,
                "DynamoDB",
            );
            if t.partition_key.is_none() {
                self.key(
                    &p,
                    format!("the table `{name}` has no `partitionKey`"),
                    Some("add `partitionKey: { name: id, type: S }`, or `existing: NAME` for a table sls-rs does not own"),
                );
            }
            match (t.billing_mode, t.capacity) {
                (BillingMode::Provisioned, None) => self.key(
                    &p,
                    "`billingMode: PROVISIONED` needs `capacity: { read: …, write: … }`".into(),
                    None,
                ),
                (BillingMode::PayPerRequest, Some(_)) => self.key(
                    &p.key("capacity"),
                    "`capacity` applies only with `billingMode: PROVISIONED`".into(),
                    Some("remove it, or set `billingMode: PROVISIONED`"),
                ),
                _ => {}
            }
            let mut seen: Vec<&str> = Vec::new();
            for (i, gsi) in t.global_secondary_indexes.iter().enumerate() {
                if seen.contains(&gsi.name.as_str()) {
                    self.value(
                        &p.key("globalSecondaryIndexes").index(i).key("name"),
                        format!("the index `{}` is declared twice", gsi.name),
                        None,
                    );
                }
                seen.push(&gsi.name);
            }
        }
        // Bucket names given in the manifest, each at most once (S3's names are global:
        // two keys on one bucket would fight over it, and dropping one would delete it).
        let mut given: HashMap<&str, String> = HashMap::new();
        if let Some(d) = &m.provider.deployment_bucket {
            given.insert(&d.name, "provider.deploymentBucket".into());
        }
        for (name, b) in &m.resources.buckets {
            let p = root.key("buckets").key(name);
            let fixed = b.existing.as_deref().or(b.name.as_deref());
            // The account id is always 12 digits, so the length is known before deploying;
            // a name given is checked as a bucket name below.
            let len = match fixed {
                Some(_) => 0,
                None => bucket_name(&m.service, cx.stage, name, "000000000000", cx.region).len(),
            };
            self.resource_name(name, &p, &['-'], len, BUCKET_NAME_MAX, "S3 bucket");
            if let Some(fixed) = fixed {
                let key = if b.existing.is_some() {
                    "existing"
                } else {
                    "name"
                };
                if let Some(first) = given.get(fixed) {
                    self.value(
                        &p.key(key),
                        format!("`{fixed}` is also {first}"),
                        Some("each bucket is named once in the manifest"),
                    );
                } else {
                    given.insert(fixed, format!("resources.buckets.{name}"));
                }
            }
            if let Some(existing) = &b.existing {
                let d = crate::Bucket::default();
                let set: Vec<&str> = [
                    ("name", b.name.is_some()),
                    ("versioning", b.versioning != d.versioning),
                    ("encryption", b.encryption != d.encryption),
                    ("blockPublicAccess", !b.block_public_access),
                    ("cors", !b.cors.is_empty()),
                    ("lifecycle", b.lifecycle.is_some()),
                    ("deletionPolicy", b.deletion_policy != d.deletion_policy),
                    ("tags", !b.tags.is_empty()),
                ]
                .into_iter()
                .filter_map(|(k, on)| on.then_some(k))
                .collect();
                self.only_existing(&p, "bucket", &set);
                if let Err(why) = check_bucket_name(existing) {
                    self.value(
                        &p.key("existing"),
                        format!("`{existing}` is not a bucket name: {why}"),
                        None,
                    );
                }
                continue;
            }
            if let Some(fixed) = &b.name {
                if let Err(why) = check_bucket_name(fixed) {
                    self.value(&p.key("name"), format!("`{fixed}` is not a bucket name: {why}"), Some("S3's names are global: 3 to 63 lowercase letters, digits, dots and hyphens"));
                }
            }
            if let Some(l) = &b.lifecycle {
                self.range(
                    Some(l.expire_after_days),
                    &p.key("lifecycle").key("expireAfterDays"),
                    1,
                    u32::MAX,
                    "days",
                );
            }
        }
        for (name, q) in &m.resources.queues {
            let p = root.key("queues").key(name);
            if let Some(existing) = &q.existing {
                // Its key is still a `${queue:…}` address.
                self.resource_name(name, &p, &['-', '_'], 0, QUEUE_NAME_MAX, "SQS queue");
                let set: Vec<&str> = [
                    ("visibilityTimeout", q.visibility_timeout.is_some()),
                    (
                        "messageRetentionPeriod",
                        q.message_retention_period.is_some(),
                    ),
                    ("fifo", q.fifo),
                    ("deadLetter", q.dead_letter.is_some()),
                    (
                        "deletionPolicy",
                        q.deletion_policy != crate::DeletionPolicy::default(),
                    ),
                    ("tags", !q.tags.is_empty()),
                ]
                .into_iter()
                .filter_map(|(k, on)| on.then_some(k))
                .collect();
                self.only_existing(&p, "queue", &set);
                let plain = |s: &str| {
                    !s.is_empty()
                        && s.len() <= QUEUE_NAME_MAX
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                };
                // Lambda reads a queue of its own region only (another account's is fine,
                // when the queue's policy lets the function's role read it).
                let elsewhere =
                    parse_queue_arn(existing).filter(|(region, _, _)| *region != cx.region);
                let triggers = m.functions.values().any(|f| {
                    f.events
                        .iter()
                        .any(|e| matches!(e, Event::Sqs(s) if &s.queue == name))
                });
                if let (Some((region, _, _)), true) = (elsewhere, triggers) {
                    self.value(
                        &p.key("existing"),
                        format!("the queue is in {region}, and an sqs event needs one of the stage's region ({})", cx.region),
                        Some("Lambda reads queues of its own region only; deploy the stage to that region, or send to the queue with `permissions: [{ queue: …, access: send }]` instead"),
                    );
                }
                if parse_queue_arn(existing).is_none()
                    && (existing.starts_with("arn:") || !plain(existing))
                {
                    self.value(
                        &p.key("existing"),
                        format!("`{existing}` is neither a queue name nor a queue ARN"),
                        Some("a name of this account and region, or `arn:aws:sqs:REGION:ACCOUNT:NAME`"),
                    );
                }
                continue;
            }
            let suffix = if q.fifo { ".fifo".len() } else { 0 }
                + if q.dead_letter.is_some() {
                    "-dlq".len()
                } else {
                    0
                };
            self.resource_name(
                name,
                &p,
                &['-', '_'],
                physical_name(&m.service, cx.stage, name).len() + suffix,
                QUEUE_NAME_MAX,
                "SQS queue",
            );
            self.range(
                q.visibility_timeout,
                &p.key("visibilityTimeout"),
                0,
                43200,
                "seconds",
            );
            self.range(
                q.message_retention_period,
                &p.key("messageRetentionPeriod"),
                60,
                1_209_600,
                "seconds",
            );
            if let Some(dl) = q.dead_letter {
                self.range(
                    Some(dl.max_receive_count),
                    &p.key("deadLetter").key("maxReceiveCount"),
                    1,
                    1000,
                    "receives",
                );
                // The dead-letter queue is named `{name}-dlq`: a declared queue may not take that name.
                let dlq = format!("{name}-dlq");
                if m.resources.queues.contains_key(&dlq) {
                    self.key(
                        &p.key("deadLetter"),
                        format!("this dead-letter queue would be named `{dlq}`, like the queue `{dlq}` declared here"),
                        Some("rename that queue"),
                    );
                }
            }
        }
        for (name, sm) in &m.resources.state_machines {
            let p = root.key("stateMachines").key(name);
            self.resource_name(
                name,
                &p,
                &['-', '_'],
                physical_name(&m.service, cx.stage, name).len(),
                STATE_MACHINE_NAME_MAX,
                "Step Functions state machine",
            );
            let role = state_machine_role_name(&m.service, cx.stage, name, cx.region);
            if is_name(name, &['-', '_']) && role.len() > ROLE_NAME_MAX {
                self.key(
                    &p,
                    format!("the state machine's IAM role, `{role}`, would be {} characters long; IAM allows {ROLE_NAME_MAX}", role.len()),
                    Some("IAM roles are global, so the name carries the region; shorten the service, stage or state machine name"),
                );
            }
            let def = &sm.definition;
            let has = |k: &str| def.get(k).is_some();
            if !def.is_object() || !has("StartAt") || !has("States") {
                self.key(
                    &p.key("definition"),
                    "a state machine definition needs `StartAt` and `States`".into(),
                    Some("write it in Amazon States Language, as YAML"),
                );
            } else if let Some(start) = def["StartAt"].as_str() {
                if def["States"].get(start).is_none() {
                    self.value(
                        &p.key("definition").key("StartAt"),
                        format!(
                            "`StartAt` names the state `{start}`, which `States` does not declare"
                        ),
                        None,
                    );
                }
            }
        }
    }

    fn resource_name(
        &mut self,
        name: &str,
        path: &KeyPath,
        extra: &[char],
        full_len: usize,
        max: usize,
        what: &str,
    ) {
        if !is_name(name, extra) {
            let allowed: String = extra.iter().map(|c| format!(" `{c}`")).collect();
            self.key(
                path,
                format!("`{name}` is not a valid name for a {what}"),
                Some(&format!("use letters, digits and{allowed}")),
            );
        } else if full_len > max {
            self.key(
                path,
                format!("the {what} name would be {full_len} characters long; AWS allows {max}"),
                Some("shorten the service, stage or resource name"),
            );
        }
    }

    fn references(&mut self, m: &Manifest, refs: &[ResourceRef]) {
        for r in refs {
            let declared: Vec<&str> = match r.kind.as_str() {
                "fn" => m.functions.keys().map(String::as_str).collect(),
                "table" => m.resources.tables.keys().map(String::as_str).collect(),
                "bucket" => m.resources.buckets.keys().map(String::as_str).collect(),
                "queue" => m.resources.queues.keys().map(String::as_str).collect(),
                _ => m
                    .resources
                    .state_machines
                    .keys()
                    .map(String::as_str)
                    .collect(),
            };
            let shown = format!("${{{}:{}}}", r.kind, r.name);
            if !declared.contains(&r.name.as_str()) {
                let help = did_you_mean(&r.name, declared.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"));
                let what = if r.kind == "fn" {
                    "function"
                } else {
                    r.kind.as_str()
                };
                let d = Diagnostic::at(
                    r.mark,
                    r.width,
                    format!("`{shown}` names no declared {what}"),
                )
                .with_path(r.path.clone());
                self.push(d, help.as_deref());
                continue;
            }
            let attrs = RESOURCE_KINDS
                .iter()
                .find(|(k, _)| *k == r.kind)
                .map(|(_, a)| *a)
                .unwrap_or_default();
            if let Some(attr) = &r.attribute {
                if !attrs.contains(&attr.as_str()) {
                    let d = Diagnostic::at(
                        r.mark,
                        r.width,
                        format!("`{shown}.{attr}`: a {} has no attribute `{attr}`", r.kind),
                    )
                    .with_path(r.path.clone());
                    let help = format!("use one of: {}", attrs.join(", "));
                    self.push(d, Some(&help));
                }
            }
        }
    }
}

/// API Gateway sees `/todos/{id}` and `/todos/{todoId}` as the same route.
fn normalize_route(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                if seg.ends_with("+}") {
                    "{+}"
                } else {
                    "{}"
                }
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn check_route_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("the path `{path}` must start with `/`"));
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() && segments.len() != 1 {
            return Err(format!("the path `{path}` has an empty segment"));
        }
        let opens = seg.matches('{').count();
        let closes = seg.matches('}').count();
        let is_param = seg.starts_with('{') && seg.ends_with('}') && opens == 1 && closes == 1;
        if (opens > 0 || closes > 0) && !is_param {
            return Err(format!(
                "`{seg}` in `{path}`: a path parameter is a whole segment such as `{{id}}`"
            ));
        }
        if is_param && seg.ends_with("+}") && i + 1 != segments.len() {
            return Err(format!(
                "`{seg}` in `{path}`: a greedy parameter must be the last segment"
            ));
        }
    }
    Ok(())
}

/// Checks an EventBridge schedule expression.
pub fn check_schedule(expr: &str) -> Result<(), String> {
    let expr = expr.trim();
    if let Some(body) = expr.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
        let mut parts = body.split_whitespace();
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("`{expr}` is not a rate: write `rate(VALUE UNIT)`"));
        };
        let n: u64 = n
            .parse()
            .map_err(|_| format!("`{expr}`: `{n}` is not a positive whole number"))?;
        if n == 0 {
            return Err(format!("`{expr}`: the rate must be at least 1"));
        }
        let singular = ["minute", "hour", "day"];
        let plural = ["minutes", "hours", "days"];
        return match (n, singular.contains(&unit), plural.contains(&unit)) {
            (1, true, _) | (2.., _, true) => Ok(()),
            (1, _, true) => Err(format!(
                "`{expr}`: EventBridge wants the singular for 1: `rate(1 {})`",
                unit.trim_end_matches('s')
            )),
            (_, true, _) => Err(format!(
                "`{expr}`: EventBridge wants the plural above 1: `rate({n} {unit}s)`"
            )),
            _ => Err(format!(
                "`{expr}`: the unit `{unit}` is not one of minute(s), hour(s), day(s)"
            )),
        };
    }
    if let Some(body) = expr.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
        let fields: Vec<&str> = body.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "`{expr}` has {} fields; EventBridge cron takes 6: minutes hours day-of-month month day-of-week year",
                fields.len()
            ));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || ",-*/?LW#".contains(c);
        if let Some(bad) = fields.iter().find(|f| !f.chars().all(allowed)) {
            return Err(format!(
                "`{expr}`: the field `{bad}` holds characters cron does not accept"
            ));
        }
        if (fields[2] == "?") == (fields[4] == "?") {
            return Err(format!(
                "`{expr}`: exactly one of day-of-month (3rd) and day-of-week (5th) must be `?`"
            ));
        }
        return Ok(());
    }
    Err(format!("`{expr}` is not a schedule expression"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_expressions() {
        for ok in [
            "rate(1 day)",
            "rate(5 minutes)",
            "rate(2 hours)",
            "cron(0 12 * * ? *)",
            "cron(0/15 8-17 ? * MON-FRI *)",
        ] {
            assert_eq!(check_schedule(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("rate(1 days)", "singular"),
            ("rate(5 minute)", "plural"),
            ("rate(0 minutes)", "at least 1"),
            ("rate(5 weeks)", "unit `weeks`"),
            ("rate(five minutes)", "not a positive whole number"),
            ("cron(0 12 * * *)", "has 5 fields"),
            ("cron(0 12 * * * *)", "exactly one of day-of-month"),
            ("every day", "not a schedule expression"),
        ] {
            let err = check_schedule(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn routes_with_renamed_parameters_collide() {
        assert_eq!(
            normalize_route("/todos/{id}"),
            normalize_route("/todos/{todoId}")
        );
        assert_ne!(
            normalize_route("/todos/{id}"),
            normalize_route("/todos/{proxy+}")
        );
        assert!(check_route_path("/todos/{id}").is_ok());
        assert!(check_route_path("/").is_ok());
        assert!(check_route_path("todos").is_err());
        assert!(check_route_path("/a/{proxy+}/b").is_err());
        assert!(check_route_path("/a/x{id}").is_err());
    }

    #[test]
    fn bucket_names_are_lowercase_and_carry_account_and_region() {
        assert_eq!(
            bucket_name("Todo", "dev", "uploads", "123456789012", "us-east-1"),
            "todo-dev-uploads-123456789012-us-east-1"
        );
    }
}
