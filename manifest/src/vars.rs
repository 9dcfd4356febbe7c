//! Variable resolution: `${self:a.b}`, `${env:NAME, default}`, `${opt:stage}`,
//! `${sls:stage}`, `${aws:region}`, nested expressions and cycle detection.
//!
//! References to the service's own resources (`${fn:NAME}`, `${table:NAME}`…)
//! and `${aws:accountId}` only exist once deployed: they are kept verbatim,
//! collected as [`ResourceRef`]s for validation, and resolved at plan time.

use std::collections::HashMap;
use std::rc::Rc;

use super::diagnostic::Diagnostic;
use super::limits;
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
    let mut r = Resolver::new(root, ctx);
    let resolved = r.resolve_node(root, &KeyPath::root())?;
    Ok(Resolution {
        root: resolved,
        refs: r.refs,
    })
}

/// The stage a run targets: `--stage`, else `provider.stage`, else `dev`.
pub fn effective_stage(root: &Node, ctx: &VarContext) -> Result<String, Diagnostic> {
    Resolver::new(root, ctx).stage()
}

enum Part {
    Lit(String),
    Var(Var),
}

struct Var {
    source: String,
    address: Vec<Part>,
    /// Tried in turn when the variable has no value: `${env:A, env:B, 'x'}`.
    fallbacks: Vec<Fallback>,
    /// The expression as written, for messages.
    text: String,
}

enum Fallback {
    /// `'text'` or `"text"`: a string, whatever it looks like.
    Quoted(String),
    /// `self:custom.x` or `${self:custom.x}`: another variable, skipped when it has no value either.
    Var(Var),
    /// Anything else (`dev`, `512`, `${a}-${b}`): the final default.
    Template(Vec<Part>),
}

/// The sources a fallback may name without `${}`, as Serverless Framework reads them.
const BARE_SOURCES: &[&str] = &["self", "opt", "env", "sls", "aws"];

/// A problem in the text of a variable expression.
struct SyntaxError {
    message: String,
    help: Option<String>,
}

impl From<String> for SyntaxError {
    fn from(message: String) -> Self {
        SyntaxError {
            message,
            help: None,
        }
    }
}

struct TemplateParser<'s> {
    s: &'s str,
    i: usize,
    /// `${` opened and not yet closed.
    depth: usize,
}

impl<'s> TemplateParser<'s> {
    fn new(s: &'s str) -> Self {
        TemplateParser { s, i: 0, depth: 0 }
    }

