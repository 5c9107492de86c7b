//! Fault injection: the promises of docs/reliability.md, each proven by breaking something on
//! purpose (a disk that loses unsynced data or fills up, a Redis that stops answering, hostile
//! clients) against the real binary.
//!
//! Each test's doc comment names the promise it proves, as docs/reliability.md lists them. Tests
//! that need root, `/dev/fuse` or `redis-server` print a `SKIP:` line and pass without them
//! (`bash .ci/run` installs and runs as root).

// The spec tests' harness is shared whole; each suite uses part of it.
#![allow(dead_code)]

#[path = "../../spec-tests/asserts.rs"]
mod asserts;
#[path = "../../spec-tests/harness.rs"]
mod harness;
#[path = "../../spec-tests/sse.rs"]
mod sse;
#[path = "../../spec-tests/tokens.rs"]
mod tokens;

mod bounds;
mod disk_full;
mod flood;
mod lazyfs;
mod power_loss;
mod redis;
#[path = "../support/redis_server.rs"]
mod redis_server;
mod replay;
mod shutdown;
mod support;
mod templates;
// `tokens` is the spec harness's token minting above; this suite's file is tokens.rs.
#[path = "tokens.rs"]
mod token_faults;
mod upgrade;
