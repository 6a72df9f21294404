// AffectLab web page: upload an image or take a webcam snapshot, draw the face boxes, a bar chart
// of class probabilities and (when the server has affectlab.explain) a Grad-CAM overlay; or go Live:
// the webcam streamed to the WebSocket /v1/stream, boxes and landmarks drawn on each analysed frame,
// and a rolling 30 s chart of the seven probabilities.
// Vanilla JS + canvas; no network access beyond this server.
"use strict";

const COLORS = {  // the same fixed palette as affectlab.viz.EXPRESSION_COLORS
  angry: "rgb(220,40,40)", disgust: "rgb(120,160,40)", fear: "rgb(150,60,200)",
  happy: "rgb(250,200,0)", sad: "rgb(40,110,220)", surprise: "rgb(250,120,20)", neutral: "rgb(200,200,200)",
};
const $ = (id) => document.getElementById(id);
const KEY_STORE = "affectlab-api-key";  // this tab only (sessionStorage): asked once, gone with the tab
const state = {
  blob: null, name: null, bitmap: null, overlay: null, result: null, selected: 0, classes: [], stream: null,
  limits: null, healthy: false, request: 0, keyRequired: false, key: readKey(), pending: null, pendingLive: false,
};

function readKey() {
  try { return sessionStorage.getItem(KEY_STORE); } catch (err) { return null; }
}

function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
  } catch (err) { /* storage disabled: the key lives in this page only */ }
  state.key = key;
}

// The API key (when the server has one) goes in the Authorization header of every API request.
function authHeaders() {
  return state.key ? { Authorization: `Bearer ${state.key}` } : {};
}

function askKey(message) {
  $("key-form").hidden = false;
  $("api-key").value = "";
  $("api-key").focus();
  setStatus(message, true);
}

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function megabytes(bytes) {
  return `${(bytes / 1048576).toFixed(bytes < 1048576 ? 2 : 1)} MB`;
}

async function loadHealth() {
  try {
    const res = await fetch("/health");
    const info = await res.json();
    state.classes = info.classes || [];
    state.limits = info.limits || null;
    state.healthy = true;
    state.keyRequired = Boolean(info.api_key_required);
    if (state.keyRequired && !state.key) askKey("This server needs an API key: enter it once above.");
    $("model-info").textContent = `model ${info.model} (${info.device}), v${info.version}`;
    const box = $("heatmap");
    box.disabled = !info.capabilities.heatmap;
    $("heatmap-label").title = info.capabilities.heatmap
      ? "Grad-CAM overlay" : `Grad-CAM unavailable: ${info.unavailable.heatmap || "not in this build"}`;
  } catch (err) {
    $("model-info").textContent = "server not reachable";
    setStatus(`The AffectLab server at ${location.origin} is not reachable; start it (affectlab serve) and reload this page.`, true);
  }
}

// The result area back to "nothing analysed", so that an error is never shown beside an older image's result.
function clearResult() {
  state.result = null; state.bitmap = null; state.overlay = null; state.selected = 0;
  const view = $("view");
  view.width = 480; view.height = 360;
  view.setAttribute("aria-label", "no image analysed");
  const chart = $("chart");
  chart.getContext("2d").clearRect(0, 0, chart.width, chart.height);
  chart.setAttribute("aria-label", "class probabilities: none");
  $("top-label").textContent = "\u2013";
  $("faces").innerHTML = "";
}

function showError(text) {
  clearResult();
  setStatus(text, true);
}

// The answer's JSON, or (a proxy's or a crashed server's plain-text page) {detail: its text}.
async function readAnswer(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch (err) {
    return { detail: text.trim().slice(0, 300) || res.statusText || "the server's answer was not JSON" };
  }
}

async function toBitmap(blob) {
  if (window.createImageBitmap) return createImageBitmap(blob);
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot display this image"));
    img.src = URL.createObjectURL(blob);
  });
}

function loadOverlay(dataUrl) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => resolve(null);
    img.src = dataUrl;
  });
}

