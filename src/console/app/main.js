// @ts-check
// The console's entry: the key (asked once per browser session), the views as tabs (keyboard: arrows, Home, End;
// the URL's #hash names the view), and the models both forms offer.
import { apiJson, apiKey, describeError, onUnauthorized } from './api.js';
import { initBatch } from './batch.js';
import { initClassify } from './classify.js';
import { byId, h, showError } from './dom.js';
import { initOperate } from './operate.js';
import { showReports } from './reports.js';

const VIEWS = /** @type {const} */ (['classify', 'batch', 'operate', 'reports']);
/** @typedef {(typeof VIEWS)[number]} View */

const root = document.documentElement;
const local = root.dataset.stage === 'local';
const reportsServed = root.dataset.reports === 'true';

const dialog = byId('key-dialog', HTMLDialogElement);
const keyInput = byId('key-input', HTMLInputElement);
const keyReason = byId('key-reason', HTMLElement);
const keyState = byId('key-state', HTMLElement);

const showKeyState = () => {
  keyState.textContent = apiKey.get() ? 'set' : 'not set';
};

/** @param {string} [reason] */
const askForKey = (reason) => {
  if (dialog.open) return;
  keyReason.textContent = reason ?? '';
  keyReason.hidden = !reason;
  keyInput.value = apiKey.get();
  dialog.showModal();
  keyInput.focus();
};

let modelsLoaded = false;
const loadModels = async () => {
  if (modelsLoaded || !apiKey.get()) return;
  try {
    /** @type {{ default: string; models: Array<{ name: string; version: string }> }} */
    const body = await apiJson('models');
    for (const id of ['classify-model', 'batch-model']) {
      byId(id, HTMLSelectElement).replaceChildren(
        ...body.models.map((m) =>
          h('option', { value: m.name, selected: m.name === body.default }, `${m.name} ${m.version}${m.name === body.default ? ' (default)' : ''}`),
        ),
      );
    }
    modelsLoaded = true;
  } catch (err) {
    showError(byId('classify-error', HTMLElement), describeError(err));
  }
};

dialog.addEventListener('close', () => {
  if (dialog.returnValue === 'save' && keyInput.value.trim()) {
    apiKey.set(keyInput.value.trim());
    showKeyState();
    showError(byId('classify-error', HTMLElement), undefined);
    void loadModels();
  }
});
byId('key-button', HTMLButtonElement).addEventListener('click', () => askForKey());
byId('key-hint', HTMLElement).textContent = local
  ? 'npm start printed the development key (also kept in .local-data/dev-api-key). Kept in this browser tab’s session only.'
  : 'Ask the operator for a key (npm run keys:create). Kept in this browser tab’s session only.';
onUnauthorized((reason) => {
  modelsLoaded = false;
  askForKey(`The API refused the key: ${reason}`);
});

initClassify();
initBatch();
const operate = initOperate();

const tabs = VIEWS.map((v) => byId(`tab-${v}`, HTMLButtonElement));
byId('tab-reports', HTMLButtonElement).hidden = !reportsServed;

/** @param {View} view @param {boolean} [focus] */
const show = (view, focus = false) => {
  VIEWS.forEach((v, i) => {
    const on = v === view;
    const tab = /** @type {HTMLButtonElement} */ (tabs[i]);
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    byId(`view-${v}`, HTMLElement).hidden = !on;
    if (on && focus) tab.focus();
  });
  if (view === 'operate') operate.show();
  if (view === 'reports') void showReports();
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
};

/** @param {string} hash @returns {View} */
const viewOf = (hash) => {
  const v = /** @type {View} */ (hash.replace(/^#/, ''));
  return VIEWS.includes(v) && (v !== 'reports' || reportsServed) ? v : 'classify';
};

tabs.forEach((tab, i) => {
  tab.addEventListener('click', () => show(/** @type {View} */ (VIEWS[i])));
  tab.addEventListener('keydown', (e) => {
    const enabled = VIEWS.filter((v) => v !== 'reports' || reportsServed);
    const at = enabled.indexOf(/** @type {View} */ (VIEWS[i]));
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: enabled.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    show(/** @type {View} */ (enabled[(to + enabled.length) % enabled.length]), true);
  });
});
window.addEventListener('hashchange', () => show(viewOf(location.hash)));

byId('js-needed', HTMLElement).remove();
showKeyState();
show(viewOf(location.hash));
if (apiKey.get()) void loadModels();
else askForKey();
