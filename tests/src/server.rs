//! The real local stack: `cargo lambda watch` with the production router, on a free port and a
//! private data directory, killed (with every function process it started) on drop.

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    /// On DynamoDB: `vpctl stream relay`, delivering the table's stream to the ledger function.
    relay: Option<Child>,
    /// `vpctl webhooks relay`, handing queued webhook jobs to the webhook sender.
    hooks: Child,
    pub base_url: String,
    pub data_dir: tempfile::TempDir,
    log_path: PathBuf,
    agent: ureq::Agent,
    /// Extra environment the functions got; `vpctl` gets it too, to reach the same store.
    env: Vec<(String, String)>,
}

/// Response status and parsed JSON body.
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub raw: String,
}

impl Server {
    /// Starts `cargo lambda watch` with `concurrency` instances per function and waits until
    /// the functions answer. Panics (never skips) if cargo-lambda is missing or never comes up.
    pub fn start(concurrency: u32, env: &[(&str, &str)]) -> Server {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let log_path = data_dir.path().join("watch.log");
        let log = File::create(&log_path).expect("log file");
        let port = free_port();
        let mut command = Command::new("cargo");
        command
            .args([
                "lambda",
                "watch",
                // The functions' embedded store, as `make dev` turns it on.
                "--features",
                "common/embedded",
                "--ignore-changes",
                // As `make dev`: no CORS answers of the emulator's own (see the Makefile).
                "--disable-cors",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args([
                "--invoke-port",
                &port.to_string(),
                "--concurrency",
                &concurrency.to_string(),
            ])
            .current_dir(crate::workspace_root())
            .env("VP_ENV", "local")
            .env("VP_DATA_DIR", data_dir.path())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            // Own process group, so drop can stop watch and every function it spawned.
            .process_group(0);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start `cargo lambda watch` ({e}); run `make test`, which installs cargo-lambda")
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        // On DynamoDB the ledger is written from the table's stream, as in AWS.
        let relay = env.iter().any(|(k, _)| *k == "VP_TABLE_NAME").then(|| {
            let log = File::options().append(true).open(&log_path).expect("log file");
            Command::new(vpctl_path())
                .args([
                    "stream",
                    "relay",
                    "--invoke-url",
                    &format!("http://127.0.0.1:{port}"),
                ])
                .current_dir(crate::workspace_root())
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .expect("start vpctl stream relay")
        });
        // Webhook jobs (the embedded store's outbox, or the queue on the local server) to the
        // webhook sender, as Lambda's SQS source does.
        let log = File::options().append(true).open(&log_path).expect("log file");
        let hooks = Command::new(vpctl_path())
            .args([
                "webhooks",
                "relay",
                "--invoke-url",
                &format!("http://127.0.0.1:{port}"),
            ])
            .current_dir(crate::workspace_root())
            .env("VP_ENV", "local")
            .env("VP_DATA_DIR", data_dir.path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start vpctl webhooks relay");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut server = Server {
            child,
            relay,
            hooks,
            base_url: format!("http://127.0.0.1:{port}"),
            data_dir,
            log_path,
            agent,
            env,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                panic!("cargo lambda watch exited with {status}:\n{}", self.logs());
            }
            // 401 JSON from list-keys means the router, the runtime API and our function are up.
            if let Ok(reply) = self.try_request("GET", "/api/v1/keys", &[], None)
                && reply.status == 401
                && reply.body["success"] == false
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch never became ready:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Reply, ureq::Error> {
        let uri = format!("{}{path}", self.base_url);
        let mut request = ureq::http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = match body {
            Some(body) => self.agent.run(request.body(body.to_string()).expect("request"))?,
            None => self.agent.run(request.body(()).expect("request"))?,
        };
        let status = response.status().as_u16();
        let raw = response.body_mut().read_to_string()?;
        let body = serde_json::from_str(&raw).unwrap_or(serde_json::Value::Null);
        Ok(Reply { status, body, raw })
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request with a raw byte body (which may be empty), for malformed input.
    pub fn request_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, ureq::Error> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = self.agent.run(request.body(body.to_vec()).expect("request"))?;
        let status = response.status().as_u16();
        let raw = if method == "HEAD" {
            String::new()
        } else {
            response.body_mut().read_to_string()?
        };
        let body = serde_json::from_str(&raw).unwrap_or(serde_json::Value::Null);
        Ok(Reply { status, body, raw })
    }

    /// The `Access-Control-Allow-Origin` the stack answers `origin` with on `path`, for a
    /// preflight or for the request itself (`None`: that origin is not admitted).
    pub fn cors_origin(&self, path: &str, origin: &str) -> Option<String> {
        ["OPTIONS", "GET"].iter().find_map(|method| {
            let mut request = ureq::http::Request::builder()
                .method(*method)
                .uri(format!("{}{path}", self.base_url))
                .header("origin", origin);
            if *method == "OPTIONS" {
                request = request.header("access-control-request-method", "GET");
            }
            let response = self.agent.run(request.body(Vec::new()).expect("request")).ok()?;
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap_or_default().to_string())
        })
    }

    /// A console token for `account`, minted by the operator CLI.
    pub fn console_token(&self, account: &str) -> String {
        self.vpctl(&["token", "--account", account]).trim().to_string()
    }

    /// `POST /api/v1/keys` as the console would send it.
    pub fn create_key(&self, console_token: &str, name: &str) -> Reply {
        let auth = format!("Bearer {console_token}");
        let body = serde_json::json!({ "name": name }).to_string();
        self.request(
            "POST",
            "/api/v1/keys",
            &[("authorization", &auth), ("content-type", "application/json")],
            Some(&body),
        )
    }

    /// `POST /api/v1/sessions` with an API key and no body, as the product docs show it.
    pub fn open_session(&self, key: &str) -> Reply {
        let auth = format!("Bearer {key}");
        self.request("POST", "/api/v1/sessions", &[("authorization", &auth)], None)
    }

    /// `count` session requests with `key`, released at the same instant from as many threads.
    pub fn race_sessions(self: &std::sync::Arc<Self>, key: &str, count: usize) -> Vec<Reply> {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(count));
        let racers: Vec<_> = (0..count)
            .map(|_| {
                let (server, barrier, key) = (self.clone(), barrier.clone(), key.to_string());
                std::thread::spawn(move || {
                    barrier.wait();
                    server.open_session(&key)
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().expect("racer")).collect()
    }

    /// Runs the operator CLI once the ledger has caught up: on DynamoDB the ledger function
    /// writes it from the stream, and `credits verify` / `audit export` fail while it is behind.
    pub fn vpctl_settled(&self, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let output = self.vpctl_output(args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            if output.status.success() || !(stderr.contains("not caught up") || stderr.contains("incomplete"))
            {
                assert!(output.status.success(), "vpctl {args:?} failed: {stderr}");
                return String::from_utf8(output.stdout).expect("utf-8");
            }
            assert!(
                Instant::now() < deadline,
                "the ledger never caught up: {stderr}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn vpctl_output(&self, args: &[&str]) -> std::process::Output {
        Command::new(vpctl_path())
            .args(args)
            .env("VP_ENV", "local")
            .env("VP_DATA_DIR", self.data_dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run vpctl")
    }

    /// Runs the operator CLI against this server's store, returning stdout.
    pub fn vpctl(&self, args: &[&str]) -> String {
        let output = self.vpctl_output(args);
        assert!(
            output.status.success(),
            "vpctl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    }

    /// Everything `cargo lambda watch` and the functions wrote so far.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        File::open(&self.log_path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .expect("read log");
        text
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.hooks.kill();
        let _ = self.hooks.wait();
        if let Some(relay) = &mut self.relay {
            let _ = relay.kill();
            let _ = relay.wait();
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// The `vpctl` binary built beside this test (target/<profile>/vpctl).
pub fn vpctl_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("vpctl");
    assert!(
        path.exists(),
        "{} is missing: build it first (`make test` does)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Every session that succeeded in a race reported its own remaining balance: exactly
/// `0..credits`, each once.
pub fn assert_each_balance_once(replies: &[Reply], credits: u64) {
    let mut balances: Vec<u64> = replies
        .iter()
        .filter_map(|r| r.body["credits"].as_u64())
        .collect();
    balances.sort();
    assert_eq!(balances, (0..credits).collect::<Vec<_>>());
}

/// The `credits.*` event names `vpctl events` prints for an account, in order.
pub fn event_names(lines: &str) -> Vec<String> {
    lines
        .lines()
        .map(|l| {
            let event: serde_json::Value = serde_json::from_str(l).expect("one JSON object per line");
            event["event"].as_str().expect("an event name").to_string()
        })
        .collect()
}

/// A server that accepts connections and never answers (a stalled dependency), on a free port,
/// for as long as the test process runs. Its URL is `http://127.0.0.1:<port>`.
pub fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        // Held, never read or answered, never closed.
        let mut held = Vec::new();
        for connection in listener.incoming() {
            held.push(connection);
        }
    });
    url
}

/// A server that answers every request with `status` and an empty JSON object.
pub fn failing_server(status: u16) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", server.server_addr().to_ip().expect("ip address"));
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let _ = request.respond(tiny_http::Response::from_string("{}").with_status_code(status));
        }
    });
    url
}
