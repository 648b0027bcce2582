//! Load: N live 720p30 streams through nginx-rtmp into one worker (fake coordinator), against
//! N `ffmpeg` CLI processes producing the same ladder from the same ingest (the Go worker's
//! shape), measured in the same run. `scripts/load.sh` runs the full sweep and writes the
//! report; CI runs the short case below. A measurement, not a benchmark of absolute speed:
//! each row says whether every stream kept up, what the whole process tree used, and what
//! the worker shed or refused.
//!
//! Settings (environment): LOAD_STREAMS (e.g. "1 2 3"), LOAD_SECONDS (measured window),
//! LOAD_WARMUP (seconds before measuring), LOAD_CAPACITY (SERVER_CAPACITY: -1 or auto),
//! LOAD_FFMPEG (1: also run the ffmpeg processes), LOAD_REPORT (markdown file to append to).
//!
//! The deep-overload row (`deep_overload`): LOAD_DEEP_STREAMS (3) streams on a worker pinned
//! with `taskset` to LOAD_DEEP_CPUS (one core, "0"), for LOAD_DEEP_SECONDS (90); LOAD_DEEP_BINS
//! names the worker binaries to compare (default: this build), e.g. an older build first.

pub mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::fake_coordinator::FakeCoordinator;
use support::util::{bin, make_media, Nginx};

const SECRET: &str = "s";
const KEY: &str = "loadkey";
/// Segment duration of both the worker and ffmpeg, and the source's GOP.
const HLS_TIME: u64 = 2;

/// One row of the report.
#[derive(Debug)]
struct Row {
    who: &'static str,
    streams: usize,
    capacity: String,
    /// Streams that published at least window/T − 1 segments of their smallest rendition.
    kept_up: usize,
    /// Streams the worker took (the others were refused `OVER_CAPACITY`).
    admitted: usize,
    /// CPU seconds per wall second of the whole process tree (cores).
    cores: f64,
    rss_mb: f64,
    shed: usize,
    refused: usize,
}

impl Row {
    fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {}/{} | {:.2} | {:.2} | {:.0} | {} | {} |",
            self.who,
            self.streams,
            self.capacity,
            self.kept_up,
            self.admitted,
            self.cores,
            self.cores / self.admitted.max(1) as f64,
            self.rss_mb,
            self.shed,
            self.refused
        )
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A 20 s 720p30 H.264 (2 s GOP, as OBS is set up for streaming platforms) + AAC file,
/// published in a loop with `-c copy`, so the publishers cost almost no CPU.
fn source(dir: &Path) -> PathBuf {
    let path = dir.join("source.flv");
    let gop = (30 * HLS_TIME).to_string();
    make_media(
        &path,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "3000k",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "flv",
        ],
    );
    path
}

fn publish(file: &Path, url: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(file)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .spawn()
        .expect("ffmpeg publisher")
}

