//! The kernel counters that say where a host dropped datagrams: `/proc/net/snmp` (UDP and
//! IP) and `/proc/net/softnet_stat`, both of the reader's network namespace (softnet_stat is
//! the host's, per CPU). A member reads them before and after every tour; what moved is in
//! the tour's result, with advice.

use std::path::Path;

/// `/proc/net/snmp` counters watched, as `(group, field)`.
const SNMP: [(&str, &str); 7] = [
    ("Udp", "InErrors"),
    ("Udp", "RcvbufErrors"),
    ("Udp", "SndbufErrors"),
    ("Udp", "MemErrors"),
    ("Ip", "ReasmFails"),
    ("Ip", "ReasmReqds"),
    ("Ip", "FragFails"),
];

/// One reading: counter name (`Udp RcvbufErrors`, `softnet dropped`) and value.
pub type Reading = Vec<(String, u64)>;

/// Reads the watched counters below `proc_root` (`/proc` on a live system); counters that
/// cannot be read are left out.
pub fn read_counters(proc_root: &Path) -> Reading {
    let mut out = Vec::new();
    if let Ok(snmp) = std::fs::read_to_string(proc_root.join("net/snmp")) {
        let lines: Vec<&str> = snmp.lines().collect();
        for pair in lines.windows(2) {
            let (names, values) = (pair[0], pair[1]);
            let Some((group, names)) = names.split_once(':') else {
                continue;
            };
            let Some((vgroup, values)) = values.split_once(':') else {
                continue;
            };
            // A header line of names followed by its line of values.
            let is_header = names
                .split_whitespace()
                .next()
                .is_some_and(|n| n.parse::<u64>().is_err());
            if group != vgroup || !is_header {
                continue;
            }
            for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
                if SNMP.contains(&(group, name))
                    && let Ok(v) = value.parse::<u64>()
                {
                    out.push((format!("{group} {name}"), v));
                }
            }
        }
    }
    if let Ok(softnet) = std::fs::read_to_string(proc_root.join("net/softnet_stat")) {
        let column = |i: usize| -> u64 {
            softnet
                .lines()
                .filter_map(|l| l.split_whitespace().nth(i))
                .filter_map(|v| u64::from_str_radix(v, 16).ok())
                .sum()
        };
        out.push(("softnet dropped".into(), column(1)));
        out.push(("softnet time_squeeze".into(), column(2)));
    }
    out
}

/// The counters that moved from `before` to `after`, with how much.
pub fn moved(before: &Reading, after: &Reading) -> Reading {
    after
        .iter()
        .filter_map(|(name, now)| {
            let then = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, v)| *v);
            (*now > then).then(|| (name.clone(), now - then))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_snmp_and_softnet_and_finds_what_moved() {
        let root = std::env::temp_dir().join(format!("stillepost-drops-{}", std::process::id()));
        std::fs::create_dir_all(root.join("net")).unwrap();
        let snmp = |rcvbuf: u64, reasm: u64| {
            format!(
                "Ip: Forwarding DefaultTTL InReceives ReasmReqds ReasmOKs ReasmFails FragFails\n\
                 Ip: 1 64 100 {reasm} 0 0 0\n\
                 Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
                 Udp: 10 0 {rcvbuf} 9 {rcvbuf} 0 0 0 0\n"
            )
        };
        std::fs::write(root.join("net/snmp"), snmp(5, 0)).unwrap();
        std::fs::write(
            root.join("net/softnet_stat"),
            "0000a000 00000001 00000000\n0000b000 00000002 00000003\n",
        )
        .unwrap();
        let before = read_counters(&root);
        assert!(before.contains(&("Udp RcvbufErrors".into(), 5)));
        assert!(before.contains(&("softnet dropped".into(), 3)));
        std::fs::write(root.join("net/snmp"), snmp(42, 7)).unwrap();
        let after = read_counters(&root);
        assert_eq!(
            moved(&before, &after),
            vec![
                ("Ip ReasmReqds".to_string(), 7),
                ("Udp InErrors".to_string(), 37),
                ("Udp RcvbufErrors".to_string(), 37),
            ]
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
