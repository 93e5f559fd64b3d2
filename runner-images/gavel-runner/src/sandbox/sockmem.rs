//! Memory held in unix sockets, by uid, as the kernel's socket diagnostics report it
//! (`NETLINK_SOCK_DIAG`, which needs no privilege). Bytes a program wrote into a socket sit in
//! the kernel, charged to the sending socket, and appear in no process's resident memory: the
//! memory watch adds them, where the program's uid is its own and its sockets live in the
//! runner's network namespace (no job cgroup, no namespaces).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const UDIAG_SHOW_MEMINFO: u32 = 0x20;
const UDIAG_SHOW_UID: u32 = 0x40;
const UNIX_DIAG_MEMINFO: u16 = 5;
const UNIX_DIAG_UID: u16 = 7;
/// `SK_MEMINFO_WMEM_ALLOC`: what the socket has sent and its peer not yet read.
const WMEM_ALLOC: usize = 2;
const HEADER: usize = 16;
/// `struct unix_diag_msg`.
const DIAG_MSG: usize = 16;

/// Bytes queued in the unix sockets `uid` created.
pub(super) fn queued_by(uid: u32) -> io::Result<u64> {
    // SAFETY: a plain socket call; the descriptor is owned right away.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let request = dump_request();
    // SAFETY: the request is a live buffer of its length.
    if unsafe { libc::send(sock.as_raw_fd(), request.as_ptr().cast(), request.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: buf is a live buffer.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        match sum_messages(buf.get(..n as usize).unwrap_or(&[]), uid)? {
            Batch::More(bytes) => total = total.saturating_add(bytes),
            Batch::Done(bytes) => return Ok(total.saturating_add(bytes)),
        }
    }
}

/// A dump of every unix socket, with its owner and memory.
fn dump_request() -> Vec<u8> {
    let mut req = Vec::with_capacity(HEADER + 24);
    let len = (HEADER + 24) as u32;
    req.extend_from_slice(&len.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    req.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel
    // struct unix_diag_req: family, protocol, pad, states, ino, show, cookie[2]
    req.extend_from_slice(&[libc::AF_UNIX as u8, 0, 0, 0]);
    req.extend_from_slice(&u32::MAX.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&(UDIAG_SHOW_MEMINFO | UDIAG_SHOW_UID).to_ne_bytes());
    req.extend_from_slice(&[0u8; 8]);
    req
}

enum Batch {
    More(u64),
    Done(u64),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The bytes `uid`'s sockets hold in one datagram of netlink messages.
fn sum_messages(mut data: &[u8], uid: u32) -> io::Result<Batch> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag answer");
    let mut total = 0u64;
    while data.len() >= HEADER {
        let len = u32_at(data, 0).ok_or_else(malformed)? as usize;
        let kind = u16_at(data, 4).ok_or_else(malformed)?;
        let message = data.get(..len).filter(|_| len >= HEADER).ok_or_else(malformed)?;
        match kind {
            NLMSG_DONE => return Ok(Batch::Done(total)),
            NLMSG_ERROR => {
                let errno = u32_at(message, HEADER).map_or(libc::EIO, |e| -(e as i32));
                return Err(io::Error::from_raw_os_error(errno));
            }
            SOCK_DIAG_BY_FAMILY => total = total.saturating_add(socket_bytes(&message[HEADER..], uid)),
            _ => {}
        }
        data = data.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    Ok(Batch::More(total))
}

/// One socket's queued bytes, if `uid` owns it.
fn socket_bytes(msg: &[u8], uid: u32) -> u64 {
    let mut attrs = msg.get(DIAG_MSG..).unwrap_or(&[]);
    let (mut owner, mut queued) = (None, 0u64);
    while attrs.len() >= 4 {
        let (Some(len), Some(kind)) = (u16_at(attrs, 0), u16_at(attrs, 2)) else { break };
        let len = usize::from(len);
        let Some(payload) = attrs.get(4..len) else { break };
        match kind {
            UNIX_DIAG_UID => owner = u32_at(payload, 0),
            UNIX_DIAG_MEMINFO => queued = u32_at(payload, WMEM_ALLOC * 4).map_or(0, u64::from),
            _ => {}
        }
        attrs = attrs.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    if owner == Some(uid) { queued } else { 0 }
}

#[cfg(test)]
mod unit {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn bytes_waiting_in_our_sockets_are_counted_as_ours() {
        // SAFETY: getuid cannot fail.
        let me = unsafe { libc::getuid() };
        let before = queued_by(me).expect("sock_diag");
        let (mut sender, _receiver) = UnixStream::pair().expect("socketpair");
        sender.set_nonblocking(true).expect("nonblocking");
        let mut sent = 0;
        while let Ok(n) = sender.write(&[7; 4096]) {
            sent += n;
        }
        let after = queued_by(me).expect("sock_diag");
        assert!(after >= sent as u64 / 2, "{sent} bytes sent, {before} → {after} counted");
        assert_eq!(queued_by(me.wrapping_add(12345)).expect("sock_diag"), 0, "nobody else's");
    }
}
