//! DynamoDB for the tests: a client for the local DynamoDB-protocol server that `make test`
//! starts (moto), a fresh table per test, and a counter of the calls the store makes.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use common::api_key::KeyHash;
use common::ids::{AccountId, KeyId};
use common::store::dynamodb::DynamoStore;
use common::store::*;
use std::sync::{Arc, Mutex};
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
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

/// Every DynamoDB request attempt (including SDK retries), by operation name, in order.
#[derive(Clone, Debug, Default)]
pub struct CallCounter(Arc<Mutex<Vec<String>>>);

impl CallCounter {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_attempt(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.lock().unwrap().push(operation_of(context.request()));
        Ok(())
    }
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

/// The DynamoDB store on `client` and `table`, its ledger and audit reads [`Settled`].
pub fn settled(client: Client, table: impl Into<String>, free_credits: u64) -> Arc<dyn Store> {
    Arc::new(Settled(Arc::new(DynamoStore::new(client, table, free_credits))))
}

/// A DynamoDB store whose ledger and audit reads wait (up to 10 s) until the stream has
/// delivered every balance change of the account, as an operator would before checking.
pub struct Settled(pub Arc<dyn Store>);

impl Settled {
    async fn caught_up(&self, account: &AccountId) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let changes = self.0.balance(account).await.unwrap().map_or(0, |b| b.changes);
            let entries = self.0.ledger(account).await.unwrap().len() as u64;
            if entries >= changes {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the ledger of {account} is still {} entries behind after 10 s",
                changes - entries
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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
        hash: &KeyHash,
        leak: Leak,
        at: OffsetDateTime,
        origin: Origin,
    ) -> Result<LeakRevocation, StoreError> {
        self.0.revoke_leaked(hash, leak, at, origin).await
    }
    async fn resolve_key(&self, hash: &KeyHash) -> Result<Option<ResolvedKey>, StoreError> {
        self.0.resolve_key(hash).await
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

/// Where a fault strikes: the `occurrence`-th call (1-based) of `operation`, either before the
/// request is sent (nothing reaches the server) or after the server answered (it applied the
/// request, but the response is lost on the way back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub operation: &'static str,
    pub occurrence: usize,
    pub response_lost: bool,
}

#[derive(Debug, Default)]
struct FaultState {
    plan: Option<Fault>,
    seen: std::collections::HashMap<String, usize>,
    lose_this_response: bool,
    fired: bool,
}

/// Injects one [`Fault`] into a client's requests.
#[derive(Clone, Debug, Default)]
pub struct FaultInjector(Arc<Mutex<FaultState>>);

impl FaultInjector {
    pub fn arm(&self, fault: Fault) {
        let mut state = self.0.lock().unwrap();
        *state = FaultState {
            plan: Some(fault),
            ..FaultState::default()
        };
    }

    pub fn disarm(&self) {
        self.0.lock().unwrap().plan = None;
    }

    pub fn fired(&self) -> bool {
        self.0.lock().unwrap().fired
    }
}

/// DynamoDB's JSON protocol names the operation in a header: `DynamoDB_20120810.GetItem`.
pub(crate) fn operation_of(request: &aws_sdk_dynamodb::config::http::HttpRequest) -> String {
    let target = request.headers().get("x-amz-target").unwrap_or("unknown");
    target.rsplit('.').next().unwrap_or(target).to_string()
}

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "FaultInjector"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let operation = operation_of(context.request());
        let mut state = self.0.lock().unwrap();
        let seen = state.seen.entry(operation.clone()).or_default();
        *seen += 1;
        let nth = *seen;
        let Some(plan) = state.plan else { return Ok(()) };
        if plan.operation != operation || plan.occurrence != nth {
            return Ok(());
        }
        state.fired = true;
        if plan.response_lost {
            state.lose_this_response = true;
            Ok(())
        } else {
            Err("injected fault: request never sent".into())
        }
    }

    fn read_after_transmit(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut state = self.0.lock().unwrap();
        if std::mem::take(&mut state.lose_this_response) {
            return Err("injected fault: response lost after the server applied the request".into());
        }
        Ok(())
    }
}

/// A client with a fault injector (and a call counter) on the test server.
pub fn faulty_client(injector: FaultInjector, counter: CallCounter) -> Client {
    Client::from_conf(
        config_at(&endpoint())
            .interceptor(counter)
            .interceptor(injector)
            .build(),
    )
}

/// Makes DynamoDB answer a call with a service error it did not really raise: the matching
/// requests are turned into a harmless `ListTables` before they leave (so the server changes
/// nothing), and their responses are replaced by the canned error. Fires on `times` consecutive
/// calls of `operation`, starting with the `occurrence`-th.
#[derive(Clone, Debug, Default)]
pub struct ErrorInjector(Arc<Mutex<ErrorState>>);

#[derive(Debug, Default)]
struct ErrorState {
    plan: Option<ErrorPlan>,
    seen: usize,
    fired: usize,
    replace_next: bool,
}

