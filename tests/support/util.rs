//! Test harness: the real binary, nginx with the RTMP module on a free loopback port, the
//! ffmpeg CLI as publisher and ffprobe as an independent HLS client.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hls-ladder"))
}

/// The ORIGINAL mode the harness pins when a test does not choose one. These tests were written
/// when `encode` was the default (their segment lengths, audio bit rates and CPU assume it);
/// the shipped default, `auto`, has its own tests, which use the `_as_shipped` helpers.
pub const PINNED_ORIGINAL_MODE: [&str; 2] = ["--original-mode", "encode"];

/// `args` with [`PINNED_ORIGINAL_MODE`] in front unless they choose a mode themselves.
pub fn pinned<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let chosen = args.contains(&"--original-mode");
    PINNED_ORIGINAL_MODE.iter().copied().filter(|_| !chosen).chain(args.iter().copied()).collect()
}

/// The job document a worker started with `flags` (its job, storage and CDN settings, e.g.
/// `["--hls-time", "1", "--storage-type", "HTTP", ...]`; ORIGINAL encoded unless they say
/// otherwise, see [`PINNED_ORIGINAL_MODE`]) sends the child of an RTMP job: one line for
/// `transcode --job -`. Built by the worker's own code, so the test exercises the same
/// validation and the same document.
pub fn rtmp_job(channel: &str, stream_id: &str, uri: &str, resolutions: &str, record: bool, flags: &[&str]) -> String {
    use clap::Parser;
    use hls_ladder::child_protocol::{ChildJob, JobSpec, SourceKind};
    use hls_ladder::config::{WorkerArgs, WorkerConfig};

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        worker: WorkerArgs,
    }
    let flags = pinned(flags);
    let argv = ["worker", "--control-base-url", "ws://127.0.0.1:9"].iter().chain(&flags);
    let config = WorkerConfig::from_args(Flags::parse_from(argv).worker, |_| None).expect("valid worker settings");
    let spec = JobSpec {
        channel: channel.into(),
        stream_id: stream_id.into(),
        source: SourceKind::Rtmp,
        source_uri: uri.into(),
        resolutions: resolutions.into(),
        record,
        previews: None,
    };
    let ladder = hls_ladder::ladder::parse_list(resolutions).0;
    ChildJob::for_run(&spec, ladder, &config.children.defaults, None).to_line()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs a command to completion; panics with its command line, stdout and stderr on failure
/// to start.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

