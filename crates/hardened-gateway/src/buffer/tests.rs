use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http_body_util::{Empty, Full};
use tokio::sync::mpsc;

use super::*;

/// The longest any step of these tests may take.
const LIMIT: Duration = Duration::from_secs(10);

/// A body fed through a channel; counts the bytes read from it.
struct Chan {
    rx: mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
    hint: Option<u64>,
    read: Arc<AtomicU64>,
}

impl Body for Chan {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(f))) = &polled
            && let Some(d) = f.data_ref()
        {
            self.read.fetch_add(d.len() as u64, Ordering::SeqCst);
        }
        polled
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

type Tx = mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

fn chan(hint: Option<u64>, capacity: usize) -> (Tx, Chan, Arc<AtomicU64>) {
    let (tx, rx) = mpsc::channel(capacity);
    let read = Arc::new(AtomicU64::new(0));
    (
        tx,
        Chan {
            rx,
            hint,
            read: read.clone(),
        },
        read,
    )
}

async fn send(tx: &Tx, data: impl Into<Bytes>) {
    tx.send(Ok(Frame::data(data.into()))).await.unwrap();
}

/// `n` bytes of a pattern that shows reordering.
fn pattern(n: usize, seed: usize) -> Bytes {
    (0..n)
        .map(|i| u8::try_from((i / 7 + seed) % 251).unwrap())
        .collect::<Vec<_>>()
        .into()
}

