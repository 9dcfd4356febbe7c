//! IAM statements on the service's own tables, buckets and queues become per-function
//! `permissions:` grants (least privilege: only the functions that use the resource);
//! the other statements stay, as the escape hatch (`provider.iam.role.statements`).

use super::resources::{variable, Converted, Kind};
use super::tree::{self, string};
use super::Cx;
use crate::manifest::node::{Node, Value};

/// The own resource an IAM `Resource` string names, with the access kind it takes.
fn own_resource<'a>(resource: &str, cx: &'a Cx) -> Option<&'a Converted> {
    cx.resources
        .iter()
        .filter(|c| matches!(c.kind, Kind::Table | Kind::Bucket | Kind::Queue))
        .find(|c| {
            let var = variable(c, "").unwrap_or_default();
            let arn = variable(c, "Arn").unwrap_or_default();
            let by_var = resource == arn
                || resource
                    .strip_prefix(&arn)
                    .is_some_and(|rest| rest.starts_with('/'))
                || (c.kind == Kind::Bucket
                    && (resource == format!("arn:aws:s3:::{var}")
                        || resource.starts_with(&format!("arn:aws:s3:::{var}/"))));
            let by_name = c.physical.as_deref().is_some_and(|p| match c.kind {
                Kind::Table => {
                    resource.contains(&format!(":table/{p}"))
                        && resource
                            .split(&format!(":table/{p}"))
                            .nth(1)
                            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
                }
                Kind::Bucket => {
                    resource == format!("arn:aws:s3:::{p}")
                        || resource.starts_with(&format!("arn:aws:s3:::{p}/"))
                }
                Kind::Queue => {
                    resource.starts_with("arn:aws:sqs:") && resource.ends_with(&format!(":{p}"))
                }
                _ => false,
            });
            by_var || by_name
        })
}

/// The grants (kind, access) the statement's actions amount to on a resource kind, or None.
fn accesses(kind: Kind, actions: &[String]) -> Option<Vec<&'static str>> {
    let (service, read, write): (&str, &[&str], &[&str]) = match kind {
        Kind::Table => (
            "dynamodb",
            &[
                "GetItem",
                "BatchGetItem",
                "Query",
                "Scan",
                "DescribeTable",
                "ConditionCheckItem",
                "PartiQLSelect",
                "DescribeStream",
                "GetRecords",
                "GetShardIterator",
                "ListStreams",
            ],
            &[
                "PutItem",
                "UpdateItem",
                "DeleteItem",
                "BatchWriteItem",
                "PartiQLInsert",
                "PartiQLUpdate",
                "PartiQLDelete",
            ],
        ),
        Kind::Bucket => (
            "s3",
            &[
                "GetObject",
                "GetObjectVersion",
                "ListBucket",
                "GetBucketLocation",
                "GetObjectTagging",
            ],
            &[
                "PutObject",
                "DeleteObject",
                "PutObjectAcl",
                "PutObjectTagging",
                "DeleteObjectVersion",
                "AbortMultipartUpload",
            ],
        ),
        Kind::Queue => (
            "sqs",
            &[
                "ReceiveMessage",
                "DeleteMessage",
                "DeleteMessageBatch",
                "ChangeMessageVisibility",
                "ChangeMessageVisibilityBatch",
            ],
            &["SendMessage", "SendMessageBatch"],
        ),
        _ => return None,
    };
    let (mut r, mut w) = (false, false);
    for a in actions {
        let (svc, op) = a.split_once(':')?;
        if !svc.eq_ignore_ascii_case(service) {
            continue;
        }
        if op == "*" {
            r = true;
            w = true;
        } else if read.contains(&op) {
            r = true;
        } else if write.contains(&op) {
            w = true;
        } else if !matches!(op, "GetQueueAttributes" | "GetQueueUrl") {
            return None;
        }
    }
    Some(match (kind, r, w) {
        (Kind::Queue, true, true) => vec!["send", "consume"],
        (Kind::Queue, true, false) => vec!["consume"],
        (Kind::Queue, false, true) => vec!["send"],
        (_, true, true) => vec!["readwrite"],
        (_, true, false) => vec!["read"],
        (_, false, true) => vec!["write"],
        (_, false, false) => vec!["read"],
    })
}

