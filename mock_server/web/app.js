// The voice-room page: log in, publish the microphone, play every stream in the room,
// show the roster with sound levels.  Query string (all optional):
//   roomID (room1), userID (random), userName, streamID (<userID>_main),
//   token + appID (instead of the server's /dev/token), publish=0 (listen only),
//   processing=0 (no echo cancellation / noise suppression / gain control on the mic)
//
// window.zegoTest is what tests/test_browser.py reads: state(), spectrum(), stats().

import { ZegoExpressEngine } from "/zego.js";

const q = new URLSearchParams(location.search);
const roomID = q.get("roomID") || "room1";
const userID = q.get("userID") || `web_${Math.random().toString(36).slice(2, 8)}`;
const userName = q.get("userName") || userID;
const streamID = q.get("streamID") || `${userID.replace(/[^A-Za-z0-9_-]/g, "_")}_main`;
const publish = q.get("publish") !== "0";
const processing = q.get("processing") !== "0";

const $ = (id) => document.getElementById(id);
const users = new Map(); // userID -> {userID, userName}
const streams = new Map(); // streamID -> ZegoStreamList entry
const players = new Map(); // streamID -> {state, stream, element}
const levels = new Map(); // streamID -> 0..100
const errors = [];
const events = [];
let roomState = "DISCONNECTED";
let publisherState = "NO_PUBLISH";
let localStream = null;
let online = 0;

function log(...parts) {
  const line = `${new Date().toISOString().slice(11, 23)} ${parts.map(String).filter(Boolean).join(" ")}`;
  events.push(line);
  if (events.length > 500) events.shift();
  const el = $("log");
  el.textContent = events.slice(-12).join("\n");
}

function fail(where, exc) {
  const text = `${where}: ${exc && (exc.msg || exc.message) || exc}` +
    (exc && exc.code ? ` [${exc.code}]` : "");
  errors.push(text);
  log("ERROR", text);
  notice(text);
}

function notice(text) {
  const el = $("notice");
  el.textContent = text;
  el.style.display = text ? "block" : "none";
}

function badge(el, text) {
  el.textContent = text;
  el.className = "badge " + ({
    CONNECTED: "ok", PUBLISHING: "ok", PLAYING: "ok",
    CONNECTING: "busy", PUBLISH_REQUESTING: "busy", PLAY_REQUESTING: "busy",
    DISCONNECTED: "bad",
  }[text] || "");
}

// ---------------------------------------------------------------------- roster
function render() {
  $("room-id").textContent = roomID;
  $("user-id").textContent = userName === userID ? userID : `${userName} (${userID})`;
  badge($("room-state"), roomState);
  badge($("publish-state"), publish ? publisherState : "listen only");
  $("online").textContent = online ? `${online} online` : "";
  const rows = [];
  const me = { userID, userName };
  for (const user of [me, ...[...users.values()].filter((u) => u.userID !== userID)]) {
    const isMe = user.userID === userID;
    const own = isMe ? (publish ? [streamID] : [])
      : [...streams.values()].filter((s) => s.user && s.user.userID === user.userID).map((s) => s.streamID);
    const ids = own.length ? own : [null];
    for (const sid of ids) {
      const state = sid === null ? "" : isMe ? publisherState : (players.get(sid) || {}).state || "NO_PLAY";
      const level = sid === null ? 0 : levels.get(sid) || 0;
      rows.push(`<tr data-user="${esc(user.userID)}" data-stream="${esc(sid || "")}">
        <td>${esc(user.userName || user.userID)}${isMe ? " <span class='badge'>you</span>" : ""}</td>
        <td>${esc(sid || "—")}</td>
        <td>${state ? `<span class="badge ${state.endsWith("ING") && !state.endsWith("REQUESTING") ? "ok" : "busy"}">${esc(state)}</span>` : ""}</td>
        <td class="level">${sid ? `<div class="meter"><div style="width:${level}%"></div></div>` : ""}</td>
      </tr>`);
    }
  }
  $("roster").innerHTML = rows.join("");
  // the numeric level next to each meter
  for (const row of $("roster").querySelectorAll("tr")) {
    const sid = row.dataset.stream;
    if (!sid) continue;
    const span = document.createElement("span");
    span.className = "num";
    span.textContent = String(Math.round(levels.get(sid) || 0));
    row.querySelector("td.level").appendChild(span);
  }
}

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  }[c]));
}

