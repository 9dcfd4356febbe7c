//! `resources.Resources` (CloudFormation): DynamoDB tables, S3 buckets and SQS queues
//! become `resources.tables/buckets/queues`; `Ref`/`Fn::GetAtt`/`Fn::Sub`/`Fn::Join`
//! to them (and to functions and AWS's pseudo parameters) become `${table:…}`-style
//! variables; every other resource type is listed as not converted.

use super::tree::{self, string};
use super::Cx;
use crate::manifest::node::{Node, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Table,
    Bucket,
    Queue,
    Function,
    /// A queue used only as another queue's dead-letter queue (sls-rs makes `{queue}-dlq`).
    DeadLetter,
}

/// A CloudFormation logical id (or a function's name) and what it became.
#[derive(Clone, Debug)]
pub struct Converted {
    pub logical_id: String,
    pub kind: Kind,
    pub name: String,
    /// The physical name as the file wrote it (`TableName: ${self:custom.table}`), to
    /// recognise the resource in ARNs and environment values written by hand.
    pub physical: Option<String>,
}

/// Serverless Framework's logical id of a function: `hello-world` → `HelloDashworldLambdaFunction`.
fn function_logical_id(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        match c {
            '-' => out.push_str("Dash"),
            '_' => out.push_str("Underscore"),
            c if i == 0 => out.push(c.to_ascii_uppercase()),
            c => out.push(c),
        }
    }
    out + "LambdaFunction"
}

fn resource_name(
    logical_id: &str,
    suffixes: &[&str],
    fallback: &str,
    taken: &[Converted],
) -> String {
    let mut base = logical_id;
    for s in suffixes {
        if let Some(stripped) = base.strip_suffix(s).filter(|b| !b.is_empty()) {
            base = stripped;
            break;
        }
    }
    let mut name = tree::kebab(base);
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name = format!("{fallback}{name}");
    }
    let mut candidate = name.clone();
    let mut n = 2;
    while taken
        .iter()
        .any(|c| c.name == candidate && c.kind != Kind::Function)
    {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    candidate
}

