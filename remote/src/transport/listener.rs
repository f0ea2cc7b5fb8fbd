//! Listening: a Unix socket file made safe (its directory owned by this user and closed to
//! others, a stale file replaced, a live one refused), TCP, and shared memory's set-up socket.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener, UnixStream};

use super::{shm_accept_error, shm_error, Endpoint, Stream};
use crate::error::TransportError;
use crate::shm::{ShmAcceptor, ShmEndpoint};

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    /// Unix domain socket; `uid` owns the socket file and is the only uid accepted.
    Unix {
        /// The socket.
        listener: UnixListener,
        /// Its path (removed when the listener is dropped).
        path: PathBuf,
        /// The uid that owns the socket file.
        uid: u32,
        /// The socket file, removed when the listener is dropped unless
        /// [`take_socket_file`](Listener::take_socket_file) took it out first.
        file: Option<SocketFile>,
    },
    /// TCP.
    Tcp(TcpListener),
    /// Shared memory: a Unix socket where links are set up, and what sets them up.
    Shm {
        /// The Unix socket (a `Listener::Unix`).
        socket: Box<Listener>,
        /// Creates a segment per accepted connection.
        acceptor: ShmAcceptor,
        /// The endpoint as given.
        endpoint: ShmEndpoint,
    },
}

/// Why the socket file at `path` must not be replaced: a process listens on it, or whether
/// one does cannot be told. `None` when nobody answers (the file is stale).
async fn listened_on(path: &Path) -> Option<String> {
    let shown = path.display();
    let probe =
        tokio::time::timeout(std::time::Duration::from_secs(1), UnixStream::connect(path)).await;
    match probe {
        Ok(Err(e))
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ) =>
        {
            None
        }
        Ok(Ok(_)) | Err(_) => Some(format!(
            "another process listens on {shown}; stop it, or give this node another socket path"
        )),
        Ok(Err(e)) => Some(format!(
            "cannot tell whether another process listens on {shown} (connecting to it: {e}); \
             if no process uses it, remove it"
        )),
    }
}

impl Listener {
    /// Binds `endpoint`. For a Unix socket, the directory is created (0700) if missing and
    /// must be owned by this user and closed to group and others; a stale socket file left by
    /// a dead process (nobody answers on it) is replaced, one where a process listens is
    /// refused (`AddrInUse`).
    pub async fn bind(endpoint: &Endpoint) -> Result<Listener, TransportError> {
        let err = |source| TransportError::Io {
            what: "cannot listen on",
            endpoint: endpoint.to_string(),
            source,
        };
        match endpoint {
            Endpoint::Tcp(addr) => TcpListener::bind(addr.as_str())
                .await
                .map(Listener::Tcp)
                .map_err(err),
            Endpoint::Shm(e) => {
                let acceptor =
                    ShmAcceptor::new(e).map_err(|e| shm_error("cannot listen on", endpoint, e))?;
                let socket = Box::pin(Listener::bind(&Endpoint::Unix(e.socket.clone()))).await?;
                Ok(Listener::Shm {
                    socket: Box::new(socket),
                    acceptor,
                    endpoint: e.clone(),
                })
            }
            Endpoint::Unix(path) => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
                    _ => PathBuf::from("."),
                };
                if !dir.exists() {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(&dir)
                        .map_err(err)?;
                }
                if let Ok(meta) = std::fs::symlink_metadata(path) {
                    use std::os::unix::fs::FileTypeExt;
                    if meta.file_type().is_socket() {
                        if let Some(why) = listened_on(path).await {
                            return Err(err(io::Error::new(io::ErrorKind::AddrInUse, why)));
                        }
                        // Already gone is fine: a listener that was closing removed it.
                        match std::fs::remove_file(path) {
                            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(err(e)),
                            _ => {}
                        }
                    }
                }
                let listener = UnixListener::bind(path).map_err(err)?;
                let cleanup = |e: TransportError| {
                    let _ = std::fs::remove_file(path);
                    e
                };
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(err)
                    .map_err(cleanup)?;
                // The socket file was just created by this process: its owner is our uid.
                let meta = std::fs::metadata(path).map_err(err).map_err(cleanup)?;
                check_directory(&dir, meta.uid()).map_err(cleanup)?;
                Ok(Listener::Unix {
                    listener,
                    path: path.clone(),
                    uid: meta.uid(),
                    file: Some(SocketFile {
                        path: path.clone(),
                        id: (meta.dev(), meta.ino()),
                    }),
                })
            }
        }
    }

    /// Accepts one connection and returns it with the peer's address. A Unix peer running as
    /// another user is refused here (`PermissionDenied`).
    pub async fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok((Stream::Tcp(s), addr.to_string()))
            }
            Listener::Unix {
                listener,
                path,
                uid,
                ..
            } => {
                let (s, _) = listener.accept().await?;
                let cred = s.peer_cred()?;
                let peer = format!(
                    "unix:{} (pid {:?}, uid {})",
                    path.display(),
                    cred.pid(),
                    cred.uid()
                );
                if cred.uid() != *uid {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!("{peer} runs as another user; refused"),
                    ));
                }
                Ok((Stream::Unix(s), peer))
            }
            Listener::Shm {
                socket, acceptor, ..
            } => {
                let (s, peer) = Box::pin(socket.accept()).await?;
                let Stream::Unix(s) = s else {
                    return Err(io::Error::other(
                        "a Unix listener accepted a non-Unix stream",
                    ));
                };
                let stream = acceptor
                    .accepted(s, peer.clone())
                    .map_err(|e| shm_accept_error(&peer, e))?;
                Ok((Stream::Shm(Box::new(stream)), format!("shm:{peer}")))
            }
        }
    }

    /// Takes the duty of removing the socket file (Unix and shared-memory endpoints) out of
    /// the listener: the file is then removed when the returned [`SocketFile`] is dropped,
    /// not when the listener is. A node keeps it, so that shutting the node down removes the
    /// file at once, while the listener itself may live on a little longer in a task that is
    /// being aborted (and must not then remove a file that a successor bound at the path).
    pub fn take_socket_file(&mut self) -> Option<SocketFile> {
        match self {
            Listener::Unix { file, .. } => file.take(),
            Listener::Shm { socket, .. } => socket.take_socket_file(),
            Listener::Tcp(_) => None,
        }
    }

    /// The address bound (for TCP port 0: the port chosen).
    pub fn local_endpoint(&self) -> io::Result<Endpoint> {
        match self {
            Listener::Tcp(l) => Ok(Endpoint::Tcp(l.local_addr()?.to_string())),
            Listener::Unix { path, .. } => Ok(Endpoint::Unix(path.clone())),
            Listener::Shm { endpoint, .. } => Ok(Endpoint::Shm(endpoint.clone())),
        }
    }
}

/// A Unix listener's socket file: removed when this is dropped, if the path still names the
/// file that was bound (device and inode), never one that a successor bound at the same path.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    /// The socket file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn check_directory(dir: &Path, uid: u32) -> Result<(), TransportError> {
    let unsafe_dir = |problem: String| TransportError::UnsafeDirectory {
        path: dir.to_owned(),
        problem,
    };
    let meta = std::fs::metadata(dir).map_err(|e| unsafe_dir(format!("cannot be read: {e}")))?;
    if meta.uid() != uid {
        return Err(unsafe_dir(format!(
            "is owned by uid {}, not by this user (uid {uid})",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "has mode {mode:o}, open to other users"
        )));
    }
    Ok(())
}