fn limits(dir: &Path, memory: usize, max: u64, timeout: Duration) -> BodyLimits {
    BodyLimits {
        buffering: true,
        unbuffered: PathList::default(),
        memory,
        max,
        timeout,
        temp_dir: dir.to_owned(),
    }
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Open descriptors of this process on (unlinked) files in `dir`.
#[cfg(target_os = "linux")]
fn open_files_in(dir: &Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .count()
}

async fn read_all<B>(mut body: B) -> Result<Vec<u8>, BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut out = Vec::new();
    while let Some(frame) = tokio::time::timeout(LIMIT, body.frame())
        .await
        .expect("body stalled")
    {
        if let Ok(d) = frame.map_err(Into::into)?.into_data() {
            out.extend_from_slice(&d);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- paths

#[test]
fn path_list_matches_exact_prefix_and_segment_patterns() {
    let patterns: Vec<String> = [
        "/upload",
        "/files/*",
        "/api/v1*",
        "/u/{id}/avatar",
        "/big/{*rest}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let list = PathList::new(&patterns);
    for yes in [
        "/upload",
        "/files/a",
        "/files/a/b",
        "/api/v1",
        "/api/v1x/y",
        "/u/7/avatar",
        "/big/x/y",
    ] {
        assert!(list.matches(yes), "{yes}");
    }
    for no in [
        "/upload/x",
        "/files",
        "/u//avatar",
        "/u/7/avatar/x",
        "/other",
        "/files/../admin",
        "/files/%2e%2e/admin",
        "/files/a%2Fb",
        "/files/a;b",
        "/files/a\\b",
    ] {
        assert!(!list.matches(no), "{no}");
    }
    assert!(!PathList::default().matches("/"));
    assert!(PathList::default().is_empty());
}

#[test]
fn request_buffering_can_be_off_globally_or_per_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = limits(dir.path(), 10, 0, LIMIT);
    l.unbuffered = PathList::new(&vec!["/stream/*".to_owned()]);
    assert!(l.buffers("/form"));
    assert!(!l.buffers("/stream/x"));
    l.buffering = false;
    assert!(!l.buffers("/form"));
}

// ---------------------------------------------------------------- request bodies

#[tokio::test]
async fn no_body_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(dir.path(), 10, 100, LIMIT);
    assert!(collect(Empty::<Bytes>::new(), &l).await.unwrap().is_none());
    assert!(
        collect(Full::new(Bytes::new()), &l)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_small_body_stays_in_memory_in_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(dir.path(), 100, 1000, LIMIT);
    let (tx, body, _) = chan(None, 4);
    send(&tx, "hello ").await;
    send(&tx, "world").await;
    drop(tx);
    let b = collect(body, &l).await.unwrap().unwrap();
    assert!(matches!(&b, Buffered::Memory { chunks, .. } if chunks.len() == 2));
    assert_eq!(b.len(), 11);
    let body = RequestBody::<Empty<Bytes>>::Buffered(b);
    assert_eq!(body.size_hint().exact(), Some(11));
    assert_eq!(read_all(body).await.unwrap(), b"hello world");
    assert_eq!(entries(dir.path()), 0);
}

#[tokio::test]
async fn a_larger_body_spills_to_an_unlinked_file_closed_with_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(dir.path(), 1000, 0, LIMIT);
    let data = pattern(300_000, 1);
    let (tx, body, _) = chan(None, 4);
    let feed = {
        let data = data.clone();
        tokio::spawn(async move {
            for c in data.chunks(7000) {
                send(&tx, Bytes::copy_from_slice(c)).await;
            }
        })
    };
    let b = collect(body, &l).await.unwrap().unwrap();
    feed.await.unwrap();
    assert!(matches!(b, Buffered::File { .. }));
    assert_eq!(b.len(), 300_000);
    // Never named in the directory; open while the request holds it.
    assert_eq!(entries(dir.path()), 0);
    #[cfg(target_os = "linux")]
    assert_eq!(open_files_in(dir.path()), 1);
    let body = RequestBody::<Empty<Bytes>>::Buffered(b);
    assert_eq!(body.size_hint().exact(), Some(300_000));
    assert_eq!(read_all(body).await.unwrap(), data);
    #[cfg(target_os = "linux")]
    assert_eq!(open_files_in(dir.path()), 0);
    assert_eq!(entries(dir.path()), 0);
}

#[tokio::test]
async fn content_length_over_the_limit_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(dir.path(), 10, 100, LIMIT);
    // Announces 1000 bytes and never sends any.
    let (_tx, body, read) = chan(Some(1000), 1);
    let r = tokio::time::timeout(Duration::from_secs(1), collect(body, &l))
        .await
        .expect("refused at once");
    assert!(
        matches!(r, Err(BodyError::TooLarge { limit: 100 })),
        "{r:?}"
    );
    assert_eq!(read.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_chunked_body_is_refused_as_soon_as_it_crosses_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(dir.path(), 10, 100, LIMIT);
    let (tx, body, _) = chan(None, 4);
    send(&tx, pattern(60, 0)).await;
    send(&tx, pattern(60, 0)).await;
    // The sender stays open: the refusal must not wait for the end.
    let r = tokio::time::timeout(Duration::from_secs(1), collect(body, &l))
        .await
        .expect("refused as soon as it crossed");
    assert!(matches!(r, Err(BodyError::TooLarge { .. })), "{r:?}");
    drop(tx);
    // Exactly the limit is fine.
    let (tx, body, _) = chan(None, 4);
    send(&tx, pattern(100, 0)).await;
    drop(tx);
    assert_eq!(collect(body, &l).await.unwrap().unwrap().len(), 100);
}

#[tokio::test]
async fn zero_means_unlimited() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(dir.path(), 1024, 0, LIMIT);
    assert!(!l.too_large(u64::MAX));
    let (tx, body, _) = chan(Some(3 << 20), 4);
    let feed = tokio::spawn(async move {
        for _ in 0..48 {
            send(&tx, pattern(65536, 3)).await;
        }
    });
    let b = collect(body, &l).await.unwrap().unwrap();
    feed.await.unwrap();
    assert_eq!(b.len(), 3 << 20);
}

#[tokio::test]
async fn a_stalled_body_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(dir.path(), 10, 0, Duration::from_millis(150));
    let (tx, body, _) = chan(Some(1000), 1);
    send(&tx, "x").await;
    let start = Instant::now();
    let r = tokio::time::timeout(LIMIT, collect(body, &l))
        .await
        .unwrap();
    assert!(matches!(r, Err(BodyError::Timeout(_))), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(tx);
}

#[tokio::test]
async fn a_broken_body_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(dir.path(), 10, 0, LIMIT);
    let (tx, body, _) = chan(None, 2);
    send(&tx, "x").await;
    tx.send(Err(std::io::ErrorKind::UnexpectedEof.into()))
        .await
        .unwrap();
    let r = collect(body, &l).await;
    assert!(matches!(r, Err(BodyError::Malformed(_))), "{r:?}");
}

