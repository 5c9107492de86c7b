//! CPU time and resident memory of the hub (from /proc) and of the generator itself.

use serde::Serialize;

/// One reading of a process's CPU time and RSS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    pub cpu_us: u64,
    pub rss_kb: u64,
}

/// Reads `/proc/PID/stat` (utime + stime) and `/proc/PID/status` (VmRSS).
pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Sample {
        cpu_us: ticks_to_us(cpu_ticks(&stat)?),
        rss_kb: vm_rss_kb(&status)?,
    })
}

/// CPU time of this process (all threads), from getrusage.
pub fn own_cpu_us() -> u64 {
    rusage_cpu_us(libc::RUSAGE_SELF)
}

/// CPU time of the calling thread, from getrusage.
pub fn thread_cpu_us() -> u64 {
    rusage_cpu_us(libc::RUSAGE_THREAD)
}

/// User + system CPU time of `who` (RUSAGE_SELF or RUSAGE_THREAD), 0 when unknown.
fn rusage_cpu_us(who: libc::c_int) -> u64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `who` is one of the two values getrusage accepts here.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return 0;
    }
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn ticks_to_us(ticks: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    ticks * 1_000_000 / hz
}

/// utime + stime: fields 14 and 15, counted after the `)` that ends the command name.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn vm_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Hub and generator resource use over a measured phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Hub CPU time over the phase (µs), when `--hub-pid` was given.
    pub hub_cpu_us: Option<u64>,
    /// Hub CPU µs per delivery (or per publish, per replayed event: see the scenario).
    pub hub_cpu_us_per_op: Option<f64>,
    pub hub_rss_before_kb: Option<u64>,
    pub hub_rss_after_kb: Option<u64>,
    /// The generator's own CPU time per operation, to check it costs less than the hub.
    pub generator_cpu_us_per_op: f64,
    /// CPU µs per operation of the proxy in front of the hub (`--proxy-pid`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_cpu_us_per_op: Option<f64>,
}

/// Start of a measured phase.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    pid: Option<u32>,
    hub: Option<Sample>,
    own_cpu_us: u64,
    proxy: Option<(u32, Sample)>,
}

impl Meter {
    pub fn start(pid: Option<u32>) -> Meter {
        Meter {
            pid,
            hub: pid.and_then(sample),
            own_cpu_us: own_cpu_us(),
            proxy: None,
        }
    }

    /// Also measures the CPU of `proxy`, a process in front of the hub.
    pub fn with_proxy(mut self, proxy: Option<u32>) -> Meter {
        self.proxy = proxy.and_then(|pid| Some((pid, sample(pid)?)));
        self
    }

    /// Usage since `start`, per operation of `ops`.
    pub fn finish(&self, ops: u64) -> Usage {
        let per = |us: u64| {
            if ops == 0 {
                0.0
            } else {
                us as f64 / ops as f64
            }
        };
        let end = self.pid.and_then(sample);
        let hub_cpu = match (self.hub, end) {
            (Some(a), Some(b)) => Some(b.cpu_us.saturating_sub(a.cpu_us)),
            _ => None,
        };
        let proxy_cpu = self
            .proxy
            .and_then(|(pid, before)| Some(sample(pid)?.cpu_us.saturating_sub(before.cpu_us)));
        Usage {
            hub_cpu_us: hub_cpu,
            hub_cpu_us_per_op: hub_cpu.map(per),
            hub_rss_before_kb: self.hub.map(|s| s.rss_kb),
            hub_rss_after_kb: end.map(|s| s.rss_kb),
            generator_cpu_us_per_op: per(own_cpu_us().saturating_sub(self.own_cpu_us)),
            proxy_cpu_us_per_op: proxy_cpu.map(per),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "123 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20";
        assert_eq!(cpu_ticks(stat), Some(300));
        assert_eq!(vm_rss_kb("Name:\tx\nVmRSS:\t  2048 kB\n"), Some(2048));
        let own = sample(std::process::id()).expect("own /proc entry");
        assert!(own.rss_kb > 0);
    }
}
