//! Points and subtasks: each test is worth `points`, tests may form groups, and a group is scored
//! all or nothing, as the sum of its tests, or by its worst test, and only once the groups it
//! depends on have passed.

use serde::{Deserialize, Serialize};

use crate::request::RequestError;
use crate::verdict::Verdict;

/// The most points a test or a group may be worth.
pub const MAX_POINTS: f64 = 1e6;
/// The longest group name.
pub const MAX_GROUP_NAME_BYTES: usize = 100;

/// How a group's points follow from its tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupScoring {
    /// The group's points only if every test passes; the tests after the first failure are
    /// skipped.
    #[default]
    AllOrNothing,
    /// The tests' scores, scaled to the group's points.
    Sum,
    /// The worst test's fraction (score / points) of the group's points.
    Min,
}

/// A group as a request gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    pub name: String,
    /// Default: the sum of its tests' points.
    #[serde(default)]
    pub points: Option<f64>,
    #[serde(default)]
    pub scoring: GroupScoring,
    /// Names of groups listed before this one that must pass for this one to run.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// A valid group: its tests and dependencies by index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub points: f64,
    pub scoring: GroupScoring,
    /// Indices of earlier groups.
    pub depends_on: Vec<usize>,
    /// Indices of its tests, in order.
    pub tests: Vec<usize>,
}

fn invalid(field: String, message: impl Into<String>) -> RequestError {
    RequestError::InvalidField { field, message: message.into() }
}

/// A number of points: finite, at least 0, at most [`MAX_POINTS`].
pub fn check_points(field: &str, points: f64) -> Result<(), RequestError> {
    if !(points.is_finite() && (0.0..=MAX_POINTS).contains(&points)) {
        return Err(invalid(
            field.to_owned(),
            format!("{field} must be a number from 0 to {MAX_POINTS}, got {points}"),
        ));
    }
    Ok(())
}

/// Validates the groups against the tests' `group` names (one per test, in test order) and
/// points. With groups, every test belongs to exactly one, and every group has a test.
pub fn resolve_groups(
    inputs: Vec<GroupInput>,
    test_groups: &[Option<String>],
    test_points: &[f64],
) -> Result<Vec<Group>, RequestError> {
    if inputs.is_empty() {
        if let Some(i) = test_groups.iter().position(Option::is_some) {
            return Err(invalid(
                format!("tests[{i}].group"),
                format!("tests[{i}].group names a group, but the request has no groups"),
            ));
        }
        return Ok(Vec::new());
    }
    if inputs.len() > test_points.len() {
        let message = format!("{} groups for {} tests: every group needs a test", inputs.len(), test_points.len());
        return Err(invalid("groups".into(), message));
    }
    let mut groups: Vec<Group> = Vec::with_capacity(inputs.len());
    for (g, input) in inputs.into_iter().enumerate() {
        let at = format!("groups[{g}]");
        if input.name.is_empty() || input.name.len() > MAX_GROUP_NAME_BYTES {
            return Err(invalid(format!("{at}.name"), format!("{at}.name must be 1 to {MAX_GROUP_NAME_BYTES} bytes")));
        }
        if groups.iter().any(|earlier| earlier.name == input.name) {
            return Err(invalid(format!("{at}.name"), format!("{at}.name {:?} is given twice", input.name)));
        }
        let mut depends_on = Vec::with_capacity(input.depends_on.len());
        for (d, name) in input.depends_on.iter().enumerate() {
            let Some(index) = groups.iter().position(|earlier| earlier.name == *name) else {
                let message = format!("{at}.depends_on[{d}] {name:?} must name a group listed before {:?}", input.name);
                return Err(invalid(format!("{at}.depends_on[{d}]"), message));
            };
            if !depends_on.contains(&index) {
                depends_on.push(index);
            }
        }
        let tests: Vec<usize> =
            (0..test_groups.len()).filter(|&t| test_groups[t].as_deref() == Some(&input.name)).collect();
        if tests.is_empty() {
            return Err(invalid(format!("{at}.name"), format!("{at} {:?} has no tests", input.name)));
        }
        let points = match input.points {
            Some(points) => {
                check_points(&format!("{at}.points"), points)?;
                points
            }
            None => tests.iter().map(|&t| test_points[t]).sum(),
        };
        groups.push(Group { name: input.name, points, scoring: input.scoring, depends_on, tests });
    }
    for (t, group) in test_groups.iter().enumerate() {
        match group {
            None => {
                return Err(invalid(
                    format!("tests[{t}].group"),
                    format!("tests[{t}].group is required when the request has groups"),
                ));
            }
            Some(name) if !groups.iter().any(|g| g.name == *name) => {
                return Err(invalid(format!("tests[{t}].group"), format!("tests[{t}].group {name:?} names no group")));
            }
            Some(_) => {}
        }
    }
    Ok(groups)
}

