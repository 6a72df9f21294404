// AffectLab web page: upload an image or take a webcam snapshot, draw the face boxes, a bar chart
// of class probabilities and (when the server has affectlab.explain) a Grad-CAM overlay.
// Vanilla JS + canvas; no network access beyond this server.
"use strict";

const COLORS = {  // the same fixed palette as affectlab.viz.EXPRESSION_COLORS
  angry: "rgb(220,40,40)", disgust: "rgb(120,160,40)", fear: "rgb(150,60,200)",
  happy: "rgb(250,200,0)", sad: "rgb(40,110,220)", surprise: "rgb(250,120,20)", neutral: "rgb(200,200,200)",
};
const $ = (id) => document.getElementById(id);
const state = { blob: null, name: null, bitmap: null, result: null, selected: 0, classes: [], stream: null };

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function loadHealth() {
  try {
    const res = await fetch("/health");
    const info = await res.json();
    state.classes = info.classes || [];
    $("model-info").textContent = `model ${info.model} (${info.device}), v${info.version}`;
    const box = $("heatmap");
    box.disabled = !info.capabilities.heatmap;
    $("heatmap-label").title = info.capabilities.heatmap
      ? "Grad-CAM overlay" : `Grad-CAM unavailable: ${info.unavailable.heatmap || "not in this build"}`;
  } catch (err) {
    $("model-info").textContent = "server not reachable";
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
  state.blob = blob; state.name = name;
  setStatus(`Analysing ${name}\u2026`);
  const form = new FormData();
  form.append("file", blob, name);
  const params = $("heatmap").checked ? "?heatmap=true" : "";
  let res, body;
  try {
    res = await fetch("/v1/faces" + params, { method: "POST", body: form });
    body = await res.json();
  } catch (err) {
    setStatus(`Request failed: ${err.message}`, true);
    return;
  }
  if (!res.ok) {
    setStatus(`Error ${res.status}: ${body.detail || res.statusText}`, true);
    return;
  }
  try {
    state.bitmap = await toBitmap(blob);
  } catch (err) {
    state.bitmap = null;
  }
  state.overlay = body.heatmap_png ? await loadOverlay(body.heatmap_png) : null;
  state.result = body;
  state.selected = largestFace(body.faces);
  render();
  const n = body.faces.length;
  setStatus(n ? `${name}: ${n} face${n > 1 ? "s" : ""} in ${body.seconds.toFixed(2)} s` : `${name}: no face found`);
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
    const text = `${f.label} ${f.probabilities[f.label].toFixed(2)}`;
    const tw = ctx.measureText(text).width + 8, top = Math.max(0, y - font - 6);
    ctx.fillStyle = color; ctx.fillRect(x, top, tw, font + 6);
    ctx.fillStyle = "#000"; ctx.fillText(text, x + 4, top + font);
  });
}

function drawChart() {
  const canvas = $("chart"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const face = state.result.faces[state.selected];
  if (!face) {
    $("top-label").textContent = "no face";
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
}

function listFaces() {
  const list = $("faces");
  list.innerHTML = "";
  state.result.faces.forEach((f, i) => {
    const item = document.createElement("li");
    item.textContent = `${f.label} (${(100 * f.probabilities[f.label]).toFixed(1)}%) at [${f.box.join(", ")}]`;
    item.style.cursor = "pointer";
    item.style.fontWeight = i === state.selected ? "bold" : "normal";
    item.onclick = () => { state.selected = i; render(); };
    list.appendChild(item);
  });
}

async function startCamera() {
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

$("file").addEventListener("change", (ev) => {
  const file = ev.target.files[0];
  if (file) analyze(file, file.name);
});
$("camera-start").addEventListener("click", startCamera);
$("camera-stop").addEventListener("click", stopCamera);
$("camera-snap").addEventListener("click", snapshot);
$("heatmap").addEventListener("change", () => { if (state.blob) analyze(state.blob, state.name); });
loadHealth();
