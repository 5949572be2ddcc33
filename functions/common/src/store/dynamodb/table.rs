//! The table definition, shared by the template check, local runs and tests.
//!
//! `infra/table.json` is the one source: `template.yaml` declares the same properties (a test
//! compares them), and [`create_table`] builds exactly that table on a local server.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TimeToLiveSpecification,
};
use serde::Deserialize;

pub const TABLE_JSON: &str = include_str!("../../../../../infra/table.json");

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    pub billing_mode: String,
    pub attribute_definitions: Vec<Attribute>,
    pub key_schema: Vec<KeyElement>,
    pub time_to_live_specification: Ttl,
    pub stream_specification: Stream,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stream {
    pub stream_view_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attribute {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ttl {
    pub attribute_name: String,
    pub enabled: bool,
}

pub fn definition() -> TableDefinition {
    serde_json::from_str(TABLE_JSON).expect("infra/table.json is valid")
}

/// Creates the table (and turns on TTL) unless it exists. For local servers and tests; in AWS the
/// template owns the table.
pub async fn create_table(client: &Client, name: &str) -> Result<bool, String> {
    let def = definition();
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(def.billing_mode.as_str()))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(
                    def.stream_specification.stream_view_type.as_str(),
                ))
                .build()
                .map_err(|e| e.to_string())?,
        );
    for a in &def.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for k in &def.key_schema {
        request = request.key_schema(
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(false);
        }
        Err(e) => {
            return Err(format!(
                "create table {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            ));
        }
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(&def.time_to_live_specification.attribute_name)
                .enabled(def.time_to_live_specification.enabled)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| {
            format!(
                "enable TTL on {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        })?;
    Ok(true)
}
