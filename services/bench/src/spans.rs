//! The span sink of `ingest --traces`.

/// An OTLP/gRPC receiver in this process that counts the spans it is sent and keeps nothing,
/// so the bench measures what exporting costs the server, not what storing costs a collector.
pub(crate) struct SpanSink {
    /// `--set` flags that point `hookmetry serve` at it.
    pub(crate) args: Vec<String>,
    received: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

struct CountingTraceService(std::sync::Arc<std::sync::atomic::AtomicU64>);

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService for CountingTraceService {
    async fn export(
        &self,
        request: tonic::Request<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest>,
    ) -> Result<
        tonic::Response<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse>,
        tonic::Status,
    > {
        let spans: usize =
            request.get_ref().resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
        self.0.fetch_add(spans as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(tonic::Response::new(Default::default()))
    }
}

impl SpanSink {
    pub(crate) async fn start(ratio: f64) -> anyhow::Result<Self> {
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let service = TraceServiceServer::new(CountingTraceService(received.clone()));
        let task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            if let Err(e) = tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await
            {
                eprintln!("span sink stopped: {e}");
            }
        });
        let args = vec![
            "--set".to_string(),
            format!("telemetry.otlp_endpoint=http://{address}"),
            "--set".to_string(),
            format!("telemetry.trace_sample_ratio={ratio}"),
        ];
        Ok(Self { args, received, task })
    }

    pub(crate) async fn stop(self) -> u64 {
        self.task.abort();
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }
}
