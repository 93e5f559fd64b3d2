//! The container level: no namespaces or job cgroup (forced here, as in an unprivileged
//! container), root giving the program a uid of its own, Landlock where the kernel has it.

use std::time::{Duration, Instant};

use super::*;

#[test]
fn degraded_mode_works_and_says_so() {
    let mut sb = degraded(SandboxOptions::default());
    let iso = sb.isolation().clone();
    assert!(!iso.pivot_root && iso.namespaces.is_empty() && iso.cgroup.is_none());
    assert!(iso.notes.iter().any(|n| n.contains("forced")), "{iso:?}");
    let out = run_ok(&mut sb, &sh("echo hi; id -u; pwd"));
    let s = text(&out.stdout);
    assert!(s.starts_with(&format!("hi\n{}\n", sb.uid())), "{s}");
    assert!(s.trim_end().ends_with("/box"), "{s}");
    let out = run_ok(&mut sb, &RunCommand { stdin: b"abc".to_vec(), ..cmd(&["cat"]) });
    assert_eq!(out.stdout, b"abc");
    let out = sb.run(&sh("exit 7")).expect("run");
    assert_eq!(out.exit_code, Some(7));
}

#[test]
fn degraded_mode_enforces_limits_and_kills_the_tree() {
    let mut sb = degraded(SandboxOptions { processes: 16, ..SandboxOptions::default() });
    let marker = unique_marker();
    run_ok(&mut sb, &sh(&format!("(setsid sleep {marker} > /dev/null 2>&1 &) ; echo ok")));
    assert!(!process_with_marker(&marker), "sleep {marker} survived the run");
    let out = sb.run(&RunCommand { wall_time_ms: 500, ..cmd(&["sleep", "10"]) }).expect("run");
    assert_eq!(out.limit, Some(LimitHit::WallTime));
    let out = sb.run(&RunCommand { output_bytes: 1000, ..cmd(&["yes"]) }).expect("run");
    assert_eq!(out.limit, Some(LimitHit::Output));
    // The runner's memory watch stands in for the memory cgroup.
    let out = sb.run(&py("x = bytearray(1 << 30)")).expect("run");
    assert_eq!(out.limit, Some(LimitHit::Memory), "{out:?}");
    let out = sb.run(&RunCommand { cpu_time_ms: 300, ..sh("while :; do :; done") }).expect("run");
    assert_eq!(out.limit, Some(LimitHit::CpuTime), "{out:?}");
    // RLIMIT_NPROC stands in for the pids cgroup.
    let started = Instant::now();
    let out = sb.run(&RunCommand { wall_time_ms: 2_000, ..sh("b() { b | b & }; b; sleep 5") }).expect("run");
    assert!(started.elapsed() < Duration::from_secs(10), "{out:?}");
    let out = run_ok(&mut sb, &cmd(&["echo", "fine"]));
    assert_eq!(out.stdout, b"fine\n");
}

/// Without a cgroup, each run's own memory limit holds, not the job's largest (a compile's),
/// and running out of it is the memory limit, as with a cgroup.
#[test]
fn degraded_memory_limit_is_the_runs() {
    let mut sb = degraded(SandboxOptions { memory_bytes: 512 << 20, ..SandboxOptions::default() });
    let hog = py("x = bytearray(200 << 20)");
    run_ok(&mut sb, &hog);
    let out = sb.run(&RunCommand { memory_bytes: Some(64 << 20), ..hog }).expect("run");
    assert_eq!(out.limit, Some(LimitHit::Memory), "{out:?}");
    assert!(out.memory_kb >= 64 << 10, "{out:?}");
}

#[test]
fn degraded_box_protection_and_rewrite() {
    let mut sb =
        degraded(SandboxOptions { files: vec![("in.txt".into(), b"src".to_vec())], ..SandboxOptions::default() });
    run_ok(&mut sb, &RunCommand { writable_box: true, ..cmd(&["cp", "/box/in.txt", "/box/out.txt"]) });
    let out = sb.run(&sh("echo x > out.txt; echo y > new.txt")).expect("run");
    assert_ne!(out.exit_code, Some(0));
    let out = run_ok(&mut sb, &cmd(&["cat", "/box/out.txt"]));
    assert_eq!(out.stdout, b"src");
    // A symlink planted during a writable run is never followed by the host.
    run_ok(&mut sb, &RunCommand { writable_box: true, ..cmd(&["ln", "-s", "/etc/passwd", "/box/link"]) });
    run_ok(&mut sb, &cmd(&["true"]));
    let passwd = std::fs::symlink_metadata("/etc/passwd").expect("stat");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(passwd.uid(), 0);
}