    fn rest(&self) -> &'s str {
        &self.s[self.i..]
    }

    fn skip_whitespace(&mut self) {
        let trimmed = self.rest().trim_start();
        self.i = self.s.len() - trimmed.len();
    }

    /// Literal text and `${…}` expressions up to one of `stops` (outside any expression) or the end.
    fn parts(&mut self, stops: &[char]) -> Result<Vec<Part>, SyntaxError> {
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

    /// Parts up to `stops`, without the whitespace before the stop.
    fn trimmed_parts(&mut self, stops: &[char]) -> Result<Vec<Part>, SyntaxError> {
        let mut parts = self.parts(stops)?;
        if let Some(Part::Lit(last)) = parts.last_mut() {
            let kept = last.trim_end().len();
            last.truncate(kept);
        }
        Ok(parts)
    }

    fn var(&mut self) -> Result<Var, SyntaxError> {
        let start = self.i;
        self.depth += 1;
        if self.depth > limits::MAX_VARIABLE_NESTING {
            return Err(SyntaxError {
                message: format!(
                    "variables are nested more than {} deep (`${{…${{…}}…}}`)",
                    limits::MAX_VARIABLE_NESTING
                ),
                help: Some(
                    "resolve the inner parts into `custom:` values first and refer to those".into(),
                ),
            });
        }
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
                let help = if source == "file" {
                    "sls-rs reads one manifest: copy the values into `custom:` and refer to them with `${self:custom.KEY}` (`sls-rs migrate`, to come, will inline them)"
                } else {
                    "sls-rs resolves self, env, opt, sls, aws, and references to the service's own resources: fn, table, bucket, queue, stateMachine"
                };
                SyntaxError {
                    message: format!(
                        "`{shown}…`: the `{source}(…)` variable source is not supported"
                    ),
                    help: Some(help.into()),
                }
            } else {
                format!("`{shown}`: expected `${{source:address}}`, e.g. `${{self:custom.memory}}` or `${{env:NAME}}`").into()
            });
        }
        self.i += 1;
        let address = self.parts(&[',', '}'])?;
        let mut fallbacks = Vec::new();
        while self.rest().starts_with(',') {
            self.i += 1;
            self.skip_whitespace();
            let rest = self.rest();
            if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
                let body = &rest[1..];
                let end = body.find(q).ok_or_else(|| {
                    format!(
                        "unterminated quote in the default of `{}`",
                        &self.s[start..]
                    )
                })?;
                self.i += 1 + end + 1;
                self.skip_whitespace();
                fallbacks.push(Fallback::Quoted(body[..end].to_string()));
            } else if let Some(source) = BARE_SOURCES
                .iter()
                .find(|s| rest.starts_with(**s) && rest[s.len()..].starts_with(':'))
            {
                // `self:provider.stage`: a variable written without `${}`.
                let begin = self.i;
                self.i += source.len() + 1;
                let address = self.trimmed_parts(&[',', '}'])?;
                let text = format!("${{{}}}", self.s[begin..self.i].trim_end());
                self.skip_whitespace();
                fallbacks.push(Fallback::Var(Var {
                    source: source.to_string(),
                    address,
                    fallbacks: Vec::new(),
                    text,
                }));
            } else {
                let mut parts = self.trimmed_parts(&[',', '}'])?;
                if self.rest().starts_with(',') {
                    if let [Part::Var(_)] = parts.as_slice() {
                        let Some(Part::Var(var)) = parts.pop() else {
                            unreachable!()
                        };
                        fallbacks.push(Fallback::Var(var));
                        continue;
                    }
                    // A plain default with commas in it: `${env:X, a, b}` is `a, b`.
                    parts.extend(self.trimmed_parts(&['}'])?);
                }
                fallbacks.push(match parts.pop() {
                    Some(Part::Var(var)) if parts.is_empty() => Fallback::Var(var),
                    Some(last) => {
                        parts.push(last);
                        Fallback::Template(parts)
                    }
                    None => Fallback::Template(parts),
                });
                break;
            }
        }
        if !self.rest().starts_with('}') {
            return Err(format!("`{}`: missing the closing `}}`", &self.s[start..]).into());
        }
        self.i += 1;
        self.depth -= 1;
        Ok(Var {
            source,
            address,
            fallbacks,
            text: self.s[start..self.i].to_string(),
        })
    }
}

/// A variable's value, or why it has none (said only if no fallback gives one).
type Lookup = Result<Node, Diagnostic>;

struct Resolver<'a> {
    root: &'a Node,
    ctx: &'a VarContext<'a>,
    /// Values of scalars written with variables, by path.
    /// Shared, so a lookup inside a resolved value reads it in place instead of copying it.
    memo: HashMap<KeyPath, Rc<Node>>,
    /// Variables being resolved, outermost first: a path seen twice is a cycle.
    stack: Vec<KeyPath>,
    /// Mappings, lists and variables in resolution at once (bounds the recursion).
    depth: usize,
    /// Values and text produced by variables so far (bounds the expansion).
    produced: (usize, usize),
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

/// The node `segs` below `node` (every step known to exist).
fn descend<'n>(node: &'n Node, segs: &[PathSeg]) -> &'n Node {
    segs.iter()
        .fold(node, |n, seg| child(n, seg).expect("walked"))
}

/// Values, text bytes and nesting depth of a tree.
fn measure(node: &Node) -> (usize, usize, usize) {
    match &node.value {
        Value::Scalar { text, .. } => (1, text.len(), 0),
        Value::Seq(items) => items.iter().fold((1, 0, 1), |(n, b, d), item| {
            let (n2, b2, d2) = measure(item);
            (n + n2, b + b2, d.max(d2 + 1))
        }),
        Value::Map(entries) => entries.iter().fold((1, 0, 1), |(n, b, d), (k, v)| {
            let (n2, b2, d2) = measure(v);
            (
                n + 1 + n2,
                b + k.as_str().map_or(0, str::len) + b2,
                d.max(d2 + 1),
            )
        }),
    }
}

