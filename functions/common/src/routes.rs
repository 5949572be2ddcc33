//! The API's routes in one table, and the answer for a request that matches none of them.
//!
//! The runtime checks each function's own routes first, and the catch-all `fallback` function (reached
//! through API Gateway's `$default` route and the catch-alls of the local router) answers the
//! rest, so an unknown path gets our JSON 404 and a known path with the wrong method our 405
//! with `Allow`, never a gateway's or emulator's own page.

use crate::error::ApiError;
use lambda_http::{Request, RequestExt};

/// Who may call a route, and with what credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <console JWT>` (the Cloud Console, for the signed-in account).
    ConsoleToken,
    /// `Authorization: Bearer vp_live_…` (a customer's server).
    ApiKey,
    /// Nothing: public documents (the key set that verifies session tokens, the console page,
    /// which signs in in the browser).
    Public,
    /// `Github-Public-Key-Signature` over the body, by a configured reporter key (GitHub
    /// secret scanning).
    ReporterSignature,
}

/// Every endpoint of the API, each served by its own Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    CreateKey,
    ListKeys,
    DeleteKey,
    RollKey,
    CreateSession,
    CheckKey,
    Credits,
    Audit,
    Usage,
    CreateWebhook,
    ListWebhooks,
    DeleteWebhook,
    TestWebhook,
    WebhookDeliveries,
    UpdateAccount,
    Jwks,
    ConsolePage,
    ConsoleAsset,
    SecretScanning,
}

/// One row of the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub route: Route,
    pub method: &'static str,
    /// `{name}` stands for one non-empty path segment.
    pub path: &'static str,
    /// The function (package, binary and `template.yaml` CodeUri) that serves it.
    pub function: &'static str,
    pub auth: Auth,
}

/// The one route table. `Cargo.toml`'s local router, `template.yaml`'s events,
/// `infra/openapi.yaml` and the Makefile's function list are checked against it
/// (`tests/tests/api/routes.rs`).
pub const ROUTES: [RouteSpec; 19] = [
    RouteSpec {
        route: Route::CreateKey,
        method: "POST",
        path: "/api/v1/keys",
        function: "create-key",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::ListKeys,
        method: "GET",
        path: "/api/v1/keys",
        function: "list-keys",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::DeleteKey,
        method: "DELETE",
        path: "/api/v1/keys/{id}",
        function: "delete-key",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::RollKey,
        method: "POST",
        path: "/api/v1/keys/{id}/roll",
        function: "roll-key",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::CreateSession,
        method: "POST",
        path: "/api/v1/sessions",
        function: "create-session",
        auth: Auth::ApiKey,
    },
    RouteSpec {
        route: Route::CheckKey,
        method: "GET",
        path: "/api/v1/keys/self",
        function: "check-key",
        auth: Auth::ApiKey,
    },
    RouteSpec {
        route: Route::Credits,
        method: "GET",
        path: "/api/v1/credits",
        function: "credits",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::Audit,
        method: "GET",
        path: "/api/v1/audit",
        function: "audit",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::Usage,
        method: "GET",
        path: "/api/v1/usage",
        function: "usage",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::CreateWebhook,
        method: "POST",
        path: "/api/v1/webhooks",
        function: "create-webhook",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::ListWebhooks,
        method: "GET",
        path: "/api/v1/webhooks",
        function: "list-webhooks",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::DeleteWebhook,
        method: "DELETE",
        path: "/api/v1/webhooks/{id}",
        function: "delete-webhook",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::TestWebhook,
        method: "POST",
        path: "/api/v1/webhooks/{id}/test",
        function: "test-webhook",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::WebhookDeliveries,
        method: "GET",
        path: "/api/v1/webhooks/{id}/deliveries",
        function: "webhook-deliveries",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::UpdateAccount,
        method: "PUT",
        path: "/api/v1/account",
        function: "update-account",
        auth: Auth::ConsoleToken,
    },
    RouteSpec {
        route: Route::Jwks,
        method: "GET",
        path: "/.well-known/jwks.json",
        function: "jwks",
        auth: Auth::Public,
    },
    RouteSpec {
        route: Route::ConsolePage,
        method: "GET",
        path: "/console",
        function: "console",
        auth: Auth::Public,
    },
    RouteSpec {
        route: Route::ConsoleAsset,
        method: "GET",
        path: "/console/{asset}",
        function: "console",
        auth: Auth::Public,
    },
    RouteSpec {
        route: Route::SecretScanning,
        method: "POST",
        path: "/api/v1/secret-scanning",
        function: "secret-scanning",
        auth: Auth::ReporterSignature,
    },
];

