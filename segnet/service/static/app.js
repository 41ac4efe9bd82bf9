// The segnet page: talks to /v1/ on the same server; no framework, no build step, nothing fetched elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
let classes = [];          // [{id, name, color: [r, g, b]}] from /v1/model
let lastImage = null;      // {img, ids: Uint8Array, width, height} of the latest segmented image

function say(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

function authHeaders() {
  const token = $("token").value.trim();
  sessionStorage.setItem("segnet-token", token);
  return token ? { Authorization: "Bearer " + token } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    if (response.status === 401) $("token-box").open = true;
    throw new Error(message);
  }
  return response;
}

function upload(field, file) {
  const form = new FormData();
  form.append(field, file, file.name || field);
  return form;
}

async function loadModel() {
  try {
    const info = await (await api("/v1/model")).json();
    classes = info.classes;
    const size = info.training_frame_size;
    $("model-line").textContent = `${info.model}, ${classes.length} classes` +
      (size ? `, trained on ${size.width}x${size.height} frames` : "") + `; ${info.backend}, ${info.precision}`;
  } catch (error) {
    $("model-line").textContent = "Model description unavailable: " + error.message;
  }
}

// ---- tabs (arrow keys move between them, as the ARIA tabs pattern says)
function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  tab.focus();
}

function setUpTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) selectTab(tabs[(i + step + tabs.length) % tabs.length]);
    });
  });
}

// ---- image tab
async function segmentImage(file) {
  if (!file) return;
  if (!file.type.startsWith("image/") && file.type !== "") {
    say(`${file.name} is not an image (${file.type}); choose a PNG, JPEG, BMP, TIFF or WebP file.`, true);
    return;
  }
  say(`Segmenting ${file.name}…`);
  try {
    const result = await (await api("/v1/segment?format=json", { method: "POST", body: upload("image", file) })).json();
    const labelsUrl = "data:image/png;base64," + result.labels_png;
    const [img, ids] = await Promise.all([loadImage(URL.createObjectURL(file)), readLabelIds(labelsUrl, result)]);
    lastImage = { img, ids, width: result.width, height: result.height };
    $("original").src = img.src;
    $("download").href = labelsUrl;
    $("download").download = (file.name.replace(/\.[^.]+$/, "") || "image") + "_labels.png";
    showLegend(result.classes);
    drawOverlay();
    $("image-result").hidden = false;
    say(`Segmented ${file.name} (${result.width}x${result.height}).`);
  } catch (error) {
    say(`${file.name} was rejected: ${error.message}`, true);
  }
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot display this file"));
    img.src = url;
  });
}

async function readLabelIds(url, result) {
  // The label PNG is single-channel: drawn on a canvas each pixel's red value is its class id.
  const img = await loadImage(url);
  const canvas = new OffscreenCanvas(result.width, result.height);
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const rgba = context.getImageData(0, 0, result.width, result.height).data;
  const ids = new Uint8Array(result.width * result.height);
  for (let i = 0; i < ids.length; i++) ids[i] = rgba[4 * i];
  return ids;
}

function drawOverlay() {
  if (!lastImage) return;
  const { img, ids, width, height } = lastImage;
  const canvas = $("overlay");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0, width, height);
  const picture = context.getImageData(0, 0, width, height);
  const alpha = Number($("opacity").value) / 100;
  const pixels = picture.data;
  for (let i = 0; i < ids.length; i++) {
    const colour = classes[ids[i]] ? classes[ids[i]].color : [0, 0, 0];
    for (let c = 0; c < 3; c++) pixels[4 * i + c] = (1 - alpha) * pixels[4 * i + c] + alpha * colour[c];
  }
  context.putImageData(picture, 0, 0);
}

function showLegend(fractions) {
  const body = $("legend").querySelector("tbody");
  body.replaceChildren();
  for (const entry of [...fractions].sort((a, b) => b.fraction - a.fraction)) {
    const row = body.insertRow();
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    const colour = (classes[entry.id] || { color: [0, 0, 0] }).color;
    swatch.style.backgroundColor = `rgb(${colour.join(",")})`;
    swatch.setAttribute("aria-hidden", "true");
    row.insertCell().append(swatch);
    row.insertCell().textContent = entry.name;
    row.insertCell().textContent = (100 * entry.fraction).toFixed(1) + " %";
  }
}

