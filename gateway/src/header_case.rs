//! The header names of an HTTP/1.x request as the client spelled them.
//!
//! A REST API hands its function the client's header names with their case (`X-Custom`,
//! `Content-Type`), while hyper normalises every name to lower case and keeps the original spelling
//! only in a private extension. So the server wraps each connection's reader in [`Recorder`], which
//! watches the bytes hyper reads, finds each request head (skipping bodies by their
//! `Content-Length` or chunked framing), and queues its header names in order. The service takes the
//! next entry for each request and attaches it as a [`Spelling`] extension, after checking that it
//! names exactly the headers hyper parsed.
//!
//! Owns: that scan, its queue, and the spelling lookup. Must not: change a byte hyper reads, decide
//! anything about the request (a head it cannot follow, such as HTTP/2's preface, turns the scan off
//! for the connection and names stay lower-case, as HTTP/2 requires anyway).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The header names of one request, as sent, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spelling(Vec<String>);

impl Spelling {
    /// The client's spelling of `name` (any case), if it sent that header.
    pub fn of(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|n| n.eq_ignore_ascii_case(name)).map(String::as_str)
    }

    /// A spelling of these names (for tests of what uses it).
    pub fn from_names(names: &[&str]) -> Self {
        Spelling(names.iter().map(|n| n.to_string()).collect())
    }

    /// Whether these names are exactly the headers hyper parsed (the scan did not lose step).
    fn matches(&self, headers: &http::HeaderMap) -> bool {
        self.0.len() == headers.len() && headers.keys().all(|k| self.of(k.as_str()).is_some())
    }
}

/// How a header esb adds itself is spelled in a REST API event (as API Gateway spells it).
pub fn canonical(name: &str) -> Option<&'static str> {
    const ADDED: [&str; 4] = ["X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Amzn-Trace-Id"];
    ADDED.into_iter().find(|a| a.eq_ignore_ascii_case(name))
}

/// The heads one connection's scan found and the service has not taken yet.
#[derive(Debug, Clone, Default)]
pub struct Heads(Arc<Mutex<VecDeque<Spelling>>>);

impl Heads {
    /// The spelling for the next request on the connection, if the scan followed it.
    pub fn take_for(&self, headers: &http::HeaderMap) -> Option<Spelling> {
        let mut queue = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let next = queue.pop_front()?;
        if next.matches(headers) {
            Some(next)
        } else {
            // Out of step: what is queued belongs to no request we can tell; start over.
            tracing::debug!("header spelling scan out of step; names stay lower-case");
            queue.clear();
            None
        }
    }

    fn push(&self, found: Vec<Spelling>) {
        if !found.is_empty() {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend(found);
        }
    }
}

/// A reader that reports request heads to [`Heads`] as they pass.
pub struct Recorder<T> {
    inner: T,
    scan: Scan,
    heads: Heads,
}

impl<T> Recorder<T> {
    /// Wraps a connection's stream.
    pub fn new(inner: T, heads: Heads) -> Self {
        Recorder { inner, scan: Scan::default(), heads }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Recorder<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let found = self.scan.feed(&buf.filled()[before..]);
            self.heads.push(found);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Recorder<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The most a head (or a chunk-size or trailer line) may take; hyper refuses more anyway.
const MAX_HEAD: usize = 64 * 1024;
/// hyper's own limit on the number of headers.
const MAX_HEADERS: usize = 100;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (the rest of) a request head.
    #[default]
    Head,
    /// This many body bytes to skip.
    Body(u64),
    /// A chunk-size line.
    ChunkSize,
    /// This many chunk bytes (with the CRLF after them) to skip.
    Chunk(u64),
    /// Trailer lines, up to an empty one.
    Trailer,
    /// Lost or not HTTP/1.x: no more scanning on this connection.
    Off,
}

/// Follows HTTP/1.x framing through the bytes a connection reads.
#[derive(Debug, Default)]
struct Scan {
    state: State,
    buf: Vec<u8>,
}

impl Scan {
    /// Takes the next bytes read; returns the heads they completed.
    fn feed(&mut self, input: &[u8]) -> Vec<Spelling> {
        let mut found = vec![];
        if self.state == State::Off || input.is_empty() {
            return found;
        }
        self.buf.extend_from_slice(input);
        let mut at = 0;
        while at < self.buf.len() {
            let rest = &self.buf[at..];
            match self.state {
                State::Off => break,
                State::Head => match head(rest) {
                    Ok(Some((len, names, next))) => {
                        found.push(names);
                        at += len;
                        self.state = next;
                    }
                    Ok(None) if rest.len() <= MAX_HEAD => break,
                    _ => self.state = State::Off,
                },
                State::Body(n) | State::Chunk(n) => {
                    let k = n.min(rest.len() as u64);
                    at += k as usize;
                    self.state = match (self.state, n - k) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), left) => State::Body(left),
                        (_, 0) => State::ChunkSize,
                        (_, left) => State::Chunk(left),
                    };
                }
                State::ChunkSize | State::Trailer => {
                    let Some(end) = rest.iter().position(|b| *b == b'\n') else {
                        if rest.len() > MAX_HEAD {
                            self.state = State::Off;
                        }
                        break;
                    };
                    let line = std::str::from_utf8(&rest[..end]).unwrap_or("").trim_end_matches('\r');
                    at += end + 1;
                    self.state = match self.state {
                        State::Trailer if line.is_empty() => State::Head,
                        State::Trailer => State::Trailer,
                        _ => {
                            let size = line.split(';').next().unwrap_or("").trim();
                            match u64::from_str_radix(size, 16) {
                                Ok(0) => State::Trailer,
                                Ok(n) => State::Chunk(n.saturating_add(2)),
                                Err(_) => State::Off,
                            }
                        }
                    };
                }
            }
        }
        if self.state == State::Off {
            self.buf = Vec::new();
        } else {
            self.buf.drain(..at.min(self.buf.len()));
        }
        found
    }
}

