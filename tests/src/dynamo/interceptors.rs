//! SDK interceptors that make the local DynamoDB server behave as DynamoDB does under faults and
//! load, which moto never does by itself: requests counted, faults injected before or after the
//! server applied a request, canned service errors, batches half processed, reads ordered
//! before writes.

use super::{config_at, endpoint};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use std::sync::{Arc, Mutex};

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
            self.hold_back(&mut wanted.keys).map(|rest| {
                let mut unprocessed = wanted.clone();
                unprocessed.keys = rest;
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

/// Holds every `TransactWriteItems` until `readers` `UpdateItem` answers have arrived since it
/// was armed (at most 10 s): key writers that each take a slot (one `UpdateItem`, which also
/// reads the account's room) and then write all take theirs before any of them writes, so a
/// stale view of the room is certain and only the write's own condition can refuse. It blocks
/// the sending thread (`block_in_place`), so it needs a multi-threaded runtime.
#[derive(Clone, Debug, Default)]
pub struct ReadsFirst(Arc<(Mutex<Option<usize>>, std::sync::Condvar)>);

/// Marks a call as an `UpdateItem` (the slot a key writer takes), from its request to its
/// answer.
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
            "UpdateItem" => {
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

/// The most `TransactWriteItems` in flight at once that write one account (by the `ACCOUNT#`
/// keys in their bodies), per account: what shows whether a caller lets transactions race on
/// one account item. Measured at the client, so it holds even though the local server answers
/// one request at a time.
#[derive(Clone, Debug, Default)]
pub struct TransactionsInFlight(Arc<Mutex<InFlight>>);

#[derive(Debug, Default)]
struct InFlight {
    now: std::collections::HashMap<String, usize>,
    most: std::collections::HashMap<String, usize>,
}

impl TransactionsInFlight {
    /// Account id → the most of its transactions in flight at once.
    pub fn most(&self) -> std::collections::HashMap<String, usize> {
        self.0.lock().unwrap().most.clone()
    }

    fn accounts(request: &aws_sdk_dynamodb::config::http::HttpRequest) -> std::collections::BTreeSet<String> {
        let body = std::str::from_utf8(request.body().bytes().unwrap_or_default()).unwrap_or("");
        body.split("ACCOUNT#")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect()
    }
}

impl Intercept for TransactionsInFlight {
    fn name(&self) -> &'static str {
        "TransactionsInFlight"
    }

    fn read_before_attempt(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if operation_of(context.request()) == "TransactWriteItems" {
            let accounts = Self::accounts(context.request());
            let mut state = self.0.lock().unwrap();
            for account in &accounts {
                let now = state.now.entry(account.clone()).or_default();
                *now += 1;
                let now = *now;
                let most = state.most.entry(account.clone()).or_default();
                *most = (*most).max(now);
            }
            // The attempt's accounts, for its end (the request is gone by then).
            cfg.interceptor_state().store_put(Watched(accounts));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(Watched(accounts)) = cfg.load::<Watched>() {
            let mut state = self.0.lock().unwrap();
            for account in accounts {
                if let Some(now) = state.now.get_mut(account) {
                    *now = now.saturating_sub(1);
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Watched(std::collections::BTreeSet<String>);

impl aws_smithy_types::config_bag::Storable for Watched {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// A client whose transactions are watched by `watch`.
pub fn watched_client(watch: TransactionsInFlight) -> Client {
    Client::from_conf(config_at(&endpoint()).interceptor(watch).build())
}

/// A hook run once, from whichever request reaches it first.
type Hook = Arc<Mutex<Option<Box<dyn FnOnce() + Send>>>>;

/// Runs a hook once, just before the first `operation` request whose body names `marker` is
/// sent, holding that request until the hook is done: something that happens "between" two of
/// the caller's requests, every time. The hook blocks the sending thread (`block_in_place`),
/// so it needs a multi-threaded runtime; it may drive async work with `Handle::block_on`.
#[derive(Clone)]
pub struct BeforeRequest {
    operation: &'static str,
    marker: &'static str,
    hook: Hook,
}

impl BeforeRequest {
    pub fn new(operation: &'static str, marker: &'static str, hook: impl FnOnce() + Send + 'static) -> Self {
        BeforeRequest {
            operation,
            marker,
            hook: Arc::new(Mutex::new(Some(Box::new(hook)))),
        }
    }

    /// Whether the hook has run.
    pub fn ran(&self) -> bool {
        self.hook.lock().unwrap().is_none()
    }
}

impl std::fmt::Debug for BeforeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BeforeRequest({} naming {})", self.operation, self.marker)
    }
}

impl Intercept for BeforeRequest {
    fn name(&self) -> &'static str {
        "BeforeRequest"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if operation_of(context.request()) != self.operation {
            return Ok(());
        }
        let names_marker = context
            .request()
            .body()
            .bytes()
            .is_some_and(|b| String::from_utf8_lossy(b).contains(self.marker));
        if !names_marker {
            return Ok(());
        }
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            tokio::task::block_in_place(hook);
        }
        Ok(())
    }
}
