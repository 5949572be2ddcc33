//! The shape of every AWS request, as IAM authorises it.
//!
//! The local DynamoDB server enforces no IAM, so the tests record what each function asks AWS
//! for and `make iam-check` evaluates those shapes against the function's policy in
//! `template.yaml` (`infra/iam/check.mjs`, a real IAM evaluator). A shape holds exactly what
//! IAM sees: the action (each item of a `TransactWriteItems` is authorised as the single-item
//! action it performs), the leading key (`dynamodb:LeadingKeys`), the top-level attribute names
//! the request touches (`dynamodb:Attributes`: key, item, update, condition and projection
//! names), `ReturnValues`, `Select`, and for SSM the parameter names. Ids are replaced by
//! `{id}` so the shapes are stable from run to run; `ConsistentRead` is kept too, because the
//! docs/architecture.md's no-window revocation depends on it.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// One request as IAM sees it. Field order is the order of the committed JSON.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestShape {
    pub function: String,
    pub action: String,
    /// The API call that carried it when that is not `action` itself (`TransactWriteItems`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leading_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_values: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent_read: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
    /// For SQS: the queue, as the template names it (`{"GetAtt": "WebhookQueue.Arn"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<std::collections::BTreeMap<String, String>>,
}

/// Collects the shapes of every request sent through the clients it is attached to, each
/// labelled with the function that made it.
#[derive(Clone, Debug, Default)]
pub struct ShapeRecorder {
    shapes: Arc<Mutex<BTreeSet<RequestShape>>>,
    function: Arc<Mutex<String>>,
}

impl ShapeRecorder {
    /// Labels the requests that follow as made by `function`.
    pub fn acting_as(&self, function: &str) {
        *self.function.lock().unwrap() = function.to_string();
    }

    pub fn add(&self, shape: RequestShape) {
        self.shapes.lock().unwrap().insert(shape);
    }

    pub fn shapes(&self) -> Vec<RequestShape> {
        self.shapes.lock().unwrap().iter().cloned().collect()
    }

    fn function(&self) -> String {
        self.function.lock().unwrap().clone()
    }
}

impl Intercept for ShapeRecorder {
    fn name(&self) -> &'static str {
        "ShapeRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = crate::dynamo::operation_of(request);
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        if let Some(call) = target.strip_prefix("AmazonSQS.") {
            self.add(sqs_shape(&self.function(), call));
            return Ok(());
        }
        if target.starts_with("AmazonSSM.") {
            let names: Vec<String> = body["Names"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect();
            self.add(ssm_shape(&self.function(), &format!("ssm:{operation}"), &names));
            return Ok(());
        }
        for shape in dynamodb_shapes(&self.function(), &operation, &body) {
            self.add(shape);
        }
        Ok(())
    }
}

/// The shape of an SQS call: the functions use one queue, the webhook queue; a batch send is
/// authorised as `sqs:SendMessage`.
pub fn sqs_shape(function: &str, call: &str) -> RequestShape {
    let action = match call {
        "SendMessageBatch" => "sqs:SendMessage".to_string(),
        other => format!("sqs:{other}"),
    };
    RequestShape {
        resource: Some([("GetAtt".to_string(), "WebhookQueue.Arn".to_string())].into()),
        ..empty(function, &action, None)
    }
}

/// The shape of an SSM call (`ssm:GetParameters`) for parameter `names`.
pub fn ssm_shape(function: &str, action: &str, names: &[String]) -> RequestShape {
    let mut parameters = names.to_vec();
    parameters.sort();
    RequestShape {
        parameters,
        ..empty(function, action, None)
    }
}

fn empty(function: &str, action: &str, via: Option<&str>) -> RequestShape {
    RequestShape {
        function: function.to_string(),
        action: action.to_string(),
        via: via.map(str::to_string),
        leading_key: None,
        sort_key: None,
        attributes: Vec::new(),
        return_values: None,
        select: None,
        consistent_read: None,
        parameters: Vec::new(),
        resource: None,
    }
}

