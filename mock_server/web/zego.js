// zego.js: ZEGO Express Web SDK's ZegoExpressEngine for the zego_py room server.
//
// A plain ES module (no build step, no dependency) that speaks the same signaling
// protocol as zego_py's Python engine (zego_py/protocol.py: one JSON object per
// WebSocket text frame, {"v":1,"id":n,"type":...} requests, "reply" answers, pushes)
// and the same media path: one RTCPeerConnection per published or played stream to the
// server's forwarding relay, non-trickle (the offer is sent once ICE gathering is
// complete): Opus audio and VP8 or H.264 video, forwarded unchanged.
//
// Names, arguments, events and error codes are ZEGO's (docs/browser.md lists them):
//
//   import { ZegoExpressEngine } from "/zego.js";
//   const zg = new ZegoExpressEngine(appID, "ws://127.0.0.1:9000/ws");
//   zg.on("roomStreamUpdate", async (roomID, type, list) => { ... });
//   await zg.loginRoom("room1", token, { userID: "alice" }, { userUpdate: true });
//   const cam = await zg.createStream({ camera: { audio: true, video: true } });
//   zg.startPublishingStream("alice_main", cam);       // VP8; { videoCodec: "H264" }
//   videoElement.srcObject = await zg.startPlayingStream("bob_main");
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
    switchRoom: ["fromRoomID", "toRoomID", "token", "config?"],
    resume: ["roomID", "sessionKey", "resumeToken"],
    ping: [],
    sendBroadcastMessage: ["roomID", "message"],
    sendBarrageMessage: ["roomID", "message"],
    sendCustomCommand: ["roomID", "command", "toUserIDs"],
    setRoomExtraInfo: ["roomID", "key", "value"],
    sendTransparentMessage: ["roomID", "content", "sendMode", "sendType", "recvUserList"],
    publish: ["roomID", "streamID", "extraInfo?", "sdp"],
    unpublish: ["streamID"],
    setStreamExtraInfo: ["streamID", "extraInfo"],
    setMicStatus: ["streamID", "status"],
    setCameraStatus: ["streamID", "status"],
    play: ["streamID", "sdp"],
    stopPlay: ["streamID"],
    pullStream: ["streamID", "sdp", "node", "proof"],
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
    transparentMessage: ["roomID", "sendUser", "content"],
    micStatus: ["streamID", "status"],
    cameraStatus: ["streamID", "status"],
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
  FEATURE_NOT_SUPPORTED: 1000010, // ZEGO's CommonSdkNoModule
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
  ROOM_USER_COUNT_EXCEEDED: 1002034,
  RECONNECT_FAILED: 1002053,
  USER_REPEATED_LOGIN: 1002056,
  TOKEN_USER_MISMATCH: 1002077,
  STREAM_EXTRA_INFO_NULL: 1003050,
  STREAM_EXTRA_INFO_TOO_LONG: 1003051,
  PUBLISH_INNER_ERROR: 1003099,
  PLAY_STREAM_NOT_FOUND: 1004002,
  MESSAGE_EMPTY: 1009001,
  MESSAGE_TOO_LONG: 1009002,
  INPUT_PARAM_ERROR: 1100001,
  NETWORK_TIMEOUT: 1100002,
  SOCKET_CLOSED: 1100003,
  TOKEN_ERROR: 1102016,
  TOKEN_EXPIRED: 1102018,
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
  1000010: "the current SDK does not support this feature",
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
  1002034: "room user count exceeds the upper limit",
  1002053: "network broken and login failed",
  1002056: "user repeatedly login",
  1002077: "the token userid error",
  1003050: "stream extra info is null",
  1003051: "stream extra info is too long",
  1003099: "publish inner error",
  1004002: "play stream not found",
  1009001: "message is empty",
  1009002: "message content too long",
  1100001: "input param error",
  1100002: "network timeout",
  1100003: "socket close",
  1102016: "token error",
  1102018: "token expired",
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

// ZEGO's ZegoSwitchRoomConfig: {token, maxMemberCount?, isUserStatusNotify?} -> the token
// and the new room's login config (zego_py/validation.py check_switch_room_config).
function checkSwitchRoomConfig(config) {
  const E = ErrorCode;
  if (config === null || typeof config !== "object") {
    throw new ZegoError(E.INPUT_PARAM_ERROR, "config must be an object with a token");
  }
  ignoreOthers("switchRoom", config, ["token", "maxMemberCount", "isUserStatusNotify"]);
  if (typeof config.token !== "string" || config.token === "") {
    throw new ZegoError(E.INPUT_PARAM_ERROR, "config.token must be a non-empty string");
  }
  const maxMemberCount = config.maxMemberCount || 0;
  if (!Number.isInteger(maxMemberCount) || maxMemberCount < 0) {
    throw new ZegoError(E.INPUT_PARAM_ERROR, "maxMemberCount must be an integer >= 0");
  }
  return {
    token: config.token,
    config: { userUpdate: Boolean(config.isUserStatusNotify), maxMemberCount },
  };
}

// Transparent messages (zego_py/validation.py check_transparent_message): ZEGO documents
// no byte limit; 4096 is the server's, as for zego_py.
const TRANSPARENT_MAX_BYTES = 4096;
const TRANSPARENT_TIMEOUT_S = 10;
const TRANSPARENT_KEYS = ["sendMode", "sendType", "content", "recvUserList", "timeOut"];

/** ZEGO's ZegoRoomSendTransparentMessage -> the request's fields and its timeout. */
function checkTransparentMessage(message) {
  const E = ErrorCode;
  if (message === null || typeof message !== "object") {
    throw new ZegoError(E.INPUT_PARAM_ERROR, "message must be an object");
  }
  ignoreOthers("sendTransparentMessage", message, TRANSPARENT_KEYS);
  const { content } = message;
  if (!(content instanceof Uint8Array)) throw new ZegoError(E.INPUT_PARAM_ERROR, "content must be a Uint8Array");
  if (content.length === 0) throw new ZegoError(E.MESSAGE_EMPTY);
  if (content.length > TRANSPARENT_MAX_BYTES) {
    throw new ZegoError(E.MESSAGE_TOO_LONG, `content is ${content.length} bytes, at most ${TRANSPARENT_MAX_BYTES}`);
  }
  const sendMode = message.sendMode ?? 0; // ONLY_CLIENT 0, ONLY_SERVER 1, CLIENT_AND_SERVER 2
  if (![0, 1, 2].includes(sendMode)) throw new ZegoError(E.INPUT_PARAM_ERROR, "sendMode must be one of 0, 1, 2");
  const sendType = message.sendType ?? 0; // NORMAL 0, SEQUENCE 1: both delivered in order
  if (![0, 1].includes(sendType)) throw new ZegoError(E.INPUT_PARAM_ERROR, "sendType must be one of 0, 1");
  const users = message.recvUserList || [];
  if (!Array.isArray(users) || !users.every((u) => u !== null && typeof u === "object" && typeof u.userID === "string")) {
    throw new ZegoError(E.INPUT_PARAM_ERROR, "recvUserList must be an array of ZegoUser");
  }
  const timeOut = message.timeOut ?? TRANSPARENT_TIMEOUT_S;
  if (!Number.isInteger(timeOut) || timeOut <= 0) {
    throw new ZegoError(E.INPUT_PARAM_ERROR, "timeOut must be a positive number of s");
  }
  return {
    body: {
      content: bytesToBase64(content), sendMode, sendType,
      recvUserList: users.map((u) => ({ userID: u.userID })),
    },
    timeoutMs: timeOut * 1000,
  };
}

