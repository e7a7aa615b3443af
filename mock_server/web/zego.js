// zego.js: ZEGO Express Web SDK's ZegoExpressEngine for the zego_py room server.
//
// A plain ES module (no build step, no dependency) that speaks the same signaling
// protocol as zego_py's Python engine (zego_py/protocol.py: one JSON object per
// WebSocket text frame, {"v":1,"id":n,"type":...} requests, "reply" answers, pushes)
// and the same media path: one RTCPeerConnection per published or played stream to the
// server's Opus forwarding relay, non-trickle (the offer is sent once ICE gathering is
// complete), Opus only.
//
// Names, arguments, events and error codes are ZEGO's (docs/browser.md lists them):
//
//   import { ZegoExpressEngine } from "/zego.js";
//   const zg = new ZegoExpressEngine(appID, "ws://127.0.0.1:9000/ws");
//   zg.on("roomStreamUpdate", async (roomID, type, list) => { ... });
//   await zg.loginRoom("room1", token, { userID: "alice" }, { userUpdate: true });
//   const mic = await zg.createStream({ camera: { audio: true, video: false } });
//   zg.startPublishingStream("alice_main", mic);
//   audioElement.srcObject = await zg.startPlayingStream("bob_main");
//
// Errors: room calls reject with {code, msg}; stream calls throw/reject with
// {errorCode, extendedData}.  Every error thrown here is a ZegoError carrying all four
// fields, so either convention works.

export const VERSION = "0.1.0";

// ---------------------------------------------------------------------- protocol
// The wire protocol, as zego_py/protocol.py declares it.  "?" marks optional fields.
// tests/test_browser.py checks this table against the Python one.
export const PROTOCOL = {
  version: 1,
  requests: {
    login: ["roomID", "token", "user", "config?"],
    logout: ["roomID"],
    renewToken: ["roomID", "token"],
    resume: ["roomID", "sessionKey", "resumeToken"],
    ping: [],
    sendBroadcastMessage: ["roomID", "message"],
    sendBarrageMessage: ["roomID", "message"],
    sendCustomCommand: ["roomID", "command", "toUserIDs"],
    setRoomExtraInfo: ["roomID", "key", "value"],
    publish: ["roomID", "streamID", "extraInfo?", "sdp"],
    unpublish: ["streamID"],
    setStreamExtraInfo: ["streamID", "extraInfo"],
    setMicStatus: ["streamID", "status"],
    play: ["streamID", "sdp"],
    stopPlay: ["streamID"],
  },
  pushes: {
    userUpdate: ["roomID", "updateType", "userList"],
    streamUpdate: ["roomID", "updateType", "streamList", "extendedData"],
    onlineUserCount: ["roomID", "count"],
    roomExtraInfoUpdate: ["roomID", "roomExtraInfoList"],
    streamExtraInfoUpdate: ["roomID", "streamList"],
    broadcastMessage: ["roomID", "messageList"],
    barrageMessage: ["roomID", "messageList"],
    customCommand: ["roomID", "fromUser", "command"],
    micStatus: ["streamID", "status"],
    playEnded: ["streamID", "code"],
    kickout: ["roomID", "code", "message"],
    error: ["code", "message"],
  },
};

// ---------------------------------------------------------------------- errors
export const ErrorCode = Object.freeze({
  NOT_LOGIN: 1000002,
  STREAM_ID_TOO_LONG: 1000014,
  STREAM_ID_EMPTY: 1000015,
  STREAM_ID_ILLEGAL: 1000016,
  NETWORK_BROKEN: 1000017,
  LOGIN_ROOMS_EXCEEDED: 1002001,
  USER_ID_EMPTY: 1002005,
  USER_ID_ILLEGAL: 1002006,
  USER_ID_TOO_LONG: 1002007,
  USER_NAME_EMPTY: 1002008,
  USER_NAME_TOO_LONG: 1002010,
  ROOM_ID_EMPTY: 1002011,
  ROOM_ID_ILLEGAL: 1002012,
  ROOM_ID_TOO_LONG: 1002013,
  ROOM_EXTRA_KEY_EMPTY: 1002014,
  ROOM_EXTRA_KEY_TOO_LONG: 1002015,
  ROOM_EXTRA_VALUE_TOO_LONG: 1002016,
  MULTI_ROOM_USER_MISMATCH: 1002018,
  RECONNECT_FAILED: 1002053,
  USER_REPEATED_LOGIN: 1002056,
  STREAM_EXTRA_INFO_NULL: 1003050,
  STREAM_EXTRA_INFO_TOO_LONG: 1003051,
  PUBLISH_INNER_ERROR: 1003099,
  PLAY_STREAM_NOT_FOUND: 1004002,
  MESSAGE_EMPTY: 1009001,
  MESSAGE_TOO_LONG: 1009002,
  INPUT_PARAM_ERROR: 1100001,
  NETWORK_TIMEOUT: 1100002,
  SOCKET_CLOSED: 1100003,
  REPEATED_PULL_STREAM: 1103049,
  DEVICE_UNAVAILABLE: 1103061,
  DEVICE_PERMISSION_DENIED: 1103064,
  DEVICE_BUSY: 1103065,
  DEVICE_CONSTRAINTS: 1103066,
});

const MESSAGES = {
  1000002: "not login",
  1000014: "stream ID too long",
  1000015: "streamID is empty",
  1000016: "stream ID contains illegal characters",
  1000017: "network is broken",
  1002001: "login rooms exceeds the upper limit",
  1002005: "userID is empty",
  1002006: "userID contains illegal characters",
  1002007: "userID is too long",
  1002008: "userName is empty",
  1002010: "userName is too long",
  1002011: "roomID is empty",
  1002012: "roomID contains illegal characters",
  1002013: "roomID is too long",
  1002014: "room extra info key is empty",
  1002015: "room extra info key is too long",
  1002016: "room extra info value is too long",
  1002018: "different userID in multi-room mode",
  1002053: "network broken and login failed",
  1002056: "user repeatedly login",
  1003050: "stream extra info is null",
  1003051: "stream extra info is too long",
  1003099: "publish inner error",
  1004002: "play stream not found",
  1009001: "message is empty",
  1009002: "message content too long",
  1100001: "input param error",
  1100002: "network timeout",
  1100003: "socket close",
  1103049: "repeated pull same stream",
  1103061: "audio capture device unavailable",
  1103064: "device permission denied",
  1103065: "device is busy",
  1103066: "bad stream constraints or device ID",
};

export class ZegoError extends Error {
  constructor(code, msg) {
    const text = msg || MESSAGES[code] || `error ${code}`;
    super(text);
    this.name = "ZegoError";
    this.code = code; // room APIs: {code, msg}
    this.msg = text;
    this.errorCode = code; // stream APIs: {errorCode, extendedData}
    this.extendedData = text;
  }
}

