//! Judge0's paged `GET /submissions` over a real `gavel serve`: newest first across lone and
//! batched submissions, `will_paginate`'s meta, `fields`, and authorization.

use serde_json::{Value, json};

use super::{Wire, serve};

fn echo(stdin: &str) -> Value {
    json!({"language_id": 71, "source_code": "print(input())", "stdin": stdin})
}

fn tokens(answer: &Value) -> Vec<&str> {
    let submissions = answer["submissions"].as_array().expect("submissions");
    submissions.iter().map(|submission| submission["token"].as_str().expect("a token")).collect()
}

fn meta(current: u64, next: Option<u64>, prev: Option<u64>, pages: u64, count: u64) -> Value {
    json!({"current_page": current, "next_page": next, "prev_page": prev, "total_pages": pages, "total_count": count})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_pages_judge0_submissions_newest_first() {
    let (_dir, server, wire) = serve(&[("GAVEL_JUDGE0_AUTHZ_TOKEN", "boss")]);

    let first = wire.create("", &echo("a")).await;
    let batch = wire.post("/submissions/batch", &json!({"submissions": [echo("b0"), echo("b1"), echo("b2")]})).await;
    assert_eq!(batch.status, 201, "{}", batch.text);
    let batched: Vec<String> =
        batch.json.as_array().expect("an array").iter().map(|t| t["token"].as_str().expect("a token").into()).collect();
    let last = wire.create("", &echo("c")).await;
    // Gavel's own jobs are no Judge0 submissions, and are not listed.
    server.submit(json!({"language": "python", "code": "print(1)"})).await;
    let newest_first = [last.as_str(), &batched[2], &batched[1], &batched[0], first.as_str()];
    for token in newest_first {
        wire.finished(token, "").await;
    }

    let one = page(&wire, "per_page=2&fields=token,stdin").await;
    assert_eq!(tokens(&one), newest_first[..2]);
    assert_eq!(one["submissions"][1]["stdin"], "b2");
    assert_eq!(one["meta"], meta(1, Some(2), None, 3, 5));
    let two = page(&wire, "per_page=2&page=2&fields=token").await;
    assert_eq!(tokens(&two), newest_first[2..4], "the batch is cut between pages");
    assert_eq!(two["meta"], meta(2, Some(3), Some(1), 3, 5));
    let three = page(&wire, "per_page=2&page=3").await;
    assert_eq!(tokens(&three), newest_first[4..]);
    assert_eq!(three["meta"], meta(3, None, Some(2), 3, 5));
    let beyond = page(&wire, "per_page=2&page=4").await;
    assert_eq!((&beyond["submissions"], &beyond["meta"]), (&json!([]), &meta(4, None, Some(3), 3, 5)));

    // Each is rendered as its own GET renders it, defaults and `fields=*` alike.
    let all = page(&wire, "").await;
    assert_eq!(all["meta"], meta(1, None, None, 1, 5));
    for query in ["", "fields=*&base64_encoded=true"] {
        let listed = page(&wire, query).await;
        assert_eq!(tokens(&listed), newest_first, "{query:?}");
        for (submission, token) in listed["submissions"].as_array().expect("submissions").iter().zip(newest_first) {
            let shown = wire.get(&format!("/submissions/{token}?{query}")).await;
            assert_eq!(submission, &shown.json, "{token} with {query:?}");
        }
    }

    assert_eq!(index(&wire, "", None).await, (403, Value::Null), "no authorization: 403, empty");
    assert_eq!(index(&wire, "", Some("intern")).await.0, 403);
    assert_eq!(refused(&wire, "page=0").await, json!({"error": "invalid page: 0"}));
    assert_eq!(refused(&wire, "per_page=-1").await, json!({"error": "invalid per_page: -1"}));
    assert_eq!(refused(&wire, "per_page=0").await, json!({"error": "invalid per_page: 0"}), "Judge0 fails: a 500");
    assert_eq!(refused(&wire, "fields=nope").await, json!({"error": "invalid fields: [nope]"}));
}

/// The index as the authorization token `user` asks for it: status and JSON body.
async fn index(wire: &Wire, query: &str, user: Option<&str>) -> (u16, Value) {
    let answer = wire.send(reqwest::Method::GET, &format!("/submissions?{query}"), None, user).await;
    (answer.status, answer.json)
}

async fn page(wire: &Wire, query: &str) -> Value {
    let (status, body) = index(wire, query, Some("boss")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

async fn refused(wire: &Wire, query: &str) -> Value {
    let (status, body) = index(wire, query, Some("boss")).await;
    assert_eq!(status, 400, "{query}: {body}");
    body
}
