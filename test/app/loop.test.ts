/**
 * The fixed-step loop keeps its rate on an absolute timeline (no drift), counts late steps, and
 * skips ahead instead of bursting after a long stall. Fake timers and an injected clock: no sleeps.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FixedStepLoop } from '../../src/app/loop.js';

describe('FixedStepLoop', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs rate × seconds steps, each scheduled on the absolute timeline', () => {
    let clock = 0;
    const at: number[] = [];
    const loop = new FixedStepLoop(
      20,
      (_n, scheduled) => {
        at.push(scheduled);
        clock += 0.4; // each step takes 0.4 ms: a loop re-armed from "now" would drift by that much per step
      },
      { now: () => clock },
    );
    loop.start();
    for (let t = 0; t < 10_000; t++) {
      clock = Math.max(clock, t + 1);
      vi.advanceTimersByTime(1);
    }
    loop.stop();
    expect(loop.stats.steps).toBe(200);
    expect(at[199]).toBeCloseTo(10_000, 6); // no accumulated drift
    expect(loop.stats.late).toBe(0);
    expect(loop.stats.skipped).toBe(0);
  });

  it('catches up at most maxCatchUp steps after a stall and counts the rest as skipped', () => {
    let clock = 0;
    const loop = new FixedStepLoop(10, () => {}, { now: () => clock, maxCatchUp: 3 });
    loop.start();
    clock = 100;
    vi.advanceTimersByTime(100);
    expect(loop.stats.steps).toBe(1);
    clock = 1100; // a one-second stall: 10 steps overdue
    vi.advanceTimersByTime(1000);
    expect(loop.stats.skipped).toBe(6);
    expect(loop.stats.steps).toBe(1 + 4); // 3 overdue + the current one
    expect(loop.stats.late).toBe(3);
    loop.stop();
    expect(loop.running).toBe(false);
  });

  it('stops from inside a step', () => {
    let clock = 0;
    const loop = new FixedStepLoop(100, (n) => {
      if (n === 3) loop.stop();
    }, { now: () => clock });
    loop.start();
    for (let i = 0; i < 100; i++) {
      clock += 1;
      vi.advanceTimersByTime(1);
    }
    expect(loop.stats.steps).toBe(3);
  });

  it('rejects a rate that is not positive', () => {
    expect(() => new FixedStepLoop(0, () => {})).toThrow(RangeError);
    expect(() => new FixedStepLoop(Number.NaN, () => {})).toThrow(RangeError);
  });
});
