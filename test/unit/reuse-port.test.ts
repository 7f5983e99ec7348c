/** Issue 20: which Node versions get one `reusePort` listening socket per I/O thread, and the setting. */
import { describe, expect, it, onTestFinished } from 'vitest';
import { ValueRangeError, getNetConfig, resetNetConfig, setNetConfig } from '../../src/index.js';
import { nodeHasReusePort } from '../../src/workers/reuse-port.js';

describe('nodeHasReusePort', () => {
  it('Linux, Node ≥ 22.12 on the 22 line and ≥ 23.1 after it', () => {
    expect(nodeHasReusePort('20.19.0', 'linux')).toBe(false);
    expect(nodeHasReusePort('20.20.2', 'linux')).toBe(false);
    expect(nodeHasReusePort('22.11.0', 'linux')).toBe(false);
    expect(nodeHasReusePort('22.12.0', 'linux')).toBe(true);
    expect(nodeHasReusePort('22.23.5', 'linux')).toBe(true);
    expect(nodeHasReusePort('23.0.0', 'linux')).toBe(false);
    expect(nodeHasReusePort('23.1.0', 'linux')).toBe(true);
    expect(nodeHasReusePort('24.22.3', 'linux')).toBe(true);
    expect(nodeHasReusePort('26.12.1', 'linux')).toBe(true);
  });
  it('not on other platforms (the hand-off path there)', () => {
    expect(nodeHasReusePort('26.12.1', 'darwin')).toBe(false);
    expect(nodeHasReusePort('26.12.1', 'win32')).toBe(false);
  });
});

describe('NetConfig.reusePort', () => {
  it("defaults to 'auto'; takes false; anything else is a ValueRangeError", () => {
    onTestFinished(resetNetConfig);
    expect(getNetConfig().reusePort).toBe('auto');
    setNetConfig({ reusePort: false });
    expect(getNetConfig().reusePort).toBe(false);
    expect(() => setNetConfig({ reusePort: true as unknown as false })).toThrow(ValueRangeError);
    expect(() => setNetConfig({ reusePort: 'on' as unknown as 'auto' })).toThrow(ValueRangeError);
    expect(getNetConfig().reusePort).toBe(false); // a rejected patch changes nothing
  });
});
