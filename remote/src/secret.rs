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

    /// Reads the secret from a file that only its owner may read (mode 0600 or stricter).
    /// One trailing newline is not part of the secret.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Secret, SecretError> {
        use std::os::unix::fs::PermissionsExt;
        let path = path.as_ref();
        let read_err = |source| SecretError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let mut bytes = std::fs::read(path).map_err(read_err)?;
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
