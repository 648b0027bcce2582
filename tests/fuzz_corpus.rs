//! Replays the checked-in `cargo fuzz` corpora (`fuzz/corpus/<target>/`) through the same
//! oracles the fuzz targets run (`hls_ladder::fuzzing`), so a plain `cargo test` on stable
//! keeps every input the fuzzers found interesting, crashes included, passing.

use std::path::Path;

use hls_ladder::fuzzing;

fn replay(target: &str, oracle: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    for path in files {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| oracle(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} ({:?}) breaks the oracle",
            path.display(),
            String::from_utf8_lossy(&data)
        );
    }
}

#[test]
fn control_frame_corpus() {
    replay("control_frame", fuzzing::control_frame);
}

#[test]
fn resolutions_corpus() {
    replay("resolutions", fuzzing::resolutions);
}

#[test]
fn previews_corpus() {
    replay("previews", fuzzing::previews);
}

#[test]
fn child_lines_corpus() {
    replay("child_lines", fuzzing::child_lines);
}

#[test]
fn job_json_corpus() {
    replay("job_json", fuzzing::job_json);
}