pub fn convert(root: &mut Node, cx: &mut Cx) {
    for (k, _) in tree::entries(root.get("functions").unwrap_or(&tree::map(vec![]))) {
        if let Some(name) = k.as_str() {
            for id in [name.to_string(), function_logical_id(name)] {
                cx.resources.push(Converted {
                    logical_id: id,
                    kind: Kind::Function,
                    name: name.to_string(),
                    physical: None,
                });
            }
        }
    }
    let Some(at) = tree::entries(root)
        .iter()
        .position(|(k, _)| k.as_str() == Some("resources"))
    else {
        return;
    };
    let (res_key, resources) = tree::entries_mut(root).expect("a map").remove(at);
    // `resources:` may be a list of blocks (often `${file(…)}` includes).
    let blocks: Vec<Node> = match &resources.value {
        Value::Seq(items) => items.clone(),
        _ => vec![resources.clone()],
    };
    let mut out = tree::map(vec![]);
    let mut cfn: Vec<(Node, Node)> = Vec::new();
    for block in &blocks {
        for (k, v) in tree::entries(block) {
            let name = k.as_str().unwrap_or_default();
            match name {
                "Resources" => cfn.extend(tree::entries(v).iter().cloned()),
                "tables" | "buckets" | "queues" | "stateMachines" => {
                    let dest = tree::child_map(&mut out, name);
                    for (rk, rv) in tree::entries(v) {
                        tree::entries_mut(dest).expect("a map").push((rk.clone(), rv.clone()));
                    }
                }
                "Outputs" => cx.removed(k, "resources.Outputs", "CloudFormation outputs do not exist without a stack; `sls-rs info` shows the service's endpoints and names"),
                "Description" | "AWSTemplateFormatVersion" => cx.removed(k, format!("resources.{name}"), "CloudFormation template metadata; removed"),
                other => cx.todo(k, format!("resources.{other}"), format!("`{other}` (CloudFormation) was not converted; removed")),
            }
        }
    }
    // Queues named as another queue's dead-letter target.
    let mut dead_letters: Vec<String> = Vec::new();
    for (_, r) in &cfn {
        if r.get("Type").and_then(Node::as_str) == Some("AWS::SQS::Queue") {
            if let Some(target) = r
                .get("Properties")
                .and_then(|p| p.get("RedrivePolicy"))
                .and_then(|p| p.get("deadLetterTargetArn"))
            {
                if let Some(id) = logical_target(target) {
                    dead_letters.push(id);
                }
            }
        }
    }
    // Names first, so references between resources (a redrive policy) resolve.
    for (k, r) in &cfn {
        let id = k.as_str().unwrap_or_default().to_string();
        let (kind, suffixes, fallback): (Kind, &[&str], &str) = match r
            .get("Type")
            .and_then(Node::as_str)
        {
            Some("AWS::DynamoDB::Table") => (
                Kind::Table,
                &["DynamoDbTable", "DynamoDBTable", "DynamodbTable", "Table"],
                "table",
            ),
            Some("AWS::S3::Bucket") => (Kind::Bucket, &["S3Bucket", "Bucket"], "bucket"),
            Some("AWS::SQS::Queue") if dead_letters.contains(&id) => {
                (Kind::DeadLetter, &["Queue"], "queue")
            }
            Some("AWS::SQS::Queue") => (Kind::Queue, &["SQSQueue", "SqsQueue", "Queue"], "queue"),
            _ => continue,
        };
        let name = resource_name(&id, suffixes, fallback, &cx.resources);
        let props = r.get("Properties");
        let physical = ["TableName", "BucketName", "QueueName"]
            .iter()
            .find_map(|f| props.and_then(|p| p.get(f)).and_then(Node::as_str))
            .filter(|p| p.len() > 3)
            .map(str::to_string);
        cx.resources.push(Converted {
            logical_id: id,
            kind,
            name,
            physical,
        });
    }
    for (k, r) in &cfn {
        let id = k.as_str().unwrap_or_default();
        let path = format!("resources.Resources.{id}");
        let Some(target) = cx
            .resources
            .iter()
            .find(|c| c.logical_id == id && c.kind != Kind::Function)
            .cloned()
        else {
            let ty = r.get("Type").and_then(Node::as_str).unwrap_or("(no Type)");
            cx.todo(k, &path, format!("`{ty}` is not converted (sls-rs manages DynamoDB tables, S3 buckets, SQS queues and Step Functions only); removed: create it another way and pass its name or ARN in `environment`"));
            continue;
        };
        let props = r
            .get("Properties")
            .cloned()
            .unwrap_or_else(|| tree::map(vec![]));
        let mut body = tree::map(vec![]);
        body.mark = k.mark;
        for (rk, rv) in tree::entries(r) {
            let field = rk.as_str().unwrap_or_default();
            let sub = format!("{path}.{field}");
            match field {
                "Type" | "Properties" => {}
                "DeletionPolicy" => match rv.as_str() {
                    Some("Retain" | "RetainExceptOnCreate" | "Snapshot") => {
                        tree::set(&mut body, "deletionPolicy", string("retain"))
                    }
                    Some("Delete") => tree::set(&mut body, "deletionPolicy", string("delete")),
                    _ => cx.todo(
                        rk,
                        &sub,
                        "not a deletion policy sls-rs knows; removed (the default keeps the data)",
                    ),
                },
                "UpdateReplacePolicy" | "DependsOn" | "Metadata" => {
                    cx.removed(rk, &sub, "CloudFormation-only; removed")
                }
                other => cx.todo(rk, &sub, format!("`{other}` was not converted; removed")),
            }
        }
        let dest = match target.kind {
            Kind::Table => {
                table(&props, &path, &mut body, cx);
                "tables"
            }
            Kind::Bucket => {
                bucket(&props, &path, &mut body, cx);
                "buckets"
            }
            Kind::Queue => {
                queue(&props, &path, &mut body, cx);
                "queues"
            }
            Kind::DeadLetter => {
                cx.changed(k, &path, "a dead-letter queue: sls-rs creates `{queue}-dlq` for each queue with `deadLetter`, so it is not declared on its own; its settings are not kept");
                continue;
            }
            Kind::Function => continue,
        };
        cx.changed(k, &path, format!("→ resources.{dest}.{}", target.name));
        let dest = tree::child_map(&mut out, dest);
        tree::entries_mut(dest)
            .expect("a map")
            .push((Node::scalar(target.name.clone(), false, k.mark), body));
    }
    if !tree::is_empty(&out) {
        out.mark = resources.mark;
        // Where the user had it.
        tree::entries_mut(root)
            .expect("the root is a map")
            .insert(at, (res_key, out));
    }
}

