// Audio analysis for tests/test_browser.py, injected into every page the tests open
// (Playwright's add_init_script), so neither the bundled page nor a ZEGO sample page
// carries test code: window.zegoAnalysis.spectrum(mediaStream, {ms, freqs}).
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

window.zegoAnalysis = { spectrum };
})();