/// CPU seconds (user + system) of `root` and its descendants, live and reaped, and their
/// resident memory.
fn tree_usage(root: u32) -> (f64, f64) {
    let tick = 100.0; // USER_HZ on Linux
    let mut stats = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let after: Vec<&str> = stat[stat.rfind(')').map_or(0, |i| i + 2)..].split(' ').collect();
        let field = |i: usize| after.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // state ppid ... utime(11) stime(12) cutime(13) cstime(14) ... rss(21, pages)
        let ppid = field(1) as u32;
        let cpu = (field(11) + field(12) + field(13) + field(14)) / tick;
        stats.insert(pid, (ppid, cpu, field(21) * 4096.0));
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(stats.iter().filter(|(_, (ppid, _, _))| *ppid == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    tree.iter().filter_map(|p| stats.get(p)).fold((0.0, 0.0), |(c, r), (_, cpu, rss)| (c + cpu, r + rss))
}

/// The highest segment number a live playlist lists, if any.
fn newest_segment(playlist: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(playlist).ok()?;
    text.lines()
        .filter(|l| l.ends_with(".ts"))
        .filter_map(|l| l.rsplit('/').next()?.trim_end_matches(".ts").parse().ok())
        .max()
}

/// The smallest rendition directory of a stream (the one never shed).
fn smallest_rendition(stream: &Path) -> Option<PathBuf> {
    let area = |p: &PathBuf| -> u64 {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let size = name.split('-').next().unwrap_or("");
        let mut wh = size.split('x').map(|v| v.parse::<u64>().unwrap_or(u64::MAX));
        wh.next().unwrap_or(u64::MAX).saturating_mul(wh.next().unwrap_or(u64::MAX))
    };
    std::fs::read_dir(stream).ok()?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).min_by_key(area)
}

/// How many streams published at least window/T − 1 segments between the two snapshots.
fn kept_up(before: &[Option<u64>], after: &[Option<u64>], window: Duration) -> usize {
    let expected = window.as_secs() / HLS_TIME;
    before
        .iter()
        .zip(after)
        .filter(|(b, a)| match (b, a) {
            (Some(b), Some(a)) => a.saturating_sub(*b) + 1 >= expected,
            (None, Some(a)) => a + 1 >= expected,
            _ => false,
        })
        .count()
}

/// The default ladder as the worker chose it for this source: `WxH-FPS[~kbps]` labels.
fn ladder_of(stream: &Path) -> Vec<(u32, u32, Option<u32>)> {
    let mut labels: Vec<(u32, u32, Option<u32>)> = std::fs::read_dir(stream)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let (size, kbps) = match name.split_once('~') {
                Some((s, k)) => (s.to_string(), k.parse().ok()),
                None => (name.clone(), None),
            };
            let (w, rest) = size.split_once('x')?;
            let h = rest.split('-').next()?;
            Some((w.parse().ok()?, h.parse().ok()?, kbps))
        })
        .collect();
    labels.sort_by_key(|(w, h, _)| std::cmp::Reverse(w * h));
    labels
}

