//! sls-rs: deploys Rust serverless services to AWS Lambda by calling AWS APIs
//! directly. The flow is manifest → model → plan → apply → state; see the
//! repository's DESIGN notes. The binary is a thin shell over this library.

pub mod build;
pub mod cli;
pub mod cloud;
pub mod commands;
pub mod engine;
pub mod error;
pub mod local;
pub mod logs;
pub mod metrics;
pub use sls_rs_manifest as manifest;
pub mod migrate;
pub mod model;
pub mod scaffold;
pub mod ui;
