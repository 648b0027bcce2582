//! Support for the integration tests, shared by every test binary: each declares
//! `pub mod support;` once and uses the parts it needs. `pub`, because a harness item that one
//! binary does not use is then not dead code to rustc, while a private item nobody uses still is.
//!
//! - `captions`: a source with CEA-608 captions in A/53 SEI, and FFmpeg decoding them.
//! - `util`: the real binary, nginx with the RTMP module on a free loopback port, ffmpeg test
//!   sources and publishers, ffprobe and ffmpeg as independent HLS clients.
//! - `worker_process`: a `hls-ladder worker` process with its storage and log in a temp dir.
//! - `fake_coordinator`: a strict fake of the coordinator's control endpoint.
//! - `ws_ingest`: a fake WS ingest server.
//! - `cdn_server`: a strict fake of the HLS WebSocket CDN's push side.
//! - `storage_server`: a real HTTP storage server with scriptable replies.
//! - `flv`: FLV files taken apart, altered and published tag by tag.
//! - `http`: a raw HTTP/1.1 client (targets sent exactly as given).
//! - `loopback`: a server task on a loopback port that stops when dropped.
//! - `mp4`: a small ISO BMFF reader for CMAF init and media segments.
//! - `webvtt`: a strict WebVTT parser, to judge thumbnail tracks.

pub mod captions;
pub mod cdn_server;
pub mod fake_coordinator;
pub mod flv;
pub mod http;
pub mod loopback;
pub mod mp4;
pub mod storage_server;
pub mod util;
pub mod webvtt;
pub mod worker_process;
pub mod ws_ingest;
