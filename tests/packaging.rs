//! Static checks of the packaging; no container engine or cluster is needed.
//! - Dockerfiles: hadolint; the runtime stage installs the FFmpeg libraries the binary links,
//!   the same on every architecture; the build stages compile from only what they COPY.
//! - docker-compose.yml: the Compose Specification schema, each image's commands as its
//!   upstream README documents them, and the wiring between the services.
//! - deploy/kubernetes: kubernetes-validate (strict), and probes, drain time, sizing and the
//!   image's user in the Deployment.
//!
//! hadolint, kubernetes-validate and the schema come from target/venv and target/compose-spec:
//! run scripts/install-deps.sh first.

pub mod support;

use support::util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const DOCKERFILES: [&str; 2] = ["Dockerfile.amd64", "Dockerfile.arm"];
/// The image's user: useradd and USER in both Dockerfiles, runAsUser in the Deployment.
const UID: u64 = 10001;
/// Kubernetes versions the manifests must be valid for: an old one still in service and the
/// newest kubernetes-validate bundles.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];
/// Commands each image has, from the upstream READMEs: tcp-video-streaming's command table;
/// rtmp-server-rs and hls-websocket-cdn run with no command. hls-ladder's CMD is `worker`.
const UPSTREAM_COMMANDS: &[(&str, &[&str])] = &[
    ("asanrom/tcp-video-streaming", &["coordinator", "hls-encoder", "ws-stream-server"]),
    ("asanrom/rtmp-server-rs", &[]),
    ("asanrom/hls-websocket-cdn", &[]),
    ("hls-ladder", &["worker"]),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file that scripts/install-deps.sh puts under target/.
fn installed(path: &str) -> PathBuf {
    let path = root().join("target").join(path);
    assert!(path.exists(), "{} is missing: run scripts/install-deps.sh", path.display());
    path
}

fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = util::run(cmd);
    assert!(out.status.success(), "{}", util::describe(&format!("{cmd:?}"), &out));
    out
}

// ---- Dockerfiles ----

/// One stage of a Dockerfile: continuation lines joined, comments dropped.
struct Stage {
    from: String,
    instructions: Vec<String>,
}

impl Stage {
    /// The arguments of every instruction with this keyword.
    fn args<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> {
        self.instructions.iter().filter_map(move |i| {
            let (word, rest) = i.split_once(' ')?;
            word.eq_ignore_ascii_case(keyword).then_some(rest.trim())
        })
    }

    /// Every package of every `apt-get install` in the stage.
    fn apt_packages(&self) -> BTreeSet<String> {
        let mut packages = BTreeSet::new();
        for run in self.args("RUN") {
            for install in run.split("apt-get install").skip(1) {
                let words = install.split_whitespace().take_while(|w| !["&&", ";", "||"].contains(w));
                packages.extend(words.filter(|w| !w.starts_with('-')).map(|w| w.trim_matches('"').to_string()));
            }
        }
        packages
    }

    /// (sources, destination) of every COPY from the build context.
    fn context_copies(&self) -> Vec<(Vec<String>, String)> {
        self.args("COPY")
            .filter(|a| !a.contains("--from="))
            .map(|a| {
                assert!(!a.starts_with('['), "COPY {a}: use the plain form");
                let mut words: Vec<String> =
                    a.split_whitespace().filter(|w| !w.starts_with("--")).map(String::from).collect();
                let dest = words.pop().unwrap();
                (words, dest)
            })
            .collect()
    }
}

fn stages(file: &str) -> Vec<Stage> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in logical {
        if instruction.starts_with("FROM ") {
            stages.push(Stage { from: instruction, instructions: Vec::new() });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instruction);
        }
    }
    stages
}

fn build_stage(file: &str) -> Stage {
    stages(file).into_iter().find(|s| s.from.ends_with(" AS build")).unwrap_or_else(|| panic!("{file}: no build stage"))
}

fn runtime_stage(file: &str) -> Stage {
    let stage = stages(file).pop().unwrap();
    assert!(stage.from.starts_with("FROM debian:bookworm-slim"), "{file}: the runtime stage is {}", stage.from);
    stage
}