fn container(opts: SandboxOptions) -> Sandbox {
    require_root("the container level (root giving the program a uid of its own)");
    degraded(opts)
}

#[test]
fn root_without_namespaces_gets_the_container_level() {
    let sb = container(SandboxOptions::default());
    let iso = sb.isolation();
    assert_eq!(iso.level, IsolationLevel::Container, "{iso:?}");
    assert!(iso.uid_drop && iso.seccomp && iso.namespaces.is_empty(), "{iso:?}");
    assert!(iso.landlock, "this kernel has Landlock (the CI host's does): {iso:?}");
    let plain = container(SandboxOptions { no_landlock: true, ..SandboxOptions::default() });
    assert_eq!((plain.isolation().level, plain.isolation().landlock), (IsolationLevel::Container, false));
}

/// What a run tries to leave in every directory it might share with other runs and jobs.
fn plant(marker: &str) -> String {
    format!(
        "for d in /tmp /var/tmp /dev/shm /run/lock \"$TMPDIR\" \"$PWD\"; do \
           if (mkdir -p $d/leak-{marker}/in && echo leaked > $d/leak-{marker}/in/f && chmod 777 $d/leak-{marker} \
               && chmod 000 $d/leak-{marker}/in) 2>/dev/null; then echo wrote $d; else echo refused $d; fi; \
         done; echo ok > /dev/null && echo devnull"
    )
}

fn leftovers(marker: &str) -> Vec<String> {
    ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"]
        .iter()
        .map(|d| format!("{d}/leak-{marker}"))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect()
}

#[test]
fn with_landlock_a_program_writes_only_its_own_dirs() {
    let marker = unique_marker();
    let mut sb = container(SandboxOptions::default());
    let out = run_ok(&mut sb, &sh(&plant(&marker)));
    let lines: Vec<String> = text(&out.stdout).lines().map(|l| l.split(' ').next().unwrap_or("").to_owned()).collect();
    // /tmp, /var/tmp, /dev/shm, /run/lock, its own tmp, /box (read-only in a test run), /dev/null.
    assert_eq!(
        lines,
        ["refused", "refused", "refused", "refused", "wrote", "refused", "devnull"],
        "{}",
        text(&out.stdout)
    );
    let out = run_ok(&mut sb, &RunCommand { writable_box: true, ..sh(&plant(&marker)) });
    assert!(text(&out.stdout).contains(&format!("wrote {}", sb.degraded.as_ref().expect("dirs").box_dir().display())));
    assert!(leftovers(&marker).is_empty(), "{:?}", leftovers(&marker));
}

#[test]
fn without_landlock_nothing_a_run_leaves_in_shared_dirs_outlives_it() {
    let marker = unique_marker();
    let mut sb = container(SandboxOptions { no_landlock: true, ..SandboxOptions::default() });
    let out = run_ok(&mut sb, &sh(&plant(&marker)));
    assert!(text(&out.stdout).contains("wrote /tmp"), "{}", text(&out.stdout));
    assert!(leftovers(&marker).is_empty(), "left for the next run: {:?}", leftovers(&marker));
    let out = run_ok(&mut sb, &sh(&format!("cat /tmp/leak-{marker}/in/f /dev/shm/leak-{marker}/in/f 2>&1; echo done")));
    assert!(!text(&out.stdout).contains("leaked"), "{}", text(&out.stdout));
}

