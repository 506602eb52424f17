//! The chunked transfer-coding decoder: a state machine over byte slices.

use super::Error;

/// The most bytes of chunk extensions and trailer fields taken per body
/// before the request is refused (431): they are read and thrown away.
pub const MAX_CHUNK_OVERHEAD: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the hex chunk size; `digits` so far.
    Size { digits: u8 },
    /// Right after the size digits: `;` extensions, whitespace before
    /// one, or CR.
    SizeTail,
    /// Whitespace after the size: only more of it or `;` may follow (no
    /// whitespace before the CRLF of a line without extensions).
    SizeSpace,
    /// Inside chunk extensions, up to CR.
    Extension,
    /// The LF ending a chunk-size line.
    SizeLf,
    /// Chunk data: `remaining` bytes to go.
    Data,
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// After the last chunk: a trailer field, or the final CRLF.
    TrailerStart,
    /// Inside a trailer field, up to CR.
    Trailer,
    /// The LF ending a trailer field.
    TrailerLf,
    /// The LF of the final CRLF.
    EndLf,
    /// The body is complete.
    Done,
}

/// Decodes a `Transfer-Encoding: chunked` body incrementally.
///
/// Feed it what has arrived with [`decode`](ChunkedDecoder::decode); it
/// copies the payload out and reports how much input it used, so the caller
/// keeps the rest (the next pipelined request, say). Chunk extensions and
/// trailer fields are skipped, up to [`MAX_CHUNK_OVERHEAD`] bytes. Every
/// line of the framing must end in CRLF (a bare LF is an error, trailers
/// included), and whitespace after a chunk size is only accepted before a
/// `;` extension: anything looser could frame the body differently from a
/// proxy in front of the server and smuggle a request past it.
///
/// ```
/// use guv::wsgi::proto::ChunkedDecoder;
///
/// let mut dec = ChunkedDecoder::new();
/// let mut out = [0u8; 16];
/// let input = b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\nNEXT";
/// let (mut used, mut n) = (0, 0);
/// while !dec.is_done() {
///     let (u, w) = dec.decode(&input[used..], &mut out[n..]).unwrap();
///     used += u;
///     n += w;
/// }
/// assert_eq!(&out[..n], b"hello!");
/// assert_eq!(&input[used..], b"NEXT");
/// ```
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    remaining: u64,
    overhead: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> ChunkedDecoder {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    ///
    /// ```
    /// let dec = guv::wsgi::proto::ChunkedDecoder::new();
    /// assert!(!dec.is_done());
    /// ```
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder { state: State::Size { digits: 0 }, remaining: 0, overhead: 0 }
    }

    /// Whether the terminating chunk and trailer have been read.
    ///
    /// ```
    /// let mut dec = guv::wsgi::proto::ChunkedDecoder::new();
    /// let mut out = [0u8; 8];
    /// dec.decode(b"0\r\n\r\n", &mut out).unwrap();
    /// assert!(dec.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input` into `out`; returns `(input used, bytes
    /// written)`. Stops when `out` is full, the input runs out, or the body
    /// ends. Returns `(0, 0)` only when done, or when `input` or `out` is
    /// empty (`out` only matters while inside chunk data).
    ///
    /// ```
    /// let mut dec = guv::wsgi::proto::ChunkedDecoder::new();
    /// let mut out = [0u8; 16];
    /// let input = b"3\r\nabc\r\n0\r\n\r\n";
    /// let (mut used, mut written) = (0, 0);
    /// while !dec.is_done() {
    ///     let (u, w) = dec.decode(&input[used..], &mut out[written..]).unwrap();
    ///     used += u;
    ///     written += w;
    /// }
    /// assert_eq!((&out[..written], used), (&b"abc"[..], input.len()));
    /// // A bare LF is refused (no request smuggling).
    /// assert!(guv::wsgi::proto::ChunkedDecoder::new().decode(b"3\nabc", &mut out).is_err());
    /// ```
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), Error> {
        let mut i = 0;
        let mut written = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Done => break,
                State::Data => {
                    if written == out.len() {
                        break;
                    }
                    let n = (input.len() - i).min(out.len() - written);
                    let n = n.min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                    out[written..written + n].copy_from_slice(&input[i..i + n]);
                    written += n;
                    i += n;
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::Size { digits } => match hex(b) {
                    Some(d) => {
                        if digits == 16 {
                            return Err(Error::syntax("chunk size too large"));
                        }
                        self.remaining = self.remaining << 4 | u64::from(d);
                        self.state = State::Size { digits: digits + 1 };
                    }
                    None if digits == 0 => return Err(Error::syntax("missing chunk size")),
                    None => {
                        self.state = State::SizeTail;
                        continue;
                    }
                },
                State::SizeTail => match b {
                    b' ' | b'\t' => {
                        self.count_overhead()?;
                        self.state = State::SizeSpace;
                    }
                    b';' => self.state = State::Extension,
                    b'\r' => self.state = State::SizeLf,
                    _ => return Err(Error::syntax("invalid chunk size line")),
                },
                State::SizeSpace => match b {
                    b' ' | b'\t' => self.count_overhead()?,
                    b';' => self.state = State::Extension,
                    _ => return Err(Error::syntax("whitespace after a chunk size without an extension")),
                },
                State::Extension => match b {
                    b'\r' => self.state = State::SizeLf,
                    b'\n' => return Err(Error::syntax("bare LF in a chunk size line")),
                    _ => self.count_overhead()?,
                },
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(Error::syntax("chunk size line not ended by CRLF"));
                    }
                    self.state = if self.remaining == 0 { State::TrailerStart } else { State::Data };
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(Error::syntax("chunk data longer than its size"));
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(Error::syntax("chunk data not ended by CRLF"));
                    }
                    self.state = State::Size { digits: 0 };
                }
                // Lines after the last chunk end in CRLF like every other
                // line: a bare LF here would let a client and a proxy that
                // disagree about it see different requests.
                State::TrailerStart => match b {
                    b'\r' => self.state = State::EndLf,
                    b'\n' => return Err(Error::syntax("bare LF after the last chunk")),
                    _ => {
                        self.count_overhead()?;
                        self.state = State::Trailer;
                    }
                },
                State::Trailer => match b {
                    b'\r' => self.state = State::TrailerLf,
                    b'\n' => return Err(Error::syntax("bare LF in a trailer field")),
                    _ => self.count_overhead()?,
                },
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(Error::syntax("trailer field not ended by CRLF"));
                    }
                    self.count_overhead()?;
                    self.state = State::TrailerStart;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(Error::syntax("chunked body not ended by CRLF"));
                    }
                    self.state = State::Done;
                    i += 1;
                    break;
                }
            }
            i += 1;
        }
        Ok((i, written))
    }

    fn count_overhead(&mut self) -> Result<(), Error> {
        self.overhead += 1;
        if self.overhead > MAX_CHUNK_OVERHEAD {
            return Err(Error::headers_too_large("chunk extensions or trailers over the limit"));
        }
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed one byte at a time, with a small output buffer.
    fn trickle(input: &[u8]) -> Result<(Vec<u8>, usize), Error> {
        let mut dec = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut used = 0;
        let mut buf = [0u8; 3];
        while !dec.is_done() && used < input.len() {
            let (u, w) = dec.decode(&input[used..used + 1], &mut buf)?;
            used += u;
            out.extend_from_slice(&buf[..w]);
        }
        Ok((out, used))
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"A\r\n0123456789\r\n3 ; x=y\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\nrest";
        let (out, used) = trickle(input).unwrap();
        assert_eq!(out, b"0123456789abc");
        assert_eq!(&input[used..], b"rest");
    }

    #[test]
    fn malformed() {
        assert!(trickle(b"x\r\n").is_err());
        assert!(trickle(b"3\r\nabcd\r\n").is_err());
        assert!(trickle(b"3\nabc").is_err());
        assert!(trickle(b"11111111111111111\r\n").is_err());
        assert!(trickle(b"3 \r\nabc\r\n0\r\n\r\n").is_err());
        assert!(trickle(b"0\r\n\n").is_err());
        assert!(trickle(b"0\r\nT: 1\n\r\n").is_err());
        assert!(trickle(b"0\r\nT: 1\rX\r\n\r\n").is_err());
        assert!(trickle(b"0\r\n\rX").is_err());
        assert_eq!(trickle(b"3 \t; e\r\nabc\r\n0\r\n\r\n").unwrap().0, b"abc");
    }
}
