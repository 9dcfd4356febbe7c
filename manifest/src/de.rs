//! serde deserialization of the typed manifest from the positioned tree, so a
//! wrong type, a missing key or an unknown key is reported at its line and column
//! with its key path, and an unknown key gets a "did you mean".

use std::fmt;

use serde::de::{self, DeserializeSeed, Visitor};

use super::diagnostic::{Diagnostic, HELP_SEPARATOR};
use super::node::{resolve_plain, KeyPath, Node, Resolved, Value};
use super::suggest::did_you_mean;

/// Deserializes `T` from a resolved tree.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, Diagnostic> {
    T::deserialize(NodeDe {
        node,
        path: KeyPath::root(),
    })
    .map_err(|e| e.into_diagnostic(node))
}

#[derive(Debug)]
pub struct DeError {
    message: String,
    help: Option<String>,
    /// Where the error was raised; set by the innermost node that sees it.
    at: Option<(super::node::Mark, usize, KeyPath)>,
}

impl DeError {
    fn located(mut self, node: &Node, path: &KeyPath) -> Self {
        if self.at.is_none() {
            self.at = Some((node.mark, node.width, path.clone()));
            if let Some(origin) = &node.origin {
                self.message = format!("{} (the value came from `{origin}`)", self.message);
            }
        }
        self
    }

    fn into_diagnostic(self, root: &Node) -> Diagnostic {
        let (mark, width, path) = self.at.unwrap_or((root.mark, 1, KeyPath::root()));
        let mut d = Diagnostic::at(mark, width, self.message).with_path(path);
        d.help = self.help;
        d
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    /// A message from a custom `Deserialize` may carry its help after [`HELP_SEPARATOR`].
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let msg = msg.to_string();
        let (message, help) = match msg.split_once(HELP_SEPARATOR) {
            Some((m, h)) => (m.to_string(), Some(h.to_string())),
            None => (msg, None),
        };
        DeError {
            message,
            help,
            at: None,
        }
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Self::custom(format!(
            "expected {}, found {}",
            plain_expected(&exp.to_string()),
            found(unexp)
        ))
    }

    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Self::custom(format!(
            "invalid value {}, expected {}",
            found(unexp),
            plain_expected(&exp.to_string())
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let help = match did_you_mean(field, expected.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", expected.join(", ")),
        };
        DeError {
            message: format!("unknown key `{field}`"),
            help: Some(help),
            at: None,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let help = match did_you_mean(variant, expected.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", expected.join(", ")),
        };
        DeError {
            message: format!("unknown value `{variant}`"),
            help: Some(help),
            at: None,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format!("missing required key `{field}`"))
    }
}

/// What was written, in YAML's words.
fn found(unexp: de::Unexpected) -> String {
    match unexp {
        de::Unexpected::Str(s) => format!("the string `{s}`"),
        de::Unexpected::Signed(n) => format!("the integer {n}"),
        de::Unexpected::Unsigned(n) => format!("the integer {n}"),
        de::Unexpected::Float(n) => format!("the number {n}"),
        de::Unexpected::Bool(b) => format!("the boolean {b}"),
        de::Unexpected::Map => "a mapping".to_string(),
        de::Unexpected::Seq => "a list".to_string(),
        de::Unexpected::Unit => "nothing (null)".to_string(),
        other => other.to_string(),
    }
}

/// serde names primitive types by their Rust names; users read YAML.
fn plain_expected(exp: &str) -> String {
    match exp {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        "unit" => "nothing".into(),
        "field identifier" => "a key name".into(),
        "variant identifier" => "a name".into(),
        // Derived types name themselves in Rust (`struct CorsRule`); the callers that
        // know the keys or names say more (see `deserialize_struct` and `deserialize_enum`).
        other if other.starts_with("struct ") => "a mapping".into(),
        other if other.starts_with("enum ") => "one of the names listed".into(),
        other if other.contains("variant") || other.starts_with("tuple") || other == "option" => {
            "a value of another shape".into()
        }
        other => other.to_string(),
    }
}

/// `a mapping with keys such as `name`, `type``: what a struct takes, in manifest words.
fn mapping_of(fields: &[&str]) -> String {
    let shown: Vec<String> = fields.iter().take(4).map(|f| format!("`{f}`")).collect();
    match fields.len() {
        0 => "a mapping".into(),
        1..=4 => format!("a mapping with {}", shown.join(", ")),
        _ => format!("a mapping with keys such as {}", shown.join(", ")),
    }
}

struct NodeDe<'de> {
    node: &'de Node,
    path: KeyPath,
}

impl<'de> NodeDe<'de> {
    /// Locates an error at this node, unless the node is a mapping or a list:
    /// their own problems (a missing key) are better shown at the key that holds
    /// them, which the caller knows.
    fn fail(&self, e: DeError) -> DeError {
        locate_scalar(e, self.node, &self.path)
    }

    fn scalar(&self) -> Option<(&'de str, bool)> {
        match &self.node.value {
            Value::Scalar { text, plain } => Some((text, *plain)),
            _ => None,
        }
    }