/// Where a `${self:…}` lookup stands: still in the written tree, or inside a
/// value that a variable produced (already resolved).
enum Cursor<'n> {
    Written(&'n Node),
    /// Inside a resolved value (memoised): the value and the steps taken into it.
    Resolved(Rc<Node>, Vec<PathSeg>),
}

impl<'a> Resolver<'a> {
    fn new(root: &'a Node, ctx: &'a VarContext<'a>) -> Self {
        Resolver {
            root,
            ctx,
            memo: HashMap::new(),
            stack: Vec::new(),
            depth: 0,
            produced: (0, 0),
            refs: Vec::new(),
        }
    }

    fn resolve_node(&mut self, node: &Node, path: &KeyPath) -> Result<Node, Diagnostic> {
        if let Value::Scalar { text, plain } = &node.value {
            if !text.contains("${") {
                return Ok(node.clone());
            }
            if let Some(done) = self.memo.get(path) {
                return Ok(Node::clone(done));
            }
            return self.resolve_variable(node, text, *plain, path);
        }
        self.enter(node, path)?;
        let result = self.resolve_children(node, path);
        self.depth -= 1;
        result
    }

    /// Counts one level of resolution, refusing to go past the limit (the recursion is bounded).
    fn enter(&mut self, node: &Node, path: &KeyPath) -> Result<(), Diagnostic> {
        if self.depth >= limits::MAX_RESOLUTION_DEPTH {
            return Err(Diagnostic::at(
                node.mark,
                node.width,
                format!(
                    "variables refer through more than {} levels of values",
                    limits::MAX_RESOLUTION_DEPTH
                ),
            )
            .with_path(path.clone())
            .with_help("a variable whose value is a variable whose value is a variable…: write the value itself somewhere along the chain"));
        }
        self.depth += 1;
        Ok(())
    }

