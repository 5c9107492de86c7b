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

/// A tmpfs of a fixed size mounted on a fresh directory; unmounted when dropped (drop the hub
/// that uses it first).
pub struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Tmpfs {
        let path = std::env::temp_dir().join(format!("quicksilver-tmpfs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed");
        Tmpfs { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Fills the filesystem to the last byte with one file, whose path it returns.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        for block in [1 << 20, 4096, 1] {
            let bytes = vec![0u8; block];
            while file.write_all(&bytes).is_ok() {}
        }
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// `GET` on the hub's admin listener; the status code.
pub async fn admin_status(client: &reqwest::Client, admin: &str, path: &str) -> u16 {
    client
        .get(format!("http://{admin}{path}"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .map_or(0, |response| response.status().as_u16())
}
