//! The documentation checked against the tree, so that it cannot drift silently:
//! - `docs/architecture.md`'s module map lists every module of `src/` that is a file of its own,
//!   at every level, and nothing that does not exist; `src/lib.rs`'s `# Layout` names the same
//!   top-level modules;
//! - every environment variable and long flag of `worker --help` and `transcode --help` is in
//!   the README's settings table;
//! - every relative link of the README and of `docs/*.md` reaches an existing file and heading;
//! - every "coordinator-protocol §N" / "output-layout §N" cited in the code is a section of the
//!   documents in `docs/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The text of the `## {title}` section of a markdown file, up to the next `## ` heading.
fn section(markdown: &str, title: &str) -> String {
    let heading = format!("## {title}\n");
    let start = markdown.find(&heading).unwrap_or_else(|| panic!("no {heading:?} heading"));
    let body = &markdown[start + heading.len()..];
    body.find("\n## ").map_or(body, |end| &body[..end]).to_string()
}

/// Everything between backticks in `text`.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// `src/a/b.rs` and `src/a/b/mod.rs` as `a::b`; `src/main.rs` as `main`; the crate root is left out.
fn source_modules(dir: &Path, prefix: &str, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            source_modules(&path, &format!("{prefix}{name}::"), found);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let module = match stem {
                "lib" if prefix.is_empty() => continue,
                "mod" => prefix.trim_end_matches("::").to_string(),
                _ => format!("{prefix}{stem}"),
            };
            found.insert(module);
        }
    }
}

/// The modules named in the first column of `docs/architecture.md`'s module map.
fn mapped_modules() -> BTreeSet<String> {
    let map = section(&read(&root().join("docs/architecture.md")), "Module map");
    let rows = map.lines().filter(|l| l.starts_with("| `"));
    let first_cells = rows.map(|row| row.split('|').nth(1).unwrap_or_default().to_string());
    let modules: BTreeSet<String> =
        first_cells.flat_map(|c| code_spans(&c).into_iter().map(String::from).collect::<Vec<_>>()).collect();
    assert!(modules.len() > 20, "the module map in docs/architecture.md lists only {modules:?}");
    modules
}

#[test]
fn every_source_module_is_in_the_module_map_and_every_mapped_module_exists() {
    let mut in_src = BTreeSet::new();
    source_modules(&root().join("src"), "", &mut in_src);
    let mapped = mapped_modules();
    let unlisted: Vec<_> = in_src.difference(&mapped).collect();
    let missing: Vec<_> = mapped.difference(&in_src).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "docs/architecture.md's module map has drifted from src/.\n\
         In src/ but not in the map (add a row saying what each holds): {unlisted:?}\n\
         In the map but not in src/ (remove or rename the row): {missing:?}"
    );
}

#[test]
fn the_layout_in_lib_rs_names_the_top_level_modules_of_the_map() {
    let lib = read(&root().join("src/lib.rs"));
    let layout: BTreeSet<String> = lib
        .lines()
        .skip_while(|l| !l.starts_with("//! # Layout"))
        .filter_map(|l| l.strip_prefix("//! - `"))
        .filter_map(|l| l.split('`').next())
        .map(String::from)
        .collect();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").or_else(|| l.strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    let top_level: BTreeSet<String> =
        mapped_modules().into_iter().filter(|m| !m.contains("::") && m != "main").collect();
    assert_eq!(layout, declared, "src/lib.rs: the `# Layout` list and the `mod` declarations differ");
    assert_eq!(layout, top_level, "src/lib.rs's `# Layout` and docs/architecture.md's module map differ");
}

