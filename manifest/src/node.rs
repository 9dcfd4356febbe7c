//! A YAML tree that remembers where every node was written.
//!
//! serde_yaml gives no positions once a value has been through variable
//! resolution, so the manifest is parsed into this tree first (yaml-rust2's
//! event parser carries a line and column per event); variables are resolved
//! on it, and typed deserialization (`de.rs`) reads from it, so every error,
//! including those found after resolution, points at the line the user wrote.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::diagnostic::Diagnostic;
use super::limits;

/// A position in the manifest, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
}

impl Mark {
    fn from_marker(m: &Marker) -> Self {
        // yaml-rust2 counts columns from 0 and lines from 1.
        Mark {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
    /// How many characters of the source line the node's first token covers, for the caret.
    pub width: usize,
    /// The variable expression this node was produced by, if any (shown in errors).
    pub origin: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar; `plain` scalars get YAML's type resolution (numbers, booleans, null),
    /// quoted ones are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// The type a plain scalar resolves to under the YAML 1.2 core schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

pub fn resolve_plain(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(v) = i64::from_str_radix(hex, 16) {
            return Resolved::Int(v);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(v) = i64::from_str_radix(oct, 8) {
            return Resolved::Int(v);
        }
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(v) = text.parse::<i64>() {
            return Resolved::Int(v);
        }
    }
    let looks_float = digits
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_float {
        if let Ok(v) = text.parse::<f64>() {
            return Resolved::Float(v);
        }
    }
    match digits {
        ".inf" | ".Inf" | ".INF" => Resolved::Float(if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        _ => Resolved::Str(text),
    }
}

impl Node {
    pub fn scalar(text: impl Into<String>, plain: bool, mark: Mark) -> Node {
        let text = text.into();
        let width = text.chars().count().max(1);
        Node {
            value: Value::Scalar { text, plain },
            mark,
            width,
            origin: None,
        }
    }

    /// What kind of YAML value this is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { text, plain: true } => match resolve_plain(text) {
                Resolved::Null => "nothing (null)",
                Resolved::Bool(_) => "a boolean",
                Resolved::Int(_) => "an integer",
                Resolved::Float(_) => "a number",
                Resolved::Str(_) => "a string",
            },
            Value::Scalar { .. } => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if resolve_plain(text) == Resolved::Null)
    }

    /// The value under `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node under `key` of a mapping node.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The node a dotted key path leads to (`functions.hello.events.0`), and where
    /// to point when reporting about it: the key when the path ends on a mapping key.
    pub fn locate(&self, path: &[PathSeg]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.value) {
                (PathSeg::Key(k), Value::Map(_)) => node.get(k)?,
                (PathSeg::Index(i), Value::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The best mark for a path: the key of the last segment when it names a
    /// mapping entry, otherwise the deepest node that exists.
    pub fn mark_of(&self, path: &[PathSeg]) -> (Mark, usize) {
        let mut node = self;
        let mut best = (self.mark, self.width);
        for seg in path {
            let next = match (seg, &node.value) {
                (PathSeg::Key(k), Value::Map(_)) => node.entry(k).map(|(key, value)| {
                    best = (key.mark, key.width);
                    value
                }),
                (PathSeg::Index(i), Value::Seq(items)) => {
                    items.get(*i).inspect(|item| best = (item.mark, item.width))
                }
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        best
    }
}

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// A key path such as `functions.hello.events[0].schedule`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(pub Vec<PathSeg>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(PathSeg::Key(k.to_string()));
        KeyPath(v)
    }
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(PathSeg::Index(i));
        KeyPath(v)
    }
    /// Parses `a.b.0.c`, the address syntax of `${self:…}`.
    pub fn parse_dotted(s: &str) -> Self {
        KeyPath(
            s.split('.')
                .map(|p| match p.parse::<usize>() {
                    Ok(i) => PathSeg::Index(i),
                    Err(_) => PathSeg::Key(p.to_string()),
                })
                .collect(),
        )
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Parses YAML text into a tree. Anchors and aliases are expanded, `<<` merge
/// keys are applied, and duplicate keys are an error (YAML forbids them; silently
/// keeping one would hide a mistake).
pub fn parse(text: &str) -> Result<Node, Diagnostic> {
    parse_with(text, false)
}

/// Like [`parse`], but CloudFormation's short tags are read as the long form they
/// stand for (`!Ref X` as `{Ref: X}`, `!GetAtt X.Arn` as `{Fn::GetAtt: [X, Arn]}`,
/// `!Sub …` as `{Fn::Sub: …}`), so `migrate` can convert them.
pub fn parse_keeping_cloudformation(text: &str) -> Result<Node, Diagnostic> {
    parse_with(text, true)
}

fn parse_with(text: &str, cloudformation_tags: bool) -> Result<Node, Diagnostic> {
    lone_carriage_return(text)?;
    let mut builder = Builder {
        cloudformation_tags,
        ..Builder::default()
    };
    let mut parser = Parser::new_from_str(text);
    // Event by event: yaml-rust2's own `load` recurses once per level of nesting, so a
    // 10,000-deep list would overflow the stack before the builder could refuse it.
    let loaded = loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break Ok(()),
            Ok((event, marker)) => {
                builder.on_event(event, marker);
                if builder.error.is_some() {
                    break Ok(());
                }
            }
            Err(e) => break Err(e),
        }
    };
    // The builder's error is earlier in the text (the scanner reads ahead of the events).
    if let Some(err) = builder.error {
        return Err(err);
    }
    if let Err(e) = loaded {
        let mark = Mark::from_marker(e.marker());
        // The scanner's own bound on `[[[…` (255 levels).
        if e.info() == "recursion limit exceeded" {
            return Err(nesting_too_deep(mark));
        }
        return Err(Diagnostic::at(
            mark,
            1,
            format!("invalid YAML: {}", e.info()),
        ));
    }
    match builder.docs.len() {
        0 => Err(
            Diagnostic::at(Mark { line: 1, col: 1 }, 1, "the file is empty".into()).with_help(
                "a manifest starts with `service:` and `provider:`; see serverless.yaml.example",
            ),
        ),
        1 => Ok(builder.docs.pop().expect("one document")),
        _ => Err(Diagnostic::at(
            Mark { line: 1, col: 1 },
            1,
            "the file holds several YAML documents (`---`)".into(),
        )
        .with_help("keep the whole service in one document")),
    }
}

/// YAML ends a line at a carriage return alone (`\r`, old Mac line endings), where
/// most editors, `grep` and our own snippets count lines by `\n`; every line number
/// after it would point at the wrong line. Refused where it is, in the numbering the
/// user's editor shows.
fn lone_carriage_return(text: &str) -> Result<(), Diagnostic> {
    let Some(at) = text
        .match_indices('\r')
        .map(|(i, _)| i)
        .find(|i| text.as_bytes().get(i + 1) != Some(&b'\n'))
    else {
        return Ok(());
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |n| n + 1)..]
        .chars()
        .count()
        + 1;
    Err(Diagnostic::at(
        Mark { line, col },
        1,
        "a carriage return (\\r) without a line feed after it".into(),
    )
    .with_help("save the file with LF or CRLF line endings"))
}

/// How much a tree holds: values (keys, items, scalars) and bytes of scalar text.
#[derive(Clone, Copy, Default, PartialEq)]
struct Size {
    values: usize,
    text: usize,
}

fn nesting_too_deep(mark: Mark) -> Diagnostic {
    Diagnostic::at(
        mark,
        1,
        format!(
            "mappings and lists nest more than {} levels deep",
            limits::MAX_NESTING
        ),
    )
    .with_help("a manifest needs a few levels; a state machine definition a few dozen")
}

enum Frame {
    Seq {
        node: Node,
        anchor: usize,
        /// The CloudFormation function a short tag named (`!GetAtt [A, Arn]`), when kept.
        function: Option<String>,
        /// The document's size when the collection started (what it holds is the difference).
        start: Size,
        /// How many levels of mappings and lists its deepest item holds.
        inner: usize,
    },
    /// `merges` are `<<` values, applied at the end so the mapping's own keys win wherever they are written.
    Map {
        node: Node,
        anchor: usize,
        function: Option<String>,
        start: Size,
        inner: usize,
        pending_key: Option<Node>,
        merges: Vec<Node>,
        /// The keys so far and the line of each, so a duplicate is found in O(1).
        keys: HashMap<String, usize>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Each anchor's node, size and levels of nesting: an alias costs what it expands to.
    anchors: HashMap<usize, (Node, Size, usize)>,
    docs: Vec<Node>,
    /// Everything built so far, aliases expanded.
    size: Size,
    error: Option<Diagnostic>,
    /// Read `!Ref`, `!GetAtt`, `!Sub`… as their long form instead of refusing them.
    cloudformation_tags: bool,
}

/// `Ref` or `Fn::Name` for a CloudFormation short tag (`!Ref`, `!GetAtt`).
fn cloudformation_function(tag: &Option<yaml_rust2::parser::Tag>) -> Option<String> {
    let tag = tag.as_ref()?;
    if tag.handle != "!" || tag.suffix.is_empty() {
        return None;
    }
    Some(match tag.suffix.as_str() {
        "Ref" | "Condition" => tag.suffix.clone(),
        other => format!("Fn::{other}"),
    })
}

/// `{Ref: X}` around a node; `!GetAtt A.B` becomes `{Fn::GetAtt: [A, B]}`.
fn long_form(function: String, node: Node) -> Node {
    let mark = node.mark;
    let value = match (&node.value, function.as_str()) {
        (Value::Scalar { text, .. }, "Fn::GetAtt") if text.contains('.') => {
            let (res, attr) = text.split_once('.').expect("a dot");
            Node {
                value: Value::Seq(vec![
                    Node::scalar(res, true, mark),
                    Node::scalar(attr, true, mark),
                ]),
                ..node.clone()
            }
        }
        _ => node,
    };
    Node {
        value: Value::Map(vec![(Node::scalar(function, true, mark), value)]),
        mark,
        width: 1,
        origin: None,
    }
}

impl Builder {
    fn fail(&mut self, d: Diagnostic) {
        if self.error.is_none() {
            self.error = Some(d);
        }
    }

