//! The `mycelium-channel` lines: the `mycelium_remote::shm` channel ends on their own.

use std::time::{Duration, Instant};

use mycelium_remote::shm::{self, ShmOptions, WaitPolicy};

use super::{check, finish, percentiles, spawn, Ctx, PAYLOAD};

fn chan_options(prefix: &str, mode: &str) -> ShmOptions {
    let mut o = ShmOptions::new([1; 32]);
    o.prefix = prefix.to_owned();
    o.ring_bytes = 1 << 16;
    o.wait = if mode == "block" {
        WaitPolicy::block()
    } else {
        WaitPolicy::spin(Duration::from_millis(100))
    };
    o
}

fn word(m: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let k = m.len().min(8);
    b[..k].copy_from_slice(&m[..k]);
    u64::from_le_bytes(b)
}

pub(super) fn channel_rtt(prefix: &str, mode: &str, n: usize) -> Result<(u64, u64), String> {
    let (mut tx, mut rx) = shm::create("bench", &chan_options(prefix, mode)).ctx("create")?;
    let other = spawn(&["chan-echo", prefix, mode, &n.to_string()])?;
    let mut msg = [0u8; PAYLOAD];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n as u64 {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        let t0 = Instant::now();
        tx.send(&msg).ctx("send")?;
        let v = rx.recv_with(word).ctx("recv")?;
        samples.push(t0.elapsed().as_nanos() as u64);
        check(v == i + 1, "channel echo")?;
    }
    finish(other)?;
    percentiles(samples)
}

pub(super) fn chan_echo(prefix: &str, mode: &str, n: usize) -> Result<(), String> {
    let (mut tx, mut rx) = shm::open("bench", &chan_options(prefix, mode)).ctx("open")?;
    let mut msg = [0u8; PAYLOAD];
    for _ in 0..n {
        let v = rx.recv_with(word).ctx("recv")? + 1;
        msg[..8].copy_from_slice(&v.to_le_bytes());
        tx.send(&msg).ctx("send")?;
    }
    Ok(())
}

pub(super) fn channel_tput(prefix: &str, mode: &str, n: usize) -> Result<f64, String> {
    let (mut tx, mut rx) = shm::create("bench", &chan_options(prefix, mode)).ctx("create")?;
    let other = spawn(&["chan-sink", prefix, mode, &n.to_string()])?;
    let mut msg = [0u8; PAYLOAD];
    let t0 = Instant::now();
    for i in 0..n as u64 {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        tx.send(&msg).ctx("send")?;
    }
    let last = rx.recv_with(word).ctx("recv")?;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    check(last == n as u64, "channel sink count")?;
    finish(other)?;
    Ok(rate)
}

pub(super) fn chan_sink(prefix: &str, mode: &str, n: usize) -> Result<(), String> {
    let (mut tx, mut rx) = shm::open("bench", &chan_options(prefix, mode)).ctx("open")?;
    for i in 0..n as u64 {
        let v = rx.recv_with(word).ctx("recv")?;
        check(v == i, "channel sequence")?;
    }
    tx.send(&(n as u64).to_le_bytes()).ctx("send")?;
    Ok(())
}
