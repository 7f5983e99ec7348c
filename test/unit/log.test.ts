/**
 * `PANDANET_LOG` parsing and the log level word the I/O threads share.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { InvalidArgumentError, getLogLevel, setLogLevel, type LogLevel } from '../../src/index.js';
import { parseLogLevel } from '../../src/log.js';

describe('PANDANET_LOG', () => {
  it('accepts every level name (any case); unset or empty means warning, silently', () => {
    for (const lvl of ['debug', 'info', 'warning', 'error', 'silent'] as const) {
      expect(parseLogLevel(lvl)).toEqual({ level: lvl });
      expect(parseLogLevel(lvl.toUpperCase())).toEqual({ level: lvl });
    }
    expect(parseLogLevel(undefined)).toEqual({ level: 'warning' });
    expect(parseLogLevel('')).toEqual({ level: 'warning' });
  });

  it('an unknown value falls back to warning with one line naming the value and the valid ones', () => {
    const r = parseLogLevel('verbose');
    expect(r.level).toBe('warning');
    expect(r.warning).toContain('"verbose"');
    for (const lvl of ['debug', 'info', 'warning', 'error', 'silent']) expect(r.warning).toContain(lvl);
    expect(r.warning).not.toContain('\n');
  });
});

describe('setLogLevel', () => {
  it('rejects an unknown level with InvalidArgumentError and keeps the current one', () => {
    const saved = getLogLevel();
    onTestFinished(() => setLogLevel(saved));
    setLogLevel('error');
    expect(() => setLogLevel('loud' as LogLevel)).toThrow(InvalidArgumentError);
    expect(getLogLevel()).toBe('error');
  });
});
