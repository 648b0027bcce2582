// Drives headless Chromium through the pages of `hls-ladder serve` while a stream runs:
//   node tests/browser/player.mjs BASE_URL CHANNEL/STREAM_ID SCREENSHOT.png
// Checks that the list shows the stream (live), that the stream page plays it (currentTime
// advances), that choosing the highest and then the lowest rendition changes the picture
// size, that preview images load and the strip grows, that the seek bar shows the thumbnail
// track's image under the pointer, that a preview seeks the recording, and that the console
// has no error. Writes a screenshot of the stream page (also on failure) and one with the
// seek bar's thumbnail shown (SCREENSHOT with -seekbar before .png). With `--captions TEXT`
// first, it checks closed captions instead (a finished stream is enough): the CC button turns
// them on and a caption reading TEXT is shown. With `--low-latency` first, the stream is
// LL-HLS and it also checks, before switching renditions, that hls.js plays it in
// lowLatencyMode with blocking reloads and does not stall: no `waiting` event and no
// BUFFER_STALLED_ERROR over 15 s after 5 s of playing, and the picture stays closer to real
// time than a player of whole segments could be.
// playwright-core is resolved through NODE_PATH (scripts/install-deps.sh installs
// it in target/npm/node_modules); the browser is CHROMIUM or /usr/bin/chromium.
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const args = process.argv.slice(2);
const lowLatency = args[0] === '--low-latency' ? Boolean(args.shift()) : false;
const captionsText = args[0] === '--captions' ? args.splice(0, 2)[1] : null;
const [base, stream, screenshot] = args;
if (!base || !stream || !screenshot) {
  console.error('usage: player.mjs [--low-latency] [--captions TEXT] BASE_URL CHANNEL/STREAM_ID SCREENSHOT.png');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const userDataDir = await mkdtemp(join(tmpdir(), 'hls-ladder-chromium-'));
const consoleErrors = [];
const results = {};
let context;
let page;

function log(text) {
  console.log(`[player.mjs ${new Date().toISOString().slice(11, 23)}] ${text}`);
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

const video = (expr) => page.evaluate(expr);
const waitFor = (fn, arg, timeout = 20000) => page.waitForFunction(fn, arg, { timeout, polling: 200 });

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
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
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    const failure = r.failure() ? r.failure().errorText : '';
    // Switching sources and renditions aborts requests under way; that is no error.
    if (failure !== 'net::ERR_ABORTED') consoleErrors.push(`request failed: ${r.url()} ${failure}`);
  });

  if (captionsText !== null) {
    await checkCaptions();
  } else {
    await checkPlayer();
  }

  if (consoleErrors.length) throw new Error(`console errors:\n  ${consoleErrors.join('\n  ')}`);
  log('ok: no console error');
  await page.mouse.move(1, 1); // no hover highlight in the picture
  await page.screenshot({ path: screenshot });
  log(`screenshot: ${screenshot}`);
  console.log(JSON.stringify({ ok: true, ...results }));
} catch (e) {
  console.error(`FAILED: ${e.message}`);
  if (consoleErrors.length) console.error(`console errors:\n  ${consoleErrors.join('\n  ')}`);
  if (page) {
    try {
      console.error(`page state: ${await page.evaluate(() => JSON.stringify({
        url: location.href,
        currentTime: window.player?.video?.currentTime,
        size: [window.player?.video?.videoWidth, window.player?.video?.videoHeight],
        message: document.getElementById('message')?.textContent,
      }))}`);
      await page.screenshot({ path: screenshot });
    } catch {}
  }
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}

// The stream page of a stream with closed captions: the CC button is offered, turns the
// captions track on, and the caption `captionsText` shows while the video plays.
async function checkCaptions() {
  await page.goto(`${base}/watch/${stream}`);
  results.playing = await step('the video plays', async () => {
    await waitFor(() => window.player && window.player.video.currentTime > 0.2, null, 30000);
    return await video(() => window.player.video.currentTime);
  });
  results.button = await step('the CC button is offered and turns captions on', async () => {
    await waitFor(() => !document.getElementById('cc').disabled, null, 30000);
    await page.click('#cc');
    await waitFor(() => document.getElementById('cc').getAttribute('aria-pressed') === 'true');
    const tracks = await video(() => [...window.player.video.textTracks].map((t) => ({ kind: t.kind, label: t.label, mode: t.mode })));
    if (!tracks.some((t) => t.kind === 'captions' && t.mode === 'showing')) throw new Error(`tracks: ${JSON.stringify(tracks)}`);
    return tracks;
  });
  results.caption = await step(`the caption "${captionsText}" is shown`, async () => {
    await waitFor((text) => [...window.player.video.textTracks].some((t) => t.mode === 'showing'
      && [...(t.activeCues || [])].some((c) => c.text.includes(text))), captionsText, 30000);
    return await video(() => window.player.video.currentTime);
  });
}

