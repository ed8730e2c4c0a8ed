//! Where things are in the script file: key paths ↔ byte offsets ↔ line and column.
//!
//! serde tells us *what* is wrong and (for syntax errors) a byte span; validation tells us a
//! key path. Users need both a line and a key, so this module maps each to the other through
//! a span-preserving parse of the same bytes (`toml_edit::ImDocument`).

use std::fmt;
use toml_edit::{ImDocument, Item, Table, Value};

/// One segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// A 0-based index into an array (shown 1-based: `steps[1]` is the first step).
    Index(usize),
}

/// A key path such as `steps[7].params.label` (array positions are shown counting from 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// The root of the document.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path plus a key.
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        Self(v)
    }

    /// This path plus a 0-based array index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        Self(v)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{}]", n + 1)?,
            }
        }
        Ok(())
    }
}

/// A span-aware view of the script text.
pub struct Locator<'a> {
    text: &'a str,
    doc: Option<ImDocument<&'a str>>,
}

impl<'a> Locator<'a> {
    /// Parses `text` for spans. A text that does not parse still gives line numbers for offsets.
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            doc: ImDocument::parse(text).ok(),
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        crate::profile::line_column(self.text, offset)
    }

    /// Line and column of the deepest existing part of `path`: the value if present, else the
    /// nearest table that exists (so a missing key points at its table).
    pub fn at(&self, path: &KeyPath) -> (usize, usize) {
        let Some(doc) = &self.doc else {
            return (1, 1);
        };
        let mut best = 0usize;
        let mut cur = Node::Item(doc.as_item());
        for seg in &path.0 {
            let next = match (&cur, seg) {
                (Node::Item(Item::Table(t)), Seg::Key(k)) => table_child(t, k, &mut best),
                (Node::Item(Item::Value(Value::InlineTable(t))), Seg::Key(k))
                | (Node::Value(Value::InlineTable(t)), Seg::Key(k)) => {
                    t.get_key_value(k).map(|(key, item)| {
                        if let Some(s) = item.span().or_else(|| key.span()) {
                            best = s.start;
                        }
                        Node::Item(item)
                    })
                }
                (Node::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => a.get(*i).map(|t| {
                    if let Some(s) = t.span() {
                        best = s.start;
                    }
                    Node::Table(t)
                }),
                (Node::Table(t), Seg::Key(k)) => table_child(t, k, &mut best),
                (Node::Item(Item::Value(Value::Array(a))), Seg::Index(i))
                | (Node::Value(Value::Array(a)), Seg::Index(i)) => a.get(*i).map(|v| {
                    if let Some(s) = v.span() {
                        best = s.start;
                    }
                    Node::Value(v)
                }),
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => break,
            }
        }
        self.line_col(best)
    }

    /// The key path of the last key, table header or array element starting at or before
    /// `offset`: the key a parser error at `offset` is about.
    pub fn path_at(&self, offset: usize) -> KeyPath {
        let Some(doc) = &self.doc else {
            return self.bare_key_on_line(offset);
        };
        let mut marks: Vec<(usize, KeyPath)> = Vec::new();
        collect_table(doc.as_table(), &KeyPath::root(), &mut marks);
        marks
            .into_iter()
            .filter(|(start, _)| *start <= offset)
            .max_by_key(|(start, p)| (*start, p.0.len()))
            .map(|(_, p)| p)
            .unwrap_or_default()
    }
}

impl Locator<'_> {
    /// For text that does not parse: the key written at the start of the offset's line
    /// (`title = "T` → `title`), or the table header (`[roles` → `roles`).
    fn bare_key_on_line(&self, offset: usize) -> KeyPath {
        let offset = offset.min(self.text.len());
        let start = self
            .text
            .get(..offset)
            .and_then(|b| b.rfind('\n'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let line = self
            .text
            .get(start..)
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        let key = match line.split_once('=') {
            Some((k, _)) => k.trim(),
            None => line.trim().trim_matches(|c| c == '[' || c == ']').trim(),
        };
        if key.is_empty() {
            KeyPath::root()
        } else {
            KeyPath::root().key(key)
        }
    }
}

enum Node<'d> {
    Item(&'d Item),
    Table(&'d Table),
    Value(&'d Value),
}

fn table_child<'d>(t: &'d Table, k: &str, best: &mut usize) -> Option<Node<'d>> {
    t.get_key_value(k).map(|(key, item)| {
        match item {
            // A value: point at the value (where a wrong value is).
            Item::Value(v) => {
                if let Some(s) = v.span().or_else(|| key.span()) {
                    *best = s.start;
                }
            }
            // A table or array of tables: point at its header.
            other => {
                if let Some(s) = other.span().or_else(|| key.span()) {
                    *best = s.start;
                }
            }
        }
        Node::Item(item)
    })
}

fn collect_table(t: &Table, path: &KeyPath, marks: &mut Vec<(usize, KeyPath)>) {
    if let Some(s) = t.span() {
        marks.push((s.start, path.clone()));
    }
    for (k, item) in t.iter() {
        let p = path.key(k);
        if let Some((key, _)) = t.get_key_value(k) {
            if let Some(s) = key.span() {
                marks.push((s.start, p.clone()));
            }
        }
        collect_item(item, &p, marks);
    }
}

fn collect_item(item: &Item, path: &KeyPath, marks: &mut Vec<(usize, KeyPath)>) {
    match item {
        Item::Table(t) => collect_table(t, path, marks),
        Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                collect_table(t, &path.index(i), marks);
            }
        }
        Item::Value(v) => collect_value(v, path, marks),
        Item::None => {}
    }
}

fn collect_value(v: &Value, path: &KeyPath, marks: &mut Vec<(usize, KeyPath)>) {
    match v {
        Value::InlineTable(t) => {
            for (k, item) in t.iter() {
                let p = path.key(k);
                if let Some((key, _)) = t.get_key_value(k) {
                    if let Some(s) = key.span() {
                        marks.push((s.start, p.clone()));
                    }
                }
                collect_value(item, &p, marks);
            }
        }
        Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                let p = path.index(i);
                if let Some(s) = e.span() {
                    marks.push((s.start, p.clone()));
                }
                collect_value(e, &p, marks);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "id = \"x\"\n[roles]\nadministrator = 1\n\n[[steps]]\nid = \"a\"\n\n[[steps]]\nid = \"b\"\nparams = { label = 3 }\n";

    #[test]
    fn path_to_line() {
        let l = Locator::new(DOC);
        assert_eq!(l.at(&KeyPath::root().key("id")), (1, 6));
        assert_eq!(
            l.at(&KeyPath::root().key("roles").key("administrator")),
            (3, 17)
        );
        assert_eq!(l.at(&KeyPath::root().key("steps").index(1)), (8, 1));
        assert_eq!(
            l.at(&KeyPath::root().key("steps").index(1).key("id")),
            (9, 6)
        );
        assert_eq!(
            l.at(&KeyPath::root()
                .key("steps")
                .index(1)
                .key("params")
                .key("label")),
            (10, 20)
        );
        // Missing key: its table.
        assert_eq!(
            l.at(&KeyPath::root().key("steps").index(0).key("title")),
            (5, 1)
        );
    }

    #[test]
    fn offset_to_path() {
        let l = Locator::new(DOC);
        let off = DOC.find("label").unwrap_or(0);
        assert_eq!(l.path_at(off).to_string(), "steps[2].params.label");
        let off = DOC.find("id = \"b\"").unwrap_or(0);
        assert_eq!(l.path_at(off).to_string(), "steps[2].id");
        assert_eq!(l.path_at(0).to_string(), "id");
    }
}
