//! API keys: generation, the `Authorization` header, the format and checksum checks, hashing.
//!
//! A key is `vp_live_` (a live key) or `vp_test_` (a test key: [`KeyMode`]) + 64 lowercase hex
//! characters: 56 random (28 bytes from the OS CSPRNG), then 8 that are the CRC-32 (IEEE, as
//! zlib's `crc32`) of the text before them, prefix included. The checksum
//! lets anyone — a secret scanner, `vpctl keys check`, create-session before any store request —
//! tell a real key from a look-alike offline. Only a key's SHA-256 ([`KeyHash`]) is ever stored;
//! the plaintext lives in a [`PlaintextKey`] whose `Debug` is redacted so that it cannot reach a
//! log by accident.

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::fmt;

/// Both prefixes have this length.
const PREFIX_LEN: usize = 8;
const HEX_LEN: usize = 64;
pub const KEY_LEN: usize = PREFIX_LEN + HEX_LEN;
/// Random bytes in a key (224 bits), written as the first 56 hex characters.
const RANDOM_BYTES: usize = 28;
/// Where the checksum starts: everything before it is what it covers.
const CHECKSUM_AT: usize = KEY_LEN - 8;
/// How many leading characters of a key the console shows (`vp_live_1a2b`).
pub const DISPLAY_PREFIX_LEN: usize = 12;

/// What a key spends. A live key opens sessions for credits; a test key opens them against the
/// account's daily test allowance and never moves a credit. The mode is written into the key
/// itself (its prefix, which the stored hash covers), so it can never change, and anything
/// that holds a key or its display prefix knows its mode without asking the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyMode {
    #[default]
    Live,
    Test,
}

impl KeyMode {
    pub const ALL: [KeyMode; 2] = [KeyMode::Live, KeyMode::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Live => "live",
            KeyMode::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// `vp_live_` or `vp_test_`.
    pub fn key_prefix(self) -> &'static str {
        match self {
            KeyMode::Live => "vp_live_",
            KeyMode::Test => "vp_test_",
        }
    }

    /// The mode a key (or its display prefix) starts with, if either.
    pub fn of(key_or_prefix: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| key_or_prefix.starts_with(m.key_prefix()))
    }

    /// The token type secret scanning reports this mode's keys under (GitHub's `type`).
    pub fn token_type(self) -> &'static str {
        match self {
            KeyMode::Live => "visionpipe_api_key",
            KeyMode::Test => "visionpipe_test_api_key",
        }
    }

    /// The secret-scanning pattern docs/secret-scanning.md publishes for this mode (matches the
    /// format; the checksum then tells real keys from look-alikes).
    pub fn scanning_pattern(self) -> String {
        format!(r"\b{}[0-9a-f]{{{HEX_LEN}}}\b", self.key_prefix())
    }
}

/// A plaintext API key. Exists only between generation and the create-key response.
pub struct PlaintextKey(String);

impl PlaintextKey {
    pub fn generate(mode: KeyMode) -> Self {
        let mut bytes = [0u8; RANDOM_BYTES];
        OsRng.fill_bytes(&mut bytes);
        let body = format!("{}{}", mode.key_prefix(), hex::encode(bytes));
        let checksum = checksum(&body);
        PlaintextKey(body + &checksum)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn mode(&self) -> KeyMode {
        KeyMode::of(&self.0).unwrap_or_default()
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }

    /// The first 12 characters, safe to store and show: they carry 16 bits of the 256.
    pub fn display_prefix(&self) -> String {
        self.0[..DISPLAY_PREFIX_LEN].to_string()
    }
}

impl fmt::Debug for PlaintextKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlaintextKey(<redacted>)")
    }
}

/// Lowercase hex SHA-256 of a key: the only form in which a key is stored or looked up.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        KeyHash(hex::encode(Sha256::digest(key.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthHeaderError {
    /// No header, several, or not exactly `Bearer <token>`.
    MissingOrMalformed,
}

/// The credential in `Authorization: Bearer <token>`.
///
/// Strict on purpose: exactly one header, the scheme `Bearer` (in any case), one space, and a token
/// of visible ASCII characters. Anything else is `MissingOrMalformed`, so clients learn of a
/// broken header rather than having it half-understood.
pub fn bearer_token(headers: &http::HeaderMap) -> Result<&str, AuthHeaderError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthHeaderError::MissingOrMalformed)?;
    if values.next().is_some() {
        return Err(AuthHeaderError::MissingOrMalformed);
    }
    let value = value.to_str().map_err(|_| AuthHeaderError::MissingOrMalformed)?;
    parse_bearer(value)
}

/// `Bearer <token>`: the scheme is matched case-insensitively (RFC 7235 §2.1), then exactly
/// one space and a token of visible ASCII.
pub fn parse_bearer(value: &str) -> Result<&str, AuthHeaderError> {
    let (scheme, token) = value.split_once(' ').ok_or(AuthHeaderError::MissingOrMalformed)?;
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(AuthHeaderError::MissingOrMalformed);
    }
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AuthHeaderError::MissingOrMalformed);
    }
    Ok(token)
}

/// The 8 lowercase hex characters that end a key whose text before them is `body`.
pub fn checksum(body: &str) -> String {
    format!("{:08x}", crc32fast::hash(body.as_bytes()))
}

/// Whether a well-formed key's last 8 characters are the checksum of the rest. A key that is
/// well-formed but fails this was never issued: it is refused without asking the store.
pub fn has_valid_checksum(token: &str) -> bool {
    is_well_formed(token) && token[CHECKSUM_AT..] == checksum(&token[..CHECKSUM_AT])
}

