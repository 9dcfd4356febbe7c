//! `${file(x.yml):key}` inlined (sls-rs has no file variable); `${ssm:…}`, `${cf:…}`,
//! `${s3:…}` and the other sources sls-rs does not read are reported.

use std::path::Path;

use super::tree;
use super::Cx;
use crate::manifest::node::{self, KeyPath, Node, Value};
use crate::manifest::{limits, looks_secret};

/// At most this many nested `${file(…)}` (a file including itself would loop).
const MAX_DEPTH: usize = 8;

pub fn inline(root: &mut Node, cx: &mut Cx) {
    let dir = cx.dir.to_path_buf();
    inline_in(root, &dir, cx, 0, "", 0);
}

/// `depth`: how many files deep the include is; `level`: how many mappings and lists hold `node`.
fn inline_in(node: &mut Node, dir: &Path, cx: &mut Cx, depth: usize, path: &str, level: usize) {
    match &mut node.value {
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                let p = if path.is_empty() {
                    k.as_str().unwrap_or("?").to_string()
                } else {
                    format!("{path}.{}", k.as_str().unwrap_or("?"))
                };
                inline_in(v, dir, cx, depth, &p, level + 1);
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                inline_in(v, dir, cx, depth, &format!("{path}[{i}]"), level + 1);
            }
        }
        Value::Scalar { text, .. } => {
            let text = text.clone();
            let Some(start) = text.find("${file(") else {
                return;
            };
            let Some(end) = text[start..].find(')').map(|e| start + e) else {
                return;
            };
            let file = text[start + 7..end]
                .trim()
                .trim_matches(['\'', '"'])
                .to_string();
            let rest = &text[end + 1..];
            let close = rest.find('}');
            let address = match (rest.strip_prefix(':'), close) {
                (Some(a), Some(c)) => a[..c - 1].trim().to_string(),
                _ => String::new(),
            };
            let Some(close) = close.map(|c| end + 1 + c) else {
                return;
            };
            let whole = start == 0 && close + 1 == text.len();
            if file.contains("${") || depth >= MAX_DEPTH {
                cx.todo(node, path, format!("`{}`: the file name depends on a variable (or includes nest too deep), so it cannot be inlined; write the values here", &text[start..=close]));
                return;
            }
            let full = dir.join(&file);
            let loaded = std::fs::read_to_string(&full)
                .map_err(|e| format!("cannot read {}: {e}", full.display()))
                .and_then(|t| {
                    if full.extension().is_some_and(|e| e == "js" || e == "ts") {
                        return Err(
                            "a JavaScript file is evaluated by Serverless Framework; sls-rs cannot"
                                .to_string(),
                        );
                    }
                    node::parse_keeping_cloudformation(&t)
                        .map_err(|d| format!("{}:{}: {}", full.display(), d.mark.line, d.message))
                });
            let mut value = match loaded {
                Ok(v) => v,
                Err(why) => {
                    cx.todo(
                        node,
                        path,
                        format!("`{}` could not be inlined: {why}", &text[start..=close]),
                    );
                    return;
                }
            };
            if !address.is_empty() {
                match value.locate(&KeyPath::parse_dotted(&address).0) {
                    Some(v) => value = v.clone(),
                    None => {
                        cx.todo(
                            node,
                            path,
                            format!("`{}`: {file} has no `{address}`", &text[start..=close]),
                        );
                        return;
                    }
                }
            }
            let expr = text[start..=close].to_string();
            // Its nodes keep the lines of the other file; they are not this file's lines.
            tree::walk_mut(&mut value, &mut |n| n.mark = node::Mark { line: 0, col: 0 });
            // serverless.yaml is committed: a secret read from a file (kept out of the
            // repository) is read from the environment instead, never written here.
            let key = path.rsplit(['.', ']', '[']).next().unwrap_or_default();
            let named = [address.as_str(), key]
                .into_iter()
                .find(|n| !n.is_empty() && looks_secret(n));
            if let (Some(name), Value::Scalar { .. }) = (named, &value.value) {
                value = from_env(node, path, &expr, &env_name(name), cx);
            } else if path.split('.').any(|p| p == "environment") {
                // Only in environment variables: elsewhere a credential-like key names
                // a setting (a CloudFormation `SecretString`), not its value.
                env_for_secrets(&mut value, node, path, &expr, cx);
            }
            let sub_dir = full.parent().unwrap_or(dir).to_path_buf();
            inline_in(&mut value, &sub_dir, cx, depth + 1, path, level);
            // The later passes walk the tree recursively: an include keeps it within the reader's nesting limit.
            if level + tree::levels(&value) > limits::MAX_NESTING {
                cx.todo(node, path, format!("`{expr}` would nest mappings and lists more than {} levels deep here; write the values here", limits::MAX_NESTING));
                return;
            }
            cx.changed(node, path, format!("`{expr}` inlined"));
            let mark = node.mark;
            if whole {
                *node = value;
                node.mark = mark;
            } else if let Some(t) = value.as_str() {
                let new = format!("{}{t}{}", &text[..start], &text[close + 1..]);
                *node = Node::scalar(new, false, mark);
                inline_in(node, dir, cx, depth + 1, path, level);
            } else {
                cx.todo(node, path, format!("`{expr}` is a mapping or list inside a longer string; write the value here"));
            }
        }
    }
}

