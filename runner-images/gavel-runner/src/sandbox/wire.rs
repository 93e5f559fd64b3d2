//! The host ↔ zygote protocol over the `SOCK_SEQPACKET` socket.
//!
//! Request (host → zygote), one message with its fds: stdin read end, stdout and stderr write
//! ends, kill-pipe read end, then the run's extra fds (the header says how many), then the Landlock
//! ruleset when [`FLAG_LANDLOCK`] says so. The message is a header of little-endian u64s, then
//! NUL-terminated strings: the `PATH` to search, argv, and `KEY=VALUE` environment entries.
//!
//! Replies (zygote or init → host) are [`MSG_WORDS`] little-endian i64s, the first being a [`Kind`].

use libc::c_char;

use super::zygote::{MAX_ARGS, MAX_ENV, MAX_REQUEST};
use super::{MAX_EXTRA_FDS, RunCommand, RunFds, SandboxError};

/// The fds of every request; the extra ones and the Landlock ruleset follow.
pub(super) const REQUEST_FDS: usize = 4;
/// Where the kill pipe's read end is among a request's fds.
pub(super) const KILL_INDEX: usize = 3;
pub(super) const MAX_REQUEST_FDS: usize = REQUEST_FDS + MAX_EXTRA_FDS + 1;
pub(super) const MSG_WORDS: usize = 8;
const MAGIC: u64 = 0x6761_7665_6c5f_7631; // "gavel_v1"
const HEADER_WORDS: usize = 7;
const FLAG_WRITABLE_BOX: u64 = 1;
const FLAG_LANDLOCK: u64 = 2;

/// First word of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub(super) enum Kind {
    /// The zygote is set up. No other words.
    Ready = 1,
    /// A run ended: wait status, init's cause, wall ns, rusage CPU µs, max RSS kB.
    Done = 2,
    /// Setup of the zygote or of a run failed: stage, index, errno.
    Setup = 3,
    /// The program could not be started: stage, (unused), errno.
    ExecFailed = 4,
}

impl Kind {
    pub(super) fn from_word(w: i64) -> Option<Kind> {
        [Kind::Ready, Kind::Done, Kind::Setup, Kind::ExecFailed].into_iter().find(|k| *k as i64 == w)
    }
}

pub(super) fn encode_msg(words: &[i64; MSG_WORDS]) -> [u8; MSG_WORDS * 8] {
    let mut out = [0u8; MSG_WORDS * 8];
    for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

pub(super) fn decode_msg(bytes: &[u8]) -> Option<[i64; MSG_WORDS]> {
    if bytes.len() != MSG_WORDS * 8 {
        return None;
    }
    let mut words = [0i64; MSG_WORDS];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *w = i64::from_le_bytes(chunk.try_into().ok()?);
    }
    Some(words)
}

