//! Fault injection: the promises of docs/reliability.md, each proven by breaking something on
//! purpose (a disk that loses unsynced data or fills up, a Redis that stops answering, hostile
//! clients) against the real binary.
//!
//! Each test's doc comment names the promise it proves, as docs/reliability.md lists them. Tests
//! that need root, `/dev/fuse` or `redis-server` print a `SKIP:` line and pass without them
//! (`bash .ci/run` installs and runs as root).

// The test-support module every suite shares (tests/support/), with the spec suite's hub;
// `support` is this suite's own helpers (support.rs), so the shared one is `test_support`.
#[path = "../support/mod.rs"]
mod test_support;
use test_support::{harness, http, ports, process, redis_server, sse, tokens};

mod bounds;
mod disk_full;
mod flood;
mod lazyfs;
mod power_loss;
mod redis;
mod replay;
mod shutdown;
mod support;
mod templates;
// `tokens` is the spec harness's token minting above; this suite's file is tokens.rs.
#[path = "tokens.rs"]
mod token_faults;
mod upgrade;
