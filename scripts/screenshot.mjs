#!/usr/bin/env node
// A PNG of a running page (the demo's live world for the README), taken by headless Chromium:
//
//   npm start -- --http-port 8080 &            # or any page server
//   node scripts/screenshot.mjs --url 'http://127.0.0.1:8080/?role=spectator' --out docs/live-world.png
//
// Options: --url URL (required) · --out FILE (default screenshot.png) · --size W,H (default 960,640)
// · --budget-ms N: virtual time Chromium lets pass before it shoots (default 3000) · --chrome PATH
// (default $CHROME_PATH, else chromium / chromium-browser on PATH). Exit 0 when the file was written.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { HEADLESS_FLAGS, findChromium } from './chromium.mjs';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string', default: 'screenshot.png' },
    size: { type: 'string', default: '960,640' },
    'budget-ms': { type: 'string', default: '3000' },
    chrome: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help || values.url === undefined) {
  console.log('usage: node scripts/screenshot.mjs --url URL [--out FILE] [--size W,H] [--budget-ms N] [--chrome PATH]');
  process.exit(values.help ? 0 : 2);
}
if (!/^\d+,\d+$/.test(values.size)) {
  console.error(`--size takes W,H (e.g. 960,640), got '${values.size}'`);
  process.exit(2);
}
const budget = Number(values['budget-ms']);
if (!Number.isInteger(budget) || budget < 0 || budget > 600_000) {
  console.error(`--budget-ms takes an integer 0..600000, got '${values['budget-ms']}'`);
  process.exit(2);
}

function chromeOrExit() {
  try {
    return findChromium(values.chrome);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}

const out = path.resolve(values.out);
const profile = mkdtempSync(path.join(tmpdir(), 'pandanet-screenshot-'));
try {
  if (existsSync(out)) rmSync(out);
  const args = [
    ...HEADLESS_FLAGS,
    '--hide-scrollbars',
    `--user-data-dir=${profile}`,
    `--window-size=${values.size}`,
    `--virtual-time-budget=${budget}`,
    `--screenshot=${out}`,
    values.url,
  ];
  const r = spawnSync(chromeOrExit(), args, { encoding: 'utf8', timeout: budget + 60_000 });
  if (!existsSync(out) || statSync(out).size === 0) {
    console.error(`Chromium wrote no screenshot (exit ${r.status ?? r.signal}${r.error ? `, ${r.error.message}` : ''})\n${(r.stderr ?? '').slice(-2000)}`);
    process.exit(1);
  }
  console.log(`${out}: ${statSync(out).size} bytes (${values.size.replace(',', '×')})`);
} finally {
  rmSync(profile, { recursive: true, force: true });
}