/// Parses one request head: its length, its header names, and how its body is framed.
/// `Ok(None)` when the head is not complete yet.
fn head(bytes: &[u8]) -> Result<Option<(usize, Spelling, State)>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let mut chunked = false;
    let mut length = 0u64;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| ())?.trim();
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            length = value.parse().map_err(|_| ())?;
        }
    }
    let names = Spelling(req.headers.iter().map(|h| h.name.to_string()).collect());
    let next = if chunked {
        State::ChunkSize
    } else if length > 0 {
        State::Body(length)
    } else {
        State::Head
    };
    Ok(Some((len, names, next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &Spelling) -> Vec<&str> {
        s.0.iter().map(String::as_str).collect()
    }

    /// Feeds `bytes` in pieces of `step` and returns the names of every head found.
    fn scan(bytes: &[u8], step: usize) -> (Vec<Vec<String>>, State) {
        let mut s = Scan::default();
        let mut out = vec![];
        for piece in bytes.chunks(step) {
            out.extend(s.feed(piece).into_iter().map(|h| h.0));
        }
        (out, s.state)
    }

    #[test]
    fn heads_are_found_across_bodies_and_reads_of_any_size() {
        let wire = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Custom-Case: 1\r\n\r\nHELLO\
GET /b HTTP/1.1\r\nhost: x\r\nAccept-Encoding: gzip\r\n\r\n\
PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n\
GET /d HTTP/1.0\r\nUser-Agent: UA\r\n\r\n";
        let want = vec![
            vec!["Host", "Content-Length", "X-Custom-Case"],
            vec!["host", "Accept-Encoding"],
            vec!["Host", "Transfer-Encoding"],
            vec!["User-Agent"],
        ];
        for step in [1, 2, 3, 7, 16, 64, wire.len()] {
            let (found, state) = scan(wire, step);
            assert_eq!(found, want, "read {step} bytes at a time");
            assert_eq!(state, State::Head);
        }
    }

    #[test]
    fn http2_and_garbage_turn_the_scan_off() {
        let (found, state) = scan(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 5);
        assert_eq!((found.len(), state), (0, State::Off));
        let (found, state) = scan(b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n", 100);
        assert_eq!((found.len(), state), (0, State::Off));
        let (_, state) = scan(b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100);
        assert_eq!(state, State::Off);
        // A head that never ends stops being buffered past the limit.
        let mut endless = b"GET / HTTP/1.1\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b"X-A: b\r\n".as_slice(), MAX_HEAD / 8 + 10).flatten());
        let mut s = Scan::default();
        s.feed(&endless);
        assert!(s.state == State::Off && s.buf.is_empty(), "{:?}", s.state);
    }

    #[test]
    fn a_spelling_is_used_only_when_it_names_exactly_the_parsed_headers() {
        let heads = Heads::default();
        heads.push(vec![Spelling(vec!["Host".into(), "X-Custom".into()]), Spelling(vec!["Other".into()])]);
        let mut h = http::HeaderMap::new();
        h.insert("host", "x".parse().unwrap());
        h.insert("x-custom", "y".parse().unwrap());
        let got = heads.take_for(&h).expect("matches");
        assert_eq!((names(&got), got.of("x-custom")), (vec!["Host", "X-Custom"], Some("X-Custom")));
        // The next entry does not name these headers: dropped, and the queue starts over.
        heads.push(vec![Spelling(vec!["Later".into()])]);
        assert_eq!(heads.take_for(&h), None);
        assert_eq!(heads.take_for(&h), None, "the queue was cleared");
        assert_eq!(canonical("x-forwarded-port"), Some("X-Forwarded-Port"));
        assert_eq!(canonical("x-other"), None);
    }
}