/// The IAM view of one DynamoDB JSON-protocol request body.
pub fn dynamodb_shapes(function: &str, operation: &str, body: &Value) -> Vec<RequestShape> {
    if operation == "TransactWriteItems" {
        let items = body["TransactItems"].as_array().cloned().unwrap_or_default();
        return items
            .iter()
            .filter_map(|item| {
                let (kind, inner) = item.as_object()?.iter().next()?;
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    _ => return None,
                };
                Some(single(function, action, Some("TransactWriteItems"), inner))
            })
            .collect();
    }
    if operation == "BatchGetItem" {
        // IAM authorises a batch as BatchGetItem with every item's leading key.
        let tables = body["RequestItems"].as_object().cloned().unwrap_or_default();
        return tables
            .values()
            .flat_map(|request| {
                let keys = request["Keys"].as_array().cloned().unwrap_or_default();
                let consistent = request["ConsistentRead"].clone();
                keys.into_iter()
                    .map(move |key| serde_json::json!({"Key": key, "ConsistentRead": consistent}))
            })
            .map(|item| single(function, operation, None, &item))
            .collect();
    }
    if operation == "BatchWriteItem" {
        // IAM authorises a batch write as BatchWriteItem, item by item (leading key, attributes).
        let tables = body["RequestItems"].as_object().cloned().unwrap_or_default();
        return tables
            .values()
            .flat_map(|requests| requests.as_array().cloned().unwrap_or_default())
            .filter_map(
                |request| match (&request["PutRequest"], &request["DeleteRequest"]) {
                    (put, _) if put.is_object() => Some(serde_json::json!({"Item": put["Item"]})),
                    (_, delete) if delete.is_object() => Some(serde_json::json!({"Key": delete["Key"]})),
                    _ => None,
                },
            )
            .map(|item| single(function, operation, None, &item))
            .collect();
    }
    vec![single(function, operation, None, body)]
}

fn single(function: &str, action: &str, via: Option<&str>, body: &Value) -> RequestShape {
    let names = body["ExpressionAttributeNames"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let resolve = |placeholder: &str| {
        names
            .get(placeholder)
            .and_then(Value::as_str)
            .unwrap_or(placeholder)
            .to_string()
    };
    let mut attributes = BTreeSet::new();
    let mut key_values: Vec<(String, String)> = Vec::new();
    for field in ["Key", "Item"] {
        if let Some(map) = body[field].as_object() {
            for (name, value) in map {
                attributes.insert(name.clone());
                if let Some(s) = value["S"].as_str() {
                    key_values.push((name.clone(), s.to_string()));
                }
            }
        }
    }
    for field in [
        "UpdateExpression",
        "ConditionExpression",
        "ProjectionExpression",
        "KeyConditionExpression",
        "FilterExpression",
    ] {
        if let Some(expression) = body[field].as_str() {
            attributes.extend(
                top_level_names(expression)
                    .into_iter()
                    .map(|n| if n.starts_with('#') { resolve(&n) } else { n }),
            );
        }
    }
    // A query names its partition in the key condition: `pk = :pk`.
    if let Some(condition) = body["KeyConditionExpression"].as_str() {
        let values = &body["ExpressionAttributeValues"];
        for clause in condition.split(" AND ") {
            if let Some((name, placeholder)) = clause.split_once('=') {
                let (name, placeholder) = (name.trim(), placeholder.trim());
                if let Some(s) = values[placeholder]["S"].as_str() {
                    key_values.push((resolve(name), s.to_string()));
                }
            }
        }
        if let Some(s) = values[":prefix"]["S"].as_str() {
            key_values.push(("sk".into(), format!("{s}{{id}}")));
        }
    }
    let key = |name: &str| {
        key_values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| generalise(v))
    };
    RequestShape {
        leading_key: key("pk"),
        sort_key: key("sk"),
        // Usage counters are named by key and hour: as patterns, the shapes stay stable.
        attributes: attributes
            .into_iter()
            .map(|a| counter_pattern(&a))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        return_values: body["ReturnValues"]
            .as_str()
            .filter(|v| *v != "NONE")
            .map(str::to_string),
        select: body["Select"].as_str().map(str::to_string),
        consistent_read: body["ConsistentRead"].as_bool(),
        ..empty(function, &format!("dynamodb:{action}"), via)
    }
}

