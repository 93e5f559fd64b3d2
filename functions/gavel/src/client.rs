//! A small client of Gavel's HTTP API, used by `gavel run` and `gavel bench`.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Client> {
        let http = gavel_http::outbound::client(|builder| builder).context("the HTTP client")?;
        Ok(Client { http, base: base.trim_end_matches('/').to_owned() })
    }

    /// Posts a job; returns its id.
    pub async fn submit(&self, request: &Value) -> anyhow::Result<String> {
        let response = self.http.post(format!("{}/execute", self.base)).json(request).send().await?;
        let status = response.status();
        let body: Value = response.json().await.context("the server's answer is not JSON")?;
        if status.as_u16() != 202 {
            bail!("the server refused the job ({status}): {}", error_message(&body));
        }
        body["job_id"].as_str().map(str::to_owned).context("the answer has no job_id")
    }

    /// One long-poll of a job's result, waiting up to `wait` for it to finish.
    pub async fn result(&self, job_id: &str, wait: Duration) -> anyhow::Result<Value> {
        let url = format!("{}/result/{job_id}?wait={}", self.base, wait.as_secs());
        let response = self.http.get(url).send().await?;
        let status = response.status();
        let body: Value = response.json().await.context("the server's answer is not JSON")?;
        if !status.is_success() {
            bail!("reading job {job_id} failed ({status}): {}", error_message(&body));
        }
        Ok(body)
    }

    /// Polls until the job is completed or failed, reporting each status seen.
    pub async fn wait(&self, job_id: &str, mut on_status: impl FnMut(&str)) -> anyhow::Result<Value> {
        loop {
            let view = self.result(job_id, Duration::from_secs(10)).await?;
            let status = view["status"].as_str().unwrap_or("unknown");
            on_status(status);
            if matches!(status, "completed" | "failed") {
                return Ok(view);
            }
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = response.status();
        let body: Value = response.json().await.context("the server's answer is not JSON")?;
        if !status.is_success() {
            bail!("GET {path} failed ({status}): {}", error_message(&body));
        }
        Ok(body)
    }
}

fn error_message(body: &Value) -> String {
    body["error"]["message"].as_str().map_or_else(|| body.to_string(), str::to_owned)
}
