//! GitHub secret scanning's partner endpoint with the `events/` reports, signed by the fixture
//! reporter key as GitHub signs (`infra/make_events.py`, in Python: the signature format is
//! checked across implementations, not only against our own signer).

use common::store::AuditAction;
use tests::*;

fn sha256_hex(s: &str) -> String {
    common::api_key::KeyHash::of(s).as_str().to_string()
}

#[tokio::test]
async fn a_signed_report_revokes_our_live_key_and_labels_every_match() {
    // GIVEN KEY_OK is a live key with credits
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    assert_eq!(
        t.app.create_session(fixture("create-session")).await.status(),
        200
    );
    let before = credits(t.store(), FIXTURE_ACCOUNT).await;

    // WHEN GitHub reports it, with a never-issued key and a look-alike
    let (status, body, _) = parts(t.app.secret_scanning(fixture("secret-scanning")).await);

    // THEN each match is labelled, by its hash (the tokens are never echoed back)
    assert_eq!(status, 200, "{body}");
    let labels: Vec<(&str, &str)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["token_hash"].as_str().unwrap(), v["label"].as_str().unwrap()))
        .collect();
    let (ok, unknown, look_alike) = (
        sha256_hex(KEY_OK),
        sha256_hex(KEY_UNKNOWN),
        sha256_hex(KEY_BAD_CHECKSUM),
    );
    assert_eq!(
        labels,
        [
            (ok.as_str(), "true_positive"),
            (unknown.as_str(), "false_positive"),
            (look_alike.as_str(), "false_positive")
        ]
    );
    assert!(
        body.as_array()
            .unwrap()
            .iter()
            .all(|v| v["token_type"] == "visionpipe_api_key")
    );
    assert!(
        !body.to_string().contains(&KEY_OK[8..]),
        "no key material in the answer"
    );
    // AND the key is refused at once, nothing taken
    let (status, refused, _) = parts(t.app.create_session(fixture("create-session")).await);
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("Invalid API key"))
    );
    assert_eq!(credits(t.store(), FIXTURE_ACCOUNT).await, before);
    // AND the list shows it leaked, the audit trail where
    let (_, list, _) = parts(t.app.list_keys(fixture("list-keys")).await);
    assert!(list["keys"][0]["leakedAt"].is_string(), "{list}");
    let audit = t
        .store()
        .audit_events(&account(FIXTURE_ACCOUNT), common::clock::now())
        .await
        .unwrap();
    let leaked = audit
        .iter()
        .find(|e| e.event == AuditAction::KeyLeaked)
        .expect("key.leaked");
    assert_eq!(
        leaked.url.as_deref(),
        Some("https://github.com/octo/app/blob/4f2c9e1/.env")
    );
    assert_eq!(leaked.source.as_deref(), Some("content"));

    // WHEN the same report comes again THEN the key is still ours and nothing more is written
    let (status, again, _) = parts(t.app.secret_scanning(fixture("secret-scanning")).await);
    assert_eq!((status, again[0]["label"].as_str()), (200, Some("true_positive")));
    let after = t
        .store()
        .audit_events(&account(FIXTURE_ACCOUNT), common::clock::now())
        .await
        .unwrap();
    assert_eq!(after.len(), audit.len());
}

#[tokio::test]
async fn a_report_whose_signature_does_not_match_its_body_is_refused_and_reads_nothing() {
    // GIVEN a live key, and a report of it signed over a different body
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    // WHEN it arrives THEN 401, and the key still works
    let (status, body, _) = parts(
        t.app
            .secret_scanning(fixture("secret-scanning-bad-signature"))
            .await,
    );
    assert_eq!(
        (status, body["error"].as_str(), body["code"].as_str()),
        (
            401,
            Some("Missing or invalid GitHub signature"),
            Some("invalid_signature")
        )
    );
    assert_eq!(
        t.app.create_session(fixture("create-session")).await.status(),
        200
    );
}

