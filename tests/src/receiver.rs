//! The test webhook receiver (`tests/webhooks/receiver.py`, on the `standardwebhooks` package
//! from PyPI), run as a process for as long as a [`Receiver`] lives.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Receiver {
    child: Child,
    secret: tempfile::NamedTempFile,
    pub url: String,
}

impl Receiver {
    /// A receiver that checks signatures with `secret` and answers its first `failures`
    /// verified deliveries 500. Fails (never skips) without Python's `standardwebhooks`, which
    /// `make test` installs.
    pub fn start(secret: &str, failures: u32) -> Receiver {
        let receiver = Self::without_secret(failures);
        receiver.set_secret(secret);
        receiver
    }

    /// A receiver whose secret is given later ([`Receiver::set_secret`]): for an endpoint made
    /// at its address, whose secret is known once it is made.
    pub fn without_secret(failures: u32) -> Receiver {
        let secret = tempfile::NamedTempFile::new().expect("a temp file for the secret");
        let script = crate::workspace_root().join("tests/webhooks/receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(secret.path())
            .arg(failures.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the receiver");
        let mut port = String::new();
        BufReader::new(child.stdout.as_mut().expect("its stdout"))
            .read_line(&mut port)
            .expect("the receiver prints its port");
        assert!(
            !port.trim().is_empty(),
            "the receiver did not start: is Python's standardwebhooks installed (make test-tools)?"
        );
        Receiver {
            url: format!("http://127.0.0.1:{}/hook", port.trim()),
            child,
            secret,
        }
    }

    pub fn set_secret(&self, secret: &str) {
        std::fs::write(self.secret.path(), secret).expect("write the secret");
    }

    /// Every delivery so far: its webhook-id, type, data, whether it verified, the status given.
    pub fn deliveries(&self) -> Vec<serde_json::Value> {
        let url = self.url.replace("/hook", "/deliveries");
        let body = ureq::get(&url)
            .call()
            .expect("the receiver answers")
            .into_body()
            .read_to_string()
            .expect("a body");
        serde_json::from_str(&body).expect("JSON")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
