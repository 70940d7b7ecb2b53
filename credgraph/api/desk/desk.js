/* The investigator's desk (信用关联图谱工作台).
 *
 * Everything shown comes from /graphql (and /report/{id}) with the key typed into the page,
 * kept in this tab's sessionStorage only. Data is put into the page as text nodes, never as
 * HTML; the credit report is shown in a sandboxed frame without scripts.
 */
"use strict";
(function () {
  const KEY = "credgraph:key";
  const OPEN_LIMIT = 300;    // relations read when a subject is opened
  const EXPAND_LIMIT = 100;  // relations read when one node is expanded
  const MAX_NODES = 600;     // past this, expanding asks for a new centre instead
  const BATCH = 1000;        // riskLevels ids per call ([limits] max_batch_ids)
  const FONT = '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", ' +
               '"Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif';
  const COLORS = { LOW: "#52c41a", MEDIUM: "#faad14", HIGH: "#fa541c", SEVERE: "#cf1322",
                   NONE: "#bfbfbf" };
  const PATH = "#1d39c4";
  const SHAPES = { ENTERPRISE: "round-rectangle", INDIVIDUAL_BUSINESS: "round-rectangle",
                   COOPERATIVE: "round-rectangle", NATURAL_PERSON: "ellipse", AGENCY: "diamond" };
  const ERRORS = { NOT_FOUND: "未找到该主体", FORBIDDEN: "无权查看", BAD_USER_INPUT: "输入有误",
                   LIMIT_EXCEEDED: "超出查询限制", UNAUTHENTICATED: "需要密钥",
                   SERVICE_UNAVAILABLE: "服务暂不可用", NETWORK: "无法连接服务器" };
  // What the desk says itself for these codes; the API's own (English) text follows in brackets.
  const EXPLAIN = {
    SERVICE_UNAVAILABLE: "信用数据库暂时无法连接，请稍后重试",
    NETWORK: "工作台无法连接到 credgraph 服务（服务已停止或网络中断），请稍后重试",
  };
  const ID_NUMBER = /^[0-9]{17}[0-9Xx]$/;  // 身份证号
  // An identifier as people write it: spaces, hyphens, full-width characters, zero-width ones.
  const compactId = (text) => text.normalize("NFKC").replace(/[\s\u200b-\u200d\u2060\ufeff-]/g, "");

  const Q = {
    subject: `query Subject($id: ID!) {
      subject(id: $id) { id name kind regionName status idMasked } }`,
    search: `query Search($name: String!) {
      searchSubjects(name: $name, limit: 10) { score subject { id name kind regionName status } } }`,
    graph: `query Graph($id: ID!, $depth: Int!, $limit: Int!, $asOf: Date) {
      associations(id: $id, depth: $depth, limit: $limit, asOf: $asOf) {
        truncated cutHubs nodes { id name kind regionName }
        edges { source target type ratio role start end } } }`,
    risk: `query Risk($id: ID!, $asOf: Date) {
      riskAssessment(id: $id, asOf: $asOf) {
        score level ownScore associationScore crossDomain crossRegion truncated cutHubs
        domains { name ownRisk associatedRisk }
        contributors { strength risk contribution subject { id name kind regionName }
          path { from { id name kind regionName } to { id name kind regionName } type ratio }
          signals { record { title kind } } } } }`,
    levels: `query Levels($ids: [ID!]!, $asOf: Date) {
      riskLevels(ids: $ids, asOf: $asOf) { id score level signals } }`,
    owners: `query Owners($id: ID!, $asOf: Date) {
      ultimateOwners(id: $id, asOf: $asOf) { share basis owner { id name kind regionName }
        paths { from { id name kind regionName } to { id name kind regionName } type ratio } } }`,
  };

  // The desk's state, on window for the console and the browser tests.
  const state = {
    vocab: { relations: {}, kinds: {}, levels: {}, bases: {}, symmetric: [] },
    center: null, asOf: null, depth: 2, view: "graph", busy: 0, pending: null, shown: 0,
    expanded: new Set(), truncated: false, cutBy: new Set(), risk: null, owners: null, ownersFor: null,
    graphFor: null, reportFor: null,
    cy: null, ownersCy: null,
  };
  window.desk = state;

  class NeedKey extends Error {}
  class DeskError extends Error {
    constructor(message, code) { super(message); this.code = code || "INTERNAL"; }
  }

  const $ = (id) => document.getElementById(id);

  /** An element with attributes and children; strings become text nodes (never HTML). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "onclick") node.addEventListener("click", value);
      else if (name === "class") node.className = value;
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const pct = (x) => (x === null || x === undefined ? "—"
    : (100 * x).toFixed(2).replace(/\.?0+$/, "") + "%");
  const relZh = (type) => state.vocab.relations[type] || type;
  const kindZh = (kind) => state.vocab.kinds[kind] || kind;
  const levelZh = (level) => state.vocab.levels[level] || "未评估";
  const today = () => {
    const d = new Date();
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  };
  const badge = (level) => el("span", { class: "badge level-" + (level || "NONE") }, levelZh(level));

  // -- talking to the API ---------------------------------------------------------------------
  function key() { return sessionStorage.getItem(KEY); }

  function askKey(reason) {
    const dialog = $("key-dialog");
    $("key-reason").hidden = !reason;
    $("key-reason").textContent = reason || "";
    dialog.hidden = false;
    $("key-cancel").hidden = !key();  // changing a key that works may be called off
    $("key-input").value = "";
    $("key-input").focus();
  }

  function keyRejected() {
    sessionStorage.removeItem(KEY);
    askKey("密钥无效、已吊销或已过期，请重新输入。");
    return new NeedKey("key rejected");
  }

  /** fetch, with a server out of reach (stopped, the network down) a DeskError NETWORK. */
  async function reach(url, init) {
    try {
      return await fetch(url, init);
    } catch (e) {
      throw new DeskError(String(e && e.message || e), "NETWORK");
    }
  }

  async function gql(query, variables) {
    if (!key()) { askKey(); throw new NeedKey("no key"); }
    const response = await reach("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + key() },
      body: JSON.stringify({ query, variables }),
    });
    if (response.status === 401) throw keyRejected();
    let body;
    try { body = await response.json(); } catch (e) {
      throw new DeskError("服务返回了无法识别的应答（HTTP " + response.status + "）");
    }
    if (body.errors && body.errors.length) {
      const first = body.errors[0];
      throw new DeskError(first.message, (first.extensions || {}).code);
    }
    return body.data;
  }

  /** Run one piece of work: busy marker, a missing key parks it until a key is given. */
  async function work(fn, onError) {
    state.busy += 1;
    $("busy").hidden = false;
    const shown = state.shown;
    try {
      await fn();
      // an error shown before this work, which now went through, is over (it stayed over
      // the graph, hiding the nodes under it, until another subject was opened)
      if (state.shown === shown && !$("message").hidden &&
          $("message").classList.contains("error")) hideMessage();
    } catch (error) {
      if (error instanceof NeedKey) state.pending = fn;
      else if (onError) onError(error);
      else showError(error);
    } finally {
      state.busy -= 1;
      $("busy").hidden = state.busy === 0;
    }
  }

  // -- messages ---------------------------------------------------------------------------------
  function showMessage(title, text, isError) {
    const box = $("message");
    box.replaceChildren(el("h2", {}, title), el("p", {}, text));
    box.classList.toggle("error", !!isError);
    box.hidden = false;
    state.shown += 1;
  }

  function hideMessage() { $("message").hidden = true; }

  function errorText(error) {
    if (error instanceof DeskError && error.code === "FORBIDDEN") {
      // a monitor key may search and see 关联风险, not draw the graph, the owners or a report
      return [ERRORS.FORBIDDEN, "当前密钥的角色不能使用此功能：关联图谱、股权穿透和信用报告需要调查人员或" +
              "管理员密钥（" + error.message + "）。"];
    }
    if (error instanceof DeskError && EXPLAIN[error.code]) {
      return [ERRORS[error.code], EXPLAIN[error.code] + "（" + error.message + "）。"];
    }
    if (error instanceof DeskError) return [ERRORS[error.code] || "服务出错", error.message];
    return ["页面出错", String(error && error.message || error)];
  }

  function showError(error) {
    const [title, text] = errorText(error);
    showMessage(title, text, true);
  }

  function cardError(card, title) {
    return (error) => {
      const [head, text] = errorText(error);
      card.replaceChildren(el("h2", {}, title), el("p", { class: "warn" }, head + "：" + text));
      card.hidden = false;
    };
  }

  // -- the graph --------------------------------------------------------------------------------
  function graphStyle() {
    return [
      { selector: "node", style: {
        "background-color": (n) => COLORS[n.data("level") || "NONE"] || COLORS.NONE,
        shape: (n) => SHAPES[n.data("kind")] || "hexagon",
        width: 26, height: 26, "border-width": 1.5, "border-color": "#434343",
        label: "data(label)", "font-family": FONT, "font-size": 11, color: "#1f1f1f",
        "text-valign": "bottom", "text-halign": "center", "text-margin-y": 4,
        // a Chinese name has no spaces to wrap at: wrapped anywhere, a long one stays in
        // its column instead of widening the fit until no label is readable
        "text-wrap": "wrap", "text-max-width": 130, "text-overflow-wrap": "anywhere",
        "text-background-color": "#ffffff",
        "text-background-opacity": 0.8, "text-background-padding": 1,
        "min-zoomed-font-size": 7 } },
      { selector: "node[kind = 'NATURAL_PERSON']", style: { width: 22, height: 22 } },
      { selector: "node.hub", style: { "border-style": "dashed", "border-width": 3 } },
      { selector: "node.center", style: { width: 42, height: 42, "border-width": 5,
        "border-color": (n) => COLORS[n.data("overall")] || "#1f1f1f", "font-size": 13,
        "font-weight": "bold", "z-index": 10 } },
      { selector: "node.owner", style: { width: 34, height: 34, "font-weight": "bold" } },
      { selector: "node:selected", style: { "overlay-color": PATH, "overlay-opacity": 0.15 } },
      { selector: "edge", style: {
        width: 1.4, "line-color": "#a6a6a6", "target-arrow-color": "#a6a6a6",
        "target-arrow-shape": "triangle", "arrow-scale": 0.8, "curve-style": "bezier",
        label: "data(label)", "font-family": FONT, "font-size": 9, color: "#595959",
        "text-rotation": "autorotate", "text-background-color": "#ffffff",
        "text-background-opacity": 0.85, "text-background-padding": 1,
        "min-zoomed-font-size": 8 } },
      { selector: "edge.symmetric", style: { "target-arrow-shape": "none", "line-style": "dotted" } },
      { selector: ".faded", style: { opacity: 0.22 } },
      { selector: "node.path", style: { "border-color": PATH, "border-width": 5, opacity: 1,
        "z-index": 20 } },
      { selector: "edge.path", style: { "line-color": PATH, "target-arrow-color": PATH,
        width: 4, opacity: 1, color: PATH, "font-size": 11, "font-weight": "bold",
        "z-index": 20 } },
    ];
  }

  function makeCy(container) {
    return cytoscape({ container, style: graphStyle(), minZoom: 0.05, maxZoom: 4,
                       textureOnViewport: true, hideEdgesOnViewport: true });
  }

  /** Fit the view to some elements without blowing a small graph up past reading size. */
  function fitTo(cy, eles, padding) {
    cy.fit(eles, padding);
    if (cy.zoom() > 1.2) {
      cy.zoom(1.2);
      cy.center(eles);
    }
  }

  function nodeData(subject) {
    return { id: subject.id, label: subject.name, name: subject.name, kind: subject.kind,
             region: subject.regionName || "", level: "NONE" };
  }

  function edgeId(source, type, target) { return source + "|" + type + "|" + target; }

  function edgeData(edge) {
    const label = relZh(edge.type) + (edge.ratio !== null && edge.ratio !== undefined
      ? " " + pct(edge.ratio) : "");
    return { id: edgeId(edge.source, edge.type, edge.target), source: edge.source,
             target: edge.target, type: edge.type, ratio: edge.ratio, label,
             start: edge.start || "", end: edge.end || "" };
  }

  /** Add subjects and relations not drawn yet, new nodes placed around `near`. */
  function addElements(cy, nodes, edges, near) {
    const added = [];
    const around = near || { x: 0, y: 0 };
    for (const subject of nodes) {
      if (cy.getElementById(subject.id).nonempty()) continue;
      const angle = Math.random() * 2 * Math.PI;
      added.push(cy.add({ group: "nodes", data: nodeData(subject),
        position: { x: around.x + 60 * Math.cos(angle), y: around.y + 60 * Math.sin(angle) } }));
    }
    for (const edge of edges) {
      const data = edgeData(edge);
      if (cy.getElementById(data.id).nonempty()) continue;
      if (cy.getElementById(data.source).empty() || cy.getElementById(data.target).empty()) continue;
      const drawn = cy.add({ group: "edges", data });
      if (state.vocab.symmetric.includes(edge.type)) drawn.addClass("symmetric");
    }
    return added.map((n) => n.id());
  }

  function runLayout(cy, randomize) {
    return new Promise((resolve) => {
      const layout = cy.layout({
        name: "fcose", quality: "default", randomize, animate: !randomize && cy.nodes().length < 300,
        animationDuration: 300, fit: false, nodeDimensionsIncludeLabels: true,
        idealEdgeLength: 100, nodeRepulsion: 9000, nodeSeparation: 90, packComponents: true,
      });
      layout.one("layoutstop", () => { fitTo(cy, undefined, 40); resolve(); });
      layout.run();
    });
  }

  /** Colour nodes by their own risk level (one riskLevels call per thousand nodes). */
  async function colour(cy, ids) {
    for (let i = 0; i < ids.length; i += BATCH) {
      const data = await gql(Q.levels, { ids: ids.slice(i, i + BATCH), asOf: state.asOf });
      for (const item of data.riskLevels) {
        const node = cy.getElementById(item.id);
        if (node.nonempty()) node.data({ level: item.level, score: item.score, signals: item.signals });
      }
    }
  }

  function markHubs(cy, hubs) {
    for (const id of hubs || []) cy.getElementById(id).addClass("hub");
  }

  function updateStatus() {
    const status = $("status");
    const parts = [];
    if (state.view === "graph" && state.cy && state.center) {
      parts.push(`节点 ${state.cy.nodes().length} · 关系 ${state.cy.edges().length} · 数据日期 ${state.asOf}`);
      // a hub the desk has expanded (the centre, a clicked one) had its relations read
      const hubs = state.cy.nodes(".hub").filter((n) => !state.expanded.has(n.id())).length;
      const notes = [];
      // what cut the walk: the relations read at once, or hubs whose relations are not read
      // (until they are expanded)
      const why = [];
      if (state.cutBy.has("limit")) why.push("超过单次读取上限");
      if (state.cutBy.has("hub") && hubs) why.push("经枢纽节点的关联未读取");
      if (state.truncated && (why.length || !state.cutBy.size)) {
        notes.push("部分关联已截断" + (why.length ? `（${why.join("；")}）` : ""));
      }
      if (state.cy.getElementById(state.center.id).hasClass("hub")) {
        notes.push("中心主体是枢纽节点（关系过多）");
      }
      if (hubs) notes.push(`${hubs} 个枢纽节点关系过多，未自动展开`);
      if (state.cy.nodes().length >= MAX_NODES) notes.push(`已达 ${MAX_NODES} 个节点上限`);
      status.replaceChildren(parts.join(""), ...notes.map((n) => el("span", { class: "warn" }, n)));
      return;
    }
    if (state.view === "owners" && state.owners && state.center) {
      status.replaceChildren(`受益所有人 ${state.owners.length} · 数据日期 ${state.asOf}`);
      return;
    }
    status.replaceChildren();
  }

  function viewKey() { return [state.center.id, state.asOf, state.depth].join("@"); }

  async function loadGraph() {
    const cy = state.cy;
    const center = state.center;
    cy.elements().remove();
    state.expanded = new Set([center.id]);
    state.truncated = false;
    state.cutBy = new Set();
    const data = await gql(Q.graph, { id: center.id, depth: state.depth, limit: OPEN_LIMIT,
                                      asOf: state.asOf });
    const graph = data.associations;
    if (state.center !== center) return;
    const ids = addElements(cy, graph.nodes, graph.edges, null);
    if (cy.getElementById(center.id).empty()) ids.push(...addElements(cy, [center], [], null));
    cy.getElementById(center.id).addClass("center");
    if (state.risk) cy.getElementById(center.id).data("overall", state.risk.level);
    markHubs(cy, graph.cutHubs);
    state.truncated = graph.truncated;
    noteCut(graph, OPEN_LIMIT);
    await colour(cy, ids);
    await runLayout(cy, true);
    state.graphFor = viewKey();
    updateStatus();
  }

  /** Why an answer was truncated: its relations reached the limit asked for, else a hub. */
  function noteCut(graph, limit) {
    if (!graph.truncated) return;
    state.cutBy.add(graph.edges.length >= limit ? "limit" : "hub");
  }

  async function expand(node) {
    const cy = state.cy;
    const id = node.id();
    if (state.expanded.has(id)) return;
    if (cy.nodes().length >= MAX_NODES) { updateStatus(); return; }
    state.expanded.add(id);  // a second click while this one runs adds nothing
    let data;
    try {
      data = await gql(Q.graph, { id, depth: 1, limit: EXPAND_LIMIT, asOf: state.asOf });
    } catch (error) {
      // not expanded: a click after the key is given again or the service is back retries
      state.expanded.delete(id);
      throw error;
    }
    if (!node.inside()) return;  // another subject was opened meanwhile
    const graph = data.associations;
    const ids = addElements(cy, graph.nodes, graph.edges, node.position());
    markHubs(cy, graph.cutHubs.filter((h) => h !== id));
    state.truncated = state.truncated || graph.truncated;
    noteCut(graph, EXPAND_LIMIT);
    node.data("expanded", true);
    await colour(cy, ids);
    if (ids.length) await runLayout(cy, false);
    updateStatus();
  }

  function clearHighlight(cy) {
    cy.elements().removeClass("faded path");
    document.querySelectorAll(".list button.active").forEach((b) => b.classList.remove("active"));
  }

  /** Fade everything but the given steps (drawing any node or relation not on screen yet). */
  async function highlight(cy, steps, button) {
    clearHighlight(cy);
    const nodes = [];
    const edges = [];
    for (const step of steps) {
      nodes.push(step.from, step.to);
      edges.push({ source: step.from.id, target: step.to.id, type: step.type || "SHAREHOLDER",
                   ratio: step.ratio });
    }
    const center = state.center && cy.getElementById(state.center.id);
    const near = center && center.nonempty() ? center.position() : null;
    const added = addElements(cy, nodes, edges, near);
    if (added.length) {
      await colour(cy, added);
      await runLayout(cy, false);
    }
    let on = cy.collection();
    for (const edge of edges) {
      const drawn = cy.getElementById(edgeId(edge.source, edge.type, edge.target));
      on = on.union(drawn).union(drawn.connectedNodes());
    }
    cy.elements().not(on).addClass("faded");
    on.addClass("path");
    if (button) button.classList.add("active");
    fitTo(cy, on, 80);
    updateStatus();
  }

  // -- the panel ---------------------------------------------------------------------------------
  function subjectMeta(subject) {
    return [kindZh(subject.kind), subject.regionName, subject.status].filter(Boolean).join(" · ");
  }

  function renderSubject(subject) {
    const card = $("subject-card");
    card.replaceChildren(
      el("h2", {}, subject.name),
      el("div", { class: "meta" }, subjectMeta(subject)),
      el("div", { class: "meta" }, "标识 " + subject.id,
         subject.idMasked ? " · 身份证号 " + subject.idMasked : ""),
      el("div", { class: "actions" },
         el("button", { type: "button", class: "primary", onclick: () => openReport(subject) }, "信用报告"),
         el("button", { type: "button", onclick: () => setView(state.view === "graph" ? "owners" : "graph") },
            "切换视图")));
    card.hidden = false;
    $("report-open").disabled = false;
  }

  function renderNode(node) {
    const card = $("node-card");
    const data = node.data();
    const subject = { id: data.id, name: data.name, kind: data.kind, regionName: data.region };
    const isCenter = state.center && data.id === state.center.id;
    const hub = node.hasClass("hub");
    card.replaceChildren(...[
      el("h3", {}, isCenter ? "中心主体" : "选中节点"),
      el("h2", {}, data.name, " ", badge(data.level)),
      el("div", { class: "meta" }, subjectMeta(subject)),
      el("div", { class: "meta" }, data.score !== undefined
        ? `自身风险 ${data.score} 分 · 信号 ${data.signals} 条` : "自身风险未评估"),
      hub ? el("div", { class: "warn" }, `枢纽节点：关系过多，展开时只读取前 ${EXPAND_LIMIT} 条`) : null,
      el("div", { class: "actions" },
         isCenter ? null : el("button", { type: "button", onclick: () => go(data.id) }, "以此为中心"),
         el("button", { type: "button", onclick: () => openReport(subject) }, "信用报告")),
    ].filter(Boolean));
    card.hidden = false;
  }

  function pathLine(steps, startId) {
    const parts = [];
    let here = startId;
    const first = steps.length ? (steps[0].from.id === here ? steps[0].from : steps[0].to) : null;
    if (first) parts.push(first.name);
    for (const step of steps) {
      const label = relZh(step.type || "SHAREHOLDER") +
        (step.ratio !== null && step.ratio !== undefined ? " " + pct(step.ratio) : "");
      if (step.from.id === here) { parts.push(` —${label}→ `, step.to.name); here = step.to.id; }
      else { parts.push(` ←${label}— `, step.from.name); here = step.from.id; }
    }
    return parts.join("");
  }

  function renderRisk(risk, levels) {
    const card = $("risk-card");
    const scores = el("div", { class: "scores" },
      el("div", {}, el("b", {}, risk.score), el("small", {}, "综合")),
      el("div", {}, el("b", {}, risk.ownScore), el("small", {}, "自身")),
      el("div", {}, el("b", {}, risk.associationScore), el("small", {}, "关联")));
    const tags = el("div", {},
      risk.crossDomain ? el("span", { class: "tag" }, "跨领域") : null,
      risk.crossRegion ? el("span", { class: "tag" }, "跨地区") : null,
      risk.cutHubs.length ? el("span", { class: "tag" }, `${risk.cutHubs.length} 个枢纽截断`) : null);
    const items = risk.contributors.map((c, i) => {
      const button = el("button", { type: "button", "data-id": c.subject.id },
        el("span", { class: "name" }, `${i + 1}. ${c.subject.name} `), badge(levels.get(c.subject.id)),
        el("span", { class: "sub" },
           `贡献 ${pct(c.contribution)} · 路径强度 ${c.strength.toFixed(2)} · 自身风险 ${pct(c.risk)}`),
        el("span", { class: "pathline" }, pathLine(c.path, state.center.id)),
        c.signals.length ? el("span", { class: "sub" },
          "信号：" + c.signals.slice(0, 2).map((s) => s.record.title || s.record.kind).join("；")) : null);
      button.addEventListener("click", () => {
        if (state.view !== "graph") setView("graph");
        work(() => highlight(state.cy, c.path, button));
      });
      return el("li", {}, button);
    });
    card.replaceChildren(
      el("h2", {}, "关联风险 ", badge(risk.level)), scores, tags,
      el("h3", {}, "主要风险来源（单击查看路径）"),
      items.length ? el("ul", { class: "list", id: "contributors" }, items)
                   : el("p", { class: "empty" }, "在关联范围内未发现风险信号。"));
    card.hidden = state.view !== "graph";
  }

  async function loadRisk() {
    const center = state.center;
    const card = $("risk-card");
    card.replaceChildren(el("h2", {}, "关联风险"), el("p", { class: "empty" }, "计算中…"));
    card.hidden = state.view !== "graph";
    const data = await gql(Q.risk, { id: center.id, asOf: state.asOf });
    const risk = data.riskAssessment;
    // each contributor's own level, by the same rules that colour the nodes
    const ids = risk.contributors.map((c) => c.subject.id);
    const found = ids.length ? (await gql(Q.levels, { ids, asOf: state.asOf })).riskLevels : [];
    if (state.center !== center) return;
    state.risk = risk;
    for (const cy of [state.cy, state.ownersCy]) {
      if (cy) cy.getElementById(center.id).data("overall", risk.level);
    }
    renderRisk(risk, new Map(found.map((r) => [r.id, r.level])));
  }

  function renderResults(matches, query) {
    const card = $("results");
    const items = matches.map((m) => el("li", {},
      el("button", { type: "button", "data-id": m.subject.id, onclick: () => go(m.subject.id) },
         el("span", { class: "name" }, m.subject.name),
         el("span", { class: "sub" }, subjectMeta(m.subject) + ` · 匹配度 ${Math.round(100 * m.score)}%`))));
    card.replaceChildren(el("h2", {}, `搜索“${query}”`),
      items.length ? el("ul", { class: "list", id: "result-list" }, items)
                   : el("p", { class: "empty" }, "没有找到匹配的主体。可换用简称或统一社会信用代码。"));
    card.hidden = false;
  }

  // -- ownership view (股权穿透) -----------------------------------------------------------------
  async function loadOwners() {
    const center = state.center;
    if (!state.ownersCy) {
      state.ownersCy = makeCy($("owners"));
      state.ownersCy.on("tap", "node", (event) => renderNode(event.target));
      state.ownersCy.on("tap", (event) => {
        if (event.target === state.ownersCy) clearHighlight(state.ownersCy);
      });
    }
    const cy = state.ownersCy;
    cy.resize();
    cy.elements().remove();
    const card = $("owners-card");
    if (center.kind === "NATURAL_PERSON") {
      state.owners = [];
      addElements(cy, [center], [], null);
      cy.getElementById(center.id).addClass("center");
      card.replaceChildren(el("h2", {}, "股权穿透"), el("p", { class: "empty" }, "自然人没有股权穿透；请选择企业。"));
      card.hidden = false;
      fitTo(cy, undefined, 80);
      state.ownersFor = viewKey();
      updateStatus();
      return;
    }
    const data = await gql(Q.owners, { id: center.id, asOf: state.asOf });
    if (state.center !== center) return;
    const owners = data.ultimateOwners;
    state.owners = owners;
    // rank = steps from the company: owners on top, the company at the bottom
    const rank = new Map([[center.id, 0]]);
    const subjects = new Map([[center.id, center]]);
    const edges = [];
    for (const owner of owners) {
      subjects.set(owner.owner.id, owner.owner);
      rank.set(owner.owner.id, Math.max(rank.get(owner.owner.id) || 1, 1));
      if (!owner.paths.length && owner.basis === "ACTUAL_CONTROLLER") {
        edges.push({ source: owner.owner.id, target: center.id, type: "ACTUAL_CONTROLLER", ratio: null });
      }
      for (const path of owner.paths) {
        path.forEach((step, i) => {
          subjects.set(step.from.id, step.from);
          subjects.set(step.to.id, step.to);
          rank.set(step.from.id, Math.max(rank.get(step.from.id) || 0, path.length - i));
          // a declared controller's path is the declared tie itself (ACTUAL_CONTROLLER, no share)
          edges.push({ source: step.from.id, target: step.to.id, type: step.type || "SHAREHOLDER",
                       ratio: step.ratio });
        });
      }
    }
    const levels = new Map();
    for (const [id, r] of rank) levels.set(r, [...(levels.get(r) || []), id]);
    for (const [r, ids] of levels) {
      ids.forEach((id, i) => {
        const s = subjects.get(id);
        cy.add({ group: "nodes", data: nodeData(s),
                 position: { x: (i - (ids.length - 1) / 2) * 220, y: -r * 170 } });
      });
    }
    addElements(cy, [], edges, null);
    cy.getElementById(center.id).addClass("center");
    if (state.risk) cy.getElementById(center.id).data("overall", state.risk.level);
    for (const owner of owners) {
      const node = cy.getElementById(owner.owner.id);
      node.addClass("owner");
      const share = owner.share > 0 ? " " + pct(owner.share) : "";
      node.data("label", `${owner.owner.name}\n${state.vocab.bases[owner.basis] || owner.basis}${share}`);
    }
    await colour(cy, [...subjects.keys()]);
    fitTo(cy, undefined, 60);
    const items = owners.map((o) => {
      const button = el("button", { type: "button", "data-id": o.owner.id },
        el("span", { class: "name" }, o.owner.name + " "), el("span", {}, o.share > 0 ? pct(o.share) : ""),
        el("span", { class: "sub" }, (state.vocab.bases[o.basis] || o.basis) + " · " + kindZh(o.owner.kind)),
        ...o.paths.map((p) => el("span", { class: "pathline" }, pathLine(p, o.owner.id))));
      const steps = o.paths.length ? o.paths.flat()
        : [{ from: o.owner, to: center, type: "ACTUAL_CONTROLLER", ratio: null }];
      button.addEventListener("click", () => work(() => highlight(cy, steps, button)));
      return el("li", {}, button);
    });
    card.replaceChildren(el("h2", {}, "受益所有人（股权穿透）"),
      items.length ? el("ul", { class: "list", id: "owner-list" }, items)
                   : el("p", { class: "empty" }, "未识别到达到阈值的受益所有人或实际控制人。"));
    card.hidden = false;
    state.ownersFor = viewKey();
    updateStatus();
  }

  function setView(view) {
    state.view = view;
    $("view-graph").setAttribute("aria-selected", String(view === "graph"));
    $("view-owners").setAttribute("aria-selected", String(view === "owners"));
    $("graph").hidden = view !== "graph";
    $("owners").hidden = view !== "owners";
    $("risk-card").hidden = view !== "graph" || !state.risk;
    $("owners-card").hidden = view !== "owners" || !state.owners;
    $("node-card").hidden = true;
    if (view === "graph" && state.cy) state.cy.resize();
    if (view === "graph" && state.center && state.graphFor !== viewKey()) work(loadGraph);
    if (view === "owners" && state.center && state.ownersFor !== viewKey()) {
      work(loadOwners, cardError($("owners-card"), "股权穿透"));
    }
    updateStatus();
  }

  // -- opening a subject ------------------------------------------------------------------------
  /** Open a subject by id through the address (#id), so back and reload work. */
  function go(id) {
    if (addressId() === id) open(id);
    else location.hash = encodeURIComponent(id);
  }

  function open(id) {
    work(async () => {
      const data = await gql(Q.subject, { id });
      if (!data.subject) {
        reset();
        // the address names no subject that is not on the screen: a reload would reopen the
        // one shown before an unknown id was typed in the search box
        if (addressId() !== id) history.replaceState(null, "", location.pathname + location.search);
        // a typed ID number is not repeated on the screen
        const what = ID_NUMBER.test(compactId(id)) ? "该身份证号对应" : `标识为“${id}”`;
        showMessage("未找到该主体", `没有${what}的主体。请核对统一社会信用代码，或按名称搜索。`, true);
        return;
      }
      const subject = data.subject;
      if (addressId() !== subject.id) {
        history.replaceState(null, "", "#" + encodeURIComponent(subject.id));
      }
      hideMessage();
      state.center = subject;
      state.risk = null;
      state.owners = null;
      state.ownersFor = null;
      state.graphFor = null;
      $("results").hidden = true;
      $("node-card").hidden = true;
      $("owners-card").hidden = true;
      renderSubject(subject);
      document.title = subject.name + " · 信用关联图谱";
      const jobs = [work(loadRisk, cardError($("risk-card"), "关联风险"))];
      if (state.view === "owners") jobs.push(work(loadOwners, cardError($("owners-card"), "股权穿透")));
      else jobs.push(work(loadGraph));
      await Promise.all(jobs);
    });
  }

  function clearAnswers() {
    state.risk = null;
    state.owners = null;
    state.graphFor = null;
    state.ownersFor = null;
    if (state.cy) state.cy.elements().remove();
    if (state.ownersCy) state.ownersCy.elements().remove();
    for (const id of ["node-card", "risk-card", "owners-card"]) $(id).hidden = true;
    updateStatus();
  }

  function reset() {
    state.center = null;
    $("subject-card").hidden = true;
    $("report-open").disabled = true;
    clearAnswers();
  }

  /** The id in the address (#id); a malformed %-escape is taken as written. */
  function addressId() {
    const raw = location.hash.slice(1);
    try { return decodeURIComponent(raw).trim(); } catch (e) { return raw.trim(); }
  }

  function fromAddress() {
    const id = addressId();
    if (!id) return false;
    if (ID_NUMBER.test(compactId(id))) {
      // an ID number never stays in the address or the history, even when it is unknown, the
      // key is still to be given or the service is away: opened, the person's key (P…) is shown
      history.replaceState(null, "", location.pathname + location.search);
    }
    if (!state.center || state.center.id !== id) open(id);
    return true;
  }

  // -- the credit report --------------------------------------------------------------------------
  function openReport(subject) {
    state.reportFor = subject;
    $("report-title").textContent = "信用报告 · " + subject.name;
    $("report-frame").srcdoc = "";
    $("report-print").disabled = true;
    $("report-note").textContent = "每次生成报告都会记入审计日志（查询人、时间、事由）。";
    $("report-dialog").hidden = false;
    $("report-purpose").focus();
  }

  async function makeReport() {
    const subject = state.reportFor;
    if (!key()) { $("report-dialog").hidden = true; askKey(); return; }
    const params = new URLSearchParams({ asOf: state.asOf });
    const purpose = $("report-purpose").value.trim();
    if (purpose) params.set("purpose", purpose);
    $("report-note").textContent = "正在生成…";
    // the key goes in the header, never in the address; the page arrives as text
    const response = await reach(`/report/${encodeURIComponent(subject.id)}?${params}`,
                                 { headers: { Authorization: "Bearer " + key() } });
    if (response.status === 401) {
      $("report-dialog").hidden = true;
      state.pending = null;
      keyRejected();
      return;
    }
    if (!response.ok) {
      let failure = new DeskError("HTTP " + response.status);
      try {
        const first = (await response.json()).errors[0];
        failure = new DeskError(first.message, (first.extensions || {}).code);
      } catch (e) { /* not JSON */ }
      $("report-note").textContent = "无法生成报告：" + errorText(failure)[1];
      return;
    }
    $("report-frame").srcdoc = await response.text();
    $("report-print").disabled = false;
    $("report-note").textContent = "报告已生成并记入审计日志。可打印或另存为 PDF。";
  }

  // -- wiring -------------------------------------------------------------------------------------
  function wire() {
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("search").value.trim();
      if (!text) return;
      // an identifier, as written (spaces, hyphens, full-width digits of a Chinese input
      // method): opened directly; the address shows the key the server answers
      const id = compactId(text);
      if (/^[0-9A-Za-z]{18}$/.test(id) || /^P[0-9A-F]{24}$/.test(id)) {
        open(id);
        return;
      }
      work(async () => {
        const data = await gql(Q.search, { name: text });
        renderResults(data.searchSubjects, text);
      });
    });
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("key-input").value.trim();
      if (!value) return;
      sessionStorage.setItem(KEY, value);
      $("key-dialog").hidden = true;
      const pending = state.pending;
      state.pending = null;
      if (pending) work(pending);
      else fromAddress();
    });
    $("key-change").addEventListener("click", () => askKey());
    // an error over a drawn graph is put away with a click (the nodes under it can be reached)
    $("message").addEventListener("click", () => {
      if (state.center && $("message").classList.contains("error")) hideMessage();
    });
    const keepKey = () => { if (key()) $("key-dialog").hidden = true; };
    $("key-cancel").addEventListener("click", keepKey);
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      if (!$("key-dialog").hidden) keepKey();
      else if (!$("report-dialog").hidden) $("report-dialog").hidden = true;
    });
    $("view-graph").addEventListener("click", () => setView("graph"));
    $("view-owners").addEventListener("click", () => setView("owners"));
    $("as-of").addEventListener("change", () => {
      state.asOf = $("as-of").value || today();
      $("as-of").value = state.asOf;  // a cleared field shows the date the answers are for
      if (state.center) {
        // the previous date's graph, risk and owners are not left under the new date (were
        // the new ones to fail, the old would pass for them)
        clearAnswers();
        open(state.center.id);
      }
    });
    $("depth").addEventListener("change", () => {
      state.depth = Number($("depth").value);
      if (state.center && state.view === "graph") work(loadGraph);
    });
    $("report-open").addEventListener("click", () => state.center && openReport(state.center));
    $("report-make").addEventListener("click", () => work(makeReport, (error) => {
      $("report-note").textContent = "无法生成报告：" + errorText(error)[1];
    }));
    $("report-print").addEventListener("click", () => $("report-frame").contentWindow.print());
    $("report-close").addEventListener("click", () => { $("report-dialog").hidden = true; });
    window.addEventListener("hashchange", fromAddress);

    state.cy.on("tap", "node", (event) => {
      const node = event.target;
      renderNode(node);
      work(() => expand(node));
    });
    state.cy.on("tap", (event) => { if (event.target === state.cy) clearHighlight(state.cy); });
  }

  async function start() {
    state.asOf = today();
    $("as-of").value = state.asOf;
    $("as-of").max = state.asOf;
    cytoscape.use(cytoscapeFcose);
    state.cy = makeCy($("graph"));
    try {
      const response = await fetch("/desk/model.json");
      state.vocab = await response.json();
    } catch (e) {
      showMessage("页面出错", "无法读取图例名称（/desk/model.json）。", true);
    }
    wire();
    // an id in the address is opened (asking for the key first when there is none)
    if (!fromAddress() && !key()) askKey();
  }

  start();
})();
