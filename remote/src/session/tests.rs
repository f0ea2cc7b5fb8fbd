use super::*;
use proptest::prelude::*;

fn frame() -> Vec<u8> {
    vec![0u8; 40]
}

fn seq_of(b: &[u8]) -> u64 {
    let mut s = [0u8; 8];
    s.copy_from_slice(&b[SEQ_AT..SEQ_AT + 8]);
    u64::from_le_bytes(s)
}

#[test]
fn bounded_and_hands_back() {
    let mut out = Outbound::new(2);
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(1));
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(2));
    assert!(out.push(Kind::Tell, 1, "M", frame()).is_err());
    let mut seqs = Vec::new();
    out.take_batch(10, 1 << 20, |b| seqs.push(seq_of(b)));
    assert_eq!(seqs, vec![1, 2]);
    assert_eq!(out.ack(1), 1);
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(3));
}

#[test]
fn the_byte_bound_stops_the_log_beside_the_message_bound() {
    let mut out = Outbound::new(100).with_byte_capacity(100);
    // Queued while the bytes are below the bound: the third frame passes it (120 bytes).
    for seq in 1..=3 {
        assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(seq));
    }
    assert_eq!(out.bytes(), 120);
    assert!(out.push(Kind::Tell, 1, "M", frame()).is_err());
    out.take_batch(10, 1 << 20, |_| {});
    assert_eq!(out.ack(1), 1);
    assert_eq!(out.bytes(), 80);
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(4));
    // A frame larger than the bound goes alone.
    let mut out = Outbound::new(100).with_byte_capacity(10);
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(1));
    assert!(out.push(Kind::Tell, 1, "M", frame()).is_err());
    // Frames reported lost leave the count too.
    out.take_batch(10, 1 << 20, |_| {});
    assert!(out.give_up("b", None).is_some());
    assert_eq!(out.bytes(), 0);
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(2));
}

#[test]
fn a_full_log_still_takes_the_link_s_own_control_frames() {
    let mut out = Outbound::new(1);
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(1));
    assert!(out.push(Kind::Tell, 1, "M", frame()).is_err());
    assert_eq!(
        out.push_beyond_capacity(Kind::Subscribe, 1, "subscription", frame()),
        Ok(2)
    );
    assert_eq!(out.len(), 2);
    let mut seqs = Vec::new();
    out.take_batch(10, 1 << 20, |b| seqs.push(seq_of(b)));
    assert_eq!(seqs, vec![1, 2]);
    // The control frame takes no sender's place: room again once the sender's frame is
    // acknowledged, the control frame still in the log.
    assert_eq!(out.ack(1), 1);
    assert!(out.has_room());
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(3));
    assert!(out.push(Kind::Tell, 1, "M", frame()).is_err());
    assert_eq!(out.len(), 2);
    // Acknowledged or taken out, it leaves the count as the others do.
    out.take_batch(10, 1 << 20, |_| {});
    assert_eq!(out.ack(3), 2);
    assert!(out
        .push_beyond_capacity(Kind::Subscribe, 1, "subscription", frame())
        .is_ok());
    out.take_batch(10, 1 << 20, |_| {});
    assert!(out.give_up("b", None).is_some());
    assert!(out.has_room());
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(5));
    assert!(out.push(Kind::Tell, 1, "M", frame()).is_err());
}

#[test]
fn acknowledged_frames_leave_their_buffers_empty_for_the_next() {
    let mut out = Outbound::new(SPARE_FRAMES + 2);
    let mut big = vec![0u8; 40];
    big.reserve(SPARE_FRAME_BYTES * 2);
    let mut frames = vec![big];
    frames.extend((0..SPARE_FRAMES + 1).map(|_| Vec::with_capacity(200)));
    for mut f in frames {
        f.resize(40, 0xAB);
        out.push(Kind::Tell, 1, "M", f).unwrap();
    }
    out.take_batch(usize::MAX, usize::MAX, |_| {});
    assert_eq!(out.ack(u64::MAX), SPARE_FRAMES + 2);
    // The large buffer was freed, one of the small ones too (the list was full).
    for _ in 0..SPARE_FRAMES {
        let buf = out.frame_buffer(64);
        assert!(
            buf.is_empty(),
            "a kept buffer still holds {} bytes",
            buf.len()
        );
        assert!((200..=SPARE_FRAME_BYTES).contains(&buf.capacity()));
    }
    assert_eq!(
        out.frame_buffer(64).capacity(),
        64,
        "a fresh buffer after the kept ones"
    );
    // One kept buffer grows for a larger frame.
    out.push(Kind::Tell, 1, "M", vec![0u8; 40]).unwrap();
    out.take_batch(usize::MAX, usize::MAX, |_| {});
    out.ack(u64::MAX);
    assert!(out.frame_buffer(500).capacity() >= 500);
}

