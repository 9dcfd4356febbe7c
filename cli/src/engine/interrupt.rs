//! Stopping a run cleanly. On the first Ctrl-C or SIGTERM (a cancelled CI job)
//! no new step starts, the steps in flight finish, the state is saved and the
//! lock released, and the process exits 130; a second signal exits at once.
//! Losing the lock to another run stops the run the same way.

use std::sync::atomic::{AtomicU8, Ordering};

const RUNNING: u8 = 0;
const SIGNALLED: u8 = 1;
const LOCK_LOST: u8 = 2;

static STOP: AtomicU8 = AtomicU8::new(RUNNING);

/// Why a run stops before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Signal,
    LockLost,
}

/// Whether the run must start no new step.
pub fn requested() -> Option<Reason> {
    match STOP.load(Ordering::SeqCst) {
        SIGNALLED => Some(Reason::Signal),
        LOCK_LOST => Some(Reason::LockLost),
        _ => None,
    }
}

/// Asks the run to stop; the first reason given is the one kept.
pub fn request(reason: Reason) {
    let value = match reason {
        Reason::Signal => SIGNALLED,
        Reason::LockLost => LOCK_LOST,
    };
    let _ = STOP.compare_exchange(RUNNING, value, Ordering::SeqCst, Ordering::SeqCst);
}

/// Listens for SIGINT and SIGTERM while a run holds the lock.
pub fn listen() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let mut first = true;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if !first {
                crate::ui::warn("second signal: exiting now; the lock stays until it goes stale or `sls-rs unlock`");
                // The user asked twice: one of the two places sls-rs exits outside `main` (the other: `sls-rs dev`).
                #[allow(clippy::exit)]
                std::process::exit(i32::from(crate::error::EXIT_INTERRUPTED));
            }
            first = false;
            request(Reason::Signal);
            crate::ui::warn("interrupted: finishing the steps in flight, then saving the state and releasing the lock (again to quit at once)");
        }
    })
}
