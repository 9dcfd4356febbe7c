//! IAM statements on the service's own tables, buckets and queues become per-function
//! `permissions:` grants (least privilege: only the functions that use the resource);
//! the other statements stay, as the escape hatch (`provider.iam.role.statements`).

use super::resources::{variable, Converted, Kind};
use super::tree::{self, string};
use super::Cx;
use crate::manifest::node::{Node, Value};
use crate::model::{BUCKET_READ, BUCKET_WRITE, QUEUE_CONSUME, QUEUE_SEND, TABLE_READ, TABLE_WRITE};

/// The own resource an IAM `Resource` string names, and what follows its ARN
/// (`/index/byOwner`, `/uploads/*`; empty for the resource itself).
fn own_resource<'a>(resource: &str, cx: &'a Cx) -> Option<(&'a Converted, String)> {
    let after = |base: &str| -> Option<String> {
        let rest = resource.strip_prefix(base)?;
        (rest.is_empty() || rest.starts_with('/')).then(|| rest.to_string())
    };
    cx.resources
        .iter()
        .filter(|c| matches!(c.kind, Kind::Table | Kind::Bucket | Kind::Queue))
        .find_map(|c| {
            let var = variable(c, "").unwrap_or_default();
            let arn = variable(c, "Arn").unwrap_or_default();
            let by_var = after(&arn).or_else(|| {
                (c.kind == Kind::Bucket)
                    .then(|| after(&format!("arn:aws:s3:::{var}")))
                    .flatten()
            });
            let by_name = || {
                let p = c.physical.as_deref()?;
                match c.kind {
                    Kind::Table => {
                        let (_, rest) = resource.split_once(&format!(":table/{p}"))?;
                        (rest.is_empty() || rest.starts_with('/')).then(|| rest.to_string())
                    }
                    Kind::Bucket => after(&format!("arn:aws:s3:::{p}")),
                    Kind::Queue => (resource.starts_with("arn:aws:sqs:")
                        && resource.ends_with(&format!(":{p}")))
                    .then(String::new),
                    _ => None,
                }
            };
            Some((c, by_var.or_else(by_name)?))
        })
}

/// The grant (access, bucket prefix) a statement's actions and the part of a resource
/// after its ARN amount to, when `permissions:` grants what the statement does: every
/// action of the resource's service inside the grant's actions (model/iam.rs), at
/// least one that only this access grants, and a part the grant covers. None: the
/// statement stays as written.
fn access(
    kind: Kind,
    actions: &[String],
    rest: &str,
) -> Option<(&'static [&'static str], Option<String>)> {
    type Names = [&'static [&'static str]; 3];
    const DATA: Names = [&["read"], &["write"], &["readwrite"]];
    const QUEUE: Names = [&["consume"], &["send"], &["send", "consume"]];
    let (service, one, other, names): (&str, Vec<&str>, Vec<&str>, Names) = match kind {
        Kind::Table => ("dynamodb", TABLE_READ.to_vec(), TABLE_WRITE.to_vec(), DATA),
        Kind::Bucket => {
            let mut read = BUCKET_READ.to_vec();
            read.push("s3:ListBucket");
            ("s3", read, BUCKET_WRITE.to_vec(), DATA)
        }
        Kind::Queue => ("sqs", QUEUE_CONSUME.to_vec(), QUEUE_SEND.to_vec(), QUEUE),
        _ => return None,
    };
    let has = |list: &[&str], a: &str| list.iter().any(|x| x.eq_ignore_ascii_case(a));
    let (mut first, mut second) = (false, false);
    for a in actions {
        // IAM authorizes SQS's batch calls with the single call's action
        // (SendMessageBatch needs sqs:SendMessage): written out, they ask for no more.
        let a = &sqs_batch_as_single(a);
        let svc = a.split(':').next().unwrap_or_default();
        if !svc.eq_ignore_ascii_case(service) {
            continue;
        }
        match (has(&one, a), has(&other, a)) {
            (false, false) => return None, // `*`, `dynamodb:*`, or an action no grant gives
            (true, false) => first = true,
            (false, true) => second = true,
            (true, true) => {} // DescribeTable, GetQueueAttributes: given by either
        }
    }
    let name = match (first, second) {
        (true, false) => names[0],
        (false, true) => names[1],
        (true, true) => names[2],
        // No action of this resource's service, or only ones every access gives.
        (false, false) => return None,
    };
    let prefix = match kind {
        Kind::Table => {
            // Reads are granted on the table's indexes too; nothing else below the table.
            let index = rest.is_empty() || (rest.starts_with("/index/") && !second);
            return index.then_some((name, None));
        }
        Kind::Bucket => match rest {
            "" | "/*" => None,
            r => {
                let p = r.strip_prefix('/')?.strip_suffix('*')?;
                if p.contains(['*', '?']) || !p.ends_with('/') {
                    return None;
                }
                Some(p.to_string())
            }
        },
        _ if rest.is_empty() => None,
        _ => return None,
    };
    Some((name, prefix))
}