function bytesToBase64(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

/** The bytes of base64 `text`, or null when it is not base64. */
function base64ToBytes(text) {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch (_) {
    return null;
  }
}

// ---------------------------------------------------------------------- options
// ZEGO's SDK ignores options it does not know.  So does this one, with one console
// warning per option name (not per call), so a page written for ZEGO still runs and its
// author learns what has no effect here.
const warned = new Set();

function warnOnce(key, text) {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(`zego: ${text}`);
}

const VIDEO_OPTIONS = [
  "video", "videoInput", "videoQuality", "facingMode", "width", "height", "bitrate", "bitRate",
  "frameRate", "startBitrate", "minBitrate", "videoOptimizationMode", "keyFrameInterval",
  "videoCodec", "sourceID",
];

/** Warn once for each key of `options` outside `supported`.  A video option ZEGO has
 *  but this call does not take (facingMode, keyFrameInterval, ...) is named as such; a
 *  falsy one changes nothing, so it is not worth a warning. */
function ignoreOthers(where, options, supported) {
  for (const [key, value] of Object.entries(options || {})) {
    if (supported.includes(key)) continue;
    if (VIDEO_OPTIONS.includes(key)) {
      if (value) warnOnce(`${where}.${key}`, `${where}: video option ${key} is not supported here and is ignored`);
    } else {
      warnOnce(`${where}.${key}`, `${where}: option ${key} is not supported here and is ignored`);
    }
  }
}

// ---------------------------------------------------------------------- signaling
const REQUEST_TIMEOUT_MS = 10000;
const CONNECT_TIMEOUT_MS = 10000;
const GATHER_TIMEOUT_MS = 5000;
const MEDIA_CONNECT_TIMEOUT_MS = 10000;
const TOKEN_WARNING_MS = 30000;
// After a re-login a played stream's publisher may publish again later than we log in:
// keep asking for it this long (zego_py/media/controller.py REPLAY_WAIT_S).
const REPLAY_WAIT_MS = 15000;
// A reconnect stops retrying on these: another try cannot succeed (zego_py/engine.py).
const FATAL_ON_RECONNECT = new Set([1102016, 1102018, 1002077, 1002034]);
// After a dropped socket: retry delays (zego_py/backoff.py's schedule and jitter)
// within the reconnectTimeout budget (options.reconnectTimeout, seconds).
const RETRY_DELAYS_MS = [0, 300, 1200, 2700, 4800];
const RETRY_STEADY_MS = 7000;
const RECONNECT_TIMEOUT_S = 60;
const RETRY_JITTER_MS = 1000; // none on the first try: many clients of a restarted server
// do not reconnect in lockstep
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait `ms`, or less if the browser comes back online meanwhile (the network is back:
 *  retry now rather than at the next step of the backoff). */
function sleepUntilOnline(ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener("online", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    window.addEventListener("online", done);
  });
}

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
  // publishing again after a re-login or a failed media path (ZEGO's "retry" state)
  "PUBLISHING/retry": "PUBLISH_REQUESTING",
  "PUBLISH_REQUESTING/retry": "PUBLISH_REQUESTING",
  "PUBLISH_REQUESTING/connected": "PUBLISHING",
  "PUBLISH_REQUESTING/failed": "NO_PUBLISH",
  "PUBLISH_REQUESTING/stop": "NO_PUBLISH",
  "PUBLISHING/stop": "NO_PUBLISH",
  "PUBLISHING/failed": "NO_PUBLISH",
};
const PLAYER = {
  "NO_PLAY/start": "PLAY_REQUESTING",
  "PLAYING/retry": "PLAY_REQUESTING",
  "PLAY_REQUESTING/retry": "PLAY_REQUESTING",
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
  "recvRoomTransparentMessage",
  "publisherStateUpdate", "playerStateUpdate", "publishQualityUpdate", "playQualityUpdate",
  "soundLevelUpdate", "capturedSoundLevelUpdate", "remoteMicStatusUpdate",
  "remoteCameraStatusUpdate",
]);

// ZEGO Web events this engine never emits (video, devices, SEI, mixing, ...): `on()`
// takes them, as ZEGO's does, and warns once that they will not fire.
export const SILENT_EVENTS = new Set([
  "playerRecvSEI", "networkQuality", "deviceError",
  "screenSharingEnded", "videoDeviceStateChanged", "audioDeviceStateChanged",
  "exceptionUpdate", "playerVideoTrackUpdate", "playerAudioTrackUpdate", "hallStateUpdate",
  "mixerSoundLevelUpdate", "mixerRelayCDNStateUpdate",
  "publisherVideoEncoderChanged", "playerStreamEvent", "publisherStreamEvent",
  "streamUpdate", "autoMixerSoundLevelUpdate", "playerVideoTrackStateUpdate",
]);

// ---------------------------------------------------------------------- WebRTC helpers
// ZEGO's videoQuality presets (ZegoLocalStreamConfig): 1..3; 4 is "custom" (width,
// height, frameRate, bitrate as given).  Bitrates in kbps.
const VIDEO_PRESETS = {
  1: { width: 320, height: 240, frameRate: 15, bitrate: 300 },
  2: { width: 640, height: 480, frameRate: 15, bitrate: 800 },
  3: { width: 1280, height: 720, frameRate: 20, bitrate: 1500 },
};
const VIDEO_DEFAULT = VIDEO_PRESETS[2];

/** The receiver codecs an offer of `kind` lists: Opus alone for audio; for video what
 *  the relay forwards unchanged, VP8 and H.264 constrained baseline with
 *  packetization-mode 1 (what aiortc decodes), and their RTX.  A publisher offers the
 *  one `videoCodec`; a player (null) both, and the relay keeps the publisher's. */
function offeredCodecs(kind, videoCodec) {
  const caps = RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities(kind);
  if (!caps) return null;
  const mime = (c) => c.mimeType.toLowerCase();
  if (kind === "audio") return caps.codecs.filter((c) => mime(c) === "audio/opus");
  const vp8 = caps.codecs.filter((c) => mime(c) === "video/vp8");
  const h264 = caps.codecs.filter((c) => mime(c) === "video/h264"
    && /profile-level-id=42e01f/.test(c.sdpFmtpLine || "") && /packetization-mode=1/.test(c.sdpFmtpLine || ""));
  const wanted = { VP8: vp8, H264: h264 }[videoCodec] || [...vp8, ...h264];
  if (wanted.length === 0) return null;
  return [...wanted, ...caps.codecs.filter((c) => mime(c) === "video/rtx")];
}

function preferCodecs(pc, videoCodec) {
  for (const transceiver of pc.getTransceivers()) {
    const kind = transceiver.receiver.track.kind;
    const codecs = offeredCodecs(kind, videoCodec);
    if (!codecs) continue;
    try {
      transceiver.setCodecPreferences(codecs);
    } catch (exc) {
      console.warn(`zego: setCodecPreferences(${kind}) failed`, exc);
    }
  }
}

