// The results console page: acquisition list, heatmap (frames × radial), profiles, phase lines, exports.
// Plain JavaScript against the console's own API; the server reduces the heatmap to what is on screen.
'use strict';

const $ = id => document.getElementById(id);
const enc = encodeURIComponent;
const HM = { left: 66, right: 86, top: 12, bottom: 44 };
const PR = { left: 66, right: 86, top: 12, bottom: 44 };
const CURVE_COLOURS = ['#1d232a', '#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];
const PHASE_COLOURS = ['#e6194b', '#f58231', '#911eb4', '#46f0f0', '#f032e6', '#3cb44b', '#4363d8', '#9a6324'];

const S = {
  list: [], acq: null, detail: null,
  unit: '2th_deg', scale: 'lin', cmap: 'viridis', auto: true, cmin: NaN, cmax: NaN, plow: 1, phigh: 99.5, mode: 'mean', bg: 'off',
  x0: null, x1: null, f0: null, f1: null,
  image: null, selected: 1, overlays: [], profiles: new Map(), profileErrors: new Map(),
  waterfall: false, wfrom: 1, wto: 10, woffset: 0.1,
  phases: [], version: null, renders: 0, lastRender: null, fetches: 0,
  raw: { on: false, image: null, error: null },
};
window.anvil = S;

// ------------------------------------------------------------------ API

async function api(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) {
    let text = `${response.status} ${response.statusText}`;
    try {
      const problem = await response.json();
      text = `${problem.title || text}: ${problem.detail || ''}`;
    } catch { /* not a problem body */ }
    const error = new Error(text);
    error.status = response.status;
    throw error;
  }
  return response;
}

function showMessage(text) { const m = $('message'); m.textContent = text; m.hidden = false; }
function clearMessage() { $('message').hidden = true; $('message').textContent = ''; }

// ------------------------------------------------------------------ acquisitions

async function refreshList() {
  try {
    S.list = await (await api('/api/acquisitions')).json();
  } catch (e) { $('status').textContent = `acquisition list: ${e.message}`; return; }
  const body = $('acquisitions').tBodies[0];
  body.replaceChildren(...S.list.map(a => {
    const tr = document.createElement('tr');
    tr.dataset.name = a.name;
    if (a.name === S.acq) tr.classList.add('selected');
    const expected = a.framesExpected == null ? '?' : a.framesExpected;
    tr.innerHTML = `<td></td><td class="state-${a.state}"></td><td>${a.framesDone} / ${expected}</td><td>${a.failed}</td>`;
    tr.cells[0].textContent = a.name;
    tr.cells[1].textContent = a.state;
    if (a.error) tr.title = a.error;
    tr.addEventListener('click', () => selectAcquisition(a.name));
    return tr;
  }));
  if (!S.acq) {
    // ?acquisition=NAME opens that one (even before the broker has its first frame), else the newest.
    const wanted = new URLSearchParams(location.search).get('acquisition');
    if (wanted) selectAcquisition(wanted); else if (S.list.length > 0) selectAcquisition(S.list[0].name);
  }
}

async function selectAcquisition(name) {
  S.acq = name; S.detail = null; S.image = null; S.imageError = null; S.version = null;
  S.x0 = S.x1 = S.f0 = S.f1 = null; S.selected = 1; S.overlays = []; S.profiles.clear(); S.profileErrors.clear(); S.raw.image = null;
  history.replaceState(null, '', `?acquisition=${enc(name)}`);
  for (const tr of $('acquisitions').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.name === name);
  clearMessage();
  await refreshDetail();
}

async function refreshDetail() {
  if (!S.acq) return;
  const name = S.acq;
  let detail;
  try {
    detail = await (await api(`/api/acquisitions/${enc(name)}`)).json();
  } catch (e) {
    if (name === S.acq) { showMessage(e.message); S.detailError = true; S.detail = null; S.image = null; S.version = null; renderAll(); }
    return;
  }
  if (name !== S.acq) return;
  if (S.detailError) { S.detailError = false; clearMessage(); }
  S.detail = detail;
  $('settings').textContent = prettySettings(detail.settings);
  $('failed').replaceChildren(...detail.failed.slice(0, 500).map(f => {
    const li = document.createElement('li'); li.textContent = `frame ${f.frame}: ${f.reason}`; return li;
  }));
  const expected = detail.framesExpected == null ? '?' : detail.framesExpected;
  $('status').textContent = `${detail.name}: ${detail.state}, ${detail.framesDone} / ${expected} frames, ${detail.failed.length} failed` +
    (detail.wavelengthAngstrom ? `, λ = ${Plot.format(detail.wavelengthAngstrom)} Å` : ', no wavelength');
  updateLinks();
  if (detail.version !== S.version) {
    S.version = detail.version;
    if (detail.frames > 0) {
      await fetchImage();
      fetchProfiles();
      if (S.raw.on && !S.raw.image) fetchRaw();
    } else {
      S.image = null; renderAll();
    }
  }
}

