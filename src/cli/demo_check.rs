//! How a demo step that did not hold is told: one `demo FAILED: …` line and
//! the usage exit code, shared by both of the demo's stories.

use super::exit::Failure;

/// A step that did not hold.
pub(super) fn failed(what: String) -> Failure {
    Failure::usage(format!("demo FAILED: {what}"))
}

/// `Ok` when `ok`, else the failure `what()` describes.
pub(super) fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(failed(what()))
    }
}
