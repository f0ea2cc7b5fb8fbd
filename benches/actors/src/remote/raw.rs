//! The `raw` floor: plain std sockets carrying fixed frames of a mycelium frame's size, its
//! client and its server.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Instant;

use super::{
    expected_count, frame_len, ready, w8_values, w9_values, Counts, Mode, PairResult, Selection,
};

/// Raw frame kinds (first byte).
const RAW_PING: u8 = 1;
const RAW_TELL: u8 = 2;
const RAW_ASK: u8 = 3;

enum Sock {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Sock {
    fn connect(endpoint: &str, mode: Mode) -> io::Result<Sock> {
        let s = if let Some(p) = endpoint.strip_prefix("unix:") {
            Sock::Unix(UnixStream::connect(p)?)
        } else if let Some(a) = endpoint.strip_prefix("tcp:") {
            let s = TcpStream::connect(a)?;
            s.set_nodelay(true)?;
            Sock::Tcp(s)
        } else {
            return Err(io::Error::other(format!("bad endpoint {endpoint}")));
        };
        s.set_mode(mode)?;
        Ok(s)
    }

    fn set_mode(&self, mode: Mode) -> io::Result<()> {
        let nb = mode == Mode::Spin;
        match self {
            Sock::Unix(s) => s.set_nonblocking(nb),
            Sock::Tcp(s) => s.set_nonblocking(nb),
        }
    }

    /// One `read`; in spin mode polls until some bytes (or EOF) arrive.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let r = match self {
                Sock::Unix(s) => s.read(buf),
                Sock::Tcp(s) => s.read(buf),
            };
            match r {
                // Looked at again at once: a look is a system call, far longer than a pause.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.read_some(&mut buf[got..])? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
        Ok(())
    }

    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let r = match self {
                Sock::Unix(s) => s.write(buf),
                Sock::Tcp(s) => s.write(buf),
            };
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn raw_frame(kind: u8, i: u64) -> Vec<u8> {
    let mut f = vec![0u8; frame_len()];
    f[0] = kind;
    f[8..16].copy_from_slice(&i.to_le_bytes());
    f
}

pub(super) fn raw_client(
    endpoint: &str,
    mode: Mode,
    c: Counts,
    sel: Selection,
) -> Result<PairResult, String> {
    let mut s = Sock::connect(endpoint, mode).map_err(|e| format!("connect: {e}"))?;
    let io = |e: io::Error| format!("raw: {e}");
    let mut back = vec![0u8; frame_len()];
    let mut w8 = None;
    if sel.w8 {
        let mut samples = Vec::with_capacity(c.w8_asks);
        for i in 0..c.w8_warmup + c.w8_asks {
            let f = raw_frame(RAW_PING, i as u64);
            let t0 = Instant::now();
            s.write_all(&f).map_err(io)?;
            s.read_exact(&mut back).map_err(io)?;
            let dt = t0.elapsed().as_nanos() as u64;
            if back[8..16] != f[8..16] {
                return Err("raw: echo mismatch".into());
            }
            if i >= c.w8_warmup {
                samples.push(dt);
            }
        }
        w8 = Some(w8_values(samples));
    }
    let mut w9 = None;
    if sel.w9 {
        // One frame, its number written in place: a frame made for each tell (an allocation
        // and a free) made this floor 13-18% slower than the independent one (benches/floors).
        let mut f = raw_frame(RAW_TELL, 0);
        let t0 = Instant::now();
        for i in 0..c.w9_tells {
            f[8..16].copy_from_slice(&i.to_le_bytes());
            s.write_all(&f).map_err(io)?;
        }
        s.write_all(&raw_frame(RAW_ASK, 0)).map_err(io)?;
        s.read_exact(&mut back).map_err(io)?;
        let t = t0.elapsed();
        let count = u64::from_le_bytes(back[8..16].try_into().unwrap_or_default());
        if count != expected_count(c, sel) {
            return Err(format!(
                "raw: server counted {count}, expected {}",
                expected_count(c, sel)
            ));
        }
        w9 = Some(w9_values(c.w9_tells, t));
    }
    Ok((w8, w9))
}

/// The raw server: reads whatever is there, handles each whole frame, until EOF.
fn raw_serve(mut s: Sock) -> io::Result<()> {
    let f = frame_len();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0;
    let mut count: u64 = 0;
    loop {
        let n = s.read_some(&mut buf[len..])?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        let mut at = 0;
        while len - at >= f {
            let frame = &mut buf[at..at + f];
            count += 1;
            match frame[0] {
                RAW_PING => s.write_all(frame)?,
                RAW_ASK => {
                    frame[8..16].copy_from_slice(&count.to_le_bytes());
                    s.write_all(frame)?
                }
                RAW_TELL => {}
                k => return Err(io::Error::other(format!("unknown raw kind {k}"))),
            }
            at += f;
        }
        buf.copy_within(at..len, 0);
        len -= at;
    }
}

pub(super) fn raw_peer(mode: Mode, endpoint: &str) -> Result<(), String> {
    let s = if let Some(p) = endpoint.strip_prefix("unix:") {
        let l = UnixListener::bind(p).map_err(|e| format!("bind {p}: {e}"))?;
        ready(&format!("unix:{p}"));
        Sock::Unix(l.accept().map_err(|e| e.to_string())?.0)
    } else if let Some(a) = endpoint.strip_prefix("tcp:") {
        let l = TcpListener::bind(a).map_err(|e| format!("bind {a}: {e}"))?;
        let at = l.local_addr().map_err(|e| e.to_string())?;
        ready(&format!("tcp:{at}"));
        let (s, _) = l.accept().map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        Sock::Tcp(s)
    } else {
        return Err(format!("bad endpoint {endpoint}"));
    };
    s.set_mode(mode).map_err(|e| e.to_string())?;
    raw_serve(s).map_err(|e| format!("raw serve: {e}"))
}
