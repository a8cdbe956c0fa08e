//! Request and response buffering, so slow clients never hold the upstream.
//!
//! - Request bodies are read completely before the upstream sees the request
//!   ([`collect`]): in memory up to a threshold, then in an anonymous temporary file,
//!   with a maximum size (413) and a timeout between reads (408). Bodies that must stream
//!   pass through [`Streamed`], which applies the same size limit and timeout.
//! - Responses are read from the upstream as fast as it sends them ([`buffer_response`]):
//!   a small response that has arrived whole is handed over as it is (no task, no copy);
//!   a larger one is pumped by its own task into memory, then into a temporary file up to
//!   a limit (beyond which the upstream is read only as fast as the client reads: the rest
//!   streams), and the upstream connection is released as soon as the upstream is done.
//!   The client is fed at its own pace from [`SpoolBody`]; a client that stops reading is
//!   given up on after the send timeout. Responses that must stream pass through as
//!   they come.
//!
//! Temporary files are opened with `O_TMPFILE` and mode 0600 whatever the umask, unlinked at once (on
//! Linux never named at all), closed when the request or response is done. They are
//! written and read with positional I/O on the runtime's threads, as nginx does without
//! its thread pools: these are page-cache copies of at most 32 KiB (reads) or one received frame (writes) at a time.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::{BoxBody, BoxError, GatewayOptions};

/// The most read from a temporary file at a time.
const FILE_CHUNK: usize = 32 * 1024;

/// The most hyper buffers per HTTP/1 connection, client or upstream (its default is
/// about 400 KiB): request and response heads must fit, and it bounds the data queued
/// for a client that reads slowly, so memory per slow client stays small.
pub(crate) const CONNECTION_BUFFER: usize = 64 * 1024;

// ---------------------------------------------------------------- paths

/// The unbuffered paths: the library's path patterns, the grammar of every path list
/// (an ambiguous path never matches, so it is buffered).
pub(crate) use hardened::enforce::PathSet as PathList;

// ---------------------------------------------------------------- temporary files

/// A new anonymous temporary file in `dir`: mode 0600 whatever the umask, already
/// unlinked (`O_TMPFILE` where the file system has it: never named at all).
///
/// Written here rather than with `tempfile::tempfile_in`, which opens `O_TMPFILE`
/// without a mode, so that the file gets `0666 & !umask` (0644 under umask 022): a
/// file that is later linked into the directory, or opened through `/proc`, must not
/// be readable by other users, as request bodies hold credentials.
fn temp_file(dir: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
        {
            Ok(f) => return Ok(f),
            // The three "not supported here" answers to O_TMPFILE: a named file, then.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::ENOENT)
                ) => {}
            Err(e) => return Err(e),
        }
    }
    // Created 0600 (tempfile's named files are), then unlinked at once.
    Ok(tempfile::Builder::new().tempfile_in(dir)?.into_file())
}

#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        buf = buf.get(n..).unwrap_or_default();
        offset += n as u64;
    }
    Ok(())
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// Reads up to `FILE_CHUNK` bytes of `file` at `offset`, `remaining` being what is left.
fn read_chunk(file: &File, offset: u64, remaining: u64) -> std::io::Result<Bytes> {
    let want = usize::try_from(remaining).map_or(FILE_CHUNK, |r| r.min(FILE_CHUNK));
    let mut buf = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match read_at(file, rest, offset + filled as u64) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Bytes::from(buf))
}

mod request;
mod response;
mod send_timeout;

pub(crate) use request::*;
pub(crate) use response::*;
pub(crate) use send_timeout::*;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
