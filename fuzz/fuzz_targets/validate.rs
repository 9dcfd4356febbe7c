//! The whole of reading a manifest (`load_str`: parse, resolve, type, validate),
//! as `sls-rs validate` does: a service, or diagnostics that render, as text and
//! as `--json`, in the user's words; never a panic, a hang or a runaway allocation.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sls_rs_manifest::{load_str, LoadOptions};

/// What a message must never show unless the input itself wrote it: Rust's own names.
const RUST_NAMES: &[&str] = &["alloc::", "core::", "std::", "Option<", "Vec<", "IndexMap<"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "X").then(|| "from-env".to_string());
    let opts = LoadOptions {
        config: None,
        stage: None,
        region: None,
        env: &env,
    };
    if let Err(e) = load_str(Path::new("serverless.yaml"), text, &opts) {
        assert!(!e.diagnostics.is_empty(), "an error without a diagnostic");
        let shown = e.to_string();
        let _ = e.to_json().to_string();
        for name in RUST_NAMES {
            if shown.contains(name) && !text.contains(name) {
                panic!("a message shows the Rust name `{name}`:\n{shown}");
            }
        }
    }
});
