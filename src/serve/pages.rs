//! The streams of a storage root (`hls/{channel}/{stream_id}/`, output-layout §1) as the list
//! page, the stream page and their JSON.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::control::message::validate_id;

/// A live playlist without ENDLIST that has not changed for this long belongs to a stream
/// that died without finishing (a killed process): it is not shown as live.
const LIVE_STALE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamInfo {
    pub channel: String,
    pub stream_id: String,
    /// Still being produced: a live playlist without ENDLIST, written recently.
    pub live: bool,
    /// Last change to any playlist, milliseconds since the Unix epoch.
    pub updated_ms: u64,
    /// Rendition labels, sorted.
    pub renditions: Vec<String>,
    /// What plays the live stream: `master.m3u8`, or a rendition's `live.m3u8` without one.
    pub live_uri: Option<String>,
    /// Recording parts (`--record`), in order.
    pub recordings: Vec<Recording>,
    /// Preview image sets (`--previews`).
    pub previews: Vec<Previews>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recording {
    pub part: u64,
    /// `master-vod-K.m3u8`, or a rendition's `vod-K.m3u8` without it.
    pub uri: String,
    /// Media time at which this part starts: the durations of the parts before it.
    pub start: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Previews {
    /// The directory, with a trailing `/`: image N is `{base}{N}.jpg`.
    pub base: String,
    pub index: String,
    /// The thumbnail track (`thumbnails.vtt`), when this stream has one (streams written
    /// before it existed have none).
    pub thumbnails: Option<String>,
    pub width: u32,
    pub height: u32,
    pub interval: u32,
    /// Images 0..count are stored (index.json).
    pub count: u64,
}

fn dir_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn modified_ms(path: &Path) -> Option<u64> {
    let modified = path.metadata().ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// Sum of EXTINF durations, and whether the playlist is finished.
fn playlist_summary(path: &Path) -> Option<(f64, bool)> {
    let text = std::fs::read_to_string(path).ok()?;
    let total = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|v| v.split(',').next()?.trim().parse::<f64>().ok())
        .sum();
    Some((total, text.lines().any(|l| l.trim() == "#EXT-X-ENDLIST")))
}

/// `vod-K.m3u8` or `master-vod-K.m3u8` → K.
fn part_number(name: &str, prefix: &str) -> Option<u64> {
    let k = name.strip_prefix(prefix)?.strip_suffix(".m3u8")?;
    (!k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())).then(|| k.parse().ok()).flatten()
}

fn parts_in(dir: &Path, prefix: &str) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut parts: Vec<u64> = entries.flatten().filter_map(|e| part_number(e.file_name().to_str()?, prefix)).collect();
    parts.sort_unstable();
    parts
}

/// `WxH-D` → (W, H, D).
fn preview_geometry(name: &str) -> Option<(u32, u32, u32)> {
    let (size, interval) = name.split_once('-')?;
    let (w, h) = size.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?, interval.parse().ok()?))
}

fn preview_count(index: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(index).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("count")?.as_u64()
}