/// Validates a command and the descriptors it comes with, and serialises it (host side);
/// `landlock` says whether a ruleset fd comes with it.
pub(super) fn encode_request(
    cmd: &RunCommand,
    argv: &[String],
    env: &[(String, String)],
    fds: &RunFds,
    landlock: bool,
) -> Result<Vec<u8>, SandboxError> {
    let bad = |m: String| Err(SandboxError::InvalidCommand(m));
    if fds.extra.len() > MAX_EXTRA_FDS {
        return bad(format!("at most {MAX_EXTRA_FDS} extra descriptors, not {}", fds.extra.len()));
    }
    if fds.stdio.is_some() && (!cmd.stdin.is_empty() || cmd.merge_stderr) {
        return bad("a run with connected stdio takes no stdin and cannot merge stderr".to_string());
    }
    if argv.is_empty() || argv[0].is_empty() {
        return bad("argv must name a program".to_string());
    }
    if argv.len() > MAX_ARGS || env.len() > MAX_ENV {
        return bad(format!("at most {MAX_ARGS} arguments and {MAX_ENV} environment variables"));
    }
    if cmd.cpu_time_ms == 0 || cmd.wall_time_ms == 0 {
        return bad("cpu_time_ms and wall_time_ms must be positive".to_string());
    }
    if let Some(a) = argv.iter().find(|a| a.contains('\0')) {
        return bad(format!("argument {a:?} contains a NUL byte"));
    }
    for (k, v) in env {
        if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
            return bad(format!("environment variable {k:?} is malformed"));
        }
    }
    let path = env.iter().rev().find(|(k, _)| k == "PATH").map_or("", |(_, v)| v.as_str());
    let flags = if cmd.writable_box { FLAG_WRITABLE_BOX } else { 0 } | if landlock { FLAG_LANDLOCK } else { 0 };
    let header =
        [MAGIC, cmd.cpu_time_ms, cmd.wall_time_ms, flags, argv.len() as u64, env.len() as u64, fds.extra.len() as u64];
    let mut out = Vec::with_capacity(256);
    for w in header {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for s in std::iter::once(path).chain(argv.iter().map(String::as_str)) {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    for (k, v) in env {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    if out.len() > MAX_REQUEST {
        return bad(format!("arguments and environment exceed {MAX_REQUEST} bytes"));
    }
    Ok(out)
}

/// A decoded request, borrowing the zygote's receive buffer.
pub(super) struct Request<'a> {
    pub cpu_ms: u64,
    pub wall_ms: u64,
    pub writable_box: bool,
    /// How many fds after the first [`REQUEST_FDS`] the program gets at 3, 4, ….
    pub extra: usize,
    /// The fd after the extra ones is a Landlock ruleset the program enforces on itself.
    pub landlock: bool,
    /// The `PATH` value to search for `argv[0]`.
    pub path: &'a [u8],
}

impl Request<'_> {
    /// How many fds come with this request.
    pub(super) fn fds(&self) -> usize {
        REQUEST_FDS + self.extra + usize::from(self.landlock)
    }

    /// Where the Landlock ruleset is among the request's fds (when it has one).
    pub(super) fn landlock_index(&self) -> usize {
        REQUEST_FDS + self.extra
    }
}

/// Decodes a request (zygote side, no allocation): fills `argv` and `envp` with pointers into
/// `buf`, each null-terminated.
pub(super) fn parse_request<'a>(
    buf: &'a [u8],
    argv: &mut [*const c_char],
    envp: &mut [*const c_char],
) -> Option<Request<'a>> {
    let mut header = [0u64; HEADER_WORDS];
    for (i, h) in header.iter_mut().enumerate() {
        *h = u64::from_le_bytes(buf.get(i * 8..i * 8 + 8)?.try_into().ok()?);
    }
    let [magic, cpu_ms, wall_ms, flags, argc, envc, extra] = header;
    let argc = usize::try_from(argc).ok()?;
    let envc = usize::try_from(envc).ok()?;
    let extra = usize::try_from(extra).ok().filter(|&n| n <= MAX_EXTRA_FDS)?;
    if magic != MAGIC || argc == 0 || argc >= argv.len() || envc >= envp.len() {
        return None;
    }
    let mut pos = HEADER_WORDS * 8;
    let mut next = || -> Option<(usize, usize)> {
        let rest = buf.get(pos..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        let start = pos;
        pos += len + 1;
        Some((start, len))
    };
    let (ps, pl) = next()?;
    let path = buf.get(ps..ps + pl)?;
    for slot in argv.iter_mut().take(argc) {
        let (s, _) = next()?;
        *slot = buf.get(s..)?.as_ptr().cast();
    }
    *argv.get_mut(argc)? = std::ptr::null();
    for slot in envp.iter_mut().take(envc) {
        let (s, _) = next()?;
        *slot = buf.get(s..)?.as_ptr().cast();
    }
    *envp.get_mut(envc)? = std::ptr::null();
    if pos != buf.len() {
        return None;
    }
    Some(Request {
        cpu_ms,
        wall_ms,
        writable_box: flags & FLAG_WRITABLE_BOX != 0,
        extra,
        landlock: flags & FLAG_LANDLOCK != 0,
        path,
    })
}

#[cfg(test)]
mod unit {
    use std::ffi::CStr;
    use std::os::fd::OwnedFd;

    use super::*;

    fn null() -> OwnedFd {
        std::fs::File::open("/dev/null").expect("open /dev/null").into()
    }

    fn extras(n: usize) -> RunFds {
        RunFds { extra: (0..n).map(|_| null()).collect(), stdio: None }
    }

    fn cmd() -> RunCommand {
        RunCommand {
            argv: vec!["echo".into(), "a b".into()],
            cpu_time_ms: 1500,
            wall_time_ms: 3000,
            writable_box: true,
            ..RunCommand::default()
        }
    }

