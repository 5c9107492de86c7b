//! Quicksilver: a hub for the Mercure protocol.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(unreachable_pub)]

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
pub mod settings;
pub mod topic;
