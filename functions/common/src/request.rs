//! Reading requests: bodies (bounded, JSON), the caller's origin for audit events, the request id.

use crate::error::ApiError;
use crate::store::Origin;
use lambda_http::http::header;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;

/// Largest request body we read on every route but secret scanning (which sets its own).
/// Every valid body here is tiny; anything bigger is refused before it is parsed.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// User agents are stored in audit events, and a session's rides in the account item its debit
/// writes (the change the stream carries to the ledger), whose size is what every session pays
/// in write units (docs/performance.md). Browsers send under 200 bytes; longer ones are cut, at
/// a character boundary.
pub const MAX_USER_AGENT_BYTES: usize = 256;

/// The API Gateway / Lambda request id, echoed in errors so support can find the log line.
pub fn request_id(req: &Request) -> Option<String> {
    if let Some(ctx) = req.lambda_context_ref() {
        return Some(ctx.request_id.clone());
    }
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
}

/// Caller IP (as API Gateway saw it) and user agent, for audit events.
pub fn origin(req: &Request) -> Origin {
    let (ip, context_agent) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (ctx.http.source_ip.clone(), ctx.http.user_agent.clone()),
        _ => (None, None),
    };
    let header_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // The header is what the client sent; the context copy is the fallback (under `cargo lambda
    // watch` it names cargo-lambda itself).
    let user_agent = header_agent.or(context_agent).map(|ua| {
        let mut kept = String::new();
        for c in ua.chars().filter(|c| !c.is_control()) {
            if kept.len() + c.len_utf8() > MAX_USER_AGENT_BYTES {
                break;
            }
            kept.push(c);
        }
        kept
    });
    Origin { ip, user_agent }
}

/// The raw body bytes, refusing anything over `limit` (413).
pub fn body_bytes(req: &Request, limit: usize) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > limit {
        Err(ApiError::PayloadTooLarge)
    } else {
        Ok(bytes)
    }
}

/// Decodes a JSON body into `T`, or `None` when the body is empty (only whitespace).
///
/// A `Content-Type` other than JSON is refused (415). A body that is not JSON, or not of the
/// shape `expected` describes, gets a 400 naming what was expected; the input is never echoed,
/// in case a caller pasted a secret into the wrong place.
pub fn json_body<T: DeserializeOwned>(req: &Request, expected: &str) -> Result<Option<T>, ApiError> {
    let bytes = body_bytes(req, MAX_BODY_BYTES)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    let parsed = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(match e.classify() {
            serde_json::error::Category::Data => format!("Request body must be {expected}"),
            _ => "Request body is not valid JSON".to_string(),
        })
    })?;
    // Every body we take is an object: serde would also read a struct from an array of its
    // fields in order (`["Production"]`), which no documented body is. (Parsed first, so
    // that a body that is not JSON at all still says so.)
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest(format!("Request body must be {expected}")));
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_agent(agent: &str) -> Request {
        lambda_http::http::Request::builder()
            .header(header::USER_AGENT, agent)
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn a_user_agent_is_kept_to_its_byte_budget_without_control_characters() {
        let long = format!("sdk/1.0\t{}", "x".repeat(400));
        let kept = origin(&with_agent(&long)).user_agent.unwrap();
        assert_eq!(kept.len(), MAX_USER_AGENT_BYTES);
        assert!(kept.starts_with("sdk/1.0x"), "the tab is dropped: {kept}");
        assert_eq!(
            origin(&with_agent("curl/8.5.0")).user_agent.as_deref(),
            Some("curl/8.5.0")
        );
    }
}