/// KEY_OK and KEY_EMPTY, live on the fixture account.
async fn two_live_keys(t: &TestApp) {
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    seed_key(
        t.store(),
        FIXTURE_ACCOUNT,
        "key_01JF0000000000000000000001",
        KEY_EMPTY,
    )
    .await;
}

#[tokio::test]
async fn a_source_in_any_case_is_taken_and_kept_in_lower_case() {
    // GIVEN two live keys, reported in one signed report with sources as GitHub's docs write
    // them ("Content") and in upper case
    let t = TestApp::new();
    two_live_keys(&t).await;
    let report = serde_json::json!([
        {"token": KEY_OK, "type": "visionpipe_api_key", "url": "https://github.com/o/r/blob/x/a", "source": "Content"},
        {"token": KEY_EMPTY, "type": "visionpipe_api_key", "url": "https://github.com/o/r/commit/x", "source": "COMMIT"},
    ])
    .to_string();
    let req = reports::signed_report(&t.app.config, &report);
    // WHEN it arrives
    let (status, body, _) = parts(t.app.secret_scanning(req).await);
    // THEN both keys are revoked, and the trail says where each was found, in lower case
    assert_eq!(status, 200, "{body}");
    assert!(
        body.as_array()
            .unwrap()
            .iter()
            .all(|v| v["label"] == "true_positive"),
        "{body}"
    );
    let mut sources: Vec<String> = t
        .store()
        .audit_events(&account(FIXTURE_ACCOUNT), common::clock::now())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == AuditAction::KeyLeaked)
        .filter_map(|e| e.source)
        .collect();
    sources.sort();
    assert_eq!(sources, ["commit", "content"]);
}

#[tokio::test]
async fn a_report_of_1000_matches_revokes_exactly_its_live_keys_on_the_embedded_store() {
    let t = TestApp::new();
    reports::a_report_of_1000_matches_revokes_exactly_its_live_keys(&t.app, None).await;
}

/// Every function on a fresh embedded store, taking GitHub's keys from `url` as in AWS, warmed
/// as a cold start warms it (which fetches them).
async fn fetching_keys_from(url: &str) -> TestApp {
    let t = TestApp::with(&[("VP_SECRET_SCANNING_KEYS_URL", url)]);
    common::runtime::State::warm(&t.app.secret_scanning).await;
    t
}

fn reporter() -> common::secret_scanning::ReporterSigner {
    common::secret_scanning::ReporterSigner::from_pem(&common::local_key::generate_pem()).unwrap()
}

#[tokio::test]
async fn a_key_github_rotates_in_is_fetched_without_a_redeploy_and_held_while_github_is_down() {
    // GIVEN GitHub publishes key A, and two live keys of ours
    let (a, b) = (reporter(), reporter());
    let github = common::fetch::stand_in::Provider::start(200, a.document().into_bytes());
    let t = fetching_keys_from(&github.url).await;
    two_live_keys(&t).await;
    let report = |key: &str| serde_json::json!([{"token": key, "type": "visionpipe_api_key"}]).to_string();
    let taken = |signer, key| {
        let req = reports::signed_by(signer, &report(key));
        async {
            let (status, body, _) = parts(t.app.secret_scanning(req).await);
            assert_eq!(
                (status, body[0]["label"].as_str()),
                (200, Some("true_positive")),
                "{body}"
            );
        }
    };
    // WHEN A signs a report THEN it is taken
    taken(&a, KEY_OK).await;
    // WHEN GitHub rotates to B between two reports THEN B's report is taken too
    github.answer(200, b.document().into_bytes());
    taken(&b, KEY_EMPTY).await;
    assert_eq!(github.requests(), 2, "the cold start's fetch and the rotation's");
    assert_eq!(
        t.store()
            .list_keys(&account(FIXTURE_ACCOUNT))
            .await
            .unwrap()
            .iter()
            .filter(|k| k.leaked_at.is_some())
            .count(),
        2,
        "both reports revoked their key"
    );
    // WHEN GitHub is down THEN B's reports are still taken, and A's (withdrawn) refused
    github.answer(503, Vec::new());
    let (status, _, _) = parts(
        t.app
            .secret_scanning(reports::signed_by(&b, &report(KEY_OK)))
            .await,
    );
    assert_eq!(status, 200);
    let (status, body, _) = parts(
        t.app
            .secret_scanning(reports::signed_by(&a, &report(KEY_OK)))
            .await,
    );
    assert_eq!((status, body["code"].as_str()), (401, Some("invalid_signature")));
}

