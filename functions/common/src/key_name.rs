//! The human name of an API key ("Production", "Development").

use serde::{Deserialize, Serialize};

pub const MAX_CHARS: usize = 64;

/// A name that passed [`normalize`]: the only kind the store is given or gives back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(raw: &str) -> Result<Self, KeyNameError> {
        normalize(raw).map(KeyName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyName {
    type Error = KeyNameError;
    fn try_from(raw: String) -> Result<Self, KeyNameError> {
        KeyName::parse(&raw)
    }
}

impl From<KeyName> for String {
    fn from(name: KeyName) -> String {
        name.0
    }
}

impl std::fmt::Display for KeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyNameError {
    #[error("name must not be empty")]
    Empty,
    #[error("name must be at most 64 characters")]
    TooLong,
    #[error("name must not contain control or bidirectional-override characters")]
    ForbiddenCharacter,
}

/// Trims the name and checks it: 1–64 characters, none of them control characters or the
/// Unicode bidi controls that can make a name display as something it is not.
pub fn normalize(raw: &str) -> Result<String, KeyNameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(KeyNameError::Empty);
    }
    if name.chars().count() > MAX_CHARS {
        return Err(KeyNameError::TooLong);
    }
    if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(KeyNameError::ForbiddenCharacter);
    }
    Ok(name.to_string())
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_ordinary_names() {
        assert_eq!(normalize("  Production ").unwrap(), "Production");
        assert_eq!(normalize("Entwicklung – 開発").unwrap(), "Entwicklung – 開発");
        assert_eq!(normalize(&"é".repeat(64)).unwrap().chars().count(), 64);
    }

    #[test]
    fn rejects_empty_long_and_hidden_characters() {
        assert_eq!(normalize("   "), Err(KeyNameError::Empty));
        assert_eq!(normalize(&"a".repeat(65)), Err(KeyNameError::TooLong));
        assert_eq!(normalize("a\u{0007}b"), Err(KeyNameError::ForbiddenCharacter));
        assert_eq!(normalize("prod\nuction"), Err(KeyNameError::ForbiddenCharacter));
        assert_eq!(
            normalize("abc\u{202E}gpj.exe"),
            Err(KeyNameError::ForbiddenCharacter)
        );
    }

    #[test]
    fn a_parsed_name_reads_back_as_its_trimmed_text_every_way() {
        let name = KeyName::parse("  Staging 2 ").unwrap();
        assert_eq!(name.as_str(), "Staging 2");
        assert_eq!(name.to_string(), "Staging 2", "Display");
        assert_eq!(String::from(name.clone()), "Staging 2");
        // What the store writes and reads back: a JSON string, checked again on the way in.
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""Staging 2""#);
        assert_eq!(serde_json::from_str::<KeyName>(r#"" Staging 2""#).unwrap(), name);
        assert!(serde_json::from_str::<KeyName>(r#""a\u0007b""#).is_err());
    }
}
