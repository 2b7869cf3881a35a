//! The house's floors (issue 36): every module of `src/` imports only from
//! the modules below it in [`LAYERS`] (DESIGN.md's layout, lowest first),
//! and no two files import each other, directly or around a loop (a parent
//! module and its own children excepted: a `mod.rs` re-exports its
//! children, which use the types it defines). Read from the source: the
//! `crate::…` and `super::…` paths outside comments and unit tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules, lowest first: each may use only those before it.
const LAYERS: &[&str] = &[
    "error", "rng", "seq", "plot", "gpu", "io", "ops", "backend", "damage", "dedup", "profile",
    "stats", "sim", "sv", "selftest", "model", "index", "train", "map", "classify", "bench",
    "commands",
];

/// module path (`io::sam`) → source without comments and unit tests.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
                continue;
            }
            if p.extension().and_then(|x| x.to_str()) != Some("rs") {
                continue;
            }
            let rel = p
                .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
                .unwrap()
                .with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().map(String::as_str) == Some("mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            let code: String = text
                .lines()
                .map(|l| l.split("//").next().unwrap())
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(parts.join("::"), code);
        }
    }
    let mut out = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

/// The paths a source names after `prefix` (`crate::` or `super::`), as
/// module-path segments; braces expand (`crate::io::{sam, sort}` → two).
fn paths(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        };
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            let id = ident(s);
            if id.is_empty() {
                break;
            }
            s = &s[id.len()..];
            segs.push(id);
            if let Some(t) = s.strip_prefix("::") {
                s = t;
                if let Some(inner) = s.strip_prefix('{') {
                    let end = inner.find('}').unwrap_or(inner.len());
                    for item in inner[..end].split(',') {
                        let mut v = segs.clone();
                        v.extend(
                            item.trim()
                                .split("::")
                                .map(ident)
                                .take_while(|x| !x.is_empty()),
                        );
                        out.push(v);
                    }
                    segs.clear();
                    break;
                }
            } else {
                break;
            }
        }
        if !segs.is_empty() {
            out.push(segs);
        }
    }
    out
}

/// The longest module of `mods` that `path` starts with.
fn resolve(mods: &BTreeSet<String>, path: &[String]) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| mods.contains(m))
}

fn is_ancestor(a: &str, b: &str) -> bool {
    b.starts_with(&format!("{a}::"))
}

/// file → files it uses (ancestors and descendants left out).
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = sources();
    let mods: BTreeSet<String> = src.keys().cloned().collect();
    let mut e: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, code) in &src {
        let mut targets = Vec::new();
        for p in paths(code, "crate::") {
            targets.extend(resolve(&mods, &p));
        }
        // super:: from a file is its parent module's path
        let parent: Vec<String> = m.split("::").map(str::to_string).collect();
        let parent = &parent[..parent.len() - 1];
        for p in paths(code, "super::") {
            if p.first().map(String::as_str) == Some("super") {
                continue;
            }
            let mut full = parent.to_vec();
            full.extend(p);
            targets.extend(resolve(&mods, &full));
        }
        let set = e.entry(m.clone()).or_default();
        for t in targets {
            if t != *m && !is_ancestor(&t, m) && !is_ancestor(m, &t) {
                set.insert(t);
            }
        }
    }
    e
}

#[test]
fn modules_import_only_from_lower_floors() {
    let e = edges();
    let top = |m: &str| m.split("::").next().unwrap().to_string();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == top(m));
    let mut bad = Vec::new();
    for (m, ts) in &e {
        let Some(rm) = rank(m) else {
            bad.push(format!("{m}: not in LAYERS (add its floor)"));
            continue;
        };
        for t in ts {
            match rank(t) {
                Some(rt) if rt < rm || top(t) == top(m) => {}
                _ => bad.push(format!("{m} uses {t}, which is not below it")),
            }
        }
    }
    assert!(bad.is_empty(), "upward imports:\n{}", bad.join("\n"));
    assert!(e.len() > 100, "only {} files read", e.len());
}

#[test]
fn no_two_files_import_each_other_directly_or_around_a_loop() {
    let e = edges();
    // depth-first search for a cycle, reporting it
    fn visit(
        n: &str,
        e: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for t in e.get(n).into_iter().flatten() {
            match state.get(t.as_str()) {
                Some(1) => {
                    let i = stack.iter().position(|s| s == t).unwrap();
                    let mut cyc = stack[i..].to_vec();
                    cyc.push(t.clone());
                    return Some(cyc);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(t, e, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in e.keys() {
        if !state.contains_key(n.as_str()) {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, &e, &mut state, &mut stack) {
                panic!("an import loop: {}", c.join(" → "));
            }
        }
    }
}

#[test]
fn the_path_reader_finds_braced_and_nested_paths() {
    let code = "use crate::io::{sam::flags, sort};\nlet x = crate::ops::index::NONE; my_crate::x; super::tree::Tree";
    let p = paths(code, "crate::");
    assert_eq!(
        p,
        vec![
            vec!["io".to_string(), "sam".into(), "flags".into()],
            vec!["io".to_string(), "sort".into()],
            vec!["ops".to_string(), "index".into(), "NONE".into()],
        ]
    );
    assert_eq!(
        paths(code, "super::"),
        vec![vec!["tree".to_string(), "Tree".into()]]
    );
}
