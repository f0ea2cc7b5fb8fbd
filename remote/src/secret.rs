//! The shared secret both ends of a link prove they know.

use std::fmt;
use std::path::Path;

use crate::error::SecretError;

/// Bytes both ends of a link know; never printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

/// Shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

impl Secret {
    /// A secret from bytes (at least 16).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, SecretError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort { len: bytes.len() });
        }
        Ok(Secret(bytes))
    }

    /// Reads the secret from a file that only its owner may read (mode 0600 or stricter),
    /// owned by this process's user, and not a symbolic link. The file is opened once and
    /// checked and read through that descriptor. One trailing newline is not part of the
    /// secret.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Secret, SecretError> {
        use rustix::fs::{FileType, Mode, OFlags};
        use std::io::Read;
        let path = path.as_ref();
        let read_err = |source: std::io::Error| SecretError::Read {
            path: path.to_owned(),
            source,
        };
        let not_own = |problem: String| SecretError::NotOwnFile {
            path: path.to_owned(),
            problem,
        };
        // NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => {
                return Err(not_own(
                    "is a symbolic link; name the file itself in the configuration".into(),
                ))
            }
            Err(e) => return Err(read_err(e.into())),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| read_err(e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(not_own(
                "is not a regular file; put the secret in a regular file (chmod 600)".into(),
            ));
        }
        let uid = rustix::process::geteuid().as_raw();
        if st.st_uid != uid {
            return Err(not_own(format!(
                "belongs to uid {}, not to this user (uid {uid}); the user running the node \
                 must own it (chown)",
                st.st_uid
            )));
        }
        let mode = st.st_mode & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let mut bytes = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        Secret::new(bytes)
    }

    /// Reads the secret from an environment variable.
    pub fn from_env(name: &str) -> Result<Secret, SecretError> {
        match std::env::var_os(name) {
            Some(v) => Secret::new(v.into_encoded_bytes()),
            None => Err(SecretError::MissingEnv {
                name: name.to_owned(),
            }),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}
