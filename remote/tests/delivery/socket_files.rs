//! Unix socket files: private to their owner, refused in a directory open to others, and
//! freed at once when a node shuts down.

use crate::common::*;

use mycelium_actors::Bus;
use mycelium_remote::transport::Listener;
use mycelium_remote::Endpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_file_is_private_and_unsafe_directory_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("perms");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec.clone(), fast_config());
    let Endpoint::Unix(path) = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap() else {
        unreachable!()
    };
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (c, _) = node("c", &bus, rec, fast_config());
    let err = c
        .listen(&Endpoint::Unix(open.join("c.sock")), &["b"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("open to other users"), "{err}");
    assert!(!open.join("c.sock").exists());
}

/// Shutting a node down removes its socket file at once (its accept task, aborted, may drop
/// the listener later), so a successor can bind the path straight away; and a listener
/// dropped after a successor bound its path leaves the successor's file alone.
#[tokio::test]
async fn a_shut_down_node_frees_its_socket_path_at_once() {
    let dir = TempDir::new("rebind");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let (a1, _) = node("a", &bus, rec.clone(), fast_config());
    let Endpoint::Unix(path) = a1.listen(&dir.socket("a.sock"), &["b"]).await.unwrap() else {
        unreachable!()
    };
    assert!(path.exists());
    // No await between: on this single-threaded runtime the aborted accept task has not run.
    a1.shutdown();
    assert!(
        !path.exists(),
        "the socket file outlived the node's shutdown"
    );
    let (a2, _) = node("a", &bus, rec, fast_config());
    a2.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    tokio::task::yield_now().await;
    assert!(
        path.exists(),
        "the old accept task removed its successor's file"
    );

    let other = dir.socket("b.sock");
    let old = Listener::bind(&other).await.unwrap();
    // A path where a listener answers is not taken over.
    let err = Listener::bind(&other).await.unwrap_err();
    assert!(
        err.to_string().contains("another process listens on"),
        "{err}"
    );
    // Its file gone (as a shutdown removes it), a successor binds the path; the old listener,
    // dropped later, leaves the successor's file alone.
    std::fs::remove_file(dir.path().join("b.sock")).unwrap();
    let new = Listener::bind(&other).await.unwrap();
    drop(old);
    assert!(dir.path().join("b.sock").exists());
    drop(new);
    assert!(!dir.path().join("b.sock").exists());
}
