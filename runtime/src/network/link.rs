//! Links, addresses and routes, asked of the kernel over rtnetlink.
//!
//! `ip link add`, `ip addr add` and `ip route add` are each one netlink message
//! to the kernel's routing socket, and so are these functions. peti does not run
//! `ip`: a message of its own costs a system call or two, a process of `ip` a
//! fork, an exec and a dynamic loader. The messages are built and read by
//! `netlink-packet-route`; what this module adds is the request-and-answer loop
//! (send one message asking for an acknowledgement, read until the kernel's
//! answer to that message comes) and the handful of requests a network needs:
//!
//! - a bridge, the network's switch, with the gateway's address on it;
//! - a veth pair, one end on the bridge, the other moved into the container's
//!   network namespace in the same message, already named `eth0`;
//! - inside the namespace, the address of that end and the default route.
//!
//! A netlink socket talks to the network namespace it was opened in, so the
//! container's side is configured by a socket opened there: [`in_namespace`]
//! opens it on a short-lived thread that has joined the namespace (`setns`
//! changes only the calling thread's namespace), and the rest of peti stays in
//! the host's.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::sched::{CloneFlags, setns};

/// What went wrong talking to the kernel's routing socket.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("netlink socket: {0} (peti needs CAP_NET_ADMIN to make networks: run it as root)")]
    Socket(std::io::Error),
    #[error("{what}: the kernel said: {source}")]
    Refused {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: the kernel's answer could not be read: {reason}")]
    Garbled { what: String, reason: String },
    #[error("no network device is named {0}")]
    NoSuchLink(String),
    #[error("enter the container's network namespace: {0}")]
    Namespace(nix::Error),
}

impl LinkError {
    /// Whether the kernel said the thing asked for exists already (EEXIST).
    pub fn exists(&self) -> bool {
        matches!(self, LinkError::Refused { source, .. } if source.raw_os_error() == Some(libc::EEXIST))
    }
}

/// A routing socket of one network namespace, with its request counter.
pub struct Netlink {
    socket: Socket,
    sequence: u32,
}

impl Netlink {
    /// Opens a routing socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, LinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(LinkError::Socket)?;
        socket.bind_auto().map_err(LinkError::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(LinkError::Socket)?;
        Ok(Netlink {
            socket,
            sequence: 0,
        })
    }

    /// Sends one request and waits for the kernel's acknowledgement of it.
    fn request(
        &mut self,
        what: &str,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, LinkError> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buffer = vec![0; packet.buffer_len()];
        packet.serialize(&mut buffer);
        self.socket
            .send(&buffer, 0)
            .map_err(|source| refused(what, source))?;
        self.answer(what)
    }

