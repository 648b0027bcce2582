//! `SERVER_CAPACITY=auto`: the start-up self-benchmark. Two short `transcode` runs of the
//! built-in test source (1280x720, 30 fps) with the job settings in use (encoder, preset,
//! threads): the default ladder, and 426x240 alone. Their CPU time gives the cost model's
//! two coefficients (`supervisor::capacity`); the running jobs correct it later.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::child_protocol::{ChildJob, Event};
use crate::ladder::{Profile, Rendition};
use crate::pipeline::clock::Q;
use crate::pipeline::source::Source;
use crate::pipeline::LadderChoice;
use crate::storage::StorageConfig;
use crate::supervisor::capacity::{assumed_source, pixel_rate, Budget, CostModel, HEADROOM};
use crate::supervisor::ChildConfig;

/// Media seconds per run: long enough that x264's start-up is a small share.
const RUN_SECONDS: u32 = 5;
/// The built-in test source: `transcode testsrc`.
const TESTSRC: (u32, u32, i64) = (1280, 720, 30);

/// One measured run: CPU cores per real-time stream, and the ladder it encoded.
struct Run {
    cores: f64,
    ladder: Vec<Rendition>,
}

/// Measures this machine and returns the admission budget over `cores`.
pub fn measure(children: &ChildConfig, cores: f64) -> anyhow::Result<Budget> {
    let started = Instant::now();
    let full = run(children, None).context("self-benchmark of the default ladder")?;
    let small = run(children, Some("426x240-30")).context("self-benchmark of a 426x240 rendition")?;
    let pixels = |r: &Run| r.ladder.iter().map(|r| pixel_rate(r.encoded_width, r.encoded_height, r.rate)).sum::<f64>();
    let (w, h, fps) = TESTSRC;
    let source = pixel_rate(w, h, Q::from_integer(fps));
    let model = CostModel::from_runs(source, (full.cores, pixels(&full)), (small.cores, pixels(&small)))
        .context("the self-benchmark measured no usable difference between a full ladder and one small rendition")?;
    let unit = model.cost_of_ladder(&Profile::default_builtin().fit(&assumed_source()));
    let budget = Budget::new(model, cores * HEADROOM, unit);
    tracing::info!(
        default_job_cores = format!("{unit:.2}"),
        budget_cores = format!("{:.2}", budget.cores),
        cores,
        encode_ns_per_pixel = format!("{:.3}", model.encode_per_pixel * 1e9),
        decode_ns_per_pixel = format!("{:.3}", model.decode_per_pixel * 1e9),
        capacity = budget.capacity(),
        took_seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "SERVER_CAPACITY=auto: measured this machine; a default-ladder 720p30 job needs this many cores"
    );
    Ok(budget)
}

fn run(children: &ChildConfig, resolutions: Option<&str>) -> anyhow::Result<Run> {
    let dir = std::env::temp_dir().join(format!("hls-ladder-calibrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run_in(children, resolutions, &dir);
    remove_quietly(&dir);
    result
}

/// The document of one calibration run: the worker's own settings, the test source, a
/// private directory, and no CDN push.
fn job(children: &ChildConfig, resolutions: Option<&str>, dir: &Path) -> ChildJob {
    let defaults = &children.defaults;
    let ladder = match resolutions {
        Some(list) => LadderChoice::Items(crate::ladder::parse_list(list).0),
        None => LadderChoice::Profile(Profile::default_builtin()),
    };
    ChildJob {
        channel: "calibrate".into(),
        stream_id: "calibrate".into(),
        source: Source::TestSrc,
        ladder,
        record: false,
        previews: None,
        settings: defaults.settings.clone(),
        storage: StorageConfig::Filesystem { root: dir.to_path_buf(), dir_mode: 0o700, file_mode: 0o600, fsync: false },
        cdn: None,
        max_media: Some(Duration::from_secs(RUN_SECONDS.into())),
        realtime: false,
        resume: None,
    }
}

fn run_in(children: &ChildConfig, resolutions: Option<&str>, dir: &Path) -> anyhow::Result<Run> {
    let before = children_cpu_seconds();
    let (program, first_args) = children.program();
    let mut child = Command::new(program)
        .args(first_args)
        .args(["transcode", "--job", "-", "--events", "jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", children.exe.display()))?;
    // The job line, and stdin stays open: EOF would ask the run to finish early.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(job(children, resolutions, dir).to_line().as_bytes()).context("handing the job over")?;
    let output = child.wait_with_output();
    drop(stdin);
    let output = output.with_context(|| format!("running {}", children.exe.display()))?;
    let cores = (children_cpu_seconds() - before) / f64::from(RUN_SECONDS);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        bail!("transcode failed ({}): {}", output.status, tail.into_iter().rev().collect::<Vec<_>>().join(" | "));
    }
    let ladder = String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| match Event::from_line(line) {
            Ok(Event::Started { renditions, .. }) => Some(renditions),
            _ => None,
        })
        .context("transcode reported no ladder")?;
    Ok(Run { cores, ladder })
}

/// CPU seconds (user and system) of every child this process waited for.
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn remove_quietly(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
