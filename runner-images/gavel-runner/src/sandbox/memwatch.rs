//! The memory limit where the sandbox has no cgroup of its own (a container, or a host that
//! delegates none): the host samples the resident memory of the run's whole process tree, read
//! from `/proc`, and stops the run when it passes the limit, as a cgroup would. Anonymous and
//! shared-anonymous pages count (`RssAnon` + `RssShmem` of each process); file pages do not
//! (they are the toolchain's, and the kernel can drop them); so do the bytes queued in unix
//! sockets of the program's uid, where it has one of its own ([`super::sockmem`]). Where memory
//! could hide from these counters (System V segments, memfds, grown socket and pipe buffers) the
//! seccomp filter refuses it. Samples come faster as a run nears its limit; a program that still
//! outruns one is bounded by the container's own memory limit, whose OOM kills also count as
//! the memory limit.

use std::fs;
use std::time::Duration;

/// How often a run's memory is sampled: every 10 ms, every 2 ms past half its limit.
pub(super) fn period(sampled: u64, limit: u64) -> Duration {
    Duration::from_millis(if sampled < limit / 2 { 10 } else { 2 })
}

/// What the watch samples: the tree whose root is the only child of `parent` (the zygote's run
/// init), init excluded, and the unix sockets of `uid` (the program's own, if it has one).
pub(super) struct Tree {
    parent: libc::pid_t,
    uid: Option<u32>,
    /// The largest sample so far, in bytes.
    pub peak: u64,
}

impl Tree {
    pub(super) fn new(parent: libc::pid_t, uid: Option<u32>) -> Tree {
        Tree { parent, uid, peak: 0 }
    }

    /// The tree's resident memory now, also folded into [`Tree::peak`].
    pub(super) fn sample(&mut self) -> u64 {
        let mut total = 0u64;
        let mut stack: Vec<libc::pid_t> = Vec::new();
        // The run's init is the zygote's only child; its own few pages are the sandbox's.
        for init in children(self.parent, 1) {
            stack.extend(children(init, 1));
        }
        let mut seen = 0usize;
        while let Some(pid) = stack.pop() {
            // A fork bomb's tree is bounded by the pids limit; this bound only keeps a sample short.
            seen += 1;
            if seen > 4096 {
                break;
            }
            let Some(status) = Status::read(pid) else { continue };
            total = total.saturating_add(status.resident_bytes);
            stack.extend(children(pid, status.threads));
        }
        if let Some(uid) = self.uid {
            // No answer from sock_diag counts as no socket memory: the processes still count.
            total = total.saturating_add(super::sockmem::queued_by(uid).unwrap_or(0));
        }
        self.peak = self.peak.max(total);
        total
    }
}

/// What the watch reads from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status {
    resident_bytes: u64,
    threads: u64,
}

impl Status {
    fn read(pid: libc::pid_t) -> Option<Status> {
        Status::parse(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
    }

    fn parse(text: &str) -> Option<Status> {
        let field = |name: &str| {
            text.lines().find_map(|line| line.strip_prefix(name)?.trim().trim_end_matches(" kB").parse::<u64>().ok())
        };
        // A zombie has no memory lines left: it holds none.
        let kb = field("RssAnon:").unwrap_or(0) + field("RssShmem:").unwrap_or(0);
        Some(Status { resident_bytes: kb * 1024, threads: field("Threads:")? })
    }
}

/// The children of `pid`, whose children are listed per thread: all of its threads' lists when
/// it has more than one.
fn children(pid: libc::pid_t, threads: u64) -> Vec<libc::pid_t> {
    let parse = |path: String| -> Vec<libc::pid_t> {
        fs::read_to_string(path)
            .map(|text| text.split_whitespace().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    };
    if threads <= 1 {
        return parse(format!("/proc/{pid}/task/{pid}/children"));
    }
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .flatten()
        .flat_map(|task| parse(format!("/proc/{pid}/task/{}/children", task.file_name().to_string_lossy())))
        .collect()
}

#[cfg(test)]
mod unit {
    use std::os::unix::process::CommandExt;

    use super::*;

    #[test]
    fn status_counts_anonymous_and_shared_anonymous_pages() {
        let text = "Name:\tpython3\nVmRSS:\t  9000 kB\nRssAnon:\t  5000 kB\nRssFile:\t  3000 kB\n\
                    RssShmem:\t  1000 kB\nThreads:\t3\n";
        assert_eq!(Status::parse(text), Some(Status { resident_bytes: 6000 * 1024, threads: 3 }));
        let zombie = "Name:\tsh\nState:\tZ (zombie)\nThreads:\t1\n";
        assert_eq!(Status::parse(zombie), Some(Status { resident_bytes: 0, threads: 1 }));
        assert_eq!(Status::parse("garbage"), None);
    }

    #[test]
    fn a_live_tree_is_found_and_measured() {
        // A stand-in zygote (sh) whose only child, the stand-in init (sh), runs a program that
        // holds 8 MB; `; true` keeps each shell from exec'ing its last command.
        let dir = tempfile::tempdir().expect("tempdir");
        let program = dir.path().join("program.sh");
        std::fs::write(&program, "python3 -c 'import time; b = b\"a\" * 8000000; time.sleep(5)'; true\n")
            .expect("script");
        let mut zygote = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("sh {}; true", program.display()))
            .process_group(0)
            .spawn()
            .expect("spawn");
        let mut tree = Tree::new(libc::pid_t::try_from(zygote.id()).expect("pid"), None);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while tree.sample() < 8_000_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: signalling the process group this test made.
        unsafe { libc::killpg(libc::pid_t::try_from(zygote.id()).expect("pid"), libc::SIGKILL) };
        let _ = zygote.wait();
        assert!((8_000_000..100_000_000).contains(&tree.peak), "peak {} bytes", tree.peak);
    }
}
