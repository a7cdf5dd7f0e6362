import { describe, expect, it } from "vitest";
import { RevisionClock } from "./revision-clock.js";

describe("revision clock", () => {
  it("quantizes to the head at the last boundary and never trails by more than a quantum", () => {
    let now = 10_000;
    const clock = new RevisionClock(60_000, () => now);
    clock.record(5);
    now = 10_400;
    clock.record(6);
    now = 11_200;
    clock.record(7);
    now = 11_900;
    // Boundary 11,000: revision 6 was the head then.
    expect(clock.quantized(1_000)).toBe(6);
    now = 12_000;
    expect(clock.quantized(1_000)).toBe(7);
    expect(clock.quantized(0)).toBe(7);
    // Before the record starts, the oldest mark stands in (the snapshot's build).
    expect(clock.headAt(9_000)).toBeUndefined();
    expect(new RevisionClock(1_000, () => 500).quantized(1_000)).toBeUndefined();
  });

  it("merges marks closer than the merge interval into a fresher one and forgets old marks", () => {
    let now = 0;
    const clock = new RevisionClock(1_000, () => now);
    for (let r = 1; r <= 5_000; r++) {
      now = r; // 1 ms apart: merged in 10 ms buckets
      clock.record(r);
    }
    expect(clock.headAt(5_000)).toBe(5_000);
    // Marks older than the window are gone, except the one naming the head at the window's start.
    expect(clock.headAt(4_005)).toBeGreaterThanOrEqual(3_991);
    expect(clock.headAt(100)).toBeUndefined();
  });

  it("a mark at the current boundary changes the cached answer", () => {
    let now = 2_000;
    const clock = new RevisionClock(10_000, () => now);
    clock.record(1);
    now = 3_500;
    expect(clock.quantized(1_000)).toBe(1);
    clock.record(2);
    expect(clock.quantized(1_000)).toBe(1);
    now = 4_000;
    expect(clock.quantized(1_000)).toBe(2);
  });
});
