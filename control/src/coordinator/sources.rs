//! Where a ring's members come from when `--cluster` names a source rather than a list:
//! a member file, DNS or multicast announcements (docs/deploy.md, "Finding the members").
//! Each is asked at every configure, so the ring follows the source.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use super::{CoordError, CoordinatorCore};
use crate::announce::{AnnounceKey, Listener};
use crate::ring::{ClusterError, ClusterSource, cluster_from_file, validate_source_members};

/// How long one DNS query may take, and how many times it is sent again after a timeout
/// (hickory's `attempts`: so each query goes out at most twice).
const DNS_TIMEOUT: Duration = Duration::from_secs(2);
const DNS_RETRIES: usize = 1;
/// SRV targets resolved at once.
const SRV_PARALLEL: usize = 32;

impl CoordinatorCore {
    /// The control endpoints `source` names now, and the text that names the source in
    /// replies and logs (None for a list, which is its own source).
    pub(super) async fn members_of(
        &self,
        source: ClusterSource,
    ) -> Result<(Vec<String>, Option<String>), CoordError> {
        let invalid = |e: ClusterError| CoordError::InvalidArgument(e.to_string());
        let entry = source.entry();
        let list = match source {
            ClusterSource::List(list) => return Ok((list, None)),
            ClusterSource::File(path) => {
                let read = {
                    let path = path.clone();
                    tokio::task::spawn_blocking(move || std::fs::read_to_string(path)).await
                };
                let text = read
                    .map_err(|e| CoordError::Internal(format!("reading a member file: {e}")))?
                    .map_err(|e| {
                        CoordError::InvalidArgument(format!(
                            "--cluster file:{path}: cannot read it on the coordinator's host: {e}"
                        ))
                    })?;
                cluster_from_file(&path, &text).map_err(invalid)?
            }
            ClusterSource::Dns { name, port } => {
                let found = resolve_dns(&name, port, self.dns_server)
                    .await
                    .map_err(|why| {
                        CoordError::InvalidArgument(format!("--cluster {entry}: {why}"))
                    })?;
                validate_source_members(&found).map_err(|e| {
                    CoordError::InvalidArgument(format!("--cluster {entry} resolved to {e}"))
                })?
            }
            ClusterSource::Discover(group) => {
                let listener = self.listener(group)?;
                // A listener that just started has not heard every heartbeat yet.
                tokio::time::sleep(listener.warming_up()).await;
                let found: Vec<String> =
                    listener.members().into_iter().map(|m| m.endpoint).collect();
                if found.is_empty() {
                    return Err(CoordError::InvalidArgument(format!(
                        "--cluster {entry}: no member announced itself on {group} in the last {} s{}: start members with `stillepostd member --announce {group}` and the coordinator's token, on a network that carries multicast to this host (docs/deploy.md)",
                        crate::announce::DISCOVERY_WINDOW.as_secs(),
                        match listener.ignored() {
                            0 => String::new(),
                            n => format!(
                                " ({n} heartbeats were ignored, see the coordinator's log: another token?)"
                            ),
                        }
                    )));
                }
                validate_source_members(&found).map_err(invalid)?
            }
        };
        Ok((list, Some(entry)))
    }

    /// After a configure from `source` worked: listens only on its group, if it has one.
    pub(crate) fn keep_listener_of(&self, source: &ClusterSource) {
        let group = match source {
            ClusterSource::Discover(group) => Some(*group),
            _ => None,
        };
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|g, _| Some(*g) == group);
    }

    /// The listener on `group`, started at its first use and kept from then on (members
    /// are heard between configures, so a member that leaves is left out at once).
    fn listener(&self, group: SocketAddr) -> Result<Arc<Listener>, CoordError> {
        let Some(token) = self.member_credentials.token.as_ref() else {
            return Err(CoordError::InvalidArgument(format!(
                "--cluster discover:{group} needs the ring's token on the coordinator (--token-file or STILLEPOST_TOKEN): members' heartbeats are tagged with it, and without it anyone on the link could announce a member"
            )));
        };
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(listener) = listeners.get(&group) {
            return Ok(Arc::clone(listener));
        }
        let listener = Listener::start(group, AnnounceKey::new(token)).map_err(|e| {
            CoordError::InvalidArgument(format!(
                "--cluster discover:{group}: cannot listen on the group on the coordinator's host: {e} ({})",
                crate::announce::route_hint(&group)
            ))
        })?;
        tracing::info!("discover {group}: listening for members' heartbeats");
        let listener = Arc::new(listener);
        listeners.insert(group, Arc::clone(&listener));
        Ok(listener)
    }
}