function prettySettings(json) {
  if (!json) return '—';
  try { return JSON.stringify(JSON.parse(json), null, 1); } catch { return json; }
}

function unitInfo() {
  return S.detail && S.detail.units.find(u => u.name === S.unit);
}

function xRange() {
  const u = unitInfo();
  if (S.x0 != null && S.x1 != null) return [S.x0, S.x1];
  if (!u || !u.supported) return [0, 1];
  return [u.min, u.max];
}

function frameRange() {
  const frames = S.detail ? S.detail.frames : 1;
  return [S.f0 ?? 1, Math.min(S.f1 ?? frames, frames)];
}

// ------------------------------------------------------------------ heatmap

let imageBusy = false, imageAgain = false;
async function fetchImage() {
  if (!S.detail || S.detail.frames === 0) return;
  if (imageBusy) { imageAgain = true; return; }
  imageBusy = true;
  try {
    do {
      imageAgain = false;
      const canvas = $('heatmap');
      const w = Math.max(1, canvas.width - HM.left - HM.right), h = Math.max(1, canvas.height - HM.top - HM.bottom);
      const [x0, x1] = xRange();
      const [f0, f1] = frameRange();
      const name = S.acq;
      const url = `/api/acquisitions/${enc(name)}/image?unit=${enc(S.unit)}&x0=${x0}&x1=${x1}&f0=${f0}&f1=${f1}&w=${w}&h=${h}&mode=${S.mode}${S.bg === 'subtract' ? '&bg=true' : ''}`;
      let response;
      try {
        response = await api(url);
      } catch (e) {
        showMessage(e.message); S.image = null; S.imageError = e.message; renderAll(); return;
      }
      S.imageError = null;
      const buffer = await response.arrayBuffer();
      if (name !== S.acq) return;
      const header = k => Number(response.headers.get(k));
      S.image = {
        w: header('X-Image-Width'), h: header('X-Image-Height'), first: header('X-First-Frame'), last: header('X-Last-Frame'),
        frames: header('X-Frames'), x0: header('X-X0'), x1: header('X-X1'), version: header('X-Version'), values: new Float32Array(buffer),
      };
      S.fetches++;
      clearMessageIfUnit();
      if (S.auto) autoContrast();
      renderAll();
    } while (imageAgain);
  } finally { imageBusy = false; }
}

function clearMessageIfUnit() { if (!$('message').hidden && /Unit not supported|No frames yet|Unknown/.test($('message').textContent)) clearMessage(); }

function autoContrast() {
  if (!S.image) return;
  S.cmin = Plot.percentile(S.image.values, S.plow);
  S.cmax = Plot.percentile(S.image.values, S.phigh);
  $('cmin').value = Number.isFinite(S.cmin) ? Plot.format(S.cmin) : '';
  $('cmax').value = Number.isFinite(S.cmax) ? Plot.format(S.cmax) : '';
}

function contrast() {
  let lo = S.cmin, hi = S.cmax;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
  if (hi <= lo) hi = lo + 1;
  const floor = S.scale === 'log' ? (lo > 0 ? lo : Math.max(hi * 1e-4, 1e-12)) : 0;
  const tf = Plot.scaler(S.scale, floor);
  return { lo, hi, tf, tlo: tf(S.scale === 'log' ? Math.max(lo, floor) : lo), thi: tf(hi) };
}

