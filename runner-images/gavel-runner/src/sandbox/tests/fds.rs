//! Descriptors a run gets beside its own ([`RunFds`]): in-memory files at 3, 4, 5 (a checker's,
//! an interactor's) and stdio connected to another run's (an interactive problem), in the full
//! mode and the container level (degraded as root, with and without Landlock).

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::*;
use crate::sandbox::streams::pipe;

/// A sandbox of each mode, named.
fn modes() -> [(&'static str, Sandbox); 3] {
    require_root("a uid of its own for the program");
    let landlock = degraded(SandboxOptions::default());
    assert!(landlock.isolation().landlock, "{:?}", landlock.isolation());
    [
        ("full", sandbox()),
        ("degraded", landlock),
        ("degraded without landlock", degraded(SandboxOptions { no_landlock: true, ..SandboxOptions::default() })),
    ]
}

fn sealed(bytes: &str) -> OwnedFd {
    sealed_file("test", bytes.as_bytes()).expect("sealed file")
}

fn extra(files: Vec<OwnedFd>) -> RunFds {
    RunFds { extra: files, stdio: None }
}

fn clone(fd: &OwnedFd) -> OwnedFd {
    fd.try_clone().expect("dup")
}

fn contents(fd: &OwnedFd) -> String {
    let (data, more) = read_capped(fd, 1 << 20).expect("read");
    assert!(!more);
    text(&data)
}

#[test]
fn a_checker_reads_three_sealed_files() {
    for (mode, mut sb) in modes() {
        let files = vec![sealed("input\n"), sealed("output\n"), sealed("answer\n")];
        // By path (a fresh open, as testlib does) and through the descriptor itself.
        let c = sh("cat /dev/fd/3 /dev/fd/4 /dev/fd/5; cat <&5");
        let out = sb.run_with(&c, extra(files)).expect("run");
        assert_eq!(out.exit_code, Some(0), "{mode}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "input\noutput\nanswer\nanswer\n", "{mode}");
    }
}

#[test]
fn a_sealed_file_cannot_be_changed() {
    for (mode, mut sb) in modes() {
        let file = sealed("fixed\n");
        for script in ["echo x > /dev/fd/3", "echo x >> /dev/fd/3", "echo x >&3", "truncate -s 0 /dev/fd/3"] {
            let out = sb.run_with(&sh(script), extra(vec![clone(&file)])).expect("run");
            assert_ne!(out.exit_code, Some(0), "{mode}: {script} succeeded");
        }
        assert_eq!(contents(&file), "fixed\n", "{mode}");
    }
}

#[test]
fn a_scratch_file_is_written_through_dev_fd_4() {
    for (mode, mut sb) in modes() {
        let file = scratch_file("output").expect("scratch file");
        let fds = extra(vec![sealed("in\n"), clone(&file)]);
        let out = sb.run_with(&sh("cat /dev/fd/3 > /dev/fd/4; echo hello > /dev/fd/4"), fds).expect("run");
        assert_eq!(out.exit_code, Some(0), "{mode}: {}", text(&out.stderr));
        // The second open truncated what the first wrote.
        assert_eq!(contents(&file), "hello\n", "{mode}");
        assert_eq!(read_capped(&file, 3).expect("read"), (b"hel".to_vec(), true));
        assert_eq!(read_capped(&file, 6).expect("read"), (b"hello\n".to_vec(), false));
        assert_eq!(read_capped(&file, 0).expect("read"), (Vec::new(), true));
        // Python's open(..., "w") is C's fopen: O_WRONLY | O_CREAT | O_TRUNC.
        let code = "open('/dev/fd/3', 'w').write('from python')";
        run_ok_with(&mut sb, &py(code), extra(vec![clone(&file)]));
        assert_eq!(contents(&file), "from python", "{mode}");
    }
}

#[test]
fn the_program_has_only_its_own_descriptors() {
    let script = "for n in $(seq 3 30); do [ -e /proc/self/fd/$n ] && printf '%s ' $n; done; echo";
    for (mode, mut sb) in modes() {
        let out = run_ok_with(&mut sb, &sh(script), RunFds::default());
        assert_eq!(text(&out.stdout), "\n", "{mode}");
        let out = run_ok_with(&mut sb, &sh(script), extra(vec![sealed("a"), sealed("b")]));
        assert_eq!(text(&out.stdout), "3 4 \n", "{mode}");
        let three = extra(vec![sealed("a"), sealed("b"), sealed("c")]);
        let out = run_ok_with(&mut sb, &sh(script), three);
        assert_eq!(text(&out.stdout), "3 4 5 \n", "{mode}");
    }
}

#[test]
fn bad_descriptors_are_invalid_commands() {
    for (mode, mut sb) in modes() {
        let four = extra((0..=MAX_EXTRA_FDS).map(|_| sealed("x")).collect());
        let r = sb.run_with(&cmd(&["true"]), four);
        assert!(matches!(r, Err(SandboxError::InvalidCommand(_))), "{mode}: {r:?}");
        let fed = RunCommand { stdin: b"x".to_vec(), ..cmd(&["cat"]) };
        let r = sb.run_with(&fed, connected());
        assert!(matches!(r, Err(SandboxError::InvalidCommand(_))), "{mode}: {r:?}");
        let merged = RunCommand { merge_stderr: true, ..cmd(&["true"]) };
        let r = sb.run_with(&merged, connected());
        assert!(matches!(r, Err(SandboxError::InvalidCommand(_))), "{mode}: {r:?}");
        let out = run_ok(&mut sb, &cmd(&["echo", "fine"]));
        assert_eq!(out.stdout, b"fine\n", "{mode}");
    }
}

/// Stdio connected to pipes nobody else holds.
fn connected() -> RunFds {
    let (r, _) = pipe().expect("pipe");
    let (_, w) = pipe().expect("pipe");
    RunFds { extra: Vec::new(), stdio: Some((r, w)) }
}

fn run_ok_with(sb: &mut Sandbox, c: &RunCommand, fds: RunFds) -> RunOutcome {
    let out = sb.run_with(c, fds).expect("run");
    assert_eq!(out.exit_code, Some(0), "{:?}: stdout {:?} stderr {:?}", c.argv, text(&out.stdout), text(&out.stderr));
    out
}

/// Two sandboxes of each mode.
fn pairs() -> [(&'static str, Sandbox, Sandbox); 2] {
    require_root("a uid of its own for the program");
    [
        ("full", sandbox(), sandbox()),
        ("degraded", degraded(SandboxOptions::default()), degraded(SandboxOptions::default())),
    ]
}

/// Runs `a` and `b` at once, each in its sandbox and thread, `a`'s stdout into `b`'s stdin and
/// `b`'s into `a`'s; returns both outcomes and how long the two took.
fn interact(
    (sa, a): (&mut Sandbox, RunCommand),
    (sb, b): (&mut Sandbox, RunCommand),
) -> (RunOutcome, RunOutcome, Duration) {
    let (a_to_b_r, a_to_b_w) = pipe().expect("pipe");
    let (b_to_a_r, b_to_a_w) = pipe().expect("pipe");
    let a_fds = RunFds { extra: Vec::new(), stdio: Some((b_to_a_r, a_to_b_w)) };
    let b_fds = RunFds { extra: Vec::new(), stdio: Some((a_to_b_r, b_to_a_w)) };
    let started = Instant::now();
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| sa.run_with(&a, a_fds));
        let tb = s.spawn(|| sb.run_with(&b, b_fds));
        (ta.join().expect("thread"), tb.join().expect("thread"))
    });
    (ra.expect("run a"), rb.expect("run b"), started.elapsed())
}

