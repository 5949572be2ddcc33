//! The one place where failures become HTTP responses.
//!
//! Every handler returns `Result<Response, ApiError>`; [`ApiError::into_response`] turns the
//! error side into the contract's JSON form `{"success": false, "error": "...", "code": "..."}`.
//! Messages are fixed strings: no internal error text, hash or secret ever reaches a client.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

/// `{"success": false, "error": "...", "code": "...", "requestId": "..."}`
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    success: bool,
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    MissingAuthorization,
    InvalidKeyFormat,
    InvalidKey,
    InsufficientCredits,
    InvalidConsoleToken,
    /// 401: a secret-scanning report without a valid signature from a configured reporter key.
    InvalidSignature,
    KeyNotFound,
    /// 404: no such webhook endpoint for this account.
    WebhookNotFound,
    /// 409: the account holds the most live keys it may.
    TooManyKeys,
    /// 409: the account has the most webhook endpoints it may.
    TooManyWebhooks,
    /// 429: the key has opened its daily sessions; retry when the next UTC day begins.
    KeyLimitReached {
        retry_after_secs: u64,
    },
    /// 429: a test key's account has opened its test sessions for the UTC day; retry when the
    /// next begins.
    TestLimitReached {
        retry_after_secs: u64,
    },
    /// 422: the Idempotency-Key was first used with another API key.
    IdempotencyKeyUsedByAnotherApiKey,
    /// 422: the Idempotency-Key was first used with a different request body.
    IdempotencyKeyUsedForAnotherRequest,
    /// 400 with a message written for the caller (never derived from internal errors).
    BadRequest(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    /// A path we serve, with a method it does not take.
    MethodNotAllowed {
        allow: String,
    },
    /// A path we do not serve.
    NotFound,
    /// A dependency is down or overloaded; nothing was changed, retrying is safe.
    Unavailable,
    Internal,
    /// The store failed: 503 if `transient` (retrying is safe), else 500. `detail` (the whole
    /// chain of causes) is logged where the error becomes a response, inside the invocation's
    /// span; the client learns only the category.
    Store {
        transient: bool,
        detail: String,
    },
}