/// The logical id a `Ref` or `Fn::GetAtt` names.
fn logical_target(node: &Node) -> Option<String> {
    if let Some(r) = node.get("Ref").and_then(Node::as_str) {
        return Some(r.to_string());
    }
    let att = node.get("Fn::GetAtt")?;
    match &att.value {
        Value::Seq(items) => items.first()?.as_str().map(str::to_string),
        Value::Scalar { text, .. } => text.split('.').next().map(str::to_string),
        Value::Map(_) => None,
    }
}

/// The converted resource a `Ref`/`Fn::GetAtt` names, and the attribute (empty for `Ref`).
pub fn reference_target<'a>(node: &Node, cx: &'a Cx) -> Option<(&'a Converted, String)> {
    let id = logical_target(node)?;
    let attr = match node.get("Fn::GetAtt").map(|a| &a.value) {
        Some(Value::Seq(items)) => items.get(1)?.as_str()?.to_string(),
        Some(Value::Scalar { text, .. }) => text.split_once('.')?.1.to_string(),
        _ => String::new(),
    };
    // A CloudFormation resource before a function of the same name (functions are
    // known by their own name too, which a logical id may repeat).
    let named = || cx.resources.iter().filter(|c| c.logical_id == id);
    let c = named()
        .find(|c| c.kind != Kind::Function)
        .or_else(|| named().next())?;
    Some((c, attr))
}

/// `${table:users.arn}` for a reference, when sls-rs has that attribute.
pub fn variable(c: &Converted, attr: &str) -> Option<String> {
    let (prefix, suffix) = match (c.kind, attr) {
        (Kind::Table, "") => ("table", ""),
        (Kind::Table, "Arn") => ("table", ".arn"),
        (Kind::Table, "StreamArn") => ("table", ".streamArn"),
        (Kind::Bucket, "") => ("bucket", ""),
        (Kind::Bucket, "Arn") => ("bucket", ".arn"),
        (Kind::Queue, "" | "QueueUrl") => ("queue", ""),
        (Kind::Queue, "Arn") => ("queue", ".arn"),
        (Kind::Queue, "QueueName") => ("queue", ".name"),
        (Kind::Function, "") => ("fn", ".name"),
        (Kind::Function, "Arn") => ("fn", ""),
        _ => return None,
    };
    Some(format!("${{{prefix}:{}{suffix}}}", c.name))
}

fn pseudo(name: &str) -> Option<&'static str> {
    Some(match name {
        "AWS::Region" => "${aws:region}",
        "AWS::AccountId" => "${aws:accountId}",
        "AWS::Partition" => "aws",
        "AWS::URLSuffix" => "amazonaws.com",
        "AWS::StackName" => "${self:service}-${sls:stage}",
        _ => return None,
    })
}

