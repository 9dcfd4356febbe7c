//! Writes the converted tree as YAML, in the user's key order, keeping comments.
//!
//! The YAML reader drops comments, so they are taken from the source text by line:
//! a run of whole-line comments directly above a key or list item that is kept
//! goes above it again (when it is not indented deeper than the key, which would
//! make it part of a block that was removed), and a comment at the end of a key's
//! or item's line goes at the end of that line again. Comments inside a removed or
//! rewritten block are not kept; the report lists their lines. Anchors and aliases
//! are written out expanded, and every mapping is written in block style except
//! small new ones (`{ table: users, access: read }`).

use std::collections::BTreeSet;

use crate::manifest::node::{resolve_plain, Node, Resolved, Value};

pub struct Emitter<'a> {
    source: Vec<&'a str>,
    used: BTreeSet<usize>,
    out: String,
}

impl<'a> Emitter<'a> {
    pub fn new(source: &'a str) -> Self {
        Emitter {
            source: source.lines().collect(),
            used: BTreeSet::new(),
            out: String::new(),
        }
    }

    /// The YAML text, and the lines of the source's comments that were not kept.
    pub fn finish(mut self, root: &Node) -> (String, Vec<usize>) {
        if let Value::Map(entries) = &root.value {
            self.map(entries, 0);
        }
        let lost = (1..=self.source.len())
            .filter(|l| !self.used.contains(l) && self.comment_at(*l).is_some())
            .collect();
        (self.out, lost)
    }

