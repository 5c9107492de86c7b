//! Black-box conformance tests for Quicksilver against `../shared/protocol.md`.
//!
//! Each test is named after (and doc-commented with) the requirement ids it checks.
//! See `spec-tests/README.md` for how to run the suite, including against an external hub.

mod asserts;
mod harness;
mod sse;
mod tokens;

mod access;
mod admin;
mod authorization;
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
