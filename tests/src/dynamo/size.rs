//! An item's size as DynamoDB counts it for capacity ("DynamoDB item sizes and formats" in the
//! developer guide): attribute names and values in UTF-8 bytes; a number takes one byte per two
//! significant digits plus one; a list or map three bytes of overhead plus one per element;
//! booleans and nulls one byte. A write costs one write unit per started KiB of the larger of
//! the item before and after it.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// Write units a write of an item of `bytes` costs (outside a transaction).
pub fn write_units(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
        AttributeValue::Ns(items) => items.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(items) => items.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(items) => 3 + items.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        other => panic!("an attribute type this counter does not know: {other:?}"),
    }
}

/// Leading and trailing zeros are trimmed; one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }
    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.into())
    }

    #[test]
    fn names_and_values_count_by_the_documented_rules() {
        // "pk" (2) + "ACCOUNT#a" (9); "credits" (7) + 3 digits → 2 + 1
        let item = HashMap::from([
            ("pk".to_string(), s("ACCOUNT#a")),
            ("credits".to_string(), n("100")),
        ]);
        assert_eq!(item_size(&item), 2 + 9 + 7 + (1 + 1));
        // Zeros at either end are not significant: 1000 is one digit, 0.0120 two.
        assert_eq!(number_size("1000"), 2);
        assert_eq!(number_size("0.0120"), 2);
        assert_eq!(number_size("1234567"), 5);
        // A map: 3 bytes, then each entry's name, value and 1 byte.
        let map = AttributeValue::M(HashMap::from([
            ("ab".to_string(), s("xyz")),
            ("c".to_string(), AttributeValue::Bool(true)),
        ]));
        assert_eq!(value_size(&map), 3 + (2 + 3 + 1) + (1 + 1 + 1));
        assert_eq!(
            value_size(&AttributeValue::L(vec![n("5"), s("é")])),
            3 + (2 + 1) + (2 + 1)
        );
        assert_eq!(value_size(&AttributeValue::M(HashMap::new())), 3, "an empty map");
    }

    #[test]
    fn a_write_costs_a_unit_per_started_kib() {
        assert_eq!(
            (
                write_units(1),
                write_units(1024),
                write_units(1025),
                write_units(2048)
            ),
            (1, 1, 2, 2)
        );
    }
}
