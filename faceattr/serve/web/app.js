// The page of `faceattr serve`: upload a photo, draw a box per face, a card per face with its aligned crop and
// every attribute's probability (sorted bars against the threshold); clicking an attribute asks the server
// for that face's heat map. Everything goes to this server only (the Content-Security-Policy enforces it).
"use strict";

const $ = (id) => document.getElementById(id);
let model = null;      // GET /api/model
let current = null;    // {file, result} of the last upload

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function errorOf(response) {
  try { return (await response.json()).error || response.statusText; } catch (_) { return response.statusText; }
}

async function loadModel() {
  const response = await fetch("/api/model");
  if (!response.ok) { $("model-info").textContent = "model description unavailable: " + await errorOf(response); return; }
  model = await response.json();
  const run = model.mlflow && model.mlflow.run_id
    ? `MLflow run ${model.mlflow.run_name || ""} ${model.mlflow.run_id}` +
      (model.mlflow.test_metrics && model.mlflow.test_metrics.mean_accuracy !== undefined
        ? `, test mean accuracy ${model.mlflow.test_metrics.mean_accuracy.toFixed(4)}` : "")
    : "no MLflow run found for this model file";
  $("model-info").textContent = `${model.file}: ${model.arch} (alpha ${model.alpha}), ${model.attributes.length} attributes, ` +
    `input ${model.input_size.width}×${model.input_size.height}, ${describeThresholds(model.thresholds)}, ` +
    `detector ${model.detector}; ${run}`;
}

function describeThresholds(thresholds) {
  const values = [...new Set(Object.values(thresholds))];
  return values.length === 1 ? `threshold ${values[0]}` : "thresholds per attribute (tuned on validation)";
}

function boxOverlay(result) {
  const frame = $("photo-frame");
  frame.querySelectorAll(".box").forEach((b) => b.remove());
  if (result.aligned) return;
  for (const face of result.faces) {
    const [x, y, w, h] = face.box;
    const box = document.createElement("div");
    box.className = "box";
    box.dataset.face = face.face;
    box.style.left = (100 * x / result.width) + "%";
    box.style.top = (100 * y / result.height) + "%";
    box.style.width = (100 * w / result.width) + "%";
    box.style.height = (100 * h / result.height) + "%";
    const label = document.createElement("span");
    label.textContent = String(face.face);
    box.appendChild(label);
    box.addEventListener("click", () => select(face.face));
    frame.appendChild(box);
  }
}

function select(k) {
  document.querySelectorAll(".box, .face").forEach((el) => el.classList.toggle("selected", Number(el.dataset.face) === k));
  const card = document.querySelector(`.face[data-face="${k}"]`);
  if (card) card.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

function faceCard(result, row, face, cropUrl) {
  const card = $("face-card").content.firstElementChild.cloneNode(true);
  card.dataset.face = face.face;
  const title = result.aligned ? result.image : `face ${face.face} (box ${face.box.join(", ")})`;
  card.querySelector("h2").textContent = title;
  card.querySelector("img.crop").src = cropUrl;
  const bars = card.querySelector(".bars");
  const sorted = result.attributes.map((a) => [a, row[a]]).sort((p, q) => q[1].probability - p[1].probability);
  for (const [attribute, value] of sorted) {
    const item = document.createElement("li");
    item.dataset.attribute = attribute;
    item.className = value.present ? "present" : "";
    item.title = `${attribute}: ${value.probability.toFixed(4)} (${value.present ? "present" : "absent"} at threshold ${+result.thresholds[attribute].toFixed(3)}); click for its heat map`;
    const name = document.createElement("span"); name.className = "name"; name.textContent = attribute;
    const track = document.createElement("span"); track.className = "track";
    const fill = document.createElement("span"); fill.className = "fill"; fill.style.width = (100 * value.probability) + "%";
    const mark = document.createElement("span"); mark.className = "threshold"; mark.style.left = (100 * result.thresholds[attribute]) + "%";
    track.append(fill, mark);
    const number = document.createElement("span"); number.className = "value"; number.textContent = value.probability.toFixed(3);
    item.append(name, track, number);
    item.addEventListener("click", () => explain(card, face, attribute, item));
    bars.appendChild(item);
  }
  return card;
}

// A data: URL's bytes as a Blob (fetch() of a data: URL is a request the Content-Security-Policy refuses).
function blobOf(url) {
  const [head, payload] = url.split(",", 2);
  const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: head.slice(5, head.indexOf(";")) });
}

