//! Incremental HTTP/1.1 response reading into a caller-owned buffer.
//!
//! [`ResponseReader`] is sans-IO: the caller reads bytes from its transport
//! into [`ResponseReader::spare`] and reports how many arrived with
//! [`ResponseReader::advance`]. Partial input is not an error. Chunked bodies
//! are decoded in place, so the body always ends up contiguous in the buffer.

use crate::bytes::move_down;
use crate::error::{Buffer, CapacityError, Error, HttpError};
use crate::text::Text;

/// The most header fields a response may carry (the array httparse fills
/// lives on the stack while the head is parsed: 16 bytes per entry on a
/// 32-bit target).
pub const MAX_HEADERS: usize = 24;

/// Limits the reader enforces; exceeding one is a typed [`HttpError`].
///
/// ```
/// use embedded_oauth2::Limits;
/// let l = Limits::new().with_max_head(2048).with_max_body(4096).with_max_headers(16);
/// assert_eq!((l.max_head, l.max_body, l.max_headers), (2048, 4096, 16));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Limits {
    /// Bytes of status line and header fields, including 1xx interim heads
    /// (default 4096).
    pub max_head: usize,
    /// Bytes of body after chunked decoding (default 16384).
    pub max_body: usize,
    /// Header fields (default and at most [`MAX_HEADERS`]).
    pub max_headers: usize,
}

impl Limits {
    /// The defaults.
    pub const fn new() -> Self {
        Self {
            max_head: 4096,
            max_body: 16384,
            max_headers: MAX_HEADERS,
        }
    }
    /// Sets [`Limits::max_head`].
    pub const fn with_max_head(mut self, n: usize) -> Self {
        self.max_head = n;
        self
    }
    /// Sets [`Limits::max_body`].
    pub const fn with_max_body(mut self, n: usize) -> Self {
        self.max_body = n;
        self
    }
    /// Sets [`Limits::max_headers`] (values above [`MAX_HEADERS`] act as it).
    pub const fn with_max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

/// How the body of a response is delimited
/// ([RFC 9112 §6.3](https://www.rfc-editor.org/rfc/rfc9112#section-6.3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Framing {
    /// No body (204, 304).
    Empty,
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (HTTP/1.0 style).
    ///
    /// Such a body is only as complete as the connection's end is genuine.
    /// The crate's TLS connector takes a TCP end between two records
    /// without close_notify as a clean end (many servers close that way
    /// after `Connection: close`), so whoever can reset the TCP connection
    /// can cut a close-delimited body short undetected. A token response is
    /// a JSON object (a cut one does not parse); for your own resource
    /// calls, prefer servers that send `Content-Length` or chunked bodies,
    /// or check the body's own completeness.
    Close,
}

/// What the client keeps of a final response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// How the body is delimited.
    pub framing: Framing,
    /// `WWW-Authenticate`, when present (first field, truncated).
    pub www_authenticate: Option<Text<64>>,
    /// `Retry-After`, as delta-seconds or an HTTP-date.
    pub retry_after: Option<crate::error::RetryAfter>,
    /// `DPoP-Nonce` (RFC 9449 §8), when present and well-formed (feature
    /// `dpop`).
    #[cfg(feature = "dpop")]
    pub dpop_nonce: Option<crate::nonce::DpopNonce>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(usize),
    DataEnd,
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body,
    Done,
}

/// Longest chunk-size or trailer line accepted.
const MAX_CHUNK_LINE: usize = 256;

/// An incremental HTTP/1.x response reader.
///
/// ```
/// use embedded_oauth2::{Limits};
/// use embedded_oauth2::http::{Framing, ResponseReader};
/// let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
/// let mut buf = [0u8; 128];
/// let mut r = ResponseReader::new(Limits::new());
/// let mut done = false;
/// for byte in wire {
///     let spare = r.spare(&mut buf)?;
///     spare[0] = *byte;
///     done = r.advance(&mut buf, 1)?;
/// }
/// assert!(done);
/// assert_eq!(r.head().unwrap().framing, Framing::Length(2));
/// assert_eq!(r.body(&buf), b"{}");
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ResponseReader {
    limits: Limits,
    state: State,
    filled: usize,
    head_seen: usize,
    head: Option<ResponseHead>,
    body_start: usize,
    body_end: usize,
    raw: usize,
    chunk: Chunk,
}

