// How far behind real time a viewer of the player page sees a live stream:
//   node scripts/latency_player.mjs BASE_URL CHANNEL/STREAM_ID WARMUP_S SECONDS OUT.json
// Opens /watch/CHANNEL/STREAM_ID of `hls-ladder serve` in headless Chromium (the page plays
// with hls.js, in lowLatencyMode when the playlists are LL-HLS), waits until the video plays
// and WARMUP_S more, then for SECONDS samples every 200 ms, inside the page, the delay the
// page shows: Date.now() minus hls.playingDate (the PROGRAM-DATE-TIME of the frame on screen,
// the wall clock when it entered the pipeline; page and worker share this machine's clock).
// Counts the stalls of the measured window: the video's `waiting` events and hls.js's
// BUFFER_STALLED_ERRORs. Writes (and prints) one JSON object: median, p95, min and max delay,
// the stalls, what hls.js read of the playlists, and how much media played.
// playwright-core is resolved through NODE_PATH (target/npm/node_modules); the browser is
// CHROMIUM or /usr/bin/chromium.
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const [base, stream, warmupArg, secondsArg, out] = process.argv.slice(2);
const warmup = Number(warmupArg);
const seconds = Number(secondsArg);
if (!base || !stream || !(warmup >= 0) || !(seconds > 0) || !out) {
  console.error('usage: latency_player.mjs BASE_URL CHANNEL/STREAM_ID WARMUP_S SECONDS OUT.json');
  process.exit(2);
}

const log = (text) => console.error(`[latency_player ${new Date().toISOString().slice(11, 23)}] ${text}`);
const userDataDir = await mkdtemp(join(tmpdir(), 'hls-ladder-latency-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 860 },
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
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/watch/${stream}`);
  await page.waitForFunction(() => window.player?.video.currentTime > 0.5 && window.player.delay !== null, null, {
    timeout: 60000,
    polling: 200,
  });
  log(`playing; warm-up ${warmup} s`);
  await page.waitForTimeout(warmup * 1000);
  log(`measuring ${seconds} s`);
  const result = await page.evaluate(
    (ms) =>
      new Promise((resolve) => {
        const p = window.player;
        const start = { stalls: { ...p.stalls }, currentTime: p.video.currentTime, at: performance.now() };
        const samples = [];
        const timer = setInterval(() => {
          const date = p.hls && p.hls.playingDate;
          // The page's own figure is refreshed every 250 ms; the sample is taken now.
          if (date) samples.push((Date.now() - date.getTime()) / 1000);
        }, 200);
        setTimeout(() => {
          clearInterval(timer);
          const hls = p.hls;
          resolve({
            samples,
            stalls: { waiting: p.stalls.waiting - start.stalls.waiting, bufferStalled: p.stalls.bufferStalled - start.stalls.bufferStalled },
            played_s: p.video.currentTime - start.currentTime,
            wall_s: (performance.now() - start.at) / 1000,
            lowLatency: p.lowLatency,
            lowLatencyMode: hls.config.lowLatencyMode,
            targetLatency_s: hls.targetLatency,
            level: hls.levels[hls.currentLevel] ? `${hls.levels[hls.currentLevel].width}x${hls.levels[hls.currentLevel].height}` : null,
            shown: document.getElementById('delay').textContent,
          });
        }, ms);
      }),
    seconds * 1000,
  );
  const sorted = [...result.samples].sort((a, b) => a - b);
  if (!sorted.length) throw new Error('no sample: hls.playingDate was never set (no PROGRAM-DATE-TIME?)');
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (x) => (x === null || x === undefined ? x : Math.round(x * 1000) / 1000);
  const summary = {
    samples: sorted.length,
    median_s: round(at(0.5)),
    p95_s: round(at(0.95)),
    min_s: round(sorted[0]),
    max_s: round(sorted[sorted.length - 1]),
    stalls: result.stalls.waiting + result.stalls.bufferStalled,
    waiting_events: result.stalls.waiting,
    buffer_stalled_errors: result.stalls.bufferStalled,
    played_s: round(result.played_s),
    wall_s: round(result.wall_s),
    low_latency_mode: result.lowLatencyMode,
    playlist: result.lowLatency,
    target_latency_s: round(result.targetLatency_s),
    level: result.level,
    shown: result.shown,
    page_errors: errors,
  };
  const line = JSON.stringify(summary);
  console.log(line);
  await writeFile(out, `${line}\n`);
} catch (e) {
  console.error(`FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}