/// One stream's files, or `None` when `hls/{channel}/{stream_id}/` holds no playlist.
/// Blocking.
pub fn stream(root: &Path, channel: &str, stream_id: &str) -> Option<StreamInfo> {
    if !validate_id(channel) || !validate_id(stream_id) {
        return None;
    }
    let dir = root.join("hls").join(channel).join(stream_id);
    let base = format!("/hls/{channel}/{stream_id}");
    let master = dir.join("master.m3u8");
    let mut renditions = Vec::new();
    let mut updated = modified_ms(&master);
    let mut live = false;
    for label in dir_names(&dir) {
        if label == crate::hls::media::AUDIO_LABEL {
            continue; // CMAF's audio rendition: the master plays it with every video one
        }
        let live_playlist = dir.join(&label).join("live.m3u8");
        let has_live = live_playlist.is_file();
        if !has_live && parts_in(&dir.join(&label), "vod-").is_empty() {
            continue;
        }
        if has_live {
            let changed = modified_ms(&live_playlist);
            updated = updated.max(changed);
            let ended = playlist_summary(&live_playlist).is_none_or(|(_, ended)| ended);
            let age = changed.map(|ms| now_ms().saturating_sub(ms)).unwrap_or(u64::MAX);
            live |= !ended && age < LIVE_STALE.as_millis() as u64;
        }
        renditions.push(label);
    }
    if renditions.is_empty() && !master.is_file() {
        return None;
    }
    let live_uri = if master.is_file() {
        Some(format!("{base}/master.m3u8"))
    } else {
        renditions.iter().find(|l| dir.join(l).join("live.m3u8").is_file()).map(|l| format!("{base}/{l}/live.m3u8"))
    };
    let recordings = recordings(&dir, &base, &renditions);
    for r in &recordings {
        updated = updated.max(modified_ms(&dir.join(r.uri.trim_start_matches(&format!("{base}/")))));
    }
    let previews = previews(root, channel, stream_id);
    Some(StreamInfo {
        channel: channel.to_string(),
        stream_id: stream_id.to_string(),
        live,
        updated_ms: updated.unwrap_or(0),
        renditions,
        live_uri,
        recordings,
        previews,
    })
}

/// The recording parts: master-vod-K when there are masters, else the first rendition's
/// vod-K; each part starts where the durations of the earlier ones end.
fn recordings(dir: &Path, base: &str, renditions: &[String]) -> Vec<Recording> {
    let masters = parts_in(dir, "master-vod-");
    let Some(first) = renditions.iter().find(|l| !parts_in(&dir.join(l), "vod-").is_empty()) else {
        return Vec::new();
    };
    let rendition_parts = parts_in(&dir.join(first), "vod-");
    let parts = if masters.is_empty() { &rendition_parts } else { &masters };
    let mut start = 0.0;
    let mut out = Vec::new();
    for &k in parts {
        let uri = if masters.is_empty() {
            format!("{base}/{first}/vod-{k}.m3u8")
        } else {
            format!("{base}/master-vod-{k}.m3u8")
        };
        out.push(Recording { part: k, uri, start });
        start += playlist_summary(&dir.join(first).join(format!("vod-{k}.m3u8"))).map_or(0.0, |(d, _)| d);
    }
    out
}

fn previews(root: &Path, channel: &str, stream_id: &str) -> Vec<Previews> {
    let dir = root.join("img-preview").join(channel).join(stream_id);
    dir_names(&dir)
        .into_iter()
        .filter_map(|name| {
            let (width, height, interval) = preview_geometry(&name)?;
            let count = preview_count(&dir.join(&name).join("index.json"))?;
            let base = format!("/img-preview/{channel}/{stream_id}/{name}/");
            let track = crate::hls::preview::THUMBNAILS_VTT;
            let thumbnails = dir.join(&name).join(track).is_file().then(|| format!("{base}{track}"));
            Some(Previews { index: format!("{base}index.json"), thumbnails, base, width, height, interval, count })
        })
        .collect()
}

