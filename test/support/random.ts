/**
 * mulberry32: a tiny, fast, seeded PRNG in [0, 1), so that every randomized test, fault
 * schedule and fuzz run is reproducible from its seed. The one copy for the test tooling.
 */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