/// A group's judged result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupResult {
    pub name: String,
    pub score: f64,
    pub max_score: f64,
    /// Accepted when every test passed; skipped when a dependency did not; otherwise the first
    /// failing test's verdict.
    pub verdict: Verdict,
}

/// Marks as skipped what the groups say is not run: every test of a group whose dependency did
/// not pass, and in an all-or-nothing group every test after its first failure. Groups are in
/// dependency order (each depends only on earlier ones).
pub fn apply_skips(groups: &[Group], verdicts: &mut [Verdict]) {
    let mut passed = Vec::with_capacity(groups.len());
    for group in groups {
        let blocked = group.depends_on.iter().any(|&d| !passed.get(d).copied().unwrap_or(false));
        let mut failed = blocked;
        for &t in &group.tests {
            let Some(verdict) = verdicts.get_mut(t) else { continue };
            if failed && (blocked || group.scoring == GroupScoring::AllOrNothing) {
                *verdict = Verdict::Skipped;
            }
            failed |= !verdict.is_accepted();
        }
        passed.push(!failed);
    }
}

/// The runner's view as it runs tests in order: which groups have had a test fail on its own
/// (or skipped), so that tests the judge would skip whatever they did are not run. It skips a
/// subset of what [`apply_skips`] does: a failure seen here is a failure there.
pub struct Progress<'a> {
    groups: &'a [Group],
    group_of: Vec<Option<usize>>,
    failed: Vec<bool>,
}