/// The text a CloudFormation function stands for, or why it cannot be written as text.
fn as_text(node: &Node, cx: &Cx) -> Result<String, String> {
    match &node.value {
        Value::Scalar { text, .. } => return Ok(text.clone()),
        Value::Seq(_) => return Err("a list".into()),
        Value::Map(e) if e.len() != 1 => return Err("a mapping".into()),
        Value::Map(_) => {}
    }
    if let Some(name) = node.get("Ref").and_then(Node::as_str) {
        if let Some(p) = pseudo(name) {
            return Ok(p.to_string());
        }
    }
    if node.get("Ref").is_some() || node.get("Fn::GetAtt").is_some() {
        let id = logical_target(node).unwrap_or_default();
        return match reference_target(node, cx) {
            Some((c, attr)) => variable(c, &attr).ok_or_else(|| match c.kind {
                Kind::DeadLetter => format!("`{id}` is a dead-letter queue, which sls-rs names `{{queue}}-dlq` and does not expose as a variable"),
                _ => format!("sls-rs has no variable for the `{attr}` of `{id}`"),
            }),
            None => Err(format!("`{id}` is not a resource sls-rs converted")),
        };
    }
    if let Some(v) = node.get("Fn::Join") {
        let parts = tree::items(v);
        let (Some(sep), Some(list)) = (parts.first().and_then(Node::as_str), parts.get(1)) else {
            return Err("an unreadable Fn::Join".into());
        };
        let texts: Result<Vec<String>, String> =
            tree::items(list).iter().map(|p| as_text(p, cx)).collect();
        return texts.map(|t| t.join(sep));
    }
    if let Some(v) = node.get("Fn::Sub") {
        let (template, vars) = match &v.value {
            Value::Seq(items) => (
                items
                    .first()
                    .and_then(Node::as_str)
                    .unwrap_or_default()
                    .to_string(),
                items.get(1).cloned(),
            ),
            _ => (v.as_str().unwrap_or_default().to_string(), None),
        };
        let mut out = String::new();
        let mut rest = template.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            let name = &after[..end];
            let value = if let Some(v) = vars.as_ref().and_then(|m| m.get(name)) {
                as_text(v, cx)?
            } else if let Some(p) = pseudo(name) {
                p.to_string()
            } else if let Some(literal) = name.strip_prefix('!') {
                format!("${{{literal}}}")
            } else {
                let (id, attr) = name.split_once('.').unwrap_or((name, ""));
                let fake = if attr.is_empty() {
                    tree::map(vec![("Ref", string(id))])
                } else {
                    tree::map(vec![(
                        "Fn::GetAtt",
                        tree::seq(vec![string(id), string(attr)]),
                    )])
                };
                as_text(&fake, cx)?
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        return Ok(out);
    }
    let (name, _) = &tree::entries(node)[0];
    Err(format!(
        "`{}` is not converted",
        name.as_str().unwrap_or("?")
    ))
}

/// Every `Ref`/`Fn::*` outside `custom` becomes a variable, or is reported.
pub fn references(root: &mut Node, cx: &mut Cx) {
    let Value::Map(entries) = &mut root.value else {
        return;
    };
    for (k, v) in entries.iter_mut() {
        if k.as_str() == Some("custom") {
            continue;
        }
        let top = k.as_str().unwrap_or_default().to_string();
        replace(v, &top, cx);
    }
}

fn replace(node: &mut Node, path: &str, cx: &mut Cx) {
    let function = match &node.value {
        Value::Map(e) if e.len() == 1 => e[0]
            .0
            .as_str()
            .filter(|k| *k == "Ref" || k.starts_with("Fn::"))
            .map(str::to_string),
        _ => None,
    };
    if let Some(function) = function {
        let key_node = tree::entries(node)[0].0.clone();
        match as_text(node, cx) {
            Ok(text) => {
                cx.changed(&key_node, path, format!("`{function}` → `{text}`"));
                let mark = node.mark;
                *node = Node::scalar(text, false, mark);
            }
            Err(why) => cx.todo(&key_node, path, format!("`{function}` could not be converted: {why}; write the value with sls-rs's variables (`${{table:NAME.arn}}`, `${{aws:region}}` …)")),
        }
        return;
    }
    if path.ends_with(".environment") || path.contains(".environment.") {
        if let Some(text) = node.as_str() {
            if let Some(c) = cx
                .resources
                .iter()
                .find(|c| c.physical.as_deref() == Some(text) && c.kind != Kind::DeadLetter)
            {
                let var = variable(c, "").expect("a name");
                cx.changed(
                    node,
                    path,
                    format!("`{text}` is the name of `{}`: → `{var}`", c.logical_id),
                );
                *node = Node::scalar(var, false, node.mark);
                return;
            }
        }
    }
    match &mut node.value {
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                let p = format!("{path}.{}", k.as_str().unwrap_or("?"));
                replace(v, &p, cx);
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                replace(v, &format!("{path}[{i}]"), cx);
            }
        }
        Value::Scalar { .. } => {}
    }
}

