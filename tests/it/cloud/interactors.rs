//! The interactive problems of `crate::interactors` through the cloud pipeline: the task reads
//! the judge data before its first test, with the same results as on `gavel serve`.

use super::Stack;
use crate::interactors::INTERACTIVE;

#[tokio::test(flavor = "multi_thread")]
async fn interactive_problems_through_the_whole_pipeline() {
    Stack::new().await.judge_all(INTERACTIVE).await;
}
