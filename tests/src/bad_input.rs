//! The table of hostile and malformed requests, shared by the handler-level suite and the
//! HTTP suite against the local stack. Every case names the exact status and `error` string
//! the contract or our API documents for it.

use common::console_auth::ConsoleSigner;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// How many cases the table holds, and how many of them also go over HTTP (the rest are inputs
/// `cargo lambda watch` itself cannot carry). Tests assert these exactly.
pub const CASES: usize = 219;
pub const CASES_OVER_HTTP: usize = 215;

pub struct Case {
    pub name: &'static str,
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub status: u16,
    pub error: &'static str,
    /// False when an HTTP client cannot send this (e.g. a header that is not ASCII).
    pub over_http: bool,
}

impl Case {
    /// The API Gateway (payload 2.0) event for this request, as the Lambda would get it.
    pub fn to_request(&self) -> lambda_http::Request {
        let case = self;
        let (body, base64) = match std::str::from_utf8(&case.body) {
            Ok(text) => (text.to_string(), false),
            Err(_) => {
                use base64::Engine;
                (base64::engine::general_purpose::STANDARD.encode(&case.body), true)
            }
        };
        // An event carries one value per header name; a name given twice is appended below,
        // as a runtime that kept both values would hand them to us.
        let mut headers = serde_json::Map::new();
        let mut repeated = Vec::new();
        for (name, value) in &case.headers {
            if headers.contains_key(*name) {
                repeated.push((*name, value.clone()));
            } else {
                headers.insert(name.to_string(), json!(value));
            }
        }
        let (path, query) = case.path.split_once('?').unwrap_or((&case.path, ""));
        // API Gateway (payload 2.0) joins a repeated parameter's values with commas.
        let mut parameters = serde_json::Map::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match parameters.get_mut(name) {
                Some(serde_json::Value::String(joined)) => *joined = format!("{joined},{value}"),
                _ => drop(parameters.insert(name.to_string(), json!(value))),
            }
        }
        let segments: Vec<&str> = path.split('/').collect();
        let mut e = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "http": {"method": case.method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "bad-input"},
                "requestId": "bad-input", "routeKey": "$default", "stage": "$default", "accountId": "1", "apiId": "t",
                "domainName": "t", "domainPrefix": "t", "time": "27/Nov/2026:02:00:00 +0000", "timeEpoch": 0
            },
            "isBase64Encoded": base64,
        });
        if !case.body.is_empty() {
            e["body"] = json!(body);
        }
        if segments.len() == 5 && path.starts_with("/api/v1/keys/") {
            e["pathParameters"] = json!({"id": segments[4]});
        }
        if !parameters.is_empty() {
            e["queryStringParameters"] = serde_json::Value::Object(parameters);
        }
        let mut req = lambda_http::request::from_str(&e.to_string()).expect("valid event");
        for (name, value) in repeated {
            req.headers_mut()
                .append(name, value.parse().expect("a valid header value"));
        }
        req
    }
}

/// What the cases are built from: a working console token and API key, so that each case
/// breaks exactly one thing.
pub struct Credentials {
    /// Signs with the key the app under test trusts.
    pub console: ConsoleSigner,
    /// The `iss` and `aud` it expects.
    pub issuer: String,
    pub audience: String,
    pub account: String,
    pub api_key: String,
    /// Signs secret-scanning reports as the reporter the app under test trusts.
    pub reporter: common::secret_scanning::ReporterSigner,
}

const MISSING: &str = "Missing or invalid Authorization header";
const CONSOLE: &str = "Invalid or expired console token";
const FORMAT: &str = "Invalid API key format";
const NAME_SHAPE: &str = r#"Request body must be a JSON object {"name": "<1-64 characters>", "mode": "<optional live or test>", "expiresAt": "<optional RFC 3339 time>", "limits": {"sessionsPerDay": <optional 1-1000000>}}"#;
const MODE: &str = r#"mode must be "live" or "test""#;
const WEBHOOK_SHAPE: &str = r#"Request body must be a JSON object {"url": "https://…", "events": ["credits.low", …], "description": "<optional, at most 256 characters>"}"#;
const URL_FORM: &str = "url must be an absolute https:// URL of at most 2048 characters";
const URL_SCHEME: &str = "url must use https://";
const URL_CREDENTIALS: &str = "url must not carry a user name or password";
const URL_UNRESOLVABLE: &str = "url's host does not resolve";
const URL_NOT_PUBLIC: &str = "url's host is a private, loopback, link-local or otherwise non-public address";
const EVENTS: &str = "events must be a non-empty array of: credits.low, credits.exhausted, credits.granted, key.created, key.deleted, key.rolled, key.leaked, key.expiring";
const DESCRIPTION: &str = "description must be text of at most 256 characters, without control characters";
const ACCOUNT_SHAPE: &str = r#"Request body must be a JSON object {"lowCreditThreshold": <1-1000000>}"#;
const THRESHOLD: &str = "lowCreditThreshold must be a whole number from 1 to 1000000";
const LIMIT_RANGE: &str = "limits.sessionsPerDay must be a whole number from 1 to 1000000";
const NOT_JSON: &str = "Request body is not valid JSON";
const ROLL_GRACE: &str = "expiresInSeconds must be a whole number from 0 to 604800";
const ROLL_SHAPE: &str = r#"Request body must be empty or a JSON object {"expiresInSeconds": <0-604800>}"#;
const EXPIRY_FORMAT: &str = "expiresAt must be an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z";
const EXPIRY_PAST: &str = "expiresAt must be in the future";
const EXPIRY_FAR: &str = "expiresAt must be at most one year ahead";
const AUDIT_LIMIT: &str = "limit must be a whole number from 1 to 100";
const AUDIT_CURSOR: &str = "cursor is not one this API issued";
const AUDIT_TWICE: &str = "Query parameters limit and cursor may be given once each";
const AUDIT_UNKNOWN: &str = "Unknown query parameter: expected limit or cursor";
const USAGE_RANGE: &str = "from and to are required (RFC 3339 times)";
const USAGE_FROM: &str = "from must be an RFC 3339 time, such as 2026-12-01T00:00:00Z";
const USAGE_TO: &str = "to must be an RFC 3339 time, such as 2026-12-01T00:00:00Z";
const USAGE_GRANULARITY: &str = "granularity must be hour or day";
const USAGE_DAYS: &str = "A range of at most 90 days with granularity=day";
const USAGE_HOURS: &str = "A range of at most 7 days with granularity=hour (use granularity=day for longer)";
const USAGE_BACKWARDS: &str = "to must be after from";
const USAGE_KEY: &str = "keyId is not a key id this API issued";
const USAGE_TWICE: &str = "Query parameters from, to, granularity and keyId may be given once each";
const USAGE_UNKNOWN: &str = "Unknown query parameter: expected from, to, granularity or keyId";
const SESSION_BODY: &str = "Request body must be empty or an empty JSON object {}";
const SIGNATURE: &str = "Missing or invalid GitHub signature";
const REPORT_SHAPE: &str =
    r#"Request body must be a JSON array of {"token", "type", "url", "source"} matches"#;