#[test]
fn two_sandboxes_play_ping_pong() {
    // `a` sends a number, `b` adds one and answers, `a` adds one and sends it on: ten rounds.
    let a = sh("n=0; i=0; while [ $i -lt 10 ]; do echo $n; read n; n=$((n+1)); i=$((i+1)); done; echo $n >&2");
    let b = sh("while read n; do echo $((n+1)); done; echo eof >&2");
    for (mode, mut sa, mut sb) in pairs() {
        let (oa, ob, _) = interact((&mut sa, a.clone()), (&mut sb, b.clone()));
        assert_eq!((oa.exit_code, ob.exit_code), (Some(0), Some(0)), "{mode}: {oa:?} {ob:?}");
        assert_eq!((text(&oa.stderr), text(&ob.stderr)), ("20\n".into(), "eof\n".into()), "{mode}");
        assert!(oa.stdout.is_empty() && ob.stdout.is_empty(), "{mode}: stdout is the other side's");
        // Both sandboxes work on their own afterwards.
        assert_eq!(run_ok(&mut sa, &cmd(&["echo", "a"])).stdout, b"a\n", "{mode}");
        assert_eq!(run_ok(&mut sb, &cmd(&["echo", "b"])).stdout, b"b\n", "{mode}");
    }
}

#[test]
fn when_one_side_ends_early_the_other_ends_too() {
    let quick = Duration::from_secs(5);
    for (mode, mut sa, mut sb) in pairs() {
        // The reader goes: the writer's next write is a SIGPIPE.
        let (oa, ob, took) = interact((&mut sa, sh("read x; echo got $x >&2")), (&mut sb, cmd(&["yes"])));
        assert_eq!((oa.exit_code, text(&oa.stderr)), (Some(0), "got y\n".into()), "{mode}: {oa:?}");
        assert_eq!((ob.signal, ob.limit), (Some(libc::SIGPIPE), None), "{mode}: {ob:?}");
        assert!(took < quick, "{mode}: {took:?}");
        // The writer goes: the reader sees EOF.
        let (oa, ob, took) = interact((&mut sa, sh("exit 3")), (&mut sb, sh("cat; echo eof >&2")));
        assert_eq!(oa.exit_code, Some(3), "{mode}: {oa:?}");
        assert_eq!((ob.exit_code, text(&ob.stderr)), (Some(0), "eof\n".into()), "{mode}: {ob:?}");
        assert!(took < quick, "{mode}: {took:?}");
    }
}

