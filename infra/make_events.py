#!/usr/bin/env python3
"""Writes events/*.json: API Gateway HTTP API (payload 2.0) events for every function and case.

Run from the repository root: `python3 infra/make_events.py`. The handler tests replay these
files and `cargo lambda invoke <function> --data-file events/<file>.json` accepts them.

Console tokens in the fixtures are ES256 JWTs signed with the *fixture* console key, a test vector
derived from a published seed (tests/src/lib.rs derives the same one): the handler tests' throw-away
apps trust it as their local console key, and nothing else does. They expire in 2100, so the files
stay valid. API keys in them are test vectors too: the tests seed exactly these into a throw-away
store; no real key is in the repo. Needs the `cryptography` package (pip) for ECDSA.
"""
import base64, hashlib, json, pathlib, zlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

FIXTURE_KEY = ec.derive_private_key(
    int.from_bytes(hashlib.sha256(b"visionpipe fixture console key").digest(), "big"), ec.SECP256R1())
ISSUER, AUDIENCE = "https://visionpipe.com", "visionpipe-cloud-api"
ACCOUNT = "acct_fixture"
def with_checksum(random_hex):
    """A key: `vp_live_` + 56 hex, then the CRC-32 (zlib) of that text as 8 lowercase hex."""
    body = "vp_live_" + random_hex
    return body + format(zlib.crc32(body.encode()), "08x")


KEY_OK = with_checksum(("0123456789abcdef" * 4)[:56])     # seeded on an account with credits
KEY_EMPTY = with_checksum(("fedcba9876543210" * 4)[:56])  # seeded on an account with 0 credits
KEY_UNKNOWN = with_checksum("0" * 56)                     # well-formed and checksummed, never seeded
KEY_BAD_CHECKSUM = KEY_OK[:-8] + "00000000"               # well-formed, but never issued
KEY_ID = "key_01JF0000000000000000000000"            # the key delete-key.json deletes
NEVER_EXPIRES = 4102444800                           # 2100-01-01


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fixture_kid():
    numbers = FIXTURE_KEY.public_key().public_numbers()
    x, y = (b64(n.to_bytes(32, "big")) for n in (numbers.x, numbers.y))
    # RFC 7638 thumbprint, as common::jwk computes it.
    thumbprint = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"))
    return b64(hashlib.sha256(thumbprint.encode()).digest())


# Signs the wrong-key fixture: a well-formed ES256 token whose key the apps do not trust.
STRANGER_KEY = ec.derive_private_key(
    int.from_bytes(hashlib.sha256(b"visionpipe stranger console key").digest(), "big"), ec.SECP256R1())


# Signs the secret-scanning fixtures as GitHub would (tests/src/lib.rs derives the same key).
REPORTER_KEY = ec.derive_private_key(
    int.from_bytes(hashlib.sha256(b"visionpipe fixture secret-scanning key").digest(), "big"), ec.SECP256R1())


def reporter_headers(body):
    """GitHub's two headers for `body`: the key's identifier (SHA-256 of its SubjectPublicKeyInfo,
    hex, as common::secret_scanning names keys) and the DER signature in base64."""
    from cryptography.hazmat.primitives import serialization
    spki = REPORTER_KEY.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    der = REPORTER_KEY.sign(body.encode(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return {"github-public-key-identifier": hashlib.sha256(spki).hexdigest(),
            "github-public-key-signature": base64.b64encode(der).decode()}


def report(*tokens):
    return json.dumps([{"token": t, "type": "visionpipe_api_key",
                        "url": "https://github.com/octo/app/blob/4f2c9e1/.env", "source": "content"}
                       for t in tokens], separators=(",", ":"))


SCAN_REPORT = report(KEY_OK, KEY_UNKNOWN, KEY_BAD_CHECKSUM)


def console_token(sub=ACCOUNT, exp=NEVER_EXPIRES, key=FIXTURE_KEY):
    header = b64(json.dumps({"alg": "ES256", "typ": "JWT", "kid": fixture_kid()}, separators=(",", ":")).encode())
    claims = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": 1795744800, "exp": exp}
    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    # RFC 6979 nonces: regenerating the files changes nothing that did not change.
    der = key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return f"{header}.{payload}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def event(method, path, route, headers=None, body=None, path_params=None):
    headers = {"host": "api.visionpipe.test", "user-agent": "visionpipe-fixture/1.0", **(headers or {})}
    e = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "fixture",
            "domainName": "api.visionpipe.test",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": headers["user-agent"]},
            "requestId": "fixture-request-id",
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": "27/Nov/2026:02:00:00 +0000",
            "timeEpoch": 1795744800000,
        },
        "isBase64Encoded": False,
    }
    if path_params is not None:
        e["pathParameters"] = path_params
    if body is not None:
        e["body"] = body
    return e


