//! These tests run real programs in real sandboxes: full isolation (here), and the container
//! level, the degraded path forced, with and without Landlock (`container`).

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use super::run::Facts;
use super::*;

mod container;
mod fds;
mod privileges;
mod streams;

/// Fails, saying what is missing and how to get it, unless the tests run as root: namespaces,
/// cgroups and uid leases need it (CI and `scripts/test-all` run as root).
pub(super) fn require_root(what: &str) {
    assert!(is_root(), "{what} needs root: run the tests as root (sudo -E cargo test, or scripts/test-all)");
    // The runner's own umask (main sets it): nothing the sandbox makes may rely on a looser one.
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(0o077) };
}

fn cmd(argv: &[&str]) -> RunCommand {
    RunCommand {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        wall_time_ms: 20_000,
        cpu_time_ms: 10_000,
        ..RunCommand::default()
    }
}

fn sh(script: &str) -> RunCommand {
    cmd(&["sh", "-c", script])
}

fn py(code: &str) -> RunCommand {
    cmd(&["python3", "-c", code])
}

fn sandbox() -> Sandbox {
    require_root("the full sandbox");
    Sandbox::new(SandboxOptions::default()).expect("sandbox")
}

fn degraded(opts: SandboxOptions) -> Sandbox {
    // SAFETY: umask cannot fail; as in require_root.
    unsafe { libc::umask(0o077) };
    let sb = Sandbox::new(SandboxOptions { force_degraded: true, ..opts }).expect("degraded sandbox");
    assert_ne!(sb.isolation().level, IsolationLevel::Full);
    sb
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run_ok(sb: &mut Sandbox, c: &RunCommand) -> RunOutcome {
    let out = sb.run(c).expect("run");
    assert_eq!(out.exit_code, Some(0), "{:?}: stdout {:?} stderr {:?}", c.argv, text(&out.stdout), text(&out.stderr));
    out
}

/// Whether any host process has `marker` in its command line.
fn process_with_marker(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .any(|e| std::fs::read(e.path().join("cmdline")).map(|c| text(&c).contains(marker)).unwrap_or(false))
}

fn unique_marker() -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("61.{}{}", std::process::id(), n % 100_000)
}

#[test]
fn full_isolation_on_this_host() {
    let sb = sandbox();
    let iso = sb.isolation();
    assert_eq!(iso.level, IsolationLevel::Full, "{iso:?}");
    assert!(iso.pivot_root && iso.seccomp && iso.uid_drop);
    for ns in ["pid", "mount", "network", "ipc", "uts"] {
        assert!(iso.namespaces.iter().any(|n| n == ns), "{ns} missing");
    }
    assert_eq!(probe(), iso.clone());
}

#[test]
fn hello_world() {
    let mut sb = sandbox();
    let out = run_ok(&mut sb, &cmd(&["/bin/echo", "hello", "world"]));
    assert_eq!(out.stdout, b"hello world\n");
    assert!(out.stderr.is_empty());
    assert_eq!(out.limit, None);
    assert!(out.wall_time_ms < 5_000);
}

#[test]
fn stdin_is_fed_and_closed() {
    let mut sb = sandbox();
    let input: Vec<u8> = (0..300_000u32).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let out = run_ok(&mut sb, &RunCommand { stdin: input.clone(), output_bytes: 4 << 20, ..cmd(&["cat"]) });
    assert_eq!(out.stdout, input);
    // A program that ignores its stdin must not make us fail (EPIPE is expected).
    let out = run_ok(&mut sb, &RunCommand { stdin: input, ..cmd(&["true"]) });
    assert!(out.stdout.is_empty());
}

#[test]
fn exit_code_and_signal() {
    let mut sb = sandbox();
    let out = sb.run(&sh("echo out; echo err >&2; exit 3")).expect("run");
    assert_eq!((out.exit_code, out.signal), (Some(3), None));
    assert_eq!((text(&out.stdout), text(&out.stderr)), ("out\n".into(), "err\n".into()));
    let out = sb.run(&sh("kill -SEGV $$")).expect("run");
    assert_eq!((out.exit_code, out.signal), (None, Some(libc::SIGSEGV)));
    assert_eq!(out.limit, None);
}

