//! `GET /console` and its assets: the Cloud Console's API Keys page, served by this stack.
//!
//! Embedded in the binary (no bucket, no CDN to keep in step with the API) and versioned by
//! content: the page names `app.<hash>.js` / `app.<hash>.css`, which may be cached for a year,
//! while the page itself is revalidated on every load. Every response carries a strict
//! Content-Security-Policy: scripts, styles and requests from this origin only, no inline
//! code, no framing.

use crate::error::ApiError;
use crate::routes::{self, Route};
use crate::runtime::Outcome;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = include_str!("../../console/index.html");
const JS: &str = include_str!("../../console/app.js");
const CSS: &str = include_str!("../../console/app.css");

struct Asset {
    name: String,
    content_type: &'static str,
    body: &'static str,
}

struct Site {
    page: String,
    assets: [Asset; 2],
}

/// `stem.<first 12 hex of SHA-256>.ext`
fn versioned(stem: &str, ext: &str, body: &str) -> String {
    format!("{stem}.{}.{ext}", &hex::encode(Sha256::digest(body))[..12])
}

static SITE: LazyLock<Site> = LazyLock::new(|| {
    let js = versioned("app", "js", JS);
    let css = versioned("app", "css", CSS);
    Site {
        page: HTML.replace("{{app.js}}", &js).replace("{{app.css}}", &css),
        assets: [
            Asset {
                name: js,
                content_type: "text/javascript; charset=utf-8",
                body: JS,
            },
            Asset {
                name: css,
                content_type: "text/css; charset=utf-8",
                body: CSS,
            },
        ],
    }
});

/// The versioned names the page refers to (tests fetch them).
pub fn asset_names() -> Vec<String> {
    SITE.assets.iter().map(|a| a.name.clone()).collect()
}

/// The routes the console function serves.
pub const ROUTES: &[Route] = &[Route::ConsolePage, Route::ConsoleAsset];

/// Needs no state: the page and its assets are in the binary.
pub async fn handle(_: &(), req: Request) -> Outcome {
    use lambda_http::RequestExt;
    if routes::serving(&[Route::ConsolePage], &req).is_some() {
        return Ok(respond(SITE.page.clone(), "text/html; charset=utf-8", "no-cache"));
    }
    let name = req.raw_http_path().rsplit('/').next().unwrap_or_default();
    let asset = SITE
        .assets
        .iter()
        .find(|a| a.name == name)
        .ok_or(ApiError::NotFound)?;
    Ok(respond(
        asset.body.to_string(),
        asset.content_type,
        "public, max-age=31536000, immutable",
    ))
}

fn respond(body: String, content_type: &'static str, cache: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}