function imageCanvas() {
  const img = S.image;
  const off = document.createElement('canvas');
  off.width = img.w; off.height = Math.max(1, img.h);
  const ctx = off.getContext('2d');
  const data = ctx.createImageData(img.w, Math.max(1, img.h));
  const lut = Plot.colormap(S.cmap);
  const { tf, tlo, thi } = contrast();
  const span = thi - tlo || 1;
  for (let i = 0; i < img.values.length; i++) {
    const v = img.values[i];
    const o = i * 4;
    if (!Number.isFinite(v)) { data.data[o] = data.data[o + 1] = data.data[o + 2] = 225; data.data[o + 3] = 255; continue; }
    const k = Math.max(0, Math.min(255, Math.round((tf(v) - tlo) / span * 255)));
    data.data[o] = lut[k * 3]; data.data[o + 1] = lut[k * 3 + 1]; data.data[o + 2] = lut[k * 3 + 2]; data.data[o + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
  return off;
}

const xToPx = (v, x0, x1, left, w) => left + (v - x0) / (x1 - x0) * w;

function renderHeatmap(p) {
  const W = p.width, H = p.height, pw = W - HM.left - HM.right, ph = H - HM.top - HM.bottom;
  p.clear('#ffffff');
  const [x0, x1] = xRange();
  const [f0, f1] = frameRange();
  const u = unitInfo();
  if (S.image && S.image.h > 0) {
    p.image(imageCanvas(), HM.left, HM.top, pw, ph);
  } else {
    p.rect(HM.left, HM.top, pw, ph, '#eef0f3');
    const why = S.imageError ? S.imageError.replace(/^[^:]*: /, '') : S.detail ? 'no integrated frame yet' : 'no acquisition selected';
    p.text(HM.left + pw / 2, HM.top + ph / 2, why, { align: 'center', baseline: 'middle', color: '#5a6572' });
  }
  p.rect(HM.left, HM.top, pw, ph, null, '#5a6572');
  // Radial axis.
  for (const v of Plot.ticks(x0, x1, Math.max(2, Math.floor(pw / 90)))) {
    const x = xToPx(v, x0, x1, HM.left, pw);
    p.line(x, HM.top + ph, x, HM.top + ph + 5, '#1d232a');
    p.text(x, HM.top + ph + 7, Plot.format(v), { align: 'center', baseline: 'top', size: 11 });
  }
  p.text(HM.left + pw / 2, H - 6, u ? u.label : S.unit, { align: 'center', size: 12 });
  // Frame axis: frame f spans [f - f0, f - f0 + 1) of (f1 - f0 + 1) rows, top to bottom.
  const rows = f1 - f0 + 1;
  const fy = f => HM.top + (f - f0 + 0.5) / rows * ph;
  for (const f of Plot.ticks(f0, f1, Math.max(2, Math.floor(ph / 40))).filter(f => Number.isInteger(f))) {
    p.line(HM.left - 5, fy(f), HM.left, fy(f), '#1d232a');
    p.text(HM.left - 7, fy(f), String(f), { align: 'right', baseline: 'middle', size: 11 });
  }
  p.text(14, HM.top + ph / 2, 'frame', { align: 'center', baseline: 'middle', rotate: -Math.PI / 2 });
  // Phase lines and the selected frame.
  p.clip(HM.left, HM.top, pw, ph, () => {
    for (const phase of S.phases) {
      for (const line of phase.lines) {
        const x = xToPx(line.x, x0, x1, HM.left, pw);
        p.line(x, HM.top, x, HM.top + ph, phase.colour, 1, [4, 3]);
      }
    }
    if (window.AnvilPressure) window.AnvilPressure.drawOnHeatmap(p, { f0, f1, fy, ph, x: v => xToPx(v, x0, x1, HM.left, pw), unit: S.unit, wavelength: S.detail && S.detail.wavelengthAngstrom });
    if (S.selected >= f0 && S.selected <= f1) p.line(HM.left, fy(S.selected), HM.left + pw, fy(S.selected), '#ff3b30', 1.5);
    for (const [i, f] of S.overlays.entries()) if (f >= f0 && f <= f1) p.line(HM.left, fy(f), HM.left + pw, fy(f), CURVE_COLOURS[(i + 1) % CURVE_COLOURS.length], 1, [6, 3]);
  });
  // Colour bar.
  const bx = W - HM.right + 14, bw = 14;
  const lut = Plot.colormap(S.cmap);
  for (let i = 0; i < ph; i++) {
    const k = Math.round((1 - i / Math.max(1, ph - 1)) * 255);
    p.rect(bx, HM.top + i, bw, 1.5, `rgb(${lut[k * 3]},${lut[k * 3 + 1]},${lut[k * 3 + 2]})`);
  }
  p.rect(bx, HM.top, bw, ph, null, '#5a6572');
  const { lo, hi } = contrast();
  p.text(bx + bw + 4, HM.top + 6, Plot.format(hi), { size: 10, baseline: 'middle' });
  p.text(bx + bw + 4, HM.top + ph - 4, Plot.format(lo), { size: 10, baseline: 'middle' });
  p.text(bx + bw + 4, HM.top + ph / 2, { lin: 'I', sqrt: '√I', log: 'log I' }[S.scale], { size: 11, baseline: 'middle' });
}

// ------------------------------------------------------------------ profiles

function profileKey(frame) { return `${S.acq}|${frame}|${S.unit}`; }

function curveFrames() {
  if (S.waterfall) {
    const from = Math.max(1, Math.min(S.wfrom, S.wto)), to = Math.max(S.wfrom, S.wto);
    const step = Math.max(1, Math.ceil((to - from + 1) / 60));
    const frames = [];
    for (let f = from; f <= to; f += step) frames.push(f);
    return frames;
  }
  return [S.selected, ...S.overlays.filter(f => f !== S.selected)];
}

async function fetchProfiles() {
  if (!S.detail || S.detail.frames === 0) return;
  const wanted = curveFrames().filter(f => !S.profiles.has(profileKey(f)));
  await Promise.all(wanted.map(async f => {
    const key = profileKey(f);
    try {
      const data = await (await api(`/api/acquisitions/${enc(S.acq)}/frames/${f}?unit=${enc(S.unit)}&bg=true`)).json();
      if (key.startsWith(S.acq + '|')) { S.profiles.set(key, data); S.profileErrors.delete(key); }
    } catch (e) { S.profileErrors.set(key, e.message); }
  }));
  renderProfile();
}

function curves() {
  const { tf } = contrast();
  const list = [];
  curveFrames().forEach((frame, i) => {
    const data = S.profiles.get(profileKey(frame));
    if (!data) return;
    const y = data.y.map((v, k) => v == null ? NaN : (S.bg === 'subtract' && data.background && data.background[k] != null ? v - data.background[k] : v));
    const bg = S.bg === 'show' && data.background ? data.background.map(v => v == null ? NaN : v) : null;
    list.push({ frame, colour: S.waterfall ? CURVE_COLOURS[i % CURVE_COLOURS.length] : CURVE_COLOURS[i % CURVE_COLOURS.length], x: data.x, y: y.map(tf), bg: bg && bg.map(tf), index: i });
  });
  return list;
}

function renderProfile(p) {
  const canvas = $('profile');
  p = p || Plot.canvasPainter(canvas);
  const W = p.width, H = p.height, pw = W - PR.left - PR.right, ph = H - PR.top - PR.bottom;
  p.clear('#ffffff');
  const [x0, x1] = xRange();
  const lo = Math.min(x0, x1), hi = Math.max(x0, x1);
  const list = curves();
  // y range over what is visible, waterfall offsets included.
  let ymin = Infinity, ymax = -Infinity;
  for (const c of list) for (let k = 0; k < c.x.length; k++) {
    if (c.x[k] == null || c.x[k] < lo || c.x[k] > hi) continue;
    for (const v of c.bg ? [c.y[k], c.bg[k]] : [c.y[k]]) if (Number.isFinite(v)) { ymin = Math.min(ymin, v); ymax = Math.max(ymax, v); }
  }
  if (!Number.isFinite(ymin)) { ymin = 0; ymax = 1; }
  const offset = S.waterfall ? S.woffset * (ymax - ymin) : 0;
  ymax += offset * Math.max(0, list.length - 1);
  if (ymax <= ymin) ymax = ymin + 1;
  const pad = (ymax - ymin) * 0.04; ymin -= pad; ymax += pad;
  const py = v => PR.top + ph - (v - ymin) / (ymax - ymin) * ph;
  p.rect(PR.left, PR.top, pw, ph, null, '#5a6572');
  for (const v of Plot.ticks(x0, x1, Math.max(2, Math.floor(pw / 90)))) {
    const x = xToPx(v, x0, x1, PR.left, pw);
    p.line(x, PR.top + ph, x, PR.top + ph + 5, '#1d232a');
    p.text(x, PR.top + ph + 7, Plot.format(v), { align: 'center', baseline: 'top', size: 11 });
  }
  const u = unitInfo();
  p.text(PR.left + pw / 2, H - 6, u ? u.label : S.unit, { align: 'center' });
  for (const v of Plot.ticks(ymin, ymax, Math.max(2, Math.floor(ph / 40)))) {
    p.line(PR.left - 5, py(v), PR.left, py(v), '#1d232a');
    p.text(PR.left - 7, py(v), Plot.format(v), { align: 'right', baseline: 'middle', size: 11 });
  }
  p.text(14, PR.top + ph / 2, { lin: 'I', sqrt: '√I', log: 'log₁₀ I' }[S.scale] + (S.bg === 'subtract' ? ' − bg' : ''), { align: 'center', baseline: 'middle', rotate: -Math.PI / 2 });
  p.clip(PR.left, PR.top, pw, ph, () => {
    for (const phase of S.phases) for (const line of phase.lines) {
      const x = xToPx(line.x, x0, x1, PR.left, pw);
      p.line(x, PR.top, x, PR.top + ph, phase.colour, 1, [4, 3]);
      p.text(x + 2, PR.top + 10, line.hkl, { size: 9, color: phase.colour });
    }
    list.forEach((c, i) => {
      const shift = offset * i;
      const pts = c.x.map((x, k) => [x == null ? NaN : xToPx(x, x0, x1, PR.left, pw), py(c.y[k] + shift)]);
      p.polyline(pts, c.colour, 1.2);
      if (c.bg) p.polyline(c.x.map((x, k) => [x == null ? NaN : xToPx(x, x0, x1, PR.left, pw), py(c.bg[k] + shift)]), c.colour, 1, [5, 3]);
    });
  });
  // Legend.
  list.slice(0, 12).forEach((c, i) => {
    p.line(W - PR.right + 8, PR.top + 8 + i * 15, W - PR.right + 26, PR.top + 8 + i * 15, c.colour, 2);
    p.text(W - PR.right + 30, PR.top + 8 + i * 15, `#${c.frame}`, { baseline: 'middle', size: 11 });
  });
  if (list.length === 0) {
    const error = S.profileErrors.get(profileKey(S.selected));
    p.text(PR.left + pw / 2, PR.top + ph / 2, error || (S.detail ? 'click a frame in the heatmap' : ''), { align: 'center', baseline: 'middle', color: '#5a6572' });
  }
}

function renderAll() {
  renderHeatmap(Plot.canvasPainter($('heatmap')));
  renderProfile();
  renderRaw();
  if (window.AnvilPressure) window.AnvilPressure.render(); // pressure.js: P(t) beside the heatmap
  S.renders++;
  S.lastRender = { at: Date.now(), rows: S.image ? S.image.h : 0, frames: S.image ? S.image.frames : 0, version: S.image ? S.image.version : null };
}

// ------------------------------------------------------------------ raw frame

async function fetchRaw() {
  if (!S.raw.on || !S.detail || S.detail.frames === 0) return;
  const name = S.acq, frame = S.selected;
  const canvas = $('raw');
  const h = Math.max(50, canvas.height - 40), w = Math.max(50, Math.round(h * 0.85));
  try {
    const response = await api(`/api/acquisitions/${enc(name)}/frames/${frame}/raw?w=${w}&h=${h}`);
    const data = new Float32Array(await response.arrayBuffer());
    if (name !== S.acq || frame !== S.selected) return;
    const iw = Number(response.headers.get('X-Image-Width')), ih = Number(response.headers.get('X-Image-Height'));
    S.raw.image = {
      w: iw, h: ih, values: data.subarray(0, iw * ih), mask: data.subarray(iw * ih, 2 * iw * ih), frame,
      rows: Number(response.headers.get('X-Source-Rows')), cols: Number(response.headers.get('X-Source-Cols')),
      file: decodeURIComponent(response.headers.get('X-Source-File') || ''),
    };
    S.raw.error = null;
  } catch (e) { S.raw.image = null; S.raw.error = e.message; }
  renderRaw();
}

function renderRaw(p) {
  const canvas = $('raw');
  canvas.hidden = !S.raw.on;
  if (!S.raw.on) return;
  p = p || Plot.canvasPainter(canvas);
  p.clear('#ffffff');
  const img = S.raw.image;
  if (!img) { p.text(p.width / 2, p.height / 2, S.raw.error || 'reading the raw frame…', { align: 'center', baseline: 'middle', color: '#5a6572' }); return; }
  // Same colour map and intensity scale as the heatmap; contrast from this image's own percentiles (counts, not intensities).
  const lo = Plot.percentile(img.values, S.plow), hi = Math.max(Plot.percentile(img.values, S.phigh), lo + 1);
  const tf = Plot.scaler(S.scale, lo > 0 ? lo : Math.max(hi * 1e-4, 1e-12));
  const tlo = tf(S.scale === 'log' ? Math.max(lo, hi * 1e-4) : lo), span = (tf(hi) - tlo) || 1;
  const lut = Plot.colormap(S.cmap);
  const off = document.createElement('canvas');
  off.width = img.w; off.height = img.h;
  const ctx = off.getContext('2d'), data = ctx.createImageData(img.w, img.h);
  for (let i = 0; i < img.values.length; i++) {
    const v = img.values[i], m = img.mask[i], o = i * 4;
    let r = 225, g = 225, b = 225;
    if (Number.isFinite(v)) {
      const k = Math.max(0, Math.min(255, Math.round((tf(v) - tlo) / span * 255)));
      r = lut[k * 3]; g = lut[k * 3 + 1]; b = lut[k * 3 + 2];
    }
    const a = Number.isFinite(v) ? 0.6 * (m || 0) : (m > 0 ? 1 : 0);
    data.data[o] = Math.round(r * (1 - a) + 220 * a); data.data[o + 1] = Math.round(g * (1 - a) + 40 * a); data.data[o + 2] = Math.round(b * (1 - a) + 40 * a); data.data[o + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
  const ph = p.height - 40, pw = Math.round(ph * img.cols / img.rows), x = 66;
  p.image(off, x, 10, pw, ph);
  p.rect(x, 10, pw, ph, null, '#5a6572');
  p.text(x + pw + 14, 24, `frame ${img.frame}: stitched ${img.rows} × ${img.cols} px`, { size: 12 });
  p.text(x + pw + 14, 42, img.file, { size: 11, color: '#5a6572' });
  p.text(x + pw + 14, 60, `red: mask and module gaps · ${{ lin: 'linear', sqrt: 'square root', log: 'log' }[S.scale]} · ${Plot.format(lo)}–${Plot.format(hi)} counts`, { size: 11, color: '#5a6572' });
}

// ------------------------------------------------------------------ phases

async function addPhase(source) {
  if (!S.acq) return;
  try {
    const response = source.text != null
      ? await api(`/api/acquisitions/${enc(S.acq)}/phases?unit=${enc(S.unit)}&name=${enc(source.name)}`, { method: 'POST', body: source.text, headers: { 'content-type': 'text/plain' } })
      : await api(`/api/acquisitions/${enc(S.acq)}/phases/${enc(source.name)}?unit=${enc(S.unit)}`);
    const data = await response.json();
    const existing = S.phases.find(p => p.name === data.name);
    if (existing) { existing.lines = data.lines; existing.source = source; } else S.phases.push({ name: data.name, lines: data.lines, source, colour: PHASE_COLOURS[S.phases.length % PHASE_COLOURS.length] });
  } catch (e) { showMessage(e.message); }
  renderPhaseList();
  renderAll();
}

function renderPhaseList() {
  $('phaselist').replaceChildren(...S.phases.map(p => {
    const chip = document.createElement('span');
    chip.className = 'chip'; chip.style.background = p.colour; chip.textContent = `${p.name} ×`; chip.title = 'remove';
    chip.addEventListener('click', () => { S.phases = S.phases.filter(q => q !== p); renderPhaseList(); renderAll(); });
    return chip;
  }));
}

async function refreshPhases() { for (const p of [...S.phases]) await addPhase(p.source); }

// ------------------------------------------------------------------ exports and links

function updateLinks() {
  const a = S.acq ? `/api/acquisitions/${enc(S.acq)}` : null;
  const set = (id, href) => { const el = $(id); if (href) { el.href = href; el.removeAttribute('aria-disabled'); } else { el.removeAttribute('href'); el.setAttribute('aria-disabled', 'true'); } };
  set('xy', a && S.detail && S.detail.frames > 0 ? `${a}/frames/${S.selected}.xy?unit=${enc(S.unit)}` : null);
  set('csv', a && S.detail && S.detail.frames > 0 ? `${a}/result.csv?unit=${enc(S.unit)}` : null);
  set('nxs', a && S.detail && S.detail.resultFile ? `${a}/result.nxs` : null);
}

function download(name, blob) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob); link.download = name;
  document.body.appendChild(link); link.click(); link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function exportView(kind) {
  const base = `${S.acq || 'anvil'}_${kind.split('.')[0]}`;
  const canvas = $(kind.startsWith('heatmap') ? 'heatmap' : 'profile');
  if (kind.endsWith('.png')) { canvas.toBlob(b => download(`${base}.png`, b), 'image/png'); return; }
  const svg = Plot.svgPainter(canvas.width, canvas.height);
  if (kind.startsWith('heatmap')) renderHeatmap(svg); else renderProfile(svg);
  download(`${base}.svg`, new Blob([svg.toString()], { type: 'image/svg+xml' }));
}

// ------------------------------------------------------------------ interaction

function plotGeometry(canvas, m) {
  const rect = canvas.getBoundingClientRect();
  const sx = canvas.width / rect.width, sy = canvas.height / rect.height;
  return { rect, sx, sy, pw: canvas.width - m.left - m.right, ph: canvas.height - m.top - m.bottom };
}

function eventPoint(canvas, m, e) {
  const g = plotGeometry(canvas, m);
  return { x: (e.clientX - g.rect.left) * g.sx - m.left, y: (e.clientY - g.rect.top) * g.sy - m.top, g };
}

function valueAt(px, pw) { const [x0, x1] = xRange(); return x0 + (x1 - x0) * px / pw; }
function frameAt(py, ph) { const [f0, f1] = frameRange(); return Math.min(f1, Math.max(f0, Math.floor(f0 + py / ph * (f1 - f0 + 1)))); }

let scheduled = false;
function viewChanged() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; renderAll(); fetchImage(); });
}