#[test]
fn cpu_time_limit() {
    let mut sb = sandbox();
    let started = Instant::now();
    let out = sb.run(&RunCommand { cpu_time_ms: 300, wall_time_ms: 10_000, ..sh("while :; do :; done") }).expect("run");
    assert_eq!(out.limit, Some(LimitHit::CpuTime), "{out:?}");
    assert_eq!(out.signal, Some(libc::SIGKILL));
    assert!(out.cpu_time_ms >= 300, "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn cpu_time_counts_grandchildren() {
    let mut sb = sandbox();
    // Two background spinners: per-process rusage of the shell would miss them.
    let out = sb
        .run(&RunCommand {
            cpu_time_ms: 400,
            wall_time_ms: 10_000,
            ..sh("(while :; do :; done) & (while :; do :; done) & wait")
        })
        .expect("run");
    assert_eq!(out.limit, Some(LimitHit::CpuTime), "{out:?}");
    assert!(out.cpu_time_ms >= 400);
}

#[test]
fn wall_time_limit() {
    let mut sb = sandbox();
    let started = Instant::now();
    let out = sb.run(&RunCommand { wall_time_ms: 500, ..cmd(&["sleep", "10"]) }).expect("run");
    assert_eq!(out.limit, Some(LimitHit::WallTime), "{out:?}");
    assert!(out.wall_time_ms >= 500 && out.wall_time_ms < 3_000, "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn memory_limit() {
    let mut sb = Sandbox::new(SandboxOptions { memory_bytes: 64 << 20, ..SandboxOptions::default() }).expect("sandbox");
    let out = sb.run(&py("x = bytearray(1 << 30)\nprint(len(x))")).expect("run");
    assert_eq!(out.limit, Some(LimitHit::Memory), "{out:?}");
    assert!(out.stdout.is_empty());
    // Touching memory page by page ends in the OOM killer rather than a failed allocation.
    let out = sb.run(&py("b = []\nwhile True: b.append(b'x' * (1 << 20))")).expect("run");
    assert_eq!(out.limit, Some(LimitHit::Memory), "{out:?}");
    assert!(out.memory_kb >= 60 << 10, "{out:?}");
    // The sandbox is still usable afterwards, and a small run is not an MLE.
    let out = run_ok(&mut sb, &py("print(sum(range(10)))"));
    assert_eq!(out.stdout, b"45\n");
    assert_eq!(out.limit, None);
    assert!(out.memory_kb > 0 && out.memory_kb < 64 << 10, "{out:?}");
}

#[test]
fn output_limit() {
    let mut sb = sandbox();
    let out = sb.run(&RunCommand { output_bytes: 64 << 10, ..cmd(&["yes"]) }).expect("run");
    assert_eq!(out.limit, Some(LimitHit::Output), "{out:?}");
    assert!(out.stdout_truncated && !out.stderr_truncated);
    assert_eq!(out.stdout.len(), 64 << 10);
    assert!(out.stdout.starts_with(b"y\ny\n"));
    let out = sb.run(&RunCommand { output_bytes: 10, ..sh("yes >&2") }).expect("run");
    assert!(out.stderr_truncated && out.stderr.len() == 10);
    assert_eq!(out.limit, Some(LimitHit::Output));
}

#[test]
fn fork_bomb_is_contained() {
    let mut sb = Sandbox::new(SandboxOptions { processes: 16, ..SandboxOptions::default() }).expect("sandbox");
    let started = Instant::now();
    let out = sb.run(&RunCommand { wall_time_ms: 2_000, ..sh("b() { b | b & }; b; sleep 5") }).expect("run");
    assert!(started.elapsed() < Duration::from_secs(10), "{out:?}");
    assert!(out.limit.is_some() || out.exit_code.is_some(), "{out:?}");
    let out = run_ok(&mut sb, &cmd(&["echo", "fine"]));
    assert_eq!(out.stdout, b"fine\n");
}

#[test]
fn detached_grandchild_is_killed() {
    let mut sb = sandbox();
    let marker = unique_marker();
    let out = run_ok(&mut sb, &sh(&format!("(setsid sleep {marker} > /dev/null 2>&1 &) ; echo started")));
    assert_eq!(out.stdout, b"started\n");
    assert!(!process_with_marker(&marker), "sleep {marker} survived the run");
}

#[test]
fn no_host_secrets_or_accounts() {
    let mut sb = sandbox();
    let out = sb.run(&sh("cat /etc/shadow")).expect("run");
    assert_ne!(out.exit_code, Some(0));
    let out = run_ok(&mut sb, &sh("ls -a /etc; cat /etc/passwd"));
    let listing = text(&out.stdout);
    assert!(!listing.contains("shadow") && !listing.contains("sudoers"), "{listing}");
    assert_eq!(listing.matches(":x:").count(), 3, "{listing}");
    // init's environment and command line (a copy of the runner's) are scrubbed and
    // unreadable; the program's own environment is exactly the documented one.
    let out = run_ok(
        &mut sb,
        &py("import os\n\
             for f in ('/proc/1/environ', '/proc/1/cmdline'):\n\
             \x20   try: print(f, open(f, 'rb').read())\n\
             \x20   except OSError as e: print(f, 'error', e.errno)\n\
             print(sorted(os.environ))"),
    );
    let s = text(&out.stdout);
    assert!(!s.contains("CARGO") && !s.contains("gavel_runner"), "{s}");
    assert!(s.contains("/proc/1/environ error 13"), "{s}");
    let cmdline = s.lines().find(|l| l.starts_with("/proc/1/cmdline")).unwrap_or_default();
    assert!(cmdline.replace("\\x00", "").ends_with("b''"), "{cmdline}");
    assert!(s.contains("['HOME', 'LANG', 'PATH']"), "{s}");
}

#[test]
fn environment_is_only_what_the_command_gives() {
    let mut sb = sandbox();
    let out = run_ok(
        &mut sb,
        &RunCommand { env: vec![("FOO".into(), "bar".into()), ("HOME".into(), "/box".into())], ..cmd(&["env"]) },
    );
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines, ["FOO=bar", "HOME=/box", "LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin"]);
}

#[test]
fn no_network() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let mut sb = sandbox();
    let out = run_ok(
        &mut sb,
        &py(&format!(
            "import socket\n\
             try:\n\
             \x20   socket.create_connection(('127.0.0.1', {port}), timeout=2); print('connected')\n\
             except OSError as e: print('refused', e.errno)"
        )),
    );
    assert!(text(&out.stdout).starts_with("refused"), "{}", text(&out.stdout));
}

