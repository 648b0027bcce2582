//! # hls-ladder
//!
//! A live transcoding worker: pulls one RTMP stream per job, decodes it once and publishes
//! a keyframe-aligned HLS ladder (live, recording and master playlists, JPEG previews) to
//! storage, announcing each index only once it is durable.
//!
//! # Layout
//!
//! One line per top-level module; `docs/architecture.md` maps every module down to the last
//! file, and `tests/docs.rs` keeps the two lists and the tree in step.
//!
//! - `cli`            command line: `worker`, `transcode`, `probe`, `health`, `serve`
//! - `config`         every setting: raw flags and environment, validated once
//! - `worker`         production mode: signals, session + supervisor wiring
//! - `control`        coordinator link: framing, messages, JWT, backoff, websocket session
//! - `supervisor`     job table (sans-IO), child processes, restart hand-over, stall detection
//! - `child_protocol` the worker↔child contract: job and commands in, events out
//! - `transcode`      the single-stream command: pipeline thread + publisher, events out
//! - `probe`          source streams and the ladder the fitting algorithm picks
//! - `serve`          a storage root over HTTP: stream list, player page (hls.js), files
//! - `ladder`         resolution grammar, ladder fitting, profiles (pure)
//! - `pipeline`       libav: input, clock, video renditions, audio, segmenter, previews, passthrough
//! - `publisher`      sans-IO publication core (durable before listed) and its upload shell
//! - `cdn`            the HLS WebSocket CDN push (one connection per rendition)
//! - `hls`            playlist texts and the stream's publication state machine (pure)
//! - `metrics`        Prometheus families, the /metrics /healthz /readyz endpoint
//! - `storage`        filesystem / HTTP / S3 / Azure backends, retries, path validation
//! - `redact`         stream keys and credentials out of every URL we log or report
//! - `tls`            the TLS provider and the certificate policy for ingest servers
//! - `logging`        tracing setup, libav's log
//! - `test_fixtures`  builders shared by the unit tests (renditions, stream configs, groups, a seeded RNG)
//! - `fuzzing`        oracles of the `cargo fuzz` targets, replayed by `tests/fuzz_corpus.rs`

pub mod cdn;
pub mod child_protocol;
pub mod cli;
pub mod config;
pub mod control;
#[doc(hidden)]
pub mod fuzzing;
pub mod hls;
pub mod ladder;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod probe;
pub mod publisher;
pub mod redact;
pub mod serve;
pub mod storage;
pub mod supervisor;
#[cfg(test)]
mod test_fixtures;
pub mod tls;
pub mod transcode;
pub mod worker;
