//! The contest problems of `crate::problems` through the cloud pipeline: the same results as on
//! `gavel serve`.

use gavel_core::ports::keys;

use super::Stack;
use crate::problems::PROBLEMS;

#[tokio::test(flavor = "multi_thread")]
async fn contest_problems_through_the_whole_pipeline() {
    let stack = Stack::new().await;
    for problem in PROBLEMS {
        let (job_id, view, _) = stack.judge((problem.request)()).await;
        assert_eq!(view["status"], "completed", "{}: {view}", problem.name);
        (problem.check)(&view);
        let key = keys::report(&job_id.parse().expect("a job id"));
        problem.check_report(&stack.blobs.get(&key, 1 << 24).await.expect("S3 answers").expect("the report"));
    }
}
