use super::*;
use crate::hls::media::{SegmentFormat, SegmentMedia};

/// 2025-03-01T10:00:00.000Z
const T0: i64 = 1_740_823_200_000;
const HD: &str = "1280x720-30~2000";
const SD: &str = "640x360-30";

fn config(record: bool, live_size: u32, vod_max_size: u32) -> StreamConfig {
    let desc = |label: &str, w, h, max_kbps| RenditionDesc {
        label: label.into(),
        encoded_width: w,
        encoded_height: h,
        frame_rate: Ratio::new(30000, 1001),
        codecs: "avc1.64001f,mp4a.40.2".into(),
        max_kbps,
    };
    StreamConfig {
        channel: "ch".into(),
        stream_id: "id".into(),
        renditions: vec![desc(HD, 1280, 720, Some(2000)), desc(SD, 640, 360, None)],
        hls_time: 1,
        live_size,
        vod_max_size,
        record,
        audio_kbps: 128,
        master: true,
        format: Default::default(),
        dash: false,
    }
}

/// Group `n` of `duration` in both renditions; SD is `sd_bytes`, HD twice that.
fn group_of(n: u64, duration: Ratio<i64>, sd_bytes: u64) -> GroupRecord {
    let seg = |bytes| RenditionSegment { duration, bytes, media: None };
    GroupRecord {
        n,
        discontinuity: false,
        program_date_time_ms: T0 + 1000 * n as i64,
        renditions: vec![seg(2 * sd_bytes), seg(sd_bytes)],
        tracks: None,
        audio: None,
        captions: None,
    }
}

/// One-second group of 1 Mbit/s in SD.
fn group(n: u64) -> GroupRecord {
    group_of(n, Ratio::from_integer(1), 125_000)
}

fn paths(p: &Publication) -> Vec<&str> {
    p.writes.iter().map(|w| w.path.as_str()).collect()
}

fn written<'a>(p: &'a Publication, path: &str) -> &'a FileWrite {
    p.writes.iter().find(|w| w.path == path).unwrap_or_else(|| panic!("{path} not in {:?}", paths(p)))
}

fn announcements(p: &Publication) -> Vec<&Announcement> {
    p.writes.iter().filter_map(|w| w.announce.as_ref()).collect()
}

const HEADER_LIVE: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n";

#[test]
fn first_publish_writes_and_announces_every_index() {
    let mut s = StreamState::new(config(true, 3, 2));
    let p = s.publish(&group(0)).unwrap();
    assert_eq!(
        paths(&p),
        [
            "hls/ch/id/1280x720-30~2000/live.m3u8",
            "hls/ch/id/640x360-30/live.m3u8",
            "hls/ch/id/1280x720-30~2000/vod-0.m3u8",
            "hls/ch/id/640x360-30/vod-0.m3u8",
            "hls/ch/id/master.m3u8",
            "hls/ch/id/master-vod-0.m3u8",
        ]
    );
    assert_eq!(
        written(&p, "hls/ch/id/640x360-30/live.m3u8").content,
        format!(
            "{HEADER_LIVE}#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:00.000Z\n#EXTINF:1.000000,\n0.ts\n"
        )
    );
    let live = written(&p, "hls/ch/id/640x360-30/live.m3u8").announce.clone().unwrap();
    assert_eq!(live.stream_type, StreamType::HlsLive);
    assert_eq!((live.resolution.as_str(), live.start_time), (SD, None));
    let vod = written(&p, "hls/ch/id/1280x720-30~2000/vod-0.m3u8").announce.clone().unwrap();
    assert_eq!(vod.stream_type, StreamType::HlsVod);
    assert_eq!(vod.index_file, "hls/ch/id/1280x720-30~2000/vod-0.m3u8");
    assert_eq!(vod.start_time, None);
    assert_eq!(announcements(&p).len(), 4);
    assert_eq!(
        written(&p, "hls/ch/id/master-vod-0.m3u8").content,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-STREAM-INF:BANDWIDTH=2340800,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720,FRAME-RATE=29.970,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
         1280x720-30~2000/vod-0.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=1000000,AVERAGE-BANDWIDTH=1000000,RESOLUTION=640x360,FRAME-RATE=29.970,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
         640x360-30/vod-0.m3u8\n"
    );
    assert!(p.deletes.is_empty());
    assert_eq!(s.next_msn(), 1);
}

