//! `stillepost tune`: this host's kernel settings checked for a workload, printed, applied
//! (`--apply`) or written as an `/etc/sysctl.d` file (`--emit-sysctl-conf`).

use anyhow::Result;
use serde_json::json;
use stillepost_tuning::{Host, Status, Workload, apply, check, render, sysctl_conf};

use crate::app::invalid;
use crate::cli::TuneArgs;

pub fn tune(args: &TuneArgs, json_mode: bool) -> Result<()> {
    if json_mode && args.emit_sysctl_conf {
        return Err(invalid(
            "--json and --emit-sysctl-conf ask for two documents (the sysctl file is not JSON): drop one",
        ));
    }
    let wrong: Vec<String> = [
        (args.msg_len < 64)
            .then(|| format!("--msgbytelen must be at least 64 (is {})", args.msg_len)),
        (args.window == 0).then(|| "--window must be at least 1".to_owned()),
        (args.mtu < 576).then(|| format!("--mtu must be at least 576 (is {})", args.mtu)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !wrong.is_empty() {
        return Err(invalid(wrong.join("; ")));
    }
    let workload = Workload {
        msg_len: u64::from(args.msg_len),
        window: u64::from(args.window),
        mtu: u64::from(args.mtu),
        max_datagram: u64::from(args.max_datagram),
    };
    let live = args.proc_sys_root.as_os_str() == "/proc/sys" && args.sys_root.as_os_str() == "/sys";
    let host = if live && !args.assume_netns {
        Host::live()
    } else {
        Host::at(&args.proc_sys_root, &args.sys_root, args.assume_netns)
    };
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
                    "current": c.current,
                    "recommended": c.recommended,
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
            "fragments_per_message": workload.fragments(),
            "receive_buffer_needed": workload.receive_buffer(),
            "settings": items,
        }));
    }
    crate::out::print(&render(workload, &checks))
}