/// Store failures at the boundary between the store and HTTP.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Store {
            transient: e.is_transient(),
            detail: error_chain(&e),
        }
    }
}

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_SECS: u32 = 1;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingAuthorization
            | ApiError::InvalidKeyFormat
            | ApiError::InvalidKey
            | ApiError::InvalidConsoleToken
            | ApiError::InvalidSignature => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientCredits => StatusCode::PAYMENT_REQUIRED,
            ApiError::KeyNotFound | ApiError::WebhookNotFound => StatusCode::NOT_FOUND,
            ApiError::TooManyWebhooks => StatusCode::CONFLICT,
            ApiError::TooManyKeys => StatusCode::CONFLICT,
            ApiError::KeyLimitReached { .. } | ApiError::TestLimitReached { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::IdempotencyKeyUsedByAnotherApiKey | ApiError::IdempotencyKeyUsedForAnotherRequest => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unavailable | ApiError::Store { transient: true, .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal | ApiError::Store { transient: false, .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The `error` string. The first four are fixed by the product documentation.
    pub fn message(&self) -> &str {
        match self {
            ApiError::MissingAuthorization => "Missing or invalid Authorization header",
            ApiError::InvalidKeyFormat => "Invalid API key format",
            ApiError::InvalidKey => "Invalid API key",
            ApiError::InsufficientCredits => "Insufficient credits",
            ApiError::InvalidConsoleToken => "Invalid or expired console token",
            ApiError::InvalidSignature => "Missing or invalid GitHub signature",
            ApiError::KeyNotFound => "API key not found",
            ApiError::WebhookNotFound => "Webhook endpoint not found",
            ApiError::TooManyWebhooks => {
                "Webhook endpoint limit reached: an account can have at most 5; delete one first"
            }
            ApiError::TooManyKeys => {
                "API key limit reached: an account can have at most 100 keys; delete one first"
            }
            ApiError::KeyLimitReached { .. } => "Key session limit reached",
            ApiError::TestLimitReached { .. } => {
                "Test session limit reached: test keys share a daily allowance; live keys are not affected"
            }
            ApiError::IdempotencyKeyUsedByAnotherApiKey => {
                "Idempotency-Key was already used with a different API key"
            }
            ApiError::IdempotencyKeyUsedForAnotherRequest => {
                "Idempotency-Key was already used with a different request"
            }
            ApiError::BadRequest(message) => message,
            ApiError::PayloadTooLarge => "Request body too large",
            ApiError::UnsupportedMediaType => "Content-Type must be application/json",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::NotFound => "Not found",
            ApiError::Unavailable | ApiError::Store { transient: true, .. } => {
                "Service temporarily unavailable, please retry"
            }
            ApiError::Internal | ApiError::Store { transient: false, .. } => "Internal server error",
        }
    }

    /// A stable machine-readable code beside the human message.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingAuthorization => "missing_authorization",
            ApiError::InvalidKeyFormat => "invalid_api_key_format",
            ApiError::InvalidKey => "invalid_api_key",
            ApiError::InsufficientCredits => "insufficient_credits",
            ApiError::InvalidConsoleToken => "invalid_console_token",
            ApiError::InvalidSignature => "invalid_signature",
            ApiError::KeyNotFound => "key_not_found",
            ApiError::WebhookNotFound => "webhook_not_found",
            ApiError::TooManyWebhooks => "too_many_webhooks",
            ApiError::TooManyKeys => "too_many_keys",
            ApiError::KeyLimitReached { .. } => "key_limit_reached",
            ApiError::TestLimitReached { .. } => "test_limit_reached",
            ApiError::IdempotencyKeyUsedByAnotherApiKey | ApiError::IdempotencyKeyUsedForAnotherRequest => {
                "idempotency_key_reused"
            }
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::NotFound => "not_found",
            ApiError::Unavailable | ApiError::Store { transient: true, .. } => "service_unavailable",
            ApiError::Internal | ApiError::Store { transient: false, .. } => "internal_error",
        }
    }

    /// One of each error the API answers with (one 400 stands for all its messages), for the
    /// contract test against the OpenAPI file. Adding a variant breaks the match below until the
    /// variant is listed here too.
    pub fn catalogue() -> Vec<ApiError> {
        let all = vec![
            ApiError::MissingAuthorization,
            ApiError::InvalidKeyFormat,
            ApiError::InvalidKey,
            ApiError::InsufficientCredits,
            ApiError::InvalidConsoleToken,
            ApiError::InvalidSignature,
            ApiError::KeyNotFound,
            ApiError::WebhookNotFound,
            ApiError::TooManyWebhooks,
            ApiError::TooManyKeys,
            ApiError::KeyLimitReached {
                retry_after_secs: 3600,
            },
            ApiError::TestLimitReached {
                retry_after_secs: 3600,
            },
            ApiError::IdempotencyKeyUsedByAnotherApiKey,
            ApiError::IdempotencyKeyUsedForAnotherRequest,
            ApiError::BadRequest("Request body is not valid JSON".into()),
            ApiError::PayloadTooLarge,
            ApiError::UnsupportedMediaType,
            ApiError::MethodNotAllowed { allow: "GET".into() },
            ApiError::NotFound,
            ApiError::Unavailable,
            ApiError::Internal,
        ];
        for e in &all {
            match e {
                ApiError::MissingAuthorization
                | ApiError::InvalidKeyFormat
                | ApiError::InvalidKey
                | ApiError::InsufficientCredits
                | ApiError::InvalidConsoleToken
                | ApiError::InvalidSignature
                | ApiError::KeyNotFound
                | ApiError::WebhookNotFound
                | ApiError::TooManyWebhooks
                | ApiError::TooManyKeys
                | ApiError::KeyLimitReached { .. }
                | ApiError::TestLimitReached { .. }
                | ApiError::IdempotencyKeyUsedByAnotherApiKey
                | ApiError::IdempotencyKeyUsedForAnotherRequest
                | ApiError::BadRequest(_)
                | ApiError::PayloadTooLarge
                | ApiError::UnsupportedMediaType
                | ApiError::MethodNotAllowed { .. }
                | ApiError::NotFound
                | ApiError::Unavailable
                | ApiError::Internal => {}
                // Answered exactly as Unavailable or Internal.
                ApiError::Store { .. } => {}
            }
        }
        all
    }

    pub fn into_response(self, request_id: Option<&str>) -> Response<Body> {
        if let ApiError::Store { detail, .. } = &self {
            tracing::error!(error = %detail, "store failure");
        }
        let body = ErrorBody {
            success: false,
            error: self.message(),
            code: self.code(),
            request_id,
        };
        let mut response = crate::response::json_response(self.status(), &body);
        let headers = response.headers_mut();
        match self {
            ApiError::MissingAuthorization
            | ApiError::InvalidKeyFormat
            | ApiError::InvalidKey
            | ApiError::InvalidConsoleToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                headers.insert(
                    header::ALLOW,
                    HeaderValue::from_str(&allow).expect("methods are header-safe"),
                );
            }
            ApiError::Unavailable | ApiError::Store { transient: true, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            ApiError::KeyLimitReached { retry_after_secs }
            | ApiError::TestLimitReached { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

/// An error and every cause behind it, `outer: inner: innermost`, for one log field.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_names_every_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = crate::store::StoreError::unavailable("DynamoDB did not answer").caused_by(io);
        assert_eq!(
            error_chain(&e),
            "store unavailable: DynamoDB did not answer: connection refused"
        );
        assert!(e.is_transient());
    }

    #[test]
    fn every_error_is_the_contracts_json_form() {
        let response = ApiError::Unavailable.into_response(Some("req-1"));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"success": false, "error": "Service temporarily unavailable, please retry", "code": "service_unavailable", "requestId": "req-1"})
        );
    }
}
