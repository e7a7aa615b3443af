// The voice-room page: log in, publish the microphone, play every stream in the room,
// show the roster with sound levels.  Query string (all optional):
//   roomID (room1), userID (random), userName, streamID (<userID>_main),
//   token + appID (instead of the server's /dev/token), publish=0 (listen only),
//   processing=0 (no echo cancellation / noise suppression / gain control on the mic)
//
// window.zegoTest is what tests/test_browser.py reads: state(), media(), stats().

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

// ---------------------------------------------------------------------- tests
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
  // Without autoplay permission, audio starts on the first click.
  document.addEventListener("click", () => {
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
  // the MediaStream of a played stream, or our own microphone by our streamID
  media: (sid) => (sid === streamID ? localStream : (players.get(sid) || {}).stream) || null,
  stats: (sid) => stats(window.zegoTest.engine, sid),
};
window.zegoTest.ready = main().then(() => true, (exc) => {
  fail("start", exc);
  return false;
});
