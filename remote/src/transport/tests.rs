use super::*;

use crate::test_dir::Dir;

#[tokio::test]
async fn a_socket_where_a_process_listens_is_not_replaced() {
    let dir = Dir::new("live");
    let endpoint = Endpoint::Unix(dir.0.join("a.sock"));
    let first = Listener::bind(&endpoint).await.unwrap();
    let err = Listener::bind(&endpoint).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("another process listens on"), "{msg}");
    assert!(msg.contains("a.sock"), "{msg}");
    // The first listener still has its file and takes connections.
    UnixStream::connect(dir.0.join("a.sock")).await.unwrap();
    drop(first);
}

#[tokio::test]
async fn a_shm_peer_that_closes_before_the_segment_name_aborts_one_connection() {
    let dir = Dir::new("shm-probe");
    let mut shm = ShmEndpoint::new(dir.0.join("a.sock"));
    shm.prefix = format!("myc-probe-{}", std::process::id());
    shm.ring_bytes = 4096;
    let listener = Listener::bind(&Endpoint::Shm(shm.clone())).await.unwrap();
    // A probe: connects, closes before the acceptor sends the segment's name.
    drop(std::os::unix::net::UnixStream::connect(&shm.socket).unwrap());
    let Err(err) = listener.accept().await else {
        panic!("a connection whose peer closed was set up");
    };
    assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
    // The listener goes on: the next connection is set up.
    let (accepted, connected) = tokio::join!(listener.accept(), ShmStream::connect(&shm));
    let (Stream::Shm(_), _) = accepted.unwrap() else {
        panic!("not a shared-memory stream");
    };
    drop(connected.unwrap());
    // Both ends dropped: no segment is left, the probe's included.
    let left = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&shm.prefix))
        .count();
    assert_eq!(left, 0, "segments left behind");
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced() {
    let dir = Dir::new("stale");
    let path = dir.0.join("a.sock");
    // Bound and closed without removing its file, as a killed process leaves it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let listener = Listener::bind(&Endpoint::Unix(path.clone())).await.unwrap();
    UnixStream::connect(&path).await.unwrap();
    drop(listener);
}
