//! The Cloud Console page in headless Chromium against the running local stack: the docs'
//! whole flow, the XSS name, roll, a daily limit, a leaked key, keyboard use, 375 px, API failures and an expired token
//! (`tests/browser/console.test.mjs`). `make test` installs Debian's chromium and the pinned
//! playwright-core first; a missing browser fails this test, it is never skipped.

use std::process::Command;
use tests::server::Server;

#[test]
fn the_console_page_works_in_a_real_browser_as_the_docs_describe() {
    // GIVEN the local stack, and the page's URL signed in as a fresh account
    // Webhook retries 1 ms apart instead of 30 s: the Webhooks page's failing endpoint gives up
    // in seconds.
    let server = Server::start(2, &[("VP_WEBHOOK_RETRY_UNIT_MS", "1")]);
    let signed_in = server.vpctl(&["console", "--account", "acct_browser", "--url", &server.base_url]);
    let signed_in = signed_in.trim();
    assert!(
        signed_in.starts_with(&format!("{}/console#token=", server.base_url)),
        "{signed_in}"
    );
    // Credits enough for every test's sessions (the free ones are 3).
    server.vpctl(&["credits", "grant", "--account", "acct_browser", "--amount", "20"]);
    // An expired token, signed by the very key the stack trusts (expiry is the only fault).
    let config = tests::local_config(server.data_dir.path(), &[]);
    let expired = tests::console_signer(&config).mint(&tests::account("acct_browser"), -3600);
    // Valid tokens in links: one for another account (a planted sign-in), one for this account.
    let other = tests::console_signer(&config).mint(&tests::account("acct_other"), 3600);
    let same = tests::console_signer(&config).mint(&tests::account("acct_browser"), 3600);
    // The key the stack trusts for secret-scanning reports (the test signs one as GitHub would).
    let reporter_key = server
        .data_dir
        .path()
        .join(common::config::LOCAL_SECRET_SCANNING_KEY_FILE);
    tests::reporter_signer(&config);
    let shots = tests::workspace_root().join("target/browser-artifacts");
    // The page is same-origin with the API; another origin gets no CORS answer at all.
    for path in ["/api/v1/credits", "/api/v1/keys"] {
        assert_eq!(server.cors_origin(path, "http://evil.example"), None, "{path}");
    }

    // WHEN the browser test drives it
    let browser_dir = tests::workspace_root().join("tests/browser");
    let output = Command::new("node")
        .current_dir(&browser_dir)
        .args(["--test", "--test-reporter=spec", "console.test.mjs"])
        .env("VP_BASE_URL", &server.base_url)
        .env("VP_CONSOLE_URL", signed_in)
        .env(
            "VP_EXPIRED_URL",
            format!("{}/console#token={expired}", server.base_url),
        )
        .env("VP_SHOTS", &shots)
        .env("VP_OTHER_ACCOUNT_TOKEN", &other)
        .env("VP_SAME_ACCOUNT_TOKEN", &same)
        .env("VP_REPORTER_KEY", &reporter_key)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e})"));

    // THEN every step passed (screenshots of each step are in target/browser-artifacts/)
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the browser test failed:\n{report}\n{}",
        server.logs()
    );
    eprintln!("{report}\nscreenshots: {}", shots.display());
}