#[test]
fn vsock_and_namespaces_are_refused_by_seccomp() {
    let mut sb = sandbox();
    let out = run_ok(
        &mut sb,
        &py("import socket, os, errno\n\
             try:\n\
             \x20   socket.socket(40, socket.SOCK_STREAM); print('vsock open')\n\
             except PermissionError: print('vsock denied')\n\
             import ctypes\n\
             libc = ctypes.CDLL(None, use_errno=True)\n\
             r = libc.unshare(0x10000000)\n\
             print('unshare', r, ctypes.get_errno() == errno.EPERM)\n\
             r = libc.syscall(425, 8, None)\n\
             print('io_uring', r, ctypes.get_errno() == errno.EPERM)\n\
             r = libc.syscall(435, None, 0)\n\
             print('clone3', r, ctypes.get_errno() == errno.ENOSYS)"),
    );
    assert_eq!(text(&out.stdout), "vsock denied\nunshare -1 True\nio_uring -1 True\nclone3 -1 True\n");
}

#[test]
fn runs_unprivileged() {
    let mut sb = sandbox();
    let out = run_ok(&mut sb, &sh("id -u; id -g; grep -E '^(NoNewPrivs|Seccomp|CapEff)' /proc/self/status"));
    let s = text(&out.stdout);
    let uid = sb.uid();
    assert!(uid > SANDBOX_UID && uid <= SANDBOX_UID + 4000, "{uid}");
    assert!(s.starts_with(&format!("{uid}\n{uid}\n")), "{s}");
    // Each live sandbox has a uid of its own.
    assert_ne!(sandbox().uid(), uid);
    assert!(s.contains("NoNewPrivs:\t1") && s.contains("Seccomp:\t2"), "{s}");
    assert!(s.contains("CapEff:\t0000000000000000"), "{s}");
}

