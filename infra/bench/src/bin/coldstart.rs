//! `coldstart`: how long a Lambda `bootstrap` takes from spawn to its first answer, and how
//! much memory it needed, measured the way Lambda would see it. A small Lambda Runtime API
//! emulator spawns the binary, hands it one event on `/invocation/next`, and notes when the
//! answer comes back and the process's peak RSS (`VmHWM`). Two binaries are measured in
//! alternation (A, B, A, B, ...) so that machine noise falls on both alike.

use clap::Parser;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tiny_http::{Header, Response, Server};

#[derive(Parser)]
struct Args {
    /// The baseline bootstrap (the bare function).
    #[arg(long)]
    baseline: PathBuf,
    /// The bootstrap under test.
    #[arg(long)]
    function: PathBuf,
    /// The event both are sent (an API Gateway HTTP API payload).
    #[arg(long)]
    event: PathBuf,
    /// NAME=value for the function under test (repeatable).
    #[arg(long = "env")]
    env: Vec<String>,
    /// Rounds of A/B.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
}

struct Run {
    /// Spawn → the function asks for its first event (init done).
    init: Duration,
    /// Spawn → its first answer arrives.
    first_answer: Duration,
    status: u16,
    peak_rss_kib: u64,
    /// Resident at the first answer: heap and stacks, and pages of the binary and libraries.
    anon_kib: u64,
    file_kib: u64,
}

fn main() {
    let args = Args::parse();
    let event = std::fs::read_to_string(&args.event).expect("event file");
    let env: Vec<(String, String)> = args
        .env
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("--env NAME=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    let (mut base, mut func) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        base.push(cold_start(&args.baseline, &event, &[]));
        func.push(cold_start(&args.function, &event, &env));
    }
    report("bare lambda_http", &base);
    report(&args.function.display().to_string(), &func);
    let gap =
        median(&func, |r| r.first_answer).as_secs_f64() - median(&base, |r| r.first_answer).as_secs_f64();
    println!(
        "difference in median spawn -> first answer: {:.2} ms",
        gap * 1000.0
    );
}

fn cold_start(bootstrap: &PathBuf, event: &str, env: &[(String, String)]) -> Run {
    let server = Server::http("127.0.0.1:0").expect("runtime API listener");
    let address = server.server_addr().to_ip().expect("ip listener");
    let started = Instant::now();
    let mut child = Command::new(bootstrap)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", bootstrap.display()));
    let mut init = None;
    let run = loop {
        let mut request = server
            .recv_timeout(Duration::from_secs(20))
            .expect("runtime API")
            .unwrap_or_else(|| panic!("{} never called the Runtime API", bootstrap.display()));
        let url = request.url().to_string();
        if url.ends_with("/invocation/next") {
            init = Some(started.elapsed());
            let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
            let deadline_ms = deadline
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            let headers = [
                ("Lambda-Runtime-Aws-Request-Id", "bench-request".to_string()),
                ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench".to_string(),
                ),
                ("Content-Type", "application/json".to_string()),
            ];
            let mut response = Response::from_string(event);
            for (name, value) in headers {
                response.add_header(Header::from_bytes(name, value).unwrap());
            }
            request.respond(response).expect("send the event");
        } else if url.ends_with("/response") {
            let first_answer = started.elapsed();
            let mut body = String::new();
            request
                .as_reader()
                .read_to_string(&mut body)
                .expect("answer body");
            let status = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["statusCode"].as_u64())
                .unwrap_or(0) as u16;
            let peak_rss_kib = status_kib(child.id(), "VmHWM:");
            let anon_kib = status_kib(child.id(), "RssAnon:");
            let file_kib = status_kib(child.id(), "RssFile:");
            if let Ok(threshold) = std::env::var("COLDSTART_SMAPS") {
                print_big_mappings(child.id(), threshold.parse().unwrap_or(256));
            }
            let _ = request.respond(Response::empty(202));
            break Run {
                init: init.expect("an event was handed out"),
                first_answer,
                status,
                peak_rss_kib,
                anon_kib,
                file_kib,
            };
        } else {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let _ = child.kill();
            panic!("{} reported an error at {url}: {body}", bootstrap.display());
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    run
}

/// A memory figure of /proc/<pid>/status (`VmHWM:` is the peak resident set so far), in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Each mapping resident for more than `threshold_kib` (set COLDSTART_SMAPS to see where RSS
/// goes: `COLDSTART_SMAPS=16` lists those over 16 KiB; a value that is not a number, over 256).
fn print_big_mappings(pid: u32, threshold_kib: u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut mapping = "";
    for line in smaps.lines() {
        if line.contains('-') && !line.starts_with(|c: char| c.is_ascii_uppercase()) {
            mapping = line;
        } else if let Some(rss) = line.strip_prefix("Rss:") {
            let kib: u64 = rss.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            if kib > threshold_kib {
                eprintln!("{kib:>6} KiB  {mapping}");
            }
        }
    }
}

fn median(runs: &[Run], pick: impl Fn(&Run) -> Duration) -> Duration {
    let mut values: Vec<Duration> = runs.iter().map(pick).collect();
    values.sort();
    values[values.len() / 2]
}

fn report(name: &str, runs: &[Run]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut answers: Vec<Duration> = runs.iter().map(|r| r.first_answer).collect();
    answers.sort();
    let p90 = answers[(answers.len() * 9 / 10).min(answers.len() - 1)];
    let rss = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
    let anon = runs.iter().map(|r| r.anon_kib).max().unwrap_or(0);
    let file = runs.iter().map(|r| r.file_kib).max().unwrap_or(0);
    let statuses: std::collections::BTreeSet<u16> = runs.iter().map(|r| r.status).collect();
    println!(
        "{name}: init {:.2} ms, spawn -> first answer median {:.2} ms (p90 {:.2} ms), peak RSS {:.1} MiB (at the answer: {:.1} MiB anonymous, {:.1} MiB file-backed), status {statuses:?}, {} runs",
        ms(median(runs, |r| r.init)),
        ms(median(runs, |r| r.first_answer)),
        ms(p90),
        rss as f64 / 1024.0,
        anon as f64 / 1024.0,
        file as f64 / 1024.0,
        runs.len()
    );
}
