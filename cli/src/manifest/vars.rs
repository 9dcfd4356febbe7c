//! Variable resolution: `${self:a.b}`, `${env:NAME, default}`, `${opt:stage}`,
//! `${sls:stage}`, `${aws:region}`, nested expressions and cycle detection.
//!
//! References to the service's own resources (`${fn:NAME}`, `${table:NAME}`…)
//! and `${aws:accountId}` only exist once deployed: they are kept verbatim,
//! collected as [`ResourceRef`]s for validation, and resolved at plan time.

use std::collections::HashMap;

use super::diagnostic::Diagnostic;
use super::node::{KeyPath, Mark, Node, PathSeg, Value};
use super::suggest::did_you_mean;

/// What the variables of a manifest may read besides the manifest itself.
pub struct VarContext<'a> {
    /// `--stage`, read by `${opt:stage}`.
    pub opt_stage: Option<&'a str>,
    /// `--region`, read by `${opt:region}`.
    pub opt_region: Option<&'a str>,
    /// The process environment, read by `${env:NAME}` (a function so tests need not mutate it).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The kinds of the service's own resources that `${kind:NAME}` can name.
pub const RESOURCE_KINDS: &[(&str, &[&str])] = &[
    ("fn", &["arn", "name"]),
    ("table", &["name", "arn", "streamArn"]),
    ("bucket", &["name", "arn"]),
    ("queue", &["url", "arn", "name"]),
    ("stateMachine", &["arn", "name"]),
];

/// A reference to one of the service's own resources, resolved at plan time.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceRef {
    pub kind: String,
    pub name: String,
    /// `arn`, `name`, `url`…; `None` means the kind's default (the first listed in [`RESOURCE_KINDS`]).
    pub attribute: Option<String>,
    pub path: KeyPath,
    pub mark: Mark,
    pub width: usize,
}

#[derive(Debug)]
pub struct Resolution {
    pub root: Node,
    pub refs: Vec<ResourceRef>,
}

/// Resolves every variable of the tree.
pub fn resolve(root: &Node, ctx: &VarContext) -> Result<Resolution, Diagnostic> {
    let mut r = Resolver {
        root,
        ctx,
        memo: HashMap::new(),
        stack: Vec::new(),
        refs: Vec::new(),
    };
    let resolved = r.resolve_node(root, &KeyPath::root())?;
    Ok(Resolution {
        root: resolved,
        refs: r.refs,
    })
}

/// The stage a run targets: `--stage`, else `provider.stage`, else `dev`.
pub fn effective_stage(root: &Node, ctx: &VarContext) -> Result<String, Diagnostic> {
    let mut r = Resolver {
        root,
        ctx,
        memo: HashMap::new(),
        stack: Vec::new(),
        refs: Vec::new(),
    };
    r.stage()
}

enum Part {
    Lit(String),
    Var(Var),
}

struct Var {
    source: String,
    address: Vec<Part>,
    fallback: Option<Fallback>,
    /// The expression as written, for messages.
    text: String,
}

enum Fallback {
    Quoted(String),
    Template(Vec<Part>),
}

struct TemplateParser<'s> {
    s: &'s str,
    i: usize,
}

impl<'s> TemplateParser<'s> {
    fn rest(&self) -> &'s str {
        &self.s[self.i..]
    }

    /// Literal text and `${…}` expressions up to one of `stops` (outside any expression) or the end.
    fn parts(&mut self, stops: &[char]) -> Result<Vec<Part>, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        while let Some(c) = self.rest().chars().next() {
            if self.rest().starts_with("${") {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Var(self.var()?));
                continue;
            }
            if stops.contains(&c) {
                break;
            }
            lit.push(c);
            self.i += c.len_utf8();
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(parts)
    }

    fn var(&mut self) -> Result<Var, String> {
        let start = self.i;
        self.i += 2;
        let source: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        self.i += source.len();
        if !self.rest().starts_with(':') {
            let shown: String = self.s[start..].chars().take(24).collect();
            return Err(if self.rest().starts_with('(') {
                format!("`{shown}…`: the `{source}(…)` variable source is not supported")
            } else {
                format!("`{shown}`: expected `${{source:address}}`, e.g. `${{self:custom.memory}}` or `${{env:NAME}}`")
            });
        }
        self.i += 1;
        let address = self.parts(&[',', '}'])?;
        let mut fallback = None;
        if self.rest().starts_with(',') {
            self.i += 1;
            let trimmed = self.rest().trim_start();
            self.i = self.s.len() - trimmed.len();
            let quote = trimmed.chars().next().filter(|c| *c == '\'' || *c == '"');
            fallback = Some(match quote {
                Some(q) => {
                    let body = &trimmed[1..];
                    let end = body.find(q).ok_or_else(|| {
                        format!(
                            "unterminated quote in the default of `{}`",
                            &self.s[start..]
                        )
                    })?;
                    self.i += 1 + end + 1;
                    let trimmed = self.rest().trim_start();
                    self.i = self.s.len() - trimmed.len();
                    Fallback::Quoted(body[..end].to_string())
                }
                None => {
                    let mut parts = self.parts(&['}'])?;
                    if let Some(Part::Lit(last)) = parts.last_mut() {
                        let kept = last.trim_end().len();
                        last.truncate(kept);
                    }
                    Fallback::Template(parts)
                }
            });
        }
        if !self.rest().starts_with('}') {
            return Err(format!("`{}`: missing the closing `}}`", &self.s[start..]));
        }
        self.i += 1;
        Ok(Var {
            source,
            address,
            fallback,
            text: self.s[start..self.i].to_string(),
        })
    }
}

