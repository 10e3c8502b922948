//! Inputs: Bybit's recorded payloads edited into near-valid variants, and raw bytes.
//!
//! A parser that refuses the first byte of noise is tested by noise only at its first `{`.
//! Most inputs here start from a real document (a fixture, or a request a target builds) and
//! carry a few edits: a field deleted, duplicated, renamed or replaced by a value of another
//! JSON type, a huge or malformed number, a long or non-ASCII string, a deep nest; then,
//! sometimes, a byte-level finish (truncation, a byte overwritten, bytes spliced in). The
//! edits are values of a proptest strategy, so a failing input shrinks to fewer, smaller ones.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

/// Numbers no `serde_json::Value` can hold, spliced in as raw text: beyond `u64`/`i64`,
/// beyond `f64`, below its precision, negative zero, exponent forms.
const RAW_NUMBERS: &[&str] = &[
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890123456789",
    "1e400",
    "-1e400",
    "1.5e-400",
    "-0",
    "-0.0",
    "1E+2",
    "0.000000000000000000000000000000000001",
    "79228162514264337593543950336",
];

/// Strings that look like decimals, ids or enum values and are not quite.
const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    " 1",
    "1 ",
    "1_0",
    "+1",
    ".5",
    "5.",
    "-",
    "-0",
    "1.2.3",
    "1e3",
    "1e999999999",
    "NaN",
    "inf",
    "-inf",
    "0x10",
    "79228162514264337593543950336",
    "-79228162514264337593543950336",
    "0.00000000000000000000000000001",
    "99999999999999999999999999999.9",
    "\u{0663}",
    "\u{ff11}",
    "null",
    "true",
    "{}",
    "[]",
    "Buy",
    "Sell",
    "Limit",
    "Market",
    "linear",
    "BTCUSDT",
    "snapshot",
    "delta",
    "\u{0}",
    "\u{feff}1",
    "\u{202e}BTCUSDT",
];

/// A replacement value.
#[derive(Debug, Clone)]
pub enum Junk {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer `Value` holds.
    Int(i64),
    /// A float `Value` holds.
    Float(f64),
    /// One of [`RAW_NUMBERS`], spliced in as text.
    RawNumber(&'static str),
    /// A string: arbitrary Unicode, or one of [`ODD_STRINGS`].
    Str(String),
    /// A long string of one character.
    Long(usize, char),
    /// `{}`.
    EmptyObject,
    /// `[]`.
    EmptyArray,
    /// `[[[...]]]` this deep (serde_json refuses more than 128).
    Deep(usize),
}

/// One structural edit of a JSON document. Indexes pick a node in pre-order.
#[derive(Debug, Clone)]
pub enum Edit {
    /// The node becomes `Junk`.
    Replace(Index, Junk),
    /// The node is removed from its object or array.
    Delete(Index),
    /// The node appears twice: an array item repeated, an object key written twice.
    Duplicate(Index),
    /// The node's key (in an object) becomes another.
    Rename(Index, String),
    /// The node is wrapped in an array.
    Wrap(Index),
    /// The first node's value is copied over the second (right shapes in wrong places).
    Copy(Index, Index),
}

/// What happens to the bytes once the edited document is written.
#[derive(Debug, Clone)]
pub enum Finish {
    /// Nothing.
    None,
    /// Cut at a byte.
    Truncate(Index),
    /// One byte overwritten.
    Overwrite(Index, u8),
    /// Bytes inserted.
    Splice(Index, Vec<u8>),
}

/// A document: one of a set of seeds, edited, written, finished.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Which seed (an index into the set the target passes to [`Doc::render`]).
    pub seed: Index,
    /// The edits, in order.
    pub edits: Vec<Edit>,
    /// The byte-level finish.
    pub finish: Finish,
}

/// A body: an edited document, or bytes with no structure at all.
#[derive(Debug, Clone)]
pub enum Body {
    /// An edited seed.
    Doc(Doc),
    /// Raw bytes.
    Raw(Vec<u8>),
}

fn junk() -> impl Strategy<Value = Junk> {
    prop_oneof![
        2 => Just(Junk::Null),
        1 => any::<bool>().prop_map(Junk::Bool),
        2 => any::<i64>().prop_map(Junk::Int),
        1 => any::<f64>().prop_map(Junk::Float),
        2 => prop::sample::select(RAW_NUMBERS).prop_map(Junk::RawNumber),
        2 => any::<String>().prop_map(Junk::Str),
        4 => prop::sample::select(ODD_STRINGS).prop_map(|s| Junk::Str(s.to_owned())),
        1 => (1usize..70_000, any::<char>()).prop_map(|(n, c)| Junk::Long(n, c)),
        1 => Just(Junk::EmptyObject),
        1 => Just(Junk::EmptyArray),
        1 => (1usize..200).prop_map(Junk::Deep),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&[
            "", "topic", "type", "data", "retCode", "result", "list", "op", "success", "u", "b",
            "a", "symbol", "side", "price", "qty", "orderLinkId", "category", "Topic", "DATA",
        ][..]).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

pub(crate) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<Index>(), junk()).prop_map(|(i, j)| Edit::Replace(i, j)),
        3 => any::<Index>().prop_map(Edit::Delete),
        1 => any::<Index>().prop_map(Edit::Duplicate),
        1 => (any::<Index>(), key()).prop_map(|(i, k)| Edit::Rename(i, k)),
        1 => any::<Index>().prop_map(Edit::Wrap),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Copy(a, b)),
    ]
}