/// Nobody but the program holds its end: the other side sees EOF as soon as the program closes
/// its stdout, not when its run is over.
#[test]
fn closing_stdout_is_eof_for_the_other_side_at_once() {
    for (mode, mut sa, mut sb) in pairs() {
        let (oa, ob, _) = interact((&mut sa, sh("exec >&-; sleep 2")), (&mut sb, sh("cat; echo eof >&2")));
        assert_eq!((oa.exit_code, ob.exit_code, text(&ob.stderr)), (Some(0), Some(0), "eof\n".into()), "{mode}");
        assert!(oa.wall_time_ms >= 2_000 && ob.wall_time_ms < 1_000, "{mode}: {oa:?} {ob:?}");
    }
}

#[test]
fn a_side_that_sleeps_is_stopped_by_its_wall_limit_and_the_other_ends() {
    for (mode, mut sa, mut sb) in pairs() {
        let sleeper = RunCommand { wall_time_ms: 1_000, ..cmd(&["sleep", "30"]) };
        let (oa, ob, took) = interact((&mut sa, sleeper), (&mut sb, sh("cat; echo eof >&2")));
        assert_eq!(oa.limit, Some(LimitHit::WallTime), "{mode}: {oa:?}");
        assert_eq!((ob.exit_code, ob.limit, text(&ob.stderr)), (Some(0), None, "eof\n".into()), "{mode}: {ob:?}");
        assert!(took < Duration::from_secs(6), "{mode}: {took:?}");
    }
}