/// The control endpoints `name` resolves to: with `port`, every address of its A records
/// (of its AAAA records when it has no A record) at that port; without, one per SRV
/// record, at the lowest address of the record's target and the record's port. `server` replaces the
/// system's resolver configuration (/etc/resolv.conf) when given.
pub async fn resolve_dns(
    name: &str,
    port: Option<u16>,
    server: Option<SocketAddr>,
) -> Result<Vec<String>, String> {
    let resolver = resolver(server)?;
    let addresses = async |host: &str| -> Result<Vec<std::net::IpAddr>, String> {
        let found = resolver
            .lookup_ip(host)
            .await
            .map_err(|e| format!("resolving {host} (A/AAAA): {e}"))?;
        let mut found: Vec<std::net::IpAddr> = found.iter().collect();
        // In a stable order, so that the same records give the same ring.
        found.sort_unstable();
        found.dedup();
        Ok(found)
    };
    let mut endpoints: Vec<String> = Vec::new();
    match port {
        Some(port) => {
            for ip in addresses(name).await? {
                endpoints.push(SocketAddr::new(ip, port).to_string());
            }
        }
        None => {
            let records = resolver.srv_lookup(name).await.map_err(|e| {
                format!(
                    "resolving {name} (SRV): {e}; for A/AAAA records give the members' control port, dns:{name}:<port>"
                )
            })?;
            let targets: Vec<(String, u16)> = records
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::SRV(srv) => Some((srv.target.to_string(), srv.port)),
                    _ => None,
                })
                .collect();
            // At most SRV_PARALLEL lookups at once, in the records' order.
            let mut found = Vec::with_capacity(targets.len());
            for chunk in targets.chunks(SRV_PARALLEL) {
                found.extend(
                    futures::future::join_all(chunk.iter().map(|(target, _)| addresses(target)))
                        .await,
                );
            }
            for ((target, port), ips) in targets.iter().zip(found) {
                let ip = ips?
                    .into_iter()
                    .next()
                    .ok_or_else(|| format!("{target} (an SRV target of {name}) has no address"))?;
                endpoints.push(SocketAddr::new(ip, *port).to_string());
            }
        }
    }
    // Several SRV records may name one member.
    let mut seen = std::collections::HashSet::new();
    endpoints.retain(|e| seen.insert(e.clone()));
    if endpoints.is_empty() {
        return Err(format!("{name} has no records"));
    }
    Ok(endpoints)
}

fn resolver(server: Option<SocketAddr>) -> Result<TokioResolver, String> {
    let mut builder = match server {
        None => TokioResolver::builder_tokio().map_err(|e| {
            format!(
                "reading the system's resolver configuration (/etc/resolv.conf): {e}; give the coordinator --dns-server"
            )
        })?,
        Some(server) => {
            let connection = |mut c: ConnectionConfig| {
                c.port = server.port();
                c
            };
            let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                server.ip(),
                true,
                vec![
                    connection(ConnectionConfig::udp()),
                    connection(ConnectionConfig::tcp()),
                ],
            )]);
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        }
    };
    let options = builder.options_mut();
    options.timeout = DNS_TIMEOUT;
    options.attempts = DNS_RETRIES;
    // A member with both kinds of address is one member.
    options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
    // A new resolver per configure: nothing is cached from one to the next.
    builder
        .build()
        .map_err(|e| format!("setting up the DNS resolver: {e}"))
}