#[test]
fn box_is_writable_only_when_allowed() {
    let mut sb = Sandbox::new(SandboxOptions {
        files: vec![("in.txt".into(), b"source".to_vec())],
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    let out = sb.run(&sh("echo x > /box/out; echo y > /box/in.txt")).expect("run");
    assert_ne!(out.exit_code, Some(0));
    run_ok(&mut sb, &RunCommand { writable_box: true, ..sh("cat in.txt > artifact && echo tmp > /tmp/t && pwd") });
    let out = sb.run(&sh("cat artifact; rm -f artifact; echo z >> artifact; ls /tmp")).expect("run");
    assert_eq!(text(&out.stdout), "source", "{}", text(&out.stderr));
    let out = run_ok(&mut sb, &sh("cat /box/artifact"));
    assert_eq!(out.stdout, b"source");
}

#[test]
fn bad_options_and_commands_are_errors() {
    for name in ["", "a/b", "..", "."] {
        let r = Sandbox::new(SandboxOptions { files: vec![(name.into(), Vec::new())], ..SandboxOptions::default() });
        assert!(matches!(r, Err(SandboxError::InvalidOptions(_))), "{name:?}");
    }
    for path in ["/etc", "/etc/shadow", "relative", "/no/such/path"] {
        for force_degraded in [false, true] {
            let opts =
                SandboxOptions { readonly_paths: vec![path.into()], force_degraded, ..SandboxOptions::default() };
            assert!(matches!(Sandbox::new(opts), Err(SandboxError::InvalidOptions(_))), "{path}");
        }
    }
    let mut sb = sandbox();
    assert!(matches!(sb.run(&cmd(&[])), Err(SandboxError::InvalidCommand(_))));
    let r = sb.run(&cmd(&["no-such-program-here"]));
    assert!(
        matches!(&r, Err(SandboxError::Exec { source, .. }) if source.raw_os_error() == Some(libc::ENOENT)),
        "{r:?}"
    );
    // The sandbox survives both.
    run_ok(&mut sb, &cmd(&["true"]));
}

/// The zygote joins each job cgroup as a whole process (on v1 through `tasks`, which moves one
/// thread: the zygote must have no other), so every run's processes are counted there.
#[test]
fn the_zygote_joins_every_job_cgroup_whole() {
    let mut sb = sandbox();
    let joins: Vec<PathBuf> = sb.cgroup.as_ref().map(|c| c.join_files()).unwrap_or_default();
    assert!(!joins.is_empty());
    let status = std::fs::read_to_string(format!("/proc/{}/status", sb.zygote)).expect("status");
    assert!(status.lines().any(|l| l.split_whitespace().eq(["Threads:", "1"])), "{status}");
    for join in &joins {
        let dir = join.parent().expect("a cgroup dir");
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).expect("cgroup.procs");
        assert_eq!(procs.trim(), sb.zygote.to_string(), "{}", dir.display());
    }
    let out = run_ok(&mut sb, &py("n = 0\nfor i in range(2_000_000): n += i"));
    assert!(out.cpu_time_ms >= 20, "the run's CPU is the job cgroup's: {out:?}");
}

/// What a runner killed outright left behind (its scratch dir and job cgroup) cannot stop a later
/// sandbox whose pid and count are the same: the names have a random part too.
#[test]
fn names_are_never_reused() {
    let names: std::collections::HashSet<String> = (0..1000).map(|_| unique_name("")).collect();
    assert_eq!(names.len(), 1000);
    let name = unique_name("probe-");
    let random = name.rsplit('-').next().expect("a random part");
    assert!(name.starts_with(&format!("gavel-{}-probe-", std::process::id())), "{name}");
    assert!(random.len() == 16 && random.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
}

#[test]
fn drop_removes_everything() {
    let mut sb = sandbox();
    run_ok(&mut sb, &cmd(&["true"]));
    let scratch = sb.scratch.clone();
    let zygote = sb.zygote;
    let cgroups: Vec<PathBuf> = sb.cgroup.as_ref().map(|c| c.join_files()).unwrap_or_default();
    assert!(!cgroups.is_empty());
    drop(sb);
    assert!(!scratch.exists());
    for c in cgroups {
        assert!(!c.parent().is_some_and(Path::exists), "{}", c.display());
    }
    // SAFETY: signal 0 only checks for existence.
    assert_ne!(unsafe { libc::kill(zygote, 0) }, 0);
}

#[test]
fn toolchains_work() {
    let mut sb = Sandbox::new(SandboxOptions {
        files: vec![(
            "main.cpp".into(),
            b"#include <iostream>\nint main(){int a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}\n".to_vec(),
        )],
        memory_bytes: 512 << 20,
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    run_ok(&mut sb, &RunCommand { writable_box: true, ..cmd(&["g++", "-O2", "-o", "/box/a", "/box/main.cpp"]) });
    let out = run_ok(&mut sb, &RunCommand { stdin: b"2 40\n".to_vec(), ..cmd(&["/box/a"]) });
    assert_eq!(out.stdout, b"42\n");
    let out = run_ok(&mut sb, &py("import sys; print(sys.version_info[0])"));
    assert_eq!(out.stdout, b"3\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let out = run_ok(&mut sb, &cmd(&["node", "-e", "console.log(1)"]));
    assert_eq!(out.stdout, b"1\n");
}

#[test]
fn mono_works_with_its_readonly_paths() {
    assert!(
        Path::new("/usr/bin/mcs").exists(),
        "mono is not installed: apt-get install mono-mcs mono-runtime (scripts/test-all does)"
    );
    let mut sb = Sandbox::new(SandboxOptions {
        files: vec![(
            "main.cs".into(),
            b"class P { static void Main() { System.Console.WriteLine(6 * 7); } }\n".to_vec(),
        )],
        readonly_paths: vec!["/etc/mono".into(), "/usr/lib/mono".into()],
        memory_bytes: 512 << 20,
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    run_ok(&mut sb, &RunCommand { writable_box: true, ..cmd(&["mcs", "-out:/box/main.exe", "/box/main.cs"]) });
    let out = run_ok(&mut sb, &cmd(&["mono", "/box/main.exe"]));
    assert_eq!(out.stdout, b"42\n");
}

#[test]
fn limit_inference() {
    let base = Facts {
        host_cause: None,
        wall_killed: false,
        cpu_over: false,
        oom_kills: 0,
        peak_at_limit: false,
        rss_over: false,
        exit_code: Some(0),
        signal: None,
    };
    assert_eq!(base.limit(), None);
    let f = |g: fn(&mut Facts)| {
        let mut x = base;
        g(&mut x);
        x.limit()
    };
    assert_eq!(f(|x| x.host_cause = Some(LimitHit::Output)), Some(LimitHit::Output));
    assert_eq!(f(|x| x.wall_killed = true), Some(LimitHit::WallTime));
    assert_eq!(
        f(|x| {
            x.wall_killed = true;
            x.cpu_over = true;
        }),
        Some(LimitHit::CpuTime)
    );
    assert_eq!(
        f(|x| {
            x.oom_kills = 1;
            x.exit_code = Some(1);
        }),
        Some(LimitHit::Memory)
    );
    assert_eq!(f(|x| x.oom_kills = 1), None);
    assert_eq!(f(|x| x.rss_over = true), Some(LimitHit::Memory), "the reported figure over the limit");
    assert_eq!(
        f(|x| {
            x.exit_code = None;
            x.signal = Some(libc::SIGKILL);
            x.peak_at_limit = true;
        }),
        Some(LimitHit::Memory)
    );
    assert_eq!(
        f(|x| {
            x.exit_code = None;
            x.signal = Some(libc::SIGXCPU);
        }),
        Some(LimitHit::CpuTime)
    );
    assert_eq!(f(|x| x.cpu_over = true), Some(LimitHit::CpuTime));
}

#[test]
fn isolation_serialises_in_snake_case() {
    let iso = describe(false, &Err("no".into()), &Err("none".into()), true, true);
    let json = serde_json::to_value(&iso).expect("json");
    assert_eq!(json["level"], if is_root() { "container" } else { "insecure" });
    assert_eq!(json["cgroup"], serde_json::Value::Null);
    assert_eq!(serde_json::to_value(LimitHit::CpuTime).expect("json"), "cpu_time");
    let full = describe(true, &Ok(()), &Ok("v2"), true, true);
    assert!(!full.landlock, "Landlock only where there is no mount namespace");
    assert_eq!(serde_json::to_value(&full).expect("json")["level"], "full");
}

#[test]
fn sandbox_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Sandbox>();
    let mut sb = sandbox();
    let out = std::thread::spawn(move || sb.run(&cmd(&["echo", "moved"]))).join().expect("thread").expect("run");
    assert_eq!(out.stdout, b"moved\n");
}

#[test]
fn copied_etc_files_keep_their_mtime() {
    use std::os::unix::fs::MetadataExt;
    let host = std::fs::metadata("/etc/ld.so.conf").expect("stat").mtime();
    let mut sb = sandbox();
    let out = run_ok(&mut sb, &cmd(&["stat", "-c", "%Y", "/etc/ld.so.conf"]));
    assert_eq!(text(&out.stdout).trim(), host.to_string());
}
