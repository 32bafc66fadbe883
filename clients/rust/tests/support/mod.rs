// Test support: runs the real sidewald on a temporary directory for one test
// and stops it afterwards. Shared by the integration tests (`mod support;`)
// and the doc examples (which include! this file), so it holds items only.
// Not part of the library.

#[allow(dead_code)]
pub struct TestDaemon {
    child: Option<std::process::Child>,
    dir: std::path::PathBuf,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

#[allow(dead_code)]
impl TestDaemon {
    /// The binary: $SIDEWALD, else build/bin/sidewald of this checkout.
    pub fn binary() -> std::path::PathBuf {
        if let Some(p) = std::env::var_os("SIDEWALD") {
            return std::path::PathBuf::from(p);
        }
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/bin/sidewald");
        if !p.exists() {
            panic!(
                "these tests run the real daemon: set SIDEWALD to a sidewald binary \
                 (or build one at {}: scripts/build.sh release)",
                p.display()
            );
        }
        p
    }

    /// Starts sidewald with its defaults.
    pub fn start() -> TestDaemon {
        TestDaemon::start_with("")
    }

    /// Starts sidewald with `yaml` as its config file (data_dir, socket.path
    /// and admin.listen come from flags) and waits until STATUS says ready.
    pub fn start_with(yaml: &str) -> TestDaemon {
        use std::io::Read;
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Short: the socket path must fit sun_path (108 bytes).
        let dir = std::path::PathBuf::from(format!(
            "/tmp/swrs-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            nanos
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut command = std::process::Command::new(TestDaemon::binary());
        if !yaml.is_empty() {
            let config = dir.join("sidewal.yaml");
            std::fs::write(&config, yaml).expect("config");
            command.arg("--config").arg(&config);
        }
        let mut child = command
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--socket")
            .arg(dir.join("s.sock"))
            .arg("--admin")
            .arg("127.0.0.1:0")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sidewald");
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        // Drain both pipes so the daemon never blocks on them.
        let pipes: Vec<Box<dyn Read + Send>> = vec![
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for mut pipe in pipes {
            let out = output.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => out.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
            });
        }
        let mut daemon = TestDaemon { child: Some(child), dir, output };
        daemon.wait_ready();
        daemon
    }

    // Polls: connect (the client retries while the socket is missing) and
    // STATUS until the log is ready; fails at once if the daemon exits.
    fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let options = sidewal::ClientOptions {
            connect_timeout: std::time::Duration::from_millis(100),
            io_timeout: Some(std::time::Duration::from_secs(10)),
            ..sidewal::ClientOptions::default()
        };
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                panic!("sidewald exited ({}) before it was ready:\n{}", status, self.output());
            }
            match sidewal::Client::connect_with(self.socket(), options.clone()) {
                Ok(mut client) => {
                    if let Ok(s) = client.status() {
                        if s.state == sidewal::DaemonState::Ready {
                            return;
                        }
                    }
                }
                // A daemon whose allow-list leaves us out answers, unprompted.
                Err(e) if e.code() == Some(sidewal::ErrorCode::Unauthorized) => return,
                Err(_) => {}
            }
            if std::time::Instant::now() > deadline {
                panic!("sidewald not ready after 60 s:\n{}", self.output());
            }
        }
    }

    pub fn socket(&self) -> std::path::PathBuf {
        self.dir.join("s.sock")
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Everything the daemon printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// SIGTERM (a graceful shutdown) and waits for the exit; returns its code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
