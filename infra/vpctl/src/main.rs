//! `vpctl`: the operator's command line for VisionPipe.
//!
//! It reads the same configuration as the functions (`VP_*` variables, same defaults), so run
//! from the repository root it works on the very store and keys `make dev` serves.

use clap::{Args, Parser, Subcommand};
use common::config::StoreConfig;
use common::ids::AccountId;
use common::playground::PlaygroundSigner;
use common::startup::Startup;
use common::store::Store;
use common::{clock, console_auth};
use std::process::ExitCode;

mod relay;
mod webhook_relay;

#[derive(Parser)]
#[command(
    name = "vpctl",
    version,
    about = "VisionPipe operator CLI (uses the same VP_* configuration as the functions)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a console token for an account (what the Cloud Console's sign-in would issue).
    Token {
        #[command(flatten)]
        account: AccountArg,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..=86_400))]
        ttl_seconds: i64,
    },
    /// Print the console page's URL signed in as an account (the token rides in the URL
    /// fragment, which the browser never sends to a server).
    Console {
        #[command(flatten)]
        account: AccountArg,
        /// Where `make dev` (or a deployed stack) serves the API.
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        url: String,
        /// Token lifetime in seconds.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..=86_400))]
        ttl_seconds: i64,
    },
    /// Grant, show or verify an account's credits.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// API keys, offline.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Audit trail exports.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the account's low-credit events (credits.low, credits.exhausted) as JSON lines,
    /// oldest first: what the event bus carries in AWS.
    Events {
        #[command(flatten)]
        account: AccountArg,
    },
    /// Stand in for GitHub's secret scanning locally.
    #[command(subcommand)]
    SecretScanning(SecretScanningCommand),
    /// Print the JWKS that verifies playground session tokens.
    Jwks,
    /// DynamoDB table housekeeping (local servers; in AWS the SAM template owns the table).
    #[command(subcommand)]
    Table(TableCommand),
    /// The table's stream (local servers; in AWS Lambda's event source mapping reads it).
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Webhook deliveries (local runs; in AWS Lambda's SQS event source mapping runs them).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Hand queued webhook jobs (the embedded store's outbox, or the local SQS queue named by
    /// VP_WEBHOOK_QUEUE_URL) to the sender function served by `cargo lambda watch`, as the SQS
    /// event source mapping does in AWS; runs until stopped.
    Relay {
        /// Where `cargo lambda watch` listens.
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        invoke_url: String,
        #[arg(long, default_value = "webhook-sender")]
        function: String,
    },
}

#[derive(Subcommand)]
enum StreamCommand {
    /// Deliver the configured table's stream to the ledger function served by
    /// `cargo lambda watch`, as the event source mapping does in AWS; runs until stopped.
    Relay {
        /// Where `cargo lambda watch` listens.
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        invoke_url: String,
        #[arg(long, default_value = "ledger")]
        function: String,
    },
}

#[derive(Subcommand)]
enum SecretScanningCommand {
    /// Sign a report (the body, read from stdin) with the local reporter key the stack
    /// trusts; prints the two headers GitHub would send, one per line, for `curl -H @file`.
    Sign,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Whether a string is a key VisionPipe could have issued: the format and the checksum,
    /// offline (no store is asked). Exit 0 if so, 1 if not. Reads the key from stdin when it is
    /// not given, so that it stays out of the shell's history.
    Check { key: Option<String> },
}