async function analyze(blob, name) {
  const request = ++state.request;  // a newer upload wins: an older answer arriving late is dropped
  state.blob = blob; state.name = name;
  const limit = state.limits && state.limits.max_upload_bytes;
  if (limit && blob.size > limit) {
    showError(`${name} is ${megabytes(blob.size)}; this server accepts files up to ${megabytes(limit)} (affectlab serve --max-upload-mb).`);
    return;
  }
  if (state.keyRequired && !state.key) {  // analysed as soon as the key is given
    state.pending = { blob, name };
    askKey(`${name} is waiting: this server needs an API key; enter it above.`);
    return;
  }
  setStatus(`Analysing ${name}\u2026`);
  $("result").setAttribute("aria-busy", "true");
  const form = new FormData();
  form.append("file", blob, name);
  const wantOverlay = $("heatmap").checked;
  let res, body;
  try {
    res = await fetch("/v1/faces" + (wantOverlay ? "?heatmap=true" : ""),
      { method: "POST", body: form, headers: authHeaders() });
    body = await readAnswer(res);
  } catch (err) {
    if (request !== state.request) return;
    $("result").removeAttribute("aria-busy");
    showError(`${name} was not analysed: the AffectLab server at ${location.origin} did not answer `
      + `(is affectlab serve still running?). Details: ${err.message}`);
    return;
  }
  if (request !== state.request) return;
  $("result").removeAttribute("aria-busy");
  if (res.status === 401) {  // no key yet, or a wrong one: ask (again), then send this image
    const hadKey = Boolean(state.key);
    storeKey(null);
    state.keyRequired = true;
    state.pending = { blob, name };
    clearResult();
    askKey(hadKey ? `The server refused the API key (error 401); enter the right key to analyse ${name}.`
      : `This server needs an API key: enter it above to analyse ${name}.`);
    return;
  }
  if (!res.ok || !Array.isArray(body.faces)) {
    let detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
    if (!detail.includes(name)) detail = `${name}: ${detail}`;
    showError(`Error ${res.status}: ${detail}`);
    return;
  }
  let bitmap = null;
  try {
    bitmap = await toBitmap(blob);
  } catch (err) {
    bitmap = null;  // e.g. TIFF: the server reads it, this browser cannot draw it
  }
  const overlay = body.heatmap_png ? await loadOverlay(body.heatmap_png) : null;
  if (request !== state.request) return;
  state.bitmap = bitmap; state.overlay = overlay;
  state.result = body;
  state.selected = largestFace(body.faces);
  render();
  if (!state.healthy) loadHealth();  // the server was down when the page loaded
  setStatus(summary(name, body) + (bitmap ? "" : " (this browser cannot display this image format, so only the face boxes are drawn)"));
}

function summary(name, body) {
  const n = body.faces.length;
  if (!n) return `${name}: no face found`;
  const face = body.faces[state.selected];
  const top = `${face.label} ${(100 * face.probabilities[face.label]).toFixed(1)}%`;
  return `${name}: ${n} face${n > 1 ? "s" : ""} in ${body.seconds.toFixed(2)} s; ${n > 1 ? "largest face" : "top label"}: ${top}`;
}

function largestFace(faces) {
  let best = 0;
  faces.forEach((f, i) => { if (f.box[2] * f.box[3] > faces[best].box[2] * faces[best].box[3]) best = i; });
  return best;
}

function render() {
  drawImage();
  drawChart();
  listFaces();
}

