//! Scenarios of the publisher core: each feeds inputs as the shell would and checks the
//! actions that come out.

use bytes::Bytes;
use num_rational::Ratio;

use super::{Action, Input, Op, PublisherCore, Retry};
use crate::child_protocol::Event;
use crate::hls::state::StreamType;
use crate::pipeline::preview::PreviewSpec;
use crate::publisher::PublishSettings;
use crate::storage::RetryPolicy;

pub(super) use crate::test_fixtures::rendition;

pub(super) fn settings(record: bool, live_size: u32) -> PublishSettings {
    PublishSettings {
        channel: "c1".into(),
        stream_id: "s1".into(),
        hls_time: 1,
        live_size,
        vod_max_size: 100,
        record,
        master: true,
        audio_kbps: 128,
        previews: Some(PreviewSpec { width: 256, height: 144, interval: 1 }),
        retry: RetryPolicy::default(),
        first_segment: 0,
        first_preview: 0,
        resume: None,
        cdn: None,
        timeline_offset: Ratio::new(0, 1),
        format: Default::default(),
        dash: false,
        part_target: None,
    }
}

/// A core with two renditions whose ladder is known.
pub(super) fn core(record: bool) -> PublisherCore {
    let mut core = PublisherCore::new(settings(record, 3), 1_700_000_000_000);
    let ladder = vec![rendition("1280x720-30", 1280, 720), rendition("640x360-30", 640, 360)];
    let out = core.handle(Input::Ladder { renditions: ladder, audio: false, source: "test".into(), now_ms: 0 });
    assert!(matches!(out[..], [Action::Emit(Event::Started { .. })]), "{out:?}");
    core
}

pub(super) fn segment(rung: usize, n: u64) -> Input {
    Input::Segment {
        rung,
        n,
        data: Bytes::from(vec![0u8; 1000]),
        duration: Ratio::new(1, 1),
        start: Ratio::new(n as i64, 1),
        codecs: "avc1.64001f".into(),
        discontinuity: false,
        cmaf: None,
    }
}

fn stored_segment(rung: usize, n: u64, ok: bool) -> Input {
    Input::Stored { op: Op::Segment { n, rung, len: 1000 }, ok }
}

fn puts(out: &[Action]) -> Vec<(String, Retry)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Put { path, retry, .. } => Some((path.clone(), *retry)),
            _ => None,
        })
        .collect()
}

fn put_text(out: &[Action], suffix: &str) -> Option<String> {
    out.iter().find_map(|a| match a {
        Action::Put { path, body, .. } if path.ends_with(suffix) => Some(String::from_utf8_lossy(body).into_owned()),
        _ => None,
    })
}