def bearer(token):
    return {"authorization": f"Bearer {token}"}


JSON = {"content-type": "application/json"}
console = {**bearer(console_token()), **JSON}
keys = ("/api/v1/keys", "/api/v1/keys")
# An endpoint id of the right form that no endpoint has (delete-webhook's fixture).
WEBHOOK_ID = "whk_01JF0000000000000000000000"
one_key = (f"/api/v1/keys/{KEY_ID}", "/api/v1/keys/{id}")
sessions = ("/api/v1/sessions", "/api/v1/sessions")

EVENTS = {
    "create-key": event("POST", *keys, console, '{"name":"Production"}'),
    "create-key-test": event("POST", *keys, console, '{"name":"Staging","mode":"test"}'),
    "create-key-missing-auth": event("POST", *keys, JSON, '{"name":"Production"}'),
    "create-key-expired-token": event("POST", *keys, {**bearer(console_token(exp=1700000000)), **JSON}, '{"name":"Production"}'),
    "create-key-wrong-key": event("POST", *keys, {**bearer(console_token(key=STRANGER_KEY)), **JSON}, '{"name":"Production"}'),
    "create-key-empty-name": event("POST", *keys, console, '{"name":"   "}'),
    "create-key-long-name": event("POST", *keys, console, json.dumps({"name": "n" * 65})),
    "create-key-malformed-json": event("POST", *keys, console, '{"name":'),
    "create-key-unknown-field": event("POST", *keys, console, '{"name":"Production","admin":true}'),
    "create-key-no-body": event("POST", *keys, console),
    "create-key-wrong-content-type": event("POST", *keys, {**bearer(console_token()), "content-type": "text/plain"}, '{"name":"Production"}'),
    "list-keys": event("GET", *keys, bearer(console_token())),
    "create-webhook": event("POST", "/api/v1/webhooks", "/api/v1/webhooks", console,
                            '{"url":"https://hooks.example.com/visionpipe","events":["credits.low","key.leaked"],"description":"Alerts"}'),
    "list-webhooks": event("GET", "/api/v1/webhooks", "/api/v1/webhooks", bearer(console_token())),
    "delete-webhook": event("DELETE", f"/api/v1/webhooks/{WEBHOOK_ID}", "/api/v1/webhooks/{id}", bearer(console_token()),
                            path_params={"id": WEBHOOK_ID}),
    "test-webhook": event("POST", f"/api/v1/webhooks/{WEBHOOK_ID}/test", "/api/v1/webhooks/{id}/test", bearer(console_token()),
                          path_params={"id": WEBHOOK_ID}),
    "webhook-deliveries": event("GET", f"/api/v1/webhooks/{WEBHOOK_ID}/deliveries", "/api/v1/webhooks/{id}/deliveries",
                                bearer(console_token()), path_params={"id": WEBHOOK_ID}),
    "update-account": event("PUT", "/api/v1/account", "/api/v1/account", console, '{"lowCreditThreshold":2}'),
    "list-keys-missing-auth": event("GET", *keys),
    "delete-key": event("DELETE", *one_key, bearer(console_token()), path_params={"id": KEY_ID}),
    "delete-key-not-found": event("DELETE", "/api/v1/keys/key_01JF0000000000000000000001", "/api/v1/keys/{id}",
                                  bearer(console_token()), path_params={"id": "key_01JF0000000000000000000001"}),
    "delete-key-not-an-id": event("DELETE", "/api/v1/keys/..%2Fetc", "/api/v1/keys/{id}",
                                  bearer(console_token()), path_params={"id": "../etc"}),
    "delete-key-missing-auth": event("DELETE", *one_key, path_params={"id": KEY_ID}),
    "create-session": event("POST", *sessions, {**bearer(KEY_OK), **JSON}),
    "create-session-empty-object": event("POST", *sessions, {**bearer(KEY_OK), **JSON}, "{}"),
    "create-session-missing-auth": event("POST", *sessions, JSON),
    "create-session-not-bearer": event("POST", *sessions, {"authorization": f"Basic {KEY_OK}", **JSON}),
    "create-session-invalid-format": event("POST", *sessions, {**bearer(KEY_OK[:-1]), **JSON}),
    "create-session-invalid-key": event("POST", *sessions, {**bearer(KEY_UNKNOWN), **JSON}),
    "create-session-bad-checksum": event("POST", *sessions, {**bearer(KEY_BAD_CHECKSUM), **JSON}),
    "create-session-insufficient-credits": event("POST", *sessions, {**bearer(KEY_EMPTY), **JSON}),
    "create-session-unexpected-body": event("POST", *sessions, {**bearer(KEY_OK), **JSON}, '{"credits":100}'),
    "create-session-wrong-method": event("GET", *sessions, bearer(KEY_OK)),
    "create-session-idempotent": event("POST", *sessions, {**bearer(KEY_OK), **JSON, "idempotency-key": "order-4711"}),
    "create-session-idempotent-other-body": event("POST", *sessions, {**bearer(KEY_OK), **JSON, "idempotency-key": "order-4711"}, "{}"),
    "create-session-bad-idempotency-key": event("POST", *sessions, {**bearer(KEY_OK), **JSON, "idempotency-key": "k" * 256}),
    "check-key": event("GET", "/api/v1/keys/self", "/api/v1/keys/self", bearer(KEY_OK)),
    "check-key-invalid-key": event("GET", "/api/v1/keys/self", "/api/v1/keys/self", bearer(KEY_UNKNOWN)),
    "unmatched-path": event("GET", "/api/v1/nothing", "$default"),
    "roll-key": event("POST", f"/api/v1/keys/{KEY_ID}/roll", "/api/v1/keys/{id}/roll",
                      {**bearer(console_token()), **JSON}, '{"expiresInSeconds":3600}', path_params={"id": KEY_ID}),
    "credits": event("GET", "/api/v1/credits", "/api/v1/credits", bearer(console_token())),
    "audit": event("GET", "/api/v1/audit", "/api/v1/audit", bearer(console_token())),
    "audit-bad-limit": {**event("GET", "/api/v1/audit", "/api/v1/audit", bearer(console_token())),
                        "rawQueryString": "limit=0", "queryStringParameters": {"limit": "0"}},
    "usage": {**event("GET", "/api/v1/usage", "/api/v1/usage", bearer(console_token())),
              "rawQueryString": "from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z&granularity=day",
              "queryStringParameters": {"from": "2026-12-01T00:00:00Z", "to": "2026-12-08T00:00:00Z",
                                        "granularity": "day"}},
    "jwks": event("GET", "/.well-known/jwks.json", "/.well-known/jwks.json"),
    "console": event("GET", "/console", "/console"),
    "unmatched-method": event("PUT", *keys, bearer(console_token())),
    # GitHub reports KEY_OK (ours, live), KEY_UNKNOWN (well-formed, never issued) and
    # KEY_BAD_CHECKSUM (a look-alike).
    "secret-scanning": event("POST", "/api/v1/secret-scanning", "/api/v1/secret-scanning",
                             {**JSON, **reporter_headers(SCAN_REPORT)}, SCAN_REPORT),
    "secret-scanning-bad-signature": event("POST", "/api/v1/secret-scanning", "/api/v1/secret-scanning",
                                           {**JSON, **reporter_headers(report(KEY_EMPTY))}, SCAN_REPORT),
}

if __name__ == "__main__":
    out = pathlib.Path("events")
    out.mkdir(exist_ok=True)
    for name, e in EVENTS.items():
        (out / f"{name}.json").write_text(json.dumps(e, indent=2) + "\n")
    print(f"wrote {len(EVENTS)} events to {out}/")
