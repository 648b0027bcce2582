//! Settings, raw and validated. Raw settings are clap flags, each reading the environment
//! variable the Go worker read (coordinator-protocol §11, output-layout §15); they are
//! converted once into validated types that the rest of the program takes. Nothing past this
//! module sees a setting as a string it still has to check.
//!
//! # Layout
//! - `env`: the environment as an explicit set of variables: `.env` loading and the §11 rule
//!   that an invalid value falls back to its default with a warning.
//! - `job`: [`JobSettings`] (how every stream is encoded and published; shared by `transcode`
//!   and `worker`) into the job document's `EncodeSettings`.
//! - `storage`: [`StorageArgs`] (the worker's storage variables) into a `StorageConfig`.
//! - `cdn`: [`CdnArgs`] (the HLS WebSocket CDN push) into a `CdnConfig`.
//! - `worker`: [`WorkerArgs`] into [`WorkerConfig`] (control link, job table, children).
//!
//! The validated forms of the job settings travel to each transcode in its job document
//! (`child_protocol::ChildJob`), so no setting is validated twice and no secret reaches a
//! command line.

mod cdn;
pub mod env;
mod job;
mod storage;
mod worker;

pub use cdn::CdnArgs;
pub use env::parse_bool;
pub use job::JobSettings;
pub use storage::StorageArgs;
#[cfg(test)]
pub use worker::default_table_config;
pub use worker::{WorkerArgs, WorkerConfig};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_the_go_worker_spellings() {
        assert_eq!(parse_bool("YES"), Ok(true));
        assert_eq!(parse_bool("no"), Ok(false));
        assert_eq!(parse_bool("True"), Ok(true));
        assert!(parse_bool("maybe").is_err());
    }
}
