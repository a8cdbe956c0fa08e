//! The chunked transfer coding (RFC 9112 §7.1), decoded from the connection's read
//! buffer. The same state machine and the same answers as hyper's decoder: hex sizes
//! without sign or leading space, optional spaces or tabs after the size, extensions up
//! to CR (a bare LF in one is an error), CRLF everywhere (never a bare LF), trailers
//! parsed by httparse, limits on extensions and trailers.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::{Error, Limits};

/// Where the decoder stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The first hex digit of a chunk size.
    Start,
    /// More hex digits.
    Size,
    /// Spaces or tabs after the size.
    SizeLws,
    /// A chunk extension, up to CR.
    Extension,
    /// The LF ending the size line.
    SizeLf,
    /// Chunk data.
    Body,
    /// The CR after chunk data.
    BodyCr,
    /// The LF after chunk data.
    BodyLf,
    /// A trailer line, up to CR.
    Trailer,
    /// The LF ending a trailer line.
    TrailerLf,
    /// The CR of the final empty line (or the first byte of a trailer line).
    EndCr,
    /// The LF of the final empty line.
    EndLf,
    /// Done.
    End,
}

/// What one step of decoding gave.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The trailers, after the last chunk: the body is complete.
    Trailers(HeaderMap),
    /// The body is complete (no trailers).
    End,
    /// The buffer holds no more of the body: read more.
    NeedMore,
}

/// A chunked body decoder.
#[derive(Debug)]
pub(crate) struct Chunked {
    state: State,
    /// The current chunk's size while its line is read, then what is left of its data.
    size: u64,
    /// Chunk extension bytes seen in the whole body.
    extensions: u64,
    /// The trailer section as received (lines and the final empty line).
    trailers: Option<BytesMut>,
    /// Trailer lines seen.
    trailer_lines: usize,
}

impl Chunked {
    /// A decoder at the start of a body.
    pub(crate) fn new() -> Chunked {
        Chunked {
            state: State::Start,
            size: 0,
            extensions: 0,
            trailers: None,
            trailer_lines: 0,
        }
    }