    fn line(&self, n: usize) -> Option<&'a str> {
        n.checked_sub(1).and_then(|i| self.source.get(i)).copied()
    }

    fn comment_at(&self, n: usize) -> Option<(usize, &'a str)> {
        let line = self.line(n)?;
        let trimmed = line.trim_start();
        trimmed
            .starts_with('#')
            .then(|| (line.len() - trimmed.len(), trimmed))
    }

    /// The whole-line comments directly above `line`, not indented deeper than `col`.
    fn comments_above(&mut self, line: usize, col: usize, indent: usize) {
        if line == 0 {
            return;
        }
        let mut found = Vec::new();
        let mut n = line - 1;
        while n >= 1 && !self.used.contains(&n) {
            match (self.line(n), self.comment_at(n)) {
                (_, Some((at, text))) if at < col => found.push(Some(text)),
                (Some(l), None) if l.trim().is_empty() => found.push(None),
                _ => break,
            }
            n -= 1;
        }
        // Blank lines below the last comment stay with the key; those above it belong to the previous block.
        while found.last() == Some(&None) {
            found.pop();
        }
        for (i, text) in found.iter().enumerate() {
            self.used.insert(line - 1 - i);
            let _ = text;
        }
        let had_blank_before = !self.out.is_empty()
            && line > found.len() + 1
            && self
                .line(line - found.len() - 1)
                .is_some_and(|l| l.trim().is_empty());
        if had_blank_before && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
        let mut blank = false;
        for text in found.into_iter().rev() {
            match text {
                Some(t) => {
                    self.out.push_str(&" ".repeat(indent));
                    self.out.push_str(t);
                    self.out.push('\n');
                    blank = false;
                }
                None if !blank => {
                    self.out.push('\n');
                    blank = true;
                }
                None => {}
            }
        }
    }

    /// ` # comment` at the end of the source line, after column `after` (0-based byte index).
    fn trailing(&mut self, line: usize, after: usize) {
        if line == 0 || self.used.contains(&(line + 1_000_000_000)) {
            return;
        }
        let Some(src) = self.line(line) else { return };
        let Some(rest) = src.get(after..) else { return };
        if let Some(i) = rest.find(" #").or_else(|| rest.find("\t#")) {
            self.used.insert(line + 1_000_000_000);
            self.out.push_str("  ");
            self.out.push_str(rest[i..].trim());
        }
    }

    /// Where a trailing comment may start on a scalar's line, when it can be found safely.
    fn after_scalar(node: &Node) -> Option<usize> {
        match &node.value {
            Value::Scalar { text, plain: true } if !text.contains('\n') && node.mark.line > 0 => {
                Some(node.mark.col - 1 + text.len())
            }
            _ => None,
        }
    }

    fn map(&mut self, entries: &[(Node, Node)], indent: usize) {
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 || !self.out.ends_with("- ") {
                self.comments_above(k.mark.line, k.mark.col, indent);
                self.out.push_str(&" ".repeat(indent));
            }
            self.out.push_str(&key_text(k));
            self.out.push(':');
            self.after_key(k, v, indent);
        }
    }

    fn after_key(&mut self, k: &Node, v: &Node, indent: usize) {
        match &v.value {
            Value::Scalar { .. } => {
                self.out.push(' ');
                self.scalar(v, indent + 2);
                if let Some(after) = Self::after_scalar(v).filter(|_| v.mark.line == k.mark.line) {
                    self.trailing(v.mark.line, after);
                }
                self.out.push('\n');
            }
            Value::Map(e) if e.is_empty() => self.out.push_str(" {}\n"),
            Value::Seq(i) if i.is_empty() => self.out.push_str(" []\n"),
            _ if flow(v).is_some() => {
                self.out.push(' ');
                self.out.push_str(&flow(v).expect("checked"));
                self.out.push('\n');
            }
            Value::Map(e) => {
                if matches!(k.value, Value::Scalar { plain: true, .. }) && v.mark.line > k.mark.line
                {
                    self.trailing(k.mark.line, k.mark.col - 1 + k.width);
                }
                self.out.push('\n');
                self.map(e, indent + 2);
            }
            Value::Seq(items) => {
                if matches!(k.value, Value::Scalar { plain: true, .. }) && v.mark.line > k.mark.line
                {
                    self.trailing(k.mark.line, k.mark.col - 1 + k.width);
                }
                self.out.push('\n');
                self.seq(items, indent + 2);
            }
        }
    }

    fn seq(&mut self, items: &[Node], indent: usize) {
        for item in items {
            self.comments_above(item.mark.line, item.mark.col.saturating_sub(1), indent);
            self.out.push_str(&" ".repeat(indent));
            self.out.push_str("- ");
            match &item.value {
                Value::Scalar { .. } => {
                    self.scalar(item, indent + 2);
                    if let Some(after) = Self::after_scalar(item) {
                        self.trailing(item.mark.line, after);
                    }
                    self.out.push('\n');
                }
                Value::Map(e) if e.is_empty() => self.out.push_str("{}\n"),
                Value::Seq(i) if i.is_empty() => self.out.push_str("[]\n"),
                _ if flow(item).is_some() => {
                    self.out.push_str(&flow(item).expect("checked"));
                    self.out.push('\n');
                }
                Value::Map(e) => self.map(e, indent + 2),
                Value::Seq(inner) => {
                    self.out.truncate(self.out.len() - 1);
                    self.out.push('\n');
                    self.seq(inner, indent + 2);
                }
            }
        }
    }

    fn scalar(&mut self, node: &Node, indent: usize) {
        let Value::Scalar { text, plain } = &node.value else {
            return;
        };
        if text.contains('\n') && literal_ok(text) {
            let body = text.trim_end_matches('\n');
            let trailing = text.len() - body.len();
            self.out.push_str(match trailing {
                0 => "|-",
                1 => "|",
                _ => "|+",
            });
            for line in text
                .split('\n')
                .take(body.split('\n').count() + trailing.saturating_sub(1))
            {
                self.out.push('\n');
                if !line.is_empty() {
                    self.out.push_str(&" ".repeat(indent));
                    self.out.push_str(line);
                }
            }
            return;
        }
        self.out.push_str(&scalar_text(text, *plain));
    }
}

