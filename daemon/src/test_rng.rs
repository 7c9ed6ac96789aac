//! A small deterministic random source for the unit tests that generate inputs: a failure
//! names its seed and replays exactly (xorshift64*).

/// xorshift64* over a non-zero seed.
pub struct TestRng(pub u64);

impl TestRng {
    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}
