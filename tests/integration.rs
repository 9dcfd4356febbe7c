//! The integration suite: one test binary, one module per area. Every module
//! drives the real `sls-rs` binary and, where it talks to AWS, the local emulator
//! through `support`. One area: `cargo test --test integration deploy::`.

mod support;

mod cli;
mod converge;
mod data_safety;
mod deploy;
mod dev;
mod emulator;
mod examples;
mod local_invoke;
mod manifest_corpus;
mod metrics;
mod migrate;
mod package;
mod permissions;
mod realism;
mod regions;
mod resources;
mod safety;
mod templates;
