//! The measurement scripts still run end to end and report every figure they promise:
//! `scripts/bench.sh` (with the cost floor, the passthrough case and back-to-back pairs),
//! `scripts/scale_paths.py` and `scripts/latency.sh`. A benchmark is a measurement, so the numbers themselves are not
//! judged here, only that each one is there and is a number; short media and the debug build
//! keep this to a couple of minutes.

use std::path::Path;
use std::process::Command;

/// The cells of the markdown table row that starts with `| first |`.
fn row<'a>(report: &'a str, first: &str) -> Vec<&'a str> {
    let prefix = format!("| {first} |");
    let line = report.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no row {first}:\n{report}"));
    line.trim_matches('|').split('|').map(str::trim).collect()
}

fn number(cell: &str) -> f64 {
    let first = cell.split_whitespace().next().unwrap_or("");
    if first == "inf" {
        return f64::INFINITY;
    }
    first.parse().unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_benchmark_and_the_scaling_measurement_run_and_report_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("scripts/bench.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("BENCH_SKIP_BUILD", "1")
        .env("BENCH_BIN", env!("CARGO_BIN_EXE_hls-ladder"))
        .env("BENCH_SECONDS", "7")
        .env("BENCH_PAIRS", "2")
        .env("BENCH_PASSTHROUGH", "1")
        .env("BENCH_FLOOR", "once")
        .env("BENCH_DIR", dir.path())
        .output()
        .unwrap();
    let log = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");

    let main = read(&dir.path().join("report.md"));
    for figure in ["CPU s per media s", "peak RSS MB"] {
        let cells = row(&main, figure);
        assert!(cells[1..].iter().all(|c| number(c) > 0.0), "{cells:?}");
    }
    assert!(main.contains("CPU hls-ladder / ffmpeg, 2 pairs:") && main.contains("; median "), "{main}");
    // The cost floor (first round only, BENCH_FLOOR=once): every step timed, summed, and
    // hls-ladder's CPU over it.
    for step in ["decode", "scale-854x480", "x264-1280x720-30", "x264-426x240-30~400", "aac", "CPU floor s"] {
        assert!(number(row(&main, step)[1]) > 0.0, "{step}: {main}");
    }
    let ratio = main.split("CPU hls-ladder / floor, 1 round(s): ").nth(1).unwrap_or_else(|| panic!("{main}"));
    assert!(number(ratio.split(';').next().unwrap()) > 0.0, "{main}");
    let rungs = ["1280x720-30", "854x480-30~1400", "640x360-30~800", "426x240-30~400"];
    for rung in rungs {
        // hls-ladder PSNR / avg, kbps, ffmpeg PSNR / avg, kbps.
        let cells = row(&main, rung);
        assert!(number(cells[1]) > 30.0 && number(cells[3]) > 30.0, "{rung}: {cells:?}");
        assert!(number(cells[2]) > 0.0 && number(cells[4]) > 0.0, "{rung}: {cells:?}");
    }

    let pass = read(&dir.path().join("passthrough/report.md"));
    for run in ["hls-ladder copy", "ffmpeg copy", "ffmpeg encode (Go worker's shape)", "ORIGINAL only, copy"] {
        let cells = row(&pass, run);
        assert!(number(cells[1]) > 0.0 && number(cells[3]) > 0.0, "{run}: {cells:?}");
    }
    assert!(pass.contains("hls-ladder copy / ffmpeg copy, 2 pairs:"), "{pass}");
    assert!(pass.contains("hls-ladder copy / Go worker's shape, 2 pairs:"), "{pass}");
    // ORIGINAL is the source's own video in copy mode.
    assert_eq!(number(row(&pass, "1280x720-30")[1]), f64::INFINITY, "{pass}");
    for rung in &rungs[1..] {
        let cells = row(&pass, rung);
        assert!(number(cells[1]) > 30.0 && number(cells[3]) > 30.0, "{rung}: {cells:?}");
    }
    for mode in ["encode", "copy"] {
        // Groups, median and p95 latency.
        let cells = row(&pass, mode);
        assert!(number(cells[1]) >= 1.0 && number(cells[2]) > 0.0 && number(cells[3]) >= number(cells[2]), "{cells:?}");
    }

    let source = dir.path().join("src-720p30-7s.mp4");
    let scale_dir = dir.path().join("scale-paths");
    let out = Command::new("python3")
        .arg("scripts/scale_paths.py")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--repeat", "1", "--source"])
        .arg(&source)
        .arg("--dir")
        .arg(&scale_dir)
        .output()
        .unwrap();
    let log = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    let scale = read(&scale_dir.join("report.md"));
    let rows: Vec<&str> = scale.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| rung")).collect();
    // 854x480: the source; 640x360: the source or 854x480; 426x240: the source, 640x360 or
    // 854x480; four filters each.
    assert_eq!(rows.len(), (1 + 2 + 3) * 4, "{scale}");
    for line in rows {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        // Cost, CPU share, PSNR against two references, kbps.
        assert!(number(cells[3]) >= 0.0 && number(cells[5]) > 30.0 && number(cells[6]) > 30.0, "{line}");
        assert!(number(cells[7]) > 0.0, "{line}");
    }
}

/// `scripts/latency.sh` in its shortest form (one small rung, 1 s of warm-up, 3 s measured,
/// 50 blocked viewers; about 40 s): both cases run, and every figure of latency.json is there
/// and is a number. The numbers are not judged (the LL-HLS player check in tests/serve.rs
/// judges stalls); the kinds are: the ll case plays in lowLatencyMode and counts parts, the
/// ts case neither.
#[test]
fn the_latency_script_runs_both_cases_and_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg("scripts/latency.sh")
        .current_dir(repo)
        .env("LATENCY_SKIP_BUILD", "1")
        .env("LATENCY_BIN", env!("CARGO_BIN_EXE_hls-ladder"))
        .env("LATENCY_SECONDS", "3")
        .env("LATENCY_WARMUP", "1")
        .env("LATENCY_VIEWERS", "50")
        .env("LATENCY_ARGS", "--resolutions 426x240-30")
        .env("LATENCY_DIR", dir.path())
        .env("NODE_PATH", repo.join("target/npm/node_modules"))
        .output()
        .unwrap();
    let log = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    let report = read(&dir.path().join("report.md"));
    assert!(report.contains("| player: delay behind real time, median s |"), "{report}");
    let figures: serde_json::Value = serde_json::from_str(&read(&dir.path().join("latency.json"))).unwrap();
    for (case, low_latency, kind) in [("ll", true, "parts"), ("ts", false, "segments")] {
        let c = &figures["cases"][case];
        let player = &c["player"];
        for figure in ["median_s", "p95_s", "min_s", "max_s", "played_s"] {
            assert!(player[figure].is_number(), "{case} player {figure}: {c}");
        }
        assert!(player["samples"].as_u64().unwrap() > 0 && player["stalls"].is_u64(), "{case}: {c}");
        assert_eq!(player["low_latency_mode"], low_latency, "{case}: {c}");
        assert_eq!(player["playlist"].is_object(), low_latency, "{case}: {c}");
        let origin = &c["origin"];
        assert_eq!(origin["kind"], kind, "{case}: {c}");
        assert!(origin["count"].as_u64().unwrap() > 0, "{case}: {c}");
        for figure in ["median_s", "p95_s", "max_s", "drift_s"] {
            assert!(origin[figure].is_number(), "{case} origin {figure}: {c}");
        }
    }
    // The origin's cost with blocked viewers (scripts/origin-load.py against a serve process
    // of its own): every viewer answered correctly, memory and CPU sampled.
    let load = &figures["cases"]["ll"]["origin_load"];
    assert_eq!((&load["answered"], &load["correct"]), (&50.into(), &50.into()), "{load}\n{report}");
    assert!(load["memory_kb"]["held"].as_u64().unwrap() > 0 && load["cpu_s"]["answer"].is_number(), "{load}");
}