impl<'a> Progress<'a> {
    pub fn new(groups: &'a [Group], tests: usize) -> Progress<'a> {
        let mut group_of = vec![None; tests];
        for (g, group) in groups.iter().enumerate() {
            for &t in &group.tests {
                if let Some(slot) = group_of.get_mut(t) {
                    *slot = Some(g);
                }
            }
        }
        Progress { groups, group_of, failed: vec![false; groups.len()] }
    }

    /// Whether test `t` would be skipped whatever it did.
    pub fn skips(&self, t: usize) -> bool {
        let Some(g) = self.group_of.get(t).copied().flatten() else { return false };
        let group = &self.groups[g];
        group.depends_on.iter().any(|&d| self.failed[d])
            || (group.scoring == GroupScoring::AllOrNothing && self.failed[g])
    }

    /// Records how test `t` ended: run and succeeded, or not (a skip included).
    pub fn record(&mut self, t: usize, succeeded: bool) {
        if let Some(g) = self.group_of.get(t).copied().flatten() {
            self.failed[g] |= !succeeded;
        }
    }
}

/// Rounds away the float noise of scaling (a score is shown to six decimals).
fn tidy(score: f64) -> f64 {
    (score * 1e6).round() / 1e6
}

/// A test's fraction of its points; a test worth nothing counts whole when it passed.
fn fraction(score: f64, points: f64, verdict: Verdict) -> f64 {
    if points > 0.0 {
        score / points
    } else if verdict.is_accepted() {
        1.0
    } else {
        0.0
    }
}

/// Each group's result from its tests' scores, points and (already skipped) verdicts.
pub fn group_results(groups: &[Group], scores: &[f64], points: &[f64], verdicts: &[Verdict]) -> Vec<GroupResult> {
    groups
        .iter()
        .map(|group| {
            let of = |t: &usize| (scores[*t], points[*t], verdicts[*t]);
            let tests: Vec<(f64, f64, Verdict)> = group.tests.iter().map(of).collect();
            let all_passed = tests.iter().all(|(_, _, v)| v.is_accepted());
            let verdict = if all_passed {
                Verdict::Accepted
            } else if tests.iter().all(|(_, _, v)| *v == Verdict::Skipped) {
                Verdict::Skipped
            } else {
                crate::verdict::overall(tests.iter().map(|(_, _, v)| *v))
            };
            let score = match group.scoring {
                _ if verdict == Verdict::Skipped => 0.0,
                GroupScoring::AllOrNothing => {
                    if all_passed {
                        group.points
                    } else {
                        0.0
                    }
                }
                GroupScoring::Sum => {
                    let (got, worth) = tests.iter().fold((0.0, 0.0), |(got, worth), (s, p, _)| (got + s, worth + p));
                    let share = if worth > 0.0 { got / worth } else { f64::from(u8::from(all_passed)) };
                    group.points * share
                }
                GroupScoring::Min => {
                    let worst = tests.iter().map(|(s, p, v)| fraction(*s, *p, *v)).fold(1.0, f64::min);
                    group.points * worst
                }
            };
            GroupResult { name: group.name.clone(), score: tidy(score), max_score: group.points, verdict }
        })
        .collect()
}

/// The job's score: its groups' where there are groups, else its tests'.
pub fn total(groups: &[GroupResult], scores: &[f64]) -> f64 {
    tidy(if groups.is_empty() { scores.iter().sum() } else { groups.iter().map(|g| g.score).sum() })
}

/// The most the job can score: its groups' points where there are groups, else its tests'.
pub fn max_total(groups: &[Group], points: &[f64]) -> f64 {
    tidy(if groups.is_empty() { points.iter().sum() } else { groups.iter().map(|g| g.points).sum() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::{Accepted as Ok_, RuntimeError as Re, Skipped as Sk, WrongAnswer as Wa};

    fn input(name: &str, points: Option<f64>, scoring: GroupScoring, depends_on: &[&str]) -> GroupInput {
        GroupInput { name: name.into(), points, scoring, depends_on: depends_on.iter().map(|d| (*d).into()).collect() }
    }

    fn names(of: &[&str]) -> Vec<Option<String>> {
        of.iter().map(|n| Some((*n).to_owned())).collect()
    }

    fn field(err: RequestError) -> String {
        match err {
            RequestError::InvalidField { field, .. } => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn groups_take_their_tests_and_earlier_dependencies() {
        let inputs = vec![
            input("samples", Some(0.0), GroupScoring::AllOrNothing, &[]),
            input("small", None, GroupScoring::Sum, &["samples", "samples"]),
        ];
        let groups = resolve_groups(inputs, &names(&["samples", "small", "small"]), &[1.0, 2.0, 3.0]).expect("valid");
        assert_eq!((groups[0].points, &groups[0].tests), (0.0, &vec![0]));
        assert_eq!((groups[1].points, &groups[1].tests, &groups[1].depends_on), (5.0, &vec![1, 2], &vec![0]));
    }

    #[test]
    fn malformed_groups_name_the_field() {
        let aon = GroupScoring::AllOrNothing;
        let refused = |inputs: Vec<GroupInput>, tests: &[Option<String>]| {
            field(resolve_groups(inputs, tests, &vec![1.0; tests.len()]).expect_err("refused"))
        };
        assert_eq!(refused(vec![], &names(&["a"])), "tests[0].group");
        assert_eq!(
            refused(vec![input("a", None, aon, &["b"]), input("b", None, aon, &[])], &names(&["a", "b"])),
            "groups[0].depends_on[0]"
        );
        assert_eq!(refused(vec![input("a", None, aon, &["a"])], &names(&["a"])), "groups[0].depends_on[0]");
        assert_eq!(
            refused(vec![input("a", None, aon, &[]), input("a", None, aon, &[])], &names(&["a", "a"])),
            "groups[1].name"
        );
        assert_eq!(
            refused(vec![input("a", None, aon, &[]), input("b", None, aon, &[])], &names(&["a", "a"])),
            "groups[1].name"
        );
        assert_eq!(refused(vec![input("a", None, aon, &[])], &[Some("a".into()), None]), "tests[1].group");
        assert_eq!(refused(vec![input("a", None, aon, &[])], &names(&["a", "z"])), "tests[1].group");
        assert_eq!(refused(vec![input("a", Some(-1.0), aon, &[])], &names(&["a"])), "groups[0].points");
        assert_eq!(refused(vec![input("", None, aon, &[])], &names(&[""])), "groups[0].name");
    }

    fn three_groups() -> Vec<Group> {
        let inputs = vec![
            input("samples", Some(0.0), GroupScoring::AllOrNothing, &[]),
            input("small", Some(30.0), GroupScoring::Sum, &["samples"]),
            input("large", Some(70.0), GroupScoring::AllOrNothing, &["small"]),
        ];
        let tests = names(&["samples", "small", "small", "small", "large", "large", "large"]);
        resolve_groups(inputs, &tests, &[1.0; 7]).expect("valid")
    }

    #[test]
    fn a_failed_dependency_skips_a_group_and_all_or_nothing_stops_at_its_first_failure() {
        let groups = three_groups();
        let mut verdicts = [Ok_, Ok_, Wa, Ok_, Ok_, Ok_, Ok_];
        apply_skips(&groups, &mut verdicts);
        assert_eq!(verdicts, [Ok_, Ok_, Wa, Ok_, Sk, Sk, Sk], "small failed, so large is not run");

        let mut verdicts = [Ok_, Ok_, Ok_, Ok_, Ok_, Re, Ok_];
        apply_skips(&groups, &mut verdicts);
        assert_eq!(verdicts, [Ok_, Ok_, Ok_, Ok_, Ok_, Re, Sk]);

        let mut verdicts = [Wa, Ok_, Ok_, Ok_, Ok_, Ok_, Ok_];
        apply_skips(&groups, &mut verdicts);
        assert_eq!(verdicts, [Wa, Sk, Sk, Sk, Sk, Sk, Sk], "skips cascade");
    }

    proptest::proptest! {
        /// Whatever the order of tests and their outcomes, the runner skips only what the judge
        /// skips too.
        #[test]
        fn the_runner_skips_a_subset_of_the_judges_skips(
            of in proptest::collection::vec(0usize..3, 1..12),
            failing in proptest::collection::vec(proptest::bool::ANY, 12),
            scoring in proptest::sample::select(vec![GroupScoring::AllOrNothing, GroupScoring::Sum, GroupScoring::Min]),
        ) {
            let used: Vec<usize> = (0..3).filter(|g| of.contains(g)).collect();
            let inputs: Vec<GroupInput> = used.iter().enumerate().map(|(i, g)| {
                let earlier: Vec<String> = used[..i].iter().map(|e| format!("g{e}")).collect();
                GroupInput { name: format!("g{g}"), points: None, scoring, depends_on: earlier.into_iter().take(1).collect() }
            }).collect();
            let tests: Vec<Option<String>> = of.iter().map(|g| Some(format!("g{g}"))).collect();
            let groups = resolve_groups(inputs, &tests, &vec![1.0; of.len()]).expect("valid");
            // What every test does when run, and what the runner runs of it.
            let full: Vec<Verdict> = (0..of.len()).map(|t| if failing[t] { Re } else { Ok_ }).collect();
            let mut progress = Progress::new(&groups, of.len());
            let mut ran = Vec::new();
            for (t, &verdict) in full.iter().enumerate() {
                let verdict = if progress.skips(t) { Sk } else { verdict };
                progress.record(t, verdict.is_accepted());
                ran.push(verdict);
            }
            let (mut judged_full, mut judged_ran) = (full.clone(), ran.clone());
            apply_skips(&groups, &mut judged_full);
            apply_skips(&groups, &mut judged_ran);
            proptest::prop_assert_eq!(judged_ran, judged_full, "ran {:?}", ran);
        }
    }

    #[test]
    fn groups_score_all_or_nothing_sum_and_min() {
        let groups = three_groups();
        let verdicts = [Ok_, Ok_, Wa, Ok_, Sk, Sk, Sk];
        let points = [1.0; 7];
        let scores: Vec<f64> = verdicts.iter().map(|v| if v.is_accepted() { 1.0 } else { 0.0 }).collect();
        let results = group_results(&groups, &scores, &points, &verdicts);
        let summary: Vec<(f64, Verdict)> = results.iter().map(|g| (g.score, g.verdict)).collect();
        assert_eq!(summary, [(0.0, Ok_), (20.0, Wa), (0.0, Sk)]);

        let min = vec![Group { scoring: GroupScoring::Min, ..groups[1].clone() }];
        let partial = [0.0, 1.0, 0.5, 1.0, 0.0, 0.0, 0.0];
        let verdicts = [Ok_, Ok_, Wa, Ok_, Sk, Sk, Sk];
        assert_eq!(group_results(&min, &partial, &points, &verdicts)[0].score, 15.0, "half of the worst test");
        let thirds = vec![Group { points: 10.0, ..groups[1].clone() }];
        assert_eq!(group_results(&thirds, &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0], &points, &verdicts)[0].score, 6.666667);
    }
}