#[tokio::test]
async fn an_unusable_temp_dir_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(&dir.path().join("missing"), 10, 0, LIMIT);
    let r = collect(Full::new(pattern(100, 0)), &l).await;
    assert!(matches!(r, Err(BodyError::Storage(_))), "{r:?}");
    // Small bodies never need the directory.
    assert!(collect(Full::new(pattern(10, 0)), &l).await.is_ok());
}

#[tokio::test]
async fn a_streamed_body_has_the_same_limit_and_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(dir.path(), 10, 100, Duration::from_millis(150));
    let (tx, body, _) = chan(None, 4);
    send(&tx, pattern(60, 0)).await;
    send(&tx, pattern(60, 0)).await;
    let err = read_all(RequestBody::Streamed(Streamed::new(body, &l)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<BodyError>(),
            Some(BodyError::TooLarge { .. })
        ),
        "{err}"
    );
    drop(tx);

    let (tx, body, _) = chan(None, 4);
    send(&tx, "abc").await;
    let err = read_all(Streamed::new(body, &l)).await.unwrap_err();
    assert!(
        matches!(err.downcast_ref::<BodyError>(), Some(BodyError::Timeout(_))),
        "{err}"
    );
    drop(tx);

    let (tx, body, _) = chan(None, 4);
    send(&tx, "abc").await;
    drop(tx);
    assert_eq!(read_all(Streamed::new(body, &l)).await.unwrap(), b"abc");
}

// ---------------------------------------------------------------- responses

fn buffering(
    dir: &Path,
    memory: usize,
    max_file: u64,
    send_timeout: Duration,
) -> Arc<ResponseBuffering> {
    Arc::new(ResponseBuffering {
        enabled: true,
        memory,
        max_file,
        read_timeout: LIMIT,
        send_timeout,
        temp_dir: dir.to_owned(),
    })
}

/// An `OnComplete` that sets a flag, and the flag.
fn flag() -> (OnComplete, Arc<AtomicBool>) {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    (Box::new(move || d.store(true, Ordering::SeqCst)), done)
}

/// Returns once every task of this (current-thread, paused-clock) runtime waits and
/// half of [`LIMIT`] (the shortest timeout of these buffers) has passed on the paused
/// clock: the clock only moves when nothing else can run (a blocking file operation in
/// flight holds it too), so whatever the pump would read before its own timeouts, even
/// after a delay, it has read. No wall-clock time is spent.
async fn settled() {
    tokio::time::sleep(LIMIT / 2).await;
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < LIMIT, "{what}: not within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn what_must_stream() {
    let mut h = HeaderMap::new();
    assert!(!must_stream(http::StatusCode::OK, &h));
    assert!(must_stream(http::StatusCode::SWITCHING_PROTOCOLS, &h));
    h.insert(
        "content-type",
        "Text/Event-Stream; charset=utf-8".parse().unwrap(),
    );
    assert!(must_stream(http::StatusCode::OK, &h));
    h.insert("content-type", "text/html".parse().unwrap());
    h.insert("x-accel-buffering", "no".parse().unwrap());
    assert!(must_stream(http::StatusCode::OK, &h));
    h.insert("x-accel-buffering", "yes".parse().unwrap());
    assert!(!must_stream(http::StatusCode::OK, &h));
}