    /// Counts `added` against the document's limits; false (and the error) past them.
    fn grow(&mut self, added: Size, mark: Mark, alias: bool) -> bool {
        self.size.values += added.values;
        self.size.text += added.text;
        let over = if self.size.values > limits::MAX_VALUES {
            format!(
                "more than {} values (keys, list items and scalars)",
                limits::MAX_VALUES
            )
        } else if self.size.text > limits::MAX_TEXT_BYTES {
            format!("more than {} of text", limits::mib(limits::MAX_TEXT_BYTES))
        } else {
            return true;
        };
        let d = if alias {
            Diagnostic::at(mark, 1, format!("anchors and aliases (`&name`, `*name`) expand the manifest to {over}"))
                .with_help("an alias that repeats an anchor holding other aliases, level after level (an \"alias bomb\"), gets here; write the values out, or refer to them with ${self:…}")
        } else {
            Diagnostic::at(mark, 1, format!("the manifest holds {over}"))
                .with_help("a service's manifest holds a few thousand at most; split the service, or keep large data out of serverless.yaml")
        };
        self.fail(d);
        false
    }

    /// Opens a mapping or a list, unless that nests deeper than the limit.
    fn open(&mut self, mark: Mark) -> bool {
        if self.stack.len() >= limits::MAX_NESTING {
            self.fail(nesting_too_deep(mark));
            return false;
        }
        self.grow(Size { values: 1, text: 0 }, mark, false)
    }

