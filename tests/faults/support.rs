//! What several fault suites need: root checks and skip messages.

/// Whether this process runs as root (mounts need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Prints the SKIP line the CI log is searched for and returns true when `missing` is set.
pub fn skip_unless(available: bool, test: &str, missing: &str) -> bool {
    if !available {
        eprintln!("SKIP: {test}: {missing}");
    }
    !available
}
