// @ts-check
// Classify: one image, sent raw (the cheapest encoding), its top-k drawn as bars with the timings and request id.
import { api, describeError } from './api.js';
import { byId, dropZone, fmtMs, h, showError } from './dom.js';

/** @typedef {{ label: string; index: number; score: number }} Prediction */

export function initClassify() {
  const form = byId('classify-form', HTMLFormElement);
  const fileInput = byId('classify-file', HTMLInputElement);
  const cameraInput = byId('classify-camera', HTMLInputElement);
  const drop = byId('classify-drop', HTMLLabelElement);
  const model = byId('classify-model', HTMLSelectElement);
  const topK = byId('classify-topk', HTMLInputElement);
  const run = byId('classify-run', HTMLButtonElement);
  const preview = byId('classify-preview', HTMLImageElement);
  const name = byId('classify-name', HTMLElement);
  const error = byId('classify-error', HTMLElement);
  const result = byId('classify-result', HTMLElement);
  /** @type {File | undefined} */
  let file;
  let previewUrl = '';

  /** @param {File | undefined} chosen */
  const choose = (chosen) => {
    if (!chosen) return;
    file = chosen;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(chosen);
    preview.src = previewUrl;
    preview.alt = `Preview of ${chosen.name}`;
    preview.hidden = false;
    name.textContent = `${chosen.name} · ${chosen.type || 'unknown type'} · ${chosen.size.toLocaleString()} bytes`;
    run.disabled = false;
    void classify();
  };

  const classify = async () => {
    if (!file) return;
    run.disabled = true;
    run.textContent = 'Classifying…';
    showError(error, undefined);
    const query = new URLSearchParams({ topK: topK.value || '5' });
    if (model.value) query.set('model', model.value);
    try {
      // The raw body: what the bytes are is the file's own type, and the API says so when it takes none of it.
      const res = await api(`predict?${query}`, { method: 'POST', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file });
      render(await res.json());
    } catch (err) {
      result.hidden = true;
      showError(error, describeError(err));
    } finally {
      run.disabled = false;
      run.textContent = 'Classify';
    }
  };

  /** @param {{ requestId: string; model: { name: string; version: string }; predictions: Prediction[]; timings: Record<string, number> }} body */
  const render = (body) => {
    byId('classify-k', HTMLElement).textContent = String(body.predictions.length);
    byId('classify-model-used', HTMLElement).textContent = `${body.model.name} ${body.model.version}`;
    byId('classify-bars', HTMLOListElement).replaceChildren(
      ...body.predictions.map((p) => {
        const bar = h('span', { class: 'bar-fill' });
        // CSSOM, not a style attribute: the page's CSP allows no inline styles.
        bar.style.width = `${Math.max(0.5, p.score * 100)}%`;
        return h(
          'li',
          { 'data-label': p.label },
          h('span', { class: 'bar-label' }, p.label),
          h('span', { class: 'bar-track', 'aria-hidden': 'true' }, bar),
          h('span', { class: 'bar-score' }, `${(p.score * 100).toFixed(1)} %`),
        );
      }),
    );
    const t = body.timings;
    byId('classify-timings', HTMLElement).replaceChildren(
      ...[
        ['Decode', t.decodeMs],
        ['Queue', t.queueMs],
        ['Inference', t.inferMs],
        ['Total', t.totalMs],
      ].flatMap(([label, v]) => [h('dt', {}, String(label)), h('dd', {}, fmtMs(/** @type {number | undefined} */ (v)))]),
    );
    byId('classify-request-id', HTMLElement).textContent = body.requestId;
    result.hidden = false;
  };

  fileInput.addEventListener('change', () => choose(fileInput.files?.[0]));
  cameraInput.addEventListener('change', () => choose(cameraInput.files?.[0]));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void classify();
  });
  dropZone(drop, (data) => choose(data?.files?.[0]));
}