#[derive(Subcommand)]
enum TableCommand {
    /// Create the configured table from infra/table.json, with TTL on; no-op if it exists.
    Create,
    /// Move a table in layout 1 to layout 2, account by account, while the API serves
    /// (docs/operating.md). Each account's ledger is checked against its balance before it
    /// moves. Safe to run again: a stopped run is finished by the next, and a moved table is
    /// left as it is. Prints one JSON line per account.
    Migrate {
        /// Say what would move, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum CreditsCommand {
    /// Add credits to an account (creating it, with its free credits, if new).
    Grant {
        #[command(flatten)]
        account: AccountArg,
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
        amount: u64,
        /// Why, for the ledger.
        #[arg(long, default_value = "operator grant")]
        reason: String,
    },
    /// Print the balance and its running totals as JSON.
    Show {
        #[command(flatten)]
        account: AccountArg,
    },
    /// Check that balance = grants − debits, against the totals and the ledger.
    Verify {
        #[command(flatten)]
        account: AccountArg,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the account's unexpired audit events as JSON lines, oldest first.
    Export {
        #[command(flatten)]
        account: AccountArg,
    },
}

#[derive(Args)]
struct AccountArg {
    /// Account id (the console token's `sub`).
    #[arg(long = "account", value_parser = parse_account)]
    id: AccountId,
}

fn print_json_lines<T: serde::Serialize>(items: Vec<T>) -> Result<(), String> {
    for item in items {
        println!("{}", serde_json::to_string(&item).map_err(|e| e.to_string())?);
    }
    Ok(())
}

/// An error (exit 1) while the ledger function has balance changes of the account still to
/// write: what it writes from them (key.used, low-credit events) may be missing from a read.
async fn written_out(
    store: &dyn Store,
    account: &AccountId,
    what: &str,
    missing: &str,
) -> Result<(), String> {
    match common::store::verify_ledger(store, account)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(check) if check.behind > 0 => Err(format!(
            "{what}: the ledger function has {} balance changes of account {account} still to write ({missing}); run again shortly",
            check.behind
        )),
        _ => Ok(()),
    }
}

fn parse_account(raw: &str) -> Result<AccountId, String> {
    AccountId::parse(raw).ok_or_else(|| "1-128 characters of A-Z a-z 0-9 - _ . : @ | +".to_string())
}

/// Where `VP_STORE=dynamodb make dev` keeps its endpoint, region and table (read from the
/// repository root, where `make dev` and the README run vpctl).
const LOCAL_DYNAMODB_ENV: &str = "infra/local-dynamodb.env";

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = local_dynamodb_defaults() {
        eprintln!("vpctl: {message}");
        return ExitCode::FAILURE;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vpctl: {message}");
            ExitCode::FAILURE
        }
    }
}

/// With `VP_STORE=dynamodb` on a workstation and no endpoint given, reach the same local table
/// as `VP_STORE=dynamodb make dev`: fill every unset variable from [`LOCAL_DYNAMODB_ENV`].
fn local_dynamodb_defaults() -> Result<(), String> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    let wanted = std::env::var("VP_STORE").is_ok_and(|v| v == "dynamodb");
    if !wanted || set("AWS_ENDPOINT_URL_DYNAMODB") || std::env::var("VP_ENV").is_ok_and(|v| v == "aws") {
        return Ok(());
    }
    let text = std::fs::read_to_string(LOCAL_DYNAMODB_ENV).map_err(|e| {
        format!("VP_STORE=dynamodb without AWS_ENDPOINT_URL_DYNAMODB reads {LOCAL_DYNAMODB_ENV} (run from the repository root): {e}")
    })?;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{LOCAL_DYNAMODB_ENV}: not NAME=value: {line}"))?;
        if !set(name) {
            // SAFETY: called from `main` before the runtime or any other thread exists.
            #[allow(unsafe_code)]
            unsafe {
                std::env::set_var(name, value)
            };
        }
    }
    Ok(())
}

/// The local console signing key (what `make dev` trusts). Tokens for a deployed stack come
/// from the console's identity provider, whose private key vpctl never holds.
fn console_signer(config: &common::config::Config) -> Result<console_auth::ConsoleSigner, String> {
    let console = config.console().map_err(|e| e.to_string())?;
    match &console.keys {
        common::config::ConsoleKeySource::LocalKey(path) => {
            console_auth::ConsoleSigner::local(path, console).map_err(|e| e.to_string())
        }
        common::config::ConsoleKeySource::Url(url) => Err(format!(
            "console tokens are signed by the identity provider whose key set is {url}; vpctl signs only for the local key set (unset {})",
            common::config::vars::CONSOLE_JWKS_URL
        )),
    }
}