    fn resolve_children(&mut self, node: &Node, path: &KeyPath) -> Result<Node, Diagnostic> {
        let value = match &node.value {
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.resolve_node(item, &path.index(i))?);
                }
                Value::Seq(out)
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
                Value::Map(out)
            }
            Value::Scalar { .. } => node.value.clone(),
        };
        Ok(Node {
            value,
            ..node.clone()
        })
    }

    /// A scalar written with variables: resolved once, checked for cycles and for size.
    fn resolve_variable(
        &mut self,
        node: &Node,
        text: &str,
        plain: bool,
        path: &KeyPath,
    ) -> Result<Node, Diagnostic> {
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
        self.enter(node, path)?;
        self.stack.push(path.clone());
        let result = self.resolve_scalar(node, text, plain, path);
        self.stack.pop();
        self.depth -= 1;
        let resolved = result?;
        self.charge(&resolved, path)?;
        self.memo.insert(path.clone(), Rc::new(resolved.clone()));
        Ok(resolved)
    }

    /// Counts what a variable produced against the expansion limits.
    fn charge(&mut self, out: &Node, path: &KeyPath) -> Result<(), Diagnostic> {
        let (values, bytes, depth) = measure(out);
        self.produced.0 += values;
        self.produced.1 += bytes;
        let fail = |message: String, help: &str| {
            Err(Diagnostic::at(out.mark, out.width, message)
                .with_path(path.clone())
                .with_help(help))
        };
        if path.0.len() + depth > limits::MAX_NESTING {
            return fail(
                format!(
                    "variables nest the manifest more than {} levels deep",
                    limits::MAX_NESTING
                ),
                "a value that takes in a value that takes in a value…: write the inner values once",
            );
        }
        let repeated = "variables that copy a large value many times (or double it) get here; refer to the value once";
        if self.produced.0 > limits::MAX_VALUES {
            return fail(
                format!(
                    "variables expand the manifest to more than {} values",
                    limits::MAX_VALUES
                ),
                repeated,
            );
        }
        if self.produced.1 > limits::MAX_TEXT_BYTES {
            return fail(
                format!(
                    "variables expand the manifest to more than {} of text",
                    limits::mib(limits::MAX_TEXT_BYTES)
                ),
                repeated,
            );
        }
        Ok(())
    }

    fn resolve_scalar(
        &mut self,
        node: &Node,
        text: &str,
        plain: bool,
        path: &KeyPath,
    ) -> Result<Node, Diagnostic> {
        let mut parser = TemplateParser::new(text);
        let parts = parser.parts(&[]).map_err(|e| {
            let d = Diagnostic::at(node.mark, node.width, e.message).with_path(path.clone());
            match e.help {
                Some(help) => d.with_help(help),
                None => d,
            }
        })?;
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
            if out.len() > limits::MAX_VALUE_BYTES {
                return Err(Diagnostic::at(
                    at.mark,
                    at.width,
                    format!(
                        "the value is longer than {} once its variables are resolved",
                        limits::mib(limits::MAX_VALUE_BYTES)
                    ),
                )
                .with_path(path.clone())
                .with_help("no AWS setting takes that much; a value that repeats another value (or doubles it) gets here"));
            }
        }
        Ok(out)
    }

    /// A variable's value, else its fallbacks', else the reason the last one had none.
    fn eval_var(&mut self, var: &Var, at: &Node, path: &KeyPath) -> Result<Node, Diagnostic> {
        self.try_var(var, at, path)?
    }

    fn try_var(&mut self, var: &Var, at: &Node, path: &KeyPath) -> Result<Lookup, Diagnostic> {
        let mut missing = match self.lookup(var, at, path)? {
            Ok(node) => return Ok(Ok(node)),
            Err(why) => why,
        };
        for fallback in &var.fallbacks {
            match fallback {
                Fallback::Quoted(s) => return Ok(Ok(Node::scalar(s.clone(), false, at.mark))),
                Fallback::Template(parts) => {
                    let text = self.eval_parts(parts, at, path)?;
                    return Ok(Ok(Node::scalar(text, true, at.mark)));
                }
                Fallback::Var(inner) => match self.try_var(inner, at, path)? {
                    Ok(node) => return Ok(Ok(node)),
                    Err(why) => missing = why,
                },
            }
        }
        Ok(Err(missing))
    }

    /// The variable's own value, without its fallbacks.
    fn lookup(&mut self, var: &Var, at: &Node, path: &KeyPath) -> Result<Lookup, Diagnostic> {
        let err = |msg: String| Diagnostic::at(at.mark, at.width, msg).with_path(path.clone());
        let address = self.eval_parts(&var.address, at, path)?;
        let address = address.trim();
        let scalar = |v: String| Ok(Ok(Node::scalar(v, false, at.mark)));
        match var.source.as_str() {
            "self" => self.lookup_self(address, var, at, path),
            "env" => Ok(match (self.ctx.env)(address) {
                Some(v) => Ok(Node::scalar(v, true, at.mark)),
                None => Err(err(format!(
                    "`{}`: the environment variable `{address}` is not set",
                    var.text
                ))
                .with_help(format!(
                    "set it, or give a default: `${{env:{address}, some-default}}`"
                ))),
            }),
            "opt" => {
                let given = match address {
                    "stage" => self.ctx.opt_stage,
                    "region" => self.ctx.opt_region,
                    _ => {
                        return Ok(Err(err(format!(
                            "`{}`: sls-rs has no `--{address}` flag",
                            var.text
                        ))
                        .with_help(format!(
                            "`${{opt:…}}` reads `--stage` and `--region`; give a default: `${{opt:{address}, some-default}}`"
                        ))))
                    }
                };
                Ok(match given {
                    Some(v) => Ok(Node::scalar(v, false, at.mark)),
                    None => Err(err(format!("`{}`: `--{address}` was not given", var.text))
                        .with_help(format!(
                        "pass `--{address}`, or give a default: `${{opt:{address}, some-default}}`"
                    ))),
                })
            }
            "sls" => match address {
                "stage" => scalar(self.stage()?),
                _ => Err(unknown_address(var, address, "only `stage`", at, path)),
            },
            "aws" => match address {
                "region" => scalar(self.region()?),
                "accountId" => scalar(var.text.clone()),
                _ => Err(unknown_address(
                    var,
                    address,
                    "`region` and `accountId`",
                    at,
                    path,
                )),
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
                scalar(format!("${{{kind}:{address}}}"))
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
                Err(d)
            }
        }
    }

    fn lookup_self(
        &mut self,
        address: &str,
        var: &Var,
        at: &Node,
        path: &KeyPath,
    ) -> Result<Lookup, Diagnostic> {
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
        let found = self.walk_self(&target, var, at, path)?;
        // Serverless Framework fills in the stage and region it deploys to when the
        // manifest leaves them out (looked for through variables first: `provider: ${file(…)}`).
        let missing = !found.as_ref().is_ok_and(|n| !n.is_null());
        match address {
            "provider.stage" if missing => Ok(Ok(Node::scalar(self.stage()?, false, at.mark))),
            "provider.region" if missing => Ok(Ok(Node::scalar(self.region()?, false, at.mark))),
            _ => Ok(found),
        }
    }

    /// The value at `target` from the root, resolving the variables on the way.
    fn walk_self(
        &mut self,
        target: &KeyPath,
        var: &Var,
        at: &Node,
        path: &KeyPath,
    ) -> Result<Lookup, Diagnostic> {
        let mut cursor = Cursor::Written(self.root);
        let mut walked = KeyPath::root();
        for seg in &target.0 {
            // A value written as a variable must be resolved before we can look inside it.
            if let Cursor::Written(n) = cursor {
                if n.as_str().is_some_and(|s| s.contains("${")) {
                    // Read in the memo (resolving once fills it), never copied per lookup.
                    let shared = match self.memo.get(&walked) {
                        Some(done) => Rc::clone(done),
                        None => {
                            let resolved = self.resolve_node(n, &walked)?;
                            self.memo
                                .get(&walked)
                                .cloned()
                                .unwrap_or_else(|| Rc::new(resolved))
                        }
                    };
                    cursor = Cursor::Resolved(shared, Vec::new());
                }
            }
            let next = match cursor {
                Cursor::Written(n) => child(n, seg).map(Cursor::Written).ok_or(Cursor::Written(n)),
                Cursor::Resolved(value, mut steps) => {
                    if child(descend(&value, &steps), seg).is_some() {
                        steps.push(seg.clone());
                        Ok(Cursor::Resolved(value, steps))
                    } else {
                        Err(Cursor::Resolved(value, steps))
                    }
                }
            };
            let current = match next {
                Ok(next) => {
                    walked = match seg {
                        PathSeg::Key(k) => walked.key(k),
                        PathSeg::Index(i) => walked.index(*i),
                    };
                    cursor = next;
                    continue;
                }
                Err(Cursor::Written(n)) => n.clone(),
                Err(Cursor::Resolved(value, steps)) => descend(&value, &steps).clone(),
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
            return Ok(Err(d));
        }
        Ok(Ok(match cursor {
            Cursor::Written(n) => self.resolve_node(n, &walked)?,
            Cursor::Resolved(value, steps) => descend(&value, &steps).clone(),
        }))
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
    use crate::node::parse;

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
    fn a_bare_variable_address_as_a_fallback_is_a_variable() {
        let yaml = "custom:\n  tableName: todos\nprovider:\n  stage: qa\n  region: eu-west-1\nt: ${env:TABLE_NAME, self:custom.tableName}\ns: ${opt:stage, self:provider.stage}\narn: arn:aws:dynamodb:${opt:region, self:provider.region}:1:table/x\ne: ${opt:stage, env:STAGE}\n";
        let r = run(yaml, &[("STAGE", "from-env")], None).unwrap();
        assert_eq!(text_at(&r, "t"), "todos");
        assert_eq!(text_at(&r, "s"), "qa");
        assert_eq!(text_at(&r, "arn"), "arn:aws:dynamodb:eu-west-1:1:table/x");
        assert_eq!(text_at(&r, "e"), "from-env");
        // The value itself wins over the fallback.
        let r = run(yaml, &[("TABLE_NAME", "set")], Some("prod")).unwrap();
        assert_eq!(
            (text_at(&r, "t"), text_at(&r, "s")),
            ("set".into(), "prod".into())
        );
    }

    #[test]
    fn fallback_chains_try_each_in_turn_and_quotes_stay_text() {
        let yaml = "custom: { b: from-self }\na: ${env:A, env:B, self:custom.b}\nb: ${env:A, env:B, self:custom.nope, 'last'}\nc: ${env:A, ${env:B}, 'x'}\nq: ${env:A, 'self:custom.b'}\nn: ${env:A, env:B, 42}\n";
        let r = run(yaml, &[], None).unwrap();
        assert_eq!(text_at(&r, "a"), "from-self");
        assert_eq!(text_at(&r, "b"), "last");
        assert_eq!(text_at(&r, "c"), "x");
        assert_eq!(text_at(&r, "q"), "self:custom.b");
        assert_eq!(text_at(&r, "n"), "42");
        // A plain default keeps its commas, as before.
        let r = run("l: ${env:A, a, b}\n", &[], None).unwrap();
        assert_eq!(text_at(&r, "l"), "a, b");
        let r = run(yaml, &[("B", "from-b")], None).unwrap();
        assert_eq!(
            (text_at(&r, "a"), text_at(&r, "c")),
            ("from-b".into(), "from-b".into())
        );
        // When every fallback misses, the last one is what the message is about.
        let err = run(
            "custom: { tableName: t }\nx: ${env:A, self:custom.tabelName}\n",
            &[],
            None,
        )
        .unwrap_err();
        assert!(
            err.message.contains("has no `tabelName`"),
            "{}",
            err.message
        );
        assert_eq!(err.help.as_deref(), Some("did you mean `tableName`?"));
    }

    #[test]
    fn self_provider_stage_and_region_see_the_effective_values() {
        let yaml = "s: ${self:provider.stage}\nr: ${self:provider.region}\n";
        let r = run(yaml, &[], None).unwrap();
        assert_eq!(
            (text_at(&r, "s"), text_at(&r, "r")),
            ("dev".into(), "us-east-1".into())
        );
        let r = run(yaml, &[], Some("prod")).unwrap();
        assert_eq!(text_at(&r, "s"), "prod");
        let r = run("provider: { name: aws }\nstages: { dev: { region: eu-west-3 } }\ns: ${self:provider.stage}-${self:provider.region}\n", &[], None).unwrap();
        assert_eq!(text_at(&r, "s"), "dev-eu-west-3");
    }

    #[test]
    fn self_provider_stage_and_region_read_a_provider_written_as_a_variable() {
        let yaml = "custom:\n  prov: { name: aws, stage: qa, region: eu-west-2 }\nprovider: ${self:custom.prov}\ns: ${self:provider.stage}-${self:provider.region}\n";
        let r = run(yaml, &[], None).unwrap();
        assert_eq!(text_at(&r, "s"), "qa-eu-west-2");
        // Only a value that is not there (or null) is the effective one.
        let r = run("custom:\n  prov: { name: aws, stage: ~ }\nprovider: ${self:custom.prov}\ns: ${self:provider.stage}-${self:provider.region}\n", &[], None).unwrap();
        assert_eq!(text_at(&r, "s"), "dev-us-east-1");
    }

    #[test]
    fn an_unknown_flag_takes_its_default() {
        let r = run(
            "x: ${opt:memory, 512}\ny: ${opt:team, self:custom.team}\ncustom: { team: core }\n",
            &[],
            None,
        )
        .unwrap();
        assert_eq!(
            (text_at(&r, "x"), text_at(&r, "y")),
            ("512".into(), "core".into())
        );
        let err = run("x: ${opt:memory}\n", &[], None).unwrap_err();
        assert!(
            err.message.contains("sls-rs has no `--memory` flag"),
            "{}",
            err.message
        );
        assert!(err.help.unwrap().contains("${opt:memory, some-default}"));
    }

    #[test]
    fn unsupported_sources_are_refused() {
        let err = run("x: ${ssm:/path}\n", &[], None).unwrap_err();
        assert!(err.message.contains("unknown variable source `ssm`"));
        let err = run("x: ${file(./a.yml)}\n", &[], None).unwrap_err();
        assert!(err.message.contains("not supported"), "{}", err.message);
    }
}
