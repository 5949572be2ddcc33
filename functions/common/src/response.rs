//! Writing JSON responses. A leaf: it knows no other module of the crate, so the error mapping
//! and the handlers can both build on it.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

/// A JSON response that no intermediary may keep.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(body).expect("response bodies are plain JSON values");
    let mut response = Response::new(Body::Text(
        String::from_utf8(bytes).expect("serde_json writes UTF-8"),
    ));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Responses carry keys and tokens; no intermediary may keep them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A browser that opens an answer directly renders it as the JSON it is, never sniffs it
    // into HTML or script (a key name is caller-chosen text).
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
