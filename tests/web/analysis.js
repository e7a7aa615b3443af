// Audio and video analysis for tests/test_browser.py, injected into every page the tests
// open (Playwright's add_init_script), so neither the bundled page nor a ZEGO sample page
// carries test code: window.zegoAnalysis.spectrum(mediaStream, {ms, freqs}) and
// window.zegoAnalysis.colours(videoElement, {ms, every, top}).
"use strict";

(() => {
let analysisContext = null;

function audioContext() {
  if (analysisContext === null) analysisContext = new AudioContext();
  return analysisContext;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The spectrum of a MediaStream (a played stream, or a page's own microphone) over
 *  `ms`, once it is audible (above -50 dBFS; waited for up to 5 s): the dominant
 *  frequency (parabolic interpolation on an 8192-point FFT, 5.9 Hz bins at 48 kHz),
 *  the share of energy within 3 bins of it, its RMS in dBFS, and the level in dB
 *  relative to the peak near each of `freqs` (within 15 Hz). */
async function spectrum(media, { ms = 2000, freqs = [] } = {}) {
  if (!media) return { error: "no such stream" };
  const ctx = audioContext();
  if (ctx.state !== "running") await ctx.resume();
  const source = ctx.createMediaStreamSource(media);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0;
  source.connect(analyser);
  const n = analyser.frequencyBinCount;
  const sum = new Float64Array(n);
  const db = new Float32Array(n);
  const wave = new Float32Array(analyser.fftSize);
  let frames = 0;
  let energy = 0;
  let audibleAfterMs = null;
  try {
    // Chromium starts a remote stream's playout (and so its WebAudio feed) up to ~2 s
    // after media flows: wait until it is audible, then let the window fill with it.
    const start = performance.now();
    while (performance.now() - start < 5000) {
      analyser.getFloatTimeDomainData(wave);
      let s = 0;
      for (let i = 0; i < wave.length; i++) s += wave[i] * wave[i];
      if (10 * Math.log10(s / wave.length + 1e-20) > -50) {
        audibleAfterMs = performance.now() - start;
        break;
      }
      await sleep(20);
    }
    await sleep(200);
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await sleep(50);
      analyser.getFloatFrequencyData(db);
      for (let i = 0; i < n; i++) sum[i] += Number.isFinite(db[i]) ? 10 ** (db[i] / 20) : 0;
      analyser.getFloatTimeDomainData(wave);
      let s = 0;
      for (let i = 0; i < wave.length; i++) s += wave[i] * wave[i];
      energy += s / wave.length;
      frames++;
    }
  } finally {
    source.disconnect();
  }
  const binHz = ctx.sampleRate / analyser.fftSize;
  const mags = Array.from(sum, (v) => v / Math.max(1, frames));
  const rmsDb = 10 * Math.log10(energy / Math.max(1, frames) + 1e-20);
  const first = Math.ceil(50 / binHz);
  let k = first;
  for (let i = first; i < n - 1; i++) if (mags[i] > mags[k]) k = i;
  const peak = mags[k];
  if (!(peak > 0)) return { frequency: null, concentration: 0, rmsDb, bands: {}, frames, audibleAfterMs };
  let p = 0;
  if (k > 0 && k < n - 1 && mags[k - 1] > 0 && mags[k + 1] > 0) {
    const a = Math.log(mags[k - 1]);
    const b = Math.log(mags[k]);
    const c = Math.log(mags[k + 1]);
    const d = a - 2 * b + c;
    if (d !== 0) p = (0.5 * (a - c)) / d;
  }
  let near = 0;
  let total = 0;
  for (let i = first; i < n; i++) {
    const e = mags[i] * mags[i];
    total += e;
    if (Math.abs(i - k) <= 3) near += e;
  }
  const bands = {};
  for (const f of freqs) {
    let best = 0;
    for (let i = Math.max(0, Math.floor((f - 15) / binHz)); i <= Math.min(n - 1, Math.ceil((f + 15) / binHz)); i++) {
      best = Math.max(best, mags[i]);
    }
    bands[f] = 20 * Math.log10(best / peak + 1e-12);
  }
  return {
    frequency: (k + p) * binHz, concentration: total ? near / total : 0, rmsDb, bands,
    frames, sampleRate: ctx.sampleRate, audibleAfterMs,
  };
}

/** What a playing <video> shows, read through a canvas every `every` ms for `ms`:
 *  [{t (ms since the call), w, h, rgb: the mean [r, g, b] of the frame below the top
 *  `top` share (zego_py's test pattern draws its frame number there)}], once a frame
 *  has been decoded (waited for up to 5 s; `first` is how long that took). */
async function colours(element, { ms = 3000, every = 100, top = 0.35 } = {}) {
  if (!element) return { error: "no such element" };
  const start = performance.now();
  while (element.videoWidth === 0 && performance.now() - start < 5000) await sleep(20);
  const first = performance.now() - start;
  if (element.videoWidth === 0) return { error: "no video frame within 5 s", first };
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const samples = [];
  const begin = performance.now();
  while (performance.now() - begin < ms) {
    const w = element.videoWidth, h = element.videoHeight;
    canvas.width = w;
    canvas.height = h;
    ctx.drawImage(element, 0, 0, w, h);
    const y0 = Math.floor(h * top);
    const data = ctx.getImageData(0, y0, w, h - y0).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < data.length; i += 4) {
      sum[0] += data[i]; sum[1] += data[i + 1]; sum[2] += data[i + 2];
    }
    const n = data.length / 4;
    samples.push({ t: Math.round(performance.now() - begin), w, h, rgb: sum.map((v) => Math.round(v / n)) });
    await sleep(every);
  }
  return { first: Math.round(first), samples };
}

window.zegoAnalysis = { spectrum, colours };
})();