#[tokio::test]
async fn a_whole_response_is_handed_over_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = buffering(dir.path(), 1024, 1 << 20, LIMIT);
    let (done, released) = flag();
    let body = buffer_response(Full::new(Bytes::from_static(b"hello")), done, &cfg)
        .await
        .unwrap();
    // Released before the client read anything: no pump was needed.
    assert!(released.load(Ordering::SeqCst));
    assert_eq!(body.size_hint().exact(), Some(5));
    assert_eq!(read_all(body).await.unwrap(), b"hello");

    let (done, released) = flag();
    let body = buffer_response(Empty::<Bytes>::new(), done, &cfg)
        .await
        .unwrap();
    assert!(released.load(Ordering::SeqCst));
    assert!(body.is_end_stream());
}

#[tokio::test]
async fn a_small_response_of_known_length_is_awaited_without_a_task() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = buffering(dir.path(), 1024, 1 << 20, LIMIT);
    let (tx, body, _) = chan(Some(11), 4);
    let feed = tokio::spawn(async move {
        send(&tx, "hello ").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        send(&tx, "world").await;
    });
    let (done, released) = flag();
    let body = buffer_response(body, done, &cfg).await.unwrap();
    assert!(released.load(Ordering::SeqCst));
    assert_eq!(read_all(body).await.unwrap(), b"hello world");
    feed.await.unwrap();
}

#[tokio::test]
async fn a_large_response_is_read_whole_and_the_upstream_released_before_the_client_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = buffering(dir.path(), 16 * 1024, 1 << 30, LIMIT);
    let data = pattern(2 << 20, 5);
    let (tx, body, _) = chan(None, 2);
    let feed = {
        let data = data.clone();
        tokio::spawn(async move {
            for c in data.chunks(10_000) {
                send(&tx, Bytes::copy_from_slice(c)).await;
            }
        })
    };
    let (done, released) = flag();
    let body = buffer_response(body, done, &cfg).await.unwrap();
    // The client has read nothing, yet the whole upstream body is in.
    wait_until("upstream released", || released.load(Ordering::SeqCst)).await;
    feed.await.unwrap();
    assert_eq!(entries(dir.path()), 0);
    #[cfg(target_os = "linux")]
    assert_eq!(open_files_in(dir.path()), 1);
    assert_eq!(read_all(body).await.unwrap(), data);
    #[cfg(target_os = "linux")]
    assert_eq!(open_files_in(dir.path()), 0);
}

#[tokio::test(start_paused = true)]
async fn beyond_the_temp_file_limit_the_rest_streams() {
    let dir = tempfile::tempdir().unwrap();
    let (memory, max_file) = (8 * 1024, 32 * 1024);
    let cfg = buffering(dir.path(), memory, max_file, LIMIT);
    let data = pattern(1 << 20, 9);
    let (tx, body, read) = chan(None, 1);
    let feed = {
        let data = data.clone();
        tokio::spawn(async move {
            for c in data.chunks(4096) {
                send(&tx, Bytes::copy_from_slice(c)).await;
            }
        })
    };
    let (done, released) = flag();
    let mut body = buffer_response(body, done, &cfg).await.unwrap();
    // Without a reader, the pump stops once memory and file are full.
    let bound = (memory as u64) + max_file + 4096;
    wait_until("buffers filled", || {
        read.load(Ordering::SeqCst) >= bound - 4096
    })
    .await;
    settled().await;
    let before = read.load(Ordering::SeqCst);
    assert!(
        before <= bound,
        "read {before} of the upstream, bound {bound}"
    );
    assert!(!released.load(Ordering::SeqCst));
    // Reading lets the rest through, in order.
    let mut got = Vec::new();
    while let Some(f) = tokio::time::timeout(LIMIT, body.frame()).await.unwrap() {
        got.extend_from_slice(&f.unwrap().into_data().unwrap());
    }
    assert_eq!(got, data);
    assert!(released.load(Ordering::SeqCst));
    feed.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn without_temp_files_only_memory_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = buffering(dir.path(), 8 * 1024, 0, LIMIT);
    let data = pattern(200_000, 2);
    let (tx, body, read) = chan(None, 1);
    let feed = {
        let data = data.clone();
        tokio::spawn(async move {
            for c in data.chunks(1000) {
                send(&tx, Bytes::copy_from_slice(c)).await;
            }
        })
    };
    let (done, _released) = flag();
    let body = buffer_response(body, done, &cfg).await.unwrap();
    settled().await;
    // It did read: the bound is not met by a pump that never ran.
    assert!(read.load(Ordering::SeqCst) >= 8 * 1024);
    assert!(read.load(Ordering::SeqCst) <= 8 * 1024 + 1000);
    #[cfg(target_os = "linux")]
    assert_eq!(open_files_in(dir.path()), 0);
    assert_eq!(read_all(body).await.unwrap(), data);
    feed.await.unwrap();
}