#[test]
fn the_runtime_image_installs_the_ffmpeg_libraries_the_binary_links() {
    let out = Command::new("ldd").arg(util::bin()).output().expect("ldd runs");
    let ldd = String::from_utf8_lossy(&out.stdout);
    let mut packages = Vec::new();
    let mut avformat_major = None;
    for line in ldd.lines() {
        // "libavcodec.so.59 => /lib/..." becomes the Debian package "libavcodec59".
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some((lib, soname)) = name.split_once(".so.") else { continue };
        let linked = ["libavcodec", "libavformat", "libavutil", "libswscale", "libswresample"];
        let on_demand = ["libavfilter", "libavdevice"];
        assert!(!on_demand.contains(&lib), "{lib} must not be linked (testsrc loads it on demand):\n{ldd}");
        if linked.contains(&lib) {
            packages.push(format!("{lib}{soname}"));
        }
        if lib == "libavformat" {
            avformat_major = Some(soname.to_string());
        }
    }
    assert_eq!(packages.len(), 5, "expected the 5 linked FFmpeg libraries in:\n{ldd}");
    // testsrc opens libavdevice (which needs libavfilter) with the same major as libavformat.
    packages.push(format!("libavdevice{}", avformat_major.expect("libavformat is linked")));
    let installed = runtime_stage("Dockerfile.amd64").apt_packages();
    for package in packages {
        assert!(installed.contains(&package), "Dockerfile.amd64 does not install {package}: {installed:?}");
    }
}

#[test]
fn the_arm_runtime_stage_installs_the_same_packages_as_amd64() {
    // Debian names its runtime packages the same on every architecture, so the amd64 list
    // (checked against ldd above) is the ARM one too.
    assert_eq!(runtime_stage("Dockerfile.arm").apt_packages(), runtime_stage("Dockerfile.amd64").apt_packages());
}

