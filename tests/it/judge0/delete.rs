//! Judge0's `DELETE /submissions/{token}` over a real `gavel serve`: off by default, behind
//! authorization when on, refused while a submission is queued or running, and a job's record and
//! blobs gone once its last submission is.

use std::path::Path;

use serde_json::{Value, json};

use super::{Answer, Wire, serve};
use crate::harness::Server;

fn echo(stdin: &str) -> Value {
    json!({"language_id": 71, "source_code": "print(input())", "stdin": stdin})
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_is_off_unless_the_operator_turns_it_on() {
    let (_dir, _server, wire) = serve(&[("GAVEL_JUDGE0_AUTHZ_TOKEN", "boss")]);
    let token = wire.create("", &echo("kept")).await;
    wire.finished(&token, "").await;

    // Authorized, as Judge0 asks first: without an authorization token every delete is a 403.
    let refused = delete(&wire, &token, "", Some("boss")).await;
    assert_eq!((refused.status, &refused.json), (400, &json!({"error": "delete not allowed"})), "{}", refused.text);
    assert_eq!(wire.get("/config_info").await.json["enable_submission_delete"], false);
    assert_eq!(wire.finished(&token, "fields=stdout").await.json["stdout"], "kept\n", "nothing was deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_takes_ended_submissions_and_a_job_with_its_last() {
    let (dir, server, wire) =
        serve(&[("GAVEL_JUDGE0_ENABLE_SUBMISSION_DELETE", "true"), ("GAVEL_JUDGE0_AUTHZ_TOKEN", "boss")]);
    assert_eq!(wire.get("/config_info").await.json["enable_submission_delete"], true);

    // Still running: refused with its status, as Judge0 refuses it.
    let sleeper = json!({"language_id": 71, "source_code": "import time; time.sleep(3)"});
    let running = wire.create("", &sleeper).await;
    let refused = delete(&wire, &running, "", Some("boss")).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let why = refused.json["error"].as_str().expect("an error");
    assert!(
        ["1 (In Queue)", "2 (Processing)"]
            .iter()
            .any(|status| why == format!("submission cannot be deleted because its status is {status}")),
        "{why}"
    );
    wire.finished(&running, "").await;

    // Authorization as for the index: none, or the wrong user, is a 403 and deletes nothing.
    assert_eq!(delete(&wire, &running, "", None).await.status, 403);
    assert_eq!(delete(&wire, &running, "", Some("intern")).await.status, 403);
    assert_eq!(wire.get(&format!("/submissions/{running}")).await.status, 200);

    // An ended lone submission: its object, always base64, with the fields asked for; then gone.
    let lone = wire.create("", &echo("bye")).await;
    wire.finished(&lone, "").await;
    let deleted = delete(&wire, &lone, "fields=token,stdout,status_id", Some("boss")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json, json!({"token": lone, "stdout": "YnllCg==\n", "status_id": 3}));
    assert_gone(&server, &wire, dir.path(), &lone).await;

    // A batch loses one submission at a time; the job goes with its last.
    let batch = wire.post("/submissions/batch", &json!({"submissions": [echo("b0"), echo("b1")]})).await;
    assert_eq!(batch.status, 201, "{}", batch.text);
    let tokens: Vec<String> =
        batch.json.as_array().expect("an array").iter().map(|t| t["token"].as_str().expect("a token").into()).collect();
    for token in &tokens {
        wire.finished(token, "").await;
    }
    assert_eq!(delete(&wire, &tokens[1], "", Some("boss")).await.status, 200);
    assert_eq!(wire.get(&format!("/submissions/{}", tokens[1])).await.status, 404);
    assert_eq!(wire.finished(&tokens[0], "fields=stdout").await.json["stdout"], "b0\n", "its sibling stays");
    let both = wire.get(&format!("/submissions/batch?tokens={},{}&fields=stdout", tokens[0], tokens[1])).await;
    assert_eq!(both.json, json!({"submissions": [{"stdout": "b0\n"}, null]}), "{}", both.text);
    let listed = wire.send(reqwest::Method::GET, "/submissions?fields=token", None, Some("boss")).await.json;
    let listed: Vec<&str> =
        listed["submissions"].as_array().expect("submissions").iter().filter_map(|s| s["token"].as_str()).collect();
    assert_eq!(listed, [tokens[0].as_str(), running.as_str()], "the index lists what is left");
    assert_eq!(server.get(&format!("/result/{}", tokens[0])).await.0, 200, "the job stays while a submission does");
    assert_eq!(delete(&wire, &tokens[0], "", Some("boss")).await.status, 200);
    assert_gone(&server, &wire, dir.path(), &tokens[0]).await;
}

/// A deleted lone submission (or a batch's item 0, whose token is its job's id): unknown to both
/// APIs, deleting it again is a 404, and no blob of its job is left on disk.
async fn assert_gone(server: &Server, wire: &Wire, data_dir: &Path, token: &str) {
    let shown = wire.get(&format!("/submissions/{token}")).await;
    assert_eq!((shown.status, &shown.json), (404, &json!({"status": 404, "error": "Not Found"})), "{}", shown.text);
    assert_eq!(delete(wire, token, "", Some("boss")).await.status, 404);
    assert_eq!(server.get(&format!("/result/{token}")).await.0, 404, "Gavel's job is gone too");
    let blobs = data_dir.join("blobs/jobs").join(token);
    let left: Vec<_> =
        std::fs::read_dir(&blobs).map(|dir| dir.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "blobs left in {}: {left:?}", blobs.display());
}

async fn delete(wire: &Wire, token: &str, query: &str, user: Option<&str>) -> Answer {
    wire.send(reqwest::Method::DELETE, &format!("/submissions/{token}?{query}"), None, user).await
}
