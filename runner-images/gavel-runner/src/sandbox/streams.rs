//! The run's pipes on the host side: stdin fed in chunks, stdout and stderr read through caps,
//! and SIGPIPE kept from killing the runner.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use gavel_core::runner::{MAX_SEGMENTS, Segment, Stream};

pub(super) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub(super) fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Blocks SIGPIPE in this thread while we write the program's stdin, and swallows one raised
/// meanwhile: a closed stdin must be an EPIPE for us, not the death of the runner.
pub(super) struct SigpipeBlocked {
    old: libc::sigset_t,
}

impl SigpipeBlocked {
    pub(super) fn new() -> SigpipeBlocked {
        // SAFETY: signal-set manipulation on local sets; pthread_sigmask affects this thread only.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SigpipeBlocked { old }
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: as above; sigtimedwait with a zero timeout only consumes a pending SIGPIPE.
        unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            if libc::sigismember(&pending, libc::SIGPIPE) == 1 && libc::sigismember(&self.old, libc::SIGPIPE) == 0 {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGPIPE);
                let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// A capped output stream.
pub(super) struct Capture {
    fd: Option<OwnedFd>,
    data: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capture {
    /// A stream read from `fd`; without one (stdout connected elsewhere), an empty closed one.
    pub(super) fn new(fd: Option<OwnedFd>, cap: u64) -> Capture {
        Capture { fd, data: Vec::new(), cap: usize::try_from(cap).unwrap_or(usize::MAX), truncated: false }
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.fd.is_none()
    }

    pub(super) fn truncated(&self) -> bool {
        self.truncated
    }

    pub(super) fn len(&self) -> usize {
        self.data.len()
    }

    pub(super) fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// Reads what is available, taking what it keeps out of `room` (shared by the run's streams).
    /// Returns true when this stream's cap or the shared room was exceeded just now.
    pub(super) fn read(&mut self, buf: &mut [u8], room: &mut u64) -> bool {
        let Some(fd) = &self.fd else {
            return false;
        };
        loop {
            // SAFETY: buf is a live buffer.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error().raw_os_error();
                if e == Some(libc::EINTR) {
                    continue;
                }
                if e != Some(libc::EAGAIN) {
                    self.fd = None;
                }
                return false;
            }
            if n == 0 {
                self.fd = None;
                return false;
            }
            let chunk = buf.get(..n as usize).unwrap_or(&[]);
            let fits = self.cap.saturating_sub(self.data.len()).min(usize::try_from(*room).unwrap_or(usize::MAX));
            let kept = chunk.get(..chunk.len().min(fits)).unwrap_or(&[]);
            self.data.extend_from_slice(kept);
            *room = room.saturating_sub(kept.len() as u64);
            if kept.len() < chunk.len() {
                self.truncated = true;
                // Stop reading: the program is being killed, and it must not make us buffer more.
                self.fd = None;
                return true;
            }
            return false;
        }
    }
}

/// The order in which the two captures took their bytes, when it is wanted: runs of one stream,
/// at most [`MAX_SEGMENTS`] of them (the rest of each stream then follows, stdout first).
pub(super) struct Arrivals {
    segments: Option<Vec<Segment>>,
    full: bool,
}

impl Arrivals {
    pub(super) fn new(keep: bool) -> Arrivals {
        Arrivals { segments: keep.then(Vec::new), full: false }
    }

    /// [`Capture::read`] of `stream`, noting what it kept.
    pub(super) fn read(&mut self, stream: Stream, capture: &mut Capture, buf: &mut [u8], room: &mut u64) -> bool {
        let before = capture.len();
        let over = capture.read(buf, room);
        let kept = (capture.len() - before) as u64;
        let Some(segments) = self.segments.as_mut().filter(|_| kept > 0 && !self.full) else { return over };
        let count = segments.len();
        match segments.last_mut() {
            Some(last) if last.stream == stream => last.len += kept,
            // Full: nothing more is noted, so what was noted stays a true prefix of the order.
            _ if count >= MAX_SEGMENTS => self.full = true,
            _ => segments.push(Segment { stream, len: kept }),
        }
        over
    }

    pub(super) fn into_segments(self) -> Vec<Segment> {
        self.segments.unwrap_or_default()
    }
}

/// The program's stdin, fed from the run's input as the pipe takes it.
pub(super) struct Stdin<'a> {
    fd: Option<OwnedFd>,
    data: &'a [u8],
}

impl<'a> Stdin<'a> {
    pub(super) fn new(fd: Option<OwnedFd>, data: &'a [u8]) -> Stdin<'a> {
        Stdin { fd, data }
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// EOF for the program, whatever it has not read.
    pub(super) fn close(&mut self) {
        self.fd = None;
    }

    pub(super) fn write(&mut self) {
        let Some(fd) = &self.fd else {
            return;
        };
        // At most one pipe-buffer's worth per call; poll says when there is room again.
        let chunk = self.data.get(..self.data.len().min(1 << 16)).unwrap_or(&[]);
        // SAFETY: chunk is a live slice.
        let n = unsafe { libc::write(fd.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) };
        if n < 0 {
            let e = io::Error::last_os_error().raw_os_error();
            // EPIPE: the program closed stdin or exited; the rest is simply not wanted.
            if e != Some(libc::EAGAIN) && e != Some(libc::EINTR) {
                self.fd = None;
            }
            return;
        }
        self.data = self.data.get(n as usize..).unwrap_or(&[]);
        if self.data.is_empty() {
            self.fd = None; // EOF for the program
        }
    }
}
