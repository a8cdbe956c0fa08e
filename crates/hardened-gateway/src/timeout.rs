//! The deadline of each client connection: the first request head must arrive within
//! the header-read timeout counted from accept (whatever the protocol, before hyper has
//! even chosen HTTP/1 or HTTP/2), and a connection with no request in flight is closed
//! after the idle timeout counted from the end of its last response.
//!
//! The connection's service counts its requests in flight ([`Track`]): a request is in
//! flight from the moment its head is complete (the service is called) until its
//! response body is finished or dropped. That costs two atomic operations and a clock
//! read per request, no allocation and no lock. The deadline itself ([`Deadline`]) is
//! one timer per connection, polled by the connection's task, reset lazily: it fires at
//! the earliest moment the connection could be due and, when it fires, compares the
//! real deadline with the clock, so a busy connection costs no timer work per request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tower::Service;

/// After an expired connection was asked to close gracefully (an HTTP/2 `GOAWAY`), how
/// long it may take before it is dropped (when it still has no request in flight).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What one client connection is doing, shared by its service (which counts requests)
/// and its [`Deadline`] (which reads the count).
#[derive(Debug)]
pub(crate) struct Activity {
    /// When the connection was accepted.
    start: Instant,
    /// Requests whose head is complete and whose response is not finished.
    in_flight: AtomicUsize,
    /// When the last response finished, in nanoseconds after `start`, plus one; 0 while
    /// no response has finished.
    last_done: AtomicU64,
}

impl Activity {
    /// The activity of a connection accepted now.
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
        })
    }

    /// When the connection is due, or `None` while a request is in flight.
    fn due(&self, header_read: Duration, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.last_done.load(Ordering::Acquire) {
            0 => Some(self.start + header_read),
            n => Some(self.start + Duration::from_nanos(n - 1) + idle),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// One request in flight; dropping it ends the request.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        // The end time is stored before the count drops, so a deadline that sees no
        // request in flight also sees when the last one ended.
        let nanos = u64::try_from(a.start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        a.last_done.store(nanos + 1, Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What an expired [`Deadline`] asks of its connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Close gracefully (HTTP/2 `GOAWAY`; an idle HTTP/1 connection closes at once).
    Graceful,
    /// Drop the connection now: the graceful close did not finish in time.
    Close,
}

pin_project_lite::pin_project! {
    /// The deadline of one connection: a future that completes with [`Expiry::Graceful`]
    /// when the connection is due (no request in flight and the header-read or idle
    /// timeout passed), then with [`Expiry::Close`] if it is still open and idle
    /// [`CLOSE_GRACE`] later.
    #[derive(Debug)]
    pub(crate) struct Deadline {
        #[pin]
        sleep: Sleep,
        activity: Arc<Activity>,
        header_read: Duration,
        idle: Duration,
        closing: bool,
    }
}

impl Deadline {
    /// The deadline of the connection whose activity is `activity`.
    pub(crate) fn new(activity: Arc<Activity>, header_read: Duration, idle: Duration) -> Self {
        // The earliest the connection could be due: idle already if its first request
        // were answered at once.
        let first = activity.start + header_read.min(idle);
        Deadline {
            sleep: tokio::time::sleep_until(first),
            activity,
            header_read,
            idle,
            closing: false,
        }
    }
}

impl Future for Deadline {
    type Output = Expiry;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Expiry> {
        let mut this = self.project();
        loop {
            ready!(this.sleep.as_mut().poll(cx));
            let now = Instant::now();
            let due = this.activity.due(*this.header_read, *this.idle);
            match due {
                // Busy: it cannot be due before its requests end, plus the idle timeout.
                None if *this.closing => this.sleep.as_mut().reset(now + CLOSE_GRACE),
                None => this.sleep.as_mut().reset(now + *this.idle),
                Some(_) if *this.closing => return Poll::Ready(Expiry::Close),
                Some(at) if at <= now => {
                    *this.closing = true;
                    this.sleep.as_mut().reset(now + CLOSE_GRACE);
                    return Poll::Ready(Expiry::Graceful);
                }
                Some(at) => this.sleep.as_mut().reset(at),
            }
        }
    }
}

/// A connection's service, counting its requests in flight for the [`Deadline`].
#[derive(Clone, Debug)]
pub(crate) struct Track<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Track<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Track { inner, activity }
    }
}

impl<S, R, B> Service<Request<R>> for Track<S>
where
    S: Service<Request<R>, Response = Response<B>>,
{
    type Response = Response<Tracked<B>>;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<R>) -> Self::Future {
        let guard = self.activity.begin();
        TrackFuture {
            inner: self.inner.call(req),
            guard: Some(guard),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Track`]: the request stays in flight until the response
    /// body is finished (or the future or the body is dropped).
    pub(crate) struct TrackFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlight>,
    }
}

impl<F, B, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Tracked<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = ready!(this.inner.poll(cx))?;
        let guard = this.guard.take();
        Poll::Ready(Ok(resp.map(|inner| Tracked { inner, guard })))
    }
}

pin_project_lite::pin_project! {
    /// A response body whose request is in flight until the body ends or is dropped.
    pub(crate) struct Tracked<B> {
        #[pin]
        inner: B,
        guard: Option<InFlight>,
    }
}

impl<B> Body for Tracked<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            this.guard.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// `got` is `want`, give or take the timer's millisecond.
    fn about(got: Duration, want: Duration) {
        assert!(
            got >= want && got <= want + Duration::from_millis(5),
            "{got:?} is not {want:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_due_after_the_header_read_timeout() {
        let activity = Activity::new();
        let d = Deadline::new(activity, Duration::from_secs(3), Duration::from_secs(10));
        let t = Instant::now();
        assert_eq!(d.await, Expiry::Graceful);
        about(t.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_are_never_idle_and_idleness_counts_from_their_end() {
        let activity = Activity::new();
        let mut d = std::pin::pin!(Deadline::new(
            activity.clone(),
            Duration::from_secs(3),
            Duration::from_secs(2),
        ));
        let t = Instant::now();
        let guard = activity.begin();
        tokio::time::sleep(Duration::from_secs(20)).await;
        drop(guard);
        assert_eq!(d.as_mut().await, Expiry::Graceful);
        about(t.elapsed(), Duration::from_secs(22));
        assert_eq!(d.as_mut().await, Expiry::Close);
        about(t.elapsed(), Duration::from_secs(22) + CLOSE_GRACE);
    }
}