pub fn describe(cmd: &str, out: &Output) -> String {
    format!(
        "{cmd}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `hls-ladder transcode INPUT OUT --events jsonl ARGS...`, ORIGINAL encoded unless `args`
/// choose a mode (see [`PINNED_ORIGINAL_MODE`]).
pub fn transcode(input: &str, out: &Path, args: &[&str]) -> (Output, Vec<Value>, String) {
    transcode_as_shipped(input, out, &pinned(args))
}

/// [`transcode`] with the shipped defaults: only `args` on top.
pub fn transcode_as_shipped(input: &str, out: &Path, args: &[&str]) -> (Output, Vec<Value>, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("transcode").arg(input).arg(out).args(["--events", "jsonl"]).args(args);
    cmd.env_remove("RUST_LOG").env_remove("HLS_ORIGINAL_MODE");
    let output = run(&mut cmd);
    let text = describe(&format!("{cmd:?}"), &output);
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad event line {l:?}: {e}\n{text}")))
        .collect();
    (output, events, text)
}

pub fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The synthetic source of the test publishers and test files, as ffmpeg input arguments:
/// the lavfi `video` filter (e.g. `testsrc2=size=320x180:rate=15`) and, with `tone`, a 440 Hz
/// sine at 44.1 kHz.
pub fn lavfi_inputs(video: &str, tone: bool) -> Vec<String> {
    let mut args = vec!["-f", "lavfi", "-i", video];
    if tone {
        args.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    }
    args.into_iter().map(String::from).collect()
}

/// Decodes every stream of `path` (a playlist or a media file) with the ffmpeg CLI as an
/// independent player: whether it succeeded, and what it reported at level error.
pub fn play(path: &Path) -> (bool, String) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-i"]).arg(path).args(["-map", "0", "-f", "null", "-"]);
    let out = run(&mut cmd);
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Generates a media file with the ffmpeg CLI.
pub fn make_media(path: &Path, args: &[impl AsRef<std::ffi::OsStr>]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"]).args(args).arg(path);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", describe(&format!("{cmd:?}"), &out));
}

/// An MPEG-TS whose video changes size mid-stream: 3 s of 640x360 then 3 s of 480x480 (H.264,
/// a keyframe every second, no B-frames: with them the second part's first timestamps would
/// overlap the first's), the two parts concatenated byte for byte as a live source would
/// send them. Written to `dir/joined.ts`.
pub fn make_resolution_change(dir: &Path) -> PathBuf {
    let (a, b) = (dir.join("a.ts"), dir.join("b.ts"));
    let common = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-f", "mpegts"];
    make_media(&a, &[&["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "3"][..], &common].concat());
    make_media(
        &b,
        &[&["-f", "lavfi", "-i", "testsrc2=size=480x480:rate=30", "-t", "3", "-output_ts_offset", "3"][..], &common]
            .concat(),
    );
    let joined = dir.join("joined.ts");
    std::fs::write(&joined, [std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap()].concat()).unwrap();
    joined
}

/// Converts an HLS playlist to one MP4 with `ffmpeg -c copy`, as a user keeps a recording:
/// whether it succeeded, and what ffmpeg said at warning level or above (nothing, when the
/// timeline is sound).
pub fn to_mp4(playlist: &Path, mp4: &Path) -> (bool, String) {
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "warning", "-y", "-i"])
        .arg(playlist)
        .args(["-c", "copy"])
        .arg(mp4));
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// ffprobe as JSON.
pub fn ffprobe(path: &Path, args: &[&str]) -> Value {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-of", "json"]).args(args).arg(path);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", describe(&format!("{cmd:?}"), &out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (width, height, avg_frame_rate) of the first video stream.
pub fn video_geometry(path: &Path) -> (u64, u64, String) {
    let v = ffprobe(path, &["-select_streams", "v:0", "-show_entries", "stream=width,height,avg_frame_rate"]);
    let s = &v["streams"][0];
    (s["width"].as_u64().unwrap(), s["height"].as_u64().unwrap(), s["avg_frame_rate"].as_str().unwrap().to_string())
}

/// Whether the first video frame of a segment is a keyframe, and its presentation time.
pub fn first_video_frame(path: &Path) -> (bool, f64) {
    let v = ffprobe(
        path,
        &["-select_streams", "v:0", "-read_intervals", "%+#1", "-show_entries", "frame=key_frame,pict_type,pts_time"],
    );
    let f = &v["frames"][0];
    (f["key_frame"].as_i64() == Some(1), f["pts_time"].as_str().unwrap().parse().unwrap())
}

/// Keyframe flags of every video frame in a segment.
pub fn keyframes(path: &Path) -> Vec<bool> {
    let v = ffprobe(path, &["-select_streams", "v:0", "-show_entries", "frame=key_frame"]);
    v["frames"].as_array().unwrap().iter().map(|f| f["key_frame"].as_i64() == Some(1)).collect()
}

/// Entries (duration, uri) of a media playlist, and whether it has ENDLIST.
pub fn playlist_entries(path: &Path) -> (Vec<(f64, String)>, bool) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut entries = Vec::new();
    let mut duration = None;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = Some(d.trim_end_matches(',').parse::<f64>().unwrap());
        } else if !line.starts_with('#') && !line.is_empty() {
            entries.push((duration.take().expect("EXTINF before URI"), line.to_string()));
        }
    }
    (entries, text.contains("#EXT-X-ENDLIST"))
}

pub fn tag_value(text: &str, tag: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(tag).map(|v| v.trim_start_matches(':').to_string()))
}