/// A usage counter's name as a pattern (`s#<key id>#<hour>` → `s#{id}#{hour}`, `g#<hour>` →
/// `g#{hour}`); any other name as it is.
pub(crate) fn counter_pattern(name: &str) -> String {
    let hour = |h: &str| h.len() == 2 && h.bytes().all(|b| b.is_ascii_digit());
    match name.split('#').collect::<Vec<_>>()[..] {
        ["s", key, h] if key.starts_with("key_") && hour(h) => "s#{id}#{hour}".into(),
        ["t", key, h] if key.starts_with("key_") && hour(h) => "t#{id}#{hour}".into(),
        ["g", h] if hour(h) => "g#{hour}".into(),
        _ => name.to_string(),
    }
}

/// `ACCOUNT#acct_1` → `ACCOUNT#{id}`; `LEDGER#01J…` → `LEDGER#{id}`; `ACCOUNT` stays.
fn generalise(value: &str) -> String {
    match value.split_once('#') {
        Some((prefix, _)) => format!("{prefix}#{{id}}"),
        None => value.to_string(),
    }
}

/// The top-level attribute names an expression refers to: the first segment of every path,
/// whether written plainly or as a `#placeholder`; not functions, keywords or `:values`.
pub fn top_level_names(expression: &str) -> Vec<String> {
    const WORDS: &[&str] = &[
        "SET",
        "REMOVE",
        "ADD",
        "DELETE",
        "AND",
        "OR",
        "NOT",
        "BETWEEN",
        "IN",
        "attribute_exists",
        "attribute_not_exists",
        "attribute_type",
        "begins_with",
        "contains",
        "size",
        "if_not_exists",
        "list_append",
    ];
    let chars: Vec<char> = expression.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_name = c == '#' || c == ':' || c.is_ascii_alphabetic() || c == '_';
        if !starts_name {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        let token: String = chars[start..i].iter().collect();
        // A segment after '.' is nested; a ':' token is a value; a word followed by '(' is a function.
        let nested = start > 0 && chars[start - 1] == '.';
        let function_call = chars.get(i) == Some(&'(');
        if nested || c == ':' || function_call || WORDS.iter().any(|w| w.eq_ignore_ascii_case(&token)) {
            continue;
        }
        names.push(token);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_name_their_top_level_attributes_only() {
        assert_eq!(
            top_level_names("SET credits = credits - :amount, pending.#id = :entry, lastUsed.#key = :at"),
            ["credits", "credits", "pending", "lastUsed"]
        );
        assert_eq!(
            top_level_names("credits >= :amount AND attribute_not_exists(pending.#id)"),
            ["credits", "pending"]
        );
        assert_eq!(
            top_level_names("attribute_not_exists(pk) OR #ttl < :now"),
            ["pk", "#ttl"]
        );
        assert_eq!(
            top_level_names("REMOVE pending.#p0, pendingBalances.#p0"),
            ["pending", "pendingBalances"]
        );
    }

    #[test]
    fn a_transaction_is_authorised_item_by_item() {
        let body = serde_json::json!({"TransactItems": [
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "ACCOUNT"}},
                        "UpdateExpression": "SET #d = :x", "ExpressionAttributeNames": {"#d": "deletedAt"}}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "AUDIT#01"}, "at": {"S": "x"}}}}
        ]});
        let shapes = dynamodb_shapes("f", "TransactWriteItems", &body);
        assert_eq!(shapes.len(), 2);
        assert_eq!(shapes[0].action, "dynamodb:UpdateItem");
        assert_eq!(shapes[0].attributes, ["deletedAt", "pk", "sk"]);
        assert_eq!(shapes[0].leading_key.as_deref(), Some("ACCOUNT#{id}"));
        assert_eq!(shapes[1].action, "dynamodb:PutItem");
        assert_eq!(shapes[1].sort_key.as_deref(), Some("AUDIT#{id}"));
        assert_eq!(shapes[1].via.as_deref(), Some("TransactWriteItems"));
    }
}
