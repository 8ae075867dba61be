//! What the machine does to every process during a benchmark, independent of the agent: time
//! the hypervisor took from this virtual machine (`steal` in `/proc/stat`) and how late a
//! real-time thread pinned to each CPU wakes up (the wake probe).
//!
//! Both explain a load figure rather than measure the agent: when every CPU wakes late at the
//! same moment, the whole machine stood still, and no scheduling choice inside it (priority,
//! memory locking, a second thread on another CPU) can keep a heartbeat on time. It owns the
//! probe's threads and the arithmetic; it does not decide when to run them (the `bench` binary
//! does) and changes nothing on the machine but the probe threads' own priority and affinity.

#![forbid(unsafe_code)]

use std::time::Duration;

use rustix::thread::{ClockId, CpuSet, Timespec};

/// Bound on the probe's samples per CPU (20 minutes at a 2 ms period): preallocated, so the
/// probe does not allocate while it measures.
pub const MAX_PROBE_SLOTS: usize = 600_000;
/// A CPU counts as "on time" in a slot when it woke at most this late
/// ([`ProbeSummary::solo_late_ms_max`]).
pub const ON_TIME_US: u32 = 3_000;

/// The aggregate CPU times of the first line of `/proc/stat`, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + idle + iowait + irq + softirq + steal (guest time is already in
    /// user and nice).
    pub total: u64,
    /// Time the hypervisor ran something else while a virtual CPU of this machine was ready.
    pub steal: u64,
}

/// Parse the `cpu` line of `/proc/stat` (the first line; at least eight numbers after `cpu`).
pub fn parse_proc_stat_cpu(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().next()?;
    let mut words = line.split_whitespace();
    if words.next()? != "cpu" {
        return None;
    }
    let mut fields = [0u64; 8];
    for f in &mut fields {
        *f = words.next()?.parse().ok()?;
    }
    Some(CpuTimes { total: fields.iter().try_fold(0u64, |a, &b| a.checked_add(b))?, steal: fields[7] })
}

