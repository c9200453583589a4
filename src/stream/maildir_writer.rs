//! Delivering one message into a Maildir folder (the review mailbox of
//! `bclassify --unmatched`, bounce-tools(7), HOOKS): written under `tmp/`,
//! synced, then renamed into `new/`, so a reader never sees half a message.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// True when `path` names a Maildir: an existing folder, or a path that
/// ends with `/`.
pub fn is_maildir_path(path: &Path) -> bool {
    path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/')
}

/// Delivers `bytes` into the Maildir at `dir` (creating `cur/`, `new/` and
/// `tmp/` when missing); returns the new file.
pub fn deliver(dir: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().replace(['/', ':'], "_"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let name = format!(
        "{}.M{}P{}Q{}.{host}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        DELIVERIES.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join("tmp").join(&name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let new = dir.join("new").join(&name);
    std::fs::rename(&tmp, &new)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_into_new() {
        let d = tempfile::tempdir().unwrap();
        let md = d.path().join("Review");
        let a = deliver(&md, b"Subject: a\n\nx\n").unwrap();
        let b = deliver(&md, b"Subject: b\n\nx\n").unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), b"Subject: a\n\nx\n");
        assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), 2);
        assert_eq!(std::fs::read_dir(md.join("tmp")).unwrap().count(), 0);
        assert!(is_maildir_path(&md) && is_maildir_path(Path::new("x/")));
        assert!(!is_maildir_path(&d.path().join("review.mbox")));
    }
}