    /// Keeps an anchored node for its aliases; the copy counts against the limits too
    /// (anchors nested in anchors would otherwise copy a tree once per level).
    fn remember(&mut self, anchor: usize, node: &Node, size: Size, levels: usize) {
        if anchor > 0 && self.grow(size, node.mark, true) {
            self.anchors.insert(anchor, (node.clone(), size, levels));
        }
    }

    fn reject_tag(&mut self, tag: &Option<yaml_rust2::parser::Tag>, mark: Mark) -> bool {
        if self.cloudformation_tags && cloudformation_function(tag).is_some() {
            return false;
        }
        let Some(tag) = tag else { return false };
        // `!!str` and friends are standard YAML; `!Ref`, `!GetAtt`, `!Sub` are CloudFormation.
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            return false;
        }
        self.fail(
            Diagnostic::at(mark, tag.suffix.len() + 1, format!("the YAML tag `!{}` is not supported", tag.suffix))
                .with_help(
                    "sls-rs does not deploy through CloudFormation, so `!Ref`, `!GetAtt` and `!Sub` do not exist; \
                     refer to the service's own resources with ${fn:NAME}, ${table:NAME}, ${bucket:NAME}, ${queue:NAME}",
                ),
        );
        true
    }

    /// Adds a finished value (`levels` deep) to the collection being read.
    fn push_value(&mut self, node: Node, levels: usize) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq {
                node: seq, inner, ..
            }) => {
                *inner = (*inner).max(levels);
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Frame::Map {
                node: map,
                inner,
                pending_key,
                merges,
                keys,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    *inner = (*inner).max(levels);
                    let Value::Map(entries) = &mut map.value else {
                        return;
                    };
                    let is_merge = key.as_str() == Some("<<")
                        && matches!(key.value, Value::Scalar { plain: true, .. });
                    if is_merge {
                        merges.push(node);
                        return;
                    }
                    if let Some(name) = key.as_str() {
                        if let Some(first_line) = keys.get(name) {
                            let d = Diagnostic::at(key.mark, key.width, format!("duplicate key `{name}`"))
                                .with_help(format!("it is already set on line {first_line}; YAML keeps only one of them"));
                            self.fail(d);
                            return;
                        }
                        keys.insert(name.to_string(), key.mark.line);
                    }
                    entries.push((key, node));
                }
            },
        }
    }
}