/// The machine's CPU times now, or `None` without a readable `/proc/stat`.
pub fn cpu_times() -> Option<CpuTimes> {
    parse_proc_stat_cpu(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Steal between two samples as a percentage of all CPU time in between (every CPU counted).
pub fn steal_percent(before: CpuTimes, after: CpuTimes) -> Option<f64> {
    let total = after.total.checked_sub(before.total)?;
    let steal = after.steal.checked_sub(before.steal)?;
    if total == 0 {
        return None;
    }
    Some((steal as f64 / total as f64 * 100.0 * 100.0).round() / 100.0)
}

/// What the wake probe saw.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSummary {
    pub slots: usize,
    /// Worst lateness of each CPU's thread, in the order of [`WakeProbe::cpus`].
    pub late_ms_max_per_cpu: Vec<f64>,
    /// Over every slot, the lateness of the CPU that woke first, at its worst: how long the
    /// whole machine stood still (every CPU late together).
    pub all_late_ms_max: f64,
    /// Slots in which every CPU woke more than 10 ms late.
    pub all_late_over_10ms: usize,
    /// Over the slots in which some CPU woke on time (at most [`ON_TIME_US`] late), the worst
    /// lateness of another: one CPU standing still while the machine ran.
    pub solo_late_ms_max: f64,
}

/// Summarise per-CPU lateness samples (µs, one per slot, every CPU the same number of slots).
pub fn summarize(late_us: &[Vec<u32>]) -> ProbeSummary {
    let slots = late_us.iter().map(Vec::len).min().unwrap_or(0);
    let ms = |us: u32| f64::from(us) / 1000.0;
    let mut all_max = 0u32;
    let mut all_over_10 = 0usize;
    let mut solo_max = 0u32;
    for slot in 0..slots {
        let first = late_us.iter().map(|cpu| cpu[slot]).min().unwrap_or(0);
        let last = late_us.iter().map(|cpu| cpu[slot]).max().unwrap_or(0);
        all_max = all_max.max(first);
        all_over_10 += usize::from(first > 10_000);
        if first <= ON_TIME_US {
            solo_max = solo_max.max(last);
        }
    }
    ProbeSummary {
        slots,
        late_ms_max_per_cpu: late_us.iter().map(|cpu| ms(cpu.iter().copied().max().unwrap_or(0))).collect(),
        all_late_ms_max: ms(all_max),
        all_late_over_10ms: all_over_10,
        solo_late_ms_max: ms(solo_max),
    }
}

/// One real-time thread per CPU this process may use, each pinned to its CPU, waking on the
/// same absolute schedule every `period` and noting how late it woke.
pub struct WakeProbe {
    pub cpus: Vec<usize>,
    /// Whether the threads got SCHED_FIFO (needs root); without it the figures say little.
    pub realtime: bool,
    threads: Vec<std::thread::JoinHandle<Vec<u32>>>,
}

fn micros(t: Timespec) -> u64 {
    (t.tv_sec as u64) * 1_000_000 + (t.tv_nsec as u64) / 1000
}

impl WakeProbe {
    /// Start the probe for `seconds` (bounded by [`MAX_PROBE_SLOTS`]) at SCHED_FIFO `priority`
    /// (below the agents' own, so that it never delays them).
    pub fn start(period: Duration, seconds: u64, priority: u8) -> std::io::Result<WakeProbe> {
        let period_us = u64::try_from(period.as_micros()).unwrap_or(u64::MAX).max(100);
        let slots =
            usize::try_from(seconds * 1_000_000 / period_us).unwrap_or(MAX_PROBE_SLOTS).min(MAX_PROBE_SLOTS);
        let allowed = rustix::thread::sched_getaffinity(None)?;
        let cpus: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&c| allowed.is_set(c)).collect();
        let start_us = micros(rustix::time::clock_gettime(ClockId::Monotonic)) + 10_000;
        let (tx, rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for &cpu in &cpus {
            let tx = tx.clone();
            threads.push(std::thread::spawn(move || {
                let mut set = CpuSet::new();
                set.set(cpu);
                let pinned = rustix::thread::sched_setaffinity(None, &set).is_ok();
                let realtime = ha_agent::shell::sys::set_realtime_priority(priority).is_ok();
                let _ = tx.send(pinned && realtime);
                let mut late = Vec::with_capacity(slots);
                for slot in 1..=slots as u64 {
                    let due_us = start_us + slot * period_us;
                    let due = Timespec {
                        tv_sec: (due_us / 1_000_000) as i64,
                        tv_nsec: ((due_us % 1_000_000) * 1000) as i64,
                    };
                    // Again only after a signal: another error must not spin at real-time
                    // priority (the slot then counts as woken at once).
                    while rustix::thread::clock_nanosleep_absolute(ClockId::Monotonic, &due)
                        == Err(rustix::io::Errno::INTR)
                    {}
                    let now_us = micros(rustix::time::clock_gettime(ClockId::Monotonic));
                    late.push(u32::try_from(now_us.saturating_sub(due_us)).unwrap_or(u32::MAX));
                }
                late
            }));
        }
        drop(tx);
        let realtime = rx.iter().take(cpus.len()).all(|ok| ok);
        Ok(WakeProbe { cpus, realtime, threads })
    }

    /// Wait for the probe to finish its slots and summarise them.
    pub fn finish(self) -> ProbeSummary {
        let samples: Vec<Vec<u32>> = self.threads.into_iter().map(|t| t.join().unwrap_or_default()).collect();
        summarize(&samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_line_of_proc_stat_is_read() {
        let stat = "cpu  4317806 499258 747860 3403353 84237 0 46343 127881 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        let t = parse_proc_stat_cpu(stat).unwrap();
        assert_eq!(t.steal, 127_881);
        assert_eq!(t.total, 4_317_806 + 499_258 + 747_860 + 3_403_353 + 84_237 + 46_343 + 127_881);
        assert_eq!(parse_proc_stat_cpu("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(parse_proc_stat_cpu("cpu 1 2 3"), None);
        assert_eq!(parse_proc_stat_cpu("cpu 1 2 3 4 5 6 7 x"), None);
        assert_eq!(parse_proc_stat_cpu(""), None);
    }

    #[test]
    fn steal_is_a_share_of_all_cpu_time_in_between() {
        let a = CpuTimes { total: 1000, steal: 10 };
        let b = CpuTimes { total: 3000, steal: 290 };
        assert_eq!(steal_percent(a, b), Some(14.0));
        assert_eq!(steal_percent(a, a), None);
        assert_eq!(steal_percent(b, a), None, "counters do not go back");
    }

    #[test]
    fn the_summary_tells_the_machine_standing_still_from_one_cpu_standing_still() {
        // Slot 1: both late together (the machine); slot 2: only CPU 1 late (one CPU).
        let cpu0 = vec![100, 30_000, 500, 200];
        let cpu1 = vec![200, 28_000, 40_000, 100];
        let s = summarize(&[cpu0, cpu1]);
        assert_eq!(s.slots, 4);
        assert_eq!(s.late_ms_max_per_cpu, vec![30.0, 40.0]);
        assert_eq!(s.all_late_ms_max, 28.0);
        assert_eq!(s.all_late_over_10ms, 1);
        assert_eq!(s.solo_late_ms_max, 40.0);
    }

    #[test]
    fn a_short_probe_wakes_every_cpu_on_its_schedule() {
        let probe = WakeProbe::start(Duration::from_millis(5), 1, 1).unwrap();
        let cpus = probe.cpus.len();
        assert!(cpus >= 1);
        let s = probe.finish();
        assert_eq!(s.slots, 200);
        assert_eq!(s.late_ms_max_per_cpu.len(), cpus);
    }
}