    fn unexpected(&self) -> de::Unexpected<'de> {
        match &self.node.value {
            Value::Scalar { text, plain: true } => match resolve_plain(text) {
                Resolved::Null => de::Unexpected::Unit,
                Resolved::Bool(b) => de::Unexpected::Bool(b),
                Resolved::Int(i) => de::Unexpected::Signed(i),
                Resolved::Float(f) => de::Unexpected::Float(f),
                Resolved::Str(s) => de::Unexpected::Str(s),
            },
            Value::Scalar { text, .. } => de::Unexpected::Str(text),
            Value::Seq(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        }
    }

    fn number<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let res = match self.scalar() {
            Some((text, true)) => match resolve_plain(text) {
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Float(f) => visitor.visit_f64(f),
                _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
            },
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        };
        res.map_err(|e| self.fail(e))
    }
}

macro_rules! numbers {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.number(visitor)
        })*
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let res = match &self.node.value {
            Value::Scalar { text, plain: true } => match resolve_plain(text) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(s) => visitor.visit_borrowed_str(s),
            },
            Value::Scalar { text, .. } => visitor.visit_borrowed_str(text),
            Value::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                path: &self.path,
                index: 0,
            }),
            Value::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                path: &self.path,
                value: None,
            }),
        };
        res.map_err(|e| self.fail(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let res = match self.scalar().map(|(t, plain)| (resolve_plain(t), plain)) {
            Some((Resolved::Bool(b), true)) => visitor.visit_bool(b),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        };
        res.map_err(|e| self.fail(e))
    }

    numbers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8 deserialize_u16
        deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64);

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // A plain `1.0` or `true` is still text where text is wanted, as in serde_yaml.
        let res = match self.scalar() {
            Some((text, plain)) if !(plain && resolve_plain(text) == Resolved::Null) => {
                visitor.visit_borrowed_str(text)
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        };
        res.map_err(|e| self.fail(e))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            return visitor.visit_none().map_err(|e| self.fail(e));
        }
        let (node, path) = (self.node, self.path.clone());
        visitor
            .visit_some(self)
            .map_err(|e| locate_scalar(e, node, &path))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (node, path) = (self.node, self.path.clone());
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| locate_scalar(e, node, &path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let res = match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                path: &self.path,
                index: 0,
            }),
            _ if self.node.is_null() => visitor.visit_seq(SeqAccess {
                items: [].iter(),
                path: &self.path,
                index: 0,
            }),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        };
        res.map_err(|e| self.fail(e))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let res = match &self.node.value {
            Value::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                path: &self.path,
                value: None,
            }),
            // `environment:` with nothing under it is an empty mapping, not an error.
            _ if self.node.is_null() => visitor.visit_map(MapAccess {
                entries: [].iter(),
                path: &self.path,
                value: None,
            }),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        };
        res.map_err(|e| self.fail(e))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if matches!(self.node.value, Value::Map(_)) || self.node.is_null() {
            return self.deserialize_map(visitor);
        }
        let found = found(self.unexpected());
        Err(self.fail(<DeError as de::Error>::custom(format!(
            "expected {}, found {found}",
            mapping_of(fields)
        ))))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let res = match &self.node.value {
            Value::Scalar { .. } => visitor.visit_enum(EnumAccess {
                key: self.node,
                value: None,
                path: &self.path,
            }),
            Value::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(EnumAccess {
                    key,
                    value: Some(value),
                    path: &self.path,
                })
            }
            Value::Map(entries) => {
                let keys: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_str()).collect();
                Err(DeError {
                    message: format!("expected exactly one key here, found {}: {}", keys.len(), keys.join(", ")),
                    help: Some("each list item takes one kind; start a new `- ` item for the next one, or indent its settings under the kind".into()),
                    at: None,
                })
            }
            Value::Seq(_) => Err(<DeError as de::Error>::custom(format!(
                "expected one of: {}, found a list",
                variants.join(", ")
            ))),
        };
        res.map_err(|e| self.fail(e))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let res = if self.node.is_null() {
            visitor.visit_unit()
        } else {
            Err(de::Error::invalid_type(self.unexpected(), &visitor))
        };
        res.map_err(|e| self.fail(e))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

fn locate_scalar(e: DeError, node: &Node, path: &KeyPath) -> DeError {
    match node.value {
        Value::Map(_) | Value::Seq(_) => e,
        Value::Scalar { .. } => e.located(node, path),
    }
}

/// Where to show a problem with `value`: at its key when it is a mapping or a list.
fn anchor<'n>(key: &'n Node, value: &'n Node) -> &'n Node {
    if matches!(value.value, Value::Map(_) | Value::Seq(_)) {
        key
    } else {
        value
    }
}

struct SeqAccess<'de, 'p> {
    items: std::slice::Iter<'de, Node>,
    path: &'p KeyPath,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = self.path.index(self.index);
        self.index += 1;
        seed.deserialize(NodeDe {
            node,
            path: path.clone(),
        })
        .map(Some)
        .map_err(|e| e.located(node, &path))
    }
}

