//! The custom checkers of `crate::checkers` through the cloud pipeline: the runner reads the
//! answers from a second presigned URL once the solution's runs are over, with the same results
//! as on `gavel serve`.

use super::Stack;
use crate::checkers::CHECKED;

#[tokio::test(flavor = "multi_thread")]
async fn custom_checkers_through_the_whole_pipeline() {
    Stack::new().await.judge_all(CHECKED).await;
}