#[test]
fn sequence_numbers_at_the_limit_never_overflow() {
    let mut inb = Inbound::default();
    inb.resume((1, 1), u64::MAX, true);
    assert_eq!(inb.check(u64::MAX), Order::Deliver);
    inb.delivered = u64::MAX;
    assert_eq!(inb.check(u64::MAX), Order::Duplicate);
    assert_eq!(inb.check(3), Order::Duplicate);
}

#[test]
fn a_peer_that_does_not_know_this_node_numbers_anew() {
    let mut inb = Inbound::default();
    inb.resume((7, 7), 1, true);
    inb.delivered = 5;
    // It still knows this link: what was delivered stays delivered.
    inb.resume((7, 7), 1, true);
    assert_eq!(inb.check(3), Order::Duplicate);
    let before = inb.numbering();
    // It does not (it never installed a connection of this node): its frame 1 is new.
    inb.resume((7, 7), 1, false);
    assert_eq!(inb.check(1), Order::Deliver);
    // A delivery checked before (a replaced connection's) is not recorded now.
    inb.record(before, 5);
    assert_eq!(inb.delivered, 0);
}

#[test]
fn lying_ack_does_not_drop_unsent() {
    let mut out = Outbound::new(4);
    out.push(Kind::Tell, 1, "M", frame()).unwrap();
    assert_eq!(out.ack(u64::MAX), 0);
    assert_eq!(out.len(), 1);
}

#[test]
fn restart_reports_exactly_the_written_unacked() {
    let mut out = Outbound::new(10);
    for _ in 0..5 {
        out.push(Kind::Tell, 7, "M", frame()).unwrap();
    }
    out.take_batch(3, 1 << 20, |_| {}); // 1..=3 written
    out.ack(1);
    assert_eq!(out.first_seq(false), 4);
    let (_, loss) = out.resume(false, 0, LossReason::PeerRestarted, "b", Some(9));
    let loss = loss.unwrap();
    assert_eq!((loss.first_seq, loss.last_seq), (2, 3));
    assert_eq!(loss.messages.len(), 2);
    let mut seqs = Vec::new();
    out.take_batch(10, 1 << 20, |b| seqs.push(seq_of(b)));
    assert_eq!(seqs, vec![4, 5]);
    let loss = out.give_up("b", Some(9)).unwrap();
    assert_eq!(
        (loss.first_seq, loss.last_seq, loss.reason),
        (4, 5, LossReason::GaveUp)
    );
}

#[test]
fn a_restarted_peer_gets_no_reply_meant_for_its_predecessor() {
    let mut out = Outbound::new(10);
    let kinds = [
        Kind::Tell,
        Kind::Reply,
        Kind::Tell,
        Kind::ReplyFailed,
        Kind::Ask,
        Kind::Reply,
    ];
    for kind in kinds {
        out.push(kind, 7, "M", frame()).unwrap();
    }
    out.take_batch(2, 1 << 20, |_| {}); // 1 (tell) and 2 (reply) written
    assert_eq!(out.first_seq(false), 3);
    let (_, loss) = out.resume(false, 0, LossReason::PeerRestarted, "b", Some(9));
    assert_eq!(loss.unwrap().messages.len(), 2);
    assert_eq!(out.drop_unwritten_replies(), 2);
    // The tell and the ask left, numbered on from the resume point the peer was sent.
    let mut sent = Vec::new();
    out.take_batch(10, 1 << 20, |b| sent.push(seq_of(b)));
    assert_eq!(sent, vec![3, 4]);
    assert_eq!(out.push(Kind::Tell, 7, "M", frame()), Ok(5));
    out.take_batch(10, 1 << 20, |b| sent.push(seq_of(b)));
    assert_eq!(sent, vec![3, 4, 5]);
    out.ack(5);
    assert_eq!(out.len(), 0);
}

#[test]
fn frames_too_large_for_the_peer_leave_the_log_without_a_gap() {
    let big = || vec![0u8; mycelium_codec::HEADER_LEN + 5000];
    let mut out = Outbound::new(10);
    out.push(Kind::Tell, 1, "M", frame()).unwrap(); // 1, written
    out.push(Kind::Tell, 1, "M", frame()).unwrap(); // 2, written
    out.take_batch(2, 1 << 20, |_| {});
    out.push(Kind::Tell, 2, "M", big()).unwrap(); // 3
    out.push(Kind::Tell, 1, "M", frame()).unwrap(); // 4
    out.push(Kind::Ask, 3, "M", big()).unwrap(); // 5
    out.push(Kind::Tell, 1, "M", frame()).unwrap(); // 6

    // The same peer: frames 1 and 2 are sent again, the rest numbered on after them.
    let first = out.first_seq(true);
    out.resume(true, 0, LossReason::PeerForgot, "b", Some(1));
    let removed = out.remove_too_large(4096);
    let lost: Vec<(u64, u16)> = removed.iter().map(|e| (e.seq, e.type_id)).collect();
    assert_eq!(lost, vec![(3, 2), (5, 3)]);
    let mut inb = Inbound::default();
    inb.resume((1, 1), first, true);
    let mut sent = Vec::new();
    out.take_batch(10, 1 << 20, |b| sent.push(seq_of(b)));
    assert_eq!(sent, vec![1, 2, 3, 4]);
    for seq in sent {
        assert_eq!(inb.check(seq), Order::Deliver);
        inb.delivered = seq;
    }
    assert_eq!(out.push(Kind::Tell, 1, "M", frame()), Ok(5));
    out.ack(4);
    assert_eq!(out.len(), 1);
}