#[test]
fn later_publishes_announce_nothing_and_leave_a_steady_master_alone() {
    let mut s = StreamState::new(config(true, 3, 10));
    s.publish(&group(0)).unwrap();
    let p = s.publish(&group(1)).unwrap();
    assert_eq!(
        paths(&p),
        [
            "hls/ch/id/1280x720-30~2000/live.m3u8",
            "hls/ch/id/640x360-30/live.m3u8",
            "hls/ch/id/1280x720-30~2000/vod-0.m3u8",
            "hls/ch/id/640x360-30/vod-0.m3u8",
        ]
    );
    assert!(announcements(&p).is_empty());
}

#[test]
fn a_peak_more_than_ten_percent_over_rewrites_both_masters() {
    let mut s = StreamState::new(config(true, 3, 10));
    s.publish(&group(0)).unwrap();
    // SD at 1.1 Mbit/s exactly: no rewrite; HD stays under its floor.
    let p = s.publish(&group_of(1, Ratio::from_integer(1), 137_500)).unwrap();
    assert_eq!(p.writes.len(), 4);
    let p = s.publish(&group_of(2, Ratio::from_integer(1), 137_501)).unwrap();
    assert_eq!(&paths(&p)[4..], ["hls/ch/id/master.m3u8", "hls/ch/id/master-vod-0.m3u8"]);
    let master = &written(&p, "hls/ch/id/master.m3u8").content;
    assert!(master.contains("BANDWIDTH=1100008,AVERAGE-BANDWIDTH=1066670,RESOLUTION=640x360"), "{master}");
}

#[test]
fn rotation_finishes_the_part_and_starts_the_next_with_its_start_time() {
    let mut s = StreamState::new(config(true, 3, 2));
    s.publish(&group(0)).unwrap();
    s.publish(&group(1)).unwrap();
    let p = s.publish(&group(2)).unwrap();
    assert_eq!(
        paths(&p),
        [
            "hls/ch/id/1280x720-30~2000/vod-0.m3u8",
            "hls/ch/id/640x360-30/vod-0.m3u8",
            "hls/ch/id/master-vod-0.m3u8",
            "hls/ch/id/1280x720-30~2000/live.m3u8",
            "hls/ch/id/640x360-30/live.m3u8",
            "hls/ch/id/1280x720-30~2000/vod-1.m3u8",
            "hls/ch/id/640x360-30/vod-1.m3u8",
            "hls/ch/id/master-vod-1.m3u8",
        ]
    );
    assert_eq!(
        written(&p, "hls/ch/id/640x360-30/vod-0.m3u8").content,
        "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:00.000Z\n\
         #EXTINF:1.000000,\n0.ts\n#EXTINF:1.000000,\n1.ts\n#EXT-X-ENDLIST\n"
    );
    let vod1 = written(&p, "hls/ch/id/640x360-30/vod-1.m3u8");
    assert_eq!(vod1.announce.as_ref().unwrap().start_time.as_deref(), Some("2"));
    assert_eq!(
        vod1.content,
        "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:02.000Z\n#EXTINF:1.000000,\n2.ts\n"
    );
    assert!(written(&p, "hls/ch/id/master-vod-0.m3u8").content.contains("640x360-30/vod-0.m3u8\n"));
    assert_eq!(announcements(&p).len(), 2);
}

#[test]
fn start_time_is_the_exact_sum_per_rendition() {
    let mut s = StreamState::new(config(true, 3, 1));
    let mut starts = Vec::new();
    for n in 0..3 {
        let mut g = group_of(n, Ratio::new(3003, 1000), 100);
        g.renditions[1].duration = Ratio::new(1001, 334); // SD cut a frame later
        let p = s.publish(&g).unwrap();
        starts.push(announcements(&p).iter().filter_map(|a| a.start_time.clone()).collect::<Vec<_>>());
    }
    assert_eq!(starts[0], Vec::<String>::new());
    assert_eq!(starts[1], ["3.003", "2.997006"]);
    assert_eq!(starts[2], ["6.006", "5.994012"]);
}