function drawImage() {
  const canvas = $("view"), ctx = canvas.getContext("2d");
  const r = state.result, bmp = state.bitmap;
  const [w, h] = bmp ? [bmp.width, bmp.height] : (r.image_size || [canvas.width, canvas.height]);
  canvas.width = w; canvas.height = h;
  ctx.clearRect(0, 0, w, h);
  if (bmp) ctx.drawImage(bmp, 0, 0);
  else { ctx.fillStyle = "#ccc"; ctx.fillRect(0, 0, w, h); }
  if (state.overlay && $("heatmap").checked) {
    ctx.globalAlpha = 0.6; ctx.drawImage(state.overlay, 0, 0, w, h); ctx.globalAlpha = 1;
  }
  const line = Math.max(2, Math.round(Math.min(w, h) / 200));
  const font = Math.max(12, Math.round(Math.min(w, h) / 30));
  ctx.font = `${font}px sans-serif`;
  r.faces.forEach((f, i) => {
    const [x, y, bw, bh] = f.box, color = COLORS[f.label] || "lime";
    ctx.lineWidth = i === state.selected ? line * 2 : line;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, bw, bh);
    ctx.fillStyle = color;  // landmarks (the landmark front-end): dots in the box colour
    const dot = Math.max(2, Math.round(bw / 50));
    (f.landmarks || []).forEach(([px, py]) => {
      ctx.beginPath(); ctx.arc(px, py, dot, 0, 2 * Math.PI); ctx.fill();
    });
    const text = `${f.label} ${f.probabilities[f.label].toFixed(2)}`;
    const tw = ctx.measureText(text).width + 8, top = Math.max(0, y - font - 6);
    ctx.fillStyle = color; ctx.fillRect(x, top, tw, font + 6);
    ctx.fillStyle = "#000"; ctx.fillText(text, x + 4, top + font);
  });
  const n = r.faces.length;
  const marked = r.faces.some((f) => f.landmarks && f.landmarks.length) ? " with landmarks" : "";
  canvas.setAttribute("aria-label", `${state.name}: ${n ? `${n} face${n > 1 ? "s" : ""} boxed${marked}` : "no face found"}`
    + (state.overlay && $("heatmap").checked ? ", with the Grad-CAM overlay" : ""));
}

function drawChart() {
  const canvas = $("chart"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const face = state.result.faces[state.selected];
  if (!face) {
    $("top-label").textContent = "no face";
    canvas.setAttribute("aria-label", "class probabilities: no face found");
    return;
  }
  $("top-label").textContent = face.label;
  const classes = state.classes.length ? state.classes : Object.keys(face.probabilities);
  const rowH = canvas.height / classes.length, left = 80, right = 50, width = canvas.width - left - right;
  ctx.font = "13px sans-serif"; ctx.textBaseline = "middle";
  classes.forEach((c, i) => {
    const p = face.probabilities[c] || 0, y = i * rowH;
    ctx.fillStyle = "#333"; ctx.textAlign = "right"; ctx.fillText(c, left - 6, y + rowH / 2);
    ctx.fillStyle = "#eee"; ctx.fillRect(left, y + 3, width, rowH - 6);
    ctx.fillStyle = COLORS[c] || "#4a8"; ctx.fillRect(left, y + 3, width * p, rowH - 6);
    ctx.fillStyle = "#333"; ctx.textAlign = "left"; ctx.fillText(`${(100 * p).toFixed(1)}%`, left + width + 4, y + rowH / 2);
  });
  canvas.setAttribute("aria-label", `class probabilities of face ${state.selected + 1}: `
    + classes.map((c) => `${c} ${(100 * (face.probabilities[c] || 0)).toFixed(1)}%`).join(", "));
}

function listFaces() {
  const list = $("faces");
  list.innerHTML = "";
  state.result.faces.forEach((f, i) => {
    const item = document.createElement("li"), pick = document.createElement("button");
    pick.type = "button";  // a button, so that the keyboard can select a face too
    pick.textContent = `${f.label} (${(100 * f.probabilities[f.label]).toFixed(1)}%) at [${f.box.join(", ")}]`;
    pick.setAttribute("aria-pressed", String(i === state.selected));
    pick.onclick = () => { state.selected = i; render(); list.querySelectorAll("button")[i].focus(); };
    item.appendChild(pick);
    list.appendChild(item);
  });
}

async function startCamera() {
  if (live.running) stopLive();  // one camera user at a time
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setStatus("This browser gives no webcam access here (it needs https or localhost).", true);
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    setStatus(`Webcam not available: ${err.message}`, true);
    return;
  }
  const video = $("camera-view");
  video.srcObject = state.stream; video.hidden = false;
  $("camera-snap").hidden = false; $("camera-stop").hidden = false; $("camera-start").hidden = true;
  setStatus("Webcam on: take a snapshot.");
}