// ---------------------------------------------------------------------- validation
// ZEGO's rules, as zego_py/validation.py has them.
const ID_CHARS = /^[0-9a-zA-Z#!$%&()`'+,\-.;<=>@^_~\\*]+$/;
const STREAM_ID_CHARS = /^[A-Za-z0-9_-]+$/;
const utf8Length = (s) => new TextEncoder().encode(s).length;

function checkId(value, empty, illegal, tooLong, limit) {
  if (typeof value !== "string" || value === "") throw new ZegoError(empty);
  if (utf8Length(value) > limit) throw new ZegoError(tooLong);
  if (!ID_CHARS.test(value)) throw new ZegoError(illegal);
  return value;
}

function checkRoomID(roomID) {
  const E = ErrorCode;
  return checkId(roomID, E.ROOM_ID_EMPTY, E.ROOM_ID_ILLEGAL, E.ROOM_ID_TOO_LONG, 128);
}

function checkUser(user) {
  const E = ErrorCode;
  if (user === null || typeof user !== "object") {
    throw new ZegoError(E.INPUT_PARAM_ERROR, "user must be an object");
  }
  const userID = checkId(user.userID, E.USER_ID_EMPTY, E.USER_ID_ILLEGAL,
    E.USER_ID_TOO_LONG, 64);
  const name = user.userName ?? userID;
  if (typeof name !== "string") throw new ZegoError(E.USER_NAME_EMPTY, "userName must be a string");
  if (utf8Length(name) > 256) throw new ZegoError(E.USER_NAME_TOO_LONG);
  return { userID, userName: name };
}

function checkStreamID(streamID) {
  if (typeof streamID !== "string" || streamID === "") throw new ZegoError(ErrorCode.STREAM_ID_EMPTY);
  if (streamID.length > 256) throw new ZegoError(ErrorCode.STREAM_ID_TOO_LONG);
  if (!STREAM_ID_CHARS.test(streamID)) throw new ZegoError(ErrorCode.STREAM_ID_ILLEGAL);
  return streamID;
}

function checkMessage(message) {
  if (typeof message !== "string" || message === "") throw new ZegoError(ErrorCode.MESSAGE_EMPTY);
  if (utf8Length(message) > 1024) throw new ZegoError(ErrorCode.MESSAGE_TOO_LONG);
  return message;
}

function checkStreamExtraInfo(extraInfo) {
  if (typeof extraInfo !== "string") throw new ZegoError(ErrorCode.STREAM_EXTRA_INFO_NULL);
  if (utf8Length(extraInfo) > 1024) throw new ZegoError(ErrorCode.STREAM_EXTRA_INFO_TOO_LONG);
  return extraInfo;
}

// ---------------------------------------------------------------------- signaling
const REQUEST_TIMEOUT_MS = 10000;
const CONNECT_TIMEOUT_MS = 10000;
const GATHER_TIMEOUT_MS = 5000;
const MEDIA_CONNECT_TIMEOUT_MS = 10000;
const TOKEN_WARNING_MS = 30000;
// After a dropped socket: retry delays (zego_py/backoff.py's schedule, without jitter)
// within the reconnectTimeout budget (options.reconnectTimeout, seconds).
const RETRY_DELAYS_MS = [0, 300, 1200, 2700, 4800];
const RETRY_STEADY_MS = 7000;
const RECONNECT_TIMEOUT_S = 60;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function hasFields(fields, obj) {
  return fields.every((f) => f.endsWith("?") || (obj[f] !== undefined && obj[f] !== null));
}

/** One room's WebSocket: requests are promises keyed by id, pushes go to onPush. */
class SignalingLink {
  constructor(url, onPush, onClosed) {
    this.url = url;
    this.onPush = onPush;
    this.onClosed = onClosed;
    this.ws = null;
    this.nextID = 1;
    this.pending = new Map();
    this.closing = false;
    this.open = false;
  }

  connect(timeoutMs = CONNECT_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try { ws.close(); } catch (_) { /* already closed */ }
        reject(new ZegoError(ErrorCode.NETWORK_BROKEN,
          `cannot reach the room server at ${this.url}: ${why}`));
      };
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (exc) {
        reject(new ZegoError(ErrorCode.NETWORK_BROKEN, String(exc && exc.message || exc)));
        return;
      }
      const timer = setTimeout(() => fail("timed out"), timeoutMs);
      this.ws = ws;
      ws.onopen = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.open = true;
        resolve();
      };
      ws.onerror = () => fail("socket error");
      ws.onmessage = (ev) => this._onFrame(ev.data);
      ws.onclose = () => {
        fail("socket closed");
        this._onClose();
      };
    });
  }

  get connected() {
    return this.open && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  request(type, body = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
    const fields = PROTOCOL.requests[type];
    if (fields === undefined) throw new Error(`unknown request type ${type}`);
    if (!hasFields(fields, body)) throw new Error(`${type}: missing fields`);
    if (!this.connected) return Promise.reject(new ZegoError(ErrorCode.SOCKET_CLOSED));
    const id = this.nextID++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ZegoError(ErrorCode.NETWORK_TIMEOUT, `${type}: no reply in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ v: PROTOCOL.version, id, type, ...body }));
    });
  }

  _onFrame(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (_) {
      console.warn("zego: ignoring a bad frame from the server");
      return;
    }
    if (msg === null || typeof msg !== "object") return;
    if (msg.type === "reply") {
      const waiter = this.pending.get(msg.id);
      if (waiter === undefined) return;
      this.pending.delete(msg.id);
      clearTimeout(waiter.timer);
      if (msg.code !== 0) waiter.reject(new ZegoError(msg.code, msg.message || undefined));
      else waiter.resolve(msg.data || {});
      return;
    }
    const fields = PROTOCOL.pushes[msg.type];
    if (fields === undefined || !hasFields(fields, msg)) {
      console.warn("zego: ignoring an unknown push", msg.type);
      return;
    }
    try {
      this.onPush(msg);
    } catch (exc) {
      console.error("zego: handling push", msg.type, "failed", exc);
    }
  }

  _onClose() {
    const wasOpen = this.open;
    this.open = false;
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new ZegoError(ErrorCode.SOCKET_CLOSED));
    }
    this.pending.clear();
    if (wasOpen && !this.closing) this.onClosed();
  }

  close() {
    this.closing = true;
    if (this.ws !== null && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}

// ---------------------------------------------------------------------- state tables
// zego_py/states.py: (state, trigger) -> next state (and the roomStateChanged reason).
const ROOM = {
  "DISCONNECTED/login": ["CONNECTING", "LOGINING"],
  "CONNECTING/login_ok": ["CONNECTED", "LOGINED"],
  "CONNECTING/login_failed": ["DISCONNECTED", "LOGIN_FAILED"],
  "CONNECTING/logout": ["DISCONNECTED", "LOGOUT"],
  "CONNECTED/logout": ["DISCONNECTED", "LOGOUT"],
  "CONNECTED/kicked": ["DISCONNECTED", "KICKOUT"],
  "CONNECTED/connection_lost": ["CONNECTING", "RECONNECTING"],
  "CONNECTING/reconnected": ["CONNECTED", "RECONNECTED"],
  "CONNECTING/reconnect_failed": ["DISCONNECTED", "RECONNECT_FAILED"],
  "CONNECTING/kicked": ["DISCONNECTED", "KICKOUT"],
};
const PUBLISHER = {
  "NO_PUBLISH/start": "PUBLISH_REQUESTING",
  "PUBLISH_REQUESTING/connected": "PUBLISHING",
  "PUBLISH_REQUESTING/failed": "NO_PUBLISH",
  "PUBLISH_REQUESTING/stop": "NO_PUBLISH",
  "PUBLISHING/stop": "NO_PUBLISH",
  "PUBLISHING/failed": "NO_PUBLISH",
};
const PLAYER = {
  "NO_PLAY/start": "PLAY_REQUESTING",
  "PLAY_REQUESTING/connected": "PLAYING",
  "PLAY_REQUESTING/failed": "NO_PLAY",
  "PLAY_REQUESTING/stop": "NO_PLAY",
  "PLAYING/stop": "NO_PLAY",
  "PLAYING/failed": "NO_PLAY",
  "PLAYING/ended": "NO_PLAY",
  "PLAY_REQUESTING/ended": "NO_PLAY",
};

function step(table, state, trigger) {
  const next = table[`${state}/${trigger}`];
  if (next === undefined) throw new Error(`zego: no transition ${state} --${trigger}-->`);
  return next;
}

export const EVENT_NAMES = new Set([
  "roomStateUpdate", "roomStateChanged", "roomUserUpdate", "roomStreamUpdate",
  "roomOnlineUserCountUpdate", "roomExtraInfoUpdate", "streamExtraInfoUpdate",
  "tokenWillExpire", "IMRecvBroadcastMessage", "IMRecvBarrageMessage", "IMRecvCustomCommand",
  "publisherStateUpdate", "playerStateUpdate", "publishQualityUpdate", "playQualityUpdate",
  "soundLevelUpdate", "capturedSoundLevelUpdate", "remoteMicStatusUpdate",
]);

// ---------------------------------------------------------------------- WebRTC helpers
function preferOpus(pc) {
  const caps = RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("audio");
  if (!caps) return;
  const opus = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "audio/opus");
  for (const transceiver of pc.getTransceivers()) {
    try {
      transceiver.setCodecPreferences(opus);
    } catch (exc) {
      console.warn("zego: setCodecPreferences(opus) failed", exc);
    }
  }
}

/** Resolve once ICE gathering is complete: the server takes a whole (non-trickle) offer. */
function gatheringComplete(pc, timeoutMs = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    const timer = setTimeout(() => {
      console.warn("zego: ICE gathering still running; sending the candidates found so far");
      done();
    }, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

function mediaConnected(pc, failureCode, timeoutMs = MEDIA_CONNECT_TIMEOUT_MS) {
  if (pc.connectionState === "connected") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const finish = (error) => {
      clearTimeout(timer);
      pc.removeEventListener("connectionstatechange", check);
      if (error) reject(error);
      else resolve();
    };
    const check = () => {
      if (pc.connectionState === "connected") finish(null);
      else if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        finish(new ZegoError(failureCode, "media connection failed (ICE/DTLS)"));
      }
    };
    const timer = setTimeout(
      () => finish(new ZegoError(failureCode, "media connection timed out")), timeoutMs);
    pc.addEventListener("connectionstatechange", check);
  });
}

function deviceError(exc) {
  const name = exc && exc.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return new ZegoError(ErrorCode.DEVICE_PERMISSION_DENIED, String(exc.message || name));
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return new ZegoError(ErrorCode.DEVICE_BUSY, String(exc.message || name));
  }
  if (name === "OverconstrainedError" || name === "TypeError") {
    return new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, String(exc.message || name));
  }
  return new ZegoError(ErrorCode.DEVICE_UNAVAILABLE, String(exc && exc.message || exc));
}

const LEVEL_FLOOR_DBFS = -60;

/** ZEGO's soundLevel 0..100: RMS from -60 dBFS (0) to 0 dBFS (100), as zego_py/media/pcm.py. */
function level0to100(samples) {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  const rms = Math.sqrt(sum / samples.length);
  if (rms === 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(100, Math.max(0, ((db - LEVEL_FLOOR_DBFS) / -LEVEL_FLOOR_DBFS) * 100));
}

const round1 = (x) => Math.round(x * 10) / 10;

// ---------------------------------------------------------------------- the engine
export class ZegoExpressEngine {
  /**
   * @param {number} appID  the app ID (a number, as ZEGO's)
   * @param {string|string[]} server  the room server's ws:// or wss:// URL (first of a list)
   * @param {number} [ENV]  ignored (ZEGO's environment switch)
   * @param {object} [options]  {iceServers}: default none, or what the server hands out
   */
  constructor(appID, server, ENV = 0, options = {}) {
    if (typeof appID !== "number" || !Number.isInteger(appID)) {
      throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "appID must be a number");
    }
    const url = Array.isArray(server) ? server[0] : server;
    if (typeof url !== "string" || !/^wss?:\/\//.test(url)) {
      throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "server must be a ws:// or wss:// URL");
    }
    this.appID = appID;
    this.server = url;
    this._env = ENV;
    this._options = { ...(options || {}) };
    this._handlers = new Map();
    this._rooms = new Map();
    this._multiRoom = false;
    this._multiRoomLocked = false;
    this._publishing = new Map();
    this._playing = new Map();
    this._localStreams = new Map(); // MediaStream -> {kind, audioMuted}
    this._serverIce = null;
    this._micMuted = false;
    this._audioContext = null;
    this._levelTimer = null;
    this._qualityTimer = null;
    this._destroyed = false;
  }

  // ------------------------------------------------------------------ global
  getVersion() { return VERSION; }

  setLogConfig(config = {}) {
    const levels = ["debug", "info", "warn", "error", "report", "disable"];
    return levels.includes(config.logLevel ?? "info");
  }

  setDebugVerbose(_enable) {}

  /** Add a handler; several per event run in registration order. */
  on(event, callback) {
    if (!EVENT_NAMES.has(event)) {
      console.warn(`zego: on(${event}): this engine never emits it`);
      return false;
    }
    if (typeof callback !== "function") return false;
    if (!this._handlers.has(event)) this._handlers.set(event, []);
    this._handlers.get(event).push(callback);
    return true;
  }

  /** Remove one handler, or all of the event's handlers when callback is omitted. */
  off(event, callback) {
    const list = this._handlers.get(event);
    if (callback === undefined) {
      this._handlers.delete(event);
      return true;
    }
    if (!list) return false;
    const i = list.indexOf(callback);
    if (i < 0) return false;
    list.splice(i, 1);
    return true;
  }

  _emit(event, ...args) {
    for (const callback of [...(this._handlers.get(event) || [])]) {
      try {
        const result = callback(...args);
        if (result && typeof result.catch === "function") {
          result.catch((exc) => console.error(`zego: ${event} handler failed`, exc));
        }
      } catch (exc) {
        console.error(`zego: ${event} handler failed`, exc);
      }
    }
  }

  enableMultiRoom(enable) {
    if (this._multiRoomLocked) return false;
    this._multiRoom = Boolean(enable);
    return true;
  }

  destroyEngine() {
    if (this._destroyed) return;
    this._destroyed = true;
    for (const roomID of [...this._rooms.keys()]) this._logout(roomID);
    for (const stream of [...this._localStreams.keys()]) this.destroyStream(stream);
    this.setSoundLevelDelegate(false);
    if (this._audioContext) this._audioContext.close().catch(() => {});
    this._audioContext = null;
  }

  async checkSystemRequirements() {
    const webRTC = typeof RTCPeerConnection === "function";
    const microphone = Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
    return {
      webRTC, customCapture: true, camera: false, microphone, screenSharing: false,
      videoCodec: { H264: false, VP8: false, H265: false }, errInfo: {},
      result: webRTC && microphone,
    };
  }

  async enumDevices() {
    const devices = navigator.mediaDevices ? await navigator.mediaDevices.enumerateDevices() : [];
    const pick = (kind) => devices.filter((d) => d.kind === kind)
      .map((d) => ({ deviceName: d.label, deviceID: d.deviceId }));
    return { microphones: pick("audioinput"), speakers: pick("audiooutput"), cameras: [] };
  }

  async getMicrophones() { return (await this.enumDevices()).microphones; }
  async getSpeakers() { return (await this.enumDevices()).speakers; }
  async getCameras() { return []; }

  // ------------------------------------------------------------------ rooms
  _room(roomID) {
    const room = roomID === undefined || roomID === null
      ? this._rooms.values().next().value
      : this._rooms.get(roomID);
    if (!room || room.state === "DISCONNECTED") throw new ZegoError(ErrorCode.NOT_LOGIN);
    return room;
  }

  _transition(room, trigger, errorCode = 0, extendedData = "") {
    const [state, reason] = step(ROOM, room.state, trigger);
    const changed = state !== room.state;
    room.state = state;
    if (changed) this._emit("roomStateUpdate", room.roomID, state, errorCode, extendedData);
    this._emit("roomStateChanged", room.roomID, reason, errorCode, extendedData);
  }

  _checkLoginArgs(roomID, token, user) {
    if (!this._multiRoom && this._rooms.size > 0) throw new ZegoError(ErrorCode.LOGIN_ROOMS_EXCEEDED);
    if (this._rooms.has(roomID)) throw new ZegoError(ErrorCode.USER_REPEATED_LOGIN);
    if (this._rooms.size > 0 && user && typeof user === "object") {
      const current = this._rooms.values().next().value.user.userID;
      if (user.userID !== current) throw new ZegoError(ErrorCode.MULTI_ROOM_USER_MISMATCH);
    }
    checkRoomID(roomID);
    if (typeof token !== "string" || token === "") {
      throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "token must be a non-empty string");
    }
    return checkUser(user);
  }

  /** Join a room: resolves true, or rejects {code, msg}.  Register handlers first. */
  async loginRoom(roomID, token, user, config = {}) {
    if (this._destroyed) throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "the engine was destroyed");
    config = { ...(config || {}) };
    let checkedUser;
    const maxMemberCount = config.maxMemberCount ?? 0;
    try {
      checkedUser = this._checkLoginArgs(roomID, token, user);
      if (!Number.isInteger(maxMemberCount)) {
        throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "maxMemberCount must be an integer");
      }
    } catch (exc) {
      if (exc.code !== ErrorCode.LOGIN_ROOMS_EXCEEDED) {
        this._emit("roomStateChanged", roomID, "LOGINING", 0, "");
        this._emit("roomStateChanged", roomID, "LOGIN_FAILED", exc.code, exc.msg);
      }
      throw exc;
    }
    this._multiRoomLocked = true;
    const userUpdate = Boolean(config.userUpdate);
    const room = {
      roomID, user: checkedUser, userUpdate, state: "DISCONNECTED", streams: new Map(),
      tokenTimer: null, pingTimer: null, link: null, sessionKey: 0, resumeToken: "",
    };
    room.link = this._newLink(room);
    this._rooms.set(roomID, room);
    this._transition(room, "login");
    let data;
    try {
      await room.link.connect();
      data = await room.link.request("login", {
        roomID, token, user: checkedUser, config: { userUpdate, maxMemberCount },
      });
    } catch (exc) {
      if (this._rooms.get(roomID) === room) this._rooms.delete(roomID);
      room.link.close();
      const error = exc instanceof ZegoError ? exc : new ZegoError(ErrorCode.NETWORK_BROKEN, String(exc));
      if (room.state !== "DISCONNECTED") this._transition(room, "login_failed", error.code, error.msg);
      throw error;
    }
    room.sessionKey = data.sessionKey ?? 0;
    room.resumeToken = data.resumeToken ?? "";
    this._transition(room, "login_ok");
    this._scheduleTokenWarning(room, Number(data.tokenExpire || 0));
    this._startPing(room, data.pingInterval, data.pingTimeout);
    if (Array.isArray(data.iceServers)) this._serverIce = data.iceServers;
    const users = data.users || [];
    if (userUpdate && users.length) this._emit("roomUserUpdate", roomID, "ADD", users);
    const streams = data.streams || [];
    for (const s of streams) room.streams.set(s.streamID, s);
    if (streams.length) this._emit("roomStreamUpdate", roomID, "ADD", streams, "");
    const extra = data.roomExtraInfoList || [];
    if (extra.length) this._emit("roomExtraInfoUpdate", roomID, extra);
    return true;
  }

  /** Leave a room (the only/first one when omitted); stops its publishing and playing.
   *  ZEGO returns nothing; the returned promise says when the server heard it. */
  logoutRoom(roomID) {
    const target = roomID ?? this._rooms.keys().next().value;
    return this._logout(target);
  }

  async _logout(roomID) {
    const room = this._rooms.get(roomID);
    if (!room) return;
    this._rooms.delete(roomID);
    this._cancelTimers(room);
    await this._onRoomLeaving(room);
    if (room.link.connected) {
      try {
        await room.link.request("logout", { roomID: room.roomID }, 3000);
      } catch (exc) {
        console.info(`zego: logout of ${room.roomID}:`, exc.msg || exc);
      }
    }
    room.link.close();
    if (room.state !== "DISCONNECTED") this._transition(room, "logout");
  }

  renewToken(token, roomID) {
    let room;
    try {
      room = this._room(roomID);
    } catch (_) {
      return false;
    }
    if (typeof token !== "string" || !token) return false;
    room.link.request("renewToken", { roomID: room.roomID, token })
      .then((data) => this._scheduleTokenWarning(room, Number(data.tokenExpire || 0)))
      .catch((exc) => console.warn(`zego: renewToken for ${room.roomID} failed`, exc.msg || exc));
    return true;
  }

  _scheduleTokenWarning(room, expire) {
    if (room.tokenTimer !== null) clearTimeout(room.tokenTimer);
    room.tokenTimer = null;
    if (!expire) return;
    const delay = Math.max(0, expire * 1000 - Date.now() - TOKEN_WARNING_MS);
    room.tokenTimer = setTimeout(() => {
      room.tokenTimer = null;
      if (room.state !== "DISCONNECTED") this._emit("tokenWillExpire", room.roomID);
    }, Math.min(delay, 2 ** 31 - 1));
  }

  _cancelTimers(room) {
    if (room.tokenTimer !== null) clearTimeout(room.tokenTimer);
    room.tokenTimer = null;
    if (room.pingTimer !== null) clearInterval(room.pingTimer);
    room.pingTimer = null;
  }

  _newLink(room) {
    return new SignalingLink(this.server, (push) => this._onPush(room, push),
      () => this._onLinkClosed(room));
  }

  /** Browsers cannot send WebSocket pings: a "ping" request every pingInterval seconds
   *  finds a dead server (no reply within pingTimeout) and drops the socket to recover. */
  _startPing(room, interval = 5, timeout = 15) {
    if (room.pingTimer !== null) clearInterval(room.pingTimer);
    room.pingInterval = interval;
    room.pingTimeout = timeout;
    const link = room.link;
    room.pingTimer = setInterval(() => {
      if (room.link !== link || !link.connected) return;
      link.request("ping", {}, timeout * 1000).catch((exc) => {
        if (exc.code === ErrorCode.NETWORK_TIMEOUT && room.link === link) {
          console.warn(`zego: room ${room.roomID}: no pong in ${timeout} s, reconnecting`);
          link.ws.close();
        }
      });
    }, interval * 1000);
  }

  // ------------------------------------------------------------------ pushes
  _onPush(room, p) {
    const rid = room.roomID;
    switch (p.type) {
      case "userUpdate":
        if (room.userUpdate) this._emit("roomUserUpdate", rid, p.updateType, p.userList);
        break;
      case "streamUpdate":
        for (const s of p.streamList) {
          if (p.updateType === "ADD") room.streams.set(s.streamID, s);
          else room.streams.delete(s.streamID);
        }
        this._emit("roomStreamUpdate", rid, p.updateType, p.streamList, p.extendedData);
        break;
      case "onlineUserCount":
        this._emit("roomOnlineUserCountUpdate", rid, p.count);
        break;
      case "roomExtraInfoUpdate":
        this._emit("roomExtraInfoUpdate", rid, p.roomExtraInfoList);
        break;
      case "streamExtraInfoUpdate":
        for (const info of p.streamList) {
          const s = room.streams.get(info.streamID);
          if (s) s.extraInfo = info.extraInfo ?? "";
        }
        this._emit("streamExtraInfoUpdate", rid, p.streamList);
        break;
      case "broadcastMessage":
        this._emit("IMRecvBroadcastMessage", rid, p.messageList);
        break;
      case "barrageMessage":
        this._emit("IMRecvBarrageMessage", rid, p.messageList);
        break;
      case "customCommand":
        this._emit("IMRecvCustomCommand", rid, p.fromUser, p.command);
        break;
      case "micStatus":
        this._emit("remoteMicStatusUpdate", p.streamID, p.status);
        break;
      case "playEnded":
        this._onPlayEnded(p.streamID, p.code);
        break;
      case "kickout":
        this._kicked(room, p.code, p.message);
        break;
      case "error":
        console.warn(`zego: server error ${p.code}: ${p.message}`);
        break;
      default:
        break;
    }
  }

  async _kicked(room, code, message) {
    if (this._rooms.get(room.roomID) !== room) return;
    this._rooms.delete(room.roomID);
    this._cancelTimers(room);
    console.warn(`zego: kicked out of room ${room.roomID}: [${code}] ${message}`);
    await this._onRoomLeaving(room);
    this._transition(room, "kicked", code, message);
    room.link.close();
  }

  /** The socket dropped without a logout: resume the session the server holds for us
   *  (its grace period; media keeps flowing meanwhile).  If the server has forgotten the
   *  session, the room is lost: DISCONNECTED with 1002053 (a page reloads to rejoin). */
  _onLinkClosed(room) {
    if (this._rooms.get(room.roomID) !== room || room.state !== "CONNECTED") return;
    if (room.pingTimer !== null) clearInterval(room.pingTimer);
    room.pingTimer = null;
    this._transition(room, "connection_lost", ErrorCode.NETWORK_BROKEN, "signaling socket closed");
    this._recover(room);
  }

  async _recover(room) {
    const budgetMs = (this._options.reconnectTimeout ?? RECONNECT_TIMEOUT_S) * 1000;
    let spent = 0;
    let lastError = null;
    for (let attempt = 0; ; attempt++) {
      const delay = attempt < RETRY_DELAYS_MS.length ? RETRY_DELAYS_MS[attempt] : RETRY_STEADY_MS;
      if (attempt > 0 && spent + delay >= budgetMs) break;
      spent += delay;
      await sleep(delay);
      if (this._rooms.get(room.roomID) !== room) return; // logged out meanwhile
      const link = this._newLink(room);
      try {
        await link.connect(5000);
        await link.request("resume", {
          roomID: room.roomID, sessionKey: room.sessionKey, resumeToken: room.resumeToken,
        }, 5000);
      } catch (exc) {
        lastError = exc;
        link.close();
        if (exc.code === ErrorCode.NOT_LOGIN) break; // the server no longer has the session
        continue;
      }
      if (this._rooms.get(room.roomID) !== room) {
        link.close();
        return;
      }
      room.link = link;
      this._transition(room, "reconnected");
      this._startPing(room, room.pingInterval, room.pingTimeout);
      return;
    }
    if (this._rooms.get(room.roomID) !== room) return;
    this._rooms.delete(room.roomID);
    this._cancelTimers(room);
    const detail = lastError ? `reconnect failed: ${lastError.msg || lastError}` : "reconnect failed";
    this._transition(room, "reconnect_failed", ErrorCode.RECONNECT_FAILED, detail);
    await this._onRoomLeaving(room);
  }

  // ------------------------------------------------------------------ messaging
  async _im(type, roomID, body) {
    const room = this._room(roomID);
    try {
      const data = await room.link.request(type, { roomID: room.roomID, ...body });
      return { errorCode: 0, extendedData: "", ...data };
    } catch (exc) {
      if (!(exc instanceof ZegoError)) throw exc;
      return { errorCode: exc.code, extendedData: exc.msg };
    }
  }

  /** Reliable text to everyone else in the room; resolves {errorCode, extendedData}. */
  async sendBroadcastMessage(roomID, message) {
    checkMessage(message);
    return this._im("sendBroadcastMessage", roomID, { message });
  }

  async sendBarrageMessage(roomID, message) {
    checkMessage(message);
    return this._im("sendBarrageMessage", roomID, { message });
  }

  async sendCustomCommand(roomID, command, toUserIDList) {
    checkMessage(command);
    if (!Array.isArray(toUserIDList)) {
      throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "toUserIDList must be an array");
    }
    return this._im("sendCustomCommand", roomID, { command, toUserIDs: toUserIDList });
  }

  async setRoomExtraInfo(roomID, key, value) {
    if (typeof key !== "string" || key === "") throw new ZegoError(ErrorCode.ROOM_EXTRA_KEY_EMPTY);
    if (utf8Length(key) > 10) throw new ZegoError(ErrorCode.ROOM_EXTRA_KEY_TOO_LONG);
    if (typeof value !== "string") throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "value must be a string");
    if (utf8Length(value) > 100) throw new ZegoError(ErrorCode.ROOM_EXTRA_VALUE_TOO_LONG);
    return this._im("setRoomExtraInfo", roomID, { key, value });
  }

  async setStreamExtraInfo(streamID, extraInfo) {
    checkStreamID(streamID);
    checkStreamExtraInfo(extraInfo);
    const pub = this._publishing.get(streamID);
    if (!pub || pub.state !== "PUBLISHING") throw new ZegoError(ErrorCode.NOT_LOGIN, `not publishing ${streamID}`);
    try {
      await pub.room.link.request("setStreamExtraInfo", { streamID, extraInfo });
      return { errorCode: 0, extendedData: "" };
    } catch (exc) {
      return { errorCode: exc.code, extendedData: exc.msg };
    }
  }

  // ------------------------------------------------------------------ local streams
  /** A local stream (a MediaStream): {camera: {audio: true, video: false}} is the mic,
   *  {custom: {source: MediaStream | HTMLMediaElement}} anything else. */
  async createStream(source) {
    source = source ?? { camera: { audio: true, video: false } };
    const kinds = source && typeof source === "object" ? Object.keys(source) : [];
    if (kinds.length !== 1) {
      throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "createStream takes exactly one of camera, screen or custom");
    }
    const kind = kinds[0];
    const cfg = source[kind] && typeof source[kind] === "object" ? source[kind] : {};
    let stream;
    if (kind === "camera") {
      if (cfg.video) {
        throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, 'the room server relays audio only: pass {video: false}');
      }
      if (cfg.audio === false) throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "a stream needs audio");
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw new ZegoError(ErrorCode.DEVICE_UNAVAILABLE,
          "getUserMedia is unavailable (the page must be a secure context: https or localhost)");
      }
      const audio = {
        echoCancellation: cfg.AEC ?? true,
        autoGainControl: cfg.AGC ?? true,
        noiseSuppression: cfg.ANS ?? true,
        channelCount: cfg.channelCount ?? 1,
      };
      if (cfg.audioInput && cfg.audioInput !== "default") audio.deviceId = { exact: cfg.audioInput };
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio, video: false });
      } catch (exc) {
        throw deviceError(exc);
      }
      this._localStreams.set(stream, { kind: "microphone", audioMuted: false });
      this._applyMute(stream);
    } else if (kind === "custom") {
      const src = cfg.source;
      if (typeof MediaStream !== "undefined" && src instanceof MediaStream) stream = src;
      else if (src && typeof src.captureStream === "function") stream = src.captureStream();
      else throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "custom source must be a MediaStream or a media element");
      if (stream.getAudioTracks().length === 0) throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "a stream needs audio");
      this._localStreams.set(stream, { kind: "custom", audioMuted: false });
    } else if (kind === "screen") {
      throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "screen sharing is not supported");
    } else {
      throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, `unknown stream source ${kind}`);
    }
    return stream;
  }

  /** Stop the stream's devices (stop publishing it first). */
  destroyStream(localStream) {
    if (!this._localStreams.has(localStream)) return;
    this._localStreams.delete(localStream);
    this._dropMeter(localStream);
    for (const track of localStream.getTracks()) track.stop();
  }

  _applyMute(stream) {
    const info = this._localStreams.get(stream);
    if (!info) return;
    const muted = info.audioMuted || (info.kind === "microphone" && this._micMuted);
    for (const track of stream.getAudioTracks()) track.enabled = !muted;
  }

  _streamMuted(stream) {
    const info = this._localStreams.get(stream);
    return Boolean(info && (info.audioMuted || (info.kind === "microphone" && this._micMuted)));
  }

  /** Send silence instead of the stream's audio; players get remoteMicStatusUpdate MUTE. */
  mutePublishStreamAudio(localStream, mute) {
    const info = this._localStreams.get(localStream);
    if (!info) return false;
    info.audioMuted = Boolean(mute);
    this._applyMute(localStream);
    this._micStatusChanged();
    return true;
  }

  muteMicrophone(mute) {
    this._micMuted = Boolean(mute);
    for (const stream of this._localStreams.keys()) this._applyMute(stream);
    this._micStatusChanged();
    return true;
  }

  isMicrophoneMuted() { return this._micMuted; }

  _micStatusChanged() {
    for (const pub of this._publishing.values()) this._sendMicStatus(pub);
  }

  async _sendMicStatus(pub) {
    const status = this._streamMuted(pub.stream) ? "MUTE" : "OPEN";
    if (status === pub.micStatusSent || pub.state !== "PUBLISHING") return;
    pub.micStatusSent = status;
    try {
      await pub.room.link.request("setMicStatus", { streamID: pub.streamID, status });
    } catch (_) { /* the room is going away */ }
  }

  // ------------------------------------------------------------------ peers
  _iceServers() {
    if (this._options.iceServers !== undefined) return this._options.iceServers;
    return this._serverIce || [];
  }

  async _connectPeer(setup, exchange, failureCode) {
    const pc = new RTCPeerConnection({ iceServers: this._iceServers(), bundlePolicy: "max-bundle" });
    try {
      setup(pc);
      preferOpus(pc);
      await pc.setLocalDescription(await pc.createOffer());
      await gatheringComplete(pc);
      const reply = await exchange(pc.localDescription.sdp);
      await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
      await mediaConnected(pc, failureCode);
      return pc;
    } catch (exc) {
      pc.close();
      if (exc instanceof ZegoError) throw exc;
      throw new ZegoError(failureCode, String(exc && exc.message || exc));
    }
  }

  _roomFor(option) {
    const roomID = option && option.roomID;
    if (roomID === undefined && this._multiRoom && this._rooms.size > 1) {
      throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "roomID is required in multi-room mode");
    }
    return this._room(roomID);
  }

  // ------------------------------------------------------------------ publishing
  _publisherState(pub, trigger, code = 0, detail = "") {
    pub.state = step(PUBLISHER, pub.state, trigger);
    this._emit("publisherStateUpdate", {
      streamID: pub.streamID, state: pub.state, errorCode: code, extendedData: detail,
    });
  }

  /** true = the request went out (publisherStateUpdate tells the outcome); false = this
   *  engine already publishes streamID.  Throws {errorCode} for bad arguments. */
  startPublishingStream(streamID, localStream, publishOption = {}) {
    checkStreamID(streamID);
    const room = this._roomFor(publishOption || {});
    if (typeof MediaStream === "undefined" || !(localStream instanceof MediaStream)
      || localStream.getAudioTracks().length === 0) {
      throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "localStream must come from createStream");
    }
    if (this._publishing.has(streamID)) {
      console.warn(`zego: publisher already exist: ${streamID}`);
      return false;
    }
    const extraInfo = checkStreamExtraInfo((publishOption || {}).extraInfo ?? "");
    if (!this._localStreams.has(localStream)) {
      this._localStreams.set(localStream, { kind: "custom", audioMuted: false });
    }
    const pub = {
      streamID, room, stream: localStream, state: "NO_PUBLISH", pc: null, micStatusSent: "OPEN",
    };
    this._publishing.set(streamID, pub);
    this._publisherState(pub, "start");
    this._negotiatePublish(pub, extraInfo);
    return true;
  }

  async _negotiatePublish(pub, extraInfo) {
    const track = pub.stream.getAudioTracks()[0];
    let pc;
    try {
      pc = await this._connectPeer(
        (peer) => peer.addTransceiver(track, { direction: "sendonly", streams: [pub.stream] }),
        (sdp) => pub.room.link.request("publish", {
          roomID: pub.room.roomID, streamID: pub.streamID, extraInfo, sdp,
        }),
        ErrorCode.PUBLISH_INNER_ERROR);
    } catch (exc) {
      if (this._publishing.get(pub.streamID) === pub) {
        this._publishing.delete(pub.streamID);
        this._publisherState(pub, "failed", exc.code, exc.msg);
      }
      return;
    }
    pub.pc = pc;
    if (this._publishing.get(pub.streamID) !== pub) { // stopped while connecting
      pc.close();
      return;
    }
    this._publisherState(pub, "connected");
    this._ensureQualityLoop();
    if (this._streamMuted(pub.stream)) this._sendMicStatus(pub);
  }

  stopPublishingStream(streamID) {
    const pub = this._publishing.get(streamID);
    if (!pub) return false;
    this._publishing.delete(streamID);
    this._publisherState(pub, "stop");
    this._teardownPublish(pub, true);
    return true;
  }

  async _teardownPublish(pub, tellServer) {
    if (tellServer && pub.pc && pub.room.link.connected) {
      try {
        await pub.room.link.request("unpublish", { streamID: pub.streamID }, 3000);
      } catch (exc) {
        console.info(`zego: unpublish ${pub.streamID}:`, exc.msg || exc);
      }
    }
    if (pub.pc) pub.pc.close();
  }

  // ------------------------------------------------------------------ playing
  _playerState(play, trigger, code = 0, detail = "") {
    play.state = step(PLAYER, play.state, trigger);
    this._emit("playerStateUpdate", {
      streamID: play.streamID, state: play.state, errorCode: code, extendedData: detail,
    });
  }

  /** Play any stream by its ID; resolves a MediaStream once media flows.  Attach it to
   *  an <audio> element to hear it. */
  async startPlayingStream(streamID, playOption = {}) {
    checkStreamID(streamID);
    const room = this._roomFor(playOption || {});
    if (this._playing.has(streamID)) throw new ZegoError(ErrorCode.REPEATED_PULL_STREAM);
    const play = {
      streamID, room, state: "NO_PLAY", pc: null, stream: new MediaStream(), sink: null, muted: false,
    };
    this._playing.set(streamID, play);
    this._playerState(play, "start");
    let pc;
    try {
      pc = await this._connectPeer(
        (peer) => {
          const transceiver = peer.addTransceiver("audio", { direction: "recvonly" });
          play.stream.addTrack(transceiver.receiver.track);
        },
        (sdp) => room.link.request("play", { streamID, sdp }),
        ErrorCode.PLAY_STREAM_NOT_FOUND);
    } catch (exc) {
      if (this._playing.get(streamID) === play) {
        this._playing.delete(streamID);
        this._playerState(play, "failed", exc.code, exc.msg);
      }
      throw exc;
    }
    play.pc = pc;
    if (this._playing.get(streamID) !== play) {
      pc.close();
      throw new ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, "stopped while connecting");
    }
    // Chromium feeds a remote WebRTC track to WebAudio (sound levels) only while the
    // stream is also attached to a media element: keep a muted one.
    const sink = new Audio();
    sink.muted = true;
    sink.srcObject = play.stream;
    sink.play().catch(() => {});
    play.sink = sink;
    this._playerState(play, "connected");
    this._ensureQualityLoop();
    return play.stream;
  }

  stopPlayingStream(streamID) {
    const play = this._playing.get(streamID);
    if (!play) return;
    this._playing.delete(streamID);
    this._playerState(play, "stop");
    this._teardownPlay(play, true);
  }

  _onPlayEnded(streamID, code) {
    const play = this._playing.get(streamID);
    if (!play) return;
    this._playing.delete(streamID);
    this._playerState(play, "ended", 0, `stream ended (stream_delete_reason ${code})`);
    this._teardownPlay(play, false);
  }

  async _teardownPlay(play, tellServer) {
    this._dropMeter(play.stream);
    if (play.sink) play.sink.srcObject = null;
    if (tellServer && play.room.link.connected) {
      try {
        await play.room.link.request("stopPlay", { streamID: play.streamID }, 3000);
      } catch (_) { /* the room is going away */ }
    }
    if (play.pc) play.pc.close();
    for (const track of play.stream.getTracks()) track.stop();
  }

  async mutePlayStreamAudio(streamID, mute) {
    const play = this._playing.get(streamID);
    if (!play) return false;
    play.muted = Boolean(mute);
    for (const track of play.stream.getAudioTracks()) track.enabled = !play.muted;
    return true;
  }

  async muteAllPlayAudioStreams(mute) {
    const results = await Promise.all([...this._playing.keys()].map((s) => this.mutePlayStreamAudio(s, mute)));
    return results.every(Boolean);
  }

  async _onRoomLeaving(room) {
    const pubs = [...this._publishing.values()].filter((p) => p.room === room);
    const plays = [...this._playing.values()].filter((p) => p.room === room);
    for (const pub of pubs) {
      this._publishing.delete(pub.streamID);
      this._publisherState(pub, "stop");
    }
    for (const play of plays) {
      this._playing.delete(play.streamID);
      this._playerState(play, "stop");
    }
    await Promise.all([
      ...pubs.map((p) => this._teardownPublish(p, false)),
      ...plays.map((p) => this._teardownPlay(p, false)),
    ]);
  }

  /** zego_py extension (not in ZEGO's SDK): the RTCStatsReport of a published or played
   *  stream's peer connection, or null. */
  async getStats(streamID) {
    const entry = this._playing.get(streamID) || this._publishing.get(streamID);
    return entry && entry.pc ? entry.pc.getStats() : null;
  }

  // ------------------------------------------------------------------ sound levels
  _context() {
    if (this._audioContext === null) this._audioContext = new AudioContext();
    if (this._audioContext.state === "suspended") this._audioContext.resume().catch(() => {});
    return this._audioContext;
  }

  _meter(stream) {
    if (!this._meters) this._meters = new Map();
    let meter = this._meters.get(stream);
    if (meter === undefined) {
      const ctx = this._context();
      const source = ctx.createMediaStreamSource(stream);
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      source.connect(analyser);
      meter = { source, analyser, buffer: new Float32Array(analyser.fftSize) };
      this._meters.set(stream, meter);
    }
    return meter;
  }

  _dropMeter(stream) {
    const meter = this._meters && this._meters.get(stream);
    if (meter) {
      meter.source.disconnect();
      this._meters.delete(stream);
    }
  }

  /** The 0..100 sound level of a MediaStream now (the last ~43 ms). */
  _level(stream) {
    const meter = this._meter(stream);
    meter.analyser.getFloatTimeDomainData(meter.buffer);
    return level0to100(meter.buffer);
  }

  /** soundLevelUpdate and capturedSoundLevelUpdate every interval ms (500..3000). */
  setSoundLevelDelegate(enable, interval = 1000) {
    if (this._levelTimer !== null) clearInterval(this._levelTimer);
    this._levelTimer = null;
    if (!enable) return;
    const ms = Math.min(3000, Math.max(500, Math.trunc(Number(interval) || 1000)));
    this._levelTimer = setInterval(() => this._emitLevels(), ms);
  }

  _emitLevels() {
    const levels = [];
    let captured = 0;
    for (const pub of this._publishing.values()) {
      const level = this._streamMuted(pub.stream) ? 0 : this._level(pub.stream);
      captured = Math.max(captured, level);
      if (pub.state === "PUBLISHING") levels.push({ streamID: pub.streamID, soundLevel: round1(level), type: "push" });
    }
    for (const play of this._playing.values()) {
      if (play.state !== "PLAYING") continue;
      const level = play.muted ? 0 : this._level(play.stream);
      levels.push({ streamID: play.streamID, soundLevel: round1(level), type: "pull" });
    }
    this._emit("capturedSoundLevelUpdate", round1(captured));
    if (levels.length) this._emit("soundLevelUpdate", levels);
  }

  // ------------------------------------------------------------------ quality
  _ensureQualityLoop() {
    if (this._qualityTimer !== null) return;
    this._qualityLast = new WeakMap();
    this._qualityTimer = setInterval(() => this._emitQuality(), 3000);
  }

  async _emitQuality() {
    if (this._publishing.size === 0 && this._playing.size === 0) {
      clearInterval(this._qualityTimer);
      this._qualityTimer = null;
      return;
    }
    const now = performance.now();
    for (const pub of [...this._publishing.values()]) {
      if (!pub.pc || pub.state !== "PUBLISHING") continue;
      const s = await rtpStats(pub.pc, "outbound-rtp");
      const r = this._rates(pub, now, s.bytesSent || 0, s.packetsSent || 0, s.remoteLost || 0);
      this._emit("publishQualityUpdate", pub.streamID, {
        video: videoZero(),
        audio: {
          audioBitrate: r.bitrate, audioCodec: "opus", audioFPS: r.fps,
          audioPacketsLost: s.remoteLost || 0, audioPacketsLostRate: r.lossRate,
          audioQuality: grade(r.lossRate), googCodecName: "opus",
          muteState: this._streamMuted(pub.stream) ? "1" : "0",
        },
      });
    }
    for (const play of [...this._playing.values()]) {
      if (!play.pc || play.state !== "PLAYING") continue;
      const s = await rtpStats(play.pc, "inbound-rtp");
      const r = this._rates(play, now, s.bytesReceived || 0, s.packetsReceived || 0, s.packetsLost || 0);
      this._emit("playQualityUpdate", play.streamID, {
        video: { ...videoZero(), videoRenderFPS: 0, videoFramesDecoded: 0, videoFramesDropped: 0 },
        audio: {
          audioBitrate: r.bitrate, audioCodec: "opus", audioFPS: r.fps,
          audioPacketsLost: s.packetsLost || 0, audioPacketsLostRate: r.lossRate,
          audioQuality: grade(r.lossRate), googCodecName: "opus",
          muteState: play.muted ? "1" : "0",
          audioJitter: round1((s.jitter || 0) * 1000),
          audioLevel: round1(play.muted ? 0 : this._level(play.stream)),
          audioSamplingRate: 48000, audioSendLevel: 0,
        },
        peerToPeerDelay: 0,
        peerToPeerPacketLostRate: r.lossRate,
      });
    }
  }

  _rates(entry, now, bytes, packets, lost) {
    const last = this._qualityLast.get(entry);
    this._qualityLast.set(entry, { now, bytes, packets, lost });
    if (!last || now <= last.now) return { bitrate: 0, fps: 0, lossRate: 0 };
    const span = (now - last.now) / 1000;
    const newLost = Math.max(0, lost - last.lost);
    const expected = packets - last.packets + newLost;
    return {
      bitrate: Math.round(((bytes - last.bytes) * 8) / 1000 / span * 100) / 100,
      fps: Math.round(((packets - last.packets) / span) * 100) / 100,
      lossRate: expected > 0 ? Math.round((10000 * newLost) / expected) / 100 : 0,
    };
  }
}

function videoZero() {
  return {
    frameWidth: 0, frameHeight: 0, videoBitrate: 0, videoFPS: 0, videoTransferFPS: 0,
    videoPacketsLost: 0, videoPacketsLostRate: 0, videoQuality: -1, googCodecName: "",
    muteState: "0",
  };
}

function grade(lossRate) {
  const limits = [1, 3, 8, 15];
  const i = limits.findIndex((limit) => lossRate < limit);
  return i < 0 ? 4 : i;
}

async function rtpStats(pc, type) {
  const out = {};
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === type && s.kind === "audio") Object.assign(out, s);
    if (s.type === "remote-inbound-rtp" && s.kind === "audio") out.remoteLost = s.packetsLost;
  });
  return out;
}

export default ZegoExpressEngine;