/// `db.password` → `DB_PASSWORD`.
fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `${env:NAME}` in place of a secret's value, with a TODO to set it where sls-rs runs.
fn from_env(at: &Node, path: &str, expr: &str, name: &str, cx: &mut Cx) -> Node {
    cx.todo(at, path, format!("`{expr}` holds a secret: its value is not written into serverless.yaml (which is committed); it is read from `${{env:{name}}}`: set {name} in the environment that deploys (a CI secret)"));
    Node::scalar(format!("${{env:{name}}}"), false, at.mark)
}

/// Every value under a credential-like key of an included mapping → `${env:KEY}`.
fn env_for_secrets(value: &mut Node, at: &Node, path: &str, expr: &str, cx: &mut Cx) {
    match &mut value.value {
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                let key = k.as_str().unwrap_or_default().to_string();
                let sub = format!("{path}.{key}");
                if matches!(v.value, Value::Scalar { .. }) && looks_secret(&key) {
                    *v = from_env(at, &sub, expr, &env_name(&key), cx);
                } else {
                    env_for_secrets(v, at, &sub, expr, cx);
                }
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                env_for_secrets(v, at, &format!("{path}[{i}]"), expr, cx);
            }
        }
        Value::Scalar { .. } => {}
    }
}

/// Variable sources sls-rs does not read, left in place (validation names them too).
pub fn report_unsupported(root: &Node, cx: &mut Cx) {
    let mut found = Vec::new();
    collect(root, "", &mut found);
    for (n, path, source) in found {
        let why = match source.as_str() {
            "ssm" => "SSM parameters are not read by sls-rs; pass the value with `${env:NAME}` (e.g. `aws ssm get-parameter` in CI), or read the parameter at run time (grant with `iamRoleStatements`)",
            "secretsmanager" | "aws:secretsmanager" => "Secrets Manager is not read at deploy time; read the secret at run time",
            "cf" | "cloudformation" => "sls-rs does not read CloudFormation stack outputs; pass the value with `${env:NAME}`",
            "s3" => "sls-rs does not read values from S3 objects; pass the value with `${env:NAME}`",
            "param" => "Serverless Dashboard parameters are not read; pass the value with `${env:NAME}`",
            "git" | "strToBool" => "not supported; write the value",
            _ => continue,
        };
        cx.todo(&n, path, format!("`${{{source}:…}}`: {why}"));
    }
}

fn collect(node: &Node, path: &str, out: &mut Vec<(Node, String, String)>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or("?");
                let p = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                collect(v, &p, out);
            }
        }
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| collect(v, &format!("{path}[{i}]"), out)),
        Value::Scalar { text, .. } => {
            let mut rest = text.as_str();
            while let Some(i) = rest.find("${") {
                rest = &rest[i + 2..];
                let source: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
                    .collect();
                let source = source.split(':').next().unwrap_or_default();
                let source = if source.starts_with("ssm") {
                    "ssm"
                } else {
                    source
                };
                if rest[source.len()..].starts_with(':') || rest[source.len()..].starts_with('(') {
                    out.push((node.clone(), path.to_string(), source.to_string()));
                }
            }
        }
    }
}
