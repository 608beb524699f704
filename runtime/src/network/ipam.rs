//! IP address management: which subnet a network gets, and which address
//! each container on it gets.
//!
//! A network's subnet is given (`network create --subnet`) or taken from
//! Docker's default pools: 172.17.0.0/16 to 172.31.0.0/16, then
//! 192.168.0.0/16 cut into /20s, skipping any that overlaps another network
//! or a route of the host (a subnet the host already reaches some other way
//! would make its addresses ambiguous).
//!
//! In a subnet, the first address is the network's own and the last its
//! broadcast; the gateway (the bridge's address) is the first host address
//! unless given. Containers get the others, in order, from a cursor that
//! moves on past each address handed out: an address that is let go is
//! handed out again only after all the others have been, so a name that
//! still resolves to it in some cache does not reach a new container at
//! once. (Docker's local IPAM hands out the lowest free address unless a
//! network asks for serial allocation, `com.docker.network.ipam.serial`,
//! as swarm's do; peti always allocates serially.) Finding the next free
//! address starts at the cursor, so the hundredth container on a network
//! costs what the first did.
//!
//! This module is plain data and arithmetic, with no I/O: the network's
//! record holds a [`Pool`], written atomically under the network's lock.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Why a subnet or an address could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error(
        "invalid subnet {0:?}: write it as an IPv4 network, like 172.30.0.0/16 (prefix 8 to 30)"
    )]
    BadSubnet(String),
    #[error(
        "invalid subnet {subnet}: {base} is not its first address (did you mean {first}/{prefix}?)"
    )]
    NotNetworkAddress {
        subnet: String,
        base: Ipv4Addr,
        first: Ipv4Addr,
        prefix: u8,
    },
    #[error("subnet {subnet} overlaps {other}: pick another with --subnet")]
    Overlap { subnet: Subnet, other: String },
    #[error("no address left in {subnet}: every one is in use (a larger subnet has more)")]
    Exhausted { subnet: Subnet },
    #[error("the address {ip} is not in the network's subnet {subnet}")]
    OutsideSubnet { ip: Ipv4Addr, subnet: Subnet },
    #[error("the address {ip} is the network's own, its broadcast or its gateway: pick another")]
    Reserved { ip: Ipv4Addr },
    #[error("the address {ip} is in use by container {by}")]
    Taken { ip: Ipv4Addr, by: String },
    #[error(
        "every default subnet (172.17.0.0/16 to 172.31.0.0/16, 192.168.0.0/20 to 192.168.240.0/20) overlaps a network or a route: give one with --subnet"
    )]
    NoFreePool,
}

/// An IPv4 network: its first address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl Subnet {
    /// Parses `A.B.C.D/N`, refusing host bits set (Docker refuses them too).
    pub fn parse(text: &str) -> Result<Subnet, IpamError> {
        let bad = || IpamError::BadSubnet(text.to_string());
        let (ip, prefix) = text.split_once('/').ok_or_else(bad)?;
        let base: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let subnet = Subnet {
            base: Ipv4Addr::from(u32::from(base) & mask(prefix)),
            prefix,
        };
        if subnet.base != base {
            return Err(IpamError::NotNetworkAddress {
                subnet: text.to_string(),
                base,
                first: subnet.base,
                prefix,
            });
        }
        Ok(subnet)
    }

    /// How many addresses it spans, its own and its broadcast included.
    pub fn size(&self) -> u32 {
        1u32 << (32 - u32::from(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.base)
    }

    /// Whether the two share an address: one contains the other's base.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }

    /// The address `offset` places after the base.
    fn at(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + offset)
    }

    fn offset_of(&self, ip: Ipv4Addr) -> u32 {
        u32::from(ip) - u32::from(self.base)
    }

    /// The first host address: the default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        self.at(1)
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

/// Docker's default pools, in the order it takes them.
pub fn default_pools() -> impl Iterator<Item = Subnet> {
    let wide = (17..=31u8).map(|b| Subnet {
        base: Ipv4Addr::new(172, b, 0, 0),
        prefix: 16,
    });
    let narrow = (0..16u8).map(|i| Subnet {
        base: Ipv4Addr::new(192, 168, i * 16, 0),
        prefix: 20,
    });
    wide.chain(narrow)
}