const TOO_MANY_MATCHES: &str = "A report may carry at most 1000 matches";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A console-style JWT with any HS-family header and claims, signed with `secret`: what an
/// attacker who only knows public values can make.
pub fn console_jwt(alg: Algorithm, kid: &str, secret: &[u8], claims: serde_json::Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).expect("encode")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Credentials {
    fn claims(&self) -> serde_json::Value {
        json!({"sub": self.account, "iss": self.issuer, "aud": self.audience, "iat": now(), "exp": now() + 600})
    }

    fn with(&self, change: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut claims = self.claims();
        change(&mut claims);
        self.console.sign(&claims)
    }

    /// Credentials for the app configured by `config`, signing as its local console key does.
    pub fn for_config(config: &common::config::Config, account: &str, api_key: &str) -> Self {
        let console = config.console().expect("console settings");
        Credentials {
            console: crate::console_signer(config),
            issuer: console.issuer.clone(),
            audience: console.audience.clone(),
            account: account.into(),
            api_key: api_key.into(),
            reporter: crate::reporter_signer(config),
        }
    }

    /// Console tokens that must all be refused with 401.
    pub fn bad_console_tokens(&self) -> Vec<(&'static str, String)> {
        let kid = self.console.kid();
        let unsigned = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT", "kid": kid})
                .to_string()
                .as_bytes()),
            b64(self.claims().to_string().as_bytes())
        );
        let stranger = ConsoleSigner::from_pem(
            &common::playground::generate_pem(),
            &common::config::ConsoleAuthConfig {
                keys: common::config::ConsoleKeySource::Url("https://unused.test".into()),
                issuer: self.issuer.clone(),
                audience: self.audience.clone(),
            },
        )
        .expect("a fresh key");
        vec![
            ("alg none", unsigned),
            (
                // Algorithm confusion: the kid is ours, the "secret" is public.
                "HS256 naming our key",
                console_jwt(Algorithm::HS256, kid, kid.as_bytes(), self.claims()),
            ),
            ("signed by another key", stranger.sign(&self.claims())),
            ("expired", self.with(|c| c["exp"] = json!(now() - 3600))),
            ("not yet valid", self.with(|c| c["nbf"] = json!(now() + 3600))),
            (
                "wrong issuer",
                self.with(|c| c["iss"] = json!("https://evil.example")),
            ),
            ("wrong audience", self.with(|c| c["aud"] = json!("someone-else"))),
            (
                "no subject",
                self.with(|c| drop(c.as_object_mut().unwrap().remove("sub"))),
            ),
            (
                "no expiry",
                self.with(|c| drop(c.as_object_mut().unwrap().remove("exp"))),
            ),
            (
                "subject not an account id",
                self.with(|c| c["sub"] = json!("a b#c")),
            ),
            ("signature tampered", {
                let good = self.with(|_| {});
                let (rest, sig) = good.rsplit_once('.').unwrap();
                format!("{rest}.{}", sig.chars().rev().collect::<String>())
            }),
            ("garbage", "not-a-jwt".into()),
            ("an API key instead", self.api_key.clone()),
        ]
    }

    pub fn cases(&self) -> Vec<Case> {
        let console = format!("Bearer {}", self.with(|_| {}));
        let key = format!("Bearer {}", self.api_key);
        let json_ct = ("content-type", "application/json".to_string());
        let keys = "/api/v1/keys".to_string();
        let sessions = "/api/v1/sessions".to_string();
        let known_key = "/api/v1/keys/key_01JF0000000000000000000000".to_string();
        let key_self = "/api/v1/keys/self".to_string();
        let case = |name,
                    method,
                    path: &String,
                    headers: Vec<(&'static str, String)>,
                    body: &[u8],
                    status,
                    error| Case {
            name,
            method,
            path: path.clone(),
            headers,
            body: body.to_vec(),
            status,
            error,
            over_http: true,
        };
        let create = |name, body: &[u8], status, error| {
            case(
                name,
                "POST",
                &keys,
                vec![("authorization", console.clone()), json_ct.clone()],
                body,
                status,
                error,
            )
        };
        let session = |name, headers: Vec<(&'static str, String)>, body: &[u8], status, error| {
            case(name, "POST", &sessions, headers, body, status, error)
        };
        let hex64 = "0123456789abcdef".repeat(4);
        let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(20_000));

        let mut cases = vec![
            // POST /api/v1/keys: bodies
            create("keys: truncated JSON", br#"{"name":"#, 400, NOT_JSON),
            create("keys: unterminated string", br#"{"name":"Prod"#, 400, NOT_JSON),
            create("keys: trailing garbage", br#"{"name":"Prod"} x"#, 400, NOT_JSON),
            create("keys: single quotes", b"{'name':'Prod'}", 400, NOT_JSON),
            create("keys: array", b"[]", 400, NAME_SHAPE),
            create("keys: bare string", br#""Production""#, 400, NAME_SHAPE),
            create("keys: null", b"null", 400, NAME_SHAPE),
            create("keys: number name", br#"{"name":123}"#, 400, NAME_SHAPE),
            create("keys: null name", br#"{"name":null}"#, 400, NAME_SHAPE),
            create("keys: array name", br#"{"name":["a"]}"#, 400, NAME_SHAPE),
            create("keys: object name", br#"{"name":{"a":1}}"#, 400, NAME_SHAPE),
            create("keys: no name", b"{}", 400, NAME_SHAPE),
            create(
                "keys: unknown field",
                br#"{"name":"a","admin":true}"#,
                400,
                NAME_SHAPE,
            ),
            create(
                "keys: duplicate field",
                br#"{"name":"a","name":"b"}"#,
                400,
                NAME_SHAPE,
            ),
            create("keys: empty body", b"", 400, NAME_SHAPE),
            create(
                "keys: empty name",
                br#"{"name":""}"#,
                400,
                "Invalid key name: name must not be empty",
            ),
            create(
                "keys: blank name",
                br#"{"name":"   \t "}"#,
                400,
                "Invalid key name: name must not be empty",
            ),
            create(
                "keys: 65-character name",
                format!(r#"{{"name":"{}"}}"#, "n".repeat(65)).as_bytes(),
                400,
                "Invalid key name: name must be at most 64 characters",
            ),
            create(
                "keys: 65 multibyte characters",
                format!(r#"{{"name":"{}"}}"#, "é".repeat(65)).as_bytes(),
                400,
                "Invalid key name: name must be at most 64 characters",
            ),
            create(
                "keys: control character",
                br#"{"name":"a\u0007b"}"#,
                400,
                "Invalid key name: name must not contain control or bidirectional-override characters",
            ),
            create(
                "keys: newline",
                br#"{"name":"a\nb"}"#,
                400,
                "Invalid key name: name must not contain control or bidirectional-override characters",
            ),
            create(
                "keys: right-to-left override",
                "{\"name\":\"invoice\u{202E}fdp.exe\"}".as_bytes(),
                400,
                "Invalid key name: name must not contain control or bidirectional-override characters",
            ),
            create(
                "keys: bidi isolate",
                br#"{"name":"a\u2066b"}"#,
                400,
                "Invalid key name: name must not contain control or bidirectional-override characters",
            ),
            create("keys: invalid UTF-8", b"{\"name\":\"\xff\xfe\"}", 400, NOT_JSON),
            create(
                "keys: lone surrogate escape",
                br#"{"name":"\ud800"}"#,
                400,
                NOT_JSON,
            ),
            create(
                "keys: body over 16 KiB",
                big.as_bytes(),
                413,
                "Request body too large",
            ),
            case(
                "keys: text/plain",
                "POST",
                &keys,
                vec![
                    ("authorization", console.clone()),
                    ("content-type", "text/plain".into()),
                ],
                br#"{"name":"a"}"#,
                415,
                "Content-Type must be application/json",
            ),
            case(
                "keys: form encoded",
                "POST",
                &keys,
                vec![
                    ("authorization", console.clone()),
                    ("content-type", "application/x-www-form-urlencoded".into()),
                ],
                b"name=a",
                415,
                "Content-Type must be application/json",
            ),
            // Console authorization
            case(
                "keys: no Authorization",
                "POST",
                &keys,
                vec![json_ct.clone()],
                br#"{"name":"a"}"#,
                401,
                MISSING,
            ),
            case(
                "keys: Basic scheme",
                "POST",
                &keys,
                vec![("authorization", "Basic dXNlcjpwYXNz".into()), json_ct.clone()],
                br#"{"name":"a"}"#,
                401,
                MISSING,
            ),
            case(
                "keys: Bearer without token",
                "GET",
                &keys,
                vec![("authorization", "Bearer".into())],
                b"",
                401,
                MISSING,
            ),
            case(
                "keys: two spaces",
                "GET",
                &keys,
                vec![("authorization", console.replacen("Bearer ", "Bearer  ", 1))],
                b"",
                401,
                MISSING,
            ),
            case("list: no Authorization", "GET", &keys, vec![], b"", 401, MISSING),
            // Methods and paths
            case(
                "keys: PUT",
                "PUT",
                &keys,
                vec![("authorization", console.clone())],
                b"",
                405,
                "Method not allowed",
            ),
            case(
                "keys: PATCH",
                "PATCH",
                &keys,
                vec![("authorization", console.clone())],
                b"",
                405,
                "Method not allowed",
            ),
            case(
                "keys: DELETE without id",
                "DELETE",
                &keys,
                vec![("authorization", console.clone())],
                b"",
                405,
                "Method not allowed",
            ),
            case(
                "key: GET one key",
                "GET",
                &known_key,
                vec![("authorization", console.clone())],
                b"",
                405,
                "Method not allowed",
            ),
            case(
                "key: POST one key",
                "POST",
                &known_key,
                vec![("authorization", console.clone())],
                b"",
                405,
                "Method not allowed",
            ),
            case(
                "sessions: GET",
                "GET",
                &sessions,
                vec![("authorization", key.clone())],
                b"",
                405,
                "Method not allowed",
            ),
            case(
                "sessions: PUT",
                "PUT",
                &sessions,
                vec![("authorization", key.clone())],
                b"",
                405,
                "Method not allowed",
            ),
            case(
                "unknown path",
                "GET",
                &"/api/v1/nothing".to_string(),
                vec![],
                b"",
                404,
                "Not found",
            ),
            case("root", "GET", &"/".to_string(), vec![], b"", 404, "Not found"),
            case(
                "older API version",
                "POST",
                &"/api/v0/sessions".to_string(),
                vec![("authorization", key.clone())],
                b"",
                404,
                "Not found",
            ),
            case(
                "trailing slash",
                "POST",
                &"/api/v1/sessions/".to_string(),
                vec![("authorization", key.clone())],
                b"",
                404,
                "Not found",
            ),
            case(
                "keys trailing slash",
                "DELETE",
                &"/api/v1/keys/".to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "Not found",
            ),
            case(
                "nested key path",
                "DELETE",
                &"/api/v1/keys/key_01JF0000000000000000000000/x".to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "Not found",
            ),
            // DELETE /api/v1/keys/{id}: ids that are not ids
            case(
                "delete: short id",
                "DELETE",
                &"/api/v1/keys/abc".to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "API key not found",
            ),
            case(
                "delete: lowercase ulid",
                "DELETE",
                &"/api/v1/keys/key_01jf0000000000000000000000".to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "API key not found",
            ),
            case(
                "delete: wrong prefix",
                "DELETE",
                &"/api/v1/keys/ses_01JF0000000000000000000000".to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "API key not found",
            ),
            case(
                "delete: 27-character ulid",
                "DELETE",
                &"/api/v1/keys/key_01JF00000000000000000000000".to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "API key not found",
            ),
            case(
                "delete: injection attempt",
                "DELETE",
                &"/api/v1/keys/key_%27%20OR%201=1".to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "API key not found",
            ),
            case(
                "delete: dots",
                "DELETE",
                &"/api/v1/keys/...".to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "API key not found",
            ),
            case(
                "delete: unknown key",
                "DELETE",
                &"/api/v1/keys/key_01JF0000000000000000000009".to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "API key not found",
            ),
            case(
                "delete: no Authorization",
                "DELETE",
                &known_key,
                vec![],
                b"",
                401,
                MISSING,
            ),
            case(
                "keys/self: POST",
                "POST",
                &key_self,
                vec![("authorization", key.clone())],
                b"",
                405,
                "Method not allowed",
            ),
            // A DELETE of it is delete-key's, as API Gateway routes it: no key has the id `self`.
            case(
                "keys/self: DELETE",
                "DELETE",
                &key_self,
                vec![("authorization", console.clone())],
                b"",
                404,
                "API key not found",
            ),
            // POST /api/v1/sessions: bodies and the Idempotency-Key header
            session(
                "sessions: unexpected field",
                vec![("authorization", key.clone()), json_ct.clone()],
                br#"{"credits":100}"#,
                400,
                SESSION_BODY,
            ),
            session(
                "sessions: array body",
                vec![("authorization", key.clone()), json_ct.clone()],
                b"[]",
                400,
                SESSION_BODY,
            ),
            session(
                "sessions: malformed body",
                vec![("authorization", key.clone()), json_ct.clone()],
                b"{",
                400,
                NOT_JSON,
            ),
            session(
                "sessions: body over 16 KiB",
                vec![("authorization", key.clone()), json_ct.clone()],
                big.as_bytes(),
                413,
                "Request body too large",
            ),
            session(
                "sessions: XML body",
                vec![
                    ("authorization", key.clone()),
                    ("content-type", "application/xml".into()),
                ],
                b"<a/>",
                415,
                "Content-Type must be application/json",
            ),
            session(
                "sessions: blank Idempotency-Key",
                vec![("authorization", key.clone()), ("idempotency-key", " ".into())],
                b"",
                400,
                "Idempotency-Key must be 1-255 printable characters",
            ),
            session(
                "sessions: 256-character Idempotency-Key",
                vec![
                    ("authorization", key.clone()),
                    ("idempotency-key", "k".repeat(256)),
                ],
                b"",
                400,
                "Idempotency-Key must be 1-255 printable characters",
            ),
        ];
        // The API key's 401s, the same for a session and for the validity check: each row once
        // per endpoint. Nothing is read for a string that cannot be a key.
        let hex_key = |hex: &str| format!("Bearer vp_live_{hex}");
        // (the row's name at the session endpoint, at the check, its headers, the error)
        type KeyRow = (
            &'static str,
            &'static str,
            Vec<(&'static str, String)>,
            &'static str,
        );
        let api_key_401s: Vec<KeyRow> = vec![
            (
                "sessions: no Authorization",
                "keys/self: no Authorization",
                vec![],
                MISSING,
            ),
            (
                "sessions: Basic scheme",
                "keys/self: Basic scheme",
                vec![("authorization", format!("Basic {}", self.api_key))],
                MISSING,
            ),
            (
                "sessions: two spaces",
                "keys/self: two spaces",
                vec![("authorization", format!("Bearer  {}", self.api_key))],
                MISSING,
            ),
            (
                "sessions: tab separator",
                "keys/self: tab separator",
                vec![("authorization", format!("Bearer\t{}", self.api_key))],
                MISSING,
            ),
            (
                "sessions: empty header",
                "keys/self: empty header",
                vec![("authorization", String::new())],
                MISSING,
            ),
            (
                "sessions: two keys in one header",
                "keys/self: two keys in one header",
                vec![("authorization", format!("Bearer {0}, Bearer {0}", self.api_key))],
                MISSING,
            ),
            (
                "sessions: 63 hex",
                "keys/self: 63 hex",
                vec![("authorization", hex_key(&hex64[..63]))],
                FORMAT,
            ),
            (
                "sessions: 65 hex",
                "keys/self: 65 hex",
                vec![("authorization", hex_key(&format!("{hex64}0")))],
                FORMAT,
            ),
            (
                "sessions: uppercase hex",
                "keys/self: uppercase hex",
                vec![("authorization", hex_key(&hex64.to_uppercase()))],
                FORMAT,
            ),
            (
                "sessions: unknown prefix",
                "keys/self: unknown prefix",
                vec![("authorization", format!("Bearer vp_prod_{hex64}"))],
                FORMAT,
            ),
            (
                "sessions: no prefix",
                "keys/self: no prefix",
                vec![("authorization", format!("Bearer {hex64}"))],
                FORMAT,
            ),
            (
                "sessions: console token",
                "keys/self: console token",
                vec![("authorization", console.clone())],
                FORMAT,
            ),
            (
                "sessions: unknown key",
                "keys/self: unknown key",
                vec![(
                    "authorization",
                    format!(
                        "Bearer {}",
                        common::api_key::PlaintextKey::generate(common::api_key::KeyMode::Live).expose()
                    ),
                )],
                "Invalid API key",
            ),
            (
                "sessions: checksum does not match",
                "keys/self: checksum does not match",
                vec![("authorization", format!("Bearer {}", crate::KEY_BAD_CHECKSUM))],
                "Invalid API key",
            ),
        ];
        for (session_name, self_name, headers, error) in api_key_401s {
            cases.push(session(session_name, headers.clone(), b"", 401, error));
            cases.push(case(self_name, "GET", &key_self, headers, b"", 401, error));
        }
        // `cargo lambda watch` itself answers 500 when a body labelled JSON is not UTF-8 (it
        // cannot put it into the event as text), so this one is checked at the handler level
        // only; the binary case below shows such bytes do reach us when labelled as binary.
        if let Some(c) = cases.iter_mut().find(|c| c.name == "keys: invalid UTF-8") {
            c.over_http = false;
        }
        cases.push(case(
            "keys: binary body",
            "POST",
            &keys,
            vec![
                ("authorization", console.clone()),
                ("content-type", "application/octet-stream".into()),
            ],
            b"\xff\xfe\x00",
            415,
            "Content-Type must be application/json",
        ));
        // A header value that is not ASCII cannot be sent by most HTTP clients: handler-level only.
        let mut non_ascii = session(
            "sessions: non-ASCII key",
            vec![("authorization", format!("Bearer vp_live_{}é", &hex64[..62]))],
            b"",
            401,
            MISSING,
        );
        non_ascii.over_http = false;
        cases.push(non_ascii);
        let mut non_ascii = session(
            "sessions: non-ASCII Idempotency-Key",
            vec![
                ("authorization", key.clone()),
                ("idempotency-key", "clé-1".into()),
            ],
            b"",
            400,
            "Idempotency-Key must be printable ASCII",
        );
        non_ascii.over_http = false;
        cases.push(non_ascii);
        // API Gateway joins repeated headers into one value; a runtime that kept both would hand
        // us two, which is refused rather than one of them picked: handler-level only.
        let mut twice = session(
            "sessions: two Idempotency-Key headers",
            vec![
                ("authorization", key.clone()),
                ("idempotency-key", "order-1".into()),
                ("idempotency-key", "order-2".into()),
            ],
            b"",
            400,
            "Idempotency-Key must be given once",
        );
        twice.over_http = false;
        cases.push(twice);
        // Rolling a key: the grace period's range and type, the body's shape, the credential,
        // an unknown key, the method.
        let roll = format!("{known_key}/roll");
        for (name, body, status, error) in [
            (
                "roll: grace negative",
                r#"{"expiresInSeconds":-1}"#,
                400,
                ROLL_GRACE,
            ),
            (
                "roll: grace over a week",
                r#"{"expiresInSeconds":604801}"#,
                400,
                ROLL_GRACE,
            ),
            (
                "roll: grace a string",
                r#"{"expiresInSeconds":"3600"}"#,
                400,
                ROLL_GRACE,
            ),
            (
                "roll: grace a fraction",
                r#"{"expiresInSeconds":1.5}"#,
                400,
                ROLL_GRACE,
            ),
            ("roll: unknown field", r#"{"expiresIn":60}"#, 400, ROLL_SHAPE),
            ("roll: not an object", "[]", 400, ROLL_SHAPE),
            ("roll: not JSON", "{", 400, NOT_JSON),
        ] {
            cases.push(case(
                name,
                "POST",
                &roll,
                vec![("authorization", console.clone()), json_ct.clone()],
                body.as_bytes(),
                status,
                error,
            ));
        }
        cases.push(case(
            "roll: no credential",
            "POST",
            &roll,
            vec![],
            b"",
            401,
            MISSING,
        ));
        cases.push(case(
            "roll: unknown key",
            "POST",
            &"/api/v1/keys/key_01JF0000000000000000000009/roll".to_string(),
            vec![("authorization", console.clone())],
            b"",
            404,
            "API key not found",
        ));
        cases.push(case(
            "roll: GET",
            "GET",
            &roll,
            vec![("authorization", console.clone())],
            b"",
            405,
            "Method not allowed",
        ));
        // Key expiry: wrong type, not a date, in the past, too far ahead.
        let in_two_years = time::OffsetDateTime::now_utc() + time::Duration::days(730);
        for (name, body, error) in [
            (
                "keys: the fields as an array",
                json!(["Production"]).to_string(),
                NAME_SHAPE,
            ),
            (
                "keys: expiresAt a number",
                json!({"name": "k", "expiresAt": 1893456000}).to_string(),
                NAME_SHAPE,
            ),
            (
                "keys: expiresAt not a date",
                json!({"name": "k", "expiresAt": "next tuesday"}).to_string(),
                EXPIRY_FORMAT,
            ),
            (
                "keys: expiresAt without a zone",
                json!({"name": "k", "expiresAt": "2030-01-01T00:00:00"}).to_string(),
                EXPIRY_FORMAT,
            ),
            (
                "keys: expiresAt in the past",
                json!({"name": "k", "expiresAt": "2020-01-01T00:00:00Z"}).to_string(),
                EXPIRY_PAST,
            ),
            (
                "keys: expiresAt over a year ahead",
                json!({"name": "k", "expiresAt": common::clock::rfc3339(in_two_years)}).to_string(),
                EXPIRY_FAR,
            ),
            // Per-key limits: not an object, an unknown limit, out of range, wrong types.
            (
                "keys: limits a number",
                json!({"name": "k", "limits": 10}).to_string(),
                NAME_SHAPE,
            ),
            (
                "keys: limits an unknown member",
                json!({"name": "k", "limits": {"sessionsPerHour": 10}}).to_string(),
                NAME_SHAPE,
            ),
            (
                "keys: sessionsPerDay zero",
                json!({"name": "k", "limits": {"sessionsPerDay": 0}}).to_string(),
                LIMIT_RANGE,
            ),
            (
                "keys: sessionsPerDay negative",
                json!({"name": "k", "limits": {"sessionsPerDay": -5}}).to_string(),
                LIMIT_RANGE,
            ),
            (
                "keys: sessionsPerDay over a million",
                json!({"name": "k", "limits": {"sessionsPerDay": 1_000_001}}).to_string(),
                LIMIT_RANGE,
            ),
            (
                "keys: sessionsPerDay a fraction",
                json!({"name": "k", "limits": {"sessionsPerDay": 2.5}}).to_string(),
                LIMIT_RANGE,
            ),
            (
                "keys: sessionsPerDay a string",
                json!({"name": "k", "limits": {"sessionsPerDay": "10"}}).to_string(),
                LIMIT_RANGE,
            ),
            // The mode: only the two names, in lower case, as a string.
            (
                "keys: mode unknown",
                json!({"name": "k", "mode": "sandbox"}).to_string(),
                MODE,
            ),
            (
                "keys: mode in capitals",
                json!({"name": "k", "mode": "TEST"}).to_string(),
                MODE,
            ),
            (
                "keys: mode a boolean",
                json!({"name": "k", "mode": true}).to_string(),
                MODE,
            ),
        ] {
            cases.push(case(
                name,
                "POST",
                &keys,
                vec![("authorization", console.clone()), json_ct.clone()],
                body.as_bytes(),
                400,
                error,
            ));
        }
        // The console's read-only endpoints: credentials, methods and the audit page's query.
        for path in ["/api/v1/credits", "/api/v1/audit", "/api/v1/usage"] {
            let path = path.to_string();
            cases.push(case(
                "console read: no credential",
                "GET",
                &path,
                vec![],
                b"",
                401,
                MISSING,
            ));
            cases.push(case(
                "console read: an API key instead",
                "GET",
                &path,
                vec![("authorization", key.clone())],
                b"",
                401,
                CONSOLE,
            ));
            cases.push(case(
                "console read: POST",
                "POST",
                &path,
                vec![("authorization", console.clone())],
                b"",
                405,
                "Method not allowed",
            ));
        }
        for (name, query, error) in [
            ("audit: limit 0", "limit=0", AUDIT_LIMIT),
            ("audit: limit 101", "limit=101", AUDIT_LIMIT),
            ("audit: limit not a number", "limit=ten", AUDIT_LIMIT),
            ("audit: negative limit", "limit=-1", AUDIT_LIMIT),
            ("audit: cursor not issued by us", "cursor=AUDIT%23x", AUDIT_CURSOR),
            ("audit: cursor empty", "cursor=", AUDIT_CURSOR),
            ("audit: limit twice", "limit=1&limit=2", AUDIT_TWICE),
            ("audit: unknown parameter", "order=asc", AUDIT_UNKNOWN),
        ] {
            cases.push(case(
                name,
                "GET",
                &format!("/api/v1/audit?{query}"),
                vec![("authorization", console.clone())],
                b"",
                400,
                error,
            ));
        }
        let week = "from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z";
        for (name, query, error) in [
            ("usage: no range", "granularity=day", USAGE_RANGE),
            ("usage: no to", "from=2026-12-01T00:00:00Z", USAGE_RANGE),
            (
                "usage: from not a time",
                "from=yesterday&to=2026-12-08T00:00:00Z",
                USAGE_FROM,
            ),
            (
                "usage: from a date only",
                "from=2026-12-01&to=2026-12-08T00:00:00Z",
                USAGE_FROM,
            ),
            (
                "usage: to not a time",
                "from=2026-12-01T00:00:00Z&to=1733011200",
                USAGE_TO,
            ),
            (
                "usage: granularity week",
                &format!("{week}&granularity=week"),
                USAGE_GRANULARITY,
            ),
            (
                "usage: 91 days of days",
                "from=2026-09-01T00:00:00Z&to=2026-12-01T00:00:00Z",
                USAGE_DAYS,
            ),
            (
                "usage: 8 days of hours",
                "from=2026-12-01T00:00:00Z&to=2026-12-09T00:00:00Z&granularity=hour",
                USAGE_HOURS,
            ),
            (
                "usage: to before from",
                "from=2026-12-08T00:00:00Z&to=2026-12-01T00:00:00Z",
                USAGE_BACKWARDS,
            ),
            (
                "usage: an empty range",
                "from=2026-12-01T00:00:00Z&to=2026-12-01T00:00:00Z",
                USAGE_BACKWARDS,
            ),
            (
                "usage: keyId not a key id",
                &format!("{week}&keyId=key_x"),
                USAGE_KEY,
            ),
            (
                "usage: from twice",
                &format!("{week}&from=2026-12-02T00:00:00Z"),
                USAGE_TWICE,
            ),
            (
                "usage: unknown parameter",
                &format!("{week}&limit=5"),
                USAGE_UNKNOWN,
            ),
        ] {
            cases.push(case(
                name,
                "GET",
                &format!("/api/v1/usage?{query}"),
                vec![("authorization", console.clone())],
                b"",
                400,
                error,
            ));
        }
        for (name, token) in self.bad_console_tokens() {
            let mut c = case(
                "console token",
                "GET",
                &keys,
                vec![("authorization", format!("Bearer {token}"))],
                b"",
                401,
                CONSOLE,
            );
            c.name = name;
            cases.push(c);
        }
        // Secret scanning: nothing is read before the signature verifies; then the report's shape.
        let scan = "/api/v1/secret-scanning".to_string();
        let report = json!([{"token": self.api_key, "type": "visionpipe_api_key", "url": "https://github.com/o/r/blob/1/.env", "source": "content"}])
            .to_string();
        let signed = |body: &str| {
            vec![
                json_ct.clone(),
                (
                    "github-public-key-identifier",
                    self.reporter.identifier().to_string(),
                ),
                ("github-public-key-signature", self.reporter.sign(body.as_bytes())),
            ]
        };
        let over_another_body = signed("[]");
        let mut unknown_reporter = signed(&report);
        unknown_reporter[1].1 = "0".repeat(64);
        let mut not_base64 = signed(&report);
        not_base64[2].1 = "not a signature!".into();
        for (name, headers) in [
            ("scan: no signature", vec![json_ct.clone()]),
            ("scan: a signature over another body", over_another_body),
            ("scan: a key GitHub does not hold", unknown_reporter),
            ("scan: a signature that is not base64", not_base64),
        ] {
            cases.push(case(
                name,
                "POST",
                &scan,
                headers,
                report.as_bytes(),
                401,
                SIGNATURE,
            ));
        }
        let many: Vec<_> = (0..1001).map(|_| json!({"token": "x", "type": "t"})).collect();
        let many = json!(many).to_string();
        for (name, body, error) in [
            ("scan: signed, not JSON", "[".to_string(), REPORT_SHAPE),
            (
                "scan: signed, an object",
                json!({"token": self.api_key, "type": "t"}).to_string(),
                REPORT_SHAPE,
            ),
            (
                "scan: signed, a match without a token",
                json!([{"type": "t"}]).to_string(),
                REPORT_SHAPE,
            ),
            ("scan: signed, 1,001 matches", many, TOO_MANY_MATCHES),
        ] {
            cases.push(case(
                name,
                "POST",
                &scan,
                signed(&body),
                body.as_bytes(),
                400,
                error,
            ));
        }
        // Webhook endpoints: the body, the URL (never a non-public address, resolved or not),
        // the events and the description; credentials; an unknown or foreign endpoint.
        let hooks = "/api/v1/webhooks".to_string();
        let ok_events = json!(["credits.low"]);
        for (name, body, error) in [
            ("webhooks: no body", String::new(), WEBHOOK_SHAPE),
            ("webhooks: not JSON", r#"{"url":"#.to_string(), NOT_JSON),
            ("webhooks: an array", json!([]).to_string(), WEBHOOK_SHAPE),
            ("webhooks: url missing", json!({"events": ok_events}).to_string(), WEBHOOK_SHAPE),
            ("webhooks: events missing", json!({"url": "https://hooks.example.com/"}).to_string(), WEBHOOK_SHAPE),
            (
                "webhooks: an unknown member",
                json!({"url": "https://hooks.example.com/", "events": ok_events, "secret": "mine"}).to_string(),
                WEBHOOK_SHAPE,
            ),
            ("webhooks: url a number", json!({"url": 5, "events": ok_events}).to_string(), URL_FORM),
            ("webhooks: url relative", json!({"url": "/hook", "events": ok_events}).to_string(), URL_FORM),
            (
                "webhooks: url over 2048 characters",
                json!({"url": format!("https://hooks.example.com/{}", "a".repeat(2048)), "events": ok_events}).to_string(),
                URL_FORM,
            ),
            ("webhooks: url ftp", json!({"url": "ftp://hooks.example.com/", "events": ok_events}).to_string(), URL_SCHEME),
            (
                "webhooks: url with credentials",
                json!({"url": "https://me:pw@hooks.example.com/", "events": ok_events}).to_string(),
                URL_CREDENTIALS,
            ),
            (
                "webhooks: url that does not resolve",
                json!({"url": "https://nowhere.invalid/hook", "events": ok_events}).to_string(),
                URL_UNRESOLVABLE,
            ),
            ("webhooks: url private", json!({"url": "https://10.0.0.1/hook", "events": ok_events}).to_string(), URL_NOT_PUBLIC),
            (
                "webhooks: url the metadata service",
                json!({"url": "https://169.254.169.254/latest/meta-data/", "events": ok_events}).to_string(),
                URL_NOT_PUBLIC,
            ),
            (
                "webhooks: url IPv6 unique local",
                json!({"url": "https://[fd00:ec2::254]/", "events": ok_events}).to_string(),
                URL_NOT_PUBLIC,
            ),
            ("webhooks: events empty", json!({"url": "https://hooks.example.com/", "events": []}).to_string(), EVENTS),
            (
                "webhooks: events unknown",
                json!({"url": "https://hooks.example.com/", "events": ["credits.high"]}).to_string(),
                EVENTS,
            ),
            (
                "webhooks: events webhook.test",
                json!({"url": "https://hooks.example.com/", "events": ["webhook.test"]}).to_string(),
                EVENTS,
            ),
            (
                "webhooks: events a string",
                json!({"url": "https://hooks.example.com/", "events": "credits.low"}).to_string(),
                EVENTS,
            ),
            (
                "webhooks: description over 256 characters",
                json!({"url": "https://hooks.example.com/", "events": ok_events, "description": "d".repeat(257)}).to_string(),
                DESCRIPTION,
            ),
            (
                "webhooks: description with a control character",
                json!({"url": "https://hooks.example.com/", "events": ok_events, "description": "bell\u{7}"}).to_string(),
                DESCRIPTION,
            ),
            (
                "webhooks: description a number",
                json!({"url": "https://hooks.example.com/", "events": ok_events, "description": 5}).to_string(),
                DESCRIPTION,
            ),
        ] {
            cases.push(case(
                name,
                "POST",
                &hooks,
                vec![("authorization", console.clone()), json_ct.clone()],
                body.as_bytes(),
                400,
                error,
            ));
        }
        cases.push(case(
            "webhooks: no credential",
            "POST",
            &hooks,
            vec![json_ct.clone()],
            br#"{"url":"https://hooks.example.com/","events":["credits.low"]}"#,
            401,
            MISSING,
        ));
        cases.push(case(
            "webhooks: an API key instead",
            "GET",
            &hooks,
            vec![("authorization", key.clone())],
            b"",
            401,
            CONSOLE,
        ));
        cases.push(case(
            "webhooks: PUT",
            "PUT",
            &hooks,
            vec![("authorization", console.clone())],
            b"",
            405,
            "Method not allowed",
        ));
        for (name, path) in [
            ("webhooks/{id}: not an endpoint id", "/api/v1/webhooks/nope"),
            (
                "webhooks/{id}: an id no endpoint has",
                "/api/v1/webhooks/whk_01JF0000000000000000000000",
            ),
        ] {
            cases.push(case(
                name,
                "DELETE",
                &path.to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "Webhook endpoint not found",
            ));
        }
        for (name, method, path) in [
            (
                "webhooks/{id}/test: not an endpoint id",
                "POST",
                "/api/v1/webhooks/nope/test",
            ),
            (
                "webhooks/{id}/test: an id no endpoint has",
                "POST",
                "/api/v1/webhooks/whk_01JF0000000000000000000000/test",
            ),
            (
                "webhooks/{id}/deliveries: not an endpoint id",
                "GET",
                "/api/v1/webhooks/nope/deliveries",
            ),
            (
                "webhooks/{id}/deliveries: an id no endpoint has",
                "GET",
                "/api/v1/webhooks/whk_01JF0000000000000000000000/deliveries",
            ),
        ] {
            cases.push(case(
                name,
                method,
                &path.to_string(),
                vec![("authorization", console.clone())],
                b"",
                404,
                "Webhook endpoint not found",
            ));
        }
        // The delivery log pages as the audit trail does (its query is read first).
        for (name, query, error) in [
            ("deliveries: limit 0", "limit=0", AUDIT_LIMIT),
            ("deliveries: cursor not issued by us", "cursor=x", AUDIT_CURSOR),
            ("deliveries: unknown parameter", "order=asc", AUDIT_UNKNOWN),
        ] {
            cases.push(case(
                name,
                "GET",
                &format!("/api/v1/webhooks/whk_01JF0000000000000000000000/deliveries?{query}"),
                vec![("authorization", console.clone())],
                b"",
                400,
                error,
            ));
        }
        cases.push(case(
            "webhooks/{id}/test: GET",
            "GET",
            &"/api/v1/webhooks/whk_01JF0000000000000000000000/test".to_string(),
            vec![("authorization", console.clone())],
            b"",
            405,
            "Method not allowed",
        ));
        // The account's settings.
        let account_path = "/api/v1/account".to_string();
        for (name, body, error) in [
            ("account: no body", String::new(), ACCOUNT_SHAPE),
            ("account: not JSON", "{".to_string(), NOT_JSON),
            ("account: threshold missing", json!({}).to_string(), ACCOUNT_SHAPE),
            (
                "account: an unknown member",
                json!({"lowCreditThreshold": 5, "plan": "pro"}).to_string(),
                ACCOUNT_SHAPE,
            ),
            (
                "account: threshold 0",
                json!({"lowCreditThreshold": 0}).to_string(),
                THRESHOLD,
            ),
            (
                "account: threshold negative",
                json!({"lowCreditThreshold": -3}).to_string(),
                THRESHOLD,
            ),
            (
                "account: threshold over a million",
                json!({"lowCreditThreshold": 1_000_001}).to_string(),
                THRESHOLD,
            ),
            (
                "account: threshold a fraction",
                json!({"lowCreditThreshold": 2.5}).to_string(),
                THRESHOLD,
            ),
            (
                "account: threshold a string",
                json!({"lowCreditThreshold": "10"}).to_string(),
                THRESHOLD,
            ),
        ] {
            cases.push(case(
                name,
                "PUT",
                &account_path,
                vec![("authorization", console.clone()), json_ct.clone()],
                body.as_bytes(),
                400,
                error,
            ));
        }
        cases.push(case(
            "account: GET",
            "GET",
            &account_path,
            vec![("authorization", console.clone())],
            b"",
            405,
            "Method not allowed",
        ));
        // The size cap comes before the signature: nothing over it is even hashed.
        let over_cap = format!("[{}]", " ".repeat(1024 * 1024));
        cases.push(case(
            "scan: body over 1 MiB",
            "POST",
            &scan,
            signed(&over_cap),
            over_cap.as_bytes(),
            413,
            "Request body too large",
        ));
        cases.push(case(
            "scan: GET",
            "GET",
            &scan,
            vec![],
            b"",
            405,
            "Method not allowed",
        ));
        cases
    }
}
