//! Encode and decode of a Quote and a NewOrder: our TLV codec beside rkyv (serialize,
//! validated access) and bitcode, in one run. See docs/perf/wire.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mycelium_codec::{decode_message, encode_frame, WireMessage, DEFAULT_MAX_FRAME};
use mycelium_contracts::{NewOrder, Quote};
use mycelium_wire_bench::{
    sample_order, sample_quote, ArchivedPeerNewOrder, ArchivedPeerQuote, PeerNewOrder, PeerQuote,
};
use rkyv::rancor;
use rkyv::util::AlignedVec;

/// One macro instead of a generic function: rkyv's serializer bounds do not name well.
macro_rules! bench_message {
    ($c:expr, $name:expr, $msg:expr, $peer:expr, $M:ty, $P:ty, $A:ty) => {{
        let c: &mut Criterion = $c;
        let name: &str = $name;
        let msg: &$M = $msg;
        let peer: &$P = $peer;
        let mut group = c.benchmark_group(format!("{name}/encode"));
        let mut buf = Vec::with_capacity(1024);
        group.bench_function("mycelium_frame", |b| {
            b.iter(|| {
                buf.clear();
                encode_frame(black_box(msg), 1, 2, &mut buf);
                black_box(buf.len())
            })
        });
        group.bench_function("mycelium_body", |b| {
            b.iter(|| {
                buf.clear();
                black_box(msg).encode_body(&mut buf);
                black_box(buf.len())
            })
        });
        let mut avec = AlignedVec::<16>::with_capacity(1024);
        group.bench_function("rkyv", |b| {
            b.iter(|| {
                avec.clear();
                let w =
                    rkyv::api::high::to_bytes_in::<_, rancor::Error>(black_box(peer), &mut avec)
                        .expect("rkyv serializes");
                black_box(w.len())
            })
        });
        let mut bc = bitcode::Buffer::new();
        group.bench_function("bitcode", |b| {
            b.iter(|| black_box(bc.encode(black_box(peer)).len()))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("{name}/decode"));
        let mut frame = Vec::new();
        encode_frame(msg, 1, 2, &mut frame);
        let (_, body) = mycelium_codec::decode_frame(&frame, DEFAULT_MAX_FRAME).expect("valid");
        let body = body.to_vec();
        group.bench_function("mycelium_frame", |b| {
            b.iter(|| black_box(decode_message::<$M>(black_box(&frame), DEFAULT_MAX_FRAME)).is_ok())
        });
        group.bench_function("mycelium_body", |b| {
            b.iter(|| black_box(<$M>::decode_body(black_box(&body))).is_ok())
        });
        group.bench_function("mycelium_header_only", |b| {
            b.iter(|| {
                black_box(mycelium_codec::decode_frame(
                    black_box(&frame),
                    DEFAULT_MAX_FRAME,
                ))
                .is_ok()
            })
        });
        avec.clear();
        let archived = rkyv::api::high::to_bytes_in::<_, rancor::Error>(peer, &mut avec)
            .expect("rkyv serializes")
            .clone();
        group.bench_function("rkyv", |b| {
            b.iter(|| {
                black_box(rkyv::access::<$A, rancor::Error>(black_box(&archived[..]))).is_ok()
            })
        });
        group.bench_function("rkyv_deserialize", |b| {
            b.iter(|| {
                black_box(rkyv::from_bytes::<$P, rancor::Error>(black_box(
                    &archived[..],
                )))
                .is_ok()
            })
        });
        let bytes = bitcode::encode(peer);
        let mut bc = bitcode::Buffer::new();
        group.bench_function("bitcode", |b| {
            b.iter(|| black_box(bc.decode::<$P>(black_box(&bytes))).is_ok())
        });
        group.finish();

        eprintln!(
            "{name}: sizes in bytes: mycelium frame {} (body {}), rkyv {}, bitcode {}",
            frame.len(),
            body.len(),
            archived.len(),
            bytes.len()
        );
    }};
}

fn wire(c: &mut Criterion) {
    let q: Quote = sample_quote();
    bench_message!(
        c,
        "quote",
        &q,
        &PeerQuote::from(&q),
        Quote,
        PeerQuote,
        ArchivedPeerQuote
    );
    let o: NewOrder = sample_order();
    bench_message!(
        c,
        "new_order",
        &o,
        &PeerNewOrder::from(&o),
        NewOrder,
        PeerNewOrder,
        ArchivedPeerNewOrder
    );
}

criterion_group!(benches, wire);
criterion_main!(benches);