/// Reads `Properties` field by field: `known` fields are handled by `f`, which returns
/// false for a value it could not convert; everything else is reported and removed.
fn each(
    props: &Node,
    path: &str,
    cx: &mut Cx,
    f: &mut dyn FnMut(&str, &Node, &mut Cx) -> Option<bool>,
) {
    for (k, v) in tree::entries(props) {
        let name = k.as_str().unwrap_or_default();
        let sub = format!("{path}.Properties.{name}");
        match f(name, v, cx) {
            Some(true) => {}
            Some(false) => cx.todo(k, &sub, "this value was not converted; removed"),
            None => cx.todo(
                k,
                &sub,
                format!("`{name}` has no sls-rs equivalent; removed"),
            ),
        }
    }
}

fn key_attr(name: &str, defs: Option<&Node>) -> Node {
    let kind = defs
        .map(tree::items)
        .unwrap_or_default()
        .iter()
        .find(|d| d.get("AttributeName").and_then(Node::as_str) == Some(name))
        .and_then(|d| d.get("AttributeType"))
        .and_then(Node::as_str)
        .unwrap_or("S")
        .to_string();
    tree::map(vec![("name", string(name)), ("type", string(kind))])
}

/// `KeySchema` → (partitionKey, sortKey).
fn keys(schema: Option<&Node>, defs: Option<&Node>) -> Option<(Node, Option<Node>)> {
    let mut hash = None;
    let mut range = None;
    for k in tree::items(schema?) {
        let name = k.get("AttributeName")?.as_str()?;
        match k.get("KeyType")?.as_str()? {
            "HASH" => hash = Some(key_attr(name, defs)),
            "RANGE" => range = Some(key_attr(name, defs)),
            _ => return None,
        }
    }
    Some((hash?, range))
}

fn capacity(p: &Node) -> Option<Node> {
    Some(tree::map(vec![
        ("read", p.get("ReadCapacityUnits")?.clone()),
        ("write", p.get("WriteCapacityUnits")?.clone()),
    ]))
}

fn tags(v: &Node) -> Option<Node> {
    let mut out = Vec::new();
    for t in tree::items(v) {
        out.push((t.get("Key")?.as_str()?.to_string(), t.get("Value")?.clone()));
    }
    Some(tree::map(
        out.iter().map(|(k, v)| (k.as_str(), v.clone())).collect(),
    ))
}