/// One `ffmpeg` process doing the ladder for one stream: decode once, scale each rung from
/// the source, libx264 veryfast with keyframes on the segment grid, AAC per output, HLS.
fn ffmpeg_ladder(url: &str, ladder: &[(u32, u32, Option<u32>)], out: &Path) -> Child {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-i", url]);
    let splits: String = (0..ladder.len()).map(|i| format!("[v{i}]")).collect();
    let mut graph = format!("[0:v]split={}{splits}", ladder.len());
    for (i, (w, h, _)) in ladder.iter().enumerate() {
        graph.push_str(&format!(";[v{i}]scale={w}:{h}[o{i}]"));
    }
    cmd.args(["-filter_complex", &graph]);
    for (i, (_, _, kbps)) in ladder.iter().enumerate() {
        let dir = out.join(i.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        cmd.args(["-map", &format!("[o{i}]"), "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23"]);
        if let Some(k) = kbps {
            cmd.args(["-maxrate", &format!("{k}k"), "-bufsize", &format!("{}k", 2 * k)]);
        }
        cmd.args(["-force_key_frames", &format!("expr:gte(t,n_forced*{HLS_TIME})"), "-sc_threshold", "0"]);
        cmd.args(["-c:a", "aac", "-b:a", "128k", "-f", "hls", "-hls_time", &HLS_TIME.to_string()]);
        cmd.args(["-hls_list_size", "6", "-hls_flags", "delete_segments"]);
        cmd.arg(dir.join("live.m3u8"));
    }
    cmd.stdin(Stdio::null()).spawn().expect("ffmpeg ladder")
}

fn encode_start(channel: &str, id: &str, uri: &str) -> String {
    format!(
        "ENCODE-START\nStream-Channel:{channel}\nStream-ID:{id}\nStream-Source-Type:RTMP\nStream-Source-URI:{uri}\n\
         Resolutions:\nRecord:False\nPreviews:False\n"
    )
}

/// The worker with N streams, each asking for the default profile's ladder.
async fn run_worker(
    n: usize,
    capacity: &str,
    file: &Path,
    warmup: Duration,
    window: Duration,
) -> (Row, Vec<(u32, u32, Option<u32>)>) {
    let channels: Vec<String> = (0..n).map(|i| format!("load{i}")).collect();
    let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
    let nginx = Nginx::start(&refs);
    let fake = FakeCoordinator::start(SECRET, Duration::from_secs(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    std::fs::create_dir(&storage).unwrap();
    let log = std::fs::File::create(dir.path().join("worker.log")).unwrap();
    let mut worker = Command::new(bin())
        .arg("worker")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("CONTROL_BASE_URL", fake.base_url())
        .env("CONTROL_SECRET", SECRET)
        .env("HLS_FILESYSTEM_PATH", &storage)
        .env("HLS_TIME_SECONDS", HLS_TIME.to_string())
        .env("SERVER_CAPACITY", capacity)
        // The figures compare with ffmpeg encoding the source's audio: keep encoding it
        // (the shipped `auto` would copy the publisher's AAC into every rung).
        .env("HLS_ORIGINAL_MODE", "encode")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let registered = fake.wait_for(Duration::from_secs(60), |f| f.iter().any(|r| r.method == "REGISTER")).await;
    assert!(registered, "worker never registered");
    let profile = default_ladder_request();
    let mut publishers = Vec::new();
    for (i, channel) in channels.iter().enumerate() {
        let url = nginx.url(channel, KEY);
        publishers.push(publish(file, &url));
        let start = encode_start(channel, &format!("{:032x}", i + 1), &url)
            .replace("Resolutions:\n", &format!("Resolutions:{profile}\n"));
        fake.send_text(&start);
    }
    tokio::time::sleep(warmup).await;
    let streams: Vec<PathBuf> =
        (0..n).map(|i| storage.join("hls").join(&channels[i]).join(format!("{:032x}", i + 1))).collect();
    let smallest: Vec<Option<PathBuf>> = streams.iter().map(|s| smallest_rendition(s)).collect();
    let snapshot = || -> Vec<Option<u64>> {
        smallest.iter().map(|p| p.as_ref().and_then(|p| newest_segment(&p.join("live.m3u8")))).collect()
    };
    let (cpu0, _) = tree_usage(worker.id());
    let before = snapshot();
    let started = Instant::now();
    let mut rss: f64 = 0.0;
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss = rss.max(tree_usage(worker.id()).1);
    }
    let (cpu1, _) = tree_usage(worker.id());
    let after = snapshot();
    let elapsed = started.elapsed();
    let text = std::fs::read_to_string(dir.path().join("worker.log")).unwrap_or_default();
    let shed = text.lines().filter(|l| l.contains("shedding this rendition")).count();
    let frames = fake.frames();
    let refused =
        frames.iter().filter(|f| f.method == "STREAM-CLOSED" && f.param("Error-Code") == Some("OVER_CAPACITY")).count();
    let ladder = streams.first().map(|s| ladder_of(s)).unwrap_or_default();
    let _ = worker.kill();
    let _ = worker.wait();
    for mut p in publishers {
        let _ = p.kill();
        let _ = p.wait();
    }
    let row = Row {
        who: "hls-ladder",
        streams: n,
        capacity: capacity.to_string(),
        kept_up: kept_up(&before, &after, elapsed),
        admitted: n - refused.min(n),
        cores: (cpu1 - cpu0) / elapsed.as_secs_f64(),
        rss_mb: rss / 1e6,
        shed,
        refused,
    };
    (row, ladder)
}

/// The built-in default profile's rungs for a 720p30 source, as an explicit request (the
/// coordinator's own default would be ORIGINAL alone).
fn default_ladder_request() -> String {
    use hls_ladder::ladder::{Profile, SourceVideo};
    let fps = num_rational::Ratio::from_integer(30);
    let source = SourceVideo { width: 1280, height: 720, avg_rate: Some(fps), base_rate: Some(fps) };
    let labels: Vec<String> = Profile::default_builtin().fit(&source).into_iter().map(|r| r.label).collect();
    labels.join(",")
}

async fn run_ffmpeg(
    n: usize,
    file: &Path,
    ladder: &[(u32, u32, Option<u32>)],
    warmup: Duration,
    window: Duration,
) -> Row {
    let channels: Vec<String> = (0..n).map(|i| format!("ff{i}")).collect();
    let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
    let nginx = Nginx::start(&refs);
    let dir = tempfile::tempdir().unwrap();
    // One parent holds the ffmpeg processes so that their tree is measured as one.
    let mut publishers = Vec::new();
    let mut ladders = Vec::new();
    for channel in &channels {
        let url = nginx.url(channel, KEY);
        publishers.push(publish(file, &url));
        tokio::time::sleep(Duration::from_millis(300)).await;
        ladders.push(ffmpeg_ladder(&url, ladder, &dir.path().join(channel)));
    }
    tokio::time::sleep(warmup).await;
    let smallest: Vec<PathBuf> =
        channels.iter().map(|c| dir.path().join(c).join((ladder.len() - 1).to_string())).collect();
    let newest = |p: &Path| -> Option<u64> {
        std::fs::read_dir(p)
            .ok()?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name.strip_prefix("live")?.strip_suffix(".ts")?.parse().ok()
            })
            .max()
    };
    let pids: Vec<u32> = ladders.iter().map(Child::id).collect();
    let cpu = || pids.iter().map(|p| tree_usage(*p).0).sum::<f64>();
    let cpu0 = cpu();
    let before: Vec<Option<u64>> = smallest.iter().map(|p| newest(p)).collect();
    let started = Instant::now();
    let mut rss: f64 = 0.0;
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss = rss.max(pids.iter().map(|p| tree_usage(*p).1).sum());
    }
    let cpu1 = cpu();
    let after: Vec<Option<u64>> = smallest.iter().map(|p| newest(p)).collect();
    let elapsed = started.elapsed();
    for mut c in ladders.into_iter().chain(publishers) {
        let _ = c.kill();
        let _ = c.wait();
    }
    Row {
        who: "ffmpeg ×N",
        streams: n,
        capacity: "-".into(),
        kept_up: kept_up(&before, &after, elapsed),
        admitted: n,
        cores: (cpu1 - cpu0) / elapsed.as_secs_f64(),
        rss_mb: rss / 1e6,
        shed: 0,
        refused: 0,
    }
}