/// Applies a `<<: *defaults` merge: entries of the merged mapping(s) that the
/// mapping does not set itself.
fn merge_into(entries: &mut Vec<(Node, Node)>, keys: &mut HashMap<String, usize>, merged: Node) {
    let sources = match merged.value {
        Value::Map(m) => vec![m],
        Value::Seq(items) => items
            .into_iter()
            .filter_map(|n| match n.value {
                Value::Map(m) => Some(m),
                _ => None,
            })
            .collect(),
        Value::Scalar { .. } => return,
    };
    for source in sources {
        for (k, v) in source {
            match k.as_str() {
                Some(name) if keys.contains_key(name) => {}
                Some(name) => {
                    keys.insert(name.to_string(), k.mark.line);
                    entries.push((k, v));
                }
                None => entries.push((k, v)),
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        let mark = Mark::from_marker(&marker);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                if self.reject_tag(&tag, mark) {
                    return;
                }
                let plain = style == TScalarStyle::Plain && tag.is_none();
                let size = Size {
                    values: 1,
                    text: text.len(),
                };
                if !self.grow(size, mark, false) {
                    return;
                }
                let mut node = Node::scalar(text, plain, mark);
                if matches!(
                    style,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
                ) {
                    node.width += 2;
                }
                if let Some(function) = cloudformation_function(&tag) {
                    // Only reached when kept (reject_tag refused it otherwise); plain so `!Ref X` reads as X.
                    if let Value::Scalar { plain, .. } = &mut node.value {
                        *plain = style == TScalarStyle::Plain;
                    }
                    node = long_form(function, node);
                }
                self.remember(anchor, &node, size, 0);
                self.push_value(node, 0);
            }
            Event::SequenceStart(anchor, tag) => {
                if self.reject_tag(&tag, mark) || !self.open(mark) {
                    return;
                }
                let node = Node {
                    value: Value::Seq(Vec::new()),
                    mark,
                    width: 1,
                    origin: None,
                };
                let start = self.size;
                self.stack.push(Frame::Seq {
                    node,
                    anchor,
                    function: cloudformation_function(&tag),
                    start,
                    inner: 0,
                });
            }
            Event::MappingStart(anchor, tag) => {
                if self.reject_tag(&tag, mark) || !self.open(mark) {
                    return;
                }
                let node = Node {
                    value: Value::Map(Vec::new()),
                    mark,
                    width: 1,
                    origin: None,
                };
                let start = self.size;
                self.stack.push(Frame::Map {
                    node,
                    anchor,
                    function: cloudformation_function(&tag),
                    start,
                    inner: 0,
                    pending_key: None,
                    merges: Vec::new(),
                    keys: HashMap::new(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, start, function, inner) = match self.stack.pop() {
                    Some(Frame::Seq {
                        node,
                        anchor,
                        start,
                        function,
                        inner,
                    }) => (node, anchor, start, function, inner),
                    Some(Frame::Map {
                        mut node,
                        anchor,
                        start,
                        function,
                        inner,
                        merges,
                        mut keys,
                        ..
                    }) => {
                        if let Value::Map(entries) = &mut node.value {
                            // Point at the first key: yaml-rust2 marks a block mapping where its first value starts.
                            if let Some((first, _)) = entries.first() {
                                node.mark = first.mark;
                                node.width = first.width;
                            }
                            for merged in merges {
                                merge_into(entries, &mut keys, merged);
                            }
                        }
                        (node, anchor, start, function, inner)
                    }
                    None => return,
                };
                let size = Size {
                    values: self.size.values - start.values,
                    text: self.size.text - start.text,
                };
                let node = match function {
                    Some(f) => long_form(f, node),
                    None => node,
                };
                self.remember(anchor, &node, size, inner + 1);
                self.push_value(node, inner + 1);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(&(_, size, levels)) => {
                    // An alias pastes the anchored tree here: it nests as deep as it does
                    // plus where it is pasted.
                    if self.stack.len() + levels > limits::MAX_NESTING {
                        self.fail(nesting_too_deep(mark));
                        return;
                    }
                    // Counted before it is copied: an alias bomb stops here, not at the allocator.
                    if !self.grow(size, mark, true) {
                        return;
                    }
                    let mut node = self.anchors[&id].0.clone();
                    node.mark = mark;
                    self.push_value(node, levels);
                }
                None => self.fail(Diagnostic::at(mark, 1, "alias to an unknown anchor".into())),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_carriage_return_is_refused_where_the_editor_shows_it() {
        let d = parse("service: todo\nprovider:\n  name:\r\r aws\n").unwrap_err();
        assert_eq!(d.mark, Mark { line: 3, col: 8 });
        assert!(d.message.contains("carriage return"), "{}", d.message);
        // Windows line endings are fine, and so is a file ending in `\r\n`.
        let root = parse("service: todo\r\nprovider:\r\n  name: aws\r\n").unwrap();
        let (_, v) = root.get("provider").unwrap().entry("name").unwrap();
        assert_eq!((v.mark.line, v.as_str()), (3, Some("aws")));
        assert_eq!(parse("a: b\r").unwrap_err().mark, Mark { line: 1, col: 5 });
    }

    #[test]
    fn marks_are_one_based_lines_and_columns() {
        let root = parse("service: todo\nprovider:\n  name: aws\n").unwrap();
        let (k, v) = root.get("provider").unwrap().entry("name").unwrap();
        assert_eq!(k.mark, Mark { line: 3, col: 3 });
        assert_eq!(v.mark, Mark { line: 3, col: 9 });
        assert_eq!(v.as_str(), Some("aws"));
    }

    #[test]
    fn duplicate_keys_are_an_error_naming_both_lines() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.mark, Mark { line: 3, col: 1 });
        assert!(err.message.contains("duplicate key `a`"));
        assert!(err.help.unwrap().contains("line 1"));
    }

    #[test]
    fn an_alias_nests_as_deep_as_its_anchor_where_it_is_pasted() {
        let max = limits::MAX_NESTING;
        // `a: &a [[…x…]]` holds 50 levels; pasted inside `k` lists it reaches k + 50
        // levels below the root mapping (1 level).
        let doc = |inner: usize| {
            format!(
                "a: &a {}x{}\nb: {}*a{}\n",
                "[".repeat(50),
                "]".repeat(50),
                "[".repeat(inner),
                "]".repeat(inner)
            )
        };
        let fits = max - 50 - 1;
        assert!(parse(&doc(fits)).is_ok());
        let err = parse(&doc(fits + 1)).unwrap_err();
        assert_eq!(
            err.message,
            format!("mappings and lists nest more than {max} levels deep")
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        let root = parse("base: &b { memorySize: 256, timeout: 3 }\nf:\n  <<: *b\n  timeout: 9\n")
            .unwrap();
        let f = root.get("f").unwrap();
        assert_eq!(f.get("memorySize").unwrap().as_str(), Some("256"));
        assert_eq!(f.get("timeout").unwrap().as_str(), Some("9"));
    }

    #[test]
    fn cloudformation_tags_are_refused_with_a_pointer() {
        let err = parse("x: !Ref Table\n").unwrap_err();
        assert!(err.message.contains("`!Ref`"));
        assert!(err.help.unwrap().contains("${table:NAME}"));
    }

    #[test]
    fn migrate_reads_cloudformation_short_tags_as_their_long_form() {
        let root = parse_keeping_cloudformation(
            "a: !Ref Table\nb: !GetAtt Table.Arn\nc: !GetAtt [Q, Arn]\nd: !Sub 'x-${T}'\n",
        )
        .unwrap();
        assert_eq!(
            root.get("a").unwrap().get("Ref").unwrap().as_str(),
            Some("Table")
        );
        let b = root.get("b").unwrap().get("Fn::GetAtt").unwrap();
        let Value::Seq(parts) = &b.value else {
            panic!("{b:?}")
        };
        assert_eq!(parts[1].as_str(), Some("Arn"));
        let Value::Seq(parts) = &root.get("c").unwrap().get("Fn::GetAtt").unwrap().value else {
            panic!()
        };
        assert_eq!(parts[0].as_str(), Some("Q"));
        assert_eq!(
            root.get("d").unwrap().get("Fn::Sub").unwrap().as_str(),
            Some("x-${T}")
        );
        // The manifest reader itself still refuses them.
        assert!(parse("a: !Ref Table\n").is_err());
    }

    #[test]
    fn plain_scalars_resolve_like_yaml_core() {
        assert_eq!(resolve_plain("512"), Resolved::Int(512));
        assert_eq!(resolve_plain("-3"), Resolved::Int(-3));
        assert_eq!(resolve_plain("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve_plain("true"), Resolved::Bool(true));
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str("1.2.3"));
        assert_eq!(resolve_plain("e5"), Resolved::Str("e5"));
    }

    #[test]
    fn mark_of_points_at_the_deepest_existing_key() {
        let root = parse("functions:\n  hello:\n    handler: hello\n").unwrap();
        let path = KeyPath::root()
            .key("functions")
            .key("hello")
            .key("memorySize");
        assert_eq!(root.mark_of(&path.0).0, Mark { line: 2, col: 3 });
        let path = KeyPath::root().key("functions").key("hello").key("handler");
        assert_eq!(root.mark_of(&path.0).0, Mark { line: 3, col: 5 });
    }
}
