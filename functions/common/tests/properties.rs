//! Property tests for everything that parses outside input: no input panics, and whatever is
//! accepted round-trips.

use common::api_key::{KeyHash, PlaintextKey, is_well_formed, parse_bearer};
use common::ids::{AccountId, KeyId};
use common::{idempotency, key_name, request};
use lambda_http::{Body, Request};
use proptest::prelude::*;

fn json_request(body: Vec<u8>) -> Request {
    let mut req = Request::new(Body::Binary(body));
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    req
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_key_format_check_accepts_exactly_the_format(s in "\\PC{0,80}|vp_live_[0-9a-fA-F]{60,68}") {
        let expected = s.len() == 72
            && s.starts_with("vp_live_")
            && s[8..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        prop_assert_eq!(is_well_formed(&s), expected);
    }

    #[test]
    fn any_32_bytes_make_a_well_formed_key(bytes in proptest::array::uniform32(any::<u8>())) {
        let key = format!("vp_live_{}", hex::encode(bytes));
        prop_assert!(is_well_formed(&key));
        let hash = KeyHash::of(&key);
        prop_assert_eq!(hash.as_str().len(), 64);
        prop_assert!(hash.as_str().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        prop_assert_eq!(hash, KeyHash::of(&key), "deterministic");
    }

    #[test]
    fn a_look_alike_fails_the_checksum(bytes in proptest::array::uniform32(any::<u8>())) {
        // Random 64 hex: well-formed, and its last 8 match the CRC of the rest only by a
        // 1-in-4-billion accident.
        let key = format!("vp_live_{}", hex::encode(bytes));
        prop_assert!(is_well_formed(&key));
        prop_assert_eq!(
            common::api_key::has_valid_checksum(&key),
            key[64..] == common::api_key::checksum(&key[..64])
        );
    }

    #[test]
    fn generated_keys_are_always_well_formed(_ in 0u8..8) {
        let key = PlaintextKey::generate();
        prop_assert!(common::api_key::has_valid_checksum(key.expose()));
        prop_assert!(is_well_formed(key.expose()));
        prop_assert_eq!(key.display_prefix(), key.expose()[..12].to_string());
    }

    #[test]
    fn the_authorization_parser_never_panics_and_round_trips(value in "\\PC{0,100}") {
        if let Ok(token) = parse_bearer(&value) {
            prop_assert!(value.len() > 7 && value[..7].eq_ignore_ascii_case("Bearer "), "{value:?}");
            prop_assert_eq!(&value[7..], token);
            prop_assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
        }
    }

    #[test]
    fn every_visible_ascii_token_is_accepted_after_bearer(token in "[!-~]{1,120}") {
        let header = format!("Bearer {token}");
        prop_assert_eq!(parse_bearer(&header), Ok(token.as_str()));
    }

    #[test]
    fn key_names_are_trimmed_bounded_and_stable(raw in "\\PC{0,80}|[ \\t\\n\\u{202E}a-z]{0,70}") {
        if let Ok(name) = key_name::normalize(&raw) {
            let chars = name.chars().count();
            prop_assert!((1..=64).contains(&chars));
            prop_assert_eq!(name.trim(), name.as_str());
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert_eq!(key_name::normalize(&name), Ok(name.clone()), "normalising twice changes nothing");
        }
    }

    #[test]
    fn idempotency_keys_are_1_to_255_printable(value in "\\PC{0,300}") {
        if let Ok(v) = idempotency::parse(&value) {
            prop_assert!((1..=255).contains(&v.len()));
            prop_assert!(v.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        }
    }

    #[test]
    fn ids_parse_only_what_they_print(raw in "\\PC{0,40}|key_[0-9A-Z]{26}") {
        if let Some(id) = KeyId::parse(&raw) {
            prop_assert_eq!(id.as_str(), raw.as_str());
        }
        if let Some(account) = AccountId::parse(&raw) {
            prop_assert_eq!(account.as_str(), raw.as_str());
        }
    }

    #[test]
    fn request_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let req = json_request(bytes);
        let _ = request::json_body::<serde_json::Map<String, serde_json::Value>>(&req, "anything");
        let _ = request::json_body::<serde_json::Value>(&req, "anything");
    }

    #[test]
    fn an_accepted_name_round_trips_through_the_request_body(name in "[a-zA-Z0-9 _.\\-\\u{00e9}\\u{4e2d}]{1,64}") {
        #[derive(serde::Deserialize)]
        struct Body { name: String }
        let req = json_request(serde_json::to_vec(&serde_json::json!({"name": name})).unwrap());
        let body: Body = request::json_body(&req, "name").unwrap().unwrap();
        prop_assert_eq!(&body.name, &name);
        if let Ok(normalized) = key_name::normalize(&body.name) {
            prop_assert_eq!(normalized, name.trim().to_string());
        }
    }
}