const HEADER: &str =
    "| process | streams | SERVER_CAPACITY | kept up / admitted | cores | cores per admitted stream | RSS MB | shed | refused |\n\
                      |---|---|---|---|---|---|---|---|---|";

async fn sweep(counts: &[usize], capacities: &[String], ffmpeg: bool, warmup: Duration, window: Duration) -> Vec<Row> {
    let work = tempfile::tempdir().unwrap();
    let file = source(work.path());
    let mut rows = Vec::new();
    for &n in counts {
        let mut ladder = Vec::new();
        for capacity in capacities {
            let (row, l) = run_worker(n, capacity, &file, warmup, window).await;
            println!("{}", row.markdown());
            rows.push(row);
            ladder = l;
        }
        if ffmpeg && !ladder.is_empty() {
            let row = run_ffmpeg(n, &file, &ladder, warmup, window).await;
            println!("{}", row.markdown());
            rows.push(row);
        }
    }
    rows
}

/// The full sweep (`scripts/load.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes of load; run with scripts/load.sh"]
async fn load_sweep() {
    let counts: Vec<usize> = env_or("LOAD_STREAMS", "1 2 3").split_whitespace().map(|n| n.parse().unwrap()).collect();
    let capacities: Vec<String> = env_or("LOAD_CAPACITY", "-1 auto").split_whitespace().map(String::from).collect();
    let window = Duration::from_secs(env_or("LOAD_SECONDS", "40").parse().unwrap());
    let warmup = Duration::from_secs(env_or("LOAD_WARMUP", "20").parse().unwrap());
    let ffmpeg = env_or("LOAD_FFMPEG", "1") == "1";
    println!("{HEADER}");
    let rows = sweep(&counts, &capacities, ffmpeg, warmup, window).await;
    let report = std::path::PathBuf::from(env_or("LOAD_REPORT", "target/load/report.md"));
    if let Some(dir) = report.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let table: Vec<String> = rows.iter().map(Row::markdown).collect();
    std::fs::write(&report, format!("{HEADER}\n{}\n", table.join("\n"))).unwrap();
    assert_eq!(rows.len(), counts.len() * (capacities.len() + usize::from(ffmpeg)));
}