/// Every stream under `root/hls/`, most recently changed first. Blocking.
pub fn streams(root: &Path) -> Vec<StreamInfo> {
    let hls = root.join("hls");
    let mut out: Vec<StreamInfo> = dir_names(&hls)
        .iter()
        .filter(|c| validate_id(c))
        .flat_map(|channel| dir_names(&hls.join(channel)).into_iter().filter_map(move |id| stream(root, channel, &id)))
        .collect();
    out.sort_by(|a, b| {
        b.updated_ms.cmp(&a.updated_ms).then_with(|| (&a.channel, &a.stream_id).cmp(&(&b.channel, &b.stream_id)))
    });
    out
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn age(ms: u64) -> String {
    let seconds = now_ms().saturating_sub(ms) / 1000;
    match seconds {
        0..=59 => format!("{seconds} s ago"),
        60..=3599 => format!("{} min ago", seconds / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

const HEAD: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css">
"#;

/// `/`: the streams, newest first, live ones marked, each linking to its page.
pub fn list_page(streams: &[StreamInfo]) -> String {
    let mut html = String::from(HEAD);
    html.push_str(
        "<meta http-equiv=\"refresh\" content=\"10\">\n<title>Streams · hls-ladder</title>\n</head>\n<body>\n",
    );
    // Not the root's path: it is nobody's business on the network.
    html.push_str("<header><h1>Streams</h1></header>\n<main>\n");
    if streams.is_empty() {
        html.push_str("<p class=\"empty\">No stream yet under <code>hls/{channel}/{stream_id}/</code>. This page refreshes itself.</p>\n");
    } else {
        html.push_str("<ul class=\"streams\" id=\"streams\">\n");
    }
    for s in streams {
        let href = format!("/watch/{}/{}", s.channel, s.stream_id);
        let thumb = s.previews.first().filter(|p| p.count > 0).map(|p| {
            format!(
                "<img src=\"{}{}.jpg\" width=\"{}\" height=\"{}\" alt=\"\">",
                escape(&p.base),
                p.count - 1,
                p.width,
                p.height
            )
        });
        let status =
            if s.live { "<span class=\"badge live\">LIVE</span>" } else { "<span class=\"badge\">ended</span>" };
        let recording = match s.recordings.len() {
            0 => String::new(),
            1 => " · recording".to_string(),
            n => format!(" · recording in {n} parts"),
        };
        let _ = writeln!(
            html,
            "<li class=\"stream{live}\"><a href=\"{href}\" data-channel=\"{ch}\" data-stream-id=\"{id}\">\
             <span class=\"thumb\">{thumb}</span><span class=\"name\">{ch} / {id}</span> {status}\
             <span class=\"meta\">{n} renditions{recording} · updated {age}</span></a></li>",
            live = if s.live { " is-live" } else { "" },
            href = escape(&href),
            ch = escape(&s.channel),
            id = escape(&s.stream_id),
            thumb = thumb.unwrap_or_default(),
            n = s.renditions.len(),
            age = age(s.updated_ms),
        );
    }
    if !streams.is_empty() {
        html.push_str("</ul>\n");
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

/// `/watch/{channel}/{stream_id}`: the player shell; `player.js` does the rest from the
/// stream's JSON.
pub fn stream_page(channel: &str, stream_id: &str) -> String {
    let (ch, id) = (escape(channel), escape(stream_id));
    let mut html = String::from(HEAD);
    let _ = write!(
        html,
        r#"<title>{ch} / {id} · hls-ladder</title>
</head>
<body data-channel="{ch}" data-stream-id="{id}">
<header><a href="/" class="back">&larr; Streams</a><h1>{ch} / {id}</h1><span id="status" class="badge"></span></header>
<main class="watch">
  <div class="player"><video id="video" controls muted autoplay playsinline></video></div>
  <aside class="panel">
    <div class="row"><span class="label">Source</span><span id="sources" class="sources"></span></div>
    <div class="row"><label class="label" for="rendition">Rendition</label><select id="rendition"><option value="-1">Automatic</option></select></div>
    <div class="row"><span class="label">Captions</span><span><button id="cc" type="button" aria-pressed="false" disabled title="no closed captions in this stream">CC</button></span></div>
    <dl class="stats">
      <dt>Playing</dt><dd id="current">&ndash;</dd>
      <dt>Picture</dt><dd id="picture">&ndash;</dd>
      <dt>Buffer</dt><dd id="buffer">&ndash;</dd>
      <dt>Position</dt><dd id="position">&ndash;</dd>
      <dt>Delay</dt><dd id="delay" title="now minus the PROGRAM-DATE-TIME of the frame on screen: the wall clock when it entered the pipeline (this computer's clock against the server's)">&ndash;</dd>
    </dl>
    <p id="message" class="message" hidden></p>
  </aside>
  <section id="seekbar" class="seek" hidden><div id="seek-track" class="seek-track"><div id="seek-played" class="seek-played"></div></div><div id="seek-thumb" class="seek-thumb" hidden><img alt=""><span></span></div></section>
  <section class="previews"><h2>Previews <span id="preview-note" class="note"></span></h2><div id="strip" class="strip"></div></section>
</main>
<script src="/assets/hls.min.js"></script>
<script src="/assets/player.js"></script>
</body>
</html>
"#
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const LIVE: &str = "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.000000,\n0.ts\n#EXTINF:2.5,\n1.ts\n";

    #[test]
    fn finds_streams_their_recordings_and_previews() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let s = root.join("hls/test/local");
        write(&s.join("master.m3u8"), "#EXTM3U\n");
        write(&s.join("master-vod-0.m3u8"), "#EXTM3U\n");
        write(&s.join("master-vod-1.m3u8"), "#EXTM3U\n");
        write(&s.join("640x360-30/live.m3u8"), LIVE);
        write(&s.join("640x360-30/vod-0.m3u8"), LIVE);
        write(&s.join("640x360-30/vod-1.m3u8"), LIVE);
        write(&s.join("1280x720-30~2000/live.m3u8"), &format!("{LIVE}#EXT-X-ENDLIST\n"));
        write(
            &root.join("img-preview/test/local/160x90-2/index.json"),
            r#"{"index_start":0,"count":7,"pattern":"%d.jpg"}"#,
        );
        write(&root.join("img-preview/test/local/160x90-2/thumbnails.vtt"), "WEBVTT\n");
        // Not streams: an invalid channel name, an empty stream directory.
        write(&root.join("hls/bad.name/x/master.m3u8"), "#EXTM3U\n");
        std::fs::create_dir_all(root.join("hls/test/empty")).unwrap();

        let all = streams(root);
        assert_eq!(all.len(), 1, "{all:?}");
        let info = &all[0];
        assert!(info.live, "640x360 has no ENDLIST and was just written");
        assert_eq!(info.renditions, ["1280x720-30~2000", "640x360-30"]);
        assert_eq!(info.live_uri.as_deref(), Some("/hls/test/local/master.m3u8"));
        assert_eq!(
            info.recordings,
            [
                Recording { part: 0, uri: "/hls/test/local/master-vod-0.m3u8".into(), start: 0.0 },
                Recording { part: 1, uri: "/hls/test/local/master-vod-1.m3u8".into(), start: 5.5 },
            ]
        );
        assert_eq!(
            info.previews,
            [Previews {
                base: "/img-preview/test/local/160x90-2/".into(),
                index: "/img-preview/test/local/160x90-2/index.json".into(),
                thumbnails: Some("/img-preview/test/local/160x90-2/thumbnails.vtt".into()),
                width: 160,
                height: 90,
                interval: 2,
                count: 7
            }]
        );
        assert_eq!(stream(root, "..", "local"), None);
        assert_eq!(stream(root, "test", "empty"), None);

        let html = list_page(&all);
        assert!(html.contains("href=\"/watch/test/local\""), "{html}");
        assert!(html.contains("LIVE"));
        assert!(html.contains("src=\"/img-preview/test/local/160x90-2/6.jpg\""), "{html}");
    }

    #[test]
    fn without_masters_a_rendition_playlist_is_played() {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path().join("hls/ch/id");
        write(&s.join("426x240/live.m3u8"), &format!("{LIVE}#EXT-X-ENDLIST\n"));
        write(&s.join("426x240/vod-0.m3u8"), LIVE);
        let info = stream(dir.path(), "ch", "id").unwrap();
        assert!(!info.live);
        assert_eq!(info.live_uri.as_deref(), Some("/hls/ch/id/426x240/live.m3u8"));
        assert_eq!(info.recordings[0].uri, "/hls/ch/id/426x240/vod-0.m3u8");
    }

    #[test]
    fn the_most_recently_updated_stream_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        for (id, modified) in [("a", SystemTime::now()), ("b", old), ("c", old + Duration::from_secs(60))] {
            let playlist = dir.path().join(format!("hls/ch/{id}/426x240/live.m3u8"));
            write(&playlist, LIVE);
            std::fs::File::options().write(true).open(&playlist).unwrap().set_modified(modified).unwrap();
        }
        let order: Vec<_> = streams(dir.path()).into_iter().map(|s| (s.stream_id, s.live)).collect();
        assert_eq!(order, [("a".to_string(), true), ("c".to_string(), false), ("b".to_string(), false)]);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