#[test]
fn a_skipped_group_leaves_a_gap_in_n_but_not_in_media_sequence() {
    let mut s = StreamState::new(config(true, 3, 2));
    s.publish(&group(0)).unwrap();
    s.publish(&group(1)).unwrap();
    s.mark_discontinuity_next(); // group 2 could not be stored
    let p = s.publish(&group(3)).unwrap();
    assert_eq!(s.next_msn(), 3);
    assert_eq!(s.last_published(), Some(3));
    assert_eq!(
        written(&p, "hls/ch/id/640x360-30/live.m3u8").content,
        format!(
            "{HEADER_LIVE}#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:00.000Z\n\
             #EXTINF:1.000000,\n0.ts\n#EXTINF:1.000000,\n1.ts\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:03.000Z\n\
             #EXTINF:1.000000,\n3.ts\n"
        )
    );
    // msn 2 opens part 1; the part's own timeline starts there, so no DISCONTINUITY tag.
    let vod1 = written(&p, "hls/ch/id/640x360-30/vod-1.m3u8");
    assert!(vod1.content.ends_with(
        "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:03.000Z\n#EXTINF:1.000000,\n3.ts\n"
    ));
    assert_eq!(vod1.announce.as_ref().unwrap().start_time.as_deref(), Some("2"));
    // The mark is consumed by one group only.
    let p = s.publish(&group(4)).unwrap();
    assert_eq!(written(&p, "hls/ch/id/640x360-30/vod-1.m3u8").content.matches("DISCONTINUITY").count(), 0);
}

#[test]
fn deletes_keep_the_newest_two_l_segments() {
    let mut s = StreamState::new(config(false, 2, 2));
    for n in 0..4 {
        let p = s.publish(&group(n)).unwrap();
        assert!(p.deletes.is_empty(), "{n}: {:?}", p.deletes);
        assert!(!paths(&p).iter().any(|p| p.contains("vod")));
    }
    let p = s.publish(&group(4)).unwrap();
    assert_eq!(p.deletes, ["hls/ch/id/1280x720-30~2000/0.ts", "hls/ch/id/640x360-30/0.ts"]);
    let p = s.publish(&group(5)).unwrap();
    assert_eq!(p.deletes, ["hls/ch/id/1280x720-30~2000/1.ts", "hls/ch/id/640x360-30/1.ts"]);
}

#[test]
fn deletes_skip_unpublished_numbers_and_spare_segments_still_listed() {
    let mut s = StreamState::new(config(false, 2, 2));
    s.publish(&group(0)).unwrap();
    s.publish(&group(1)).unwrap();
    // 1.ts is still in live.m3u8 next to 10.ts: it must survive although 1 < 10+1-4.
    assert!(s.publish(&group(10)).unwrap().deletes.is_empty());
    assert!(s.publish(&group(11)).unwrap().deletes.is_empty());
    let p = s.publish(&group(12)).unwrap();
    assert_eq!(p.deletes, ["hls/ch/id/1280x720-30~2000/0.ts", "hls/ch/id/640x360-30/0.ts"]);
    let p = s.publish(&group(13)).unwrap();
    assert_eq!(p.deletes, ["hls/ch/id/1280x720-30~2000/1.ts", "hls/ch/id/640x360-30/1.ts"]);
}

#[test]
fn recording_never_deletes() {
    let mut s = StreamState::new(config(true, 1, 3));
    for n in 0..10 {
        assert!(s.publish(&group(n)).unwrap().deletes.is_empty());
    }
    assert!(s.finish().deletes.is_empty());
}

#[test]
fn finish_ends_live_finishes_the_part_and_writes_final_masters() {
    let mut s = StreamState::new(config(true, 3, 5));
    s.publish(&group(0)).unwrap();
    s.publish(&group_of(1, Ratio::new(5, 2), 100_000)).unwrap();
    let p = s.finish();
    assert_eq!(
        paths(&p),
        [
            "hls/ch/id/1280x720-30~2000/live.m3u8",
            "hls/ch/id/640x360-30/live.m3u8",
            "hls/ch/id/master.m3u8",
            "hls/ch/id/1280x720-30~2000/vod-0.m3u8",
            "hls/ch/id/640x360-30/vod-0.m3u8",
            "hls/ch/id/master-vod-0.m3u8",
        ]
    );
    assert!(announcements(&p).is_empty());
    let live = &written(&p, "hls/ch/id/640x360-30/live.m3u8").content;
    assert!(live.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n"), "{live}");
    assert!(live.ends_with("#EXTINF:2.500000,\n1.ts\n#EXT-X-ENDLIST\n"), "{live}");
    let vod = &written(&p, "hls/ch/id/640x360-30/vod-0.m3u8").content;
    assert!(vod.starts_with("#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n"), "{vod}");
    assert!(vod.ends_with("1.ts\n#EXT-X-ENDLIST\n"), "{vod}");
    // (125 000 + 100 000)·8 / 3.5 s, rounded up.
    assert!(written(&p, "hls/ch/id/master.m3u8").content.contains("AVERAGE-BANDWIDTH=514286,RESOLUTION=640x360"));
    assert_eq!(s.finish(), Publication::default());
    assert_eq!(s.publish(&group(2)), Err(PublishError::Finished { n: 2 }));
}

#[test]
fn finish_right_after_a_rotation_boundary_finishes_only_the_current_part() {
    let mut s = StreamState::new(config(true, 3, 1));
    s.publish(&group(0)).unwrap();
    s.publish(&group(1)).unwrap();
    let vods: Vec<_> = s.finish().writes.into_iter().filter(|w| w.path.contains("vod")).collect();
    let vod_paths: Vec<_> = vods.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        vod_paths,
        ["hls/ch/id/1280x720-30~2000/vod-1.m3u8", "hls/ch/id/640x360-30/vod-1.m3u8", "hls/ch/id/master-vod-1.m3u8"]
    );
}