/// CI's short case: one stream, both ways, a short window. The harness must see the stream
/// publish and both process trees use CPU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_under_the_load_harness() {
    println!("{HEADER}");
    let rows = sweep(&[1], &["-1".to_string()], true, Duration::from_secs(8), Duration::from_secs(10)).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert!(row.cores > 0.1, "{row:?}");
        assert!(row.rss_mb > 10.0, "{row:?}");
    }
    assert_eq!(rows[0].refused, 0);
}

/// The deep-overload row of one worker binary.
#[derive(Debug)]
struct DeepRow {
    binary: String,
    streams: usize,
    cpus: String,
    /// Seconds from the ENCODE-STARTs to REGISTER Capacity:0.
    zero_after: Option<f64>,
    /// Seconds from the ENCODE-STARTs until every stream kept pace for the rest of the run.
    pace_after: Option<f64>,
    /// Renditions shed, per stream.
    shed: Vec<usize>,
    /// Times a stream dropped whole GOPs to get back to its live edge.
    gop_drops: usize,
}

impl DeepRow {
    fn markdown(&self) -> String {
        let secs = |s: Option<f64>| s.map_or("never".to_string(), |s| format!("{s:.0} s"));
        let shed: Vec<String> = self.shed.iter().map(usize::to_string).collect();
        format!(
            "| {} | {} | {} | {} | {} | {} ({}) | {} |",
            self.binary,
            self.streams,
            self.cpus,
            secs(self.zero_after),
            secs(self.pace_after),
            self.shed.iter().sum::<usize>(),
            shed.join(" + "),
            self.gop_drops
        )
    }
}

const DEEP_HEADER: &str = "| worker binary | streams | taskset CPUs | Capacity:0 after | every stream keeps pace after | renditions shed (per stream) | GOP drops |\n\
                           |---|---|---|---|---|---|---|";

/// A stream keeps pace at `t` when its smallest rendition published at least
/// `PACE_WINDOW / T - 1` segments in the `PACE_WINDOW` before.
const PACE_WINDOW: usize = 10;

