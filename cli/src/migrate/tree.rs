//! Small helpers to read and rewrite the YAML reader's tree in place.

use crate::manifest::node::{resolve_plain, Mark, Node, Resolved, Value};

/// A new string (written without quotes when YAML would still read it as a string).
pub fn string(text: impl Into<String>) -> Node {
    Node::scalar(text, false, Mark::default())
}

/// A new number or boolean, written as is.
pub fn plain(text: impl Into<String>) -> Node {
    Node::scalar(text, true, Mark::default())
}

pub fn map(entries: Vec<(&str, Node)>) -> Node {
    Node {
        value: Value::Map(entries.into_iter().map(|(k, v)| (string(k), v)).collect()),
        mark: Mark::default(),
        width: 1,
        origin: None,
    }
}

pub fn seq(items: Vec<Node>) -> Node {
    Node {
        value: Value::Seq(items),
        mark: Mark::default(),
        width: 1,
        origin: None,
    }
}

pub fn entries_mut(node: &mut Node) -> Option<&mut Vec<(Node, Node)>> {
    match &mut node.value {
        Value::Map(e) => Some(e),
        _ => None,
    }
}

pub fn entries(node: &Node) -> &[(Node, Node)] {
    match &node.value {
        Value::Map(e) => e,
        _ => &[],
    }
}

pub fn items(node: &Node) -> &[Node] {
    match &node.value {
        Value::Seq(i) => i,
        _ => &[],
    }
}

pub fn get_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    entries_mut(node)?
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// Removes `key` from a mapping, giving back the key node (for its line) and the value.
pub fn take(node: &mut Node, key: &str) -> Option<(Node, Node)> {
    let entries = entries_mut(node)?;
    let i = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
    Some(entries.remove(i))
}

/// Sets `key`, in place when it exists (keeping the user's order), else at the end.
pub fn set(node: &mut Node, key: &str, value: Node) {
    let Some(entries) = entries_mut(node) else {
        return;
    };
    match entries.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
        Some((_, v)) => *v = value,
        None => entries.push((string(key), value)),
    }
}

/// Renames `from` to `to` in place, keeping the key's line (for comments).
pub fn rename(node: &mut Node, from: &str, to: &str) {
    if let Some(entries) = entries_mut(node) {
        for (k, _) in entries.iter_mut() {
            if k.as_str() == Some(from) {
                let mark = k.mark;
                *k = Node::scalar(to, false, mark);
            }
        }
    }
}

/// The mapping under `key`, created (at the end) when missing.
pub fn child_map<'a>(node: &'a mut Node, key: &str) -> &'a mut Node {
    if get_mut(node, key).is_none_or(|n| !matches!(n.value, Value::Map(_))) {
        set(node, key, map(vec![]));
    }
    get_mut(node, key).expect("just set")
}

pub fn is_true(node: &Node) -> bool {
    matches!(&node.value, Value::Scalar { text, plain: true } if resolve_plain(text) == Resolved::Bool(true))
}

pub fn is_empty(node: &Node) -> bool {
    match &node.value {
        Value::Map(e) => e.is_empty(),
        Value::Seq(i) => i.is_empty(),
        Value::Scalar { .. } => node.is_null(),
    }
}

/// Every node of a tree, depth first, mutable.
pub fn walk_mut(node: &mut Node, f: &mut dyn FnMut(&mut Node)) {
    f(node);
    match &mut node.value {
        Value::Map(entries) => entries.iter_mut().for_each(|(_, v)| walk_mut(v, f)),
        Value::Seq(items) => items.iter_mut().for_each(|v| walk_mut(v, f)),
        Value::Scalar { .. } => {}
    }
}

/// `usersTable` → `users-table`; `UsersTable` → `users-table`.
/// How many levels of mappings and lists `node` holds (a scalar: 0).
pub fn levels(node: &Node) -> usize {
    match &node.value {
        Value::Map(entries) => 1 + entries.iter().map(|(_, v)| levels(v)).max().unwrap_or(0),
        Value::Seq(items) => 1 + items.iter().map(levels).max().unwrap_or(0),
        Value::Scalar { .. } => 0,
    }
}

pub fn kebab(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = true;
        } else {
            if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
            prev_lower = false;
        }
    }
    out.trim_matches('-').to_string()
}