#[test]
fn a_stream_that_never_published_finishes_without_writes() {
    let mut s = StreamState::new(config(true, 3, 2));
    assert_eq!(s.finish(), Publication::default());
    assert!(s.is_finished());
}

#[test]
fn disabled_masters_are_never_written() {
    let mut s = StreamState::new(StreamConfig { master: false, ..config(true, 3, 1) });
    let mut all = Vec::new();
    for n in 0..3 {
        all.extend(s.publish(&group(n)).unwrap().writes);
    }
    all.extend(s.finish().writes);
    assert!(all.iter().all(|w| !w.path.contains("master")));
}

#[test]
fn restart_from_serialized_state_continues_byte_for_byte() {
    let mut before = StreamState::new(config(true, 2, 2));
    for n in 0..5 {
        before.publish(&group(n)).unwrap();
    }
    let json = serde_json::to_string(&before).unwrap();
    let mut after: StreamState = serde_json::from_str(&json).unwrap();
    assert_eq!(after, before);
    for s in [&mut before, &mut after] {
        s.mark_discontinuity_next();
    }
    for n in [7, 8] {
        let g = group_of(n, Ratio::new(3003, 1000), 300_000);
        let (a, b) = (before.publish(&g).unwrap(), after.publish(&g).unwrap());
        assert_eq!(a, b);
        assert!(announcements(&b).iter().all(|a| a.stream_type == StreamType::HlsVod));
    }
    assert_eq!(before.finish(), after.finish());
    let live = after.renditions[1].live.render();
    assert!(
        live.contains(
            "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:07.000Z\n#EXTINF:3.003000,\n7.ts\n"
        ),
        "{live}"
    );
}

