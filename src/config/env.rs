//! The environment, read as an explicit set of variables so that the rules below are pure
//! functions (tests never touch the process environment, which glibc does not let one thread
//! change while another reads it).
//!
//! `main` applies both before it parses the command line: the `.env` assignments are added,
//! then the invalid variables are removed, so clap sees only values it accepts.

use std::ffi::OsStr;
use std::path::Path;

use anyhow::Context as _;

/// `YES`/`NO` as the Go worker wrote them; `TRUE`/`FALSE`, `1`/`0`, `ON`/`OFF` accepted too.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" | "" => Ok(false),
        other => Err(format!("expected YES or NO, got {other:?}")),
    }
}

/// Spec §11: a variable whose value the flag's own parser rejects falls back to the flag's
/// default with a warning (the Go worker's behaviour), where clap would refuse to start.
/// Returns `(variable, warning)` for each such variable of `cmd` and its subcommands; explicit
/// flags are still checked strictly by clap. Every flag with a variable takes a value (YES/NO
/// switches included), so every variable is checked.
pub fn invalid_env(cmd: &clap::Command, get: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut cmd = cmd.clone();
    cmd.build();
    let mut found = Vec::new();
    collect_invalid(&cmd, &get, &mut found);
    found.sort();
    found.dedup();
    found
}

fn collect_invalid(cmd: &clap::Command, get: &impl Fn(&str) -> Option<String>, found: &mut Vec<(String, String)>) {
    for arg in cmd.get_arguments() {
        let Some(var) = arg.get_env().and_then(OsStr::to_str) else { continue };
        let (Some(value), Some(long)) = (get(var), arg.get_long()) else { continue };
        if !arg.get_action().takes_values() {
            continue;
        }
        // The value goes through the flag's own parser as `--flag=value` on a command of that
        // one flag: the same check clap makes of the variable, without reading it.
        let check = clap::Command::new("check").no_binary_name(true).arg(arg.clone().required(false));
        if let Err(e) = check.try_get_matches_from([format!("--{long}={value}")]) {
            let why = e.kind().as_str().unwrap_or("invalid value");
            found.push((var.to_string(), format!("{var}={value:?} is not valid ({why}); using the default")));
        }
    }
    for sub in cmd.get_subcommands() {
        collect_invalid(sub, get, found);
    }
}

/// The `KEY=VALUE` lines of the `.env` file at `path` that set a variable `is_set` says is not
/// set yet (spec §11: the file never overrides the environment). A missing file gives none.
pub fn dotenv_assignments(path: &Path, is_set: impl Fn(&str) -> bool) -> anyhow::Result<Vec<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut assignments: Vec<(String, String)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        match parse_dotenv_line(line) {
            Ok(None) => {}
            Ok(Some((key, value))) => {
                if !is_set(key) {
                    // A key repeated in the file: the last line wins, as with `source .env`.
                    assignments.retain(|(k, _)| k != key);
                    assignments.push((key.to_string(), value.to_string()));
                }
            }
            Err(why) => anyhow::bail!("{}:{}: {why}", path.display(), number + 1),
        }
    }
    Ok(assignments)
}

/// One `.env` line: blank and `#` lines are nothing; `export ` is allowed; a value may be
/// quoted with `"` or `'` (kept verbatim inside), otherwise it ends at ` #`.
fn parse_dotenv_line(line: &str) -> Result<Option<(&str, &str)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (key, value) = line.split_once('=').ok_or("expected KEY=VALUE")?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("{key:?} is not a variable name"));
    }
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote) {
            let inner = inner.strip_suffix(quote).ok_or("unterminated quote")?;
            return Ok(Some((key, inner)));
        }
    }
    let value = value.split_once(" #").map_or(value, |(v, _)| v).trim_end();
    Ok(Some((key, value)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::{CommandFactory, Parser};

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn dotenv_lines_follow_the_usual_conventions() {
        assert_eq!(parse_dotenv_line("CONTROL_BASE_URL=ws://c:8080"), Ok(Some(("CONTROL_BASE_URL", "ws://c:8080"))));
        assert_eq!(parse_dotenv_line("export SERVER_CAPACITY = 4 # per host"), Ok(Some(("SERVER_CAPACITY", "4"))));
        assert_eq!(parse_dotenv_line("CONTROL_SECRET=\"a b#c\""), Ok(Some(("CONTROL_SECRET", "a b#c"))));
        assert_eq!(parse_dotenv_line("X='y'"), Ok(Some(("X", "y"))));
        assert_eq!(parse_dotenv_line("EMPTY="), Ok(Some(("EMPTY", ""))));
        assert_eq!(parse_dotenv_line("  # comment"), Ok(None));
        assert_eq!(parse_dotenv_line(""), Ok(None));
        assert!(parse_dotenv_line("no equals sign").is_err());
        assert!(parse_dotenv_line("BAD-NAME=1").is_err());
        assert!(parse_dotenv_line("X=\"open").is_err());
    }

    #[test]
    fn dotenv_never_overrides_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        std::fs::write(&file, "ALREADY_SET=from-file\nNEW=first\nNEW=second\n").unwrap();
        let set = dotenv_assignments(&file, |k| k == "ALREADY_SET").unwrap();
        assert_eq!(set, vec![("NEW".to_string(), "second".to_string())]);
        assert!(dotenv_assignments(&dir.path().join("missing"), |_| false).unwrap().is_empty());
        std::fs::write(&file, "OK=1\nbroken line\n").unwrap();
        let err = dotenv_assignments(&file, |_| false).unwrap_err().to_string();
        assert!(err.ends_with(":2: expected KEY=VALUE"), "{err}");
    }

    #[test]
    fn invalid_values_in_the_environment_are_reported_with_the_variable() {
        #[derive(Debug, Parser)]
        struct Flags {
            #[arg(long, env = "COUNT", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
            count: u32,
            #[arg(long, env = "SWITCH", value_parser = super::super::parse_bool, action = clap::ArgAction::Set, default_value = "NO")]
            switch: bool,
            #[arg(long, env = "WORD", default_value = "x")]
            word: String,
        }
        let invalid = invalid_env(&Flags::command(), vars(&[("COUNT", "0"), ("SWITCH", "maybe"), ("WORD", "kept")]));
        let names: Vec<&str> = invalid.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(names, ["COUNT", "SWITCH"]);
        assert!(invalid[0].1.starts_with("COUNT=\"0\" is not valid"), "{invalid:?}");
        assert!(invalid_env(&Flags::command(), vars(&[("COUNT", "7"), ("SWITCH", "yes")])).is_empty());
    }

    #[test]
    fn every_subcommand_of_the_real_command_line_is_checked() {
        let cmd = crate::cli::Cli::command();
        let invalid = invalid_env(
            &cmd,
            vars(&[
                ("HLS_TIME_SECONDS", "0"),
                ("SERVER_CAPACITY", "lots"),
                ("LOG_JSON", "perhaps"),
                ("HLS_RESTART_MAX", "2"),
            ]),
        );
        let names: Vec<&str> = invalid.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(names, ["HLS_TIME_SECONDS", "LOG_JSON", "SERVER_CAPACITY"]);
    }
}