struct Resolver<'a> {
    root: &'a Node,
    ctx: &'a VarContext<'a>,
    memo: HashMap<KeyPath, Node>,
    /// Paths being resolved, outermost first: a path seen twice is a cycle.
    stack: Vec<KeyPath>,
    refs: Vec<ResourceRef>,
}

fn unknown_address(var: &Var, address: &str, known: &str, at: &Node, path: &KeyPath) -> Diagnostic {
    let message = format!(
        "`{}`: `${{{}:…}}` knows {known}, not `{address}`",
        var.text, var.source
    );
    Diagnostic::at(at.mark, at.width, message).with_path(path.clone())
}

fn child<'n>(node: &'n Node, seg: &PathSeg) -> Option<&'n Node> {
    match (seg, &node.value) {
        (PathSeg::Key(k), Value::Map(_)) => node.get(k),
        (PathSeg::Index(i), Value::Seq(items)) => items.get(*i),
        _ => None,
    }
}

/// Where a `${self:…}` lookup stands: still in the written tree, or inside a
/// value that a variable produced (already resolved).
enum Cursor<'n> {
    Written(&'n Node),
    Resolved(Node),
}

impl Resolver<'_> {
    fn resolve_node(&mut self, node: &Node, path: &KeyPath) -> Result<Node, Diagnostic> {
        if let Some(done) = self.memo.get(path) {
            return Ok(done.clone());
        }
        if let Some(pos) = self.stack.iter().position(|p| p == path) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .chain(std::iter::once(path))
                .map(ToString::to_string)
                .collect();
            return Err(Diagnostic::at(
                node.mark,
                node.width,
                format!("variable cycle: {}", chain.join(" → ")),
            )
            .with_path(path.clone())
            .with_help("a value cannot depend on itself; break the loop with a literal value"));
        }
        self.stack.push(path.clone());
        let result = match &node.value {
            Value::Scalar { text, plain } if text.contains("${") => {
                self.resolve_scalar(node, text, *plain, path)
            }
            Value::Scalar { .. } => Ok(node.clone()),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.resolve_node(item, &path.index(i))?);
                }
                Ok(Node {
                    value: Value::Seq(out),
                    ..node.clone()
                })
            }
            Value::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let child = match k.as_str() {
                        Some(key) => path.key(key),
                        None => path.clone(),
                    };
                    out.push((k.clone(), self.resolve_node(v, &child)?));
                }
                Ok(Node {
                    value: Value::Map(out),
                    ..node.clone()
                })
            }
        };
        self.stack.pop();
        let resolved = result?;
        self.memo.insert(path.clone(), resolved.clone());
        Ok(resolved)
    }

    fn resolve_scalar(
        &mut self,
        node: &Node,
        text: &str,
        plain: bool,
        path: &KeyPath,
    ) -> Result<Node, Diagnostic> {
        let err = |msg: String| Diagnostic::at(node.mark, node.width, msg).with_path(path.clone());
        let mut parser = TemplateParser { s: text, i: 0 };
        let parts = parser.parts(&[]).map_err(err)?;
        if let [Part::Var(var)] = parts.as_slice() {
            // A value that is one variable takes the variable's type: a number stays a number, a mapping a mapping.
            let mut out = self.eval_var(var, node, path)?;
            out.mark = node.mark;
            out.width = node.width;
            out.origin = Some(text.to_string());
            return Ok(out);
        }
        let joined = self.eval_parts(&parts, node, path)?;
        let mut out = Node::scalar(joined, plain, node.mark);
        out.width = node.width;
        out.origin = Some(text.to_string());
        Ok(out)
    }

    /// Evaluates parts into one string; every variable must give a scalar.
    fn eval_parts(
        &mut self,
        parts: &[Part],
        at: &Node,
        path: &KeyPath,
    ) -> Result<String, Diagnostic> {
        let mut out = String::new();
        for part in parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(var) => {
                    let value = self.eval_var(var, at, path)?;
                    match value.as_str() {
                        Some(s) => out.push_str(s),
                        None => {
                            return Err(Diagnostic::at(
                                at.mark,
                                at.width,
                                format!(
                                    "`{}` is {} and cannot be part of a string",
                                    var.text,
                                    value.kind()
                                ),
                            )
                            .with_path(path.clone()))
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn eval_var(&mut self, var: &Var, at: &Node, path: &KeyPath) -> Result<Node, Diagnostic> {
        let err = |msg: String| Diagnostic::at(at.mark, at.width, msg).with_path(path.clone());
        let address = self.eval_parts(&var.address, at, path)?;
        let address = address.trim();
        let found: Option<Node> = match var.source.as_str() {
            "self" => return self.lookup_self(address, var, at, path),
            "env" => (self.ctx.env)(address).map(|v| Node::scalar(v, true, at.mark)),
            "opt" => match address {
                "stage" => self.ctx.opt_stage.map(|v| Node::scalar(v, false, at.mark)),
                "region" => self.ctx.opt_region.map(|v| Node::scalar(v, false, at.mark)),
                _ => {
                    return Err(unknown_address(
                        var,
                        address,
                        "`stage` and `region`",
                        at,
                        path,
                    ))
                }
            },
            "sls" => match address {
                "stage" => Some(Node::scalar(self.stage()?, false, at.mark)),
                _ => return Err(unknown_address(var, address, "only `stage`", at, path)),
            },
            "aws" => match address {
                "region" => Some(Node::scalar(self.region()?, false, at.mark)),
                "accountId" => Some(Node::scalar(var.text.clone(), false, at.mark)),
                _ => {
                    return Err(unknown_address(
                        var,
                        address,
                        "`region` and `accountId`",
                        at,
                        path,
                    ))
                }
            },
            kind if RESOURCE_KINDS.iter().any(|(k, _)| *k == kind) => {
                let (name, attribute) = match address.split_once('.') {
                    Some((n, a)) => (n.to_string(), Some(a.to_string())),
                    None => (address.to_string(), None),
                };
                self.refs.push(ResourceRef {
                    kind: kind.to_string(),
                    name,
                    attribute,
                    path: path.clone(),
                    mark: at.mark,
                    width: at.width,
                });
                Some(Node::scalar(
                    format!("${{{kind}:{address}}}"),
                    false,
                    at.mark,
                ))
            }
            other => {
                let mut d = err(format!("`{}`: unknown variable source `{other}`", var.text)).with_help(
                    "sls-rs resolves self, env, opt, sls, aws, and references to the service's own resources: fn, table, bucket, queue, stateMachine",
                );
                if let Some(s) = did_you_mean(
                    other,
                    [
                        "self",
                        "env",
                        "opt",
                        "sls",
                        "aws",
                        "fn",
                        "table",
                        "bucket",
                        "queue",
                        "stateMachine",
                    ],
                ) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                return Err(d);
            }
        };
        match (found, &var.fallback) {
            (Some(node), _) => Ok(node),
            (None, Some(fallback)) => self.eval_fallback(fallback, at, path),
            (None, None) => Err(match var.source.as_str() {
                "env" => err(format!(
                    "`{}`: the environment variable `{address}` is not set",
                    var.text
                ))
                .with_help(format!(
                    "set it, or give a default: `${{env:{address}, some-default}}`"
                )),
                _ => {
                    err(format!("`{}`: `--{address}` was not given", var.text)).with_help(format!(
                        "pass `--{address}`, or give a default: `${{opt:{address}, some-default}}`"
                    ))
                }
            }),
        }
    }

    fn lookup_self(
        &mut self,
        address: &str,
        var: &Var,
        at: &Node,
        path: &KeyPath,
    ) -> Result<Node, Diagnostic> {
        if address.is_empty() {
            return Err(Diagnostic::at(
                at.mark,
                at.width,
                format!(
                    "`{}`: give a key path such as `${{self:custom.name}}`",
                    var.text
                ),
            )
            .with_path(path.clone()));
        }
        let target = KeyPath::parse_dotted(address);
        let mut cursor = Cursor::Written(self.root);
        let mut walked = KeyPath::root();
        for seg in &target.0 {
            // A value written as a variable must be resolved before we can look inside it.
            if let Cursor::Written(n) = cursor {
                if n.as_str().is_some_and(|s| s.contains("${")) {
                    cursor = Cursor::Resolved(self.resolve_node(n, &walked)?);
                }
            }
            let next = match &cursor {
                Cursor::Written(n) => child(n, seg).map(Cursor::Written),
                Cursor::Resolved(n) => child(n, seg).cloned().map(Cursor::Resolved),
            };
            let Some(next) = next else {
                if let Some(fallback) = &var.fallback {
                    return self.eval_fallback(fallback, at, path);
                }
                let current = match &cursor {
                    Cursor::Written(n) => *n,
                    Cursor::Resolved(n) => n,
                };
                let mut d = Diagnostic::at(
                    at.mark,
                    at.width,
                    format!(
                        "`{}`: `{}` has no `{}`",
                        var.text,
                        walked,
                        KeyPath(vec![seg.clone()])
                    ),
                )
                .with_path(path.clone());
                if let (PathSeg::Key(k), Value::Map(entries)) = (seg, &current.value) {
                    let keys: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_str()).collect();
                    if let Some(s) = did_you_mean(k, keys) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                }
                return Err(d);
            };
            walked = match seg {
                PathSeg::Key(k) => walked.key(k),
                PathSeg::Index(i) => walked.index(*i),
            };
            cursor = next;
        }
        match cursor {
            Cursor::Written(n) => self.resolve_node(n, &walked),
            Cursor::Resolved(n) => Ok(n),
        }
    }

    fn eval_fallback(
        &mut self,
        fallback: &Fallback,
        at: &Node,
        path: &KeyPath,
    ) -> Result<Node, Diagnostic> {
        match fallback {
            Fallback::Quoted(s) => Ok(Node::scalar(s.clone(), false, at.mark)),
            Fallback::Template(parts) => match parts.as_slice() {
                [Part::Var(inner)] => self.eval_var(inner, at, path),
                _ => Ok(Node::scalar(
                    self.eval_parts(parts, at, path)?,
                    true,
                    at.mark,
                )),
            },
        }
    }

    fn setting(&mut self, path: KeyPath) -> Result<Option<String>, Diagnostic> {
        let Some(node) = self.root.locate(&path.0) else {
            return Ok(None);
        };
        let resolved = self.resolve_node(node, &path)?;
        Ok(resolved
            .as_str()
            .filter(|s| !s.is_empty() && !resolved.is_null())
            .map(str::to_string))
    }

    fn stage(&mut self) -> Result<String, Diagnostic> {
        if let Some(s) = self.ctx.opt_stage {
            return Ok(s.to_string());
        }
        Ok(self
            .setting(KeyPath::root().key("provider").key("stage"))?
            .unwrap_or_else(|| "dev".to_string()))
    }

    fn region(&mut self) -> Result<String, Diagnostic> {
        if let Some(r) = self.ctx.opt_region {
            return Ok(r.to_string());
        }
        let stage = self.stage()?;
        if let Some(r) = self.setting(KeyPath::root().key("stages").key(&stage).key("region"))? {
            return Ok(r);
        }
        Ok(self
            .setting(KeyPath::root().key("provider").key("region"))?
            .unwrap_or_else(|| "us-east-1".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::node::parse;

    fn run(
        yaml: &str,
        env: &[(&str, &str)],
        stage: Option<&str>,
    ) -> Result<Resolution, Diagnostic> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let ctx = VarContext {
            opt_stage: stage,
            opt_region: None,
            env: &lookup,
        };
        resolve(&parse(yaml).unwrap(), &ctx)
    }

    fn text_at(r: &Resolution, dotted: &str) -> String {
        r.root
            .locate(&KeyPath::parse_dotted(dotted).0)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn self_env_opt_and_sls_resolve() {
        let r = run(
            "custom: { mem: 512, name: api }\nprovider:\n  stage: ${opt:stage, 'dev'}\n  memorySize: ${self:custom.mem}\n  x: ${self:custom.name}-${sls:stage}-${env:TEAM}\n",
            &[("TEAM", "core")],
            Some("prod"),
        )
        .unwrap();
        assert_eq!(text_at(&r, "provider.stage"), "prod");
        assert_eq!(text_at(&r, "provider.memorySize"), "512");
        assert_eq!(text_at(&r, "provider.x"), "api-prod-core");
    }

    #[test]
    fn a_whole_value_variable_keeps_the_type_and_shape() {
        let r = run(
            "custom:\n  env: { A: one }\nprovider:\n  environment: ${self:custom.env}\n",
            &[],
            None,
        )
        .unwrap();
        let env = r
            .root
            .locate(&KeyPath::parse_dotted("provider.environment").0)
            .unwrap();
        assert_eq!(env.get("A").unwrap().as_str(), Some("one"));
        assert_eq!(env.origin.as_deref(), Some("${self:custom.env}"));
    }

    #[test]
    fn nested_variables_and_fallbacks() {
        let yaml = "custom:\n  prod: { mem: 2048 }\n  dev: { mem: 256 }\nmem: ${self:custom.${sls:stage}.mem}\nx: ${env:NOPE, ${self:custom.dev.mem}}\ny: ${env:NOPE, 'a, b'}\n";
        let r = run(yaml, &[], Some("prod")).unwrap();
        assert_eq!(text_at(&r, "mem"), "2048");
        assert_eq!(text_at(&r, "x"), "256");
        assert_eq!(text_at(&r, "y"), "a, b");
    }

    #[test]
    fn a_fallback_is_not_evaluated_when_the_value_exists() {
        let r = run("x: ${env:SET, ${env:UNSET}}\n", &[("SET", "yes")], None).unwrap();
        assert_eq!(text_at(&r, "x"), "yes");
    }

    #[test]
    fn sls_stage_defaults_to_provider_stage_then_dev() {
        let r = run("provider: { stage: qa }\nx: ${sls:stage}\n", &[], None).unwrap();
        assert_eq!(text_at(&r, "x"), "qa");
        let r = run("x: ${sls:stage}\n", &[], None).unwrap();
        assert_eq!(text_at(&r, "x"), "dev");
    }

    #[test]
    fn cycles_are_reported_with_the_chain() {
        let err = run("a: ${self:b}\nb: ${self:c}\nc: ${self:a}\n", &[], None).unwrap_err();
        assert!(
            err.message.contains("variable cycle: a → b → c → a"),
            "{}",
            err.message
        );
        let err = run("provider: { stage: '${sls:stage}' }\n", &[], None).unwrap_err();
        assert!(err.message.contains("variable cycle"), "{}", err.message);
    }

    #[test]
    fn missing_values_name_the_fix() {
        let err = run("x: ${env:MISSING_TOKEN}\n", &[], None).unwrap_err();
        assert!(err.message.contains("`MISSING_TOKEN` is not set"));
        assert!(err
            .help
            .unwrap()
            .contains("${env:MISSING_TOKEN, some-default}"));
        let err = run(
            "custom: { memory: 1 }\nx: ${self:custom.memroy}\n",
            &[],
            None,
        )
        .unwrap_err();
        assert_eq!(err.help.as_deref(), Some("did you mean `memory`?"));
        assert_eq!(err.mark.line, 2);
        let err = run("x: ${opt:stage}\n", &[], None).unwrap_err();
        assert!(err.help.unwrap().contains("--stage"));
    }

    #[test]
    fn resource_references_are_kept_and_collected() {
        let r = run(
            "sm:\n  Resource: ${fn:createTodo}\n  T: ${table:todos.streamArn}\n",
            &[],
            None,
        )
        .unwrap();
        assert_eq!(text_at(&r, "sm.Resource"), "${fn:createTodo}");
        assert_eq!(r.refs.len(), 2);
        assert_eq!(r.refs[1].name, "todos");
        assert_eq!(r.refs[1].attribute.as_deref(), Some("streamArn"));
    }

    #[test]
    fn unsupported_sources_are_refused() {
        let err = run("x: ${ssm:/path}\n", &[], None).unwrap_err();
        assert!(err.message.contains("unknown variable source `ssm`"));
        let err = run("x: ${file(./a.yml)}\n", &[], None).unwrap_err();
        assert!(err.message.contains("not supported"), "{}", err.message);
    }
}
