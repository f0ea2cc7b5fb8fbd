//! Unit tests of a node started from a topology.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::event::{LinkEvent, LinkEventKind};
use crate::test_dir::Dir;

/// Node `a` dials `b` (names sorting after its own), and listens for it too.
fn topology(dir: &Dir, give_up_after: Duration) -> Topology {
    let secret = dir.0.join("link.secret");
    std::fs::write(&secret, b"a topology secret of some length\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
secret_file = "link.secret"

[link]
give_up_after_ms = {}

[[node]]
name = "a"
endpoint = "unix:a.sock"

[[node]]
name = "b"
endpoint = "unix:b.sock"
"#,
        give_up_after.as_millis()
    );
    Topology::parse(&text, "topology.toml", &dir.0).unwrap()
}

/// A node of `topology` on a virtual bus of its own, and its link events.
async fn start(topology: Topology, name: &str) -> (Node, mpsc::UnboundedReceiver<LinkEvent>) {
    let bus = Bus::builder().virtual_time().build().unwrap();
    let (tx, events) = mpsc::unbounded_channel();
    let observer: Observer = Arc::new(move |e: &LinkEvent| {
        let _ = tx.send(e.clone());
    });
    let schema = LocalSchema::from_digest([7; 32]);
    let dispatch = Arc::new(bus.exports());
    let node = Node::start(topology, name, schema, &bus, dispatch, Some(observer))
        .await
        .unwrap();
    (node, events)
}

/// The give-up timer of `listen` closes a link that no dial marked by the time it fires. A
/// topology node marks the peers it dials before it listens, so a timer that fires before
/// the dials start (held back here past it) leaves them alone, and a peer that comes up
/// later is reached.
#[tokio::test(start_paused = true)]
async fn a_peer_dialled_after_the_give_up_timer_fired_is_not_given_up() {
    let dir = Dir::new("late-dial");
    let give_up_after = Duration::from_secs(1);
    let topology = topology(&dir, give_up_after);
    let late = tokio::time::sleep(2 * give_up_after);
    DIALS_COME_LATE.set(Some(Box::pin(late)));
    let (a, mut a_events) = start(topology.clone(), "a").await;
    assert!(DIALS_COME_LATE.take().is_none(), "the dials were held back");
    let to_b = a.link("b").expect("a link to b");
    assert_eq!(to_b.closed_reason(), None, "the link to b was given up");
    // b comes up after the timer fired: a's dial reaches it.
    let (b, _b_events) = start(topology, "b").await;
    let came = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let event = a_events.recv().await.expect("a's events");
            match event.kind {
                LinkEventKind::Up { .. } => return Ok(()),
                LinkEventKind::GaveUp { reason } => return Err(reason),
                _ => {}
            }
        }
    })
    .await
    .expect("the link to b came up or was given up");
    assert_eq!(came, Ok(()), "the link to b was given up");
    a.shutdown();
    b.shutdown();
}