fn table(props: &Node, path: &str, body: &mut Node, cx: &mut Cx) {
    let defs = props.get("AttributeDefinitions");
    let schema = props.get("KeySchema");
    match keys(schema, defs) {
        Some((pk, sk)) => {
            tree::set(body, "partitionKey", pk);
            if let Some(sk) = sk {
                tree::set(body, "sortKey", sk);
            }
        }
        None => {
            let at = schema.unwrap_or(props).clone();
            cx.todo(
                &at,
                format!("{path}.Properties.KeySchema"),
                "the key schema could not be read; write `partitionKey: {{ name, type }}`",
            );
        }
    }
    let mut billing_set = false;
    each(props, path, cx, &mut |name, v, cx| match name {
        "AttributeDefinitions" | "KeySchema" => Some(true),
        "TableName" => {
            cx.changed(v, format!("{path}.Properties.TableName"), format!("sls-rs names the table `{{service}}-{{stage}}-NAME` (not `{}`); a deployed table is not adopted: copy its data if the service is live", v.as_str().unwrap_or("…")));
            Some(true)
        }
        "BillingMode" => {
            billing_set = true;
            tree::set(body, "billingMode", v.clone());
            Some(true)
        }
        "ProvisionedThroughput" => {
            let c = capacity(v)?;
            if !billing_set {
                tree::set(body, "billingMode", string("PROVISIONED"));
            }
            tree::set(body, "capacity", c);
            Some(true)
        }
        "StreamSpecification" => {
            tree::set(body, "stream", v.get("StreamViewType")?.clone());
            Some(true)
        }
        "TimeToLiveSpecification" => {
            if v.get("Enabled").is_none_or(tree::is_true) {
                tree::set(body, "ttl", v.get("AttributeName")?.clone());
            }
            Some(true)
        }
        "PointInTimeRecoverySpecification" => {
            tree::set(
                body,
                "pointInTimeRecovery",
                v.get("PointInTimeRecoveryEnabled")?.clone(),
            );
            Some(true)
        }
        "GlobalSecondaryIndexes" => {
            let mut out = Vec::new();
            for g in tree::items(v) {
                let (pk, sk) = keys(g.get("KeySchema"), defs)?;
                let mut e = vec![("name", g.get("IndexName")?.clone()), ("partitionKey", pk)];
                if let Some(sk) = sk {
                    e.push(("sortKey", sk));
                }
                match g
                    .get("Projection")
                    .and_then(|p| p.get("ProjectionType"))
                    .and_then(Node::as_str)
                {
                    None | Some("ALL") => {}
                    Some("KEYS_ONLY") => e.push(("projection", string("KEYS_ONLY"))),
                    Some(_) => return Some(false),
                }
                if let Some(c) = g.get("ProvisionedThroughput").and_then(capacity) {
                    e.push(("capacity", c));
                }
                out.push(tree::map(e));
            }
            tree::set(body, "globalSecondaryIndexes", tree::seq(out));
            Some(true)
        }
        "SSESpecification" => {
            cx.removed(v, format!("{path}.Properties.SSESpecification"), "DynamoDB encrypts every table at rest; a customer-managed key is not supported, so the table uses AWS's key");
            Some(true)
        }
        "Tags" => {
            tree::set(body, "tags", tags(v)?);
            Some(true)
        }
        _ => None,
    });
}

fn bucket(props: &Node, path: &str, body: &mut Node, cx: &mut Cx) {
    each(props, path, cx, &mut |name, v, cx| match name {
        "BucketName" => {
            cx.changed(v, format!("{path}.Properties.BucketName"), format!("sls-rs names the bucket `{{service}}-{{stage}}-NAME-{{account}}-{{region}}` (not `{}`); a deployed bucket is not adopted: copy its objects if the service is live", v.as_str().unwrap_or("…")));
            Some(true)
        }
        "VersioningConfiguration" => {
            let on = v.get("Status")?.as_str()? == "Enabled";
            tree::set(body, "versioning", tree::plain(on.to_string()));
            Some(true)
        }
        "BucketEncryption" => {
            let rule = tree::items(v.get("ServerSideEncryptionConfiguration")?).first()?;
            let algo = rule
                .get("ServerSideEncryptionByDefault")?
                .get("SSEAlgorithm")?
                .as_str()?;
            match algo {
                "AES256" | "aws:kms" => tree::set(body, "encryption", string(algo)),
                _ => return Some(false),
            }
            Some(true)
        }
        "PublicAccessBlockConfiguration" => {
            let all = tree::entries(v).iter().all(|(_, b)| tree::is_true(b));
            if !all {
                tree::set(body, "blockPublicAccess", tree::plain("false"));
            }
            Some(true)
        }
        "AccessControl" if v.as_str() == Some("Private") => Some(true),
        "OwnershipControls" => Some(true),
        "CorsConfiguration" => {
            let mut rules = Vec::new();
            for r in tree::items(v.get("CorsRules")?) {
                let mut e = vec![
                    ("allowedOrigins", r.get("AllowedOrigins")?.clone()),
                    ("allowedMethods", r.get("AllowedMethods")?.clone()),
                ];
                if let Some(h) = r.get("AllowedHeaders") {
                    e.push(("allowedHeaders", h.clone()));
                }
                if let Some(m) = r.get("MaxAge") {
                    e.push(("maxAge", m.clone()));
                }
                rules.push(tree::map(e));
            }
            tree::set(body, "cors", tree::seq(rules));
            Some(true)
        }
        "LifecycleConfiguration" => {
            let rules = tree::items(v.get("Rules")?);
            let [rule] = rules else { return Some(false) };
            // Only an enabled rule that expires objects, for the whole bucket or one
            // prefix, means what `lifecycle` means; anything else (disabled, filtered
            // by tag, transitions, noncurrent versions) would delete other objects.
            let Some(e) = plain_expiry(rule) else {
                cx.todo(
                    v,
                    format!("{path}.Properties.LifecycleConfiguration"),
                    "only an enabled rule that expires objects (whole bucket or one prefix) converts to `lifecycle`; this rule (disabled, filtered by tag, or with transitions/noncurrent-version actions) was not converted: set it on the bucket by hand",
                );
                return Some(true);
            };
            tree::set(body, "lifecycle", tree::map(e));
            Some(true)
        }
        "Tags" => {
            tree::set(body, "tags", tags(v)?);
            Some(true)
        }
        _ => None,
    });
}