fn strings(n: Option<&Node>) -> Option<Vec<String>> {
    let n = n?;
    match &n.value {
        Value::Scalar { text, .. } => Some(vec![text.clone()]),
        Value::Seq(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        Value::Map(_) => None,
    }
}

/// The grants a statement becomes, when every resource is the service's own and every action maps.
fn grants(st: &Node, cx: &Cx) -> Option<Vec<(Converted, &'static str)>> {
    if st.get("Effect").and_then(Node::as_str) != Some("Allow")
        || st.get("Condition").is_some()
        || st.get("NotAction").is_some()
        || st.get("NotResource").is_some()
    {
        return None;
    }
    let actions = strings(st.get("Action"))?;
    let mut out = Vec::new();
    for r in strings(st.get("Resource"))? {
        let c = own_resource(&r, cx)?;
        // Every action must be for the service of some resource of the statement.
        for a in accesses(c.kind, &actions)? {
            if !out
                .iter()
                .any(|(o, x): &(Converted, &str)| o.name == c.name && o.kind == c.kind && *x == a)
            {
                out.push((c.clone(), a));
            }
        }
    }
    let services: Vec<&str> = out
        .iter()
        .map(|(c, _)| match c.kind {
            Kind::Table => "dynamodb",
            Kind::Bucket => "s3",
            _ => "sqs",
        })
        .collect();
    actions
        .iter()
        .all(|a| {
            a.split(':')
                .next()
                .is_some_and(|s| services.iter().any(|x| x.eq_ignore_ascii_case(s)))
        })
        .then_some(out)
}

/// Whether a function uses a resource: its events or its (or the provider's) environment name it.
fn uses(f: &Node, provider_env: &str, c: &Converted) -> bool {
    let prefix = match c.kind {
        Kind::Table => "table",
        Kind::Bucket => "bucket",
        _ => "queue",
    };
    let var = format!("${{{prefix}:{}", c.name);
    let text = format!("{provider_env}{}", flatten(f));
    text.contains(&var)
        || f.get("events").is_some_and(|e| {
            tree::items(e).iter().any(|ev| {
                let v = flatten(ev);
                v.contains(&format!(": {}\n", c.name)) || v.contains(&format!(":{}\n", c.name))
            })
        })
}

fn flatten(n: &Node) -> String {
    let mut out = String::new();
    let mut n = n.clone();
    tree::walk_mut(&mut n, &mut |x| {
        if let Some(s) = x.as_str() {
            out.push_str(": ");
            out.push_str(s);
            out.push('\n');
        }
    });
    out
}

pub fn convert(root: &mut Node, cx: &mut Cx) {
    // Serverless v2's `provider.iamRoleStatements` and v3's `provider.iam.role.statements`.
    let mut statements: Vec<Node> = Vec::new();
    if let Some(p) = tree::get_mut(root, "provider") {
        if let Some((k, v)) = tree::take(p, "iamRoleStatements") {
            cx.changed(
                &k,
                "provider.iamRoleStatements",
                "→ `provider.iam.role.statements` for what is not converted to grants",
            );
            statements.extend(tree::items(&v).iter().cloned());
        }
        if let Some(iam) = tree::get_mut(p, "iam") {
            if let Value::Map(_) = &iam.value {
                {
                    if let Some(role) = tree::get_mut(iam, "role") {
                        if let Some(arn) = role.as_str() {
                            let at = role.clone();
                            cx.todo(&at, "provider.iam.role", format!("a shared role (`{arn}`) is not supported: sls-rs gives each function its own role from `permissions`; removed"));
                            tree::take(iam, "role");
                        } else {
                            for (k, _) in tree::entries(role).to_vec() {
                                match k.as_str().unwrap_or_default() {
                                    "statements" => {}
                                    f @ ("managedPolicies"
                                    | "permissionsBoundary"
                                    | "permissionBoundary") => {
                                        cx.todo(&k, format!("provider.iam.role.{f}"), format!("`{f}` is not supported; removed: write its permissions as statements"));
                                        tree::take(role, f);
                                    }
                                    f => {
                                        cx.removed(&k, format!("provider.iam.role.{f}"), "sls-rs names and tags each function's role itself; removed");
                                        tree::take(role, f);
                                    }
                                }
                            }
                            if let Some((_, s)) = tree::take(role, "statements") {
                                statements.extend(tree::items(&s).iter().cloned());
                            }
                        }
                    }
                    for (k, _) in tree::entries(iam).to_vec() {
                        if k.as_str() != Some("role") {
                            cx.todo(
                                &k,
                                format!("provider.iam.{}", k.as_str().unwrap_or("?")),
                                "not supported; removed",
                            );
                            tree::take(iam, k.as_str().unwrap_or_default());
                        }
                    }
                }
            }
        }
    }
    let provider_env = root
        .get("provider")
        .and_then(|p| p.get("environment"))
        .map(flatten)
        .unwrap_or_default();
    let names: Vec<String> = root
        .get("functions")
        .map(tree::entries)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .collect();
    let mut kept = Vec::new();
    for st in statements {
        let Some(gs) = grants(&st, cx) else {
            kept.push(st);
            continue;
        };
        let mut said = Vec::new();
        for (c, access) in gs {
            let functions = root
                .get("functions")
                .cloned()
                .unwrap_or_else(|| tree::map(vec![]));
            let mut to: Vec<&String> = names
                .iter()
                .filter(|n| functions.get(n).is_some_and(|f| uses(f, &provider_env, &c)))
                .collect();
            if to.is_empty() {
                to = names.iter().collect();
            }
            for name in &to {
                let f = tree::get_mut(tree::get_mut(root, "functions").expect("functions"), name)
                    .expect("a function");
                grant(f, &c, access);
            }
            let prefix = match c.kind {
                Kind::Table => "table",
                Kind::Bucket => "bucket",
                _ => "queue",
            };
            said.push(format!(
                "{{ {prefix}: {}, access: {access} }} to {}",
                c.name,
                to.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        cx.changed(&st, "provider.iam.role.statements", format!("a statement on the service's own resources → `permissions`: {} (only the functions that name the resource in their environment or events; every function when none does)", said.join("; ")));
    }
    if let Some(p) = tree::get_mut(root, "provider") {
        if kept.is_empty() {
            if let Some(iam) = tree::get_mut(p, "iam") {
                if let Some(role) = tree::get_mut(iam, "role") {
                    tree::take(role, "statements");
                }
                if tree::get_mut(iam, "role").is_some_and(|r| tree::is_empty(r)) {
                    tree::take(iam, "role");
                }
            }
            if p.get("iam").is_some_and(tree::is_empty) {
                tree::take(p, "iam");
            }
        } else {
            for st in &kept {
                cx.changed(st, "provider.iam.role.statements", "kept as a raw statement for every function (it is not only on the service's own tables, buckets and queues)");
            }
            let role = tree::child_map(tree::child_map(p, "iam"), "role");
            tree::set(role, "statements", tree::seq(kept));
        }
    }
}

fn grant(f: &mut Node, c: &Converted, access: &str) {
    let prefix = match c.kind {
        Kind::Table => "table",
        Kind::Bucket => "bucket",
        _ => "queue",
    };
    let g = tree::map(vec![
        (prefix, string(c.name.clone())),
        ("access", string(access)),
    ]);
    if f.get("permissions").is_none() {
        tree::set(f, "permissions", tree::seq(vec![]));
    }
    let list = tree::get_mut(f, "permissions").expect("set");
    if let Value::Seq(items) = &mut list.value {
        let same = |n: &Node| {
            n.get(prefix).and_then(Node::as_str) == Some(&c.name)
                && n.get("access").and_then(Node::as_str) == Some(access)
        };
        if !items.iter().any(same) {
            items.push(g);
        }
    }
}
