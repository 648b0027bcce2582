// The stream page of `hls-ladder serve`: plays the stream's master playlist (or a recording
// part) with hls.js, offers its renditions, shows what plays and how much is buffered, and
// shows the preview images as a strip that grows while the stream runs; a preview seeks the
// recording to its time; a seek bar over the stream's timeline shows the thumbnail track's
// image under the pointer. Everything it learns about the stream comes from
// /api/streams/{channel}/{stream_id}, polled every 2 s.
// A live stream whose playlists are LL-HLS (EXT-X-PART-INF) plays with hls.js's
// lowLatencyMode, and the page shows how far the picture is behind real time: now minus the
// PROGRAM-DATE-TIME of the frame on screen, which the worker stamps with the wall clock at which
// the frame entered its pipeline.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const channel = document.body.dataset.channel;
  const streamId = document.body.dataset.streamId;
  const video = $('video');
  const select = $('rendition');
  const sourcesEl = $('sources');
  const strip = $('strip');
  // The page's state, also for the browser test and anyone with a console.
  // delay: seconds behind real time (null when unknown); lowLatency: what hls.js read of the
  // LL-HLS playlist (null for a playlist without parts); stalls: the video's `waiting`
  // events and hls.js's BUFFER_STALLED_ERRORs since the source started playing.
  const state = { info: null, hls: null, source: null, shown: 0, video, delay: null, lowLatency: null, stalls: null };
  window.player = state;

  function fmtTime(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  }

  function fmtRate(bps) {
    return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mb/s` : `${Math.round(bps / 1e3)} kb/s`;
  }

  function show(text) {
    $('message').hidden = !text;
    $('message').textContent = text || '';
  }

  // Live first, then each recording part.
  function sources(info) {
    const list = [];
    if (info.live_uri) {
      list.push({ key: 'live', label: info.live ? 'Live' : 'Live window', uri: info.live_uri, start: 0, vod: false });
    }
    for (const r of info.recordings) {
      const label = info.recordings.length > 1 ? `Recording ${r.part}` : 'Recording';
      list.push({ key: `vod-${r.part}`, label, uri: r.uri, start: r.start, vod: true });
    }
    return list;
  }

  function markActive() {
    for (const b of sourcesEl.children) {
      b.classList.toggle('active', !!state.source && b.dataset.key === state.source.key);
    }
  }

  function renderSources() {
    const list = sources(state.info);
    const keys = list.map((s) => `${s.key}:${s.label}`).join();
    if (sourcesEl.dataset.keys !== keys) {
      sourcesEl.dataset.keys = keys;
      sourcesEl.replaceChildren(
        ...list.map((s) => {
          const b = document.createElement('button');
          b.type = 'button';
          b.textContent = s.label;
          b.dataset.key = s.key;
          b.addEventListener('click', () => play(s));
          return b;
        }),
      );
    }
    markActive();
  }

  function levelLabel(level) {
    const size = level.width && level.height ? `${level.width}x${level.height}` : level.name || '?';
    return `${size} · ${fmtRate(level.bitrate)}`;
  }

  // Automatic, then every rendition from the largest down.
  function fillLevels() {
    const hls = state.hls;
    const options = [new Option('Automatic', '-1')];
    hls.levels
      .map((level, index) => ({ level, index }))
      .sort((a, b) => b.level.height - a.level.height || b.level.bitrate - a.level.bitrate)
      .forEach(({ level, index }) => options.push(new Option(levelLabel(level), String(index))));
    select.replaceChildren(...options);
    select.value = hls.autoLevelEnabled ? '-1' : String(hls.currentLevel);
    select.disabled = false;
  }

  select.addEventListener('change', () => {
    if (state.hls) {
      // A rung: switch now (the buffer is flushed); -1: back to automatic.
      state.hls.currentLevel = Number(select.value);
    }
    updateStats();
  });

  // Whether a live stream's media playlists are LL-HLS, read from the first one a master
  // lists (every rendition of a stream is written alike), or from the playlist itself when
  // there is no master: true, false, or null when it cannot be read (hls.js then decides
  // from the playlists themselves).
  async function isLowLatency(uri) {
    try {
      const text = async (url) => {
        const response = await fetch(url, { cache: 'no-store' });
        if (!response.ok) throw new Error(`${url}: ${response.status}`);
        return response.text();
      };
      const url = new URL(uri, location.href);
      let playlist = await text(url);
      if (/^#EXT-X-STREAM-INF:/m.test(playlist)) {
        const media = playlist.split(/\r?\n/).map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
        if (!media) return null;
        playlist = await text(new URL(media, url));
      }
      return /^#EXT-X-PART-INF:/m.test(playlist);
    } catch (e) {
      return null;
    }
  }

  // hls.js's settings for a source. LL-HLS: lowLatencyMode (parts, blocking playlist reloads,
  // the preload hint; the target delay is the playlist's PART-HOLD-BACK), and playback sped up
  // by at most 25 % while the picture is further behind than that, so that after the start or
  // a stall the delay comes back down within seconds instead of staying up (at 10 % a player
  // that starts 1.5 s behind its target needs 15 s to get there). Everything else
  // (recordings, live playlists of whole segments): hls.js's usual live settings, three
  // segments behind the live edge.
  function hlsConfig(source, position, lowLatency) {
    const config = { startPosition: position === undefined ? -1 : position, backBufferLength: 60 };
    if (source.vod || lowLatency === false) return { ...config, lowLatencyMode: false };
    return { ...config, lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.25 };
  }

  async function play(source, position) {
    state.source = source;
    markActive();
    if (state.hls) {
      state.hls.destroy();
      state.hls = null;
    }
    state.delay = null;
    state.lowLatency = null;
    state.stalls = { waiting: 0, bufferStalled: 0 };
    select.replaceChildren(new Option('Automatic', '-1'));
    show('');
    if (window.Hls && Hls.isSupported()) {
      const lowLatency = source.vod ? false : await isLowLatency(source.uri);
      // Another source chosen meanwhile: that one plays.
      if (state.source !== source) return;
      const hls = new Hls(hlsConfig(source, position, lowLatency));
      state.hls = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        fillLevels();
        video.play().catch(() => {});
      });
      hls.on(Hls.Events.LEVEL_SWITCHED, updateStats);
      hls.on(Hls.Events.LEVEL_LOADED, (_event, data) => {
        const d = data.details;
        state.lowLatency = d.partTarget
          ? { partTarget: d.partTarget, partHoldBack: d.partHoldBack, canBlockReload: d.canBlockReload, lowLatencyMode: hls.config.lowLatencyMode }
          : null;
      });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) state.stalls.bufferStalled++;
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          show('Media error: recovering');
          hls.recoverMediaError();
        } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
          show(`Network error (${data.details}): retrying`);
          setTimeout(() => state.hls === hls && hls.startLoad(), 2000);
        } else {
          show(`Cannot play: ${data.details}`);
        }
      });
      hls.loadSource(source.uri);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      // Native HLS (Safari): no rendition menu.
      video.src = source.uri;
      if (position) {
        video.addEventListener('loadedmetadata', () => { video.currentTime = position; }, { once: true });
      }
      select.disabled = true;
      video.play().catch(() => {});
    } else {
      show('This browser cannot play HLS.');
    }
  }

  // Plays the recording from media time t (seconds since the stream began).
  function seekTo(t) {
    const recordings = sources(state.info).filter((s) => s.vod);
    if (!recordings.length) {
      show('No recording to seek in (transcode with --record).');
      return;
    }
    let target = recordings[0];
    for (const r of recordings) if (r.start <= t) target = r;
    const position = Math.max(0, t - target.start);
    if (state.source && state.source.key === target.key && state.hls && state.hls.media) {
      video.currentTime = position;
      video.play().catch(() => {});
    } else {
      play(target, position);
    }
  }

  function bufferAhead() {
    const t = video.currentTime;
    const b = video.buffered;
    for (let i = 0; i < b.length; i++) {
      if (b.start(i) <= t + 0.1 && t <= b.end(i)) return b.end(i) - t;
    }
    return 0;
  }

  video.addEventListener('waiting', () => {
    if (state.stalls) state.stalls.waiting++;
  });

  // Seconds between now and the PROGRAM-DATE-TIME of the frame on screen, for a live source.
  function updateDelay() {
    const hls = state.hls;
    const date = hls && state.source && !state.source.vod ? hls.playingDate : null;
    state.delay = date && video.readyState >= 2 ? (Date.now() - date.getTime()) / 1000 : null;
    let text = '–';
    if (state.delay !== null) {
      const ll = state.lowLatency;
      const mode = ll ? ` · LL-HLS, parts of ${ll.partTarget.toFixed(3)} s` : '';
      text = `${state.delay.toFixed(1)} s behind live${mode}`;
    }
    $('delay').textContent = text;
  }

  function updateStats() {
    const hls = state.hls;
    let playing = '–';
    if (hls && hls.levels && hls.levels[hls.currentLevel]) {
      playing = levelLabel(hls.levels[hls.currentLevel]) + (hls.autoLevelEnabled ? ' (automatic)' : '');
    }
    $('current').textContent = playing;
    $('picture').textContent = video.videoWidth ? `${video.videoWidth}x${video.videoHeight}` : '–';
    $('buffer').textContent = `${bufferAhead().toFixed(1)} s`;
    let position = '–';
    if (state.source && state.source.vod) {
      const t = state.source.start + video.currentTime;
      position = `${fmtTime(t)} of the recording`;
      const p = state.info && state.info.previews[0];
      const current = p ? Math.floor(t / p.interval) : -1;
      for (const thumb of strip.children) thumb.classList.toggle('current', Number(thumb.dataset.index) === current);
    } else if (state.source) {
      position = fmtTime(video.currentTime);
    }
    $('position').textContent = position;
  }

  function renderPreviews() {
    const p = state.info.previews[0];
    if (!p) {
      $('preview-note').textContent = 'none (transcode with --previews)';
      return;
    }
    const seekable = state.info.recordings.length ? ' · click one to play the recording from there' : '';
    $('preview-note').textContent = `${p.count} × ${p.width}x${p.height}, one every ${p.interval} s${seekable}`;
    const atEnd = strip.scrollLeft + strip.clientWidth >= strip.scrollWidth - 8;
    for (let n = state.shown; n < p.count; n++) {
      const t = n * p.interval;
      const thumb = document.createElement('button');
      thumb.type = 'button';
      thumb.className = 'thumb';
      thumb.dataset.index = String(n);
      thumb.dataset.time = String(t);
      const img = new Image(p.width, p.height);
      img.src = `${p.base}${n}.jpg`;
      img.alt = `preview at ${fmtTime(t)}`;
      const caption = document.createElement('span');
      caption.textContent = fmtTime(t);
      thumb.append(img, caption);
      thumb.addEventListener('click', () => seekTo(t));
      strip.append(thumb);
    }
    state.shown = Math.max(state.shown, p.count);
    if (atEnd) strip.scrollLeft = strip.scrollWidth;
  }

  async function refresh() {
    let info;
    try {
      const response = await fetch(`/api/streams/${encodeURIComponent(channel)}/${encodeURIComponent(streamId)}`, {
        cache: 'no-store',
      });
      info = await response.json();
    } catch (e) {
      $('status').textContent = 'server gone';
      return;
    }
    if (!info) {
      $('status').textContent = 'waiting';
      show('Waiting for the stream to start…');
      return;
    }
    state.info = info;
    $('status').textContent = info.live ? 'LIVE' : 'ended';
    $('status').classList.toggle('live', info.live);
    renderSources();
    if (!state.source) {
      const list = sources(info);
      // A live stream plays live; a finished one from the start of its recording.
      const initial = info.live ? list.find((s) => !s.vod) : list.find((s) => s.vod) || list[0];
      if (initial) play(initial);
    }
    renderPreviews();
  }

  // The CC button: closed captions carried in the video (CEA-608, declared in the master)
  // become text tracks once hls.js finds caption data; the button shows or hides all of
  // them, and the choice holds for tracks made later (another source, a new rendition).
  function captionsButton() {
    const button = $('cc');
    const tracks = video.textTracks;
    const captions = () => [...tracks].filter((t) => t.kind === 'captions' || t.kind === 'subtitles');
    state.captionsOn = false;
    const apply = () => {
      const list = captions();
      button.disabled = !list.length;
      button.title = list.length ? 'closed captions' : 'no closed captions in this stream';
      button.setAttribute('aria-pressed', String(state.captionsOn));
      button.classList.toggle('active', state.captionsOn);
      for (const t of list) {
        const mode = state.captionsOn ? 'showing' : 'hidden';
        if (t.mode !== mode) t.mode = mode;
      }
    };
    button.addEventListener('click', () => {
      state.captionsOn = !state.captionsOn;
      apply();
    });
    tracks.addEventListener('addtrack', apply);
    tracks.addEventListener('removetrack', apply);
    // hls.js may set a track's mode itself after adding it: the viewer's choice wins.
    tracks.addEventListener('change', () => setTimeout(apply, 0));
    apply();
  }

  captionsButton();

  // The cues of a WebVTT thumbnail track: [{start, end, url}], each image's URL resolved
  // against the track's, as players do. Blocks without cue timings (the header) are skipped.
  function parseThumbnails(text, trackUrl) {
    const time = (s) => {
      const m = /^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})$/.exec(s.trim());
      return m ? Number(m[1] || 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000 : NaN;
    };
    const cues = [];
    for (const block of text.replace(/\r\n?/g, '\n').split(/\n{2,}/)) {
      const lines = block.split('\n').filter((l) => l);
      const at = lines.findIndex((l) => l.includes('-->'));
      if (at < 0 || !lines[at + 1]) continue;
      const [from, rest] = lines[at].split('-->');
      const start = time(from);
      const end = time(rest.trim().split(/\s+/)[0]);
      if (Number.isFinite(start) && end > start) cues.push({ start, end, url: new URL(lines[at + 1], trackUrl).href });
    }
    return cues;
  }

  // The thumbnail seek bar: the stream's timeline (the recording's media time, which the
  // thumbnail track's cues use), the cue's image under the pointer, a click plays the
  // recording from there. The track grows by one cue per preview and a day's track is
  // hundreds of kB, so a grown track is fetched again only while the pointer is on the bar,
  // or every 30 s.
  function thumbnailSeekBar() {
    const bar = $('seekbar');
    const track = $('seek-track');
    const popup = $('seek-thumb');
    const [image, label] = [popup.querySelector('img'), popup.querySelector('span')];
    const thumbs = { url: null, count: -1, cues: [], loading: false, hover: false, loadedAt: 0 };
    state.thumbnails = thumbs;
    const duration = () => (thumbs.cues.length ? thumbs.cues[thumbs.cues.length - 1].end : 0);
    const timeAt = (event) => {
      const box = track.getBoundingClientRect();
      return { t: Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * duration(), x: event.clientX - box.left };
    };
    const cueAt = (t) => thumbs.cues.find((c) => c.start <= t && t < c.end) || thumbs.cues[thumbs.cues.length - 1];

    async function load(p) {
      if (!p || !p.thumbnails || thumbs.loading || p.count === thumbs.count) return;
      if (thumbs.count >= 0 && !thumbs.hover && Date.now() - thumbs.loadedAt < 30000) return;
      thumbs.loading = true;
      thumbs.loadedAt = Date.now();
      try {
        const url = new URL(p.thumbnails, location.href).href;
        const response = await fetch(url, { cache: 'no-store' });
        if (response.ok) {
          thumbs.cues = parseThumbnails(await response.text(), url);
          thumbs.url = url;
          thumbs.count = p.count;
        }
      } finally {
        thumbs.loading = false;
      }
      bar.hidden = thumbs.cues.length === 0;
    }

    track.addEventListener('pointermove', (event) => {
      if (!thumbs.cues.length) return;
      const { t, x } = timeAt(event);
      const cue = cueAt(t);
      if (image.getAttribute('src') !== cue.url) image.src = cue.url;
      label.textContent = fmtTime(t);
      popup.style.left = `${x}px`;
      popup.dataset.time = String(t);
      popup.hidden = false;
    });
    track.addEventListener('pointerenter', () => {
      thumbs.hover = true;
      if (state.info) load(state.info.previews[0]);
    });
    track.addEventListener('pointerleave', () => {
      thumbs.hover = false;
      popup.hidden = true;
    });
    track.addEventListener('click', (event) => { if (thumbs.cues.length) seekTo(timeAt(event).t); });

    return function update() {
      if (!state.info) return;
      load(state.info.previews[0]);
      const playing = state.source && state.source.vod ? state.source.start + video.currentTime : 0;
      $('seek-played').style.width = `${duration() ? Math.min(100, (100 * playing) / duration()) : 0}%`;
    };
  }

  const updateSeekBar = thumbnailSeekBar();
  refresh();
  setInterval(refresh, 2000);
  setInterval(updateStats, 500);
  setInterval(updateDelay, 250);
  setInterval(updateSeekBar, 500);
})();