function stopCamera() {
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  $("camera-view").hidden = true;
  $("camera-snap").hidden = true; $("camera-stop").hidden = true; $("camera-start").hidden = false;
}

function snapshot() {
  const video = $("camera-view");
  if (!video.videoWidth) { setStatus("The webcam has no picture yet.", true); return; }
  const grab = document.createElement("canvas");
  grab.width = video.videoWidth; grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0);
  grab.toBlob((blob) => analyze(blob, "webcam.png"), "image/png");
}

// ---- Live view: the webcam streamed to the WebSocket /v1/stream, one frame in flight at a time ----
const LIVE_WINDOW_S = 30;  // the chart's span
const LIVE_MAX_SIDE = 640;  // frames are sent at most this wide (JPEG)
const live = {
  running: false, stream: null, socket: null, opened: false, inFlight: false, grab: document.createElement("canvas"),
  waitingFrame: false, fresh: false,
  answers: [], history: [], classes: [], dropped: 0, errors: 0, started: 0, last: null,
};

function streamUrl(key) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  // a key that is not a valid subprotocol token goes in the query instead (it may then reach logs)
  const query = key && !TOKEN.test(key) ? `?api_key=${encodeURIComponent(key)}` : "";
  return `${proto}//${location.host}/v1/stream${query}`;
}
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

