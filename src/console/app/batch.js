// @ts-check
// Batch: a folder, images or a zip → POST /jobs → each file straight to the bucket through its presigned POST form
// (XMLHttpRequest, for upload progress) → the job's counts while it runs → the results per file.
import { api, apiJson, describeError } from './api.js';
import { byId, dropZone, fmtBytes, h, showError, sleep } from './dom.js';

/** @typedef {{ file: File; path: string }} Picked */
/** @typedef {{ key: string; url: string; method: 'POST'; fields: Record<string, string> }} Upload */
/** @typedef {{ key: string; ok: boolean; predictions?: Array<{ label: string; score: number }>; error?: { code: string; message: string } }} ResultRecord */

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;
const TYPES = /** @type {Record<string, string>} */ ({
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  avif: 'image/avif',
  zip: 'application/zip',
});
const UPLOADS_AT_ONCE = 4;
const POLL_MS = 1000;

/**
 * Whether a picked file is worth a job: images and zips, never hidden files or macOS resource forks, which ingest
 * would ignore (a job would wait for them forever).
 * @param {Picked} p
 */
const wanted = (p) =>
  !p.path.split('/').some((seg) => seg.startsWith('.') || seg === '__MACOSX') &&
  (IMAGE_EXT.test(p.path) || /\.zip$/i.test(p.path) || p.file.type.startsWith('image/'));

/**
 * Upload names as POST /jobs sanitises them, made unique here so that two files never ask for one key.
 * @param {Picked[]} picked
 */
export function uploadNames(picked) {
  const seen = new Set();
  return picked.map((p) => {
    const base = p.path.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
    let name = base;
    for (let n = 2; seen.has(name); n++) name = base.replace(/(\.[^.]*)?$/, (ext) => `-${n}${ext}`);
    seen.add(name);
    return name;
  });
}

/** @param {File} file */
const contentTypeOf = (file) =>
  file.type && file.type !== 'application/x-zip-compressed'
    ? file.type
    : (TYPES[/\.([^.]+)$/.exec(file.name)?.[1]?.toLowerCase() ?? ''] ?? 'application/octet-stream');

/**
 * The files of dropped folders, recursively.
 * @param {DataTransferItemList} items
 * @returns {Promise<Picked[]>}
 */
async function droppedFiles(items) {
  /** @type {Picked[]} */
  const out = [];
  /** @param {FileSystemEntry} entry @param {string} prefix */
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => /** @type {FileSystemFileEntry} */ (entry).file(resolve, reject));
      out.push({ file: /** @type {File} */ (file), path: `${prefix}${entry.name}` });
    } else if (entry.isDirectory) {
      const reader = /** @type {FileSystemDirectoryEntry} */ (entry).createReader();
      for (;;) {
        /** @type {FileSystemEntry[]} */
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
      }
    }
  };
  const entries = [...items].map((i) => i.webkitGetAsEntry()).filter((e) => e !== null);
  for (const e of entries) await walk(/** @type {FileSystemEntry} */ (e), '');
  return out;
}

/**
 * One file through its form: the form's fields as given, a Content-Type where the form leaves it to us, the file last.
 * @param {Upload} upload
 * @param {File} file
 * @param {(loaded: number) => void} progress
 * @returns {Promise<void>}
 */
function send(upload, file, progress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    if (!Object.keys(upload.fields).some((k) => k.toLowerCase() === 'content-type')) form.append('Content-Type', contentTypeOf(file));
    form.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method, upload.url);
    xhr.upload.addEventListener('progress', (e) => progress(e.loaded));
    xhr.addEventListener('load', () => {
      if (xhr.status < 300) {
        progress(file.size);
        resolve();
        return;
      }
      // S3 answers XML: its Code and Message say why (a wrong type, too large, expired).
      const doc = new DOMParser().parseFromString(xhr.responseText, 'application/xml');
      const code = doc.querySelector('Code')?.textContent ?? `HTTP ${xhr.status}`;
      reject(new Error(`${code}: ${doc.querySelector('Message')?.textContent ?? 'upload refused'}`));
    });
    xhr.addEventListener('error', () => reject(new Error('the bucket could not be reached')));
    xhr.send(form);
  });
}

/**
 * Every result record of a job so far, page after page.
 * @param {string} jobId
 * @returns {Promise<ResultRecord[]>}
 */
