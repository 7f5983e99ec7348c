// Finding and starting headless Chromium: shared by scripts/screenshot.mjs and the browser tests'
// harness (test/helpers/browser.ts), so both look in the same places and pass the same flags.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** What to do when no Chromium is found. */
export const INSTALL_HINT =
  'headless Chromium is needed: install it (Debian/Ubuntu: `apt-get install -y chromium`; .ci/run does) or point CHROME_PATH at a Chromium/Chrome binary';

/** The flags every headless run starts with (before its profile folder, its own flags and the URL). */
export const HEADLESS_FLAGS = Object.freeze(['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check']);

/**
 * The Chromium binary: `explicit` if given, else `CHROME_PATH`, else `chromium` or `chromium-browser`
 * on PATH. Throws an Error with {@link INSTALL_HINT} when there is none.
 * @param {string | undefined} [explicit]
 * @returns {string}
 */
export function findChromium(explicit) {
  for (const given of [explicit, process.env.CHROME_PATH]) {
    if (given === undefined || given === '') continue;
    if (!existsSync(given)) throw new Error(`${given} does not exist; ${INSTALL_HINT}`);
    return given;
  }
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const found = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (found !== '') return found;
    } catch {
      // not on PATH
    }
  }
  throw new Error(`no Chromium found (CHROME_PATH unset; neither chromium nor chromium-browser on PATH): ${INSTALL_HINT}`);
}
