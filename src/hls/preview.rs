//! The preview index (output-layout §11): exactly this text, no whitespace, no newline.

/// `index.json` for `count` consecutive durable images from `0.jpg`.
pub fn index_json(count: u64) -> String {
    format!(r#"{{"index_start":0,"count":{count},"pattern":"%d.jpg"}}"#)
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
    fn preview_paths_follow_the_layout() {
        assert_eq!(preview_path("c1", "abc", "256x144-5", "index.json"), "img-preview/c1/abc/256x144-5/index.json");
    }
}