/// Three default-ladder 720p30 streams on a worker pinned to fewer cores than they need.
async fn run_deep(binary: &Path, n: usize, cpus: &str, file: &Path, seconds: u64) -> DeepRow {
    let channels: Vec<String> = (0..n).map(|i| format!("deep{i}")).collect();
    let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
    let nginx = Nginx::start(&refs);
    let fake = FakeCoordinator::start(SECRET, Duration::from_secs(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    std::fs::create_dir(&storage).unwrap();
    let log = std::fs::File::create(dir.path().join("worker.log")).unwrap();
    // Its children inherit the affinity: the whole job tree shares these cores.
    let mut worker = Command::new("taskset")
        .args(["-c", cpus])
        .arg(binary)
        .arg("worker")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("CONTROL_BASE_URL", fake.base_url())
        .env("CONTROL_SECRET", SECRET)
        .env("HLS_FILESYSTEM_PATH", &storage)
        .env("HLS_TIME_SECONDS", HLS_TIME.to_string())
        .env("SERVER_CAPACITY", "-1")
        // docs/overload.md's figures were measured with the publisher's audio encoded.
        .env("HLS_ORIGINAL_MODE", "encode")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("taskset (util-linux) runs the worker");
    let registered = fake.wait_for(Duration::from_secs(60), |f| f.iter().any(|r| r.method == "REGISTER")).await;
    assert!(registered, "worker never registered");
    let profile = default_ladder_request();
    let mut publishers = Vec::new();
    let t0 = tokio::time::Instant::now();
    for (i, channel) in channels.iter().enumerate() {
        let url = nginx.url(channel, KEY);
        publishers.push(publish(file, &url));
        let start = encode_start(channel, &format!("{:032x}", i + 1), &url)
            .replace("Resolutions:\n", &format!("Resolutions:{profile}\n"));
        fake.send_text(&start);
    }
    let streams: Vec<PathBuf> =
        (0..n).map(|i| storage.join("hls").join(&channels[i]).join(format!("{:032x}", i + 1))).collect();
    // Newest segment of each stream's smallest rendition, once a second.
    let mut samples: Vec<Vec<Option<u64>>> = Vec::new();
    for second in 1..=seconds {
        tokio::time::sleep_until(t0 + Duration::from_secs(second)).await;
        samples.push(
            streams.iter().map(|s| smallest_rendition(s).and_then(|p| newest_segment(&p.join("live.m3u8")))).collect(),
        );
    }
    let text = std::fs::read_to_string(dir.path().join("worker.log")).unwrap_or_default();
    let zero_after = fake
        .frames()
        .iter()
        .find(|r| r.text == "REGISTER\nCapacity:0\n")
        .map(|r| r.at.saturating_duration_since(t0).as_secs_f64());
    let shed = (0..n)
        .map(|i| {
            let id = format!("{:032x}", i + 1);
            text.lines().filter(|l| l.contains("shedding this rendition") && l.contains(&id)).count()
        })
        .collect();
    let gop_drops = text.lines().filter(|l| l.contains("dropping whole GOPs")).count();
    let _ = worker.kill();
    let _ = worker.wait();
    for mut p in publishers {
        let _ = p.kill();
        let _ = p.wait();
    }
    DeepRow {
        binary: binary.file_name().unwrap().to_string_lossy().to_string(),
        streams: n,
        cpus: cpus.to_string(),
        zero_after,
        pace_after: pace_after(&samples),
        shed,
        gop_drops,
    }
}

/// From when every stream kept pace to the end of the samples (one per second): its smallest
/// rendition published `PACE_WINDOW / T - 1` segments in every `PACE_WINDOW` seconds; the
/// time is the end of the first such window.
fn pace_after(samples: &[Vec<Option<u64>>]) -> Option<f64> {
    let expected = PACE_WINDOW as u64 / HLS_TIME - 1;
    let keeps = |t: usize| {
        let (before, now) = (&samples[t - PACE_WINDOW], &samples[t]);
        before.iter().zip(now).all(|(b, a)| match (b, a) {
            (Some(b), Some(a)) => a.saturating_sub(*b) >= expected,
            (None, Some(a)) => *a + 1 >= expected,
            _ => false,
        })
    };
    let last = samples.len().checked_sub(1)?;
    if last < PACE_WINDOW || !keeps(last) {
        return None;
    }
    let mut from = last;
    while from > PACE_WINDOW && keeps(from - 1) {
        from -= 1;
    }
    // Sample `t` is taken `t + 1` seconds in: the end of the first window at pace, so the
    // figure is conservative by up to a window.
    Some((from + 1) as f64)
}

/// The deep-overload row (`scripts/load.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes of load; run with scripts/load.sh"]
async fn deep_overload() {
    let n: usize = env_or("LOAD_DEEP_STREAMS", "3").parse().unwrap();
    let cpus = env_or("LOAD_DEEP_CPUS", "0");
    let seconds: u64 = env_or("LOAD_DEEP_SECONDS", "90").parse().unwrap();
    let this = bin().display().to_string();
    let binaries: Vec<PathBuf> = env_or("LOAD_DEEP_BINS", &this).split_whitespace().map(PathBuf::from).collect();
    let work = tempfile::tempdir().unwrap();
    let file = source(work.path());
    println!("{DEEP_HEADER}");
    let mut rows = Vec::new();
    for binary in &binaries {
        let row = run_deep(binary, n, &cpus, &file, seconds).await;
        println!("{}", row.markdown());
        rows.push(row.markdown());
    }
    let report = std::path::PathBuf::from(env_or("LOAD_DEEP_REPORT", "target/load/deep.md"));
    if let Some(dir) = report.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&report, format!("{DEEP_HEADER}\n{}\n", rows.join("\n"))).unwrap();
    assert_eq!(rows.len(), binaries.len());
}

#[test]
fn a_stream_keeps_pace_from_the_window_after_which_it_never_fell_short() {
    // One stream, a segment per 2 s from second 20 on, nothing before but segment 0.
    let samples: Vec<Vec<Option<u64>>> =
        (0..60u64).map(|t| vec![Some(if t < 20 { 0 } else { (t - 20) / 2 + 1 })]).collect();
    // The first 10 s window with four segments ends at sample 26, taken 27 s in.
    assert_eq!(pace_after(&samples), Some(27.0));
    // Never keeps pace: never.
    let stuck: Vec<Vec<Option<u64>>> = (0..60).map(|_| vec![Some(3)]).collect();
    assert_eq!(pace_after(&stuck), None);
}
