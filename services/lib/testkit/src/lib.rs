//! Test kit: real Hookmetry servers for black-box tests, in-process ([`TestServer`]) or as a
//! child process that can be killed ([`ChildServer`]), plus a small GraphQL client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hookmetry_config::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

pub mod fixtures;
pub mod ws;

/// Every field of `Capture`, for queries that read a capture back whole.
pub const CAPTURE_FIELDS: &str = "id endpointId method path query headers { name value valueBase64 } bodyBase64 bodyText bodySize bodySha256 remoteAddr httpVersion receivedAt";

/// An endpoint as the API returned it.
#[derive(Debug, Clone)]
pub struct TestEndpoint {
    pub id: String,
    pub token: String,
    pub url: String,
}

/// A GraphQL client bound to one server and token.
#[derive(Debug, Clone)]
pub struct Client {
    pub base_url: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base_url: &str, token: &str) -> Self {
        Self { base_url: base_url.to_string(), token: token.to_string(), http: reqwest::Client::new() }
    }

    /// The raw response: status and JSON body, errors included.
    pub async fn graphql_raw(&self, query: &str, variables: Value) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .http
            .post(format!("{}/graphql", self.base_url))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.context("graphql response is not JSON")?;
        Ok((status, body))
    }

    /// `data`, failing when the response carries errors.
    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let (status, body) = self.graphql_raw(query, variables).await?;
        if status != 200 || body.get("errors").is_some_and(|e| !e.is_null()) {
            bail!("graphql failed with status {status}: {body}");
        }
        Ok(body["data"].clone())
    }

    pub async fn create_endpoint(&self, name: &str) -> anyhow::Result<TestEndpoint> {
        let data = self
            .graphql(
                "mutation($name: String!) { createEndpoint(input: {name: $name}) { id token url } }",
                json!({ "name": name }),
            )
            .await?;
        let e = &data["createEndpoint"];
        Ok(TestEndpoint {
            id: e["id"].as_str().context("id")?.to_string(),
            token: e["token"].as_str().context("token")?.to_string(),
            url: e["url"].as_str().context("url")?.to_string(),
        })
    }

    pub async fn capture(&self, id: &str) -> anyhow::Result<Value> {
        let q = format!("query($id: ID!) {{ capture(id: $id) {{ {CAPTURE_FIELDS} }} }}");
        Ok(self.graphql(&q, json!({ "id": id })).await?["capture"].clone())
    }

    /// Every capture of an endpoint, newest first, following cursors.
    pub async fn all_captures(&self, endpoint_id: &str) -> anyhow::Result<Vec<Value>> {
        let q = "query($e: ID!, $after: String) { captures(endpointId: $e, first: 200, after: $after) { edges { node { id method path bodySize bodySha256 } } pageInfo { hasNextPage endCursor } } }";
        let mut out = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = self.graphql(q, json!({ "e": endpoint_id, "after": after })).await?;
            let conn = &data["captures"];
            for edge in conn["edges"].as_array().context("edges")? {
                out.push(edge["node"].clone());
            }
            if conn["pageInfo"]["hasNextPage"] != json!(true) {
                return Ok(out);
            }
            after = conn["pageInfo"]["endCursor"].clone();
        }
    }

    /// Polls until the endpoint has at least `n` captures (the processor is asynchronous).
    pub async fn wait_for_captures(
        &self,
        endpoint_id: &str,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.all_captures(endpoint_id).await?;
            if all.len() >= n {
                return Ok(all);
            }
            if Instant::now() > deadline {
                bail!("endpoint {endpoint_id} has {} captures after {timeout:?}, expected {n}", all.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until a capture with this id is readable.
    pub async fn wait_for_capture(&self, id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.capture(id).await?;
            if !c.is_null() {
                return Ok(c);
            }
            if Instant::now() > deadline {
                bail!("capture {id} not readable after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A Hookmetry instance running in this process on a fresh data dir, bound to 127.0.0.1:0.
pub struct TestServer {
    pub base_url: String,
    pub admin: Client,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts with the defaults changed by `adjust` (data dir and listen address are set here).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().to_path_buf();
        let mut s = Self::start_in(&dir, adjust).await?;
        s._tmp = Some(tmp);
        Ok(s)
    }

    /// Starts with `section.key=value` overrides applied as `--set` flags would be; `{port}` in a
    /// value stands for the port the server listens on.
    pub async fn start_with_settings(settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().to_path_buf();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port().to_string();
        let overrides = settings.iter().map(|(k, v)| (k.to_string(), v.replace("{port}", &port))).collect::<Vec<_>>();
        let mut config = Config::load(&hookmetry_config::Sources { overrides, ..Default::default() })?;
        config.server.data_dir = dir.clone();
        config.server.listen = listener.local_addr()?;
        let mut s = Self::start_config(&dir, listener, config).await?;
        s._tmp = Some(tmp);
        Ok(s)
    }

    /// Starts on an existing data dir (for restart tests); the caller owns the directory.
    pub async fn start_in(dir: &Path, adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let mut config = hookmetry_config::for_data_dir(dir, listener.local_addr()?);
        adjust(&mut config);
        Self::start_config(dir, listener, config).await
    }

    async fn start_config(dir: &Path, listener: tokio::net::TcpListener, config: Config) -> anyhow::Result<Self> {
        // In-process, so the server reads the test's clock: CI runs some suites again with it a
        // year ahead (HOOKMETRY_TEST_CLOCK_SHIFT_DAYS).
        hookmetry_core::clock::shift_from_env();
        let shutdown = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(hookmetry::run(config, listener, shutdown.clone(), move |s| {
            let _ = tx.send(s.clone());
        }));
        let started = match rx.await {
            Ok(s) => s,
            Err(_) => {
                let err = task.await.map_err(anyhow::Error::from).and_then(|r| r.map(|_| ()));
                bail!("server did not start: {err:?}");
            }
        };
        let token = std::fs::read_to_string(dir.join(hookmetry::ADMIN_TOKEN_FILE))?.trim().to_string();
        Ok(Self {
            admin: Client::new(&started.base_url, &token),
            base_url: started.base_url,
            data_dir: dir.to_path_buf(),
            _tmp: None,
            shutdown,
            task,
        })
    }

    /// Graceful stop; returns what `run` returned.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await?
    }
}

/// `hookmetry serve` as a child process, for tests that kill it.
pub struct ChildServer {
    pub child: tokio::process::Child,
    pub base_url: String,
    pub admin_token: String,
}

impl ChildServer {
    /// Starts `binary serve --listen 127.0.0.1:0 --data-dir dir` and waits for its banner.
    pub async fn start(binary: &Path, dir: &Path, extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_env(binary, dir, extra_args, &[]).await
    }

    /// [`ChildServer::start`] with these environment variables set for the child as well.
    pub async fn start_with_env(
        binary: &Path,
        dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut args: Vec<&str> = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir"];
        let dir_arg = dir.to_str().context("data dir is not UTF-8")?;
        args.push(dir_arg);
        args.extend_from_slice(extra_args);
        let mut server = Self::spawn_with_env(binary, &args, env, String::new()).await?;
        server.admin_token = std::fs::read_to_string(dir.join(hookmetry::ADMIN_TOKEN_FILE))?.trim().to_string();
        Ok(server)
    }

    /// Starts `binary` with `args` (a `run --roles …` node, say) and waits for its banner.
    /// `admin_token` is what [`ChildServer::client`] authenticates with.
    pub async fn spawn(binary: &Path, args: &[&str], admin_token: String) -> anyhow::Result<Self> {
        Self::spawn_with_env(binary, args, &[], admin_token).await
    }

    /// [`ChildServer::spawn`] with these environment variables set for the child as well.
    pub async fn spawn_with_env(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        admin_token: String,
    ) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(binary)
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("hookmetry is listening on ") {
                    return Ok(url.trim().to_string());
                }
            }
            bail!("server exited before listening")
        })
        .await
        .context("server did not start within 30s")??;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, base_url, admin_token })
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base_url, &self.admin_token)
    }

    /// SIGKILL: no shutdown code runs.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// Reads one request (head and `content-length` body) and returns its head; `None` at the end of
/// the stream.
pub async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
        .map_or(0, |v| v.parse().unwrap_or(0));
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(head)
}

/// Checks a conformance module's `CASES` (which its `run_all` and per-case test macro expand)
/// against the cases its `source` defines, the `pub async fn NAME(h: &dyn HARNESS) {` lines, so
/// that a new case cannot be left out of either.
pub fn assert_cases_listed_once(source: &str, harness: &str, listed: &[&str]) {
    let signature_end = format!("(h: &dyn {harness}) {{");
    let cases: Vec<&str> =
        source.lines().filter_map(|l| l.strip_prefix("pub async fn ")?.strip_suffix(signature_end.as_str())).collect();
    for case in &cases {
        assert!(listed.contains(case), "`{case}` is missing from the case list in conformance.rs");
    }
    assert_eq!(listed.len(), cases.len(), "the case list names a case twice or one that is gone");
}
