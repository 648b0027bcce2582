//! No module of `src/` imports another that imports it back, at any level: a parent that
//! re-exports a child counts as importing it, so a child takes what it needs from its
//! siblings, never from its parent's re-exports. Read from the sources as text: `use` paths
//! and inline `crate::`/`super::` paths outside comments and test modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    std::iter::once("crate".to_string()).chain(parts).collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text that counts: no comments, no test modules, no inline `mod x { ... }` blocks
/// (whose `super::` means this very file).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    let lines: Vec<&str> = text.lines().map(|l| l.split("//").next().unwrap()).collect();
    let mut out = String::new();
    let mut depth_skip: Option<usize> = None;
    let mut depth = 0usize;
    for line in lines {
        let trimmed = line.trim_start();
        let inline_mod = (trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ")) && trimmed.ends_with('{');
        if depth_skip.is_none() && inline_mod {
            depth_skip = Some(depth);
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
        if depth_skip.is_some() {
            if depth_skip == Some(depth) {
                depth_skip = None;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every path a module names: `crate::a::b::Item`, `super::x::{Y, z::W}`, `self::..`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        if boundary && (rest.starts_with("crate::") || rest.starts_with("super::") || rest.starts_with("self::")) {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_alphanumeric() || "_:{}, ".contains(bytes[j])) {
                if bytes[j] == '{' {
                    // take up to the matching brace
                    let mut d = 0;
                    while j < bytes.len() {
                        if bytes[j] == '{' {
                            d += 1;
                        } else if bytes[j] == '}' {
                            d -= 1;
                            if d == 0 {
                                j += 1;
                                break;
                            }
                        }
                        j += 1;
                    }
                    break;
                }
                if bytes[j] == ' ' || bytes[j] == ',' {
                    break;
                }
                j += 1;
            }
            let text: String = bytes[i..j].iter().collect();
            expand(&text, &mut found);
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// `a::{b, c::{d}}` into `a::b`, `a::c::d`.
fn expand(text: &str, out: &mut Vec<Vec<String>>) {
    match text.find('{') {
        None => out.push(text.split("::").filter(|s| !s.is_empty()).map(|s| s.trim().to_string()).collect()),
        Some(open) => {
            let prefix = text[..open].trim_end_matches("::");
            let inner = &text[open + 1..text.rfind('}').unwrap_or(text.len())];
            let mut depth = 0;
            let mut start = 0;
            let mut items = Vec::new();
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&inner[start..k]);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            items.push(&inner[start..]);
            for item in items.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
                let item = item.split(" as ").next().unwrap();
                if item == "self" {
                    expand(prefix, out);
                } else {
                    expand(&format!("{prefix}::{item}"), out);
                }
            }
        }
    }
}

fn resolve(from: &Module, path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let (mut base, rest): (Module, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (vec!["crate".into()], &path[1..]),
        Some("self") => (from.clone(), &path[1..]),
        Some("super") => {
            let mut base = from.clone();
            let mut k = 0;
            while path.get(k).map(String::as_str) == Some("super") {
                base.pop();
                k += 1;
            }
            (base, &path[k..])
        }
        _ => return None,
    };
    let mut best = modules.contains(&base).then(|| base.clone());
    for part in rest {
        base.push(part.clone());
        if modules.contains(&base) {
            best = Some(base.clone());
        }
    }
    best
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let texts: BTreeMap<Module, String> =
        files.iter().map(|f| (module_of(&root, f), code(&std::fs::read_to_string(f).unwrap()))).collect();
    let modules: BTreeSet<Module> = texts.keys().cloned().collect();
    assert!(modules.len() > 50, "read the whole tree: {}", modules.len());
    let mut edges = BTreeSet::new();
    for (module, text) in &texts {
        for path in paths(text) {
            if let Some(target) = resolve(module, &path, &modules).filter(|t| t != module) {
                edges.insert((module.clone(), target));
            }
        }
        // `pub use child::Item;`: the parent imports its child.
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("pub use ") {
                let child = rest.split("::").next().unwrap_or("");
                let mut target = module.clone();
                target.push(child.to_string());
                if modules.contains(&target) {
                    edges.insert((module.clone(), target));
                }
            }
        }
    }
    let mutual: Vec<String> = edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .map(|(a, b)| format!("{} <-> {}", a.join("::"), b.join("::")))
        .collect();
    assert!(mutual.is_empty(), "modules that import each other:\n{}", mutual.join("\n"));
}
