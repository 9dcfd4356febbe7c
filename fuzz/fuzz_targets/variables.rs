//! The variable resolver alone (`vars::resolve` on any tree the reader accepts):
//! `${self:…}`, `${env:…}`, `${opt:…}`, fallbacks, nesting and cycles resolve or
//! give one diagnostic; never a panic, a hang or a runaway expansion.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sls_rs_manifest::{node, vars, VarContext};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tree) = node::parse(text) else {
        return;
    };
    // A few variables exist, so `${env:…}` takes both paths.
    let env = |name: &str| match name {
        "STAGE" => Some("prod".to_string()),
        "EMPTY" => Some(String::new()),
        "NESTED" => Some("${self:service}".to_string()),
        _ => None,
    };
    let ctx = VarContext {
        opt_stage: None,
        opt_region: None,
        env: &env,
    };
    if let Err(d) = vars::resolve(&tree, &ctx) {
        assert!(!d.message.is_empty(), "a diagnostic without a message");
    }
    let _ = vars::effective_stage(&tree, &ctx);
});
