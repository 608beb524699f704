//! The networks peti knows: one JSON record each, `$PETI_ROOT/networks/
//! NAME.json`, written atomically, changed only under the lock
//! `networks/lock`, so that two commands leasing addresses at once cannot
//! hand out one address twice.
//!
//! A record is what `network inspect` shows and what a start needs: the
//! network's ID, subnet and gateway, its bridge's name, and its leases.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ipam::{self, IpamError, Pool, Subnet};
use crate::fsutil;

/// What can go wrong with a network's record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(
        "invalid network name {0:?}: use letters, digits, and _ . - (starting with a letter or digit)"
    )]
    BadName(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("network {0} not found")]
    NotFound(String),
    #[error("error while removing network: network {name} has active endpoints ({containers})")]
    InUse { name: String, containers: String },
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error("{path} is not a network record peti can read: {detail}")]
    Bad { path: PathBuf, detail: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RecordError + '_ {
    move |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    /// RFC 3339, in UTC.
    pub created: String,
    /// The Linux bridge its containers' veths join.
    pub bridge: String,
    /// No route out: no masquerade, no default route in its containers.
    pub internal: bool,
    pub labels: std::collections::BTreeMap<String, String>,
    pub pool: Pool,
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    pub name: String,
    pub subnet: Option<Subnet>,
    pub gateway: Option<std::net::Ipv4Addr>,
    pub internal: bool,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The records under one store root.
#[derive(Debug, Clone)]
pub struct Networks {
    dir: PathBuf,
}

/// The name Docker gives a user network's bridge: `br-` and the first 12
/// hex digits of its ID (an interface name has at most 15 characters).
pub fn bridge_name(id: &str) -> String {
    format!("br-{}", &id[..12.min(id.len())])
}

impl Networks {
    pub fn new(root: &Path) -> Networks {
        Networks {
            dir: root.join("networks"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Runs `change` with the networks' lock held.
    pub fn locked<T>(
        &self,
        change: impl FnOnce(&Networks) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        fs::create_dir_all(&self.dir).map_err(io_at(&self.dir))?;
        fsutil::private_dir(&self.dir).map_err(io_at(&self.dir))?;
        let lock = self.dir.join("lock");
        let _held = fsutil::lock_exclusive(&lock).map_err(io_at(&lock))?;
        change(self)
    }

    /// Makes the record of a new network, under the lock the caller holds:
    /// its subnet is the one asked for, if it overlaps no other network nor
    /// any of `host_routes`, or else the first free default pool.
    pub fn create(
        &self,
        spec: &NetworkSpec,
        host_routes: &[Subnet],
    ) -> Result<Network, RecordError> {
        crate::container::state::check_name(&spec.name)
            .map_err(|_| RecordError::BadName(spec.name.clone()))?;
        if self.path(&spec.name).exists() {
            return Err(RecordError::Exists(spec.name.clone()));
        }
        let mut taken: Vec<(Subnet, String)> = self
            .list()?
            .into_iter()
            .map(|n| (n.pool.subnet, format!("network {}", n.name)))
            .collect();
        taken.extend(
            host_routes
                .iter()
                .map(|r| (*r, format!("the host's route to {r}"))),
        );
        let subnet = match spec.subnet {
            Some(subnet) => {
                ipam::check_free(subnet, &taken)?;
                subnet
            }
            None => ipam::free_pool(&taken.iter().map(|(s, _)| *s).collect::<Vec<_>>())?,
        };
        let id = crate::container::state::new_id();
        let network = Network {
            name: spec.name.clone(),
            bridge: bridge_name(&id),
            id,
            created: crate::container::state::now_rfc3339(),
            internal: spec.internal,
            labels: spec.labels.clone(),
            pool: Pool::new(subnet, spec.gateway)?,
        };
        self.save(&network)?;
        Ok(network)
    }

    /// Writes a record, atomically.
    pub fn save(&self, network: &Network) -> Result<(), RecordError> {
        let path = self.path(&network.name);
        let json = serde_json::to_vec_pretty(network).expect("a record serialises");
        fsutil::write_atomically(&path, &json, 0o600).map_err(io_at(&path))
    }

    /// The network named, or whose ID starts with `name_or_id`.
    pub fn get(&self, name_or_id: &str) -> Result<Network, RecordError> {
        if crate::container::state::check_name(name_or_id).is_ok() {
            if let Some(network) = self.read(&self.path(name_or_id))? {
                return Ok(network);
            }
        }
        self.list()?
            .into_iter()
            .find(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id))
            .ok_or_else(|| RecordError::NotFound(name_or_id.to_string()))
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>, RecordError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_at(&self.dir)(e)),
        };
        let mut networks = Vec::new();
        for entry in entries {
            let path = entry.map_err(io_at(&self.dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                networks.extend(self.read(&path)?);
            }
        }
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(networks)
    }

    fn read(&self, path: &Path) -> Result<Option<Network>, RecordError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| RecordError::Bad {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_at(path)(e)),
        }
    }

    /// Removes a network's record, refused while a container holds one of
    /// its addresses (the caller reclaims the gone ones first).
    pub fn remove(&self, network: &Network) -> Result<(), RecordError> {
        let holders: Vec<&str> = network.pool.leases().map(|(_, c)| c).collect();
        if !holders.is_empty() {
            return Err(RecordError::InUse {
                name: network.name.clone(),
                containers: holders.join(", "),
            });
        }
        let path = self.path(&network.name);
        fs::remove_file(&path).map_err(io_at(&path))
    }
}

