//! The layering of `src/`, read from the source: no import circle at any
//! level of the module tree, and the top-level modules in the order the
//! README's Layout section gives.
//!
//! A file depends on another when it names an item of it: in a `use` (a
//! re-export too) or in a path in code (`crate::…`, `super::…`, `self::…`
//! or a child module's name). A path resolves to the deepest module it
//! names, so `use super::Item` in a child depends on its parent even when the
//! parent only re-exports `Item` from a sibling: children import their
//! siblings directly. Declaring a module (`mod x;`) is not a dependency.
//!
//! At every level of the tree, the nodes are the parent's own file and the
//! subtree of each child; an edge between two files is an edge between the
//! nodes holding them. Each level must be free of circles.
//!
//! The top-level modules must also keep to the layers the README's Layout
//! section draws: a module imports only the leaves and modules of layers
//! below its own. And no file of `src/` runs past 600 lines, no function
//! past a screen (100 lines), and none returns an error that is bare text.

use crate::support::documentation;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// A module path from the crate root, e.g. `["model", "capacity"]`.
type ModPath = Vec<String>;

/// What one file names: the module paths it depends on.
struct SourceFile {
    /// The module the file is (inline modules of it map to it).
    module: ModPath,
    /// Absolute module paths named, longest first not yet resolved to files.
    named: Vec<ModPath>,
    /// Inline modules declared in the file, absolute.
    inline: Vec<ModPath>,
}