#[test]
fn a_drain_point_settles_by_acknowledgement_or_by_loss() {
    let mut out = Outbound::new(10);
    assert!(out.settled_through(out.last_queued()), "an empty log");
    for _ in 0..3 {
        out.push(Kind::Tell, 1, "M", frame()).unwrap();
    }
    let point = out.last_queued();
    assert_eq!(point, 3);
    out.push(Kind::Tell, 1, "M", frame()).unwrap(); // 4, after the point
    out.take_batch(2, 1 << 20, |_| {});
    out.ack(2);
    assert!(!out.settled_through(point));
    assert_eq!(out.unsettled_through(point), 1);
    assert_eq!(out.removed_unacknowledged(), 0);
    // Acknowledgements never count as removals; a give-up counts everything left.
    out.take_batch(1, 1 << 20, |_| {});
    out.ack(3);
    assert!(out.settled_through(point));
    assert_eq!(out.removed_unacknowledged(), 0);
    assert!(out.give_up("b", None).is_some());
    assert_eq!(out.removed_unacknowledged(), 1);
}

proptest! {
    /// Any pattern of partial writes, lost acks and reconnections to the same instance
    /// delivers every frame exactly once, in order.
    #[test]
    fn reconnects_lose_nothing_and_duplicate_nothing(
        steps in proptest::collection::vec((0usize..6, 0usize..6, any::<bool>()), 1..40),
    ) {
        let mut out = Outbound::new(8);
        let mut inb = Inbound::default();
        inb.resume((1, 1), out.first_seq(true), true);
        let mut pushed = 0u64;
        let mut delivered = Vec::new();
        for (add, send, drop_conn) in steps {
            for _ in 0..add {
                if out.push(Kind::Tell, 1, "M", frame()).is_ok() {
                    pushed += 1;
                }
            }
            let mut batch = Vec::new();
            out.take_batch(send, 1 << 20, |b| batch.push(seq_of(b)));
            for &seq in &batch {
                match inb.check(seq) {
                    Order::Deliver => { inb.delivered += 1; delivered.push(seq); }
                    Order::Duplicate => {}
                    Order::Gap { .. } => prop_assert!(false, "gap"),
                }
            }
            if drop_conn {
                // The ack of this batch is lost with the connection.
                let first = out.first_seq(true);
                out.resume(true, inb.delivered, LossReason::PeerForgot, "b", Some(1));
                inb.resume((1, 1), first, true);
            } else {
                out.ack(inb.delivered);
            }
        }
        let mut batch = Vec::new();
        out.take_batch(usize::MAX, usize::MAX, |b| batch.push(seq_of(b)));
        for &seq in &batch {
            if inb.check(seq) == Order::Deliver { inb.delivered += 1; delivered.push(seq); }
        }
        prop_assert_eq!(delivered, (1..=pushed).collect::<Vec<_>>());
    }
}

/// A loss report names each lost message's service or topic, read from its frame (the log
/// keeps no copy of the name); a reply's name is empty.
#[test]
fn a_loss_report_names_each_message_from_its_frame() {
    use crate::frame::{encode_frame, FrameSpec};
    let entry = |seq: u64, kind: Kind, name: &str| {
        let spec = FrameSpec {
            seq,
            type_id: 7,
            name,
            ..FrameSpec::control(kind)
        };
        let mut bytes = Vec::new();
        encode_frame(&mut bytes, &spec, 1 << 20, |o| o.extend_from_slice(b"body")).unwrap();
        Entry {
            seq,
            bytes,
            kind,
            type_id: 7,
            message: "M",
            beside: false,
        }
    };
    let lost = [
        entry(1, Kind::Tell, "orders"),
        entry(2, Kind::Reply, ""),
        entry(3, Kind::Publish, "md.quote.AAPL"),
    ];
    assert_eq!(lost[0].name(), "orders");
    let report = loss_report(&lost, LossReason::GaveUp, "peer", Some(1)).unwrap();
    let names: Vec<&str> = report.messages.iter().map(|m| &*m.name).collect();
    assert_eq!(names, ["orders", "", "md.quote.AAPL"]);
    // Bytes that are no frame name nothing, and the report is still made.
    let garbled = Entry {
        bytes: vec![0xFF; 8],
        ..entry(4, Kind::Tell, "orders")
    };
    assert_eq!(garbled.name(), "");
}