/// `vpctl keys check`: the verdict on stdout, the exit status from it. Never echoes the key.
fn check_key(key: Option<String>) -> Result<(), String> {
    let key = match key {
        Some(key) => key,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
            line
        }
    };
    let key = key.trim();
    if !common::api_key::is_well_formed(key) {
        return Err(
            "not a VisionPipe key: expected vp_live_ or vp_test_ followed by 64 lowercase hex characters"
                .into(),
        );
    }
    if !common::api_key::has_valid_checksum(key) {
        return Err("checksum mismatch: never issued by VisionPipe (mistyped, truncated or made up)".into());
    }
    let mode = common::api_key::KeyMode::of(key).unwrap_or_default();
    println!(
        "ok: a well-formed VisionPipe {} key with a valid checksum (whether it is live only the API can say)",
        mode.as_str()
    );
    Ok(())
}

async fn run(command: Command) -> Result<(), String> {
    if let Command::Keys(KeysCommand::Check { key }) = command {
        return check_key(key);
    }
    // An operator's machine: aws-config's standard chain (profiles, SSO, ...), never the
    // functions' environment-only path, which is common's alone (so tests build what Lambda runs).
    let chain = || async {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(common::startup::amazon_trust_client())
            .load()
            .await
    };
    let startup = Startup::from_env_with::<true, _, _>(std::env::vars().collect(), Some(chain))
        .await
        .map_err(|e| e.to_string())?;
    let (config, sdk) = (&startup.config, startup.sdk());
    let store = || async { startup.store().map_err(|e| e.to_string()) };
    match command {
        Command::Token { account, ttl_seconds } => {
            println!("{}", console_signer(config)?.mint(&account.id, ttl_seconds));
        }
        Command::Console {
            account,
            url,
            ttl_seconds,
        } => {
            let token = console_signer(config)?.mint(&account.id, ttl_seconds);
            println!("{}/console#token={token}", url.trim_end_matches('/'));
        }
        Command::SecretScanning(SecretScanningCommand::Sign) => {
            let common::config::ReporterKeysSource::LocalKey(path) = &config.secret_scanning else {
                return Err(
                    "signing reports needs the local reporter key (VP_ENV=local, neither VP_SECRET_SCANNING_KEYS nor VP_SECRET_SCANNING_KEYS_URL)"
                        .into(),
                );
            };
            let signer = common::secret_scanning::ReporterSigner::local(path).map_err(|e| e.to_string())?;
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut body).map_err(|e| e.to_string())?;
            println!("Github-Public-Key-Identifier: {}", signer.identifier());
            println!("Github-Public-Key-Signature: {}", signer.sign(&body));
        }
        Command::Jwks => {
            let source = config.signing_key().map_err(|e| e.to_string())?;
            let signer =
                PlaygroundSigner::from_config(source, &config.playground).map_err(|e| e.to_string())?;
            println!("{}", signer.jwks());
        }
        Command::Keys(_) => unreachable!("answered offline above"),
        Command::Table(TableCommand::Create) => {
            let StoreConfig::DynamoDb { table } = &config.store else {
                return Err(
                    "table create needs the DynamoDB store (VP_STORE=dynamodb or VP_TABLE_NAME)".into(),
                );
            };
            let sdk = sdk.ok_or("no AWS configuration loaded")?;
            let created =
                common::store::dynamodb::table::create_table(&aws_sdk_dynamodb::Client::new(sdk), table)
                    .await?;
            eprintln!(
                "table {table}: {}",
                if created { "created" } else { "already exists" }
            );
        }
        Command::Table(TableCommand::Migrate { dry_run }) => {
            let StoreConfig::DynamoDb { table } = &config.store else {
                return Err(
                    "table migrate needs the DynamoDB store (VP_STORE=dynamodb or VP_TABLE_NAME)".into(),
                );
            };
            let sdk = sdk.ok_or("no AWS configuration loaded")?;
            let store = common::store::dynamodb::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table,
                config.free_credits,
            );
            let moves = store
                .migrate_table(dry_run, |moved| {
                    println!(
                        "{}",
                        serde_json::json!({
                            "account": moved.account,
                            "dryRun": dry_run,
                            "alreadyMoved": moved.already_moved,
                            "keys": moved.keys,
                            "copied": moved.copied,
                            "removed": moved.removed,
                            "ledgerEntries": moved.ledger_entries,
                        })
                    )
                })
                .await
                .map_err(|e| e.to_string())?;
            eprintln!(
                "table {table}: {} account(s) {}",
                moves.len(),
                if dry_run {
                    "to move (dry run: nothing written)"
                } else {
                    "moved"
                }
            );
        }
        Command::Credits(CreditsCommand::Grant {
            account,
            amount,
            reason,
        }) => {
            let store = store().await?;
            let balance = store
                .grant_credits(&account.id, amount, &reason, clock::now())
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({"account": account.id.as_str(), "granted": amount, "credits": balance})
            );
        }
        Command::Credits(CreditsCommand::Show { account }) => {
            let balance = store()
                .await?
                .balance(&account.id)
                .await
                .map_err(|e| e.to_string())?;
            let balance = balance.ok_or_else(|| format!("account {} has no credits record", account.id))?;
            println!(
                "{}",
                serde_json::json!({"account": account.id.as_str(), "credits": balance.credits, "granted": balance.granted, "debited": balance.debited})
            );
        }
        Command::Credits(CreditsCommand::Verify { account }) => {
            let report = verify(store().await?.as_ref(), &account.id).await?;
            println!("{report}");
        }
        Command::Audit(AuditCommand::Export { account }) => {
            let store = store().await?;
            let events = store.audit_events(&account.id, clock::now()).await;
            print_json_lines(events.map_err(|e| e.to_string())?)?;
            // key.used events are written with the ledger, from the stream.
            written_out(
                store.as_ref(),
                &account.id,
                "export incomplete",
                "their key.used events may be missing",
            )
            .await?;
        }
        Command::Events { account } => {
            let store = store().await?;
            print_json_lines(
                store
                    .credit_events(&account.id)
                    .await
                    .map_err(|e| e.to_string())?,
            )?;
            // On DynamoDB the ledger function writes events from the stream.
            written_out(
                store.as_ref(),
                &account.id,
                "events incomplete",
                "their low-credit events may be missing",
            )
            .await?;
        }
        Command::Stream(StreamCommand::Relay { invoke_url, function }) => {
            let StoreConfig::DynamoDb { table } = &config.store else {
                return Err(
                    "stream relay needs the DynamoDB store (VP_STORE=dynamodb or VP_TABLE_NAME)".into(),
                );
            };
            let sdk = sdk.ok_or("no AWS configuration loaded")?;
            relay::run(sdk, table, &invoke_url, &function).await?;
        }
        Command::Webhooks(WebhooksCommand::Relay { invoke_url, function }) => {
            let source = match (&config.webhooks.queue_url, &config.store) {
                (Some(url), _) => {
                    let sdk = sdk.ok_or("no AWS configuration loaded")?;
                    webhook_relay::Source::sqs(sdk, url.clone()).await?
                }
                (None, StoreConfig::Embedded { path }) => webhook_relay::Source::Outbox(
                    common::store::sqlite::SqliteStore::open(path, config.free_credits)
                        .map_err(|e| e.to_string())?,
                ),
                (None, StoreConfig::DynamoDb { .. }) => {
                    return Err(format!(
                        "on DynamoDB the webhook jobs are on an SQS queue: set {}",
                        common::config::vars::WEBHOOK_QUEUE_URL
                    ));
                }
            };
            webhook_relay::run(source, &invoke_url, &function).await?;
        }
    }
    Ok(())
}

/// balance = grants − debits, against the account's running totals and against the ledger.
async fn verify(store: &dyn Store, account: &AccountId) -> Result<serde_json::Value, String> {
    let check = common::store::verify_ledger(store, account)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("account {account} has no credits record"))?;
    let report = serde_json::to_value(&check).map_err(|e| e.to_string())?;
    if check.ok {
        Ok(report)
    } else if check.behind > 0 {
        println!("{report}");
        Err(format!(
            "ledger not caught up for account {account}: {} balance changes not yet written by the ledger function; run again shortly",
            check.behind
        ))
    } else {
        // The report still goes to stdout for whoever reads it; the exit status says it failed.
        println!("{report}");
        Err(format!("ledger check FAILED for account {account}"))
    }
}
