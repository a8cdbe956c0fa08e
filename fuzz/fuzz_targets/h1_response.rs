//! The gateway's HTTP/1.1 upstream client on arbitrary upstream bytes: one exchange
//! (the first two bytes choose the request and how the transport cuts reads and
//! writes), checked by `hardened_gateway::fuzz_h1_response` against a plain reading of
//! the same bytes. Invariants: no panic, no stall; the request bytes are the expected
//! ones; a head is accepted exactly when httparse and RFC 9112 §6.3 accept it, with the
//! same status, version and headers; a body read to its end is what its framing
//! delimits (Content-Length: that many bytes; chunked: a naive decoder's output; else the
//! rest); the connection is handed back only when it may serve another request.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hardened_gateway::fuzz_h1_response(data));
