//! Shader variants, the one way crest specialises a shader: a WGSL file
//! declares each tunable as `const NAME: u32 = <default>u;` (so the file as
//! written is itself a valid shader, validated by naga), and a variant is
//! the file with some of those declarations given other values. WGSL's
//! pipeline-overridable constants cannot size arrays (the scans' query
//! registers and uniform windows), so the values are written into the
//! source; each variant is named `file[NAME=value,…]`, and the pipeline
//! cache keys on that name. A variant is built once per process and kept.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// A variant's cache name and full source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// `file[NAME=value,…]` (the pipeline-cache key).
    pub name: &'static str,
    /// The WGSL source with the constants set.
    pub source: &'static str,
}

/// The source of `shader` with each `const NAME: u32 = …;` declaration of
/// `consts` set to its value (the declaration must appear exactly once, at
/// the start of a line). Panics on a constant the file does not declare: a
/// programming error, caught by the tests that build every variant.
pub fn specialize(source: &str, consts: &[(&str, u32)]) -> String {
    let mut out = String::with_capacity(source.len() + 16);
    let mut seen = vec![0usize; consts.len()];
    for line in source.lines() {
        let hit = consts.iter().position(|(name, _)| {
            line.strip_prefix("const ")
                .and_then(|r| r.strip_prefix(name))
                .is_some_and(|r| r.starts_with(": u32 ="))
        });
        match hit {
            Some(i) => {
                seen[i] += 1;
                out.push_str(&format!("const {}: u32 = {}u;", consts[i].0, consts[i].1));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    for ((name, _), n) in consts.iter().zip(seen) {
        assert!(
            n == 1,
            "shader constant {name} is declared {n} times (needs exactly one `const {name}: u32 = …;` line)"
        );
    }
    out
}

/// The variant of `shader` (its file stem) with `consts` set, built on first
/// use and kept for the process (variants are few: one per model width and
/// code layout in use).
pub fn variant(shader: &str, source: &str, consts: &[(&str, u32)]) -> Variant {
    static CACHE: OnceLock<Mutex<HashMap<String, Variant>>> = OnceLock::new();
    let args: Vec<String> = consts.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let name = format!("{shader}[{}]", args.join(","));
    let mut cache = CACHE
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.get(&name) {
        return *v;
    }
    // leaked once per variant: kernels are `Copy` and name `'static` sources
    let v = Variant {
        name: Box::leak(name.clone().into_boxed_str()),
        source: Box::leak(specialize(source, consts).into_boxed_str()),
    };
    cache.insert(name, v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str =
        "// A: u32\nconst A: u32 = 1u;\nconst AB: u32 = 2u;\n    const A: u32 = 3u;\nfn f() {}\n";

    #[test]
    fn sets_only_the_named_declarations() {
        let s = specialize(SRC, &[("A", 7)]);
        assert!(s.contains("\nconst A: u32 = 7u;\n"), "{s}");
        assert!(
            s.contains("const AB: u32 = 2u;"),
            "a longer name is not A: {s}"
        );
        assert!(
            s.contains("    const A: u32 = 3u;"),
            "indented: not a declaration: {s}"
        );
        assert!(s.starts_with("// A: u32\n"));
    }

    #[test]
    #[should_panic(expected = "declared 0 times")]
    fn refuses_a_constant_the_file_lacks() {
        specialize(SRC, &[("B", 1)]);
    }

    #[test]
    fn variants_are_named_by_their_constants_and_kept() {
        let a = variant("t", SRC, &[("A", 5), ("AB", 6)]);
        assert_eq!(a.name, "t[A=5,AB=6]");
        let b = variant("t", SRC, &[("A", 5), ("AB", 6)]);
        assert!(std::ptr::eq(a.source, b.source));
        assert_ne!(variant("t", SRC, &[("A", 4)]).name, a.name);
    }
}
