//! The bounds that keep reading a manifest fast and small whatever the input
//! (a 10,000-deep list, an alias bomb, a variable that doubles itself thirty
//! times). A real serverless.yaml stays far below each; past one, the manifest
//! is refused with a message naming the limit, before time or memory run out.

/// How deeply mappings and lists may nest (also after variables are resolved).
/// A Step Functions definition with a dozen nested `Parallel` states needs about 50.
pub const MAX_NESTING: usize = 100;

/// How many values (keys, list items, scalars) a manifest may hold, counting what
/// aliases (`*name`) expand to and, separately, what variables copy in.
pub const MAX_VALUES: usize = 100_000;

/// How much scalar text a manifest may hold, counting alias expansion and, separately,
/// the text variables produce.
pub const MAX_TEXT_BYTES: usize = 8 << 20;

/// The longest single value after variables are resolved. The largest thing sls-rs
/// sends to AWS, a state machine definition, may not exceed 1 MB either.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// How deeply `${…}` may be written inside one another (`${self:a.${sls:stage}}` is 2).
pub const MAX_VARIABLE_NESTING: usize = 10;

/// How many values may be in resolution at once: written nesting plus variables that
/// read values that are themselves variables (`a: ${self:b}`, `b: ${self:c}`, …).
pub const MAX_RESOLUTION_DEPTH: usize = 250;

/// Bytes, shown the way a user reads them.
pub fn mib(bytes: usize) -> String {
    format!("{} MiB", bytes >> 20)
}
