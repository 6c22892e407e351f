// The web page of `mmcrew serve`: a small client of the HTTP API on the same origin (no framework,
// no build step). Server text is only ever set as text (textContent / text nodes), never as HTML.
"use strict";

const I18N = {
  en: {
    skip: "Skip to content", nav: "Sections", "tab.ask": "Ask", "tab.do": "Do", "tab.docs": "Documents",
    "tab.images": "Images", "tab.flows": "Reports", "tab.runs": "Runs", "tab.schedules": "Schedules",
    "ask.label": "A question about your documents", "ask.go": "Ask",
    "do.label": "What do you want done? The router picks the flow.", "do.go": "Do it",
    "do.images": "Images that come with it (optional)",
    "docs.label": "Files to add (PDF, Word, Excel, text)", "docs.upload": "Upload", "docs.list": "In the index",
    "docs.delete": "Delete", "docs.deleteOf": "Delete {file}", "docs.confirm": "Remove {file} from the index?",
    "docs.none": "No documents yet.", "docs.meta": "{kind} · {pages} pages · {chunks} chunks · {size}",
    "docs.failed": "Not added", "img.file": "Image (PNG, JPEG)", "img.question": "Question about the image",
    "img.choices": "Choices (optional, one per line)", "img.two": "Rationale first (two stages)",
    "img.go": "Ask about the image", "img.rationale": "Rationale", "img.answer": "Answer",
    "flows.label": "Flow", "flows.go": "Run", "runs.none": "No runs yet.", "runs.open": "Open", more: "More",
    refresh: "Refresh", close: "Close", cancel: "Cancel", progress: "Progress", loading: "Loading…",
    "page.prev": "Previous page (the quote starts there)", "page.next": "Next page (the quote goes on)",
    "page.title": "{file}, page {page}", "page.alt": "Page {page} of {file}, the quote highlighted",
    "quote.verified": "quote verified on this page", "quote.missing": "the quote was not found on this page",
    "cite.open": "Citation {n}: show page {page} of {file}", "doc.missing": "{file} is not in the index any more",
    sources: "Sources", files: "Output files", position: "position {n} in the queue", "error.net":
    "The server cannot be reached.", "sched.none": "No schedules.", "sched.history": "History",
    "sched.historyOf": "History of {name}", "hist.none": "No runs yet.", next: "next {when}", disabled: "disabled",
    "status.queued": "queued", "status.running": "running", "status.ok": "done", "status.abstained": "no answer",
    "status.incomplete": "incomplete", "status.failed": "failed", "status.cancelled": "cancelled",
    "status.interrupted": "interrupted", "status.skipped": "skipped", "status.timeout": "timed out",
  },
  zh: {
    skip: "跳到内容", nav: "栏目", "tab.ask": "提问", "tab.do": "办事", "tab.docs": "文档", "tab.images": "图片",
    "tab.flows": "报告", "tab.runs": "运行记录", "tab.schedules": "定时任务",
    "ask.label": "关于文档的问题", "ask.go": "提问", "do.label": "想做什么？由路由选择流程。", "do.go": "执行", "do.images": "附带的图片（可选）",
    "docs.label": "要添加的文件（PDF、Word、Excel、文本）", "docs.upload": "上传", "docs.list": "已索引",
    "docs.delete": "删除", "docs.deleteOf": "删除 {file}", "docs.confirm": "从索引中删除 {file}？",
    "docs.none": "还没有文档。", "docs.meta": "{kind} · {pages} 页 · {chunks} 段 · {size}", "docs.failed": "未添加",
    "img.file": "图片（PNG、JPEG）", "img.question": "关于图片的问题", "img.choices": "选项（可选，每行一个）",
    "img.two": "先给理由（两阶段）", "img.go": "提问", "img.rationale": "理由", "img.answer": "答案",
    "flows.label": "流程", "flows.go": "运行", "runs.none": "还没有运行记录。", "runs.open": "打开", more: "更多",
    refresh: "刷新", close: "关闭", cancel: "取消", progress: "进度", loading: "加载中…",
    "page.prev": "上一页（引文从那里开始）", "page.next": "下一页（引文在那里继续）",
    "page.title": "{file}，第 {page} 页", "page.alt": "{file} 第 {page} 页，引文已高亮",
    "quote.verified": "引文已在此页核实", "quote.missing": "此页未找到引文",
    "cite.open": "引用 {n}：显示 {file} 第 {page} 页", "doc.missing": "{file} 已不在索引中",
    sources: "来源", files: "输出文件", position: "队列中第 {n} 位", "error.net": "无法连接服务器。",
    "sched.none": "没有定时任务。", "sched.history": "历史", "sched.historyOf": "{name} 的历史",
    "hist.none": "还没有运行。",
    next: "下次 {when}", disabled: "已停用", "status.queued": "排队中", "status.running": "运行中", "status.ok": "完成",
    "status.abstained": "无法回答", "status.incomplete": "未完成", "status.failed": "失败", "status.cancelled": "已取消",
    "status.interrupted": "已中断", "status.skipped": "已跳过", "status.timeout": "超时",
    "f.topic": "主题", "f.audience": "读者", "f.length": "篇幅", "f.tools": "工具", "f.section": "章节",
    "f.signature": "署名", "f.recipient": "收件人", "f.start_date": "开始日期", "f.end_date": "结束日期",
    "f.city": "城市", "f.request": "请求", "f.message": "消息", "f.question": "问题",
  },
};
const FINAL = new Set(["ok", "abstained", "incomplete", "failed", "cancelled", "interrupted"]);
let lang = localStorage.getItem("mmcrew_lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
const t = (key, vars = {}) =>
  (I18N[lang][key] ?? I18N.en[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

// An element; strings among the children become text nodes, so server text can never become markup.
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...kids.flat().filter((kid) => kid != null && kid !== false).map((kid) => (kid instanceof Node ? kid : String(kid))));
  return el;
}

// ---------------------------------------------------------------- the API (token kept per tab)
(function keepToken() {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (!given) return;
  sessionStorage.setItem("mmcrew_token", given);
  url.searchParams.delete("token");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
})();

async function api(path, { method = "GET", json, body, raw = false } = {}) {
  const headers = {};
  const token = sessionStorage.getItem("mmcrew_token");
  if (token) headers.Authorization = "Bearer " + token;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: json !== undefined ? JSON.stringify(json) : body });
  } catch {
    throw new Error(t("error.net"));
  }
  if (!res.ok) throw new Error(await errorLine(res));
  if (raw) return res;
  return res.status === 204 ? null : res.json();
}

