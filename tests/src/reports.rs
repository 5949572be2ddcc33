//! Secret-scanning reports as GitHub sends them (signed over the raw body), and the large-report
//! check that both stores' test binaries run through the real function.

use crate::conformance::{create, origin};
use crate::{Functions, account, parts, reporter_signer};
use common::api_key::{KeyHash, PlaintextKey};
use common::clock;
use common::config::Config;
use common::secret_scanning::ReporterSigner;
use common::store::AuditAction;
use serde_json::{Value, json};

/// `report` as the request GitHub would send: the fixture event with this body, signed by the
/// reporter key `config` trusts.
pub fn signed_report(config: &Config, report: &str) -> lambda_http::Request {
    signed_by(&reporter_signer(config), report)
}

/// `report` as the request GitHub would send, signed by `signer`.
pub fn signed_by(signer: &ReporterSigner, report: &str) -> lambda_http::Request {
    let mut req = crate::fixture("secret-scanning");
    *req.body_mut() = lambda_http::Body::Text(report.to_string());
    let headers = req.headers_mut();
    headers.insert(
        "github-public-key-identifier",
        signer.identifier().parse().expect("header value"),
    );
    headers.insert(
        "github-public-key-signature",
        signer.sign(report.as_bytes()).parse().expect("header value"),
    );
    req
}

fn found(token: &str, n: usize) -> Value {
    json!({
        "token": token,
        "type": "visionpipe_api_key",
        "url": format!("https://github.com/octo/monorepo/blob/{n:040x}/services/api/config/.env.production"),
        "source": "content",
    })
}

/// A signed report of 1,000 matches (far past the 16 KiB other routes take): live keys of two
/// accounts (one named twice), keys deleted or already reported, keys we never issued and
/// look-alikes with a bad checksum. Exactly the live keys are revoked, once each, and every
/// match gets its label, in the report's order. With `calls` (DynamoDB), the report's own
/// requests are checked too: its lookups read 100 to a `BatchGetItem`, and each live key costs
/// one transaction.
pub async fn a_report_of_1000_matches_revokes_exactly_its_live_keys(
    app: &Functions,
    calls: Option<&crate::dynamo::CallCounter>,
) {
    let store = app.store.as_ref();
    // GIVEN 40 live keys in two accounts, 10 deleted and 10 already reported
    let mut live = Vec::new();
    for i in 0..40 {
        let acct = if i % 2 == 0 { "acct_big_a" } else { "acct_big_b" };
        live.push((acct, create(store, acct, &format!("Live {i}")).await));
    }
    let mut revoked = Vec::new();
    for i in 0..20 {
        let (plaintext, id) = create(store, "acct_big_c", &format!("Gone {i}")).await;
        if i < 10 {
            assert!(
                store
                    .delete_key(&account("acct_big_c"), &id, clock::now(), origin())
                    .await
                    .unwrap()
            );
        } else {
            let earlier = json!([found(plaintext.expose(), i)]).to_string();
            let (status, body, _) = parts(app.secret_scanning(signed_report(&app.config, &earlier)).await);
            assert_eq!((status, body[0]["label"].as_str()), (200, Some("true_positive")));
        }
        revoked.push(plaintext);
    }
    // WHEN one report carries them all among 1,000 matches
    let mut matches = Vec::new();
    let mut want = Vec::new();
    for i in 0..1000 {
        let (token, label) = match i % 20 {
            0 | 10 if i / 10 < live.len() => (live[i / 10].1.0.expose().to_string(), "true_positive"),
            5 if i / 20 < revoked.len() => (revoked[i / 20].expose().to_string(), "true_positive"),
            // A look-alike: the right shape, but the checksum of another body.
            7 => {
                let mut token = PlaintextKey::generate(common::api_key::KeyMode::Live)
                    .expose()
                    .to_string();
                token.replace_range(8..9, if &token[8..9] == "0" { "1" } else { "0" });
                (token, "false_positive")
            }
            _ => (
                PlaintextKey::generate(common::api_key::KeyMode::Live)
                    .expose()
                    .to_string(),
                "false_positive",
            ),
        };
        matches.push(found(&token, i));
        want.push((KeyHash::of(&token).as_str().to_string(), label));
    }
    // The first live key, once more as the last match: ours, revoked once.
    let again = live[0].1.0.expose();
    matches[999] = found(again, 999);
    want[999] = (KeyHash::of(again).as_str().to_string(), "true_positive");
    let report = json!(matches).to_string();
    assert!(
        report.len() > 16 * 1024 * 10,
        "a report far over other routes' cap"
    );
    calls.map(|c| c.take());
    let (status, body, _) = parts(app.secret_scanning(signed_report(&app.config, &report)).await);
    if let Some(calls) = calls {
        let mut calls = calls.take();
        calls.sort();
        let count = |op: &str| calls.iter().filter(|c| *c == op).count();
        // 949 distinct keys pass the format and checksum: 10 reads; 40 live: 40 revocations.
        assert_eq!(
            (count("BatchGetItem"), count("TransactWriteItems"), calls.len()),
            (10, 40, 50),
            "{calls:?}"
        );
    }

    // THEN one verdict per match, in order, each with its label
    assert_eq!(status, 200, "{body}");
    let got: Vec<(String, &str)> = body
        .as_array()
        .expect("an array of verdicts")
        .iter()
        .map(|v| {
            (
                v["token_hash"].as_str().unwrap().to_string(),
                v["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), 1000);
    assert!(got == want, "verdicts differ from the report's order or labels");
    // AND every live key is revoked, with exactly one key.leaked event each
    for (acct, (plaintext, id)) in &live {
        assert_eq!(store.resolve_key(&plaintext.hash()).await.unwrap(), None, "{id}");
        let leaked: Vec<_> = store
            .audit_events(&account(acct), clock::now())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event == AuditAction::KeyLeaked && e.key_id == id.as_str())
            .collect();
        assert_eq!(leaked.len(), 1, "{id}: one key.leaked");
    }
    // AND the deleted and already reported keys gained no event: 10 from the earlier reports
    let leaked_before = store
        .audit_events(&account("acct_big_c"), clock::now())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == AuditAction::KeyLeaked)
        .count();
    assert_eq!(leaked_before, 10);
    // AND the deleted keys stay deleted, not listed as leaked
    let listed = store.list_keys(&account("acct_big_c")).await.unwrap();
    assert_eq!(listed.len(), 10, "only the leaked ones are listed");
    assert!(listed.iter().all(|k| k.leaked_at.is_some()));
}