async function explain(card, face, attribute, item) {
  card.querySelectorAll(".bars li").forEach((li) => li.classList.toggle("chosen", li === item));
  const caption = card.querySelector(".heat-caption");
  caption.textContent = `computing ${attribute}…`;
  const form = new FormData();
  // The aligned crop the server returned goes back as an aligned image: no second detection, the same pixels.
  const source = current.result.aligned ? current.file : blobOf(card.querySelector("img.crop").src);
  form.append("photo", source, current.result.aligned ? current.file.name : "crop.png");
  form.append("aligned", "1");
  form.append("face", "0");
  form.append("attribute", attribute);
  const response = await fetch("/api/explain", { method: "POST", body: form });
  if (!response.ok) { caption.textContent = "heat map failed: " + await errorOf(response); return; }
  const heat = card.querySelector("img.heat");
  if (heat.src.startsWith("blob:")) URL.revokeObjectURL(heat.src);
  const loaded = new Promise((resolve) => { heat.onload = resolve; heat.onerror = resolve; });
  heat.src = URL.createObjectURL(await response.blob());
  await loaded;
  heat.dataset.attribute = attribute;  // set once the picture is shown (tests wait for it)
  caption.textContent = `${attribute}: where the evidence for it lies`;
}

async function analyse(file) {
  if (!file) return;
  if (!/^image\/(jpeg|png|webp)$/.test(file.type)) { status(`${file.name}: not a JPEG, PNG or WebP image`, true); return; }
  if (model && file.size > model.max_upload_mb * 1048576) {
    status(`${file.name}: ${(file.size / 1048576).toFixed(1)} MB is over the server's limit of ${model.max_upload_mb} MB`, true);
    return;
  }
  status(`analysing ${file.name}…`);
  $("faces").replaceChildren();
  const form = new FormData();
  form.append("photo", file, file.name);
  form.append("aligned", $("aligned").checked ? "1" : "0");
  let response;
  try { response = await fetch("/api/predict", { method: "POST", body: form }); }
  catch (err) { status(`upload failed: ${err}`, true); return; }
  if (!response.ok) { status(`${file.name}: ${await errorOf(response)}`, true); return; }
  const result = await response.json();
  current = { file, result };
  const photo = $("photo");
  if (photo.src.startsWith("blob:")) URL.revokeObjectURL(photo.src);
  photo.src = URL.createObjectURL(file);
  $("photo-view").hidden = false;
  boxOverlay(result);
  const cards = result.faces.map((face, k) => faceCard(result, result.rows[k], face, result.aligned ? photo.src : face.crop));
  $("faces").replaceChildren(...cards);
  const found = result.aligned ? "one aligned crop" : `${result.faces.length} face${result.faces.length === 1 ? "" : "s"}`;
  status(`${file.name} (${result.width}×${result.height}): ${found}` + (result.warnings.length ? ". " + result.warnings.join(". ") : ""),
         result.faces.length === 0);
}

function setUp() {
  const drop = $("drop");
  $("file").addEventListener("change", (event) => analyse(event.target.files[0]));
  $("aligned").addEventListener("change", () => { if (current) analyse(current.file); });
  for (const kind of ["dragenter", "dragover"]) drop.addEventListener(kind, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const kind of ["dragleave", "drop"]) drop.addEventListener(kind, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  drop.addEventListener("drop", (e) => analyse(e.dataTransfer.files[0]));
  loadModel();
}

document.addEventListener("DOMContentLoaded", setUp);