/// An S3 lifecycle rule as `lifecycle` entries, when it is an enabled rule with only an
/// expiration in days and at most a prefix filter.
fn plain_expiry(rule: &Node) -> Option<Vec<(&'static str, Node)>> {
    if rule.get("Status").and_then(Node::as_str) != Some("Enabled") {
        return None;
    }
    let only = |n: &Node, allowed: &[&str]| {
        tree::entries(n)
            .iter()
            .all(|(k, _)| k.as_str().is_some_and(|k| allowed.contains(&k)))
    };
    if !only(
        rule,
        &["Id", "Status", "ExpirationInDays", "Prefix", "Filter"],
    ) {
        return None;
    }
    let filter = rule.get("Filter");
    if filter.is_some_and(|f| !only(f, &["Prefix"])) {
        return None;
    }
    let mut e = vec![("expireAfterDays", rule.get("ExpirationInDays")?.clone())];
    if let Some(p) = rule
        .get("Prefix")
        .or_else(|| filter.and_then(|f| f.get("Prefix")))
    {
        e.push(("prefix", p.clone()));
    }
    Some(e)
}

fn queue(props: &Node, path: &str, body: &mut Node, cx: &mut Cx) {
    each(props, path, cx, &mut |name, v, cx| match name {
        "QueueName" => {
            cx.changed(
                v,
                format!("{path}.Properties.QueueName"),
                format!(
                    "sls-rs names the queue `{{service}}-{{stage}}-NAME` (not `{}`)",
                    v.as_str().unwrap_or("…")
                ),
            );
            Some(true)
        }
        "VisibilityTimeout" => {
            tree::set(body, "visibilityTimeout", v.clone());
            Some(true)
        }
        "MessageRetentionPeriod" => {
            tree::set(body, "messageRetentionPeriod", v.clone());
            Some(true)
        }
        "FifoQueue" => {
            tree::set(body, "fifo", v.clone());
            Some(true)
        }
        "RedrivePolicy" => {
            tree::set(
                body,
                "deadLetter",
                tree::map(vec![("maxReceiveCount", v.get("maxReceiveCount")?.clone())]),
            );
            cx.changed(
                v,
                format!("{path}.Properties.RedrivePolicy"),
                "→ `deadLetter`: the dead-letter queue is `{queue}-dlq`, made by sls-rs",
            );
            Some(true)
        }
        "SqsManagedSseEnabled" => Some(true),
        "Tags" => {
            tree::set(body, "tags", tags(v)?);
            Some(true)
        }
        _ => None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_logical_ids_follow_serverless() {
        assert_eq!(
            function_logical_id("hello-world"),
            "HelloDashworldLambdaFunction"
        );
        assert_eq!(
            function_logical_id("get_user"),
            "GetUnderscoreuserLambdaFunction"
        );
    }

    #[test]
    fn resource_names_drop_the_type_suffix() {
        assert_eq!(
            resource_name(
                "UsersDynamoDbTable",
                &["DynamoDbTable", "Table"],
                "table",
                &[]
            ),
            "users"
        );
        assert_eq!(resource_name("Table", &["Table"], "table", &[]), "table");
        assert_eq!(
            resource_name("PhotoUploadsBucket", &["Bucket"], "bucket", &[]),
            "photo-uploads"
        );
    }
}