/// The first default pool that overlaps none of `taken` (other networks'
/// subnets and the host's routes).
pub fn free_pool(taken: &[Subnet]) -> Result<Subnet, IpamError> {
    default_pools()
        .find(|pool| !taken.iter().any(|t| t.overlaps(pool)))
        .ok_or(IpamError::NoFreePool)
}

/// Checks that a subnet asked for overlaps nothing in `taken`, naming what
/// it overlaps.
pub fn check_free(subnet: Subnet, taken: &[(Subnet, String)]) -> Result<(), IpamError> {
    match taken.iter().find(|(t, _)| t.overlaps(&subnet)) {
        Some((_, what)) => Err(IpamError::Overlap {
            subnet,
            other: what.clone(),
        }),
        None => Ok(()),
    }
}

/// A network's addresses: its subnet, gateway, and who holds which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// Where the search for the next free address starts.
    cursor: u32,
    /// Leased addresses, by offset in the subnet, with their container's ID.
    leases: BTreeMap<u32, String>,
}

impl Pool {
    /// A pool of `subnet`, its gateway given or the first host address.
    pub fn new(subnet: Subnet, gateway: Option<Ipv4Addr>) -> Result<Pool, IpamError> {
        let gateway = gateway.unwrap_or_else(|| subnet.first_host());
        let offset = subnet.contains(gateway).then(|| subnet.offset_of(gateway));
        match offset {
            Some(o) if o != 0 && o != subnet.size() - 1 => {}
            Some(_) => return Err(IpamError::Reserved { ip: gateway }),
            None => {
                return Err(IpamError::OutsideSubnet {
                    ip: gateway,
                    subnet,
                });
            }
        }
        Ok(Pool {
            subnet,
            gateway,
            cursor: 1,
            leases: BTreeMap::new(),
        })
    }

    /// Whether `offset` may be leased: not the network's own address, its
    /// broadcast, or the gateway.
    fn usable(&self, offset: u32) -> bool {
        offset != 0 && offset != self.subnet.size() - 1 && self.subnet.at(offset) != self.gateway
    }

    /// Leases the next free address to `container`, from the cursor on.
    pub fn lease(&mut self, container: &str) -> Result<Ipv4Addr, IpamError> {
        let size = self.subnet.size();
        for step in 0..size {
            let offset = (self.cursor + step) % size;
            if self.usable(offset) && !self.leases.contains_key(&offset) {
                self.leases.insert(offset, container.to_string());
                self.cursor = (offset + 1) % size;
                return Ok(self.subnet.at(offset));
            }
        }
        Err(IpamError::Exhausted {
            subnet: self.subnet,
        })
    }

    /// Leases `ip` itself (`--ip`), if it is in the subnet, not reserved
    /// and not taken.
    pub fn lease_exact(&mut self, container: &str, ip: Ipv4Addr) -> Result<(), IpamError> {
        if !self.subnet.contains(ip) {
            return Err(IpamError::OutsideSubnet {
                ip,
                subnet: self.subnet,
            });
        }
        let offset = self.subnet.offset_of(ip);
        if !self.usable(offset) {
            return Err(IpamError::Reserved { ip });
        }
        if let Some(by) = self.leases.get(&offset) {
            return Err(IpamError::Taken { ip, by: by.clone() });
        }
        self.leases.insert(offset, container.to_string());
        Ok(())
    }

    /// Lets go of every address `container` holds.
    pub fn release(&mut self, container: &str) {
        self.leases.retain(|_, holder| holder != container);
    }

    /// Lets go of the addresses of containers that are gone (their records
    /// removed while peti was killed, say); returns how many.
    pub fn reclaim(&mut self, alive: impl Fn(&str) -> bool) -> usize {
        let before = self.leases.len();
        self.leases.retain(|_, holder| alive(holder));
        before - self.leases.len()
    }

