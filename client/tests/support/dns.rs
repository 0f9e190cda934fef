//! An authoritative DNS server for tests, on 127.0.0.1 (UDP and TCP, one port), serving
//! one zone from memory with records the test adds and removes while it runs. Built on
//! hickory-server; it runs on a Tokio runtime of its own and stops when dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record, RrKey};
use hickory_server::Server;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};

/// Time to live of every record: short, as the coordinator asks at every configure anyway.
const TTL: u32 = 1;
const SERIAL: u32 = 1;

/// A running DNS server for one zone.
pub struct DnsServer {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn name(text: &str) -> Name {
    Name::from_str(text).expect("a DNS name")
}

impl DnsServer {
    /// Serves the zone `origin` (e.g. `ring.test.`), with only its SOA record at first.
    pub fn start(origin: &str) -> DnsServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the DNS server");
        let origin = name(origin);
        let mut zone =
            InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            name(&format!("ns.{origin}")),
            name(&format!("admin.{origin}")),
            SERIAL,
            60,
            60,
            3600,
            TTL,
        );
        assert!(zone.upsert_mut(
            Record::from_rdata(origin.clone(), TTL, RData::SOA(soa)),
            SERIAL
        ));
        let zone = Arc::new(zone);
        let addr = runtime.block_on(async {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind the DNS server's UDP socket");
            let addr = udp.local_addr().expect("its address");
            let tcp = tokio::net::TcpListener::bind(addr)
                .await
                .expect("bind the DNS server's TCP socket");
            let mut catalog = Catalog::new();
            catalog.upsert(
                LowerName::new(&origin),
                vec![Arc::clone(&zone) as Arc<dyn ZoneHandler>],
            );
            let mut server = Server::new(catalog);
            server.register_socket(udp);
            server.register_listener(tcp, std::time::Duration::from_secs(5), 64);
            tokio::spawn(async move {
                let _ = server.block_until_done().await;
            });
            addr
        });
        DnsServer {
            addr,
            zone,
            runtime: Some(runtime),
        }
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.runtime.as_ref().expect("running").block_on(f)
    }

    /// Adds an A record.
    pub fn add_a(&self, host: &str, ip: Ipv4Addr) {
        let record = Record::from_rdata(name(host), TTL, RData::A(A(ip)));
        assert!(
            self.block_on(self.zone.upsert(record, SERIAL)),
            "add {host} A"
        );
    }

    /// Adds an SRV record `service` → `target`:`port`.
    pub fn add_srv(&self, service: &str, target: &str, port: u16) {
        let record = Record::from_rdata(
            name(service),
            TTL,
            RData::SRV(SRV::new(0, 0, port, name(target))),
        );
        assert!(
            self.block_on(self.zone.upsert(record, SERIAL)),
            "add {service} SRV"
        );
    }

    /// Removes the record of `host` with this data.
    pub fn remove(&self, host: &str, data: RData) {
        let record = Record::from_rdata(name(host), TTL, data);
        let key = RrKey::new(LowerName::new(&record.name), record.record_type());
        self.block_on(async {
            let mut records = self.zone.records_mut().await;
            let set = records.get_mut(&key).expect("the record set");
            assert!(Arc::make_mut(set).remove(&record, SERIAL), "remove {host}");
        });
    }

    /// Removes an A record.
    pub fn remove_a(&self, host: &str, ip: Ipv4Addr) {
        self.remove(host, RData::A(A(ip)));
    }

    /// Removes an SRV record.
    pub fn remove_srv(&self, service: &str, target: &str, port: u16) {
        self.remove(service, RData::SRV(SRV::new(0, 0, port, name(target))));
    }
}
