//! The bare handler the ingest and deliveries modes compare against, run as a child process.

use std::path::Path;
use std::process::Stdio;

use crate::support::read_line_with_prefix;

pub(crate) async fn serve() -> anyhow::Result<()> {
    let answer = |body: axum::body::Bytes| async move { format!("{{\"len\":{}}}", body.len()) };
    // Replays append the capture's path to the target's, so the deliveries mode sends to paths
    // under `/hook/`.
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(answer))
        .route("/hook/{*rest}", axum::routing::post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Starts this executable as the bare handler; returns the child (killed when dropped) and its
/// base URL.
pub(crate) async fn spawn(me: &Path) -> anyhow::Result<(tokio::process::Child, String)> {
    let mut child =
        tokio::process::Command::new(me).arg("bare-server").stdout(Stdio::piped()).kill_on_drop(true).spawn()?;
    let url = read_line_with_prefix(&mut child, "listening on ").await?;
    Ok((child, url))
}
