//! localstripe (PyPI), started fresh for a test: Stripe's wire format for the happy paths and the basic
//! decline. `./scripts/test.sh` installs it and sets `CLINICPAY_LOCALSTRIPE`; without it a test fails
//! with the command that fixes it, never skips.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalStripe {
    child: Child,
    port: u16,
}

impl LocalStripe {
    pub fn start() -> LocalStripe {
        let program = std::env::var("CLINICPAY_LOCALSTRIPE").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            format!("{home}/.cache/clinicpay/venv/bin/localstripe")
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&program)
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("localstripe could not start from {program} ({e}): run ./scripts/test.sh, which installs it")
            });
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "localstripe did not start listening on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        LocalStripe { child, port }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