#[derive(Clone, Debug)]
struct ErrorPlan {
    operation: &'static str,
    occurrence: usize,
    times: usize,
    body: String,
    status: u16,
    /// Let the request reach the server (it is applied) and replace only the answer.
    applied: bool,
}

impl ErrorInjector {
    /// `error_type` is DynamoDB's exception name; `cancellation_reasons` the codes of a
    /// `TransactionCanceledException`, item by item.
    pub fn arm(
        &self,
        operation: &'static str,
        occurrence: usize,
        times: usize,
        error_type: &str,
        cancellation_reasons: &[&str],
    ) {
        let mut body = serde_json::json!({
            "__type": format!("com.amazonaws.dynamodb.v20120810#{error_type}"),
            "message": format!("injected {error_type}"),
        });
        if !cancellation_reasons.is_empty() {
            body["CancellationReasons"] = cancellation_reasons
                .iter()
                .map(|code| serde_json::json!({"Code": code}))
                .collect();
        }
        let plan = ErrorPlan {
            operation,
            occurrence,
            times,
            body: body.to_string(),
            status: 400,
            applied: false,
        };
        *self.0.lock().unwrap() = ErrorState {
            plan: Some(plan),
            ..ErrorState::default()
        };
    }

    /// The `occurrence`-th call of `operation` reaches the server and is applied, but its answer
    /// is replaced by a retryable `500 InternalServerError`, so the SDK's own retry sends the
    /// same request again — the path where a missing guard would apply it twice.
    pub fn arm_applied_then_500(&self, operation: &'static str, occurrence: usize) {
        let body = serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "injected"});
        let plan = ErrorPlan {
            operation,
            occurrence,
            times: 1,
            body: body.to_string(),
            status: 500,
            applied: true,
        };
        *self.0.lock().unwrap() = ErrorState {
            plan: Some(plan),
            ..ErrorState::default()
        };
    }

    pub fn disarm(&self) {
        self.0.lock().unwrap().plan = None;
    }

    /// How many responses were replaced.
    pub fn fired(&self) -> usize {
        self.0.lock().unwrap().fired
    }
}

impl Intercept for ErrorInjector {
    fn name(&self) -> &'static str {
        "ErrorInjector"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut state = self.0.lock().unwrap();
        let Some(plan) = state.plan.clone() else {
            return Ok(());
        };
        if operation_of(context.request()) != plan.operation {
            return Ok(());
        }
        state.seen += 1;
        if state.seen < plan.occurrence || state.seen >= plan.occurrence + plan.times {
            return Ok(());
        }
        state.replace_next = true;
        if plan.applied {
            return Ok(());
        }
        let request = context.request_mut();
        request
            .headers_mut()
            .insert("x-amz-target", "DynamoDB_20120810.ListTables");
        request.headers_mut().insert("content-length", "2");
        *request.body_mut() = aws_smithy_types::body::SdkBody::from("{}");
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut state = self.0.lock().unwrap();
        if !std::mem::take(&mut state.replace_next) {
            return Ok(());
        }
        // Disarmed since the request left (its caller gave up on it): answer as the server did.
        let Some((body, status)) = state.plan.as_ref().map(|p| (p.body.clone(), p.status)) else {
            return Ok(());
        };
        state.fired += 1;
        let mut response = aws_sdk_dynamodb::config::http::HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("valid status"),
            aws_smithy_types::body::SdkBody::from(body),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        *context.response_mut() = response;
        Ok(())
    }
}

/// A client on the test server that answers with the errors `errors` is armed with.
pub fn erring_client(errors: ErrorInjector, counter: CallCounter) -> Client {
    Client::from_conf(
        config_at(&endpoint())
            .interceptor(counter)
            .interceptor(errors)
            .build(),
    )
}

/// Makes DynamoDB process only part of a batch, as it does under load: the first `times`
/// `BatchWriteItem` and `BatchGetItem` calls of more than one item send only the first half, and
/// answer the rest as `UnprocessedItems` / `UnprocessedKeys`, exactly as the caller asked for them.
/// (moto always processes whole batches, so the callers' loops that ask again never ran.)
#[derive(Clone, Debug)]
pub struct HalfProcessed(Arc<Mutex<HalfState>>);

#[derive(Debug)]
struct HalfState {
    left: usize,
    /// Items and keys handed back as unprocessed, over all calls.
    handed_back: usize,
}

/// What one call held back, carried from its request to its answer in the call's own bag.
#[derive(Clone, Debug)]
enum HeldBack {
    Writes(String, Vec<aws_sdk_dynamodb::types::WriteRequest>),
    Reads(String, aws_sdk_dynamodb::types::KeysAndAttributes),
}

impl aws_smithy_types::config_bag::Storable for HeldBack {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl HalfProcessed {
    pub fn new(times: usize) -> Self {
        HalfProcessed(Arc::new(Mutex::new(HalfState {
            left: times,
            handed_back: 0,
        })))
    }

    /// How many items and keys were handed back as unprocessed.
    pub fn handed_back(&self) -> usize {
        self.0.lock().unwrap().handed_back
    }