/// nginx with the RTMP module, one application per channel, on a free loopback port.
pub struct Nginx {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(channels: &[&str]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let apps: String = channels
            .iter()
            .map(|c| format!("    application {c} {{ live on; publish_notify on; play_restart on; }}\n"))
            .collect();
        let conf = format!(
            "{}events {{ worker_connections 128; }}\n\
             rtmp {{\n  server {{\n    listen 127.0.0.1:{port};\n    chunk_size 4096;\n{apps}  }}\n}}\n",
            nginx_conf_head(dir.path())
        );
        let child = spawn_nginx(dir.path(), &conf, "nginx is installed by scripts/install-deps.sh");
        let nginx = Nginx { port, child, dir };
        wait_for_port(port, Duration::from_secs(10));
        nginx
    }

    pub fn url(&self, channel: &str, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{channel}/{key}", self.port)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_for_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port} after {timeout:?}");
}

/// The start of every test nginx configuration: in the foreground as one process, its pid file
/// and error log in `dir`, the RTMP module loaded.
pub fn nginx_conf_head(dir: &Path) -> String {
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n",
        d = dir.display()
    )
}

/// Runs nginx on the configuration `conf`, written to `dir/nginx.conf`, with `dir` as its
/// prefix; `installed` says what provides it, should it not start.
pub fn spawn_nginx(dir: &Path, conf: &str, installed: &str) -> Child {
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect(installed)
}

/// The ffmpeg CLI publishing a synthetic stream in real time, like OBS would.
pub struct RtmpPublisher {
    child: Child,
}

impl RtmpPublisher {
    /// `video`: lavfi testsrc2 options, e.g. "size=640x360:rate=30"; `audio`: with a tone.
    pub fn start(url: &str, video: &str, audio: bool, seconds: u32) -> RtmpPublisher {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-re"]).args(lavfi_inputs(&format!("testsrc2={video}"), audio));
        cmd.args([
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
        ]);
        cmd.args(["-pix_fmt", "yuv420p"]);
        if audio {
            cmd.args(["-c:a", "aac", "-b:a", "96k"]);
        }
        cmd.args(["-f", "flv", url]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        RtmpPublisher { child: cmd.spawn().expect("ffmpeg is installed by scripts/install-deps.sh") }
    }

    /// Publishes a media file as it is (`-c copy`), in real time.
    pub fn file(url: &str, path: &Path) -> RtmpPublisher {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-re", "-i"]).arg(path);
        cmd.args(["-c", "copy", "-f", "flv", url]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        RtmpPublisher { child: cmd.spawn().expect("ffmpeg is installed by scripts/install-deps.sh") }
    }

    pub fn wait(mut self) -> bool {
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for RtmpPublisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file of a directory tree, relative, sorted.
pub fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// A `hls-ladder transcode --job -` child started the way the worker starts one: the job
/// document on the first line of its stdin, which then stays open (closing it stops the job),
/// and its events as JSON lines on stdout.
pub struct JobChild {
    child: Child,
    stdin: std::process::ChildStdin,
}

impl JobChild {
    /// Starts the child with `job`, a job document line ([`rtmp_job`]).
    pub fn start(job: &str) -> JobChild {
        let mut cmd = Command::new(bin());
        cmd.args(["transcode", "--job", "-", "--events", "jsonl"]).env_remove("RUST_LOG");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, job.as_bytes()).unwrap();
        JobChild { child, stdin }
    }

    /// Waits for the child to end by itself and returns its events, each with the instant it
    /// was read, and its stderr. Stdout and stderr are read at the same time, so a chatty
    /// stderr cannot fill its pipe and stall the child.
    pub async fn finish(self) -> (Vec<(Instant, Value)>, String) {
        use std::io::{BufRead as _, Read as _};
        let JobChild { mut child, stdin } = self;
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let events = tokio::task::spawn_blocking(move || {
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .map(|l| (Instant::now(), serde_json::from_str::<Value>(&l).unwrap()))
                .collect::<Vec<_>>()
        });
        let log = tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (events, log) = (events.await.unwrap(), log.await.unwrap());
        tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
        drop(stdin);
        (events, log)
    }
}
