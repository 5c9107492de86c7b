//! Black-box conformance tests for Quicksilver against `../shared/protocol.md`.
//!
//! Each test is named after (and doc-commented with) the requirement ids it checks.
//! See `spec-tests/README.md` for how to run the suite, including against an external hub.

// The test-support module every suite shares (tests/support/): the hub, HTTP helpers, the SSE
// client, token minting; named at the root so that tests write `crate::harness::Hub`.
#[path = "../tests/support/mod.rs"]
mod support;
use support::tempdir;
use support::{harness, http, ports, process, sse, tokens};

mod asserts;

mod access;
mod admin;
mod authorization;
mod compression;
mod cors;
mod discovery;
mod endpoints;
mod hardening;
mod history;
mod limits;
mod operations;
mod publish;
mod publish_origins;
mod selectors;
mod slow;
mod stream;
mod subscribe;
mod subscriptions;
mod ui;
mod v1;
