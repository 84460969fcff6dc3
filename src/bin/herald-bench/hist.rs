//! A small log-linear latency histogram (HdrHistogram-style, 2 significant
//! digits: < 0.8 % relative error) recording nanoseconds.

const SUB_BITS: u32 = 8; // 256 linear slots, then 128 per power of two
const HALF: u64 = 1 << (SUB_BITS - 1);
const SLOTS: usize = ((64 - SUB_BITS + 1) as usize) * HALF as usize + HALF as usize;

#[derive(Clone)]
pub struct Hist {
    counts: Vec<u64>,
    pub n: u64,
    pub max: u64,
    pub sum: u128,
}

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl Hist {
    pub fn new() -> Self {
        Hist {
            counts: vec![0; SLOTS],
            n: 0,
            max: 0,
            sum: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < (1 << SUB_BITS) {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - (SUB_BITS - 1);
        let mant = v >> shift; // in [HALF, 2*HALF)
        (shift as u64 * HALF + mant) as usize
    }

    fn value(idx: usize) -> u64 {
        let idx = idx as u64;
        if idx < (1 << SUB_BITS) {
            return idx;
        }
        let shift = idx / HALF - 1;
        let mant = idx - shift * HALF;
        // middle of the slot
        (mant << shift) + ((1u64 << shift) >> 1)
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        let i = Self::index(v);
        self.counts[i] += 1;
        self.n += 1;
        self.sum += v as u128;
        if v > self.max {
            self.max = v;
        }
    }

    pub fn merge(&mut self, o: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
    }

    /// Value at quantile q (0..=1), nanoseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let target = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut acc = 0;
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= target {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum as f64 / self.n as f64
        }
    }

    /// Summary in microseconds.
    pub fn summary(&self) -> Summary {
        let us = |v: u64| v as f64 / 1000.0;
        Summary {
            n: self.n,
            p50: us(self.quantile(0.50)),
            p90: us(self.quantile(0.90)),
            p99: us(self.quantile(0.99)),
            p999: us(self.quantile(0.999)),
            max: us(self.max),
            mean: self.mean() / 1000.0,
        }
    }
}

/// A histogram as it crosses a pipe between generator processes: only the
/// non-empty slots.
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub struct HistWire {
    slots: Vec<(u32, u64)>,
    n: u64,
    max: u64,
    sum: u64,
}

impl From<&Hist> for HistWire {
    fn from(h: &Hist) -> Self {
        HistWire {
            slots: (h.counts.iter().enumerate())
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| (i as u32, *c))
                .collect(),
            n: h.n,
            max: h.max,
            sum: h.sum.min(u64::MAX as u128) as u64,
        }
    }
}

impl From<&HistWire> for Hist {
    fn from(w: &HistWire) -> Self {
        let mut h = Hist::new();
        for &(i, c) in &w.slots {
            if let Some(slot) = h.counts.get_mut(i as usize) {
                *slot = c;
            }
        }
        h.n = w.n;
        h.max = w.max;
        h.sum = w.sum as u128;
        h
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub n: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    pub fn json(&self) -> serde_json::Value {
        let r = |v: f64| (v * 10.0).round() / 10.0;
        serde_json::json!({
            "n": self.n, "p50_us": r(self.p50), "p90_us": r(self.p90), "p99_us": r(self.p99),
            "p999_us": r(self.p999), "max_us": r(self.max), "mean_us": r(self.mean),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrip() {
        for v in [0u64, 1, 255, 256, 257, 1000, 123_456, 10_000_000_000] {
            let i = Hist::index(v);
            let back = Hist::value(i);
            let err = (back as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err < 0.01, "{v} -> {back}");
        }
        let mut h = Hist::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.01);
        let back = Hist::from(&HistWire::from(&h));
        assert_eq!(back.quantile(0.99), h.quantile(0.99));
        assert_eq!((back.n, back.max, back.sum), (h.n, h.max, h.sum));
    }
}
