//! The preview index (output-layout §11): exactly this text, no whitespace, no newline; and
//! the thumbnail track beside it, the same images as a WebVTT file players read for seek-bar
//! thumbnails.

use std::fmt::Write as _;

/// `index.json` for `count` consecutive durable images from `0.jpg`.
pub fn index_json(count: u64) -> String {
    format!(r#"{{"index_start":0,"count":{count},"pattern":"%d.jpg"}}"#)
}

/// File name of the thumbnail track in a preview directory.
pub const THUMBNAILS_VTT: &str = "thumbnails.vtt";

/// `thumbnails.vtt` for `count` consecutive durable images taken every `interval` seconds:
/// cue N covers [N·D, (N+1)·D) of the stream's media time (seconds since its first frame, the
/// time base of a recording's seek bar and of `index.json`'s `N.jpg` at N·D); its text is the
/// image's URL relative to the track, which sits beside the images.
pub fn thumbnails_vtt(count: u64, interval: u32) -> String {
    let mut vtt = String::with_capacity(16 + count as usize * 40);
    vtt.push_str("WEBVTT\n");
    let d = u64::from(interval);
    for n in 0..count {
        let _ = write!(vtt, "\n{} --> {}\n{n}.jpg\n", cue_time(n * d), cue_time((n + 1) * d));
    }
    vtt
}

/// `HH:MM:SS.000` (hours take more digits past 99, as WebVTT allows).
fn cue_time(seconds: u64) -> String {
    format!("{:02}:{:02}:{:02}.000", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// Storage path of a preview directory's file (`N.jpg` or `index.json`).
pub fn preview_path(channel: &str, stream_id: &str, label: &str, file: &str) -> String {
    format!("img-preview/{channel}/{stream_id}/{label}/{file}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_byte_exact() {
        assert_eq!(index_json(4), r#"{"index_start":0,"count":4,"pattern":"%d.jpg"}"#);
        assert_eq!(index_json(0).len(), 46);
    }

    #[test]
    fn the_thumbnail_track_has_one_cue_per_image_covering_its_interval() {
        assert_eq!(thumbnails_vtt(0, 2), "WEBVTT\n");
        assert_eq!(
            thumbnails_vtt(2, 5),
            "WEBVTT\n\n00:00:00.000 --> 00:00:05.000\n0.jpg\n\n00:00:05.000 --> 00:00:10.000\n1.jpg\n"
        );
        // The timestamp form past an hour and past 99 hours.
        let long = thumbnails_vtt(3600 * 100 / 10 + 1, 10);
        assert!(long.contains("\n01:00:00.000 --> 01:00:10.000\n360.jpg\n"), "{}", &long[..200]);
        assert!(long.ends_with("\n100:00:00.000 --> 100:00:10.000\n36000.jpg\n"));
    }

    #[test]
    fn preview_paths_follow_the_layout() {
        assert_eq!(preview_path("c1", "abc", "256x144-5", "index.json"), "img-preview/c1/abc/256x144-5/index.json");
    }
}