fn literal_ok(text: &str) -> bool {
    !text.starts_with([' ', '\n'])
        && text.chars().all(|c| c == '\n' || !c.is_control())
        && text.lines().all(|l| !l.ends_with(' '))
}

/// Whether `text` can be written without quotes in block context.
fn safe_plain(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        let second = text.chars().nth(1);
        if !(matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ')) {
            return false;
        }
    }
    !text.starts_with(' ')
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.chars().any(|c| c.is_control())
}

fn scalar_text(text: &str, plain: bool) -> String {
    let is_string = matches!(resolve_plain(text), Resolved::Str(_));
    if safe_plain(text) && (plain || is_string) {
        return text.to_string();
    }
    if plain && text.is_empty() {
        return "null".into();
    }
    if text.chars().any(|c| c.is_control()) {
        return serde_json::to_string(text).expect("a string serializes");
    }
    format!("'{}'", text.replace('\'', "''"))
}

fn key_text(k: &Node) -> String {
    let text = k.as_str().unwrap_or("?");
    if safe_plain(text) && !text.contains(['[', ']', '{', '}', ',']) {
        text.to_string()
    } else {
        scalar_text(text, false)
    }
}

/// `{ table: users, access: read }` for a small new mapping of plain words.
fn flow(node: &Node) -> Option<String> {
    let Value::Map(entries) = &node.value else {
        return None;
    };
    if node.mark.line != 0 || entries.len() > 3 || entries.len() < 2 {
        return None;
    }
    let mut parts = Vec::new();
    for (kn, vn) in entries {
        let (Some(k), Some(v)) = (kn.as_str(), vn.as_str()) else {
            return None;
        };
        let flow_safe = |s: &str| safe_plain(s) && !s.contains([',', '[', ']', '{', '}']);
        if !flow_safe(k) || !flow_safe(v) || vn.mark.line != 0 {
            return None;
        }
        let plain = matches!(vn.value, Value::Scalar { plain: true, .. });
        parts.push(format!("{k}: {}", scalar_text(v, plain)));
    }
    let text = format!("{{ {} }}", parts.join(", "));
    (text.len() <= 70).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::node::parse;

    fn round_trip(src: &str) -> String {
        let root = parse(src).unwrap();
        let (out, _) = Emitter::new(src).finish(&root);
        assert_eq!(
            strip(parse(&out).unwrap()).value,
            strip(root).value,
            "{out}"
        );
        out
    }

    fn strip(mut n: Node) -> Node {
        crate::migrate::tree::walk_mut(&mut n, &mut |n| {
            n.mark = Default::default();
            n.width = 0;
        });
        n
    }

    #[test]
    fn keeps_order_comments_and_types() {
        let src = "# header\nservice: shop # the name\n\nprovider:\n  # where\n  region: eu-west-1\n  memorySize: 512\n  quoted: '512'\nfunctions:\n  a:\n    events:\n      - http: GET /x  # route\n      - schedule: rate(1 day)\n    list:\n      - one\n";
        let out = round_trip(src);
        assert!(out.starts_with("# header\nservice: shop  # the name\n\nprovider:\n  # where\n  region: eu-west-1\n"), "{out}");
        assert!(out.contains("quoted: '512'"), "{out}");
        assert!(out.contains("- http: GET /x  # route"), "{out}");
    }

    #[test]
    fn strings_that_need_quotes_get_them() {
        for s in [
            "a: b", "#x", "", "true", "12", "*star", "it's", "-", " lead",
        ] {
            let text = scalar_text(s, false);
            let back = parse(&format!("k: {text}\n")).unwrap();
            let v = back.get("k").unwrap();
            assert_eq!(v.as_str(), Some(s), "{text}");
            assert!(
                !matches!(v.value, Value::Scalar { plain: true, .. }) || safe_plain(s),
                "{text}"
            );
        }
    }

    #[test]
    fn multi_line_strings_are_literal_blocks() {
        round_trip("d: |\n  line one\n  line two\ne: |-\n  no final\n  newline\n");
    }
}