function senderOf(pc, kind) {
  return pc.getSenders().find((s) => (s.track ? s.track.kind : null) === kind)
    || pc.getTransceivers().find((t) => t.receiver.track.kind === kind)?.sender;
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

const LOG_LEVELS = ["debug", "info", "warn", "error", "report", "disable"]; // ZEGO's order

// ---------------------------------------------------------------------- the engine
export class ZegoExpressEngine {
  /**
   * @param {number} appID  the app ID (a number, as ZEGO's)
   * @param {string|string[]} server  the room server's ws:// or wss:// URL (first of a list)
   * @param {number} [ENV]  ignored (ZEGO's environment switch)
   * @param {object} [options]  {iceServers} (default none, or what the server hands out),
   *   {reconnectTimeout} (seconds to keep retrying after the socket drops; 60)
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
    this._logLevel = "info";
  }

  // ------------------------------------------------------------------ global
  getVersion() { return VERSION; }

  /** ZEGO's log settings.  This SDK logs only to the console: logLevel above "info"
   *  silences its info lines; the remote-logging and log-file fields have no effect (one
   *  warning each). */
  setLogConfig(config = {}) {
    ignoreOthers("setLogConfig", config, ["logLevel"]);
    const level = (config || {}).logLevel ?? "info";
    if (!LOG_LEVELS.includes(level)) return false;
    this._logLevel = level;
    return true;
  }

  /** ZEGO shows error pop-ups in verbose mode; this SDK's errors go to the console only. */
  setDebugVerbose(_enable) {}

  _info(...args) {
    if (LOG_LEVELS.indexOf(this._logLevel) <= LOG_LEVELS.indexOf("info")) console.info(...args);
  }

  /** Add a handler; several per event run in registration order. */
  on(event, callback) {
    if (typeof callback !== "function") return false;
    if (!EVENT_NAMES.has(event)) {
      if (!SILENT_EVENTS.has(event)) {
        console.warn(`zego: on(${event}): no such ZEGO event`);
        return false;
      }
      warnOnce(`event.${event}`, `on(${event}): this engine never emits it`);
    }
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

  /** ZEGO's ZegoCapabilityDetection for this browser: what it can do, as ZEGO reports it
   *  (its video codecs too, so ZEGO's samples that require H264 or VP8 run).  `result`
   *  is whether a voice call can work here.
   *  With checkType ("webRTC", "microphone", ..., "H264"), only that check. */
  async checkSystemRequirements(checkType, _checkLevel) {
    const media = navigator.mediaDevices;
    const devices = media && media.enumerateDevices ? await media.enumerateDevices().catch(() => []) : [];
    const capture = Boolean(media && media.getUserMedia);
    const codecs = typeof RTCRtpSender !== "undefined" && RTCRtpSender.getCapabilities
      ? (RTCRtpSender.getCapabilities("video") || { codecs: [] }).codecs.map((c) => c.mimeType.toLowerCase())
      : [];
    const all = {
      webRTC: typeof RTCPeerConnection === "function",
      customCapture: typeof HTMLMediaElement !== "undefined"
        && typeof HTMLMediaElement.prototype.captureStream === "function",
      camera: capture && devices.some((d) => d.kind === "videoinput"),
      microphone: capture && devices.some((d) => d.kind === "audioinput"),
      screenSharing: Boolean(media && media.getDisplayMedia),
      videoCodec: {
        H264: codecs.includes("video/h264"), VP8: codecs.includes("video/vp8"),
        H265: codecs.includes("video/h265"),
      },
    };
    const errInfo = {};
    if (!all.webRTC) errInfo.webRTC = "this browser has no RTCPeerConnection";
    if (!capture) {
      errInfo.microphone = "getUserMedia is unavailable (the page must be a secure context: https or localhost)";
    } else if (!all.microphone) {
      errInfo.microphone = "no microphone found";
    }
    const result = all.webRTC && all.microphone;
    if (checkType === undefined || checkType === null) return { ...all, errInfo, result };
    if (checkType in all.videoCodec) {
      const ok = all.videoCodec[checkType];
      return { videoCodec: { [checkType]: ok }, errInfo, result: ok };
    }
    if (!(checkType in all)) {
      warnOnce(`check.${checkType}`, `checkSystemRequirements: unknown checkType ${checkType}: checking everything`);
      return { ...all, errInfo, result };
    }
    const ok = all[checkType];
    return { [checkType]: ok, errInfo: checkType in errInfo ? { [checkType]: errInfo[checkType] } : {}, result: ok };
  }

  /** {microphones, speakers, cameras} of {deviceName, deviceID}, as ZEGO's.  Labels are
   *  empty until the page has been granted the microphone (the browser's rule). */
  async enumDevices() {
    const media = navigator.mediaDevices;
    const devices = media && media.enumerateDevices ? await media.enumerateDevices() : [];
    const pick = (kind) => devices.filter((d) => d.kind === kind)
      .map((d) => ({ deviceName: d.label, deviceID: d.deviceId }));
    return { microphones: pick("audioinput"), speakers: pick("audiooutput"), cameras: pick("videoinput") };
  }

  async getMicrophones() { return (await this.enumDevices()).microphones; }
  async getSpeakers() { return (await this.enumDevices()).speakers; }
  async getCameras() { return (await this.enumDevices()).cameras; }

  /** Play a stream's media element on another output device (HTMLMediaElement.setSinkId). */
  async useAudioOutputDevice(media, deviceID) {
    if (!media || typeof media.setSinkId !== "function") return false;
    try {
      await media.setSinkId(deviceID === "default" ? "" : deviceID);
      return true;
    } catch (exc) {
      console.warn("zego: useAudioOutputDevice failed", exc);
      return false;
    }
  }

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
    ignoreOthers("loginRoom", config, ["userUpdate", "maxMemberCount"]);
    this._multiRoomLocked = true;
    const userUpdate = Boolean(config.userUpdate);
    const room = {
      roomID, user: checkedUser, token, userUpdate, config: { userUpdate, maxMemberCount },
      state: "DISCONNECTED", users: new Map(), streams: new Map(), tokenTimer: null,
      pingTimer: null, link: null, sessionKey: 0, resumeToken: "", reconnectToken: "",
      switchingTo: null, heldPushes: [], // during switchRoom: the room being joined, its early pushes
    };
    room.link = this._newLink(room);
    this._rooms.set(roomID, room);
    this._transition(room, "login");
    let data;
    try {
      await room.link.connect();
      data = await room.link.request("login", { roomID, token, user: checkedUser, config: room.config });
    } catch (exc) {
      if (this._rooms.get(roomID) === room) this._rooms.delete(roomID);
      room.link.close();
      const error = exc instanceof ZegoError ? exc : new ZegoError(ErrorCode.NETWORK_BROKEN, String(exc));
      if (room.state !== "DISCONNECTED") this._transition(room, "login_failed", error.code, error.msg);
      throw error;
    }
    this._rememberLogin(room, data);
    this._transition(room, "login_ok");
    this._joined(room, data);
    return true;
  }

  /** After LOGINED: what the room already holds, as ADD events (ZEGO's rule: users, then
   *  streams, then extra info; never yourself). */
  _joined(room, data) {
    const rid = room.roomID;
    if (room.userUpdate && room.users.size) this._emit("roomUserUpdate", rid, "ADD", [...room.users.values()]);
    if (room.streams.size) this._emit("roomStreamUpdate", rid, "ADD", [...room.streams.values()], "");
    const extra = data.roomExtraInfoList || [];
    if (extra.length) this._emit("roomExtraInfoUpdate", rid, extra);
  }

  /** Leave fromRoomID and join toRoomID in one step; resolves true.  One `switchRoom`
   *  request on the old room's socket (docs/protocol.md "Switching rooms"): the server
   *  checks the new room (token, capacity) before leaving the old one, so a refusal
   *  rejects with its code (1102016 bad token, 1002034 full, ...) and leaves you in
   *  fromRoomID with everything as it was (toRoomID gets LOGINING then LOGIN_FAILED).
   *  On success, in zego_py's (ZEGO's) order: publisherStateUpdate NO_PUBLISH /
   *  playerStateUpdate NO_PLAY for the old room's streams, the old room's
   *  DISCONNECTED/LOGOUT, the new room's CONNECTING/LOGINING and CONNECTED/LOGINED, then
   *  ADD for its users (with isUserStatusNotify) and streams.  Publish again to be heard
   *  in the new room. */
  async switchRoom(fromRoomID, toRoomID, config) {
    const room = typeof fromRoomID === "string" ? this._rooms.get(fromRoomID) : undefined;
    if (this._destroyed || !room || room.state !== "CONNECTED") {
      throw new ZegoError(ErrorCode.NOT_LOGIN, `not logged in to room ${fromRoomID}`);
    }
    let checked;
    let data;
    try {
      checkRoomID(toRoomID);
      if (this._rooms.has(toRoomID)) throw new ZegoError(ErrorCode.USER_REPEATED_LOGIN, `already in room ${toRoomID}`);
      checked = checkSwitchRoomConfig(config);
      room.switchingTo = toRoomID;
      data = await room.link.request("switchRoom",
        { fromRoomID, toRoomID, token: checked.token, config: checked.config });
    } catch (exc) { // refused (or the socket dropped): still in fromRoomID
      room.switchingTo = null;
      room.heldPushes = [];
      if (exc instanceof ZegoError) {
        this._emit("roomStateChanged", toRoomID, "LOGINING", 0, "");
        this._emit("roomStateChanged", toRoomID, "LOGIN_FAILED", exc.code, exc.msg);
      }
      throw exc;
    }
    await this._move(room, toRoomID, checked, data);
    this._info(`zego: switched from room ${fromRoomID} to ${toRoomID}`);
    return true;
  }

  /** The server has moved the session: the room record and its socket follow, with the
   *  events a logout and a login would give, then the pushes that beat the reply. */
  async _move(room, toRoomID, { token, config }, data) {
    this._cancelTimers(room);
    await this._onRoomLeaving(room);
    if (this._rooms.get(room.roomID) === room) this._rooms.delete(room.roomID);
    this._transition(room, "logout");
    Object.assign(room, { roomID: toRoomID, token, config, userUpdate: config.userUpdate });
    this._rooms.set(toRoomID, room);
    this._transition(room, "login");
    // the reply has no ping settings: the server's stay as the login gave them
    this._rememberLogin(room, { pingInterval: room.pingInterval, pingTimeout: room.pingTimeout, ...data });
    this._transition(room, "login_ok");
    this._joined(room, data);
    const held = room.heldPushes;
    room.heldPushes = [];
    room.switchingTo = null;
    for (const push of held) this._onPush(room, push);
  }

  /** Keep what a login reply says (on room.link, which must be the link it came on). */
  _rememberLogin(room, data) {
    room.sessionKey = data.sessionKey ?? 0;
    room.resumeToken = data.resumeToken ?? "";
    room.reconnectToken = data.reconnectToken || room.reconnectToken;
    room.users = new Map((data.users || []).map((u) => [u.userID, u]));
    room.streams = new Map((data.streams || []).map((s) => [s.streamID, s]));
    this._scheduleTokenWarning(room, Number(data.tokenExpire || 0));
    this._startPing(room, data.pingInterval, data.pingTimeout);
    if (Array.isArray(data.iceServers)) this._serverIce = data.iceServers;
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
        this._info(`zego: logout of ${room.roomID}:`, exc.msg || exc);
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
      .then((data) => {
        room.token = token;
        room.reconnectToken = data.reconnectToken || room.reconnectToken;
        this._scheduleTokenWarning(room, Number(data.tokenExpire || 0));
      })
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
    if (p.roomID !== undefined && p.roomID !== rid) { // a switchRoom in flight: the new
      if (p.roomID === room.switchingTo) room.heldPushes.push(p); // room's wait for its reply
      return;
    }
    switch (p.type) {
      case "userUpdate":
        for (const u of p.userList) {
          if (p.updateType === "ADD") room.users.set(u.userID, u);
          else room.users.delete(u.userID);
        }
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
      case "transparentMessage": {
        const content = base64ToBytes(p.content);
        if (content === null) console.warn("zego: dropping a transparent message that is not base64");
        else this._emit("recvRoomTransparentMessage", rid, { sendUser: p.sendUser, content });
        break;
      }
      case "micStatus":
        this._emit("remoteMicStatusUpdate", p.streamID, p.status);
        break;
      case "cameraStatus":
        this._emit("remoteCameraStatusUpdate", p.streamID, p.status);
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

  /** The socket dropped without a logout: resume the session, or log in again. */
  _onLinkClosed(room) {
    if (this._rooms.get(room.roomID) !== room || room.state !== "CONNECTED") return;
    if (room.pingTimer !== null) clearInterval(room.pingTimer);
    room.pingTimer = null;
    this._transition(room, "connection_lost", ErrorCode.NETWORK_BROKEN, "signaling socket closed");
    this._recover(room);
  }

  /** Retry with backoff within the reconnectTimeout budget (zego_py/engine.py _recover).
   *  First `resume`: the server still holds the session (a blip; media never stopped).
   *  If it has forgotten us (it restarted, or the grace period passed), log in again with
   *  the server-minted reconnectToken, report the users and streams that changed meanwhile
   *  as ADD/DELETE, and publish and play the same stream IDs again. */
  async _recover(room) {
    const budgetMs = (this._options.reconnectTimeout ?? RECONNECT_TIMEOUT_S) * 1000;
    const started = performance.now();
    let lastError = null;
    for (let attempt = 0; ; attempt++) {
      const base = attempt < RETRY_DELAYS_MS.length ? RETRY_DELAYS_MS[attempt] : RETRY_STEADY_MS;
      const delay = base + (attempt ? Math.random() * RETRY_JITTER_MS : 0);
      const left = budgetMs - (performance.now() - started);
      if (attempt > 0 && delay >= left) break;
      await sleepUntilOnline(delay);
      if (this._rooms.get(room.roomID) !== room) return; // logged out meanwhile
      const link = this._newLink(room);
      let relogin;
      try {
        await link.connect(5000);
        relogin = await this._resumeOrLogin(room, link);
      } catch (exc) {
        lastError = exc;
        link.close();
        if (FATAL_ON_RECONNECT.has(exc.code)) break;
        continue;
      }
      if (this._rooms.get(room.roomID) !== room) {
        link.close();
        return;
      }
      room.link = link;
      if (relogin) this._applyRelogin(room, relogin);
      else this._startPing(room, room.pingInterval, room.pingTimeout);
      this._transition(room, "reconnected");
      if (relogin) this._onRelogin(room);
      this._info(`zego: room ${room.roomID}: ${relogin ? "logged in again" : "session resumed"}`);
      return;
    }
    if (this._rooms.get(room.roomID) !== room) return;
    this._rooms.delete(room.roomID);
    this._cancelTimers(room);
    const detail = lastError ? `reconnect failed: ${lastError.msg || lastError}` : "reconnect failed";
    this._transition(room, "reconnect_failed", ErrorCode.RECONNECT_FAILED, detail);
    await this._onRoomLeaving(room);
  }

  /** null when the session was resumed; the login reply when we logged in again. */
  async _resumeOrLogin(room, link) {
    try {
      await link.request("resume", {
        roomID: room.roomID, sessionKey: room.sessionKey, resumeToken: room.resumeToken,
      }, 5000);
      return null;
    } catch (exc) {
      if (exc.code !== ErrorCode.NOT_LOGIN) throw exc;
    }
    return link.request("login", {
      roomID: room.roomID, token: room.reconnectToken || room.token, user: room.user, config: room.config,
    }, 5000);
  }

  /** Emit what changed while we were away, as ZEGO's ADD/DELETE events. */
  _applyRelogin(room, data) {
    const oldUsers = room.users;
    const oldStreams = room.streams;
    this._rememberLogin(room, data);
    const rid = room.roomID;
    const missing = (from, to) => [...from.entries()].filter(([id]) => !to.has(id)).map(([, v]) => v);
    const gone = missing(oldUsers, room.users);
    const came = missing(room.users, oldUsers);
    if (room.userUpdate && gone.length) this._emit("roomUserUpdate", rid, "DELETE", gone);
    if (room.userUpdate && came.length) this._emit("roomUserUpdate", rid, "ADD", came);
    const ended = missing(oldStreams, room.streams);
    const started = missing(room.streams, oldStreams);
    if (ended.length) {
      this._emit("roomStreamUpdate", rid, "DELETE", ended,
        JSON.stringify({ stream_delete_reason: [{ code: 6 }] }));
    }
    if (started.length) this._emit("roomStreamUpdate", rid, "ADD", started, "");
  }

  /** After logging in again (the server forgot us): publish and play everything again. */
  _onRelogin(room) {
    for (const pub of [...this._publishing.values()]) if (pub.room === room) this._republish(pub);
    for (const play of [...this._playing.values()]) if (play.room === room) this._replay(play);
  }

  // ------------------------------------------------------------------ messaging
  async _im(type, roomID, body, timeoutMs = REQUEST_TIMEOUT_MS) {
    const room = this._room(roomID);
    try {
      const data = await room.link.request(type, { roomID: room.roomID, ...body }, timeoutMs);
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

  /** Bytes to `recvUserList` (ZegoUser objects; everyone else when empty), who get
   *  recvRoomTransparentMessage(roomID, {sendUser, content: Uint8Array}).  `content` is a
   *  Uint8Array of 1..4096 bytes, base64 on the wire (JSON has no binary).  Resolves
   *  {errorCode, extendedData} as the other IM calls (the server's code, e.g. 1009015 over
   *  the rate, or 1100002 when no answer comes within `timeOut` s, default 10); bad
   *  arguments reject.  sendMode ONLY_SERVER (1) is for ZEGO's business-server callback,
   *  which the bundled server lacks: accepted, delivered to nobody. */
  async sendTransparentMessage(roomID, message) {
    const { body, timeoutMs } = checkTransparentMessage(message);
    return this._im("sendTransparentMessage", roomID, body, timeoutMs);
  }

  async setStreamExtraInfo(streamID, extraInfo) {
    checkStreamID(streamID);
    checkStreamExtraInfo(extraInfo);
    const pub = this._publishing.get(streamID);
    if (!pub || pub.state !== "PUBLISHING") throw new ZegoError(ErrorCode.NOT_LOGIN, `not publishing ${streamID}`);
    try {
      await pub.room.link.request("setStreamExtraInfo", { streamID, extraInfo });
      pub.extraInfo = extraInfo; // a re-publish after a re-login carries it
      return { errorCode: 0, extendedData: "" };
    } catch (exc) {
      return { errorCode: exc.code, extendedData: exc.msg };
    }
  }

  // ------------------------------------------------------------------ local streams
  /** A local stream (a MediaStream) from ZEGO's ZegoLocalStreamConfig: {camera: {audio,
   *  audioInput, ANS, AGC, AEC, channelCount, audioBitrate, video, videoInput,
   *  videoQuality, width, height, frameRate, bitrate}} is the microphone and (video:
   *  true) the camera, {custom: {source: MediaStream | HTMLMediaElement}} anything else.
   *  The default (no argument) is ZEGO's: camera and microphone.  Screen capture rejects
   *  1000010. */
  async createStream(source) {
    source = source ?? { camera: { audio: true, video: true } };
    const kinds = source && typeof source === "object"
      ? Object.keys(source).filter((k) => ["camera", "screen", "custom"].includes(k)) : [];
    if (kinds.length !== 1) {
      throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "createStream takes exactly one of camera, screen or custom");
    }
    const kind = kinds[0];
    ignoreOthers("createStream", source, [kind]);
    const cfg = source[kind] && typeof source[kind] === "object" ? source[kind] : {};
    let stream;
    if (kind === "camera") {
      ignoreOthers("createStream camera", cfg,
        ["audio", "audioInput", "ANS", "AGC", "AEC", "channelCount", "audioBitrate",
          "video", "videoInput", "videoQuality", "width", "height", "frameRate", "bitrate"]);
      const wantVideo = cfg.video ?? true;
      if (cfg.audio === false && !wantVideo) {
        throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "audio: false and video: false leave nothing to capture");
      }
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
      const shape = { ...(VIDEO_PRESETS[cfg.videoQuality] || VIDEO_DEFAULT) };
      for (const key of ["width", "height", "frameRate", "bitrate"]) {
        if (cfg.videoQuality === 4 && cfg[key] > 0) shape[key] = cfg[key];
      }
      const video = wantVideo ? {
        width: { ideal: shape.width }, height: { ideal: shape.height },
        frameRate: { ideal: shape.frameRate },
      } : false;
      if (video && cfg.videoInput && cfg.videoInput !== "default") video.deviceId = { exact: cfg.videoInput };
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: cfg.audio === false ? false : audio, video });
      } catch (exc) {
        throw deviceError(exc);
      }
      this._localStreams.set(stream, {
        kind: "microphone", audioMuted: false, audioBitrate: cfg.audioBitrate, constraints: audio,
        videoMuted: false, videoBitrate: wantVideo ? shape.bitrate : undefined,
      });
      this._applyMute(stream);
    } else if (kind === "custom") {
      ignoreOthers("createStream custom", cfg, ["source", "audioBitrate"]);
      const src = cfg.source;
      if (typeof MediaStream !== "undefined" && src instanceof MediaStream) stream = src;
      else if (src && typeof src.captureStream === "function") stream = src.captureStream();
      else throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "custom source must be a MediaStream or a media element");
      if (stream.getTracks().length === 0) throw new ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "a stream needs audio or video");
      this._localStreams.set(stream, {
        kind: "custom", audioMuted: false, audioBitrate: cfg.audioBitrate, videoMuted: false,
      });
    } else {
      warnOnce("createStream.screen", "createStream: screen capture is not supported here");
      throw new ZegoError(ErrorCode.FEATURE_NOT_SUPPORTED, "screen capture is not supported");
    }
    return stream;
  }

  /** ZEGO's setAudioConfig(localStream, {ANS, AGC, AEC}): the browser's own noise
   *  suppression, gain control and echo canceller on the microphone, changed live. */
  async setAudioConfig(localStream, config = {}) {
    ignoreOthers("setAudioConfig", config, ["ANS", "AGC", "AEC"]);
    const changes = {};
    if (config.AEC !== undefined) changes.echoCancellation = Boolean(config.AEC);
    if (config.AGC !== undefined) changes.autoGainControl = Boolean(config.AGC);
    if (config.ANS !== undefined) changes.noiseSuppression = Boolean(config.ANS);
    return this._recapture(localStream, changes);
  }

  /** ZEGO's useAudioDevice(localStream, deviceID): switch the stream's microphone live. */
  async useAudioDevice(localStream, deviceID) {
    return this._recapture(localStream,
      { deviceId: deviceID && deviceID !== "default" ? { exact: deviceID } : undefined });
  }

  /** Capture the microphone again with `changes` to its constraints and swap the new
   *  track in: into the MediaStream and into the sender of every publication of it
   *  (replaceTrack: no renegotiation).  Chromium applies no audio-processing change to a
   *  live track (applyConstraints resolves and changes nothing), and a second capture of
   *  a device that is still open gets no echo canceller, so the old track stops first:
   *  players hear a gap of one getUserMedia call.  If the new capture fails, the old
   *  constraints are captured again and the call resolves the error. */
  async _recapture(localStream, changes) {
    const info = this._localStreams.get(localStream);
    if (!info || info.kind !== "microphone") {
      return { errorCode: ErrorCode.INPUT_PARAM_ERROR, extendedData: "not a microphone stream from createStream" };
    }
    const old = localStream.getAudioTracks();
    for (const t of old) t.stop();
    let result = { errorCode: 0, extendedData: "" };
    let fresh;
    try {
      fresh = await navigator.mediaDevices.getUserMedia({ audio: { ...info.constraints, ...changes }, video: false });
      info.constraints = { ...info.constraints, ...changes };
    } catch (exc) {
      const error = deviceError(exc);
      result = { errorCode: error.code, extendedData: error.msg };
      try {
        fresh = await navigator.mediaDevices.getUserMedia({ audio: info.constraints, video: false });
      } catch (_) {
        return result; // the stream stays without a live microphone
      }
    }
    const track = fresh.getAudioTracks()[0];
    const senders = [...this._publishing.values()]
      .filter((pub) => pub.stream === localStream && pub.pc)
      .map((pub) => senderOf(pub.pc, "audio")).filter(Boolean);
    await Promise.all(senders.map((sender) => sender.replaceTrack(track)));
    localStream.addTrack(track);
    for (const t of old) localStream.removeTrack(t);
    this._applyMute(localStream);
    this._dropMeter(localStream);
    return result;
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

  /** Send black frames instead of the camera (the track is disabled, as ZEGO Web does);
   *  players get remoteCameraStatusUpdate MUTE. */
  mutePublishStreamVideo(localStream, mute) {
    const info = this._localStreams.get(localStream);
    if (!info || localStream.getVideoTracks().length === 0) return false;
    info.videoMuted = Boolean(mute);
    for (const track of localStream.getVideoTracks()) track.enabled = !info.videoMuted;
    for (const pub of this._publishing.values()) if (pub.stream === localStream) this._sendCameraStatus(pub);
    return true;
  }

  async _sendCameraStatus(pub) {
    const info = this._localStreams.get(pub.stream);
    const status = info && info.videoMuted ? "MUTE" : "OPEN";
    if (status === pub.cameraStatusSent || pub.state !== "PUBLISHING") return;
    pub.cameraStatusSent = status;
    try {
      await pub.room.link.request("setCameraStatus", { streamID: pub.streamID, status });
    } catch (_) { /* the room is going away */ }
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

  async _connectPeer(setup, exchange, failureCode, videoCodec = null) {
    const pc = new RTCPeerConnection({ iceServers: this._iceServers(), bundlePolicy: "max-bundle" });
    try {
      setup(pc);
      preferCodecs(pc, videoCodec);
      await pc.setLocalDescription(await pc.createOffer());
      await gatheringComplete(pc);
      const reply = await exchange(pc.localDescription.sdp);
      await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
      await mediaConnected(pc, failureCode);
      pc.connectedAt = performance.now();
      return pc;
    } catch (exc) {
      pc.close();
      if (exc instanceof ZegoError) throw exc;
      throw new ZegoError(failureCode, String(exc && exc.message || exc));
    }
  }

  /** A media path that dies under a live signaling link is rebuilt, as after a re-login
   *  (while the room is reconnecting, the re-login does it). */
  _watch(pc, entry, rebuild) {
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed" && entry.pc === pc && entry.room.state === "CONNECTED") rebuild(entry);
    });
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
   *  engine already publishes streamID.  Throws {errorCode} for bad arguments.  Options:
   *  extraInfo, roomID, videoCodec ("VP8", the default, or "H264"); ZEGO's others are
   *  ignored with a warning. */
  startPublishingStream(streamID, localStream, publishOption = {}) {
    checkStreamID(streamID);
    const option = publishOption || {};
    const room = this._roomFor(option);
    if (typeof MediaStream === "undefined" || !(localStream instanceof MediaStream)
      || localStream.getTracks().length === 0) {
      throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, "localStream must come from createStream");
    }
    if (this._publishing.has(streamID)) {
      console.warn(`zego: publisher already exist: ${streamID}`);
      return false;
    }
    const extraInfo = checkStreamExtraInfo(option.extraInfo ?? "");
    ignoreOthers("startPublishingStream", option, ["extraInfo", "roomID", "videoCodec"]);
    const videoCodec = String(option.videoCodec || "VP8").toUpperCase();
    if (!["VP8", "H264"].includes(videoCodec)) {
      throw new ZegoError(ErrorCode.INPUT_PARAM_ERROR, `videoCodec ${option.videoCodec}: VP8 or H264 only`);
    }
    if (!this._localStreams.has(localStream)) {
      this._localStreams.set(localStream, { kind: "custom", audioMuted: false, videoMuted: false });
    }
    const pub = {
      streamID, room, stream: localStream, extraInfo, state: "NO_PUBLISH", pc: null,
      micStatusSent: "OPEN", cameraStatusSent: "OPEN", attempt: 0, quality: null, videoCodec,
    };
    this._publishing.set(streamID, pub);
    this._publisherState(pub, "start");
    this._negotiatePublish(pub);
    return true;
  }

  async _negotiatePublish(pub) {
    const attempt = ++pub.attempt;
    const current = () => this._publishing.get(pub.streamID) === pub && pub.attempt === attempt;
    const info = this._localStreams.get(pub.stream) || {};
    const send = (peer, track, kbps) => peer.addTransceiver(track, {
      direction: "sendonly", streams: [pub.stream],
      sendEncodings: kbps > 0 ? [{ maxBitrate: kbps * 1000 }] : undefined,
    });
    let pc;
    try {
      pc = await this._connectPeer(
        (peer) => {
          const audio = pub.stream.getAudioTracks()[0];
          const video = pub.stream.getVideoTracks()[0];
          if (audio) send(peer, audio, info.audioBitrate);
          if (video) send(peer, video, info.videoBitrate);
        },
        (sdp) => pub.room.link.request("publish", {
          roomID: pub.room.roomID, streamID: pub.streamID, extraInfo: pub.extraInfo, sdp,
        }),
        ErrorCode.PUBLISH_INNER_ERROR, pub.videoCodec);
    } catch (exc) {
      if (current()) {
        this._publishing.delete(pub.streamID);
        this._publisherState(pub, "failed", exc.code, exc.msg);
      }
      return;
    }
    if (!current()) { // stopped, or publishing again, while connecting
      pc.close();
      return;
    }
    pub.pc = pc;
    const sender = senderOf(pc, "audio");
    const now = pub.stream.getAudioTracks()[0];
    if (sender && now && sender.track !== now) sender.replaceTrack(now); // the microphone changed meanwhile
    this._watch(pc, pub, (p) => this._republish(p));
    this._publisherState(pub, "connected");
    pub.micStatusSent = "OPEN"; // a new publish starts OPEN at the server
    pub.cameraStatusSent = "OPEN";
    this._ensureQualityLoop();
    if (this._streamMuted(pub.stream)) this._sendMicStatus(pub);
    this._sendCameraStatus(pub);
  }

  /** Publish again on a new peer connection (after a re-login or a failed media path). */
  async _republish(pub) {
    if (this._publishing.get(pub.streamID) !== pub) return;
    this._publisherState(pub, "retry");
    const old = pub.pc;
    pub.pc = null;
    if (old) old.close();
    // the same session may still hold the stream (a media-path failure): drop it
    try {
      await pub.room.link.request("unpublish", { streamID: pub.streamID }, 3000);
    } catch (_) { /* not published there (a new session) */ }
    await this._negotiatePublish(pub);
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
        this._info(`zego: unpublish ${pub.streamID}:`, exc.msg || exc);
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
   *  a <video> (or <audio>) element.  ZEGO's ZegoWebPlayOption: audio (false: muted),
   *  video (default true: the stream's video track, if it has one), jitterBufferTarget
   *  (ms), roomID; CDN options are ignored with a warning.
   *  The MediaStream stays the same when the stream is played again after a re-login. */
  async startPlayingStream(streamID, playOption = {}) {
    checkStreamID(streamID);
    const { resourceMode, ...option } = playOption || {};
    if (resourceMode) warnOnce("startPlayingStream.resourceMode", `startPlayingStream: resourceMode ${resourceMode} is not supported: playing over RTC`);
    ignoreOthers("startPlayingStream", option, ["audio", "video", "roomID", "jitterBufferTarget"]);
    const room = this._roomFor(option);
    if (this._playing.has(streamID)) throw new ZegoError(ErrorCode.REPEATED_PULL_STREAM);
    const play = {
      streamID, room, state: "NO_PLAY", pc: null, stream: new MediaStream(), sink: null,
      muted: option.audio === false, video: option.video !== false, videoMuted: false,
      jitterBufferTarget: option.jitterBufferTarget,
      attempt: 0, generation: 0, quality: null,
    };
    this._playing.set(streamID, play);
    this._playerState(play, "start");
    try {
      await this._negotiatePlay(play);
    } catch (exc) {
      if (this._playing.get(streamID) === play) {
        this._playing.delete(streamID);
        this._playerState(play, "failed", exc.code, exc.msg);
      }
      throw exc;
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

  /** One peer connection for `play`; its track joins play.stream before any old one
   *  leaves, so the stream never goes inactive and the page's <audio> keeps playing. */
  async _negotiatePlay(play) {
    const attempt = ++play.attempt;
    const pc = await this._connectPeer(
      (peer) => {
        peer.addTransceiver("audio", { direction: "recvonly" });
        if (play.video) peer.addTransceiver("video", { direction: "recvonly" });
      },
      (sdp) => play.room.link.request("play", { streamID: play.streamID, sdp }),
      ErrorCode.PLAY_STREAM_NOT_FOUND);
    if (this._playing.get(play.streamID) !== play || play.attempt !== attempt) {
      pc.close();
      throw new ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, "stopped while connecting");
    }
    play.pc = pc;
    // The relay rejects (port 0) a video m-line when the stream has no video.
    const live = pc.getTransceivers().filter((t) => t.currentDirection === "recvonly")
      .map((t) => t.receiver);
    for (const receiver of live) {
      if (play.jitterBufferTarget !== undefined && "jitterBufferTarget" in receiver) {
        receiver.jitterBufferTarget = play.jitterBufferTarget;
      }
    }
    const old = play.stream.getTracks();
    for (const { track } of live) {
      track.enabled = !(track.kind === "audio" ? play.muted : play.videoMuted);
      play.stream.addTrack(track);
    }
    for (const track of old) {
      play.stream.removeTrack(track);
      track.stop();
    }
    this._dropMeter(play.stream); // a WebAudio source follows the track it was made with
    this._watch(pc, play, (p) => this._replay(p));
  }

  /** Play again on a new peer connection (after a re-login or a failed media path),
   *  waiting up to REPLAY_WAIT_MS for the publisher to come back too: after a server
   *  restart it may publish again later than we log in. */
  async _replay(play) {
    if (this._playing.get(play.streamID) !== play) return;
    const generation = ++play.generation;
    const mine = () => this._playing.get(play.streamID) === play && play.generation === generation;
    this._playerState(play, "retry");
    const old = play.pc;
    play.pc = null;
    try {
      await play.room.link.request("stopPlay", { streamID: play.streamID }, 3000);
    } catch (_) { /* not playing there (a new session) */ }
    const deadline = performance.now() + REPLAY_WAIT_MS;
    try {
      for (;;) {
        try {
          await this._negotiatePlay(play);
          break;
        } catch (exc) {
          if (!mine()) return;
          if (exc.code !== ErrorCode.PLAY_STREAM_NOT_FOUND || performance.now() >= deadline) {
            this._playing.delete(play.streamID);
            this._playerState(play, "failed", exc.code, exc.msg);
            this._teardownPlay(play, false);
            return;
          }
          await sleep(500);
        }
      }
    } finally {
      if (old) old.close();
    }
    if (mine()) this._playerState(play, "connected");
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

  /** Stop rendering the stream's video (its track is disabled: the element shows black). */
  async mutePlayStreamVideo(streamID, mute) {
    const play = this._playing.get(streamID);
    if (!play || play.stream.getVideoTracks().length === 0) return false;
    play.videoMuted = Boolean(mute);
    for (const track of play.stream.getVideoTracks()) track.enabled = !play.videoMuted;
    return true;
  }

  async muteAllPlayVideoStreams(mute) {
    const results = await Promise.all([...this._playing.keys()].map((s) => this.mutePlayStreamVideo(s, mute)));
    return results.every(Boolean);
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

  /** The last publishQualityUpdate stats of a published stream, or null (ZEGO's). */
  getPublishingStreamQuality(streamID) {
    const pub = this._publishing.get(streamID);
    return pub ? pub.quality : null;
  }

  /** The last playQualityUpdate stats of a played stream, or null (ZEGO's). */
  getPlayingStreamQuality(streamID) {
    const play = this._playing.get(streamID);
    return play ? play.quality : null;
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

  /** soundLevelUpdate and capturedSoundLevelUpdate every interval ms (500..3000).
   *  ZEGO's options ({enableInBackground}) are ignored: timers run in the background here
   *  as far as the browser lets them. */
  setSoundLevelDelegate(enable, interval = 1000, options = {}) {
    ignoreOthers("setSoundLevelDelegate", options, []);
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
      const pc = pub.pc;
      if (!pc || pub.state !== "PUBLISHING") continue;
      const { audio: s, video: v } = await rtpStats(pc, "outbound-rtp");
      const r = this._rates(pc, "audio", now, s.bytesSent || 0, s.packetsSent || 0, s.remoteLost || 0);
      const info = this._localStreams.get(pub.stream) || {};
      pub.quality = {
        video: this._videoQuality(pc, now, v, v.bytesSent, v.packetsSent, v.remoteLost, info.videoMuted),
        audio: {
          audioBitrate: r.bitrate, audioCodec: "opus", audioFPS: r.fps,
          audioPacketsLost: s.remoteLost || 0, audioPacketsLostRate: r.lossRate,
          audioQuality: grade(r.lossRate), googCodecName: "opus",
          muteState: this._streamMuted(pub.stream) ? "1" : "0",
        },
      };
      this._emit("publishQualityUpdate", pub.streamID, pub.quality);
    }
    for (const play of [...this._playing.values()]) {
      const pc = play.pc;
      if (!pc || play.state !== "PLAYING") continue;
      const { audio: s, video: v } = await rtpStats(pc, "inbound-rtp");
      const r = this._rates(pc, "audio", now, s.bytesReceived || 0, s.packetsReceived || 0, s.packetsLost || 0);
      play.quality = {
        video: {
          ...this._videoQuality(pc, now, v, v.bytesReceived, v.packetsReceived, v.packetsLost, play.videoMuted),
          videoRenderFPS: round1(v.framesPerSecond || 0),
          videoFramesDecoded: v.framesDecoded || 0, videoFramesDropped: v.framesDropped || 0,
        },
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
      };
      this._emit("playQualityUpdate", play.streamID, play.quality);
    }
  }

  /** ZEGO's video quality fields from one outbound-rtp or inbound-rtp video entry
   *  (all zero when the peer connection carries no video). */
  _videoQuality(pc, now, v, bytes, packets, lost, muted) {
    if (!v.kind) return videoZero();
    const r = this._rates(pc, "video", now, bytes || 0, packets || 0, lost || 0);
    const codec = (v.codec || "").replace(/^video\//i, "");
    return {
      frameWidth: v.frameWidth || 0, frameHeight: v.frameHeight || 0,
      videoBitrate: r.bitrate, videoFPS: round1(v.framesPerSecond || 0), videoTransferFPS: r.fps,
      videoPacketsLost: lost || 0, videoPacketsLostRate: r.lossRate, videoQuality: grade(r.lossRate),
      googCodecName: codec, muteState: muted ? "1" : "0",
    };
  }

  /** Rates of one kind since the last report on the same peer connection, or since it
   *  connected. */
  _rates(pc, kind, now, bytes, packets, lost) {
    const kinds = this._qualityLast.get(pc) || {};
    const last = kinds[kind] || { now: pc.connectedAt ?? now, bytes: 0, packets: 0, lost: 0 };
    kinds[kind] = { now, bytes, packets, lost };
    this._qualityLast.set(pc, kinds);
    if (now <= last.now) return { bitrate: 0, fps: 0, lossRate: 0 };
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

/** {audio, video}: the `type` RTP entry of each kind (with its codec's mimeType as
 *  `codec`) and remote-inbound-rtp's packetsLost as `remoteLost`. */
async function rtpStats(pc, type) {
  const out = { audio: {}, video: {} };
  const report = await pc.getStats().catch(() => null); // closed meanwhile
  if (report === null) return out;
  report.forEach((s) => {
    if (!(s.kind in out)) return;
    if (s.type === type) {
      Object.assign(out[s.kind], s);
      const codec = s.codecId && report.get(s.codecId);
      if (codec) out[s.kind].codec = codec.mimeType;
    }
    if (s.type === "remote-inbound-rtp") out[s.kind].remoteLost = s.packetsLost;
  });
  return out;
}

// ---------------------------------------------------------------------- calls we lack
// ZEGO Web calls with no counterpart here (live video changes, SEI, mixing,
// CDN, proxies, ...).  Each exists, so a page written for ZEGO runs on; it warns once and
// returns what ZEGO returns when the call fails:
//   false | resolves false | resolves {errorCode: 1000010, extendedData} |
//   rejects ZegoError 1000010 | null | nothing.
const NOT_SUPPORTED = {
  // video
  enableVideoCaptureDevice: "resolveFalse", setVideoConfig: "response",
  useVideoDevice: "response", useFrontCamera: "response", setPlayStreamVideoType: "false",
  createRemoteStreamView: "null", createLocalStreamView: "null",
  createZegoStream: "reject", startScreenCapture: "reject",
  // tracks and devices
  replaceTrack: "response", addTrack: "response",
  removeTrack: "response", updatePublishingStream: "response", setCaptureVolume: "response",
  // SEI, mixing, CDN
  sendSEI: "false", startMixerTask: "reject", stopMixerTask: "reject",
  addPublishCdnUrl: "response", removePublishCdnUrl: "response",
  // engine set-up that has no meaning here
  setTurnServer: "false", setEngineOptions: "void", use: "void", uploadLog: "void",
  setGeoFence: "void", setRoomScenario: "void", callExperimentalAPI: "void",
  setCloudProxyConfig: "void", setLocalProxyConfig: "void",
};

const NOT_SUPPORTED_RESULTS = {
  false: () => false,
  resolveFalse: async () => false,
  response: async (name) => ({ errorCode: ErrorCode.FEATURE_NOT_SUPPORTED, extendedData: `${name} is not supported` }),
  reject: async (name) => { throw new ZegoError(ErrorCode.FEATURE_NOT_SUPPORTED, `${name} is not supported`); },
  null: () => null,
  void: () => undefined,
};

for (const [name, result] of Object.entries(NOT_SUPPORTED)) {
  Object.defineProperty(ZegoExpressEngine.prototype, name, {
    configurable: true,
    writable: true,
    value() {
      warnOnce(`call.${name}`, `${name} is not supported by this SDK; it does nothing`);
      return NOT_SUPPORTED_RESULTS[result](name);
    },
  });
}

/** ZEGO's static presetLogConfig: nothing to preset (logs go to the console). */
ZegoExpressEngine.presetLogConfig = () => true;

export default ZegoExpressEngine;