#[tokio::test]
async fn an_instance_that_could_never_fetch_githubs_keys_answers_503_so_github_sends_again() {
    let github = common::fetch::stand_in::Provider::start(503, Vec::new());
    let t = fetching_keys_from(&github.url).await;
    let report = serde_json::json!([{"token": KEY_OK, "type": "visionpipe_api_key"}]).to_string();
    let answer = parts(
        t.app
            .secret_scanning(reports::signed_by(&reporter(), &report))
            .await,
    );
    assert_unavailable(&answer, "a report no key can check");
}

/// The Python validation sample on GitHub's secret-scanning partner-program page
/// (docs.github.com, "Implement signature verification"): the key GitHub documents, its
/// identifier, a payload and GitHub's signature of it, verbatim.
const GITHUB_SAMPLE_KEY_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
const GITHUB_SAMPLE_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9MJJHnMfn2+H4xL4YaPDA4RpJqUq\nkCmRCBnYERxZanmcpzQSXs1X/AljlKkbJ8qpVIW4clayyef9gWhFbNHWAA==\n-----END PUBLIC KEY-----";
const GITHUB_SAMPLE_PAYLOAD: &str = r#"[{"token":"some_token","type":"some_type","url":"some_url"}]"#;
const GITHUB_SAMPLE_SIGNATURE: &str =
    "MEUCIQDKZokqnCjrRtw0tni+2Ltvl/uiMJ1EGumEsp1BsNr32AIgQY1YXD2nlj+XNfGK4rBfkMJ1JDOQcYXxa2sY8FNkrKc=";

#[tokio::test]
async fn githubs_documented_sample_request_verifies_against_the_key_document_github_documents() {
    // GIVEN GitHub's key document holds the key its docs show
    let document = serde_json::json!({"public_keys": [
        {"key_identifier": GITHUB_SAMPLE_KEY_ID, "key": GITHUB_SAMPLE_KEY, "is_current": true}
    ]});
    let github = common::fetch::stand_in::Provider::start(200, document.to_string().into_bytes());
    let t = fetching_keys_from(&github.url).await;
    // WHEN the sample arrives as GitHub sends it
    let sample = |payload: &str| {
        let mut req = fixture("secret-scanning");
        *req.body_mut() = lambda_http::Body::Text(payload.to_string());
        let headers = req.headers_mut();
        headers.insert(
            "github-public-key-identifier",
            GITHUB_SAMPLE_KEY_ID.parse().unwrap(),
        );
        headers.insert(
            "github-public-key-signature",
            GITHUB_SAMPLE_SIGNATURE.parse().unwrap(),
        );
        req
    };
    let (status, body, _) = parts(t.app.secret_scanning(sample(GITHUB_SAMPLE_PAYLOAD)).await);
    // THEN it verifies: "some_token" is not a key of ours
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!([{"token_hash": sha256_hex("some_token"), "token_type": "some_type", "label": "false_positive"}])
    );
    // AND one byte changed in the payload does not
    let altered = GITHUB_SAMPLE_PAYLOAD.replace("some_url", "some_uri");
    let (status, _, _) = parts(t.app.secret_scanning(sample(&altered)).await);
    assert_eq!(status, 401);
}