async function allResults(jobId) {
  /** @type {ResultRecord[]} */
  const records = [];
  let after = '';
  for (;;) {
    const res = await api(`jobs/${encodeURIComponent(jobId)}/results?format=jsonl&limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    for (const line of (await res.text()).split('\n')) if (line.trim()) records.push(JSON.parse(line));
    const next = res.headers.get('x-next-cursor');
    if (!next) return records;
    after = next;
  }
}

export function initBatch() {
  const form = byId('batch-form', HTMLFormElement);
  const filesInput = byId('batch-files', HTMLInputElement);
  const folderInput = byId('batch-folder', HTMLInputElement);
  const drop = byId('batch-drop', HTMLLabelElement);
  const model = byId('batch-model', HTMLSelectElement);
  const topK = byId('batch-topk', HTMLInputElement);
  const run = byId('batch-run', HTMLButtonElement);
  const selection = byId('batch-selection', HTMLElement);
  const error = byId('batch-error', HTMLElement);
  const jobBox = byId('batch-job', HTMLElement);
  const uploadBar = byId('batch-upload-progress', HTMLProgressElement);
  const jobBar = byId('batch-job-progress', HTMLProgressElement);
  const tbody = /** @type {HTMLTableSectionElement} */ (byId('batch-results', HTMLTableElement).tBodies[0]);
  /** @type {Picked[]} */
  let picked = [];
  /** @type {string[]} */
  let thumbs = [];
  let generation = 0;

  /** @param {Picked[]} all */
  const choose = (all) => {
    picked = all.filter(wanted);
    const skipped = all.length - picked.length;
    const bytes = picked.reduce((s, p) => s + p.file.size, 0);
    selection.textContent = picked.length
      ? `${picked.length} file(s), ${fmtBytes(bytes)}${skipped ? ` (${skipped} skipped: not an image or zip, or hidden)` : ''}`
      : `Nothing to upload${skipped ? `: ${skipped} file(s) are not images or zips` : ''}.`;
    run.disabled = picked.length === 0;
  };
  /** @param {FileList | null} list */
  const fromInput = (list) => choose([...(list ?? [])].map((file) => ({ file, path: file.webkitRelativePath || file.name })));

  /** @param {Record<string, number>} c */
  const showCounts = (c) => {
    for (const k of ['expected', 'ingested', 'done', 'failed']) byId(`batch-${k}`, HTMLElement).textContent = String(c[k] ?? 0);
    jobBar.max = Math.max(1, c.expected ?? 0);
    jobBar.value = (c.done ?? 0) + (c.failed ?? 0);
    byId('batch-job-text', HTMLElement).textContent = `${jobBar.value} / ${c.expected ?? 0}`;
  };

  /**
   * Rows are redrawn on every poll that brings news; a thumbnail keeps its element across redraws, so it is decoded
   * once and does not flicker.
   * @param {Map<string, string>} thumbOf
   * @returns {(name: string) => Node}
   */
  const thumbnails = (thumbOf) => {
    /** @type {Map<string, Node>} */
    const shown = new Map();
    return (name) => {
      const known = shown.get(name);
      if (known) return known;
      const url = thumbOf.get(name);
      if (!url) return document.createTextNode('–');
      const img = h('img', { src: url, alt: '', class: 'thumb', width: '48', height: '48', loading: 'lazy' });
      // A file named like an image that is none (its row says why) gets no broken-image icon.
      img.addEventListener('error', () => {
        const dash = document.createTextNode('–');
        shown.set(name, dash);
        img.replaceWith(dash);
      });
      shown.set(name, img);
      return img;
    };
  };

  /** @param {ResultRecord[]} records @param {string} prefix @param {(name: string) => Node} thumbFor */
  const showResults = (records, prefix, thumbFor) => {
    records.sort((a, b) => a.key.localeCompare(b.key));
    tbody.replaceChildren(
      ...records.map((r) => {
        const name = r.key.startsWith(prefix) ? r.key.slice(prefix.length) : r.key;
        const top = r.predictions?.[0];
        return h(
          'tr',
          { class: r.ok ? 'ok' : 'failed', 'data-key': r.key },
          h('td', {}, thumbFor(name)),
          h('td', {}, name),
          h('td', { class: 'top1' }, top?.label ?? '–'),
          h('td', { class: 'num' }, top ? `${(top.score * 100).toFixed(1)} %` : '–'),
          h('td', {}, r.error ? h('span', {}, h('code', {}, r.error.code), ` ${r.error.message}`) : ''),
        );
      }),
    );
  };

  const start = async () => {
    const mine = ++generation;
    const files = picked;
    for (const t of thumbs) URL.revokeObjectURL(t);
    thumbs = [];
    showError(error, undefined);
    tbody.replaceChildren();
    byId('batch-downloads', HTMLElement).replaceChildren();
    run.disabled = true;
    const names = uploadNames(files);
    /** @type {{ jobId: string; uploadPrefix: string; uploads: Upload[] }} */
    let job;
    try {
      job = await apiJson('jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ names, model: model.value || undefined, topK: Number(topK.value) || 5 }),
      });
    } catch (err) {
      showError(error, describeError(err));
      run.disabled = false;
      return;
    }
    jobBox.hidden = false;
    byId('batch-job-id', HTMLElement).textContent = job.jobId;
    byId('batch-status', HTMLElement).textContent = 'uploading';
    showCounts({ expected: files.length });
    /** @type {Map<string, string>} */
    const thumbOf = new Map();
    files.forEach((p, i) => {
      const name = names[i];
      if (name !== undefined && p.file.type.startsWith('image/')) {
        const url = URL.createObjectURL(p.file);
        thumbs.push(url);
        thumbOf.set(name, url);
      }
    });

    const total = files.reduce((s, p) => s + p.file.size, 0) || 1;
    const loaded = new Array(files.length).fill(0);
    uploadBar.max = total;
    const uploadText = byId('batch-upload-text', HTMLElement);
    const tick = () => {
      uploadBar.value = loaded.reduce((s, v) => s + v, 0);
      uploadText.textContent = `${fmtBytes(uploadBar.value)} / ${fmtBytes(total)}`;
    };
    /** @type {string[]} */
    const failures = [];
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const i = next++;
        const upload = job.uploads[i];
        const p = files[i];
        if (!upload || !p) continue;
        try {
          await send(upload, p.file, (n) => {
            loaded[i] = n;
            tick();
          });
        } catch (err) {
          failures.push(`${p.path}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: UPLOADS_AT_ONCE }, worker));
    tick();
    if (failures.length)
      showError(
        error,
        h('div', {}, h('strong', {}, `${failures.length} upload(s) refused by the bucket`), h('ul', {}, ...failures.map((f) => h('li', {}, f)))),
      );
    run.disabled = false;

    const thumbFor = thumbnails(thumbOf);
    let shown = -1;
    while (mine === generation) {
      try {
        const report = await apiJson(`jobs/${encodeURIComponent(job.jobId)}`);
        // A newer run started while this one waited: its table is not ours to draw on.
        if (mine !== generation) return;
        showCounts(report.counts);
        byId('batch-status', HTMLElement).textContent = report.status;
        const finished = report.status === 'done' || report.status === 'failed';
        const answered = report.counts.done + report.counts.failed;
        if (answered !== shown || finished) {
          shown = answered;
          const records = await allResults(job.jobId);
          if (mine !== generation) return;
          showResults(records, job.uploadPrefix, thumbFor);
        }
        if (finished) {
          const dl = report.results.download;
          if (dl) {
            byId('batch-downloads', HTMLElement).replaceChildren(
              ' · download ',
              h('a', { href: dl.jsonl, download: 'results.jsonl' }, 'JSONL'),
              ' ',
              h('a', { href: dl.csv, download: 'results.csv' }, 'CSV'),
            );
          }
          return;
        }
        await sleep(POLL_MS);
      } catch (err) {
        if (mine !== generation) return;
        showError(error, describeError(err));
        await sleep(
          err instanceof Error && 'retryAfterSeconds' in err && typeof err.retryAfterSeconds === 'number'
            ? err.retryAfterSeconds * 1000
            : POLL_MS * 3,
        );
      }
    }
  };

  filesInput.addEventListener('change', () => fromInput(filesInput.files));
  folderInput.addEventListener('change', () => fromInput(folderInput.files));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void start();
  });
  dropZone(drop, (data) => {
    const items = data?.items;
    if (items) void droppedFiles(items).then(choose);
  });
}