struct MapAccess<'de, 'p> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    path: &'p KeyPath,
    /// The value of the entry whose key was just read, with that key.
    value: Option<(&'de Node, &'de Node, KeyPath)>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let value_path = match key.as_str() {
            Some(k) => self.path.key(k),
            None => self.path.clone(),
        };
        self.value = Some((key, value, value_path));
        // An unknown key is reported at the key, under the path of the mapping that holds it.
        seed.deserialize(NodeDe {
            node: key,
            path: self.path.clone(),
        })
        .map(Some)
        .map_err(|e| e.located(key, self.path))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, node, path) = self
            .value
            .take()
            .expect("next_value_seed after next_key_seed");
        seed.deserialize(NodeDe {
            node,
            path: path.clone(),
        })
        .map_err(|e| e.located(anchor(key, node), &path))
    }
}

struct EnumAccess<'de, 'p> {
    key: &'de Node,
    value: Option<&'de Node>,
    path: &'p KeyPath,
}

impl<'de, 'p> de::EnumAccess<'de> for EnumAccess<'de, 'p> {
    type Error = DeError;
    type Variant = VariantAccess<'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), DeError> {
        let name = seed
            .deserialize(NodeDe {
                node: self.key,
                path: self.path.clone(),
            })
            .map_err(|e| e.located(self.key, self.path))?;
        let path = match self.key.as_str() {
            Some(k) if self.value.is_some() => self.path.key(k),
            _ => self.path.clone(),
        };
        Ok((
            name,
            VariantAccess {
                key: self.key,
                value: self.value,
                path,
            },
        ))
    }
}

struct VariantAccess<'de> {
    key: &'de Node,
    value: Option<&'de Node>,
    path: KeyPath,
}

impl<'de> VariantAccess<'de> {
    fn value_de(&self) -> Result<NodeDe<'de>, DeError> {
        match self.value {
            Some(node) => Ok(NodeDe {
                node,
                path: self.path.clone(),
            }),
            None => Err(<DeError as de::Error>::custom(format!(
                "`{}` needs settings: write `{}: …`",
                self.key.as_str().unwrap_or_default(),
                self.key.as_str().unwrap_or_default()
            ))
            .located(self.key, &self.path)),
        }
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            None => Ok(()),
            Some(v) if v.is_null() => Ok(()),
            Some(v) => Err(<DeError as de::Error>::custom(format!(
                "`{}` takes no settings",
                self.key.as_str().unwrap_or_default()
            ))
            .located(v, &self.path)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        let de = self.value_de()?;
        let (node, path) = (de.node, de.path.clone());
        seed.deserialize(de)
            .map_err(|e| e.located(anchor(self.key, node), &path))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self.value_de()?, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let de = self.value_de()?;
        let (node, path) = (de.node, de.path.clone());
        de::Deserializer::deserialize_map(de, visitor)
            .map_err(|e| e.located(anchor(self.key, node), &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{parse, Mark};
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct F {
        handler: String,
        memory_size: Option<u32>,
        #[serde(default)]
        events: Vec<E>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    enum E {
        Schedule(String),
        Sqs { queue: String },
    }

    #[test]
    fn unknown_keys_point_at_the_key_with_a_suggestion() {
        let root = parse("handler: h\nmemSize: 3\n").unwrap();
        let d = from_node::<F>(&root).unwrap_err();
        assert_eq!(d.mark, Mark { line: 2, col: 1 });
        assert_eq!(d.message, "unknown key `memSize`");
        assert_eq!(d.help.as_deref(), Some("did you mean `memorySize`?"));
    }

    #[test]
    fn wrong_types_point_at_the_value_with_its_path() {
        let root = parse("handler: h\nmemorySize: lots\n").unwrap();
        let d = from_node::<F>(&root).unwrap_err();
        assert_eq!(d.mark, Mark { line: 2, col: 13 });
        assert_eq!(d.path.unwrap().to_string(), "memorySize");
        assert_eq!(
            d.message,
            "expected a whole number, found the string `lots`"
        );
    }

    #[test]
    fn enum_items_and_missing_keys() {
        let root =
            parse("handler: h\nevents:\n  - schedule: rate(1 day)\n  - sqs: { queue: jobs }\n")
                .unwrap();
        let f = from_node::<F>(&root).unwrap();
        assert_eq!(
            f.events[1],
            E::Sqs {
                queue: "jobs".into()
            }
        );
        let root = parse("handler: h\nevents:\n  - sqs: { }\n").unwrap();
        let d = from_node::<F>(&root).unwrap_err();
        assert_eq!(d.message, "missing required key `queue`");
        assert_eq!(d.path.unwrap().to_string(), "events[0].sqs");
        let root = parse("handler: h\nevents:\n  - shedule: rate(1 day)\n").unwrap();
        let d = from_node::<F>(&root).unwrap_err();
        assert_eq!((d.mark.line, d.mark.col), (3, 5));
        assert_eq!(d.help.as_deref(), Some("did you mean `schedule`?"));
    }
}