pub(crate) fn finish() -> impl Strategy<Value = Finish> {
    prop_oneof![
        12 => Just(Finish::None),
        2 => any::<Index>().prop_map(Finish::Truncate),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Finish::Overwrite(i, b)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Finish::Splice(i, b)),
    ]
}

/// An edited document with up to `max_edits` edits (zero included: the seed as it is).
pub fn doc(max_edits: usize) -> impl Strategy<Value = Doc> {
    (
        any::<Index>(),
        prop::collection::vec(edit(), 0..=max_edits),
        finish(),
    )
        .prop_map(|(seed, edits, finish)| Doc {
            seed,
            edits,
            finish,
        })
}

/// Bytes shaped like JSON (brackets, quotes, digits, keys), or anything.
pub fn raw() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        2 => "[\\[\\]{}\",:0-9a-zA-Z.eE+\\- ]{0,96}".prop_map(String::into_bytes),
    ]
}

/// A body: mostly an edited seed, sometimes raw bytes.
pub fn body(max_edits: usize) -> impl Strategy<Value = Body> {
    prop_oneof![
        9 => doc(max_edits).prop_map(Body::Doc),
        1 => raw().prop_map(Body::Raw),
    ]
}

impl Body {
    /// The bytes of this body, edited from `seeds`.
    pub fn render(&self, seeds: &[Value]) -> Vec<u8> {
        match self {
            Body::Doc(doc) => doc.render(seeds),
            Body::Raw(bytes) => bytes.clone(),
        }
    }
}

impl Doc {
    /// The bytes of this document, edited from `seeds` (an empty set renders `{}`).
    pub fn render(&self, seeds: &[Value]) -> Vec<u8> {
        let value = if seeds.is_empty() {
            Value::Object(Map::new())
        } else {
            seeds[self.seed.index(seeds.len())].clone()
        };
        self.render_value(value)
    }

    /// The bytes of this document with `value` as its seed.
    pub fn render_value(&self, value: Value) -> Vec<u8> {
        render_edits(value, &self.edits, &self.finish)
    }
}

/// The bytes of `value` after `edits` and `finish`.
pub fn render_edits(mut value: Value, edits: &[Edit], finish: &Finish) -> Vec<u8> {
    let mut raw = Vec::new();
    for edit in edits {
        apply(&mut value, edit, &mut raw);
    }
    let mut text = value.to_string();
    // Raw splices go in last, in reverse, so a splice's text is never searched again.
    for (i, replacement) in raw.iter().enumerate().rev() {
        text = text.replace(&format!("\"{}\"", placeholder(i)), replacement);
    }
    let mut bytes = text.into_bytes();
    match finish {
        Finish::None => {}
        Finish::Truncate(at) => bytes.truncate(at.index(bytes.len() + 1)),
        Finish::Overwrite(at, byte) => {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = *byte;
            }
        }
        Finish::Splice(at, more) => {
            let i = at.index(bytes.len() + 1);
            bytes.splice(i..i, more.iter().copied());
        }
    }
    bytes
}

/// The string a raw splice stands in as until the document is written.
fn placeholder(i: usize) -> String {
    format!("~exec-fuzz-raw-{i}~")
}

/// One step of a path from the root.
enum Step {
    Key(String),
    Item(usize),
}

fn count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

/// The path to the `n`-th node in pre-order (the root is 0).
fn path_to(value: &Value, mut n: usize) -> Vec<Step> {
    let mut path = Vec::new();
    let mut node = value;
    while n > 0 {
        n -= 1;
        let next = match node {
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let size = count(item);
                if n < size {
                    Some((Step::Item(i), item))
                } else {
                    n -= size;
                    None
                }
            }),
            Value::Object(map) => map.iter().find_map(|(k, item)| {
                let size = count(item);
                if n < size {
                    Some((Step::Key(k.clone()), item))
                } else {
                    n -= size;
                    None
                }
            }),
            _ => None,
        };
        let Some((step, child)) = next else { break };
        path.push(step);
        node = child;
    }
    path
}

fn get_mut<'v>(value: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter()
        .try_fold(value, |node, step| match (node, step) {
            (Value::Array(items), Step::Item(i)) => items.get_mut(*i),
            (Value::Object(map), Step::Key(k)) => map.get_mut(k),
            _ => None,
        })
}

fn pick(value: &Value, at: &Index) -> Vec<Step> {
    path_to(value, at.index(count(value)))
}

