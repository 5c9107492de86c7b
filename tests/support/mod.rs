//! What every test suite of this repository needs to drive the real binary, in one place:
//! free ports, temporary directories, `quicksilver` processes (a blocking one for the CLI,
//! client, bench and cluster suites; the async spec `Hub` with its HTTP helpers for the spec and
//! fault suites), an SSE parser and client, JWT minting, self-signed certificates, and a real `redis-server`.
//!
//! It is not a crate of its own because it needs `env!("CARGO_BIN_EXE_quicksilver")`, which Cargo
//! gives only to the integration tests of the package that builds the binary. Each suite
//! includes it as a module (`mod support;` from `tests/*.rs`,
//! `#[path = "../tests/support/mod.rs"] mod support;` from `spec-tests/`); see
//! spec-tests/README.md.

// Each suite uses part of it.
#![allow(dead_code)]

pub mod harness;
pub mod http;
pub mod ports;
pub mod process;
pub mod redis_server;
pub mod sse;
pub mod tempdir;
pub mod tls;
pub mod tokens;
