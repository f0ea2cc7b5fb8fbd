//! A fresh directory closed to others (0700), removed on drop: where the crate's unit tests
//! put sockets and secrets.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

pub(crate) struct Dir(pub(crate) PathBuf);

impl Dir {
    pub(crate) fn new(tag: &str) -> Dir {
        let path = std::env::temp_dir().join(format!(
            "myc-{tag}-{}-{:x}",
            std::process::id(),
            getrandom::u64().unwrap_or(0)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .unwrap();
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