// ---------------------------------------------------------------------- playing
async function play(zg, stream) {
  const sid = stream.streamID;
  if (players.has(sid)) return;
  const entry = { state: "PLAY_REQUESTING", stream: null, element: null };
  players.set(sid, entry);
  try {
    const media = await zg.startPlayingStream(sid);
    if (players.get(sid) !== entry) return;
    entry.stream = media;
    const audio = document.createElement("audio");
    audio.autoplay = true;
    audio.srcObject = media;
    audio.dataset.stream = sid;
    $("players").appendChild(audio);
    audio.play().catch(() => notice("Click anywhere to hear the room (autoplay is blocked)."));
    entry.element = audio;
  } catch (exc) {
    if (players.get(sid) === entry) players.delete(sid);
    fail(`play ${sid}`, exc);
  }
  render();
}

function unplay(zg, sid) {
  const entry = players.get(sid);
  if (!entry) return;
  players.delete(sid);
  levels.delete(sid);
  zg.stopPlayingStream(sid);
  if (entry.element) {
    entry.element.srcObject = null;
    entry.element.remove();
  }
}

// ---------------------------------------------------------------------- analysis (tests)
let analysisContext = null;

function audioContext() {
  if (analysisContext === null) analysisContext = new AudioContext();
  return analysisContext;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The spectrum of a played stream (or of our own microphone, by our streamID) over
 *  `ms`, once it is audible (above -50 dBFS; waited for up to 5 s): the dominant
 *  frequency (parabolic interpolation on an 8192-point FFT, 5.9 Hz bins at 48 kHz),
 *  the share of energy within 3 bins of it, its RMS in dBFS, and the level in dB
 *  relative to the peak near each of `freqs` (within 15 Hz). */
async function spectrum(sid, { ms = 2000, freqs = [] } = {}) {
  const media = sid === streamID ? localStream : (players.get(sid) || {}).stream;
  if (!media) return { error: `not playing ${sid}` };
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

/** The audio RTP figures of a stream's peer connection and its selected candidate pair. */
async function stats(zg, sid) {
  const report = await zg.getStats(sid);
  if (!report) return null;
  const out = {};
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  report.forEach((s) => {
    if ((s.type === "inbound-rtp" || s.type === "outbound-rtp") && s.kind === "audio") {
      for (const key of ["packetsReceived", "packetsLost", "jitter", "concealedSamples",
        "concealmentEvents", "totalSamplesReceived", "insertedSamplesForDeceleration",
        "removedSamplesForAcceleration", "jitterBufferDelay", "jitterBufferEmittedCount",
        "audioLevel", "totalAudioEnergy", "packetsSent", "bytesSent", "bytesReceived"]) {
        if (s[key] !== undefined) out[key] = s[key];
      }
      out.type = s.type;
      const codec = byId.get(s.codecId);
      if (codec) out.codec = codec.mimeType;
    }
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = byId.get(s.selectedCandidatePairId);
      const local = pair && byId.get(pair.localCandidateId);
      const remote = pair && byId.get(pair.remoteCandidateId);
      if (local) out.local = `${local.address}:${local.port} ${local.candidateType} ${local.protocol}`;
      if (remote) out.remote = `${remote.address}:${remote.port} ${remote.candidateType} ${remote.protocol}`;
    }
  });
  return out;
}

// ---------------------------------------------------------------------- main
async function token() {
  if (q.get("token")) return { token: q.get("token"), appID: Number(q.get("appID")) };
  const url = `/dev/token?userID=${encodeURIComponent(userID)}&roomID=${encodeURIComponent(roomID)}`;
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) {
    throw new Error(`no token: ${url} answered ${response.status} (the server offers dev ` +
      "tokens only with its dev credentials; pass ?token=...&appID=... instead)");
  }
  return response.json();
}

