// Plays a DASH manifest with Shaka Player in headless Chromium:
//   node tests/browser/dash.mjs BASE_URL MPD_PATH live|vod
// BASE_URL serves the stream (`hls-ladder serve` or `transcode --serve`); MPD_PATH is the
// manifest's path under it. Checks that Shaka loads the manifest as live (or as VOD), finds
// every video rendition and the audio, plays (currentTime advances by 3 s), for a live
// manifest that the playhead stays inside the seek range, for a VOD one that it plays to the
// end after a seek near it; and that neither Shaka nor the console reported any error.
// playwright-core and shaka-player are resolved through NODE_PATH (scripts/install-deps.sh
// installs both in target/npm/node_modules); the browser is CHROMIUM or /usr/bin/chromium.
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const shakaPath = require.resolve('shaka-player/dist/shaka-player.compiled.js');

const [base, mpd, mode] = process.argv.slice(2);
if (!base || !mpd || !['live', 'vod'].includes(mode)) {
  console.error('usage: dash.mjs BASE_URL MPD_PATH live|vod');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const userDataDir = await mkdtemp(join(tmpdir(), 'hls-ladder-chromium-'));
const errors = [];
let context;
let page;

function log(text) {
  console.log(`[dash.mjs ${mode} ${new Date().toISOString().slice(11, 23)}] ${text}`);
}

async function step(name, fn) {
  try {
    const value = await fn();
    log(`ok: ${name}${value === undefined ? '' : ` ${JSON.stringify(value)}`}`);
    return value;
  } catch (e) {
    throw new Error(`${name}: ${e.message.split('\n')[0]}`);
  }
}

const waitFor = (fn, arg, timeout = 20000) => page.waitForFunction(fn, arg, { timeout, polling: 200 });

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  page = context.pages()[0] || (await context.newPage());
  // A blank page at the server's origin, so that the manifest and segments are same-origin
  // (the stream list reloads itself every 10 s; the manifest itself would be downloaded).
  const blank = `${base}/dash-player-blank`;
  await page.route(blank, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><video id="v" muted playsinline></video>' })
  );
  await page.goto(blank);
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    const failure = r.failure() ? r.failure().errorText : '';
    // A seek or an ended stream aborts requests under way; that is no error.
    if (failure !== 'net::ERR_ABORTED') errors.push(`request failed: ${r.url()} ${failure}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });

  await page.addScriptTag({ path: shakaPath });

  const loaded = await step(`Shaka loads ${mpd}`, () =>
    page.evaluate(async (url) => {
      shaka.polyfill.installAll();
      if (!shaka.Player.isBrowserSupported()) throw new Error('Shaka says this browser is not supported');
      const video = document.getElementById('v');
      const player = new shaka.Player();
      window.shakaErrors = [];
      player.addEventListener('error', (e) => window.shakaErrors.push(`${e.detail.code} ${JSON.stringify(e.detail.data).slice(0, 300)}`));
      await player.attach(video);
      window.player = player;
      await player.load(url);
      await video.play();
      const variants = player.getVariantTracks();
      return {
        live: player.isLive(),
        heights: [...new Set(variants.map((t) => t.height))].sort((a, b) => a - b),
        audio: [...new Set(variants.map((t) => t.audioCodec).filter(Boolean))],
        video: [...new Set(variants.map((t) => t.videoCodec).filter(Boolean))],
        seekRange: player.seekRange(),
      };
    }, `${base}/${mpd}`)
  );
  if (loaded.live !== (mode === 'live')) throw new Error(`Shaka sees live=${loaded.live}, expected ${mode}`);
  if (loaded.heights.length < 2) throw new Error(`fewer than two video renditions: ${loaded.heights}`);
  if (loaded.audio.length !== 1) throw new Error(`expected one audio codec: ${loaded.audio}`);

  await step('the video plays (currentTime advances by 3 s)', async () => {
    const t0 = await page.evaluate(() => document.getElementById('v').currentTime);
    await waitFor((t) => document.getElementById('v').currentTime > t + 3, t0, 30000);
    const v = await page.evaluate(() => [document.getElementById('v').currentTime, document.getElementById('v').videoHeight]);
    return { from: t0, to: v[0], height: v[1] };
  });

  if (mode === 'live') {
    await step('the playhead stays inside the seek range, near the live edge', async () => {
      const r = await page.evaluate(() => ({ t: document.getElementById('v').currentTime, range: window.player.seekRange() }));
      if (r.t < r.range.start - 1 || r.t > r.range.end + 1) throw new Error(JSON.stringify(r));
      return r;
    });
  } else {
    await step('a seek near the end plays to the end', async () => {
      const duration = await page.evaluate(() => document.getElementById('v').duration);
      await page.evaluate((d) => { document.getElementById('v').currentTime = Math.max(0, d - 2.5); }, duration);
      try {
        await waitFor(() => document.getElementById('v').ended, null, 30000);
      } catch (e) {
        const state = await page.evaluate(() => {
          const v = document.getElementById('v');
          return { t: v.currentTime, duration: v.duration, paused: v.paused, buffered: v.buffered.length ? [v.buffered.start(0), v.buffered.end(v.buffered.length - 1)] : [] };
        });
        throw new Error(`not ended: ${JSON.stringify(state)}`);
      }
      return { duration };
    });
  }
  const shakaErrors = await page.evaluate(() => window.shakaErrors);
  errors.push(...shakaErrors.map((e) => `shaka error ${e}`));
  if (errors.length) throw new Error(`errors:\n${errors.join('\n')}`);
  log('no errors');
} catch (e) {
  console.error(`[dash.mjs ${mode}] FAILED: ${e.message}`);
  if (errors.length) console.error(errors.join('\n'));
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  await rm(userDataDir, { recursive: true, force: true });
}