/// `hls-ladder {command} --help`, run where no `.env` file can add anything.
fn help(command: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hls-ladder"))
        .args([command, "--help"])
        .env_clear()
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("running hls-ladder");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "hls-ladder {command} --help failed: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The environment variables (`[env: NAME=...]`) and long flags (`--name`) a help text offers,
/// without `--help` and `--version`.
fn settings_in_help(help: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for part in help.split("[env: ").skip(1) {
        let name: String =
            part.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
        found.insert(name);
    }
    for line in help.lines().map(str::trim_start).filter(|l| l.starts_with('-')) {
        let Some(at) = line.find("--") else { continue };
        let flag: String =
            line[at..].chars().take_while(|c| *c == '-' || c.is_ascii_lowercase() || c.is_ascii_digit()).collect();
        if flag != "--help" && flag != "--version" {
            found.insert(flag);
        }
    }
    found
}

/// Each long flag of a help text with the default clap prints for it (`[default: X]`).
fn defaults_in_help(help: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut flag = None;
    for line in help.lines().map(str::trim_start) {
        if line.starts_with('-') {
            flag = line.find("--").map(|at| line[at..].split([' ', '=']).next().unwrap_or_default().to_string());
        } else if let (Some(flag), Some(value)) = (&flag, line.strip_prefix("[default: ")) {
            found.push((flag.clone(), value.trim_end_matches(']').to_string()));
        }
    }
    found
}

#[test]
fn every_setting_of_worker_and_transcode_help_is_in_the_readme_settings_table() {
    let table = section(&read(&root().join("README.md")), "Settings");
    let documented: BTreeSet<&str> = code_spans(&table).into_iter().collect();
    for command in ["worker", "transcode"] {
        let offered = settings_in_help(&help(command));
        assert!(offered.len() > 20, "read too few settings from `{command} --help`: {offered:?}");
        let missing: Vec<_> = offered.iter().filter(|s| !documented.contains(s.as_str())).collect();
        assert!(
            missing.is_empty(),
            "`hls-ladder {command} --help` offers settings the README's settings table does not name \
             (add each, in backticks, with its variable, flag and default): {missing:?}"
        );
        for (flag, default) in defaults_in_help(&help(command)) {
            let quoted = format!("`{flag}`");
            let rows: Vec<&str> =
                table.lines().filter(|row| row.split('|').any(|cell| cell.contains(&quoted))).collect();
            let shown = match default.as_str() {
                "" | "\"\"" => "empty".to_string(),
                value => format!("`{value}`"),
            };
            assert!(
                rows.iter().any(|row| row.contains(&shown)),
                "the README's settings table does not give {flag}'s default {shown} (`{command} --help`): {rows:?}"
            );
        }
    }
}

/// GitHub's anchor of a heading: lower case, punctuation other than `-` and `_` dropped, spaces
/// to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The lines of a markdown file outside fenced code blocks.
fn prose(markdown: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push(line);
        }
    }
    lines
}

/// The anchors of a markdown file's headings (a repeated heading gets `-1`, `-2`...).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in prose(markdown) {
        let Some(text) = line.strip_prefix('#') else { continue };
        let base = anchor(text.trim_start_matches('#'));
        let mut candidate = base.clone();
        let mut n = 0;
        while !found.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{base}-{n}");
        }
    }
    found
}

/// The targets of the inline links and images `[text](target)` in a markdown file's prose.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(markdown) {
        for part in line.split("](").skip(1) {
            if let Some(end) = part.find(')') {
                targets.push(part[..end].to_string());
            }
        }
    }
    targets
}

fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

#[test]
fn relative_links_in_the_readme_and_docs_reach_existing_files_and_headings() {
    let mut broken = Vec::new();
    for file in documents() {
        let text = read(&file);
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
            if !linked.exists() {
                broken.push(format!("{}: {target}: no such file", file.display()));
            } else if !fragment.is_empty() && !anchors(&read(&linked)).contains(fragment) {
                broken.push(format!("{}: {target}: no such heading in {}", file.display(), linked.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The section numbers (`1`, `9.1`, `14.1`) of a document's numbered headings.
fn section_numbers(markdown: &str) -> BTreeSet<String> {
    prose(markdown)
        .into_iter()
        .filter(|l| l.starts_with("## ") || l.starts_with("### "))
        .filter_map(|l| l.trim_start_matches('#').split_whitespace().next())
        .map(|n| n.trim_end_matches('.').to_string())
        .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_section_the_code_cites_exists_in_the_documents_in_docs() {
    let mut broken = Vec::new();
    let mut cited = 0;
    for document in ["coordinator-protocol", "output-layout"] {
        let sections = section_numbers(&read(&root().join(format!("docs/{document}.md"))));
        let mut files = Vec::new();
        for dir in ["src", "tests", "fuzz/fuzz_targets"] {
            rust_files(&root().join(dir), &mut files);
        }
        for file in files {
            let text = read(&file);
            for (at, _) in text.match_indices(document) {
                let rest = text[at + document.len()..].trim_start_matches(".md");
                let Some(number) = rest.strip_prefix(" §") else { continue };
                let number: String = number.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
                let number = number.trim_end_matches('.');
                if number.is_empty() {
                    continue;
                }
                // "§9.1.4" is rule 4 of §9.1: the documents number two levels of headings.
                let heading: Vec<&str> = number.split('.').take(2).collect();
                cited += 1;
                if !sections.contains(&heading.join(".")) {
                    broken.push(format!("{}: {document} §{number}", file.display()));
                }
            }
        }
    }
    assert!(cited > 30, "found only {cited} citations; has the citation form changed?");
    assert!(broken.is_empty(), "cited sections that docs/ does not have:\n{}", broken.join("\n"));
}

#[test]
fn nothing_points_outside_the_repository_for_the_specification() {
    let mut files = documents();
    for dir in ["src", "tests"] {
        rust_files(&root().join(dir), &mut files);
    }
    files.extend(std::fs::read_dir(root().join("scripts")).unwrap().map(|e| e.unwrap().path()));
    // Spelt in two pieces so that this file does not find itself.
    let outside = concat!("shared", "/spec");
    let offenders: Vec<_> =
        files.iter().filter(|f| read(f).contains(outside)).map(|f| f.display().to_string()).collect();
    assert!(offenders.is_empty(), "cite docs/coordinator-protocol.md or docs/output-layout.md instead: {offenders:?}");
}
