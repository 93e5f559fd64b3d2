//! The host's end of the control socket: waiting for the zygote, sending a run's request with
//! its descriptors, receiving replies.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::SandboxError;
use super::wire::{self, Kind, MSG_WORDS};

pub(super) enum ReadyError {
    Setup { stage: i64, index: i64, errno: i32 },
    Other(SandboxError),
}

pub(super) fn gone(what: &str) -> SandboxError {
    SandboxError::ZygoteGone(what.to_string())
}

/// Receives one reply; `None` when the zygote closed the socket.
pub(super) fn recv_msg(ctrl: &OwnedFd) -> io::Result<Option<[i64; MSG_WORDS]>> {
    let mut buf = [0u8; MSG_WORDS * 8];
    loop {
        // SAFETY: buf is a live buffer of the given length.
        let n = unsafe { libc::recv(ctrl.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(None);
        }
        return wire::decode_msg(buf.get(..n as usize).unwrap_or(&[]))
            .map(Some)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed reply"));
    }
}

/// Waits until `fd` is readable (true) or the timeout passes (false).
pub(super) fn poll_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: p is a live pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Waits for the zygote's "ready" (or the reason it is not).
pub(super) fn wait_ready(ctrl: &OwnedFd, timeout: Duration) -> Result<(), ReadyError> {
    let other = |e: SandboxError| Err(ReadyError::Other(e));
    match poll_readable(ctrl.as_raw_fd(), timeout) {
        Ok(true) => {}
        Ok(false) => return other(gone("no answer during setup")),
        Err(e) => return other(SandboxError::io("poll", e)),
    }
    match recv_msg(ctrl) {
        Ok(Some(m)) => match Kind::from_word(m[0]) {
            Some(Kind::Ready) => Ok(()),
            Some(Kind::Setup) => Err(ReadyError::Setup { stage: m[1], index: m[2], errno: m[3] as i32 }),
            _ => other(gone("unexpected message during setup")),
        },
        Ok(None) => other(gone("exited during setup")),
        Err(e) => other(SandboxError::io("receive from zygote", e)),
    }
}

/// The control buffer of a request, in u64s (which keep it aligned for `cmsghdr`).
const CONTROL_WORDS: usize = 8;
// SAFETY: CMSG_SPACE only computes a size.
const _: () = assert!(unsafe { libc::CMSG_SPACE((wire::MAX_REQUEST_FDS * 4) as u32) } as usize <= CONTROL_WORDS * 8);

/// Sends a request with its fds (at most [`wire::MAX_REQUEST_FDS`]).
pub(super) fn send_request(ctrl: &OwnedFd, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if fds.len() > wire::MAX_REQUEST_FDS {
        return Err(io::Error::other("too many descriptors for one request"));
    }
    let mut control = [0u64; CONTROL_WORDS];
    let fd_bytes = std::mem::size_of_val(fds);
    let mut iov = libc::iovec { iov_base: payload.as_ptr().cast_mut().cast(), iov_len: payload.len() };
    // SAFETY: msghdr is plain data; every pointer set below is to a live buffer, and the control
    // buffer holds CMSG_SPACE of the most fds a request has (asserted above).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(fd_bytes as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for SCM_RIGHTS"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as usize;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast::<RawFd>(), fds.len());
        loop {
            let n = libc::sendmsg(ctrl.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}
