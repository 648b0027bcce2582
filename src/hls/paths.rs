//! Where each file of a stream goes (output-layout §6).

use super::media::SegmentFormat;

/// `hls/{ch}/{id}`: the stream's directory.
pub fn stream_dir(channel: &str, stream_id: &str) -> String {
    format!("hls/{channel}/{stream_id}")
}

/// `hls/{ch}/{id}/{RES}/{N}.ts`
pub fn segment_path(channel: &str, stream_id: &str, label: &str, n: u64) -> String {
    format!("{}/{label}/{n}.ts", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/{RES}/{N}.{ts|m4s}`: a media segment in the stream's format.
pub fn media_segment_path(format: SegmentFormat, channel: &str, stream_id: &str, label: &str, n: u64) -> String {
    format!("{}/{label}/{n}.{}", stream_dir(channel, stream_id), format.extension())
}

/// `hls/{ch}/{id}/{RES}/{file}`: a file of one rendition (a CMAF init segment).
pub fn rendition_file_path(channel: &str, stream_id: &str, label: &str, file: &str) -> String {
    format!("{}/{label}/{file}", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/{RES}/live.m3u8`
pub fn live_path(channel: &str, stream_id: &str, label: &str) -> String {
    format!("{}/{label}/live.m3u8", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/{RES}/vod-{K}.m3u8`
pub fn vod_path(channel: &str, stream_id: &str, label: &str, part: u64) -> String {
    format!("{}/{label}/vod-{part}.m3u8", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/master.m3u8`
pub fn master_path(channel: &str, stream_id: &str) -> String {
    format!("{}/master.m3u8", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/master-vod-{K}.m3u8`
pub fn master_vod_path(channel: &str, stream_id: &str, part: u64) -> String {
    format!("{}/master-vod-{part}.m3u8", stream_dir(channel, stream_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_layout_table() {
        assert_eq!(segment_path("c", "s", "640x360-30", 7), "hls/c/s/640x360-30/7.ts");
        assert_eq!(live_path("c", "s", "640x360-30"), "hls/c/s/640x360-30/live.m3u8");
        assert_eq!(vod_path("c", "s", "640x360-30", 2), "hls/c/s/640x360-30/vod-2.m3u8");
        assert_eq!(master_path("c", "s"), "hls/c/s/master.m3u8");
        assert_eq!(master_vod_path("c", "s", 0), "hls/c/s/master-vod-0.m3u8");
    }
}
