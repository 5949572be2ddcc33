//! End to end over HTTP against the real `cargo lambda watch`, several instances per function,
//! at the production paths, on the embedded store. Nothing here talks to the code directly:
//! console tokens come from `vpctl`, everything else from the API.

use std::sync::Arc;
use tests::server::Server;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// No log line of the whole stack may contain any of these.
fn assert_logs_free_of(server: &Server, secrets: &[String]) {
    let logs = server.logs();
    assert!(
        logs.contains("session opened"),
        "function logs are captured:\n{logs}"
    );
    for secret in secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {}…",
            &secret[..12]
        );
    }
}

#[test]
fn a_key_lives_is_used_up_listed_and_revoked_over_http() {
    let server = Server::start(2, &[]);
    // GIVEN a console token minted by the operator CLI
    let console = server.console_token("acct_e2e");
    assert_eq!(console.matches('.').count(), 2, "vpctl prints only the JWT");

    // WHEN the user creates a key
    let created = server.create_key(&console, "Production");
    assert_eq!(created.status, 201, "{}", created.raw);
    let key = created.body["key"].as_str().unwrap().to_string();
    let key_id = created.body["id"].as_str().unwrap().to_string();
    let mut secrets = vec![console.clone(), key.clone(), key[12..].to_string()];

    // THEN the 3 free credits buy 3 sessions, and the 4th is refused
    for expected in [2, 1, 0] {
        let reply = server.open_session(&key);
        assert_eq!(
            (reply.status, reply.body["credits"].as_u64()),
            (200, Some(expected)),
            "{}",
            reply.raw
        );
        let token = reply.body["token"].as_str().unwrap().to_string();
        assert!(
            reply.body["playgroundUrl"]
                .as_str()
                .unwrap()
                .ends_with(&format!("?token={token}"))
        );
        secrets.push(token);
    }
    let refused = server.open_session(&key);
    assert_eq!(refused.status, 402, "{}", refused.raw);
    assert_eq!(refused.body["error"], "Insufficient credits");

    // AND with no credit left the key is still live to a validity check, which costs nothing
    let key_auth = bearer(&key);
    let check = server.request("GET", "/api/v1/keys/self", &[("authorization", &key_auth)], None);
    assert_eq!(
        (check.status, check.body["id"].as_str()),
        (200, Some(key_id.as_str())),
        "{}",
        check.raw
    );

    // AND the list shows the key by its 12-character prefix, with its last use
    let auth = bearer(&console);
    let listed = server.request("GET", "/api/v1/keys", &[("authorization", &auth)], None);
    assert_eq!(listed.status, 200, "{}", listed.raw);
    let keys = listed.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], key_id.as_str());
    assert_eq!(keys[0]["prefix"], &key[..12]);
    assert!(keys[0]["lastUsedAt"].is_string(), "{}", listed.raw);

    // WHEN the key is deleted THEN the next request with it is refused as invalid
    let deleted = server.request(
        "DELETE",
        &format!("/api/v1/keys/{key_id}"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(
        (deleted.status, deleted.raw.as_str()),
        (200, r#"{"success":true}"#)
    );
    let revoked = server.open_session(&key);
    assert_eq!(revoked.status, 401, "{}", revoked.raw);
    assert_eq!(revoked.body["error"], "Invalid API key");
    let check = server.request("GET", "/api/v1/keys/self", &[("authorization", &key_auth)], None);
    assert_eq!(
        (check.status, check.body["error"].as_str()),
        (401, Some("Invalid API key"))
    );
    let again = server.request(
        "DELETE",
        &format!("/api/v1/keys/{key_id}"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (404, Some("API key not found"))
    );

    // AND the operator sees the whole story in the audit export and a consistent ledger
    let audit = server.vpctl(&["audit", "export", "--account", "acct_e2e"]);
    let events: Vec<serde_json::Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["key.created", "key.used", "key.used", "key.used", "key.deleted"]
    );
    assert!(
        events
            .iter()
            .all(|e| e["ipAddress"] == "127.0.0.1" && e["keyId"] == key_id.as_str())
    );
    let verify: serde_json::Value =
        serde_json::from_str(&server.vpctl(&["credits", "verify", "--account", "acct_e2e"])).unwrap();
    assert_eq!(
        (
            verify["ok"].as_bool(),
            verify["credits"].as_u64(),
            verify["ledgerDebits"].as_u64()
        ),
        (Some(true), Some(0), Some(3))
    );

    assert_logs_free_of(&server, &secrets);
}

#[test]
fn fifty_concurrent_sessions_on_twenty_credits_over_several_instances() {
    const INSTANCES: u32 = 4;
    let server = Server::start(INSTANCES, &[]);
    // GIVEN an account with 20 credits: 3 free on its first key, 17 granted by the operator
    let console = server.console_token("acct_race");
    let created = server.create_key(&console, "Race");
    assert_eq!(created.status, 201, "{}", created.raw);
    let key = created.body["key"].as_str().unwrap().to_string();
    server.vpctl(&["credits", "grant", "--account", "acct_race", "--amount", "17"]);
    // Warm every instance (concurrent requests make watch start them all) so that the race
    // is between requests, not compilations: a single warm instance can finish all 50 before
    // a second one has even started.
    let server = Arc::new(server);
    let started = |server: &Server| {
        server
            .logs()
            .lines()
            .filter(|l| l.contains("cold start complete") && l.contains(r#""function":"create-session""#))
            .count()
    };
    // watch starts instances on demand; on a busy machine one warm instance can answer a whole
    // round before a second is up, so warm in rounds until at least two run (30 s at most).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while started(&server) < 2 && std::time::Instant::now() < deadline {
        let warm = server.race_sessions("vp_live_", INSTANCES as usize);
        assert!(warm.iter().all(|r| r.status == 401));
    }

    // WHEN 50 requests are released at the same instant
    let replies = server.race_sessions(&key, 50);

    // THEN exactly 20 succeed and 30 are refused for credits; no other answer
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 402 && r.body["error"] == "Insufficient credits")
        .count();
    assert_eq!(
        (ok, refused),
        (20, 30),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // AND every success reported a distinct remaining balance 0..=19
    tests::server::assert_each_balance_once(&replies, 20);
    // AND the balance is 0 with the ledger explaining all 20 debits
    let verify: serde_json::Value =
        serde_json::from_str(&server.vpctl(&["credits", "verify", "--account", "acct_race"])).unwrap();
    assert_eq!(
        (
            verify["ok"].as_bool(),
            verify["credits"].as_u64(),
            verify["ledgerDebits"].as_u64()
        ),
        (Some(true), Some(0), Some(20))
    );
    // AND the race raised one credits.low (at 1 left) and one credits.exhausted, no more
    let events = server.vpctl(&["events", "--account", "acct_race"]);
    assert_eq!(
        tests::server::event_names(&events),
        ["credits.low", "credits.exhausted"],
        "{events}"
    );
    // AND several create-session processes really served the race: its 50 answers (200 and
    // 402; the warm-up's were 401) were logged by at least two processes
    let logs = server.logs();
    let mut served_by = std::collections::BTreeMap::<u64, usize>::new();
    for line in logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        let fields = &line["fields"];
        if fields["message"] == "request"
            && line["span"]["function"] == "create-session"
            && matches!(fields["status"].as_u64(), Some(200 | 402))
        {
            *served_by.entry(fields["pid"].as_u64().expect("pid")).or_default() += 1;
        }
    }
    assert_eq!(served_by.values().sum::<usize>(), 50, "{served_by:?}");
    assert!(
        served_by.len() >= 2,
        "the race was served by {} create-session process(es): {served_by:?}\n{logs}",
        served_by.len()
    );
    eprintln!("create-session processes that served the race (pid: answers): {served_by:?}");

    let mut secrets = vec![console, key];
    secrets.extend(
        replies
            .iter()
            .filter_map(|r| r.body["token"].as_str().map(str::to_string)),
    );
    assert_logs_free_of(&server, &secrets);
}
