//! Job supervision (spec: coordinator-protocol.md §4, §5, §8, §9).
//!
//! # Layout
//! - `spec`: ENCODE-START validation into a [`JobSpec`] (§5).
//! - `child`: the adapter that runs one `transcode --job` process per run and reports on it.
//! - `runner`: the async loop: coordinator commands, child reports and timers through the table.
//! - `stall`: stall detection for a running child (sans-IO).
//! - `handover`: what a restarted run inherits, rebuilt from the child's events (sans-IO).
//! - `cleanup`: what a finished Record False stream left in storage, and when it goes (sans-IO);
//!   `janitor` deletes it.
//! - `table`: the sans-IO [`JobTable`]: coordinator messages, child events and the clock in,
//!   [`Action`]s out. It owns every protocol guarantee of §9.1; the adapters that run child
//!   processes and write to the websocket only execute its actions.
//!
//! # Adapter contract
//! - Every [`Action::Spawn`] is answered, eventually, by exactly one [`Input::ChildExited`] for
//!   that job, also after [`Action::Kill`]; events of one child arrive in the order the child
//!   wrote them, and `ChildExited` only after the child's stdout reached EOF.
//! - [`Action::Send`]s go to the outbound queue in order; [`Action::Register`] is sent directly
//!   (never queued); on every reconnect the session registers [`JobTable::register_capacity`].
//! - `handle(now, Input::Tick)` is called at [`JobTable::next_deadline`] (late is fine).
//!
//! # Choices the spec leaves open
//! - STREAM-CLOSED goes out on the child's `closed` event (its final playlists are durable),
//!   not on its exit; the child then has `finalize_timeout` to exit before it is killed.
//! - ENCODE-STARTs during shutdown are refused with `OVER_CAPACITY`: the worker registered
//!   capacity 0, so this is §8's refusal; `SHUTDOWN` marks only jobs the shutdown interrupted.
//! - A held (superseded) STREAM-CLOSED is not sent, so its job still counts as active (§8).
//! - A child that got [`Action::Kill`] counts as gone for [`Action::Exit`].

pub mod capacity;
pub mod child;
mod cleanup;
mod handover;
pub mod janitor;
pub mod overload;
pub mod runner;
mod spec;
mod stall;
mod table;

pub use cleanup::{leftovers, Cleanup, CleanupQueue};
pub use handover::Mirror;
pub use runner::{ChildConfig, Supervisor, SupervisorSettings};
pub use spec::{InvalidJob, JobSpec, Previews, SourceKind};
pub use stall::{Liveness, StallPolicy};
pub use table::{Action, Capacity, Input, JobId, JobTable, TableConfig};
