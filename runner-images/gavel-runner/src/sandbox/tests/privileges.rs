//! What the runner holds and passes on: root without the capabilities a container drops, and a
//! runner that made itself non-dumpable.

use super::*;

/// Drops capabilities from this thread's effective set until dropped (the permitted set keeps
/// them, so they come back): what root holds in a container with `--cap-drop ALL`.
struct WithoutCaps {
    saved: [CapData; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

impl WithoutCaps {
    fn new(caps: &[u32]) -> WithoutCaps {
        let mut saved = [CapData::default(); 2];
        let mut header = CapHeader { version: CAP_VERSION_3, pid: 0 };
        // SAFETY: capget fills two CapData for version 3.
        assert_eq!(unsafe { libc::syscall(libc::SYS_capget, &mut header, saved.as_mut_ptr()) }, 0);
        let mut lowered = saved;
        for &cap in caps {
            lowered[(cap / 32) as usize].effective &= !(1 << (cap % 32));
        }
        set_caps(&lowered);
        WithoutCaps { saved }
    }
}

fn set_caps(data: &[CapData; 2]) {
    let mut header = CapHeader { version: CAP_VERSION_3, pid: 0 };
    // SAFETY: capset reads two CapData for version 3; it changes only the calling thread.
    assert_eq!(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) }, 0, "capset");
}

impl Drop for WithoutCaps {
    fn drop(&mut self) {
        set_caps(&self.saved);
    }
}

/// Root in a container holds neither `CAP_DAC_OVERRIDE` nor `CAP_FOWNER`: the runner must still
/// clear and remove what a program locked away from its owner.
#[test]
fn degraded_mode_needs_no_dac_override() {
    require_root("dropping the capabilities root holds");
    // CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER (linux/capability.h).
    let _caps = WithoutCaps::new(&[1, 2, 3]);
    let mut sb = degraded(SandboxOptions::default());
    let lock_away = "for d in \"$HOME/a/b\" \"$PWD/c/d\"; do mkdir -p $d && touch $d/f && chmod 0 $d ${d%/*}; done";
    run_ok(&mut sb, &RunCommand { writable_box: true, ..sh(lock_away) });
    // A read-only run takes /box back, and every run gets a fresh tmp.
    let out = run_ok(&mut sb, &sh("ls \"$HOME\"; echo done"));
    assert_eq!(out.stdout, b"done\n", "tmp is fresh in every run");
    let scratch = sb.scratch.clone();
    drop(sb);
    assert!(!scratch.exists(), "{} is left", scratch.display());
}

/// The runner may have made itself non-dumpable (a degraded sandbox without root does), and its
/// zygotes inherit that; a zygote that maps a user namespace must still be able to.
#[test]
fn a_non_dumpable_host_still_gets_the_full_sandbox() {
    let allowed = super::super::describe::full_isolation_check();
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let scratch = make_scratch(&format!("gavel-{}-nodump", std::process::id()), 0o700).expect("scratch");
    let spawned = Plan::full(&SandboxOptions::default(), &scratch, None, SANDBOX_UID)
        .and_then(|plan| spawn_zygote(&plan))
        .map(|(ctrl, pid)| stop_zygote(Some(ctrl), pid));
    let _ = std::fs::remove_dir(&scratch);
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
    assert_eq!(spawned.is_ok(), allowed.is_ok(), "{spawned:?} vs {allowed:?}");
}
