//! The two kinds of failure users see: their own mistake (exit 2, nothing
//! touched) and everything else (exit 1).

use std::fmt;

use crate::manifest::ManifestError;

/// A bad flag, a missing file, a wrong path: the user's to fix. It lives with
/// the manifest reader (which raises it first) and is the same type here.
pub use crate::manifest::UsageError;

/// Exit code for a bad manifest or bad flags.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for anything else that failed.
pub const EXIT_FAILURE: u8 = 1;

/// Whether an error is the user's input rather than a failure of ours or of AWS.
pub fn is_usage(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ManifestError>().is_some() || err.downcast_ref::<UsageError>().is_some()
}

/// A write to a closed pipe (`sls-rs print | head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The run was stopped by a signal, after finishing the steps in flight,
/// saving the state and releasing the lock.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted: the steps in flight finished, the state is saved and the lock released; `sls-rs deploy` again finishes the work")
    }
}

impl std::error::Error for Interrupted {}

/// Whether the run was interrupted by a signal.
pub fn is_interrupted(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Interrupted>().is_some()
}