    /// Decodes from `buf` (consuming what it decodes) until it has data, the end of the
    /// body, or needs more bytes.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Decoded, Error> {
        // Bounded: each round consumes a byte, returns, or ends the body.
        loop {
            match self.state {
                State::End => return Ok(Decoded::End),
                State::Body => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = usize::try_from(self.size)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    let data = buf.split_to(n).freeze();
                    self.size = self.size.saturating_sub(n as u64);
                    if self.size == 0 {
                        self.state = State::BodyCr;
                    }
                    return Ok(Decoded::Data(data));
                }
                _ => {}
            }
            let Some(&byte) = buf.first() else {
                return Ok(Decoded::NeedMore);
            };
            buf.advance(1);
            self.state = self.step(byte, limits)?;
            if self.state == State::End {
                return Ok(match self.trailers.take() {
                    Some(t) => Decoded::Trailers(trailers(&t, self.trailer_lines)?),
                    None => Decoded::End,
                });
            }
        }
    }

    fn step(&mut self, byte: u8, limits: &Limits) -> Result<State, Error> {
        Ok(match self.state {
            State::Start => {
                self.size_digit(byte)
                    .ok_or(Error::Chunked("chunk size: missing size digit"))??;
                State::Size
            }
            State::Size => match byte {
                b'\t' | b' ' => State::SizeLws,
                b';' => State::Extension,
                b'\r' => State::SizeLf,
                _ => {
                    self.size_digit(byte)
                        .ok_or(Error::Chunked("chunk size: invalid byte"))??;
                    State::Size
                }
            },
            State::SizeLws => match byte {
                b'\t' | b' ' => State::SizeLws,
                b';' => State::Extension,
                b'\r' => State::SizeLf,
                _ => return Err(Error::Chunked("chunk size: invalid byte after spaces")),
            },
            State::Extension => match byte {
                b'\r' => State::SizeLf,
                b'\n' => return Err(Error::Chunked("chunk extension contains a newline")),
                _ => {
                    self.extensions += 1;
                    if self.extensions >= limits.max_chunk_extensions {
                        return Err(Error::Chunked("chunk extensions over the limit"));
                    }
                    State::Extension
                }
            },
            State::SizeLf => match byte {
                b'\n' if self.size == 0 => State::EndCr,
                b'\n' => State::Body,
                _ => return Err(Error::Chunked("chunk size line: missing LF")),
            },
            State::BodyCr => match byte {
                b'\r' => State::BodyLf,
                _ => return Err(Error::Chunked("chunk data: missing CR")),
            },
            State::BodyLf => match byte {
                b'\n' => State::Start,
                _ => return Err(Error::Chunked("chunk data: missing LF")),
            },
            State::Trailer => {
                self.push_trailer(byte, limits)?;
                if byte == b'\r' {
                    State::TrailerLf
                } else {
                    State::Trailer
                }
            }
            State::TrailerLf => match byte {
                b'\n' => {
                    if self.trailer_lines >= limits.max_headers {
                        return Err(Error::Chunked("too many trailers"));
                    }
                    self.trailer_lines += 1;
                    self.push_trailer(byte, limits)?;
                    State::EndCr
                }
                _ => return Err(Error::Chunked("trailer line: missing LF")),
            },
            State::EndCr => {
                self.push_trailer_or_start(byte, limits)?;
                if byte == b'\r' {
                    State::EndLf
                } else {
                    State::Trailer
                }
            }
            State::EndLf => match byte {
                b'\n' => {
                    if self.trailers.is_some() {
                        self.push_trailer(byte, limits)?;
                    }
                    State::End
                }
                _ => return Err(Error::Chunked("end of body: missing LF")),
            },
            // Handled by `decode`.
            State::Body | State::End => self.state,
        })
    }

    /// Adds a hex digit to the chunk size: `None` if `byte` is not one.
    fn size_digit(&mut self, byte: u8) -> Option<Result<(), Error>> {
        let digit = char::from(byte).to_digit(16)?;
        Some(
            self.size
                .checked_mul(16)
                .and_then(|s| s.checked_add(u64::from(digit)))
                .map(|s| self.size = s)
                .ok_or(Error::Chunked("chunk size: overflow")),
        )
    }

    fn push_trailer(&mut self, byte: u8, limits: &Limits) -> Result<(), Error> {
        if let Some(t) = &mut self.trailers {
            t.put_u8(byte);
            if t.len() > limits.max_trailers {
                return Err(Error::Chunked("trailers over the limit"));
            }
        }
        Ok(())
    }

    /// At the start of a line after the last chunk: the final CR, or the first byte of
    /// a trailer line (the trailer section starts).
    fn push_trailer_or_start(&mut self, byte: u8, limits: &Limits) -> Result<(), Error> {
        if self.trailers.is_none() && byte != b'\r' {
            self.trailers = Some(BytesMut::with_capacity(64));
        }
        self.push_trailer(byte, limits)
    }
}

/// The trailer section (lines and final empty line) as a header map.
fn trailers(section: &[u8], lines: usize) -> Result<HeaderMap, Error> {
    let mut slots = vec![httparse::EMPTY_HEADER; lines.max(1)];
    match httparse::parse_headers(section, &mut slots) {
        Ok(httparse::Status::Complete((_, fields))) => {
            let mut map = HeaderMap::try_with_capacity(fields.len())
                .map_err(|_| Error::Chunked("too many trailers"))?;
            for f in fields {
                let name = HeaderName::from_bytes(f.name.as_bytes())
                    .map_err(|_| Error::Chunked("trailer name"))?;
                let value = HeaderValue::from_bytes(f.value)
                    .map_err(|_| Error::Chunked("trailer value"))?;
                map.try_append(name, value)
                    .map_err(|_| Error::Chunked("too many trailers"))?;
            }
            Ok(map)
        }
        Ok(httparse::Status::Partial) => Err(Error::Chunked("incomplete trailers")),
        Err(_) => Err(Error::Chunked("invalid trailers")),
    }
}