function zoomX(factor, centre) {
  const [x0, x1] = xRange();
  S.x0 = centre + (x0 - centre) * factor; S.x1 = centre + (x1 - centre) * factor;
  viewChanged();
}

function selectFrame(frame, overlay) {
  if (!S.detail) return;
  frame = Math.max(1, Math.min(S.detail.frames, frame));
  if (overlay) {
    S.overlays = S.overlays.includes(frame) ? S.overlays.filter(f => f !== frame) : [...S.overlays, frame];
  } else S.selected = frame;
  updateLinks();
  renderAll();
  fetchProfiles();
  fetchRaw();
}

function attachPlot(canvas, m, isHeatmap) {
  let drag = null;
  canvas.addEventListener('wheel', e => {
    e.preventDefault();
    const { x, y, g } = eventPoint(canvas, m, e);
    const factor = Math.exp(e.deltaY * 0.0015);
    if (isHeatmap && e.shiftKey) {
      const [f0, f1] = frameRange();
      const c = frameAt(y, g.ph), frames = S.detail ? S.detail.frames : 1;
      let a = Math.round(c + (f0 - c) * factor), b = Math.round(c + (f1 - c) * factor);
      if (b - a < 1) b = a + 1;
      S.f0 = Math.max(1, a); S.f1 = Math.min(frames, b);
      viewChanged();
    } else zoomX(factor, valueAt(x, g.pw));
  }, { passive: false });
  canvas.addEventListener('mousedown', e => {
    const { x, y } = eventPoint(canvas, m, e);
    drag = { x, y, x0: xRange(), f: frameRange(), moved: false, shift: e.shiftKey };
  });
  window.addEventListener('mousemove', e => {
    if (!drag) return;
    const { x, y, g } = eventPoint(canvas, m, e);
    if (Math.abs(x - drag.x) + Math.abs(y - drag.y) > 3) drag.moved = true;
    if (!drag.moved) return;
    const [a, b] = drag.x0;
    const dv = -(x - drag.x) / g.pw * (b - a);
    S.x0 = a + dv; S.x1 = b + dv;
    if (isHeatmap && S.detail) {
      const [f0, f1] = drag.f, span = f1 - f0;
      let df = Math.round(-(y - drag.y) / g.ph * (span + 1));
      df = Math.max(1 - f0, Math.min(S.detail.frames - f1, df));
      S.f0 = f0 + df; S.f1 = f1 + df;
    }
    viewChanged();
  });
  window.addEventListener('mouseup', e => {
    if (!drag) return;
    const d = drag; drag = null;
    if (d.moved || !isHeatmap) return;
    const { x, y, g } = eventPoint(canvas, m, e);
    if (x >= 0 && x <= g.pw && y >= 0 && y <= g.ph) selectFrame(frameAt(y, g.ph), e.shiftKey);
  });
  canvas.addEventListener('dblclick', () => { S.x0 = S.x1 = null; if (isHeatmap) S.f0 = S.f1 = null; viewChanged(); });
  canvas.addEventListener('mousemove', e => {
    if (drag) return;
    const { x, y, g } = eventPoint(canvas, m, e);
    if (x < 0 || x > g.pw || y < 0 || y > g.ph || !S.detail) { $('readout').innerHTML = '&nbsp;'; return; }
    const u = unitInfo();
    const v = valueAt(x, g.pw);
    let text = `${u ? u.label.replace(/ \(.*\)/, '') : S.unit} = ${Plot.format(v)} ${u ? u.label.replace(/^.*\((.*)\)$/, '$1') : ''}`;
    if (isHeatmap) {
      const frame = frameAt(y, g.ph);
      text += ` · frame ${frame}`;
      if (S.image && S.image.h > 0) {
        const col = Math.min(S.image.w - 1, Math.floor(x / g.pw * S.image.w)), row = Math.min(S.image.h - 1, Math.floor(y / g.ph * S.image.h));
        text += ` · I = ${Plot.format(S.image.values[row * S.image.w + col])}`;
      }
    } else {
      const list = curves();
      if (list.length > 0) {
        const c = list[0];
        let best = -1, bestDistance = Infinity;
        c.x.forEach((xv, k) => { if (xv != null && Math.abs(xv - v) < bestDistance) { bestDistance = Math.abs(xv - v); best = k; } });
        if (best >= 0) text += ` · frame ${c.frame} · ${{ lin: 'I', sqrt: '√I', log: 'log₁₀ I' }[S.scale]} = ${Plot.format(c.y[best])}`;
      }
    }
    $('readout').textContent = text;
  });
}

