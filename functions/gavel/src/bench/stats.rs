//! Medians and spreads of timings.

use std::time::Duration;

#[derive(Default, Clone)]
pub struct Samples {
    durations: Vec<Duration>,
}

impl Samples {
    pub fn push(&mut self, duration: Duration) {
        self.durations.push(duration);
    }

    pub fn from_micros(micros: impl IntoIterator<Item = u64>) -> Samples {
        Samples { durations: micros.into_iter().map(Duration::from_micros).collect() }
    }

    /// The nearest-rank percentile.
    pub fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.durations.clone();
        sorted.sort();
        let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied().unwrap_or_default()
    }

    pub fn median(&self) -> Duration {
        self.percentile(50)
    }

    /// `median (p10–p90)`.
    pub fn spread(&self) -> String {
        format!("{} ({}–{})", ms(self.median()), ms(self.percentile(10)), ms(self.percentile(90)))
    }
}

pub fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// Whether a figure met its target, for the report.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples = Samples::default();
        for ms in [5, 1, 4, 2, 3] {
            samples.push(Duration::from_millis(ms));
        }
        assert_eq!(samples.median(), Duration::from_millis(3));
        assert_eq!(samples.percentile(100), Duration::from_millis(5));
        assert_eq!(samples.percentile(1), Duration::from_millis(1));
        assert_eq!(Samples::default().median(), Duration::ZERO);
        assert_eq!(samples.spread(), "3.00 ms (1.00 ms–5.00 ms)");
    }
}