    /// Who holds which address.
    pub fn leases(&self) -> impl Iterator<Item = (Ipv4Addr, &str)> {
        self.leases
            .iter()
            .map(|(offset, holder)| (self.subnet.at(*offset), holder.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn subnets_are_parsed_strictly() {
        let s = Subnet::parse("172.30.0.0/16").unwrap();
        assert_eq!(s.to_string(), "172.30.0.0/16");
        assert_eq!(s.size(), 65536);
        assert!(s.contains(ip("172.30.255.255")) && !s.contains(ip("172.31.0.0")));
        for bad in [
            "172.30.0.0",
            "172.30.0.0/33",
            "172.30.0.0/31",
            "x/16",
            "10.0.0.0/7",
            "1.2.3.4/",
        ] {
            assert!(
                matches!(Subnet::parse(bad), Err(IpamError::BadSubnet(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Subnet::parse("172.30.0.1/16"),
            Err(IpamError::NotNetworkAddress { .. })
        ));
    }

    #[test]
    fn the_first_free_default_pool_is_dockers() {
        assert_eq!(free_pool(&[]).unwrap().to_string(), "172.17.0.0/16");
        let taken = [
            Subnet::parse("172.17.0.0/16").unwrap(),
            // A host route inside the next pool rules all of it out.
            Subnet::parse("172.18.5.0/24").unwrap(),
        ];
        assert_eq!(free_pool(&taken).unwrap().to_string(), "172.19.0.0/16");
        let everything = [
            Subnet::parse("172.0.0.0/8").unwrap(),
            Subnet::parse("192.168.0.0/16").unwrap(),
        ];
        assert_eq!(free_pool(&everything), Err(IpamError::NoFreePool));
        let other = [(
            Subnet::parse("10.1.0.0/16").unwrap(),
            "network lab".to_string(),
        )];
        assert!(
            check_free(Subnet::parse("10.1.2.0/24").unwrap(), &other)
                .unwrap_err()
                .to_string()
                .contains("overlaps network lab")
        );
    }

    #[test]
    fn addresses_skip_the_reserved_and_come_back_last() {
        let mut pool = Pool::new(Subnet::parse("10.9.0.0/29").unwrap(), None).unwrap();
        assert_eq!(pool.gateway, ip("10.9.0.1"));
        let got: Vec<_> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|c| pool.lease(c).unwrap())
            .collect();
        assert_eq!(
            got,
            ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"].map(ip)
        );
        assert_eq!(
            pool.lease("f"),
            Err(IpamError::Exhausted {
                subnet: pool.subnet
            })
        );
        pool.release("b");
        pool.release("d");
        // b's address went first, so it comes back first, after the others.
        assert_eq!(pool.lease("g").unwrap(), ip("10.9.0.3"));
        assert_eq!(pool.lease("h").unwrap(), ip("10.9.0.5"));
    }

    #[test]
    fn a_released_address_waits_for_the_others() {
        let mut pool = Pool::new(Subnet::parse("10.9.0.0/24").unwrap(), None).unwrap();
        let first = pool.lease("a").unwrap();
        pool.release("a");
        assert_ne!(pool.lease("b").unwrap(), first);
    }

    #[test]
    fn an_exact_address_is_checked() {
        let mut pool = Pool::new(
            Subnet::parse("10.9.0.0/24").unwrap(),
            Some(ip("10.9.0.254")),
        )
        .unwrap();
        pool.lease_exact("a", ip("10.9.0.1")).unwrap();
        assert_eq!(
            pool.lease_exact("b", ip("10.9.0.1")),
            Err(IpamError::Taken {
                ip: ip("10.9.0.1"),
                by: "a".into()
            })
        );
        for reserved in ["10.9.0.0", "10.9.0.255", "10.9.0.254"] {
            assert_eq!(
                pool.lease_exact("b", ip(reserved)),
                Err(IpamError::Reserved { ip: ip(reserved) })
            );
        }
        assert!(matches!(
            pool.lease_exact("b", ip("10.8.0.9")),
            Err(IpamError::OutsideSubnet { .. })
        ));
        assert!(matches!(
            Pool::new(pool.subnet, Some(ip("10.10.0.1"))),
            Err(IpamError::OutsideSubnet { .. })
        ));
    }

    #[test]
    fn the_gone_are_reclaimed_and_the_record_round_trips() {
        let mut pool = Pool::new(Subnet::parse("10.9.0.0/24").unwrap(), None).unwrap();
        pool.lease("alive").unwrap();
        pool.lease("gone").unwrap();
        assert_eq!(pool.reclaim(|c| c == "alive"), 1);
        let json = serde_json::to_string(&pool).unwrap();
        let back: Pool = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pool);
        assert_eq!(back.leases().map(|(_, c)| c).collect::<Vec<_>>(), ["alive"]);
    }
}