/// The IPv4 routes of the host, from `/proc/net/route` (the kernel's own
/// table, one line per route, addresses in hexadecimal as the kernel holds
/// them, in the machine's byte order). The default route (0.0.0.0/0) is left
/// out: it overlaps everything, and a network behind it is the usual case.
pub fn host_routes() -> Vec<Subnet> {
    fs::read_to_string("/proc/net/route")
        .map(|text| parse_routes(&text))
        .unwrap_or_default()
}

fn parse_routes(text: &str) -> Vec<Subnet> {
    // The kernel prints the address's 4 bytes as one number in the machine's
    // order: its native-endian bytes are the address's, in order.
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|n| std::net::Ipv4Addr::from(n.to_ne_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let destination = hex(fields.get(1)?)?;
            let mask = hex(fields.get(7)?)?;
            let prefix = u32::from(mask).count_ones() as u8;
            (prefix > 0).then_some(Subnet {
                base: destination,
                prefix,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_made_found_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let networks = Networks::new(dir.path());
        let spec = NetworkSpec {
            name: "lab".into(),
            ..NetworkSpec::default()
        };
        let routes = [Subnet::parse("172.17.0.0/16").unwrap()];
        let lab = networks.locked(|n| n.create(&spec, &routes)).unwrap();
        assert_eq!(
            lab.pool.subnet.to_string(),
            "172.18.0.0/16",
            "past the host's route"
        );
        assert_eq!(lab.bridge, format!("br-{}", &lab.id[..12]));
        assert!(matches!(
            networks.create(&spec, &[]),
            Err(RecordError::Exists(_))
        ));
        let other = NetworkSpec {
            name: "other".into(),
            subnet: Some(Subnet::parse("172.18.3.0/24").unwrap()),
            ..NetworkSpec::default()
        };
        let clash = networks.create(&other, &[]).unwrap_err();
        assert!(
            clash.to_string().contains("overlaps network lab"),
            "{clash}"
        );
        assert_eq!(networks.get(&lab.id[..6]).unwrap(), lab);
        let mut leased = lab.clone();
        leased.pool.lease("c1").unwrap();
        networks.save(&leased).unwrap();
        assert!(matches!(
            networks.remove(&leased),
            Err(RecordError::InUse { .. })
        ));
        leased.pool.release("c1");
        networks.remove(&leased).unwrap();
        assert!(matches!(networks.get("lab"), Err(RecordError::NotFound(_))));
        assert!(matches!(
            networks.create(
                &NetworkSpec {
                    name: "a/b".into(),
                    ..NetworkSpec::default()
                },
                &[]
            ),
            Err(RecordError::BadName(_))
        ));
    }

    #[test]
    fn the_kernels_route_table_is_read() {
        // Two routes as /proc/net/route prints them on x86 (little-endian):
        // default via 10.0.2.2, and 10.0.2.0/24 on the link.
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_routes(text), [Subnet::parse("10.0.2.0/24").unwrap()]);
    }
}
