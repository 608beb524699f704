//! The start-up channel: how a container's first process, between clone and exec,
//! tells peti what happened.
//!
//! It is one end of a `socketpair(SOCK_SEQPACKET)`, so each message arrives whole.
//! Both ends are close-on-exec: when the child's execve succeeds, its end closes by
//! itself and peti reads end-of-file. That EOF is the only reliable "exec worked"
//! signal there is; a failed exec instead sends a [`Message::Failed`] first. The
//! pty master of `-t` travels the same way, as an SCM_RIGHTS file descriptor.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recv,
    recvmsg, sendmsg, socketpair,
};
use serde::{Deserialize, Serialize};

use super::trace::TraceEvent;

/// The most a message can hold: traces are a few kilobytes.
const MAX_MESSAGE: usize = 256 * 1024;

/// What can go wrong on the channel.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("start-up channel: {0}")]
    Sys(#[from] Errno),
    #[error("start-up channel: a malformed message ({0})")]
    Malformed(String),
}

/// What the two sides say. Only `Proceed` goes from parent to child.
#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
    /// The cgroup exists and the record is written: the child may join and exec.
    Proceed,
    /// Its part of `--trace`.
    Trace(Vec<TraceEvent>),
    /// The pty master is attached to this message.
    PtyMaster,
    /// Starting failed, and why.
    Failed(super::start_error::StartError),
    /// The seccomp filters, each instruction packed in a u64 (see
    /// `seccomp::Filters::to_words`), from peti after its go-ahead.
    Seccomp(Vec<Vec<u64>>),
    /// peti-dmz's exec of the program failed with this errno (peti-dmz is C,
    /// so it sends the number and peti writes the words).
    ExecFailed { errno: i32 },
}

/// One end of the channel.
pub struct Channel(OwnedFd);

impl std::os::fd::AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Makes a connected pair: (parent's end, child's end).
pub fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    /// Sends a message, with a descriptor if given.
    pub fn send(&self, message: &Message, fd: Option<RawFd>) -> Result<(), ChannelError> {
        let bytes =
            serde_json::to_vec(message).map_err(|e| ChannelError::Malformed(e.to_string()))?;
        let fds = fd.map(|f| [f]);
        let cmsgs: Vec<ControlMessage> = fds
            .as_ref()
            .map(|f| ControlMessage::ScmRights(f))
            .into_iter()
            .collect();
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        Ok(())
    }

    /// The length of the next message, which stays queued. On a SOCK_SEQPACKET
    /// socket, MSG_TRUNC makes recv report a message's whole length whatever the
    /// buffer, so the message buffer can be just big enough: a buffer sized for
    /// the largest message would be mostly pages the allocator zeroes for nothing.
    fn next_len(&self) -> Result<usize, ChannelError> {
        loop {
            match recv(
                self.0.as_raw_fd(),
                &mut [0u8; 1],
                MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
            ) {
                Err(Errno::EINTR) => continue,
                other => return Ok(other?),
            }
        }
    }

    /// Receives the next message and any descriptor with it; `None` at EOF.
    pub fn receive(&self) -> Result<Option<(Message, Option<OwnedFd>)>, ChannelError> {
        let mut buffer = vec![0u8; self.next_len()?.min(MAX_MESSAGE)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buffer)];
            match recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(msg) => {
                    let mut fd = None;
                    for cmsg in msg.cmsgs()? {
                        if let ControlMessageOwned::ScmRights(fds) = cmsg {
                            // SAFETY: SCM_RIGHTS installed these descriptors in our
                            // table just now; we are their only owner.
                            fd = fds.first().map(|&f| unsafe { OwnedFd::from_raw_fd(f) });
                        }
                    }
                    break (msg.bytes, fd);
                }
            }
        };
        if len == 0 {
            return Ok(None);
        }
        let message = serde_json::from_slice(&buffer[..len])
            .map_err(|e| ChannelError::Malformed(e.to_string()))?;
        Ok(Some((message, fd)))
    }
}
