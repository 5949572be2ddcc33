//! The `Idempotency-Key` request header of `POST /api/v1/sessions`.
//!
//! A retry with the same key (same account, same API key, same body) within 24 hours gets the
//! first response again and pays nothing; any other use of the key is a 422. Keys are kept only
//! as SHA-256 hashes, like API keys.

use lambda_http::http::HeaderMap;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
pub const MAX_LEN: usize = 255;

/// The header's value: `None` when absent; an error message for a malformed one.
pub fn from_headers(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("Idempotency-Key must be given once");
    }
    let value = value
        .to_str()
        .map_err(|_| "Idempotency-Key must be printable ASCII")?;
    parse(value).map(Some)
}

/// 1–255 printable ASCII characters (spaces allowed inside, not only spaces).
pub fn parse(value: &str) -> Result<&str, &'static str> {
    if value.trim().is_empty() || value.len() > MAX_LEN {
        return Err("Idempotency-Key must be 1-255 printable characters");
    }
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err("Idempotency-Key must be printable ASCII");
    }
    Ok(value)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_keys_up_to_255() {
        assert_eq!(parse("retry-7f3a"), Ok("retry-7f3a"));
        assert_eq!(parse("a b"), Ok("a b"));
        assert!(parse(&"k".repeat(255)).is_ok());
    }

    #[test]
    fn rejects_empty_long_and_unprintable_keys() {
        for bad in ["", "   ", "tab\there", "nl\n", "é"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn the_header_is_optional_single_and_valid() {
        let mut headers = HeaderMap::new();
        assert_eq!(from_headers(&headers), Ok(None));
        headers.insert(HEADER, "order-1".parse().unwrap());
        assert_eq!(from_headers(&headers), Ok(Some("order-1")));
        headers.append(HEADER, "order-2".parse().unwrap());
        assert_eq!(from_headers(&headers), Err("Idempotency-Key must be given once"));
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, "".parse().unwrap());
        assert!(from_headers(&headers).is_err());
    }

    #[test]
    fn hashes_are_lowercase_sha256_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
