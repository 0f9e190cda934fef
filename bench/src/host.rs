//! The machine a benchmark ran on, and the date, for reports.

use std::time::{SystemTime, UNIX_EPOCH};

/// Cores, kernel, CPU model and load, read from /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub cores: usize,
    pub kernel: String,
    pub cpu_model: String,
}

impl Host {
    pub fn read() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            kernel: non_empty(read("/proc/sys/kernel/osrelease").trim()),
            cpu_model: non_empty(&cpu_model(&read("/proc/cpuinfo")).unwrap_or_default()),
        }
    }
}

fn non_empty(text: &str) -> String {
    if text.is_empty() {
        "unknown".into()
    } else {
        text.into()
    }
}

/// The first "model name" in /proc/cpuinfo text.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// Timer interrupts (`LOC`) so far, summed over the cores, from `/proc/interrupts`.
pub fn timer_interrupts() -> Option<u64> {
    timer_interrupts_in(&std::fs::read_to_string("/proc/interrupts").ok()?)
}

fn timer_interrupts_in(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.trim_start().starts_with("LOC:"))?;
    Some(
        line.split_whitespace()
            .skip(1)
            .map_while(|field| field.parse::<u64>().ok())
            .sum(),
    )
}

/// Timer interrupts per second while `f` runs (all cores), with what it returned.
pub fn timer_rate<T>(f: impl FnOnce() -> T) -> (T, Option<f64>) {
    let before = timer_interrupts();
    let start = std::time::Instant::now();
    let out = f();
    let seconds = start.elapsed().as_secs_f64();
    let rate = match (before, timer_interrupts()) {
        (Some(a), Some(b)) if seconds > 0.0 => Some(b.saturating_sub(a) as f64 / seconds),
        _ => None,
    };
    (out, rate)
}

/// The three load averages from /proc/loadavg, e.g. "0.29 0.82 1.08".
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let three: Vec<&str> = text.split_whitespace().take(3).collect();
    if three.len() == 3 {
        three.join(" ")
    } else {
        "unknown".into()
    }
}

/// The effective user id from /proc/self/status text ("Uid: real effective saved fs").
pub fn effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| effective_uid(&status))
        == Some(0)
}

/// Now as "YYYY-MM-DD HH:MM UTC".
pub fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    format_utc(secs)
}

pub fn format_utc(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let in_day = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        in_day / 3600,
        in_day % 3600 / 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_interrupts_are_the_loc_line_summed() {
        let text = "           CPU0       CPU1\n  0:         36          0   IO-APIC   2-edge      timer\nLOC:    2583636    2927538   Local timer interrupts\nRES:         10         12   Rescheduling interrupts\n";
        assert_eq!(timer_interrupts_in(text), Some(2583636 + 2927538));
        assert_eq!(timer_interrupts_in("CPU0\n"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_704_067_199), "2023-12-31 23:59 UTC");
        assert_eq!(format_utc(1_709_210_096), "2024-02-29 12:34 UTC");
    }

    #[test]
    fn cpu_model_and_uid() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC"));
        assert_eq!(cpu_model("processor\t: 0\n"), None);
        let status = "Name:\tcat\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(effective_uid(status), Some(0));
    }
}
