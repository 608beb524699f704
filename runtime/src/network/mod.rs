//! Container networks, as Docker's bridge driver makes them (issue 23, in
//! progress): a Linux bridge per network, a veth pair per container and
//! network, addresses handed out from the network's subnet, NAT and
//! published ports in nftables, and names answered by a small DNS responder.
//!
//! - [`ipam`]: subnets and the addresses leased from them;
//! - [`record`]: the networks peti knows, kept under its root;
//! - [`link`]: bridges, veth pairs, addresses and routes, over rtnetlink.

pub mod ipam;
pub mod link;
pub mod record;