document.addEventListener('keydown', e => {
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || !S.detail) return;
  const step = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 }[e.key];
  if (step) { e.preventDefault(); selectFrame(S.selected + step, false); }
  if (e.key === 'Home') selectFrame(1, false);
  if (e.key === 'End') selectFrame(S.detail.frames, false);
});

function resize() {
  for (const id of ['heatmap', 'profile', 'raw']) {
    const canvas = $(id);
    const width = Math.max(400, Math.floor(canvas.getBoundingClientRect().width));
    if (canvas.width !== width) canvas.width = width;
  }
  renderAll();
  fetchImage();
}

function bind() {
  $('unit').addEventListener('change', async e => {
    S.unit = e.target.value; S.x0 = S.x1 = null; S.profiles.clear(); S.profileErrors.clear();
    updateLinks();
    await fetchImage(); fetchProfiles(); refreshPhases();
  });
  $('scale').addEventListener('change', e => { S.scale = e.target.value; renderAll(); });
  $('cmap').addEventListener('change', e => { S.cmap = e.target.value; renderAll(); });
  $('mode').addEventListener('change', e => { S.mode = e.target.value; fetchImage(); });
  $('bg').addEventListener('change', e => { S.bg = e.target.value; renderProfile(); fetchImage(); });
  $('auto').addEventListener('change', e => { S.auto = e.target.checked; if (S.auto) autoContrast(); renderAll(); });
  for (const id of ['cmin', 'cmax']) $(id).addEventListener('change', e => {
    S.auto = false; $('auto').checked = false; S[id] = parseFloat(e.target.value); renderAll();
  });
  for (const id of ['plow', 'phigh']) $(id).addEventListener('change', e => { S[id] = parseFloat(e.target.value); if (S.auto) { autoContrast(); renderAll(); } });
  $('reset').addEventListener('click', () => { S.x0 = S.x1 = S.f0 = S.f1 = null; viewChanged(); });
  $('phase').addEventListener('change', e => { if (e.target.value) addPhase({ name: e.target.value }); e.target.value = ''; });
  $('jcpds').addEventListener('change', async e => {
    const file = e.target.files[0];
    if (file) addPhase({ name: file.name.replace(/\.jcpds$/i, ''), text: await file.text() });
    e.target.value = '';
  });
  $('rawtoggle').addEventListener('change', e => {
    S.raw.on = e.target.checked; S.raw.image = null; $('raw').hidden = !S.raw.on;
    resize(); fetchRaw();
  });
  $('waterfall').addEventListener('change', e => {
    S.waterfall = e.target.checked;
    if (S.waterfall && S.detail && !$('wto').value) { $('wfrom').value = S.wfrom = S.selected; $('wto').value = S.wto = Math.min(S.detail.frames, S.selected + 9); }
    fetchProfiles(); renderProfile();
  });
  for (const id of ['wfrom', 'wto']) $(id).addEventListener('change', e => { S[id] = parseInt(e.target.value, 10) || 1; fetchProfiles(); });
  $('woffset').addEventListener('input', e => { S.woffset = parseFloat(e.target.value); renderProfile(); });
  for (const button of document.querySelectorAll('[data-export]')) button.addEventListener('click', () => exportView(button.dataset.export));
  attachPlot($('heatmap'), HM, true);
  attachPlot($('profile'), PR, false);
  window.addEventListener('resize', resize);
}

async function start() {
  bind();
  try {
    const names = await (await api('/api/phases')).json();
    for (const name of names) { const o = document.createElement('option'); o.value = o.textContent = name; $('phase').appendChild(o); }
  } catch (e) { showMessage(e.message); }
  resize();
  await refreshList();
  setInterval(refreshList, 1000);
  // The selected acquisition: a new version (a profile arrived) re-reads the heatmap for what is on screen.
  const poll = async () => { try { await refreshDetail(); } finally { setTimeout(poll, 200); } };
  poll();
}

start();