    /// Takes the second half of `all`, if this call is one to halve.
    fn hold_back<T>(&self, all: &mut Vec<T>) -> Option<Vec<T>> {
        let mut state = self.0.lock().unwrap();
        if state.left == 0 || all.len() < 2 {
            return None;
        }
        state.left -= 1;
        let rest = all.split_off(all.len().div_ceil(2));
        state.handed_back += rest.len();
        Some(rest)
    }
}

impl Intercept for HalfProcessed {
    fn name(&self) -> &'static str {
        "HalfProcessed"
    }

    fn modify_before_serialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        use aws_sdk_dynamodb::operation::{
            batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput,
        };
        let input = context.input_mut();
        let held = if let Some(write) = input.downcast_mut::<BatchWriteItemInput>() {
            let (table, requests) = write
                .request_items
                .as_mut()
                .and_then(|r| r.iter_mut().next())
                .ok_or("no items")?;
            self.hold_back(requests)
                .map(|rest| HeldBack::Writes(table.clone(), rest))
        } else if let Some(read) = input.downcast_mut::<BatchGetItemInput>() {
            let (table, wanted) = read
                .request_items
                .as_mut()
                .and_then(|r| r.iter_mut().next())
                .ok_or("no keys")?;
            let mut keys = wanted.keys.clone();
            self.hold_back(&mut keys).map(|rest| {
                let mut unprocessed = wanted.clone();
                unprocessed.keys = rest;
                wanted.keys = keys;
                HeldBack::Reads(table.clone(), unprocessed)
            })
        } else {
            None
        };
        if let Some(held) = held {
            cfg.interceptor_state().store_put(held);
        }
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        use aws_sdk_dynamodb::operation::{
            batch_get_item::BatchGetItemOutput, batch_write_item::BatchWriteItemOutput,
        };
        let Some(held) = cfg.load::<HeldBack>().cloned() else {
            return Ok(());
        };
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        match held {
            HeldBack::Writes(table, rest) => {
                let output = output
                    .downcast_mut::<BatchWriteItemOutput>()
                    .ok_or("not a BatchWriteItem answer")?;
                output
                    .unprocessed_items
                    .get_or_insert_default()
                    .entry(table)
                    .or_default()
                    .extend(rest);
            }
            HeldBack::Reads(table, rest) => {
                let output = output
                    .downcast_mut::<BatchGetItemOutput>()
                    .ok_or("not a BatchGetItem answer")?;
                output
                    .unprocessed_keys
                    .get_or_insert_default()
                    .insert(table, rest);
            }
        }
        Ok(())
    }
}

/// A client on the test server whose batches are [`HalfProcessed`].
pub fn half_processing_client(half: HalfProcessed, counter: CallCounter) -> Client {
    Client::from_conf(
        config_at(&endpoint())
            .interceptor(counter)
            .interceptor(half)
            .build(),
    )
}

/// Holds every `TransactWriteItems` until `readers` `GetItem` answers have arrived since it was
/// armed (at most 10 s): racers that each read and then write all read before any of them
/// writes, so a stale read is certain and only the write's own condition can refuse. It blocks
/// the sending thread (`block_in_place`), so it needs a multi-threaded runtime.
#[derive(Clone, Debug, Default)]
pub struct ReadsFirst(Arc<(Mutex<Option<usize>>, std::sync::Condvar)>);

/// Marks a call as a `GetItem`, from its request to its answer.
#[derive(Clone, Copy, Debug)]
struct ARead;

impl aws_smithy_types::config_bag::Storable for ARead {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl ReadsFirst {
    /// From now on, writes wait until `readers` reads have been answered.
    pub fn arm(&self, readers: usize) {
        *self.0.0.lock().unwrap() = Some(readers);
    }
}

impl Intercept for ReadsFirst {
    fn name(&self) -> &'static str {
        "ReadsFirst"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        match operation_of(context.request()).as_str() {
            "TransactWriteItems" => {}
            "GetItem" => {
                cfg.interceptor_state().store_put(ARead);
                return Ok(());
            }
            _ => return Ok(()),
        }
        let (waiting, answered) = &*self.0;
        // block_in_place: the worker's other tasks (the racers' reads among them) move on to
        // another thread while this one waits.
        let (reads, timeout) = tokio::task::block_in_place(|| {
            answered
                .wait_timeout_while(
                    waiting.lock().unwrap(),
                    std::time::Duration::from_secs(10),
                    |left| left.is_some_and(|n| n > 0),
                )
                .unwrap()
        });
        if timeout.timed_out() {
            return Err(format!("ReadsFirst: still waiting for {reads:?} reads after 10 s").into());
        }
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let is_read = cfg.load::<ARead>().is_some();
        let (waiting, answered) = &*self.0;
        let mut left = waiting.lock().unwrap();
        if is_read && let Some(n) = left.as_mut() {
            *n = n.saturating_sub(1);
            answered.notify_all();
        }
        Ok(())
    }
}