#[test]
fn a_job_cannot_read_another_jobs_files() {
    let secret = format!("secret-{}", unique_marker());
    let mut victim = container(SandboxOptions {
        files: vec![("secret.txt".into(), secret.clone().into_bytes())],
        ..SandboxOptions::default()
    });
    run_ok(&mut victim, &RunCommand { writable_box: true, ..sh("cp secret.txt built; chmod 644 built") });
    let victim_box = victim.degraded.as_ref().expect("dirs").box_dir().to_owned();
    let mut attacker = container(SandboxOptions::default());
    assert_ne!(attacker.uid(), victim.uid());
    let out = attacker
        .run(&sh(&format!(
            "cat {b}/secret.txt {b}/built 2>&1; ls -la {b} {s} 2>&1; grep -r {secret} {s} 2>&1; echo done",
            b = victim_box.display(),
            s = victim.scratch.display()
        )))
        .expect("run");
    let seen = text(&out.stdout);
    assert!(!seen.contains(&secret) && seen.contains("Permission denied"), "{seen}");
}

#[test]
fn no_network_no_system_v_ipc_no_hidden_memory() {
    let mut sb = container(SandboxOptions::default());
    let out = run_ok(
        &mut sb,
        &py("import socket, os, fcntl, ctypes\n\
             def attempt(name, f):\n\
             \x20   try: f(); print(name, 'allowed')\n\
             \x20   except OSError as e: print(name, 'refused', e.errno)\n\
             attempt('inet', lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))\n\
             attempt('inet6', lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))\n\
             attempt('unix', lambda: socket.socketpair())\n\
             a, b = socket.socketpair()\n\
             attempt('sndbuf', lambda: a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22))\n\
             r, w = os.pipe()\n\
             attempt('pipesize', lambda: fcntl.fcntl(w, 1031, 1 << 20))\n\
             attempt('memfd', lambda: os.memfd_create('x'))\n\
             libc = ctypes.CDLL(None, use_errno=True)\n\
             print('shmget', libc.shmget(0, 4096, 0o1600), ctypes.get_errno())"),
    );
    assert_eq!(
        text(&out.stdout),
        "inet refused 1\ninet6 refused 1\nunix allowed\nsndbuf refused 1\npipesize refused 1\nmemfd refused 1\n\
         shmget -1 1\n"
    );
}

#[test]
fn memory_bombs_hit_the_memory_limit_without_a_cgroup() {
    let mut sb = container(SandboxOptions { memory_bytes: 64 << 20, ..SandboxOptions::default() });
    let bombs = [
        py("x = bytearray(1 << 30)"),
        py("x = []\nwhile True: x.append(bytearray(b'z' * (1 << 24)))"),
        // Kernel memory: every byte written into a unix socket and not read, in four processes
        // (each one's descriptors are limited, so one process alone cannot hold much).
        py("import os, socket\n\
            for _ in range(4):\n\
            \x20   if os.fork() == 0: break\n\
            else:\n\
            \x20   os.wait(); os.wait(); os.wait(); os.wait(); raise SystemExit\n\
            keep = []\n\
            try:\n\
            \x20   while True:\n\
            \x20       a, b = socket.socketpair(); a.setblocking(False); keep.append((a, b))\n\
            \x20       try:\n\
            \x20           while True: a.send(b'x' * 65536)\n\
            \x20       except BlockingIOError: pass\n\
            except OSError: pass\n\
            import time; time.sleep(10)"),
    ];
    for bomb in bombs {
        let out = sb.run(&RunCommand { wall_time_ms: 8_000, ..bomb.clone() }).expect("run");
        assert_eq!(out.limit, Some(LimitHit::Memory), "{:?}: {out:?}", bomb.argv);
        assert!(out.memory_kb >= 64 << 10, "{out:?}");
    }
    let out = run_ok(&mut sb, &py("print(sum(range(10)))"));
    assert_eq!((out.limit, out.stdout.as_slice()), (None, &b"45\n"[..]));
}

#[test]
fn abstract_sockets_outside_the_sandbox_are_out_of_reach() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("gavel-test-{}", unique_marker());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
    let _listener = std::os::unix::net::UnixListener::bind_addr(&addr).expect("listen");
    let mut sb = container(SandboxOptions::default());
    let out = run_ok(
        &mut sb,
        &py(&format!(
            "import socket\ns = socket.socket(socket.AF_UNIX)\n\
             try: s.connect('\\0{name}'); print('connected')\nexcept OSError as e: print('refused', e.errno)"
        )),
    );
    assert!(text(&out.stdout).starts_with("refused"), "{}", text(&out.stdout));
}