async function checkPlayer() {
  await step('the list shows the stream as live', async () => {
    await page.goto(`${base}/`);
    const link = page.locator(`a[href="/watch/${stream}"]`);
    await link.waitFor({ timeout: 10000 });
    const text = (await link.innerText()).replace(/\s+/g, ' ');
    if (!/LIVE/.test(text)) throw new Error(`not marked live: ${text}`);
    await link.click();
    await page.waitForURL(`**/watch/${stream}`);
    return text;
  });

  let playingSince;
  results.playing = await step('the video plays (currentTime advances)', async () => {
    await waitFor(() => window.player && window.player.video.currentTime > 0.5, null, 30000);
    playingSince = Date.now();
    const t0 = await video(() => window.player.video.currentTime);
    await waitFor((t) => window.player.video.currentTime > t + 1.5, t0, 15000);
    return { from: t0, to: await video(() => window.player.video.currentTime) };
  });

  results.delay = await step('the page shows how far behind real time the picture is', async () => {
    await waitFor(() => /^\d+\.\d s behind live/.test(document.getElementById('delay').textContent), null, 15000);
    const shown = await page.locator('#delay').innerText();
    const delay = await video(() => window.player.delay);
    // The page and the worker share this machine's clock: the delay is real, positive, and
    // well under a minute however slow the machine.
    if (!(delay > 0 && delay < 60)) throw new Error(`delay ${delay} s (shown: ${shown})`);
    return { delay, shown };
  });

  if (lowLatency) results.lowLatency = await checkLowLatency(playingSince);

  const levels = await step('the rendition menu lists automatic and every rung', async () => {
    await waitFor(() => document.querySelectorAll('#rendition option').length >= 3);
    const options = await page.$$eval('#rendition option', (os) => os.map((o) => [o.value, o.textContent]));
    if (options[0][0] !== '-1') throw new Error(`first option is not automatic: ${options}`);
    const levels = await video(() => window.player.hls.levels.map((l, i) => ({ i, width: l.width, height: l.height, bitrate: l.bitrate })));
    if (options.length !== levels.length + 1) throw new Error(`menu ${options} vs levels ${JSON.stringify(levels)}`);
    return { options: options.map((o) => o[1]), levels };
  }).then((r) => r.levels);

  const byHeight = [...levels].sort((a, b) => a.height - b.height);
  const lowest = byHeight[0];
  const highest = byHeight[byHeight.length - 1];
  for (const [name, level] of [['highest', highest], ['lowest', lowest]]) {
    results[name] = await step(`choosing the ${name} rung (${level.width}x${level.height}) changes the picture`, async () => {
      await page.selectOption('#rendition', String(level.i));
      await waitFor((h) => window.player.video.videoHeight === h, level.height, 20000);
      const t0 = await video(() => window.player.video.currentTime);
      await waitFor((t) => window.player.video.currentTime > t + 0.5, t0, 15000);
      const shown = await page.locator('#current').innerText();
      if (!shown.includes(`${level.width}x${level.height}`)) throw new Error(`the panel shows ${shown}`);
      const picture = await video(() => [window.player.video.videoWidth, window.player.video.videoHeight]);
      return { picture, panel: shown, buffer: await page.locator('#buffer').innerText() };
    });
  }
  if (lowest.height === highest.height) throw new Error('only one picture size in the ladder');

  results.previews = await step('preview images load and the strip grows', async () => {
    await waitFor(() => {
      const imgs = [...document.querySelectorAll('#strip img')];
      return imgs.length >= 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    });
    const count = await page.locator('#strip img').count();
    await waitFor((n) => document.querySelectorAll('#strip img').length > n, count, 15000);
    await waitFor(() => [...document.querySelectorAll('#strip img')].every((i) => i.complete && i.naturalWidth > 0));
    const sizes = await page.$$eval('#strip img', (imgs) => imgs.map((i) => `${i.naturalWidth}x${i.naturalHeight}`));
    return { before: count, after: sizes.length, sizes: [...new Set(sizes)] };
  });

  results.seekbar = await step("the seek bar shows the thumbnail track's image under the pointer", async () => {
    // Six cues at least: the track grows every interval, and the bar spans the whole track,
    // so a point of cue 1 stays inside cue 1 if the track grows by one cue meanwhile. The
    // page fetches a grown track while the pointer is on the bar.
    await waitFor(() => !document.getElementById('seekbar').hidden);
    const bar = await page.locator('#seek-track').boundingBox();
    await page.mouse.move(bar.x + bar.width / 2, bar.y + bar.height / 2);
    await waitFor(() => window.player.thumbnails?.cues.length >= 6 && !document.getElementById('seekbar').hidden, null, 30000);
    const { cues, interval, base } = await video(() => ({
      cues: window.player.thumbnails.cues,
      interval: window.player.info.previews[0].interval,
      base: new URL(window.player.info.previews[0].base, location.href).href,
    }));
    const cue = cues[1];
    if (cue.start !== interval || cue.end !== 2 * interval || cue.url !== `${base}1.jpg`) {
      throw new Error(`cue 1 is ${JSON.stringify(cue)}, not [${interval}, ${2 * interval}) ${base}1.jpg`);
    }
    const box = await page.locator('#seek-track').boundingBox();
    const total = cues[cues.length - 1].end;
    const x = box.x + (((cue.start + cue.end) / 2) / total) * box.width;
    await page.mouse.move(x, box.y + box.height / 2);
    await waitFor(() => {
      const p = document.getElementById('seek-thumb');
      const img = p.querySelector('img');
      return !p.hidden && img.complete && img.naturalWidth > 0;
    });
    const shown = await page.$eval('#seek-thumb', (p) => {
      const r = p.getBoundingClientRect();
      return { src: p.querySelector('img').src, time: Number(p.dataset.time), centre: r.left + r.width / 2, label: p.innerText };
    });
    if (shown.src !== cue.url) throw new Error(`shows ${shown.src} at ${shown.time} s, not ${cue.url}`);
    if (!(shown.time >= cue.start && shown.time < cue.end)) throw new Error(`pointer time ${shown.time} is outside cue 1`);
    if (Math.abs(shown.centre - x) > 2) throw new Error(`thumbnail centred at ${shown.centre}, pointer at ${x}`);
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-seekbar.png') });
    await page.mouse.move(1, 1);
    return { cues: cues.length, ...shown };
  });

  results.seek = await step('a preview seeks the recording to its time', async () => {
    const thumb = page.locator('#strip .thumb').nth(2);
    const time = Number(await thumb.getAttribute('data-time'));
    await thumb.click();
    await waitFor(() => document.querySelector('#sources button.active')?.dataset.key?.startsWith('vod-'));
    await waitFor((t) => {
      const v = window.player.video;
      return v.currentTime >= t - 0.5 && v.currentTime < t + 6 && !v.paused && v.readyState >= 3;
    }, time, 20000);
    const t0 = await video(() => window.player.video.currentTime);
    await waitFor((t) => window.player.video.currentTime > t + 1, t0, 15000);
    await page.waitForTimeout(600);
    return { preview: time, position: await page.locator('#position').innerText() };
  });
}