/// True when `token` is `vp_live_` or `vp_test_` followed by exactly 64 lowercase hex
/// characters.
pub fn is_well_formed(token: &str) -> bool {
    token.len() == KEY_LEN
        && KeyMode::of(token).is_some()
        && token[PREFIX_LEN..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

// `lambda_http` re-exports `http`; this alias keeps the signatures above short.
use lambda_http::http;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_unique_and_hash_to_64_hex() {
        let a = PlaintextKey::generate(KeyMode::Live);
        let b = PlaintextKey::generate(KeyMode::Live);
        assert!(is_well_formed(a.expose()), "{}", a.expose().len());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash().as_str().len(), 64);
        assert_eq!(a.display_prefix(), &a.expose()[..12]);
        assert!(a.display_prefix().starts_with("vp_live_"));
        assert_eq!(a.mode(), KeyMode::Live);
    }

    #[test]
    fn a_test_key_is_vp_test_with_the_same_checksum_and_its_own_hash() {
        let key = PlaintextKey::generate(KeyMode::Test);
        assert!(key.expose().starts_with("vp_test_"));
        assert!(is_well_formed(key.expose()) && has_valid_checksum(key.expose()));
        assert_eq!(
            (key.mode(), KeyMode::of(&key.display_prefix())),
            (KeyMode::Test, Some(KeyMode::Test))
        );
        // The checksum covers the prefix: a live key made into a test key by its prefix alone
        // is a look-alike, and (the hash covering it too) could never find the live key.
        let live = PlaintextKey::generate(KeyMode::Live);
        let relabelled = live.expose().replacen("vp_live_", "vp_test_", 1);
        assert!(is_well_formed(&relabelled) && !has_valid_checksum(&relabelled));
        assert_ne!(KeyHash::of(&relabelled), live.hash());
        // Computed independently with Python's zlib.crc32.
        let documented = "vp_test_0123456789abcdef0123456789abcdef0123456789abcdef01234567b172c74e";
        assert_eq!(checksum(&documented[..64]), &documented[64..]);
    }

    #[test]
    fn the_checksum_is_zlibs_crc32_in_lowercase_hex() {
        // The CRC-32/IEEE check value: crc32(b"123456789") = 0xcbf43926.
        assert_eq!(checksum("123456789"), "cbf43926");
        // A key from the docs, computed independently with Python's zlib.crc32.
        let key = "vp_live_0123456789abcdef0123456789abcdef0123456789abcdef012345670ff3c212";
        assert!(has_valid_checksum(key));
        assert_eq!(checksum(&key[..64]), "0ff3c212");
    }

    #[test]
    fn every_generated_key_carries_its_checksum_and_any_changed_character_breaks_it() {
        let key = PlaintextKey::generate(KeyMode::Live);
        assert!(has_valid_checksum(key.expose()));
        let text = key.expose();
        for at in PREFIX_LEN..KEY_LEN {
            let original = text.as_bytes()[at];
            let replacement = if original == b'0' { b'1' } else { b'0' };
            let mut changed = text.as_bytes().to_vec();
            changed[at] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            assert!(is_well_formed(&changed));
            assert!(!has_valid_checksum(&changed), "position {at}");
        }
        assert!(!has_valid_checksum("vp_live_"), "not well-formed at all");
    }

    #[test]
    fn the_published_scanning_patterns_are_the_formats() {
        assert_eq!(KeyMode::Live.scanning_pattern(), r"\bvp_live_[0-9a-f]{64}\b");
        assert_eq!(KeyMode::Test.scanning_pattern(), r"\bvp_test_[0-9a-f]{64}\b");
        assert_eq!(KeyMode::Test.token_type(), "visionpipe_test_api_key");
    }

    #[test]
    fn hash_is_sha256_hex() {
        // sha256("abc"), from FIPS 180-2.
        assert_eq!(
            KeyHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = PlaintextKey::generate(KeyMode::Test);
        assert!(!format!("{key:?}").contains(&key.expose()[8..]));
    }

    #[test]
    fn format_check() {
        let hex64 = "0123456789abcdef".repeat(4);
        assert!(is_well_formed(&format!("vp_live_{hex64}")));
        assert!(is_well_formed(&format!("vp_test_{hex64}")));
        for bad in [
            format!("vp_live_{}", &hex64[..63]),
            format!("vp_live_{hex64}0"),
            format!("vp_live_{}", hex64.to_uppercase()),
            format!("vp_prod_{hex64}"),
            format!("VP_TEST_{hex64}"),
            format!("vp_test{hex64}0"),
            format!("vp_live_{}g", &hex64[..63]),
            String::new(),
            "vp_live_".into(),
        ] {
            assert!(!is_well_formed(&bad), "{bad}");
        }
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(parse_bearer("Bearer abc"), Ok("abc"));
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                parse_bearer(&format!("{scheme} abc")),
                Ok("abc"),
                "RFC 7235: schemes are case-insensitive"
            );
        }
        for bad in [
            "",
            "Bearer",
            "Bearer ",
            "Bearers abc",
            "Bear abc",
            "Bearer  abc",
            "Basic abc",
            "Bearer a b",
            "abc",
            "Bearer abc\t",
        ] {
            assert!(parse_bearer(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_plaintext_key_never_prints() {
        assert_eq!(
            format!("{:?}", PlaintextKey::generate(KeyMode::Live)),
            "PlaintextKey(<redacted>)"
        );
    }

    #[test]
    fn the_credential_comes_from_exactly_one_authorization_header() {
        let mut headers = http::HeaderMap::new();
        assert!(bearer_token(&headers).is_err(), "none");
        headers.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), Ok("abc"));
        headers.append(http::header::AUTHORIZATION, "Bearer def".parse().unwrap());
        assert!(bearer_token(&headers).is_err(), "two");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert!(bearer_token(&headers).is_err(), "not ASCII");
    }
}
