//! `POST /api/v1/keys`: create an API key for the signed-in console account.

use super::{console_account, finish, within_deadline};
use crate::api_key::PlaintextKey;
use crate::error::ApiError;
use crate::ids::KeyId;
use crate::key_name::KeyName;
use crate::request::{json_body, origin};
use crate::response::json_response;
use crate::routes::Route;
use crate::store::{KeyCreation, NewKey};
use crate::{App, clock, routes};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKeyBody {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedKey<'a> {
    success: bool,
    id: &'a str,
    name: &'a str,
    /// The plaintext key: in this response only, never stored or shown again.
    key: &'a str,
    prefix: &'a str,
    created_at: String,
}

const EXPECTED: &str = r#"a JSON object {"name": "<1-64 characters>"}"#;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    finish(&req, within_deadline(app, create_key(app, &req)).await)
}

async fn create_key(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    routes::expect(req, Route::CreateKey)?;
    let account = console_account(app, req).await?;
    let body: CreateKeyBody = json_body(req, EXPECTED)?
        .ok_or_else(|| ApiError::BadRequest(format!("Request body must be {EXPECTED}")))?;
    let name =
        KeyName::parse(&body.name).map_err(|e| ApiError::BadRequest(format!("Invalid key name: {e}")))?;

    let key = PlaintextKey::generate();
    let record = NewKey {
        id: KeyId::generate(),
        account,
        name,
        prefix: key.display_prefix(),
        hash: key.hash(),
        created_at: clock::now(),
    };
    if app.store.create_key(record.clone(), origin(req)).await? == KeyCreation::TooManyKeys {
        return Err(ApiError::TooManyKeys);
    }
    tracing::info!(key_id = %record.id, "api key created");
    Ok(json_response(
        StatusCode::CREATED,
        &CreatedKey {
            success: true,
            id: record.id.as_str(),
            name: record.name.as_str(),
            key: key.expose(),
            prefix: &record.prefix,
            created_at: clock::rfc3339(record.created_at),
        },
    ))
}
