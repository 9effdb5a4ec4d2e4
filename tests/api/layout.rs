//! The crate's layout as `src/lib.rs` describes it: each top-level module uses only modules of lower
//! layers, and inside a module folder the files use each other without a cycle and never their
//! parent's items (but for a parent that only defines the interface they implement). Read from the
//! sources, so a new import that breaks the layering fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `src/lib.rs`, lowest first.
const LAYERS: &[&[&str]] = &[
    &["clock", "recent", "i18n"],
    &["domain"],
    &["config", "keys", "estimate", "limits"],
    &["telemetry", "token", "challenge", "metrics"],
    &["store"],
    &["cache", "sink"],
    &["admission"],
    &["scheduler", "drain", "demo", "webhooks"],
    &["simulate"],
    &["routes"],
    &["startup", "client"],
    &["cli"],
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is in no layer: add it to LAYERS and lib.rs"))
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The code of a file without its comments.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers that follow `prefix` in `text`, e.g. `store` in `crate::store::Store`, and each
/// name inside a braced list right after it (`use super::{a, b::C}` gives `a` and `b`).
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        let before = text[..at].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[at + prefix.len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for item in list.split(',') {
                let name = ident(item.trim());
                if !name.is_empty() && name != "self" {
                    names.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

#[test]
fn modules_use_only_lower_layers_and_folders_have_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut problems = Vec::new();
    // Per module folder: file -> the sibling files it uses.
    let mut folders: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let parts: Vec<String> = relative
            .with_extension("")
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts == ["lib"] || parts == ["main"] {
            continue;
        }
        let module = parts[0].clone();
        let text = code(file);
        for used in names_after(&text, "crate::") {
            if used != module && layer_of(&used) >= layer_of(&module) {
                problems.push(format!(
                    "{}: `{module}` (layer {}) uses `{used}` (layer {})",
                    relative.display(),
                    layer_of(&module) + 1,
                    layer_of(&used) + 1
                ));
            }
        }
        let is_child = parts.len() > 1 && parts.last().is_some_and(|p| p != "mod");
        // A folder whose mod.rs defines the trait its files implement (store, sink) hands its
        // interface down: its files may use the parent's items.
        let parent_is_interface = std::fs::read_to_string(file.with_file_name("mod.rs"))
            .is_ok_and(|parent| parent.contains("\npub trait "));
        if is_child && !parent_is_interface {
            let folder = file.parent().unwrap().to_path_buf();
            let name = parts.last().unwrap().clone();
            let uses = names_after(&text, "super::");
            folders.entry(folder).or_default().insert(name, uses);
        }
    }
    for (folder, graph) in &folders {
        for (file, uses) in graph {
            for used in uses {
                if !graph.contains_key(used) {
                    problems.push(format!(
                        "{}/{file}.rs uses `super::{used}`, its parent's own item: move it into a sibling file",
                        folder.display()
                    ));
                }
            }
        }
        // Depth-first search for a cycle among the siblings.
        fn visit<'a>(
            node: &'a str,
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(start) = path.iter().position(|n| *n == node) {
                return Some(path[start..].iter().map(|s| s.to_string()).collect());
            }
            if !done.insert(node) {
                return None;
            }
            path.push(node);
            for next in graph.get(node).into_iter().flatten() {
                if graph.contains_key(next) {
                    if let Some(cycle) = visit(next, graph, path, done) {
                        return Some(cycle);
                    }
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        for start in graph.keys() {
            if let Some(cycle) = visit(start, graph, &mut Vec::new(), &mut done) {
                problems.push(format!(
                    "{}: a cycle: {}",
                    folder.display(),
                    cycle.join(" -> ")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layout broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    let text = "use crate::{store::Store, cache};\nlet x = crate::clock::unix_s();\nuse super::{a, b::C, self};\nfoo::crate::no";
    assert_eq!(
        names_after(text, "crate::"),
        ["cache", "clock", "store"].map(String::from).into()
    );
    assert_eq!(
        names_after(text, "super::"),
        ["a", "b"].map(String::from).into()
    );
}

/// What deciding on a way of entering an event looks like in code: naming an intake or a queueing
/// method, or asking the settings or the cache which one holds.
const MODE_CHECKS: &[&str] = &[
    "Intake::",
    "QueueMethod::",
    ".has_prequeue()",
    ".has_pool()",
    ".prequeue_undrawn()",
    "Pick::AtRandom",
    ".method ==",
    ".method !=",
];

/// Where deciding on a mode belongs: the admission rules (one file per intake), the domain that
/// defines the modes and derives the policy, and the store that keeps each intake's data.
const MODE_HOMES: &[&str] = &["admission", "domain", "store"];

/// The places in `text` that decide on a mode.
fn mode_checks(text: &str) -> Vec<&'static str> {
    MODE_CHECKS
        .iter()
        .filter(|check| text.contains(*check))
        .copied()
        .collect()
}

#[test]
fn nothing_outside_admission_branches_on_a_mode() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative.iter().next().unwrap().to_string_lossy();
        let module = module.trim_end_matches(".rs");
        if MODE_HOMES.contains(&module) {
            continue;
        }
        for check in mode_checks(&code(file)) {
            problems.push(format!(
                "{}: `{check}` decides on a mode outside admission/: ask the event's policy",
                relative.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_mode_checker_sees_what_it_must() {
    assert_eq!(
        mode_checks("if settings.method == QueueMethod::Reject {"),
        ["QueueMethod::", ".method =="]
    );
    assert_eq!(
        mode_checks("if cached.prequeue_undrawn() {"),
        [".prequeue_undrawn()"]
    );
    assert!(mode_checks("let policy = cached.policy();").is_empty());
}

/// Where a line's one-string form (`event~lane`) may be spelled out: the type that writes and reads
/// it, and the tokens signed before lanes had a claim of their own (their `aud` is that form).
const WIRE_FORM_HOMES: &[&str] = &["domain/ids.rs", "token.rs"];

/// What handling a line's wire form by hand looks like: its separator in a string or a char.
fn wire_form_uses(text: &str) -> bool {
    text.contains("'~'") || text.contains("\"~\"") || text.contains("~{") || text.contains("}~")
}

#[test]
fn only_the_line_id_spells_out_a_lanes_wire_form() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let problems: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let relative = file.strip_prefix(&src).unwrap();
            let named = relative.to_string_lossy();
            (!WIRE_FORM_HOMES.contains(&named.as_ref()) && wire_form_uses(&code(file))).then(|| {
                format!("{named}: builds or splits `event~lane` by hand: use LineId (event, lane)")
            })
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(wire_form_uses(r#"format!("{event}~{lane}")"#));
    assert!(wire_form_uses("raw.split_once('~')"));
    assert!(!wire_form_uses("LineId::of_lane(event, lane)"));
}
