//! A `kill -9` of the server loses no accepted job; an expired job reads as 404.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::Server;

#[tokio::test(flavor = "multi_thread")]
async fn killed_server_loses_no_job() {
    let dir = crate::harness::data_dir();
    let server = Server::start_with(dir.path(), &["--workers", "1"], &[]);
    let mut jobs = Vec::new();
    for n in 0..6 {
        let code = format!("import time\ntime.sleep(0.3)\nprint({n})");
        jobs.push((n, server.submit(json!({"language": "python", "code": code})).await));
    }
    // Kill it while a job is running and the rest are queued.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, view) = server.get(&format!("/result/{}", jobs[0].1)).await;
        if view["status"] != "pending" {
            break;
        }
        assert!(Instant::now() < deadline, "the first job never started: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();

    let server = Server::start_with(dir.path(), &["--workers", "2"], &[]);
    for (n, id) in jobs {
        let view = server.wait(&id, Duration::from_secs(120)).await;
        assert_eq!(view["status"], "completed", "job {n} after the restart: {view}");
        assert_eq!(view["tests"][0]["stdout"], format!("{n}\n"), "job {n}: {view}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_job_reads_as_not_found() {
    let dir = crate::harness::data_dir();
    let server = Server::start(dir.path());
    let id = server.submit(json!({"language": "python", "code": "print(1)"})).await;
    server.wait(&id, Duration::from_secs(60)).await;
    drop(server);

    // Age the record past its 24 h as a day passing would, then read it through a new server.
    let db = rusqlite::Connection::open(dir.path().join("gavel.db")).expect("open the store");
    let aged = db
        .execute("UPDATE jobs SET expires_at = ?1 WHERE id = ?2", rusqlite::params![expired_at(), id])
        .expect("age the job");
    assert_eq!(aged, 1, "the job row exists");
    drop(db);

    let server = Server::start(dir.path());
    let (status, body) = server.get(&format!("/result/{id}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "job_not_found", "{body}");
}

/// A moment in the past, in the store's representation (nanoseconds since the epoch).
fn expired_at() -> i64 {
    (chrono::Utc::now() - chrono::Duration::seconds(1)).timestamp_nanos_opt().expect("a current time")
}