#[tokio::test]
async fn a_failing_temp_dir_falls_back_to_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = buffering(&dir.path().join("missing"), 4096, 1 << 20, LIMIT);
    let data = pattern(100_000, 4);
    let (tx, body, _) = chan(None, 1);
    let feed = {
        let data = data.clone();
        tokio::spawn(async move {
            for c in data.chunks(3000) {
                send(&tx, Bytes::copy_from_slice(c)).await;
            }
        })
    };
    let (done, released) = flag();
    let body = buffer_response(body, done, &cfg).await.unwrap();
    assert_eq!(read_all(body).await.unwrap(), data);
    assert!(released.load(Ordering::SeqCst));
    feed.await.unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_given_up_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = buffering(dir.path(), 1024, 0, Duration::from_millis(200));
    let (tx, body, _) = chan(None, 1);
    let feed = tokio::spawn(async move {
        for _ in 0..100 {
            if tx.send(Ok(Frame::data(pattern(1000, 0)))).await.is_err() {
                return true;
            }
        }
        false
    });
    let (done, released) = flag();
    let mut body = buffer_response(body, done, &cfg).await.unwrap();
    // The pump gives up: the upstream body is dropped, and it is not released for reuse.
    let dropped = tokio::time::timeout(LIMIT, feed).await.unwrap().unwrap();
    assert!(dropped, "the upstream body must be dropped");
    assert!(!released.load(Ordering::SeqCst));
    // Whatever the client reads next is an error, not a truncated success.
    let mut errored = false;
    while let Some(f) = tokio::time::timeout(LIMIT, body.frame()).await.unwrap() {
        if f.is_err() {
            errored = true;
            break;
        }
    }
    assert!(errored);
}

#[tokio::test]
async fn a_client_that_goes_away_stops_the_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = buffering(dir.path(), 1024, 0, LIMIT);
    let (tx, body, _) = chan(None, 1);
    send(&tx, pattern(2000, 0)).await;
    let (done, released) = flag();
    let body = buffer_response(body, done, &cfg).await.unwrap();
    drop(body);
    tokio::time::timeout(LIMIT, tx.closed()).await.unwrap();
    assert!(!released.load(Ordering::SeqCst));
}

#[tokio::test]
async fn trailers_and_errors_reach_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = buffering(dir.path(), 1024, 1 << 20, LIMIT);
    let (tx, body, _) = chan(None, 4);
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "1".parse().unwrap());
    send(&tx, pattern(5000, 0)).await;
    tx.send(Ok(Frame::trailers(trailers))).await.unwrap();
    let (done, released) = flag();
    let mut body = buffer_response(body, done, &cfg).await.unwrap();
    let mut seen = None;
    while let Some(f) = tokio::time::timeout(LIMIT, body.frame()).await.unwrap() {
        if let Ok(t) = f.unwrap().into_trailers() {
            seen = Some(t);
        }
    }
    assert_eq!(seen.unwrap()["x-checksum"], "1");
    assert!(released.load(Ordering::SeqCst));
    drop(tx);

    // An upstream failing mid-body: the client gets an error, the connection is dropped.
    let (tx, body, _) = chan(None, 4);
    send(&tx, pattern(5000, 0)).await;
    let (done, released) = flag();
    let body = buffer_response(body, done, &cfg).await.unwrap();
    tx.send(Err(std::io::ErrorKind::ConnectionReset.into()))
        .await
        .unwrap();
    assert!(read_all(body).await.is_err());
    assert!(!released.load(Ordering::SeqCst));
}
