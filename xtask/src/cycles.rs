//! `cargo xtask cycles`: no import cycle between the files of any crate.
//!
//! How it checks. For every workspace crate (`crates/*`, `xtask`, `tests`), each crate root
//! (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs`) is read and its `mod name;` declarations are
//! followed to the files of its module tree (`name.rs` or `name/mod.rs`, next to a `mod.rs` /
//! `lib.rs` / `main.rs`, or in the directory named after a `foo.rs`). Each file is lexed
//! (comments, strings, char literals dropped) and every path that names this crate's modules
//! becomes an edge from the file to the file defining the module the path reaches:
//!
//! - paths starting with `crate::`, `super::` or `self::`, in `use` trees (braces expanded,
//!   `as` renames and `*` globs included) and in expressions or types alike (`$crate::` in
//!   macros is skipped);
//! - paths starting with the name of a child module of the current module (`use child::X;`,
//!   `child::f()`), the 2018-edition relative form;
//! - `super::` and `self::` resolve from the module the path is written in, inline modules
//!   (`mod tests { use super::*; }`) included, so a file's own test module is no edge;
//! - a path goes to the file that defines what it names: the longest prefix that is a module
//!   (a file's, or an inline one's, whose file it is), then, when the next segment is not an
//!   item defined there but a name imported there (`use`, `pub use`, globs followed), on to
//!   where that import leads. So `super::sibling::X` is an edge to `sibling.rs`, `crate::X`
//!   re-exported by `lib.rs` from `foo.rs` is an edge to `foo.rs`, and `super::X` or
//!   `use super::*` where `X` is defined in the parent is an edge to the parent's file (a child
//!   referencing its parent's items counts).
//!
//! The rule for a `mod.rs` (or `lib.rs`, or a `foo.rs` with a `foo/` directory) and its
//! children: the `mod child;` declaration is the tree, not an edge; a re-export
//! (`pub use child::X`, `pub(crate) use …`) is the parent's interface, not a dependency, so it
//! is no edge (paths through it go on to the child); the parent's own `use child::…` and calls
//! (`child::f()`) are edges to the child, and a child naming an item the parent defines is an
//! edge to the parent. So a parent that uses its children keeps its own items out of their
//! reach: shared types live in a sibling file the children name. A child file's inline test
//! module counts with its file; a test in its own file (`foo/tests.rs`) is that file's edges.
//! Edges from a file to itself are ignored.
//!
//! A cycle is a strongly connected component of more than one file (Tarjan); each is printed
//! as a path `a.rs:LINE -> b.rs:LINE -> a.rs` (the line of each edge's first reference) with
//! the component's other files, and the check fails. `cargo xtask deps` runs it after the dependency rules. `cargo xtask cycles`
//! runs the positive control first: a fixture crate whose files form a cycle must be reported
//! with exactly that cycle (and a re-export, a comment, a string and a test module's
//! `use super::*` must add no edge), and the same crate with the cycle broken must pass;
//! `--self-test` runs the control alone.
//!
//! Limits: paths inside strings (`#[serde(with = "…")]`) and macro bodies' `$crate` are not
//! seen; a name used bare after a glob import (`use super::*; Foo`) is covered by the glob's
//! own edge to the module it names; a name a parent re-exports and also uses itself counts as
//! the re-export only (no edge).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One lexed token: an identifier, `::`, or a single punctuation character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Tokens with their line numbers; comments, string, byte-string and char literals dropped.
fn lex(src: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let n = b.len();
    let at = |i: usize| b.get(i).copied().unwrap_or('\0');
    while i < n {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < n && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < n {
                if b[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r')) && {
            let j = if c == 'b' { i + 2 } else { i + 1 };
            let mut k = j;
            while at(k) == '#' {
                k += 1;
            }
            at(k) == '"' && (k > j || at(j) == '"')
        } {
            // Raw string: r"..", r#".."#, br#".."#.
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= n {
                    break;
                }
                if b[j] == '\n' {
                    line += 1;
                }
                if b[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            while j < n && b[j] != '"' {
                if b[j] == '\\' {
                    j += 1;
                }
                if at(j) == '\n' {
                    line += 1;
                }
                j += 1;
            }
            i = j + 1;
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let j = if c == 'b' { i + 2 } else { i + 1 };
            if at(j) == '\\' {
                let mut k = j + 2;
                while k < n && b[k] != '\'' {
                    k += 1;
                }
                i = k + 1;
            } else if at(j + 1) == '\'' {
                i = j + 2;
            } else {
                // Lifetime: skip the quote; the name lexes as an identifier.
                i = j;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let s = i;
            while i < n && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            let word: String = b[s..i].iter().collect();
            // `r#ident` raw identifiers.
            if word == "r" && at(i) == '#' {
                i += 1;
                continue;
            }
            out.push((Tok::Ident(word), line));
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    }
}

fn punct(t: Option<&(Tok, usize)>, c: char) -> bool {
    matches!(t, Some((Tok::Punct(p), _)) if *p == c)
}

/// How a `use` path binds: under a name (its last segment or its `as` rename), or a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Binding {
    Name(String),
    Glob,
}

/// One module scope (a file's top level, or an inline `mod x { … }` in it): the items it
/// defines and the names it imports, for following re-exports.
#[derive(Debug, Default)]
struct Scope {
    /// Names of items defined here (fn, struct, enum, trait, type, const, static, union,
    /// mod, macro_rules).
    defs: BTreeSet<String>,
    /// `use` bindings: name → the path as written (resolved later from this scope).
    imports: BTreeMap<String, Vec<String>>,
    /// `use path::*` globs, as written.
    globs: Vec<Vec<String>>,
}

/// What one file says: its `mod name;` declarations, its scopes and its module paths.
#[derive(Debug, Default)]
struct FileRefs {
    /// (inline module path within the file, child name).
    mods: Vec<(Vec<String>, String)>,
    /// Scopes by inline module path within the file (`[]`: the file's top level).
    scopes: BTreeMap<Vec<String>, Scope>,
    /// (inline module path within the file, path segments, line).
    paths: Vec<(Vec<String>, Vec<String>, usize)>,
    /// `macro_rules!` names defined here (`#[macro_export]` puts them at the crate root).
    macros: BTreeSet<String>,
}

/// Expands a `use` tree starting at `toks[i]` into (path, binding, line); returns the index
/// after it.
fn use_tree(
    toks: &[(Tok, usize)],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, Binding, usize)>,
) -> usize {
    let mut path = prefix.to_vec();
    let line = toks.get(i).map_or(0, |t| t.1);
    let finish = |mut path: Vec<String>, alias: Option<String>, out: &mut Vec<_>| {
        if path.last().is_some_and(|s| s == "self") {
            path.pop();
        }
        if let Some(name) = alias.or_else(|| path.last().cloned()) {
            out.push((path, Binding::Name(name), line));
        }
    };
    loop {
        match toks.get(i) {
            Some((Tok::PathSep, _)) => i += 1,
            Some((Tok::Ident(s), _)) if s == "as" => {
                let alias = ident(toks.get(i + 1)).map(str::to_owned);
                finish(path, alias, out);
                return i + 2;
            }
            Some((Tok::Ident(s), _)) => {
                path.push(s.clone());
                i += 1;
            }
            Some((Tok::Punct('*'), _)) => {
                out.push((path, Binding::Glob, line));
                return i + 1;
            }
            Some((Tok::Punct('{'), _)) => {
                i += 1;
                loop {
                    if punct(toks.get(i), '}') {
                        return i + 1;
                    }
                    if toks.get(i).is_none() {
                        return i;
                    }
                    i = use_tree(toks, i, &path, out);
                    if punct(toks.get(i), ',') {
                        i += 1;
                    }
                }
            }
            _ => {
                finish(path, None, out);
                return i;
            }
        }
    }
}

/// Item keywords whose next identifier is a definition.
const ITEM_KEYWORDS: &[&str] = &[
    "fn", "struct", "enum", "trait", "type", "const", "static", "union", "mod",
];

/// Reads one file's module declarations, scopes and module paths.
fn scan(src: &str) -> FileRefs {
    let toks = lex(src);
    let mut refs = FileRefs::default();
    let here = |stack: &[(String, usize)]| stack.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>();
    // First pass: the modules each scope declares, so a relative path (`child::f()`) can be
    // told from an external crate's.
    let mut declared: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    for (i, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Punct('{') => {
                if i >= 2 && ident(toks.get(i - 2)) == Some("mod") {
                    if let Some(name) = ident(toks.get(i - 1)) {
                        stack.push((name.to_owned(), depth));
                    }
                }
                depth += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if stack.last().is_some_and(|(_, d)| *d == depth) {
                    stack.pop();
                }
            }
            Tok::Ident(s) if s == "mod" => {
                if let Some(name) = ident(toks.get(i + 1)) {
                    let cur = here(&stack);
                    declared
                        .entry(cur.clone())
                        .or_default()
                        .insert(name.to_owned());
                    if punct(toks.get(i + 2), ';') {
                        refs.mods.push((cur, name.to_owned()));
                    }
                }
            }
            _ => {}
        }
    }
    // Second pass: scopes and paths.
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    refs.scopes.insert(Vec::new(), Scope::default());
    let mut i = 0;
    while i < toks.len() {
        let body = stack.last().map_or(0, |(_, d)| d + 1);
        let at_top = depth == body;
        let prev_blocks = i > 0
            && matches!(
                &toks[i - 1].0,
                Tok::PathSep | Tok::Punct('$') | Tok::Punct('.')
            );
        match &toks[i].0 {
            Tok::Punct('{') => {
                if i >= 2 && ident(toks.get(i - 2)) == Some("mod") {
                    if let Some(name) = ident(toks.get(i - 1)) {
                        stack.push((name.to_owned(), depth));
                        refs.scopes.entry(here(&stack)).or_default();
                    }
                }
                depth += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if stack.last().is_some_and(|(_, d)| *d == depth) {
                    stack.pop();
                }
            }
            Tok::Ident(s) if at_top && ITEM_KEYWORDS.contains(&s.as_str()) && !prev_blocks => {
                if let Some(name) = ident(toks.get(i + 1)) {
                    refs.scopes
                        .entry(here(&stack))
                        .or_default()
                        .defs
                        .insert(name.to_owned());
                }
            }
            Tok::Ident(s) if s == "macro_rules" && punct(toks.get(i + 1), '!') => {
                if let Some(name) = ident(toks.get(i + 2)) {
                    refs.macros.insert(name.to_owned());
                }
            }
            Tok::Ident(s) if s == "use" && !prev_blocks => {
                let cur = here(&stack);
                // `pub use` / `pub(crate) use`: a re-export, the scope's interface.
                let reexport = ident(i.checked_sub(1).and_then(|j| toks.get(j))) == Some("pub")
                    || (punct(i.checked_sub(1).and_then(|j| toks.get(j)), ')')
                        && toks[..i]
                            .iter()
                            .rev()
                            .take(6)
                            .any(|(t, _)| *t == Tok::Ident("pub".to_owned())));
                let mut found = Vec::new();
                let next = use_tree(&toks, i + 1, &[], &mut found);
                for (path, binding, line) in found {
                    let first = path.first().cloned().unwrap_or_default();
                    let local = matches!(first.as_str(), "crate" | "super" | "self")
                        || declared.get(&cur).is_some_and(|d| d.contains(&first));
                    if !local {
                        continue; // An external crate's path (or `::ext`).
                    }
                    if at_top {
                        let scope = refs.scopes.entry(cur.clone()).or_default();
                        match binding {
                            Binding::Name(name) => {
                                scope.imports.insert(name, path.clone());
                            }
                            Binding::Glob => scope.globs.push(path.clone()),
                        }
                    }
                    if !reexport {
                        refs.paths.push((cur.clone(), path, line));
                    }
                }
                i = next.max(i + 1);
                continue;
            }
            Tok::Ident(s) if !prev_blocks && matches!(toks.get(i + 1), Some((Tok::PathSep, _))) => {
                let cur = here(&stack);
                let local = matches!(s.as_str(), "crate" | "super" | "self")
                    || declared.get(&cur).is_some_and(|d| d.contains(s));
                if local {
                    let line = toks[i].1;
                    let mut path = vec![s.clone()];
                    let mut j = i + 1;
                    while matches!(toks.get(j), Some((Tok::PathSep, _))) {
                        match ident(toks.get(j + 1)) {
                            Some(seg) => {
                                path.push(seg.to_owned());
                                j += 2;
                            }
                            None => break,
                        }
                    }
                    refs.paths.push((cur, path, line));
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    refs
}

/// A crate's files and the edges between them.
struct CrateGraph {
    /// How many files the crate has.
    files: usize,
    /// Edges: from file → (to file, the line of its first reference).
    edges: BTreeMap<PathBuf, BTreeMap<PathBuf, usize>>,
}

/// Where `mod name;` in `file` (inside the inline modules `inline`) lives.
fn child_file(file: &Path, inline: &[String], name: &str) -> Option<PathBuf> {
    let dir = file.parent()?;
    let stem = file.file_stem()?.to_string_lossy();
    let mut base = if matches!(stem.as_ref(), "mod" | "lib" | "main") {
        dir.to_path_buf()
    } else {
        dir.join(stem.as_ref())
    };
    for m in inline {
        base = base.join(m);
    }
    let flat = base.join(format!("{name}.rs"));
    let nested = base.join(name).join("mod.rs");
    if flat.is_file() {
        Some(flat)
    } else if nested.is_file() {
        Some(nested)
    } else {
        None
    }
}

/// `path` as written in module `here`, made absolute (`crate`, `self`, `super` resolved).
fn absolute(here: &[String], path: &[String]) -> Vec<String> {
    let mut abs = here.to_vec();
    let mut segs = path.iter().peekable();
    match segs.peek().map(|s| s.as_str()) {
        Some("crate") => {
            abs.clear();
            segs.next();
        }
        Some("self") => {
            segs.next();
        }
        _ => {}
    }
    while segs.peek().map(|s| s.as_str()) == Some("super") {
        abs.pop();
        segs.next();
    }
    abs.extend(segs.cloned());
    abs
}

/// Every module of a crate (files and inline modules) by absolute path: its file and scope.
type Modules = BTreeMap<Vec<String>, (PathBuf, Scope)>;

/// The file that defines what `abs` names: the longest prefix that is a module; if the next
/// segment is imported there (a re-export), where the import leads; if it only comes from a
/// glob import there, where the glob leads when that module has it; else the module's file.
fn resolve(modules: &Modules, abs: &[String], hops: usize) -> Option<PathBuf> {
    let k = (0..=abs.len())
        .rev()
        .find(|k| modules.contains_key(&abs[..*k]))?;
    let (file, scope) = modules.get(&abs[..k])?;
    let Some(name) = abs.get(k) else {
        return Some(file.clone());
    };
    if hops == 0 || scope.defs.contains(name) {
        return Some(file.clone());
    }
    let module = &abs[..k];
    if let Some(target) = scope.imports.get(name) {
        let mut next = absolute(module, target);
        next.extend(abs[k + 1..].iter().cloned());
        return resolve(modules, &next, hops - 1).or_else(|| Some(file.clone()));
    }
    for glob in &scope.globs {
        let base = absolute(module, glob);
        let has = modules.get(&base).is_some_and(|(_, s)| {
            s.defs.contains(name) || s.imports.contains_key(name) || !s.globs.is_empty()
        });
        if has {
            let mut next = base;
            next.extend(abs[k..].iter().cloned());
            if let Some(found) = resolve(modules, &next, hops - 1) {
                return Some(found);
            }
        }
    }
    Some(file.clone())
}

/// Builds the file graph of the crate rooted at `root` from files read by `read`.
fn crate_graph(root: &Path, read: &dyn Fn(&Path) -> Result<String>) -> Result<CrateGraph> {
    let mut modules: Modules = BTreeMap::new();
    let mut paths: Vec<(PathBuf, Vec<String>, Vec<String>, usize)> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut macros: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut todo = vec![(Vec::<String>::new(), root.to_path_buf())];
    while let Some((module, file)) = todo.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let text = read(&file)?;
        let r = scan(&text);
        for (inline, name) in &r.mods {
            let Some(child) = child_file(&file, inline, name) else {
                continue; // A `mod` behind a cfg for another platform, or generated.
            };
            let mut path = module.clone();
            path.extend(inline.iter().cloned());
            path.push(name.clone());
            todo.push((path, child));
        }
        for (inline, path, line) in r.paths {
            let mut here = module.clone();
            here.extend(inline);
            paths.push((file.clone(), here, path, line));
        }
        for name in r.macros {
            macros.insert(name, file.clone());
        }
        for (inline, scope) in r.scopes {
            let mut abs = module.clone();
            abs.extend(inline);
            modules.insert(abs, (file.clone(), scope));
        }
    }
    let mut edges: BTreeMap<PathBuf, BTreeMap<PathBuf, usize>> = BTreeMap::new();
    for (file, here, path, line) in &paths {
        let abs = absolute(here, path);
        // `crate::some_macro`: the file that defines the macro.
        let target = match abs.as_slice() {
            [name] => macros.get(name).cloned(),
            _ => None,
        }
        .or_else(|| resolve(&modules, &abs, 8));
        if let Some(target) = target {
            if &target != file {
                edges
                    .entry(file.clone())
                    .or_default()
                    .entry(target)
                    .or_insert(*line);
            }
        }
    }
    Ok(CrateGraph {
        files: seen.len(),
        edges,
    })
}

/// The cycles (strongly connected components of more than one file), each as a path through
/// the component that returns to its start.
/// Each with the component's files not on the printed cycle.
fn cycles(
    edges: &BTreeMap<PathBuf, BTreeMap<PathBuf, usize>>,
) -> Vec<(Vec<PathBuf>, Vec<PathBuf>)> {
    // Tarjan's algorithm, iterative enough for a few hundred files (recursion is fine).
    struct T<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeMap<PathBuf, usize>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        on: BTreeSet<&'a PathBuf>,
        stack: Vec<&'a PathBuf>,
        next: usize,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.edges.get(v) {
            for w in ws.keys() {
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(lw));
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(iw));
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    // Within each component, a shortest cycle through its first file (breadth-first).
    t.out
        .into_iter()
        .map(|comp| {
            let set: BTreeSet<&PathBuf> = comp.iter().collect();
            let start = comp.iter().min().cloned().unwrap_or_default();
            let mut prev: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start.clone()]);
            let mut seen = BTreeSet::from([start.clone()]);
            let mut back = None;
            while let Some(v) = queue.pop_front() {
                for w in edges.get(&v).map(|m| m.keys()).into_iter().flatten() {
                    if !set.contains(w) {
                        continue;
                    }
                    if *w == start {
                        back = Some(v.clone());
                        queue.clear();
                        break;
                    }
                    if seen.insert(w.clone()) {
                        prev.insert(w.clone(), v.clone());
                        queue.push_back(w.clone());
                    }
                }
            }
            let mut path = vec![start.clone()];
            let mut v = back.unwrap_or_else(|| start.clone());
            let mut rev = Vec::new();
            while v != start {
                rev.push(v.clone());
                v = prev.get(&v).cloned().unwrap_or_else(|| start.clone());
            }
            rev.reverse();
            path.extend(rev);
            path.push(start);
            // The component's other files, after the cycle (`describe` names them).
            let rest: Vec<PathBuf> = comp.iter().filter(|f| !path.contains(f)).cloned().collect();
            (path, rest)
        })
        .collect()
}

/// Prints a cycle as `a.rs:LINE -> b.rs:LINE -> a.rs` (the line of each edge's first reference).
fn describe(
    cycle: &[PathBuf],
    edges: &BTreeMap<PathBuf, BTreeMap<PathBuf, usize>>,
    base: &Path,
) -> String {
    let name = |p: &PathBuf| p.strip_prefix(base).unwrap_or(p).display().to_string();
    let mut out = String::new();
    for pair in cycle.windows(2) {
        let line = edges
            .get(&pair[0])
            .and_then(|m| m.get(&pair[1]))
            .copied()
            .unwrap_or(0);
        out.push_str(&format!("{}:{line} -> ", name(&pair[0])));
    }
    if let Some(last) = cycle.last() {
        out.push_str(&name(last));
    }
    out
}

/// The crate roots of the workspace: (crate directory, root files).
fn roots(workspace: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(workspace.join("crates")).context("read crates/")? {
        dirs.push(entry?.path());
    }
    dirs.push(workspace.join("xtask"));
    dirs.push(workspace.join("tests"));
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let src = dir.join("src");
        for root in ["lib.rs", "main.rs"] {
            if src.join(root).is_file() {
                out.push(src.join(root));
            }
        }
        if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
            for b in bins {
                let p = b?.path();
                if p.extension().is_some_and(|e| e == "rs") {
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

/// The check over the workspace: prints each crate root's file count and fails on a cycle.
pub(crate) fn check(workspace: &Path) -> Result<()> {
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()));
    let mut failures = Vec::new();
    let mut files = 0;
    let roots = roots(workspace)?;
    for root in &roots {
        let g = crate_graph(root, &read)?;
        files += g.files;
        for (c, rest) in cycles(&g.edges) {
            let mut line = describe(&c, &g.edges, workspace);
            if !rest.is_empty() {
                let names: Vec<String> = rest
                    .iter()
                    .map(|p| p.strip_prefix(workspace).unwrap_or(p).display().to_string())
                    .collect();
                line.push_str(&format!(" (tangled with {})", names.join(", ")));
            }
            failures.push(line);
        }
    }
    if failures.is_empty() {
        eprintln!(
            "cycles: no import cycle between the files of any crate ({} crate roots, {files} files)",
            roots.len()
        );
        Ok(())
    } else {
        bail!("import cycles between files:\n  {}", failures.join("\n  "))
    }
}

/// The positive control: a fixture crate whose files form a cycle must fail the check, and the
/// same crate with the cycle broken must pass.
pub(crate) fn self_test() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("xtask-cycles-{}", std::process::id()));
    let write = |rel: &str, text: &str| -> Result<()> {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, text)?;
        Ok(())
    };
    // a/mod.rs uses b's item and b names the parent's own item: a/mod.rs <-> b.rs. The
    // re-export `pub use c::C` is no edge (c.rs names the parent too, so counting it would put
    // c.rs in the cycle), and d.rs's `crate::a::C` goes through it to c.rs. The paths in a
    // comment, a string and a test module's `use super::*` are no edges (each would close a
    // second cycle through d.rs if it were counted).
    write("src/lib.rs", "pub mod a;\nmod d;\n")?;
    write(
        "src/a/mod.rs",
        "mod b;\nmod c;\n// use crate::d::x;\nuse self::b::B;\npub use c::C;\npub struct A(B);\n",
    )?;
    write("src/a/b.rs", "pub struct B(pub super::A);\n")?;
    write(
        "src/a/c.rs",
        "pub struct C(super::b::B, super::A);\nfn f() { let _ = \"crate::d::x\"; }\n\
         #[cfg(test)]\nmod tests { use super::*; }\n",
    )?;
    write("src/d.rs", "use crate::a::C;\npub fn x() {}\n")?;
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()));
    let g = crate_graph(&dir.join("src/lib.rs"), &read)?;
    let found = cycles(&g.edges);
    let names: Vec<String> = found
        .iter()
        .map(|(c, rest)| format!("{}{rest:?}", describe(c, &g.edges, &dir)))
        .collect();
    let want = "src/a/b.rs:1 -> src/a/mod.rs:4 -> src/a/b.rs[]";
    let edge = |from: &str, to: &str| {
        g.edges
            .get(&dir.join(from))
            .is_some_and(|m| m.contains_key(&dir.join(to)))
    };
    let ok_cycle = names.len() == 1
        && names[0] == want
        && edge("src/d.rs", "src/a/c.rs")
        && !edge("src/d.rs", "src/a/mod.rs")
        && !edge("src/a/mod.rs", "src/a/c.rs");
    // Break it: b names a sibling instead of its parent.
    write("src/a/b.rs", "pub struct B(pub super::c::C);\n")?;
    write("src/a/c.rs", "pub struct C;\n")?;
    let g_edges = g.edges;
    let g = crate_graph(&dir.join("src/lib.rs"), &read)?;
    let after = cycles(&g.edges);
    let _ = std::fs::remove_dir_all(&dir);
    if !ok_cycle {
        bail!(
            "self-test: expected exactly the cycle {want:?} and d.rs -> c.rs through the \
             re-export, found {names:?}, edges {:?}",
            g_edges
        );
    }
    if !after.is_empty() {
        bail!(
            "self-test: the broken cycle is still reported ({} cycles)",
            after.len()
        );
    }
    eprintln!("cycles: self-test ok (found {want}; none once the child names a sibling)");
    Ok(())
}
