"""Schemathesis hooks for `make test` (loaded through SCHEMATHESIS_HOOKS).

Two inputs the local emulator itself cannot carry are filtered out, nothing else: `cargo lambda watch` answers 500 itself
(text/plain, before any function runs) when a body labelled application/json is not valid
UTF-8, because it must put the body into the Lambda event as text. API Gateway passes such a
body on base64-encoded, and the functions answer it with 400 (tests/tests/api/bad_input.rs, case
"keys: invalid UTF-8"). So bodies that are not UTF-8 are not sent to the local stack.
"""
import schemathesis


@schemathesis.hook
def filter_body(ctx, body):
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.hook
def filter_headers(ctx, headers):
    """The same limitation for header values that are not ASCII (e.g. Latin-1 bytes in
    Idempotency-Key): cargo lambda watch fails on them with its own 500. The functions answer
    them with 400/401 (bad-input cases "sessions: non-ASCII key", "sessions: non-ASCII
    Idempotency-Key")."""
    for value in (headers or {}).values():
        if isinstance(value, str) and not value.isascii():
            return False
    return True