    #[test]
    fn request_round_trips() {
        let c = cmd();
        let env = vec![("PATH".to_string(), "/bin".to_string()), ("X".into(), "1=2".into())];
        let bytes = encode_request(&c, &c.argv, &env, &extras(2), true).expect("encodes");
        let mut argv = vec![std::ptr::null(); 8];
        let mut envp = vec![std::ptr::null(); 8];
        let req = parse_request(&bytes, &mut argv, &mut envp).expect("parses");
        assert_eq!((req.cpu_ms, req.wall_ms, req.writable_box), (1500, 3000, true));
        assert_eq!((req.extra, req.landlock, req.fds(), req.landlock_index()), (2, true, 7, 6));
        assert!(req.fds() <= MAX_REQUEST_FDS);
        assert_eq!(req.path, b"/bin");
        let s = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
        assert_eq!(s(argv[0]), "echo");
        assert_eq!(s(argv[1]), "a b");
        assert!(argv[2].is_null());
        assert_eq!(s(envp[1]), "X=1=2");
        assert!(envp[2].is_null());
    }

    #[test]
    fn malformed_requests_are_rejected() {
        let c = cmd();
        let bytes = encode_request(&c, &c.argv, &[], &RunFds::default(), false).expect("encodes");
        let mut argv = vec![std::ptr::null(); 8];
        let mut envp = vec![std::ptr::null(); 8];
        let req = parse_request(&bytes, &mut argv, &mut envp).expect("parses");
        assert_eq!((req.extra, req.landlock, req.fds()), (0, false, REQUEST_FDS));
        for cut in [0, 10, bytes.len() - 1] {
            assert!(parse_request(&bytes[..cut], &mut argv, &mut envp).is_none());
        }
        let mut wrong = bytes.clone();
        wrong[0] ^= 1;
        assert!(parse_request(&wrong, &mut argv, &mut envp).is_none());
        let mut too_many = bytes.clone();
        too_many[48..56].copy_from_slice(&(MAX_EXTRA_FDS as u64 + 1).to_le_bytes());
        assert!(parse_request(&too_many, &mut argv, &mut envp).is_none());
        let mut extra = bytes.clone();
        extra.extend_from_slice(b"x\0");
        assert!(parse_request(&extra, &mut argv, &mut envp).is_none());
        let mut small = vec![std::ptr::null(); 2];
        assert!(parse_request(&bytes, &mut small, &mut envp).is_none());
    }

    #[test]
    fn invalid_commands_are_refused() {
        let c = cmd();
        let none = RunFds::default();
        assert!(encode_request(&c, &[], &[], &none, false).is_err());
        assert!(encode_request(&c, &["a\0b".into()], &[], &none, false).is_err());
        assert!(encode_request(&c, &c.argv, &[("A=B".into(), "1".into())], &none, false).is_err());
        let zero = RunCommand { wall_time_ms: 0, ..cmd() };
        assert!(encode_request(&zero, &zero.argv, &[], &none, false).is_err());
        assert!(encode_request(&c, &c.argv, &[], &extras(MAX_EXTRA_FDS), false).is_ok());
        assert!(encode_request(&c, &c.argv, &[], &extras(MAX_EXTRA_FDS + 1), false).is_err());
        let connected = || RunFds { extra: Vec::new(), stdio: Some((null(), null())) };
        assert!(encode_request(&c, &c.argv, &[], &connected(), false).is_ok());
        let fed = RunCommand { stdin: b"x".to_vec(), ..cmd() };
        assert!(encode_request(&fed, &fed.argv, &[], &connected(), false).is_err());
        let merged = RunCommand { merge_stderr: true, ..cmd() };
        assert!(encode_request(&merged, &merged.argv, &[], &connected(), false).is_err());
    }

    #[test]
    fn messages_round_trip() {
        let m = [2, -1, 3, 4, 5, 6, 7, i64::MAX];
        assert_eq!(decode_msg(&encode_msg(&m)), Some(m));
        assert_eq!(decode_msg(&[0; 7]), None);
        assert_eq!(Kind::from_word(4), Some(Kind::ExecFailed));
        assert_eq!(Kind::from_word(9), None);
    }
}
