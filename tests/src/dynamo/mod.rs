//! DynamoDB for the tests: a client for the local DynamoDB-protocol server that `make test`
//! starts (moto), a fresh table per test, the table's stream, and (in `interceptors`) the SDK
//! interceptors that count calls and inject faults.

mod interceptors;
pub mod size;
pub use interceptors::*;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use common::api_key::KeyHash;
use common::ids::{AccountId, KeyId};
use common::store::dynamodb::DynamoStore;
use common::store::usage::{Usage, UsageQuery};
use common::store::*;
use std::sync::Arc;
use time::OffsetDateTime;

pub const ENDPOINT_VAR: &str = "VP_TEST_DYNAMODB_ENDPOINT";

/// The server's URL. Missing means the tests were not started by `make test`: that is a
/// failure, never a skip.
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!("{ENDPOINT_VAR} is not set: the DynamoDB tests need the local DynamoDB-protocol server that `make test` starts")
    })
}

/// The environment a function needs to reach the test server: region and credentials as Lambda
/// sets them, and the SDK's endpoint variables pointing at the local server.
pub fn sdk_env(table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("VP_TABLE_NAME", table.to_string()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint()),
        ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", endpoint()),
        // The webhook queue, one per table (`vpctl webhooks relay` creates it).
        ("AWS_ENDPOINT_URL_SQS", endpoint()),
        (
            "VP_WEBHOOK_QUEUE_URL",
            format!("{}/123456789012/{table}-webhooks", endpoint()),
        ),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

/// Client configuration for a DynamoDB-protocol server at `url`, with dummy credentials.
pub fn config_at(url: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
}

/// A client for an endpoint where nothing listens: the store is down.
pub fn unreachable_client() -> Client {
    Client::from_conf(config_at(&format!("http://127.0.0.1:{}", crate::server::free_port())).build())
}

pub fn client(counter: Option<CallCounter>) -> Client {
    let mut config = config_at(&endpoint());
    if let Some(counter) = counter {
        config = config.interceptor(counter);
    }
    Client::from_conf(config.build())
}

/// A new, empty table built from infra/table.json, unique to the caller, with the ledger
/// function following its stream for as long as the calling test runs (as in AWS).
pub async fn fresh_table(client: &Client) -> String {
    let name = fresh_table_unfollowed(client).await;
    follow_ledger(&name).await;
    name
}

/// A new table whose stream nobody follows: the ledger stays unwritten until the test
/// delivers the stream itself.
pub async fn fresh_table_unfollowed(client: &Client) -> String {
    let name = format!("vp-test-{}", common::ids::new_ulid().to_string().to_lowercase());
    let created = dynamodb::table::create_table(client, &name)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created, "table names are unique");
    name
}

/// A client for the local server's DynamoDB Streams API.
pub fn streams_client() -> aws_sdk_dynamodbstreams::Client {
    streams_client_at(&endpoint())
}

/// A DynamoDB Streams client for the server at `url`.
pub fn streams_client_at(url: &str) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .build(),
    )
}

/// The table's stream, read from its start, for a test to deliver by hand.
pub async fn stream_of(table: &str) -> common::local_stream::StreamFollower {
    common::local_stream::StreamFollower::open(&client(None), streams_client(), table)
        .await
        .unwrap_or_else(|e| panic!("following {table}'s stream: {e}"))
}

/// Runs the ledger function (in this process, on its own uncounted client) on the table's
/// stream until the calling test's runtime ends.
pub async fn follow_ledger(table: &str) {
    follow_ledger_at(&endpoint(), table).await;
}

/// [`follow_ledger`] on the server at `url`.
pub async fn follow_ledger_at(url: &str, table: &str) {
    let dynamodb = Client::from_conf(config_at(url).build());
    let follower = common::local_stream::StreamFollower::open(&dynamodb, streams_client_at(url), table)
        .await
        .unwrap_or_else(|e| panic!("following {table}'s stream: {e}"));
    let store = Arc::new(DynamoStore::new(dynamodb, table, 0));
    tokio::spawn(follower.run(move |event| {
        let store = store.clone();
        async move { Ok::<_, std::convert::Infallible>(common::ledger_stream::handle(&store, event).await) }
    }));
}

