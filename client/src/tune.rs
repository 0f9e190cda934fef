//! `stillepost tune`: this host's kernel settings checked for a workload, printed, applied
//! (`--apply`) or written as an `/etc/sysctl.d` file (`--emit-sysctl-conf`).

use anyhow::Result;
use serde_json::json;
use stillepost_control::ring::{default_max_datagram, params_to_config, workload};
use stillepost_tuning::{Host, Status, apply, check, render, sysctl_conf};

use crate::app::{invalid, tour_params};
use crate::cli::TuneArgs;

pub fn tune(args: &TuneArgs, json_mode: bool) -> Result<()> {
    if json_mode && args.emit_sysctl_conf {
        return Err(invalid(
            "--json and --emit-sysctl-conf ask for two documents (the sysctl file is not JSON): drop one",
        ));
    }
    if args.mtu.is_some_and(|mtu| mtu < 576) {
        return Err(invalid(format!(
            "--mtu must be at least 576 (is {})",
            args.mtu.unwrap_or_default()
        )));
    }
    let live = args.proc_sys_root.as_os_str() == "/proc/sys" && args.sys_root.as_os_str() == "/sys";
    let host = if live && !args.assume_netns {
        Host::live()
    } else {
        Host::at(&args.proc_sys_root, &args.sys_root, args.assume_netns)
    };
    // The MTU given, else this host's smallest; then the tour as `configure` makes it:
    // its defaults, its window, and without --max-datagram the datagram that MTU carries.
    let (mtu, mtu_from) = match args.mtu {
        Some(mtu) => (mtu, None),
        None => match host.smallest_mtu() {
            Some((name, mtu)) => (u32::try_from(mtu).unwrap_or(u32::MAX), Some(name)),
            None => (1500, Some("none found: 1500 assumed".to_owned())),
        },
    };
    let mut params = tour_params(&args.tour)?;
    if params.max_datagram == 0 {
        params.max_datagram = default_max_datagram(params.msg_len, mtu, true);
    }
    let workload =
        workload(&params_to_config(&params), mtu).map_err(|e| invalid(format!("--{e}")))?;
    let checks = check(&host, workload);
    if args.emit_sysctl_conf {
        return crate::out::print(&sysctl_conf(workload, &checks));
    }
    if args.apply {
        let done = apply(&host, &checks)?;
        if done.is_empty() {
            return crate::out::print("nothing to change\n");
        }
        let lines: String = done.iter().map(|line| format!("set {line}\n")).collect();
        return crate::out::print(&lines);
    }
    if json_mode {
        let items: Vec<_> = checks
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "sysctl": c.sysctl,
                    "current": c.current.as_deref().map(value_json),
                    "recommended": c.recommended.as_deref().map(value_json),
                    "status": match c.status {
                        Status::Ok => "ok",
                        Status::Change => "change",
                        Status::Optional => "latency",
                        Status::Info => "info",
                        Status::Unavailable => "unavailable",
                    },
                    "reason": c.reason,
                    "docs": format!("docs/tuning.md#{}", c.anchor),
                })
            })
            .collect();
        return crate::out::document(json!({
            "msg_len": workload.msg_len,
            "window": workload.window,
            "mtu": workload.mtu,
            "mtu_from": mtu_from,
            "max_datagram": workload.datagram,
            "datagrams_per_message": workload.datagrams,
            "fragments_per_message": workload.fragments(),
            "receive_buffer_needed": workload.receive_buffer(),
            "settings": items,
        }));
    }
    let mut text = String::new();
    if let Some(from) = mtu_from {
        text.push_str(&format!(
            "MTU {mtu}: the smallest of this host's interfaces ({from}); --mtu to choose another\n"
        ));
    }
    text.push_str(&render(workload, &checks));
    crate::out::print(&text)
}

/// A setting's value as JSON: a number (`212992`), several numbers as an array (`udp_mem`'s
/// `[18945, 25262, 37890]`), anything else (a governor, "none") as text.
fn value_json(value: &str) -> serde_json::Value {
    let numbers: Option<Vec<u64>> = value.split_whitespace().map(|v| v.parse().ok()).collect();
    match numbers.as_deref() {
        Some([one]) => json!(one),
        Some(many) if !many.is_empty() => json!(many),
        _ => json!(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbers_where_they_are_numbers() {
        assert_eq!(value_json("212992"), json!(212992));
        assert_eq!(
            value_json("18945\t25262 37890"),
            json!([18945, 25262, 37890])
        );
        assert_eq!(value_json("performance"), json!("performance"));
        assert_eq!(
            value_json("none → the members' cores"),
            json!("none → the members' cores")
        );
    }
}
