//! Quicksilver: a fast, loss-free hub for the Mercure protocol.
//!
//! A publish goes `http` → `auth` → `event` → `hub`, which stores it in the `log` and then fans
//! it out; a subscription goes `http` → `auth` → `topic` → `hub`, which streams the replay, then
//! live events. The modules, each with one job:
//!
//! - [`topic`]: selectors (`*`, exact strings, URI templates) and matching topics against them.
//! - [`auth`]: where a token comes from, its verification, and the rights its claims grant.
//! - [`event`]: the update, which can only be built valid, and its SSE encoding, made once.
//! - [`log`]: the history (append, find a cursor, replay, retention) in memory, on sled or Redis.
//! - [`hub`]: the subscriber registry and the fan-out, ordered with the history so that replay
//!   hands over to live events without gap or duplicate.
//! - [`http`]: thin actix handlers over the hub; the only module that knows actix and sockets.
//! - [`config`]: the configuration's layers (defaults, file, environment, flags), each key
//!   defined once.
//! - [`settings`]: the configuration checked at startup, grouped by the part that uses it.
//! - [`server`]: the wiring: opens the history, starts the hub and listeners, stops gracefully.
//! - [`cli`]: the `quicksilver` command line (`serve`, `token`, `publish`, `subscribe`, …).
//! - [`metrics`]: the Prometheus counters and their text.
//! - [`presence`]: one open subscription as the hub, a shared log and the API describe it.
//! - [`form`]: strict WHATWG form decoding of query strings and publish bodies.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub mod auth;
pub mod cli;
pub mod compress;
pub mod config;
pub mod event;
pub mod form;
pub mod http;
pub mod hub;
pub mod log;
pub mod metrics;
pub mod presence;
pub mod server;
pub mod settings;
pub mod topic;