impl ResponseReader {
    /// A reader for one response.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: State::Head,
            filled: 0,
            head_seen: 0,
            head: None,
            body_start: 0,
            body_end: 0,
            raw: 0,
            chunk: Chunk::Size,
        }
    }

    /// The final head, once parsed.
    pub fn head(&self) -> Option<&ResponseHead> {
        self.head.as_ref()
    }

    /// Whether the response is complete.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// [`ResponseReader::spare`] for a request that wants a 2xx: an error
    /// page that does not fit is reported as the HTTP status it came with,
    /// not as a capacity problem. (The token exchange and discovery.)
    pub(crate) fn spare_or_status<'b>(&mut self, buf: &'b mut [u8]) -> Result<&'b mut [u8], Error> {
        let head = self.head().copied();
        self.spare(buf).map_err(|e| match (e, head) {
            (Error::Capacity(_), Some(h)) if !(200..300).contains(&h.status) => {
                Error::Http(HttpError::UnexpectedStatus {
                    status: h.status,
                    retry_after: h.retry_after,
                })
            }
            (e, _) => e,
        })
    }

    /// [`ResponseReader::advance`] refusing a redirect (3xx) as soon as its
    /// head arrives: token and metadata requests never follow one.
    pub(crate) fn advance_no_redirect(&mut self, buf: &mut [u8], n: usize) -> Result<bool, Error> {
        let done = self.advance(buf, n)?;
        if let Some(head) = self.head()
            && (300..400).contains(&head.status)
        {
            return Err(HttpError::Redirect {
                status: head.status,
            }
            .into());
        }
        Ok(done)
    }

    /// Where the next read should go. A full buffer is [`Error::Capacity`].
    pub fn spare<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], Error> {
        let len = buf.len();
        match buf.get_mut(self.filled..) {
            Some(s) if !s.is_empty() => Ok(s),
            _ => {
                let (needed, exact) = match (self.state, self.head.map(|h| h.framing)) {
                    (State::Body, Some(Framing::Length(n))) => {
                        (self.body_start.saturating_add(n), true)
                    }
                    _ => (self.filled.saturating_add(1), false),
                };
                Err(Error::Capacity(CapacityError {
                    buffer: Buffer::Response,
                    needed,
                    available: len,
                    exact,
                }))
            }
        }
    }

    /// The body bytes (complete once [`ResponseReader::advance`] returned `true`).
    pub fn body<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(self.body_start..self.body_end).unwrap_or_default()
    }

    /// The body's position in the buffer.
    pub fn body_range(&self) -> core::ops::Range<usize> {
        self.body_start..self.body_end
    }

    /// The body received so far, of a response not complete (what fit of
    /// an error page): decoded chunks, or the bytes after the head.
    pub(crate) fn partial_body_range(&self) -> core::ops::Range<usize> {
        match (self.state, self.head.map(|h| h.framing)) {
            (State::Body, Some(Framing::Length(_) | Framing::Close)) => {
                self.body_start..self.filled.max(self.body_start)
            }
            (State::Body | State::Done, _) => self.body_start..self.body_end,
            _ => 0..0,
        }
    }

    /// Reports that `n` bytes were written into [`ResponseReader::spare`];
    /// `n == 0` means the peer closed the connection. Returns `true` when the
    /// response is complete.
    pub fn advance(&mut self, buf: &mut [u8], n: usize) -> Result<bool, Error> {
        let eof = n == 0;
        self.filled = self.filled.saturating_add(n).min(buf.len());
        loop {
            match self.state {
                State::Done => return Ok(true),
                State::Head => {
                    if !self.parse_head(buf, eof)? {
                        return Ok(false);
                    }
                }
                State::Body => return self.read_body(buf, eof),
            }
        }
    }

    /// Returns `true` when a final head was parsed (state moves to Body).
    // Kept out of line: httparse's header array (16 bytes per entry on a
    // 32-bit target) is then on the stack only while a head is parsed.
    #[inline(never)]
    fn parse_head(&mut self, buf: &mut [u8], eof: bool) -> Result<bool, Error> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let max = self.limits.max_headers.min(MAX_HEADERS);
        let headers = headers.get_mut(..max).unwrap_or_default();
        let data = buf.get(..self.filled).unwrap_or_default();
        let mut resp = httparse::Response::new(headers);
        let head_len = match resp.parse(data) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                if self.head_seen.saturating_add(self.filled) > self.limits.max_head {
                    return Err(HttpError::HeadTooLarge {
                        limit: self.limits.max_head,
                    }
                    .into());
                }
                if eof {
                    return Err(HttpError::UnexpectedEof.into());
                }
                return Ok(false);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HttpError::TooManyHeaders { limit: max }.into());
            }
            Err(_) => return Err(HttpError::Malformed.into()),
        };
        self.head_seen = self.head_seen.saturating_add(head_len);
        if self.head_seen > self.limits.max_head {
            return Err(HttpError::HeadTooLarge {
                limit: self.limits.max_head,
            }
            .into());
        }
        let status = resp.code.unwrap_or(0);
        let http10 = resp.version == Some(0);
        if (100..200).contains(&status) {
            if status == 101 {
                return Err(HttpError::UnexpectedStatus {
                    status,
                    retry_after: None,
                }
                .into());
            }
            // Interim response: drop it and parse what follows.
            move_down(buf, head_len..self.filled, 0);
            self.filled -= head_len;
            return Ok(true);
        }
        let mut content_length: Option<usize> = None;
        let mut chunked = false;
        let mut www_authenticate: Option<(usize, usize)> = None;
        let mut retry_after = None;
        #[cfg(feature = "dpop")]
        let mut dpop_nonce = None;
        for h in resp.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                for part in h.value.split(|&b| b == b',') {
                    let v = parse_decimal(trim(part)).ok_or(HttpError::InvalidContentLength)?;
                    if content_length.is_some_and(|c| c != v) {
                        return Err(HttpError::InvalidContentLength.into());
                    }
                    content_length = Some(v);
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // Only `chunked` is supported; it must be the sole coding.
                for coding in h.value.split(|&b| b == b',') {
                    let c = trim(coding);
                    if c.is_empty() {
                        continue;
                    }
                    if !c.eq_ignore_ascii_case(b"chunked") || chunked {
                        return Err(HttpError::UnsupportedTransferEncoding.into());
                    }
                    chunked = true;
                }
            } else if name.eq_ignore_ascii_case("www-authenticate") {
                if www_authenticate.is_none() {
                    // Where the value lies in `buf`: it is copied once the
                    // header array is no longer needed.
                    let start = (h.value.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
                    www_authenticate = Some((start, h.value.len()));
                }
            } else if cfg!(feature = "dpop") && name.eq_ignore_ascii_case("dpop-nonce") {
                #[cfg(feature = "dpop")]
                {
                    dpop_nonce = crate::nonce::DpopNonce::from_header(trim(h.value));
                }
            } else if name.eq_ignore_ascii_case("retry-after") {
                let v = trim(h.value);
                retry_after = match parse_decimal(v) {
                    Some(secs) => Some(crate::error::RetryAfter::Seconds(
                        u32::try_from(secs).unwrap_or(u32::MAX),
                    )),
                    None => crate::retry::parse_http_date(v).map(crate::error::RetryAfter::At),
                };
            }
        }
        let framing = if status == 204 || status == 304 {
            Framing::Empty
        } else if chunked && !http10 {
            // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3).
            Framing::Chunked
        } else if chunked {
            return Err(HttpError::UnsupportedTransferEncoding.into());
        } else if let Some(n) = content_length {
            Framing::Length(n)
        } else {
            Framing::Close
        };
        self.head = Some(ResponseHead {
            status,
            framing,
            www_authenticate: None,
            retry_after,
            #[cfg(feature = "dpop")]
            dpop_nonce,
        });
        if let (Some(head), Some((start, len))) = (self.head.as_mut(), www_authenticate) {
            let value = buf
                .get(start..start.saturating_add(len))
                .unwrap_or_default();
            head.www_authenticate = Some(challenge_text(value));
        }
        // After the head is kept: whoever gets this error can still see the
        // status (a resource's 401 behind a large error page).
        if let Framing::Length(n) = framing
            && n > self.limits.max_body
        {
            return Err(HttpError::BodyTooLarge {
                limit: self.limits.max_body,
            }
            .into());
        }
        self.body_start = head_len;
        self.body_end = head_len;
        self.raw = head_len;
        self.state = State::Body;
        Ok(true)
    }

    fn read_body(&mut self, buf: &mut [u8], eof: bool) -> Result<bool, Error> {
        let framing = self.head.map(|h| h.framing).unwrap_or(Framing::Empty);
        let max_body = self.limits.max_body;
        let done = match framing {
            Framing::Empty => true,
            Framing::Length(n) => {
                let have = self.filled.saturating_sub(self.body_start);
                if have >= n {
                    self.body_end = self.body_start.saturating_add(n);
                    true
                } else if eof {
                    return Err(HttpError::UnexpectedEof.into());
                } else {
                    false
                }
            }
            Framing::Close => {
                self.body_end = self.filled;
                if self.body_end.saturating_sub(self.body_start) > max_body {
                    return Err(HttpError::BodyTooLarge { limit: max_body }.into());
                }
                eof
            }
            Framing::Chunked => {
                let done = self.decode_chunks(buf)?;
                if !done && eof {
                    return Err(HttpError::UnexpectedEof.into());
                }
                done
            }
        };
        if done {
            self.state = State::Done;
        }
        Ok(done)
    }

    /// Decodes chunked framing in place: data moves down to `body_end`,
    /// unprocessed bytes are compacted behind it.
    fn decode_chunks(&mut self, buf: &mut [u8]) -> Result<bool, Error> {
        let max_body = self.limits.max_body;
        let mut done = false;
        while !done {
            let avail = buf.get(self.raw..self.filled).unwrap_or_default();
            match self.chunk {
                Chunk::Size | Chunk::Trailer => {
                    let Some(eol) = find_crlf(avail) else {
                        if avail.len() > MAX_CHUNK_LINE {
                            return Err(HttpError::InvalidChunk.into());
                        }
                        break;
                    };
                    let line_len = eol + 2;
                    if self.chunk == Chunk::Trailer {
                        // Trailer fields count against the head limit.
                        self.head_seen = self.head_seen.saturating_add(line_len);
                        if self.head_seen > self.limits.max_head {
                            return Err(HttpError::HeadTooLarge {
                                limit: self.limits.max_head,
                            }
                            .into());
                        }
                        if eol == 0 {
                            done = true;
                        }
                        self.raw += line_len;
                        continue;
                    }
                    // httparse accepts a bare CRLF as size 0: refuse it.
                    if eol == 0 || eol > MAX_CHUNK_LINE {
                        return Err(HttpError::InvalidChunk.into());
                    }
                    let line = avail.get(..line_len).unwrap_or_default();
                    let size = match httparse::parse_chunk_size(line) {
                        // (httparse ends the line at its first CRLF, the
                        // one found above: the whole line is used.)
                        Ok(httparse::Status::Complete((_, size))) => size,
                        _ => return Err(HttpError::InvalidChunk.into()),
                    };
                    self.raw += line_len;
                    let body_len = self.body_end - self.body_start;
                    let size = usize::try_from(size)
                        .map_err(|_| HttpError::BodyTooLarge { limit: max_body })?;
                    if size > max_body.saturating_sub(body_len) {
                        return Err(HttpError::BodyTooLarge { limit: max_body }.into());
                    }
                    self.chunk = if size == 0 {
                        Chunk::Trailer
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(rem) => {
                    let take = rem.min(avail.len());
                    if take == 0 {
                        break;
                    }
                    move_down(buf, self.raw..self.raw + take, self.body_end);
                    self.body_end += take;
                    self.raw += take;
                    self.chunk = if rem == take {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(rem - take)
                    };
                }
                Chunk::DataEnd => match avail.get(..2) {
                    Some(b"\r\n") => {
                        self.raw += 2;
                        self.chunk = Chunk::Size;
                    }
                    Some(_) => return Err(HttpError::InvalidChunk.into()),
                    None => break,
                },
            }
        }
        // Compact what is not yet decoded right behind the decoded body.
        // (`raw` is never behind `body_end`; equal, this moves nothing.)
        if !done {
            move_down(buf, self.raw..self.filled, self.body_end);
            self.filled = self
                .filled
                .saturating_sub(self.raw.saturating_sub(self.body_end));
            self.raw = self.body_end;
        }
        Ok(done)
    }
}

/// Keeps a `WWW-Authenticate` value; when it is too long for the error,
/// keeps what matters: the scheme and its `error` parameter
/// (`Basic error="invalid_client"`), dropping the realm and the rest.
pub(crate) fn challenge_text(value: &[u8]) -> Text<64> {
    let full = Text::from_bytes_lossy(value);
    if !full.is_truncated() {
        return full;
    }
    let scheme_end = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
    match challenge_error(value) {
        Some(err) => {
            let mut buf = [0u8; 64];
            let mut sink = crate::encode::Sink::new(&mut buf);
            sink.put(value.get(..scheme_end.min(24)).unwrap_or_default());
            sink.put(b" ");
            sink.put(err);
            let n = sink.len();
            match buf.get(..n) {
                Some(compact) => Text::from_bytes_lossy(compact),
                None => full,
            }
        }
        None => full,
    }
}

/// The `error` parameter of a `WWW-Authenticate` value as sent
/// (`error="invalid_token"` or `error=invalid_token`): the first `error=`
/// that starts a parameter (after the scheme: a challenge starts with one,
/// RFC 9110 §11.6.1), not one inside another parameter's name.
pub(crate) fn challenge_error(value: &[u8]) -> Option<&[u8]> {
    (1..value.len())
        .find(|&i| {
            matches!(value.get(i - 1), Some(b' ' | b',' | b'\t'))
                && value
                    .get(i..i + 6)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"error="))
        })
        .map(|i| {
            let rest = value.get(i..).unwrap_or_default();
            let end = if rest.get(6) == Some(&b'"') {
                rest.iter()
                    .skip(7)
                    .position(|&b| b == b'"')
                    .map_or(rest.len(), |p| p + 8)
            } else {
                rest.iter()
                    .position(|&b| b == b',' || b == b' ')
                    .unwrap_or(rest.len())
            };
            rest.get(..end).unwrap_or(rest)
        })
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