#[test]
fn both_images_run_the_worker_unprivileged_with_metrics_and_a_healthcheck() {
    for file in DOCKERFILES {
        let stage = runtime_stage(file);
        let one = |keyword: &'static str| {
            let args: Vec<&str> = stage.args(keyword).collect();
            assert_eq!(args.len(), 1, "{file}: expected one {keyword}, found {args:?}");
            args[0].to_string()
        };
        assert_eq!(one("USER"), format!("{UID}:{UID}"), "{file}");
        assert!(stage.args("RUN").any(|r| r.contains(&format!("--uid {UID}"))), "{file}: no user with uid {UID}");
        assert!(stage.args("RUN").any(|r| r.contains("chown hls:hls /data")), "{file}: /data not owned by the user");
        assert_eq!(one("ENTRYPOINT"), r#"["hls-ladder"]"#, "{file}");
        assert_eq!(one("CMD"), r#"["worker"]"#, "{file}");
        assert_eq!(one("EXPOSE"), "9090", "{file}");
        assert!(one("ENV").split_whitespace().any(|v| v == "METRICS_ADDR=0.0.0.0:9090"), "{file}: METRICS_ADDR");
        // The healthcheck is the binary itself: the slim image has no curl or wget.
        assert!(one("HEALTHCHECK").ends_with(r#"CMD ["hls-ladder", "health"]"#), "{file}");
    }
}

#[test]
fn every_file_the_images_copy_exists_in_the_build_context() {
    let ignored = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignored.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    for file in DOCKERFILES {
        for stage in stages(file) {
            for (sources, _) in stage.context_copies() {
                for source in sources {
                    assert!(root().join(&source).exists(), "{file}: COPY {source}: missing");
                    let top = source.trim_start_matches("./").split('/').next().unwrap();
                    assert!(!ignored.contains(&top), "{file}: COPY {source}: excluded by .dockerignore");
                }
            }
        }
    }
}

/// Copies `from` (a file or a directory tree) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// The build stage sees only what it COPYs: a file the build needs but no COPY brings in
/// (profiles/ for include_str!, once) breaks the image and nothing else. This lays out those
/// files alone, as the build stage's WORKDIR, and compiles them there.
#[test]
fn the_build_stages_compile_from_only_what_they_copy() {
    // target/<profile>/hls-ladder: reuse that target directory, so only the crate is checked.
    let target_dir = util::bin().parent().unwrap().parent().unwrap().to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut checked = BTreeSet::new();
    for file in DOCKERFILES {
        let stage = build_stage(file);
        let workdir = stage.args("WORKDIR").last().unwrap_or_else(|| panic!("{file}: no WORKDIR")).to_string();
        let copies = stage.context_copies();
        if !checked.insert(format!("{copies:?}")) {
            continue; // the same files as a Dockerfile already checked
        }
        let dir = tempfile::tempdir().unwrap();
        for (sources, dest) in &copies {
            // Docker: a directory's contents go into dest; files go into dest when it is a
            // directory (trailing slash, or several sources), else become dest.
            let into_directory = dest.ends_with('/') || sources.len() > 1;
            let relative = dest.strip_prefix(&workdir).unwrap_or(dest).trim_start_matches('/');
            let dest = dir.path().join(relative.trim_start_matches("./").trim_end_matches('/'));
            for source in sources {
                let from = root().join(source);
                let to =
                    if from.is_file() && into_directory { dest.join(from.file_name().unwrap()) } else { dest.clone() };
                copy_tree(&from, &to);
            }
        }
        let mut cmd = Command::new(&cargo);
        cmd.args(["check", "--locked", "--quiet", "--bin", "hls-ladder"])
            .current_dir(dir.path())
            .env("CARGO_TARGET_DIR", &target_dir);
        // What cargo set for this test binary: build scripts that watch these (ring watches
        // CARGO_PKG_NAME) would otherwise rebuild here and again in the next normal build.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let from_cargo_test =
                ["CARGO_PKG_", "CARGO_BIN_", "CARGO_MANIFEST_", "CARGO_CRATE_"].iter().any(|p| name.starts_with(p))
                    || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR"].contains(&&*name);
            if from_cargo_test {
                cmd.env_remove(&*name);
            }
        }
        let out = util::run(&mut cmd);
        assert!(
            out.status.success(),
            "{file}: the build stage's COPY lines {copies:?} miss something the build needs\n{}",
            util::describe(&format!("{cmd:?}"), &out)
        );
    }
}

#[test]
fn both_dockerfiles_pass_hadolint() {
    let hadolint = installed("venv/bin/hadolint");
    for file in DOCKERFILES {
        // Warnings fail too; a rule that must be ignored is ignored inline, with the reason.
        run_ok(Command::new(&hadolint).args(["--no-color", "--failure-threshold", "warning"]).arg(root().join(file)));
    }
}

/// The ARM image's binary comes from the recipe scripts/cross-test.sh checks.
#[test]
fn the_arm_build_stage_builds_with_the_cross_build_script() {
    let stage = build_stage("Dockerfile.arm");
    let runs: Vec<&str> = stage.args("RUN").filter(|r| r.contains("scripts/cross-build.sh")).collect();
    assert!(runs.iter().any(|r| !r.contains("--install-only")), "Dockerfile.arm does not build with the script");
    let copied = stage.context_copies().into_iter().flat_map(|(sources, _)| sources).collect::<Vec<_>>();
    assert!(copied.iter().any(|s| s == "scripts/cross-build.sh"), "COPY lines: {copied:?}");
}

// ---- GitHub workflows ----

fn workflows() -> Vec<PathBuf> {
    let dir = root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_github_workflows_pass_actionlint() {
    let actionlint = installed("venv/bin/actionlint");
    let files = workflows();
    assert!(!files.is_empty());
    // With shellcheck on PATH, actionlint also checks every `run:` script.
    run_ok(Command::new(&actionlint).arg("-no-color").args(&files).current_dir(root()));
}

#[test]
fn the_image_workflow_builds_each_platform_from_its_dockerfile_and_smoke_tests_it() {
    let workflow = yaml_documents(&[root().join(".github/workflows/images.yml")], None).remove(0);
    let image = &workflow["jobs"]["image"];
    let built: BTreeMap<String, String> = image["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["platform"].as_str().unwrap().to_string(), m["dockerfile"].as_str().unwrap().to_string()))
        .collect();
    let want =
        [("linux/amd64", "Dockerfile.amd64"), ("linux/arm/v7", "Dockerfile.arm"), ("linux/arm64", "Dockerfile.arm")];
    assert_eq!(built, want.iter().map(|(p, d)| (p.to_string(), d.to_string())).collect());
    let steps = image["steps"].as_array().unwrap();
    let position = |what: &dyn Fn(&Value) -> bool| steps.iter().position(what);
    let uses = |action: &'static str| move |s: &Value| s["uses"].as_str().is_some_and(|u| u.starts_with(action));
    let qemu = position(&uses("docker/setup-qemu-action@")).expect("no QEMU for the ARM images");
    let smoke = position(&|s| {
        let run = s["run"].as_str().unwrap_or_default();
        run.contains("--version") && run.contains("transcode testsrc")
    })
    .expect("no smoke test running --version and a transcode");
    let push = steps.iter().position(|s| s["with"]["outputs"].as_str().is_some_and(|o| o.contains("push=true")));
    let push = push.expect("nothing is pushed");
    assert!(qemu < smoke && smoke < push, "QEMU, then the smoke test, then the push");
    // PyYAML reads YAML 1.1, where a bare `on` key is the boolean true.
    let on = if workflow["on"].is_null() { &workflow["true"] } else { &workflow["on"] };
    let on_tags = on["push"]["tags"].as_array().unwrap();
    assert_eq!(on_tags, &[Value::from("v*")], "releases are tagged v1.2.3");
}

// ---- YAML: compose and Kubernetes ----

/// Every YAML document of the files, as JSON; with a schema, each must satisfy it.
fn yaml_documents(files: &[PathBuf], schema: Option<&Path>) -> Vec<Value> {
    let mut cmd = Command::new(installed("venv/bin/python"));
    cmd.arg(root().join("tests/packaging/yaml_json.py"));
    if let Some(schema) = schema {
        cmd.arg("--schema").arg(schema);
    }
    let out = run_ok(cmd.args(files));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A compose `environment` (list of `K=V` or mapping) or a ConfigMap's `data`, as a map.
fn env_map(value: &Value) -> BTreeMap<String, String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let (k, v) = i.as_str().unwrap().split_once('=').unwrap_or((i.as_str().unwrap(), ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        Value::Object(map) => {
            map.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
        }
        _ => BTreeMap::new(),
    }
}

/// `ws://host:port/path` -> (host, port).
fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap();
    match authority.split_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().unwrap()),
        None => (authority.to_string(), 80),
    }
}

/// The variable a compose value takes, `${NAME:?message}` -> NAME.
fn variable(value: &str) -> &str {
    let inner = value.strip_prefix("${").unwrap_or_else(|| panic!("{value}: not a ${{VARIABLE}}"));
    inner.split([':', '}', '-']).next().unwrap()
}

#[test]
fn the_compose_example_follows_the_spec_and_the_upstream_images() {
    let schema = installed("compose-spec/compose_spec.json");
    let compose = yaml_documents(&[root().join("docker-compose.yml")], Some(&schema)).remove(0);
    let services = compose["services"].as_object().unwrap();
    let env = |name: &str| env_map(&services[name]["environment"]);
    let mut by_image = BTreeMap::new();
    for (name, service) in services {
        let image = service["image"].as_str().unwrap_or_else(|| panic!("{name}: no image"));
        let repository = image.rsplit_once(':').map_or(image, |(r, _)| r);
        let (_, commands) = UPSTREAM_COMMANDS
            .iter()
            .find(|(r, _)| *r == repository)
            .unwrap_or_else(|| panic!("{name}: image {image} is not one the test knows the commands of"));
        let command = match &service["command"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            Value::Array(words) => Some(words.iter().map(|w| w.as_str().unwrap()).collect::<Vec<_>>().join(" ")),
            other => panic!("{name}: command {other}"),
        };
        match command {
            None => {
                assert!(commands.is_empty() || repository == "hls-ladder", "{name}: {image} needs one of {commands:?}")
            }
            Some(command) => assert!(
                commands.contains(&command.as_str()),
                "{name}: {image} has no command {command:?} (it has {commands:?})"
            ),
        }
        by_image.entry(repository.to_string()).or_insert(name.clone());
    }
    for (repository, _) in UPSTREAM_COMMANDS {
        assert!(by_image.contains_key(*repository), "no service runs {repository}");
    }

    // Everything registers with the coordinator, under the one shared secret.
    let coordinator = &by_image["asanrom/tcp-video-streaming"];
    let secret = variable(&env("coordinator")["CONTROL_SECRET"]).to_string();
    for name in services.keys().filter(|n| env(n).contains_key("CONTROL_BASE_URL")) {
        let e = env(name);
        assert_eq!(host_port(&e["CONTROL_BASE_URL"]).0, *coordinator, "{name}: CONTROL_BASE_URL");
        assert_eq!(variable(&e["CONTROL_SECRET"]), secret, "{name}: CONTROL_SECRET");
    }
    // The RTMP server talks to the coordinator, and lets the worker play.
    let rtmp = env(&by_image["asanrom/rtmp-server-rs"]);
    assert_eq!(rtmp.get("CONTROL_USE").map(String::as_str), Some("YES"), "rtmp-server-rs: CONTROL_USE");
    assert!(!rtmp.get("RTMP_PLAY_WHITELIST").cloned().unwrap_or_default().is_empty(), "RTMP_PLAY_WHITELIST");

    // The worker: this repository's image, metrics published, pushing to the CDN.
    let worker_name = &by_image["hls-ladder"];
    let worker = &services[worker_name];
    assert_eq!(worker["build"]["dockerfile"], "Dockerfile.amd64");
    assert_eq!(worker["image"], "hls-ladder:latest");
    assert!(worker["ports"].as_array().unwrap().iter().any(|p| p == "9090:9090"), "metrics port: {}", worker["ports"]);
    let w = env(worker_name);
    assert_eq!(host_port(&w["METRICS_ADDR"]).1, 9090);
    assert_eq!(w["HLS_WS_CDN_ENABLED"], "YES");
    let cdn_name = &by_image["asanrom/hls-websocket-cdn"];
    let cdn = env(cdn_name);
    let cdn_port = cdn.get("HTTP_PORT").map_or(80, |p| p.parse().unwrap());
    assert_eq!(host_port(&w["HLS_WS_CDN_URL"]), (cdn_name.clone(), cdn_port), "HLS_WS_CDN_URL");
    assert_eq!(cdn["PUSH_ALLOWED"], "YES");
    assert_eq!(variable(&w["HLS_WS_CDN_PUSH_SECRET"]), variable(&cdn["PUSH_SECRET"]), "CDN push secret");
    // Docker's stop timeout covers the drain (30 s) and the finalize time (10 s).
    let grace: u64 = worker["stop_grace_period"].as_str().unwrap().trim_end_matches('s').parse().unwrap();
    assert!(grace > 40, "stop_grace_period {grace}s");
}

fn kubernetes_dir() -> PathBuf {
    root().join("deploy/kubernetes")
}

/// The manifests, kustomization.yaml aside.
fn kubernetes_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(kubernetes_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_kubernetes_manifests_pass_kubernetes_validate_strict() {
    let validate = installed("venv/bin/kubernetes-validate");
    let files = kubernetes_files();
    for version in KUBERNETES_VERSIONS {
        run_ok(Command::new(&validate).args(["--strict", "--quiet", "--kubernetes-version", version]).args(&files));
    }
    let kustomization = yaml_documents(&[kubernetes_dir().join("kustomization.yaml")], None).remove(0);
    let listed: BTreeSet<&str> =
        kustomization["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    let present: BTreeSet<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(listed, present.iter().map(String::as_str).collect(), "kustomization.yaml resources");
}

/// A CPU quantity in millicores ("1200m", "2", 0.5).
fn millicores(q: &Value) -> f64 {
    let s = q.as_str().map_or_else(|| q.to_string(), String::from);
    s.strip_suffix('m').map_or_else(|| s.parse::<f64>().unwrap() * 1000.0, |m| m.parse().unwrap())
}

/// A memory quantity in bytes ("768Mi", "1Gi", "500M").
fn bytes(q: &Value) -> f64 {
    let s = q.as_str().map_or_else(|| q.to_string(), String::from);
    let units = [("Ki", 1024f64), ("Mi", 1024f64.powi(2)), ("Gi", 1024f64.powi(3)), ("K", 1e3), ("M", 1e6), ("G", 1e9)];
    for (suffix, factor) in units {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<f64>().unwrap() * factor;
        }
    }
    s.parse().unwrap()
}

#[test]
fn the_kubernetes_deployment_drains_probes_and_fits_its_capacity() {
    let documents = yaml_documents(&kubernetes_files(), None);
    let kind = |k: &str| documents.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k}"));
    let (config_map, secret, deployment) = (kind("ConfigMap"), kind("Secret"), kind("Deployment"));
    let config = env_map(&config_map["data"]);
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let setting = |name: &str, default: u64| config.get(name).map_or(default, |v| v.parse().unwrap());

    // Settings from the ConfigMap, credentials from the Secret only.
    let env_from: Vec<&Value> = container["envFrom"].as_array().unwrap().iter().collect();
    assert!(env_from.iter().any(|e| e["configMapRef"]["name"] == config_map["metadata"]["name"]), "envFrom ConfigMap");
    assert!(env_from.iter().any(|e| e["secretRef"]["name"] == secret["metadata"]["name"]), "envFrom Secret");
    assert!(secret["stringData"].get("CONTROL_SECRET").is_some() || secret["data"].get("CONTROL_SECRET").is_some());
    for key in config.keys() {
        let sensitive = ["SECRET", "TOKEN", "PASSWORD", "_KEY"].iter().any(|s| key.contains(s));
        assert!(!sensitive, "{key} belongs in the Secret, not the ConfigMap");
    }

    // Probes on the metrics port; the drain fits in the grace period.
    let port = &container["ports"][0];
    assert_eq!(port["containerPort"], 9090);
    assert_eq!(host_port(&config["METRICS_ADDR"]).1, 9090);
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert!(get["port"] == port["name"] || get["port"] == 9090, "{probe} port {}", get["port"]);
    }
    let drain = setting("HLS_SHUTDOWN_TIMEOUT_SECONDS", 30) + setting("HLS_FINALIZE_TIMEOUT_SECONDS", 10);
    let grace = pod["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(grace >= drain + 10, "terminationGracePeriodSeconds {grace} leaves no margin over {drain} s of drain");

    // Requests cover SERVER_CAPACITY live default-ladder 720p30 jobs: 1.24 CPU and 243 MB RSS
    // each on the test machine (docs/operating.md "Load"); limits are not below requests.
    let capacity = setting("SERVER_CAPACITY", 0);
    assert!(capacity > 0, "SERVER_CAPACITY must be set: the requests are sized from it");
    let resources = &container["resources"];
    let (requests, limits) = (&resources["requests"], &resources["limits"]);
    assert!(millicores(&requests["cpu"]) >= 1240.0 * capacity as f64, "cpu request for {capacity} jobs");
    assert!(bytes(&requests["memory"]) >= 243e6 * capacity as f64, "memory request for {capacity} jobs");
    assert!(millicores(&limits["cpu"]) >= millicores(&requests["cpu"]));
    assert!(bytes(&limits["memory"]) >= bytes(&requests["memory"]));

    // The image's unprivileged user, a read-only root, writable /data and /tmp.
    let security = &pod["spec"]["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["runAsUser"], UID);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
    let mounts: Vec<&Value> = container["volumeMounts"].as_array().unwrap().iter().map(|m| &m["mountPath"]).collect();
    assert!(mounts.contains(&&Value::from("/data")) && mounts.contains(&&Value::from("/tmp")), "mounts {mounts:?}");

    // Prometheus finds the pods through the Service; the HPA scales this Deployment on CPU.
    let service = kind("Service");
    let annotations = &service["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], "9090");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    for (label, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][label], value, "Service selector {label}");
    }
    let hpa = kind("HorizontalPodAutoscaler");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], deployment["metadata"]["name"]);
    let metric = &hpa["spec"]["metrics"][0];
    assert_eq!((&metric["type"], &metric["resource"]["name"]), (&Value::from("Resource"), &Value::from("cpu")));
}