async function errorLine(res) {
  try {
    const body = await res.json();
    if (body?.error) return String(body.error);
    if (Array.isArray(body?.detail)) return body.detail.map((d) => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join("; ");
    if (body?.detail) return String(body.detail);
  } catch { /* not JSON */ }
  return `HTTP ${res.status}`;
}

const errorP = (message) => h("p", { class: "error", role: "alert" }, message);
const when = (ts) => (ts ? new Date(typeof ts === "number" ? ts * 1000 : ts).toLocaleString(lang === "zh" ? "zh-CN" : "en") : "");
const size = (n) =>
  n == null ? "?" : n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1048576).toFixed(1)} MB`;

// ---------------------------------------------------------------- a run: progress, then its result
function setStatus(el, status, position) {
  el.dataset.status = status;
  const badge = h("span", { class: `badge s-${status}` }, t("status." + status));
  el.replaceChildren(badge, position ? " " + t("position", { n: position }) : "");
}

// Shows a run's events as they come (EventSource), then its record; resolves when it has ended.
// The final status is shown only together with the result (from the run's record), so "done" is never
// on the page before the answer and its citation buttons: a keyboard user may press Tab at once.
function follow(el, runId) {
  return new Promise((resolve) => {
    const status = h("p", { class: "status" });
    const progress = h("ol", { class: "progress", "aria-live": "polite", "aria-label": t("progress") });
    const out = h("div", { class: "result" });
    const stop = () => api(`/runs/${enc(runId)}/cancel`, { method: "POST" }).catch((e) => out.append(errorP(e.message)));
    const cancel = h("button", { type: "button", class: "secondary", onclick: stop }, t("cancel"));
    el.replaceChildren(h("div", { class: "bar" }, status, cancel), progress, out);
    setStatus(status, "queued");
    const es = new EventSource(`/runs/${enc(runId)}/events`);
    let done = false;
    const finish = async (final) => {
      if (done) return;
      done = true;
      es.close();
      cancel.remove();
      try {
        showRecord(out, await api(`/runs/${enc(runId)}`), status); // sets the final status and the result at once
      } catch (e) {
        if (final) setStatus(status, final);
        out.append(errorP(e.message));
      }
      resolve();
    };
    const onEvent = (msg) => {
      const ev = JSON.parse(msg.data);
      const final = ev.kind === "status" && ev.data?.final;
      if (ev.kind === "position") setStatus(status, "queued", ev.data?.position);
      if (ev.kind === "status" && ev.data?.status && !final) setStatus(status, ev.data.status);
      if (ev.kind !== "result") progress.append(h("li", { class: ev.kind === "error" ? "error" : null }, ev.message || ev.kind));
      progress.scrollTop = progress.scrollHeight;
      if (final) finish(ev.data.status);
    };
    for (const kind of ["queued", "position", "progress", "status", "result", "error"]) es.addEventListener(kind, onEvent);
    es.onerror = () => es.readyState === EventSource.CLOSED && finish();
  });
}

function showRecord(out, rec, statusEl) {
  const render = () => {
    if (statusEl) setStatus(statusEl, rec.status, rec.position);
    out.replaceChildren(...resultNodes(rec));
  };
  out.rerender = render; // again on a language switch
  render();
}

function resultNodes(rec) {
  const r = rec.result;
  const nodes = rec.error ? [errorP(rec.error)] : [];
  if (!r) return nodes;
  const d = r.data || {};
  if (r.reason) nodes.push(h("p", { class: "reason" }, r.reason));
  if (typeof d.rationale === "string" && typeof d.answer === "string") { // an image answer (see)
    if (d.rationale) nodes.push(h("h3", {}, t("img.rationale")), h("p", { class: "text rationale" }, d.rationale));
    nodes.push(h("h3", {}, t("img.answer")), h("p", { class: "text answer" }, d.answer));
  } else if (r.text) {
    nodes.push(h("div", { class: "text answer", dir: "auto" }, r.text));
  }
  const cites = r.citations || [];
  if (cites.length) {
    const button = (c, i) => h("button", {
      type: "button", class: "cite", "aria-label": t("cite.open", { n: i + 1, file: c.file, page: c.page }),
      onclick: (e) => openPage(c, c.page, e.currentTarget),
    }, `[${i + 1}]`);
    const source = (c) => h("li", {}, h("span", { class: "name" }, `${c.file}, p. ${c.page}`), " ", h("q", {}, c.quote));
    nodes.push(h("p", { class: "cites" }, cites.map(button)), h("h3", {}, t("sources")), h("ol", { class: "sources" }, cites.map(source)));
  }
  if (r.files?.length) nodes.push(h("h3", {}, t("files")), h("ul", { class: "files" }, r.files.map((f) => h("li", {}, f))));
  if (d.failed?.length) { // an ingest run: the files it could not add, each with its reason
    const items = d.failed.map((f) => h("li", { class: "error" }, `${f.file}: ${f.reason}`));
    nodes.push(h("h3", {}, t("docs.failed")), h("ul", { class: "failed" }, items));
  }
  return nodes;
}

// ---------------------------------------------------------------- the page behind a citation
let viewing = null; // {c, page, opener, found, error}: what the viewer shows
async function openPage(c, page, opener) {
  const view = (viewing = { c, page, opener: opener || viewing?.opener });
  const img = $("viewer-img"), sheet = $("viewer-sheet");
  sheet.hidden = $("viewer-prev").hidden = $("viewer-next").hidden = true;
  $("viewer").hidden = false;
  document.body.classList.add("viewing");
  viewerText();
  $("viewer-quote").textContent = c.quote;
  for (const m of sheet.querySelectorAll(".mark")) m.remove();
  $("viewer-h").focus();
  try {
    const docId = c.doc_id || (await docIdOf(c.file));
    const res = await api(`/documents/${enc(docId)}/pages/${page}.png?quote=${enc(c.quote)}`, { raw: true });
    const blob = await res.blob();
    if (viewing !== view) return; // a later click won
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    await new Promise((ok) => { img.onload = img.onerror = ok; img.src = URL.createObjectURL(blob); });
    view.found = res.headers.get("X-Quote-Found") === "true";
    sheet.hidden = false;
    mark(JSON.parse(res.headers.get("X-Quote-Rects") || "[]"), img.naturalWidth, img.naturalHeight);
    $("viewer-next").hidden = res.headers.get("X-Quote-Continues") !== "true";
    $("viewer-prev").hidden = res.headers.get("X-Quote-Continued") !== "true";
  } catch (e) {
    view.error = e.message;
  }
  if (viewing === view) viewerText();
}

function viewerText() {
  const { c, page, found, error } = viewing, note = $("viewer-note");
  $("viewer-h").textContent = t("page.title", { file: c.file, page });
  $("viewer-img").alt = t("page.alt", { file: c.file, page });
  note.textContent = error || t(found === undefined ? "loading" : found ? "quote.verified" : "quote.missing");
  note.className = error ? "error" : found === undefined ? "" : found ? "ok" : "warn";
}

// Outlines the highlighted rectangles (PNG pixels) over the image; scrolls the first into view if needed.
function mark(rects, w, ht) {
  const sheet = $("viewer-sheet");
  for (const [x0, y0, x1, y1] of rects) {
    const m = h("span", { class: "mark" });
    const pc = (v, of) => `${(100 * v) / of}%`; // in percent, so the boxes follow the image's size
    Object.assign(m.style, { left: pc(x0, w), top: pc(y0, ht), width: pc(x1 - x0, w), height: pc(y1 - y0, ht) });
    sheet.append(m);
  }
  const first = sheet.querySelector(".mark"), v = $("viewer");
  const bottom = first ? first.offsetTop + sheet.offsetTop + first.offsetHeight : 0;
  if (bottom > v.scrollTop + v.clientHeight) v.scrollTop = bottom - v.clientHeight * 2 / 3; // only when out of view
}

async function docIdOf(file) {
  const doc = (await api("/documents")).find((d) => d.file === file);
  if (!doc) throw new Error(t("doc.missing", { file }));
  return doc.doc_id;
}

function closeViewer(refocus = true) {
  $("viewer").hidden = true;
  document.body.classList.remove("viewing");
  if (refocus) viewing?.opener?.focus();
}

// ---------------------------------------------------------------- forms
// Runs `work` once at a time per form; an error becomes one line in `out`. The button is marked
// aria-disabled rather than disabled, so keyboard focus stays on it while the run goes on.
function onSubmit(formId, out, work) {
  const form = $(formId);
  const button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    form.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
    out.replaceChildren();
    try {
      await work(form);
    } catch (err) {
      out.append(errorP(err.message));
    } finally {
      form.removeAttribute("aria-busy");
      button.removeAttribute("aria-disabled");
    }
  });
}

async function startRun(flow, inputs, out) {
  const created = await api("/runs", { method: "POST", json: { flow, inputs } });
  await follow(out, created.id);
}

onSubmit("ask-form", $("ask-run"), () => startRun("ask", { question: $("ask-q").value.trim() }, $("ask-run")));
onSubmit("do-form", $("do-run"), async () => {
  const images = []; // each image is uploaded and checked first (POST /images); the run names what the server kept
  for (const f of $("do-images").files) {
    const body = new FormData();
    body.append("image", f, f.name);
    images.push((await api("/images", { method: "POST", body })).image);
  }
  await startRun("route", { request: $("do-q").value.trim(), images }, $("do-run"));
});

onSubmit("docs-form", $("docs-run"), async (form) => {
  const body = new FormData();
  for (const f of $("docs-files").files) body.append("files", f, f.name);
  const out = await api("/documents", { method: "POST", body });
  loadDocs();
  await follow($("docs-run"), out.run); // the ingest run: progress per file, then what was added or failed
  form.reset();
  loadDocs();
});

onSubmit("images-form", $("images-run"), async () => {
  const body = new FormData();
  body.append("image", $("img-file").files[0]);
  body.append("question", $("img-q").value.trim());
  for (const c of $("img-choices").value.split("\n").map((s) => s.trim()).filter(Boolean)) body.append("choices", c);
  body.append("mode", $("img-two").checked ? "two_stage" : "single");
  await follow($("images-run"), (await api("/see", { method: "POST", body })).run);
});

$("img-file").addEventListener("change", () => {
  const img = $("img-preview"), file = $("img-file").files[0];
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.hidden = !file;
  if (file) img.src = URL.createObjectURL(file);
});

// ---------------------------------------------------------------- any flow, its form from its JSON schema
let flows = null, flowsLoading = null;
// Once: a second visit while the first load is under way must not rebuild the fields the user types in.
const loadFlows = () => flows ? Promise.resolve() : (flowsLoading ??= fetchFlows().finally(() => { flowsLoading = null; }));
async function fetchFlows() {
  let list;
  try {
    list = await api("/flows");
  } catch (e) {
    $("flows-run").replaceChildren(errorP(e.message));
    return;
  }
  flows = list;
  const first = ["research", "workorder", "report"];
  flows.sort((a, b) => ((first.indexOf(a.name) + 1 || 99) - (first.indexOf(b.name) + 1 || 99)) || a.name.localeCompare(b.name));
  $("flow-name").replaceChildren(...flows.map((f) => h("option", { value: f.name }, f.name)));
  fieldsFor(flows[0]);
}
$("flow-name").addEventListener("change", () => fieldsFor(flows.find((f) => f.name === $("flow-name").value)));

const kindOf = (s) => s.type || (s.anyOf || []).map((o) => o.type).find((k) => k && k !== "null") || "string";
function fieldsFor(flow) {
  $("flow-about").textContent = flow?.description || "";
  const props = flow?.inputs?.properties || {}, required = new Set(flow?.inputs?.required || []);
  $("flow-fields").replaceChildren(...Object.entries(props).map(([name, s]) => field(name, s, required.has(name))));
}

const LONG = ["topic", "request", "message", "question", "section"]; // inputs that get a text area
function field(name, s, required) {
  const id = `f-${name}`, kind = kindOf(s), hint = s.description ? `${id}-hint` : null;
  const common = { id, name, required: required && kind !== "boolean", "aria-describedby": hint, "data-kind": kind };
  let input;
  if (kind === "boolean") input = h("input", { ...common, type: "checkbox", checked: s.default === true });
  else if (s.enum) input = h("select", common, s.enum.map((v) => h("option", { value: v, selected: v === s.default }, v)));
  else if (kind === "array") input = h("textarea", { ...common, rows: 2 }, (s.default || []).join("\n"));
  else if (kind === "integer" || kind === "number") {
    const step = kind === "integer" ? 1 : "any";
    input = h("input", { ...common, type: "number", step, min: s.minimum, max: s.maximum, value: s.default });
  } else if (LONG.includes(name)) input = h("textarea", { ...common, rows: 2 }, s.default ?? "");
  else input = h("input", { ...common, type: "text", value: s.default ?? "" });
  const label = h("label", { for: id }, I18N[lang][`f.${name}`] || s.title || name);
  const box = kind === "boolean";
  const about = hint ? h("p", { class: "hint", id: hint }, s.description) : null;
  return h("div", { class: box ? "field check" : "field" }, box ? [input, label] : [label, input], about);
}

function flowInputs() {
  const inputs = {};
  for (const el of $("flow-fields").querySelectorAll("[name]")) {
    const k = el.dataset.kind, v = el.value.trim();
    if (k === "boolean") inputs[el.name] = el.checked;
    else if (k === "array") inputs[el.name] = v.split("\n").map((s) => s.trim()).filter(Boolean);
    else if (v !== "") inputs[el.name] = k === "integer" || k === "number" ? Number(v) : v;
  }
  return inputs;
}
onSubmit("flows-form", $("flows-run"), () => startRun($("flow-name").value, flowInputs(), $("flows-run")));

// ---------------------------------------------------------------- lists: documents, runs, schedules
// Fills a list from `load`; null (and the list untouched) when a newer fill of it began meanwhile, so an
// older, slower answer (say, a refresh before a delete) never overwrites a newer one.
async function fill(listId, load, row, emptyKey) {
  const list = $(listId), ticket = (list.ticket = (list.ticket || 0) + 1);
  let items, error;
  try {
    items = await load();
  } catch (e) {
    error = e;
  }
  if (list.ticket !== ticket) return null;
  if (error) {
    list.replaceChildren(h("li", { class: "error", role: "alert" }, error.message));
    return [];
  }
  list.replaceChildren(...(items.length ? items.map(row) : [h("li", { class: "empty" }, t(emptyKey))]));
  return items;
}

const loadDocs = () => fill("docs-list", () => api("/documents"), (d) =>
  h("li", { "data-doc": d.doc_id },
    h("span", { class: "name" }, d.file),
    h("span", { class: "meta" }, t("docs.meta", { kind: d.kind, pages: d.pages ?? "?", chunks: d.chunks ?? "?", size: size(d.size) })),
    h("button", { type: "button", class: "danger", "aria-label": t("docs.deleteOf", { file: d.file }),
      onclick: () => deleteDoc(d) }, t("docs.delete"))), "docs.none");

async function deleteDoc(d) {
  if (!confirm(t("docs.confirm", { file: d.file }))) return;
  try {
    await api(`/documents/${enc(d.doc_id)}`, { method: "DELETE" });
  } catch (e) {
    $("docs-run").replaceChildren(errorP(e.message));
  }
  loadDocs();
}

const PAGE = 20;
let runsOffset = 0;
const summary = (inputs) => String(Object.values(inputs || {}).find((v) => typeof v === "string" && v) || "").slice(0, 140);
const runRow = (r) =>
  h("li", { "data-run": r.id },
    h("span", { class: `badge s-${r.status}` }, t("status." + r.status)),
    h("span", { class: "name" }, r.flow),
    h("span", { class: "meta" }, when(r.created)),
    h("span", { class: "summary" }, summary(r.inputs)),
    h("button", { type: "button", onclick: () => openRun(r.id) }, t("runs.open")));

async function loadRuns(more = false) {
  if (!more) runsOffset = 0;
  const list = $("runs-list"), before = more ? [...list.children] : [];
  const runs = await fill("runs-list", () => api(`/runs?limit=${PAGE}&offset=${runsOffset}`), runRow, "runs.none");
  if (runs === null) return; // a newer load of the list won
  if (more) list.replaceChildren(...before, ...(runs.length ? list.children : []));
  runsOffset += runs.length;
  $("runs-more").hidden = runs.length < PAGE;
}

async function openRun(id) {
  const el = $("runs-run");
  try {
    const rec = await api(`/runs/${enc(id)}`);
    if (!FINAL.has(rec.status)) return follow(el, id).then(() => loadRuns());
    const status = h("p", { class: "status" }), out = h("div", { class: "result" });
    const head = h("h3", { tabindex: -1 }, `${rec.flow} · ${when(rec.created)}`);
    el.replaceChildren(head, h("p", { class: "summary" }, summary(rec.inputs)), status, out);
    showRecord(out, rec, status);
    head.focus();
  } catch (e) {
    el.replaceChildren(errorP(e.message));
  }
}

const loadSchedules = () => fill("sched-list", () => api("/schedules"), (s) =>
  h("li", {},
    h("span", { class: "name" }, s.name),
    h("span", { class: "meta" }, [s.flow, s.when, s.enabled === false ? t("disabled") : s.next_run && t("next", {
      when: when(s.next_run) })].filter(Boolean).join(" · ")),
    h("button", { type: "button", onclick: () => loadHistory(s.name) }, t("sched.history"))), "sched.none");

async function loadHistory(name) {
  const head = $("sched-hist-h");
  head.hidden = false;
  head.textContent = t("sched.historyOf", { name });
  await fill("sched-hist", () => api(`/schedules/${enc(name)}/history`), (r) =>
    h("li", {},
      h("span", { class: `badge s-${r.status}` }, t("status." + r.status)),
      h("span", { class: "meta" }, when(r.started || r.scheduled_for)),
      r.error ? h("span", { class: "error" }, r.error) : h("span", { class: "summary" }, r.output_dir || "")), "hist.none");
}

// ---------------------------------------------------------------- tabs and language
const onShow = { docs: loadDocs, runs: () => loadRuns(), schedules: loadSchedules, flows: loadFlows };
let current = "ask";
function show(tab) {
  if (!document.querySelector(`#tabs [data-tab="${CSS.escape(tab)}"]`)) tab = "ask";
  if (tab !== current && !$("viewer").hidden) closeViewer(false);
  current = tab;
  for (const b of document.querySelectorAll("#tabs button")) b.setAttribute("aria-current", b.dataset.tab === tab ? "page" : "false");
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== tab;
  if (location.hash !== `#${tab}`) history.replaceState(null, "", `#${tab}`);
  onShow[tab]?.();
}

function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("tabs").setAttribute("aria-label", t("nav"));
  $("lang").textContent = lang === "zh" ? "English" : "中文";
  $("lang").lang = lang === "zh" ? "en" : "zh-CN";
  for (const r of document.querySelectorAll(".result")) r.rerender?.();
  if (viewing) viewerText();
  if (flows) fieldsFor(flows.find((f) => f.name === $("flow-name").value));
  onShow[current]?.();
}

$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("mmcrew_lang", lang);
  applyLang();
});
for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.tab));
window.addEventListener("hashchange", () => show(location.hash.slice(1)));
$("viewer-close").addEventListener("click", () => closeViewer());
$("viewer-next").addEventListener("click", () => openPage(viewing.c, viewing.page + 1));
$("viewer-prev").addEventListener("click", () => openPage(viewing.c, viewing.page - 1));
document.addEventListener("keydown", (e) => e.key === "Escape" && !$("viewer").hidden && closeViewer());
$("docs-refresh").addEventListener("click", loadDocs);
$("runs-refresh").addEventListener("click", () => loadRuns());
$("runs-more").addEventListener("click", () => loadRuns(true));
$("sched-refresh").addEventListener("click", loadSchedules);
applyLang();
show(location.hash.slice(1) || "ask");