#[test]
fn a_track_change_marks_a_discontinuity_and_rewrites_both_masters_with_the_new_codecs() {
    let mut cfg = config(true, 3, 10);
    for r in &mut cfg.renditions {
        r.codecs = "avc1.64001f".into();
    }
    cfg.audio_kbps = 0;
    let mut s = StreamState::new(cfg);
    s.publish(&group(0)).unwrap();
    s.publish(&group(1)).unwrap();
    let mut with_audio = group(2);
    let codecs = vec!["avc1.64001f,mp4a.40.2".to_string(); 2];
    with_audio.tracks = Some(TrackChange { codecs, audio_kbps: 128 });
    let p = s.publish(&with_audio).unwrap();
    assert_eq!(&paths(&p)[4..], ["hls/ch/id/master.m3u8", "hls/ch/id/master-vod-0.m3u8"]);
    let master = &written(&p, "hls/ch/id/master.m3u8").content;
    assert!(master.contains("CODECS=\"avc1.64001f,mp4a.40.2\""), "{master}");
    // HD's floor now counts the audio: (2000 + 128) * 1100.
    assert!(master.contains("BANDWIDTH=2340800,"), "{master}");
    let live = &written(&p, "hls/ch/id/640x360-30/live.m3u8").content;
    assert!(live.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"), "{live}");
    assert_eq!(live.matches("#EXT-X-DISCONTINUITY").count(), 1, "{live}");
    // Later groups carry no change: no discontinuity, the masters stay as they are.
    let p = s.publish(&group(3)).unwrap();
    assert_eq!(p.writes.len(), 4);
    assert_eq!(s.config().audio_kbps, 128);
    // A change naming the wrong number of renditions is refused like a short group.
    let mut bad = group(4);
    bad.tracks = Some(TrackChange { codecs: vec!["avc1.64001f".into()], audio_kbps: 0 });
    assert_eq!(s.publish(&bad), Err(PublishError::RenditionCount { n: 4, expected: 2, got: 1 }));
}

#[test]
fn captions_first_seen_mid_stream_are_declared_from_that_group_on_and_survive_a_hand_over() {
    let mut s = StreamState::new(config(true, 3, 2));
    let p = s.publish(&group(0)).unwrap();
    assert!(!written(&p, "hls/ch/id/master.m3u8").content.contains("CLOSED-CAPTIONS"));
    s.publish(&group(1)).unwrap();
    let mut captioned = group(2);
    captioned.captions = Some(CaptionServices { cea608: true, cea708: false });
    let p = s.publish(&captioned).unwrap();
    // Both masters are rewritten at once (group 2 starts recording part 1).
    for path in ["hls/ch/id/master.m3u8", "hls/ch/id/master-vod-1.m3u8"] {
        let master = &written(&p, path).content;
        assert!(
            master.contains("#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"English\",INSTREAM-ID=\"CC1\"\n")
        );
        assert_eq!(master.matches("CLOSED-CAPTIONS=\"cc\"").count(), 2, "{master}");
    }
    // No discontinuity: the segments' tracks did not change.
    assert!(!written(&p, "hls/ch/id/640x360-30/live.m3u8").content.contains("DISCONTINUITY"));
    // A restarted run continues from the serialized state, captions declared.
    let mut resumed: StreamState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(resumed.captions(), CaptionServices { cea608: true, cea708: false });
    let p = resumed.finish();
    assert!(written(&p, "hls/ch/id/master.m3u8").content.contains("CLOSED-CAPTIONS=\"cc\""));
}

#[test]
fn invalid_groups_are_refused_and_change_nothing() {
    let mut s = StreamState::new(config(true, 3, 2));
    s.publish(&group(3)).unwrap();
    let snapshot = s.clone();
    let mut short = group(4);
    short.renditions.pop();
    assert_eq!(s.publish(&short), Err(PublishError::RenditionCount { n: 4, expected: 2, got: 1 }));
    assert_eq!(s.publish(&group(3)), Err(PublishError::NotIncreasing { n: 3, last: 3 }));
    assert_eq!(s.publish(&group(2)), Err(PublishError::NotIncreasing { n: 2, last: 3 }));
    for (numer, denom) in [(-1, 1), (1, -1), (1, 0), (i64::MIN, 1), (1, i64::MIN)] {
        let mut bad = group(4);
        bad.renditions[1].duration = Ratio::new_raw(numer, denom);
        let err = PublishError::BadDuration { n: 4, rendition: 1, numer, denom };
        assert_eq!(s.publish(&bad), Err(err));
    }
    assert_eq!(s, snapshot);
    // Unreduced and doubly negative ratios are fine and written reduced.
    let mut odd = group(4);
    odd.renditions[0].duration = Ratio::new_raw(-2, -2);
    assert!(s.publish(&odd).is_ok());
}

#[test]
fn stream_types_use_the_wire_tokens() {
    assert_eq!(serde_json::to_string(&StreamType::HlsLive).unwrap(), "\"HLS-LIVE\"");
    assert_eq!(serde_json::to_string(&StreamType::HlsVod).unwrap(), "\"HLS-VOD\"");
    assert_eq!(serde_json::from_str::<StreamType>("\"IMG-PREVIEW\"").unwrap(), StreamType::ImgPreview);
    assert_eq!(StreamType::HlsVod.to_string(), "HLS-VOD");
}

#[test]
fn recording_text_only_grows_at_the_end_except_when_the_target_rises() {
    let mut s = StreamState::new(config(true, 3, 100));
    let path = "hls/ch/id/640x360-30/vod-0.m3u8";
    let mut old = written(&s.publish(&group(0)).unwrap(), path).content.clone();
    for n in 1..8 {
        let secs = if n == 5 { Ratio::new(3, 2) } else { Ratio::from_integer(1) };
        let new = written(&s.publish(&group_of(n, secs, 1000)).unwrap(), path).content.clone();
        if n == 5 {
            assert!(new.contains("#EXT-X-TARGETDURATION:2\n"), "{new}");
            assert_eq!(new[..old.len()].replace("TARGETDURATION:2", "TARGETDURATION:1"), old);
        } else {
            assert!(new.starts_with(&old), "group {n} rewrote bytes:\n{old}\n---\n{new}");
        }
        old = new;
    }
}

#[test]
fn a_shed_rendition_ends_its_playlists_and_leaves_the_masters() {
    let mut s = StreamState::new(config(true, 3, 10));
    s.publish(&group(0)).unwrap();
    let p = s.shed(0);
    assert!(s.is_shed(0));
    assert_eq!(
        paths(&p),
        [
            "hls/ch/id/1280x720-30~2000/live.m3u8",
            "hls/ch/id/1280x720-30~2000/vod-0.m3u8",
            "hls/ch/id/master.m3u8",
            "hls/ch/id/master-vod-0.m3u8",
        ]
    );
    assert!(written(&p, "hls/ch/id/1280x720-30~2000/live.m3u8").content.ends_with("#EXT-X-ENDLIST\n"));
    assert!(written(&p, "hls/ch/id/1280x720-30~2000/vod-0.m3u8").content.ends_with("#EXT-X-ENDLIST\n"));
    for master in ["hls/ch/id/master.m3u8", "hls/ch/id/master-vod-0.m3u8"] {
        let text = &written(&p, master).content;
        assert!(!text.contains(HD) && text.contains(SD), "{text}");
    }
    // Later groups touch only what is still listed; the shed entry is ignored.
    let p = s.publish(&group(1)).unwrap();
    assert!(paths(&p).iter().all(|path| !path.contains(HD)), "{:?}", paths(&p));
    assert!(written(&p, "hls/ch/id/640x360-30/live.m3u8").content.contains("\n1.ts\n"));
    // The last listed rendition is never shed, and shedding twice changes nothing.
    assert_eq!(s.shed(1), Publication::default());
    assert_eq!(s.shed(0), Publication::default());
    // The end finishes only what is still listed.
    let p = s.finish();
    assert!(paths(&p).iter().all(|path| !path.contains(HD)), "{:?}", paths(&p));
    // The hand-over keeps the shed.
    let copy: StreamState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert!(copy.is_shed(0) && !copy.is_shed(1));
}

#[test]
fn a_live_only_stream_keeps_the_segments_a_shed_renditions_final_playlist_lists() {
    let mut s = StreamState::new(config(false, 2, 10));
    for n in 0..4 {
        s.publish(&group(n)).unwrap();
    }
    s.shed(0);
    let mut deleted = Vec::new();
    for n in 4..12 {
        deleted.extend(s.publish(&group(n)).unwrap().deletes);
    }
    // The final 720p playlist lists 2.ts and 3.ts: they stay; SD keeps being trimmed.
    assert!(
        deleted.iter().filter(|p| p.contains(HD)).all(|p| p.ends_with("/0.ts") || p.ends_with("/1.ts")),
        "{deleted:?}"
    );
    assert!(deleted.iter().any(|p| p.ends_with("640x360-30/7.ts")), "{deleted:?}");
}

/// CMAF group `n`: both video renditions and the audio one, each one second exactly, video
/// in 90 kHz and audio in 48 kHz ticks; `init` is the video init segment's first number.
fn cmaf_group(n: u64, init: u64) -> GroupRecord {
    let media = |timescale: u32, init: u64| SegmentMedia {
        start: (10 + n) * u64::from(timescale),
        ticks: u64::from(timescale),
        timescale,
        init: crate::hls::media::init_name(init),
    };
    let seg = |bytes, m: SegmentMedia| RenditionSegment { duration: m.duration(), bytes, media: Some(m) };
    GroupRecord {
        n,
        discontinuity: false,
        program_date_time_ms: T0 + 1000 * n as i64,
        renditions: vec![seg(250_000, media(90_000, init)), seg(125_000, media(90_000, init))],
        tracks: None,
        audio: Some(seg(16_000, media(48_000, 0))),
        captions: None,
    }
}

#[test]
fn cmaf_lists_init_segments_and_one_audio_rendition_that_every_variant_refers_to() {
    let cfg = StreamConfig {
        renditions: config(true, 3, 10)
            .renditions
            .into_iter()
            .map(|d| RenditionDesc { codecs: "avc1.64001f".into(), ..d })
            .collect(),
        format: SegmentFormat::Cmaf,
        ..config(true, 3, 10)
    };
    let mut state = StreamState::new(cfg);
    let first = state.publish(&cmaf_group(0, 0)).unwrap();
    state.mark_discontinuity_next();
    let second = state.publish(&cmaf_group(1, 1)).unwrap();
    // The audio rendition is written but never announced: the coordinator has no type for it.
    assert!(paths(&first).contains(&"hls/ch/id/audio/live.m3u8"), "{:?}", paths(&first));
    assert!(paths(&first).contains(&"hls/ch/id/audio/vod-0.m3u8"));
    assert!(announcements(&first).iter().all(|a| a.resolution != "audio"));
    assert_eq!(announcements(&first).len(), 4, "HLS-LIVE and HLS-VOD per video rendition");
    let live = &written(&second, &format!("hls/ch/id/{SD}/live.m3u8")).content;
    assert_eq!(
        live,
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init-0.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:00.000Z\n#EXTINF:1.000000,\n0.m4s\n\
         #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:01.000Z\n#EXTINF:1.000000,\n1.m4s\n"
    );
    let audio = &written(&second, "hls/ch/id/audio/live.m3u8").content;
    assert!(audio.contains("#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME"), "{audio}");
    assert_eq!(audio.matches("EXT-X-MAP").count(), 1, "the audio init did not change: {audio}");
    let master = &written(&first, "hls/ch/id/master.m3u8").content;
    assert!(
        master.contains(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,URI=\"audio/live.m3u8\"\n"
        ),
        "{master}"
    );
    // SD: 1 Mbit/s of video plus 128 kbit/s of audio.
    assert!(
        master.contains("BANDWIDTH=1128000,AVERAGE-BANDWIDTH=1128000,RESOLUTION=640x360,FRAME-RATE=29.970,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\"\n640x360-30/live.m3u8"),
        "{master}"
    );
    let vod_master = &written(&first, "hls/ch/id/master-vod-0.m3u8").content;
    assert!(vod_master.contains("URI=\"audio/vod-0.m3u8\""), "{vod_master}");
}

#[test]
fn dash_manifests_are_written_with_the_playlists_and_end_with_the_stream() {
    let cfg = StreamConfig {
        renditions: config(true, 3, 2)
            .renditions
            .into_iter()
            .map(|d| RenditionDesc { codecs: "avc1.64001f".into(), ..d })
            .collect(),
        format: SegmentFormat::Cmaf,
        dash: true,
        ..config(true, 3, 2)
    };
    let mut state = StreamState::new(cfg);
    let first = state.publish(&cmaf_group(0, 0)).unwrap();
    assert!(paths(&first).contains(&"hls/ch/id/master.mpd"), "{:?}", paths(&first));
    assert!(paths(&first).contains(&"hls/ch/id/master-vod-0.mpd"));
    let live = &written(&first, "hls/ch/id/master.mpd").content;
    assert!(live.contains(r#"type="dynamic""#) && live.contains("minimumUpdatePeriod"), "{live}");
    assert!(live.contains(r#"media="audio/$Number$.m4s""#), "{live}");
    state.publish(&cmaf_group(1, 0)).unwrap();
    // Group 2 opens recording part 1 (two entries per part).
    let third = state.publish(&cmaf_group(2, 0)).unwrap();
    let part = &written(&third, "hls/ch/id/master-vod-1.mpd").content;
    assert!(part.contains(r#"type="static""#) && part.contains(r#"mediaPresentationDuration="PT1S""#), "{part}");
    assert!(part.contains(r#"startNumber="2""#), "{part}");
    let end = state.finish();
    let ended = &written(&end, "hls/ch/id/master.mpd").content;
    assert!(ended.contains(r#"mediaPresentationDuration="PT3S""#), "{ended}");
    assert!(!ended.contains("minimumUpdatePeriod"), "{ended}");
    // The index travels with the state: a restarted run continues the same manifests.
    let back: StreamState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(back, state);
}

#[test]
fn without_dash_no_manifest_is_written() {
    let cfg = StreamConfig { format: SegmentFormat::Cmaf, ..config(true, 3, 10) };
    let mut state = StreamState::new(cfg);
    let out = state.publish(&cmaf_group(0, 0)).unwrap();
    assert!(paths(&out).iter().all(|p| !p.ends_with(".mpd")), "{:?}", paths(&out));
}