/// `sqs:SendMessageBatch` → `sqs:SendMessage` (also DeleteMessage and
/// ChangeMessageVisibility); any other action as it is.
fn sqs_batch_as_single(action: &str) -> String {
    const BATCHED: [&str; 3] = ["SendMessage", "DeleteMessage", "ChangeMessageVisibility"];
    match action.split_once(':') {
        Some((svc, op)) if svc.eq_ignore_ascii_case("sqs") => {
            match BATCHED
                .iter()
                .find(|b| op.eq_ignore_ascii_case(&format!("{b}Batch")))
            {
                Some(single) => format!("sqs:{single}"),
                None => action.to_string(),
            }
        }
        _ => action.to_string(),
    }
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

/// A grant a statement becomes: the resource, its access, and for a bucket the key prefix.
type Grant = (Converted, &'static str, Option<String>);

/// The grants a statement becomes, when every resource is the service's own and every action maps.
fn grants(st: &Node, cx: &Cx) -> Option<Vec<Grant>> {
    if st.get("Effect").and_then(Node::as_str) != Some("Allow")
        || st.get("Condition").is_some()
        || st.get("NotAction").is_some()
        || st.get("NotResource").is_some()
    {
        return None;
    }
    let actions = strings(st.get("Action"))?;
    let mut out: Vec<Grant> = Vec::new();
    let named: Vec<(&Converted, String)> = strings(st.get("Resource"))?
        .iter()
        .map(|r| own_resource(r, cx))
        .collect::<Option<_>>()?;
    for (c, rest) in &named {
        if c.kind == Kind::Bucket && rest.is_empty() {
            // The bucket itself (listing) goes with its objects: `read` lists every key
            // and reads every object, so only beside `bucket/*` and no narrower path.
            let objects: Vec<&str> = named
                .iter()
                .filter(|(o, r)| o.name == c.name && o.kind == Kind::Bucket && !r.is_empty())
                .map(|(_, r)| r.as_str())
                .collect();
            if objects.is_empty() || objects.iter().any(|r| *r != "/*") {
                return None;
            }
            continue;
        }
        let (c, rest) = (*c, rest.as_str());
        let (names, prefix) = access(c.kind, &actions, rest)?;
        for &a in names {
            if !out
                .iter()
                .any(|(o, x, p)| o.name == c.name && o.kind == c.kind && *x == a && *p == prefix)
            {
                out.push((c.clone(), a, prefix.clone()));
            }
        }
    }
    // Every action must be for the service of some resource of the statement.
    let services: Vec<&str> = out.iter().map(|(c, _, _)| service_of(c.kind)).collect();
    actions
        .iter()
        .all(|a| {
            a.split(':')
                .next()
                .is_some_and(|s| services.iter().any(|x| x.eq_ignore_ascii_case(s)))
        })
        .then_some(out)
}

fn service_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Table => "dynamodb",
        Kind::Bucket => "s3",
        _ => "sqs",
    }
}

/// Whether a function uses a resource: its events or its (or the provider's) environment name it.
fn uses(f: &Node, provider_env: &str, c: &Converted) -> bool {
    let prefix = match c.kind {
        Kind::Table => "table",
        Kind::Bucket => "bucket",
        _ => "queue",
    };
    // `${table:todo}` or `${table:todo.arn}`, not `${table:todo-archive}`.
    let var = format!("${{{prefix}:{}", c.name);
    let text = format!("{provider_env}{}", flatten(f));
    text.match_indices(&var)
        .any(|(i, _)| matches!(text[i + var.len()..].chars().next(), Some('}' | '.')))
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
        for (c, access, prefix) in gs {
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
                grant(f, &c, access, prefix.as_deref());
            }
            let at = prefix
                .as_deref()
                .map(|p| format!(", prefix: {p}"))
                .unwrap_or_default();
            said.push(format!(
                "{{ {}: {}, access: {access}{at} }} to {}",
                match c.kind {
                    Kind::Table => "table",
                    Kind::Bucket => "bucket",
                    _ => "queue",
                },
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

fn grant(f: &mut Node, c: &Converted, access: &str, key_prefix: Option<&str>) {
    let prefix = match c.kind {
        Kind::Table => "table",
        Kind::Bucket => "bucket",
        _ => "queue",
    };
    let mut entries = vec![(prefix, string(c.name.clone())), ("access", string(access))];
    if let Some(p) = key_prefix {
        entries.push(("prefix", string(p)));
    }
    let g = tree::map(entries);
    if f.get("permissions").is_none() {
        tree::set(f, "permissions", tree::seq(vec![]));
    }
    let list = tree::get_mut(f, "permissions").expect("set");
    if let Value::Seq(items) = &mut list.value {
        let same = |n: &Node| {
            n.get(prefix).and_then(Node::as_str) == Some(&c.name)
                && n.get("access").and_then(Node::as_str) == Some(access)
                && n.get("prefix").and_then(Node::as_str) == key_prefix
        };
        if !items.iter().any(same) {
            items.push(g);
        }
    }
}