async function main() {
  render();
  if (!window.isSecureContext) {
    notice("This page is not a secure context, so the browser hides the microphone: " +
      "open it as http://localhost:PORT/ or http://127.0.0.1:PORT/ (or over https).");
  }
  const { token: t, appID } = await token();
  const server = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const zg = new ZegoExpressEngine(appID, server);
  window.zegoTest.engine = zg;

  zg.on("roomStateUpdate", (rid, state, code, detail) => {
    roomState = state;
    log("roomStateUpdate", state, code || "", detail || "");
    if (state === "CONNECTING" && code) notice("Connection lost: reconnecting...");
    else if (state === "CONNECTED") notice("");
    else if (state === "DISCONNECTED" && code) {
      fail("room", { code, msg: `${detail || "disconnected"}. Reload the page to rejoin.` });
    }
    render();
  });
  zg.on("roomStateChanged", (rid, reason, code) => log("roomStateChanged", reason, code || ""));
  zg.on("roomUserUpdate", (rid, type, list) => {
    for (const u of list) {
      if (type === "ADD") users.set(u.userID, u);
      else users.delete(u.userID);
    }
    log("roomUserUpdate", type, list.map((u) => u.userID).join(","));
    render();
  });
  zg.on("roomStreamUpdate", (rid, type, list) => {
    log("roomStreamUpdate", type, list.map((s) => s.streamID).join(","));
    for (const s of list) {
      if (type === "ADD") {
        streams.set(s.streamID, s);
        if (s.user && !users.has(s.user.userID)) users.set(s.user.userID, s.user);
        play(zg, s);
      } else {
        streams.delete(s.streamID);
        unplay(zg, s.streamID);
      }
    }
    render();
  });
  zg.on("roomOnlineUserCountUpdate", (rid, count) => { online = count; render(); });
  zg.on("publisherStateUpdate", (r) => {
    publisherState = r.state;
    log("publisherStateUpdate", r.streamID, r.state, r.errorCode || "");
    if (r.errorCode) fail(`publish ${r.streamID}`, { code: r.errorCode, msg: r.extendedData });
    render();
  });
  zg.on("playerStateUpdate", (r) => {
    const entry = players.get(r.streamID);
    if (entry) entry.state = r.state;
    log("playerStateUpdate", r.streamID, r.state, r.errorCode || "");
    render();
  });
  zg.on("IMRecvBroadcastMessage", (rid, list) => {
    for (const m of list) log(`message from ${m.fromUser.userID}: ${m.message}`);
  });
  zg.on("remoteMicStatusUpdate", (sid, status) => log("remoteMicStatusUpdate", sid, status));
  zg.on("soundLevelUpdate", (list) => {
    for (const item of list) levels.set(item.streamID, item.soundLevel);
    render();
  });

  await zg.loginRoom(roomID, t, { userID, userName }, { userUpdate: true });
  zg.setSoundLevelDelegate(true, 500);
  if (publish) {
    localStream = await zg.createStream({
      camera: { audio: true, video: false, AEC: processing, AGC: processing, ANS: processing },
    });
    zg.startPublishingStream(streamID, localStream);
  }
  // Chromium keeps WebAudio suspended until a gesture unless autoplay is allowed.
  document.addEventListener("click", () => {
    if (analysisContext) analysisContext.resume();
    for (const entry of players.values()) if (entry.element) entry.element.play().catch(() => {});
    notice("");
  });
}

window.zegoTest = {
  roomID, userID, streamID,
  engine: null,
  ready: null,
  state: () => ({
    roomID, userID, streamID, roomState, publisherState, online,
    users: [...users.keys()].sort(),
    streams: [...streams.keys()].sort(),
    players: Object.fromEntries([...players].map(([sid, e]) => [sid, e.state])),
    levels: Object.fromEntries(levels),
    errors: [...errors],
    events: [...events],
  }),
  spectrum: (sid, options) => spectrum(sid, options),
  stats: (sid) => stats(window.zegoTest.engine, sid),
};
window.zegoTest.ready = main().then(() => true, (exc) => {
  fail("start", exc);
  return false;
});
