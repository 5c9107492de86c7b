//! The scenarios: one module each.

pub mod fanout;
pub mod history;
pub mod idle;
pub mod publish;
pub mod resume;
