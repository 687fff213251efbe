//! What the DynamoDB proxies ([`crate::counting`], [`crate::metering`]) share: the client they
//! forward with and the local port they serve on.

/// The client a proxy forwards with: a redirect goes back to the caller, not followed.
pub(crate) fn upstream_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .expect("an HTTP client")
}

/// Serves `app` on a free port of 127.0.0.1: its URL, `http://127.0.0.1:<port>`, and the task
/// serving it.
pub(crate) async fn serve(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("the proxy serves");
    });
    (url, server)
}