// The LL-HLS stream plays at the live edge of its parts: hls.js read the parts and the
// blocking reload from the playlist and runs in lowLatencyMode; after 5 s of playing, 15 s
// without a stall. The delay is only bounded loosely (a busy machine adds to it): below 4 s,
// which no player of whole segments reaches: it stays three target durations (6 s or more)
// behind the end of the last complete segment.
async function checkLowLatency(playingSince) {
  const [warmup, measured] = [5000, 15000];
  return await step('LL-HLS: hls.js plays in lowLatencyMode with no stall after the first seconds', async () => {
    await waitFor(() => window.player.lowLatency?.canBlockReload && window.player.hls.config.lowLatencyMode);
    await page.waitForTimeout(Math.max(0, playingSince + warmup - Date.now()));
    const r = await page.evaluate((ms) => new Promise((resolve) => {
      const p = window.player;
      const start = { ...p.stalls, currentTime: p.video.currentTime };
      const delays = [];
      const timer = setInterval(() => p.delay !== null && delays.push(p.delay), 250);
      setTimeout(() => {
        clearInterval(timer);
        delays.sort((a, b) => a - b);
        resolve({
          waiting: p.stalls.waiting - start.waiting,
          bufferStalled: p.stalls.bufferStalled - start.bufferStalled,
          played: p.video.currentTime - start.currentTime,
          medianDelay: delays[Math.floor(delays.length / 2)],
          maxDelay: delays[delays.length - 1],
          playlist: p.lowLatency,
          targetLatency: p.hls.targetLatency,
        });
      }, ms);
    }), measured);
    if (r.waiting || r.bufferStalled) throw new Error(`stalled: ${JSON.stringify(r)}`);
    if (!(r.played > (0.8 * measured) / 1000)) throw new Error(`played ${r.played} s in ${measured / 1000} s: ${JSON.stringify(r)}`);
    if (!(r.medianDelay < 4)) throw new Error(`median delay ${r.medianDelay} s: ${JSON.stringify(r)}`);
    return r;
  });
}
