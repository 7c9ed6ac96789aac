//! Keeps the daemon's modules in layers (ARCHITECTURE.md): leaves ← the redaction engine ←
//! components ← the top. Every `crate::…` path in `daemon/src` is read; an import that points
//! up, or sideways between two components, fails this test with its file and line, and so
//! does any cycle between top-level modules (here and in the `provision` crate).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module of `daemon/src`; a module may use only lower layers.
/// Within the top layer, imports are allowed as long as they form no cycle.
const DAEMON_LAYERS: &[(&str, u8)] = &[
    // leaves: event types and small shared helpers...
    ("event", 0),
    ("datum", 0),
    ("metric_point", 0),
    ("fingerprint", 0),
    ("cut", 0),
    ("shutdown", 0),
    ("test_rng", 0),
    // ...and the daemon's own telemetry, which counts in their terms
    ("telemetry", 1),
    // the redaction engine, which decoding and the API build on
    ("redact", 2),
    // components: each depends on the layers above only, never on a sibling
    ("sources", 3),
    ("decode", 3),
    ("buffer", 3),
    ("sinks", 3),
    ("metric_stage", 3),
    ("api", 3),
    // the top: assembles and runs the components
    ("config", 4),
    ("topology", 4),
    ("cli", 4),
    ("testing", 4),
];
const TOP: u8 = 4;

/// One `crate::X` (or crate-root `super::X`) reference.
#[derive(Debug, Clone)]
struct Import {
    file: PathBuf,
    line: usize,
    from: String,
    to: String,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("daemon/ has a parent")
        .to_path_buf()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The top-level module a file belongs to (`None` for the crate root files).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (!matches!(name.as_str(), "lib" | "main")).then_some(name)
}

/// Every `crate::name` (and `crate::{a, b::c}`) in code, comments and strings excluded.
fn crate_refs(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or_default();
    let mut refs = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `aistudio_core::` never matches, but `mycrate::` must not either
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    refs.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                refs.push(name);
            }
        }
    }
    refs
}

fn imports(src: &Path, root_super_is_crate: bool) -> Vec<Import> {
    let mut out = Vec::new();
    for file in rust_files(src) {
        let Some(from) = module_of(src, &file) else {
            continue;
        };
        let at_root = file.parent() == Some(src);
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (index, line) in text.lines().enumerate() {
            let mut names = crate_refs(line);
            if root_super_is_crate && at_root {
                names.extend(crate_refs(&line.replace("super::", "crate::")));
            }
            for to in names {
                if to != from {
                    out.push(Import {
                        file: file.clone(),
                        line: index + 1,
                        from: from.clone(),
                        to,
                    });
                }
            }
        }
    }
    out
}

/// Upward or sideways imports, as "file:line: …" messages.
fn layer_violations(imports: &[Import], layers: &[(&str, u8)]) -> Vec<String> {
    let layer: BTreeMap<&str, u8> = layers.iter().copied().collect();
    let mut problems = Vec::new();
    for import in imports {
        let (Some(&from), Some(&to)) = (
            layer.get(import.from.as_str()),
            layer.get(import.to.as_str()),
        ) else {
            if !layer.contains_key(import.from.as_str()) {
                problems.push(format!(
                    "{}:{}: module `{}` has no layer; add it to DAEMON_LAYERS",
                    import.file.display(),
                    import.line,
                    import.from
                ));
            }
            continue;
        };
        let allowed = to < from || (from == TOP && to == TOP);
        if !allowed {
            problems.push(format!(
                "{}:{}: `{}` (layer {from}) imports `{}` (layer {to}); imports only go down",
                import.file.display(),
                import.line,
                import.from,
                import.to
            ));
        }
    }
    problems
}

/// A cycle between top-level modules, if any, as "a -> b -> a".
fn find_cycle(imports: &[Import]) -> Option<String> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for import in imports {
        graph
            .entry(import.from.as_str())
            .or_default()
            .insert(import.to.as_str());
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<String> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<&str> = path[start..].to_vec();
            cycle.push(node);
            return Some(cycle.join(" -> "));
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn daemon_imports_only_go_down() {
    let src = workspace_root().join("daemon/src");
    let imports = imports(&src, false);
    assert!(
        imports.len() > 50,
        "the parser found only {} imports",
        imports.len()
    );
    let problems = layer_violations(&imports, DAEMON_LAYERS);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(find_cycle(&imports), None);
}

#[test]
fn provision_and_core_modules_form_no_cycle() {
    for krate in ["provision/src", "core/src"] {
        let imports = imports(&workspace_root().join(krate), true);
        assert_eq!(find_cycle(&imports), None, "in {krate}");
    }
}

#[test]
fn an_upward_import_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("sinks")).expect("mkdir");
    std::fs::write(src.join("lib.rs"), "mod sinks;\n").expect("write");
    std::fs::write(
        src.join("event.rs"),
        "//! leaf\n// crate::topology in a comment is fine\nuse crate::sinks::Sink;\n",
    )
    .expect("write");
    std::fs::write(
        src.join("sinks/mod.rs"),
        "use crate::{event::LogEvent, redact};\nuse crate::decode::now;\n",
    )
    .expect("write");
    let imports = imports(src, false);
    let problems = layer_violations(&imports, DAEMON_LAYERS);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].ends_with(
            "event.rs:3: `event` (layer 0) imports `sinks` (layer 3); imports only go down"
        ),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].contains("sinks/mod.rs:2: `sinks` (layer 3) imports `decode` (layer 3)"),
        "{}",
        problems[1]
    );
    assert_eq!(
        find_cycle(&imports).as_deref(),
        Some("event -> sinks -> event")
    );
}
