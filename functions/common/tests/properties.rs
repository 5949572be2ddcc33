//! Property tests for everything that parses outside input: each parser accepts exactly what its
//! rule (restated here, independently of the code) allows, and what it accepts round-trips.

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
    fn the_key_format_check_accepts_exactly_the_format(s in "\\PC{0,80}|vp_(live|test|tset)_[0-9a-fA-F]{60,68}") {
        let expected = s.len() == 72
            && (s.starts_with("vp_live_") || s.starts_with("vp_test_"))
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
    fn generated_keys_are_always_well_formed(test in any::<bool>()) {
        use common::api_key::KeyMode;
        let mode = if test { KeyMode::Test } else { KeyMode::Live };
        let key = PlaintextKey::generate(mode);
        prop_assert_eq!(key.mode(), mode);
        prop_assert!(common::api_key::has_valid_checksum(key.expose()));
        prop_assert!(is_well_formed(key.expose()));
        prop_assert_eq!(key.display_prefix(), key.expose()[..12].to_string());
    }

    #[test]
    fn the_authorization_parser_accepts_exactly_bearer_and_one_visible_ascii_token(value in "\\PC{0,100}|(?i:bearer) [!-~ ]{0,20}") {
        // The spec, written independently of the parser: "Bearer" in any case, one space, then
        // one or more visible ASCII characters (no further spaces).
        let expected = value.split_once(' ').and_then(|(scheme, token)| {
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()))
                .then_some(token)
        });
        prop_assert_eq!(parse_bearer(&value).ok(), expected, "{:?}", value);
    }

    #[test]
    fn every_visible_ascii_token_is_accepted_after_bearer(token in "[!-~]{1,120}") {
        let header = format!("Bearer {token}");
        prop_assert_eq!(parse_bearer(&header), Ok(token.as_str()));
    }

    #[test]
    fn key_names_are_accepted_exactly_when_trimmed_they_are_1_to_64_visible_characters(raw in "\\PC{0,80}|[ \\t\\n\\u{202E}\\u{0007}a-z]{0,70}") {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        let hidden = |c: char| c.is_control() || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        let expected = if chars == 0 {
            Err(key_name::KeyNameError::Empty)
        } else if chars > 64 {
            Err(key_name::KeyNameError::TooLong)
        } else if trimmed.chars().any(hidden) {
            Err(key_name::KeyNameError::ForbiddenCharacter)
        } else {
            Ok(trimmed.to_string())
        };
        prop_assert_eq!(key_name::normalize(&raw), expected.clone());
        if let Ok(name) = expected {
            prop_assert_eq!(key_name::normalize(&name), Ok(name.clone()), "normalising twice changes nothing");
        }
    }

    #[test]
    fn idempotency_keys_are_accepted_exactly_when_1_to_255_printable_ascii_not_all_blank(value in "\\PC{0,300}|[ -~]{250,260}| {1,5}") {
        let expected = (1..=255).contains(&value.len())
            && value.bytes().all(|b| (0x20..=0x7e).contains(&b))
            && value.bytes().any(|b| b != b' ');
        prop_assert_eq!(idempotency::parse(&value).is_ok(), expected, "{:?}", value);
        if expected {
            prop_assert_eq!(idempotency::parse(&value), Ok(value.as_str()));
        }
    }

    #[test]
    fn ids_parse_exactly_their_documented_shapes(raw in "\\PC{0,40}|key_[0-9A-Z]{26}|[a-z0-9_.:@|+-]{1,20}") {
        // A key id: `key_` and a canonical ULID (Crockford base32, upper case, first digit 0-7).
        let ulid = raw.strip_prefix("key_").filter(|u| {
            u.len() == 26
                && u.bytes().all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
                && u.as_bytes()[0] <= b'7'
        });
        prop_assert_eq!(KeyId::parse(&raw).map(|id| id.as_str().to_string()), ulid.map(|_| raw.clone()));
        // An account id: 1-128 of letters, digits and `-_.:@|+`.
        let account_ok = (1..=128).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:@|+".contains(&b));
        prop_assert_eq!(AccountId::parse(&raw).map(|a| a.as_str().to_string()), account_ok.then(|| raw.clone()));
    }

    #[test]
    fn a_json_body_is_taken_exactly_when_it_is_a_json_object(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let req = json_request(bytes.clone());
        let decoded = request::json_body::<serde_json::Map<String, serde_json::Value>>(&req, "an object");
        let blank = bytes.iter().all(u8::is_ascii_whitespace);
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            _ if blank => prop_assert!(matches!(decoded, Ok(None))),
            Ok(serde_json::Value::Object(object)) => prop_assert_eq!(decoded.unwrap(), Some(object)),
            // Not JSON, or JSON that is not an object: a 400, never a panic or a guess.
            _ => prop_assert_eq!(decoded.unwrap_err().status().as_u16(), 400),
        }
    }

    #[test]
    fn any_json_object_is_read_back_whole(object in proptest::collection::btree_map("\\PC{0,8}", "\\PC{0,8}", 0..6)) {
        let body = serde_json::to_vec(&object).unwrap();
        let decoded = request::json_body::<std::collections::BTreeMap<String, String>>(&json_request(body), "an object");
        prop_assert_eq!(decoded.unwrap(), Some(object));
    }

    #[test]
    fn an_accepted_name_round_trips_through_the_request_body(name in "[a-zA-Z0-9 _.\\-\\u{00e9}\\u{4e2d}]{1,64}") {
        #[derive(serde::Deserialize)]
        struct Body { name: String }
        let req = json_request(serde_json::to_vec(&serde_json::json!({"name": name})).unwrap());
        let body: Body = request::json_body(&req, "name").unwrap().unwrap();
        prop_assert_eq!(&body.name, &name);
        let expected = if name.trim().is_empty() { Err(key_name::KeyNameError::Empty) } else { Ok(name.trim().to_string()) };
        prop_assert_eq!(key_name::normalize(&body.name), expected);
    }
}
