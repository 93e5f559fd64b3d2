//! Waiting for the machine to go quiet between batches: a batch of jobs leaves kernel work behind
//! it (network namespaces and cgroups torn down by kernel threads, RCU callbacks) that would
//! otherwise slow whichever batch comes next, and make the bare baseline pay for Gavel's.

use std::time::{Duration, Instant};

/// How long one look at the machine lasts.
const WINDOW: Duration = Duration::from_millis(200);
/// The share of the cores' time that must be idle in one window.
const IDLE: f64 = 0.95;
/// Past this, the batch starts anyway (a machine that is never quiet is still measured).
const AT_MOST: Duration = Duration::from_secs(15);

/// Waits until the cores were idle for a whole window, or for [`AT_MOST`].
pub async fn settle() {
    let until = Instant::now() + AT_MOST;
    while Instant::now() < until {
        let Some(before) = cpu_times() else { return };
        tokio::time::sleep(WINDOW).await;
        let Some(after) = cpu_times() else { return };
        let (idle, total) = (after.0.saturating_sub(before.0), after.1.saturating_sub(before.1));
        if total > 0 && idle as f64 >= IDLE * total as f64 {
            return;
        }
    }
}

/// The cores' idle and total time so far, in clock ticks (`/proc/stat`'s first line).
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_line(stat.lines().next()?)
}

fn parse_cpu_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    (fields.next()? == "cpu").then_some(())?;
    let ticks: Vec<u64> = fields.map(str::parse).collect::<Result<_, _>>().ok()?;
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    let total = ticks.iter().take(8).sum();
    Some((idle, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_line_gives_idle_and_total() {
        assert_eq!(parse_cpu_line("cpu  10 0 5 80 5 0 0 0 2 0"), Some((85, 100)));
        assert_eq!(parse_cpu_line("cpu0 1 2 3 4"), None);
        assert_eq!(parse_cpu_line("cpu x"), None);
    }
}
