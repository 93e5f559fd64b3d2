//! Judge0 submissions as Gavel jobs. One submission is one job of `number_of_runs` tests. In a
//! batch, submissions that differ only in their input and expected output are one job: compiled
//! once, one test per run of each, each submission still judged on its own.

use chrono::Utc;
use gavel_core::checker::Checker;
use gavel_core::job::Listing;
use gavel_core::request::{ExecuteRequest, TestCaseInput};
use gavel_core::runner::{Encoding, Output, Streams};
use gavel_core::usecases::{self, NewJob};
use gavel_core::{JobId, Language, ServerLimits};

use super::error::Judge0Error;
use super::limits::Rules;
use super::record::{self, Item, Shared, StoredJob};
use super::request::Submission;
use super::token;
use super::{args, callbacks};
use crate::AppState;

/// Submissions bound for one job: indices into the request's list, and what they share.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Group {
    pub language: &'static Language,
    pub members: Vec<usize>,
    pub job: StoredJob,
}

impl Group {
    /// A lone submission (index `index` of its request) as a group of its own.
    pub(super) fn new(index: usize, submission: Submission) -> Group {
        let job = StoredJob { shared: submission.shared, items: vec![submission.item] };
        Group { language: submission.language, members: vec![index], job }
    }
}

/// Groups `submissions` (index in the request, submission) by everything but their input and
/// expected output, in order of first appearance; a group holds what one job can.
pub(super) fn group(submissions: Vec<(usize, Submission)>, rules: &Rules, server: &ServerLimits) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (index, submission) in submissions {
        let runs = usize::try_from(submission.shared.values.number_of_runs).unwrap_or(1).max(1);
        let room = (rules.runs_per_job(&submission.shared.values, server) / runs).clamp(1, token::PER_JOB);
        let open = groups.iter_mut().find(|group| {
            group.job.shared == submission.shared && group.language == submission.language && group.members.len() < room
        });
        match open {
            Some(group) => {
                group.members.push(index);
                group.job.items.push(submission.item);
            }
            None => groups.push(Group::new(index, submission)),
        }
    }
    groups
}

/// The Gavel request that runs a group.
pub(super) fn execute_request(group: &Group, job_id: &JobId, rules: &Rules, server: &ServerLimits) -> ExecuteRequest {
    let shared: &Shared = &group.job.shared;
    let runs = usize::try_from(shared.values.number_of_runs).unwrap_or(1).max(1);
    let tests: Vec<TestCaseInput> = group
        .job
        .items
        .iter()
        .enumerate()
        .flat_map(|(i, item)| (1..=runs).map(move |run| (i, run, item)))
        .map(|(i, run, item)| {
            let token = token::token(job_id, i);
            let (input, expected_output, encoding) = test_data(item);
            TestCaseInput {
                name: Some(if runs == 1 { token } else { format!("{token} run {run}") }),
                input,
                expected_output,
                hidden: false,
                encoding,
                points: None,
                group: None,
            }
        })
        .collect();
    let arguments = shared.command_line_arguments.as_deref().map(args::split).filter(|words| !words.is_empty());
    ExecuteRequest {
        language: group.language.id.to_owned(),
        code: shared.source_code.text.clone(),
        limits: Some(rules.gavel_limits(&shared.values, tests.len(), server)),
        tests: Some(tests),
        checker: Some(Checker::Lines),
        // A lone submission's runs stop at the first that fails, as Judge0's do; in a group
        // every submission is judged on its own.
        stop_on_first_failure: group.job.items.len() == 1 && runs > 1,
        args: arguments,
        streams: Streams { merge_stderr: shared.redirect_stderr_to_stdout, keep_order: false },
        ..ExecuteRequest::default()
    }
}

/// An item's stdin and expected output as one Gavel test gives them: text, or base64 for both
/// when either is not UTF-8.
fn test_data(item: &Item) -> (String, Option<String>, Encoding) {
    let (stdin, expected) = (item.stdin.as_ref(), item.expected_output.as_ref());
    if [stdin, expected].into_iter().flatten().all(|data| data.encoding == Encoding::Utf8) {
        return (
            stdin.map(|stdin| stdin.text.clone()).unwrap_or_default(),
            expected.map(|e| e.text.clone()),
            Encoding::Utf8,
        );
    }
    let base64 = |data: &Output| Output::base64(&data.bytes().unwrap_or_default()).text;
    (stdin.map(base64).unwrap_or_default(), expected.map(base64), Encoding::Base64)
}

/// The listing tag of the jobs the Judge0 API makes: its index lists them, and no others.
pub(super) const LISTING_TAG: &str = "judge0";

/// Submits a group as one job: its Judge0 data first, so a token handed out can always be read.
pub(super) async fn submit(state: &AppState, group: &Group, rules: &Rules) -> Result<JobId, Judge0Error> {
    let job_id = token::new_job();
    let request = execute_request(group, &job_id, rules, &state.limits);
    record::save(&*state.blobs, &job_id, &group.job).await?;
    if group.job.items.iter().any(|item| item.callback_url.is_some()) {
        callbacks::mark(&*state.blobs, &job_id).await?;
    }
    // A group holds at most `token::PER_JOB` submissions.
    let listing = Listing { tag: LISTING_TAG.into(), items: group.job.items.len() as u32 };
    let job = NewJob { id: job_id.clone(), listing: Some(listing) };
    let submitted =
        usecases::submit_with_id(&*state.store, &*state.blobs, &*state.queue, &state.limits, request, job, Utc::now())
            .await;
    if let Err(err) = submitted {
        record::remove(&*state.blobs, &job_id).await;
        return Err(err.into());
    }
    Ok(job_id)
}

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;