/// The function that answers everything no route matches (API Gateway's `$default` route).
pub const FALLBACK_FUNCTION: &str = "fallback";

/// The routes the fallback function serves: none, so it answers every request it is given with
/// the 404 or 405 that [`unmatched`] decides.
pub const UNMATCHED: &[Route] = &[];

/// The function that serves `routes` (all of one function's; none: the fallback).
pub fn function_of(routes: &[Route]) -> &'static str {
    routes.first().map_or(FALLBACK_FUNCTION, |r| r.spec().function)
}

/// Which of `routes` the request is, if any.
pub fn serving(routes: &[Route], req: &Request) -> Option<Route> {
    let (method, path) = (req.method().as_str(), req.raw_http_path());
    routes
        .iter()
        .copied()
        .find(|route| route.spec().serves(method, path))
}

/// Functions no route serves: the table's stream feeds the ledger, the webhook queue the sender,
/// and a schedule runs the key reminders.
pub const STREAM_FUNCTIONS: &[&str] = &["ledger", "webhook-sender", "key-reminders"];

impl Route {
    pub fn spec(self) -> &'static RouteSpec {
        ROUTES
            .iter()
            .find(|r| r.route == self)
            .expect("every route is in the table")
    }
}

impl RouteSpec {
    /// Whether `method path` is this route.
    fn serves(&self, method: &str, path: &str) -> bool {
        self.method == method && path_matches(self.path, path)
    }
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(segment)) if w.starts_with('{') && !segment.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// The route that `method path` is, if any.
pub fn route_for(method: &str, path: &str) -> Option<Route> {
    ROUTES.iter().find(|r| r.serves(method, path)).map(|r| r.route)
}

/// 405 with the methods the path does allow, or 404 for a path we do not serve. Where a fixed
/// path and a pattern both match (`/api/v1/keys/self`, `/api/v1/keys/{id}`), the resource is
/// the fixed one: only its methods are allowed.
pub fn unmatched(req: &Request) -> ApiError {
    let path = req.raw_http_path();
    let matching = || ROUTES.iter().filter(|r| path_matches(r.path, path));
    let fixed_segments = |r: &RouteSpec| r.path.split('/').filter(|s| !s.starts_with('{')).count();
    let most_specific = matching().map(fixed_segments).max();
    let allowed: Vec<&str> = matching()
        .filter(|r| Some(fixed_segments(r)) == most_specific)
        .map(|r| r.method)
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
    fn every_route_is_found_by_its_own_method_and_path() {
        for spec in ROUTES {
            let path = spec.path.replace("{id}", "key_1").replace("{asset}", "app.js");
            assert_eq!(route_for(spec.method, &path), Some(spec.route), "{spec:?}");
            assert_eq!(spec.route.spec(), &spec);
        }
        assert_eq!(route_for("PUT", "/api/v1/keys"), None);
        // `self` is not a key id: a GET of it is the validity check, a DELETE goes to
        // delete-key (which finds no such key), as API Gateway routes them.
        assert_eq!(route_for("GET", "/api/v1/keys/self"), Some(Route::CheckKey));
        assert_eq!(route_for("DELETE", "/api/v1/keys/self"), Some(Route::DeleteKey));
    }

    #[test]
    fn a_wrong_method_is_told_the_methods_of_the_most_specific_path() {
        let allow = |method: &str, path: &str| {
            let req = lambda_http::http::Request::builder()
                .method(method)
                .body(lambda_http::Body::Empty)
                .unwrap()
                .with_raw_http_path(path);
            match unmatched(&req) {
                ApiError::MethodNotAllowed { allow } => Some(allow),
                _ => None,
            }
        };
        assert_eq!(allow("POST", "/api/v1/keys/self").as_deref(), Some("GET"));
        assert_eq!(allow("GET", "/api/v1/keys/key_1").as_deref(), Some("DELETE"));
        assert_eq!(allow("PUT", "/api/v1/keys").as_deref(), Some("POST, GET"));
        assert_eq!(
            allow("GET", "/api/v1/nothing"),
            None,
            "a path we do not serve is a 404"
        );
    }

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