/// An `UpdateItem` on the item `(pk, sk)` of `table` made straight on the local server, behind
/// the API's back: what the tripwire tests tamper with.
pub async fn update_behind_the_apis_back(
    table: &str,
    (pk, sk): (String, String),
    expression: &str,
    values: &[(&str, AttributeValue)],
) {
    let mut update = client(None)
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S(sk))
        .update_expression(expression);
    for (name, value) in values {
        update = update.expression_attribute_values(*name, value.clone());
    }
    update.send().await.unwrap();
}

/// The DynamoDB store on `client` and `table`, its ledger and audit reads [`Settled`].
pub fn settled(client: Client, table: impl Into<String>, free_credits: u64) -> Arc<dyn Store> {
    Arc::new(Settled(Arc::new(DynamoStore::new(client, table, free_credits))))
}

/// A DynamoDB store whose ledger and audit reads wait until the stream has delivered every
/// balance change of the account, as an operator would before checking. The wait is a bound
/// for a stuck ledger function, not a timing claim: the whole dynamodb binary shares one local
/// server, so under its heaviest overlap (two 200-way races in the conformance suite, each
/// followed by the ledger function) catching up can take seconds; each poll is a full ledger
/// read, so it polls every [`POLL`], not faster, to leave the server to the follower.
pub struct Settled(pub Arc<dyn Store>);

/// How long a read waits for the ledger function at the most, and how often it looks.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(30);
const POLL: std::time::Duration = std::time::Duration::from_millis(200);