fn trim(b: &[u8]) -> &[u8] {
    crate::bytes::trim(b, |c| matches!(c, b' ' | b'\t'))
}

/// A non-empty run of ASCII digits that fits in `usize`.
pub(crate) fn parse_decimal(b: &[u8]) -> Option<usize> {
    crate::bytes::parse_u64(b).and_then(|v| usize::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(
        wire: &[u8],
        step: usize,
        buf: &mut [u8],
    ) -> Result<(ResponseReader, std::vec::Vec<u8>), Error> {
        let mut r = ResponseReader::new(Limits::new());
        let mut pos = 0;
        loop {
            let spare = r.spare(buf)?;
            let n = step.min(spare.len()).min(wire.len() - pos);
            spare[..n].copy_from_slice(&wire[pos..pos + n]);
            pos += n;
            if r.advance(buf, n)? {
                let body = r.body(buf).to_vec();
                return Ok((r, body));
            }
        }
    }

    /// Feeds `wire` in one read; `Ok(true)` once the response is complete.
    fn feed(r: &mut ResponseReader, buf: &mut [u8], wire: &[u8]) -> Result<bool, Error> {
        let spare = r.spare(buf)?;
        spare[..wire.len()].copy_from_slice(wire);
        r.advance(buf, wire.len())
    }

    #[test]
    fn head_limit_is_inclusive() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let max = head.len() - 1;
        let mut buf = [0u8; 128];
        let mut r = ResponseReader::new(Limits::new().with_max_head(max));
        // `max` bytes of a head that is not over yet: more is needed.
        assert_eq!(feed(&mut r, &mut buf, &head[..max]), Ok(false));
        assert!(!r.is_complete());
        // One byte more than the limit, and the head is still not over.
        let mut r = ResponseReader::new(Limits::new().with_max_head(max - 1));
        assert_eq!(feed(&mut r, &mut buf, &head[..max - 1]), Ok(false));
        assert_eq!(
            feed(&mut r, &mut buf, &head[max - 1..max]),
            Err(HttpError::HeadTooLarge { limit: max - 1 }.into())
        );
    }

    #[test]
    fn body_limit_is_inclusive() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
        let mut buf = [0u8; 128];
        let mut r = ResponseReader::new(Limits::new().with_max_body(4));
        assert_eq!(feed(&mut r, &mut buf, wire), Ok(true));
        assert!(r.is_complete());
        assert_eq!(r.body(&buf), b"body");
        let mut r = ResponseReader::new(Limits::new().with_max_body(3));
        assert_eq!(
            feed(&mut r, &mut buf, wire),
            Err(HttpError::BodyTooLarge { limit: 3 }.into())
        );
    }

    #[test]
    fn no_content_and_not_modified_end_with_the_head() {
        for status in ["204 No Content", "304 Not Modified"] {
            let wire = std::format!("HTTP/1.1 {status}\r\nServer: x\r\n\r\n");
            let mut buf = [0u8; 128];
            let mut r = ResponseReader::new(Limits::new());
            assert!(!r.is_complete());
            // Complete without waiting for the server to close.
            assert_eq!(
                feed(&mut r, &mut buf, wire.as_bytes()),
                Ok(true),
                "{status}"
            );
            assert!(r.is_complete());
            assert_eq!(r.body(&buf), b"");
        }
        // Any other status without a length is read to the end.
        let mut buf = [0u8; 128];
        let mut r = ResponseReader::new(Limits::new());
        assert_eq!(
            feed(&mut r, &mut buf, b"HTTP/1.1 200 OK\r\n\r\n"),
            Ok(false)
        );
        assert!(!r.is_complete());
    }

    #[test]
    fn chunked_with_extensions_and_trailers_any_split() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n";
        for step in 1..wire.len() {
            let mut buf = [0u8; 256];
            let (_, body) = read_all(wire, step, &mut buf).unwrap();
            assert_eq!(body, b"hello world", "step {step}");
        }
    }

    #[test]
    fn trailers_count_against_the_head_limit() {
        let mut wire = std::vec::Vec::from(
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n"[..],
        );
        for i in 0..1000 {
            wire.extend_from_slice(std::format!("X-T{i}: y\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        let mut buf = [0u8; 512];
        let e = read_all(&wire, 100, &mut buf).unwrap_err();
        assert!(
            matches!(e, Error::Http(HttpError::HeadTooLarge { limit: 4096 })),
            "{e:?}"
        );
    }

    #[test]
    fn bare_crlf_chunk_size_is_refused() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n";
        let mut buf = [0u8; 256];
        assert!(matches!(
            read_all(wire, 64, &mut buf),
            Err(Error::Http(HttpError::InvalidChunk))
        ));
    }

    #[test]
    fn interim_responses_are_skipped() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        for step in [1, 7, 200] {
            let mut buf = [0u8; 256];
            let (r, body) = read_all(wire, step, &mut buf).unwrap();
            assert_eq!(
                (r.head().unwrap().status, body.as_slice()),
                (200, b"{}".as_slice())
            );
        }
    }

    #[test]
    fn close_delimited_http10() {
        let wire = b"HTTP/1.0 200 OK\r\n\r\n{\"a\":1}";
        let mut buf = [0u8; 256];
        let (r, body) = read_all(wire, 3, &mut buf).unwrap();
        assert_eq!(r.head().unwrap().framing, Framing::Close);
        assert_eq!(body, b"{\"a\":1}");
    }

    #[test]
    fn limits_and_lies() {
        let mut buf = [0u8; 512];
        let e = read_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
            100,
            &mut buf,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Http(HttpError::UnexpectedEof)));
        let e = read_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            100,
            &mut buf,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Http(HttpError::InvalidContentLength)));
        let e = read_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}",
            100,
            &mut buf,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Http(HttpError::InvalidContentLength)));
        let e = read_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            100,
            &mut buf,
        )
        .unwrap_err();
        assert!(matches!(
            e,
            Error::Http(HttpError::UnsupportedTransferEncoding)
        ));
        let e = read_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
            100,
            &mut buf,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Http(HttpError::BodyTooLarge { .. })));
        let mut long = std::vec::Vec::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n"[..]);
        long.resize(long.len() + 400, b'x');
        let e = read_all(&long, 100, &mut buf[..100]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Capacity(CapacityError {
                    needed: 440,
                    exact: true,
                    ..
                })
            ),
            "{e:?}"
        );
        let e = read_all(b"", 100, &mut buf).unwrap_err();
        assert!(matches!(e, Error::Http(HttpError::UnexpectedEof)));
        let e = read_all(b"NOT HTTP\r\n\r\n", 100, &mut buf).unwrap_err();
        assert!(matches!(e, Error::Http(HttpError::Malformed)));
    }

    #[test]
    fn header_flood() {
        let mut wire = std::vec::Vec::from(&b"HTTP/1.1 200 OK\r\n"[..]);
        for i in 0..40 {
            wire.extend_from_slice(std::format!("X-{i}: y\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        let mut buf = [0u8; 2048];
        let e = read_all(&wire, 1000, &mut buf).unwrap_err();
        assert!(matches!(
            e,
            Error::Http(HttpError::TooManyHeaders { limit: 24 })
        ));
    }

    /// A chunked response with this chunk-size line (CRLF added) before
    /// one byte of data, read in one piece; Ok(body) or the error.
    fn chunked_with_size_line(line: &[u8]) -> Result<std::vec::Vec<u8>, Error> {
        let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        wire.extend_from_slice(line);
        wire.extend_from_slice(b"\r\nX\r\n0\r\n\r\n");
        let mut buf = [0u8; 1024];
        read_all(&wire, wire.len(), &mut buf).map(|(_, body)| body)
    }

    #[test]
    fn chunk_size_lines_up_to_the_limit() {
        // "1;" and an extension: the line is exactly MAX_CHUNK_LINE bytes.
        let mut line = b"1;x=".to_vec();
        line.resize(MAX_CHUNK_LINE, b'a');
        assert_eq!(chunked_with_size_line(&line).unwrap(), b"X");
        line.push(b'a');
        assert_eq!(
            chunked_with_size_line(&line),
            Err(HttpError::InvalidChunk.into())
        );
        // A size line that has no CRLF yet: waits up to the limit, no more.
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut buf = [0u8; 1024];
        let mut r = ResponseReader::new(Limits::new());
        assert_eq!(feed(&mut r, &mut buf, head), Ok(false));
        let mut pending = b"1;x=".to_vec();
        pending.resize(MAX_CHUNK_LINE, b'a');
        assert_eq!(feed(&mut r, &mut buf, &pending), Ok(false));
        assert_eq!(
            feed(&mut r, &mut buf, b"a"),
            Err(HttpError::InvalidChunk.into())
        );
        // A bare LF inside the size line is not the line's end.
        assert_eq!(
            chunked_with_size_line(b"1\nX"),
            Err(HttpError::InvalidChunk.into())
        );
    }

    #[test]
    fn trailers_count_against_the_head_limit_inclusively() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let rest = b"1\r\nX\r\n0\r\nT: v\r\n\r\n";
        // The head, then the trailer's 6 + 2 bytes: exactly at the limit.
        let limit = head.len() + 8;
        for (max, ok) in [(limit, true), (limit - 1, false)] {
            let mut buf = [0u8; 256];
            let mut r = ResponseReader::new(Limits::new().with_max_head(max));
            assert_eq!(feed(&mut r, &mut buf, head), Ok(false));
            let done = feed(&mut r, &mut buf, rest);
            if ok {
                assert_eq!(done, Ok(true));
                assert_eq!(r.body(&buf), b"X");
            } else {
                assert_eq!(done, Err(HttpError::HeadTooLarge { limit: max }.into()));
            }
        }
    }

    #[test]
    fn chunk_data_end_may_arrive_a_byte_at_a_time() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        for step in 1..8 {
            let mut buf = [0u8; 256];
            let (_, body) = read_all(wire, step, &mut buf).unwrap();
            assert_eq!(body, b"abcde", "step {step}");
        }
        // What follows chunk data must be CRLF.
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\n0\r\n\r\n";
        let mut buf = [0u8; 256];
        assert_eq!(
            read_all(bad, bad.len(), &mut buf).map(|_| ()),
            Err(HttpError::InvalidChunk.into())
        );
    }

    #[test]
    fn chunk_framing_does_not_eat_the_buffer() {
        // 300 one-byte chunks (1800 bytes on the wire) through a 512-byte
        // buffer, read 7 bytes at a time: the framing is compacted away.
        let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..300 {
            wire.extend_from_slice(b"1\r\nz\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let mut buf = [0u8; 512];
        let (_, body) = read_all(&wire, 7, &mut buf).unwrap();
        assert_eq!(body, [b'z'; 300]);
    }

    #[test]
    fn long_challenges_keep_the_error_parameter_however_it_is_written() {
        let realm = "realm=\"https://localhost:38271/a/very/long/issuer/path/that/goes/on\"";
        for (value, kept) in [
            (
                std::format!("Bearer {realm}, error=invalid_token, error_description=\"x\""),
                "Bearer error=invalid_token",
            ),
            (
                std::format!("Bearer {realm} error=invalid_token more"),
                "Bearer error=invalid_token",
            ),
            (
                std::format!("Bearer {realm},\tERROR=\"invalid_token\""),
                "Bearer ERROR=\"invalid_token\"",
            ),
            (
                std::format!("Bearer {realm}, xerror=\"no\", error=\"insufficient_scope\""),
                "Bearer error=\"insufficient_scope\"",
            ),
            (
                std::format!("Bearer {realm}, error=\"unterminated"),
                "Bearer error=\"unterminated",
            ),
        ] {
            assert_eq!(challenge_text(value.as_bytes()).as_str(), kept, "{value}");
        }
        // Not a parameter: inside a quoted value, or at the very start.
        let inside = std::format!("Bearer realm=\"error=x {}\"", "y".repeat(70));
        let t = challenge_text(inside.as_bytes());
        assert!(t.is_truncated() && inside.starts_with(t.as_str()));
        let first = std::format!("error=\"x\" {}", "y".repeat(70));
        let t = challenge_text(first.as_bytes());
        assert!(t.is_truncated() && first.starts_with(t.as_str()));
    }

    #[test]
    fn long_challenges_keep_scheme_and_error() {
        let v = b"Basic realm=\"https://localhost:38271/a/very/long/issuer/path/that/goes/on\", error=\"invalid_client\", error_description=\"client authentication failed\"";
        assert_eq!(challenge_text(v).as_str(), "Basic error=\"invalid_client\"");
        assert_eq!(
            challenge_text(b"Bearer realm=\"x\"").as_str(),
            "Bearer realm=\"x\""
        );
        let no_error = [b'a'; 100];
        let t = challenge_text(&no_error);
        assert!(t.is_truncated() && t.as_str().len() == 64);
    }

    #[test]
    fn decimal() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"123"), Some(123));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"1a"), None);
        assert_eq!(parse_decimal(b"99999999999999999999"), None);
    }
}