fn events(out: &[Action]) -> Vec<&Event> {
    out.iter()
        .filter_map(|a| match a {
            Action::Emit(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn a_group_is_listed_only_once_every_rendition_is_durable() {
    let mut core = core(false);
    let out = core.handle(segment(0, 0));
    assert!(matches!(events(&out)[..], [Event::SegmentCut { n: 0 }]));
    assert_eq!(puts(&out), [("hls/c1/s1/1280x720-30/0.ts".to_string(), Retry::UntilDeadline)]);
    core.handle(segment(1, 0));
    // The first rendition is durable: nothing is listed yet.
    let out = core.handle(stored_segment(0, 0, true));
    assert!(out.is_empty(), "{out:?}");
    // The second: the group is published, and only then are playlists written.
    let out = core.handle(stored_segment(1, 0, true));
    let kinds: Vec<&str> = events(&out)
        .iter()
        .map(|e| match e {
            Event::Stream { .. } => "stream",
            Event::Segment { .. } => "segment",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["stream", "segment"]);
    let live = put_text(&out, "1280x720-30/live.m3u8").expect("live playlist written");
    assert!(live.contains("\n0.ts\n"), "{live}");
    // Announced only after the playlist's write succeeded, once.
    assert!(!events(&out).iter().any(|e| matches!(e, Event::IndexAvailable { .. })));
    let path = "hls/c1/s1/1280x720-30/live.m3u8".to_string();
    let out = core.handle(Input::Stored { op: Op::Write { path: path.clone() }, ok: true });
    let announced: Vec<&Event> =
        events(&out).into_iter().filter(|e| matches!(e, Event::IndexAvailable { .. })).collect();
    assert_eq!(announced.len(), 1, "{out:?}");
    assert!(
        matches!(announced[0], Event::IndexAvailable { stream_type: StreamType::HlsLive, index_file, .. } if *index_file == path)
    );
}

#[test]
fn groups_are_published_in_order_even_when_later_ones_are_durable_first() {
    let mut core = core(false);
    for n in 0..2 {
        core.handle(segment(0, n));
        core.handle(segment(1, n));
    }
    core.handle(stored_segment(0, 1, true));
    let out = core.handle(stored_segment(1, 1, true));
    assert!(events(&out).is_empty(), "group 1 waits for group 0: {out:?}");
    core.handle(stored_segment(0, 0, true));
    let out = core.handle(stored_segment(1, 0, true));
    let published: Vec<u64> = events(&out)
        .iter()
        .filter_map(|e| match e {
            Event::Segment { group, .. } => Some(group.n),
            _ => None,
        })
        .collect();
    assert_eq!(published, [0, 1]);
}

#[test]
fn a_live_segment_that_cannot_be_stored_skips_its_group_with_a_discontinuity() {
    let mut core = core(false);
    for n in 0..3 {
        core.handle(segment(0, n));
        core.handle(segment(1, n));
    }
    core.handle(stored_segment(0, 0, true));
    core.handle(stored_segment(1, 0, true));
    // Group 1: one rendition stored, the other given up.
    core.handle(stored_segment(0, 1, true));
    let out = core.handle(stored_segment(1, 1, false));
    assert!(out.contains(&Action::Delete { path: "hls/c1/s1/1280x720-30/1.ts".into() }), "{out:?}");
    assert!(events(&out).iter().any(|e| matches!(e, Event::SegmentSkipped { n: 1, .. })));
    // Group 0's playlist write completes, so group 2's can go out.
    let path = "hls/c1/s1/640x360-30/live.m3u8".to_string();
    core.handle(Input::Stored { op: Op::Write { path }, ok: true });
    core.handle(stored_segment(0, 2, true));
    let out = core.handle(stored_segment(1, 2, true));
    let live = put_text(&out, "640x360-30/live.m3u8").unwrap();
    assert!(live.contains("0.ts\n#EXT-X-DISCONTINUITY\n"), "{live}");
    assert!(!live.contains("1.ts"), "{live}");
}

#[test]
fn recorded_segments_are_retried_while_the_stream_runs_and_nothing_else_is() {
    let mut core = core(true);
    let out = core.handle(segment(0, 0));
    assert_eq!(puts(&out), [("hls/c1/s1/1280x720-30/0.ts".to_string(), Retry::WhileRunning)]);
    core.handle(segment(1, 0));
    core.handle(stored_segment(0, 0, true));
    let out = core.handle(stored_segment(1, 0, true));
    assert!(puts(&out).iter().all(|(path, retry)| path.ends_with(".m3u8") && *retry == Retry::UntilDeadline));
    let out = core.handle(Input::Preview { n: 0, jpeg: Bytes::from_static(b"jpg") });
    assert_eq!(puts(&out), [("img-preview/c1/s1/256x144-1/0.jpg".to_string(), Retry::UntilDeadline)]);
}

#[test]
fn a_recorded_group_is_skipped_only_when_the_pipeline_dropped_it_or_storage_refused() {
    let mut core = core(true);
    for n in 0..3 {
        core.handle(segment(0, n));
    }
    core.handle(segment(1, 0));
    // Group 1's second segment never fit into the upload queue.
    core.handle(Input::SegmentDropped { n: 1 });
    core.handle(segment(1, 2));
    let mut out = Vec::new();
    for n in 0..3 {
        out.extend(core.handle(stored_segment(0, n, true)));
    }
    out.extend(core.handle(stored_segment(1, 0, true)));
    out.extend(core.handle(stored_segment(1, 2, true)));
    let decided: Vec<String> = events(&out)
        .iter()
        .filter_map(|e| match e {
            Event::Segment { group, .. } => Some(format!("published {}", group.n)),
            Event::SegmentSkipped { n, .. } => Some(format!("skipped {n}")),
            _ => None,
        })
        .collect();
    assert_eq!(decided, ["published 0", "skipped 1", "published 2"]);
}

#[test]
fn a_failed_index_write_passes_its_announcement_to_the_next_write() {
    let mut core = core(false);
    let path = "hls/c1/s1/640x360-30/live.m3u8".to_string();
    for n in 0..2 {
        core.handle(segment(0, n));
        core.handle(segment(1, n));
        core.handle(stored_segment(0, n, true));
        let out = core.handle(stored_segment(1, n, true));
        if n == 0 {
            // The first write fails: nothing may be announced.
            let out = core.handle(Input::Stored { op: Op::Write { path: path.clone() }, ok: false });
            assert!(events(&out).is_empty(), "{out:?}");
        } else {
            assert!(put_text(&out, "640x360-30/live.m3u8").is_some(), "the next write goes out");
        }
    }
    let out = core.handle(Input::Stored { op: Op::Write { path: path.clone() }, ok: true });
    assert!(
        events(&out).iter().any(|e| matches!(e, Event::IndexAvailable { index_file, .. } if *index_file == path)),
        "{out:?}"
    );
}

#[test]
fn a_newer_playlist_waits_for_the_write_in_flight_and_replaces_older_pending_content() {
    let mut core = core(false);
    let path = "hls/c1/s1/640x360-30/live.m3u8".to_string();
    let mut written = Vec::new();
    for n in 0..3 {
        core.handle(segment(0, n));
        core.handle(segment(1, n));
        core.handle(stored_segment(0, n, true));
        let out = core.handle(stored_segment(1, n, true));
        written.extend(put_text(&out, "640x360-30/live.m3u8"));
    }
    assert_eq!(written.len(), 1, "one write in flight per file");
    let out = core.handle(Input::Stored { op: Op::Write { path }, ok: true });
    let latest = put_text(&out, "640x360-30/live.m3u8").expect("the pending content follows");
    assert!(latest.contains("\n2.ts\n") && !latest.contains("#EXT-X-ENDLIST"), "latest wins: {latest}");
}

#[test]
fn the_end_skips_what_cannot_complete_and_finishes_every_playlist() {
    let mut core = core(false);
    core.handle(segment(0, 0));
    core.handle(segment(1, 0));
    core.handle(segment(0, 1)); // the second rendition never made segment 1
    core.handle(stored_segment(0, 0, true));
    core.handle(stored_segment(1, 0, true));
    let out = core.handle(Input::PipelineDone);
    assert!(!core.is_finished(), "segment 1 of the first rendition is still in flight: {out:?}");
    let out = core.handle(stored_segment(0, 1, true));
    assert!(core.is_finished());
    assert!(events(&out).iter().any(|e| matches!(e, Event::SegmentSkipped { n: 1, .. })), "{out:?}");
    assert!(out.contains(&Action::Delete { path: "hls/c1/s1/1280x720-30/1.ts".into() }));
    // The final write of each live playlist waits for the one in flight, then ends the list.
    let path = "hls/c1/s1/640x360-30/live.m3u8".to_string();
    let out = core.handle(Input::Stored { op: Op::Write { path }, ok: true });
    let last = put_text(&out, "640x360-30/live.m3u8").expect("final write");
    assert!(last.ends_with("#EXT-X-ENDLIST\n"), "{last}");
}

#[test]
fn a_preview_that_cannot_be_stored_is_replaced_by_the_previous_image() {
    let mut core = core(false);
    core.handle(Input::Preview { n: 0, jpeg: Bytes::from_static(b"zero") });
    let out = core.handle(Input::Stored { op: Op::Preview { n: 0 }, ok: true });
    assert_eq!(put_text(&out, "thumbnails.vtt").unwrap(), "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n0.jpg\n");
    assert_eq!(put_text(&out, "index.json"), None, "the index follows the track");
    let path = "img-preview/c1/s1/256x144-1/thumbnails.vtt".to_string();
    let out = core.handle(Input::Stored { op: Op::Write { path }, ok: true });
    assert_eq!(put_text(&out, "index.json").unwrap(), r#"{"index_start":0,"count":1,"pattern":"%d.jpg"}"#);
    core.handle(Input::Preview { n: 1, jpeg: Bytes::from_static(b"one") });
    let out = core.handle(Input::Stored { op: Op::Preview { n: 1 }, ok: false });
    assert_eq!(put_text(&out, "1.jpg").as_deref(), Some("zero"), "{out:?}");
    // A second failure of the same number gives it up instead of looping.
    let out = core.handle(Input::Stored { op: Op::Preview { n: 1 }, ok: false });
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_restarted_run_continues_the_numbers_and_marks_the_seam() {
    let mut first = core(false);
    for n in 0..2 {
        first.handle(segment(0, n));
        first.handle(segment(1, n));
        first.handle(stored_segment(0, n, true));
        first.handle(stored_segment(1, n, true));
    }
    // What the supervisor hands over: the state after group 1, numbers from 2.
    let mut mirror = None;
    let mut replay = core(false);
    for n in 0..2 {
        replay.handle(segment(0, n));
        replay.handle(segment(1, n));
        replay.handle(stored_segment(0, n, true));
        for action in replay.handle(stored_segment(1, n, true)) {
            if let Action::Emit(Event::Stream { config }) = &action {
                mirror = Some(crate::hls::state::StreamState::new(config.clone()));
            }
            if let (Action::Emit(Event::Segment { group, .. }), Some(state)) = (&action, mirror.as_mut()) {
                state.publish(group).unwrap();
            }
        }
    }
    let settings = crate::publisher::PublishSettings { first_segment: 2, resume: mirror, ..settings(false, 3) };
    let mut next = PublisherCore::new(settings, 1_700_000_000_000);
    let ladder = vec![rendition("1280x720-30", 1280, 720), rendition("640x360-30", 640, 360)];
    next.handle(Input::Ladder { renditions: ladder, audio: false, source: "test".into(), now_ms: 0 });
    let out = next.handle(segment(0, 1));
    assert!(out.is_empty(), "a number below the run's first is never reused: {out:?}");
    next.handle(segment(0, 2));
    next.handle(segment(1, 2));
    next.handle(stored_segment(0, 2, true));
    let out = next.handle(stored_segment(1, 2, true));
    let live = put_text(&out, "640x360-30/live.m3u8").unwrap();
    assert!(live.contains("1.ts\n#EXT-X-DISCONTINUITY\n"), "{live}");
}

#[test]
fn a_shed_rendition_is_not_waited_for_and_leaves_the_playlists_before_its_first_missing_group() {
    let mut core = core(true);
    for rung in 0..2 {
        core.handle(segment(rung, 0));
        let out = core.handle(stored_segment(rung, 0, true));
        // Group 0's playlist writes succeed.
        for action in out {
            if let Action::Put { op: op @ Op::Write { .. }, .. } = action {
                core.handle(Input::Stored { op, ok: true });
            }
        }
    }
    // The 720p rendition stops after group 0.
    assert!(core.handle(Input::RenditionShed { rung: 0, n: 1 }).is_empty());
    core.handle(segment(1, 1));
    let out = core.handle(stored_segment(1, 1, true));
    let kinds: Vec<String> = events(&out)
        .iter()
        .map(|e| match e {
            Event::RenditionShed { rendition, n, .. } => format!("shed {rendition} {n}"),
            Event::Segment { group, .. } => format!("segment {}", group.n),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["shed 1280x720-30 1", "segment 1"]);
    let ended = put_text(&out, "1280x720-30/live.m3u8").expect("720p live playlist ended");
    assert!(ended.ends_with("#EXT-X-ENDLIST\n") && !ended.contains("1.ts"), "{ended}");
    let master = put_text(&out, "c1/s1/master.m3u8").expect("master rewritten");
    assert!(!master.contains("1280x720") && master.contains("640x360-30/live.m3u8"), "{master}");
    let live = put_text(&out, "640x360-30/live.m3u8").expect("360p listed");
    assert!(live.contains("\n1.ts\n"), "{live}");
}

/// A core with the CDN push on, its first group published and its playlists' writes out.
fn core_with_push() -> PublisherCore {
    let cdn = crate::cdn::CdnConfig {
        urls: vec!["ws://127.0.0.1:1/".into()],
        push_secret: Default::default(),
        ready_timeout: std::time::Duration::from_secs(10),
    };
    let mut core = PublisherCore::new(PublishSettings { cdn: Some(std::sync::Arc::new(cdn)), ..settings(true, 3) }, 0);
    let ladder = vec![rendition("1280x720-30", 1280, 720), rendition("640x360-30", 640, 360)];
    core.handle(Input::Ladder { renditions: ladder, audio: false, source: "test".into(), now_ms: 0 });
    for rung in 0..2 {
        core.handle(segment(rung, 0));
        core.handle(stored_segment(rung, 0, true));
    }
    core
}

fn stored_write(core: &mut PublisherCore, path: &str) -> Vec<Action> {
    core.handle(Input::Stored { op: Op::Write { path: path.into() }, ok: true })
}

fn announced(out: &[Action]) -> Vec<String> {
    events(out)
        .into_iter()
        .filter_map(|e| match e {
            Event::IndexAvailable { index_file, .. } => Some(index_file.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn hls_live_waits_for_its_rendition_push_and_the_recording_does_not() {
    let mut core = core_with_push();
    let live = "hls/c1/s1/640x360-30/live.m3u8";
    let out = stored_write(&mut core, live);
    assert!(announced(&out).is_empty(), "held: {out:?}");
    assert!(out.contains(&Action::HoldForPush { rung: 1 }), "{out:?}");
    let vod = "hls/c1/s1/640x360-30/vod-0.m3u8";
    assert_eq!(announced(&stored_write(&mut core, vod)), [vod], "a recording is not pushed: never held");
    assert!(announced(&core.handle(Input::PushReady { rung: 0 })).is_empty(), "another rendition's push");
    assert_eq!(announced(&core.handle(Input::PushReady { rung: 1 })), [live]);
    // Once its push is ready, a rendition's announcements go out at once.
    let other = "hls/c1/s1/1280x720-30/live.m3u8";
    assert_eq!(announced(&stored_write(&mut core, other)), [other]);
}

#[test]
fn a_push_that_is_never_ready_delays_hls_live_only_until_the_timeout_or_the_end() {
    let mut core = core_with_push();
    let (a, b) = ("hls/c1/s1/1280x720-30/live.m3u8", "hls/c1/s1/640x360-30/live.m3u8");
    assert!(announced(&stored_write(&mut core, a)).is_empty());
    assert!(announced(&stored_write(&mut core, b)).is_empty());
    assert_eq!(announced(&core.handle(Input::PushWaitOver { rung: 0 })), [a]);
    assert!(announced(&core.handle(Input::PushWaitOver { rung: 0 })).is_empty(), "nothing else held for it");
    assert_eq!(announced(&core.handle(Input::PushClosed)), [b]);
}

/// Segment `n` of `rung` in CMAF: one second of video needing `init`, with the audio
/// rendition's segment `n`.
fn cmaf_segment(rung: usize, n: u64, init: &str) -> Input {
    use crate::hls::media::SegmentMedia;
    use crate::pipeline::sink::{AudioOutput, CmafOutput};
    let media = |timescale: u32, init: &str| SegmentMedia {
        start: (10 + n) * u64::from(timescale),
        ticks: u64::from(timescale),
        timescale,
        init: init.into(),
    };
    let audio = AudioOutput {
        data: Bytes::from(vec![1u8; 100]),
        media: media(48_000, "init-0.mp4"),
        init: Bytes::from_static(b"ainit"),
        last_part: None,
    };
    let cmaf = CmafOutput {
        media: media(90_000, init),
        init: Bytes::from_static(b"vinit"),
        audio: Some(audio),
        last_part: None,
    };
    match segment(rung, n) {
        Input::Segment { rung, n, data, duration, start, codecs, discontinuity, .. } => {
            Input::Segment { rung, n, data, duration, start, codecs, discontinuity, cmaf: Some(Box::new(cmaf)) }
        }
        _ => unreachable!(),
    }
}

#[test]
fn cmaf_stores_each_init_and_the_audio_once_and_lists_a_group_only_once_its_init_is_durable() {
    let mut core =
        PublisherCore::new(PublishSettings { format: crate::hls::SegmentFormat::Cmaf, ..settings(true, 3) }, 0);
    let ladder = vec![rendition("1280x720-30", 1280, 720), rendition("640x360-30", 640, 360)];
    core.handle(Input::Ladder { renditions: ladder, audio: true, source: "test".into(), now_ms: 0 });
    let mut out = core.handle(cmaf_segment(0, 0, "init-0.mp4"));
    out.extend(core.handle(cmaf_segment(1, 0, "init-0.mp4")));
    let stored: Vec<String> = puts(&out).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        stored,
        [
            "hls/c1/s1/1280x720-30/init-0.mp4",
            "hls/c1/s1/1280x720-30/0.m4s",
            "hls/c1/s1/audio/init-0.mp4",
            "hls/c1/s1/audio/0.m4s",
            "hls/c1/s1/640x360-30/init-0.mp4",
            "hls/c1/s1/640x360-30/0.m4s",
        ],
        "every init and the audio segment once, whichever rendition brings them"
    );
    let mut out = Vec::new();
    for (rung, label) in [(0, "1280x720-30"), (1, "640x360-30")] {
        out.extend(core.handle(Input::Stored { op: Op::Segment { n: 0, rung, len: 1000 }, ok: true }));
        out.extend(
            core.handle(Input::Stored { op: Op::Init { path: format!("hls/c1/s1/{label}/init-0.mp4") }, ok: true }),
        );
    }
    out.extend(core.handle(Input::Stored { op: Op::Audio { n: 0 }, ok: true }));
    assert!(puts(&out).is_empty(), "the audio init is not durable yet: nothing is listed\n{out:?}");
    let out = core.handle(Input::Stored { op: Op::Init { path: "hls/c1/s1/audio/init-0.mp4".into() }, ok: true });
    let written: Vec<String> = puts(&out).into_iter().map(|(p, _)| p).collect();
    assert!(written.contains(&"hls/c1/s1/audio/live.m3u8".to_string()), "{written:?}");
    assert!(written.contains(&"hls/c1/s1/master.m3u8".to_string()), "{written:?}");
}

/// Publishes group `n` of both renditions, stored, and lets every playlist write succeed;
/// returns the actions of the last segment's store.
fn publish_both(core: &mut PublisherCore, n: u64) -> Vec<Action> {
    core.handle(segment(0, n));
    core.handle(segment(1, n));
    core.handle(stored_segment(0, n, true));
    let out = core.handle(stored_segment(1, n, true));
    for action in &out {
        if let Action::Put { op: op @ Op::Write { .. }, .. } = action {
            assert!(puts(&core.handle(Input::Stored { op: op.clone(), ok: true })).is_empty());
        }
    }
    out
}

#[test]
fn captions_first_seen_mid_stream_ride_on_the_next_group_once_and_rewrite_the_master() {
    use crate::pipeline::captions::CaptionServices;
    let group_captions = |out: &[Action]| {
        events(out).iter().find_map(|e| match e {
            Event::Segment { group, .. } => Some(group.captions),
            _ => None,
        })
    };
    let mut core = core(false);
    let out = publish_both(&mut core, 0);
    assert_eq!(group_captions(&out), Some(None));
    assert!(!put_text(&out, "master.m3u8").unwrap().contains("CLOSED-CAPTIONS"));
    let cc1 = CaptionServices { cea608: true, cea708: false };
    assert!(core.handle(Input::Captions(cc1)).is_empty());
    let out = publish_both(&mut core, 1);
    // The supervisor's copy of the state learns it from this event.
    assert_eq!(group_captions(&out), Some(Some(cc1)));
    let master = put_text(&out, "master.m3u8").expect("the master is rewritten with the group");
    assert!(
        master.contains("INSTREAM-ID=\"CC1\"") && master.matches("CLOSED-CAPTIONS=\"cc\"").count() == 2,
        "{master}"
    );
    // Told again (a restarted pipeline finds them again): nothing new to declare.
    core.handle(Input::Captions(cc1));
    let out = publish_both(&mut core, 2);
    assert_eq!(group_captions(&out), Some(None));
    assert_eq!(put_text(&out, "master.m3u8"), None);
}

/// Answers every put as durable, except those `hold` picks, until nothing is left to answer;
/// returns the events emitted and the held puts.
fn store_all_but(core: &mut PublisherCore, first: Vec<Action>, hold: impl Fn(&str) -> bool) -> (Vec<Event>, Vec<Op>) {
    let (mut emitted, mut held) = (Vec::new(), Vec::new());
    let mut queue: std::collections::VecDeque<Action> = first.into();
    while let Some(action) = queue.pop_front() {
        match action {
            Action::Put { op, path, .. } if hold(&path) => held.push(op),
            Action::Put { op, .. } => queue.extend(core.handle(Input::Stored { op, ok: true })),
            Action::Emit(e) => emitted.push(e),
            _ => {}
        }
    }
    (emitted, held)
}

#[test]
fn an_announcement_waits_for_the_dash_manifests_of_its_group() {
    let settings = PublishSettings { format: crate::hls::SegmentFormat::Cmaf, dash: true, ..settings(false, 3) };
    let mut core = PublisherCore::new(settings, 1_700_000_000_000);
    let ladder = vec![rendition("1280x720-30", 1280, 720), rendition("640x360-30", 640, 360)];
    core.handle(Input::Ladder { renditions: ladder, audio: true, source: "test".into(), now_ms: 0 });
    let mut first = core.handle(cmaf_segment(0, 0, "init-0.mp4"));
    first.extend(core.handle(cmaf_segment(1, 0, "init-0.mp4")));
    let (emitted, held) = store_all_but(&mut core, first, |path| path.ends_with(".mpd"));
    assert!(emitted.iter().any(|e| matches!(e, Event::Segment { .. })), "group 0 published: {emitted:?}");
    assert_eq!(held, [Op::Write { path: "hls/c1/s1/master.mpd".into() }]);
    let announced = |events: &[Event]| events.iter().filter(|e| matches!(e, Event::IndexAvailable { .. })).count();
    assert_eq!(announced(&emitted), 0, "the playlists are durable, the manifest is not: {emitted:?}");
    let out = core.handle(Input::Stored { op: held[0].clone(), ok: false });
    assert_eq!(announced(&events(&out).into_iter().cloned().collect::<Vec<_>>()), 0, "a failed manifest opens nothing");
    // The next group's manifest (a newer content of the same file) opens the gate.
    let mut next = core.handle(cmaf_segment(0, 1, "init-0.mp4"));
    next.extend(core.handle(cmaf_segment(1, 1, "init-0.mp4")));
    let (emitted, held) = store_all_but(&mut core, next, |_| false);
    assert!(held.is_empty());
    let live: Vec<&str> = emitted
        .iter()
        .filter_map(|e| match e {
            Event::IndexAvailable { stream_type: StreamType::HlsLive, resolution, .. } => Some(resolution.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(live, ["1280x720-30", "640x360-30"], "{emitted:?}");
}

/// A core with one CMAF rendition (no audio) cutting LL-HLS parts of half a second.
fn low_latency_core() -> PublisherCore {
    let settings = PublishSettings {
        format: crate::hls::SegmentFormat::Cmaf,
        part_target: Some(Ratio::new(1, 2)),
        ..settings(false, 3)
    };
    let mut core = PublisherCore::new(settings, 0);
    let ladder = vec![rendition("640x360-30", 640, 360)];
    core.handle(Input::Ladder { renditions: ladder, audio: false, source: "test".into(), now_ms: 0 });
    core
}

/// Part `index` of segment `n`: 100 bytes of `index`, half a second.
fn part(n: u64, index: u32) -> Input {
    use crate::pipeline::sink::Chunk;
    let chunk = Chunk {
        index,
        data: Bytes::from(vec![index as u8; 100]),
        duration: Ratio::new(1, 2),
        independent: index == 0,
        init: ("init-0.mp4".into(), Bytes::from_static(b"vinit")),
    };
    let kind = crate::hls::media::RenditionKind::Video(0);
    Input::Part { kind, n, start: Ratio::from_integer(n as i64), discontinuity: false, chunk }
}

/// Segment `n` made of `parts` parts as [`part`] cuts them.
fn segment_of_parts(n: u64, parts: u32) -> Input {
    use crate::hls::media::SegmentMedia;
    use crate::pipeline::sink::CmafOutput;
    let data: Vec<u8> = (0..parts).flat_map(|i| vec![i as u8; 100]).collect();
    let media = SegmentMedia {
        start: (10 + n) * 90_000,
        ticks: 45_000 * u64::from(parts),
        timescale: 90_000,
        init: "init-0.mp4".into(),
    };
    let cmaf = CmafOutput { media, init: Bytes::from_static(b"vinit"), audio: None, last_part: None };
    Input::Segment {
        rung: 0,
        n,
        data: Bytes::from(data),
        duration: Ratio::new(i64::from(parts), 2),
        start: Ratio::from_integer(n as i64),
        codecs: "avc1.64001f".into(),
        discontinuity: false,
        cmaf: Some(Box::new(cmaf)),
    }
}

fn appends(out: &[Action]) -> Vec<(Op, usize, usize)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Append { op, body, from, .. } => Some((op.clone(), *from, body.len())),
            _ => None,
        })
        .collect()
}

fn stored_all(core: &mut PublisherCore, out: Vec<Action>) -> Vec<Action> {
    let mut next = Vec::new();
    for a in out {
        if let Action::Put { op, .. } | Action::Append { op, .. } = a {
            next.extend(core.handle(Input::Stored { op, ok: true }));
        }
    }
    next
}

#[test]
fn parts_grow_their_segment_one_append_at_a_time_and_the_segment_write_comes_last() {
    use crate::hls::media::RenditionKind::Video;
    let mut core = low_latency_core();
    let first = core.handle(part(0, 0));
    assert_eq!(puts(&first).len(), 1, "the init segment: {first:?}");
    assert_eq!(appends(&first), [(Op::Part { kind: Video(0), n: 0, len: 100 }, 0, 100)]);
    // While that append runs, the next part waits; then both go out as one append.
    assert!(appends(&core.handle(part(0, 1))).is_empty());
    let out = core.handle(Input::Stored { op: Op::Part { kind: Video(0), n: 0, len: 100 }, ok: true });
    assert_eq!(appends(&out), [(Op::Part { kind: Video(0), n: 0, len: 200 }, 100, 200)]);
    // The segment arrives meanwhile: its write is the next append, after the bytes stored.
    assert!(appends(&core.handle(part(0, 2))).is_empty());
    assert!(appends(&core.handle(segment_of_parts(0, 3))).is_empty(), "waits for the append in flight");
    let out = core.handle(Input::Stored { op: Op::Part { kind: Video(0), n: 0, len: 200 }, ok: true });
    assert_eq!(appends(&out), [(Op::Segment { n: 0, rung: 0, len: 300 }, 200, 300)]);
}

#[test]
fn the_live_playlist_lists_durable_parts_a_hint_and_the_segment_once_published() {
    let mut core = low_latency_core();
    // Segment 0, published: its playlist carries its parts before its EXTINF.
    let mut out = core.handle(part(0, 0));
    out.extend(core.handle(part(0, 1)));
    let mut pending = stored_all(&mut core, out);
    pending.extend(core.handle(segment_of_parts(0, 2)));
    let mut live = None;
    while !pending.is_empty() {
        live = put_text(&pending, "live.m3u8").or(live);
        pending = stored_all(&mut core, pending);
    }
    let live = live.expect("segment 0 published");
    assert!(live.contains("#EXT-X-PART-INF:PART-TARGET=0.5\n"), "{live}");
    assert!(
        live.contains(
            "#EXT-X-PART:DURATION=0.500000,URI=\"0.m4s\",BYTERANGE=\"100@0\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.500000,URI=\"0.m4s\",BYTERANGE=\"100@100\"\n#EXTINF:1.000000,\n0.m4s\n"
        ),
        "{live}"
    );
    // A part of segment 1 is listed once durable, not before; the hint names the next one.
    let out = core.handle(part(1, 0));
    assert!(put_text(&out, "live.m3u8").is_none(), "{out:?}");
    let out = stored_all(&mut core, out);
    let live = put_text(&out, "live.m3u8").expect("rewritten for the part");
    assert!(
        live.ends_with(
            "0.m4s\n#EXT-X-PART:DURATION=0.500000,URI=\"1.m4s\",BYTERANGE=\"100@0\",INDEPENDENT=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"1.m4s\",BYTERANGE-START=100\n"
        ),
        "{live}"
    );
    // A failed append lists nothing more of that segment; its write still repairs the file.
    let out = core.handle(part(1, 1));
    let [(op, _, _)] = &appends(&out)[..] else { panic!("{out:?}") };
    let out = core.handle(Input::Stored { op: op.clone(), ok: false });
    assert!(put_text(&out, "live.m3u8").is_none());
    assert!(appends(&core.handle(part(1, 2))).is_empty(), "no more parts after a failed one");
    let out = core.handle(segment_of_parts(1, 3));
    assert_eq!(appends(&out), [(Op::Segment { n: 1, rung: 0, len: 300 }, 100, 300)]);
}
