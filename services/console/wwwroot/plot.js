// Drawing helpers of the results console: colour maps, intensity scales, nice ticks, and one painter interface
// with a <canvas> and an SVG implementation, so every view is drawn once and exported as PNG or SVG alike.
'use strict';

const Plot = (() => {
  // Colour maps as anchor colours at even steps (viridis and inferno: the published matplotlib anchors).
  const anchors = {
    viridis: ['#440154', '#482475', '#414487', '#355f8d', '#2a788e', '#21918c', '#22a884', '#44bf70', '#7ad151', '#bddf26', '#fde725'],
    inferno: ['#000004', '#160b39', '#420a68', '#6a176e', '#932667', '#bc3754', '#dd513a', '#f37819', '#fca50a', '#f6d746', '#fcffa4'],
    gray: ['#000000', '#ffffff'],
    gray_r: ['#ffffff', '#000000'],
    hot: ['#0b0000', '#ff0000', '#ffff00', '#ffffff'],
  };

  const hex = h => [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16));

  // 256-entry lookup tables, [r, g, b] per entry, in one Uint8Array.
  const tables = {};
  function colormap(name) {
    if (tables[name]) return tables[name];
    const stops = (anchors[name] || anchors.viridis).map(hex);
    const lut = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) {
      const t = i / 255 * (stops.length - 1);
      const k = Math.min(Math.floor(t), stops.length - 2);
      const f = t - k;
      for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(stops[k][c] * (1 - f) + stops[k + 1][c] * f);
    }
    return (tables[name] = lut);
  }

  // Intensity scale: linear, square root or log10 (values ≤ 0 clip to a floor).
  function scaler(scale, floor) {
    if (scale === 'sqrt') return v => Math.sqrt(Math.max(v, 0));
    if (scale === 'log') return v => Math.log10(Math.max(v, floor));
    return v => v;
  }

  function percentile(values, p) {
    const finite = [];
    const step = Math.max(1, Math.floor(values.length / 200000));
    for (let i = 0; i < values.length; i += step) if (Number.isFinite(values[i])) finite.push(values[i]);
    if (finite.length === 0) return NaN;
    finite.sort((a, b) => a - b);
    const k = Math.min(finite.length - 1, Math.max(0, Math.round(p / 100 * (finite.length - 1))));
    return finite[k];
  }

  // About n round-numbered ticks between a and b (either order).
  function ticks(a, b, n) {
    const lo = Math.min(a, b), hi = Math.max(a, b);
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / Math.max(1, n);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  function format(v) {
    if (!Number.isFinite(v)) return '';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
    return parseFloat(v.toPrecision(6)).toString();
  }

  // Canvas painter.
  function canvasPainter(canvas) {
    const ctx = canvas.getContext('2d');
    return {
      width: canvas.width, height: canvas.height,
      clear(fill) { ctx.fillStyle = fill; ctx.fillRect(0, 0, canvas.width, canvas.height); },
      rect(x, y, w, h, fill, stroke) {
        if (fill) { ctx.fillStyle = fill; ctx.fillRect(x, y, w, h); }
        if (stroke) { ctx.strokeStyle = stroke; ctx.lineWidth = 1; ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1); }
      },
      line(x1, y1, x2, y2, stroke, width = 1, dash = null) {
        ctx.save(); ctx.strokeStyle = stroke; ctx.lineWidth = width; if (dash) ctx.setLineDash(dash);
        ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x2, y2); ctx.stroke(); ctx.restore();
      },
      polyline(points, stroke, width = 1, dash = null) {
        ctx.save(); ctx.strokeStyle = stroke; ctx.lineWidth = width; if (dash) ctx.setLineDash(dash);
        ctx.beginPath();
        let pen = false;
        for (const [x, y] of points) {
          if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
          if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          pen = true;
        }
        ctx.stroke(); ctx.restore();
      },
      text(x, y, s, { align = 'left', baseline = 'alphabetic', color = '#1d232a', rotate = 0, size = 12 } = {}) {
        ctx.save(); ctx.fillStyle = color; ctx.font = `${size}px system-ui, "DejaVu Sans", sans-serif`;
        ctx.textAlign = align; ctx.textBaseline = baseline; ctx.translate(x, y); if (rotate) ctx.rotate(rotate);
        ctx.fillText(s, 0, 0); ctx.restore();
      },
      image(source, x, y, w, h) {
        ctx.save(); ctx.imageSmoothingEnabled = false; ctx.drawImage(source, x, y, w, h); ctx.restore();
      },
      clip(x, y, w, h, draw) { ctx.save(); ctx.beginPath(); ctx.rect(x, y, w, h); ctx.clip(); draw(); ctx.restore(); },
    };
  }

  const esc = s => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

  // SVG painter: the same calls, collected as an SVG document (string).
  function svgPainter(width, height) {
    const parts = [];
    let clipId = 0;
    return {
      width, height,
      clear(fill) { parts.push(`<rect width="${width}" height="${height}" fill="${fill}"/>`); },
      rect(x, y, w, h, fill, stroke) { parts.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="${fill || 'none'}"${stroke ? ` stroke="${stroke}"` : ''}/>`); },
      line(x1, y1, x2, y2, stroke, width = 1, dash = null) {
        parts.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${stroke}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash.join(' ')}"` : ''}/>`);
      },
      polyline(points, stroke, width = 1, dash = null) {
        let d = '', pen = false;
        for (const [x, y] of points) {
          if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
          d += `${pen ? 'L' : 'M'}${x.toFixed(2)} ${y.toFixed(2)}`; pen = true;
        }
        parts.push(`<path d="${d}" fill="none" stroke="${stroke}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash.join(' ')}"` : ''}/>`);
      },
      text(x, y, s, { align = 'left', baseline = 'alphabetic', color = '#1d232a', rotate = 0, size = 12 } = {}) {
        const anchor = { left: 'start', center: 'middle', right: 'end' }[align] || 'start';
        const dy = { middle: '0.35em', top: '0.8em', bottom: '0', alphabetic: '0' }[baseline] || '0';
        const turn = rotate ? ` transform="rotate(${rotate * 180 / Math.PI} ${x} ${y})"` : '';
        parts.push(`<text x="${x}" y="${y}" dy="${dy}" text-anchor="${anchor}" fill="${color}" font-size="${size}" font-family="sans-serif"${turn}>${esc(s)}</text>`);
      },
      image(source, x, y, w, h) {
        parts.push(`<image x="${x}" y="${y}" width="${w}" height="${h}" preserveAspectRatio="none" style="image-rendering:pixelated" href="${source.toDataURL('image/png')}"/>`);
      },
      clip(x, y, w, h, draw) {
        const id = `c${clipId++}`;
        parts.push(`<clipPath id="${id}"><rect x="${x}" y="${y}" width="${w}" height="${h}"/></clipPath><g clip-path="url(#${id})">`);
        draw();
        parts.push('</g>');
      },
      toString() {
        return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
      },
    };
  }

  return { colormap, scaler, percentile, ticks, format, canvasPainter, svgPainter };
})();
