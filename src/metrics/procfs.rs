//! CPU time and resident memory of a process, read from `/proc` (Linux).

/// The process reading.
pub const SELF: Option<u32> = None;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// User plus system time since the process started.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// `pid`'s usage (`None` = this process), or `None` when it is gone or `/proc` is missing.
pub fn usage(pid: Option<u32>) -> Option<Usage> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_string(),
    };
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let statm = std::fs::read_to_string(format!("{dir}/statm")).ok()?;
    // SAFETY: sysconf only reads configuration values.
    let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    parse(&stat, &statm, ticks.max(1) as f64, page.max(1) as u64)
}

/// `stat`: fields after the command name (which is in parentheses and may hold spaces);
/// utime and stime are fields 14 and 15 of the whole line. `statm`: resident pages second.
fn parse(stat: &str, statm: &str, ticks_per_second: f64, page_size: u64) -> Option<Usage> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state): utime is field 14, i.e. index 11 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(Usage { cpu_seconds: (utime + stime) as f64 / ticks_per_second, rss_bytes: resident * page_size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_stat_line_gives_cpu_and_memory() {
        // Captured from a transcode child (its name has a space, as process names may).
        let stat = "4242 (hls ladder) S 4100 4242 4100 0 -1 4194560 36671 0 0 0 1234 567 0 0 20 0 9 0 \
                    987654 512000000 50000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
        let usage = parse(stat, "125000 50000 3000 100 0 60000 0\n", 100.0, 4096).unwrap();
        assert_eq!(usage.cpu_seconds, 18.01);
        assert_eq!(usage.rss_bytes, 50000 * 4096);
        assert_eq!(parse("garbage", "1 2", 100.0, 4096), None);
    }

    #[test]
    fn this_process_is_readable() {
        let usage = usage(SELF).expect("/proc/self");
        assert!(usage.rss_bytes > 1_000_000 && usage.cpu_seconds >= 0.0, "{usage:?}");
        assert_eq!(super::usage(Some(u32::MAX)), None, "a process that does not exist");
    }
}