/// The code of a Rust file with comments, string and char literals blanked
/// (lengths and newlines kept), so braces and paths are the code's own.
fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, b: u8| out.push(if b == b'\n' { b'\n' } else { b' ' });
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                blank(&mut out, bytes[i]);
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"/*") {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if bytes[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, bytes[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(rest) {
            let prefix = hashes + 2; // r, hashes, quote
            out.extend(std::iter::repeat_n(b' ', prefix));
            i += prefix;
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            while i < bytes.len() && !bytes[i..].starts_with(&close) {
                blank(&mut out, bytes[i]);
                i += 1;
            }
            out.extend(std::iter::repeat_n(b' ', close.len()));
            i += close.len();
        } else if bytes[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                let step = if bytes[i] == b'\\' { 2 } else { 1 };
                for &b in &bytes[i..(i + step).min(bytes.len())] {
                    blank(&mut out, b);
                }
                i += step;
            }
            out.push(b' ');
            i += 1;
        } else if bytes[i] == b'\'' && char_literal_len(rest).is_some() {
            let len = char_literal_len(rest).unwrap_or(1);
            out.extend(std::iter::repeat_n(b' ', len));
            i += len;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out.truncate(bytes.len());
    String::from_utf8_lossy(&out).into_owned()
}

/// `r"`, `r#"`, `br##"`…: the number of hashes of a raw string starting here.
fn raw_string_start(rest: &[u8]) -> Option<usize> {
    let rest = rest.strip_prefix(b"b").unwrap_or(rest);
    let rest = rest.strip_prefix(b"r")?;
    let hashes = rest.iter().take_while(|&&b| b == b'#').count();
    (rest.get(hashes) == Some(&b'"')).then_some(hashes)
}

/// The length of a char literal starting here (`'a'`, `'\n'`, `'\u{1F}'`),
/// or none for a lifetime.
fn char_literal_len(rest: &[u8]) -> Option<usize> {
    let body = rest.get(1..)?;
    let len = if body.first() == Some(&b'\\') {
        body.iter().skip(1).position(|&b| b == b'\'')? + 1
    } else {
        let ch = std::str::from_utf8(&body[..body.len().min(4)])
            .ok()
            .or_else(|| std::str::from_utf8(&body[..1]).ok())?;
        ch.chars().next()?.len_utf8()
    };
    (body.get(len) == Some(&b'\'')).then_some(len + 2)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The paths of a `use` tree (`a::{b, c::{d, e}}` gives `a::b`, `a::c::d`,
/// `a::c::e`), each as segments; `self` in a group names the group's path.
fn use_paths(tree: &str) -> Vec<Vec<String>> {
    fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut path = prefix.to_vec();
            path.extend(head);
            let mut depth = 0;
            let mut start = 0;
            for (i, ch) in inner.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&path, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&path, &inner[start..], out);
        } else {
            let tree = tree.split(" as ").next().unwrap_or(tree);
            let mut path = prefix.to_vec();
            for seg in tree.split("::").map(str::trim) {
                if seg != "self" || path.is_empty() {
                    path.push(seg.to_string());
                }
            }
            out.push(path);
        }
    }
    let mut out = Vec::new();
    expand(&[], tree, &mut out);
    out
}

/// The module a relative path starts from, or none for a path outside the
/// crate (`std::…`, another crate's).
fn absolute(
    module: &[String],
    children: &BTreeSet<String>,
    segments: &[String],
) -> Option<ModPath> {
    let (first, rest) = segments.split_first()?;
    let mut base: ModPath = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => module[..module.len().checked_sub(1)?].to_vec(),
        name if children.contains(name) => {
            let mut base = module.to_vec();
            base.push(name.to_string());
            base
        }
        _ => return None,
    };
    let mut rest = rest;
    while let Some(("super", tail)) = rest.split_first().map(|(s, t)| (s.as_str(), t)) {
        base.pop()?;
        rest = tail;
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The modules of a file's code: the children each module declares
/// (`mod x;`, `mod x {`), the inline ones, and where the code changes
/// module (from this offset on, this module).
struct Modules {
    children: BTreeMap<ModPath, BTreeSet<String>>,
    inline: Vec<ModPath>,
    changes: Vec<(usize, ModPath)>,
}

fn modules(code: &str, module: &ModPath) -> Modules {
    let bytes = code.as_bytes();
    let mut found = Modules {
        children: BTreeMap::new(),
        inline: Vec::new(),
        changes: Vec::new(),
    };
    // Inline modules open, with the brace depth outside each.
    let mut stack: Vec<(ModPath, usize)> = vec![(module.clone(), 0)];
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if stack.len() > 1 && stack.last().is_some_and(|(_, d)| *d == depth) {
                    stack.pop();
                    let outer = stack.last().map(|(m, _)| m.clone()).unwrap_or_default();
                    found.changes.push((i, outer));
                }
            }
            _ if word_at(bytes, i, "mod") => {
                let name_start = skip_space(bytes, i + 3);
                let name_end = ident_end(bytes, name_start);
                let after = skip_space(bytes, name_end);
                let current = stack.last().map(|(m, _)| m.clone()).unwrap_or_default();
                let name = code[name_start..name_end].to_string();
                found
                    .children
                    .entry(current.clone())
                    .or_default()
                    .insert(name.clone());
                if bytes.get(after) == Some(&b'{') {
                    let mut path = current;
                    path.push(name);
                    found.inline.push(path.clone());
                    found.changes.push((after, path.clone()));
                    stack.push((path, depth));
                }
                i = after;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn read_file(module: ModPath, source: &str) -> SourceFile {
    let code = code_only(source);
    let bytes = code.as_bytes();
    let Modules {
        children,
        inline,
        changes,
    } = modules(&code, &module);
    let mut changes = changes.into_iter().peekable();
    let mut current = module.clone();
    let mut named = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while let Some((_, m)) = changes.next_if(|(at, _)| *at <= i) {
            current = m;
        }
        let kids = children.get(&current).cloned().unwrap_or_default();
        match bytes[i] {
            _ if word_at(bytes, i, "use") => {
                let end = code[i..].find(';').map_or(code.len(), |e| i + e);
                for segments in use_paths(&code[i + 3..end]) {
                    named.extend(absolute(&current, &kids, &segments));
                }
                i = end;
                continue;
            }
            b if is_ident(b) && (i == 0 || !is_ident(bytes[i - 1])) => {
                // A path in code: `a::b::c`.
                let mut segments = Vec::new();
                let mut j = i;
                loop {
                    let end = ident_end(bytes, j);
                    if end == j {
                        break;
                    }
                    segments.push(code[j..end].to_string());
                    if bytes[end..].starts_with(b"::")
                        && bytes.get(end + 2).is_some_and(|&b| is_ident(b))
                    {
                        j = end + 2;
                    } else {
                        j = end;
                        break;
                    }
                }
                if segments.len() > 1 {
                    named.extend(absolute(&current, &kids, &segments));
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    SourceFile {
        module,
        named,
        inline,
    }
}

fn word_at(bytes: &[u8], i: usize, word: &str) -> bool {
    bytes[i..].starts_with(word.as_bytes())
        && (i == 0 || !is_ident(bytes[i - 1]))
        && !bytes.get(i + word.len()).is_some_and(|&b| is_ident(b))
}

fn skip_space(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

fn ident_end(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|&b| is_ident(b)) {
        i += 1;
    }
    i
}

/// Every file of the library crate by its module path (`main.rs` is the
/// binary crate, which uses the library from outside).
fn library_files(src: &Path) -> BTreeMap<ModPath, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<ModPath, String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("src/ is readable")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut module = prefix.to_vec();
                match stem {
                    "lib" | "main" if prefix.is_empty() => {
                        if stem == "main" {
                            continue;
                        }
                    }
                    "mod" => {}
                    _ => module.push(stem.to_string()),
                }
                let text = fs::read_to_string(&path).expect("a source file is readable");
                out.insert(module, text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// File-to-file dependencies of the library, each with the path that makes it.
fn dependencies() -> BTreeMap<(ModPath, ModPath), String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    dependencies_of(&library_files(&src))
}

/// File-to-file dependencies of `sources` (module path to text).
fn dependencies_of(sources: &BTreeMap<ModPath, String>) -> BTreeMap<(ModPath, ModPath), String> {
    let files: Vec<SourceFile> = sources
        .iter()
        .map(|(module, text)| read_file(module.clone(), text))
        .collect();
    // Each module (a file's or an inline one) to the file holding it.
    let mut holder: BTreeMap<ModPath, ModPath> = BTreeMap::new();
    for file in &files {
        holder.insert(file.module.clone(), file.module.clone());
        for inline in &file.inline {
            holder.insert(inline.clone(), file.module.clone());
        }
    }
    let mut edges = BTreeMap::new();
    for file in &files {
        for named in &file.named {
            let target = (0..=named.len())
                .rev()
                .find_map(|len| holder.get(&named[..len]));
            if let Some(target) = target
                && *target != file.module
            {
                edges
                    .entry((file.module.clone(), target.clone()))
                    .or_insert_with(|| named.join("::"));
            }
        }
    }
    edges
}

/// The circles among `nodes` (strongly connected components of more than
/// one node), each listed by its members.
fn circles(nodes: &BTreeSet<ModPath>, edges: &BTreeSet<(ModPath, ModPath)>) -> Vec<Vec<ModPath>> {
    // Reachability closure, fine for the few dozen nodes of one level.
    let reach = |from: &ModPath| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(node) = todo.pop() {
            for (a, b) in edges {
                if *a == node && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&ModPath, BTreeSet<ModPath>> =
        nodes.iter().map(|n| (n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for node in nodes {
        if done.contains(node) {
            continue;
        }
        let members: Vec<ModPath> = nodes
            .iter()
            .filter(|other| {
                *other == node || (reaches[node].contains(*other) && reaches[*other].contains(node))
            })
            .cloned()
            .collect();
        done.extend(members.iter().cloned());
        if members.len() > 1 {
            out.push(members);
        }
    }
    out
}

/// The node of `file` at the level of `parent`: the parent's own file, or
/// the child subtree holding it; none for a file outside the parent.
fn node_at(parent: &[String], file: &[String]) -> Option<ModPath> {
    if !file.starts_with(parent) {
        return None;
    }
    Some(file[..(parent.len() + 1).min(file.len())].to_vec())
}

fn show(path: &[String]) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        path.join("::")
    }
}

/// Each circle at each level of the tree, with the edges that make it.
fn circles_in(deps: &BTreeMap<(ModPath, ModPath), String>) -> Vec<String> {
    let modules: BTreeSet<ModPath> = deps
        .keys()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let parents: BTreeSet<ModPath> = modules
        .iter()
        .flat_map(|m| (0..m.len()).map(|len| m[..len].to_vec()))
        .collect();
    let mut found = Vec::new();
    for parent in &parents {
        let mut edges = BTreeSet::new();
        let mut why: BTreeMap<(ModPath, ModPath), Vec<String>> = BTreeMap::new();
        for ((a, b), path) in deps {
            if let (Some(na), Some(nb)) = (node_at(parent, a), node_at(parent, b))
                && na != nb
            {
                edges.insert((na.clone(), nb.clone()));
                why.entry((na, nb))
                    .or_default()
                    .push(format!("{} names {path}", show(a)));
            }
        }
        let nodes: BTreeSet<ModPath> = edges
            .iter()
            .flat_map(|(a, b)| [a.clone(), b.clone()])
            .collect();
        for circle in circles(&nodes, &edges) {
            let inside: Vec<String> = why
                .iter()
                .filter(|((a, b), _)| circle.contains(a) && circle.contains(b))
                .map(|((a, b), paths)| format!("  {} -> {}: {}", show(a), show(b), paths[0]))
                .collect();
            found.push(format!(
                "under {}: {}\n{}",
                show(parent),
                circle
                    .iter()
                    .map(|m| show(m))
                    .collect::<Vec<_>>()
                    .join(", "),
                inside.join("\n")
            ));
        }
    }
    found
}

#[test]
fn no_import_circle_at_any_level_of_the_module_tree() {
    let found = circles_in(&dependencies());
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

fn module(path: &str) -> ModPath {
    path.split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn the_check_finds_a_circle_through_a_parent_and_a_re_export() {
    // `a` re-exports its child's item and the child names it through `a`:
    // a circle between a parent and its child, which children avoid by
    // naming their siblings directly.
    let sources = |child: &str| -> BTreeMap<ModPath, String> {
        [
            ("", "pub mod a;\npub mod b;"),
            ("a", "mod kid;\nmod other;\npub use other::Thing;\nuse kid::Kid;"),
            ("a::other", "pub struct Thing;"),
            ("a::kid", child),
            ("b", "// crate::a::Thing in a comment is no import\nconst S: &str = \"crate::a::Thing\";"),
        ]
        .into_iter()
        .map(|(m, text)| (module(m), text.to_string()))
        .collect()
    };
    let through_parent = circles_in(&dependencies_of(&sources(
        "use super::Thing;\npub struct Kid;",
    )));
    assert_eq!(through_parent.len(), 1, "{through_parent:?}");
    assert!(
        through_parent[0].starts_with("under a: a, a::kid"),
        "{through_parent:?}"
    );
    let in_code = circles_in(&dependencies_of(&sources(
        "pub struct Kid(crate::a::Thing);",
    )));
    assert_eq!(in_code.len(), 1, "{in_code:?}");
    let direct = circles_in(&dependencies_of(&sources(
        "use super::other::Thing;\npub struct Kid;",
    )));
    assert!(direct.is_empty(), "{direct:?}");
}

/// The README's layers, bottom first, and its leaves.
fn readme_layers() -> (Vec<Vec<String>>, BTreeSet<String>) {
    let readme = documentation();
    let layout = &readme[readme.find("## Layout").expect("a Layout section")..];
    let chain = layout
        .split_once("Data flows one way: `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .expect("the Layout section draws the layers as `a <- b <- c`")
        .0;
    let layers = chain
        .split(" <- ")
        .map(|layer| layer.split(", ").map(String::from).collect())
        .collect();
    let leaves = layout
        .split_once("the leaves (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .expect("the Layout section names the leaves")
        .0
        .split(", ")
        .map(|name| name.trim_matches('`').to_string())
        .collect();
    (layers, leaves)
}

#[test]
fn the_top_level_modules_keep_to_the_readme_layers() {
    let (layers, leaves) = readme_layers();
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, layer)| layer.iter().map(move |m| (m.as_str(), i)))
        .collect();
    let deps = dependencies();
    let top: BTreeSet<String> = deps
        .keys()
        .flat_map(|(a, b)| [a, b])
        .filter_map(|m| m.first().cloned())
        .collect();
    let unplaced: Vec<&String> = top
        .iter()
        .filter(|m| !rank.contains_key(m.as_str()) && !leaves.contains(*m))
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules the README's layers do not place: {unplaced:?}"
    );
    let mut upward = BTreeSet::new();
    for ((a, b), path) in &deps {
        let (Some(from), Some(to)) = (a.first(), b.first()) else {
            continue;
        };
        if from == to || leaves.contains(to) {
            continue;
        }
        let allowed = !leaves.contains(from) && rank[to.as_str()] < rank[from.as_str()];
        if !allowed {
            upward.insert(format!("{} names {path}", show(a)));
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the README's layers:\n{}",
        upward.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// Every file of `src/`, `main.rs` too, by module.
fn every_src_file() -> BTreeMap<ModPath, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let main = fs::read_to_string(src.join("main.rs")).expect("src/main.rs is readable");
    let mut files = library_files(&src);
    files.insert(vec!["main".to_string()], main);
    files
}

#[test]
fn no_file_in_src_is_over_600_lines() {
    let files = every_src_file();
    let long: Vec<String> = files
        .iter()
        .map(|(module, text)| (show(module), text.lines().count()))
        .filter(|&(_, lines)| lines > 600)
        .map(|(module, lines)| format!("{module}: {lines} lines"))
        .collect();
    assert!(long.is_empty(), "split these by what they hold: {long:?}");
    // The walk reads the files it must: the longest is near the limit.
    assert!(files.values().any(|text| text.lines().count() > 500));
}

/// Functions longer than one screen: a screen is 100 lines.
const SCREEN: usize = 100;

/// The functions in `code` and their lines, from `fn` to the closing brace
/// (comments and literals blanked first, so every brace is the code's).
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let code = code_only(code);
    let bytes = code.as_bytes();
    let line_at = |i: usize| code[..i].matches('\n').count();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(at) = code[i..].find("fn ").map(|k| k + i) {
        i = at + 3;
        if at > 0 && is_ident(bytes[at - 1]) {
            continue;
        }
        let name_end = ident_end(bytes, i);
        if name_end == i {
            continue;
        }
        // The body opens at the first `{` outside brackets; a `;` there
        // first is a declaration without one.
        let (mut depth, mut k) = (0i32, name_end);
        while k < bytes.len() {
            match bytes[k] {
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth -= 1,
                b'{' | b';' if depth == 0 => break,
                _ => {}
            }
            k += 1;
        }
        if bytes.get(k) != Some(&b'{') {
            continue;
        }
        let mut braces = 0;
        let close = (k..bytes.len()).find(|&j| {
            match bytes[j] {
                b'{' => braces += 1,
                b'}' => braces -= 1,
                _ => {}
            }
            braces == 0
        });
        let Some(close) = close else { break };
        found.push((
            code[i..name_end].to_owned(),
            line_at(close) - line_at(at) + 1,
        ));
    }
    found
}

#[test]
fn no_function_in_src_is_longer_than_a_screen() {
    let files = every_src_file();
    let lengths: Vec<(String, usize)> = files
        .iter()
        .flat_map(|(module, text)| {
            function_lengths(text)
                .into_iter()
                .map(move |(name, lines)| (format!("{}::{name}", show(module)), lines))
        })
        .collect();
    let long: Vec<String> = lengths
        .iter()
        .filter(|(_, lines)| *lines > SCREEN)
        .map(|(name, lines)| format!("{name}: {lines} lines"))
        .collect();
    assert!(long.is_empty(), "split these by what they do: {long:#?}");
    // The check reads the functions it must: over a thousand of them.
    assert!(lengths.len() > 1000, "{} functions read", lengths.len());
}

#[test]
fn the_check_measures_a_function_from_fn_to_its_closing_brace() {
    let code = "pub(crate) fn short(x: [u8; 2]) -> u8 {\n    x[0]\n}\n\
                trait T {\n    fn declared(&self);\n}\n\
                fn long() {\n    let s = \"}\";\n    // }\n    if true {\n        g();\n    }\n}\n\
                fn after() {}\n";
    assert_eq!(
        function_lengths(code),
        [
            ("short".to_owned(), 3),
            ("long".to_owned(), 7),
            ("after".to_owned(), 1),
        ]
    );
}

/// The `Result`s in `code` whose error is bare text (`String`, `&str`, a
/// boxed `dyn Error`), however the signature is spread over lines; its
/// comments and literals are blanked first.
fn text_errors(code: &str) -> Vec<String> {
    let flat: String = code_only(code).split_whitespace().collect();
    let mut found = Vec::new();
    for (start, _) in flat.match_indices("Result<") {
        let args = &flat[start + "Result<".len()..];
        let (mut depth, mut commas, mut end) = (1, Vec::new(), args.len());
        let mut previous = ' ';
        for (i, c) in args.char_indices() {
            match c {
                '<' | '(' | '[' => depth += 1,
                // `->` in a closure's type is no closing bracket.
                '>' if previous == '-' => {}
                '>' | ')' | ']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                ',' if depth == 1 => commas.push(i),
                _ => {}
            }
            previous = c;
        }
        // A trailing comma ends the list, not an argument.
        let inner = args[..end].strip_suffix(',').unwrap_or(&args[..end]);
        let Some(&comma) = commas.iter().rfind(|&&i| i < inner.len()) else {
            continue;
        };
        let error = &inner[comma + 1..];
        if ["String", "&str", "&'staticstr"].contains(&error) || error.starts_with("Box<dyn") {
            found.push(format!("Result<{inner}>"));
        }
    }
    found
}

#[test]
fn no_error_in_src_is_bare_text() {
    // Each error is a type that knows whether it is bad input, a failure at
    // run time or no answer (issue 30), never a message alone.
    let found: Vec<String> = every_src_file()
        .iter()
        .flat_map(|(module, text)| {
            text_errors(text)
                .into_iter()
                .map(move |r| format!("{}: {r}", show(module)))
        })
        .collect();
    assert!(found.is_empty(), "give these a typed error: {found:?}");
}

#[test]
fn the_check_finds_a_text_error_however_it_is_written() {
    let found = text_errors(
        "fn a() -> Result<u8, String> {}\n\
         fn b(f: impl Fn() -> u8) -> Result<\n    Vec<(u8, u8)>,\n    &'static str,\n> {}\n\
         type C = std::result::Result<(), Box<dyn std::error::Error>>;\n\
         fn d() -> Result<u8, &str> {}",
    );
    assert_eq!(
        found,
        [
            "Result<u8,String>",
            "Result<Vec<(u8,u8)>,&'staticstr>",
            "Result<(),Box<dyn std::error::Error>>"
                .replace(' ', "")
                .as_str(),
            "Result<u8,&str>",
        ]
    );
    // Typed errors, text as the value, and text in comments or literals pass.
    let typed = "fn a() -> Result<String, BadInput> {}\n\
                 fn b() -> io::Result<String> {}\n\
                 fn c(f: impl Fn(u8) -> Result<u8, Invalid>) {}\n\
                 // fn d() -> Result<u8, String>\n\
                 const E: &str = \"Result<u8, String>\";";
    assert_eq!(text_errors(typed), Vec::<String>::new());
}
