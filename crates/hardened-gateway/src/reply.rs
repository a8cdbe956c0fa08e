//! The gateway's own short answers: a status line and a sentence, as plain text.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::BoxBody;

/// The gateway's own short answer: the status line, then `text`.
pub(crate) fn text_response(status: StatusCode, text: &str) -> Response<BoxBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from(format!("{status}\n\n{text}\n")))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
