//! The engine's house rules, checked from its source: the modules of `engine/` import each
//! other without a circle (drawn from their `use super::…` lines and those of their folders'
//! files), and no file is over 400 lines. `docs/engine.md` ("Shape") draws the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const MAX_LINES: usize = 400;

/// A module's code: `engine/<m>.rs` and the files of its folder `engine/<m>/` (its
/// submodules, whose `super::super::` and `crate::engine::` name the engine's modules too),
/// without comments and tests.
fn module_code(dir: &Path, module: &str, text: String) -> String {
    let mut texts = vec![text];
    if let Ok(entries) = std::fs::read_dir(dir.join(module)) {
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_name() != "tests.rs" {
                texts.extend(std::fs::read_to_string(e.path()).ok());
            }
        }
    }
    texts
        .iter()
        .flat_map(|t| {
            t.lines()
                .take_while(|l| !l.starts_with("#[cfg(test)]"))
                .filter(|l| !l.trim_start().starts_with("//"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module name → the sibling modules its code names through `super::` (or, from its folder's
/// files, `super::super::` and `crate::engine::`).
fn graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files: BTreeMap<String, String> = std::fs::read_dir(dir)
        .expect("engine/ is readable")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let module = name.strip_suffix(".rs")?.to_string();
            (module != "mod").then(|| (module, std::fs::read_to_string(e.path()).ok()))
        })
        .filter_map(|(m, text)| Some((m, text?)))
        .collect();
    files
        .iter()
        .map(|(module, text)| {
            let code = module_code(dir, module, text.clone());
            let mut deps = BTreeSet::new();
            for prefix in ["super::", "crate::engine::"] {
                for (i, _) in code.match_indices(prefix) {
                    let rest = &code[i + prefix.len()..];
                    let names: Vec<&str> = match rest.strip_prefix('{') {
                        Some(list) => list.split('}').next().unwrap_or("").split(',').collect(),
                        None => vec![rest],
                    };
                    for n in names {
                        let n: String = n
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if files.contains_key(&n) && n != *module {
                            deps.insert(n);
                        }
                    }
                }
            }
            (module.clone(), deps)
        })
        .collect()
}

/// A circle through `from`, if there is one.
fn circle(
    g: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|m| m == from) {
        let mut c = path[i..].to_vec();
        c.push(from.to_string());
        return Some(c);
    }
    if done.contains(from) {
        return None;
    }
    path.push(from.to_string());
    for next in g.get(from).into_iter().flatten() {
        if let Some(c) = circle(g, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(from.to_string());
    None
}

fn engine_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine")
}

#[test]
fn the_engine_modules_import_each_other_without_a_circle() {
    let g = graph(&engine_dir());
    assert!(g.len() > 20, "the engine's modules were not found: {g:?}");
    // The graph is the one drawn in docs/engine.md: runners sit on the run and the context.
    assert!(g["machine"].contains("quorum") && g["quorum"].contains("run"));
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(c) = circle(&g, m, &mut Vec::new(), &mut done) {
            panic!("import circle in engine/: {}", c.join(" -> "));
        }
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    let c = circle(&g, "a", &mut Vec::new(), &mut BTreeSet::new());
    assert_eq!(
        c,
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn no_engine_file_is_over_400_lines() {
    // engine/*.rs and the files of their submodule folders (engine/replay/tests.rs…).
    let mut paths = Vec::new();
    for e in std::fs::read_dir(engine_dir()).expect("engine/ is readable") {
        let path = e.expect("a directory entry").path();
        if path.is_dir() {
            for f in std::fs::read_dir(&path).expect("an engine folder is readable") {
                paths.push(f.expect("a directory entry").path());
            }
        } else {
            paths.push(path);
        }
    }
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("an engine file is readable");
        let lines = text.lines().count();
        assert!(
            lines <= MAX_LINES,
            "{} has {lines} lines, more than {MAX_LINES}",
            path.display()
        );
    }
}