function setUpImageTab() {
  $("image-file").addEventListener("change", (event) => segmentImage(event.target.files[0]));
  $("opacity").addEventListener("input", drawOverlay);
  const drop = $("drop");
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("image-file").click(); }
  });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    segmentImage(event.dataTransfer.files[0]);
  });
}

// ---- video tab
async function segmentVideo(file) {
  if (!file) return;
  say(`Uploading ${file.name}…`);
  $("video-result").hidden = true;
  $("video-labels").hidden = true;
  try {
    const job = await (await api("/v1/videos", { method: "POST", body: upload("video", file) })).json();
    const done = await followJob(job.id);
    const blob = await (await api(`/v1/videos/${job.id}/result`)).blob();
    $("video-result").src = URL.createObjectURL(blob);
    $("video-result").hidden = false;
    const labels = await (await api(`/v1/videos/${job.id}/labels.zip`)).blob();
    $("video-labels").href = URL.createObjectURL(labels);
    $("video-labels").download = file.name.replace(/\.[^.]+$/, "") + "_labels.zip";
    $("video-labels").hidden = false;
    say(`Segmented ${done.frames_done} frames of ${file.name}; the result plays below.`);
  } catch (error) {
    say(`${file.name} was rejected: ${error.message}`, true);
  }
}

async function followJob(id) {
  for (;;) {
    const state = await (await api(`/v1/videos/${id}`)).json();
    const total = state.frames_total || state.frames_done + 1;
    $("video-progress").max = total;
    $("video-progress").value = state.frames_done;
    if (state.state === "done") return state;
    if (state.state === "failed" || state.state === "cancelled") throw new Error(state.error || state.state);
    say(`Segmenting: ${state.frames_done} of ${state.frames_total ?? "?"} frames`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

// ---- camera tab: one frame in flight at a time, so a slow server slows the rate, not the latency
let cameraRunning = false;

async function startCamera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    $("camera-video").srcObject = stream;
    await $("camera-video").play();
  } catch (error) {
    say("The camera is unavailable: " + error.message, true);
    return;
  }
  cameraRunning = true;
  $("camera-start").disabled = true;
  $("camera-stop").disabled = false;
  say("Camera running.");
  cameraLoop();
}

function stopCamera() {
  cameraRunning = false;
  const stream = $("camera-video").srcObject;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  $("camera-start").disabled = false;
  $("camera-stop").disabled = true;
  say("Camera stopped.");
}

async function cameraLoop() {
  const video = $("camera-video");
  const grab = document.createElement("canvas");
  const times = [];
  while (cameraRunning) {
    grab.width = video.videoWidth || 640;
    grab.height = video.videoHeight || 480;
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    const frame = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.85));
    try {
      const response = await api("/v1/segment?format=overlay", { method: "POST", body: upload("image", new File([frame], "camera.jpg")) });
      const picture = await createImageBitmap(await response.blob());
      const canvas = $("camera-overlay");
      canvas.width = picture.width;
      canvas.height = picture.height;
      canvas.getContext("2d").drawImage(picture, 0, 0);
    } catch (error) {
      say("Camera frame rejected: " + error.message, true);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    times.push(performance.now());
    while (times.length > 1 && times[times.length - 1] - times[0] > 3000) times.shift();
    if (times.length > 1) $("camera-fps").value = ((times.length - 1) * 1000 / (times[times.length - 1] - times[0])).toFixed(1);
    $("camera-fps").dataset.frames = String(Number($("camera-fps").dataset.frames || 0) + 1);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = sessionStorage.getItem("segnet-token") || "";
  $("token").addEventListener("change", loadModel);
  setUpTabs();
  setUpImageTab();
  $("video-file").addEventListener("change", (event) => segmentVideo(event.target.files[0]));
  $("camera-start").addEventListener("click", startCamera);
  $("camera-stop").addEventListener("click", stopCamera);
  loadModel();
});
