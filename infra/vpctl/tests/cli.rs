//! The operator CLI as an operator meets it: what it prints, and how it refuses bad arguments.

use std::process::Command;

fn vpctl(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vpctl"))
        .args(args)
        .env("VP_ENV", "local")
        .env("VP_DATA_DIR", dir)
        .output()
        .expect("run vpctl")
}

#[tokio::test]
async fn token_prints_only_a_console_jwt_the_api_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = vpctl(dir.path(), &["token", "--account", "acct_ops"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(!token.contains(char::is_whitespace));
    let config = tests::local_config(dir.path(), &[]);
    let verifier = common::console_auth::ConsoleVerifier::new(config.console().unwrap());
    assert_eq!(verifier.verify(token).await.unwrap().as_str(), "acct_ops");
}

#[tokio::test]
async fn console_prints_the_page_url_signed_in_through_the_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let out = vpctl(
        dir.path(),
        &[
            "console",
            "--account",
            "acct_ops",
            "--url",
            "http://127.0.0.1:9000/",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.strip_suffix('\n').expect("one line");
    let token = line
        .strip_prefix("http://127.0.0.1:9000/console#token=")
        .expect("the page URL with the token in its fragment");
    let config = tests::local_config(dir.path(), &[]);
    let verifier = common::console_auth::ConsoleVerifier::new(config.console().unwrap());
    assert_eq!(verifier.verify(token).await.unwrap().as_str(), "acct_ops");
}

#[test]
fn credits_grant_show_verify_and_audit_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = vpctl(
        dir.path(),
        &[
            "credits",
            "grant",
            "--account",
            "acct_ops",
            "--amount",
            "7",
            "--reason",
            "support ticket 42",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let show: serde_json::Value =
        serde_json::from_slice(&vpctl(dir.path(), &["credits", "show", "--account", "acct_ops"]).stdout)
            .unwrap();
    assert_eq!(
        show,
        serde_json::json!({"account": "acct_ops", "credits": 10, "granted": 10, "debited": 0})
    );
    let verify: serde_json::Value =
        serde_json::from_slice(&vpctl(dir.path(), &["credits", "verify", "--account", "acct_ops"]).stdout)
            .unwrap();
    assert_eq!(verify["ok"], true);
    let export = vpctl(dir.path(), &["audit", "export", "--account", "acct_ops"]);
    assert!(export.status.success());
    assert!(export.stdout.is_empty(), "no key events yet");
    let events = vpctl(dir.path(), &["events", "--account", "acct_ops"]);
    assert!(events.status.success());
    assert!(events.stdout.is_empty(), "a grant raises no low-credit event");
}

#[test]
fn jwks_prints_one_p256_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let jwks: serde_json::Value = serde_json::from_slice(&vpctl(dir.path(), &["jwks"]).stdout).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(key.get("d").is_none(), "never the private part");
    // The same key on every call: it was generated once and persisted.
    let again: serde_json::Value = serde_json::from_slice(&vpctl(dir.path(), &["jwks"]).stdout).unwrap();
    assert_eq!(jwks, again);
}

#[test]
fn bad_arguments_get_usage_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["token"],
        vec!["token", "--account", "has space"],
        vec!["credits", "grant", "--account", "acct_ops"],
        vec!["credits", "grant", "--account", "acct_ops", "--amount", "0"],
        vec!["credits", "grant", "--account", "acct_ops", "--amount", "-5"],
        vec!["audit", "export"],
        vec!["events"],
    ] {
        let out = vpctl(dir.path(), &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: usage errors exit 2");
        assert!(
            stderr.contains("Usage") || stderr.contains("--help"),
            "{args:?}: {stderr}"
        );
    }
    let out = vpctl(dir.path(), &["credits", "show", "--account", "acct_unknown"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("acct_unknown"));
}

/// `vpctl credits verify` on an embedded store seeded through the store itself.
fn verify(dir: &std::path::Path, account: &str) -> (Option<i32>, serde_json::Value) {
    let out = vpctl(dir, &["credits", "verify", "--account", account]);
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
    )
}

async fn seed_old_account(dir: &std::path::Path) {
    // Entries from 100 and 95 days ago: older than the audit window, and money all the same.
    let config = tests::local_config(dir, &[]);
    let common::config::StoreConfig::Embedded { path } = &config.store else {
        panic!("embedded")
    };
    let store = common::store::sqlite::SqliteStore::open(path, config.free_credits).unwrap();
    let long_ago = common::clock::now() - time::Duration::days(100);
    common::store::Store::grant_credits(&store, &tests::account("acct_old"), 5, "long ago", long_ago)
        .await
        .unwrap();
}

#[tokio::test]
async fn verify_passes_for_entries_older_than_90_days() {
    let dir = tempfile::tempdir().unwrap();
    seed_old_account(dir.path()).await;
    let (code, check) = verify(dir.path(), "acct_old");
    assert_eq!(code, Some(0), "{check}");
    assert_eq!(
        (
            check["ok"].as_bool(),
            check["ledgerEntries"].as_u64(),
            check["granted"].as_u64()
        ),
        (Some(true), Some(2), Some(8))
    );
}

#[tokio::test]
async fn verify_fails_with_exit_1_when_one_entry_is_corrupted() {
    // GIVEN a ledger in which one entry was altered behind the store's back
    let dir = tempfile::tempdir().unwrap();
    seed_old_account(dir.path()).await;
    let db = rusqlite::Connection::open(dir.path().join("visionpipe.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE ledger SET amount = amount + 1 WHERE reason = 'long ago'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    // THEN the check says so, and exits 1 for scripts and alarms
    let (code, check) = verify(dir.path(), "acct_old");
    assert_eq!(check["ok"], false, "{check}");
    assert_eq!(code, Some(1));
}

#[test]
fn keys_check_tells_an_issued_key_from_a_look_alike_offline_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    use common::api_key::{KeyMode, PlaintextKey};
    let issued = PlaintextKey::generate(KeyMode::Live);
    let ok = vpctl(dir.path(), &["keys", "check", issued.expose()]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("VisionPipe live key"));
    // A test key is known by its own prefix, with the same checksum.
    let test = PlaintextKey::generate(KeyMode::Test);
    let tested = vpctl(dir.path(), &["keys", "check", test.expose()]);
    assert!(
        tested.status.success(),
        "{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    assert!(String::from_utf8_lossy(&tested.stdout).contains("VisionPipe test key"));
    let look_alike = format!("{}00000000", &issued.expose()[..64]);
    let relabelled = issued.expose().replacen("vp_live_", "vp_test_", 1);
    for (key, why) in [
        (look_alike.as_str(), "checksum mismatch"),
        (relabelled.as_str(), "checksum mismatch"),
        ("vp_live_123", "not a VisionPipe key"),
    ] {
        let out = vpctl(dir.path(), &["keys", "check", key]);
        assert_eq!(out.status.code(), Some(1), "{key}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{stderr}");
    }
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        !said.contains(&issued.expose()[8..]),
        "the key is not printed back"
    );
}
