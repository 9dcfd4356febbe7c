//! The YAML reader (`node::parse`, the event-driven reader with its limits):
//! any text is a tree or one diagnostic that points inside the text; never a
//! panic, a hang or a runaway allocation (scripts/fuzz sets the time and memory
//! budgets).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sls_rs_manifest::node;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(d) = node::parse(text) {
        assert!(!d.message.is_empty(), "a diagnostic without a message");
        assert!(
            d.mark.line <= text.lines().count() + 1,
            "a diagnostic at line {} of a {}-line text",
            d.mark.line,
            text.lines().count()
        );
    }
});
