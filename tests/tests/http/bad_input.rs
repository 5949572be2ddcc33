//! The bad-input table over HTTP against the local stack (`cargo lambda watch` with the
//! production router and its catch-alls): every request reaches our code and gets the same
//! documented answer as at the handler level; nothing changes.

use tests::bad_input::Credentials;
use tests::server::Server;

#[test]
fn every_bad_request_gets_its_documented_4xx_over_http() {
    let server = Server::start(2, &[]);
    // GIVEN a working console token and API key on the local stack
    let console = server.console_token("acct_hostile");
    let created = server.create_key(&console, "target");
    assert_eq!(created.status, 201, "{}", created.raw);
    let config = tests::local_config(server.data_dir.path(), &[]);
    let credentials = Credentials::for_config(&config, "acct_hostile", created.body["key"].as_str().unwrap());
    let state = || {
        (
            server.vpctl(&["credits", "show", "--account", "acct_hostile"]),
            server.vpctl(&["audit", "export", "--account", "acct_hostile"]),
        )
    };
    let before = state();

    let cases: Vec<_> = credentials.cases().into_iter().filter(|c| c.over_http).collect();
    let mut failures = Vec::new();
    for case in &cases {
        let headers: Vec<(&str, &str)> = case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match server.request_bytes(case.method, &case.path, &headers, &case.body) {
            Ok(reply)
                if reply.status == case.status
                    && reply.body["success"] == false
                    && reply.body["error"] == case.error => {}
            Ok(reply) => failures.push(format!(
                "{}: got {} {}, want {} {:?}",
                case.name, reply.status, reply.raw, case.status, case.error
            )),
            Err(e) => failures.push(format!("{}: transport error {e}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(state(), before, "a bad request changed something");
    assert_eq!(
        cases.len(),
        tests::bad_input::CASES_OVER_HTTP,
        "bad-input cases over HTTP"
    );
}