fn junk_value(junk: &Junk, raw: &mut Vec<String>) -> Value {
    match junk {
        Junk::Null => Value::Null,
        Junk::Bool(b) => Value::Bool(*b),
        Junk::Int(i) => Value::from(*i),
        // NaN and the infinities have no JSON form; serde_json writes them as null.
        Junk::Float(f) => Value::from(*f),
        Junk::RawNumber(text) => {
            raw.push((*text).to_owned());
            Value::String(placeholder(raw.len() - 1))
        }
        Junk::Str(s) => Value::String(s.clone()),
        Junk::Long(n, c) => Value::String(std::iter::repeat_n(*c, *n).collect()),
        Junk::EmptyObject => Value::Object(Map::new()),
        Junk::EmptyArray => Value::Array(Vec::new()),
        Junk::Deep(depth) => {
            raw.push(format!("{}{}", "[".repeat(*depth), "]".repeat(*depth)));
            Value::String(placeholder(raw.len() - 1))
        }
    }
}

fn apply(value: &mut Value, edit: &Edit, raw: &mut Vec<String>) {
    match edit {
        Edit::Replace(at, junk) => {
            let path = pick(value, at);
            let new = junk_value(junk, raw);
            if let Some(node) = get_mut(value, &path) {
                *node = new;
            }
        }
        Edit::Delete(at) => {
            let mut path = pick(value, at);
            let Some(last) = path.pop() else { return };
            match (get_mut(value, &path), last) {
                (Some(Value::Array(items)), Step::Item(i)) if i < items.len() => {
                    items.remove(i);
                }
                (Some(Value::Object(map)), Step::Key(k)) => {
                    map.remove(&k);
                }
                _ => {}
            }
        }
        Edit::Duplicate(at) => {
            let mut path = pick(value, at);
            let Some(last) = path.pop() else { return };
            match (get_mut(value, &path), last) {
                (Some(Value::Array(items)), Step::Item(i)) if i < items.len() => {
                    let copy = items[i].clone();
                    items.insert(i, copy);
                }
                (Some(Value::Object(map)), Step::Key(k)) => {
                    // `"k": v, "k": v`: the key written twice, which a `Value` cannot hold.
                    if let Some(node) = map.get_mut(&k) {
                        let text = node.to_string();
                        let key = Value::String(k.clone()).to_string();
                        raw.push(format!("{text},{key}:{text}"));
                        *node = Value::String(placeholder(raw.len() - 1));
                    }
                }
                _ => {}
            }
        }
        Edit::Rename(at, new_key) => {
            let mut path = pick(value, at);
            let Some(Step::Key(old)) = path.pop() else {
                return;
            };
            if let Some(Value::Object(map)) = get_mut(value, &path) {
                if let Some(node) = map.remove(&old) {
                    map.insert(new_key.clone(), node);
                }
            }
        }
        Edit::Wrap(at) => {
            let path = pick(value, at);
            if let Some(node) = get_mut(value, &path) {
                let inner = node.take();
                *node = Value::Array(vec![inner]);
            }
        }
        Edit::Copy(from, to) => {
            let source = pick(value, from);
            let target = pick(value, to);
            let copy = get_mut(value, &source).map(|n| n.clone());
            if let (Some(copy), Some(node)) = (copy, get_mut(value, &target)) {
                *node = copy;
            }
        }
    }
}

/// At most `max` characters of `bytes`, as text, for a failure report.
pub fn shown(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            let _ = write!(out, "… ({} bytes in all)", bytes.len());
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use serde_json::json;

    /// An `Index` that picks `i` of `of` (proptest builds them only by generation).
    fn at(i: usize, of: usize) -> Index {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        std::iter::repeat_with(|| any::<Index>().new_tree(&mut runner).unwrap().current())
            .find(|idx| idx.index(of) == i)
            .unwrap()
    }

    fn render(value: Value, edits: Vec<Edit>) -> String {
        let doc = Doc {
            seed: at(0, 1),
            edits,
            finish: Finish::None,
        };
        String::from_utf8(doc.render_value(value)).unwrap()
    }

    #[test]
    fn edits_reach_the_node_they_name() {
        let v = json!({"a": [1, 2], "b": "x"});
        // Pre-order: 0 root, 1 a, 2 a[0], 3 a[1], 4 b.
        assert_eq!(
            render(v.clone(), vec![Edit::Delete(at(3, 5))]),
            r#"{"a":[1],"b":"x"}"#
        );
        assert_eq!(
            render(
                v.clone(),
                vec![Edit::Replace(at(4, 5), Junk::RawNumber("1e400"))]
            ),
            r#"{"a":[1,2],"b":1e400}"#
        );
        assert_eq!(
            render(v.clone(), vec![Edit::Duplicate(at(4, 5))]),
            r#"{"a":[1,2],"b":"x","b":"x"}"#
        );
        assert_eq!(
            render(v, vec![Edit::Copy(at(1, 5), at(4, 5))]),
            r#"{"a":[1,2],"b":[1,2]}"#
        );
    }
}