    /// Reads answers until the acknowledgement (or refusal) of the request just
    /// sent; a dump's messages on the way are collected and returned.
    fn answer(&mut self, what: &str) -> Result<Vec<RouteNetlinkMessage>, LinkError> {
        let mut collected = Vec::new();
        loop {
            let (bytes, _) = self
                .socket
                .recv_from_full()
                .map_err(|source| refused(what, source))?;
            let mut offset = 0;
            while offset < bytes.len() {
                let packet = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[offset..])
                    .map_err(|error| garbled(what, error))?;
                let length = packet.header.length as usize;
                if length == 0 {
                    return Err(garbled(what, "a message of length 0"));
                }
                offset += length;
                if packet.header.sequence_number != self.sequence {
                    continue; // an answer to an earlier request that gave up
                }
                match packet.payload {
                    NetlinkPayload::Error(error) => {
                        return match error.code {
                            None => Ok(collected),
                            Some(code) => Err(refused(
                                what,
                                std::io::Error::from_raw_os_error(-code.get()),
                            )),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(collected),
                    NetlinkPayload::InnerMessage(inner) => collected.push(inner),
                    _ => {}
                }
            }
        }
    }

    /// The index of the link named `name`.
    pub fn index(&mut self, name: &str) -> Result<u32, LinkError> {
        let mut message = LinkMessage::default();
        message
            .attributes
            .push(LinkAttribute::IfName(name.to_string()));
        let what = format!("look up {name}");
        match self.request(&what, RouteNetlinkMessage::GetLink(message), 0) {
            Ok(answers) => answers
                .into_iter()
                .find_map(|answer| match answer {
                    RouteNetlinkMessage::NewLink(link) => Some(link.header.index),
                    _ => None,
                })
                .ok_or_else(|| LinkError::NoSuchLink(name.to_string())),
            Err(LinkError::Refused { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Err(LinkError::NoSuchLink(name.to_string()))
            }
            Err(error) => Err(error),
        }
    }

    /// Makes a bridge named `name` (EEXIST if it is there already).
    pub fn add_bridge(&mut self, name: &str) -> Result<u32, LinkError> {
        let mut message = LinkMessage::default();
        message.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        self.request(
            &format!("make bridge {name}"),
            RouteNetlinkMessage::NewLink(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        self.index(name)
    }

    /// Makes a veth pair: `host` joins the bridge `bridge`, and its peer goes
    /// into the network namespace `namespace` as `peer`. One message does all
    /// three, so no half-made pair is ever visible on the host under the name
    /// the container is to use.
    pub fn add_veth(
        &mut self,
        host: &str,
        bridge: u32,
        peer: &str,
        namespace: impl AsFd,
    ) -> Result<(), LinkError> {
        let mut inside = LinkMessage::default();
        inside.attributes = vec![
            LinkAttribute::IfName(peer.to_string()),
            LinkAttribute::NetNsFd(namespace.as_fd().as_raw_fd()),
        ];
        let mut message = LinkMessage::default();
        message.attributes = vec![
            LinkAttribute::IfName(host.to_string()),
            LinkAttribute::Controller(bridge),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(inside))),
            ]),
        ];
        self.request(
            &format!("make veth pair {host}"),
            RouteNetlinkMessage::NewLink(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Sets a link up.
    pub fn set_up(&mut self, index: u32) -> Result<(), LinkError> {
        let mut message = LinkMessage::default();
        message.header.index = index;
        message.header.flags = LinkFlags::Up;
        message.header.change_mask = LinkFlags::Up;
        self.request(
            &format!("set link {index} up"),
            RouteNetlinkMessage::SetLink(message),
            0,
        )?;
        Ok(())
    }

    /// Deletes the link named `name`; a veth's peer goes with it. A link that is
    /// not there is not an error: deleting is how peti cleans up, and a
    /// clean-up may run twice.
    pub fn delete(&mut self, name: &str) -> Result<(), LinkError> {
        let index = match self.index(name) {
            Ok(index) => index,
            Err(LinkError::NoSuchLink(_)) => return Ok(()),
            Err(error) => return Err(error),
        };
        let mut message = LinkMessage::default();
        message.header.index = index;
        match self.request(
            &format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(message),
            0,
        ) {
            Err(LinkError::Refused { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Puts `address/prefix` on a link, with its subnet's broadcast address.
    pub fn add_address(
        &mut self,
        index: u32,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), LinkError> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index;
        let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        let broadcast = Ipv4Addr::from(u32::from(address) | host_bits);
        message.attributes = vec![
            AddressAttribute::Local(address.into()),
            AddressAttribute::Address(address.into()),
            AddressAttribute::Broadcast(broadcast),
        ];
        match self.request(
            &format!("add address {address}/{prefix}"),
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(error) if error.exists() => Ok(()),
            other => other.map(drop),
        }
    }

    /// The default route, through `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), LinkError> {
        let mut message = RouteMessage::default();
        message.header.address_family = AddressFamily::Inet;
        message.header.table = libc::RT_TABLE_MAIN;
        message.header.protocol = RouteProtocol::Static;
        message.header.scope = RouteScope::Universe;
        message.header.kind = RouteType::Unicast;
        message
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            &format!("add a default route through {gateway}"),
            RouteNetlinkMessage::NewRoute(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }
}

/// Runs `work` with a routing socket of the network namespace `namespace`, on a
/// thread of its own that joined it: the calling thread's namespace is not
/// touched.
pub fn in_namespace<T: Send>(
    namespace: impl AsFd + Send,
    work: impl FnOnce(&mut Netlink) -> Result<T, LinkError> + Send,
) -> Result<T, LinkError> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                setns(namespace.as_fd(), CloneFlags::CLONE_NEWNET).map_err(LinkError::Namespace)?;
                work(&mut Netlink::open()?)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn refused(what: &str, source: std::io::Error) -> LinkError {
    LinkError::Refused {
        what: what.to_string(),
        source,
    }
}

fn garbled(what: &str, reason: impl std::fmt::Display) -> LinkError {
    LinkError::Garbled {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    /// Runs `test` on a thread in a network namespace of its own, so that the
    /// links it makes vanish with it. Skips (returns false) without root.
    fn in_scratch_namespace(test: impl FnOnce() + Send) -> bool {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: making network namespaces needs root");
            return false;
        }
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::unshare(CloneFlags::CLONE_NEWNET).expect("unshare");
                    test();
                })
                .join()
                .unwrap();
        });
        true
    }

    /// A second namespace, standing for a container's, opened from a thread
    /// that made it and stays in it while the test runs.
    fn second_namespace() -> File {
        std::thread::spawn(|| {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).expect("unshare");
            File::open("/proc/thread-self/ns/net").expect("open namespace")
        })
        .join()
        .unwrap()
    }

    #[test]
    fn a_bridge_a_veth_pair_an_address_and_a_route() {
        in_scratch_namespace(|| {
            let mut netlink = Netlink::open().unwrap();
            let bridge = netlink.add_bridge("br-test").unwrap();
            assert!(netlink.add_bridge("br-test").unwrap_err().exists());
            netlink
                .add_address(bridge, Ipv4Addr::new(10, 99, 0, 1), 24)
                .unwrap();
            netlink.set_up(bridge).unwrap();

            let container = second_namespace();
            netlink
                .add_veth("vethtest", bridge, "eth0", &container)
                .unwrap();
            let host_end = netlink.index("vethtest").unwrap();
            netlink.set_up(host_end).unwrap();
            // The peer is not in this namespace: it went straight to the other.
            assert!(matches!(
                netlink.index("eth0"),
                Err(LinkError::NoSuchLink(_))
            ));

            let eth0 = in_namespace(&container, |inside| {
                let eth0 = inside.index("eth0")?;
                inside.add_address(eth0, Ipv4Addr::new(10, 99, 0, 2), 24)?;
                inside.set_up(eth0)?;
                inside.add_default_route(Ipv4Addr::new(10, 99, 0, 1))?;
                Ok(eth0)
            })
            .unwrap();
            assert!(eth0 > 0);

            // Deleting the host's end takes the container's with it.
            netlink.delete("vethtest").unwrap();
            netlink.delete("vethtest").unwrap(); // twice is fine
            let gone = in_namespace(&container, |inside| Ok(inside.index("eth0")));
            assert!(matches!(gone, Ok(Err(LinkError::NoSuchLink(_)))));
            netlink.delete("br-test").unwrap();
            assert!(matches!(
                netlink.index("br-test"),
                Err(LinkError::NoSuchLink(_))
            ));
        });
    }
}