impl Settled {
    async fn caught_up(&self, account: &AccountId) {
        let deadline = std::time::Instant::now() + CATCH_UP;
        loop {
            let changes = self.0.balance(account).await.unwrap().map_or(0, |b| b.changes);
            let entries = self.0.ledger(account).await.unwrap().len() as u64;
            if entries >= changes {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the ledger of {account} is still {} entries behind after {CATCH_UP:?}",
                changes - entries
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

#[async_trait::async_trait]
impl Store for Settled {
    async fn create_key(&self, key: NewKey, origin: Origin) -> Result<KeyCreation, StoreError> {
        self.0.create_key(key, origin).await
    }
    async fn list_keys(&self, account: &AccountId) -> Result<Vec<KeyRecord>, StoreError> {
        self.0.list_keys(account).await
    }
    async fn roll_key(
        &self,
        old: &KeyId,
        new: NewKey,
        old_expires_at: OffsetDateTime,
        origin: Origin,
    ) -> Result<KeyRoll, StoreError> {
        self.0.roll_key(old, new, old_expires_at, origin).await
    }
    async fn delete_key(
        &self,
        account: &AccountId,
        key: &KeyId,
        at: OffsetDateTime,
        origin: Origin,
    ) -> Result<bool, StoreError> {
        self.0.delete_key(account, key, at, origin).await
    }
    async fn revoke_leaked(
        &self,
        reports: &[ReportedLeak],
        at: OffsetDateTime,
        origin: Origin,
    ) -> Result<Vec<LeakRevocation>, StoreError> {
        self.0.revoke_leaked(reports, at, origin).await
    }
    async fn resolve_key(&self, hash: &KeyHash) -> Result<Option<ResolvedKey>, StoreError> {
        self.0.resolve_key(hash).await
    }
    async fn live_key(&self, key: &ResolvedKey, now: OffsetDateTime) -> Result<Option<LiveKey>, StoreError> {
        self.0.live_key(key, now).await
    }
    async fn debit_session(
        &self,
        key: &ResolvedKey,
        debit: SessionDebit,
        idempotency: Option<IdempotentSession>,
    ) -> Result<DebitOutcome, StoreError> {
        self.0.debit_session(key, debit, idempotency).await
    }
    async fn grant_credits(
        &self,
        account: &AccountId,
        amount: u64,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.0.grant_credits(account, amount, reason, at).await
    }
    async fn balance(&self, account: &AccountId) -> Result<Option<Balance>, StoreError> {
        self.0.balance(account).await
    }
    async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.caught_up(account).await;
        self.0.ledger(account).await
    }
    async fn audit_events(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.caught_up(account).await;
        self.0.audit_events(account, now).await
    }
    async fn credit_events(&self, account: &AccountId) -> Result<Vec<CreditEvent>, StoreError> {
        self.caught_up(account).await;
        self.0.credit_events(account).await
    }
    /// Waits until every change is counted (the counts say they are exact up to `now`, which
    /// they never do while any is left).
    async fn usage(
        &self,
        account: &AccountId,
        query: &UsageQuery,
        now: OffsetDateTime,
    ) -> Result<Usage, StoreError> {
        let deadline = std::time::Instant::now() + CATCH_UP;
        loop {
            let usage = self.0.usage(account, query, now).await?;
            if usage.caught_up_to >= now {
                return Ok(usage);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the usage of {account} is counted only up to {} after {CATCH_UP:?}",
                usage.caught_up_to
            );
            tokio::time::sleep(POLL).await;
        }
    }
    async fn audit_page(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        // Not waited for: a page is read as the console reads it, whatever the ledger
        // function has written so far (the IAM rig reads one with no follower at all).
        self.0.audit_page(account, now, before, limit).await
    }
    async fn create_webhook(
        &self,
        hook: webhooks::NewWebhook,
    ) -> Result<webhooks::WebhookCreation, StoreError> {
        self.0.create_webhook(hook).await
    }
    async fn list_webhooks(&self, account: &AccountId) -> Result<Vec<webhooks::WebhookRecord>, StoreError> {
        self.0.list_webhooks(account).await
    }
    async fn delete_webhook(
        &self,
        account: &AccountId,
        id: &common::ids::WebhookId,
    ) -> Result<bool, StoreError> {
        self.0.delete_webhook(account, id).await
    }
    async fn set_low_credit_threshold(
        &self,
        account: &AccountId,
        threshold: u64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.0.set_low_credit_threshold(account, threshold, at).await
    }
    async fn deliveries(
        &self,
        account: &AccountId,
        id: &common::ids::WebhookId,
        now: OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<webhooks::DeliveryAttempt>, StoreError> {
        self.0.deliveries(account, id, now, before, limit).await
    }
}

#[async_trait::async_trait]
impl webhooks::DeliveryStore for Settled {
    async fn webhook_secret(
        &self,
        account: &AccountId,
        id: &common::ids::WebhookId,
    ) -> Result<Option<(webhooks::WebhookRecord, String)>, StoreError> {
        self.0.webhook_secret(account, id).await
    }

    async fn record_delivery(
        &self,
        account: &AccountId,
        attempt: &webhooks::DeliveryAttempt,
    ) -> Result<(), StoreError> {
        self.0.record_delivery(account, attempt).await
    }

    async fn set_webhook_failing(
        &self,
        account: &AccountId,
        id: &common::ids::WebhookId,
        since: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        self.0.set_webhook_failing(account, id, since).await
    }
}

/// SQS on the same local server: a client (its requests recorded by `interceptor`, if given)
/// and a fresh queue's URL.
pub async fn sqs_queue(interceptor: Option<crate::iam::ShapeRecorder>) -> (aws_sdk_sqs::Client, String) {
    let mut config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"));
    if let Some(recorder) = interceptor {
        config = config.interceptor(recorder);
    }
    let client = aws_sdk_sqs::Client::from_conf(config.build());
    let name = format!(
        "vp-test-hooks-{}",
        common::ids::new_ulid().to_string().to_lowercase()
    );
    let url = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create a queue on the local server")
        .queue_url
        .expect("its URL");
    (client, url)
}

/// An SSM client for the same local server (moto serves every AWS protocol on one port).
pub fn ssm_client() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(ssm_config().build())
}

/// Stores `value` as a SecureString parameter `name` on the test server.
pub async fn put_secure_parameter(client: &aws_sdk_ssm::Client, name: &str, value: &str) {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

/// SSM client configuration for the test server, to add interceptors to.
pub fn ssm_config() -> aws_sdk_ssm::config::Builder {
    aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
}