async function startLive() {
  if (live.running) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setStatus("This browser gives no webcam access here (it needs https or localhost).", true);
    return;
  }
  if (state.keyRequired && !state.key) {
    state.pendingLive = true;
    askKey("Live needs the server's API key: enter it above.");
    return;
  }
  stopCamera();  // the snapshot webcam, if on: one camera user at a time
  try {
    live.stream = await navigator.mediaDevices.getUserMedia(
      { video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (err) {
    setStatus(`Webcam not available: ${err.message}`, true);
    return;
  }
  const video = $("live-video");
  video.srcObject = live.stream;
  try { await video.play(); } catch (err) { /* autoplay: muted video plays anyway */ }
  Object.assign(live, { running: true, opened: false, inFlight: false, waitingFrame: false, fresh: false,
    answers: [], history: [], dropped: 0,
    errors: 0, started: performance.now(), classes: state.classes.length ? state.classes : Object.keys(COLORS) });
  legend();
  $("live").hidden = false;
  $("live-start").hidden = true; $("live-stop").hidden = false;
  $("live-label").textContent = "\u2013"; $("live-fps").textContent = "0.0"; $("live-dropped").textContent = "0";
  openSocket();
}

function openSocket() {
  const protocols = ["affectlab.stream"];
  if (state.key && TOKEN.test(state.key)) protocols.push(`bearer.${state.key}`);
  let socket;
  try {
    socket = new WebSocket(streamUrl(state.key), protocols);
  } catch (err) {
    setStatus(`Live cannot connect: ${err.message}`, true);
    stopLive();
    return;
  }
  socket.binaryType = "arraybuffer";
  live.socket = socket;
  setStatus("Live: connecting\u2026");
  socket.onopen = () => {
    live.opened = true;
    setStatus("Live: streaming the webcam to this server.");
    sendFrame();
  };
  socket.onmessage = (ev) => {
    let answer;
    try { answer = JSON.parse(ev.data); } catch (err) { return; }
    onLiveAnswer(answer);
  };
  socket.onclose = (ev) => {
    if (live.socket !== socket || !live.running) return;
    const wasOpen = live.opened;
    stopLive();
    if (!wasOpen && state.keyRequired) {  // refused at the handshake: the key is missing or wrong
      storeKey(null);
      state.pendingLive = true;
      askKey("The server refused the live stream's API key; enter the right key to go live.");
    } else if (!wasOpen) {
      setStatus(`Live: the server did not accept the stream (is affectlab serve running, with the websockets package?).`, true);
    } else {
      setStatus(`Live stream closed by the server (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""}).`, true);
    }
  };
}

function sendFrame() {
  if (!live.running || live.inFlight || !live.socket || live.socket.readyState !== WebSocket.OPEN) return;
  const video = $("live-video");
  if (!video.videoWidth) { setTimeout(sendFrame, 50); return; }
  if (live.waitingFrame) return;
  if (video.requestVideoFrameCallback && !live.fresh) {  // send each camera frame once, not the same one twice
    live.waitingFrame = true;
    const go = () => {
      if (!live.waitingFrame) return;
      live.waitingFrame = false; live.fresh = true;
      sendFrame();
    };
    video.requestVideoFrameCallback(go);
    setTimeout(go, 200);  // a browser that does not call back for this video: send anyway
    return;
  }
  live.fresh = false;
  const scale = Math.min(1, LIVE_MAX_SIDE / video.videoWidth);
  const w = Math.round(video.videoWidth * scale), h = Math.round(video.videoHeight * scale);
  const grab = live.grab;
  if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
  grab.getContext("2d").drawImage(video, 0, 0, w, h);
  live.inFlight = true;
  grab.toBlob(async (blob) => {
    if (!blob || !live.running || live.socket.readyState !== WebSocket.OPEN) { live.inFlight = false; return; }
    live.socket.send(await blob.arrayBuffer());
  }, "image/jpeg", 0.8);
}

function onLiveAnswer(answer) {
  live.inFlight = false;
  if (!live.running) return;
  const now = performance.now();
  live.dropped = answer.dropped || 0;
  live.last = answer;
  if (answer.error) {
    live.errors += 1;
    setStatus(`Live: frame ${answer.seq}: ${answer.error} (status ${answer.status}); the stream goes on.`, true);
    sendFrame();
    return;
  }
  live.answers.push(now);
  while (live.answers.length && now - live.answers[0] > 2000) live.answers.shift();
  const faces = answer.faces || [];
  const top = faces.length ? faces[largestFace(faces)] : null;
  live.history.push({ t: now, p: top ? top.probabilities : null });
  while (live.history.length && now - live.history[0].t > LIVE_WINDOW_S * 1000) live.history.shift();
  drawLiveView(faces);
  drawLiveChart(now);
  const span = live.answers.length > 1 ? (live.answers[live.answers.length - 1] - live.answers[0]) / 1000 : 0;
  $("live-fps").textContent = span > 0 ? ((live.answers.length - 1) / span).toFixed(1) : "0.0";
  $("live-dropped").textContent = String(live.dropped);
  $("live-label").textContent = top ? top.label : "no face";
  if (live.errors === 0 || !$("status").classList.contains("error")) {
    setStatus(`Live: ${faces.length} face${faces.length === 1 ? "" : "s"}; frame ${answer.seq} in ${(1000 * answer.seconds).toFixed(0)} ms on the server.`);
  }
  sendFrame();
}

// The frame that was sent (still in the grab canvas), with each face's box, track, label and landmarks.
function drawLiveView(faces) {
  const canvas = $("live-view"), ctx = canvas.getContext("2d"), grab = live.grab;
  if (canvas.width !== grab.width || canvas.height !== grab.height) { canvas.width = grab.width; canvas.height = grab.height; }
  ctx.drawImage(grab, 0, 0);
  const w = canvas.width, h = canvas.height;
  const line = Math.max(2, Math.round(Math.min(w, h) / 200)), font = Math.max(12, Math.round(Math.min(w, h) / 30));
  ctx.font = `${font}px sans-serif`;
  faces.forEach((f) => {
    const [x, y, bw, bh] = f.box, color = COLORS[f.label] || "lime";
    ctx.lineWidth = line; ctx.strokeStyle = color; ctx.strokeRect(x, y, bw, bh);
    ctx.fillStyle = color;
    const dot = Math.max(2, Math.round(bw / 50));
    (f.landmarks || []).forEach(([px, py]) => { ctx.beginPath(); ctx.arc(px, py, dot, 0, 2 * Math.PI); ctx.fill(); });
    const text = `#${f.track} ${f.label} ${f.probabilities[f.label].toFixed(2)}`;
    const tw = ctx.measureText(text).width + 8, top = Math.max(0, y - font - 6);
    ctx.fillStyle = color; ctx.fillRect(x, top, tw, font + 6);
    ctx.fillStyle = "#000"; ctx.fillText(text, x + 4, top + font);
  });
  canvas.setAttribute("aria-label", faces.length
    ? `live view: ${faces.map((f) => `face ${f.track} ${f.label}`).join(", ")}` : "live view: no face");
}

// Seven lines, one per class: the largest face's probabilities over the last 30 s (gaps where no face).
function drawLiveChart(now) {
  const canvas = $("live-chart"), ctx = canvas.getContext("2d");
  const left = 34, right = 8, topPad = 8, bottom = 22, w = canvas.width - left - right, h = canvas.height - topPad - bottom;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#ddd"; ctx.lineWidth = 1; ctx.fillStyle = "#555"; ctx.font = "11px sans-serif";
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  [0, 0.5, 1].forEach((v) => {
    const y = topPad + h * (1 - v);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + w, y); ctx.stroke();
    ctx.fillText(v.toFixed(1), left - 4, y);
  });
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  [30, 20, 10, 0].forEach((s) => ctx.fillText(s ? `-${s} s` : "now", left + w * (1 - s / LIVE_WINDOW_S), topPad + h + 4));
  const x = (t) => left + w * (1 - (now - t) / (LIVE_WINDOW_S * 1000)), y = (p) => topPad + h * (1 - p);
  live.classes.forEach((c) => {
    ctx.strokeStyle = COLORS[c] || "#4a8"; ctx.lineWidth = 2; ctx.beginPath();
    let drawing = false;
    live.history.forEach((point) => {
      if (!point.p) { drawing = false; return; }
      const px = x(point.t), py = y(point.p[c] || 0);
      if (drawing) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      drawing = true;
    });
    ctx.stroke();
  });
  const last = live.history.length ? live.history[live.history.length - 1].p : null;
  canvas.setAttribute("aria-label", last
    ? `probabilities over the last 30 s, ${live.history.length} frames; now: `
      + live.classes.map((c) => `${c} ${(100 * (last[c] || 0)).toFixed(0)}%`).join(", ")
    : `probabilities over the last 30 s, ${live.history.length} frames; now: no face`);
}

function legend() {
  const list = $("live-legend");
  list.innerHTML = "";
  live.classes.forEach((c) => {
    const item = document.createElement("li");
    item.textContent = c;
    item.style.setProperty("--swatch", COLORS[c] || "#4a8");
    list.appendChild(item);
  });
}

function stopLive() {
  const socket = live.socket;
  live.running = false; live.socket = null; live.inFlight = false; live.waitingFrame = false; live.fresh = false;
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "stopped");
  if (live.stream) live.stream.getTracks().forEach((t) => t.stop());
  live.stream = null;
  $("live-video").srcObject = null;
  $("live-start").hidden = false; $("live-stop").hidden = true;
}

$("file").addEventListener("change", (ev) => {
  const file = ev.target.files[0];
  ev.target.value = "";  // choosing the same file again (after an error, say) fires "change" again
  if (file) analyze(file, file.name);
});
$("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  storeKey(key);
  $("api-key").value = "";
  $("key-form").hidden = true;
  const pending = state.pending, pendingLive = state.pendingLive;
  state.pending = null; state.pendingLive = false;
  if (pending) analyze(pending.blob, pending.name);
  else if (pendingLive) startLive();
  else setStatus("API key set. Choose an image, take a webcam snapshot, or go Live.");
});
$("camera-start").addEventListener("click", startCamera);
$("camera-stop").addEventListener("click", stopCamera);
$("camera-snap").addEventListener("click", snapshot);
$("live-start").addEventListener("click", startLive);
$("live-stop").addEventListener("click", () => { stopLive(); setStatus("Live stopped."); });
$("heatmap").addEventListener("change", () => {
  if (state.result && (state.overlay || !$("heatmap").checked)) drawImage();  // the overlay is already here
  else if (state.blob) analyze(state.blob, state.name);
});
loadHealth();
