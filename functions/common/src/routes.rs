//! The API's routes in one table, and the answer for a request that matches none of them.
//!
//! Every function checks its own route first, and the catch-all `fallback` function (reached
//! through API Gateway's `$default` route and the catch-alls of the local router) answers the
//! rest, so an unknown path gets our JSON 404 and a known path with the wrong method our 405
//! with `Allow`, never a gateway's or emulator's own page.

use crate::error::ApiError;
use lambda_http::{Request, RequestExt};

/// (method, path pattern, function). `{id}` stands for one non-empty path segment.
pub const ROUTES: [(&str, &str, &str); 4] = [
    ("POST", "/api/v1/keys", "create-key"),
    ("GET", "/api/v1/keys", "list-keys"),
    ("DELETE", "/api/v1/keys/{id}", "delete-key"),
    ("POST", "/api/v1/sessions", "create-session"),
];

fn path_matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some("{id}"), Some(segment)) if !segment.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// The function that serves `method path`, if any route matches.
pub fn function_for(method: &str, path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|(m, pattern, _)| *m == method && path_matches(pattern, path))
        .map(|(_, _, function)| *function)
}

/// `Ok` when `req` is `method pattern`; otherwise the 404 or 405 it deserves.
pub fn expect(req: &Request, method: &str, pattern: &str) -> Result<(), ApiError> {
    if req.method().as_str() == method && path_matches(pattern, req.raw_http_path()) {
        Ok(())
    } else {
        Err(unmatched(req))
    }
}

/// 405 with the methods the path does allow, or 404 for a path we do not serve.
pub fn unmatched(req: &Request) -> ApiError {
    let path = req.raw_http_path();
    let allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, pattern, _)| path_matches(pattern, path))
        .map(|(method, _, _)| *method)
        .collect();
    if allowed.is_empty() {
        ApiError::NotFound
    } else {
        ApiError::MethodNotAllowed {
            allow: allowed.join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_paths_only() {
        assert!(path_matches("/api/v1/keys", "/api/v1/keys"));
        assert!(path_matches("/api/v1/keys/{id}", "/api/v1/keys/key_1"));
        for path in ["/api/v1/keys/", "/api/v1/keys/a/b", "/api/v1/keys", "/api/v1", ""] {
            assert!(!path_matches("/api/v1/keys/{id}", path), "{path}");
        }
        for path in ["/api/v1/keys/", "/api/v1/keysx", "/API/v1/keys", "/api/v1//keys"] {
            assert!(!path_matches("/api/v1/keys", path), "{path}");
        }
    }
}
